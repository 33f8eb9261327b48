/* files.c: keeping HOME/settings.json and HOME/nats.conf in step with the
 * FSM (node_int.h, "files").
 *
 * nats.conf is O(members) to render and its change decides a reload or a
 * restart of nats-server, so the loop writes it itself. settings.json is
 * O(state): with tens of thousands of keys a render takes tens of
 * milliseconds, and every request in flight would wait for a loop doing
 * it (measured at 256 clients with 40k keys: one 22 ms render on the
 * leader, a stall for the ~1,000 requests around it, the p99). So a forked
 * child renders it from its copy-on-write image of the state and writes it
 * atomically (fsm_write_file) while the loop goes on, once a render has
 * been seen to take NODE_FILES_FORK_MS or more (below that the fork costs
 * more than it saves, and the loop renders). One child at a time;
 * a change meanwhile leaves the files dirty and the next rewrite is
 * started after the child exits. At start and stop the node writes both
 * files itself (node_files_write), after stopping a child that could
 * otherwise rename an older settings.json over the newer one. */
#include "node/node_int.h"

#include "base/err.h"
#include "base/say.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Rewrites at most every NODE_FILES_MIN_MS, and spaced by
 * NODE_FILES_COST_FACTOR times what the last one took (the child's render
 * and write): the child's CPU is the machine's too, so rewrites use at
 * most ~1% of it however large the state, and the files still follow the
 * state within a second or so. */
#define NODE_FILES_MIN_MS 200
#define NODE_FILES_COST_FACTOR 100
/* A render expected to take less than this (the last one's time, scaled
 * by how much the settings grew since) is done in the loop: for a small
 * state a fork (page tables copied, then copy-on-write faults in the
 * loop) costs more than the render itself. */
#define NODE_FILES_FORK_MS 5
/* While a JetStream peer removal is in flight (a voter left the mesh), a
 * new nats.conf is held back at most this long: the change usually
 * restarts the servers, the meta leader among them, and a removal request
 * lost with a restarting meta leader left the departed server in the meta
 * group for good (seen once in integration/nats_super: the group stayed at
 * five). */
#define NODE_FILES_JS_HOLD_MS 5000

/* A voter's nats-server restarts for a config change this long after the
 * previous voter's (in member order, the same on every node): one change
 * often restarts every server of a cluster, and restarted all at once they
 * leave the JetStream meta group without a quorum (natsd.h,
 * natsd_set_restart_delay). A restarted server is back in ~0.1 s. */
#define NODE_NATS_RESTART_STAGGER_MS 1000

/* When the rewrite after one that ended at NOW and took TOOK may start. */
static uint64_t next_due(uint64_t now, uint64_t took)
{
    uint64_t wait_ms = took * NODE_FILES_COST_FACTOR;
    return now + (wait_ms > NODE_FILES_MIN_MS ? wait_ms : NODE_FILES_MIN_MS);
}

static void wrote(struct node *n, int rc)
{
    if (rc != 0) {
        /* E.g. a full disk: keep the node up and try again later (the
         * housekeeping timer spaces the attempts); say so once. */
        if (!n->files_failed)
            pm_say(PM_WARN, "node", "writing settings.json/nats.conf: %s; "
                   "retrying", pm_strerror(rc));
        n->files_failed = 1;
        n->files_dirty = 1;
        return;
    }
    if (n->files_failed) {
        pm_say(PM_INFO, "node", "settings.json/nats.conf written again");
        n->files_failed = 0;
    }
}

/* How long this node's nats-server waits before a restart: its place
 * among the voters times the stagger, and the JetStream meta leader's
 * server last of all (one election for the group, not one per server
 * that happens to lead when its turn comes). Non-voters need no wait. */
static uint32_t restart_delay_ms(struct node *n)
{
    uint32_t rank = 0, voters = 0;
    int voter = 0;
    for (size_t i = 0; i < fsm_member_count(n->fsm); i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        if (m->id == n->id.node_id && m->role == FSM_ROLE_VOTER) {
            voter = 1;
            rank = voters;
        }
        voters += m->role == FSM_ROLE_VOTER;
    }
    if (!voter)
        return 0;
    if (natsd_js_leading(n->natsd))
        rank = voters;
    return rank * NODE_NATS_RESTART_STAGGER_MS;
}

/* nats.conf, in the loop; tells the supervisor what its change needs. */
static int write_nats(struct node *n)
{
    int nats_change = FSM_NATS_SAME;
    int rc = fsm_materialize_nats(n->fsm, n->id.node_id, n->home,
                                  &nats_change);
    if (rc == 0 && n->natsd != NULL && nats_change != FSM_NATS_SAME) {
        /* The monitoring port follows the member record. */
        const struct fsm_member *me = fsm_member_by_id(n->fsm,
                                                       n->id.node_id);
        natsd_set_monitor(n->natsd, me->nats_host, me->nats_http_port);
        natsd_set_restart_delay(n->natsd, restart_delay_ms(n));
        natsd_config_changed(n->natsd, nats_change);
    }
    return rc;
}

