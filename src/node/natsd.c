/* natsd.c: the nats-server supervisor (contract in natsd.h).
 *
 * One state machine (enum natsd_state) driven by three kinds of event from
 * the node's loop: the child watcher (the server exited), the main timer
 * (ready deadline, kill deadline or backoff, depending on the state) and
 * the probe timer, which moves a small non-blocking HTTP/1.0 client along
 * (src/net offers timers but no fd watchers, so the socket is polled with
 * a zero timeout on short ticks while an exchange is in flight; loopback
 * answers take about a millisecond).
 *
 * JetStream peer removals (natsd_js_remove_peer) are a queue beside that
 * machine: one attempt at a time runs in a forked child that speaks NATS
 * through nats.c's blocking API and reports through its exit status and a
 * short line on a pipe; a fourth timer spaces the retries and bounds the
 * child.
 */
#include "node/natsd.h"

#include "base/err.h"
#include "base/say.h"
#include "fsm/fsm.h"
#include "net/net.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <sodium.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN 4200
#define HOST_LEN 256
/* Probe timings. */
#define PROBE_TICK_MS 5          /* while an exchange is in flight */
#define READY_POLL_MS 25         /* between readiness attempts */
#define PROBE_TIMEOUT_MS 1000    /* one HTTP exchange */
#define PROBE_BODY_MAX (4u << 20) /* a monitoring reply we accept */
#define KILL_WAIT_MS 2000        /* after SIGKILL, in natsd_stop() */
/* Ready: nats-server accepts clients and JetStream (where configured) is
 * enabled. Plain /healthz also waits for a JetStream meta leader, which a
 * server restarted while its meta group lacks a quorum never gets; /varz
 * answers before the client listener is up. */
#define READY_PATH "/healthz?js-enabled-only=true"

/* The JetStream API request that drops a meta group peer (stock
 * nats-server 2.9: "peer" is the server name, "peer_id" its id, which wins
 * when given). */
#define JS_REMOVE_SUBJECT "$JS.API.SERVER.REMOVE"
/* A meta group peer's id: nats-server derives it from the server name
 * (see js_peer_id), 8 characters. */
#define JS_PEER_ID_LEN 8
/* The meta group peers a health round reads (the leader lists them). */
#define JS_PEERS_MAX 32
/* JSClusterServerNotMemberErr: the meta leader does not know that server
 * (removed already, or never a member). */
#define JS_ERR_NOT_MEMBER 10044
#define JS_REPORT_LEN 200 /* the child's line on its pipe */

/* One queued removal: attempted until done, then watched for
 * NATSD_JS_REMOVE_WATCH_MS in case a restart of the meta group brings the
 * peer back (js_watch). */
struct js_removal {
    char name[NATSD_NAME_LEN];
    char peer_id[JS_PEER_ID_LEN + 1];
    char user[NATSD_NAME_LEN];
    char password[NATSD_JS_PASSWORD_MAX];
    uint64_t deadline_ms;   /* a failed attempt after this gives up */
    uint64_t next_ms;       /* no attempt before this */
    uint64_t done_ms;       /* 0: being attempted; else when it was done */
    uint32_t delay_ms;      /* the next retry delay */
    uint32_t attempts;
};

enum probe_phase { PROBE_IDLE = 0, PROBE_CONNECTING, PROBE_SENDING,
                   PROBE_READING };

/* What a health round reads, in order; the later steps only when the
 * earlier ones say they mean something. */
enum probe_step { STEP_VARZ = 0, STEP_GATEWAYZ, STEP_JSZ, STEP__DONE };

struct natsd {
    struct net_loop *loop;
    struct natsd_options opt;    /* strings below point to our copies */
    char home[PATH_LEN];
    char conf_path[PATH_LEN];
    char log_path[PATH_LEN];
    char pid_path[PATH_LEN];
    char binary[PATH_LEN];       /* "" -> resolve at each spawn */
    char http_host[HOST_LEN];

    int state;                   /* enum natsd_state */
    int supervising;             /* natsd_start() called, no stop since */
    pid_t pid;
    struct net_child *child;
    struct net_timer *t_main;
    struct net_timer *t_probe;
    uint64_t spawn_ms;
    uint32_t backoff_ms;         /* next backoff delay */
    int reload_pending;          /* SIGHUP once ready */
    int restart_pending;         /* start again once the old one exited */
    uint64_t restart_at_ms;      /* READY: a config restart due then
                                  * (t_main); 0 when none waits */
    uint32_t restart_delay_ms;   /* natsd_set_restart_delay */

    /* The HTTP exchange in flight. */
    struct {
        int phase;               /* enum probe_phase */
        int fd;
        int step;                /* enum probe_step (health round) */
        int for_ready;           /* a readiness attempt */
        uint64_t deadline_ms;
        uint64_t next_ms;        /* when the next exchange starts */
        char req[512];
        size_t req_len, req_off;
        char *buf;
        size_t len, cap;
    } pr;

    struct natsd_health h;       /* the cached summary */
    uint64_t monitor_ms;         /* when h's monitoring part was read */
    struct natsd_health round;   /* the round being read */
    /* The other peers of the meta group by id, as the round read them:
     * nats-server lists them only on the meta leader. */
    char round_peers[JS_PEERS_MAX][JS_PEER_ID_LEN + 1];
    size_t n_round_peers;

    /* JetStream peer removals, in call order. */
    struct {
        struct js_removal q[NATSD_JS_REMOVE_MAX];
        size_t n;
        pid_t pid;               /* the attempt's child, 0 when none */
        struct net_child *child;
        int fd;                  /* read end of its report pipe, -1 */
        char name[NATSD_NAME_LEN]; /* whose attempt it is */
        struct net_timer *t;     /* next attempt; or the child's bound */
        uint32_t attempts, removed, failed;
    } js;
};

static void js_kick(struct natsd *d);
static void js_drop_all(struct natsd *d);

const char *natsd_state_name(int state)
{
    switch (state) {
    case NATSD_IDLE: return "idle";
    case NATSD_WAITING: return "waiting";
    case NATSD_STARTING: return "starting";
    case NATSD_READY: return "ready";
    case NATSD_STOPPING: return "stopping";
    case NATSD_BACKOFF: return "backoff";
    default: return "unknown";
    }
}

static void set_error(struct natsd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct natsd *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->h.error, sizeof d->h.error, fmt, ap);
    va_end(ap);
    pm_say(PM_WARN, "nats", "%s", d->h.error);
}

/* --- the binary ---------------------------------------------------------- */

