/* test_net_transport.c: the transport over real sockets on 127.0.0.1
 * (ports from the kernel) and a Unix socket in a fresh temporary directory:
 * handshake, rejection of wrong secrets, foreign meshes, garbage, oversized
 * and tampered frames, reconnect after a restart, dead-peer detection,
 * request/reply (member, guest, blocking CLI calls, control socket), the
 * bounded send queue, and the loop's timers, signals and child watchers.
 *
 * Blocking clients (raw sockets, net_call_remote, net_call_control) run in
 * a helper thread while the test thread turns the loop. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "base/err.h"
#include "base/say.h"
#include "net/net.h"
#include "net/seal.h"
#include "net/wire.h"
#include "raft/raft.h"

#define MESH 0x5151515151515151ull
#define WAIT_MS 5000

struct node {
    struct net *net;
    uint64_t id;
    uint16_t port;
    char addr[32];
    int raft_count;
    uint64_t last_from;
    uint8_t last_type;
    uint32_t last_entries;
    uint8_t last_entry_data[64];
    uint32_t last_data_len;
    uint8_t last_data_hash[32];
    int ups, downs;
    int requests;
    struct net_origin last_origin;
    struct net_call *held; /* a request answered later */
};

struct fx {
    char dir[64];
    char log[96];
    struct net_loop *loop;
    uint8_t secret[32];
    struct node a, b, g;
};

/* ------------------------------------------------------------------------
 * Callbacks and helpers
 * ------------------------------------------------------------------------ */

static void on_raft(void *ctx, uint64_t from, const struct raft_message *m)
{
    struct node *n = ctx;
    n->raft_count++;
    n->last_from = from;
    n->last_type = m->type;
    n->last_entries = m->n_entries;
    if (m->n_entries > 0 && m->entries[0].len <= sizeof n->last_entry_data)
        memcpy(n->last_entry_data, m->entries[0].data, m->entries[0].len);
    n->last_data_len = m->len;
    crypto_generichash(n->last_data_hash, 32, m->data, m->len, NULL, 0);
}

static void on_peer(void *ctx, uint64_t id, int up)
{
    struct node *n = ctx;
    (void)id;
    if (up)
        n->ups++;
    else
        n->downs++;
}

static void on_request(void *ctx, struct net_call *call,
                       const struct net_request *req,
                       const struct net_origin *origin)
{
    struct node *n = ctx;
    n->requests++;
    n->last_origin = *origin;
    if (strcmp(req->op, "echo") == 0) {
        struct net_reply r = {0, 0, req->n_args ? req->args[0].data : NULL,
                              req->n_args ? req->args[0].len : 0};
        net_reply_send(call, &r);
    } else if (strcmp(req->op, "hold") == 0 && n->held == NULL) {
        n->held = call; /* answered later by the test */
    } else {
        net_reply_error(call, -PM_EINVAL, "unknown op");
    }
}

static int start_node(struct fx *f, struct node *n, uint64_t id, uint64_t mesh,
                      const uint8_t secret[32], const struct net_options *tweak)
{
    struct net_options o;
    if (tweak)
        o = *tweak;
    else
        memset(&o, 0, sizeof o);
    memcpy(o.secret, secret, 32);
    o.mesh_id = mesh;
    o.node_id = id;
    o.on_raft = on_raft;
    o.on_request = on_request;
    o.on_peer = on_peer;
    o.ctx = n;
    if (o.backoff_min_ms == 0)
        o.backoff_min_ms = 10;
    if (o.backoff_max_ms == 0)
        o.backoff_max_ms = 100;
    n->id = id;
    int rc = net_new(f->loop, &o, &n->net);
    if (rc < 0)
        return rc;
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", n->port);
    rc = net_listen(n->net, listen, &n->port);
    snprintf(n->addr, sizeof n->addr, "127.0.0.1:%u", n->port);
    return rc;
}

static void stop_node(struct node *n)
{
    if (n->held) {
        net_reply_error(n->held, -PM_ECLOSED, "test over");
        n->held = NULL;
    }
    net_free(n->net);
    n->net = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pmesh-test-net-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->log, sizeof f->log, "%s/net.log", f->dir);
    pm_say_open(f->log);
    if (net_loop_new(&f->loop) < 0)
        return -1;
    randombytes_buf(f->secret, sizeof f->secret);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    stop_node(&f->a);
    stop_node(&f->b);
    stop_node(&f->g);
    net_loop_free(f->loop);
    pm_say_open(NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

struct until {
    int *value;
    int at_least;
};
static int reached(void *ctx)
{
    struct until *u = ctx;
    return *u->value >= u->at_least;
}
/* Turn the loop until *VALUE >= AT_LEAST; 0 or -PM_ETIMEOUT. */
static int wait_for(struct fx *f, int *value, int at_least)
{
    struct until u = {value, at_least};
    return net_loop_run_until(f->loop, reached, &u, WAIT_MS);
}
static int never(void *ctx)
{
    (void)ctx;
    return 0;
}
/* Turn the loop for MS milliseconds. */
static void spin(struct fx *f, uint32_t ms)
{
    net_loop_run_until(f->loop, never, NULL, ms);
}

/* Lines of the diagnostic log containing NEEDLE. */
static int log_count(const struct fx *f, const char *needle)
{
    FILE *fp = fopen(f->log, "r");
    if (fp == NULL)
        return 0;
    char line[1200];
    int n = 0;
    while (fgets(line, sizeof line, fp))
        if (strstr(line, needle))
            n++;
    fclose(fp);
    return n;
}
static int log_has(struct fx *f, const char *needle, int at_least)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        if (log_count(f, needle) >= at_least)
            return 1;
        spin(f, 10);
    }
    return 0;
}

