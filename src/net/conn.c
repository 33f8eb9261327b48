/* conn.c: one connection: non-blocking reads and writes, frame splitting
 * with size limits checked before buffering, the handshake (seal.h), and
 * sealing/opening of frames. What a decoded body means is decided by the
 * owner (peer.c for the transport, control.c for the control socket). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "net/internal.h"

#define READ_CHUNK 65536
#define READS_PER_EVENT 16 /* then let other connections have a turn */
#define BUF_KEEP_BYTES (1u << 20)

static void read_cb(struct ev_loop *ev, ev_io *w, int revents);
static void write_cb(struct ev_loop *ev, ev_io *w, int revents);

struct conn *conn_new(struct net_loop *loop, enum conn_kind kind, int fd,
                      int connecting)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->kind = kind;
    c->fd = fd;
    c->frame_bytes_max = NET_FRAME_BYTES_DEFAULT;
    c->queue_bytes_max = 64u << 20;
    c->role = kind == CONN_ACCEPTED ? SEAL_ACCEPTOR : SEAL_DIALER;
    c->started_ms = c->last_recv_ms = c->last_send_ms = nloop_now();
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    if (kind == CONN_CONTROL) {
        c->state = CS_OPEN;
        c->origin = NET_ORIGIN_CONTROL;
    } else {
        c->state = connecting ? CS_CONNECTING : CS_HANDSHAKE;
    }
    if (connecting)
        ev_io_start(loop->ev, &c->wio);
    else
        ev_io_start(loop->ev, &c->rio);
    return c;
}

/* Queue our hello; the handshake starts as soon as the socket is writable.
 * Both sides speak at once: no round trip is spent waiting. */
int conn_send_hello(struct conn *c, uint64_t mesh_id, uint64_t node_id)
{
    struct seal_hello h;
    uint8_t prefix[4];
    c->my_mesh = mesh_id;
    c->my_node = node_id;
    seal_hello_make(&h, c->role, mesh_id, node_id);
    int rc = seal_hello_encode(&h, c->my_hello, &c->my_hello_len);
    if (rc < 0)
        return rc;
    wire_put_be32(prefix, (uint32_t)c->my_hello_len);
    if (nbuf_append(&c->out, prefix, 4) < 0 ||
        nbuf_append(&c->out, c->my_hello, c->my_hello_len) < 0)
        return -PM_ENOMEM;
    nloop_mark_dirty(c->loop, c);
    return 0;
}

static enum pm_level close_level(const struct conn *c, int status)
{
    /* A CLI or a joining node hanging up after its reply is routine. */
    if (status == -PM_ECLOSED &&
        (c->kind == CONN_CONTROL || c->kind == CONN_ONESHOT ||
         (c->kind == CONN_ACCEPTED && c->origin == NET_ORIGIN_GUEST)))
        return PM_DEBUG;
    switch (-status) {
    case PM_EAUTH: case PM_EPROTO: case PM_ETOOBIG: case PM_EVERSION:
        return PM_WARN;
    case PM_ENOTRUNNING:
        return PM_DEBUG; /* a peer that is down: redialed quietly */
    default:
        return PM_INFO;
    }
}

void conn_close(struct conn *c, int status, int defer, const char *why)
{
    if (c->state == CS_CLOSED)
        return;
    enum conn_state was = c->state;
    c->state = CS_CLOSED;
    if (why)
        pm_say(close_level(c, status), "net", "%s: closed: %s", c->name, why);
    ev_io_stop(c->loop->ev, &c->rio);
    ev_io_stop(c->loop->ev, &c->wio);
    /* Best effort, never blocking, write what is queued when:
     *  - we reject the other side's proof but have not sent our own yet
     *    (both arrived in one read), so that it can tell a wrong secret
     *    from a broken connection (a proof covers only this session's
     *    transcript and reveals nothing);
     *  - the host closes the connection itself (e.g. a removed peer): the
     *    frames it queued before, such as the commit that removed that
     *    peer, still have a chance to arrive. */
    if ((status == -PM_EAUTH || (defer && was == CS_OPEN)) && c->fd >= 0 &&
        nbuf_used(&c->out) > 0)
        (void)!send(c->fd, c->out.p + c->out.off, nbuf_used(&c->out),
                    MSG_DONTWAIT | MSG_NOSIGNAL);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    seal_keys_wipe(&c->keys);

    /* Unlink everything before any callback runs: a callback may free the
     * owner (net_free walks its list of connections). */
    struct out_call *calls = c->calls;
    struct net_loop *loop = c->loop;
    c->calls = NULL;
    call_detach_all(c);
    c->grave_next = loop->graveyard;
    loop->graveyard = c;
    if (c->net)
        net__conn_closed(c->net, c, defer); /* may call on_peer */
    else if (c->ctl)
        control__conn_closed(c->ctl, c);
    while (calls) {
        struct out_call *oc = calls;
        calls = oc->next;
        oc->next = oc->prev = NULL;
        oc->conn = NULL;
        if (defer) {
            oc->status = status;
            oc->done_next = loop->done;
            loop->done = oc;
        } else {
            out_call_complete(oc, status, NULL);
        }
    }
}

