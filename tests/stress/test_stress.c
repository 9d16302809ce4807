/* test_stress.c - the stress grid: W writers x R readers x bsize, framed
 * records checked for loss, duplication, tearing and per-writer reordering,
 * byte totals, release counts, and a watchdog that turns a hang into a
 * failure with a dump of the pipe state.
 *
 * What is atomic with respect to other writers (tpipe.h: "the bytes of one
 * call are contiguous in the stream: concurrent writers never interleave
 * inside a call"), and how each part is tested:
 *  - every tp_pipe_write_ref call: whole records are written with write_ref
 *    by all writers at once, with no coordination between writers;
 *  - every copy write that canwrite showed room for: a writer takes the
 *    "copy gate" exclusively (write_ref writers hold it shared, so no other
 *    writer can add bytes meanwhile; readers only ever make room), reads
 *    canwrite, and if it is >= the record length, tp_pipe_write must accept
 *    the whole record in one call - checked on every such write;
 *  - partial copy writes: the accepted prefix is contiguous, but the rest
 *    goes in a later call, so a record written that way is whole only when
 *    no other writer exists: with W == 1 the writer streams records through
 *    tp_pipe_write accepting any partial count.
 *
 * Records: 'R', five 35-bit fields in base 128 (writer, sequence number,
 * payload length, payload hash, header check), the payload, then the
 * configuration's delimiter (1 to 4 bytes from 0xF0-0xFF, which no header
 * or payload byte can contain). A record is found whole by
 * tp_pipe_readmatch, or by a stream parser fed by read/read_view/readmatch.
 *
 * Readers: R == 1: one reader mixes read (1..3*bsize bytes), read_view and
 * readmatch, feeding every byte to the parser. R > 1: readers hold a
 * "reader gate" shared while each tp_pipe_readmatch takes exactly one whole
 * record (fully concurrent), or exclusive while they read plain bytes into
 * the shared parser up to the next record boundary (needed after ENOBUFS,
 * when a record longer than bsize was streamed). Per-writer order is
 * checked per reader: records one reader receives from one writer must
 * have increasing sequence numbers; across readers, every record must be
 * received exactly once.
 *
 * Both ends switch between blocking and non-blocking at random; EAGAIN is
 * answered with write_wait / read_wait with a random 0-5 ms timeout. The
 * pipe timeout is TP_FOREVER, so a lost wake-up hangs, which the watchdog
 * reports.
 *
 * Knobs: TP_STRESS_OPS (operations per configuration: write and read calls
 * that moved data, default 100000; the writers stop once the total reaches
 * it and the readers then drain the rest), TP_STRESS_BYTES (payload byte
 * budget per configuration, default 16 MiB:
 * it sets how often a write is drawn from the full 0..3*bsize range rather
 * than the log-uniform 0..min(3*bsize, 4096) one), TP_STRESS_HANG (seconds
 * without progress before the watchdog fires, default 60), TP_STRESS_SEED. */
#include "rel_util.h"

#define HDR 26
#define MAX_W 32
#define MAX_R 8

typedef struct cfg {
    int W, R;
    size_t bsize;
    char name[48];
} cfg;

static const unsigned char delims[4][4] = {
    {0xF0}, {0xF1, 0xF2}, {0xF3, 0xF3, 0xF4}, {0xF5, 0xF6, 0xF5, 0xF7}};

/* Where a thread is, for the watchdog's dump. */
enum where {
    W_IDLE,
    W_WRITE,
    W_WRITE_REF,
    W_WWAIT,
    W_CANWRITE,
    W_GATE,
    W_READ,
    W_VIEW,
    W_MATCH,
    W_RWAIT,
    W_RGATE,
    W_DONE
};
static const char *where_names[] = {"idle",      "write",     "write_ref",   "write_wait",
                                    "canwrite",  "copy-gate", "read",        "read_view",
                                    "readmatch", "read_wait", "reader-gate", "done"};

