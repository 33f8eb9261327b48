/* test_node_natsd.c: the nats-server supervisor (src/node/natsd.h) against
 * the real stock nats-server, on loopback ports chosen by the kernel.
 *
 * Each test gets a fresh home and loop (fixture); the teardown frees the
 * supervisor, which stops its server, so no nats-server outlives a test,
 * also when one fails. Tests that need the binary skip when it is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/say.h"
#include "fsm/fsm.h"
#include "fsm/natsconf.h"
#include "net/net.h"
#include "node/natsd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000

struct fx {
    char dir[64];
    struct net_loop *loop;
    struct natsd *d;
    struct natsd *peer[2]; /* more servers of a mesh (JetStream tests) */
    uint16_t port, http;
};

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_text(const char *dir, const char *leaf, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, leaf);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void write_conf(struct fx *f, const char *name, uint16_t port,
                       uint16_t http, int jetstream)
{
    char c[1024];
    snprintf(c, sizeof c,
             "server_name: \"%s\"\nhost: \"127.0.0.1\"\nport: %u\n"
             "http: \"127.0.0.1:%u\"\n%s%s%s",
             name, (unsigned)port, (unsigned)http,
             jetstream ? "jetstream { store_dir: \"" : "",
             jetstream ? f->dir : "",
             jetstream ? "/nats\"\n  max_memory_store: 16777216\n"
                         "  max_file_store: 16777216\n}\n"
                       : "");
    write_text(f->dir, "nats.conf", c);
}

static int have_server(void)
{
    char p[4096];
    return natsd_find_binary(p, sizeof p) == 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pmesh-test-natsd-XXXXXX");
    if (mkdtemp(f->dir) == NULL || net_loop_new(&f->loop) != 0) {
        free(f);
        return -1;
    }
    f->port = free_port();
    f->http = free_port();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    natsd_free(f->d);
    for (size_t i = 0; i < 2; i++)
        natsd_free(f->peer[i]);
    net_loop_free(f->loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void make(struct fx *f, const char *binary, uint32_t ready_ms)
{
    struct natsd_options o = {.home = f->dir,
                              .binary = binary,
                              .http_port = f->http,
                              .ready_timeout_ms = ready_ms,
                              .backoff_min_ms = 50,
                              .backoff_max_ms = 400,
                              .health_every_ms = 100};
    assert_int_equal(natsd_new(f->loop, &o, &f->d), 0);
}

/* --- waiting on the loop ------------------------------------------------- */

struct until {
    struct natsd *d;
    int state;
    pid_t not_pid;       /* wait for a pid other than this one */
    uint32_t min_starts;
    uint32_t min_crashes;
    int monitor;         /* wait for monitoring data too */
};

static int reached(void *ctx)
{
    struct until *u = ctx;
    struct natsd_health h;
    natsd_health(u->d, &h);
    return h.state == u->state && (u->not_pid == 0 || h.pid != u->not_pid) &&
           h.starts >= u->min_starts && h.crashes >= u->min_crashes &&
           (!u->monitor || h.have_monitor);
}

static int wait_for(struct fx *f, struct until *u)
{
    u->d = f->d;
    return net_loop_run_until(f->loop, reached, u, WAIT_MS);
}

static void wait_ready(struct fx *f, pid_t not_pid)
{
    struct until u = {.state = NATSD_READY, .not_pid = not_pid};
    assert_int_equal(wait_for(f, &u), 0);
}

static int pid_gone(pid_t pid)
{
    /* Not our child (natsd reaps it): a zombie would still answer kill 0,
     * so look at /proc. */
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
    FILE *s = fopen(p, "r");
    if (s == NULL)
        return 1;
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, s);
    fclose(s);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static int file_has(const char *dir, const char *leaf, const char *needle)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, leaf);
    FILE *s = fopen(p, "r");
    if (s == NULL)
        return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, s);
    fclose(s);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static int count_in(const char *dir, const char *leaf, const char *needle)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, leaf);
    FILE *s = fopen(p, "r");
    if (s == NULL)
        return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, s);
    fclose(s);
    buf[n] = '\0';
    int c = 0;
    for (const char *q = buf; (q = strstr(q, needle)) != NULL; q++)
        c++;
    return c;
}

struct logwait {
    const char *dir, *needle;
    int count;
};
static int log_count_reached(void *ctx)
{
    struct logwait *w = ctx;
    return count_in(w->dir, "nats.log", w->needle) >= w->count;
}

/* --- tests --------------------------------------------------------------- */

/* Start: the server runs our config, is ready, its pid is recorded, its
 * output goes to nats.log, and its argv carries only the config path. */