static int send_append(struct node *from, uint64_t to, const char *text)
{
    struct pm_entry e = {5, 2, PM_ENTRY_COMMAND, (const uint8_t *)text,
                         (uint32_t)strlen(text) + 1};
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND;
    m.term = 2;
    m.from = from->id;
    m.to = to;
    m.prev_index = 4;
    m.prev_term = 1;
    m.entries = &e;
    m.n_entries = 1;
    return net_send_raft(from->net, to, &m);
}

/* Run FN(ARG) in a thread while the loop turns; returns when it is done. */
struct job {
    void (*fn)(void *arg);
    void *arg;
    atomic_int done;
};
static void *job_main(void *p)
{
    struct job *j = p;
    j->fn(j->arg);
    atomic_store(&j->done, 1);
    return NULL;
}
static int job_done(void *p)
{
    struct job *j = p;
    return atomic_load(&j->done);
}
static void run_beside_loop(struct fx *f, void (*fn)(void *), void *arg)
{
    struct job j = {fn, arg, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, job_main, &j), 0);
    int rc = net_loop_run_until(f->loop, job_done, &j, 3 * WAIT_MS);
    pthread_join(t, NULL);
    assert_int_equal(rc, 0);
    spin(f, 20); /* let the server side notice what the client did */
}

