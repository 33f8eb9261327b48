/* natsconf.h: the nats.conf generator, a pure function from the mesh
 * membership to the configuration of a STOCK nats-server 2.9.10 on one node,
 * and the classifier that tells the node whether a new config can be
 * applied by a reload (SIGHUP) or needs a restart.
 *
 * Pure and deterministic: the output depends only on the input struct (no
 * clock, no environment, no hash order; members are sorted by id inside),
 * so every node renders byte-identical text for the same member. The text
 * holds credentials DERIVED from the mesh secret (never the secret itself):
 * write it mode 0600.
 *
 * ------------------------------------------------------------------------
 * The plan (what each node runs), and why
 * ------------------------------------------------------------------------
 * Terms: a "server" is a voter member; a "replica" is a non-voting member
 * (clients are not members and run no NATS server). S is the number of
 * servers in the mesh. The "primary" is the member flagged seed if it is a
 * server, else the server with the lowest id.
 *
 * Every server, whatever the mesh size, has the same skeleton:
 *   server_name = member name (unique), host/port, http monitoring, all
 *   bound to the member's host (stock nats-server binds 0.0.0.0 otherwise);
 *   accounts { SYS {...}  MESH { jetstream: enabled ... } },
 *   system_account: SYS, no_auth_user: app (anonymous clients land in MESH);
 *   a leafnodes{} listener that accepts the derived leaf credentials for
 *   MESH; where it runs JetStream, domain "mesh" (below).
 * The system account and the leaf listener are present even where nothing
 * needs them yet, because stock nats-server cannot add either by reload
 * (system_account and the leafnodes block need a restart). With them always
 * there, a replica joining or leaving and the second server arriving never
 * restart the servers already running; and gateways + leaf nodes together
 * REQUIRE a system account given as explicit accounts{} + system_account
 * (FACTS: `system_account: "$SYS"` fails). With explicit accounts,
 * JetStream must be enabled per account, hence `jetstream: enabled` in
 * MESH.
 *
 * S == 1 (a lone server): no cluster{} block (stock nats-server exits when
 *   JetStream sees a cluster{} without routes) and standalone JetStream.
 *
 * S == 2: the non-primary server attaches as a LEAF NODE of the primary,
 *   whatever the cluster labels (this includes "1 + 1 in two clusters").
 *   The primary keeps a lone server's config (standalone JetStream); the
 *   other runs no JetStream. Its clients reach the primary's JetStream
 *   through the leaf connection as JetStream domain "mesh" ($JS.mesh.API.>;
 *   nats-server denies the plain $JS.API.> across a leaf connection that
 *   does not share the system account, and sharing it would pull the leaf
 *   into the meta group). Stream subjects and acks cross the leaf as usual.
 *   Why: a two-server JetStream cluster (routes, or gateways, which also
 *   make one meta group) loses its meta leader for good when either server
 *   dies (FACTS; measured again for 1 + 1 over gateways: 20 s after the
 *   other server died, stream create still answers 503 "JetStream system
 *   temporarily unavailable"), so the seed's JetStream would stop with the
 *   other server.
 *   A leaf is a client of its hub: when it dies the hub notices nothing.
 *   This mirrors the Raft side, where the seed holds the two-voter
 *   tie-breaker: the mesh keeps working on the seed alone. Proved by
 *   tests/integration/natsconf (shape seed+1): the second server is
 *   SIGKILLed, and the seed still carries messages, acks publishes to the
 *   stream made before, and creates a new stream at once.
 *
 * S >= 3: servers sharing a cluster label form a NATS cluster (cluster{}
 *   with name = label and routes to every other server of the label, with
 *   derived route credentials); when there is more than one label, every
 *   server also has a gateway{} block (gateway name = cluster name) listing
 *   every server of every other label. JetStream is clustered; its meta group
 *   spans the whole supercluster (S >= 3 members), so it survives the loss
 *   of one server. A label with a single server (say 3 + 1 in two
 *   clusters) still gets a cluster{} block, whose only route points at the
 *   server itself: without configured routes stock nats-server exits with
 *   "JetStream cluster requires configured routes or solicited leafnode for
 *   the system account" as soon as a gateway makes JetStream clustered
 *   (measured); a route to itself is detected and ignored, and the server
 *   joins the supercluster's meta group through the gateway (cluster_size
 *   4 for 3 + 1). It also turns a second server arriving in that label into
 *   a reload (routes) rather than a restart.
 *
 * Replicas are leaf nodes: their leafnodes{} block has one remote (account
 *   MESH) listing every server of their own cluster label, or, when their
 *   label has no server, every server of the primary's label. They run no
 *   JetStream and have no cluster{}/gateway{} block, so they neither route
 *   nor join the JetStream meta group; clients connected to a replica use
 *   the mesh's JetStream through the leaf connection (domain "mesh"). At
 *   S == 2 a replica's only hub is the primary, never the second server:
 *   that one is already a spoke of the primary, and a server that is both
 *   spoke and hub makes a daisy chain, whose interest propagation stock
 *   nats-server got wrong until 2.9.18 ("Daisy chained leafnodes could
 *   have unreliable interest propagation", nats-server PR #4207; Debian
 *   ships 2.9.10). The integration test lost a subscription once in ~30
 *   runs while replicas could pick the second server. The replica gives up
 *   nothing: at S == 2 the mesh lives on the seed anyway.
 *
 * Credentials: users route, gateway, leaf, app and sys, each with password
 * base64url(BLAKE2b-144 keyed by the mesh secret over "pmesh nats <user>
 * v1") (libsodium crypto_generichash): one-way, so the config never
 * reveals the secret, and a new secret changes every password.
 *
 * ------------------------------------------------------------------------
 * Reload or restart (stock nats-server 2.9.10)
 * ------------------------------------------------------------------------
 * Reloadable: routes, cluster authorization, accounts and users
 * (accounts{}, authorization). Everything else that differs needs a
 * restart: server_name, host, port, http, the cluster{} block appearing or
 * going, cluster name/host/port, the whole gateway block, the whole
 * leafnodes block, system_account, no_auth_user (measured: "config reload
 * not supported for NoAuthUser"), jetstream (store_dir, limits, domain).
 * tests/integration/natsconf checks each verdict of the classifier against
 * the real server while a mesh grows and shrinks: every RELOAD is accepted
 * by SIGHUP ("Reloaded server configuration") and every RESTART refused
 * ("Failed to reload server configuration"). What membership changes cost:
 *   - a replica joins or leaves: no server changes (NONE);
 *   - 1 -> 2 servers: no running server or replica changes (NONE);
 *   - 2 -> 3 servers: both servers RESTART (cluster{}, clustered
 *     JetStream), replicas RESTART;
 *   - with S >= 3, a server joins or leaves label L: L's servers RELOAD
 *     (routes); L's replicas RESTART (hub list); the servers of every
 *     other label RESTART (their gateway block lists L's servers);
 *   - a new label appears (S >= 3): every server RESTART (gateway block).
 * The leaf and gateway lists name every hub so that a restarted node finds
 * any live one; the price is those restarts of leaves and of remote labels.
 *
 * ------------------------------------------------------------------------
 * A server leaving (what the node must do besides rewriting configs)
 * ------------------------------------------------------------------------
 * Stock nats-server keeps a departed server in the JetStream meta group
 * (cluster_size still counts it, so one more loss can cost the quorum)
 * until the meta leader is asked to drop it: a request to
 * $JS.API.SERVER.REMOVE with body {"peer":"<server_name>","peer_id":"<id>"}
 * from the system account (user FSM_NATSCONF_SYS_USER, password
 * fsm_natsconf_sys_password) answers {"success":true}. Measured in the grow
 * scenario (4 -> 3 servers). src/node/natsd.h says why the id, and why a
 * done removal is watched; a change that restarts servers restarts them
 * one after another (natsd_set_restart_delay).
 *
 * ------------------------------------------------------------------------
 * Known limits of stock nats-server 2.9.10 this plan lives with (measured)
 * ------------------------------------------------------------------------
 *   - 2 -> 3 servers turns the seed's standalone JetStream into clustered
 *     JetStream. Streams created before stay on the seed's disk but the
 *     meta group does not know them (stream info: 404, publish: 503). Back
 *     at <= 2 servers they are served again, while R>1 streams made in
 *     clustered mode fail to load standalone ("replicas > 1 not supported
 *     in non-clustered mode"). Moving streams across that step is the
 *     operator's job (backup / restore), not something a config can do.
 *   - Two fresh clusters of 3 cold-started at the same instant each elect
 *     their own meta leader before the first gateway dial (~1 s); usually
 *     they merge, but about one run in five the two leaders alternated for
 *     30 s. A mesh never forms that way: members join one at a time, and
 *     the integration test starts its servers in that order. Once formed,
 *     the meta peers are on disk: the same 3 + 3 killed and started all at
 *     once re-forms its 6-server meta group in 4-7 s (every run so far; the
 *     integration test repeats it), and its R3 stream answers again 4-12 s
 *     later, once only after more than 25 s on a loaded machine.
 *   - A failed reload makes nats-server log the old and new values of what
 *     it refused, passwords included: treat its log like nats.conf (0600).
 * ------------------------------------------------------------------------
 */