void conn_destroy(struct conn *c)
{
    nbuf_free(&c->in);
    nbuf_free(&c->out);
    nbuf_free(&c->pending);
    free(c->scratch);
    free(c);
}

/* Seal (or, on the control socket, just frame) BODY into the out buffer. */
static int put_frame(struct conn *c, const uint8_t *body, size_t n)
{
    uint8_t prefix[4];
    assert(c->state == CS_OPEN);
    assert(n <= c->frame_bytes_max);
    if (c->kind == CONN_CONTROL) {
        wire_put_be32(prefix, (uint32_t)n);
        if (nbuf_reserve(&c->out, n + 4) < 0)
            return -PM_ENOMEM;
        nbuf_append(&c->out, prefix, 4);
        nbuf_append(&c->out, body, n);
        return 0;
    }
    if (nbuf_reserve(&c->out, n + 4 + SEAL_TAG_BYTES) < 0)
        return -PM_ENOMEM;
    seal_frame(&c->keys.tx, body, (uint32_t)n, c->out.p + c->out.len);
    c->out.len += n + 4 + SEAL_TAG_BYTES;
    return 0;
}

int conn_queue_body(struct conn *c, const uint8_t *body, size_t n,
                    int droppable)
{
    if (c->state == CS_CLOSED)
        return -PM_ECLOSED;
    if (n > c->frame_bytes_max)
        return -PM_ETOOBIG;
    size_t queued = nbuf_used(&c->out) + nbuf_used(&c->pending);
    if (droppable && queued + n > c->queue_bytes_max)
        return -PM_EAGAIN;
    int rc;
    if (c->state == CS_OPEN) {
        rc = put_frame(c, body, n);
    } else {
        uint8_t prefix[4];
        wire_put_be32(prefix, (uint32_t)n);
        rc = nbuf_reserve(&c->pending, n + 4);
        if (rc == 0) {
            nbuf_append(&c->pending, prefix, 4);
            nbuf_append(&c->pending, body, n);
        }
    }
    if (rc < 0)
        return rc;
    nloop_mark_dirty(c->loop, c);
    return 0;
}

void conn_ping(struct conn *c)
{
    struct wire_header h = {NET_PROTOCOL_VERSION, c->my_mesh, c->my_node,
                            WIRE_PING};
    uint8_t *body;
    size_t n;
    if (wire_encode_ping(&h, &body, &n) == 0) {
        conn_queue_body(c, body, n, 1);
        free(body);
    }
}

void conn_flush(struct conn *c, int may_close)
{
    if (c->state == CS_CLOSED || c->state == CS_CONNECTING)
        return;
    /* Each send moves as much as the kernel takes; the loop ends when the
     * buffer is empty or the socket is full (EAGAIN). */
    while (nbuf_used(&c->out) > 0) {
        ssize_t w = send(c->fd, c->out.p + c->out.off, nbuf_used(&c->out),
                         MSG_NOSIGNAL);
        if (w > 0) {
            nbuf_consume(&c->out, (size_t)w);
            c->last_send_ms = nloop_now();
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->loop->ev, &c->wio);
            return;
        }
        if (!may_close) {
            nloop_mark_dirty(c->loop, c);
            return;
        }
        char why[96];
        snprintf(why, sizeof why, "write: %s", strerror(errno));
        conn_close(c, -PM_ECLOSED, 0, why);
        return;
    }
    ev_io_stop(c->loop->ev, &c->wio);
    if (c->out.cap > BUF_KEEP_BYTES)
        nbuf_free(&c->out);
}

static void write_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    struct conn *c = w->data;
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            char why[96];
            snprintf(why, sizeof why, "connect: %s", strerror(err));
            conn_close(c, err == ECONNREFUSED ? -PM_ENOTRUNNING
                                              : pm_from_errno(err),
                       0, why);
            return;
        }
        c->state = CS_HANDSHAKE;
        c->started_ms = nloop_now();
        ev_io_start(c->loop->ev, &c->rio);
    }
    conn_flush(c, 1);
}

/* ------------------------------------------------------------------------
 * Receiving
 * ------------------------------------------------------------------------ */

