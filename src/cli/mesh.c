/* mesh.c: `pmesh start` and every command that sends one control request
 * (docs/control-protocol.md) and renders the reply. */
#include "cli/cli.h"
#include "base/err.h"
#include "net/net.h"
#include "node/node.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Retries of one request within --timeout; the deadline ends them first
 * in practice (each waits at least BACKOFF_MIN_MS). */
#define RETRY_MAX 64
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 1000u
/* Each attempt of a retried request gets at least this long, at most a
 * third of --timeout, so a lost reply leaves time to ask again. */
#define ATTEMPT_MIN_MS 1000u
#define STOP_POLL_MS 50u

int cli_run_start(struct cli *c)
{
    struct node_run_options o;
    memset(&o, 0, sizeof o);
    o.log_to_stderr = c->val[CLI_OPT_LOG_STDERR] != NULL;
    o.no_nats = c->val[CLI_OPT_NO_NATS] != NULL;
    char err[NODE_ERR_LEN] = "";
    int st = node_run(c->home, &o, err, sizeof err);
    if (st == 0)
        return CLI_EXIT_OK;
    if (st == -PM_ENOTFOUND)
        return cli_fail(c, CLI_EXIT_FAIL,
                        "no node set up in %s (run 'pmesh setup' first)",
                        c->home);
    return cli_fail(c, CLI_EXIT_FAIL, "%s", err[0] ? err : pm_strerror(st));
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A log index from --from / --to: decimal, 1 or more. */
static int parse_index(const struct cli *c, int o, uint64_t *out)
{
    const char *v = c->val[o];
    uint64_t x = 0;
    size_t n = strlen(v);
    int ok = n > 0 && n <= 20;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            ok = 0;
        else
            x = x * 10 + d;
    }
    if (!ok || x == 0)
        return cli_fail(c, CLI_EXIT_USAGE,
                        "--%s '%s': want a log index of 1 or more",
                        cli_opts[o].name, v);
    *out = x;
    return CLI_EXIT_OK;
}

/* Ask before force-recover: it can lose what only the seed had. */
static int confirm_recover(const struct cli *c)
{
    if (c->val[CLI_OPT_YES] != NULL)
        return CLI_EXIT_OK;
    if (!isatty(0))
        return cli_fail(c, CLI_EXIT_USAGE,
                        "refusing without --yes: this node continues as the "
                        "only voter, and entries only the lost seed had are "
                        "gone");
    fprintf(stderr,
            "This node will continue as the only voter. Entries that only "
            "the lost seed had are gone for good.\nType 'yes' to continue: ");
    fflush(stderr);
    char line[16] = "";
    if (fgets(line, sizeof line, stdin) == NULL ||
        strncmp(line, "yes", 3) != 0 || (line[3] != '\n' && line[3] != 0))
        return cli_fail(c, CLI_EXIT_FAIL, "not confirmed; nothing done");
    return CLI_EXIT_OK;
}

/* Requests worth asking again after a timeout or while there is no
 * leader: reads, and set/unset whose client id and sequence number make
 * the state machine apply them once (docs/control-protocol.md). */
static int retryable(const char *op)
{
    static const char *const ops[] = {"status", "members", "get",
                                      "set",    "unset",   "get-seed",
                                      "log",    "history", "replay",
                                      "nats-config", "nats-urls"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0)
            return 1;
    return 0;
}

/* stop, leave and force-recover act on the node of this home; a client
 * home has none, and sending them to a mesh server would (if it did not
 * refuse) act on that server instead. */
static int local_only_check(const struct cli *c, const char *op)
{
    if (strcmp(op, "stop") != 0 && strcmp(op, "leave") != 0 &&
        strcmp(op, "force-recover") != 0)
        return CLI_EXIT_OK;
    struct node_home_info info;
    char err[NODE_ERR_LEN];
    if (node_home_info(c->home, &info, err, sizeof err) != 0)
        return CLI_EXIT_OK; /* the call reports a missing home */
    memset(info.secret, 0, sizeof info.secret);
    if (info.role != NODE_ROLE_CLIENT)
        return CLI_EXIT_OK;
    return cli_fail(c, CLI_EXIT_FAIL,
                    "%s is a client home: it runs no node to %s", c->home,
                    op);
}

