/* peer.c: the peer transport (struct net): the listener, dialing each
 * known peer with bounded exponential backoff, keepalive and dead-peer
 * detection, Raft message delivery and calls between nodes. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "net/internal.h"

#define NET_ACCEPTED_MAX 1024 /* simultaneous inbound connections */
#define NET_ACCEPTS_PER_EVENT 64
#define PEER_STABLE_MS 1000 /* open this long: the next redial is quick */

struct peer {
    struct net *net;
    uint64_t id;
    char addr[NADDR_TEXT_MAX + 1];
    struct conn *conn;       /* our dialed connection; NULL while waiting */
    ev_timer redial;
    uint32_t failures;       /* redials since the last stable connection */
    uint64_t last_recv_ms;
    int up;
    struct peer *next;
};

struct net {
    struct net_loop *loop;
    struct net_options opt;  /* defaults filled in */
    int listen_fd;
    ev_io listen_w;
    struct peer *peers;
    struct conn *conns;      /* every connection: dialed and accepted */
    uint32_t n_accepted;
    ev_timer tick;
    ev_timer accept_pause;   /* re-arms the listener after accept fails */
    uint64_t next_call_id;
    int *freed;              /* set by net_free while tick_cb walks conns */
};

const uint8_t *net__secret(const struct net *net) { return net->opt.secret; }

static uint32_t def(uint32_t v, uint32_t d) { return v ? v : d; }

/* ------------------------------------------------------------------------
 * Connection bookkeeping
 * ------------------------------------------------------------------------ */

static void link_conn(struct net *net, struct conn *c)
{
    c->net = net;
    c->frame_bytes_max = net->opt.frame_bytes_max;
    c->queue_bytes_max = net->opt.send_queue_bytes_max;
    c->prev = NULL;
    c->next = net->conns;
    if (net->conns)
        net->conns->prev = c;
    net->conns = c;
}

static struct peer *find_peer(const struct net *net, uint64_t id)
{
    for (struct peer *p = net->peers; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void schedule_redial(struct peer *p)
{
    struct net *net = p->net;
    /* Exponential backoff, capped, plus up to 50% random jitter so that
     * peers restarted together do not redial in lockstep. */
    uint64_t delay = net->opt.backoff_min_ms;
    for (uint32_t i = 0; i < p->failures && delay < net->opt.backoff_max_ms; i++)
        delay *= 2;
    if (delay > net->opt.backoff_max_ms)
        delay = net->opt.backoff_max_ms;
    delay += randombytes_uniform((uint32_t)(delay / 2 + 1));
    if (p->failures < UINT32_MAX)
        p->failures++;
    ev_timer_stop(net->loop->ev, &p->redial);
    ev_timer_set(&p->redial, (double)delay / 1000., 0.);
    ev_timer_start(net->loop->ev, &p->redial);
}

static void peer_dial(struct peer *p);

void net__conn_open(struct net *net, struct conn *c)
{
    if (c->kind == CONN_ACCEPTED && c->origin == NET_ORIGIN_MEMBER) {
        /* A member that just dialed us is up: if our own connection to it
         * is down and waiting out its backoff (up to backoff_max_ms plus
         * jitter), dial now; else a returning node hears nothing from us
         * (no APPEND, no snapshot) for seconds. */
        struct peer *p = find_peer(net, c->peer_node);
        if (p != NULL && p->conn == NULL) {
            pm_say(PM_DEBUG, "net", "peer %llu dialed us: redialing it now",
                   (unsigned long long)p->id);
            p->failures = 0;
            ev_timer_stop(net->loop->ev, &p->redial);
            peer_dial(p);
        }
        return;
    }
    if (c->kind != CONN_PEER || c->peer == NULL)
        return;
    struct peer *p = c->peer;
    p->up = 1;
    p->last_recv_ms = nloop_now(); /* its proof just arrived */
    pm_say(PM_INFO, "net", "%s: connected", c->name);
    if (net->opt.on_peer)
        net->opt.on_peer(net->opt.ctx, p->id, 1);
}

void net__conn_closed(struct net *net, struct conn *c, int defer)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (net->conns == c)
        net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    if (c->kind == CONN_ACCEPTED)
        net->n_accepted--;
    if (c->kind != CONN_PEER || c->peer == NULL)
        return;
    struct peer *p = c->peer;
    int was_up = p->up;
    c->peer = NULL;
    p->conn = NULL;
    p->up = 0;
    if (defer)
        return; /* the host's own call decides what happens next */
    /* Only a connection that stayed up a while resets the backoff: one
     * that the other side keeps closing right after the handshake (a
     * misconfigured peer) must not be redialed at the fastest rate. */
    if (c->opened_ms != 0 && nloop_now() - c->opened_ms >= PEER_STABLE_MS)
        p->failures = 0;
    schedule_redial(p);
    if (was_up && net->opt.on_peer)
        net->opt.on_peer(net->opt.ctx, p->id, 0);
}

static int set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Start a non-blocking connect to HOST_PORT. *FD_OUT gets the socket;
 * *CONNECTING is 1 while the connect is in progress. */
static int dial(const char *host_port, int *fd_out, int *connecting)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int rc = naddr_resolve(host_port, 0, &sa, &salen);
    if (rc < 0)
        return rc;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pm_from_errno(errno);
    set_nodelay(fd);
    *connecting = 0;
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
        if (errno != EINPROGRESS) {
            int err = errno;
            close(fd);
            return err == ECONNREFUSED ? -PM_ENOTRUNNING : pm_from_errno(err);
        }
        *connecting = 1;
    }
    *fd_out = fd;
    return 0;
}

