/* internal.h: shared by the files of src/net only (includes libev). Public
 * names are in net.h; internal cross-file names carry the prefixes of their
 * file (nloop_, conn_, nbuf_, naddr_). */
#ifndef PM_NET_INTERNAL_H
#define PM_NET_INTERNAL_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/net.h"
#include "net/seal.h"
#include "net/wire.h"

/* ------------------------------------------------------------------------
 * Byte buffer: data is p[off, len); cap bytes allocated.
 * ------------------------------------------------------------------------ */
struct nbuf {
    uint8_t *p;
    size_t off, len, cap;
};
static inline size_t nbuf_used(const struct nbuf *b) { return b->len - b->off; }
/* Make room for N more bytes at p + len (compacting or growing). */
int nbuf_reserve(struct nbuf *b, size_t n);
int nbuf_append(struct nbuf *b, const void *data, size_t n);
void nbuf_consume(struct nbuf *b, size_t n);
void nbuf_free(struct nbuf *b);

/* ------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------ */
#define NADDR_TEXT_MAX 270

/* Resolve "host:port" ("[v6]:port" too) into SA and SALEN. PASSIVE: for a
 * listener (port 0 allowed). -PM_EINVAL malformed or unresolvable. */
int naddr_resolve(const char *host_port, int passive,
                  struct sockaddr_storage *sa, socklen_t *salen);
/* Syntax check of a dialable "host:port" (nonzero port): 0 or -PM_EINVAL. */
int naddr_check(const char *host_port);
/* "ip:port" of SA into BUF (for log lines). */
void naddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Loop
 * ------------------------------------------------------------------------ */
struct conn;
struct out_call;

struct net_loop {
    struct ev_loop *ev;
    int is_default;
    ev_prepare prepare;
    void (*before_block)(void *ctx);
    void *before_ctx;
    /* Connections with frames queued since the last flush. */
    struct conn *dirty;
    /* Closed connections, freed at the end of the next prepare (nothing in
     * a callback chain can still point at them then). */
    struct conn *graveyard;
    /* Outgoing calls failed outside the loop's own callbacks (e.g. by
     * net_peer_remove), completed in the next prepare so a caller is never
     * called back from inside its own API call. */
    struct out_call *done;
};

void nloop_mark_dirty(struct net_loop *loop, struct conn *c);

/* ------------------------------------------------------------------------
 * Connections (conn.c)
 * ------------------------------------------------------------------------ */
enum conn_kind {
    CONN_PEER = 1,    /* we dialed a member peer: we send RAFT, make calls */
    CONN_ONESHOT = 2, /* we dialed for one call (net_call_addr) */
    CONN_ACCEPTED = 3,/* a peer or guest dialed us: we receive RAFT, serve */
    CONN_CONTROL = 4, /* accepted on the control socket: unsealed */
};

enum conn_state {
    CS_CONNECTING = 1, /* non-blocking connect in progress */
    CS_HANDSHAKE = 2,
    CS_OPEN = 3,
    CS_CLOSED = 4,
};

struct peer;
struct net_call;

/* An outgoing call waiting for its reply. */
struct out_call {
    struct net_loop *loop;
    struct net *net;
    struct conn *conn;          /* NULL once detached */
    struct out_call *next, *prev;
    struct out_call *done_next;
    uint64_t wire_id, user_id;
    net_reply_fn fn;
    void *ctx;
    ev_timer timer;
    int status;                 /* for deferred completion */
};

struct conn {
    struct net_loop *loop;
    struct net *net;            /* NULL for control connections */
    struct net_control *ctl;    /* control connections only */
    struct peer *peer;          /* CONN_PEER only; NULL once detached */
    enum conn_kind kind;
    enum conn_state state;
    int fd;
    ev_io rio, wio;
    struct conn *next, *prev;   /* the owner's list */
    struct conn *dirty_next;
    int dirty;
    struct conn *grave_next;
    char name[NADDR_TEXT_MAX + 32]; /* for log lines */

