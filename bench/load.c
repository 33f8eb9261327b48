/* bench/load.c: pmesh-load, an asynchronous `set` load generator speaking
 * the control protocol (docs/control-protocol.md) to one node.
 *
 * It is the CLI's path without the process start: the same request
 * (op "set", args KEY VALUE CLIENT_ID SEQ) encoded by src/net's own codec
 * (net/wire.h; this file encodes nothing by hand), framed as on the
 * control socket (u32 big-endian length + body, unsealed), answered by the
 * node after commit and local apply. One process keeps CLIENTS requests in
 * flight over CONNS Unix-socket connections (client i uses connection
 * i % CONNS); a client sends its next request as soon as its previous one
 * is answered, as etcd's `benchmark put --clients --conns` does.
 *
 * Keys are sequential ("bench.k" + 8 digits, modulo KEY_SPACE) and values
 * are VALUE_BYTES of text, so a run matches etcd's `--sequential-keys
 * --key-space-size --val-size`. Each client has its own client id and
 * sequence numbers, so the FSM's duplicate detection sees fresh requests.
 *
 * CPU: for every --pid given, the CPU time of the process and of its
 * children (the node's forked workers: running ones from their
 * /proc/PID/stat, reaped ones from the node's cutime+cstime) is read just
 * before the first measured request and just after the last reply; the sum
 * over the pids, divided by the sets, is cpu_ms_per_k (CPU milliseconds per
 * 1,000 sets for the whole mesh).
 *
 * Output (one line, stable keys, grep-friendly):
 *   pmesh LABEL clients=64 conns=8 total=20000 rps=... p50_ms=... p99_ms=...
 *         p999_ms=... cpu_ms_per_k=... errors=0
 * Exit status: 0 when every measured request succeeded, 1 otherwise, 2 for
 * usage errors.
 *
 * usage: pmesh-load -s SOCKET [-c CLIENTS] [-n CONNS] [-t TOTAL]
 *                   [-w WARMUP] [-v VALUE_BYTES] [-k KEY_SPACE]
 *                   [-l LABEL] [-p PID]... [-T TIMEOUT_S] [-L FILE]
 *
 * -L FILE: the timeline, for finding stalls: one line per measured reply,
 * "T_MS LATENCY_MS" (T from the first measured request), after a comment
 * line with the wall-clock time of that request (to match the nodes'
 * pmesh.log lines). Kept in memory during the run, written at its end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "net/net.h"
#include "net/wire.h"

#define LOAD_CLIENTS_MAX 4096
#define LOAD_CONNS_MAX 256
#define LOAD_PIDS_MAX 16
#define LOAD_VALUE_BYTES_MAX 65536
#define LOAD_REQ_TIMEOUT_MS 10000
#define LOAD_READ_CHUNK (256u << 10)

struct slot {
    uint64_t client_id;
    uint64_t seq;
    uint64_t sent_ns;
    int measured; /* counts toward the figures (not warm-up) */
};

struct lconn {
    int fd;
    uint8_t *out;           /* queued frames not yet written */
    size_t out_len, out_off, out_cap;
    uint8_t *in;            /* received bytes not yet decoded */
    size_t in_len, in_cap;
    int want_write;
};

struct load {
    const char *socket_path;
    uint32_t clients, conns;
    uint64_t total, warmup;
    uint32_t value_bytes;
    uint64_t key_space;
    const char *label;
    pid_t pids[LOAD_PIDS_MAX];
    int n_pids;
    uint32_t timeout_s;