static int executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int natsd_find_binary(char *out, size_t out_len)
{
    const char *env = getenv("PMESH_NATS_SERVER");
    if (env != NULL && env[0] != '\0') {
        if (strlen(env) >= out_len)
            return -PM_ETOOBIG;
        if (!executable(env))
            return -PM_ENOTFOUND;
        strcpy(out, env);
        return 0;
    }
    if (executable(NATSD_BINARY_DEFAULT)) {
        if (strlen(NATSD_BINARY_DEFAULT) >= out_len)
            return -PM_ETOOBIG;
        strcpy(out, NATSD_BINARY_DEFAULT);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        return -PM_ENOTFOUND;
    /* Every PATH element, bounded by the variable's length. */
    const char *p = path;
    while (*p != '\0') {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char cand[PATH_LEN];
        if (n > 0 && n + sizeof "/nats-server" <= sizeof cand) {
            memcpy(cand, p, n);
            strcpy(cand + n, "/nats-server");
            if (executable(cand)) {
                if (strlen(cand) >= out_len)
                    return -PM_ETOOBIG;
                strcpy(out, cand);
                return 0;
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return -PM_ENOTFOUND;
}

static int resolve_binary(const struct natsd *d, char *out, size_t out_len)
{
    if (d->binary[0] != '\0') {
        if (!executable(d->binary))
            return -PM_ENOTFOUND;
        if (strlen(d->binary) >= out_len)
            return -PM_ETOOBIG;
        strcpy(out, d->binary);
        return 0;
    }
    return natsd_find_binary(out, out_len);
}

/* --- the pid file and leftovers ------------------------------------------ */

static void pid_file_write(const struct natsd *d, pid_t pid)
{
    char tmp[PATH_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->pid_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char b[32];
    int n = snprintf(b, sizeof b, "%ld\n", (long)pid);
    int ok = write(fd, b, (size_t)n) == n;
    close(fd);
    if (!ok || rename(tmp, d->pid_path) != 0)
        unlink(tmp);
}

/* Is PID a nats-server running our config? Reads /proc/PID/cmdline. */
static int is_our_server(const struct natsd *d, pid_t pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/cmdline", (long)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* argv[0] names nats-server; some later argument is our conf path. */
    if (strstr(buf, "nats-server") == NULL)
        return 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
        if (strcmp(buf + i, d->conf_path) == 0)
            return 1;
    return 0;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A node killed so hard that even PR_SET_PDEATHSIG did not reach its
 * server (or a server started by hand from our nats.conf) would hold the
 * ports: kill it, but only if /proc says it is ours. */
static void kill_leftover(const struct natsd *d)
{
    FILE *f = fopen(d->pid_path, "re");
    if (f == NULL)
        return;
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got == 1 && pid > 1 && pid != (long)getpid() &&
        is_our_server(d, (pid_t)pid)) {
        pm_say(PM_WARN, "nats", "killing a leftover nats-server (pid %ld) "
               "of %s", pid, d->conf_path);
        kill((pid_t)pid, SIGKILL);
        for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0 &&
                        is_our_server(d, (pid_t)pid); i++)
            sleep_ms(10);
    }
    unlink(d->pid_path);
}

/* --- the HTTP probe ------------------------------------------------------ */

static void probe_close(struct natsd *d)
{
    if (d->pr.fd >= 0)
        close(d->pr.fd);
    d->pr.fd = -1;
    d->pr.phase = PROBE_IDLE;
    d->pr.len = 0;
}

static void probe_arm(struct natsd *d, uint64_t after_ms)
{
    net_timer_start(d->t_probe, after_ms, 0);
}

/* Start GET PATH. 0, or an error when no connection could be begun. */
static int probe_begin(struct natsd *d, const char *path)
{
    assert(d->pr.phase == PROBE_IDLE);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)d->opt.http_port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    int g = getaddrinfo(d->http_host, port, &hints, &ai);
    if (g == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        g = getaddrinfo(d->http_host, port, &hints, &ai);
    }
    if (g != 0 || ai == NULL)
        return -PM_EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return pm_from_errno(errno);
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return e == ECONNREFUSED ? -PM_ENOTRUNNING : pm_from_errno(e);
    }
    int hl = snprintf(d->pr.req, sizeof d->pr.req,
                      "GET %s HTTP/1.0\r\nHost: %s:%u\r\n"
                      "User-Agent: pmesh\r\nConnection: close\r\n\r\n",
                      path, d->http_host, (unsigned)d->opt.http_port);
    if (hl < 0 || (size_t)hl >= sizeof d->pr.req) {
        close(fd);
        return -PM_ETOOBIG;
    }
    d->pr.req_len = (size_t)hl;
    d->pr.req_off = 0;
    d->pr.fd = fd;
    d->pr.len = 0;
    d->pr.phase = PROBE_CONNECTING;
    d->pr.deadline_ms = net_mono_ms() + PROBE_TIMEOUT_MS;
    probe_arm(d, PROBE_TICK_MS);
    return 0;
}

/* Move the exchange along without blocking. Returns 1 while in flight, 0
 * when a complete reply is in d->pr.buf (NUL-terminated, d->pr.len bytes),
 * or a negative error (the exchange is over). */
static int probe_progress(struct natsd *d)
{
    if (net_mono_ms() >= d->pr.deadline_ms)
        return -PM_ETIMEOUT;
    struct pollfd pf = {.fd = d->pr.fd,
                        .events = d->pr.phase == PROBE_READING ? POLLIN
                                                               : POLLOUT};
    /* Bounded: every pass either finishes a phase or returns. */
    for (int pass = 0; pass < 64; pass++) {
        int r = poll(&pf, 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? pm_from_errno(errno) : 1;
        if (d->pr.phase == PROBE_CONNECTING) {
            int err = 0;
            socklen_t el = sizeof err;
            if (getsockopt(d->pr.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                err = errno;
            if (err != 0)
                return err == ECONNREFUSED ? -PM_ENOTRUNNING
                                           : pm_from_errno(err);
            d->pr.phase = PROBE_SENDING;
        }
        if (d->pr.phase == PROBE_SENDING) {
            ssize_t w = send(d->pr.fd, d->pr.req + d->pr.req_off,
                             d->pr.req_len - d->pr.req_off, MSG_NOSIGNAL);
            if (w < 0)
                return errno == EAGAIN ? 1 : pm_from_errno(errno);
            d->pr.req_off += (size_t)w;
            if (d->pr.req_off < d->pr.req_len)
                return 1;
            d->pr.phase = PROBE_READING;
            pf.events = POLLIN;
            continue;
        }
        /* READING until the server closes (HTTP/1.0, Connection: close). */
        if (d->pr.cap - d->pr.len < 4096 + 1) {
            if (d->pr.cap >= PROBE_BODY_MAX)
                return -PM_ETOOBIG;
            size_t nc = d->pr.cap ? d->pr.cap * 2 : 16384;
            char *nb = realloc(d->pr.buf, nc);
            if (nb == NULL)
                return -PM_ENOMEM;
            d->pr.buf = nb;
            d->pr.cap = nc;
        }
        ssize_t rd = recv(d->pr.fd, d->pr.buf + d->pr.len,
                          d->pr.cap - d->pr.len - 1, 0);
        if (rd < 0)
            return errno == EAGAIN ? 1 : pm_from_errno(errno);
        if (rd == 0) {
            d->pr.buf[d->pr.len] = '\0';
            return 0;
        }
        d->pr.len += (size_t)rd;
    }
    return 1;
}

/* The body of a "200" reply in d->pr.buf, or NULL. */
static const char *http_body(const struct natsd *d)
{
    if (d->pr.len < 12 || strncmp(d->pr.buf, "HTTP/1.", 7) != 0 ||
        strncmp(d->pr.buf + 8, " 200", 4) != 0)
        return NULL;
    const char *b = strstr(d->pr.buf, "\r\n\r\n");
    return b ? b + 4 : NULL;
}

/* --- reading the monitoring JSON ---------------------------------------- */

static void copy_str(char *dst, size_t len, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && v->valuestring != NULL)
        snprintf(dst, len, "%s", v->valuestring);
}

static uint32_t get_u32(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return 0;
    return v->valuedouble > UINT32_MAX ? UINT32_MAX : (uint32_t)v->valuedouble;
}

static void read_meta(struct natsd *d, const cJSON *meta)
{
    struct natsd_health *r = &d->round;
    if (!cJSON_IsObject(meta))
        return;
    r->js_clustered = 1;
    copy_str(r->js_meta_leader, sizeof r->js_meta_leader, meta, "leader");
    r->js_cluster_size = get_u32(meta, "cluster_size");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(meta, "replicas"))
    {
        if (d->n_round_peers == JS_PEERS_MAX)
            break;
        copy_str(d->round_peers[d->n_round_peers],
                 sizeof d->round_peers[0], p, "peer");
        d->n_round_peers++;
    }
}

/* Parse one reply of the round; returns the next step. */
static int parse_step(struct natsd *d, int step, const cJSON *j)
{
    struct natsd_health *r = &d->round;
    if (step == STEP_VARZ) {
        copy_str(r->server_name, sizeof r->server_name, j, "server_name");
        uint32_t port = get_u32(j, "port");
        r->client_port = port <= UINT16_MAX ? (uint16_t)port : 0;
        r->connections = get_u32(j, "connections");
        r->routes = get_u32(j, "routes");
        r->leafnodes = get_u32(j, "leafnodes");
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "cluster");
        copy_str(r->cluster, sizeof r->cluster, cl, "name");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "jetstream");
        const cJSON *jc = cJSON_GetObjectItemCaseSensitive(js, "config");
        r->jetstream = cJSON_IsObject(jc);
        read_meta(d, cJSON_GetObjectItemCaseSensitive(js, "meta"));
        const cJSON *gw = cJSON_GetObjectItemCaseSensitive(j, "gateway");
        const cJSON *gn = cJSON_GetObjectItemCaseSensitive(gw, "name");
        if (cJSON_IsString(gn) && gn->valuestring && gn->valuestring[0])
            return STEP_GATEWAYZ;
        return r->jetstream && !r->js_clustered ? STEP_JSZ : STEP__DONE;
    }
    if (step == STEP_GATEWAYZ) {
        const char *own = "";
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "name");
        if (cJSON_IsString(nm) && nm->valuestring)
            own = nm->valuestring;
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(j,
                                                          "outbound_gateways");
        const cJSON *g;
        cJSON_ArrayForEach(g, out)
        {
            if (g->string == NULL || strcmp(g->string, own) == 0)
                continue;
            if (r->gateways_out < NATSD_GATEWAYS_MAX)
                snprintf(r->gateways[r->gateways_out],
                         sizeof r->gateways[0], "%s", g->string);
            r->gateways_out++;
        }
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(j,
                                                         "inbound_gateways");
        cJSON_ArrayForEach(g, in)
        {
            if (g->string != NULL && strcmp(g->string, own) != 0)
                r->gateways_in++;
        }
        return r->jetstream && !r->js_clustered ? STEP_JSZ : STEP__DONE;
    }
    /* STEP_JSZ */
    read_meta(d, cJSON_GetObjectItemCaseSensitive(j, "meta_cluster"));
    return STEP__DONE;
}