/* Reassembles records from a byte stream. */
typedef struct parser {
    unsigned char *rec;
    size_t have, need, cap; /* need: 0 until the header is complete */
} parser;

typedef struct run {
    const cfg *c;
    tp_pipe *p;
    const unsigned char *delim;
    size_t dlen;
    uint64_t ops;                  /* data-moving calls (writes + reads) to make */
    uint64_t quota;                /* records per writer, at most */
    double p_big;                  /* chance of a full-range write size */
    pthread_rwlock_t copy_gate;    /* shared: write_ref; exclusive: checked copy */
    pthread_rwlock_t read_gate;    /* shared: readmatch; exclusive: plain reads (R > 1) */
    parser shared;                 /* read_gate exclusive */
    _Atomic uint64_t *seen[MAX_W]; /* bitmap per writer: record received */
    atomic_uint_fast64_t nrec[MAX_W];
    atomic_uint_fast64_t bytes_in, bytes_out, write_calls, read_calls, progress;
    atomic_uint_fast64_t refs_accepted, releases, copy_checked, partials, enobufs, eagain;
    atomic_int where[MAX_W + MAX_R];
    rel_failure f;
    tp_event *done;
    uint64_t seed;
} run;

typedef struct worker {
    run *r;
    int id;
    uint64_t rng;
    uint64_t last_seq[MAX_W]; /* readers: last sequence + 1 seen per writer */
} worker;

/* ---- record encoding ---- */

static void put35(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 5; i++)
        p[i] = (unsigned char)((v >> (7 * i)) & 0x7f);
}

static uint64_t get35(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 5; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    return v;
}

static uint32_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t hdr_check(uint64_t w, uint64_t seq, uint64_t len, uint64_t hash)
{
    uint64_t h = rel_seed(w * 0x1000193 + seq, len * 31 + hash);
    return (uint32_t)(h ^ (h >> 32));
}

/* A whole record for writer w, number seq, with len payload bytes. */
static unsigned char *make_record(const run *r, int w, uint64_t seq, size_t len, size_t *total)
{
    size_t n = HDR + len + r->dlen;
    unsigned char *b = malloc(n);
    if (b == NULL)
        return NULL;
    uint64_t s = rel_seed((uint64_t)w, seq);
    unsigned char *pl = b + HDR;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x = rel_rand(&s) & 0xEFEFEFEFEFEFEFEFULL; /* every byte < 0xF0 */
        memcpy(pl + i, &x, 8);
    }
    for (; i < len; i++)
        pl[i] = (unsigned char)(rel_rand(&s) & 0xEF);
    uint32_t h = hash_bytes(pl, len);
    b[0] = 'R';
    put35(b + 1, (uint64_t)w);
    put35(b + 6, seq);
    put35(b + 11, len);
    put35(b + 16, h);
    put35(b + 21, hdr_check((uint64_t)w, seq, len, h));
    memcpy(b + HDR + len, r->delim, r->dlen);
    *total = n;
    return b;
}

/* Checks one whole record and marks it received by reader wk. */
static void check_record(worker *wk, const unsigned char *b, size_t n)
{
    run *r = wk->r;
    if (n < HDR + r->dlen || b[0] != 'R') {
        rel_fail(&r->f, "[%s] reader %d: malformed record (%zu bytes, first 0x%02x)", r->c->name,
                 wk->id, n, n ? b[0] : 0);
        return;
    }
    uint64_t w = get35(b + 1), seq = get35(b + 6), len = get35(b + 11), h = get35(b + 16);
    if (get35(b + 21) != hdr_check(w, seq, len, h) || w >= (uint64_t)r->c->W) {
        rel_fail(&r->f, "[%s] reader %d: corrupt header", r->c->name, wk->id);
        return;
    }
    if (n != HDR + len + r->dlen || memcmp(b + HDR + len, r->delim, r->dlen) != 0 ||
        hash_bytes(b + HDR, len) != h) {
        rel_fail(&r->f, "[%s] reader %d: torn record w%llu#%llu (%zu bytes, header says %llu)",
                 r->c->name, wk->id, (unsigned long long)w, (unsigned long long)seq, n,
                 (unsigned long long)(HDR + len + r->dlen));
        return;
    }
    if (seq >= r->quota) {
        rel_fail(&r->f, "[%s] bad sequence number %llu", r->c->name, (unsigned long long)seq);
        return;
    }
    if (seq + 1 <= wk->last_seq[w])
        rel_fail(&r->f, "[%s] reader %d: writer %llu record %llu after %llu (reordered)",
                 r->c->name, wk->id, (unsigned long long)w, (unsigned long long)seq,
                 (unsigned long long)(wk->last_seq[w] - 1));
    wk->last_seq[w] = seq + 1;
    uint64_t bit = (uint64_t)1 << (seq % 64);
    if (atomic_fetch_or(&r->seen[w][seq / 64], bit) & bit)
        rel_fail(&r->f, "[%s] writer %llu record %llu received twice", r->c->name,
                 (unsigned long long)w, (unsigned long long)seq);
}