    struct slot *slots;
    struct lconn *lc;
    int ep;
    char *value;
    uint64_t issued;        /* requests sent (warm-up included) */
    uint64_t answered;      /* replies received */
    uint64_t errors;        /* measured replies with a nonzero status */
    uint64_t *lat_ns;       /* measured latencies */
    uint64_t *done_ns;      /* their reply times (-L), from t_start_ns */
    const char *timeline;   /* -L FILE, or NULL */
    struct timespec t_start_wall;
    uint64_t *idx;          /* the log index of each measured success */
    uint64_t n_idx;
    uint64_t n_lat;
    uint64_t t_start_ns, t_end_ns;
    uint64_t cpu_start_ticks;
    int measuring;
    char first_error[160];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU ticks charged to one /proc/PID/stat: utime+stime (fields 14, 15),
 * cutime+cstime (16, 17: its children that it has waited for) and the
 * parent's pid (4). Returns 0 if the process is gone. */
static int stat_ticks(const char *path, uint64_t *own, uint64_t *reaped,
                      long *ppid)
{
    char buf[2048];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces: skip past its ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] == '\0')
        return 0;
    p += 2; /* field 3, the state */
    unsigned long long ut = 0, st = 0, cut = 0, cst = 0;
    /* fields 3..17: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime */
    if (sscanf(p, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
               " %llu %llu", ppid, &ut, &st, &cut, &cst) != 5)
        return 0;
    *own = ut + st;
    *reaped = cut + cst;
    return 1;
}

/* The CPU ticks the mesh has used so far: each node's own, its reaped
 * children's, and those of its children still running. A node forks
 * workers (compaction, the settings.json writer) whose CPU is the mesh's
 * too; a worker counted while running at the start is counted again as
 * reaped at the end, so the difference of two readings stays exact. */
static uint64_t mesh_ticks(const struct load *l)
{
    uint64_t t = 0, own, reaped;
    long ppid;
    char path[64];
    for (int i = 0; i < l->n_pids; i++) {
        snprintf(path, sizeof path, "/proc/%ld/stat", (long)l->pids[i]);
        if (stat_ticks(path, &own, &reaped, &ppid))
            t += own + reaped;
    }
    DIR *d = opendir("/proc");
    if (d == NULL)
        return t;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        if (!stat_ticks(path, &own, &reaped, &ppid))
            continue;
        for (int i = 0; i < l->n_pids; i++)
            if (ppid == (long)l->pids[i])
                t += own + reaped;
    }
    closedir(d);
    return t;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The P-quantile (nearest rank) of the sorted V[0..N), in ms. */
static double pct_ms(const uint64_t *v, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

static int conn_queue(struct lconn *c, const uint8_t *body, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    size_t need = c->out_len + 4 + len;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL)
            return -PM_ENOMEM;
        c->out = p;
        c->out_cap = cap;
    }
    wire_put_be32(c->out + c->out_len, (uint32_t)len);
    memcpy(c->out + c->out_len + 4, body, len);
    c->out_len += 4 + len;
    return 0;
}

static int conn_flush(struct load *l, struct lconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -PM_ECLOSED;
    }
    int want = c->out_off < c->out_len;
    if (want != c->want_write) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0)};
        ev.data.ptr = c;
        if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
            return pm_from_errno(errno);
        c->want_write = want;
    }
    return 0;
}

/* Queue client I's next request on its connection. */
static int send_next(struct load *l, uint32_t i)
{
    struct slot *s = &l->slots[i];
    uint64_t k = l->issued % l->key_space;
    char key[32], cid[24], seq[24];
    int kl = snprintf(key, sizeof key, "bench.k%08" PRIu64, k);
    int cl = snprintf(cid, sizeof cid, "%" PRIu64, s->client_id);
    s->seq++;
    int ql = snprintf(seq, sizeof seq, "%" PRIu64, s->seq);
    struct net_bytes args[4] = {
        {(const uint8_t *)key, (uint32_t)kl},
        {(const uint8_t *)l->value, l->value_bytes},
        {(const uint8_t *)cid, (uint32_t)cl},
        {(const uint8_t *)seq, (uint32_t)ql},
    };
    struct net_request req = {
        .id = i, .op = "set", .args = args, .n_args = 4,
        .flags = NET_REQ_JSON, .timeout_ms = LOAD_REQ_TIMEOUT_MS,
    };
    struct wire_header h = {NET_PROTOCOL_VERSION, 0, 0, WIRE_REQUEST};
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = wire_encode_request(&h, &req, NET_FRAME_BYTES_DEFAULT, &body,
                                 &len);
    if (rc != 0)
        return rc;
    struct lconn *c = &l->lc[i % l->conns];
    rc = conn_queue(c, body, len);
    free(body);
    if (rc != 0)
        return rc;
    s->measured = l->issued >= l->warmup;
    if (s->measured && !l->measuring) {
        l->measuring = 1;
        l->cpu_start_ticks = mesh_ticks(l);
        l->t_start_ns = now_ns();
        clock_gettime(CLOCK_REALTIME, &l->t_start_wall);
    }
    s->sent_ns = now_ns();
    l->issued++;
    return 0;
}