static const char *step_path(int step)
{
    switch (step) {
    case STEP_VARZ: return "/varz";
    case STEP_GATEWAYZ: return "/gatewayz";
    default: return "/jsz";
    }
}

/* --- the state machine ---------------------------------------------------- */

static void spawn(struct natsd *d);
static void js_kick(struct natsd *d);
static void js_watch(struct natsd *d);

static void enter_backoff(struct natsd *d)
{
    d->state = NATSD_BACKOFF;
    probe_close(d);
    net_timer_stop(d->t_probe);
    uint32_t delay = d->backoff_ms;
    d->backoff_ms = delay * 2 > d->opt.backoff_max_ms ? d->opt.backoff_max_ms
                                                      : delay * 2;
    pm_say(PM_INFO, "nats", "starting nats-server again in %u ms", delay);
    net_timer_start(d->t_main, delay, 0);
}

static void on_ready(struct natsd *d)
{
    d->state = NATSD_READY;
    d->h.error[0] = '\0';
    net_timer_stop(d->t_main);
    pm_say(PM_INFO, "nats", "nats-server ready (pid %ld) after %" PRIu64
           " ms", (long)d->pid, net_mono_ms() - d->spawn_ms);
    if (d->reload_pending) {
        /* A change arrived while it was starting: it may have read the
         * file before the change. */
        d->reload_pending = 0;
        if (kill(d->pid, SIGHUP) == 0) {
            d->h.reloads++;
            pm_say(PM_INFO, "nats", "reloaded nats-server (pid %ld)",
                   (long)d->pid);
        }
    }
}

static void probe_done(struct natsd *d, int rc)
{
    int for_ready = d->pr.for_ready;
    int step = d->pr.step;
    const char *body = rc == 0 ? http_body(d) : NULL;
    uint64_t now = net_mono_ms();
    if (for_ready) {
        if (body != NULL && d->state == NATSD_STARTING) {
            probe_close(d);
            on_ready(d);
            d->pr.step = STEP_VARZ;
            d->pr.next_ms = now; /* read the health at once */
        } else {
            probe_close(d);
            d->pr.next_ms = now + READY_POLL_MS;
        }
        return;
    }
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    probe_close(d);
    if (j == NULL) {
        /* The round is lost; the next one starts on schedule. */
        d->pr.step = STEP_VARZ;
        d->pr.next_ms = now + d->opt.health_every_ms;
        return;
    }
    int next = parse_step(d, step, j);
    cJSON_Delete(j);
    if (next == STEP__DONE) {
        /* Publish the round: keep the supervisor's own fields. */
        struct natsd_health *h = &d->h, *r = &d->round;
        h->have_monitor = 1;
        memcpy(h->server_name, r->server_name, sizeof h->server_name);
        memcpy(h->cluster, r->cluster, sizeof h->cluster);
        h->connections = r->connections;
        h->routes = r->routes;
        h->leafnodes = r->leafnodes;
        h->gateways_out = r->gateways_out;
        h->gateways_in = r->gateways_in;
        memcpy(h->gateways, r->gateways, sizeof h->gateways);
        h->jetstream = r->jetstream;
        h->js_clustered = r->js_clustered;
        memcpy(h->js_meta_leader, r->js_meta_leader,
               sizeof h->js_meta_leader);
        h->js_cluster_size = r->js_cluster_size;
        h->client_port = r->client_port;
        d->monitor_ms = now;
        d->pr.step = STEP_VARZ;
        d->pr.next_ms = now + d->opt.health_every_ms;
        js_watch(d);
        /* The client port is known now: a queued removal can go. */
        if (d->js.n > 0 && d->js.pid == 0)
            js_kick(d);
    } else {
        d->pr.step = next;
        d->pr.next_ms = now;
    }
}