/* ------------------------------------------------------------------------
 * Raw blocking sockets speaking the protocol by hand (for bad input)
 * ------------------------------------------------------------------------ */

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, const uint8_t *p, uint32_t n)
{
    uint8_t pre[4];
    wire_put_be32(pre, n);
    if (send(fd, pre, 4, MSG_NOSIGNAL) != 4)
        return -1;
    return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int read_frame(int fd, uint8_t *p, uint32_t cap, uint32_t *n)
{
    uint8_t pre[4];
    if (read_exact(fd, pre, 4) < 0)
        return -1;
    *n = wire_get_be32(pre);
    if (*n > cap)
        return -1;
    return read_exact(fd, p, *n);
}

/* 1 if the server closes FD (EOF or reset) within the receive timeout,
 * skipping whatever it still sends first. */
static int closed_by_server(int fd)
{
    uint8_t junk[256];
    for (;;) {
        ssize_t r = recv(fd, junk, sizeof junk, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0)
            return 0; /* timed out: still open */
    }
}

/* Hand-made handshake as ROLE; 0 when both proofs check out. */
static int raw_handshake(int fd, uint8_t role, const uint8_t *secret,
                         uint64_t mesh, uint64_t node, struct seal_keys *keys)
{
    struct seal_hello mine;
    uint8_t enc[SEAL_HELLO_MAX], theirs[SEAL_HELLO_MAX], t[SEAL_HASH_BYTES];
    uint8_t mac[SEAL_MAC_BYTES];
    size_t len;
    uint32_t n;
    seal_hello_make(&mine, role, mesh, node);
    seal_hello_encode(&mine, enc, &len);
    if (send_frame(fd, enc, (uint32_t)len) < 0 ||
        read_frame(fd, theirs, sizeof theirs, &n) < 0)
        return -1;
    if (role == SEAL_DIALER)
        seal_transcript(enc, len, theirs, n, t);
    else
        seal_transcript(theirs, n, enc, len, t);
    seal_mac(secret, t, role, mac);
    if (send_frame(fd, mac, sizeof mac) < 0 ||
        read_frame(fd, mac, sizeof mac, &n) < 0 || n != SEAL_MAC_BYTES)
        return -1;
    if (seal_mac_verify(secret, t, (uint8_t)(1 - role), mac) < 0)
        return -1;
    seal_keys_derive(secret, t, role, keys);
    return 0;
}

/* Seal BODY and send it, flipping one ciphertext bit when TAMPER. */
static int raw_send_sealed(int fd, struct seal_keys *k, const uint8_t *body,
                           size_t n, int tamper)
{
    uint8_t *f = malloc(n + 4 + SEAL_TAG_BYTES);
    seal_frame(&k->tx, body, (uint32_t)n, f);
    if (tamper)
        f[4 + n / 2] ^= 0x20;
    int rc = send(fd, f, n + 4 + SEAL_TAG_BYTES, MSG_NOSIGNAL) ==
                     (ssize_t)(n + 4 + SEAL_TAG_BYTES)
                 ? 0
                 : -1;
    free(f);
    return rc;
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void raft_messages_flow_after_the_handshake(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    /* Queued while the connection is still being set up: goes out after. */
    assert_int_equal(send_append(&f->a, 2, "early"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_int_equal(f->b.last_from, 1);
    assert_int_equal(f->b.last_type, RAFT_MSG_APPEND);
    assert_int_equal(f->b.last_entries, 1);
    assert_string_equal((char *)f->b.last_entry_data, "early");
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);
    assert_int_equal(send_append(&f->a, 2, "second"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 2), 0);
    assert_string_equal((char *)f->b.last_entry_data, "second");

    int up = 0;
    uint64_t last = 0;
    assert_int_equal(net_peer_info(f->a.net, 2, &up, &last), 0);
    assert_int_equal(up, 1);
    assert_true(last > 0); /* B's keepalives or nothing yet: B pings A */
    assert_int_equal(net_peer_info(f->a.net, 9, &up, &last), -PM_ENOTFOUND);
    assert_int_equal(send_append(&f->a, 9, "nobody"), -PM_ENOTFOUND);
    assert_int_equal(net_peer_set(f->a.net, 1, f->b.addr), -PM_EINVAL);
    assert_int_equal(net_peer_set(f->a.net, 3, "no-port"), -PM_EINVAL);
    /* Nothing flows the other way: B never dialed A. */
    assert_int_equal(f->a.raft_count, 0);
}

struct remote_job {
    const char *addr;
    const uint8_t *secret;
    const char *op;
    int rc;
    int status;
    char body[64];
};
static void remote_call_job(void *p)
{
    struct remote_job *j = p;
    struct net_bytes arg = {(const uint8_t *)"ping-body", 9};
    struct net_request req = {77, j->op, &arg, 1, 0, 2000};
    struct net_reply *rep = NULL;
    j->rc = net_call_remote(j->addr, j->secret, &req, 3000, &rep);
    if (j->rc == 0) {
        j->status = rep->status;
        snprintf(j->body, sizeof j->body, "%.*s", (int)rep->body_len,
                 (const char *)rep->body);
        if (rep->id != 77)
            j->rc = -9999;
        net_reply_free(rep);
    }
}

static void wrong_secret_is_rejected_on_both_sides(void **state)
{
    struct fx *f = *state;
    uint8_t other[32];
    memcpy(other, f->secret, 32);
    other[0] ^= 0x80;
    assert_int_equal(start_node(f, &f->a, 1, MESH, other, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    /* A member dialing with the wrong secret: A refuses B's proof. */
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(send_append(&f->a, 2, "never"), 0);
    assert_true(log_has(f, "peer 2 at 127.0.0.1", 1));
    assert_true(log_has(f, "proof rejected", 1));
    assert_int_equal(net_peer_remove(f->a.net, 2), 0);
    /* A guest client with the wrong secret: the server refuses its proof
     * and the client reports an authentication failure. */
    int before = log_count(f, "connection from 127.0.0.1");
    struct remote_job j = {f->b.addr, other, "echo", 0, 0, ""};
    run_beside_loop(f, remote_call_job, &j);
    assert_int_equal(j.rc, -PM_EAUTH);
    assert_true(log_has(f, "connection from 127.0.0.1", before + 1));
    assert_int_equal(f->a.ups, 0);
    assert_int_equal(f->b.raft_count, 0);
    assert_int_equal(f->b.requests, 0);
    /* The secret never reaches the log. */
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, f->secret, 32);
    assert_int_equal(log_count(f, hex), 0);
}

static void foreign_mesh_is_rejected(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH + 1, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(send_append(&f->a, 2, "never"), 0);
    assert_true(log_has(f, "foreign mesh id", 2)); /* each side says so */
    spin(f, 100);
    assert_int_equal(f->a.ups, 0);
    assert_int_equal(f->b.raft_count, 0);
}

struct bad_input {
    uint16_t port;
    const uint8_t *secret;
    int closed[6];
};
static void bad_input_job(void *p)
{
    struct bad_input *j = p;
    struct seal_keys k;
    /* 0: an HTTP request instead of a hello ("GET " is a 1.2 GB length). */
    int fd = raw_connect(j->port);
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, http, sizeof http - 1, MSG_NOSIGNAL);
    j->closed[0] = closed_by_server(fd);
    close(fd);
    /* 1: a plausible length, then garbage where the hello goes. */
    fd = raw_connect(j->port);
    static const uint8_t junk[] = {0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    send(fd, junk, sizeof junk, MSG_NOSIGNAL);
    j->closed[1] = closed_by_server(fd);
    close(fd);
    /* 2: a good handshake, then a length prefix over the frame limit. */
    fd = raw_connect(j->port);
    if (raw_handshake(fd, SEAL_DIALER, j->secret, MESH, 1, &k) == 0) {
        static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff};
        send(fd, huge, 4, MSG_NOSIGNAL);
        j->closed[2] = closed_by_server(fd);
    }
    close(fd);
    /* 3: a good handshake, then a frame with one bit flipped. */
    struct wire_header h = {NET_PROTOCOL_VERSION, MESH, 1, WIRE_PING};
    uint8_t *body;
    size_t n;
    wire_encode_ping(&h, &body, &n);
    fd = raw_connect(j->port);
    if (raw_handshake(fd, SEAL_DIALER, j->secret, MESH, 1, &k) == 0) {
        raw_send_sealed(fd, &k, body, n, 0); /* a good one first */
        raw_send_sealed(fd, &k, body, n, 1);
        j->closed[3] = closed_by_server(fd);
    }
    close(fd);
    free(body);
    /* 4: a guest (mesh id 0) trying to deliver a raft message. */
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE;
    m.to = 2;
    struct wire_header gh = {NET_PROTOCOL_VERSION, 0, 0, WIRE_RAFT};
    wire_encode_raft(&gh, &m, 4096, &body, &n);
    fd = raw_connect(j->port);
    if (raw_handshake(fd, SEAL_DIALER, j->secret, 0, 0, &k) == 0) {
        raw_send_sealed(fd, &k, body, n, 0);
        j->closed[4] = closed_by_server(fd);
    }
    close(fd);
    free(body);
    /* 5: a member whose frame header claims another sender. */
    struct wire_header lie = {NET_PROTOCOL_VERSION, MESH, 3, WIRE_PING};
    wire_encode_ping(&lie, &body, &n);
    fd = raw_connect(j->port);
    if (raw_handshake(fd, SEAL_DIALER, j->secret, MESH, 1, &k) == 0) {
        raw_send_sealed(fd, &k, body, n, 0);
        j->closed[5] = closed_by_server(fd);
    }
    close(fd);
    free(body);
}

static void bad_input_closes_only_that_connection(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    /* A is connected to B before and after the abuse. */
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);

    struct bad_input j = {f->b.port, f->secret, {0}};
    run_beside_loop(f, bad_input_job, &j);
    for (int i = 0; i < 6; i++) {
        if (!j.closed[i])
            fail_msg("case %d: the server kept the connection open", i);
    }
    assert_true(log_has(f, "bad handshake frame", 1));
    assert_true(log_has(f, "hello: malformed", 1));
    assert_true(log_has(f, "over the limit", 1));
    assert_true(log_has(f, "failed authentication", 1));
    assert_true(log_has(f, "non-member", 1));
    assert_true(log_has(f, "names another sender", 1));
    assert_int_equal(f->b.raft_count, 0);

    assert_int_equal(send_append(&f->a, 2, "still fine"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_string_equal((char *)f->b.last_entry_data, "still fine");
    assert_int_equal(f->a.downs, 0);
}

/* Stop B, let A see it go and try to redial for SPIN_MS, then start a new
 * B (node 2) at the same port. */
static void restart_b(struct fx *f, uint32_t spin_ms)
{
    uint16_t port = f->b.port;
    stop_node(&f->b);
    assert_int_equal(wait_for(f, &f->a.downs, 1), 0);
    spin(f, spin_ms);
    memset(&f->b, 0, sizeof f->b);
    f->b.port = port;
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
}

static void reconnects_after_the_peer_restarts(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);
    assert_int_equal(send_append(&f->a, 2, "before"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);

    restart_b(f, 50); /* A redials and is refused a few times */
    assert_int_equal(wait_for(f, &f->a.ups, 2), 0);
    assert_int_equal(send_append(&f->a, 2, "after"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_string_equal((char *)f->b.last_entry_data, "after");
}

/* A's connection to B is down and waits out a long backoff (20-30 s);
 * when B comes back and dials A, A dials B at once instead (else a
 * returning node hears nothing from the leader for seconds). */
static void a_peer_that_dials_us_is_redialed_at_once(void **state)
{
    struct fx *f = *state;
    struct net_options slow;
    memset(&slow, 0, sizeof slow);
    slow.backoff_min_ms = 20000;
    slow.backoff_max_ms = 20000;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, &slow), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);
    restart_b(f, 100); /* A's redial is now 20 s or more away */
    assert_int_equal(net_peer_set(f->b.net, 1, f->a.addr), 0);
    /* WAIT_MS (5 s) is far below the backoff: only the redial on B's
     * dial can bring A's connection up in time. */
    assert_int_equal(wait_for(f, &f->a.ups, 2), 0);
    assert_int_equal(send_append(&f->a, 2, "back"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_string_equal((char *)f->b.last_entry_data, "back");
}

struct silent_server {
    int lfd;
    uint16_t port;
    const uint8_t *secret;
    int handshake_ok;
    int closed;
};
static void silent_server_job(void *p)
{
    struct silent_server *s = p;
    int fd = accept(s->lfd, NULL, NULL);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct seal_keys k;
    s->handshake_ok = raw_handshake(fd, SEAL_ACCEPTOR, s->secret, MESH, 2, &k) == 0;
    /* Now say nothing: the dialer must give up on us. */
    s->closed = closed_by_server(fd);
    close(fd);
}

static void a_silent_peer_is_dropped_and_redialed(void **state)
{
    struct fx *f = *state;
    struct net_options o;
    memset(&o, 0, sizeof o);
    o.keepalive_ms = 50;
    o.dead_after_ms = 300;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, &o), 0);
    struct silent_server s = {socket(AF_INET, SOCK_STREAM, 0), 0, f->secret, 0, 0};
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0}; /* never hang the suite on accept() */
    setsockopt(s.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s.lfd, 4), 0);
    getsockname(s.lfd, (struct sockaddr *)&sa, &sl);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    assert_int_equal(net_peer_set(f->a.net, 2, addr), 0);
    uint64_t t0 = net_mono_ms();
    run_beside_loop(f, silent_server_job, &s);
    uint64_t took = net_mono_ms() - t0;
    close(s.lfd);
    assert_true(s.handshake_ok);
    assert_true(s.closed);
    assert_int_equal(f->a.ups, 1);
    assert_true(log_has(f, "silent for", 1));
    assert_true(took >= 300 && took < 2500);
}

struct reply_box {
    int calls;
    int status;
    int32_t reply_status;
    uint64_t id;
    char body[64];
};
static void on_reply(void *ctx, int status, const struct net_reply *r)
{
    struct reply_box *b = ctx;
    b->calls++;
    b->status = status;
    if (r) {
        b->reply_status = r->status;
        b->id = r->id;
        snprintf(b->body, sizeof b->body, "%.*s", (int)r->body_len,
                 (const char *)r->body);
    }
}

static void requests_and_replies_between_nodes_and_guests(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);

    /* Member to member, answered at once. */
    struct net_bytes arg = {(const uint8_t *)"hello", 5};
    struct net_request req = {999, "echo", &arg, 1, NET_REQ_FORWARDED, 1000};
    struct reply_box r1 = {0};
    assert_int_equal(net_call_peer(f->a.net, 2, &req, 2000, on_reply, &r1), 0);
    assert_int_equal(r1.calls, 0); /* never from inside the call */
    assert_int_equal(wait_for(f, &r1.calls, 1), 0);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r1.reply_status, 0);
    assert_true(r1.id == 999);
    assert_string_equal(r1.body, "hello");
    assert_int_equal(f->b.last_origin.kind, NET_ORIGIN_MEMBER);
    assert_true(f->b.last_origin.node_id == 1);

    /* Answered later (as `set` is, after commit). */
    struct net_request hold = {5, "hold", NULL, 0, 0, 1000};
    struct reply_box r2 = {0};
    assert_int_equal(net_call_peer(f->a.net, 2, &hold, 2000, on_reply, &r2), 0);
    int one = 1;
    assert_int_equal(wait_for(f, &f->b.requests, 2), 0);
    assert_non_null(f->b.held);
    spin(f, 30);
    assert_int_equal(r2.calls, 0);
    struct net_reply later = {0, 0, (const uint8_t *)"{\"index\":7}", 11};
    assert_int_equal(net_reply_send(f->b.held, &later), 0);
    f->b.held = NULL;
    assert_int_equal(wait_for(f, &r2.calls, one), 0);
    assert_string_equal(r2.body, "{\"index\":7}");
    assert_true(r2.id == 5);

    /* A call nobody answers times out. */
    struct reply_box r3 = {0};
    assert_int_equal(net_call_peer(f->a.net, 2, &hold, 100, on_reply, &r3), 0);
    assert_int_equal(wait_for(f, &r3.calls, 1), 0);
    assert_int_equal(r3.status, -PM_ETIMEOUT);
    net_reply_error(f->b.held, -PM_ETIMEOUT, "late");
    f->b.held = NULL;

    /* An error reply carries its status and text. */
    struct net_request bad = {6, "nosuch", NULL, 0, 0, 1000};
    struct reply_box r4 = {0};
    assert_int_equal(net_call_peer(f->a.net, 2, &bad, 2000, on_reply, &r4), 0);
    assert_int_equal(wait_for(f, &r4.calls, 1), 0);
    assert_int_equal(r4.status, 0);
    assert_int_equal(r4.reply_status, -PM_EINVAL);
    assert_string_equal(r4.body, "unknown op");

    /* A joining node (mesh id 0) calls by address: served as a guest. */
    struct net_options go;
    memset(&go, 0, sizeof go);
    memcpy(go.secret, f->secret, 32);
    assert_int_equal(net_new(f->loop, &go, &f->g.net), 0);
    struct reply_box r5 = {0};
    assert_int_equal(net_call_addr(f->g.net, f->b.addr, &req, 2000, on_reply, &r5), 0);
    assert_int_equal(wait_for(f, &r5.calls, 1), 0);
    assert_int_equal(r5.status, 0);
    assert_string_equal(r5.body, "hello");
    assert_int_equal(f->b.last_origin.kind, NET_ORIGIN_GUEST);
    /* ... and nobody listening: not running. */
    int rc = net_call_addr(f->g.net, "127.0.0.1:1", &req, 500, on_reply, &r5);
    if (rc == 0) {
        assert_int_equal(wait_for(f, &r5.calls, 2), 0);
        assert_int_equal(r5.status, -PM_ENOTRUNNING);
    } else {
        assert_int_equal(rc, -PM_ENOTRUNNING);
    }

    /* The CLI's blocking call as a guest. */
    struct remote_job j = {f->b.addr, f->secret, "echo", 0, 0, ""};
    run_beside_loop(f, remote_call_job, &j);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.status, 0);
    assert_string_equal(j.body, "ping-body");
    assert_int_equal(f->b.last_origin.kind, NET_ORIGIN_GUEST);
}

