/* natsd.h: supervision of the node's stock nats-server (DESIGN.md §3,
 * "NATS topology"; issue 6).
 *
 * The node materializes HOME/nats.conf from the membership (src/fsm); this
 * module runs `nats-server -c HOME/nats.conf` as a child process and keeps
 * it in step with that file:
 *   - start: fork + exec; stdout/stderr appended to HOME/nats.log; the
 *     child's pid in HOME/nats.pid; the child gets PR_SET_PDEATHSIG
 *     (SIGKILL) so it never outlives the node, and its own process group so
 *     a terminal's ^C reaches only the node, which stops it in order.
 *   - ready: http://HOST:HTTP_PORT/healthz?js-enabled-only=true answers
 *     200 (clients are accepted, JetStream is enabled where configured;
 *     a JetStream meta leader is NOT awaited: it needs other servers),
 *     polled every 25 ms, at most ready_timeout_ms; a server that never
 *     gets ready is killed and started again with backoff.
 *   - death: an unexpected exit is logged (with its status) and the server
 *     is started again after a backoff delay that doubles from
 *     backoff_min_ms to backoff_max_ms (back to the minimum once a server
 *     has stayed up for NATSD_STABLE_MS).
 *   - config changes: RELOAD sends SIGHUP (deferred until the server is
 *     ready: before nats-server installs its handlers, SIGHUP kills it);
 *     RESTART stops it (SIGTERM, SIGKILL after stop_timeout_ms) and starts
 *     it again, at once or, for a ready server, after the delay set with
 *     natsd_set_restart_delay(). Which one a change needs is decided by
 *     fsm_nats_change() (src/fsm/natsconf.h) from the old and new text.
 *   - stop: SIGTERM, then SIGKILL after stop_timeout_ms; waits for the exit.
 *   - health: while the server runs, its monitoring endpoints (/varz,
 *     /gatewayz, /jsz) are read every health_every_ms into a cached summary
 *     (natsd_health), so `pmesh status` answers at once without waiting on
 *     nats-server.
 *   - JetStream peer removal: natsd_js_remove_peer() (below) asks the
 *     JetStream meta leader, through the own server, to drop a server that
 *     left the mesh from the meta group, retrying until it is done.
 * nats-server's argv holds only the config path: never a credential.
 *
 * All I/O is non-blocking and driven by the node's event loop (src/net
 * timers and child watchers); the only blocking calls are natsd_stop()
 * (bounded by stop_timeout_ms plus a short SIGKILL wait) and the name
 * resolution of a monitoring host that is not an IP literal. The NATS
 * client requests of a peer removal block, but in a child process.
 *
 * Threading: none; everything runs on the loop's thread. The loop must be
 * the default loop (net_loop_new: only it can watch child processes).
 */
#ifndef PM_NODE_NATSD_H
#define PM_NODE_NATSD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct net_loop;

#define NATSD_BINARY_DEFAULT "/usr/sbin/nats-server"
#define NATSD_READY_TIMEOUT_DEFAULT_MS 15000
#define NATSD_STOP_TIMEOUT_DEFAULT_MS 5000
#define NATSD_BACKOFF_MIN_DEFAULT_MS 200
#define NATSD_BACKOFF_MAX_DEFAULT_MS 10000
#define NATSD_HEALTH_EVERY_DEFAULT_MS 1000
/* A server that stayed up this long resets the restart backoff. */
#define NATSD_STABLE_MS 10000
/* nats.log is moved to nats.log.1 at a start when it is larger. */
#define NATSD_LOG_ROTATE_BYTES (16u << 20)
/* Bounds of the health summary. */
#define NATSD_NAME_LEN 64
#define NATSD_GATEWAYS_MAX 16
#define NATSD_ERROR_LEN 160
/* JetStream peer removal (natsd_js_remove_peer). */
#define NATSD_JS_REMOVE_MAX 32              /* names queued at once */
#define NATSD_JS_REMOVE_TIMEOUT_DEFAULT_MS 120000 /* then give up */
#define NATSD_JS_REMOVE_RETRY_MIN_MS 500    /* first retry delay ... */
#define NATSD_JS_REMOVE_RETRY_MAX_MS 5000   /* ... doubling up to this */
#define NATSD_JS_REMOVE_REQUEST_MS 2000     /* connect, and the request */
#define NATSD_JS_REMOVE_CHILD_MAX_MS 10000  /* an attempt's child is killed
                                             * after this */
#define NATSD_JS_PASSWORD_MAX 128           /* bytes, with the NUL */
#define NATSD_JS_REMOVE_WATCH_MS 60000      /* a done removal is watched */
#define NATSD_JS_REMOVE_SETTLE_MS 2000      /* ... from this long after it */