static void starts_and_gets_ready(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 1);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    assert_true(h.pid > 0);
    assert_int_equal(h.starts, 1);
    assert_int_equal(h.crashes, 0);
    assert_string_equal(h.error, "");
    char p[128], want[32];
    snprintf(p, sizeof p, "/proc/%ld/cmdline", (long)h.pid);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    char cmd[512];
    ssize_t n = read(fd, cmd, sizeof cmd);
    close(fd);
    char exp[512];
    int el = snprintf(exp, sizeof exp, "nats-server%c-c%c%s/nats.conf", 0, 0,
                      f->dir);
    assert_int_equal(n, el + 1);
    assert_memory_equal(cmd, exp, (size_t)el);
    snprintf(want, sizeof want, "%ld", (long)h.pid);
    assert_true(file_has(f->dir, "nats.pid", want));
    assert_true(file_has(f->dir, "nats.log", "Server is ready"));
    /* Monitoring data follows; a lone JetStream server, no routes. */
    struct until u = {.state = NATSD_READY, .monitor = 1};
    assert_int_equal(wait_for(f, &u), 0);
    natsd_health(f->d, &h);
    assert_string_equal(h.server_name, "s1");
    assert_true(h.jetstream);
    assert_false(h.js_clustered);
    assert_int_equal(h.routes, 0);
    assert_int_equal(h.gateways_out, 0);
}

/* The JetStream store nats-server creates in the home is owner-only even
 * under a permissive umask (F6 of tests/chaos/FINDINGS.md: it was 0750). */
static void store_directory_is_owner_only(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    mode_t old = umask(0);
    write_conf(f, "s1", f->port, f->http, 1);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    umask(old);
    static const char *const dirs[] = {"nats", "nats/jetstream"};
    for (size_t i = 0; i < 2; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", f->dir, dirs[i]);
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 077) != 0)
            fail_msg("%s has mode %o", p, (unsigned)(st.st_mode & 0777));
    }
}

/* A server that dies is started again (with backoff) and gets ready. */
static void restarts_after_a_crash(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 0);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t first = h.pid;
    assert_int_equal(kill(first, SIGKILL), 0);
    struct until u = {.state = NATSD_READY, .not_pid = first,
                      .min_starts = 2, .min_crashes = 1};
    assert_int_equal(wait_for(f, &u), 0);
    natsd_health(f->d, &h);
    assert_true(h.pid != first);
    assert_true(pid_gone(first));
    assert_int_equal(h.crashes, 1);
    assert_true(WIFSIGNALED(h.last_exit));
    assert_int_equal(WTERMSIG(h.last_exit), SIGKILL);
    assert_string_equal(h.error, ""); /* ready again: no current problem */
    /* Twice more: the backoff grows but stays bounded (400 ms here). */
    for (int i = 0; i < 2; i++) {
        natsd_health(f->d, &h);
        pid_t p = h.pid;
        assert_int_equal(kill(p, SIGKILL), 0);
        struct until v = {.state = NATSD_READY, .not_pid = p,
                          .min_crashes = (uint32_t)(2 + i)};
        assert_int_equal(wait_for(f, &v), 0);
    }
}

/* RELOAD sends SIGHUP: same process, nats-server reloads its file. */
static void reload_sends_sighup(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 0);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t pid = h.pid;
    write_text(f->dir, "nats.conf", "");
    write_conf(f, "s1", f->port, f->http, 0);
    natsd_config_changed(f->d, FSM_NATS_RELOAD);
    struct logwait w = {f->dir, "Reloaded server configuration", 1};
    assert_int_equal(net_loop_run_until(f->loop, log_count_reached, &w,
                                        WAIT_MS), 0);
    natsd_health(f->d, &h);
    assert_int_equal(h.pid, pid);
    assert_int_equal(h.reloads, 1);
    assert_int_equal(h.state, NATSD_READY);
    /* FSM_NATS_SAME does nothing. */
    natsd_config_changed(f->d, FSM_NATS_SAME);
    natsd_health(f->d, &h);
    assert_int_equal(h.reloads, 1);
}

/* RESTART stops the server and starts it on the new config (new port). */
static void restart_applies_new_ports(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 1);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t old = h.pid;
    uint16_t http2 = free_port();
    write_conf(f, "s2", free_port(), http2, 1);
    natsd_set_monitor(f->d, NULL, http2);
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    struct until u = {.state = NATSD_READY, .not_pid = old, .monitor = 1};
    assert_int_equal(wait_for(f, &u), 0);
    natsd_health(f->d, &h);
    assert_true(pid_gone(old));
    assert_int_equal(h.restarts, 1);
    assert_int_equal(h.crashes, 0);
    assert_string_equal(h.server_name, "s2");
}

