/* natsprobe: what the NATS integration tests observe, from outside, of the
 * nats-servers that pmesh nodes run: monitoring endpoints over HTTP and
 * real messages over the raw NATS client protocol (Debian has no `nats`
 * command-line client). Loopback only; every wait is bounded.
 *
 *   natsprobe get HOST:PORT PATH [KEY[.KEY...]]
 *       GET http://HOST:PORT/PATH; print the body, or the value at the
 *       dotted KEY path: a string as is, a number as an integer, an object
 *       as its keys (sorted, space-separated), an array as its length; a
 *       "*" component walks every element of an array (one line each).
 *       Exit 1 if the request fails or the key is absent or null.
 *   natsprobe json KEY[.KEY...] < FILE
 *       The same lookup in JSON read from standard input.
 *   natsprobe free PORT COUNT
 *       Exit 0 if PORT..PORT+COUNT-1 can be bound on 127.0.0.1 now.
 *   natsprobe relay PUB_HOST:PORT SUB_HOST:PORT SUBJECT TIMEOUT_MS
 *       Subscribe on SUB, then publish on PUB every 100 ms until the
 *       subscriber receives one of those messages (interest crosses routes,
 *       gateways and leaf connections asynchronously). Exit 0 once it did,
 *       1 after TIMEOUT_MS.
 *   natsprobe js HOST:PORT STREAM REPLICAS TIMEOUT_MS [DOMAIN]
 *       Through the server at HOST:PORT, create stream STREAM (subjects
 *       STREAM.>, REPLICAS replicas; an existing one is fine), publish
 *       STREAM.x and wait for JetStream's ack. With DOMAIN the API is
 *       $JS.DOMAIN.API (how a leaf reaches the hub's JetStream). Retried
 *       until TIMEOUT_MS; exit 0 once acked. Prints the last error.
 */
#include <cjson/cJSON.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connect to "host:port" within TIMEOUT_MS; -1 on failure. */
static int dial(const char *hostport, uint32_t timeout_ms)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof err;
    if (poll(&p, 1, (int)timeout_ms) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 1000) != 1)
                return -1;
            continue;
        }
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* --- HTTP ----------------------------------------------------------------- */

