/* status.c: read-only views of the core for the host (status, progress,
 * names for logs). */
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

void raft_status(const struct raft *r, struct raft_status *out)
{
    memset(out, 0, sizeof *out);
    out->id = r->id;
    out->role = r->role;
    out->term = r->term;
    out->vote = r->vote;
    out->leader = r->leader;
    out->commit = r->commit;
    out->applied = r->applied;
    out->persisted = r->persisted;
    out->first_index = r->log.base + 1;
    out->last_index = raft__log_last(&r->log);
    out->last_term = raft__log_last_term(&r->log);
    out->snapshot_index = r->log.base;
    out->snapshot_term = r->log.base_term;
    out->config_index = r->conf_index;
    out->config_committed = r->conf_index <= r->commit;
    out->transfer_target = r->transfer_target;
}

const struct raft_config *raft_config_latest(const struct raft *r)
{
    return &r->conf;
}

int raft_progress(const struct raft *r, uint64_t id, uint64_t *match_index,
                  uint64_t *next_index)
{
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    if (id == r->id) {
        *match_index = r->persisted;
        *next_index = raft__log_last(&r->log) + 1;
        return 0;
    }
    for (uint32_t i = 0; i < r->n_prog; i++) {
        if (r->prog[i].id == id) {
            *match_index = r->prog[i].match;
            *next_index = r->prog[i].next;
            return 0;
        }
    }
    return -PM_ENOTFOUND;
}

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    }
    return "unknown";
}

const char *raft_msg_name(int type)
{
    static const char *names[] = {
        "?", "append", "append_resp", "heartbeat", "heartbeat_resp",
        "prevote", "prevote_resp", "vote", "vote_resp", "snapshot",
        "snapshot_resp", "timeout_now", "read_index", "read_index_resp",
    };
    if (type < 1 || type > RAFT_MSG_TYPE_MAX)
        return "unknown";
    return names[type];
}