static void probe_cb(void *ctx)
{
    struct natsd *d = ctx;
    if (d->state != NATSD_STARTING && d->state != NATSD_READY) {
        probe_close(d);
        return;
    }
    if (d->pr.phase != PROBE_IDLE) {
        int rc = probe_progress(d);
        if (rc == 1) {
            probe_arm(d, PROBE_TICK_MS);
            return;
        }
        probe_done(d, rc);
        if (d->state != NATSD_STARTING && d->state != NATSD_READY)
            return;
    }
    uint64_t now = net_mono_ms();
    if (now < d->pr.next_ms) {
        probe_arm(d, d->pr.next_ms - now);
        return;
    }
    d->pr.for_ready = d->state == NATSD_STARTING;
    if (d->pr.for_ready)
        d->pr.step = STEP_VARZ;
    else if (d->pr.step == STEP_VARZ) {
        memset(&d->round, 0, sizeof d->round);
        d->n_round_peers = 0;
    }
    int rc = probe_begin(d, d->pr.for_ready ? READY_PATH
                                            : step_path(d->pr.step));
    if (rc != 0) {
        /* Refused (not listening yet) or unusable address: try later. */
        d->pr.step = STEP_VARZ;
        d->pr.next_ms = now + (d->pr.for_ready ? READY_POLL_MS
                                               : d->opt.health_every_ms);
        probe_arm(d, d->pr.next_ms - now);
    }
}

static void child_cb(void *ctx, pid_t pid, int status)
{
    struct natsd *d = ctx;
    net_child_free(d->child);
    d->child = NULL;
    if (pid != d->pid)
        return;
    uint64_t ran_ms = net_mono_ms() - d->spawn_ms;
    d->pid = 0;
    d->h.last_exit = status;
    d->h.have_monitor = 0;
    probe_close(d);
    net_timer_stop(d->t_main);
    net_timer_stop(d->t_probe);
    unlink(d->pid_path);
    if (d->state == NATSD_STOPPING && d->restart_pending) {
        d->restart_pending = 0;
        pm_say(PM_INFO, "nats", "nats-server (pid %ld) stopped for the "
               "restart", (long)pid);
        spawn(d);
        return;
    }
    if (WIFEXITED(status))
        set_error(d, "nats-server (pid %ld) exited with status %d after "
                  "%" PRIu64 " ms (see %s)", (long)pid, WEXITSTATUS(status),
                  ran_ms, d->log_path);
    else if (WIFSIGNALED(status))
        set_error(d, "nats-server (pid %ld) was killed by signal %d after "
                  "%" PRIu64 " ms", (long)pid, WTERMSIG(status), ran_ms);
    d->h.crashes++;
    if (ran_ms >= NATSD_STABLE_MS)
        d->backoff_ms = d->opt.backoff_min_ms;
    if (d->supervising)
        enter_backoff(d);
    else
        d->state = NATSD_IDLE;
}

/* Start one nats-server. Leaves the state STARTING, WAITING (no config
 * yet) or BACKOFF (it could not be started). */
static void spawn(struct natsd *d)
{
    assert(d->pid == 0);
    d->restart_pending = 0;
    d->restart_at_ms = 0;
    d->reload_pending = 0;
    if (access(d->conf_path, R_OK) != 0) {
        d->state = NATSD_WAITING;
        pm_say(PM_INFO, "nats", "no %s yet: nats-server starts once it is "
               "written", d->conf_path);
        return;
    }
    char bin[PATH_LEN];
    if (resolve_binary(d, bin, sizeof bin) != 0) {
        set_error(d, "nats-server not found (%s, or on PATH; set "
                  "PMESH_NATS_SERVER, install nats-server, or start with "
                  "--no-nats)", d->binary[0] ? d->binary
                                             : NATSD_BINARY_DEFAULT);
        d->backoff_ms = d->opt.backoff_max_ms;
        enter_backoff(d);
        return;
    }
    struct stat st;
    if (stat(d->log_path, &st) == 0 && st.st_size > NATSD_LOG_ROTATE_BYTES) {
        char old[PATH_LEN + 4];
        snprintf(old, sizeof old, "%s.1", d->log_path);
        rename(d->log_path, old);
    }
    int logfd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                     0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        set_error(d, "cannot open %s: %s", d->log_path, strerror(errno));
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        enter_backoff(d);
        return;
    }
    char mark[PATH_LEN + 128];
    int ml = snprintf(mark, sizeof mark,
                      "=== pmesh: starting %s -c %s (wall %" PRIu64 " ms)\n",
                      bin, d->conf_path, net_wall_ms());
    if (ml > 0 && write(logfd, mark, (size_t)ml) < 0)
        pm_say(PM_DEBUG, "nats", "cannot write to %s", d->log_path);
    char *const argv[] = {"nats-server", "-c", d->conf_path, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126); /* the node died before the line above */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* libev blocks some */
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                signal(s, SIG_DFL); /* SIG_IGN survives exec */
        /* nats-server creates its JetStream store (HOME/nats/...) with
         * its own default modes (0750 directories): owner-only whatever
         * the user's umask, like everything else in the home. */
        umask(077);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        if (close_range(3, ~0u, 0) != 0)
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
        execv(bin, argv);
        static const char msg[] = "pmesh: exec of nats-server failed\n";
        if (write(2, msg, sizeof msg - 1) < 0)
            _exit(127);
        _exit(127);
    }
    int fork_errno = errno;
    close(logfd);
    close(nullfd);
    if (pid < 0) {
        set_error(d, "cannot start nats-server: fork: %s",
                  strerror(fork_errno));
        enter_backoff(d);
        return;
    }
    d->pid = pid;
    d->spawn_ms = net_mono_ms();
    d->h.starts++;
    int rc = net_child_new(d->loop, pid, child_cb, d, &d->child);
    if (rc != 0) {
        /* Cannot watch it: do not leave it running unsupervised. */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        d->pid = 0;
        set_error(d, "cannot watch nats-server: %s", pm_strerror(rc));
        enter_backoff(d);
        return;
    }
    pid_file_write(d, pid);
    pm_say(PM_INFO, "nats", "started %s -c %s (pid %ld)", bin, d->conf_path,
           (long)pid);
    d->state = NATSD_STARTING;
    d->h.have_monitor = 0;
    net_timer_start(d->t_main, d->opt.ready_timeout_ms, 0);
    d->pr.step = STEP_VARZ;
    d->pr.next_ms = net_mono_ms() + READY_POLL_MS;
    probe_arm(d, READY_POLL_MS);
}