static char *http_get(const char *hostport, const char *path)
{
    int fd = dial(hostport, 1000);
    if (fd < 0)
        return NULL;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, hostport);
    if (n < 0 || (size_t)n >= sizeof req || send_all(fd, req, (size_t)n)) {
        close(fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    uint64_t deadline = now_ms() + 3000;
    while (buf != NULL) {
        if (len + 4097 > cap) {
            if (cap >= (64u << 20))
                break;
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        uint64_t t = now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (t >= deadline || poll(&p, 1, (int)(deadline - t)) != 1)
            break;
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0) {
            buf[len] = '\0';
            close(fd);
            if (strncmp(buf, "HTTP/1.", 7) != 0 ||
                strncmp(buf + 8, " 200", 4) != 0) {
                free(buf);
                return NULL;
            }
            char *body = strstr(buf, "\r\n\r\n");
            if (body == NULL) {
                free(buf);
                return NULL;
            }
            memmove(buf, body + 4, strlen(body + 4) + 1);
            return buf;
        }
        len += (size_t)r;
    }
    free(buf);
    close(fd);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Print one value: a string as is, a number as an integer, an object as
 * its keys (sorted, space-separated), an array as its length. 0, or 1 for
 * an absent or null value. */
static int print_value(const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v))
        return 1;
    if (cJSON_IsString(v)) {
        puts(v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        printf("%.0f\n", v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        puts(cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsArray(v)) {
        printf("%d\n", cJSON_GetArraySize(v));
    } else {
        int n = cJSON_GetArraySize(v), i = 0;
        char **keys = calloc((size_t)n + 1, sizeof *keys);
        const cJSON *e;
        cJSON_ArrayForEach(e, v) keys[i++] = e->string;
        qsort(keys, (size_t)n, sizeof *keys, cmp_str);
        for (i = 0; i < n; i++)
            printf("%s%s", i ? " " : "", keys[i]);
        putchar('\n');
        free(keys);
    }
    return 0;
}

/* Follow the dotted PATH (modified) from V; a "*" component applies the
 * rest of the path to every element of an array, one line each. */
static int print_path(const cJSON *v, char *path)
{
    while (path != NULL && *path != '\0' && v != NULL) {
        char *dot = strchr(path, '.');
        if (dot != NULL)
            *dot = '\0';
        char *rest = dot ? dot + 1 : NULL;
        if (strcmp(path, "*") == 0 && cJSON_IsArray(v)) {
            int rc = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v)
            {
                char sub[512];
                snprintf(sub, sizeof sub, "%s", rest ? rest : "");
                rc |= print_path(e, sub);
            }
            return rc;
        }
        v = cJSON_GetObjectItemCaseSensitive(v, path);
        path = rest;
    }
    return print_value(v);
}

/* Print the value at the dotted KEY_PATH of JSON text BODY (see the usage
 * at the top). 0, or 1 if it is absent or null or BODY is not JSON. */
static int print_at(const char *body, const char *key_path)
{
    cJSON *j = cJSON_Parse(body);
    char path[512];
    snprintf(path, sizeof path, "%s", key_path);
    int rc = j ? print_path(j, path) : 1;
    cJSON_Delete(j);
    return rc;
}

static int cmd_get(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    char *body = http_get(argv[2], argv[3]);
    if (body == NULL)
        return 1;
    int rc = 0;
    if (argc < 5)
        puts(body);
    else
        rc = print_at(body, argv[4]);
    free(body);
    return rc;
}

/* natsprobe json KEY.KEY < file: the same lookup on standard input. */
static int cmd_json(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += r;
        if (cap - len < 2) {
            if (cap >= (64u << 20))
                break;
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf == NULL)
        return 1;
    buf[len] = '\0';
    int rc = print_at(buf, argv[2]);
    free(buf);
    return rc;
}

/* --- the NATS client protocol --------------------------------------------- */

struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* One protocol line (without CRLF) into LINE, waiting until DEADLINE.
 * 1 got one, 0 timeout, -1 error. Answers server PINGs. */
static int read_line(struct conn *c, char *line, size_t cap, uint64_t deadline)
{
    for (;;) {
        char *eol = memmem(c->buf, c->len, "\r\n", 2);
        if (eol != NULL) {
            size_t n = (size_t)(eol - c->buf);
            if (n >= cap)
                return -1;
            memcpy(line, c->buf, n);
            line[n] = '\0';
            memmove(c->buf, eol + 2, c->len - n - 2);
            c->len -= n + 2;
            if (strcmp(line, "PING") == 0) {
                if (send_all(c->fd, "PONG\r\n", 6))
                    return -1;
                continue;
            }
            return 1;
        }
        if (c->len == sizeof c->buf)
            return -1;
        uint64_t t = now_ms();
        if (t >= deadline)
            return 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(deadline - t));
        if (pr == 0)
            return 0;
        if (pr < 0)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

/* Read exactly N payload bytes plus CRLF. */
static int read_payload(struct conn *c, char *out, size_t n, uint64_t deadline)
{
    while (c->len < n + 2) {
        uint64_t t = now_ms();
        if (t >= deadline || n + 2 > sizeof c->buf)
            return -1;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - t)) != 1)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
    memcpy(out, c->buf, n);
    out[n] = '\0';
    memmove(c->buf, c->buf + n + 2, c->len - n - 2);
    c->len -= n + 2;
    return 0;
}

/* Connect, read INFO, CONNECT, and round-trip a PING. 0 or -1. */
static int nats_open(struct conn *c, const char *hostport, uint64_t deadline)
{
    c->len = 0;
    uint64_t t = now_ms();
    c->fd = dial(hostport, t < deadline ? (uint32_t)(deadline - t) : 1);
    if (c->fd < 0)
        return -1;
    char line[8192];
    if (read_line(c, line, sizeof line, deadline) != 1 ||
        strncmp(line, "INFO ", 5) != 0)
        goto fail;
    static const char hello[] =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false,"
        "\"name\":\"natsprobe\"}\r\nPING\r\n";
    if (send_all(c->fd, hello, sizeof hello - 1))
        goto fail;
    for (;;) {
        int r = read_line(c, line, sizeof line, deadline);
        if (r != 1)
            goto fail;
        if (strcmp(line, "PONG") == 0)
            return 0;
        if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "natsprobe: %s: %s\n", hostport, line);
            goto fail;
        }
    }
fail:
    close(c->fd);
    c->fd = -1;
    return -1;
}

