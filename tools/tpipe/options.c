/* options.c - the command line of tpipe: --help text, option parsing and
 * the checks that turn a bad command line into exit status 2. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Keep in step with docs/tpipe.1 (a CLI test checks every option named
 * here appears there). */
static const char help_text[] =
    "Usage: tpipe [OPTION]... [INPUT]...\n"
    "Copy INPUTs (or standard input) to one or more outputs through a large\n"
    "memory buffer, with a reader thread and one writer thread per output.\n"
    "An INPUT of - is standard input.\n"
    "\n"
    "Buffering:\n"
    "  -m, --buffer SIZE      buffer size per output (default 4M)\n"
    "  -b, --block SIZE       read block size (default 1M, at most the buffer)\n"
    "  -P, --start PCT        start writing once the buffer is PCT% full,\n"
    "                         and again each time it ran empty (default 0)\n"
    "  -p, --resume PCT       once the buffer was full, read again only when\n"
    "                         it has drained to PCT% (default 100: at once)\n"
    "Outputs:\n"
    "  -o, --output FILE      write to FILE (repeatable, like tee; - is\n"
    "                         standard output; default: standard output)\n"
    "  -r, --rate RATE        limit each output to RATE bytes per second\n"
    "  -l, --lines            line mode: count lines and never split a line\n"
    "                         across two writes\n"
    "      --stop-on-error    stop everything when one output fails (default:\n"
    "                         only that output stops)\n"
    "      --no-zero-copy     always read(2)/write(2): no mmap of input files,\n"
    "                         no splice(2) from them into output pipes\n"
    "Display (on standard error):\n"
    "  -s, --size SIZE        expected total size, for percentage and ETA\n"
    "                         (default: sum of the input files' sizes)\n"
    "      --progress         show the progress line even if not a terminal\n"
    "      --no-progress      never show the progress line\n"
    "  -j, --json             progress and summary as one JSON object a line\n"
    "  -i, --interval SEC     seconds between progress updates (default 1)\n"
    "  -q, --quiet            no progress and no summary; errors only\n"
    "  -h, --help             show this help and exit\n"
    "  -V, --version          show the version and exit\n"
    "\n"
    "SIZE and RATE take a suffix: k, M, G, T (powers of 1024; KiB, MiB... too)\n"
    "or kB, MB, GB, TB (powers of 1000).\n"
    "\n"
    "Exit status: 0 success; 1 an input could not be read; 2 usage error;\n"
    "3 an output failed (3 wins over 1); 130 interrupted (SIGINT/SIGTERM:\n"
    "what was read is written out first, a second signal stops at once).\n";

enum { OPT_PROGRESS = 256, OPT_NO_PROGRESS, OPT_STOP_ON_ERROR, OPT_NO_ZERO_COPY };

static const struct option long_options[] = {
    {"buffer", required_argument, NULL, 'm'},
    {"block", required_argument, NULL, 'b'},
    {"start", required_argument, NULL, 'P'},
    {"resume", required_argument, NULL, 'p'},
    {"output", required_argument, NULL, 'o'},
    {"rate", required_argument, NULL, 'r'},
    {"lines", no_argument, NULL, 'l'},
    {"size", required_argument, NULL, 's'},
    {"json", no_argument, NULL, 'j'},
    {"interval", required_argument, NULL, 'i'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"stop-on-error", no_argument, NULL, OPT_STOP_ON_ERROR},
    {"no-zero-copy", no_argument, NULL, OPT_NO_ZERO_COPY},
    {NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tpipe: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'tpipe --help' for more information.\n", stderr);
    return -1;
}

static int parse_pct(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 100)
        return -1;
    *out = (int)v;
    return 0;
}

int tpc_parse_options(int argc, char **argv, struct tpc_options *o)
{
    memset(o, 0, sizeof *o);
    o->buffer_size = 4u << 20;
    o->block_size = 1u << 20;
    o->low_pct = 100;
    o->progress = TPC_PROGRESS_AUTO;
    o->interval = 1.0;
    o->zero_copy = true;
    o->outputs = calloc((size_t)argc + 1, sizeof *o->outputs);
    if (o->outputs == NULL) {
        perror("tpipe");
        return -1;
    }
    bool block_given = false;

    opterr = 0; /* our own messages, with the usage hint */
    int c;
    while ((c = getopt_long(argc, argv, ":m:b:P:p:o:r:ls:ji:qhV", long_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (tpc_parse_size(optarg, &o->buffer_size) < 0 || o->buffer_size == 0)
                return usage_error("invalid buffer size '%s'", optarg);
            break;
        case 'b':
            if (tpc_parse_size(optarg, &o->block_size) < 0 || o->block_size == 0)
                return usage_error("invalid block size '%s'", optarg);
            block_given = true;
            break;
        case 'P':
            if (parse_pct(optarg, &o->high_pct) < 0)
                return usage_error("invalid percentage '%s' (0-100)", optarg);
            break;
        case 'p':
            if (parse_pct(optarg, &o->low_pct) < 0)
                return usage_error("invalid percentage '%s' (0-100)", optarg);
            break;
        case 'o':
            o->outputs[o->noutputs++] = optarg;
            break;
        case 'r':
            if (tpc_parse_size(optarg, &o->rate) < 0 || o->rate == 0)
                return usage_error("invalid rate '%s'", optarg);
            break;
        case 'l':
            o->lines = true;
            break;
        case 's':
            if (tpc_parse_size(optarg, &o->size_hint) < 0)
                return usage_error("invalid size '%s'", optarg);
            break;
        case 'j':
            o->json = true;
            break;
        case 'i': {
            char *end;
            o->interval = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(o->interval >= 0.01 && o->interval <= 3600))
                return usage_error("invalid interval '%s' (0.01 to 3600 seconds)", optarg);
            break;
        }
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            fputs(help_text, stdout);
            return 1;
        case 'V':
            printf("tpipe %d.%d.%d\n", TPIPE_VERSION_MAJOR, TPIPE_VERSION_MINOR,
                   TPIPE_VERSION_PATCH);
            return 1;
        case OPT_PROGRESS:
            o->progress = TPC_PROGRESS_ON;
            break;
        case OPT_NO_PROGRESS:
            o->progress = TPC_PROGRESS_OFF;
            break;
        case OPT_STOP_ON_ERROR:
            o->stop_on_error = true;
            break;
        case OPT_NO_ZERO_COPY:
            o->zero_copy = false;
            break;
        case ':':
            return usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (o->block_size > o->buffer_size) {
        /* A block bigger than the buffer would make -m meaningless; an
         * explicit -b that does not fit is a mistake worth reporting. */
        if (block_given)
            return usage_error("block size must not exceed the buffer size (-m)");
        o->block_size = o->buffer_size;
    }
    if (o->block_size > ((uint64_t)1 << 30))
        return usage_error("block size too large (at most 1G)");
    if (o->noutputs == 0)
        o->outputs[o->noutputs++] = "-";
    o->inputs = argv + optind;
    o->ninputs = argc - optind;
    return 0;
}

void tpc_free_options(struct tpc_options *o)
{
    free(o->outputs);
    o->outputs = NULL;
}