static int transient(int rc, const struct cli_reply *r)
{
    int st = rc != 0 ? rc : r->status;
    return st == -PM_ETIMEOUT || st == -PM_ENOLEADER ||
           st == -PM_ENOTLEADER || st == -PM_EAGAIN ||
           (rc != 0 && st == -PM_ECLOSED);
}

/* After `stop` was accepted: wait until the node removed its control
 * socket, so that `pmesh stop && pmesh start` works. */
static int wait_stopped(const struct cli *c, uint64_t deadline)
{
    struct node_home_info info;
    char err[NODE_ERR_LEN];
    if (node_home_info(c->home, &info, err, sizeof err) != 0 ||
        info.control_path[0] == 0)
        return CLI_EXIT_OK;
    memset(info.secret, 0, sizeof info.secret);
    while (access(info.control_path, F_OK) == 0) {
        if (net_mono_ms() >= deadline)
            return cli_fail(c, CLI_EXIT_NO_LEADER,
                            "the node accepted the stop but still runs after "
                            "%u s",
                            c->timeout_ms / 1000);
        sleep_ms(STOP_POLL_MS);
    }
    return CLI_EXIT_OK;
}

static int report_no_reply(const struct cli *c, int rc,
                           const struct cli_reply *r)
{
    switch (-rc) {
    case PM_ENOTFOUND:
        return cli_fail(c, CLI_EXIT_NOT_RUNNING,
                        "no node set up in %s (run 'pmesh setup' first)",
                        c->home);
    case PM_ENOTRUNNING:
        if (r->detail[0])
            return cli_fail(c, CLI_EXIT_NOT_RUNNING, "%s", r->detail);
        return cli_fail(c, CLI_EXIT_NOT_RUNNING,
                        "node not running in %s (start it with 'pmesh "
                        "start')",
                        c->home);
    case PM_ETIMEOUT:
        return cli_fail(c, CLI_EXIT_NO_LEADER, "no reply within %u s",
                        c->timeout_ms / 1000);
    case PM_EAUTH:
        return cli_fail(c, CLI_EXIT_FAIL,
                        "the mesh server refused this home's secret");
    default:
        if (r->detail[0])
            return cli_fail(c, cli_exit_for(rc) == CLI_EXIT_OK
                                   ? CLI_EXIT_FAIL
                                   : cli_exit_for(rc),
                            "%s", r->detail);
        return cli_fail(c, CLI_EXIT_FAIL, "talking to the node: %s",
                        pm_strerror(rc));
    }
}

/* `nats-urls` in a client home set up with --nats: there is no mesh to
 * ask; the recorded URL is the answer, in the node's reply shape.
 * Returns -1 when the request must go to the node. */
static int local_nats_urls(const struct cli *c)
{
    struct node_home_info info;
    char err[NODE_ERR_LEN];
    if (node_home_info(c->home, &info, err, sizeof err) != 0)
        return -1;
    memset(info.secret, 0, sizeof info.secret);
    if (info.role != NODE_ROLE_CLIENT || info.nats_url[0] == '\0')
        return -1;
    cJSON *o = cJSON_CreateObject();
    cJSON *ss = cJSON_AddArrayToObject(o, "servers");
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "url", info.nats_url);
    cJSON_AddNullToObject(s, "name");
    cJSON_AddNullToObject(s, "cluster");
    cJSON_AddNullToObject(s, "role");
    cJSON_AddItemToArray(ss, s);
    cJSON *us = cJSON_AddArrayToObject(o, "urls");
    cJSON_AddItemToArray(us, cJSON_CreateString(info.nats_url));
    cJSON_AddStringToObject(o, "connect", info.nats_url);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL)
        return cli_fail(c, CLI_EXIT_FAIL, "out of memory");
    int code = c->json ? cli_print_json(c, body, strlen(body))
                       : cli_render(c, "nats-urls", body, strlen(body));
    cJSON_free(body);
    return code;
}