static void handshake_hello(struct conn *c, const uint8_t *p, uint32_t n)
{
    char why[128];
    int rc = seal_hello_decode(p, n, &c->ph);
    if (rc < 0) {
        conn_close(c, rc, 0, rc == -PM_EVERSION ? "hello: unsupported version"
                                                 : "hello: malformed");
        return;
    }
    if (c->ph.role == c->role) {
        conn_close(c, -PM_EPROTO, 0, "hello: both sides claim the same role");
        return;
    }
    /* Two members of different meshes must never talk; a guest (mesh id
     * 0) may talk to anyone who shares the secret. */
    if (c->my_mesh != 0 && c->ph.mesh_id != 0 && c->ph.mesh_id != c->my_mesh) {
        snprintf(why, sizeof why, "foreign mesh id %016llx",
                 (unsigned long long)c->ph.mesh_id);
        conn_close(c, -PM_EAUTH, 0, why);
        return;
    }
    if (c->expect_node != 0 && c->ph.node_id != c->expect_node) {
        snprintf(why, sizeof why, "reached node %llu, expected node %llu",
                 (unsigned long long)c->ph.node_id,
                 (unsigned long long)c->expect_node);
        conn_close(c, -PM_EAUTH, 0, why);
        return;
    }
    if (c->role == SEAL_DIALER)
        seal_transcript(c->my_hello, c->my_hello_len, p, n, c->t);
    else
        seal_transcript(p, n, c->my_hello, c->my_hello_len, c->t);
    uint8_t frame[4 + SEAL_MAC_BYTES];
    wire_put_be32(frame, SEAL_MAC_BYTES);
    seal_mac(net__secret(c->net), c->t, c->role, frame + 4);
    if (nbuf_append(&c->out, frame, sizeof frame) < 0) {
        conn_close(c, -PM_ENOMEM, 0, "out of memory");
        return;
    }
    nloop_mark_dirty(c->loop, c);
    c->got_hello = 1;
}

static void handshake_proof(struct conn *c, const uint8_t *p)
{
    assert(c->state == CS_HANDSHAKE && c->got_hello);
    const uint8_t *secret = net__secret(c->net);
    if (seal_mac_verify(secret, c->t, (uint8_t)(1 - c->role), p) < 0) {
        conn_close(c, -PM_EAUTH, 0,
                   "handshake proof rejected (wrong mesh secret?)");
        return;
    }
    seal_keys_derive(secret, c->t, c->role, &c->keys);
    c->peer_mesh = c->ph.mesh_id;
    c->peer_node = c->ph.node_id;
    c->origin = (c->ph.mesh_id != 0 && c->ph.mesh_id == c->my_mesh &&
                 c->ph.node_id != 0)
                    ? NET_ORIGIN_MEMBER
                    : NET_ORIGIN_GUEST;
    c->state = CS_OPEN;
    c->opened_ms = nloop_now();
    /* Seal what was queued while the handshake ran, in order. */
    struct nbuf *q = &c->pending;
    while (nbuf_used(q) >= 4) {
        uint32_t n = wire_get_be32(q->p + q->off);
        if (put_frame(c, q->p + q->off + 4, n) < 0) {
            conn_close(c, -PM_ENOMEM, 0, "out of memory");
            return;
        }
        nbuf_consume(q, 4 + (size_t)n);
    }
    nbuf_free(q);
    nloop_mark_dirty(c->loop, c);
    net__conn_open(c->net, c);
}

static void deliver(struct conn *c, const uint8_t *body, uint32_t n)
{
    struct wire_body b;
    int rc = wire_decode(body, n, &b);
    if (rc < 0) {
        char why[96];
        snprintf(why, sizeof why, "bad frame body: %s", pm_strerror(rc));
        conn_close(c, rc == -PM_ENOMEM ? rc : -PM_EPROTO, 0, why);
        return;
    }
    if (c->kind == CONN_CONTROL) {
        control__dispatch(c->ctl, c, &b);
    } else if (b.h.mesh_id != c->peer_mesh || b.h.sender != c->peer_node) {
        /* The header must repeat the identity the handshake proved. */
        conn_close(c, -PM_EPROTO, 0, "frame header names another sender");
    } else {
        net__dispatch(c->net, c, &b);
    }
    wire_body_free(&b);
}