struct natsd_options {
    const char *home;         /* required: HOME/nats.conf, nats.log, nats.pid
                               * (copied) */
    const char *binary;       /* the nats-server to run; NULL: the
                               * environment's PMESH_NATS_SERVER, else
                               * NATSD_BINARY_DEFAULT if executable, else
                               * "nats-server" found on PATH (copied) */
    const char *http_host;    /* monitoring host, an IP literal or a name
                               * (copied); NULL: 127.0.0.1 */
    uint16_t http_port;       /* monitoring port (the conf's `http:`);
                               * required */
    /* 0 selects the default (NATSD_*_DEFAULT_MS). */
    uint32_t ready_timeout_ms;
    uint32_t stop_timeout_ms;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t health_every_ms;
    uint32_t js_remove_timeout_ms; /* natsd_js_remove_peer gives up after a
                                    * failed attempt this long after the
                                    * call */
};

struct natsd; /* opaque */

/* Create the supervisor on LOOP. Nothing runs yet. A nats-server left
 * running by an earlier node of HOME (HOME/nats.pid names a live
 * nats-server of HOME/nats.conf) is killed here, so it cannot hold the
 * ports. -PM_EINVAL no home or no http port; -PM_ETOOBIG a path too long;
 * -PM_ENOMEM. (A LOOP that cannot watch children shows at the first
 * start: the child is killed at once and the error kept for status.) */
int natsd_new(struct net_loop *loop, const struct natsd_options *o,
              struct natsd **out);

/* Start supervising: spawn nats-server now. If HOME/nats.conf does not
 * exist yet, the server starts at the first natsd_config_changed(). A
 * missing binary is not an error here: it is logged, shown by
 * natsd_health() and retried at backoff_max_ms. Idempotent. */
void natsd_start(struct natsd *d);

/* HOME/nats.conf was rewritten: CHANGE is FSM_NATS_RELOAD (1) or
 * FSM_NATS_RESTART (2) (src/fsm/fsm.h); 0 is a no-op. Before
 * natsd_start() this only records nothing: the start reads the file. */
void natsd_config_changed(struct natsd *d, int change);

/* How long a ready server runs on after a config change that needs a
 * restart (0, the default: none). Why: one membership change often
 * restarts every server of a cluster (a gateway block changed); all at
 * once, the JetStream meta group they share loses its quorum and, in stock
 * nats-server 2.9, can stay without a leader for long after they are back
 * (seen in integration/nats_super). The node gives each voter its own
 * delay, so they restart one after another. Used from the next change on;
 * a restart already waiting keeps its time. */
void natsd_set_restart_delay(struct natsd *d, uint32_t delay_ms);

/* The monitoring endpoint moved (the node's NATS ports changed): used from
 * the next poll on. HOST NULL keeps the host. */
void natsd_set_monitor(struct natsd *d, const char *host, uint16_t port);

/* Stop nats-server and wait for it: SIGTERM, SIGKILL after
 * stop_timeout_ms. Blocks (without running the loop) at most about
 * stop_timeout_ms + 1 s. Supervision ends; natsd_start() begins it again.
 * HOME/nats.pid is removed. No-op when nothing runs. */
void natsd_stop(struct natsd *d);

/* natsd_stop(), then free D. NULL is a no-op. */
void natsd_free(struct natsd *d);

enum natsd_state {
    NATSD_IDLE = 0,     /* not supervising (before start, after stop) */
    NATSD_WAITING = 1,  /* supervising; no nats.conf yet */
    NATSD_STARTING = 2, /* spawned, not ready yet */
    NATSD_READY = 3,    /* /healthz answered: serving clients */
    NATSD_STOPPING = 4, /* SIGTERM sent (a restart, or natsd_stop) */
    NATSD_BACKOFF = 5,  /* exited or failed; next start is scheduled */
};

/* Name of a state: "idle", "waiting", "starting", "ready", ... */
const char *natsd_state_name(int state);

/* What `pmesh status` shows. Plain values, copied out. */
struct natsd_health {
    int state;                  /* enum natsd_state */
    pid_t pid;                  /* 0 when no child runs */
    uint64_t up_ms;             /* since the running child was spawned */
    uint32_t starts;            /* spawns so far */
    uint32_t crashes;           /* unexpected exits (and not-ready kills) */
    uint32_t reloads;           /* SIGHUPs sent */
    uint32_t restarts;          /* restarts for a config change */
    uint32_t restart_in_ms;     /* a config restart waits this long yet
                                 * (natsd_set_restart_delay; at least 1);
                                 * 0: none waits */
    int last_exit;              /* waitpid status of the last exit, -1 none */
    char error[NATSD_ERROR_LEN];/* the last problem, "" if none */
    /* From the monitoring endpoints; valid when have_monitor. */
    int have_monitor;
    uint64_t monitor_age_ms;    /* since that data was read */
    char server_name[NATSD_NAME_LEN];
    char cluster[NATSD_NAME_LEN];/* cluster name, "" if none */
    uint32_t connections;       /* client connections */
    uint32_t routes;            /* route connections */
    uint32_t leafnodes;         /* leaf-node connections (either side) */
    uint32_t gateways_out;      /* remote clusters with an outbound gateway */
    uint32_t gateways_in;       /* remote clusters with an inbound gateway */
    char gateways[NATSD_GATEWAYS_MAX][NATSD_NAME_LEN]; /* outbound names */
    int jetstream;              /* JetStream enabled */
    int js_clustered;           /* member of a JetStream meta group */
    char js_meta_leader[NATSD_NAME_LEN]; /* "" when none known */
    uint32_t js_cluster_size;   /* meta group size; 0 if not clustered */
    uint16_t client_port;       /* the client port /varz reports */
    /* JetStream peer removals (natsd_js_remove_peer); valid always. */
    uint32_t js_remove_pending; /* names queued, the one at work included */
    pid_t js_remove_pid;        /* the attempt's child, 0 when none runs */
    uint32_t js_remove_attempts;/* attempts started */
    uint32_t js_removed;        /* names done (removed, or not a peer) */
    uint32_t js_remove_failed;  /* names given up on */
};