/* Ask the running server to stop; child_cb finishes the job. */
static void stop_async(struct natsd *d)
{
    assert(d->pid > 0);
    probe_close(d);
    net_timer_stop(d->t_probe);
    d->state = NATSD_STOPPING;
    d->h.have_monitor = 0;
    kill(d->pid, SIGTERM);
    net_timer_start(d->t_main, d->opt.stop_timeout_ms, 0);
}

/* Stop the running server to start it again with the new file. */
static void restart_now(struct natsd *d)
{
    pm_say(PM_INFO, "nats", "config changed: restarting nats-server (pid %ld)",
           (long)d->pid);
    d->h.restarts++;
    d->restart_at_ms = 0;
    d->restart_pending = 1;
    stop_async(d);
}

static void main_cb(void *ctx)
{
    struct natsd *d = ctx;
    switch (d->state) {
    case NATSD_READY:
        if (d->restart_at_ms != 0)
            restart_now(d);
        break;
    case NATSD_STARTING:
        set_error(d, "nats-server (pid %ld) not ready after %u ms on "
                  "http://%s:%u; killing it", (long)d->pid,
                  d->opt.ready_timeout_ms, d->http_host,
                  (unsigned)d->opt.http_port);
        /* child_cb counts it as a crash and backs off. */
        kill(d->pid, SIGKILL);
        break;
    case NATSD_STOPPING:
        pm_say(PM_WARN, "nats", "nats-server (pid %ld) still running %u ms "
               "after SIGTERM: SIGKILL", (long)d->pid,
               d->opt.stop_timeout_ms);
        kill(d->pid, SIGKILL);
        break;
    case NATSD_BACKOFF:
        if (d->supervising)
            spawn(d);
        break;
    default:
        break;
    }
}

/* --- JetStream peer removal ------------------------------------------------ */

/* The meta leader's answer (JSON) in words; returns 0 when the removal is
 * done (removed now, or not a member), -1 otherwise. */
static int js_answer(const char *data, char *why, size_t why_len)
{
    cJSON *j = cJSON_Parse(data);
    if (j == NULL) {
        snprintf(why, why_len, "unreadable answer from the meta leader");
        return -1;
    }
    int rc = -1;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "success");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "err_code");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(err, "description");
    const char *text = cJSON_IsString(desc) && desc->valuestring != NULL
                           ? desc->valuestring : "";
    if (cJSON_IsTrue(ok)) {
        snprintf(why, why_len, "removed");
        rc = 0;
    } else if ((cJSON_IsNumber(code) && code->valuedouble == JS_ERR_NOT_MEMBER)
               || strstr(text, "not a member") != NULL) {
        snprintf(why, why_len, "not a peer (%s)", text);
        rc = 0;
    } else if (cJSON_IsObject(err)) {
        snprintf(why, why_len, "the meta leader refused: %s (err_code %d)",
                 text, cJSON_IsNumber(code) ? code->valueint : 0);
    } else {
        snprintf(why, why_len, "unexpected answer from the meta leader");
    }
    cJSON_Delete(j);
    return rc;
}

/* The child's report: one line on FD (a pipe), at most JS_REPORT_LEN. */
static void js_report(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void js_report(int fd, const char *fmt, ...)
{
    char b[JS_REPORT_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof b ? (size_t)n : sizeof b - 1;
    if (write(fd, b, len) < 0) {
        /* The parent reads the exit status anyway. */
    }
}

/* The attempt, in the child: connect to the own server as the system user,
 * one request, _exit(0) when done, _exit(1) otherwise. No loop, no atexit
 * handlers, no stdio flush (those buffers are the parent's), no LMDB: the
 * child owns nothing of the node's but what it was handed. */
static void js_child_main(const char *url, const char *user,
                          const char *password, const char *body, int fd)
    __attribute__((noreturn));
static void js_child_main(const char *url, const char *user,
                          const char *password, const char *body, int fd)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetUserInfo(o, user, password);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, NATSD_JS_REMOVE_REQUEST_MS);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "pmesh js-remove");
    if (s != NATS_OK) {
        js_report(fd, "nats client options: %s", natsStatus_GetText(s));
        _exit(1);
    }
    s = natsConnection_Connect(&nc, o);
    if (s != NATS_OK) {
        /* nats_GetLastError has the server's reason (e.g. an
         * authorization violation), never the password, after nats.c's
         * "(file.c:line): ". */
        const char *e = nats_GetLastError(NULL);
        const char *after = e != NULL ? strstr(e, "): ") : NULL;
        js_report(fd, "cannot connect to %s: %s", url,
                  after != NULL ? after + 3
                  : e != NULL && e[0] != '\0' ? e : natsStatus_GetText(s));
        _exit(1);
    }
    s = natsConnection_RequestString(&m, nc, JS_REMOVE_SUBJECT, body,
                                     NATSD_JS_REMOVE_REQUEST_MS);
    if (s == NATS_TIMEOUT) {
        js_report(fd, "no JetStream meta leader answered within %d ms",
                  NATSD_JS_REMOVE_REQUEST_MS);
        _exit(1);
    }
    if (s == NATS_NO_RESPONDERS) {
        js_report(fd, "nothing answers %s (JetStream not clustered?)",
                  JS_REMOVE_SUBJECT);
        _exit(1);
    }
    if (s != NATS_OK) {
        js_report(fd, "request: %s", natsStatus_GetText(s));
        _exit(1);
    }
    char why[JS_REPORT_LEN];
    int rc = js_answer(natsMsg_GetData(m), why, sizeof why);
    js_report(fd, "%s", why);
    _exit(rc == 0 ? 0 : 1);
}

