/* net.h: the node's event loop, the peer transport (authenticated and
 * encrypted), the control socket, and blocking client calls for the CLI.
 *
 * This header is the contract. Only src/net includes libev, msgpack-c and
 * libsodium; nothing here exposes their types. Every function that can fail
 * returns 0 or a negative enum pm_err code (base/err.h).
 *
 * Threading: none. A struct net_loop and everything attached to it are used
 * from the one thread that runs the loop. Callbacks run inside
 * net_loop_run(), never inside the call that caused them (except where
 * stated), so a callback may call any function here, including the one that
 * frees the object it was called for.
 *
 * Wire (see src/net/wire.h for the exact encoding): every frame is a u32
 * big-endian length followed by that many bytes. A connection starts with a
 * handshake (hello, then a MAC proving the 32-byte mesh secret over the
 * whole transcript); after it, every frame is sealed with
 * ChaCha20-Poly1305 (IETF) under per-direction session keys derived from the
 * secret and both sides' random nonces, the length prefix authenticated as
 * associated data. Inside a sealed frame is a msgpack body: protocol
 * version, mesh id, sender id, kind (RAFT, REQUEST, REPLY, PING) and the
 * payload. The control socket carries the same bodies unsealed (its 0600
 * file mode is the protection).
 *
 * Peer connections: each node SENDS Raft messages on the connection it
 * dialed to a peer and RECEIVES them on connections it accepted, so no
 * duplicate-connection arbitration is needed. Requests and replies travel
 * both ways on one connection: a call is sent on a connection the caller
 * dialed and its reply comes back on it.
 *
 * Who may send what: only a connection whose handshake proved the secret,
 * whose mesh id equals ours and whose node id is nonzero may deliver RAFT
 * messages. A connection with mesh id 0 (a node that is joining, or a
 * client CLI) may only send REQUESTs. A foreign mesh id, a wrong secret,
 * garbage, an oversized frame or a handshake timeout closes the connection
 * with one diagnostic line (base/say.h, component "net"; never the secret).
 */
#ifndef PM_NET_H
#define PM_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct raft_message; /* src/raft/raft.h; encoded by src/net/wire.c */

#define NET_SECRET_BYTES 32
#define NET_PROTOCOL_VERSION 1
#define NET_FRAME_BYTES_DEFAULT (16u << 20) /* 16 MiB body limit */
#define NET_OP_MAX 31        /* longest request op name, bytes */
#define NET_ARGS_MAX 16      /* most positional args in a request */
#define NET_CALL_TIMEOUT_DEFAULT_MS 10000 /* a call's timeout_ms of 0 */

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

/* Monotonic milliseconds since an arbitrary origin (CLOCK_MONOTONIC). Use
 * it for timeouts and for the time fed into src/raft. */
uint64_t net_mono_ms(void);

/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME). Data only
 * (the proposal time recorded in log entries); never for timeouts. */
uint64_t net_wall_ms(void);

/* ------------------------------------------------------------------------
 * Event loop
 * ------------------------------------------------------------------------ */

struct net_loop; /* opaque */

/* Create a loop. The first loop created in a process that has no other
 * live loop is libev's default loop, the only one that can watch child
 * processes (net_child_*); later loops (e.g. in test threads) cannot.
 * Signals may be watched by one loop at a time process-wide. */
int net_loop_new(struct net_loop **out);

/* Free a loop. Every timer, signal, child watcher, struct net and control
 * listener attached to it must have been freed first. NULL is a no-op. */
void net_loop_free(struct net_loop *loop);

/* Run until net_loop_stop() is called from a callback (or from a signal
 * watcher). Returns 0. May be called again after it returns. */
int net_loop_run(struct net_loop *loop);

/* Make net_loop_run() return after the current callback. */
void net_loop_stop(struct net_loop *loop);

/* Run the loop until FN(CTX) returns nonzero or TIMEOUT_MS passes (FN is
 * checked before each loop iteration; the loop wakes at least every 10 ms
 * meanwhile). Returns 0, or -PM_ETIMEOUT. Meant for tests and for short
 * blocking phases at start-up and shut-down. */