struct control_job {
    const char *path;
    int rc;
    int missing_rc;
    char body[64];
    char missing[128];
};
static void control_call_job(void *p)
{
    struct control_job *j = p;
    struct net_bytes arg = {(const uint8_t *)"{\"state\":\"leader\"}", 18};
    struct net_request req = {3, "echo", &arg, 1, NET_REQ_JSON, 1000};
    struct net_reply *rep = NULL;
    j->rc = net_call_control(j->path, &req, 2000, &rep);
    if (j->rc == 0) {
        snprintf(j->body, sizeof j->body, "%s", (const char *)rep->body);
        net_reply_free(rep);
    }
    j->missing_rc = net_call_control(j->missing, &req, 500, &rep);
}

static void control_socket_is_owner_only_and_serves_requests(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/control.sock", f->dir);
    struct net_control *ctl = NULL;
    assert_int_equal(net_control_new(f->loop, path, 0, on_request, &f->a, &ctl), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A second listener on a live socket is refused. */
    struct net_control *twice = NULL;
    assert_int_equal(net_control_new(f->loop, path, 0, on_request, &f->a, &twice),
                     -PM_EBUSY);

    struct control_job j = {path, 0, 0, "", ""};
    snprintf(j.missing, sizeof j.missing, "%s/nobody.sock", f->dir);
    run_beside_loop(f, control_call_job, &j);
    assert_int_equal(j.rc, 0);
    assert_string_equal(j.body, "{\"state\":\"leader\"}");
    assert_int_equal(f->a.last_origin.kind, NET_ORIGIN_CONTROL);
    assert_int_equal(j.missing_rc, -PM_ENOTRUNNING);

    net_control_free(ctl);
    assert_int_equal(lstat(path, &st), -1);
    /* A stale socket file left by a crash is replaced. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    assert_int_equal(net_control_new(f->loop, path, 0, on_request, &f->a, &ctl), 0);
    net_control_free(ctl);
}

static void raft_send_queue_is_bounded(void **state)
{
    struct fx *f = *state;
    struct net_options o;
    memset(&o, 0, sizeof o);
    o.send_queue_bytes_max = 4096;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, &o), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    static char big[1500];
    memset(big, 'x', sizeof big - 1);
    assert_int_equal(send_append(&f->a, 2, big), 0);
    assert_int_equal(send_append(&f->a, 2, big), 0);
    assert_int_equal(send_append(&f->a, 2, big), -PM_EAGAIN);
    assert_int_equal(wait_for(f, &f->b.raft_count, 2), 0);
    spin(f, 50);
    assert_int_equal(f->b.raft_count, 2);
    /* Once drained, there is room again. */
    assert_int_equal(send_append(&f->a, 2, big), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 3), 0);
}