/* Fill OUT with the current state. */
void natsd_health(const struct natsd *d, struct natsd_health *out);

/* Whether the own server led the JetStream meta group at the last health
 * round (1), or not, or is not clustered (0). */
int natsd_js_leading(const struct natsd *d);

/* Remove server SERVER_NAME from the JetStream meta group, for good.
 *
 * Why: stock nats-server keeps a server that left in the meta group
 * (/jsz meta_cluster.cluster_size still counts it), so the quorum is
 * computed over a dead peer: of 3 servers, one removed and one more lost
 * leaves no meta leader although two are alive. Only a request to
 * $JS.API.SERVER.REMOVE with {"peer":"<server_name>"} from a user of the
 * system account, answered by the meta leader, drops it (src/fsm/natsconf.h,
 * "A server leaving"). The request names the server and its peer id (what
 * nats-server derives from the name): a leader that restarted since the
 * server left no longer knows the name, only the id.
 *
 * The call only queues the removal (SERVER_NAME, SYS_USER, SYS_PASSWORD are
 * copied; the password is wiped from memory when the entry goes) and
 * returns at once. While the own nats-server is READY and its client port
 * is known (/varz), one attempt at a time runs in a short-lived child
 * process (fork, no exec): it connects to the own server as SYS_USER
 * (nats.c, timeout NATSD_JS_REMOVE_REQUEST_MS), sends the request, waits
 * NATSD_JS_REMOVE_REQUEST_MS for the answer and _exit()s: done when the
 * answer says success, or that the server is not a member of the meta
 * group (already removed, or never was: an unknown name ends as done);
 * failed otherwise (no meta leader, no answer, refused). A child running
 * longer than NATSD_JS_REMOVE_CHILD_MAX_MS is killed (a failed attempt).
 * A failed attempt is retried after NATSD_JS_REMOVE_RETRY_MIN_MS, doubling
 * up to NATSD_JS_REMOVE_RETRY_MAX_MS; the first failed attempt later than
 * js_remove_timeout_ms after the call ends the removal with one warning
 * (pm_say, and natsd_health's error). Done is logged (pm_say INFO).
 *
 * nats-server answers once the leader has proposed the removal, not once
 * it is committed: servers of the group restarting just then (a membership
 * change often restarts them) can lose it. So a done removal stays queued,
 * watched, for NATSD_JS_REMOVE_WATCH_MS: while the own server is the meta
 * leader and, from NATSD_JS_REMOVE_SETTLE_MS after the answer on, still
 * lists the peer (its id) in the group, it is attempted again as if called
 * anew. Watched entries count in no pending figure; when the queue is full,
 * the oldest of them makes room.
 * A call for a name already queued starts it over (new deadline, first
 * delay, the new credentials). Several names wait in call order.
 * The password never appears in an argv (the child does not exec), a log
 * line or an error text.
 *
 * The removal acts on whatever server holds that name in the meta group
 * when it runs: call it for a server that left, and cancel it
 * (natsd_js_remove_cancel) if a server of that name joins again before it
 * is done. natsd_stop() (and natsd_free) kill and reap a running attempt
 * and drop the queue. Calling this on any running server of the meta group
 * works (the request is routed to the meta leader); calling it on several
 * at once is harmless (the later ones find the peer gone: done).
 *
 * Returns 0 (queued), -PM_EINVAL a NULL or empty argument, or a name with
 * '"', '\\' or control characters; -PM_ETOOBIG a name or user of
 * NATSD_NAME_LEN bytes or more, a password of NATSD_JS_PASSWORD_MAX or
 * more; -PM_EBUSY NATSD_JS_REMOVE_MAX names are queued already. */
int natsd_js_remove_peer(struct natsd *d, const char *server_name,
                         const char *sys_user, const char *sys_password);

/* Drop the queued removal of SERVER_NAME (a running attempt is killed and
 * reaped). Returns 0, or -PM_ENOTFOUND when none is queued. */
int natsd_js_remove_cancel(struct natsd *d, const char *server_name);

/* The path of the binary that natsd_options.binary NULL resolves to, in
 * OUT (OUT_LEN bytes). -PM_ENOTFOUND none is executable; -PM_ETOOBIG. */
int natsd_find_binary(char *out, size_t out_len);

#endif