/* With a restart delay set, a ready server serves on for that long after
 * a change that needs a restart; a second change meanwhile adds no second
 * restart, and the one restart reads the latest file. */
static void restart_waits_for_its_delay(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 1);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t old = h.pid;
    natsd_set_restart_delay(f->d, 400);
    write_conf(f, "s2", f->port, f->http, 1);
    uint64_t t0 = net_mono_ms();
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    natsd_health(f->d, &h);
    assert_int_equal(h.state, NATSD_READY);
    assert_int_equal(h.pid, old);
    assert_true(h.restart_in_ms > 0 && h.restart_in_ms <= 400);
    write_conf(f, "s3", f->port, f->http, 1);
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    struct until u = {.state = NATSD_READY, .not_pid = old, .monitor = 1};
    assert_int_equal(wait_for(f, &u), 0);
    assert_true(net_mono_ms() - t0 >= 400);
    natsd_health(f->d, &h);
    assert_true(pid_gone(old));
    assert_int_equal(h.restarts, 1);
    assert_int_equal(h.restart_in_ms, 0);
    assert_int_equal(h.crashes, 0);
    assert_string_equal(h.server_name, "s3");
}

/* Stop: SIGTERM, the process is gone and reaped, nats.pid removed; the
 * supervisor does not start it again. */
static void stop_leaves_no_process(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 1);
    make(f, NULL, 0);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t pid = h.pid;
    natsd_stop(f->d);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    natsd_health(f->d, &h);
    assert_int_equal(h.state, NATSD_IDLE);
    assert_int_equal(h.pid, 0);
    char p[128];
    snprintf(p, sizeof p, "%s/nats.pid", f->dir);
    assert_int_equal(access(p, F_OK), -1);
    assert_true(WIFEXITED(h.last_exit) || WIFSIGNALED(h.last_exit));
    /* A change after the stop starts nothing. */
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    natsd_health(f->d, &h);
    assert_int_equal(h.state, NATSD_IDLE);
    assert_int_equal(h.pid, 0);
}

/* No binary: a clear error and backoff, never a crash. */
static void missing_binary_is_reported(void **state)
{
    struct fx *f = *state;
    write_conf(f, "s1", f->port, f->http, 0);
    make(f, "/nonexistent/nats-server", 0);
    natsd_start(f->d);
    struct natsd_health h;
    natsd_health(f->d, &h);
    assert_int_equal(h.state, NATSD_BACKOFF);
    assert_int_equal(h.pid, 0);
    assert_int_equal(h.starts, 0);
    assert_non_null(strstr(h.error, "not found"));
    assert_non_null(strstr(h.error, "--no-nats"));
}

/* A config nats-server refuses: it exits, is retried with backoff; a good
 * config then starts it at once. */