static size_t js_find(const struct natsd *d, const char *name)
{
    for (size_t i = 0; i < d->js.n; i++)
        if (strcmp(d->js.q[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

/* Drop entry I; its credentials are wiped. */
static void js_remove_at(struct natsd *d, size_t i)
{
    assert(i < d->js.n);
    memmove(&d->js.q[i], &d->js.q[i + 1],
            (d->js.n - i - 1) * sizeof d->js.q[0]);
    d->js.n--;
    explicit_bzero(&d->js.q[d->js.n], sizeof d->js.q[0]);
}

/* Kill the running attempt and reap it here (blocks only while the kernel
 * takes down a SIGKILLed process). */
static void js_kill_child(struct natsd *d)
{
    if (d->js.pid == 0)
        return;
    /* Our own waitpid from here on: the watcher must not report it. */
    net_child_free(d->js.child);
    d->js.child = NULL;
    kill(d->js.pid, SIGKILL);
    while (waitpid(d->js.pid, NULL, 0) < 0 && errno == EINTR) {
    }
    d->js.pid = 0;
    d->js.name[0] = '\0';
    if (d->js.fd >= 0)
        close(d->js.fd);
    d->js.fd = -1;
    net_timer_stop(d->js.t);
}

static void js_drop_all(struct natsd *d)
{
    js_kill_child(d);
    net_timer_stop(d->js.t);
    explicit_bzero(d->js.q, sizeof d->js.q);
    d->js.n = 0;
}

/* The outcome of an attempt for NAME (gone from the queue: cancelled). */
static void js_result(struct natsd *d, const char *name, int done,
                      const char *why)
{
    size_t i = js_find(d, name);
    if (i == SIZE_MAX)
        return;
    struct js_removal *e = &d->js.q[i];
    uint64_t now = net_mono_ms();
    if (done) {
        if (strcmp(why, "removed") == 0)
            pm_say(PM_INFO, "nats", "removed server %s from the JetStream "
                   "meta group", name);
        else
            pm_say(PM_INFO, "nats", "server %s: nothing to remove from the "
                   "JetStream meta group: %s", name, why);
        d->js.removed++;
        e->done_ms = now;
        return;
    }
    if (now >= e->deadline_ms) {
        /* It still counts towards the meta group's quorum. */
        set_error(d, "gave up removing server %s from the JetStream meta "
                  "group after %u attempts: %s", name, e->attempts, why);
        d->js.failed++;
        js_remove_at(d, i);
        return;
    }
    pm_say(e->attempts == 1 ? PM_INFO : PM_DEBUG, "nats", "removing server "
           "%s from the JetStream meta group: %s; retrying in %u ms", name,
           why, e->delay_ms);
    e->next_ms = now + e->delay_ms;
    e->delay_ms = e->delay_ms * 2 > NATSD_JS_REMOVE_RETRY_MAX_MS
                      ? NATSD_JS_REMOVE_RETRY_MAX_MS : e->delay_ms * 2;
}

static void js_child_cb(void *ctx, pid_t pid, int status)
{
    struct natsd *d = ctx;
    net_child_free(d->js.child);
    d->js.child = NULL;
    if (pid != d->js.pid)
        return;
    d->js.pid = 0;
    net_timer_stop(d->js.t);
    char why[JS_REPORT_LEN] = "";
    if (d->js.fd >= 0) {
        /* The child has exited: what it wrote (one short write) waits in
         * the pipe. */
        ssize_t n = read(d->js.fd, why, sizeof why - 1);
        why[n > 0 ? n : 0] = '\0';
        close(d->js.fd);
        d->js.fd = -1;
    }
    int done = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (why[0] == '\0' || (!done && WIFSIGNALED(status))) {
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "the attempt was killed by signal %d "
                     "(no answer within %u ms)", WTERMSIG(status),
                     NATSD_JS_REMOVE_CHILD_MAX_MS);
        else
            snprintf(why, sizeof why, "the attempt exited with status %d",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    char name[NATSD_NAME_LEN];
    memcpy(name, d->js.name, sizeof name);
    d->js.name[0] = '\0';
    js_result(d, name, done, why);
    js_kick(d);
}

/* Start an attempt for E in a child. Returns 0 when one runs; otherwise
 * the failure is recorded (js_result) and -1 returned. */
static int js_attempt(struct natsd *d, struct js_removal *e)
{
    char url[HOST_LEN + 32], body[NATSD_NAME_LEN + JS_PEER_ID_LEN + 32];
    int v6 = strchr(d->http_host, ':') != NULL;
    snprintf(url, sizeof url, "nats://%s%s%s:%u", v6 ? "[" : "", d->http_host,
             v6 ? "]" : "", (unsigned)d->h.client_port);
    /* The name holds no '"', '\\' or control characters (checked). The
     * id finds the peer even where the meta leader never learnt the name
     * of a server that is gone (a leader restarted since it left). */
    snprintf(body, sizeof body, "{\"peer\":\"%s\",\"peer_id\":\"%s\"}",
             e->name, e->peer_id);
    e->attempts++;
    char name[NATSD_NAME_LEN];
    memcpy(name, e->name, sizeof name);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        char why[96];
        snprintf(why, sizeof why, "pipe: %s", strerror(errno));
        js_result(d, name, 0, why);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1); /* the node died before the line above */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The node's handlers (libev's) write to descriptors closed
         * below: plain defaults, and no SIGPIPE from a closed socket. */
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
        /* Keep stdio and the report pipe (as fd 3), nothing else of the
         * node's: sockets, the log store, libev's descriptors. */
        if (p[1] != 3 && dup2(p[1], 3) != 3)
            _exit(1);
        if (close_range(4, ~0u, 0) != 0)
            for (int fd = 4; fd < 1024; fd++)
                close(fd);
        js_child_main(url, e->user, e->password, body, 3);
    }
    int fork_errno = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        char why[96];
        snprintf(why, sizeof why, "fork: %s", strerror(fork_errno));
        js_result(d, name, 0, why);
        return -1;
    }
    int rc = net_child_new(d->loop, pid, js_child_cb, d, &d->js.child);
    if (rc != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(p[0]);
        char why[96];
        snprintf(why, sizeof why, "cannot watch the attempt: %s",
                 pm_strerror(rc));
        js_result(d, name, 0, why);
        return -1;
    }
    d->js.pid = pid;
    d->js.fd = p[0];
    d->js.attempts++;
    memcpy(d->js.name, name, sizeof d->js.name);
    pm_say(PM_DEBUG, "nats", "removing server %s from the JetStream meta "
           "group through %s (attempt %u, pid %ld)", name, url, e->attempts,
           (long)pid);
    net_timer_start(d->js.t, NATSD_JS_REMOVE_CHILD_MAX_MS, 0);
    return 0;
}

/* Start the next due attempt, or arm the timer for it. Attempts need the
 * own server READY with its client port read from /varz; the health round
 * that reads it kicks again. Watched entries are not attempted. */
static void js_kick(struct natsd *d)
{
    if (d->js.pid != 0)
        return;
    net_timer_stop(d->js.t);
    /* Each pass either starts an attempt, waits, or moves one entry's
     * next attempt into the future (or drops it): bounded by the queue. */
    for (size_t pass = 0; pass <= NATSD_JS_REMOVE_MAX; pass++) {
        if (d->state != NATSD_READY || !d->h.have_monitor ||
            d->h.client_port == 0)
            return;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < d->js.n; i++)
            if (d->js.q[i].done_ms == 0 &&
                (best == SIZE_MAX ||
                 d->js.q[i].next_ms < d->js.q[best].next_ms))
                best = i;
        if (best == SIZE_MAX)
            return;
        uint64_t now = net_mono_ms();
        if (d->js.q[best].next_ms > now) {
            net_timer_start(d->js.t, d->js.q[best].next_ms - now, 0);
            return;
        }
        if (js_attempt(d, &d->js.q[best]) == 0)
            return;
    }
}

