/* progress.c: the leader's view of each follower (thesis §3.5, and the
 * probe/replicate/snapshot states of etcd's progress tracking), with the
 * in-flight window that bounds pipelined appends by count and bytes. */
#include <string.h>

#include "raft/raft_int.h"

void raft__inflight_reset(struct raft__progress *p)
{
    p->infl_head = 0;
    p->infl_count = 0;
    p->infl_total_bytes = 0;
}

void raft__inflight_add(struct raft__progress *p, uint64_t last,
                        uint32_t bytes)
{
    if (p->infl_count == RAFT__INFLIGHT_CAP)
        return; /* callers check the window first; never overflow */
    uint32_t at = (p->infl_head + p->infl_count) % RAFT__INFLIGHT_CAP;
    p->infl_index[at] = last;
    p->infl_bytes[at] = bytes;
    p->infl_count++;
    p->infl_total_bytes += bytes;
}

void raft__inflight_free_to(struct raft__progress *p, uint64_t index)
{
    while (p->infl_count > 0 && p->infl_index[p->infl_head] <= index) {
        p->infl_total_bytes -= p->infl_bytes[p->infl_head];
        p->infl_head = (p->infl_head + 1) % RAFT__INFLIGHT_CAP;
        p->infl_count--;
    }
}

struct raft__progress *raft__progress_get(struct raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < r->n_prog; i++)
        if (r->prog[i].id == id)
            return &r->prog[i];
    return NULL;
}

/* Make the progress table match the latest configuration: one entry per
 * other member. RESET (a new leader) starts every follower probing at the
 * leader's last index + 1 (Figure 2: nextIndex initialized to last + 1).
 * Otherwise existing entries are kept and new members start probing. */
void raft__progress_sync(struct raft *r, int reset)
{
    struct raft__progress old[RAFT_SERVERS_MAX];
    uint32_t n_old = r->n_prog;
    memcpy(old, r->prog, n_old * sizeof old[0]);
    r->n_prog = 0;
    uint64_t next = raft__log_last(&r->log) + 1;
    for (uint32_t i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->id == r->id)
            continue;
        struct raft__progress *p = &r->prog[r->n_prog++];
        const struct raft__progress *was = NULL;
        for (uint32_t k = 0; k < n_old && !reset; k++)
            if (old[k].id == s->id)
                was = &old[k];
        if (was != NULL) {
            *p = *was;
        } else {
            memset(p, 0, sizeof *p);
            p->id = s->id;
            p->state = RAFT__PROBE;
            p->next = next;
            p->active = 1; /* give a new member one round before judging */
        }
        p->role = s->role;
    }
}

/* Is the set ids[] plus this server (if it counts) a quorum of the latest
 * configuration? */
int raft__self_quorum_with(const struct raft *r, const uint64_t *ids,
                           size_t n)
{
    uint64_t set[RAFT_SERVERS_MAX + 1];
    size_t k = 0;
    set[k++] = r->id;
    for (size_t i = 0; i < n && k < RAFT_SERVERS_MAX + 1; i++)
        set[k++] = ids[i];
    return raft_config_is_quorum(&r->conf, set, k);
}