#ifndef PM_FSM_NATSCONF_H
#define PM_FSM_NATSCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSM_NATSCONF_PORT_DEFAULT 4222
/* JetStream limits used when the input gives 0. */
#define FSM_NATSCONF_JS_MEMORY_DEFAULT_BYTES (256ull << 20)
#define FSM_NATSCONF_JS_FILE_DEFAULT_BYTES (1ull << 30)
/* Input bounds, checked by fsm_natsconf_render (-PM_EINVAL / -PM_ETOOBIG). */
#define FSM_NATSCONF_NAME_LEN_MAX 63    /* member name, cluster label */
#define FSM_NATSCONF_HOST_LEN_MAX 253
#define FSM_NATSCONF_HOME_LEN_MAX 4000
#define FSM_NATSCONF_MEMBERS_MAX 100000
#define FSM_NATSCONF_SECRET_LEN_MIN 16  /* libsodium generichash key bounds */
#define FSM_NATSCONF_SECRET_LEN_MAX 64

enum fsm_natsconf_role {
    FSM_NATSCONF_VOTER = 1,   /* a server: routes, gateways, JetStream */
    FSM_NATSCONF_REPLICA = 2, /* a leaf node of the servers */
};

/* One member of the mesh. Strings are borrowed (the caller keeps them alive
 * for the duration of the call). */
