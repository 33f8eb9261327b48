/* read_index.c: linearizable reads without log writes (thesis §6.4).
 *
 * The leader records its commit index as the read index, confirms it is
 * still leader with a heartbeat round acknowledged by a quorum, and then
 * answers; the host serves the read once it has applied up to that index.
 * A new leader first waits for its NOOP to commit (§6.4 step 1) so its
 * commit index is at least that of any earlier leader. A follower forwards
 * the request to the leader and relays the answer. */
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

static void release(struct raft *r, const struct raft__read *rd, int status)
{
    if (rd->from == 0) {
        raft__read_result(r, rd->id, status == 0 ? rd->index : 0, status);
        return;
    }
    struct raft_message *m = raft__msg(r, 0, RAFT_MSG_READ_INDEX_RESP,
                                       rd->from);
    if (m == NULL)
        return;
    m->ctx = rd->id;
    m->index = status == 0 ? rd->index : 0;
    m->reject = status != 0;
}

static int term_committed(const struct raft *r)
{
    return r->commit >= r->term_start && r->term_start != 0;
}

/* Give every read waiting for a round (seq 0) the current commit index and
 * start one heartbeat round for all of them. */
static void start_round(struct raft *r)
{
    if (!term_committed(r))
        return;
    int any = 0;
    for (uint32_t i = 0; i < r->n_reads; i++) {
        if (r->reads[i].seq == 0) {
            r->reads[i].index = r->commit;
            r->reads[i].seq = r->read_seq + 1;
            any = 1;
        }
    }
    if (!any)
        return;
    r->read_seq++;
    if (raft__self_quorum_with(r, NULL, 0)) {
        /* This server alone is a quorum (one voter, or the weighted
         * tie-breaker): no one else can have been elected. */
        raft__reads_ack(r);
        return;
    }
    raft__broadcast_heartbeat(r, r->read_seq);
}

static int add_read(struct raft *r, uint64_t id, uint64_t from)
{
    if (r->n_reads == r->o.reads_max)
        return -PM_EBUSY;
    r->reads[r->n_reads++] =
        (struct raft__read){.id = id, .from = from, .index = 0, .seq = 0};
    start_round(r);
    return 0;
}

int raft__read_index(struct raft *r, uint64_t id)
{
    if (r->role == RAFT_LEADER)
        return add_read(r, id, 0);
    if (r->leader == 0) {
        raft__read_result(r, id, 0, -PM_ENOLEADER);
        return 0;
    }
    if (r->n_fwd == r->o.reads_max) {
        raft__read_result(r, id, 0, -PM_EBUSY);
        return 0;
    }
    r->fwd[r->n_fwd++] = (struct raft__fwd_read){
        .id = id,
        .deadline_ms = r->now_ms + 2ull * r->o.election_timeout_ms,
    };
    struct raft_message *m = raft__msg(r, 0, RAFT_MSG_READ_INDEX, r->leader);
    if (m != NULL)
        m->ctx = id;
    return 0;
}

int raft__recv_read_index(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER || add_read(r, m->ctx, m->from) != 0) {
        struct raft_message *o = raft__msg(r, 0, RAFT_MSG_READ_INDEX_RESP,
                                           m->from);
        if (o != NULL) {
            o->ctx = m->ctx;
            o->reject = 1;
        }
    }
    return 0;
}

int raft__recv_read_index_resp(struct raft *r, const struct raft_message *m)
{
    if (m->from != r->leader)
        return 0;
    for (uint32_t i = 0; i < r->n_fwd; i++) {
        if (r->fwd[i].id != m->ctx)
            continue;
        r->fwd[i] = r->fwd[--r->n_fwd];
        raft__read_result(r, m->ctx, m->reject ? 0 : m->index,
                          m->reject ? -PM_ENOTLEADER : 0);
        return 0;
    }
    return 0;
}

/* Release every read whose round a quorum has acknowledged. */
void raft__reads_ack(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->n_reads == 0)
        return;
    /* The highest round acknowledged by a quorum (every round, if this
     * server alone is one). */
    uint64_t best = 0;
    int alone = raft__self_quorum_with(r, NULL, 0);
    if (alone) {
        best = r->read_seq;
    } else {
        for (uint32_t i = 0; i < r->n_prog; i++) {
            uint64_t s = r->prog[i].read_ack;
            if (s <= best)
                continue;
            uint64_t ids[RAFT_SERVERS_MAX];
            size_t n = 0;
            for (uint32_t j = 0; j < r->n_prog; j++)
                if (r->prog[j].read_ack >= s)
                    ids[n++] = r->prog[j].id;
            if (raft__self_quorum_with(r, ids, n))
                best = s;
        }
    }
    uint32_t w = 0;
    for (uint32_t i = 0; i < r->n_reads; i++) {
        struct raft__read *rd = &r->reads[i];
        if (rd->seq != 0 && rd->seq <= best)
            release(r, rd, 0);
        else
            r->reads[w++] = *rd;
    }
    r->n_reads = w;
}

void raft__reads_on_commit(struct raft *r)
{
    start_round(r);
}

void raft__reads_fail_all(struct raft *r, int status)
{
    for (uint32_t i = 0; i < r->n_reads; i++)
        release(r, &r->reads[i], status);
    r->n_reads = 0;
    for (uint32_t i = 0; i < r->n_fwd; i++)
        raft__read_result(r, r->fwd[i].id, 0, status);
    r->n_fwd = 0;
}

void raft__tick_reads(struct raft *r)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < r->n_fwd; i++) {
        if (r->now_ms >= r->fwd[i].deadline_ms)
            raft__read_result(r, r->fwd[i].id, 0, -PM_ETIMEOUT);
        else
            r->fwd[w++] = r->fwd[i];
    }
    r->n_fwd = w;
}
