/* snapshot.c: log compaction and chunked, resumable snapshot transfer
 * (thesis §5.3, InstallSnapshot split into bounded chunks).
 *
 * Leader: when a follower needs entries at or below the log's base it asks
 * the host for a snapshot (update.need_snapshot), keeps one copy, and sends
 * it in chunks of options.snapshot_chunk_bytes, a few in flight. The first
 * message of a transfer is an empty chunk at offset 0: the follower answers
 * with how many bytes of that same (index, term) snapshot it already holds,
 * and the leader continues from there (resume after a drop, a timeout or a
 * change of leader). The follower accumulates in order, bounded by
 * options.snapshot_bytes_max, and on the last byte hands the snapshot to
 * the host for installation. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

/* Chunks in flight per follower. */
#define SNAP_WINDOW_CHUNKS 4

void raft__snapshot_drop_out(struct raft *r)
{
    /* Messages of this step may still point at the bytes: free them at
     * the start of the next step. */
    if (r->snap_out_data != NULL) {
        free(r->snap_garbage);
        r->snap_garbage = r->snap_out_data;
    }
    r->snap_out_data = NULL;
    r->snap_out_len = 0;
    r->snap_out_index = 0;
    r->snap_out_term = 0;
    r->snap_out_conf_len = 0;
    r->snap_wanted = 0;
}

static void send_chunk(struct raft *r, struct raft__progress *p,
                       uint64_t offset, uint32_t len)
{
    struct raft_message *m = raft__msg(r, 0, RAFT_MSG_SNAPSHOT, p->id);
    if (m == NULL)
        return;
    m->snap_index = r->snap_out_index;
    m->snap_term = r->snap_out_term;
    m->snap_size = r->snap_out_len;
    m->offset = offset;
    m->data = len > 0 ? r->snap_out_data + offset : NULL;
    m->len = len;
    m->config = r->snap_out_conf;
    m->config_len = r->snap_out_conf_len;
    m->done = offset + len == r->snap_out_len;
    m->commit = r->commit;
    p->snap_send_ms = r->now_ms;
}

void raft__send_snapshot(struct raft *r, struct raft__progress *p)
{
    if (r->snap_out_conf_len == 0 || r->snap_out_index < r->log.base) {
        /* None held, or it is older than our log's base (the entries
         * after it are gone): ask the host for a fresh one. */
        if (r->snap_out_conf_len != 0)
            raft__snapshot_drop_out(r);
        p->state = RAFT__SNAPSHOT;
        p->snap_index = 0;
        p->snap_send_ms = r->now_ms;
        r->snap_wanted = 1;
        r->need_snapshot = 1;
        return;
    }
    if (p->state != RAFT__SNAPSHOT || p->snap_index != r->snap_out_index) {
        p->state = RAFT__SNAPSHOT;
        p->snap_index = r->snap_out_index;
        p->snap_acked = 0;
        p->snap_sent = 0;
        raft__inflight_reset(p);
        send_chunk(r, p, 0, 0); /* "how much do you hold?" */
        return;
    }
    uint64_t chunk = r->o.snapshot_chunk_bytes;
    /* Bytes in flight: a few chunks, within the follower's in-flight byte
     * budget, but always at least one chunk. */
    uint64_t window = chunk * SNAP_WINDOW_CHUNKS;
    if (window > r->o.inflight_bytes_max)
        window = r->o.inflight_bytes_max;
    if (window < chunk)
        window = chunk;
    for (int k = 0; k < SNAP_WINDOW_CHUNKS && p->snap_sent < r->snap_out_len;
         k++) {
        if (p->snap_sent - p->snap_acked >= window)
            break;
        uint64_t left = r->snap_out_len - p->snap_sent;
        uint32_t len = (uint32_t)(left < chunk ? left : chunk);
        send_chunk(r, p, p->snap_sent, len);
        p->snap_sent += len;
    }
}

int raft__offer_snapshot(struct raft *r, const struct raft_snapshot *s)
{
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    if (s == NULL || (s->data == NULL && s->len > 0))
        return -PM_EINVAL;
    if (s->len > r->o.snapshot_bytes_max)
        return -PM_ETOOBIG;
    if (s->index < r->log.base || s->index > r->commit || s->index == 0 ||
        raft__log_term(&r->log, s->index) != s->term)
        return -PM_EINVAL;
    size_t cl;
    if (raft_config_encode(&s->config, r->snap_out_conf,
                           sizeof r->snap_out_conf, &cl) != 0)
        return -PM_EINVAL;
    uint8_t *copy = malloc(s->len > 0 ? s->len : 1);
    if (copy == NULL)
        return -PM_ENOMEM;
    if (s->len > 0)
        memcpy(copy, s->data, s->len);
    raft__snapshot_drop_out(r);
    r->snap_out_data = copy;
    r->snap_out_len = s->len;
    r->snap_out_index = s->index;
    r->snap_out_term = s->term;
    r->snap_out_conf_len = (uint32_t)cl;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft__progress *p = &r->prog[i];
        if (p->state == RAFT__SNAPSHOT)
            raft__send_snapshot(r, p);
    }
    return 0;
}

