/* fake_node.c: a stand-in node on a control socket, for testing the CLI's
 * side of docs/control-protocol.md without Raft: canned replies with known
 * contents (so the human rendering can be compared byte for byte), and a
 * `set` whose first two attempts fail (no reply at all, then a timeout
 * reply) so the CLI must retry with the same request id, client id and
 * sequence number.
 *
 *   fake_node SOCKET_PATH
 *
 * Serves until an op `stop` (replies {}, removes the socket, exits 0) or
 * for at most 60 s (exits 1). Exits 1 at stop if a retried `set` differed
 * from its first attempt. Prints one line per request on stdout.
 */
#include "base/err.h"
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_MS 60000u

struct fake {
    struct net_loop *loop;
    int set_attempts;
    uint64_t set_id;
    char set_args[4][128];
    uint32_t set_nargs;
    struct net_call *held; /* the first `set` attempt, never answered */
    int failed;
    int stopping;
    struct net_timer *stop_timer;
};

static const char *const canned[][2] = {
    {"status",
     "{\"name\":\"a\",\"id\":1,\"role\":\"voter\",\"cluster\":\"eu\","
     "\"state\":\"leader\",\"leader\":{\"id\":1,\"name\":\"a\"},\"term\":3,"
     "\"commit_index\":42,\"applied_index\":42,\"last_index\":43,"
     "\"first_index\":1,\"members\":[{\"id\":1,\"name\":\"a\",\"role\":"
     "\"voter\",\"cluster\":\"eu\",\"match_index\":43,\"lag\":0,"
     "\"last_contact_ms\":null,\"reachable\":true},{\"id\":12,\"name\":"
     "\"bravo\",\"role\":\"replica\",\"cluster\":\"us-east\",\"match_index\":"
     "40,\"lag\":3,\"last_contact_ms\":120,\"reachable\":false}],\"nats\":"
     "null}"},
    {"members",
     "{\"members\":[{\"id\":1,\"name\":\"a\",\"role\":\"voter\",\"cluster\":"
     "\"eu\",\"peer\":\"10.0.0.1:8443\",\"nats\":\"nats://10.0.0.1:4222\","
     "\"seed\":true,\"leader\":true},{\"id\":12,\"name\":\"bravo\",\"role\":"
     "\"replica\",\"cluster\":\"us-east\",\"peer\":\"[fd00::2]:8443\","
     "\"nats\":\"nats://[fd00::2]:4222\",\"seed\":false,\"leader\":false}]}"},
    {"log",
     "{\"records\":[{\"index\":1,\"term\":1,\"time_ms\":1764153000000,"
     "\"proposer\":\"a\",\"type\":\"bootstrap\",\"command\":{\"secret\":"
     "\"<redacted>\"}},{\"index\":2,\"term\":1,\"time_ms\":1764153001500,"
     "\"proposer\":\"a\",\"type\":\"set\",\"command\":{\"key\":\"app.x\","
     "\"value\":[1,2]}}]}"},
    {"history",
     "{\"key\":\"app.x\",\"records\":[{\"index\":2,\"term\":1,\"time_ms\":"
     "1764153001500,\"proposer\":\"a\",\"op\":\"set\",\"old\":null,\"new\":"
     "[1,2]},{\"index\":9,\"term\":2,\"time_ms\":1764153062000,\"proposer\":"
     "\"bravo\",\"op\":\"unset\",\"old\":[1,2],\"new\":null}]}"},
    {"replay",
     "{\"index\":9,\"state_hash\":\"ab12\",\"live_hash\":\"ab12\","
     "\"settings\":{\"app\":{\"y\":\"z\"}},\"nats_conf\":\"port: 1\\n\"}"},
    {"get-seed", "{\"seed_url\":\"pmtp://SECRET@10.0.0.1:8443\"}"},
    {"nats-config", "{\"path\":\"/h/nats.conf\",\"conf\":\"port: 4222\\n\"}"},
    {"remove", "{\"index\":11}"},
    {"promote", "{\"index\":12}"},
    {"unset", "{\"index\":13}"},
};

/* Replies to `get`, by key: each kind of value renders differently. */
static const char *const gets[][2] = {
    {"s", "{\"key\":\"s\",\"value\":\"hello world\",\"index\":5}"},
    {"n", "{\"key\":\"n\",\"value\":1048576,\"index\":5}"},
    {"o", "{\"key\":\"o\",\"value\":{\"a\":[1,true,null],\"b\":\"x\"},"
          "\"index\":5}"},
};

static void reply_json(struct net_call *call, const char *json)
{
    struct net_reply r = {.status = 0,
                          .body = (const uint8_t *)json,
                          .body_len = (uint32_t)strlen(json)};
    net_reply_send(call, &r);
}

static void arg_copy(const struct net_request *req, uint32_t i, char *out,
                     size_t len)
{
    uint32_t n = req->args[i].len < len - 1 ? req->args[i].len
                                            : (uint32_t)(len - 1);
    memcpy(out, req->args[i].data, n);
    out[n] = 0;
}