int net_loop_run_until(struct net_loop *loop, int (*fn)(void *ctx), void *ctx,
                       uint32_t timeout_ms);

/* The "before blocking" hook: FN(CTX) runs once per loop iteration, after
 * all the events of that iteration were handled and before the loop waits
 * for new ones (libev ev_prepare). This is where the node group-commits
 * everything gathered in one turn: one log write, then the messages. Frames
 * the hook queues are flushed to the sockets in the same iteration, after
 * the hook returns. FN NULL removes the hook. One hook per loop. */
void net_loop_set_before_block(struct net_loop *loop, void (*fn)(void *ctx),
                               void *ctx);

/* Write the frames queued on every connection of LOOP now, as far as the
 * sockets take them without blocking (the rest goes out when they drain).
 * Meant for the before-block hook: a leader sends its APPENDs, flushes,
 * and only then syncs its own log, so that the followers' disk writes
 * overlap with its own (thesis §10.2.1). Runs no callback: a socket that
 * fails is closed at the loop's next flush. */
void net_loop_flush(struct net_loop *loop);

/* Timers. A timer fires FN(CTX) after AFTER_MS, then every REPEAT_MS if
 * REPEAT_MS > 0 (a one-shot timer is stopped after it fires and can be
 * started again). Starting a running timer restarts it. */
struct net_timer; /* opaque */
int net_timer_new(struct net_loop *loop, void (*fn)(void *ctx), void *ctx,
                  struct net_timer **out);
void net_timer_start(struct net_timer *t, uint64_t after_ms,
                     uint64_t repeat_ms);
void net_timer_stop(struct net_timer *t);
int net_timer_active(const struct net_timer *t);
void net_timer_free(struct net_timer *t); /* stops it; NULL is a no-op */

/* Signal watcher: FN(CTX, SIGNUM) runs in the loop (not in signal context)
 * after SIGNUM arrives. Intended for SIGTERM, SIGINT, SIGHUP and SIGCHLD.
 * -PM_EBUSY if another loop watches SIGNUM. */
struct net_signal; /* opaque */
int net_signal_new(struct net_loop *loop, int signum,
                   void (*fn)(void *ctx, int signum), void *ctx,
                   struct net_signal **out);
void net_signal_free(struct net_signal *s); /* NULL is a no-op */

/* Child watcher: FN(CTX, PID, STATUS) runs once when process PID exits or
 * is killed; STATUS is as from waitpid (WIFEXITED etc.); the child is
 * reaped. PID must be a child of this process, and the watcher must be
 * created right after fork(), before the loop turns again (the loop reaps
 * children; an exit nobody watches is lost). On the default loop, prefer
 * this to a SIGCHLD watcher, which still fires but finds nothing to reap.
 * -PM_ESTATE if LOOP is not the default loop (see net_loop_new). Free the
 * watcher after it fired or to stop watching. */
struct net_child; /* opaque */
int net_child_new(struct net_loop *loop, pid_t pid,
                  void (*fn)(void *ctx, pid_t pid, int status), void *ctx,
                  struct net_child **out);
void net_child_free(struct net_child *c); /* NULL is a no-op */

/* Wakeup from another thread: net_async_send(A), callable from any
 * thread (and from a signal handler), makes FN(CTX) run in LOOP's thread
 * soon after; sends before it runs are coalesced into one call (libev
 * ev_async). Free it from the loop's thread, once no thread sends. */
struct net_async; /* opaque */
int net_async_new(struct net_loop *loop, void (*fn)(void *ctx), void *ctx,
                  struct net_async **out);
void net_async_send(struct net_async *a);
void net_async_free(struct net_async *a); /* NULL is a no-op */

/* ------------------------------------------------------------------------
 * Requests and replies (meaning: docs/control-protocol.md)
 * ------------------------------------------------------------------------ */

/* A byte string (not NUL-terminated unless stated). */
struct net_bytes {
    const uint8_t *data;
    uint32_t len;
};

