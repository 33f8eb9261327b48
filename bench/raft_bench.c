/* raft_bench.c: the Raft core's own replication rate, with no disk and no
 * network cost: three cores in one process, messages handed over in memory
 * (copied, as a transport would), every write "persisted" at once. What is
 * left is the core's CPU cost per entry: proposing, batching into APPENDs,
 * matching, counting the quorum and handing committed entries out.
 *
 * Output, one line per batch size (proposals fed to the leader between two
 * rounds of message delivery; event=propose_batch: all of them in one
 * RAFT_EV_PROPOSE_BATCH, as the node's group commit does):
 *   raft-core voters=3 batch=B event=E entry_bytes=256 entries=N secs=S eps=X
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "raft/raft.h"

#define VOTERS 3
#define ENTRY_BYTES 256

struct qmsg {
    struct qmsg *next;
    struct raft_message m;
};

struct bench {
    struct raft *r[VOTERS];
    struct qmsg *head, *tail;
    uint64_t committed_leader; /* entries applied on the leader */
    uint64_t now_ms;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "raft-bench: %s: %s\n", what, pm_strerror(rc));
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "raft-bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* Deep copy: the core's message memory lives only until its next step. */
static void enqueue(struct bench *b, const struct raft_message *m)
{
    size_t bytes = sizeof(struct qmsg) + m->n_entries * sizeof(struct pm_entry);
    for (uint32_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].len;
    bytes += m->len + m->config_len;
    struct qmsg *q = xmalloc(bytes);
    q->next = NULL;
    q->m = *m;
    struct pm_entry *e = (struct pm_entry *)(q + 1);
    uint8_t *p = (uint8_t *)(e + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        e[i] = m->entries[i];
        if (m->entries[i].len)
            memcpy(p, m->entries[i].data, m->entries[i].len);
        e[i].data = p;
        p += m->entries[i].len;
    }
    q->m.entries = m->n_entries ? e : NULL;
    if (m->len)
        memcpy(p, m->data, m->len);
    q->m.data = m->len ? p : NULL;
    p += m->len;
    if (m->config_len)
        memcpy(p, m->config, m->config_len);
    q->m.config = m->config_len ? p : NULL;
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
}

static void step(struct bench *b, int k, const struct raft_event *ev);

static void handle(struct bench *b, int k, const struct raft_update *up)
{
    for (size_t i = 0; i < up->n_msgs; i++)
        enqueue(b, &up->msgs[i]);
    /* "Persisted" at once: msgs_after may go right away. */
    for (size_t i = 0; i < up->n_msgs_after; i++)
        enqueue(b, &up->msgs_after[i]);
    if (k == 0)
        b->committed_leader += up->n_committed;
    int persist = up->n_entries || up->hard_state_changed || up->truncate_from;
    uint64_t pi = up->n_entries ? up->entries[up->n_entries - 1].index : 0;
    uint64_t pt = up->n_entries ? up->entries[up->n_entries - 1].term : 0;
    int compact = up->want_compact;
    if (persist) {
        struct raft_event e = {.type = RAFT_EV_PERSISTED, .now_ms = b->now_ms};
        e.persisted.index = pi;
        e.persisted.term = pt;
        step(b, k, &e);
    }
    if (compact) {
        struct raft_status st;
        raft_status(b->r[k], &st);
        if (st.applied > st.snapshot_index) {
            struct raft_event e = {.type = RAFT_EV_COMPACTED,
                                   .now_ms = b->now_ms};
            e.at.index = st.applied;
            step(b, k, &e);
        }
    }
}

static void step(struct bench *b, int k, const struct raft_event *ev)
{
    struct raft_update up;
    int rc = raft_step(b->r[k], ev, &up);
    if (rc != 0 && rc != -PM_ENOTLEADER && rc != -PM_EBUSY)
        die("raft_step", rc);
    handle(b, k, &up);
}

static void pump(struct bench *b)
{
    while (b->head) {
        struct qmsg *q = b->head;
        b->head = q->next;
        if (!b->head)
            b->tail = NULL;
        int to = (int)q->m.to - 1;
        struct raft_event e = {.type = RAFT_EV_RECEIVE, .now_ms = b->now_ms};
        e.msg = &q->m;
        step(b, to, &e);
        free(q);
    }
}

