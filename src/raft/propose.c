/* propose.c: the leader appending client commands to its log (Figure 2,
 * "Rules for Servers, Leaders": append the entry to the local log, then
 * replicate). Configuration changes are in membership.c. */
#include <stdlib.h>

#include "base/err.h"
#include "raft/raft_int.h"

/* One COMMAND. Its APPENDs go out at once (the leader writes its own disk
 * in parallel, thesis §10.2.1). */
int raft__propose(struct raft *r, const struct raft_event *ev)
{
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    if (r->transfer_target != 0)
        return -PM_EBUSY;
    if (ev->propose.len > r->o.proposal_bytes_max)
        return -PM_ETOOBIG;
    if (ev->propose.len > 0 && ev->propose.data == NULL)
        return -PM_EINVAL;
    uint64_t idx = raft__log_last(&r->log) + 1;
    int rc = raft__log_append_one(&r->log, r->term, PM_ENTRY_COMMAND,
                                  ev->propose.data, ev->propose.len);
    if (rc != 0)
        return rc;
    raft__mark_appended(r, idx);
    r->proposed_index = idx;
    r->proposed_term = r->term;
    raft__broadcast_append(r);
    raft__maybe_commit(r);
    return 0;
}

/* Several proposals in one step: one payload block, one round of APPENDs
 * (batched by append_entries_max / append_bytes_max). */
int raft__propose_batch(struct raft *r, const struct raft_event *ev)
{
    uint32_t n = ev->batch.n;
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    if (r->transfer_target != 0)
        return -PM_EBUSY;
    if (n == 0 || n > 65536 || ev->batch.payloads == NULL ||
        ev->batch.lens == NULL)
        return -PM_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        if (ev->batch.lens[i] > r->o.proposal_bytes_max)
            return -PM_ETOOBIG;
        if (ev->batch.lens[i] > 0 && ev->batch.payloads[i] == NULL)
            return -PM_EINVAL;
    }
    struct pm_entry *es = malloc(n * sizeof *es);
    if (es == NULL)
        return -PM_ENOMEM;
    uint64_t first = raft__log_last(&r->log) + 1;
    for (uint32_t i = 0; i < n; i++)
        es[i] = (struct pm_entry){.index = first + i,
                                  .term = r->term,
                                  .type = PM_ENTRY_COMMAND,
                                  .data = ev->batch.payloads[i],
                                  .len = ev->batch.lens[i]};
    int rc = raft__log_append(&r->log, es, n);
    free(es);
    if (rc != 0)
        return rc;
    raft__mark_appended(r, first);
    r->proposed_index = first;
    r->proposed_term = r->term;
    raft__broadcast_append(r);
    raft__maybe_commit(r);
    return 0;
}