/* N of a success reply {"index":N}; 0 if it has none. */
static uint64_t reply_index(const struct net_reply *r)
{
    static const char pre[] = "{\"index\":";
    size_t k = sizeof pre - 1;
    if (r->body == NULL || r->body_len <= k || memcmp(r->body, pre, k) != 0)
        return 0;
    uint64_t v = 0;
    for (; k < r->body_len && r->body[k] >= '0' && r->body[k] <= '9'; k++)
        v = v * 10 + (uint64_t)(r->body[k] - '0');
    return v;
}

/* Every acknowledged set is a distinct command, so it must have been
 * applied at an index of its own: a reply without one, or one index
 * acknowledged twice (a set taken for a duplicate), counts as an error. */
static uint64_t bad_indexes(struct load *l)
{
    uint64_t bad = 0;
    qsort(l->idx, l->n_idx, sizeof l->idx[0], cmp_u64);
    for (uint64_t i = 0; i < l->n_idx; i++)
        if (l->idx[i] == 0 || (i > 0 && l->idx[i] == l->idx[i - 1]))
            bad++;
    return bad;
}

static int on_reply(struct load *l, const struct net_reply *r)
{
    if (r->id >= l->clients)
        return -PM_EPROTO;
    uint32_t i = (uint32_t)r->id;
    struct slot *s = &l->slots[i];
    uint64_t t = now_ns();
    if (s->measured) {
        if (l->done_ns != NULL)
            l->done_ns[l->n_lat] = t - l->t_start_ns;
        l->lat_ns[l->n_lat++] = t - s->sent_ns;
        if (r->status != 0) {
            if (l->errors == 0)
                snprintf(l->first_error, sizeof l->first_error, "%s: %.*s",
                         pm_strerror(r->status), (int)r->body_len,
                         r->body ? (const char *)r->body : "");
            l->errors++;
        } else {
            l->idx[l->n_idx++] = reply_index(r);
        }
    }
    l->answered++;
    if (l->answered == l->warmup + l->total)
        l->t_end_ns = t;
    if (l->issued < l->warmup + l->total)
        return send_next(l, i);
    return 0;
}

static int conn_read(struct load *l, struct lconn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < LOAD_READ_CHUNK) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 2 * LOAD_READ_CHUNK;
            uint8_t *p = realloc(c->in, cap);
            if (p == NULL)
                return -PM_ENOMEM;
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r == 0)
            return -PM_ECLOSED;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -PM_ECLOSED;
        }
        c->in_len += (size_t)r;
    }
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && c->in_len - off >= 4) {
        uint32_t n = wire_get_be32(c->in + off);
        if (n == 0 || n > NET_FRAME_BYTES_DEFAULT) {
            rc = -PM_EPROTO;
            break;
        }
        if (c->in_len - off - 4 < n)
            break;
        struct wire_body b;
        rc = wire_decode(c->in + off + 4, n, &b);
        if (rc != 0)
            break;
        if (b.h.kind == WIRE_REPLY)
            rc = on_reply(l, &b.rep);
        else if (b.h.kind != WIRE_PING)
            rc = -PM_EPROTO;
        wire_body_free(&b);
        off += 4 + n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return rc;
}

static int connect_unix(const char *path, int *fd_out)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return -PM_ETOOBIG;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pm_from_errno(errno);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return (e == ENOENT || e == ECONNREFUSED) ? -PM_ENOTRUNNING
                                                  : pm_from_errno(e);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fd);
        return pm_from_errno(errno);
    }
    *fd_out = fd;
    return 0;
}