/* Feeds n stream bytes to a parser, checking each record it completes. */
static void parse(worker *wk, parser *ps, const unsigned char *d, size_t n)
{
    while (n > 0) {
        size_t want = ps->need ? ps->need : HDR;
        size_t k = want - ps->have < n ? want - ps->have : n;
        if (ps->have + k > ps->cap) {
            size_t cap = ps->cap ? ps->cap : 4096;
            while (cap < ps->have + k)
                cap *= 2;
            unsigned char *nb = realloc(ps->rec, cap);
            if (nb == NULL) {
                rel_fail(&wk->r->f, "parser: out of memory");
                return;
            }
            ps->rec = nb;
            ps->cap = cap;
        }
        memcpy(ps->rec + ps->have, d, k);
        ps->have += k;
        d += k;
        n -= k;
        if (ps->need == 0 && ps->have == HDR) {
            if (ps->rec[0] != 'R') {
                rel_fail(&wk->r->f, "[%s] stream lost framing (byte 0x%02x)", wk->r->c->name,
                         ps->rec[0]);
                return;
            }
            ps->need = HDR + get35(ps->rec + 11) + wk->r->dlen;
        }
        if (ps->need != 0 && ps->have == ps->need) {
            check_record(wk, ps->rec, ps->have);
            ps->have = ps->need = 0;
        }
    }
}

/* ---- writers ---- */

static void release_record(void *ctx)
{
    run *r = *(run **)ctx;
    atomic_fetch_add(&r->releases, 1);
    free(ctx);
}

/* Zero-length releases carry their own small context. */
typedef struct zref {
    run *r;
} zref;

static size_t pick_size(worker *wk)
{
    run *r = wk->r;
    size_t max = 3 * r->c->bsize;
    double u = (double)(rel_rand(&wk->rng) >> 11) * (1.0 / 9007199254740992.0);
    if (max <= 64 || u < r->p_big)
        return (size_t)rel_below(&wk->rng, max + 1);
    size_t cap = max < 4096 ? max : 4096;
    unsigned bits = 0;
    while (((size_t)1 << bits) <= cap)
        bits++;
    size_t lim = (size_t)1 << rel_below(&wk->rng, bits + 1);
    size_t s = (size_t)rel_below(&wk->rng, lim);
    return s > cap ? cap : s;
}

static void set_where(worker *wk, int w)
{
    atomic_store(&wk->r->where[wk->id], w);
}

static void maybe_toggle(worker *wk, bool writer)
{
    if (rel_below(&wk->rng, 64) != 0)
        return;
    bool b = rel_below(&wk->rng, 2);
    if (writer)
        tp_pipe_set_writeblocking(wk->r->p, b);
    else
        tp_pipe_set_readblocking(wk->r->p, b);
}