static void bad_config_backs_off_then_recovers(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_text(f->dir, "nats.conf", "port: \"not a port\"\nbogus {{{\n");
    make(f, NULL, 0);
    natsd_start(f->d);
    struct until u = {.state = NATSD_BACKOFF, .min_crashes = 2};
    assert_int_equal(wait_for(f, &u), 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    assert_true(WIFEXITED(h.last_exit));
    assert_true(WEXITSTATUS(h.last_exit) != 0);
    assert_non_null(strstr(h.error, "exited with status"));
    write_conf(f, "s1", f->port, f->http, 0);
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    wait_ready(f, 0);
    natsd_health(f->d, &h);
    assert_string_equal(h.error, "");
}

/* No nats.conf yet: waits, and starts when the node writes one. */
static void waits_for_the_first_config(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    make(f, NULL, 0);
    natsd_start(f->d);
    struct natsd_health h;
    natsd_health(f->d, &h);
    assert_int_equal(h.state, NATSD_WAITING);
    assert_int_equal(h.starts, 0);
    write_conf(f, "s1", f->port, f->http, 0);
    natsd_config_changed(f->d, FSM_NATS_RESTART);
    wait_ready(f, 0);
}

/* A server whose monitoring port never answers is killed after the ready
 * bound and counted as a crash. */
static void not_ready_is_killed(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    write_conf(f, "s1", f->port, f->http, 0);
    f->http = free_port(); /* the supervisor polls a port nobody serves */
    make(f, NULL, 600);
    natsd_start(f->d);
    struct natsd_health h;
    natsd_health(f->d, &h);
    pid_t first = h.pid;
    assert_true(first > 0);
    struct until u = {.state = NATSD_STARTING, .min_crashes = 1,
                      .not_pid = first};
    assert_int_equal(wait_for(f, &u), 0);
    assert_true(pid_gone(first));
    natsd_health(f->d, &h);
    assert_non_null(strstr(h.error, "signal 9"));
}

/* A nats-server of this home left over from an earlier node is killed by
 * natsd_new; an unrelated process named in nats.pid is not. */
static void leftover_server_is_killed(void **state)
{
    struct fx *f = *state;
    char bin[4096];
    if (natsd_find_binary(bin, sizeof bin) != 0)
        skip();
    write_conf(f, "s1", f->port, f->http, 0);
    char conf[128];
    snprintf(conf, sizeof conf, "%s/nats.conf", f->dir);
    pid_t stray = fork();
    assert_true(stray >= 0);
    if (stray == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(bin, "nats-server", "-c", conf, (char *)NULL);
        _exit(127);
    }
    /* An innocent process: a sleeping child. */
    pid_t innocent = fork();
    assert_true(innocent >= 0);
    if (innocent == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    char b[32];
    snprintf(b, sizeof b, "%ld\n", (long)innocent);
    write_text(f->dir, "nats.pid", b);
    make(f, NULL, 0);
    natsd_free(f->d);
    f->d = NULL;
    assert_int_equal(kill(innocent, 0), 0); /* untouched */
    kill(innocent, SIGKILL);
    waitpid(innocent, NULL, 0);
    /* Now name the stray server, once it has exec'd. */
    char procdir[64];
    snprintf(procdir, sizeof procdir, "/proc/%ld", (long)stray);
    for (int i = 0; i < 400 && !file_has(procdir, "cmdline", "nats-server");
         i++)
        usleep(5 * 1000);
    snprintf(b, sizeof b, "%ld\n", (long)stray);
    write_text(f->dir, "nats.pid", b);
    make(f, NULL, 0);
    int status = 0;
    assert_int_equal(waitpid(stray, &status, 0), stray);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* --- JetStream peer removal (natsd_js_remove_peer) ------------------------ */

/* Configs rendered by src/fsm/natsconf.h, as the node writes them: system
 * account SYS with user FSM_NATSCONF_SYS_USER, clustered JetStream from 3
 * servers on. Members a, b, c; a is supervised by f->d, the others by
 * f->peer[0], f->peer[1], all on the fixture's loop. */
#define MESH_MAX 3
static const uint8_t mesh_secret[32] = "pmesh unit test secret, 32 bytes";

struct mesh {
    int n;
    char home[MESH_MAX][96];
    struct fsm_natsconf_member m[MESH_MAX];
    struct natsd *d[MESH_MAX];
    char pw[FSM_NATSCONF_PASSWORD_LEN + 1];
};

/* N distinct free loopback ports (all held until every one is chosen). */
static void free_ports(uint16_t *out, int n)
{
    int fds[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        socklen_t l = sizeof a;
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&a, &l), 0);
        out[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* N members rendered; the first RUNNING of them started. */
static void mesh_start(struct fx *f, struct mesh *ms, int n, int running,
                       uint32_t js_remove_timeout_ms)
{
    static const char *const names[MESH_MAX] = {"a", "b", "c"};
    memset(ms, 0, sizeof *ms);
    ms->n = n;
    uint16_t ports[5 * MESH_MAX];
    free_ports(ports, 5 * n);
    for (int i = 0; i < n; i++) {
        snprintf(ms->home[i], sizeof ms->home[i], "%s/%s", f->dir, names[i]);
        assert_int_equal(mkdir(ms->home[i], 0700), 0);
        ms->m[i] = (struct fsm_natsconf_member){
            .id = 100 + (uint64_t)i, .name = names[i],
            .role = FSM_NATSCONF_VOTER, .seed = i == 0, .cluster = "east",
            .host = "127.0.0.1", .client_port = ports[5 * i],
            .cluster_port = ports[5 * i + 1],
            .gateway_port = ports[5 * i + 2],
            .leafnode_port = ports[5 * i + 3],
            .http_port = ports[5 * i + 4]};
    }
    assert_int_equal(fsm_natsconf_sys_password(mesh_secret,
                                               sizeof mesh_secret, ms->pw),
                     0);
    for (int i = 0; i < n; i++) {
        struct fsm_natsconf_input in = {
            .members = ms->m, .members_len = (size_t)n,
            .secret = mesh_secret, .secret_len = sizeof mesh_secret,
            .self_id = ms->m[i].id, .home = ms->home[i],
            .js_max_memory_bytes = 16u << 20, .js_max_file_bytes = 64u << 20};
        char *text = NULL;
        assert_int_equal(fsm_natsconf_render(&in, &text, NULL), 0);
        write_text(ms->home[i], "nats.conf", text);
        free(text);
        struct natsd_options o = {.home = ms->home[i],
                                  .http_port = ms->m[i].http_port,
                                  .backoff_min_ms = 50,
                                  .backoff_max_ms = 400,
                                  .health_every_ms = 100,
                                  .js_remove_timeout_ms =
                                      js_remove_timeout_ms};
        struct natsd **slot = i == 0 ? &f->d : &f->peer[i - 1];
        assert_int_equal(natsd_new(f->loop, &o, slot), 0);
        ms->d[i] = *slot;
        if (i < running)
            natsd_start(ms->d[i]);
    }
}

/* Every running server of the mesh ready, with monitoring data; for a
 * clustered mesh also a meta leader and a meta group of WANT_SIZE. */
struct formed {
    struct mesh *ms;
    uint32_t want_size;
};
static int mesh_formed(void *ctx)
{
    struct formed *w = ctx;
    for (int i = 0; i < w->ms->n; i++) {
        struct natsd_health h;
        natsd_health(w->ms->d[i], &h);
        if (h.state == NATSD_IDLE) /* not started */
            continue;
        if (h.state != NATSD_READY || !h.have_monitor)
            return 0;
        if (w->want_size != 0 && (h.js_cluster_size != w->want_size ||
                                  h.js_meta_leader[0] == '\0'))
            return 0;
    }
    return 1;
}

/* mesh_start, then wait until the mesh has formed: its running servers
 * ready and, clustered, in one meta group of all of them. */
static void mesh_up(struct fx *f, struct mesh *ms, int n, int running,
                    uint32_t js_remove_timeout_ms)
{
    mesh_start(f, ms, n, running, js_remove_timeout_ms);
    struct formed fw = {.ms = ms,
                        .want_size = n > 1 ? (uint32_t)running : 0};
    assert_int_equal(net_loop_run_until(f->loop, mesh_formed, &fw, WAIT_MS),
                     0);
}

/* GET PATH from the monitoring port; the parsed JSON body, or NULL. */
static cJSON *http_json(uint16_t port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static char buf[1 << 16];
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[128];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            ssize_t r;
            while (len < sizeof buf - 1 &&
                   (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
                len += (size_t)r;
        }
    }
    close(fd);
    buf[len] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    return body ? cJSON_Parse(body + 4) : NULL;
}

/* /jsz meta_cluster of a server: its cluster_size (-1 when unreadable),
 * the meta leader's name in LEADER, and whether NAME is among the peers
 * it lists (only the meta leader lists them, as "replicas"). */
static int jsz_meta(uint16_t http, const char *name, int *listed,
                    char *leader, size_t leader_len)
{
    cJSON *j = http_json(http, "/jsz");
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(j, "meta_cluster");
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(mc, "cluster_size");
    int size = cJSON_IsNumber(sz) ? sz->valueint : -1;
    *listed = 0;
    const cJSON *ld = cJSON_GetObjectItemCaseSensitive(mc, "leader");
    snprintf(leader, leader_len, "%s",
             cJSON_IsString(ld) ? ld->valuestring : "");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(mc, "replicas"))
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name");
        if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
            *listed = 1;
    }
    if (getenv("PMESH_DEBUG") != NULL && j != NULL) {
        char *t = cJSON_PrintUnformatted(mc);
        fprintf(stderr, "jsz :%u meta_cluster %s\n", (unsigned)http,
                t ? t : "?");
        free(t);
    }
    cJSON_Delete(j);
    return size;
}

/* Every survivor (not GONE) shows a meta group of WANT, the meta leader
 * (a survivor) does not list GONE, and no removal is pending on any
 * supervisor. */
struct shrunk {
    struct mesh *ms;
    int gone;
    int want;
    uint64_t next_ms;
};
static int meta_shrunk(void *ctx)
{
    struct shrunk *w = ctx;
    uint64_t now = net_mono_ms();
    if (now < w->next_ms)
        return 0;
    w->next_ms = now + 100;
    int leader_seen = 0;
    for (int i = 0; i < w->ms->n; i++) {
        if (i == w->gone)
            continue;
        struct natsd_health h;
        natsd_health(w->ms->d[i], &h);
        if (h.js_remove_pending != 0)
            return 0;
        int listed;
        char leader[NATSD_NAME_LEN];
        if (jsz_meta(w->ms->m[i].http_port, w->ms->m[w->gone].name, &listed,
                     leader, sizeof leader) != w->want || listed)
            return 0;
        if (strcmp(leader, w->ms->m[i].name) == 0)
            leader_seen = 1;
    }
    return leader_seen;
}

struct drained {
    struct natsd *d;
};
static int queue_drained(void *ctx)
{
    struct drained *w = ctx;
    struct natsd_health h;
    natsd_health(w->d, &h);
    return h.js_remove_pending == 0;
}

/* A server that left is dropped from the JetStream meta group: of 3
 * servers one stops for good, both survivors are asked to remove it (as
 * every remaining server of a mesh may be), and their meta group shrinks
 * from 3 to 2 without it. Asking again, or for a name that never was a
 * peer, ends as done at once instead of retrying. */
static void js_remove_peer_shrinks_meta_group(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    struct mesh ms;
    mesh_up(f, &ms, 3, 3, 0);
    /* Stop a server that is not the meta leader, so the survivors need no
     * new election (JetStream's own takes seconds; not what is tested). */
    struct natsd_health h;
    natsd_health(ms.d[0], &h);
    int gone = strcmp(h.js_meta_leader, "c") == 0 ? 1 : 2;
    int other = 3 - gone;
    natsd_stop(ms.d[gone]);
    /* Stock nats-server keeps the dead peer; its meta leader lists it. */
    int lead = h.js_meta_leader[0] - 'a';
    assert_true(lead >= 0 && lead < 3 && lead != gone);
    int listed;
    char leader[NATSD_NAME_LEN];
    assert_int_equal(jsz_meta(ms.m[lead].http_port, ms.m[gone].name, &listed,
                              leader, sizeof leader), 3);
    assert_string_equal(leader, ms.m[lead].name);
    assert_true(listed);

    assert_int_equal(natsd_js_remove_peer(ms.d[0], ms.m[gone].name,
                                          FSM_NATSCONF_SYS_USER, ms.pw), 0);
    assert_int_equal(natsd_js_remove_peer(ms.d[other], ms.m[gone].name,
                                          FSM_NATSCONF_SYS_USER, ms.pw), 0);
    struct shrunk sw = {.ms = &ms, .gone = gone, .want = 2};
    assert_int_equal(net_loop_run_until(f->loop, meta_shrunk, &sw, WAIT_MS),
                     0);
    for (int i = 0; i < 3; i++) {
        if (i == gone)
            continue;
        natsd_health(ms.d[i], &h);
        assert_int_equal(h.js_removed, 1);
        assert_int_equal(h.js_remove_failed, 0);
        assert_int_equal(h.js_remove_pid, 0);
        assert_string_equal(h.error, "");
    }

    /* Already removed, and never a peer: both done, nothing retried. */
    natsd_health(ms.d[0], &h);
    uint32_t attempts = h.js_remove_attempts;
    assert_int_equal(natsd_js_remove_peer(ms.d[0], ms.m[gone].name,
                                          FSM_NATSCONF_SYS_USER, ms.pw), 0);
    assert_int_equal(natsd_js_remove_peer(ms.d[0], "nosuch",
                                          FSM_NATSCONF_SYS_USER, ms.pw), 0);
    natsd_health(ms.d[0], &h);
    assert_int_equal(h.js_remove_pending, 2);
    struct drained dw = {ms.d[0]};
    assert_int_equal(net_loop_run_until(f->loop, queue_drained, &dw,
                                        WAIT_MS), 0);
    natsd_health(ms.d[0], &h);
    assert_int_equal(h.js_remove_attempts - attempts, 2); /* one each */
    assert_int_equal(h.js_removed, 3);
    assert_int_equal(h.js_remove_failed, 0);
    assert_int_equal(jsz_meta(ms.m[other].http_port, ms.m[gone].name,
                              &listed, leader, sizeof leader), 2);
    assert_false(listed);
}

/* The leader of the meta group lists server c (its peer id) again
 * after c's removal was answered: removed again. Every supervisor
 * watches its done removals; the one whose server leads acts.
 *
 * Staged without a restart: a and b run and form the meta group while c,
 * rendered as a member, has not started; both are asked to remove c: not
 * a peer, done. Then c starts and joins the group, as a peer whose removal
 * a restart undid would be back. */
static void js_removal_undone_is_redone(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    struct mesh ms;
    mesh_up(f, &ms, 3, 2, 0);
    char say[128];
    snprintf(say, sizeof say, "%s/say.log", f->dir);
    assert_int_equal(pm_say_open(say), 0);
    pm_say_level(PM_INFO);
    for (int i = 0; i < 2; i++)
        assert_int_equal(natsd_js_remove_peer(ms.d[i], "c",
                                              FSM_NATSCONF_SYS_USER, ms.pw),
                         0);
    struct drained d0 = {ms.d[0]}, d1 = {ms.d[1]};
    int rc0 = net_loop_run_until(f->loop, queue_drained, &d0, WAIT_MS);
    int rc1 = net_loop_run_until(f->loop, queue_drained, &d1, WAIT_MS);
    natsd_start(ms.d[2]);
    struct formed fw3 = {.ms = &ms, .want_size = 3};
    int rc3 = net_loop_run_until(f->loop, mesh_formed, &fw3, WAIT_MS);
    /* Then a and b show a group of 2 again, without c, nothing pending. */
    struct shrunk sw = {.ms = &ms, .gone = 2, .want = 2};
    int rc4 = net_loop_run_until(f->loop, meta_shrunk, &sw, WAIT_MS);
    struct natsd_health h0, h1;
    natsd_health(ms.d[0], &h0);
    natsd_health(ms.d[1], &h1);
    pm_say_open(NULL);
    pm_say_level(getenv("PMESH_DEBUG") != NULL ? PM_DEBUG : PM_WARN);
    assert_int_equal(rc0, 0);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc3, 0);
    assert_int_equal(rc4, 0);
    /* Two "not a peer", then the leader's supervisor removed it. */
    assert_int_equal(h0.js_removed + h1.js_removed, 3);
    assert_true(file_has(f->dir, "say.log", "nothing to remove"));
    assert_true(file_has(f->dir, "say.log",
                         "server c is in the JetStream meta group again"));
    assert_true(file_has(f->dir, "say.log", "removed server c from"));
}

/* natsd_stop while a removal attempt runs: its child is killed and reaped
 * (no child of ours is left, running or zombie), and the queue is dropped:
 * started again, the supervisor attempts nothing. */
static void stop_during_removal_leaves_no_child(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    struct mesh ms;
    mesh_up(f, &ms, 1, 1, 0);
    /* A lone server has no meta group: the attempt cannot succeed. */
    assert_int_equal(natsd_js_remove_peer(f->d, "b", FSM_NATSCONF_SYS_USER,
                                          ms.pw), 0);
    struct natsd_health h;
    natsd_health(f->d, &h);
    assert_int_equal(h.js_remove_pending, 1);
    pid_t child = h.js_remove_pid;
    assert_true(child > 0); /* forked at once: the server is ready */
    /* Let it connect and wait for an answer that never comes (a lone
     * server's JetStream API has no meta leader to answer: 2 s). */
    struct drained dw = {f->d};
    assert_int_equal(net_loop_run_until(f->loop, queue_drained, &dw, 300),
                     -PM_ETIMEOUT);
    natsd_health(f->d, &h);
    assert_int_equal(h.js_remove_pid, child);
    natsd_stop(f->d);
    natsd_health(f->d, &h);
    assert_int_equal(h.js_remove_pending, 0);
    assert_int_equal(h.js_remove_pid, 0);
    assert_int_equal(kill(child, 0), -1);
    assert_int_equal(errno, ESRCH);
    /* natsd_stop reaped nats-server too: no child at all remains. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    natsd_start(f->d);
    wait_ready(f, 0);
    struct until u = {.state = NATSD_READY, .monitor = 1};
    assert_int_equal(wait_for(f, &u), 0);
    natsd_health(f->d, &h);
    assert_int_equal(h.js_remove_pending, 0);
    assert_int_equal(h.js_remove_pid, 0);
}

/* A removal that cannot succeed (here: a wrong password) is retried with
 * backoff, then given up with one clear error after the bound; no
 * password is in an error text or a log line. */
static void js_remove_gives_up(void **state)
{
    struct fx *f = *state;
    if (!have_server())
        skip();
    struct mesh ms;
    mesh_up(f, &ms, 1, 1, 1200);
    /* Every diagnostic line, to look for the passwords in. */
    char say[128];
    snprintf(say, sizeof say, "%s/say.log", f->dir);
    assert_int_equal(pm_say_open(say), 0);
    pm_say_level(PM_DEBUG);
    const char *wrong = "not-the-sys-password";
    uint64_t t0 = net_mono_ms();
    int rc = natsd_js_remove_peer(f->d, "b", FSM_NATSCONF_SYS_USER, wrong);
    struct drained dw = {f->d};
    int rc2 = net_loop_run_until(f->loop, queue_drained, &dw, WAIT_MS);
    uint64_t took = net_mono_ms() - t0;
    struct natsd_health h;
    natsd_health(f->d, &h);
    int rc3 = natsd_js_remove_peer(f->d, "c", FSM_NATSCONF_SYS_USER, ms.pw);
    pm_say_open(NULL);
    pm_say_level(getenv("PMESH_DEBUG") != NULL ? PM_DEBUG : PM_WARN);
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(rc3, 0);
    assert_true(file_has(f->dir, "say.log", "gave up removing server b"));
    assert_false(file_has(f->dir, "say.log", wrong));
    assert_false(file_has(f->dir, "say.log", ms.pw));
    assert_int_equal(natsd_js_remove_cancel(f->d, "c"), 0);
    assert_int_equal(h.js_remove_failed, 1);
    assert_int_equal(h.js_removed, 0);
    assert_int_equal(h.js_remove_pid, 0);
    assert_non_null(strstr(h.error, "gave up removing server b"));
    assert_null(strstr(h.error, wrong));
    /* Attempts at 0, 0.5 and 1.5 s (the third past the 1.2 s bound), or
     * fewer if the machine is slow: retried, and not given up early. */
    assert_true(took >= 1200);
    assert_true(h.js_remove_attempts >= 2);
    char want[64];
    snprintf(want, sizeof want, "after %u attempts", h.js_remove_attempts);
    assert_non_null(strstr(h.error, want));
    assert_int_equal(h.state, NATSD_READY); /* the server is not touched */
    /* A later call for the name starts over: an attempt at once. */
    assert_int_equal(natsd_js_remove_peer(f->d, "b", FSM_NATSCONF_SYS_USER,
                                          ms.pw), 0);
    natsd_health(f->d, &h);
    assert_int_equal(h.js_remove_pending, 1);
    assert_true(h.js_remove_pid > 0);
}

/* Bad arguments, the bounded queue, and cancelling; nothing runs (no
 * server), so the queue only fills. */
static void js_remove_arguments_and_queue(void **state)
{
    struct fx *f = *state;
    make(f, "/nonexistent/nats-server", 0);
    struct natsd *d = f->d;
    assert_int_equal(natsd_js_remove_peer(d, NULL, "sys", "pw"), -PM_EINVAL);
    assert_int_equal(natsd_js_remove_peer(d, "", "sys", "pw"), -PM_EINVAL);
    assert_int_equal(natsd_js_remove_peer(d, "a", NULL, "pw"), -PM_EINVAL);
    assert_int_equal(natsd_js_remove_peer(d, "a", "sys", ""), -PM_EINVAL);
    assert_int_equal(natsd_js_remove_peer(d, "a\"b", "sys", "pw"),
                     -PM_EINVAL);
    assert_int_equal(natsd_js_remove_peer(d, "a\nb", "sys", "pw"),
                     -PM_EINVAL);
    char big[NATSD_JS_PASSWORD_MAX + 1];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(natsd_js_remove_peer(d, "a", "sys", big), -PM_ETOOBIG);
    big[NATSD_NAME_LEN] = '\0';
    assert_int_equal(natsd_js_remove_peer(d, big, "sys", "pw"), -PM_ETOOBIG);
    for (int i = 0; i < NATSD_JS_REMOVE_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        assert_int_equal(natsd_js_remove_peer(d, name, "sys", "pw"), 0);
    }
    assert_int_equal(natsd_js_remove_peer(d, "one-more", "sys", "pw"),
                     -PM_EBUSY);
    /* A name already queued starts over: no new entry. */
    assert_int_equal(natsd_js_remove_peer(d, "s3", "sys", "pw2"), 0);
    struct natsd_health h;
    natsd_health(d, &h);
    assert_int_equal(h.js_remove_pending, NATSD_JS_REMOVE_MAX);
    assert_int_equal(h.js_remove_pid, 0); /* no server: no attempt */
    assert_int_equal(natsd_js_remove_cancel(d, "s3"), 0);
    assert_int_equal(natsd_js_remove_cancel(d, "s3"), -PM_ENOTFOUND);
    assert_int_equal(natsd_js_remove_peer(d, "one-more", "sys", "pw"), 0);
    natsd_stop(d);
    natsd_health(d, &h);
    assert_int_equal(h.js_remove_pending, 0);
}

/* Bad options are refused. */
static void bad_options(void **state)
{
    struct fx *f = *state;
    struct natsd *d = NULL;
    struct natsd_options o = {.home = NULL, .http_port = 1};
    assert_int_equal(natsd_new(f->loop, &o, &d), -PM_EINVAL);
    o.home = f->dir;
    o.http_port = 0;
    assert_int_equal(natsd_new(f->loop, &o, &d), -PM_EINVAL);
    assert_null(d);
    assert_string_equal(natsd_state_name(NATSD_READY), "ready");
    assert_string_equal(natsd_state_name(99), "unknown");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("PMESH_DEBUG") == NULL)
        pm_say_level(PM_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(starts_and_gets_ready, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(store_directory_is_owner_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restarts_after_a_crash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reload_sends_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_applies_new_ports, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restart_waits_for_its_delay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stop_leaves_no_process, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_binary_is_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_config_backs_off_then_recovers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(waits_for_the_first_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(not_ready_is_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(leftover_server_is_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(js_remove_peer_shrinks_meta_group,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stop_during_removal_leaves_no_child,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(js_removal_undone_is_redone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(js_remove_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(js_remove_arguments_and_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