static int run(struct load *l)
{
    int rc = 0;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0)
        return pm_from_errno(errno);
    for (uint32_t i = 0; i < l->conns; i++) {
        struct lconn *c = &l->lc[i];
        if ((rc = connect_unix(l->socket_path, &c->fd)) != 0) {
            fprintf(stderr, "pmesh-load: connect %s: %s\n", l->socket_path,
                    pm_strerror(rc));
            return rc;
        }
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.ptr = c;
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            return pm_from_errno(errno);
    }
    uint64_t goal = l->warmup + l->total;
    for (uint32_t i = 0; i < l->clients && l->issued < goal; i++)
        if ((rc = send_next(l, i)) != 0)
            return rc;
    uint64_t deadline = now_ns() + (uint64_t)l->timeout_s * 1000000000u;
    while (l->answered < goal) {
        for (uint32_t i = 0; i < l->conns; i++)
            if ((rc = conn_flush(l, &l->lc[i])) != 0)
                return rc;
        struct epoll_event evs[64];
        int n = epoll_wait(l->ep, evs, 64, 1000);
        if (n < 0 && errno != EINTR)
            return pm_from_errno(errno);
        for (int k = 0; k < n; k++) {
            struct lconn *c = evs[k].data.ptr;
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                if ((rc = conn_read(l, c)) != 0)
                    return rc;
            if (evs[k].events & EPOLLOUT)
                if ((rc = conn_flush(l, c)) != 0)
                    return rc;
        }
        if (now_ns() > deadline)
            return -PM_ETIMEOUT;
    }
    return 0;
}

/* -L: the replies in the order they came (before the latencies are
 * sorted for the percentiles). */
