/* natsconf_it.c: the generated nats.conf files start REAL stock
 * nats-server processes for the canonical mesh shapes (seed; seed + 1;
 * 3 and 5 in one cluster; 3 + 3 and 1 + 1 in two clusters; 3 + 1 replica;
 * seed + 1 replica), which form as planned (checked on /routez, /gatewayz,
 * /leafz, /jsz against fsm_natsconf_describe), carry a message from every
 * member to every other (raw NATS protocol), and ack a JetStream publish
 * from every member (leaves through domain "mesh"). For seed + 1 (the
 * non-seed) and 3 (the JetStream meta leader) one server is SIGKILLed and
 * the rest keep serving NATS and JetStream; 3 + 3 is killed whole and
 * restarted at once and must form again. The "grow" scenario changes
 * the membership one member at a time and checks each classifier verdict
 * against the real server's answer to SIGHUP.
 *
 * usage: natsconf_it [--list] [SHAPE...]     (default: every shape)
 * env:   PMESH_NATS_SERVER   nats-server binary (default /usr/sbin/nats-server)
 *        PMESH_NATSCONF_PORT_BASE  first loopback port (default from the pid;
 *                            the window slides past ports in use)
 *        PMESH_KEEP=1        keep the temporary directory
 *        PMESH_IT_DEBUG=1    log every retried request and message
 *
 * Each shape gets a fresh temporary directory and its own servers; every
 * server is stopped before the next shape starts, also on failure, on
 * SIGTERM/SIGINT (the check runner's timeout), and (PR_SET_PDEATHSIG) if
 * this program dies. Everything is bounded by deadlines; nothing sleeps
 * blindly: monitoring endpoints and the NATS protocol are polled.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "fsm/natsconf.h"

#define IT_MEMBERS_MAX 8
#define IT_PORT_STRIDE 10          /* member i: base + 10 i .. + 4 */
#define IT_FORM_TIMEOUT_MS 60000   /* formation, incl. a 2x3 meta election
                                    * (JetStream election timeouts are 4-9 s;
                                    * one CI run timed out at 30 s in "grow"
                                    * step 3, cause not captured: on failure
                                    * every member now says where it stands) */
#define IT_FLOW_TIMEOUT_MS 10000   /* interest propagation + delivery */
#define IT_RESUB_AFTER_MS 4000     /* then report and subscribe again */
#define IT_JS_TIMEOUT_MS 25000     /* JetStream answers after a kill */
/* After all servers restart at once, an R3 stream waits for its own Raft
 * group to elect a leader once the meta group is back: measured 4-12 s
 * with peaks past 25 s on a loaded machine. */
#define IT_JS_RESTART_TIMEOUT_MS 60000
#define IT_HTTP_TIMEOUT_MS 2000

struct it_member_spec {
    const char *name;
    uint8_t role;
    const char *cluster;
    bool seed;
};

struct it_shape {
    const char *name;
    size_t n;
    struct it_member_spec m[IT_MEMBERS_MAX];
    int kill; /* 0: none; 1: kill the non-seed (seed + 1); 2: kill the meta
               * leader; 3: restart every server at once */
    bool grow; /* members join and leave one by one (it_grow) */
};

#define V FSM_NATSCONF_VOTER
#define R FSM_NATSCONF_REPLICA
static const struct it_shape shapes[] = {
    {"seed", 1, {{"a", V, "east", true}}, 0, false},
    {"seed+1", 2, {{"a", V, "east", true}, {"b", V, "east", false}}, 1, false},
    {"3", 3, {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false}}, 2, false},
    {"5", 5,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "east", false}, {"e", V, "east", false}},
     0, false},
    {"3+3", 6,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "west", false}, {"e", V, "west", false}, {"f", V, "west", false}},
     3, false},
    {"1+1", 2, {{"a", V, "east", true}, {"b", V, "west", false}}, 0, false},
    {"3+1r", 4,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"r", R, "east", false}},
     0, false},
    {"seed+1r", 2, {{"a", V, "east", true}, {"r", R, "east", false}}, 0, false},
    /* Not in the brief's list: a label with one server inside a
     * supercluster runs clustered JetStream through a route to itself. */
    {"3+1", 4,
     {{"a", V, "east", true}, {"b", V, "east", false}, {"c", V, "east", false},
      {"d", V, "west", false}},
     0, false},
    {"grow", 5,
     {{"a", V, "east", true}, {"r", R, "east", false}, {"b", V, "east", false},
      {"c", V, "east", false}, {"d", V, "east", false}},
     0, true},
};
#undef V
#undef R

/* ------------------------------------------------------------ plumbing */

static pid_t it_pids[IT_MEMBERS_MAX];

static void it_kill_all(void)
{
    for (int i = 0; i < IT_MEMBERS_MAX; i++)
        if (it_pids[i] > 0)
            kill(it_pids[i], SIGKILL);
    for (int i = 0; i < IT_MEMBERS_MAX; i++)
        if (it_pids[i] > 0) {
            waitpid(it_pids[i], NULL, 0);
            it_pids[i] = 0;
        }
}

static void it_on_signal(int sig)
{
    for (int i = 0; i < IT_MEMBERS_MAX; i++)
        if (it_pids[i] > 0)
            kill(it_pids[i], SIGKILL);
    _exit(128 + sig);
}

static int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) static void it_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int it_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static bool it_port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static bool it_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* GET http://127.0.0.1:port/path; returns the parsed JSON body or NULL. */
static cJSON *it_http_json(uint16_t port, const char *path)
{
    int fd = it_connect(port);
    if (fd < 0)
        return NULL;
    char req[256];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cJSON *json = NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL || !it_write_all(fd, req, (size_t)rl))
        goto out;
    int64_t deadline = it_now_ms() + IT_HTTP_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - it_now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            goto out;
        if (len + 1 >= cap)
            goto out; /* monitoring answers here are far below 1 MiB */
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 9, "200", 3) != 0)
        goto out;
    char *body = strstr(buf, "\r\n\r\n");
    if (body != NULL)
        json = cJSON_Parse(body + 4);
out:
    free(buf);
    close(fd);
    return json;
}

/* ------------------------------------------------------ NATS protocol */

struct it_conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