struct fsm_natsconf_member {
    uint64_t id;            /* unique, non-zero */
    const char *name;       /* unique, [A-Za-z0-9_-]{1,63}: server_name */
    uint8_t role;           /* enum fsm_natsconf_role */
    bool seed;              /* at most one member has it */
    const char *cluster;    /* label, [A-Za-z0-9_-]{1,63} */
    const char *host;       /* NATS bind + advertise host: a host name or an
                             * IPv4/IPv6 literal (no brackets); not an
                             * unspecified address (0.0.0.0, ::), since the
                             * others dial it */
    uint16_t client_port;   /* 0: FSM_NATSCONF_PORT_DEFAULT */
    uint16_t cluster_port;  /* 0: client_port + 1 */
    uint16_t gateway_port;  /* 0: client_port + 2 */
    uint16_t leafnode_port; /* 0: client_port + 3 */
    uint16_t http_port;     /* 0: client_port + 4 (monitoring) */
};

/* Everything one node's nats.conf depends on. members/secret are borrowed. */
struct fsm_natsconf_input {
    const struct fsm_natsconf_member *members; /* any order */
    size_t members_len;                        /* 1..FSM_NATSCONF_MEMBERS_MAX */
    const uint8_t *secret;                     /* the mesh secret bytes */
    size_t secret_len;                         /* 16..64 */
    uint64_t self_id;      /* the member to render for (must be present) */
    const char *home;      /* this node's home directory (absolute path, no
                            * '"', '\\' or control characters); JetStream's
                            * store_dir is HOME/nats (nats-server keeps its
                            * data in HOME/nats/jetstream) */
    uint64_t js_max_memory_bytes; /* 0: FSM_NATSCONF_JS_MEMORY_DEFAULT_BYTES */
    uint64_t js_max_file_bytes;   /* 0: FSM_NATSCONF_JS_FILE_DEFAULT_BYTES */
};

/* Render the nats.conf of member in->self_id.
 * On success returns 0 and sets *out to a malloc'd NUL-terminated string
 * (the caller frees it with free()) and *out_len to its length without the
 * NUL (out_len may be NULL). On failure *out is NULL and the return is:
 *   -PM_EINVAL   bad input: unknown self_id, duplicate id or name, bad
 *                name/label/host/home characters, bad role, two seeds,
 *                port 0 after defaults or a derived port above 65535, two
 *                listeners of one member on the same port, a secret of the
 *                wrong length;
 *   -PM_ETOOBIG  more than FSM_NATSCONF_MEMBERS_MAX members or a string
 *                over its bound;
 *   -PM_ENOMEM   allocation failure.
 * Same input (up to member order) -> same bytes. */
int fsm_natsconf_render(const struct fsm_natsconf_input *in, char **out,
                        size_t *out_len);

/* What the node must do to nats-server to go from one config to another. */
enum fsm_natsconf_change {
    FSM_NATSCONF_NONE = 0,    /* identical: leave it alone */
    FSM_NATSCONF_RELOAD = 1,  /* write the file, then SIGHUP nats-server */
    FSM_NATSCONF_RESTART = 2, /* write the file, stop and start nats-server */
};