static void peer_dial(struct peer *p)
{
    struct net *net = p->net;
    int fd, connecting;
    int rc = dial(p->addr, &fd, &connecting);
    if (rc < 0) {
        if (p->failures == 0)
            pm_say(PM_INFO, "net", "peer %llu at %s: dial: %s",
                   (unsigned long long)p->id, p->addr, pm_strerror(rc));
        schedule_redial(p);
        return;
    }
    struct conn *c = conn_new(net->loop, CONN_PEER, fd, connecting);
    if (c == NULL) {
        close(fd);
        schedule_redial(p);
        return;
    }
    snprintf(c->name, sizeof c->name, "peer %llu at %s",
             (unsigned long long)p->id, p->addr);
    link_conn(net, c);
    c->peer = p;
    c->expect_node = p->id;
    p->conn = c;
    if (conn_send_hello(c, net->opt.mesh_id, net->opt.node_id) < 0)
        conn_close(c, -PM_ENOMEM, 0, "out of memory");
}

static void redial_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct peer *p = w->data;
    if (p->conn == NULL)
        peer_dial(p);
}

/* ------------------------------------------------------------------------
 * Keepalive, dead peers, handshake timeouts
 * ------------------------------------------------------------------------ */

static void tick_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net *net = w->data;
    uint64_t now = nloop_now();
    struct conn *next;
    /* Closing a connection may call on_peer, which may free NET. */
    int freed = 0;
    net->freed = &freed;
    for (struct conn *c = net->conns; c && !freed; c = next) {
        next = c->next;
        if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
            if (now - c->started_ms >= net->opt.handshake_timeout_ms)
                conn_close(c, -PM_ETIMEOUT, 0, "handshake timed out");
            continue;
        }
        if (c->state != CS_OPEN)
            continue;
        /* A guest waiting for a slow reply (a `set` being committed) stays
         * quiet legitimately; a one-shot call has its own timer. */
        int may_idle = c->kind == CONN_ONESHOT ||
                       (c->kind == CONN_ACCEPTED && c->served != NULL);
        if (!may_idle && now - c->last_recv_ms >= net->opt.dead_after_ms) {
            char why[64];
            snprintf(why, sizeof why, "silent for %llu ms",
                     (unsigned long long)(now - c->last_recv_ms));
            conn_close(c, -PM_ETIMEOUT, 0, why);
            continue;
        }
        if (now - c->last_send_ms >= net->opt.keepalive_ms &&
            nbuf_used(&c->out) == 0)
            conn_ping(c);
    }
    if (!freed)
        net->freed = NULL;
}

