/* node.h: the pmesh daemon: wires the store (src/log), the Raft core
 * (src/raft), the state machine (src/fsm) and the network (src/net) into one
 * running node, and creates node homes (`pmesh setup ...`).
 *
 * This header is the contract with src/cli. Every function returns 0 or a
 * negative enum pm_err code (base/err.h); when it fails and ERR is not NULL,
 * it also writes one human-readable line (no trailing newline, never the
 * secret) into ERR (ERR_LEN bytes, NUL-terminated, truncated to fit), which
 * the CLI prints after "pmesh: ". NODE_ERR_LEN is a good size for it.
 *
 * The home directory (mode 0700, created by setup):
 *   identity.json  who this node is: node id, mesh id, name, role, addresses,
 *                  the mesh secret, the peers to dial first (mode 0600).
 *                  Written once by setup; never replicated.
 *   data/          the LMDB store (src/log).
 *   settings.json  materialized by the FSM (mode 0600: holds the secret).
 *   nats.conf      materialized by the FSM (mode 0600).
 *   nats/          nats-server's JetStream store (nats/jetstream).
 *   nats.log       the supervised nats-server's output (natsd.h).
 *   nats.pid       its process id while it runs.
 *   control.sock   the control socket while the node runs (mode 0600).
 *   pmesh.log      the node's diagnostic lines (base/say.h).
 *   node.pid       the running node's process id (removed at clean stop).
 *   audit.snap     the FSM state at the log's compaction point, so the
 *                  audit (log, history, replay) can replay what is kept
 *                  (mode 0600: holds the secret).
 *   audit.snap.next the state a compaction in progress saved (written by a
 *                  forked child); it becomes audit.snap once the log is
 *                  compacted to it. The audit reads it if a crash came
 *                  between the two; a start finishes or discards it.
 * A client home (setup client) holds only identity.json and settings.json.
 *
 * Threading: none. node_run() runs one event loop in the calling thread;
 * setup functions block.
 */
#ifndef PM_NODE_H
#define PM_NODE_H

#include <stddef.h>
#include <stdint.h>

#define NODE_ERR_LEN 256

/* Default ports (DESIGN.md §2). */
#define NODE_PEER_PORT_DEFAULT 8443
#define NODE_NATS_PORT_DEFAULT 4222

/* Roles of a home. */
enum node_role {
    NODE_ROLE_VOTER = 1,   /* full member (the seed is a voter) */
    NODE_ROLE_REPLICA = 2, /* non-voting copy (Raft learner) */
    NODE_ROLE_CLIENT = 3,  /* no state, no server */
};

/* What `pmesh setup seed|join|replica` was told. Strings are borrowed for
 * the duration of the call; NULL or 0 selects the documented default.
 * The CLI validates syntax (names, host:port, port ranges); the node
 * re-checks and returns -PM_EINVAL with a message for bad values. */
struct node_setup {
    const char *home;      /* required; created mode 0700 if absent. Setup
                            * refuses (-PM_EEXIST) a home that already holds
                            * identity.json. */
    const char *name;      /* member name [A-Za-z0-9_-]{1,63}; NULL: host
                            * name (sanitized) */
    const char *cluster;   /* NATS cluster label, same charset; NULL: for a
                            * seed "default", for a joiner the seed's */
    const char *listen;    /* peer listener "host:port"; NULL: 0.0.0.0:8443 */
    const char *advertise; /* "host:port" other nodes dial; NULL: the listen
                            * address, 127.0.0.1 replacing 0.0.0.0 if no
                            * routable host is known */
    const char *nats_host; /* host NATS binds/advertises; NULL: advertise's */
    uint16_t nats_port;          /* client port; 0: 4222 */
    uint16_t nats_cluster_port;  /* 0: nats_port + 1 */
    uint16_t nats_gateway_port;  /* 0: nats_port + 2 */
    uint16_t nats_leaf_port;     /* 0: nats_port + 3 */
    uint16_t nats_http_port;     /* 0: nats_port + 4 */
    const char *secret;    /* seed only: the mesh secret in its seed-URL
                            * text form (base64url, no padding, 32 bytes
                            * decoded); NULL: 32 random bytes */
    uint32_t timeout_ms;   /* join only: how long to try the seed(s); 0:
                            * 30000 */
};

/* Bootstrap a new mesh in s->home: identity, store, and the bootstrap
 * entry (this node the only voter and the two-voter tie-breaker), applied
 * so that settings.json and nats.conf exist when this returns. Does not
 * start the node. On success *seed_url_out is the seed URL
 * ("pmtp://SECRET@advertise"), malloc'd, caller frees.
 * -PM_EEXIST if the home is already set up; -PM_EINVAL for bad settings. */
int node_setup_seed(const struct node_setup *s, char **seed_url_out,
                    char *err, size_t err_len);