static int renderable(const struct node *n)
{
    /* Not (yet) a member: nothing to render for us. */
    return fsm_bootstrapped(n->fsm) &&
           fsm_member_by_id(n->fsm, n->id.node_id) != NULL;
}

void node_files_abort(struct node *n)
{
    if (n->files.pid <= 0)
        return;
    pid_t pid = n->files.pid;
    net_child_free(n->files.watch); /* our own waitpid from here on */
    n->files.watch = NULL;
    n->files.pid = 0;
    node_child_kill(pid);
    n->files_dirty = 1; /* what it was writing may not be there */
}

void node_files_write(struct node *n)
{
    node_files_abort(n);
    if (!n->files_dirty || !renderable(n))
        return;
    n->files_dirty = 0;
    int rc = fsm_materialize_settings(n->fsm, n->id.node_id, n->home, NULL);
    if (rc == 0)
        rc = write_nats(n);
    wrote(n, rc);
}

static void child_cb(void *ctx, pid_t pid, int status)
{
    struct node *n = ctx;
    net_child_free(n->files.watch);
    n->files.watch = NULL;
    if (pid != n->files.pid)
        return;
    n->files.pid = 0;
    uint64_t now = node_now();
    n->files.took_ms = now - n->files.started_ms;
    /* A membership change meanwhile (files_due_ms 0, or 1 once its
     * nats.conf was written) wants settings.json at once too. */
    if (n->files_due_ms > 1)
        n->files_due_ms = next_due(now, n->files.took_ms);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    /* The child says only that it failed: the write's error went with
     * it. A full disk is the usual reason; the retry says more if not. */
    wrote(n, ok ? 0 : -PM_EIO);
}

/* Whether to hold the files back for a JetStream peer removal. */
static int js_hold(struct node *n, uint64_t now)
{
    struct natsd_health h;
    if (n->natsd == NULL || !n->files_dirty)
        return 0;
    natsd_health(n->natsd, &h);
    if (h.js_remove_pending == 0) {
        n->files.js_hold_ms = 0;
        return 0;
    }
    if (n->files.js_hold_ms == 0)
        n->files.js_hold_ms = now;
    return now - n->files.js_hold_ms < NODE_FILES_JS_HOLD_MS;
}

void node_files_maybe_write(struct node *n)
{
    uint64_t now = node_now();
    if (js_hold(n, now))
        return;
    if (n->files.pid != 0 && n->files_dirty && n->files_due_ms == 0 &&
        renderable(n)) {
        /* A membership change while a child writes settings.json: its
         * nats.conf (a reload or restart of nats-server) need not wait
         * for the child; settings.json follows right after it. */
        wrote(n, write_nats(n));
        n->files_due_ms = 1;
        return;
    }
    if (!n->files_dirty || n->files.pid != 0 || now < n->files_due_ms ||
        !renderable(n))
        return;
    n->files_dirty = 0;
    int rc = write_nats(n);
    if (rc != 0) {
        wrote(n, rc);
        n->files_due_ms = now + NODE_FILES_MIN_MS;
        return;
    }
    n->files.started_ms = now;
    size_t bytes = fsm_settings_bytes(n->fsm);
    /* +1: the clock has whole milliseconds; a 0 ms render may grow. */
    uint64_t expect =
        (n->files.took_ms + 1) * (bytes + 1) / (n->files.bytes + 1);
    n->files.bytes = bytes;
    if (expect < NODE_FILES_FORK_MS)
        goto in_loop;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        node_child_setup(parent, "pmesh-files");
        _exit(fsm_materialize_settings(n->fsm, n->id.node_id, n->home,
                                       NULL) == 0 ? 0 : 1);
    }
    if (pid > 0 &&
        net_child_new(n->loop, pid, child_cb, n, &n->files.watch) == 0) {
        n->files.pid = pid;
        return;
    }
    if (pid > 0) {
        /* Not the default loop (an embedding, a test): nobody would reap
         * it. */
        node_child_kill(pid);
        n->files.watch = NULL;
    }
in_loop:
    /* Small enough to render here (or no child): spaced as a child's. */
    rc = fsm_materialize_settings(n->fsm, n->id.node_id, n->home, NULL);
    wrote(n, rc);
    uint64_t done = node_now();
    n->files.took_ms = done - now;
    n->files_due_ms = next_due(done, n->files.took_ms);
}