struct it_msg {
    char subject[128];
    int sid;
    int status;       /* HMSG status code (503: no responders), else 0 */
    char data[4096];  /* payload, NUL-terminated (truncated if longer) */
};

static void it_conn_close(struct it_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

__attribute__((format(printf, 2, 3))) static bool it_send(struct it_conn *c,
                                                          const char *fmt, ...)
{
    char out[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof out || c->fd < 0)
        return false;
    return it_write_all(c->fd, out, (size_t)n);
}

/* Parse one protocol message from c->buf; 1 = got a MSG/HMSG into *m,
 * 0 = need more bytes (control lines are consumed), -1 = protocol error. */
static int it_parse(struct it_conn *c, struct it_msg *m)
{
    for (;;) {
        char *eol = memmem(c->buf, c->len, "\r\n", 2);
        if (eol == NULL)
            return c->len == sizeof c->buf ? -1 : 0;
        size_t ll = (size_t)(eol - c->buf);
        char line[1024];
        if (ll >= sizeof line)
            return -1;
        memcpy(line, c->buf, ll);
        line[ll] = '\0';
        bool hmsg = strncmp(line, "HMSG ", 5) == 0;
        if (hmsg || strncmp(line, "MSG ", 4) == 0) {
            char *tok[6];
            int nt = 0;
            for (char *s = strtok(line, " "); s && nt < 6; s = strtok(NULL, " "))
                tok[nt++] = s;
            int want = hmsg ? 5 : 4; /* without the optional reply */
            if (nt != want && nt != want + 1)
                return -1;
            size_t total = (size_t)strtoul(tok[nt - 1], NULL, 10);
            size_t hdr = hmsg ? (size_t)strtoul(tok[nt - 2], NULL, 10) : 0;
            if (ll + 2 + total + 2 > sizeof c->buf || hdr > total)
                return -1;
            if (c->len < ll + 2 + total + 2)
                return 0;
            const char *payload = c->buf + ll + 2;
            memset(m, 0, sizeof *m);
            snprintf(m->subject, sizeof m->subject, "%s", tok[1]);
            m->sid = atoi(tok[2]);
            if (hmsg && hdr >= 12 && strncmp(payload, "NATS/1.0 ", 9) == 0)
                m->status = atoi(payload + 9);
            size_t dl = total - hdr < sizeof m->data - 1 ? total - hdr : sizeof m->data - 1;
            memcpy(m->data, payload + hdr, dl);
            m->data[dl] = '\0';
            size_t used = ll + 2 + total + 2;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return 1;
        }
        if (strcmp(line, "PING") == 0 && !it_send(c, "PONG\r\n"))
            return -1;
        if (strncmp(line, "-ERR", 4) == 0)
            it_log("  nats error: %s", line);
        memmove(c->buf, c->buf + ll + 2, c->len - ll - 2);
        c->len -= ll + 2;
    }
}

/* Read what is available (waiting at most wait_ms) and return the next
 * message: 1 got one, 0 none yet, -1 connection broken. */
static int it_next(struct it_conn *c, int wait_ms, struct it_msg *m)
{
    int rc = it_parse(c, m);
    if (rc != 0)
        return rc;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (c->fd < 0 || poll(&pfd, 1, wait_ms) <= 0)
        return c->fd < 0 ? -1 : 0;
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    return it_parse(c, m);
}

/* Connect as user/pass (NULL: anonymous) and wait for the PONG that
 * proves the CONNECT was accepted. */
static bool it_conn_open_as(struct it_conn *c, uint16_t port, const char *user,
                            const char *pass)
{
    char auth[160] = "";
    if (user != NULL)
        snprintf(auth, sizeof auth, ",\"user\":\"%s\",\"pass\":\"%s\"", user, pass);
    c->len = 0;
    c->fd = it_connect(port);
    if (c->fd < 0)
        return false;
    if (!it_send(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                    "\"no_responders\":true,\"name\":\"natsconf-it\"%s}\r\nPING\r\n",
                 auth))
        goto fail;
    int64_t deadline = it_now_ms() + 3000;
    while (it_now_ms() < deadline) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r <= 0)
            goto fail;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        if (strstr(c->buf, "-ERR") != NULL)
            goto fail;
        char *pong = strstr(c->buf, "PONG\r\n");
        if (pong != NULL) {
            size_t used = (size_t)(pong + 6 - c->buf);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return true;
        }
    }
fail:
    it_conn_close(c);
    return false;
}

static bool it_conn_open(struct it_conn *c, uint16_t port)
{
    return it_conn_open_as(c, port, NULL, NULL);
}

/* One request/reply: publishes `body` to `subject` with a fresh inbox and
 * waits up to wait_ms for the answer. Returns true with the reply in *m
 * (which may be a 503 "no responders" status). */
static bool it_request(struct it_conn *c, const char *subject, const char *body,
                       int wait_ms, struct it_msg *m)
{
    static int seq;
    char inbox[64];
    int sid = 1000 + ++seq;
    snprintf(inbox, sizeof inbox, "_INBOX.it.%d", sid);
    if (!it_send(c, "SUB %s %d\r\nPUB %s %s %zu\r\n%s\r\n", inbox, sid, subject, inbox,
                 strlen(body), body))
        return false;
    int64_t deadline = it_now_ms() + wait_ms;
    bool got = false;
    while (!got && it_now_ms() < deadline) {
        int rc = it_next(c, 50, m);
        if (rc < 0)
            break;
        if (rc == 1 && getenv("PMESH_IT_DEBUG"))
            it_log("    msg %s sid %d status %d (want %d)", m->subject, m->sid, m->status, sid);
        got = rc == 1 && m->sid == sid;
    }
    it_send(c, "UNSUB %d\r\n", sid);
    return got;
}

/* --------------------------------------------------------- one shape */

struct it_node {
    struct fsm_natsconf_member m;
    struct fsm_natsconf_shape shape;
    char home[512];
    bool present; /* a member of the mesh right now */
    bool alive;   /* its nats-server runs */
    char *conf;   /* its config rendered for the current membership */
    struct it_conn conn;
};

struct it_run {
    const struct it_shape *sh;
    struct it_node nodes[IT_MEMBERS_MAX];
    size_t n;
    char dir[256];
    const char *nats_bin;
};