static void serve_set(struct fake *f, struct net_call *call,
                      const struct net_request *req)
{
    f->set_attempts++;
    if (f->set_attempts == 1) {
        f->set_id = req->id;
        f->set_nargs = req->n_args;
        for (uint32_t i = 0; i < req->n_args && i < 4; i++)
            arg_copy(req, i, f->set_args[i], sizeof f->set_args[i]);
        f->held = call; /* no reply: the CLI's attempt times out */
        printf("set attempt 1: id %llu, %u args, held\n",
               (unsigned long long)req->id, req->n_args);
        return;
    }
    int same = req->id == f->set_id && req->n_args == f->set_nargs &&
               req->n_args == 4;
    for (uint32_t i = 0; same && i < 4; i++) {
        char a[128];
        arg_copy(req, i, a, sizeof a);
        same = strcmp(a, f->set_args[i]) == 0;
    }
    /* The client id is a nonzero decimal, the sequence number 1. */
    same = same && strtoull(f->set_args[2], NULL, 10) != 0 &&
           strcmp(f->set_args[3], "1") == 0;
    printf("set attempt %d: id %llu, %s\n", f->set_attempts,
           (unsigned long long)req->id, same ? "same request" : "DIFFERENT");
    if (!same)
        f->failed = 1;
    if (f->set_attempts == 2) {
        net_reply_error(call, -PM_ETIMEOUT, "timed out waiting for commit");
        return;
    }
    reply_json(call, "{\"index\":7}");
    if (f->held != NULL) {
        net_reply_error(f->held, -PM_ETIMEOUT, "late");
        f->held = NULL;
    }
}

static void on_request(void *ctx, struct net_call *call,
                       const struct net_request *req,
                       const struct net_origin *origin)
{
    struct fake *f = ctx;
    (void)origin;
    printf("request %s flags %u args %u\n", req->op, req->flags, req->n_args);
    fflush(stdout);
    if (strcmp(req->op, "set") == 0) {
        serve_set(f, call, req);
        fflush(stdout);
        return;
    }
    if (strcmp(req->op, "stop") == 0) {
        /* Stop on a later loop turn, once the reply is flushed. */
        reply_json(call, "{}");
        f->stopping = 1;
        net_timer_start(f->stop_timer, 50, 0);
        return;
    }
    if (strcmp(req->op, "get") == 0) {
        char key[64] = "";
        if (req->n_args > 0)
            arg_copy(req, 0, key, sizeof key);
        if (strcmp(key, "flags") == 0) {
            char body[64];
            snprintf(body, sizeof body,
                     "{\"key\":\"flags\",\"value\":%u,\"index\":5}",
                     req->flags);
            reply_json(call, body);
            return;
        }
        if (strcmp(key, "bad") == 0) {
            net_reply_error(call, -PM_EINVAL,
                            "key 'a..b': empty path segment");
            return;
        }
        for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++)
            if (strcmp(key, gets[i][0]) == 0) {
                reply_json(call, gets[i][1]);
                return;
            }
        net_reply_error(call, -PM_ENOTFOUND, "no such key");
        return;
    }
    if (strcmp(req->op, "remove") == 0 && req->n_args == 1 &&
        req->args[0].len == 8 && memcmp(req->args[0].data, "noleader", 8) == 0) {
        /* Not retried by the CLI (a removal is not deduplicated). */
        net_reply_error(call, -PM_ENOLEADER, "no leader");
        return;
    }
    for (size_t i = 0; i < sizeof canned / sizeof canned[0]; i++)
        if (strcmp(req->op, canned[i][0]) == 0) {
            reply_json(call, canned[i][1]);
            return;
        }
    net_reply_error(call, -PM_EPROTO, "fake node: unknown op");
}

static void on_stop(void *ctx)
{
    struct fake *f = ctx;
    net_loop_stop(f->loop);
}

static void on_guard(void *ctx)
{
    struct fake *f = ctx;
    fprintf(stderr, "fake_node: no stop within %u ms\n", GUARD_MS);
    f->failed = 1;
    net_loop_stop(f->loop);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fake_node SOCKET_PATH\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct fake f;
    memset(&f, 0, sizeof f);
    struct net_control *ctl = NULL;
    struct net_timer *guard = NULL;
    if (net_loop_new(&f.loop) != 0 ||
        net_control_new(f.loop, argv[1], 0, on_request, &f, &ctl) != 0 ||
        net_timer_new(f.loop, on_guard, &f, &guard) != 0 ||
        net_timer_new(f.loop, on_stop, &f, &f.stop_timer) != 0) {
        fprintf(stderr, "fake_node: cannot listen on %s\n", argv[1]);
        return 1;
    }
    net_timer_start(guard, GUARD_MS, 0);
    printf("listening\n");
    net_loop_run(f.loop);
    if (f.held != NULL)
        net_reply_error(f.held, -PM_ECLOSED, "stopping");
    net_timer_free(guard);
    net_timer_free(f.stop_timer);
    net_control_free(ctl);
    net_loop_free(f.loop);
    if (f.set_attempts != 0 && f.set_attempts != 3) {
        fprintf(stderr, "fake_node: set seen %d times, want 3\n",
                f.set_attempts);
        f.failed = 1;
    }
    return f.failed || !f.stopping;
}