/* Set E to be attempted from now on, with a new deadline. */
static void js_start_over(struct natsd *d, struct js_removal *e, uint64_t now)
{
    e->deadline_ms = now + d->opt.js_remove_timeout_ms;
    e->next_ms = now;
    e->done_ms = 0;
    e->delay_ms = NATSD_JS_REMOVE_RETRY_MIN_MS;
}

/* After a health round: drop the watched entries whose time is up, and
 * attempt again those whose peer the own server, as the meta leader, still
 * lists. nats-server answers a removal once the leader has proposed it, not
 * once it is committed; when the group's servers restart before that (the
 * same membership change that made the removal often changes their
 * gateway blocks, which restarts them), the removal can be lost and the
 * dead peer counted again for the quorum. Only the leader lists its peers,
 * so every voter watches: whichever leads acts. */
static void js_watch(struct natsd *d)
{
    uint64_t now = net_mono_ms();
    int leader = natsd_js_leading(d);
    for (size_t i = d->js.n; i-- > 0;) {
        struct js_removal *e = &d->js.q[i];
        if (e->done_ms == 0)
            continue;
        if (now - e->done_ms >= NATSD_JS_REMOVE_WATCH_MS) {
            js_remove_at(d, i);
            continue;
        }
        /* Listed right after the answer: the proposal is not applied yet. */
        if (!leader || now - e->done_ms < NATSD_JS_REMOVE_SETTLE_MS)
            continue;
        for (size_t k = 0; k < d->n_round_peers; k++) {
            if (strcmp(d->round_peers[k], e->peer_id) != 0)
                continue;
            pm_say(PM_INFO, "nats", "server %s is in the JetStream meta "
                   "group again (its removal was lost): removing it again",
                   e->name);
            js_start_over(d, e, now);
            break;
        }
    }
}

static void js_timer_cb(void *ctx)
{
    struct natsd *d = ctx;
    if (d->js.pid != 0) {
        /* The bound of an attempt: js_child_cb sees the SIGKILL. */
        pm_say(PM_DEBUG, "nats", "JetStream peer removal (pid %ld) still "
               "running after %u ms: SIGKILL", (long)d->js.pid,
               NATSD_JS_REMOVE_CHILD_MAX_MS);
        kill(d->js.pid, SIGKILL);
        return;
    }
    js_kick(d);
}

/* The id nats-server gives the meta group peer of server NAME: each of
 * the first JS_PEER_ID_LEN bytes of SHA-256(NAME), modulo 62, as a digit
 * or letter (0-9, A-Z, a-z). The leader's /jsz lists its peers by it. */
static void js_peer_id(const char *name, char out[JS_PEER_ID_LEN + 1])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz";
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)name, strlen(name));
    for (size_t i = 0; i < JS_PEER_ID_LEN; i++)
        out[i] = digits[h[i] % 62];
    out[JS_PEER_ID_LEN] = '\0';
}