#define NET_REQ_JSON 0x1u       /* caller wants machine output */
#define NET_REQ_CONSISTENT 0x2u /* read through the leader */
#define NET_REQ_FORWARDED 0x4u  /* forwarded by a node; never forward again */

struct net_request {
    uint64_t id;                 /* chosen by the caller, echoed in reply */
    const char *op;              /* NUL-terminated, 1..NET_OP_MAX bytes */
    const struct net_bytes *args;/* n_args byte strings */
    uint32_t n_args;             /* <= NET_ARGS_MAX */
    uint32_t flags;              /* NET_REQ_* */
    uint32_t timeout_ms;         /* how long the caller waits */
};

struct net_reply {
    uint64_t id;                 /* the request's id */
    int32_t status;              /* 0 or a negative enum pm_err */
    const uint8_t *body;         /* success: UTF-8 JSON; failure: one line
                                  * of text. May be NULL when body_len 0. */
    uint32_t body_len;
};

/* Where a served request came from. */
enum net_origin_kind {
    NET_ORIGIN_CONTROL = 1,  /* the local control socket (the owner's CLI) */
    NET_ORIGIN_MEMBER = 2,   /* a peer of our mesh (mesh id and node id set) */
    NET_ORIGIN_GUEST = 3,    /* proved the secret but is no member of our
                              * mesh (its mesh id or node id is 0): a
                              * joining node or a client CLI */
};
struct net_origin {
    enum net_origin_kind kind;
    uint64_t node_id;        /* MEMBER: the peer's id; else its hello's id
                              * (may be 0) */
};

/* A request being served. The request passed with it stays valid (owned
 * by src/net) until the call is finished with net_reply_send() or
 * net_reply_error(), which must happen exactly once for every call, possibly
 * much later (`set` replies after commit); an unfinished call leaks. A call
 * handle outlives its connection, its struct net and its control listener:
 * if the requester went away meanwhile, the reply is discarded and the
 * handle freed all the same. */
struct net_call; /* opaque */

/* Send REPLY for CALL (reply->id is ignored: the request's id is used) and
 * free CALL. REPLY is copied (borrowed for the call); reply->status must be
 * 0 or negative. Returns 0, or -PM_ECLOSED if the requester is gone (CALL
 * is freed all the same), or -PM_ETOOBIG / -PM_EINVAL if the body exceeds
 * the frame limit or the status is positive (a short error reply with that
 * status is sent instead). */
int net_reply_send(struct net_call *call, const struct net_reply *reply);

/* Reply with just STATUS (a positive code is negated) and a one-line
 * message (may be NULL). Same contract as net_reply_send(). */
int net_reply_error(struct net_call *call, int status, const char *message);

/* Served-request callback: CALL and REQ are valid until net_reply_send(). */
typedef void (*net_request_fn)(void *ctx, struct net_call *call,
                               const struct net_request *req,
                               const struct net_origin *origin);

/* Reply callback of an outgoing call: called exactly once. STATUS is 0 and
 * REPLY non-NULL when a reply arrived (its own reply->status may still be
 * an error); otherwise STATUS is -PM_ETIMEOUT, -PM_ECLOSED (connection lost
 * or net freed), -PM_EAUTH (handshake failed: wrong secret or foreign
 * mesh), -PM_ENOTRUNNING (nobody listens), -PM_EPROTO, or another code
 * from the connection (-PM_EIO ...), and REPLY is NULL. REPLY is borrowed
 * for the duration of the callback. */
typedef void (*net_reply_fn)(void *ctx, int status,
                             const struct net_reply *reply);

/* ------------------------------------------------------------------------
 * The peer transport
 * ------------------------------------------------------------------------ */

struct net; /* opaque */

struct net_options {
    uint8_t secret[NET_SECRET_BYTES]; /* the mesh secret (copied) */
    uint64_t mesh_id;        /* 0: not a member yet (joining) */
    uint64_t node_id;        /* 0: not a member yet */