    struct nbuf in, out;
    /* Bodies queued before the handshake finished, as [u32 len][body]. */
    struct nbuf pending;
    uint32_t frame_bytes_max;
    uint32_t queue_bytes_max;
    uint8_t *scratch;           /* decrypted body of the current frame */
    size_t scratch_cap;

    /* Handshake. */
    uint8_t role;               /* enum seal_role */
    uint64_t my_mesh, my_node;  /* the identity our hello carried */
    uint8_t my_hello[SEAL_HELLO_MAX];
    size_t my_hello_len;
    int got_hello;
    struct seal_hello ph;       /* the other side's hello */
    uint8_t t[SEAL_HASH_BYTES];
    struct seal_keys keys;
    uint64_t expect_node;       /* CONN_PEER: the id we meant to reach */

    /* The other side once open. */
    enum net_origin_kind origin;
    uint64_t peer_mesh, peer_node;

    uint64_t started_ms, opened_ms, last_recv_ms, last_send_ms;
    struct net_call *served;    /* requests we serve on it */
    struct out_call *calls;     /* our calls awaiting replies on it */
};

/* Create a connection on the connected or connecting socket FD (CONTROL
 * starts OPEN; the others then need conn_send_hello). The caller sets the
 * owner fields (net or ctl, peer, name, limits) and links it. */
struct conn *conn_new(struct net_loop *loop, enum conn_kind kind, int fd,
                      int connecting);
/* Queue our hello (dialed and accepted kinds) with identity MESH/NODE. */
int conn_send_hello(struct conn *c, uint64_t mesh_id, uint64_t node_id);
/* Close: stops watchers, closes the fd, fails outgoing calls with STATUS
 * (deferred when DEFER), detaches served calls, unlinks from owner lists,
 * moves C to the graveyard. WHY (may be NULL) is logged once. Idempotent. */
void conn_close(struct conn *c, int status, int defer, const char *why);
/* Queue a body: sealed at once when open (or raw for control), kept in
 * `pending` while the handshake runs. DROPPABLE bodies (RAFT) are refused
 * with -PM_EAGAIN when the queue is over its bound; others always fit. */
int conn_queue_body(struct conn *c, const uint8_t *body, size_t n,
                    int droppable);
/* Write what is queued; start/stop the write watcher. A write error
 * closes C when MAY_CLOSE (callbacks may run), else C is left for the next
 * flush to find the error again. */
void conn_flush(struct conn *c, int may_close);
/* Free a closed connection's memory (from the graveyard). */
void conn_destroy(struct conn *c);
/* Queue a PING. */
void conn_ping(struct conn *c);
/* Complete an outgoing call now (fn called) and free it. */
void out_call_complete(struct out_call *oc, int status,
                       const struct net_reply *rep);

/* Hooks from conn.c into the owner (peer.c for net, control.c). */
void net__conn_open(struct net *net, struct conn *c);
/* DEFER: closed by the host's own API call (no on_peer callback then). */
void net__conn_closed(struct net *net, struct conn *c, int defer);
void net__dispatch(struct net *net, struct conn *c, struct wire_body *b);
void control__dispatch(struct net_control *ctl, struct conn *c,
                       struct wire_body *b);
void control__conn_closed(struct net_control *ctl, struct conn *c);
/* The secret and limits of the net a connection belongs to. */
const uint8_t *net__secret(const struct net *net);

/* Served calls (call.c). Make a call for request B->req received on C
 * (copies the request). */
struct net_call *call_new(struct conn *c, const struct net_request *req,
                          const struct net_origin *origin);
const struct net_request *call_request(const struct net_call *call);
const struct net_origin *call_origin(const struct net_call *call);
/* Detach every served call of C (their replies will be discarded). */
void call_detach_all(struct conn *c);

uint64_t nloop_now(void);

#endif