static const uint8_t it_secret[32] = "natsconf integration test secret";

/* Render the config of every present member into nd->conf. */
static int it_render(struct it_run *r)
{
    struct fsm_natsconf_member members[IT_MEMBERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->nodes[i].present)
            members[n++] = r->nodes[i].m;
    for (size_t i = 0; i < r->n; i++) {
        struct it_node *nd = &r->nodes[i];
        if (!nd->present)
            continue;
        struct fsm_natsconf_input in = {
            .members = members, .members_len = n,
            .secret = it_secret, .secret_len = sizeof it_secret,
            .self_id = nd->m.id, .home = nd->home,
            .js_max_memory_bytes = 64u << 20, .js_max_file_bytes = 64u << 20,
        };
        char *text = NULL;
        size_t len = 0;
        int rc = fsm_natsconf_render(&in, &text, &len);
        if (rc == 0)
            rc = fsm_natsconf_describe(&in, &nd->shape);
        if (rc != 0) {
            it_log("  render %s: %s", nd->m.name, pm_strerror(rc));
            free(text);
            return -1;
        }
        free(nd->conf);
        nd->conf = text;
    }
    return 0;
}

/* Write nd->conf to HOME/nats.conf (mode 0600: derived credentials). */
static bool it_write_conf(struct it_node *nd)
{
    char path[600];
    snprintf(path, sizeof path, "%s/nats.conf", nd->home);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && it_write_all(fd, nd->conf, strlen(nd->conf));
    if (fd >= 0)
        close(fd);
    if (!ok)
        it_log("  FAIL write %s: %s", path, strerror(errno));
    return ok;
}

/* The whole content of HOME/NAME (malloc'd), or NULL. */
static char *it_read_file(const struct it_node *nd, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", nd->home, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            buf[len] = '\0';
            break;
        }
    }
    fclose(f);
    return buf;
}

static int it_start(struct it_run *r, size_t i)
{
    struct it_node *nd = &r->nodes[i];
    char conf[600], logp[600];
    snprintf(conf, sizeof conf, "%s/nats.conf", nd->home);
    snprintf(logp, sizeof logp, "%s/nats.log", nd->home);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Dies with this program even on SIGKILL. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(r->nats_bin, "nats-server", "-c", conf, (char *)NULL);
        _exit(127);
    }
    it_pids[i] = pid;
    nd->alive = true;
    return 0;
}

static void it_stop(struct it_run *r, size_t i)
{
    if (it_pids[i] > 0) {
        kill(it_pids[i], SIGKILL);
        waitpid(it_pids[i], NULL, 0);
        it_pids[i] = 0;
    }
    r->nodes[i].alive = false;
    it_conn_close(&r->nodes[i].conn);
}

/* Did a server we started exit on its own (a config it refused)? Then
 * there is no point waiting for it: say so and fail fast. */
static bool it_any_exited(struct it_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        int status;
        if (!r->nodes[i].alive || it_pids[i] <= 0 ||
            waitpid(it_pids[i], &status, WNOHANG) != it_pids[i])
            continue;
        it_pids[i] = 0;
        r->nodes[i].alive = false;
        it_log("  FAIL nats-server of %s exited (status %d); see its log below",
               r->nodes[i].m.name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return true;
    }
    return false;
}

static uint16_t it_http(const struct it_node *nd) { return (uint16_t)(nd->m.client_port + 4); }

static int it_json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* Did member i form as planned? Writes what is missing into why. */
static bool it_formed(struct it_run *r, size_t i, int *leafs_out, char *why, size_t wl)
{
    struct it_node *nd = &r->nodes[i];
    const struct fsm_natsconf_shape *s = &nd->shape;
    bool ok = false;
    cJSON *routez = NULL, *gwz = NULL, *leafz = NULL, *jsz = NULL;
    routez = it_http_json(it_http(nd), "/routez");
    leafz = it_http_json(it_http(nd), "/leafz");
    jsz = it_http_json(it_http(nd), "/jsz");
    if (routez == NULL || leafz == NULL || jsz == NULL) {
        snprintf(why, wl, "monitoring not answering");
        goto out;
    }
    int routes = it_json_int(routez, "num_routes");
    if (routes != (int)s->routes) {
        snprintf(why, wl, "num_routes %d, want %u", routes, s->routes);
        goto out;
    }
    *leafs_out = it_json_int(leafz, "leafnodes");
    if (s->mode == FSM_NATSCONF_MODE_LEAF && *leafs_out < 1) {
        snprintf(why, wl, "leaf not connected");
        goto out;
    }
    if (s->gateways > 0) {
        gwz = it_http_json(it_http(nd), "/gatewayz");
        const cJSON *out = gwz ? cJSON_GetObjectItemCaseSensitive(gwz, "outbound_gateways")
                               : NULL;
        int connected = 0;
        const cJSON *g;
        cJSON_ArrayForEach(g, out)
            connected += cJSON_GetObjectItemCaseSensitive(g, "connection") != NULL;
        if (connected != (int)s->gateways) {
            snprintf(why, wl, "%d outbound gateways, want %u", connected, s->gateways);
            goto out;
        }
    }
    /* A server without JetStream answers /jsz with "disabled": true. */
    bool js_on = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jsz, "disabled"));
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(jsz, "meta_cluster");
    if (s->jetstream != js_on) {
        snprintf(why, wl, "JetStream %s, want %s", js_on ? "on" : "off",
                 s->jetstream ? "on" : "off");
        goto out;
    }
    if (s->js_clustered) {
        const cJSON *leader = cJSON_GetObjectItemCaseSensitive(meta, "leader");
        int size = it_json_int(meta, "cluster_size");
        if (!cJSON_IsString(leader) || leader->valuestring[0] == '\0' ||
            size != (int)s->js_cluster_size) {
            snprintf(why, wl, "meta leader %s, cluster_size %d (want %u)",
                     cJSON_IsString(leader) ? leader->valuestring : "none", size,
                     s->js_cluster_size);
            goto out;
        }
    } else if (meta != NULL) {
        snprintf(why, wl, "in a JetStream meta group, want none");
        goto out;
    }
    ok = true;