static void large_frames_pass_and_oversized_ones_are_refused(void **state)
{
    struct fx *f = *state;
    struct net_options o;
    memset(&o, 0, sizeof o);
    o.frame_bytes_max = 8u << 20;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, &o), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    uint32_t n = 6u << 20; /* a big snapshot chunk, many socket reads */
    uint8_t *chunk = malloc(n);
    randombytes_buf(chunk, n);
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT;
    m.term = 4;
    m.from = 1;
    m.to = 2;
    m.snap_index = 1000;
    m.snap_size = n;
    m.data = chunk;
    m.len = n;
    assert_int_equal(net_send_raft(f->a.net, 2, &m), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_int_equal(f->b.last_data_len, n);
    uint8_t h[32];
    crypto_generichash(h, 32, chunk, n, NULL, 0);
    assert_memory_equal(h, f->b.last_data_hash, 32);
    /* Over the sender's own limit: refused before anything is queued. */
    m.len = (8u << 20) + 1;
    uint8_t *bigger = realloc(chunk, m.len);
    assert_non_null(bigger);
    m.data = bigger;
    assert_int_equal(net_send_raft(f->a.net, 2, &m), -PM_ETOOBIG);
    free(bigger);
    /* The receiver (default 16 MiB) keeps working afterwards. */
    assert_int_equal(send_append(&f->a, 2, "small"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 2), 0);
    assert_string_equal((char *)f->b.last_entry_data, "small");
}

