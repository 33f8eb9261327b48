/* control.c: the control socket: a Unix socket in the node's home, mode
 * 0600, speaking request/reply bodies in plain length-prefixed frames.
 * The file permission (in a 0700 home) is the authentication. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "net/internal.h"

/* Many CLI processes may call at once (a load test runs hundreds). */
#define CONTROL_CONNS_MAX 4096

struct net_control {
    struct net_loop *loop;
    int fd;
    ev_io w;
    ev_timer pause;  /* re-arms the listener after accept fails */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct conn *conns;
    uint32_t n_conns;
    uint32_t frame_bytes_max;
    net_request_fn fn;
    void *ctx;
};

void control__conn_closed(struct net_control *ctl, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (ctl->conns == c)
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    ctl->n_conns--;
}

void control__dispatch(struct net_control *ctl, struct conn *c,
                       struct wire_body *b)
{
    if (b->h.kind == WIRE_PING)
        return;
    if (b->h.kind != WIRE_REQUEST) {
        conn_close(c, -PM_EPROTO, 0, "only requests are served here");
        return;
    }
    struct net_origin origin = {NET_ORIGIN_CONTROL, 0};
    struct net_call *call = call_new(c, &b->req, &origin);
    if (call == NULL) {
        conn_close(c, -PM_ENOMEM, 0, "out of memory");
        return;
    }
    ctl->fn(ctl->ctx, call, call_request(call), call_origin(call));
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    struct net_control *ctl = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                pm_say(PM_WARN, "net", "control accept: %s; pausing",
                       strerror(errno));
                ev_io_stop(ctl->loop->ev, &ctl->w);
                ev_timer_start(ctl->loop->ev, &ctl->pause);
            }
            return;
        }
        if (ctl->n_conns >= CONTROL_CONNS_MAX) {
            pm_say(PM_WARN, "net", "control socket: refused: %u open",
                   ctl->n_conns);
            close(fd);
            continue;
        }
        struct conn *c = conn_new(ctl->loop, CONN_CONTROL, fd, 0);
        if (c == NULL) {
            close(fd);
            continue;
        }
        snprintf(c->name, sizeof c->name, "control client");
        c->ctl = ctl;
        c->frame_bytes_max = ctl->frame_bytes_max;
        c->queue_bytes_max = UINT32_MAX;
        c->next = ctl->conns;
        if (ctl->conns)
            ctl->conns->prev = c;
        ctl->conns = c;
        ctl->n_conns++;
    }
}

static void resume_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    struct net_control *ctl = w->data;
    ev_io_start(ev, &ctl->w);
}

/* Is somebody listening on PATH right now? (Then it is not stale.) */
static int socket_alive(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int alive = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(fd);
    return alive;
}

int net_control_new(struct net_loop *loop, const char *path,
                    uint32_t frame_bytes_max, net_request_fn fn, void *ctx,
                    struct net_control **out)
{
    struct sockaddr_un sa;
    if (path == NULL || fn == NULL || path[0] == '\0')
        return -PM_EINVAL;
    if (strlen(path) >= sizeof sa.sun_path)
        return -PM_ETOOBIG;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -PM_EEXIST; /* never delete a file that is not ours */
        if (socket_alive(&sa))
            return -PM_EBUSY;
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pm_from_errno(errno);
    /* bind creates the file under the umask; narrow it for the bind, then
     * fix the mode explicitly in case the umask was not honoured. */
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
        pm_say(PM_ERROR, "net", "control socket %s: %s", path, strerror(errno));
        close(fd);
        if (rc == 0)
            unlink(path);
        return -PM_EIO;
    }
    struct net_control *ctl = calloc(1, sizeof *ctl);
    if (ctl == NULL) {
        close(fd);
        unlink(path);
        return -PM_ENOMEM;
    }
    ctl->loop = loop;
    ctl->fd = fd;
    memcpy(ctl->path, path, strlen(path) + 1);
    ctl->frame_bytes_max = frame_bytes_max ? frame_bytes_max
                                           : NET_FRAME_BYTES_DEFAULT;
    ctl->fn = fn;
    ctl->ctx = ctx;
    ev_io_init(&ctl->w, accept_cb, fd, EV_READ);
    ctl->w.data = ctl;
    ev_timer_init(&ctl->pause, resume_cb, 0.1, 0.);
    ctl->pause.data = ctl;
    ev_io_start(loop->ev, &ctl->w);
    *out = ctl;
    return 0;
}

void net_control_free(struct net_control *ctl)
{
    if (ctl == NULL)
        return;
    ev_io_stop(ctl->loop->ev, &ctl->w);
    ev_timer_stop(ctl->loop->ev, &ctl->pause);
    close(ctl->fd);
    unlink(ctl->path);
    while (ctl->conns)
        conn_close(ctl->conns, -PM_ECLOSED, 0, NULL);
    free(ctl);
}