out:
    cJSON_Delete(routez);
    cJSON_Delete(gwz);
    cJSON_Delete(leafz);
    cJSON_Delete(jsz);
    return ok;
}

/* Poll every live member until each formed as its shape says and every
 * leaf connection is seen from both ends. */
static bool it_wait_formed(struct it_run *r, int64_t start)
{
    int64_t deadline = it_now_ms() + IT_FORM_TIMEOUT_MS;
    char why[256] = "";
    size_t bad = 0;
    while (it_now_ms() < deadline && !it_any_exited(r)) {
        int leaf_ends = 0, leaf_members = 0;
        bool all = true;
        for (size_t i = 0; i < r->n && all; i++) {
            if (!r->nodes[i].alive)
                continue;
            int leafs = 0;
            all = it_formed(r, i, &leafs, why, sizeof why);
            bad = i;
            leaf_ends += leafs;
            leaf_members += r->nodes[i].alive &&
                            r->nodes[i].shape.mode == FSM_NATSCONF_MODE_LEAF;
        }
        if (all && leaf_ends != 2 * leaf_members) {
            all = false;
            snprintf(why, sizeof why, "%d leaf connection ends, want %d", leaf_ends,
                     2 * leaf_members);
        }
        if (all) {
            it_log("  formed %lld ms after the first start", (long long)(it_now_ms() - start));
            return true;
        }
        usleep(100 * 1000);
    }
    /* Say where every member stands, not only the first one found
     * wanting: a run that fails rarely must explain itself the first
     * time (CI keeps only the tail of this output). */
    for (size_t i = 0; i < r->n; i++) {
        if (!r->nodes[i].alive)
            continue;
        int leafs = 0;
        char w[256] = "formed";
        it_formed(r, i, &leafs, w, sizeof w);
        it_log("    %s: %s (%d leaf connection(s))", r->nodes[i].m.name, w, leafs);
    }
    it_log("  FAIL not formed after %d ms: %s: %s", IT_FORM_TIMEOUT_MS,
           r->nodes[bad].m.name, why);
    return false;
}

/* A receiver has not seen the publisher's message for a while: log what
 * the monitoring endpoints say about the path (the receiver's leaf
 * connections, the publisher's server's matching subscriptions), so that a
 * stock nats-server interest-propagation race can be told from a config
 * that offers no path. */
static void it_interest_report(struct it_run *r, size_t pub, size_t recv,
                               const char *subject)
{
    char path[160];
    cJSON *leafz = it_http_json(it_http(&r->nodes[recv]), "/leafz");
    snprintf(path, sizeof path, "/subsz?subs=1&test=%s", subject);
    cJSON *subsz = it_http_json(it_http(&r->nodes[pub]), path);
    const cJSON *leafs = cJSON_GetObjectItemCaseSensitive(leafz, "leafs");
    char *l = leafs ? cJSON_PrintUnformatted(leafs) : NULL;
    /* With test=SUBJECT, "total" counts the subscriptions (local, route and
     * leaf interest) matching it on that server. */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(subsz, "total");
    it_log("  note: %s has not received %s after %d ms; %s's server has %d "
           "matching subscription(s); %s's leaf connections: %.300s",
           r->nodes[recv].m.name, subject, IT_RESUB_AFTER_MS, r->nodes[pub].m.name,
           cJSON_IsNumber(nm) ? nm->valueint : -1, r->nodes[recv].m.name,
           l ? l : "(no answer)");
    free(l);
    cJSON_Delete(leafz);
    cJSON_Delete(subsz);
}

/* Every live member subscribes to it.>; each publishes it.<name> (again
 * every 100 ms while interest spreads) until every other live member got
 * it. */
static bool it_message_flow(struct it_run *r)
{
    int64_t start = it_now_ms();
    for (size_t i = 0; i < r->n; i++) {
        struct it_node *nd = &r->nodes[i];
        if (!nd->alive)
            continue;
        if (nd->conn.fd < 0 && !it_conn_open(&nd->conn, nd->m.client_port)) {
            it_log("  FAIL cannot connect a client to %s", nd->m.name);
            return false;
        }
        if (!it_send(&nd->conn, "SUB it.> 1\r\nPING\r\n"))
            return false;
    }
    for (size_t p = 0; p < r->n; p++) {
        struct it_node *pub = &r->nodes[p];
        if (!pub->alive)
            continue;
        char subject[64];
        snprintf(subject, sizeof subject, "it.%s", pub->m.name);
        bool got[IT_MEMBERS_MAX] = {false};
        size_t want = 0, have = 0;
        for (size_t i = 0; i < r->n; i++)
            want += r->nodes[i].alive && i != p;
        int64_t deadline = it_now_ms() + IT_FLOW_TIMEOUT_MS, next_pub = 0;
        int64_t resub_at = it_now_ms() + IT_RESUB_AFTER_MS;
        while (have < want && it_now_ms() < deadline) {
            if (resub_at != 0 && it_now_ms() >= resub_at) {
                /* Interest that never reached the publisher's server: say
                 * where things stand, then subscribe once more. Seen once
                 * in ~30 runs of "grow" on a loaded machine, while a
                 * replica could attach to the second of two servers (a
                 * daisy chain, natsconf.h); see it_interest_report. */
                resub_at = 0;
                for (size_t i = 0; i < r->n; i++)
                    if (r->nodes[i].alive && i != p && !got[i]) {
                        it_interest_report(r, p, i, subject);
                        it_send(&r->nodes[i].conn, "UNSUB 1\r\nSUB it.> 1\r\n");
                    }
            }
            if (it_now_ms() >= next_pub) {
                if (!it_send(&pub->conn, "PUB %s 5\r\nhello\r\n", subject))
                    return false;
                next_pub = it_now_ms() + 100;
            }
            for (size_t i = 0; i < r->n; i++) {
                struct it_node *nd = &r->nodes[i];
                struct it_msg m;
                if (!nd->alive)
                    continue;
                int rc;
                while ((rc = it_next(&nd->conn, 5, &m)) == 1)
                    if (i != p && !got[i] && strcmp(m.subject, subject) == 0 &&
                        strcmp(m.data, "hello") == 0) {
                        got[i] = true;
                        have++;
                    }
                if (rc < 0) {
                    it_log("  FAIL client connection to %s broke", nd->m.name);
                    return false;
                }
            }
        }
        if (have < want) {
            for (size_t i = 0; i < r->n; i++)
                if (r->nodes[i].alive && i != p && !got[i])
                    it_log("  FAIL %s never received %s", r->nodes[i].m.name, subject);
            return false;
        }
    }
    /* Drain the extra copies so later requests start clean. */
    for (size_t i = 0; i < r->n; i++) {
        struct it_msg m;
        if (r->nodes[i].alive) {
            it_send(&r->nodes[i].conn, "UNSUB 1\r\n");
            while (it_next(&r->nodes[i].conn, 20, &m) == 1) {
            }
        }
    }
    size_t live = 0;
    for (size_t i = 0; i < r->n; i++)
        live += r->nodes[i].alive;
    it_log("  messages flow between all %zu live members (%lld ms)", live,
           (long long)(it_now_ms() - start));
    return true;
}