static void open_calls_fail_when_the_peer_or_the_net_goes_away(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);
    struct net_request hold = {8, "hold", NULL, 0, 0, 1000};
    struct reply_box r1 = {0}, r2 = {0};
    assert_int_equal(net_call_peer(f->a.net, 2, &hold, 5000, on_reply, &r1), 0);
    assert_int_equal(wait_for(f, &f->b.requests, 1), 0);
    /* Removing the peer fails its open call, but from the loop, not from
     * inside net_peer_remove. */
    assert_int_equal(net_peer_remove(f->a.net, 2), 0);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(wait_for(f, &r1.calls, 1), 0);
    assert_int_equal(r1.status, -PM_ECLOSED);
    assert_int_equal(net_peer_remove(f->a.net, 2), -PM_ENOTFOUND);
    assert_int_equal(net_call_peer(f->a.net, 2, &hold, 100, on_reply, &r2),
                     -PM_ENOTFOUND);
    /* The served call outlives the connection: its reply is dropped. */
    spin(f, 50);
    assert_non_null(f->b.held);
    assert_int_equal(net_reply_error(f->b.held, -PM_ETIMEOUT, "late"),
                     -PM_ECLOSED);
    f->b.held = NULL;
    /* net_free completes open calls inside the call. */
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 2), 0);
    assert_int_equal(net_call_peer(f->a.net, 2, &hold, 5000, on_reply, &r2), 0);
    stop_node(&f->a);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.status, -PM_ECLOSED);
    /* A's downs were not reported for closes A itself asked for. */
    assert_int_equal(f->a.downs, 0);
}

struct idle_job {
    uint16_t port;
    const char *unix_path;
    int closed[3];
    uint64_t idle_ms;
};
static int raw_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
static void idle_and_control_garbage_job(void *p)
{
    struct idle_job *j = p;
    /* Connect and say nothing: the handshake times out. */
    int fd = raw_connect(j->port);
    uint64_t t0 = net_mono_ms();
    j->closed[0] = closed_by_server(fd);
    j->idle_ms = net_mono_ms() - t0;
    close(fd);
    /* Garbage on the control socket. */
    fd = raw_unix(j->unix_path);
    static const char junk[] = "\x00\x00\x00\x05hello";
    send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
    j->closed[1] = closed_by_server(fd);
    close(fd);
    /* A well-formed reply where only requests belong. */
    struct wire_header h = {NET_PROTOCOL_VERSION, 0, 0, WIRE_REPLY};
    struct net_reply r = {1, 0, NULL, 0};
    uint8_t *body;
    size_t n;
    wire_encode_reply(&h, &r, 1024, &body, &n);
    fd = raw_unix(j->unix_path);
    send_frame(fd, body, (uint32_t)n);
    j->closed[2] = closed_by_server(fd);
    close(fd);
    free(body);
}

static void handshake_timeout_and_control_garbage_close_connections(void **state)
{
    struct fx *f = *state;
    struct net_options o;
    memset(&o, 0, sizeof o);
    o.handshake_timeout_ms = 200;
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, &o), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/control.sock", f->dir);
    struct net_control *ctl = NULL;
    assert_int_equal(net_control_new(f->loop, path, 0, on_request, &f->b, &ctl), 0);
    struct idle_job j = {f->b.port, path, {0}, 0};
    run_beside_loop(f, idle_and_control_garbage_job, &j);
    net_control_free(ctl);
    assert_true(j.closed[0]);
    assert_true(j.idle_ms >= 150 && j.idle_ms < 2000);
    assert_true(j.closed[1]);
    assert_true(j.closed[2]);
    assert_true(log_has(f, "handshake timed out", 1));
    assert_true(log_has(f, "control client: closed: bad frame body", 1));
    assert_true(log_has(f, "only requests are served here", 1));
    assert_int_equal(f->b.requests, 0);
}