static int write_timeline(const struct load *l)
{
    FILE *f = fopen(l->timeline, "w");
    if (f == NULL) {
        fprintf(stderr, "pmesh-load: %s: %s\n", l->timeline, strerror(errno));
        return -1;
    }
    struct tm tm;
    gmtime_r(&l->t_start_wall.tv_sec, &tm);
    fprintf(f, "# first request at %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ; "
            "T_MS LATENCY_MS per reply\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            l->t_start_wall.tv_nsec / 1000);
    for (uint64_t i = 0; i < l->n_lat; i++)
        fprintf(f, "%.3f %.3f\n", (double)l->done_ns[i] / 1e6,
                (double)l->lat_ns[i] / 1e6);
    if (fclose(f) != 0) {
        fprintf(stderr, "pmesh-load: %s: %s\n", l->timeline, strerror(errno));
        return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: pmesh-load -s SOCKET [-c CLIENTS] [-n CONNS] [-t TOTAL]\n"
            "                  [-w WARMUP] [-v VALUE_BYTES] [-k KEY_SPACE]\n"
            "                  [-l LABEL] [-p PID]... [-T TIMEOUT_S] [-L FILE]\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct load l;
    memset(&l, 0, sizeof l);
    l.clients = 1;
    l.total = 3000;
    l.warmup = (uint64_t)-1; /* default: 4 per client, set below */
    l.value_bytes = 256;
    l.key_space = 100000;
    l.label = "nodes=?";
    l.timeout_s = 600;
    int opt;
    uint64_t v;
    uint64_t conns = 0;
    while ((opt = getopt(argc, argv, "s:c:n:t:w:v:k:l:p:T:L:")) != -1) {
        int bad = 0;
        switch (opt) {
        case 's': l.socket_path = optarg; break;
        case 'c': bad = parse_u64(optarg, 1, LOAD_CLIENTS_MAX, &v); l.clients = (uint32_t)v; break;
        case 'n': bad = parse_u64(optarg, 1, LOAD_CONNS_MAX, &conns); break;
        case 't': bad = parse_u64(optarg, 1, 100000000, &l.total); break;
        case 'w': bad = parse_u64(optarg, 0, 100000000, &l.warmup); break;
        case 'v': bad = parse_u64(optarg, 1, LOAD_VALUE_BYTES_MAX, &v); l.value_bytes = (uint32_t)v; break;
        case 'k': bad = parse_u64(optarg, 1, UINT32_MAX, &l.key_space); break;
        case 'l': l.label = optarg; break;
        case 'p':
            bad = parse_u64(optarg, 1, INT32_MAX, &v) || l.n_pids >= LOAD_PIDS_MAX;
            if (!bad)
                l.pids[l.n_pids++] = (pid_t)v;
            break;
        case 'T': bad = parse_u64(optarg, 1, 86400, &v); l.timeout_s = (uint32_t)v; break;
        case 'L': l.timeline = optarg; break;
        default: usage(); return 2;
        }
        if (bad) {
            fprintf(stderr, "pmesh-load: bad value for -%c: %s\n", opt, optarg);
            return 2;
        }
    }
    if (l.socket_path == NULL || optind != argc) {
        usage();
        return 2;
    }
    /* etcd's tool: conns default to 1; we spread over a few like the etcd
     * anchor script does (1 / 4 / 8 / 16). */
    if (conns == 0)
        conns = l.clients < 4 ? 1 : l.clients < 64 ? 4 : l.clients < 256 ? 8 : 16;
    l.conns = (uint32_t)(conns < l.clients ? conns : l.clients);
    if (l.warmup == (uint64_t)-1)
        l.warmup = 4 * (uint64_t)l.clients;

    l.slots = calloc(l.clients, sizeof *l.slots);
    l.lc = calloc(l.conns, sizeof *l.lc);
    l.lat_ns = calloc(l.total, sizeof *l.lat_ns);
    l.idx = calloc(l.total, sizeof *l.idx);
    if (l.timeline != NULL)
        l.done_ns = calloc(l.total, sizeof *l.done_ns);
    l.value = malloc(l.value_bytes);
    if (!l.slots || !l.lc || !l.lat_ns || !l.idx || !l.value ||
        (l.timeline != NULL && !l.done_ns)) {
        fprintf(stderr, "pmesh-load: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < l.value_bytes; i++)
        l.value[i] = (char)('a' + i % 26);
    /* Client ids distinct per process and per client (the FSM keeps the
     * last sequence per client id, and answers a set whose id and sequence
     * it has seen with the first one's index without applying it). The
     * low 16 bits number the clients (at most LOAD_CLIENTS_MAX), never 0. */
    uint64_t base = (((uint64_t)getpid() << 32) ^ now_ns()) << 16;
    for (uint32_t i = 0; i < l.clients; i++) {
        l.slots[i].client_id = base + i + 1;
        l.lc[i % l.conns].fd = -1;
    }

    int rc = run(&l);
    uint64_t cpu_end = mesh_ticks(&l);
    for (uint32_t i = 0; i < l.conns; i++) {
        if (l.lc[i].fd >= 0)
            close(l.lc[i].fd);
        free(l.lc[i].out);
        free(l.lc[i].in);
    }
    if (l.ep > 0)
        close(l.ep);
    if (rc != 0) {
        fprintf(stderr, "pmesh-load: %s after %" PRIu64 " of %" PRIu64
                " replies\n", pm_strerror(rc), l.answered,
                l.warmup + l.total);
        return 1;
    }
    uint64_t bad = bad_indexes(&l);
    if (bad > 0) {
        if (l.errors == 0)
            snprintf(l.first_error, sizeof l.first_error,
                     "%" PRIu64 " acknowledged sets without an index of "
                     "their own (taken for duplicates?)", bad);
        l.errors += bad;
    }
    double secs = (double)(l.t_end_ns - l.t_start_ns) / 1e9;
    if (l.timeline != NULL && write_timeline(&l) != 0)
        return 1;
    qsort(l.lat_ns, l.n_lat, sizeof *l.lat_ns, cmp_u64);
    double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
    double cpu_ms = (double)(cpu_end - l.cpu_start_ticks) * tick_ms;
    printf("pmesh %s clients=%u conns=%u total=%" PRIu64 " rps=%.0f"
           " p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f cpu_ms_per_k=",
           l.label, l.clients, l.conns, l.total,
           secs > 0 ? (double)l.n_lat / secs : 0.0,
           pct_ms(l.lat_ns, l.n_lat, 0.50), pct_ms(l.lat_ns, l.n_lat, 0.99),
           pct_ms(l.lat_ns, l.n_lat, 0.999));
    if (l.n_pids > 0)
        printf("%.1f", cpu_ms * 1000.0 / (double)l.n_lat);
    else
        printf("nan");
    printf(" errors=%" PRIu64 "\n", l.errors);
    if (l.errors)
        fprintf(stderr, "pmesh-load: %" PRIu64 " errors; first: %s\n",
                l.errors, l.first_error);
    free(l.slots);
    free(l.lc);
    free(l.lat_ns);
    free(l.done_ns);
    free(l.idx);
    free(l.value);
    return l.errors ? 1 : 0;
}