/* ------------------------------------------------------------------------
 * Accepting
 * ------------------------------------------------------------------------ */

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net *net = w->data;
    for (int i = 0; i < NET_ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(net->listen_fd, (struct sockaddr *)&sa, &salen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Out of descriptors or memory: the listener stays readable,
                 * so pause it instead of spinning on the same error. */
                pm_say(PM_WARN, "net", "accept: %s; pausing the listener",
                       strerror(errno));
                ev_io_stop(net->loop->ev, &net->listen_w);
                ev_timer_start(net->loop->ev, &net->accept_pause);
            }
            return;
        }
        char who[NADDR_TEXT_MAX];
        naddr_format((struct sockaddr *)&sa, who, sizeof who);
        if (net->n_accepted >= NET_ACCEPTED_MAX) {
            pm_say(PM_WARN, "net", "connection from %s: refused: %u open",
                   who, net->n_accepted);
            close(fd);
            continue;
        }
        set_nodelay(fd);
        struct conn *c = conn_new(net->loop, CONN_ACCEPTED, fd, 0);
        if (c == NULL) {
            close(fd);
            continue;
        }
        snprintf(c->name, sizeof c->name, "connection from %s", who);
        link_conn(net, c);
        net->n_accepted++;
        if (conn_send_hello(c, net->opt.mesh_id, net->opt.node_id) < 0)
            conn_close(c, -PM_ENOMEM, 0, "out of memory");
    }
}

static void accept_resume_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    struct net *net = w->data;
    if (net->listen_fd >= 0)
        ev_io_start(ev, &net->listen_w);
}

/* ------------------------------------------------------------------------
 * Dispatch of decoded bodies
 * ------------------------------------------------------------------------ */

static struct out_call *find_call(struct conn *c, uint64_t wire_id)
{
    for (struct out_call *oc = c->calls; oc; oc = oc->next)
        if (oc->wire_id == wire_id)
            return oc;
    return NULL;
}

