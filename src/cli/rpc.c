/* rpc.c: send one control request to the node of the home (its control
 * socket), or, for a client home, to the mesh servers it was set up with
 * (their peer ports, after the handshake). src/net does the wire work. */
#include "cli/cli.h"
#include "base/err.h"
#include "net/net.h"
#include "node/node.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Extra wait beyond the timeout the node is told, so that the node's own
 * "timed out" reply (which says what it was waiting for) arrives before
 * the CLI gives up on the connection. */
#define RPC_GRACE_MS 500u

uint64_t cli_random_id(void)
{
    uint64_t id = 0;
    /* Bounded: a zero draw has probability 2^-64. */
    for (int i = 0; i < 4 && id == 0; i++)
        randombytes_buf(&id, sizeof id);
    return id ? id : 1;
}

void cli_reply_free(struct cli_reply *reply)
{
    free(reply->body);
    reply->body = NULL;
    reply->body_len = 0;
}

static int reply_take(struct net_reply *in, struct cli_reply *out)
{
    out->status = in->status;
    out->body = malloc((size_t)in->body_len + 1);
    if (out->body == NULL) {
        net_reply_free(in);
        return -PM_ENOMEM;
    }
    if (in->body_len > 0)
        memcpy(out->body, in->body, in->body_len);
    out->body[in->body_len] = 0;
    out->body_len = in->body_len;
    net_reply_free(in);
    return 0;
}

int cli_call(struct cli *c, const char *op, const char *const *args,
             int nargs, uint32_t flags, uint64_t req_id, uint32_t timeout_ms,
             struct cli_reply *reply)
{
    struct node_home_info info;
    memset(reply, 0, sizeof *reply);
    int rc = node_home_info(c->home, &info, reply->detail,
                            sizeof reply->detail);
    if (rc != 0)
        return rc;

    struct net_bytes nb[NET_ARGS_MAX];
    if (nargs < 0 || nargs > NET_ARGS_MAX)
        return -PM_EINVAL;
    for (int i = 0; i < nargs; i++) {
        nb[i].data = (const uint8_t *)args[i];
        nb[i].len = (uint32_t)strlen(args[i]);
    }
    struct net_request req = {
        .id = req_id ? req_id : cli_random_id(),
        .op = op,
        .args = nb,
        .n_args = (uint32_t)nargs,
        .flags = flags,
        .timeout_ms = timeout_ms,
    };
    struct net_reply *out = NULL;

    if (info.role != NODE_ROLE_CLIENT) {
        sodium_memzero(info.secret, sizeof info.secret);
        rc = net_call_control(info.control_path, &req,
                              timeout_ms + RPC_GRACE_MS, &out);
        if (rc != 0)
            return rc;
        return reply_take(out, reply);
    }
    if (info.n_servers == 0 || !info.has_secret) {
        snprintf(reply->detail, sizeof reply->detail,
                 "this home is a client of a plain NATS server (set up with "
                 "--nats); mesh commands need 'pmesh setup client SEED_URL'");
        return -PM_ESTATE;
    }
    /* A client tries its servers in order: one that is down (refused,
     * closed) passes the request on to the next; a timeout does not, since
     * the time is spent. */
    uint64_t deadline = net_mono_ms() + timeout_ms;
    rc = -PM_ENOTRUNNING;
    for (int i = 0; i < info.n_servers && i < 16; i++) {
        uint64_t now = net_mono_ms();
        if (now >= deadline) {
            rc = -PM_ETIMEOUT;
            break;
        }
        uint32_t left = (uint32_t)(deadline - now);
        req.timeout_ms = left;
        rc = net_call_remote(info.servers[i], info.secret, &req,
                             left + RPC_GRACE_MS, &out);
        if (rc == 0)
            break;
        if (rc != -PM_ENOTRUNNING && rc != -PM_ECLOSED)
            break;
    }
    sodium_memzero(info.secret, sizeof info.secret);
    if (rc != 0) {
        if (rc == -PM_ENOTRUNNING)
            snprintf(reply->detail, sizeof reply->detail,
                     "no mesh server reachable (tried %d)", info.n_servers);
        return rc;
    }
    return reply_take(out, reply);
}