static void a_joined_node_redials_with_its_new_identity(void **state)
{
    struct fx *f = *state;
    /* A starts as a joining node: no mesh id, no node id yet. */
    assert_int_equal(start_node(f, &f->a, 0, 0, f->secret, NULL), 0);
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    assert_int_equal(wait_for(f, &f->a.ups, 1), 0);
    /* As a guest its raft messages are refused (and the link dropped). */
    assert_int_equal(send_append(&f->a, 2, "as guest"), 0);
    assert_true(log_has(f, "non-member", 1));
    assert_int_equal(f->b.raft_count, 0);
    /* The join reply told it who it is now. */
    f->a.id = 1;
    net_set_identity(f->a.net, MESH, 1);
    int before = f->a.ups;
    assert_int_equal(wait_for(f, &f->a.ups, before + 1), 0);
    assert_int_equal(send_append(&f->a, 2, "as member"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_int_equal(f->b.last_from, 1);
    assert_string_equal((char *)f->b.last_entry_data, "as member");
}

/* Callbacks that free the transport they were called from. */
static struct net **free_me;
static int freed_in_callback;
static void free_on_reply(void *ctx, int status, const struct net_reply *r)
{
    (void)ctx;
    (void)status;
    (void)r;
    net_free(*free_me);
    *free_me = NULL;
    freed_in_callback++;
}
static void free_on_down(void *ctx, uint64_t id, int up)
{
    (void)ctx;
    (void)id;
    if (!up && *free_me) {
        net_free(*free_me);
        *free_me = NULL;
        freed_in_callback++;
    }
}

static void callbacks_may_free_the_transport(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->b, 2, MESH, f->secret, NULL), 0);
    /* From a reply callback of a one-shot call. */
    struct net_options go;
    memset(&go, 0, sizeof go);
    memcpy(go.secret, f->secret, 32);
    assert_int_equal(net_new(f->loop, &go, &f->g.net), 0);
    struct net_bytes arg = {(const uint8_t *)"x", 1};
    struct net_request req = {1, "echo", &arg, 1, 0, 1000};
    free_me = &f->g.net;
    assert_int_equal(net_call_addr(f->g.net, f->b.addr, &req, 2000,
                                   free_on_reply, NULL), 0);
    assert_int_equal(wait_for(f, &freed_in_callback, 1), 0);
    assert_null(f->g.net);
    spin(f, 30);
    /* From on_peer(down) when the peer goes away. */
    struct net_options o;
    memset(&o, 0, sizeof o);
    memcpy(o.secret, f->secret, 32);
    o.mesh_id = MESH;
    o.node_id = 1;
    o.on_peer = free_on_down;
    assert_int_equal(net_new(f->loop, &o, &f->a.net), 0);
    free_me = &f->a.net;
    assert_int_equal(net_peer_set(f->a.net, 2, f->b.addr), 0);
    spin(f, 100);
    stop_node(&f->b);
    assert_int_equal(wait_for(f, &freed_in_callback, 2), 0);
    assert_null(f->a.net);
    spin(f, 30);
    /* From on_peer(down) when the keepalive tick finds the peer silent. */
    o.keepalive_ms = 50;
    o.dead_after_ms = 200;
    assert_int_equal(net_new(f->loop, &o, &f->a.net), 0);
    struct silent_server srv = {socket(AF_INET, SOCK_STREAM, 0), 0, f->secret,
                                0, 0};
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(srv.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(srv.lfd, 4), 0);
    getsockname(srv.lfd, (struct sockaddr *)&sa, &sl);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    assert_int_equal(net_peer_set(f->a.net, 2, addr), 0);
    run_beside_loop(f, silent_server_job, &srv);
    close(srv.lfd);
    assert_int_equal(wait_for(f, &freed_in_callback, 3), 0);
    assert_null(f->a.net);
    spin(f, 30);
}

static void addresses_are_checked_and_ipv6_works(void **state)
{
    struct fx *f = *state;
    struct net_options o;
    memset(&o, 0, sizeof o);
    memcpy(o.secret, f->secret, 32);
    o.mesh_id = MESH;
    o.node_id = 2;
    o.on_raft = on_raft;
    o.ctx = &f->b;
    assert_int_equal(net_new(f->loop, &o, &f->b.net), 0);
    static const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", ":80",
                                "127.0.0.1:65536", "127.0.0.1:8x", "::1:80",
                                "[::1]80", "[::1]:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (net_listen(f->b.net, bad[i], NULL) != -PM_EINVAL)
            fail_msg("listen accepted \"%s\"", bad[i]);
    uint16_t port = 0;
    if (net_listen(f->b.net, "[::1]:0", &port) != 0)
        skip(); /* no IPv6 loopback on this machine */
    assert_true(port != 0);
    assert_int_equal(net_listen(f->b.net, "127.0.0.1:0", NULL), -PM_EEXIST);
    f->b.id = 2;

    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, "127.0.0.1:0"), -PM_EINVAL);
    assert_int_equal(net_peer_set(f->a.net, 2, "[::1"), -PM_EINVAL);
    char addr[32];
    snprintf(addr, sizeof addr, "[::1]:%u", port);
    assert_int_equal(net_peer_set(f->a.net, 2, addr), 0);
    assert_int_equal(send_append(&f->a, 2, "over v6"), 0);
    assert_int_equal(wait_for(f, &f->b.raft_count, 1), 0);
    assert_string_equal((char *)f->b.last_entry_data, "over v6");
}

/* A raw acceptor that reports when the first sealed frame after the
 * handshake has arrived. */
struct frame_catcher {
    int lfd;
    const uint8_t *secret;
    atomic_int got_frame;
};
static void *catcher_main(void *p)
{
    struct frame_catcher *fc = p;
    int fd = accept(fc->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct seal_keys k;
    uint8_t buf[4096];
    uint32_t n;
    if (raw_handshake(fd, SEAL_ACCEPTOR, fc->secret, MESH, 2, &k) == 0 &&
        read_frame(fd, buf, sizeof buf, &n) == 0)
        atomic_store(&fc->got_frame, 1);
    closed_by_server(fd); /* hold the connection until the test ends */
    close(fd);
    return NULL;
}

static struct fx *hook_fx;
static int flushed_in_hook = -1;
static void send_flush_and_wait_hook(void *ctx)
{
    struct frame_catcher *fc = ctx;
    net_loop_set_before_block(hook_fx->loop, NULL, NULL); /* run once */
    assert_int_equal(send_append(&hook_fx->a, 2, "before my fsync"), 0);
    net_loop_flush(hook_fx->loop);
    /* Stand-in for the leader's own log_write: the follower must already
     * have the frame while we are still inside the hook. */
    flushed_in_hook = 0;
    for (int i = 0; i < 200 && !flushed_in_hook; i++) {
        flushed_in_hook = atomic_load(&fc->got_frame);
        usleep(10 * 1000);
    }
}

static void flush_from_the_hook_writes_before_the_hook_returns(void **state)
{
    struct fx *f = *state;
    assert_int_equal(start_node(f, &f->a, 1, MESH, f->secret, NULL), 0);
    struct frame_catcher fc = {socket(AF_INET, SOCK_STREAM, 0), f->secret, 0};
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fc.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(bind(fc.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fc.lfd, 4), 0);
    getsockname(fc.lfd, (struct sockaddr *)&sa, &sl);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, catcher_main, &fc), 0);
    assert_int_equal(net_peer_set(f->a.net, 2, addr), 0);
    int ok = wait_for(f, &f->a.ups, 1);
    if (ok == 0) {
        hook_fx = f;
        net_loop_set_before_block(f->loop, send_flush_and_wait_hook, &fc);
        spin(f, 30);
    }
    stop_node(&f->a); /* the catcher sees the close and returns */
    pthread_join(t, NULL);
    close(fc.lfd);
    assert_int_equal(ok, 0);
    assert_int_equal(flushed_in_hook, 1);
}