void net__dispatch(struct net *net, struct conn *c, struct wire_body *b)
{
    if (c->origin == NET_ORIGIN_MEMBER) {
        struct peer *p = find_peer(net, c->peer_node);
        if (p)
            p->last_recv_ms = nloop_now();
    }
    switch (b->h.kind) {
    case WIRE_PING:
        return;
    case WIRE_RAFT:
        /* Raft flows only on connections a member dialed to us. */
        if (c->kind != CONN_ACCEPTED || c->origin != NET_ORIGIN_MEMBER) {
            conn_close(c, -PM_EPROTO, 0,
                       "raft message from a non-member or in the wrong "
                       "direction");
            return;
        }
        if (b->raft.from != c->peer_node) {
            conn_close(c, -PM_EPROTO, 0, "raft message names another sender");
            return;
        }
        if (b->raft.to != net->opt.node_id) {
            pm_say(PM_DEBUG, "net", "%s: dropped raft message for node %llu",
                   c->name, (unsigned long long)b->raft.to);
            return;
        }
        if (net->opt.on_raft)
            net->opt.on_raft(net->opt.ctx, c->peer_node, &b->raft);
        return;
    case WIRE_REQUEST: {
        if (c->kind != CONN_ACCEPTED) {
            conn_close(c, -PM_EPROTO, 0, "request on a dialed connection");
            return;
        }
        struct net_origin origin = {c->origin, c->peer_node};
        struct net_call *call = call_new(c, &b->req, &origin);
        if (call == NULL) {
            conn_close(c, -PM_ENOMEM, 0, "out of memory");
            return;
        }
        if (net->opt.on_request)
            net->opt.on_request(net->opt.ctx, call, call_request(call),
                                call_origin(call));
        else
            net_reply_error(call, -PM_ESTATE, "this node serves no requests");
        return;
    }
    case WIRE_REPLY: {
        if (c->kind != CONN_PEER && c->kind != CONN_ONESHOT) {
            conn_close(c, -PM_EPROTO, 0, "reply on an accepted connection");
            return;
        }
        struct out_call *oc = find_call(c, b->rep.id);
        if (oc == NULL)
            return; /* its call timed out already */
        out_call_complete(oc, 0, &b->rep);
        if (c->kind == CONN_ONESHOT)
            conn_close(c, -PM_ECLOSED, 0, NULL);
        return;
    }
    default:
        conn_close(c, -PM_EPROTO, 0, "unknown frame kind");
    }
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int net_new(struct net_loop *loop, const struct net_options *opt,
            struct net **out)
{
    if (sodium_init() < 0)
        return -PM_EIO;
    struct net *net = calloc(1, sizeof *net);
    if (net == NULL)
        return -PM_ENOMEM;
    net->loop = loop;
    net->opt = *opt;
    struct net_options *o = &net->opt;
    o->frame_bytes_max = def(o->frame_bytes_max, NET_FRAME_BYTES_DEFAULT);
    o->send_queue_bytes_max = def(o->send_queue_bytes_max, 64u << 20);
    o->handshake_timeout_ms = def(o->handshake_timeout_ms, 5000);
    o->keepalive_ms = def(o->keepalive_ms, 1000);
    o->dead_after_ms = def(o->dead_after_ms, 5000);
    o->backoff_min_ms = def(o->backoff_min_ms, 50);
    o->backoff_max_ms = def(o->backoff_max_ms, 5000);
    if (o->backoff_max_ms < o->backoff_min_ms)
        o->backoff_max_ms = o->backoff_min_ms;
    if (o->frame_bytes_max > UINT32_MAX - 64)
        o->frame_bytes_max = UINT32_MAX - 64;
    net->listen_fd = -1;
    ev_timer_init(&net->accept_pause, accept_resume_cb, 0.1, 0.);
    net->accept_pause.data = net;
    /* The tick needs to resolve the shortest of the timings it enforces. */
    uint32_t t = o->keepalive_ms;
    if (o->dead_after_ms < t)
        t = o->dead_after_ms;
    if (o->handshake_timeout_ms < t)
        t = o->handshake_timeout_ms;
    t /= 4;
    if (t < 10)
        t = 10;
    if (t > 250)
        t = 250;
    ev_timer_init(&net->tick, tick_cb, t / 1000., t / 1000.);
    net->tick.data = net;
    ev_timer_start(loop->ev, &net->tick);
    ev_unref(loop->ev); /* the tick alone keeps nothing running */
    *out = net;
    return 0;
}

void net_free(struct net *net)
{
    if (net == NULL)
        return;
    struct net_loop *loop = net->loop;
    if (net->freed)
        *net->freed = 1;
    ev_timer_stop(loop->ev, &net->accept_pause);
    if (net->listen_fd >= 0) {
        ev_io_stop(loop->ev, &net->listen_w);
        close(net->listen_fd);
    }
    while (net->peers) {
        struct peer *p = net->peers;
        net->peers = p->next;
        ev_timer_stop(loop->ev, &p->redial);
        if (p->conn)
            p->conn->peer = NULL;
        free(p);
    }
    while (net->conns)
        conn_close(net->conns, -PM_ECLOSED, 0, NULL);
    /* Calls of ours failed earlier and not yet reported: report now. */
    struct out_call **pp = &loop->done;
    while (*pp) {
        struct out_call *oc = *pp;
        if (oc->net == net) {
            *pp = oc->done_next;
            out_call_complete(oc, oc->status, NULL);
        } else {
            pp = &oc->done_next;
        }
    }
    ev_ref(loop->ev);
    ev_timer_stop(loop->ev, &net->tick);
    sodium_memzero(net->opt.secret, sizeof net->opt.secret);
    free(net);
}

int net_listen(struct net *net, const char *host_port, uint16_t *port_out)
{
    if (net->listen_fd >= 0)
        return -PM_EEXIST;
    struct sockaddr_storage sa;
    socklen_t salen;
    int rc = naddr_resolve(host_port, 1, &sa, &salen);
    if (rc < 0)
        return rc;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pm_from_errno(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, SOMAXCONN) < 0) {
        pm_say(PM_ERROR, "net", "listen on %s: %s", host_port, strerror(errno));
        close(fd);
        return -PM_EIO;
    }
    if (port_out) {
        salen = sizeof sa;
        getsockname(fd, (struct sockaddr *)&sa, &salen);
        *port_out = ntohs(sa.ss_family == AF_INET6
                              ? ((struct sockaddr_in6 *)&sa)->sin6_port
                              : ((struct sockaddr_in *)&sa)->sin_port);
    }
    net->listen_fd = fd;
    ev_io_init(&net->listen_w, accept_cb, fd, EV_READ);
    net->listen_w.data = net;
    ev_io_start(net->loop->ev, &net->listen_w);
    return 0;
}

