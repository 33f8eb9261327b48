/* client.c: blocking request/reply calls for the CLI, over the control
 * socket or (as a guest, after the handshake) to a server's peer port.
 * Plain poll() with one deadline for the whole call; no event loop. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "net/internal.h"

/* Wait until FD is ready for EVENTS or DEADLINE passes. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = nloop_now();
        if (now >= deadline)
            return -PM_ETIMEOUT;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return pm_from_errno(errno);
    }
}

static int connect_deadline(int fd, const struct sockaddr *sa, socklen_t len,
                            uint64_t deadline)
{
    int r;
    /* A Unix socket whose backlog is full says EAGAIN: nothing is in
     * progress then, so try again shortly until the deadline. */
    while ((r = connect(fd, sa, len)) < 0 &&
           (errno == EAGAIN || errno == EINTR)) {
        if (nloop_now() + 10 >= deadline)
            return -PM_ETIMEOUT;
        poll(NULL, 0, 10);
    }
    if (r == 0 || errno == EISCONN)
        return 0;
    if (errno != EINPROGRESS && errno != EALREADY)
        return (errno == ECONNREFUSED || errno == ENOENT) ? -PM_ENOTRUNNING
                                                          : pm_from_errno(errno);
    int rc = wait_fd(fd, POLLOUT, deadline);
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err == ECONNREFUSED || err == ENOENT)
        return -PM_ENOTRUNNING;
    return err ? pm_from_errno(err) : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        return -PM_ECLOSED;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0)
            return -PM_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLIN, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        return -PM_ECLOSED;
    }
    return 0;
}

/* Read one frame: *PREFIX gets the length bytes, *OUT (malloc'd) the
 * LO..HI bytes that follow. */
static int read_frame(int fd, uint32_t lo, uint32_t hi, uint64_t deadline,
                      uint8_t prefix[4], uint8_t **out, uint32_t *len)
{
    int rc = read_all(fd, prefix, 4, deadline);
    if (rc < 0)
        return rc;
    uint32_t n = wire_get_be32(prefix);
    if (n < lo || n > hi)
        return -PM_EPROTO;
    uint8_t *p = malloc(n);
    if (p == NULL)
        return -PM_ENOMEM;
    rc = read_all(fd, p, n, deadline);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    *len = n;
    return 0;
}

static int copy_reply(const struct net_reply *r, struct net_reply **out)
{
    struct net_reply *c = malloc(sizeof *c + r->body_len + 1);
    if (c == NULL)
        return -PM_ENOMEM;
    *c = *r;
    uint8_t *body = (uint8_t *)(c + 1);
    if (r->body_len)
        memcpy(body, r->body, r->body_len);
    body[r->body_len] = '\0'; /* convenient for printing; not counted */
    c->body = body;
    *out = c;
    return 0;
}

void net_reply_free(struct net_reply *reply) { free(reply); }

/* Encode REQ as a body (guest identity: mesh 0, node 0). */
static int encode_req(const struct net_request *req, uint8_t **body, size_t *n)
{
    struct wire_header h = {NET_PROTOCOL_VERSION, 0, 0, WIRE_REQUEST};
    return wire_encode_request(&h, req, NET_FRAME_BYTES_DEFAULT, body, n);
}

/* Accept BODY if it is the reply to ID: 1 and *OUT set; 0 for a frame to
 * skip (a keepalive); negative for anything else. */
static int take_reply(const uint8_t *body, uint32_t n, uint64_t id,
                      struct net_reply **out)
{
    struct wire_body b;
    int rc = wire_decode(body, n, &b);
    if (rc < 0)
        return rc == -PM_ENOMEM ? rc : -PM_EPROTO;
    if (b.h.kind == WIRE_PING)
        rc = 0;
    else if (b.h.kind != WIRE_REPLY || b.rep.id != id)
        rc = -PM_EPROTO;
    else
        rc = copy_reply(&b.rep, out) == 0 ? 1 : -PM_ENOMEM;
    wire_body_free(&b);
    return rc;
}