#define CROWD 300
struct crowd {
    const char *path;
    atomic_int ok, failed;
    pthread_t t[CROWD];
};
static void *crowd_member(void *p)
{
    struct crowd *c = p;
    struct net_bytes arg = {(const uint8_t *)"hi", 2};
    struct net_request req = {1, "echo", &arg, 1, 0, 10000};
    struct net_reply *rep = NULL;
    if (net_call_control(c->path, &req, 10000, &rep) == 0 && rep->status == 0)
        atomic_fetch_add(&c->ok, 1);
    else
        atomic_fetch_add(&c->failed, 1);
    net_reply_free(rep);
    return NULL;
}
static void crowd_job(void *p)
{
    struct crowd *c = p;
    int started = 0;
    for (int i = 0; i < CROWD; i++)
        if (pthread_create(&c->t[i], NULL, crowd_member, c) == 0)
            started++;
        else
            c->t[i] = 0;
    for (int i = 0; i < CROWD; i++)
        if (c->t[i])
            pthread_join(c->t[i], NULL);
    (void)started;
}

static void hundreds_of_control_clients_at_once_all_get_replies(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/control.sock", f->dir);
    struct net_control *ctl = NULL;
    assert_int_equal(net_control_new(f->loop, path, 0, on_request, &f->a, &ctl), 0);
    static struct crowd c;
    memset(&c, 0, sizeof c);
    c.path = path;
    run_beside_loop(f, crowd_job, &c);
    net_control_free(ctl);
    assert_int_equal(atomic_load(&c.failed), 0);
    assert_int_equal(atomic_load(&c.ok), CROWD);
    assert_int_equal(f->a.requests, CROWD);
}

static int hook_runs, timer_fires, signal_fires, child_status = -1;
static void hook(void *ctx) { (void)ctx; hook_runs++; }
static void tick(void *ctx) { (*(int *)ctx)++; }
static void on_signal(void *ctx, int signum)
{
    (void)ctx;
    if (signum == SIGUSR1)
        signal_fires++;
}
static void on_child(void *ctx, pid_t pid, int status)
{
    (void)pid;
    *(int *)ctx = 1;
    child_status = status;
}

static void loop_timers_hook_signals_and_children(void **state)
{
    struct fx *f = *state;
    net_loop_set_before_block(f->loop, hook, NULL);
    struct net_timer *once, *rep;
    int once_n = 0;
    assert_int_equal(net_timer_new(f->loop, tick, &once_n, &once), 0);
    assert_int_equal(net_timer_new(f->loop, tick, &timer_fires, &rep), 0);
    net_timer_start(once, 20, 0);
    net_timer_start(rep, 10, 10);
    assert_true(net_timer_active(once));
    spin(f, 120);
    assert_int_equal(once_n, 1);
    assert_false(net_timer_active(once));
    assert_true(timer_fires >= 5);
    net_timer_stop(rep);
    int stopped_at = timer_fires;
    spin(f, 40);
    assert_int_equal(timer_fires, stopped_at);
    assert_true(hook_runs > 0);
    net_timer_free(once);
    net_timer_free(rep);

    struct net_signal *sig;
    assert_int_equal(net_signal_new(f->loop, SIGUSR1, on_signal, NULL, &sig), 0);
    raise(SIGUSR1);
    assert_int_equal(wait_for(f, &signal_fires, 1), 0);
    net_signal_free(sig);

    struct net_child *ch;
    int exited = 0;
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    assert_true(pid > 0);
    int rc = net_child_new(f->loop, pid, on_child, &exited, &ch);
    if (rc == -PM_ESTATE) { /* not the default loop: reap by hand */
        waitpid(pid, NULL, 0);
        skip();
    }
    assert_int_equal(rc, 0);
    assert_int_equal(wait_for(f, &exited, 1), 0);
    assert_true(WIFEXITED(child_status));
    assert_int_equal(WEXITSTATUS(child_status), 7);
    net_child_free(ch);
    net_loop_set_before_block(f->loop, NULL, NULL);

    uint64_t m1 = net_mono_ms(), w = net_wall_ms();
    assert_true(w > 1700000000000ull); /* after 2023 */
    spin(f, 15);
    assert_true(net_mono_ms() >= m1 + 15);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(loop_timers_hook_signals_and_children,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(raft_messages_flow_after_the_handshake,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_secret_is_rejected_on_both_sides,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_mesh_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input_closes_only_that_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(reconnects_after_the_peer_restarts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_peer_that_dials_us_is_redialed_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_silent_peer_is_dropped_and_redialed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            requests_and_replies_between_nodes_and_guests, setup, teardown),
        cmocka_unit_test_setup_teardown(
            control_socket_is_owner_only_and_serves_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(raft_send_queue_is_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            large_frames_pass_and_oversized_ones_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            open_calls_fail_when_the_peer_or_the_net_goes_away, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            handshake_timeout_and_control_garbage_close_connections, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_joined_node_redials_with_its_new_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(callbacks_may_free_the_transport,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(addresses_are_checked_and_ipv6_works,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            flush_from_the_hook_writes_before_the_hook_returns, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            hundreds_of_control_clients_at_once_all_get_replies, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
