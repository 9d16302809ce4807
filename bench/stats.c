/* stats.c - the little statistics tpbench needs: sort, quantile, and the
 * median/min/max summary of several runs. */
#include "tpbench.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void tb_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}

double tb_quantile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    /* Nearest rank: the smallest value with at least p of the data at or
     * below it, so p99 of 100 samples is the 99th, not an interpolation. */
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

void tb_summary(const double *v, size_t n, double *median, double *min, double *max)
{
    double tmp[TB_MAX_RUNS];
    if (n == 0) {
        *median = *min = *max = 0.0;
        return;
    }
    if (n > TB_MAX_RUNS)
        n = TB_MAX_RUNS;
    memcpy(tmp, v, n * sizeof *v);
    tb_sort(tmp, n);
    *min = tmp[0];
    *max = tmp[n - 1];
    /* An even count takes the mean of the two middle runs. */
    *median = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}