/* EAGAIN / ETIMEDOUT of a wait are fine; anything else is a failure. */
static bool wait_room(worker *wk)
{
    run *r = wk->r;
    atomic_fetch_add(&r->eagain, 1);
    set_where(wk, W_WWAIT);
    double t = (double)rel_below(&wk->rng, 5001) * 1e-6;
    if (tp_pipe_write_wait(r->p, t) != 0 && errno != ETIMEDOUT) {
        rel_fail(&r->f, "[%s] write_wait: %s", r->c->name, strerror(errno));
        return false;
    }
    return true;
}

/* write_ref of a whole record; ownership passes to the pipe on success. */
static bool put_ref(worker *wk, unsigned char *rec, size_t n)
{
    run *r = wk->r;
    /* rec starts with a run pointer (the release context); the record
     * itself follows it. */
    for (;;) {
        if (r->c->W > 1)
            pthread_rwlock_rdlock(&r->copy_gate);
        set_where(wk, W_WRITE_REF);
        ssize_t k = tp_pipe_write_ref(r->p, rec + sizeof(run *), n, release_record, rec);
        int e = errno;
        if (r->c->W > 1)
            pthread_rwlock_unlock(&r->copy_gate);
        atomic_fetch_add(&r->progress, 1);
        if (k == (ssize_t)n) {
            atomic_fetch_add(&r->write_calls, 1);
            atomic_fetch_add(&r->refs_accepted, 1);
            atomic_fetch_add(&r->bytes_in, n);
            return true;
        }
        if (k >= 0) {
            rel_fail(&r->f, "[%s] write_ref accepted %zd of %zu", r->c->name, k, n);
            return false;
        }
        if (e != EAGAIN) {
            rel_fail(&r->f, "[%s] write_ref: %s", r->c->name, strerror(e));
            return false;
        }
        if (!wait_room(wk))
            return false;
    }
}

/* Copy write of a whole record that canwrite showed room for. Returns 1
 * when written, 0 when the record never fit (the caller uses write_ref). */
static int put_checked_copy(worker *wk, const unsigned char *rec, size_t n)
{
    run *r = wk->r;
    if (n > r->c->bsize)
        return 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        if (r->c->W > 1) {
            set_where(wk, W_GATE);
            pthread_rwlock_wrlock(&r->copy_gate);
        }
        set_where(wk, W_CANWRITE);
        ssize_t room = tp_pipe_canwrite(r->p);
        ssize_t k = -1;
        int e = 0;
        if (room >= (ssize_t)n) {
            set_where(wk, W_WRITE);
            k = tp_pipe_write(r->p, rec, n);
            e = errno;
        }
        if (r->c->W > 1)
            pthread_rwlock_unlock(&r->copy_gate);
        atomic_fetch_add(&r->progress, 1);
        if (room < 0) {
            rel_fail(&r->f, "[%s] canwrite: %s", r->c->name, strerror(errno));
            return -1;
        }
        if (room >= (ssize_t)n) {
            if (k != (ssize_t)n) {
                rel_fail(&r->f, "[%s] canwrite said %zd but a write of %zu returned %zd (%s)",
                         r->c->name, room, n, k, k < 0 ? strerror(e) : "partial");
                return -1;
            }
            atomic_fetch_add(&r->write_calls, 1);
            atomic_fetch_add(&r->copy_checked, 1);
            atomic_fetch_add(&r->bytes_in, n);
            return 1;
        }
        if (!wait_room(wk))
            return -1;
    }
    return 0;
}

/* Copy writes accepting partial counts: only with a single writer. */
static bool put_stream_copy(worker *wk, const unsigned char *rec, size_t n)
{
    run *r = wk->r;
    size_t off = 0;
    while (off < n) {
        set_where(wk, W_WRITE);
        ssize_t k = tp_pipe_write(r->p, rec + off, n - off);
        int e = errno;
        atomic_fetch_add(&r->progress, 1);
        if (k > 0) {
            if ((size_t)k < n - off)
                atomic_fetch_add(&r->partials, 1);
            off += (size_t)k;
            atomic_fetch_add(&r->write_calls, 1);
            atomic_fetch_add(&r->bytes_in, (uint64_t)k);
            maybe_toggle(wk, true);
            continue;
        }
        if (k == 0 || e != EAGAIN) {
            rel_fail(&r->f, "[%s] write returned %zd (%s)", r->c->name, k, strerror(e));
            return false;
        }
        if (!wait_room(wk))
            return false;
    }
    return true;
}