int raft__recv_snapshot_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER)
        return 0;
    struct raft__progress *p = raft__progress_get(r, m->from);
    if (p == NULL)
        return 0;
    p->active = 1;
    if (m->done) {
        if (m->index > raft__log_last(&r->log))
            return -PM_EPROTO;
        if (m->index > p->match)
            p->match = m->index;
        p->next = p->match + 1;
        p->state = RAFT__PROBE;
        p->paused = 0;
        raft__inflight_reset(p);
        raft__maybe_commit(r);
        if (r->role != RAFT_LEADER)
            return 0;
        raft__transfer_check(r, p);
        raft__send_append(r, p, 1);
        return 0;
    }
    if (p->state != RAFT__SNAPSHOT || m->snap_index != p->snap_index ||
        m->snap_term != r->snap_out_term)
        return 0;
    if (m->reject) {
        p->snap_send_ms = r->now_ms; /* retried by the heartbeat timer */
        p->snap_sent = p->snap_acked;
        return 0;
    }
    if (m->offset > r->snap_out_len)
        return -PM_EPROTO;
    /* The receiver's offset is authoritative: it is what it holds. */
    if (m->offset > p->snap_acked) {
        p->snap_acked = m->offset;
        if (p->snap_sent < p->snap_acked)
            p->snap_sent = p->snap_acked;
    } else if (m->offset < p->snap_acked) {
        /* It lost its partial copy (restarted): start over from there.
         * A reordered old reply lands here too and costs a resend. */
        p->snap_acked = m->offset;
        p->snap_sent = m->offset;
    } else if (p->snap_sent > p->snap_acked) {
        /* No progress: a chunk was lost; resend from the resume point. */
        p->snap_sent = p->snap_acked;
    }
    raft__send_snapshot(r, p);
    return 0;
}

static void reply_snap(struct raft *r, const struct raft_message *m,
                       int after, int reject, int done, uint64_t offset,
                       uint64_t index)
{
    struct raft_message *o = raft__msg(r, after, RAFT_MSG_SNAPSHOT_RESP,
                                       m->from);
    if (o == NULL)
        return;
    o->snap_index = m->snap_index;
    o->snap_term = m->snap_term;
    o->reject = (uint8_t)reject;
    o->done = (uint8_t)done;
    o->offset = offset;
    o->index = index;
}

static void install(struct raft *r, const struct raft_config *conf)
{
    uint64_t old_base = r->log.base, old_last = raft__log_last(&r->log);
    r->installing.index = r->in_index;
    r->installing.term = r->in_term;
    r->installing.config = *conf;
    r->installing.data = r->in_buf;
    r->installing.len = r->in_size;
    r->installing_buf = r->in_buf;
    r->has_installing = 1;
    r->in_buf = NULL;
    r->in_cap = 0;
    r->in_have = 0;
    r->in_index = 0;
    r->in_term = 0;
    r->in_size = 0;

    /* The snapshot replaces the whole log (thesis §5.3: our log does not
     * hold the snapshot's last entry, so everything after it is suspect). */
    if (old_last > old_base) {
        if (r->truncate_from == 0 || old_base + 1 < r->truncate_from)
            r->truncate_from = old_base + 1;
    }
    r->unstable_from = 0;
    raft__log_free(&r->log);
    raft__log_compact(&r->log, r->installing.index, r->installing.term);
    r->base_conf = *conf;
    raft__config_recompute(r);
    r->persisted = r->installing.index;
    r->applied = r->installing.index;
    if (r->commit < r->installing.index) {
        r->commit = r->installing.index;
        r->hs_changed = 1;
    }
}