/* A request that must succeed within the deadline, retried while the
 * answer is "no responders" or a JetStream error such as 503 (meta leader
 * being elected). Returns the reply data in out. */
static bool it_js_request(struct it_node *nd, const char *subject, const char *body,
                          const char *must_contain, char *out, size_t ol,
                          int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    struct it_msg m;
    while (it_now_ms() < deadline) {
        bool got = it_request(&nd->conn, subject, body, 2000, &m);
        if (got && m.status == 0 && strstr(m.data, must_contain) != NULL &&
            strstr(m.data, "\"error\"") == NULL) {
            snprintf(out, ol, "%s", m.data);
            return true;
        }
        if (getenv("PMESH_IT_DEBUG"))
            it_log("  retry %s: got %d status %d: %.200s", subject, got, m.status,
                   got ? m.data : "");
        usleep(200 * 1000);
    }
    it_log("  FAIL %s: %s -> %s", nd->m.name, subject,
           m.status ? "no answer / status" : m.data);
    return false;
}

/* The API prefix a member's clients use: servers answer $JS.API.> for their
 * own JetStream; leaves reach the mesh's JetStream as domain "mesh". */
static const char *it_js_api(const struct it_node *nd)
{
    return nd->shape.jetstream ? "$JS.API" : "$JS.mesh.API";
}

/* Create a stream named BASE<n> with `replicas` replicas through the first
 * live JetStream server, then have every live member publish to it with a
 * reply inbox and get the ack. The created name goes to stream. */
static bool it_jetstream(struct it_run *r, const char *base, int replicas,
                         const char *storage, char *stream, size_t sl)
{
    char subj[128], body[256], reply[4096];
    struct it_node *first = NULL;
    for (size_t i = 0; i < r->n && first == NULL; i++)
        if (r->nodes[i].alive && r->nodes[i].shape.jetstream)
            first = &r->nodes[i];
    if (first == NULL)
        return false;
    int64_t deadline = it_now_ms() + IT_JS_TIMEOUT_MS;
    bool created = false;
    struct it_msg m;
    for (int attempt = 1; !created && it_now_ms() < deadline; attempt++) {
        /* A fresh name per attempt. Right after a server is SIGKILLed (no
         * shutdown event) the meta leader still counts it as a candidate
         * and may place the new stream on it; then nobody answers the
         * create (the placed server would), and a retry under the same
         * name only meets that stale assignment again. Measured: R1 file
         * streams went to the dead server for 25 s straight (its stale
         * stats show the most free storage), memory streams land on a
         * survivor within one or two tries. */
        snprintf(stream, sl, "%s%d", base, attempt);
        snprintf(subj, sizeof subj, "%s.STREAM.CREATE.%s", it_js_api(first), stream);
        snprintf(body, sizeof body,
                 "{\"name\":\"%s\",\"subjects\":[\"%s.>\"],\"storage\":\"%s\","
                 "\"num_replicas\":%d}",
                 stream, stream, storage, replicas);
        bool got = it_request(&first->conn, subj, body, 2000, &m);
        created = got && m.status == 0 && strstr(m.data, "\"config\"") != NULL &&
                  strstr(m.data, "\"error\"") == NULL;
        if (!created) {
            if (getenv("PMESH_IT_DEBUG"))
                it_log("  retry create %s: got %d status %d: %.200s", stream, got,
                       m.status, got ? m.data : "");
            usleep(200 * 1000);
        }
    }
    if (!created) {
        it_log("  FAIL %s: no stream created within %d ms", first->m.name,
               IT_JS_TIMEOUT_MS);
        return false;
    }
    /* A publish with a reply inbox gets the ack {"stream":..,"seq":N} from
     * every live member, leaves included. */
    for (size_t i = 0; i < r->n; i++) {
        struct it_node *nd = &r->nodes[i];
        if (!nd->alive)
            continue;
        char want[128];
        snprintf(subj, sizeof subj, "%s.%s", stream, nd->m.name);
        snprintf(want, sizeof want, "\"stream\":\"%s\"", stream);
        if (!it_js_request(nd, subj, "payload", want, reply, sizeof reply,
                           IT_JS_TIMEOUT_MS))
            return false;
        if (strstr(reply, "\"seq\":") == NULL) {
            it_log("  FAIL ack without seq: %s", reply);
            return false;
        }
    }
    it_log("  JetStream stream %s (R%d) acks a publish from every live member", stream,
           replicas);
    return true;
}

/* The survivor that is JetStream meta leader now, for the kill test. */
static int it_meta_leader(struct it_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!r->nodes[i].alive || !r->nodes[i].shape.js_clustered)
            continue;
        cJSON *jsz = it_http_json(it_http(&r->nodes[i]), "/jsz");
        const cJSON *leader = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(jsz, "meta_cluster"), "leader");
        int found = -1;
        if (cJSON_IsString(leader))
            for (size_t k = 0; k < r->n; k++)
                if (strcmp(r->nodes[k].m.name, leader->valuestring) == 0)
                    found = (int)k;
        cJSON_Delete(jsz);
        if (found >= 0)
            return found;
    }
    return -1;
}

/* Member i's monitoring answers, and if it belongs to the JetStream meta
 * group, it knows a meta leader. */