static bool put_empty(worker *wk)
{
    run *r = wk->r;
    ssize_t k;
    if (rel_below(&wk->rng, 2)) {
        k = tp_pipe_write(r->p, "", 0);
    } else {
        zref *z = malloc(sizeof(run *) + 1);
        if (z == NULL)
            return false;
        z->r = r;
        atomic_fetch_add(&r->refs_accepted, 1); /* release must run before return */
        k = tp_pipe_write_ref(r->p, (char *)z + sizeof(run *), 0, release_record, z);
    }
    if (k != 0) {
        rel_fail(&r->f, "[%s] empty write returned %zd (%s)", r->c->name, k, strerror(errno));
        return false;
    }
    atomic_fetch_add(&r->write_calls, 1);
    return true;
}

static void *writer_main(void *arg)
{
    worker *wk = arg;
    run *r = wk->r;
    uint64_t seq = 0;
    /* Writers stop once writes and reads together reach the budget. */
    while (atomic_load(&r->write_calls) + atomic_load(&r->read_calls) < r->ops && seq < r->quota &&
           !atomic_load(&r->f.failed)) {
        maybe_toggle(wk, true);
        size_t s = pick_size(wk);
        if (s == 0) {
            if (!put_empty(wk))
                break;
            continue;
        }
        size_t len = s > HDR + r->dlen ? s - HDR - r->dlen : 0, n;
        /* Room for the release context in front of the record. */
        unsigned char *body = make_record(r, wk->id, seq, len, &n);
        unsigned char *rec = body ? malloc(sizeof(run *) + n) : NULL;
        if (rec == NULL) {
            free(body);
            rel_fail(&r->f, "writer: out of memory");
            break;
        }
        memcpy(rec, &r, sizeof(run *));
        memcpy(rec + sizeof(run *), body, n);
        free(body);
        atomic_store(&r->nrec[wk->id], seq + 1);
        seq++;
        unsigned how = (unsigned)rel_below(&wk->rng, 4);
        bool ok;
        if (how == 0 && r->c->W == 1) {
            ok = put_stream_copy(wk, rec + sizeof(run *), n);
            free(rec);
        } else if (how <= 1) {
            int c = put_checked_copy(wk, rec + sizeof(run *), n);
            if (c == 0) {
                ok = put_ref(wk, rec, n);
                if (!ok)
                    free(rec);
            } else {
                ok = c == 1;
                free(rec);
            }
        } else {
            ok = put_ref(wk, rec, n);
            if (!ok)
                free(rec);
        }
        if (!ok)
            break;
    }
    set_where(wk, W_DONE);
    return NULL;
}

/* ---- readers ---- */

static bool wait_data(worker *wk)
{
    run *r = wk->r;
    atomic_fetch_add(&r->eagain, 1);
    set_where(wk, W_RWAIT);
    double t = (double)rel_below(&wk->rng, 5001) * 1e-6;
    if (tp_pipe_read_wait(r->p, t) != 0 && errno != ETIMEDOUT) {
        rel_fail(&r->f, "[%s] read_wait: %s", r->c->name, strerror(errno));
        return false;
    }
    return true;
}

/* One plain read (copy or view) into ps. Returns bytes, 0 at EOF, -1 on
 * EAGAIN (already waited), -2 on failure. */