static void handle_frame(struct conn *c, const uint8_t *prefix,
                         const uint8_t *p, uint32_t n)
{
    if (c->kind == CONN_CONTROL) {
        deliver(c, p, n);
        return;
    }
    if (c->state == CS_HANDSHAKE) {
        if (!c->got_hello)
            handshake_hello(c, p, n);
        else
            handshake_proof(c, p);
        return;
    }
    assert(c->state == CS_OPEN && n > SEAL_TAG_BYTES); /* frame_bounds */
    size_t plain = n - SEAL_TAG_BYTES;
    if (c->scratch_cap < plain + 1) {
        uint8_t *s = realloc(c->scratch, plain + 1);
        if (s == NULL) {
            conn_close(c, -PM_ENOMEM, 0, "out of memory");
            return;
        }
        c->scratch = s;
        c->scratch_cap = plain + 1;
    }
    if (seal_open(&c->keys.rx, prefix, p, n, c->scratch) < 0) {
        conn_close(c, -PM_EAUTH, 0, "frame failed authentication");
        return;
    }
    deliver(c, c->scratch, (uint32_t)plain);
}

/* The largest length prefix acceptable in the current state, and the
 * smallest. Checked before a byte of the frame is buffered. */
static void frame_bounds(const struct conn *c, uint32_t *lo, uint32_t *hi)
{
    if (c->kind == CONN_CONTROL) {
        *lo = 1;
        *hi = c->frame_bytes_max;
    } else if (c->state == CS_HANDSHAKE && !c->got_hello) {
        *lo = 1;
        *hi = SEAL_HELLO_MAX;
    } else if (c->state == CS_HANDSHAKE) {
        *lo = *hi = SEAL_MAC_BYTES;
    } else {
        *lo = SEAL_TAG_BYTES + 1;
        *hi = c->frame_bytes_max + SEAL_TAG_BYTES;
    }
}

static void process_frames(struct conn *c)
{
    while (c->state != CS_CLOSED && nbuf_used(&c->in) >= 4) {
        const uint8_t *f = c->in.p + c->in.off;
        uint32_t n = wire_get_be32(f), lo, hi;
        frame_bounds(c, &lo, &hi);
        if (n < lo || n > hi) {
            char why[96];
            if (n > hi)
                snprintf(why, sizeof why, "frame of %u bytes over the limit of %u",
                         n, hi);
            else
                snprintf(why, sizeof why, "frame of %u bytes is too short", n);
            conn_close(c, n > hi ? -PM_ETOOBIG : -PM_EPROTO, 0,
                       c->state == CS_HANDSHAKE ? "bad handshake frame" : why);
            return;
        }
        if (nbuf_used(&c->in) < 4 + (size_t)n)
            return;
        handle_frame(c, f, f + 4, n);
        if (c->state == CS_CLOSED)
            return;
        nbuf_consume(&c->in, 4 + (size_t)n);
    }
    /* A snapshot chunk may have grown the buffers to megabytes; do not
     * keep that much per idle connection. */
    if (nbuf_used(&c->in) == 0 && c->in.cap > BUF_KEEP_BYTES)
        nbuf_free(&c->in);
    if (c->scratch_cap > BUF_KEEP_BYTES) {
        free(c->scratch);
        c->scratch = NULL;
        c->scratch_cap = 0;
    }
}

static void read_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    struct conn *c = w->data;
    for (int i = 0; i < READS_PER_EVENT && c->state != CS_CLOSED; i++) {
        if (nbuf_reserve(&c->in, READ_CHUNK) < 0) {
            conn_close(c, -PM_ENOMEM, 0, "out of memory");
            return;
        }
        ssize_t r = recv(c->fd, c->in.p + c->in.len, READ_CHUNK, 0);
        if (r > 0) {
            c->in.len += (size_t)r;
            c->last_recv_ms = nloop_now();
            process_frames(c);
            if (r < READ_CHUNK)
                return;
            continue;
        }
        if (r == 0) {
            conn_close(c, -PM_ECLOSED, 0,
                       c->state == CS_OPEN ? "closed by the other side"
                                           : "closed during the handshake");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        char why[96];
        snprintf(why, sizeof why, "read: %s", strerror(errno));
        conn_close(c, -PM_ECLOSED, 0, why);
        return;
    }
}

/* ------------------------------------------------------------------------
 * Outgoing calls
 * ------------------------------------------------------------------------ */

void out_call_complete(struct out_call *oc, int status,
                       const struct net_reply *rep)
{
    assert(oc->fn != NULL);
    assert(rep != NULL || status < 0);
    struct conn *c = oc->conn;
    if (c) {
        if (oc->prev)
            oc->prev->next = oc->next;
        else
            c->calls = oc->next;
        if (oc->next)
            oc->next->prev = oc->prev;
        oc->conn = NULL;
    }
    ev_timer_stop(oc->loop->ev, &oc->timer);
    if (rep) {
        struct net_reply r = *rep;
        r.id = oc->user_id;
        oc->fn(oc->ctx, 0, &r);
    } else {
        oc->fn(oc->ctx, status, NULL);
    }
    free(oc);
}