/* Classify two configs rendered by fsm_natsconf_render for the same node
 * (e.g. the nats.conf on disk and the new one). Text that this generator did
 * not produce is still compared safely: any difference outside the known
 * reloadable items gives RESTART. old_conf NULL (nothing running yet) gives
 * RESTART. Returns the enum value; never fails. */
enum fsm_natsconf_change fsm_natsconf_classify_text(const char *old_conf,
                                                    const char *new_conf);

/* Classify from inputs: renders both and calls fsm_natsconf_classify_text.
 * Returns 0 and sets *change, or the error of the failing render (then
 * *change is RESTART). old_in NULL gives RESTART. */
int fsm_natsconf_classify(const struct fsm_natsconf_input *old_in,
                          const struct fsm_natsconf_input *new_in,
                          enum fsm_natsconf_change *change);

/* How a member takes part in NATS under the plan above: what a status
 * command shows and what the integration test expects to observe. */
enum fsm_natsconf_mode {
    FSM_NATSCONF_MODE_LONE = 1,    /* server, no routes, standalone JS */
    FSM_NATSCONF_MODE_CLUSTER = 2, /* server in the clustered plan (S >= 3) */
    FSM_NATSCONF_MODE_LEAF = 3,    /* leaf node (replica or the S == 2 second
                                    * server), no JetStream */
};

struct fsm_natsconf_shape {
    uint8_t mode;              /* enum fsm_natsconf_mode */
    bool jetstream;            /* runs JetStream at all */
    bool js_clustered;         /* member of the JetStream meta group */
    uint32_t routes;           /* routes it should hold (own label - 1) */
    uint32_t gateways;         /* remote clusters it should reach */
    uint32_t leaf_remotes;     /* hub URLs in its leaf remote (0: not a
                                * leaf) */
    uint32_t js_cluster_size;  /* meta group size if js_clustered, else 0 */
    char cluster[FSM_NATSCONF_NAME_LEN_MAX + 1]; /* its NATS cluster name
                                * ("" when lone or leaf) */
};

/* Describe member in->self_id (shape is zeroed first). Returns 0, or the
 * errors of fsm_natsconf_render; -PM_EINVAL for a NULL shape. */
int fsm_natsconf_describe(const struct fsm_natsconf_input *in,
                          struct fsm_natsconf_shape *shape);

/* The system account's user, for the node's own administrative requests
 * to nats-server (see "A server leaving" above). */
#define FSM_NATSCONF_SYS_USER "sys"
#define FSM_NATSCONF_PASSWORD_LEN 24

/* The password of user FSM_NATSCONF_SYS_USER in account SYS, derived from
 * the mesh secret exactly as in the rendered configs. Writes
 * FSM_NATSCONF_PASSWORD_LEN characters and a NUL into pw. Returns 0, or
 * -PM_EINVAL for a NULL argument or a secret outside 16..64 bytes. */
int fsm_natsconf_sys_password(const uint8_t *secret, size_t secret_len,
                              char pw[FSM_NATSCONF_PASSWORD_LEN + 1]);

/* A prepared mesh: the validation, sorted views, credentials and URLs that
 * fsm_natsconf_render derives from the members, done once, so that the
 * configs of many members (every node's file of a large mesh) cost one
 * preparation plus one short render each. IN is copied, but its members
 * array, their strings and the secret are borrowed: they must outlive the
 * context. fsm_natsconf_prepare returns 0 and *out, or the mesh-wide errors
 * of fsm_natsconf_render (self_id and home are not looked at).
 * fsm_natsconf_render_prepared renders member SELF_ID with home directory
 * HOME exactly as fsm_natsconf_render would (same bytes, same errors for
 * self_id and home). fsm_natsconf_ctx_free wipes the derived credentials;
 * NULL is a no-op. */
struct fsm_natsconf_ctx;
int fsm_natsconf_prepare(const struct fsm_natsconf_input *in,
                         struct fsm_natsconf_ctx **out);
int fsm_natsconf_render_prepared(const struct fsm_natsconf_ctx *ctx,
                                 uint64_t self_id, const char *home,
                                 char **out, size_t *out_len);
void fsm_natsconf_ctx_free(struct fsm_natsconf_ctx *ctx);

/* Bench hook: render the config of every member of in (in->self_id and
 * in->home are overridden per member; home is used as given for all).
 * Returns 0 and the total bytes rendered in *bytes_out, or the first
 * render error. */
int fsm_natsconf_render_all(const struct fsm_natsconf_input *in,
                            size_t *bytes_out);

#endif