static ssize_t read_some(worker *wk, parser *ps, unsigned char *buf, size_t bufcap)
{
    run *r = wk->r;
    size_t n = 1 + (size_t)rel_below(&wk->rng, bufcap);
    ssize_t k;
    int e;
    atomic_fetch_add(&r->progress, 1);
    if (rel_below(&wk->rng, 3) == 0) {
        const void *d;
        tp_view *v;
        set_where(wk, W_VIEW);
        k = tp_pipe_read_view(r->p, n, &d, &v);
        e = errno;
        if (k > 0) {
            parse(wk, ps, d, (size_t)k);
            tp_view_release(v);
        }
    } else {
        set_where(wk, W_READ);
        k = tp_pipe_read(r->p, buf, n);
        e = errno;
        if (k > 0)
            parse(wk, ps, buf, (size_t)k);
    }
    if (k > 0) {
        atomic_fetch_add(&r->read_calls, 1);
        atomic_fetch_add(&r->bytes_out, (uint64_t)k);
        return k;
    }
    if (k == 0)
        return 0;
    if (e == EAGAIN)
        return wait_data(wk) ? -1 : -2;
    rel_fail(&r->f, "[%s] read: %s", r->c->name, strerror(e));
    return -2;
}

/* readmatch; returns bytes, 0 at EOF, -1 EAGAIN (waited), -3 ENOBUFS,
 * -2 failure. The line goes to ps, or is checked as one record if ps is
 * NULL. */
static ssize_t match_some(worker *wk, parser *ps)
{
    run *r = wk->r;
    void *out;
    set_where(wk, W_MATCH);
    ssize_t k = tp_pipe_readmatch(r->p, r->delim, r->dlen, &out);
    int e = errno;
    atomic_fetch_add(&r->progress, 1);
    if (k > 0) {
        atomic_fetch_add(&r->read_calls, 1);
        atomic_fetch_add(&r->bytes_out, (uint64_t)k);
        if (ps)
            parse(wk, ps, out, (size_t)k);
        else
            check_record(wk, out, (size_t)k);
        tp_free(out);
        return k;
    }
    if (k == 0)
        return 0;
    if (e == ENOBUFS) {
        atomic_fetch_add(&r->enobufs, 1);
        return -3;
    }
    if (e == EAGAIN)
        return wait_data(wk) ? -1 : -2;
    rel_fail(&r->f, "[%s] readmatch: %s", r->c->name, strerror(e));
    return -2;
}

static void *reader_main(void *arg)
{
    worker *wk = arg;
    run *r = wk->r;
    size_t bufcap = 3 * r->c->bsize;
    unsigned char *buf = malloc(bufcap);
    parser own = {0};
    if (buf == NULL) {
        rel_fail(&r->f, "reader: out of memory");
        return NULL;
    }
    bool single = r->c->R == 1;
    while (!atomic_load(&r->f.failed)) {
        maybe_toggle(wk, false);
        if (single) {
            ssize_t k = rel_below(&wk->rng, 3) == 0 ? match_some(wk, &own)
                                                    : read_some(wk, &own, buf, bufcap);
            if (k == -3)
                k = read_some(wk, &own, buf, bufcap);
            if (k == -2)
                break;
            if (k == 0 && tp_pipe_empty(r->p) && tp_pipe_eof(r->p)) {
                /* readmatch returns 0 at EOF with nothing matching; a read
                 * returning 0 is EOF. Both mean the end when empty. */
                if (own.have != 0)
                    rel_fail(&r->f, "[%s] EOF inside a record (%zu bytes)", r->c->name, own.have);
                break;
            }
            continue;
        }
        bool plain = rel_below(&wk->rng, 4) == 0;
        if (!plain) {
            set_where(wk, W_RGATE);
            pthread_rwlock_rdlock(&r->read_gate);
            ssize_t k = match_some(wk, NULL);
            pthread_rwlock_unlock(&r->read_gate);
            if (k == -2)
                break;
            if (k == 0) {
                if (!tp_pipe_empty(r->p) && tp_pipe_eof(r->p)) {
                    /* Another reader may hold unparsed bytes exclusively;
                     * retry through the plain path. */
                    plain = true;
                } else if (tp_pipe_eof(r->p)) {
                    break;
                }
            }
            if (k != -3 && !plain)
                continue;
        }
        set_where(wk, W_RGATE);
        pthread_rwlock_wrlock(&r->read_gate);
        bool eof = false;
        do {
            ssize_t k = read_some(wk, &r->shared, buf, bufcap);
            if (k == -2)
                break;
            if (k == 0) {
                eof = true;
                if (r->shared.have != 0)
                    rel_fail(&r->f, "[%s] EOF inside a record (%zu bytes)", r->c->name,
                             r->shared.have);
                break;
            }
        } while (r->shared.have != 0 && !atomic_load(&r->f.failed));
        pthread_rwlock_unlock(&r->read_gate);
        if (eof)
            break;
    }
    free(own.rec);
    free(buf);
    set_where(wk, W_DONE);
    return NULL;
}