void net_set_identity(struct net *net, uint64_t mesh_id, uint64_t node_id)
{
    net->opt.mesh_id = mesh_id;
    net->opt.node_id = node_id;
    for (struct peer *p = net->peers; p; p = p->next) {
        if (p->conn)
            conn_close(p->conn, -PM_ECLOSED, 1, "identity changed");
        p->failures = 0;
        peer_dial(p);
    }
}

int net_peer_set(struct net *net, uint64_t id, const char *host_port)
{
    if (id == 0 || id == net->opt.node_id)
        return -PM_EINVAL;
    /* Syntax only: a name that does not resolve yet is retried later. */
    int rc = naddr_check(host_port);
    if (rc < 0)
        return rc;
    struct peer *p = find_peer(net, id);
    if (p && strcmp(p->addr, host_port) == 0)
        return 0;
    if (p == NULL) {
        p = calloc(1, sizeof *p);
        if (p == NULL)
            return -PM_ENOMEM;
        p->net = net;
        p->id = id;
        ev_timer_init(&p->redial, redial_cb, 0., 0.);
        p->redial.data = p;
        p->next = net->peers;
        net->peers = p;
    } else if (p->conn) {
        conn_close(p->conn, -PM_ECLOSED, 1, "address changed");
    }
    snprintf(p->addr, sizeof p->addr, "%s", host_port);
    p->failures = 0;
    ev_timer_stop(net->loop->ev, &p->redial);
    peer_dial(p);
    return 0;
}

int net_peer_remove(struct net *net, uint64_t id)
{
    for (struct peer **pp = &net->peers; *pp; pp = &(*pp)->next) {
        struct peer *p = *pp;
        if (p->id != id)
            continue;
        *pp = p->next;
        ev_timer_stop(net->loop->ev, &p->redial);
        if (p->conn)
            conn_close(p->conn, -PM_ECLOSED, 1, "peer removed");
        free(p);
        return 0;
    }
    return -PM_ENOTFOUND;
}

int net_peer_info(struct net *net, uint64_t id, int *up, uint64_t *last_recv_ms)
{
    struct peer *p = find_peer(net, id);
    if (p == NULL)
        return -PM_ENOTFOUND;
    if (up)
        *up = p->up;
    if (last_recv_ms) {
        uint64_t t = p->last_recv_ms;
        /* Anything heard on a connection the peer dialed to us counts. */
        for (struct conn *c = net->conns; c; c = c->next)
            if (c->kind == CONN_ACCEPTED && c->origin == NET_ORIGIN_MEMBER &&
                c->peer_node == id && c->last_recv_ms > t)
                t = c->last_recv_ms;
        *last_recv_ms = t;
    }
    return 0;
}

