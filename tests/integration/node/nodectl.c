/* nodectl.c: a minimal driver of src/node for debugging the node without
 * the full CLI: setup, start, and raw control-socket requests.
 *
 *   nodectl HOME seed NAME HOST:PORT NATS_PORT
 *   nodectl HOME join|replica SEED_URL NAME HOST:PORT NATS_PORT
 *   nodectl HOME start
 *   nodectl HOME call [-c] OP [ARG...]      (-c: consistent read)
 *
 * Prints the reply body; exit codes as the CLI's (docs/control-protocol.md).
 */
#include "base/err.h"
#include "net/net.h"
#include "node/node.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int exit_for(int status)
{
    switch (-status) {
    case 0: return 0;
    case PM_EINVAL: case PM_EREJECTED: case PM_ETOOBIG: return 5;
    case PM_ENOLEADER: case PM_ETIMEOUT: case PM_ENOTLEADER: return 4;
    case PM_ENOTRUNNING: return 3;
    default: return 1;
    }
}

int main(int argc, char **argv)
{
    char err[NODE_ERR_LEN] = "";
    if (argc < 3) {
        fprintf(stderr, "usage: nodectl HOME seed|join|replica|start|call ...\n");
        return 2;
    }
    const char *home = argv[1], *cmd = argv[2];
    int rc;
    if (strcmp(cmd, "seed") == 0 && argc == 6) {
        struct node_setup s = {.home = home, .name = argv[3],
                               .listen = argv[4], .nats_host = "127.0.0.1",
                               .nats_port = (uint16_t)atoi(argv[5])};
        char *url = NULL;
        rc = node_setup_seed(&s, &url, err, sizeof err);
        if (rc == 0) {
            puts(url);
            free(url);
        }
    } else if ((strcmp(cmd, "join") == 0 || strcmp(cmd, "replica") == 0) &&
               argc == 7) {
        struct node_setup s = {.home = home, .name = argv[4],
                               .listen = argv[5], .nats_host = "127.0.0.1",
                               .nats_port = (uint16_t)atoi(argv[6])};
        rc = node_setup_join(&s, argv[3], cmd[0] == 'r', err, sizeof err);
    } else if (strcmp(cmd, "start") == 0) {
        struct node_run_options o = {.no_nats = 1};
        rc = node_run(home, &o, err, sizeof err);
    } else if (strcmp(cmd, "call") == 0 && argc >= 4) {
        int i = 3;
        uint32_t flags = NET_REQ_JSON;
        if (strcmp(argv[i], "-c") == 0) {
            flags |= NET_REQ_CONSISTENT;
            i++;
        }
        struct node_home_info info;
        rc = node_home_info(home, &info, err, sizeof err);
        if (rc == 0 && i < argc) {
            struct net_bytes args[NET_ARGS_MAX];
            uint32_t na = 0;
            for (int j = i + 1; j < argc && na < NET_ARGS_MAX; j++) {
                args[na].data = (const uint8_t *)argv[j];
                args[na++].len = (uint32_t)strlen(argv[j]);
            }
            struct net_request req = {.id = 1, .op = argv[i], .args = args,
                                      .n_args = na, .flags = flags,
                                      .timeout_ms = 10000};
            struct net_reply *r = NULL;
            if (info.role == NODE_ROLE_CLIENT)
                rc = net_call_remote(info.servers[0], info.secret, &req,
                                     10000, &r);
            else
                rc = net_call_control(info.control_path, &req, 10000, &r);
            if (rc == 0) {
                rc = r->status;
                if (rc == 0)
                    printf("%.*s\n", (int)r->body_len, (const char *)r->body);
                else
                    snprintf(err, sizeof err, "%.*s", (int)r->body_len,
                             (const char *)r->body);
                net_reply_free(r);
            } else {
                snprintf(err, sizeof err, "%s", pm_strerror(rc));
            }
        }
    } else {
        fprintf(stderr, "nodectl: bad command line\n");
        return 2;
    }
    if (rc != 0)
        fprintf(stderr, "nodectl: %s: %s\n", cmd, err[0] ? err
                                                      : pm_strerror(rc));
    return exit_for(rc);
}

