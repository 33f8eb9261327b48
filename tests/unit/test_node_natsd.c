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
#include "net/net.h"
#include "node/natsd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000

struct fx {
    char dir[64];
    struct net_loop *loop;
    struct natsd *d;
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
        cmocka_unit_test_setup_teardown(bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