int net_call_control(const char *path, const struct net_request *req,
                     uint32_t timeout_ms, struct net_reply **out)
{
    struct sockaddr_un sa;
    if (path == NULL)
        return -PM_EINVAL;
    if (strlen(path) >= sizeof sa.sun_path)
        return -PM_ETOOBIG;
    uint64_t deadline = nloop_now() +
                        (timeout_ms ? timeout_ms : NET_CALL_TIMEOUT_DEFAULT_MS);
    uint8_t *body = NULL;
    size_t n;
    int rc = encode_req(req, &body, &n);
    if (rc < 0)
        return rc;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        free(body);
        return pm_from_errno(errno);
    }
    rc = connect_deadline(fd, (struct sockaddr *)&sa, sizeof sa, deadline);
    if (rc == 0) {
        uint8_t prefix[4];
        wire_put_be32(prefix, (uint32_t)n);
        rc = write_all(fd, prefix, 4, deadline);
        if (rc == 0)
            rc = write_all(fd, body, n, deadline);
    }
    while (rc == 0) {
        uint8_t prefix[4], *frame;
        uint32_t len;
        rc = read_frame(fd, 1, NET_FRAME_BYTES_DEFAULT, deadline, prefix,
                        &frame, &len);
        if (rc < 0)
            break;
        rc = take_reply(frame, len, req->id, out);
        free(frame);
        if (rc == 1)
            rc = 0;
        else if (rc == 0)
            continue;
        break;
    }
    free(body);
    close(fd);
    return rc;
}

int net_call_remote(const char *host_port,
                    const uint8_t secret[NET_SECRET_BYTES],
                    const struct net_request *req, uint32_t timeout_ms,
                    struct net_reply **out)
{
    if (sodium_init() < 0)
        return -PM_EIO;
    uint64_t deadline = nloop_now() +
                        (timeout_ms ? timeout_ms : NET_CALL_TIMEOUT_DEFAULT_MS);
    struct sockaddr_storage sa;
    socklen_t salen;
    int rc = naddr_resolve(host_port, 0, &sa, &salen);
    if (rc < 0)
        return rc;
    uint8_t *body = NULL, *frame = NULL;
    size_t n;
    rc = encode_req(req, &body, &n);
    if (rc < 0)
        return rc;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        free(body);
        return pm_from_errno(errno);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct seal_keys keys;
    memset(&keys, 0, sizeof keys);
    struct seal_hello mine, theirs;
    uint8_t hello[4 + SEAL_HELLO_MAX], prefix[4], t[SEAL_HASH_BYTES];
    uint8_t proof[4 + SEAL_MAC_BYTES];
    size_t hello_len;
    uint32_t len;

    rc = connect_deadline(fd, (struct sockaddr *)&sa, salen, deadline);
    if (rc < 0)
        goto out;
    /* Handshake as a guest (seal.h), then one sealed request. */
    seal_hello_make(&mine, SEAL_DIALER, 0, 0);
    seal_hello_encode(&mine, hello + 4, &hello_len);
    wire_put_be32(hello, (uint32_t)hello_len);
    if ((rc = write_all(fd, hello, 4 + hello_len, deadline)) < 0 ||
        (rc = read_frame(fd, 1, SEAL_HELLO_MAX, deadline, prefix, &frame,
                         &len)) < 0)
        goto out;
    rc = seal_hello_decode(frame, len, &theirs);
    if (rc == 0 && theirs.role != SEAL_ACCEPTOR)
        rc = -PM_EPROTO;
    if (rc < 0)
        goto out;
    seal_transcript(hello + 4, hello_len, frame, len, t);
    free(frame);
    frame = NULL;
    wire_put_be32(proof, SEAL_MAC_BYTES);
    seal_mac(secret, t, SEAL_DIALER, proof + 4);
    if ((rc = write_all(fd, proof, sizeof proof, deadline)) < 0 ||
        (rc = read_frame(fd, SEAL_MAC_BYTES, SEAL_MAC_BYTES, deadline, prefix,
                         &frame, &len)) < 0)
        goto out;
    if ((rc = seal_mac_verify(secret, t, SEAL_ACCEPTOR, frame)) < 0)
        goto out;
    free(frame);
    frame = NULL;
    seal_keys_derive(secret, t, SEAL_DIALER, &keys);

    uint8_t *sealed = malloc(n + 4 + SEAL_TAG_BYTES);
    if (sealed == NULL) {
        rc = -PM_ENOMEM;
        goto out;
    }
    seal_frame(&keys.tx, body, (uint32_t)n, sealed);
    rc = write_all(fd, sealed, n + 4 + SEAL_TAG_BYTES, deadline);
    free(sealed);
    while (rc == 0) {
        rc = read_frame(fd, SEAL_TAG_BYTES + 1,
                        NET_FRAME_BYTES_DEFAULT + SEAL_TAG_BYTES, deadline,
                        prefix, &frame, &len);
        if (rc < 0)
            break;
        rc = seal_open(&keys.rx, prefix, frame, len, frame);
        if (rc == 0)
            rc = take_reply(frame, len - SEAL_TAG_BYTES, req->id, out);
        free(frame);
        frame = NULL;
        if (rc == 1)
            rc = 0;
        else if (rc == 0)
            continue;
        break;
    }
out:
    seal_keys_wipe(&keys);
    free(frame);
    free(body);
    close(fd);
    return rc;
}