/* Round-trip a PING: everything sent before it was processed. */
static int nats_flush(struct conn *c, uint64_t deadline)
{
    if (send_all(c->fd, "PING\r\n", 6))
        return -1;
    char line[8192];
    for (;;) {
        int r = read_line(c, line, sizeof line, deadline);
        if (r != 1)
            return -1;
        if (strcmp(line, "PONG") == 0)
            return 0;
    }
}

/* Wait for a MSG on C until DEADLINE; its payload into OUT. 1 got one, 0
 * timeout, -1 error. */
static int nats_next_msg(struct conn *c, char *out, size_t cap,
                         uint64_t deadline)
{
    char line[8192];
    for (;;) {
        int r = read_line(c, line, sizeof line, deadline);
        if (r != 1)
            return r;
        if (strncmp(line, "MSG ", 4) == 0) {
            /* MSG subject sid [reply] bytes */
            const char *sp = strrchr(line, ' ');
            long n = sp ? strtol(sp + 1, NULL, 10) : -1;
            if (n < 0 || (size_t)n >= cap)
                return -1;
            if (read_payload(c, out, (size_t)n, deadline) != 0)
                return -1;
            return 1;
        }
        if (strncmp(line, "-ERR", 4) == 0)
            fprintf(stderr, "natsprobe: %s\n", line);
    }
}

static void conn_drop(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static int cmd_relay(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *pub = argv[2], *sub = argv[3], *subj = argv[4];
    uint64_t deadline = now_ms() + strtoul(argv[5], NULL, 10);
    struct conn *s = calloc(1, sizeof *s), *p = calloc(1, sizeof *p);
    s->fd = p->fd = -1;
    int rc = 1, sent = 0;
    char want[64], got[256];
    /* Either server may restart meanwhile (a config change): any broken
     * connection is opened again until the deadline. */
    while (rc != 0 && now_ms() < deadline) {
        if (s->fd < 0) {
            char cmd[300];
            int n = snprintf(cmd, sizeof cmd, "SUB %s 1\r\n", subj);
            if (nats_open(s, sub, deadline) != 0 ||
                send_all(s->fd, cmd, (size_t)n) || nats_flush(s, deadline)) {
                conn_drop(s);
                usleep(100 * 1000);
                continue;
            }
        }
        if (p->fd < 0 && nats_open(p, pub, deadline) != 0) {
            conn_drop(p);
            usleep(100 * 1000);
            continue;
        }
        int n = snprintf(want, sizeof want, "probe-%d-%ld", sent++,
                         (long)getpid());
        char cmd[512];
        int m = snprintf(cmd, sizeof cmd, "PUB %s %d\r\n%s\r\n", subj, n,
                         want);
        if (send_all(p->fd, cmd, (size_t)m) || nats_flush(p, deadline)) {
            conn_drop(p);
            continue;
        }
        uint64_t until = now_ms() + 100;
        if (until > deadline)
            until = deadline;
        int r;
        while ((r = nats_next_msg(s, got, sizeof got, until)) == 1) {
            if (strncmp(got, "probe-", 6) == 0) {
                rc = 0;
                break;
            }
        }
        if (r < 0)
            conn_drop(s);
    }
    if (rc != 0)
        fprintf(stderr, "natsprobe: no message from %s reached %s on %s "
                "(%d sent)\n", pub, sub, subj, sent);
    conn_drop(s);
    conn_drop(p);
    free(s);
    free(p);
    return rc;
}

/* One request/reply on C: publish PAYLOAD to SUBJ with a reply inbox and
 * return the reply payload in OUT. 0, or -1 (no reply by DEADLINE). */
static int nats_request(struct conn *c, const char *subj, const char *payload,
                        char *out, size_t cap, uint64_t deadline)
{
    static int seq;
    char inbox[64], cmd[4096];
    snprintf(inbox, sizeof inbox, "_INBOX.probe.%ld.%d", (long)getpid(),
             ++seq);
    int n = snprintf(cmd, sizeof cmd, "SUB %s %d\r\nPUB %s %s %zu\r\n%s\r\n",
                     inbox, 100 + seq, subj, inbox, strlen(payload), payload);
    if (n < 0 || (size_t)n >= sizeof cmd || send_all(c->fd, cmd, (size_t)n))
        return -1;
    int r = nats_next_msg(c, out, cap, deadline);
    n = snprintf(cmd, sizeof cmd, "UNSUB %d\r\n", 100 + seq);
    send_all(c->fd, cmd, (size_t)n);
    return r == 1 ? 0 : -1;
}

static int cmd_js(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *server = argv[2], *stream = argv[3];
    int replicas = atoi(argv[4]);
    uint64_t deadline = now_ms() + strtoul(argv[5], NULL, 10);
    char api[128];
    if (argc > 6)
        snprintf(api, sizeof api, "$JS.%s.API", argv[6]);
    else
        snprintf(api, sizeof api, "$JS.API");
    struct conn *c = calloc(1, sizeof *c);
    c->fd = -1;
    char last[1024] = "no attempt";
    int rc = 1;
    while (rc != 0 && now_ms() < deadline) {
        if (c->fd < 0 && nats_open(c, server, deadline) != 0) {
            snprintf(last, sizeof last, "cannot connect to %s", server);
            usleep(200 * 1000);
            continue;
        }
        uint64_t step = now_ms() + 2000;
        if (step > deadline)
            step = deadline;
        char subj[256], body[512], reply[8192];
        snprintf(subj, sizeof subj, "%s.STREAM.CREATE.%s", api, stream);
        snprintf(body, sizeof body,
                 "{\"name\":\"%s\",\"subjects\":[\"%s.>\"],"
                 "\"num_replicas\":%d,\"storage\":\"memory\"}",
                 stream, stream, replicas);
        if (nats_request(c, subj, body, reply, sizeof reply, step) != 0) {
            snprintf(last, sizeof last, "no reply to %s", subj);
            close(c->fd);
            c->fd = -1;
            usleep(200 * 1000);
            continue;
        }
        cJSON *j = cJSON_Parse(reply);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "err_code");
        /* 10058: stream name already in use (an earlier attempt made it). */
        int ok = e == NULL || (cJSON_IsNumber(code) &&
                               code->valuedouble == 10058);
        if (!ok)
            snprintf(last, sizeof last, "stream create: %.900s", reply);
        cJSON_Delete(j);
        if (!ok) {
            usleep(300 * 1000);
            continue;
        }
        snprintf(subj, sizeof subj, "%s.x", stream);
        if (nats_request(c, subj, "hello", reply, sizeof reply, step) != 0) {
            snprintf(last, sizeof last, "no ack for %s", subj);
            continue;
        }
        j = cJSON_Parse(reply);
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
        if (cJSON_IsNumber(seq) &&
            cJSON_GetObjectItemCaseSensitive(j, "error") == NULL)
            rc = 0;
        else
            snprintf(last, sizeof last, "publish: %.900s", reply);
        cJSON_Delete(j);
        if (rc != 0)
            usleep(300 * 1000);
    }
    if (rc != 0)
        fprintf(stderr, "natsprobe: js via %s: %s\n", server, last);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return rc;
}