/* ---- watchdog ---- */

typedef struct watchdog {
    run *r;
    pthread_t t;
    double hang;
} watchdog;

static void dump(run *r)
{
    tp_pipe *p = r->p;
    fprintf(stderr,
            "WATCHDOG [%s]: no progress; pipe: buffered=%zu empty=%d eof=%d closed=%d "
            "canread=%d readblocking=%d writeblocking=%d\n",
            r->c->name, tp_pipe_buffered(p), tp_pipe_empty(p), tp_pipe_eof(p), tp_pipe_closed(p),
            tp_pipe_canread(p), tp_pipe_readblocking(p), tp_pipe_writeblocking(p));
    fprintf(stderr,
            "  bytes in=%llu out=%llu write calls=%llu read calls=%llu refs=%llu releases=%llu\n",
            (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
            (unsigned long long)r->write_calls, (unsigned long long)r->read_calls,
            (unsigned long long)r->refs_accepted, (unsigned long long)r->releases);
    for (int i = 0; i < r->c->W; i++)
        fprintf(stderr, "  writer %d: %s, %llu records\n", i, where_names[r->where[i]],
                (unsigned long long)r->nrec[i]);
    for (int i = 0; i < r->c->R; i++)
        fprintf(stderr, "  reader %d: %s\n", i, where_names[r->where[MAX_W + i]]);
}

static void *watchdog_main(void *arg)
{
    watchdog *wd = arg;
    uint64_t last = atomic_load(&wd->r->progress);
    double since = rel_now();
    bool closed = false;
    while (tp_event_wait(wd->r->done, 0.2) != 0) {
        if (atomic_load(&wd->r->f.failed) && !closed) {
            /* A check failed: threads blocked on the pipe would wait for
             * ever; closing wakes them all (EPIPE) so the test can report. */
            tp_pipe_close(wd->r->p);
            closed = true;
        }
        uint64_t now = atomic_load(&wd->r->progress);
        if (now != last) {
            last = now;
            since = rel_now();
        } else if (rel_now() - since > wd->hang) {
            dump(wd->r);
            fflush(stderr);
            abort(); /* a hang is a failure; the dump says where */
        }
    }
    return NULL;
}

/* ---- one configuration ---- */

static void run_config(void **state)
{
    const cfg *c = *state;
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->c = c;
    uint64_t ops = rel_env("TP_STRESS_OPS", 100000);
    double budget = (double)rel_env("TP_STRESS_BYTES", 16ull << 20);
    r->ops = ops;
    r->quota = ops + 1; /* every record takes at least one write call */
    r->p_big = budget / ((double)ops * 1.5 * (double)c->bsize);
    if (r->p_big > 0.25)
        r->p_big = 0.25;
    r->seed = rel_env("TP_STRESS_SEED", 1);
    int di = (int)((c->bsize + (size_t)c->W + (size_t)c->R) % 4);
    r->delim = delims[di];
    r->dlen = (size_t)di + 1;
    pthread_rwlock_init(&r->copy_gate, NULL);
    pthread_rwlock_init(&r->read_gate, NULL);
    for (int i = 0; i < c->W; i++) {
        r->seen[i] = calloc(r->quota / 64 + 1, sizeof(uint64_t));
        assert_non_null(r->seen[i]);
    }
    r->p = tp_pipe_new(c->bsize, true, true, TP_FOREVER, c->name);
    assert_non_null(r->p);
    r->done = tp_event_new();
    assert_non_null(r->done);

    watchdog wd = {r, 0, (double)rel_env("TP_STRESS_HANG", 60)};
    assert_int_equal(pthread_create(&wd.t, NULL, watchdog_main, &wd), 0);
    worker ws[MAX_W + MAX_R];
    pthread_t ts[MAX_W + MAX_R];
    memset(ws, 0, sizeof ws);
    double t0 = rel_now();
    for (int i = 0; i < c->W + c->R; i++) {
        int id = i < c->W ? i : MAX_W + (i - c->W);
        ws[i].r = r;
        ws[i].id = id;
        ws[i].rng = rel_seed(r->seed, (uint64_t)id * 7919 + c->bsize);
        assert_int_equal(pthread_create(&ts[i], NULL, i < c->W ? writer_main : reader_main, &ws[i]),
                         0);
    }
    for (int i = 0; i < c->W; i++)
        pthread_join(ts[i], NULL);
    assert_int_equal(tp_pipe_write_eof(r->p), 0);
    for (int i = c->W; i < c->W + c->R; i++)
        pthread_join(ts[i], NULL);
    double secs = rel_now() - t0;
    tp_event_set(r->done);
    pthread_join(wd.t, NULL);

    bool failed = atomic_load(&r->f.failed);
    if (failed)
        tp_pipe_close(r->p); /* discard what the stopped readers left */
    size_t left = tp_pipe_buffered(r->p);
    tp_pipe_free(r->p);
    printf("[%s] %llu write calls (%llu checked copies, %llu partial, %llu refs), "
           "%llu read calls, %llu bytes, %llu EAGAIN, %llu ENOBUFS, %.2f s\n",
           c->name, (unsigned long long)r->write_calls, (unsigned long long)r->copy_checked,
           (unsigned long long)r->partials, (unsigned long long)r->refs_accepted,
           (unsigned long long)r->read_calls, (unsigned long long)r->bytes_in,
           (unsigned long long)r->eagain, (unsigned long long)r->enobufs, secs);
    if (failed)
        fail_msg("%s", r->f.msg);
    assert_int_equal(left, 0);
    assert_int_equal(r->bytes_in, r->bytes_out);
    assert_int_equal(r->releases, r->refs_accepted);
    assert_true(r->write_calls + r->read_calls >= ops);
    for (int w = 0; w < c->W; w++) {
        uint64_t n = r->nrec[w];
        for (uint64_t s = 0; s < n; s++)
            if (!(r->seen[w][s / 64] & ((uint64_t)1 << (s % 64))))
                fail_msg("[%s] writer %d record %llu was lost", c->name, w, (unsigned long long)s);
        free(r->seen[w]);
    }
    tp_event_free(r->done);
    free(r->shared.rec);
    pthread_rwlock_destroy(&r->copy_gate);
    pthread_rwlock_destroy(&r->read_gate);
    free(r);
}

int main(int argc, char **argv)
{
    static const int Ws[] = {1, 2, 8, 32}, Rs[] = {1, 2, 8};
    static const size_t Bs[] = {1, 7, 4096, 1 << 20};
    static cfg cfgs[48];
    struct CMUnitTest tests[48];
    int n = 0;
    for (int b = 0; b < 4; b++)
        for (int w = 0; w < 4; w++)
            for (int r = 0; r < 3; r++) {
                cfg *c = &cfgs[n];
                c->W = Ws[w];
                c->R = Rs[r];
                c->bsize = Bs[b];
                snprintf(c->name, sizeof c->name, "w%d_r%d_b%zu", c->W, c->R, c->bsize);
                tests[n] = (struct CMUnitTest){c->name, run_config, NULL, NULL, c};
                n++;
            }
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return _cmocka_run_group_tests("stress", tests, (size_t)n, NULL, NULL);
}