int raft__recv_snapshot(struct raft *r, const struct raft_message *m)
{
    if (r->role == RAFT_LEADER)
        return -PM_EPROTO;
    struct raft_config conf;
    if (m->snap_index == 0 || m->snap_term == 0 || m->snap_term > m->term ||
        m->offset > m->snap_size || m->len > m->snap_size - m->offset ||
        raft_config_decode(m->config, m->config_len, &conf) != 0)
        return -PM_EPROTO;
    raft__heard_from_leader(r, m);

    /* Already have it: committed entries match the leader's. */
    if (m->snap_index <= r->commit) {
        reply_snap(r, m, 1, 0, 1, 0, r->commit);
        return 0;
    }
    /* Our log holds the snapshot's last entry: keep the log, just learn
     * that it is committed (what etcd does too); no transfer needed. */
    if (raft__log_term(&r->log, m->snap_index) == m->snap_term &&
        m->snap_index > r->log.base) {
        r->commit = m->snap_index;
        r->hs_changed = 1;
        reply_snap(r, m, 1, 0, 1, 0, m->snap_index);
        return 0;
    }
    if (m->snap_size > r->o.snapshot_bytes_max) {
        reply_snap(r, m, 0, 1, 0, 0, 0);
        return 0;
    }
    if (r->in_index != m->snap_index || r->in_term != m->snap_term ||
        r->in_size != m->snap_size) {
        /* A different snapshot: drop the partial one. */
        free(r->in_buf);
        r->in_buf = NULL;
        r->in_cap = 0;
        r->in_have = 0;
        r->in_index = m->snap_index;
        r->in_term = m->snap_term;
        r->in_size = m->snap_size;
    }
    if (m->len > 0 && m->offset == r->in_have) {
        uint64_t need = r->in_have + m->len;
        if (need > r->in_cap) {
            uint64_t cap = r->in_cap ? r->in_cap : 64 * 1024;
            while (cap < need)
                cap *= 2;
            if (cap > r->in_size)
                cap = r->in_size;
            uint8_t *b = realloc(r->in_buf, cap);
            if (b == NULL)
                return -PM_ENOMEM;
            r->in_buf = b;
            r->in_cap = cap;
        }
        memcpy(r->in_buf + r->in_have, m->data, m->len);
        r->in_have += m->len;
    }
    if (r->in_have == r->in_size) {
        if (r->in_buf == NULL) {
            r->in_buf = malloc(1); /* an empty snapshot still installs */
            if (r->in_buf == NULL)
                return -PM_ENOMEM;
        }
        r->install_index = r->in_index;
        r->install_term = r->in_term;
        r->install_leader = m->from;
        install(r, &conf);
        /* "Installed" must not be claimed before the host has it on disk:
         * the reply goes when the host reports RAFT_EV_SNAPSHOT_INSTALLED
         * (a lost report only costs a resend: the leader's next chunk is
         * answered from the commit index above). */
        return 0;
    }
    reply_snap(r, m, 0, 0, 0, r->in_have, 0);
    return 0;
}

int raft__snapshot_installed(struct raft *r, uint64_t index)
{
    if (index == 0 || index != r->install_index)
        return 0; /* not the one we handed out, or already answered */
    uint64_t to = r->leader != 0 ? r->leader : r->install_leader;
    r->install_index = 0;
    /* Only a follower answers, and never itself: if it has become a
     * candidate or leader meanwhile (an election, forced recovery), there
     * is no leader to tell (BUGS.md #5). */
    if (r->role != RAFT_FOLLOWER || to == r->id)
        return 0;
    /* In msgs_after like every claim of durable state (the snapshot is
     * durable already; this keeps the rule uniform for hosts). */
    struct raft_message *o = raft__msg(r, 1, RAFT_MSG_SNAPSHOT_RESP, to);
    if (o != NULL) {
        o->snap_index = index;
        o->snap_term = r->install_term;
        o->done = 1;
        o->index = index;
    }
    return 0;
}

int raft__compacted(struct raft *r, uint64_t index)
{
    if (index <= r->log.base)
        return 0;
    if (index > raft__log_last(&r->log) || index > r->persisted)
        return -PM_EINVAL; /* the host cannot have a snapshot past that */
    /* The host's FSM is at INDEX, so everything up to it was committed and
     * applied, even if this core has not handed it out again since a
     * restart (its applied index restarts at the snapshot; the host's
     * stored applied index may be ahead, and its stored commit behind). */
    if (index > r->commit) {
        r->commit = index;
        r->hs_changed = 1;
    }
    if (index > r->applied)
        r->applied = index;
    /* Keep a tail below the compaction point in memory, bounded by count
     * and bytes: a follower that is only a little behind (appends in
     * flight when the host compacted) then needs no snapshot. */
    uint64_t drop_to = index;
    uint64_t kept = 0, kept_bytes = 0, keep_bytes = r->o.log_bytes_compact / 4;
    while (drop_to > r->log.base && kept < r->o.compact_keep_entries) {
        const struct pm_entry *e = raft__log_get(&r->log, drop_to);
        if (kept_bytes + e->len > keep_bytes)
            break;
        kept_bytes += e->len;
        kept++;
        drop_to--;
    }
    if (drop_to <= r->log.base)
        return 0;
    struct raft_config c;
    int rc = raft__config_at(r, drop_to, &c);
    if (rc != 0)
        return rc;
    uint64_t term = raft__log_term(&r->log, drop_to);
    raft__log_compact(&r->log, drop_to, term);
    r->base_conf = c;
    if (r->snap_out_conf_len != 0 && r->snap_out_index < r->log.base)
        raft__snapshot_drop_out(r);
    return 0;
}