/* natsprobe free PORT COUNT: exit 0 if ports PORT..PORT+COUNT-1 can all be
 * bound on 127.0.0.1 right now (tests use it to skip ports in use). */
static int cmd_free(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long base = strtol(argv[2], NULL, 10), n = strtol(argv[3], NULL, 10);
    if (base <= 0 || n <= 0 || base + n > 65536)
        return 2;
    for (long p = base; p < base + n; p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 1;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)p),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (!ok)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc >= 2 && strcmp(argv[1], "get") == 0)
        rc = cmd_get(argc, argv);
    else if (argc >= 2 && strcmp(argv[1], "relay") == 0)
        rc = cmd_relay(argc, argv);
    else if (argc >= 2 && strcmp(argv[1], "js") == 0)
        rc = cmd_js(argc, argv);
    else if (argc >= 2 && strcmp(argv[1], "json") == 0)
        rc = cmd_json(argc, argv);
    else if (argc >= 2 && strcmp(argv[1], "free") == 0)
        rc = cmd_free(argc, argv);
    if (rc == 2)
        fprintf(stderr, "usage: natsprobe get HOST:PORT PATH [KEY.KEY]\n"
                        "       natsprobe json KEY.KEY < FILE\n"
                        "       natsprobe free PORT COUNT\n"
                        "       natsprobe relay PUB SUB SUBJECT TIMEOUT_MS\n"
                        "       natsprobe js HOST:PORT STREAM REPLICAS "
                        "TIMEOUT_MS [DOMAIN]\n");
    return rc;
}