static void setup(struct bench *b)
{
    memset(b, 0, sizeof(*b));
    struct raft_config c;
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < VOTERS; i++)
        raft_config_set(&c, (uint64_t)i + 1, RAFT_VOTER);
    c.tiebreaker = 1;
    uint8_t *payload;
    uint32_t len;
    int rc = raft_config_payload_encode(&c, "", 0, &payload, &len);
    if (rc)
        die("config encode", rc);
    struct pm_entry boot = {.index = 1, .term = 1, .type = PM_ENTRY_CONFIG,
                            .data = payload, .len = len};
    struct raft_hard_state hs = {.term = 1, .vote = 0, .commit = 1};
    struct raft_options o = {
        .append_entries_max = 1024,
        .append_bytes_max = 1024 * 1024,
        .inflight_max = 64,
        .inflight_bytes_max = 64ull << 20,
        .log_bytes_compact = 32ull << 20,
    };
    for (int i = 0; i < VOTERS; i++) {
        o.seed = (uint64_t)i + 7;
        if ((rc = raft_new((uint64_t)i + 1, &o, &b->r[i])) != 0)
            die("raft_new", rc);
        if ((rc = raft_restore(b->r[i], &hs, NULL, &boot, 1)) != 0)
            die("raft_restore", rc);
    }
    free(payload);
    b->now_ms = 1;
    struct raft_event e = {.type = RAFT_EV_CAMPAIGN, .now_ms = b->now_ms};
    step(b, 0, &e);
    pump(b);
    struct raft_status st;
    raft_status(b->r[0], &st);
    if (st.role != RAFT_LEADER) {
        fprintf(stderr, "raft-bench: node 1 did not become leader\n");
        exit(1);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* BATCH proposals per round, as BATCH PROPOSE events or (one_event) one
 * PROPOSE_BATCH event, the host's group commit of client requests. */
static void run(uint32_t batch, uint64_t total, int one_event)
{
    struct bench b;
    setup(&b);
    uint8_t payload[ENTRY_BYTES];
    memset(payload, 0xab, sizeof(payload));
    const uint8_t **ptrs = xmalloc(batch * sizeof(*ptrs));
    uint32_t *lens = xmalloc(batch * sizeof(*lens));
    for (uint32_t i = 0; i < batch; i++) {
        ptrs[i] = payload;
        lens[i] = ENTRY_BYTES;
    }
    uint64_t start_committed = b.committed_leader;
    uint64_t proposed = 0;
    double t0 = now_s();
    while (b.committed_leader - start_committed < total) {
        if (one_event) {
            uint32_t n = total - proposed < batch ? (uint32_t)(total - proposed)
                                                  : batch;
            struct raft_event e = {.type = RAFT_EV_PROPOSE_BATCH,
                                   .now_ms = b.now_ms};
            e.batch.payloads = ptrs;
            e.batch.lens = lens;
            e.batch.n = n;
            if (n)
                step(&b, 0, &e);
            proposed += n;
        }
        for (uint32_t i = 0; !one_event && i < batch && proposed < total;
             i++) {
            struct raft_event e = {.type = RAFT_EV_PROPOSE,
                                   .now_ms = b.now_ms};
            memcpy(payload, &proposed, sizeof(proposed));
            e.propose.data = payload;
            e.propose.len = ENTRY_BYTES;
            step(&b, 0, &e);
            proposed++;
        }
        pump(&b);
        /* A heartbeat tick now and then carries the commit index. */
        b.now_ms++;
        struct raft_event t = {.type = RAFT_EV_TICK, .now_ms = b.now_ms};
        step(&b, 0, &t);
        pump(&b);
        if (proposed >= total && b.committed_leader - start_committed < total) {
            b.now_ms += 50;
            step(&b, 0, &t);
            pump(&b);
        }
    }
    double secs = now_s() - t0;
    printf("raft-core voters=%d batch=%u event=%s entry_bytes=%d entries=%"
           PRIu64 " secs=%.3f eps=%.0f\n",
           VOTERS, batch, one_event ? "propose_batch" : "propose",
           ENTRY_BYTES, total, secs, (double)total / secs);
    free(ptrs);
    free(lens);
    for (int i = 0; i < VOTERS; i++)
        raft_free(b.r[i]);
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 400000;
    if (total == 0)
        total = 400000;
    run(1, total / 8, 0);
    run(64, total, 0);
    run(256, total, 0);
    run(256, total, 1);
    run(1024, total, 1);
    return 0;
}