static bool it_wait_up(struct it_run *r, size_t i, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (it_now_ms() < deadline && !it_any_exited(r)) {
        cJSON *jsz = it_http_json(it_http(&r->nodes[i]), "/jsz");
        const cJSON *leader = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(jsz, "meta_cluster"), "leader");
        bool up = jsz != NULL && (!r->nodes[i].shape.js_clustered ||
                                  (cJSON_IsString(leader) && leader->valuestring[0]));
        cJSON_Delete(jsz);
        if (up)
            return true;
        usleep(50 * 1000);
    }
    if (r->nodes[i].alive)
        it_log("  FAIL %s: not up (monitoring, JetStream meta leader) %d ms after its "
               "start", r->nodes[i].m.name, timeout_ms);
    return false;
}

/* Start the servers in the order a mesh forms: the servers of the seed's
 * label together (as after a restart of a cluster), then every other
 * server one at a time, each once the one before knows the JetStream meta
 * leader; replicas last.
 * Why not everything at once: two fresh 3-server clusters cold-started at
 * the same instant each elect their own meta leader ~0.3 s in, before the
 * first gateway dial (~1 s); stock nats-server 2.9.10 usually merges them,
 * but in about one run in five (measured, loaded machine) the two leaders
 * kept alternating for 30 s and the meta group never reached its full
 * size. pmesh never forms a mesh that way: members join one at a time. */
static bool it_start_in_mesh_order(struct it_run *r)
{
    const char *seed_label = r->sh->m[0].cluster;
    for (size_t i = 0; i < r->n; i++)
        if (r->sh->m[i].seed)
            seed_label = r->sh->m[i].cluster;
    for (int phase = 0; phase < 3; phase++) {
        for (size_t i = 0; i < r->n; i++) {
            const struct it_node *nd = &r->nodes[i];
            bool server = nd->m.role == FSM_NATSCONF_VOTER;
            bool home = strcmp(nd->m.cluster, seed_label) == 0;
            int want = !server ? 2 : home ? 0 : 1;
            if (want != phase)
                continue;
            if (it_start(r, i) != 0) {
                it_log("  FAIL fork: %s", strerror(errno));
                return false;
            }
            if (phase == 1 && !it_wait_up(r, i, 15000))
                return false;
        }
        for (size_t i = 0; i < r->n && phase == 0; i++)
            if (r->nodes[i].alive && !it_wait_up(r, i, 15000))
                return false;
    }
    return true;
}