/* Join the mesh of SEED_URL (pmtp://SECRET@host:port[,host:port...]):
 * dials the listed servers in turn, proves the secret, asks to join
 * (op `join`); a mesh member proposes this node as a learner and replies
 * with the mesh id, this node's id and the members. Then writes the home.
 * AS_REPLICA nonzero: stays a learner forever; zero: the leader promotes it
 * to voter once it has caught up (after node_run starts it). Does not start
 * the node. -PM_EAUTH wrong secret; -PM_ETIMEOUT / -PM_ENOLEADER nobody
 * could accept the join in time; -PM_EEXIST name taken or home set up.
 * Retries are idempotent: the request carries a random client id drawn
 * once per call, so a retry after a lost reply is answered as the first
 * attempt was (same node id) while another node asking for a taken name is
 * refused. Test only: PMESH_TEST_JOIN_LOSE_REPLIES=N in the environment
 * discards the first N successful replies, as if each had been lost. */
int node_setup_join(const struct node_setup *s, const char *seed_url,
                    int as_replica, char *err, size_t err_len);

/* Set up a client home: no state, no server. Exactly one of SEED_URL (the
 * CLI then sends its requests to those servers' peer ports, after the
 * handshake) and NATS_URL (recorded for applications only; mesh commands
 * then fail with -PM_ESTATE) is non-NULL. -PM_EEXIST if set up already. */
int node_setup_client(const char *home, const char *seed_url,
                      const char *nats_url, char *err, size_t err_len);

struct node_run_options {
    int no_nats;                 /* 1: do not run nats-server (the user
                                  * runs NATS from HOME/nats.conf); else
                                  * the node supervises it (natsd.h):
                                  * HOME/nats.log, HOME/nats.pid */
    int log_to_stderr;           /* 1: diagnostic lines to stderr instead of
                                  * $HOME/pmesh.log */
    uint64_t compact_every;      /* snapshot + compact after at least this
                                  * many applied entries (more for a large
                                  * state: docs/limits.md); 0:
                                  * $PMESH_COMPACT_EVERY if set (tests),
                                  * else 8192 */
    uint32_t election_timeout_ms;/* 0: raft default */
    uint32_t heartbeat_ms;       /* 0: raft default */
    uint32_t bg_flush_min;       /* a leader's batch of at least this many
                                  * entries is flushed in the background
                                  * (run.c); 0: $PMESH_BG_FLUSH_MIN if set
                                  * (tests: 1 puts every leader write
                                  * there), else 8 */
};

/* Run the node of HOME in the foreground until SIGTERM/SIGINT, op `stop`,
 * or (after `leave`) its own removal. Returns 0 after a clean stop (the
 * current write finished, the store closed, control.sock removed).
 * -PM_ENOTFOUND no identity in HOME; -PM_EBUSY another node runs on HOME;
 * -PM_ESTATE HOME is a client home; -PM_EIO cannot bind a listener;
 * -PM_ECORRUPT damaged store. O may be NULL (defaults). */
int node_run(const char *home, const struct node_run_options *o,
             char *err, size_t err_len);

/* Serving notes for the CLI (docs/control-protocol.md):
 *  - `set KEY VALUE CLIENT_ID SEQ` and `unset KEY CLIENT_ID SEQ`: CLIENT_ID
 *    and SEQ are decimal text (u64); 0 or absent disables duplicate
 *    detection. Replies {"index":N}.
 *  - `get [KEY]` with flag NET_REQ_CONSISTENT reads through ReadIndex
 *    (thesis §6.4; a follower asks the leader inside Raft messages, so the
 *    node-to-node op `read-index` is not used and answers -PM_EPROTO).
 *  - Node to node: `propose` (one encoded FSM command; members only) and
 *    `join` (one encoded FSM member-add; guests or forwarding members).
 *  - `log [FROM [TO]]`, `replay [INDEX]`: decimal text.
 *  - `stop`, `leave`, `force-recover` are served on the control socket
 *    only; a client-mode CLI (peer port) gets -PM_EREJECTED for them.
 *  - A request waiting for a leader gives up with -PM_ENOLEADER after
 *    about 5 s (or the request's timeout_ms minus 300 ms if shorter);
 *    one waiting for commit with -PM_ETIMEOUT at timeout_ms minus 300 ms
 *    (timeout_ms 0 means 10 s). */

/* What the CLI needs to reach a node of HOME. */
struct node_home_info {
    enum node_role role;
    uint64_t node_id;       /* 0 for a client */
    uint64_t mesh_id;       /* 0 for a client */
    char name[64];
    char control_path[4096];/* HOME/control.sock ("" for a client) */
    uint8_t secret[32];     /* the mesh secret (client: from its seed URL) */
    int has_secret;
    /* Servers a client sends requests to (peer "host:port"), in order. */
    char servers[16][262];
    int n_servers;
    char nats_url[512];     /* client set up with --nats; else "" */
};

/* Read HOME/identity.json. -PM_ENOTFOUND if HOME is not set up;
 * -PM_ECORRUPT if the file is damaged. */
int node_home_info(const char *home, struct node_home_info *out,
                   char *err, size_t err_len);

#endif
