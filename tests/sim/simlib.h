/* simlib.h: the simulator's building blocks that do not depend on the Raft
 * core's API: a seeded PRNG, a deterministic event queue, a trace ring
 * buffer and a content hash.
 *
 * Determinism rules every part of tests/sim follows: no wall clock, no
 * iteration in hash-table order, no ordering by pointer value, and every
 * random choice drawn from the one seeded generator in a fixed order. The
 * same seed and flags therefore replay the same run bit for bit.
 */
#ifndef SIM_SIMLIB_H
#define SIM_SIMLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- PRNG: xoshiro256** seeded through splitmix64 ------------------------ */

struct sim_rng {
    uint64_t s[4];
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, n); n == 0 returns 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive); hi < lo returns lo. */
uint64_t sim_rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi);
/* True with probability ppm / 1,000,000. */
int sim_rng_ppm(struct sim_rng *r, uint32_t ppm);

/* --- content hash (not cryptographic; only compares simulator data) ----- */

uint64_t sim_hash(const void *data, size_t len, uint64_t seed);
uint64_t sim_mix(uint64_t a, uint64_t b);

/* --- event queue: a binary min-heap ordered by (at_ms, seq) -------------- */

enum sim_ev_kind {
    SIM_EV_DELIVER = 1, /* ptr: a struct sim_msg in flight */
    SIM_EV_DISK,        /* a node's oldest pending disk write completes */
    SIM_EV_TICK,        /* a node's core asked to be called at this time */
    SIM_EV_CHAOS,       /* the next fault / churn decision */
    SIM_EV_CLIENT,      /* the next client proposal or read */
    SIM_EV_SNAPSHOT,    /* a node's host takes a snapshot and compacts */
    SIM_EV_CRASH,       /* a targeted crash of one incarnation */
};

struct sim_ev {
    uint64_t at_ms;
    uint64_t seq;   /* push order: breaks ties deterministically */
    int kind;       /* enum sim_ev_kind */
    int node;       /* node slot, -1 for none */
    uint64_t gen;   /* the node's incarnation / tick generation when pushed */
    void *ptr;      /* kind-specific, owned by the queue while queued */
};

struct sim_heap {
    struct sim_ev *v;
    size_t n, cap;
    uint64_t next_seq;
};

void sim_heap_init(struct sim_heap *h);
/* Frees the array only; the caller frees what ptr fields own first. */
void sim_heap_free(struct sim_heap *h);
/* Aborts on out-of-memory (a test harness has no way to continue). */
void sim_heap_push(struct sim_heap *h, struct sim_ev ev);
/* Returns 0 and the earliest event, or -1 when empty. */
int sim_heap_pop(struct sim_heap *h, struct sim_ev *out);
/* Earliest event's time; UINT64_MAX when empty. */
uint64_t sim_heap_peek_ms(const struct sim_heap *h);

/* --- trace: the last SIM_TRACE_LINES lines, printed on failure ----------- */

#define SIM_TRACE_LINES 64
#define SIM_TRACE_WIDTH 200

struct sim_trace {
    char line[SIM_TRACE_LINES][SIM_TRACE_WIDTH];
    uint64_t count;  /* lines ever written */
    int verbose;     /* also print every line to stdout as it is written */
};

void sim_trace(struct sim_trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print the ring oldest first to F. */
void sim_trace_dump(const struct sim_trace *t, FILE *f);

/* Growable arrays: abort on out-of-memory. */
void *sim_xrealloc(void *p, size_t bytes);
void *sim_xcalloc(size_t n, size_t size);

#endif