/* How many times NEEDLE occurs in member i's nats-server log. */
static int it_log_count(const struct it_node *nd, const char *needle)
{
    char *text = it_read_file(nd, "nats.log");
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

/* SIGHUP member i and wait for nats-server's verdict in its log: true if
 * it reloaded, false if it refused (or said nothing within 5 s). */
static bool it_reload(struct it_run *r, size_t i, bool *answered)
{
    struct it_node *nd = &r->nodes[i];
    const char *ok_s = "Reloaded server configuration";
    const char *bad_s = "Failed to reload server configuration";
    int ok0 = it_log_count(nd, ok_s), bad0 = it_log_count(nd, bad_s);
    kill(it_pids[i], SIGHUP);
    int64_t deadline = it_now_ms() + 5000;
    *answered = false;
    while (it_now_ms() < deadline) {
        if (it_log_count(nd, ok_s) > ok0) {
            *answered = true;
            return true;
        }
        if (it_log_count(nd, bad_s) > bad0) {
            *answered = true;
            return false;
        }
        usleep(20 * 1000);
    }
    return false;
}

static const char *it_change_name(enum fsm_natsconf_change c)
{
    return c == FSM_NATSCONF_NONE ? "none" : c == FSM_NATSCONF_RELOAD ? "reload" : "restart";
}

/* One membership change of the grow scenario: `members` names the members
 * afterwards (one letter each), `expect` what the classifier must say for
 * each member already running ("a=none r=restart"; unlisted: none). */
struct it_step {
    const char *what;
    const char *members;
    const char *expect;
    const char *js_remove; /* server that left: remove it from the meta group */
};

static const struct it_step it_grow_steps[] = {
    {"the seed alone", "a", "", NULL},
    {"a replica joins", "ar", "a=none", NULL},
    {"a second server joins, as a leaf of the seed", "arb", "a=none r=none", NULL},
    {"a third server: one cluster, clustered JetStream", "arbc",
     "a=restart r=restart b=restart", NULL},
    {"a fourth server: the others reload their routes", "arbcd",
     "a=reload r=restart b=reload c=reload", NULL},
    {"b leaves: the others reload their routes", "arcd",
     "a=reload r=restart c=reload d=reload", "b"},
};

/* A server that left the mesh stays a peer of the JetStream meta group
 * (cluster_size keeps counting it) until a system-account user asks the
 * meta leader to remove it: what the node must do when a server leaves. */
static bool it_js_remove_peer(struct it_run *r, const char *name)
{
    char pw[FSM_NATSCONF_PASSWORD_LEN + 1], body[128];
    if (fsm_natsconf_sys_password(it_secret, sizeof it_secret, pw) != 0)
        return false;
    snprintf(body, sizeof body, "{\"peer\":\"%s\"}", name);
    int64_t deadline = it_now_ms() + IT_JS_TIMEOUT_MS;
    struct it_msg m;
    while (it_now_ms() < deadline) {
        for (size_t i = 0; i < r->n; i++) {
            struct it_conn *c = malloc(sizeof *c);
            bool ok = false, got = false;
            if (c == NULL)
                return false;
            c->fd = -1;
            if (r->nodes[i].alive && r->nodes[i].shape.js_clustered &&
                it_conn_open_as(c, r->nodes[i].m.client_port, FSM_NATSCONF_SYS_USER, pw)) {
                got = it_request(c, "$JS.API.SERVER.REMOVE", body, 2000, &m);
                ok = got && strstr(m.data, "\"success\":true") != NULL;
                if (got && !ok && getenv("PMESH_IT_DEBUG"))
                    it_log("  peer remove: %s", m.data);
            }
            it_conn_close(c);
            free(c);
            if (ok) {
                it_log("    JetStream meta group: %s removed (system account)", name);
                return true;
            }
        }
        usleep(200 * 1000);
    }
    it_log("  FAIL could not remove %s from the JetStream meta group", name);
    return false;
}

/* The mesh changes one member at a time, as pmesh changes it. At each step
 * every running server's old config file and new rendering go through
 * fsm_natsconf_classify_text, whose verdict must be the expected one and
 * must be right for the real server: a RELOAD is applied with SIGHUP and
 * nats-server must log "Reloaded server configuration"; a RESTART is first
 * tried with SIGHUP too, and nats-server must refuse it ("Failed to
 * reload"), before the server is restarted. Then the mesh must form and
 * carry messages again; at the end a JetStream R3 stream acks everyone. */
static bool it_grow(struct it_run *r)
{
    size_t nsteps = sizeof it_grow_steps / sizeof it_grow_steps[0];
    for (size_t st = 0; st < nsteps; st++) {
        const struct it_step *step = &it_grow_steps[st];
        int64_t t0 = it_now_ms();
        it_log("  step %zu: %s", st, step->what);
        for (size_t i = 0; i < r->n; i++) {
            r->nodes[i].present = strchr(step->members, r->nodes[i].m.name[0]) != NULL;
            if (!r->nodes[i].present && r->nodes[i].alive)
                it_stop(r, i); /* a member leaving stops its server first */
        }
        if (it_render(r) != 0)
            return false;
        for (size_t i = 0; i < r->n; i++) {
            struct it_node *nd = &r->nodes[i];
            if (!nd->present)
                continue;
            if (!nd->alive) {
                if (!it_write_conf(nd) || it_start(r, i) != 0)
                    return false;
                if (nd->m.role == FSM_NATSCONF_VOTER && !it_wait_up(r, i, 15000))
                    return false;
                continue;
            }
            char *old = it_read_file(nd, "nats.conf");
            enum fsm_natsconf_change c = fsm_natsconf_classify_text(old, nd->conf);
            free(old);
            char key[8];
            snprintf(key, sizeof key, "%c=", nd->m.name[0]);
            const char *e = strstr(step->expect, key);
            enum fsm_natsconf_change want = FSM_NATSCONF_NONE;
            if (e != NULL && strncmp(e + 2, "reload", 6) == 0)
                want = FSM_NATSCONF_RELOAD;
            else if (e != NULL && strncmp(e + 2, "restart", 7) == 0)
                want = FSM_NATSCONF_RESTART;
            if (c != want) {
                it_log("  FAIL %s: classifier says %s, want %s", nd->m.name,
                       it_change_name(c), it_change_name(want));
                return false;
            }
            if (c == FSM_NATSCONF_NONE)
                continue;
            if (!it_write_conf(nd))
                return false;
            bool answered, reloaded = it_reload(r, i, &answered);
            if (!answered || reloaded != (c == FSM_NATSCONF_RELOAD)) {
                it_log("  FAIL %s: classified %s, but nats-server %s the reload", nd->m.name,
                       it_change_name(c),
                       !answered ? "did not answer" : reloaded ? "accepted" : "refused");
                return false;
            }
            it_log("    %s: %s (nats-server %s SIGHUP)", nd->m.name, it_change_name(c),
                   reloaded ? "applied" : "refused");
            if (c == FSM_NATSCONF_RESTART) {
                it_stop(r, i);
                if (it_start(r, i) != 0)
                    return false;
            }
        }
        if (step->js_remove != NULL && !it_js_remove_peer(r, step->js_remove))
            return false;
        if (!it_wait_formed(r, t0) || !it_message_flow(r))
            return false;
    }
    char stream[64];
    return it_jetstream(r, "GROW", 3, "file", stream, sizeof stream);
}

/* A fresh directory, free loopback ports and the member table. */
static bool it_setup(struct it_run *r, uint16_t *port_base)
{
    const struct it_shape *sh = r->sh;
    const char *tmp = getenv("TMPDIR");
    for (size_t i = 0; i < IT_MEMBERS_MAX; i++)
        r->nodes[i].conn.fd = -1;
    snprintf(r->dir, sizeof r->dir, "%s/pmesh-natsconf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(r->dir) == NULL) {
        it_log("mkdtemp: %s", strerror(errno));
        r->dir[0] = '\0';
        return false;
    }
    it_log("shape %s (%s)", sh->name, r->dir);

    /* Loopback ports: slide the window until every port binds. */
    for (int tries = 0;; tries++) {
        bool free_all = true;
        for (size_t i = 0; i < sh->n && free_all; i++)
            for (int k = 0; k < 5 && free_all; k++)
                free_all = it_port_free((uint16_t)(*port_base + IT_PORT_STRIDE * i + k));
        if (free_all)
            break;
        if (tries == 50) {
            it_log("  FAIL no free loopback ports near %u", *port_base);
            return false;
        }
        *port_base = (uint16_t)(*port_base + 100 > 60000 ? 10000 : *port_base + 100);
    }
    for (size_t i = 0; i < sh->n; i++) {
        struct it_node *nd = &r->nodes[i];
        nd->m = (struct fsm_natsconf_member){
            .id = 100 + i, .name = sh->m[i].name, .role = sh->m[i].role,
            .seed = sh->m[i].seed, .cluster = sh->m[i].cluster, .host = "127.0.0.1",
            .client_port = (uint16_t)(*port_base + IT_PORT_STRIDE * i),
        };
        nd->present = !sh->grow;
        snprintf(nd->home, sizeof nd->home, "%s/%s", r->dir, sh->m[i].name);
        if (mkdir(nd->home, 0700) != 0) {
            it_log("  FAIL mkdir %s: %s", nd->home, strerror(errno));
            return false;
        }
    }
    return true;
}

/* Stop every server, show the logs on failure, remove the directory. */
static void it_teardown(struct it_run *r, bool ok)
{
    for (size_t i = 0; i < r->n; i++) {
        it_stop(r, i);
        free(r->nodes[i].conf);
        r->nodes[i].conf = NULL;
    }
    if (!ok) {
        for (size_t i = 0; i < r->n && r->dir[0]; i++) {
            char cmd[1024];
            it_log("  --- %s/nats.log (last lines)", r->nodes[i].home);
            snprintf(cmd, sizeof cmd, "tail -n 8 '%s/nats.log' >&2 2>/dev/null",
                     r->nodes[i].home);
            if (system(cmd) != 0) {
                /* the log may not exist if the start failed */
            }
        }
    }
    const char *keep = getenv("PMESH_KEEP");
    if (r->dir[0] && !(keep && strcmp(keep, "1") == 0)) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            it_log("  could not remove %s", r->dir);
    }
}