    /* Raft message received from member FROM on an accepted connection.
     * MSG and everything it points to (entries, snapshot data) are
     * borrowed for the duration of the callback; copy what you keep.
     * NULL: RAFT frames are dropped. */
    void (*on_raft)(void *ctx, uint64_t from,
                    const struct raft_message *msg);
    /* A request from a member or guest on the peer port. NULL: every
     * request is answered -PM_ESTATE. */
    net_request_fn on_request;
    /* Our dialed connection to peer ID became usable (UP 1: handshake
     * done) or was lost (UP 0). Not called for connections the host itself
     * closed (net_peer_set, net_peer_remove, net_set_identity, net_free).
     * Optional. */
    void (*on_peer)(void *ctx, uint64_t id, int up);
    void *ctx;               /* passed to every callback */

    /* Limits and timings; 0 selects the default in brackets. */
    uint32_t frame_bytes_max;      /* body limit [NET_FRAME_BYTES_DEFAULT] */
    uint32_t send_queue_bytes_max; /* per peer connection [64 MiB]; RAFT
                                    * frames over it are dropped */
    uint32_t handshake_timeout_ms; /* [5000] */
    uint32_t keepalive_ms;         /* PING when idle this long [1000] */
    uint32_t dead_after_ms;        /* close when silent this long [5000] */
    uint32_t backoff_min_ms;       /* first redial delay [50] */
    uint32_t backoff_max_ms;       /* redial delay cap [5000]; each redial
                                    * doubles the delay (reset once a
                                    * connection stayed up 1 s), then a
                                    * random jitter of up to 50% is added */
};

/* Create the transport on LOOP. Nothing listens or dials yet. */
int net_new(struct net_loop *loop, const struct net_options *opt,
            struct net **out);

/* Close every connection and listener and free NET. Outgoing calls still
 * open are completed with -PM_ECLOSED INSIDE this call (the one exception
 * to "callbacks run from the loop"); served calls stay valid (see struct
 * net_call). NULL is a no-op. */
void net_free(struct net *net);

/* Listen for peers on "host:port" (IPv4 "1.2.3.4:p", "[v6]:p", or a name;
 * port 0 picks a free port). *PORT_OUT (may be NULL) gets the bound port.
 * -PM_EINVAL bad address; -PM_EIO cannot bind (errno logged);
 * -PM_EEXIST already listening. */
int net_listen(struct net *net, const char *host_port, uint16_t *port_out);

/* Change our identity after joining (mesh id and node id learned from the
 * join reply). Existing connections keep the identity they shook hands
 * with; dialed peer connections are re-established with the new one. */
void net_set_identity(struct net *net, uint64_t mesh_id, uint64_t node_id);

/* Add peer ID at "host:port", or change its address (the connection is
 * re-dialed). Dialing starts at once and is retried with backoff until
 * net_peer_remove(). ID must be nonzero and not our own id (-PM_EINVAL).
 * HOST_PORT is copied. Name resolution (getaddrinfo) blocks briefly at each
 * dial attempt. */
int net_peer_set(struct net *net, uint64_t id, const char *host_port);

/* Forget peer ID: its dialed connection is closed (frames already queued
 * are written if the socket takes them at once, the rest dropped) and
 * outgoing calls on it finish with -PM_ECLOSED (from the loop).
 * -PM_ENOTFOUND if unknown. Connections accepted from it are not affected
 * (they end when that peer hangs up or falls silent). */
int net_peer_remove(struct net *net, uint64_t id);

/* Peer status for `status`. *UP: our dialed connection is established.
 * *LAST_RECV_MS: net_mono_ms() when anything last arrived from this peer
 * on any connection, 0 if never. -PM_ENOTFOUND if ID is unknown. */
int net_peer_info(struct net *net, uint64_t id, int *up,
                  uint64_t *last_recv_ms);

/* Encode MSG and queue it to peer TO (MSG is borrowed for the call). The
 * frame goes out when the loop turns (after the before-block hook).
 * Raft tolerates loss, so this never waits: -PM_ENOTFOUND unknown peer;
 * -PM_ECLOSED no connection and none being established (dropped);
 * -PM_EAGAIN send queue full (dropped); -PM_ETOOBIG message over the frame
 * limit; -PM_EINVAL a message the codec cannot represent. Messages queued
 * while the connection is being set up go out once it is up. */