/* A name as it can go into the request's JSON string unescaped. */
static int js_name_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int natsd_js_remove_peer(struct natsd *d, const char *server_name,
                         const char *sys_user, const char *sys_password)
{
    if (d == NULL || server_name == NULL || sys_user == NULL ||
        sys_password == NULL || server_name[0] == '\0' ||
        sys_user[0] == '\0' || sys_password[0] == '\0')
        return -PM_EINVAL;
    if (strlen(server_name) >= NATSD_NAME_LEN ||
        strlen(sys_user) >= NATSD_NAME_LEN ||
        strlen(sys_password) >= NATSD_JS_PASSWORD_MAX)
        return -PM_ETOOBIG;
    if (!js_name_ok(server_name))
        return -PM_EINVAL;
    size_t i = js_find(d, server_name);
    if (i == SIZE_MAX && d->js.n == NATSD_JS_REMOVE_MAX) {
        /* Full: the watched entry done first makes room. */
        for (size_t k = 0; k < d->js.n; k++)
            if (d->js.q[k].done_ms != 0 &&
                (i == SIZE_MAX || d->js.q[k].done_ms < d->js.q[i].done_ms))
                i = k;
        if (i == SIZE_MAX)
            return -PM_EBUSY;
    }
    if (i == SIZE_MAX)
        i = d->js.n++;
    /* New, or started over: new credentials, deadline and delays. */
    struct js_removal *e = &d->js.q[i];
    explicit_bzero(e, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", server_name);
    js_peer_id(e->name, e->peer_id);
    snprintf(e->user, sizeof e->user, "%s", sys_user);
    snprintf(e->password, sizeof e->password, "%s", sys_password);
    js_start_over(d, e, net_mono_ms());
    pm_say(PM_DEBUG, "nats", "queued: remove server %s from the JetStream "
           "meta group", server_name);
    js_kick(d);
    return 0;
}

int natsd_js_remove_cancel(struct natsd *d, const char *server_name)
{
    if (d == NULL || server_name == NULL)
        return -PM_EINVAL;
    size_t i = js_find(d, server_name);
    if (i == SIZE_MAX)
        return -PM_ENOTFOUND;
    if (d->js.pid != 0 && strcmp(d->js.name, server_name) == 0)
        js_kill_child(d);
    js_remove_at(d, i);
    pm_say(PM_INFO, "nats", "cancelled: remove server %s from the JetStream "
           "meta group", server_name);
    js_kick(d);
    return 0;
}

/* --- the public calls ------------------------------------------------------ */

int natsd_new(struct net_loop *loop, const struct natsd_options *o,
              struct natsd **out)
{
    if (loop == NULL || o == NULL || o->home == NULL || o->home[0] == '\0' ||
        o->http_port == 0 || out == NULL)
        return -PM_EINVAL;
    struct natsd *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -PM_ENOMEM;
    d->loop = loop;
    d->pr.fd = -1;
    d->js.fd = -1;
    d->h.last_exit = -1;
    d->opt = *o;
    const char *host = o->http_host ? o->http_host : "127.0.0.1";
    if (strlen(o->home) + sizeof "/nats.log.tmp" > PATH_LEN ||
        strlen(host) >= sizeof d->http_host ||
        (o->binary != NULL && strlen(o->binary) >= sizeof d->binary)) {
        free(d);
        return -PM_ETOOBIG;
    }
    snprintf(d->home, sizeof d->home, "%s", o->home);
    snprintf(d->conf_path, sizeof d->conf_path, "%s/nats.conf", o->home);
    snprintf(d->log_path, sizeof d->log_path, "%s/nats.log", o->home);
    snprintf(d->pid_path, sizeof d->pid_path, "%s/nats.pid", o->home);
    snprintf(d->http_host, sizeof d->http_host, "%s", host);
    if (o->binary != NULL)
        snprintf(d->binary, sizeof d->binary, "%s", o->binary);
    d->opt.home = d->home;
    d->opt.binary = d->binary[0] ? d->binary : NULL;
    d->opt.http_host = d->http_host;
    if (d->opt.ready_timeout_ms == 0)
        d->opt.ready_timeout_ms = NATSD_READY_TIMEOUT_DEFAULT_MS;
    if (d->opt.stop_timeout_ms == 0)
        d->opt.stop_timeout_ms = NATSD_STOP_TIMEOUT_DEFAULT_MS;
    if (d->opt.backoff_min_ms == 0)
        d->opt.backoff_min_ms = NATSD_BACKOFF_MIN_DEFAULT_MS;
    if (d->opt.backoff_max_ms == 0)
        d->opt.backoff_max_ms = NATSD_BACKOFF_MAX_DEFAULT_MS;
    if (d->opt.backoff_max_ms < d->opt.backoff_min_ms)
        d->opt.backoff_max_ms = d->opt.backoff_min_ms;
    if (d->opt.health_every_ms == 0)
        d->opt.health_every_ms = NATSD_HEALTH_EVERY_DEFAULT_MS;
    if (d->opt.js_remove_timeout_ms == 0)
        d->opt.js_remove_timeout_ms = NATSD_JS_REMOVE_TIMEOUT_DEFAULT_MS;
    d->backoff_ms = d->opt.backoff_min_ms;
    int rc = net_timer_new(loop, main_cb, d, &d->t_main);
    if (rc == 0)
        rc = net_timer_new(loop, probe_cb, d, &d->t_probe);
    if (rc == 0)
        rc = net_timer_new(loop, js_timer_cb, d, &d->js.t);
    if (rc != 0) {
        net_timer_free(d->t_main);
        net_timer_free(d->t_probe);
        free(d);
        return rc;
    }
    kill_leftover(d);
    *out = d;
    return 0;
}

void natsd_start(struct natsd *d)
{
    if (d->supervising)
        return;
    d->supervising = 1;
    d->backoff_ms = d->opt.backoff_min_ms;
    if (d->pid == 0)
        spawn(d);
}

void natsd_config_changed(struct natsd *d, int change)
{
    if (change != FSM_NATS_RELOAD && change != FSM_NATS_RESTART)
        return;
    if (!d->supervising)
        return;
    switch (d->state) {
    case NATSD_WAITING:
        spawn(d);
        break;
    case NATSD_BACKOFF:
        /* The new config may be the cure: try it now. */
        net_timer_stop(d->t_main);
        d->backoff_ms = d->opt.backoff_min_ms;
        spawn(d);
        break;
    case NATSD_STARTING:
        if (change == FSM_NATS_RELOAD) {
            d->reload_pending = 1;
        } else {
            pm_say(PM_INFO, "nats", "config change needs a restart");
            d->h.restarts++;
            d->restart_pending = 1;
            stop_async(d);
        }
        break;
    case NATSD_READY:
        if (change == FSM_NATS_RELOAD) {
            if (kill(d->pid, SIGHUP) == 0) {
                d->h.reloads++;
                pm_say(PM_INFO, "nats", "config changed: reloaded "
                       "nats-server (pid %ld)", (long)d->pid);
            }
            /* Show the new routes soon. */
            if (d->pr.phase == PROBE_IDLE) {
                d->pr.step = STEP_VARZ;
                d->pr.next_ms = net_mono_ms() + 200;
                probe_arm(d, 200);
            }
        } else if (d->restart_delay_ms == 0) {
            restart_now(d);
        } else if (d->restart_at_ms == 0) {
            pm_say(PM_INFO, "nats", "config changed: restarting nats-server "
                   "(pid %ld) in %u ms", (long)d->pid, d->restart_delay_ms);
            d->restart_at_ms = net_mono_ms() + d->restart_delay_ms;
            net_timer_start(d->t_main, d->restart_delay_ms, 0);
        }
        break;
    case NATSD_STOPPING:
        /* A restart in progress reads the new file. */
        break;
    default:
        break;
    }
}

int natsd_js_leading(const struct natsd *d)
{
    const struct natsd_health *h = &d->h;
    return h->js_clustered && h->server_name[0] != '\0' &&
           strcmp(h->js_meta_leader, h->server_name) == 0;
}

void natsd_set_restart_delay(struct natsd *d, uint32_t delay_ms)
{
    d->restart_delay_ms = delay_ms;
}

void natsd_set_monitor(struct natsd *d, const char *host, uint16_t port)
{
    if (host != NULL && strlen(host) < sizeof d->http_host)
        snprintf(d->http_host, sizeof d->http_host, "%s", host);
    if (port != 0)
        d->opt.http_port = port;
}

void natsd_stop(struct natsd *d)
{
    d->supervising = 0;
    js_drop_all(d);
    probe_close(d);
    net_timer_stop(d->t_probe);
    net_timer_stop(d->t_main);
    if (d->pid > 0) {
        pid_t pid = d->pid;
        /* Our own waitpid from here on: the loop does not run. */
        net_child_free(d->child);
        d->child = NULL;
        if (d->state != NATSD_STOPPING)
            kill(pid, SIGTERM);
        int status = 0, done = 0;
        uint64_t t0 = net_mono_ms();
        while (!done) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid || (w < 0 && errno == ECHILD)) {
                done = 1;
                break;
            }
            uint64_t el = net_mono_ms() - t0;
            if (el >= d->opt.stop_timeout_ms + KILL_WAIT_MS)
                break;
            if (el >= d->opt.stop_timeout_ms)
                kill(pid, SIGKILL);
            sleep_ms(5);
        }
        if (!done)
            pm_say(PM_ERROR, "nats", "nats-server (pid %ld) did not exit "
                   "after SIGKILL", (long)pid);
        else
            pm_say(PM_INFO, "nats", "nats-server (pid %ld) stopped after "
                   "%" PRIu64 " ms", (long)pid, net_mono_ms() - t0);
        d->h.last_exit = status;
        d->pid = 0;
        unlink(d->pid_path);
    }
    d->state = NATSD_IDLE;
    d->restart_pending = 0;
    d->restart_at_ms = 0;
    d->reload_pending = 0;
    d->h.have_monitor = 0;
}

void natsd_free(struct natsd *d)
{
    if (d == NULL)
        return;
    natsd_stop(d);
    net_timer_free(d->t_main);
    net_timer_free(d->t_probe);
    net_timer_free(d->js.t);
    free(d->pr.buf);
    free(d);
}

void natsd_health(const struct natsd *d, struct natsd_health *out)
{
    *out = d->h;
    out->state = d->state;
    out->pid = d->pid;
    uint64_t now = net_mono_ms();
    out->up_ms = d->pid > 0 ? now - d->spawn_ms : 0;
    out->monitor_age_ms = d->h.have_monitor ? now - d->monitor_ms : 0;
    out->restart_in_ms = d->restart_at_ms == 0 ? 0
                         : d->restart_at_ms > now
                             ? (uint32_t)(d->restart_at_ms - now) : 1;
    out->js_remove_pending = 0;
    for (size_t i = 0; i < d->js.n; i++)
        out->js_remove_pending += d->js.q[i].done_ms == 0;
    out->js_remove_pid = d->js.pid;
    out->js_remove_attempts = d->js.attempts;
    out->js_removed = d->js.removed;
    out->js_remove_failed = d->js.failed;
}