/* Every server stops and all start again at the same instant (a power
 * cut): the supercluster must form again and the stream must have kept
 * its messages' stream (a publish is acked). */
static bool it_restart_all(struct it_run *r, const char *stream)
{
    it_log("  stopping every server, then starting all at once");
    for (size_t i = 0; i < r->n; i++)
        it_stop(r, i);
    int64_t t0 = it_now_ms();
    for (size_t i = 0; i < r->n; i++)
        if (it_start(r, i) != 0)
            return false;
    if (!it_wait_formed(r, t0) || !it_message_flow(r))
        return false;
    char subj[160], reply[4096], want[96];
    snprintf(want, sizeof want, "\"stream\":\"%s\"", stream);
    for (size_t i = 0; i < r->n; i++) {
        snprintf(subj, sizeof subj, "%s.again.%s", stream, r->nodes[i].m.name);
        if (!it_js_request(&r->nodes[i], subj, "payload", want, reply, sizeof reply,
                           IT_JS_RESTART_TIMEOUT_MS))
            return false;
    }
    it_log("  stream %s acks a publish from every member after the restart", stream);
    return true;
}

/* Kill one server and show the rest keep serving NATS and JetStream. */
static bool it_kill_one(struct it_run *r, const char *stream)
{
    const struct it_shape *sh = r->sh;
    int victim = -1;
    if (sh->kill == 1) {
        for (size_t i = 0; i < r->n; i++)
            if (!sh->m[i].seed)
                victim = (int)i;
    } else {
        victim = it_meta_leader(r);
    }
    if (victim < 0) {
        it_log("  FAIL no member to kill");
        return false;
    }
    it_log("  killing %s (SIGKILL)", r->nodes[victim].m.name);
    int64_t kill_at = it_now_ms();
    it_stop(r, (size_t)victim);
    /* The survivors still carry messages, and JetStream still takes
     * writes: the old stream (its survivors elect a stream leader) and a
     * new one (needs the meta leader, re-elected for 3 servers). */
    if (!it_message_flow(r))
        return false;
    char subj[160], reply[4096], want[96];
    snprintf(want, sizeof want, "\"stream\":\"%s\"", stream);
    for (size_t i = 0; i < r->n; i++) {
        struct it_node *nd = &r->nodes[i];
        if (!nd->alive)
            continue;
        snprintf(subj, sizeof subj, "%s.after.%s", stream, nd->m.name);
        if (!it_js_request(nd, subj, "payload", want, reply, sizeof reply,
                           IT_JS_TIMEOUT_MS))
            return false;
    }
    it_log("  stream %s still acks a publish from every survivor", stream);
    char after[64];
    if (!it_jetstream(r, "AFTER", 1, "memory", after, sizeof after))
        return false;
    it_log("  survivors serve NATS and JetStream %lld ms after the kill",
           (long long)(it_now_ms() - kill_at));
    return true;
}

static bool it_run_shape(const struct it_shape *sh, uint16_t *port_base,
                         const char *nats_bin)
{
    static struct it_run r; /* big (connection buffers): not on the stack */
    memset(&r, 0, sizeof r);
    r.sh = sh;
    r.n = sh->n;
    r.nats_bin = nats_bin;
    int64_t start = it_now_ms();
    bool ok = false;
    if (!it_setup(&r, port_base))
        goto out;
    if (sh->grow) {
        ok = it_grow(&r);
        goto out;
    }
    if (it_render(&r) != 0)
        goto out;
    for (size_t i = 0; i < r.n; i++)
        if (!it_write_conf(&r.nodes[i]))
            goto out;
    int64_t first_start = it_now_ms();
    if (!it_start_in_mesh_order(&r) || !it_wait_formed(&r, first_start) ||
        !it_message_flow(&r))
        goto out;
    int replicas = 1;
    for (size_t i = 0; i < r.n; i++)
        if (r.nodes[i].shape.js_clustered)
            replicas = 3;
    char stream[64];
    if (!it_jetstream(&r, "IT", replicas, "file", stream, sizeof stream))
        goto out;
    ok = sh->kill == 0 || (sh->kill == 3 ? it_restart_all(&r, stream)
                                         : it_kill_one(&r, stream));
out:
    it_teardown(&r, ok);
    it_log("  %s %s in %lld ms", ok ? "PASS" : "FAIL", sh->name,
           (long long)(it_now_ms() - start));
    return ok;
}

int main(int argc, char **argv)
{
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < nshapes; i++)
            printf("%s\n", shapes[i].name);
        return 0;
    }
    const char *bin = getenv("PMESH_NATS_SERVER");
    if (bin == NULL || *bin == '\0')
        bin = "/usr/sbin/nats-server";
    if (access(bin, X_OK) != 0) {
        it_log("natsconf_it: %s is not executable (install nats-server)", bin);
        return 1;
    }
    signal(SIGTERM, it_on_signal);
    signal(SIGINT, it_on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(it_kill_all);

    const char *b = getenv("PMESH_NATSCONF_PORT_BASE");
    uint16_t base = b && *b ? (uint16_t)atoi(b) : (uint16_t)(10000 + (getpid() % 200) * 100);
    int failed = 0, ran = 0;
    for (size_t i = 0; i < nshapes; i++) {
        bool wanted = argc == 1;
        for (int a = 1; a < argc; a++)
            wanted = wanted || strcmp(argv[a], shapes[i].name) == 0;
        if (!wanted)
            continue;
        ran++;
        failed += !it_run_shape(&shapes[i], &base, bin);
    }
    if (ran == 0) {
        it_log("natsconf_it: no such shape (see --list)");
        return 2;
    }
    it_log("%d of %d shapes passed", ran - failed, ran);
    return failed ? 1 : 0;
}