int net_send_raft(struct net *net, uint64_t to, const struct raft_message *msg)
{
    struct peer *p = find_peer(net, to);
    if (p == NULL)
        return -PM_ENOTFOUND;
    if (p->conn == NULL)
        return -PM_ECLOSED;
    /* The header repeats the identity this connection shook hands with. */
    struct wire_header h = {NET_PROTOCOL_VERSION, p->conn->my_mesh,
                            p->conn->my_node, WIRE_RAFT};
    uint8_t *body;
    size_t n;
    int rc = wire_encode_raft(&h, msg, net->opt.frame_bytes_max, &body, &n);
    if (rc < 0)
        return rc;
    rc = conn_queue_body(p->conn, body, n, 1);
    free(body);
    return rc;
}

static void call_timeout_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct out_call *oc = w->data;
    struct conn *c = oc->conn;
    out_call_complete(oc, -PM_ETIMEOUT, NULL);
    if (c && c->kind == CONN_ONESHOT)
        conn_close(c, -PM_ETIMEOUT, 0, "call timed out");
}

/* Encode REQ under a transport-wide id, queue it on C and arm its timer. */
static int start_call(struct net *net, struct conn *c,
                      const struct net_request *req, uint32_t timeout_ms,
                      net_reply_fn fn, void *ctx)
{
    if (fn == NULL)
        return -PM_EINVAL;
    if (timeout_ms == 0)
        timeout_ms = NET_CALL_TIMEOUT_DEFAULT_MS;
    struct out_call *oc = calloc(1, sizeof *oc);
    if (oc == NULL)
        return -PM_ENOMEM;
    struct net_request r = *req;
    struct wire_header h = {NET_PROTOCOL_VERSION, c->my_mesh, c->my_node,
                            WIRE_REQUEST};
    uint8_t *body;
    size_t n;
    r.id = ++net->next_call_id;
    int rc = wire_encode_request(&h, &r, net->opt.frame_bytes_max, &body, &n);
    if (rc == 0) {
        rc = conn_queue_body(c, body, n, 1);
        free(body);
    }
    if (rc < 0) {
        free(oc);
        return rc;
    }
    oc->loop = net->loop;
    oc->net = net;
    oc->conn = c;
    oc->wire_id = r.id;
    oc->user_id = req->id;
    oc->fn = fn;
    oc->ctx = ctx;
    oc->next = c->calls;
    if (c->calls)
        c->calls->prev = oc;
    c->calls = oc;
    ev_timer_init(&oc->timer, call_timeout_cb, timeout_ms / 1000., 0.);
    oc->timer.data = oc;
    ev_timer_start(net->loop->ev, &oc->timer);
    return 0;
}

int net_call_peer(struct net *net, uint64_t to, const struct net_request *req,
                  uint32_t timeout_ms, net_reply_fn fn, void *ctx)
{
    struct peer *p = find_peer(net, to);
    if (p == NULL)
        return -PM_ENOTFOUND;
    if (p->conn == NULL)
        return -PM_ECLOSED;
    return start_call(net, p->conn, req, timeout_ms, fn, ctx);
}

int net_call_addr(struct net *net, const char *host_port,
                  const struct net_request *req, uint32_t timeout_ms,
                  net_reply_fn fn, void *ctx)
{
    int fd, connecting;
    int rc = dial(host_port, &fd, &connecting);
    if (rc < 0)
        return rc;
    struct conn *c = conn_new(net->loop, CONN_ONESHOT, fd, connecting);
    if (c == NULL) {
        close(fd);
        return -PM_ENOMEM;
    }
    snprintf(c->name, sizeof c->name, "call to %s", host_port);
    link_conn(net, c);
    rc = conn_send_hello(c, net->opt.mesh_id, net->opt.node_id);
    if (rc == 0)
        rc = start_call(net, c, req, timeout_ms, fn, ctx);
    if (rc < 0)
        conn_close(c, rc, 1, NULL);
    return rc;
}