int cli_run_request(struct cli *c)
{
    const char *op = c->cmd->name;
    const char *args[4];
    int nargs = 0;
    char num[2][24];
    uint32_t flags = 0;
    int rc;

    if (c->json)
        flags |= CLI_REQ_JSON;
    if (c->val[CLI_OPT_CONSISTENT] != NULL)
        flags |= CLI_REQ_CONSISTENT;
    for (int i = 0; i < c->npos; i++)
        args[nargs++] = c->pos[i];

    if (strcmp(op, "set") == 0 || strcmp(op, "unset") == 0) {
        /* One client id per process and one request: sequence 1. */
        snprintf(num[0], sizeof num[0], "%" PRIu64, cli_random_id());
        snprintf(num[1], sizeof num[1], "1");
        args[nargs++] = num[0];
        args[nargs++] = num[1];
    } else if (strcmp(op, "log") == 0) {
        uint64_t from = 1, to = 0;
        if (c->val[CLI_OPT_FROM] &&
            (rc = parse_index(c, CLI_OPT_FROM, &from)) != 0)
            return rc;
        if (c->val[CLI_OPT_TO] && (rc = parse_index(c, CLI_OPT_TO, &to)) != 0)
            return rc;
        if (to != 0 && from > to)
            return cli_fail(c, CLI_EXIT_USAGE,
                            "--from %" PRIu64 " is past --to %" PRIu64, from,
                            to);
        if (c->val[CLI_OPT_FROM] || c->val[CLI_OPT_TO]) {
            snprintf(num[0], sizeof num[0], "%" PRIu64, from);
            args[nargs++] = num[0];
        }
        if (to != 0) {
            snprintf(num[1], sizeof num[1], "%" PRIu64, to);
            args[nargs++] = num[1];
        }
    } else if (strcmp(op, "replay") == 0 && c->val[CLI_OPT_TO] != NULL) {
        uint64_t to;
        if ((rc = parse_index(c, CLI_OPT_TO, &to)) != 0)
            return rc;
        snprintf(num[0], sizeof num[0], "%" PRIu64, to);
        args[nargs++] = num[0];
    } else if (strcmp(op, "force-recover") == 0) {
        if ((rc = confirm_recover(c)) != 0)
            return rc;
    }

    if ((rc = local_only_check(c, op)) != 0)
        return rc;
    if (strcmp(op, "nats-urls") == 0 && (rc = local_nats_urls(c)) >= 0)
        return rc;

    int retry = retryable(op);
    uint64_t req_id = cli_random_id();
    uint64_t deadline = net_mono_ms() + c->timeout_ms;
    uint32_t backoff = BACKOFF_MIN_MS;
    struct cli_reply r;
    for (int attempt = 0;; attempt++) {
        uint64_t now = net_mono_ms();
        uint32_t left = now < deadline ? (uint32_t)(deadline - now) : 1;
        uint32_t budget = left;
        if (retry) {
            uint32_t third = c->timeout_ms / 3;
            budget = third > ATTEMPT_MIN_MS ? third : ATTEMPT_MIN_MS;
            if (budget > left)
                budget = left;
        }
        rc = cli_call(c, op, args, nargs, flags, req_id, budget, &r);
        if (!retry || !transient(rc, &r) || attempt + 1 >= RETRY_MAX ||
            net_mono_ms() + backoff >= deadline)
            break;
        if (rc == 0)
            cli_reply_free(&r);
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    /* A node told to stop may close the connection before its reply
     * leaves; whether it stopped is what wait_stopped() finds out. */
    if (rc == -PM_ECLOSED && strcmp(op, "stop") == 0)
        return wait_stopped(c, deadline);
    if (rc != 0)
        return report_no_reply(c, rc, &r);

    int code;
    if (r.status != 0) {
        code = cli_exit_for(r.status);
        if (code == CLI_EXIT_OK)
            code = CLI_EXIT_FAIL;
        if (r.status == -PM_ENOTFOUND && strcmp(op, "get") == 0 &&
            c->npos == 1 && strstr(r.body, c->pos[0]) == NULL)
            cli_fail(c, code, "key '%s': not found", c->pos[0]);
        else
            cli_fail(c, code, "%s",
                     r.body_len ? r.body : pm_strerror(r.status));
    } else if (c->json) {
        code = cli_print_json(c, r.body, r.body_len);
    } else {
        code = cli_render(c, op, r.body, r.body_len);
    }
    cli_reply_free(&r);
    if (code == CLI_EXIT_OK && strcmp(op, "stop") == 0)
        code = wait_stopped(c, deadline);
    return code;
}
