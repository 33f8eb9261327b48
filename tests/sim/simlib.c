/* simlib.c: PRNG, hash, event heap and trace ring (see simlib.h). */
#include "simlib.h"

#include <stdlib.h>
#include <string.h>

void *sim_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "pmesh-sim: out of memory\n");
        abort();
    }
    return q;
}

void *sim_xcalloc(size_t n, size_t size)
{
    void *q = calloc(n ? n : 1, size ? size : 1);
    if (!q) {
        fprintf(stderr, "pmesh-sim: out of memory\n");
        abort();
    }
    return q;
}

/* --- PRNG ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Rejection sampling keeps the distribution exact (and deterministic). */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = sim_rng_next(r);
        if (x < limit)
            return x % n;
    }
}

uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + sim_rng_below(r, hi - lo + 1);
}

int sim_rng_ppm(struct sim_rng *r, uint32_t ppm)
{
    if (ppm == 0)
        return 0;
    return sim_rng_below(r, 1000000) < ppm;
}

/* --- hash ---------------------------------------------------------------- */

uint64_t sim_mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    return splitmix64(&x);
}

uint64_t sim_hash(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = sim_mix(seed, len);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = sim_mix(h, w);
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return sim_mix(h, w);
}

/* --- heap ---------------------------------------------------------------- */

void sim_heap_init(struct sim_heap *h)
{
    memset(h, 0, sizeof(*h));
}

void sim_heap_free(struct sim_heap *h)
{
    free(h->v);
    memset(h, 0, sizeof(*h));
}

static int ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms;
    return a->seq < b->seq;
}

void sim_heap_push(struct sim_heap *h, struct sim_ev ev)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->v = sim_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    ev.seq = h->next_seq++;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = ev;
}

int sim_heap_pop(struct sim_heap *h, struct sim_ev *out)
{
    if (h->n == 0)
        return -1;
    *out = h->v[0];
    struct sim_ev last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && ev_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!ev_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return 0;
}

uint64_t sim_heap_peek_ms(const struct sim_heap *h)
{
    return h->n ? h->v[0].at_ms : UINT64_MAX;
}

/* --- trace --------------------------------------------------------------- */

void sim_trace(struct sim_trace *t, const char *fmt, ...)
{
    char *line = t->line[t->count % SIM_TRACE_LINES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, SIM_TRACE_WIDTH, fmt, ap);
    va_end(ap);
    t->count++;
    if (t->verbose)
        printf("  %s\n", line);
}

void sim_trace_dump(const struct sim_trace *t, FILE *f)
{
    uint64_t n = t->count < SIM_TRACE_LINES ? t->count : SIM_TRACE_LINES;
    for (uint64_t i = t->count - n; i < t->count; i++)
        fprintf(f, "  %s\n", t->line[i % SIM_TRACE_LINES]);
}