int net_send_raft(struct net *net, uint64_t to, const struct raft_message *msg);

/* Call peer TO (on our dialed connection to it) with REQ (borrowed for the
 * call; copied). FN(CTX, ...) is called exactly once, from the loop, with
 * the reply or a failure (see net_reply_fn); at most after TIMEOUT_MS
 * (0 selects NET_CALL_TIMEOUT_DEFAULT_MS). The reply's id is REQ->id; on the
 * wire the transport uses ids of its own, so concurrent callers may reuse
 * ids freely.
 * Returns 0 when the call was queued (FN will be called), else an error and
 * FN is not called: -PM_ENOTFOUND unknown peer, -PM_ECLOSED no connection
 * (waiting to redial), -PM_EAGAIN queue full, -PM_ETOOBIG, -PM_EINVAL bad
 * request. */
int net_call_peer(struct net *net, uint64_t to, const struct net_request *req,
                  uint32_t timeout_ms, net_reply_fn fn, void *ctx);

/* Call the server at "host:port" on a connection of its own (closed after
 * the reply), shaking hands with our identity (mesh id 0 while joining).
 * Same contract as net_call_peer(); -PM_EINVAL for a bad address. */
int net_call_addr(struct net *net, const char *host_port,
                  const struct net_request *req, uint32_t timeout_ms,
                  net_reply_fn fn, void *ctx);

/* ------------------------------------------------------------------------
 * The control socket (served by the node)
 * ------------------------------------------------------------------------ */

struct net_control; /* opaque */

/* Listen on the Unix socket PATH (a stale socket file there is replaced;
 * the file is created mode 0600). Requests are passed to FN with origin
 * NET_ORIGIN_CONTROL. FRAME_BYTES_MAX 0 selects the default.
 * -PM_ETOOBIG path too long for a Unix socket; -PM_EBUSY somebody listens
 * there already; -PM_EEXIST PATH exists and is not a socket (never
 * removed); -PM_EIO cannot bind. */
int net_control_new(struct net_loop *loop, const char *path,
                    uint32_t frame_bytes_max, net_request_fn fn, void *ctx,
                    struct net_control **out);

/* Stop listening, remove the socket file, close connections (open calls'
 * replies are dropped). NULL is a no-op. */
void net_control_free(struct net_control *c);

/* ------------------------------------------------------------------------
 * Blocking client calls (for the CLI; no loop needed)
 * ------------------------------------------------------------------------ */

/* A reply received by a blocking call: the fields point into the struct's
 * own allocation, and the body is followed by a NUL byte (not counted in
 * body_len) so it can be printed as a string; free it with
 * net_reply_free(). NULL is a no-op. */
void net_reply_free(struct net_reply *reply);

/* Send REQ over the control socket PATH and wait for the reply, at most
 * TIMEOUT_MS in all (0: NET_CALL_TIMEOUT_DEFAULT_MS). On 0, *OUT is the
 * reply (its status may be an error).
 * -PM_ENOTRUNNING no socket or nobody listening (the node is not running);
 * -PM_ETIMEOUT; -PM_ECLOSED the node closed the connection; -PM_EPROTO bad
 * reply; -PM_EINVAL bad request; -PM_ETOOBIG path too long. */
int net_call_control(const char *path, const struct net_request *req,
                     uint32_t timeout_ms, struct net_reply **out);

/* Send REQ to the server at "host:port" (its peer port) and wait for the
 * reply, at most TIMEOUT_MS in all (0: NET_CALL_TIMEOUT_DEFAULT_MS).
 * Shakes hands as a guest (mesh id 0, node id 0) proving SECRET. Errors
 * as net_call_control(), plus -PM_EAUTH (the server does not know SECRET),
 * -PM_ENOTRUNNING (connection refused), -PM_EINVAL bad address. */
int net_call_remote(const char *host_port,
                    const uint8_t secret[NET_SECRET_BYTES],
                    const struct net_request *req, uint32_t timeout_ms,
                    struct net_reply **out);

#endif
