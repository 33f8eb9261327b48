/* setup.c: `pmesh setup seed|join|replica|client`: create a node's home.
 *
 * A seed writes the bootstrap entry itself: index 1, term 1, a CONFIG entry
 * naming it the only voter and the two-voter tie-breaker, whose app blob is
 * the FSM's BOOTSTRAP command (mesh id, secret, seed member). It is durable
 * and committed by construction (a one-voter configuration), so setup also
 * applies it and writes settings.json and nats.conf. A joiner asks a member
 * to add it (op `join`) and records what the reply says in identity.json;
 * it receives the log when it runs. */
#include "node/node_int.h"

#include "base/err.h"
#include "base/seedurl.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int valid_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 63)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

static void default_name(char *out, size_t len)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || h[0] == '\0')
        snprintf(h, sizeof h, "node");
    size_t j = 0;
    for (size_t i = 0; h[i] && h[i] != '.' && j + 1 < len && j < 63; i++)
        out[j++] = (isalnum((unsigned char)h[i]) || h[i] == '-' ||
                    h[i] == '_') ? h[i] : '-';
    out[j] = '\0';
    if (j == 0)
        snprintf(out, len, "node");
}

/* Fill the identity's name, cluster, addresses and ports from S. */
static int fill_identity(const struct node_setup *s, struct home_identity *id,
                         const char *default_cluster, char *err,
                         size_t err_len)
{
    char why[PM_SEEDURL_WHY_LEN];
    if (s->name != NULL) {
        if (!valid_name(s->name))
            return home_fail(err, err_len, -PM_EINVAL,
                             "name '%.64s': use 1-63 of [A-Za-z0-9_-]",
                             s->name);
        snprintf(id->name, sizeof id->name, "%s", s->name);
    } else {
        default_name(id->name, sizeof id->name);
    }
    const char *cl = s->cluster ? s->cluster : default_cluster;
    if (cl[0] != '\0' && !valid_name(cl))
        return home_fail(err, err_len, -PM_EINVAL,
                         "cluster '%.64s': use 1-63 of [A-Za-z0-9_-]", cl);
    snprintf(id->cluster, sizeof id->cluster, "%s", cl);

    const char *listen = s->listen ? s->listen : "0.0.0.0:8443";
    struct pm_hostport lh, ah;
    if (pm_hostport_parse(listen, strlen(listen), &lh, why, sizeof why) != 0)
        return home_fail(err, err_len, -PM_EINVAL, "listen address: %s", why);
    snprintf(id->listen, sizeof id->listen, "%s", listen);
    if (s->advertise != NULL) {
        if (pm_hostport_parse(s->advertise, strlen(s->advertise), &ah, why,
                              sizeof why) != 0)
            return home_fail(err, err_len, -PM_EINVAL,
                             "advertise address: %s", why);
        if (pm_host_is_unspecified(&ah))
            return home_fail(err, err_len, -PM_EINVAL,
                             "advertise address: %s cannot be dialled",
                             s->advertise);
    } else {
        ah = lh;
        if (pm_host_is_unspecified(&ah)) {
            /* No routable host given: loopback works for a local mesh;
             * a real deployment passes --advertise. */
            snprintf(ah.host, sizeof ah.host, "127.0.0.1");
            ah.kind = PM_HOST_IPV4;
        }
    }
    if (pm_hostport_format(&ah, id->advertise, sizeof id->advertise) < 0)
        return home_fail(err, err_len, -PM_EINVAL, "advertise address too long");
    snprintf(id->nats_host, sizeof id->nats_host, "%s",
             s->nats_host ? s->nats_host : ah.host);
    uint16_t p = s->nats_port ? s->nats_port : NODE_NATS_PORT_DEFAULT;
    if (p > 65531 && !(s->nats_cluster_port && s->nats_gateway_port &&
                       s->nats_leaf_port && s->nats_http_port))
        return home_fail(err, err_len, -PM_EINVAL,
                         "NATS port %u leaves no room for the next four", p);
    id->nats_ports[0] = p;
    id->nats_ports[1] = s->nats_cluster_port ? s->nats_cluster_port
                                             : (uint16_t)(p + 1);
    id->nats_ports[2] = s->nats_gateway_port ? s->nats_gateway_port
                                             : (uint16_t)(p + 2);
    id->nats_ports[3] = s->nats_leaf_port ? s->nats_leaf_port
                                          : (uint16_t)(p + 3);
    id->nats_ports[4] = s->nats_http_port ? s->nats_http_port
                                          : (uint16_t)(p + 4);
    return 0;
}

static void fill_member(const struct home_identity *id, struct fsm_member *m)
{
    memset(m, 0, sizeof *m);
    m->id = id->node_id;
    snprintf(m->name, sizeof m->name, "%s", id->name);
    snprintf(m->cluster, sizeof m->cluster, "%s", id->cluster);
    struct pm_hostport ah;
    if (pm_hostport_parse(id->advertise, strlen(id->advertise), &ah, NULL,
                          0) == 0) {
        snprintf(m->peer_host, sizeof m->peer_host, "%s", ah.host);
        m->peer_port = ah.port;
    }
    snprintf(m->nats_host, sizeof m->nats_host, "%.253s", id->nats_host);
    m->nats_client_port = id->nats_ports[0];
    m->nats_cluster_port = id->nats_ports[1];
    m->nats_gateway_port = id->nats_ports[2];
    m->nats_leaf_port = id->nats_ports[3];
    m->nats_http_port = id->nats_ports[4];
}

static int check_fresh(const char *home, char *err, size_t err_len)
{
    if (home == NULL || home[0] == '\0')
        return home_fail(err, err_len, -PM_EINVAL, "no home directory given");
    if (home_is_setup(home))
        return home_fail(err, err_len, -PM_EEXIST,
                         "%s is already set up (remove it to start over)",
                         home);
    int rc = home_create(home);
    if (rc != 0)
        return home_fail(err, err_len, rc, "cannot create %s: %s", home,
                         pm_strerror(rc));
    return 0;
}

int node_setup_seed(const struct node_setup *s, char **seed_url_out,
                    char *err, size_t err_len)
{
    if (sodium_init() < 0)
        return home_fail(err, err_len, -PM_EIO, "libsodium failed to start");
    int rc = check_fresh(s->home, err, err_len);
    if (rc != 0)
        return rc;
    struct home_identity id;
    memset(&id, 0, sizeof id);
    id.role = NODE_ROLE_VOTER;
    rc = fill_identity(s, &id, "default", err, err_len);
    if (rc != 0)
        return rc;
    if (s->secret != NULL) {
        char why[PM_SEEDURL_WHY_LEN];
        if (pm_seed_secret_parse(s->secret, strlen(s->secret), id.secret, why,
                                 sizeof why) != 0)
            return home_fail(err, err_len, -PM_EINVAL, "secret: %s", why);
    } else {
        randombytes_buf(id.secret, sizeof id.secret);
    }
    id.has_secret = 1;
    do
        randombytes_buf(&id.mesh_id, sizeof id.mesh_id);
    while (id.mesh_id == 0);
    id.node_id = 1;

    struct log *log = NULL;
    struct fsm *fsm = NULL;
    uint8_t *blob = NULL, *payload = NULL;
    char dp[4200];
    home_path(dp, sizeof dp, s->home, "data");
    rc = log_open(dp, NULL, &log);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "opening the store: %s",
                       pm_strerror(rc));
        goto out;
    }
    if (log_last_index(log) != 0) {
        rc = home_fail(err, err_len, -PM_EEXIST,
                       "%s already holds a log; remove it first", dp);
        goto out;
    }
    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = FSM_CMD_BOOTSTRAP;
    cmd.proposer = id.node_id;
    cmd.time_ms = net_wall_ms();
    cmd.mesh_id = id.mesh_id;
    memcpy(cmd.secret, id.secret, 32);
    fill_member(&id, &cmd.member);
    cmd.member.role = FSM_ROLE_VOTER;
    cmd.member.seed = 1;
    char verr[FSM_ERR_LEN];
    rc = fsm_validate(NULL, &cmd, verr, sizeof verr);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "%s", verr);
        goto out;
    }
    size_t blob_len = 0;
    rc = fsm_cmd_encode(&cmd, &blob, &blob_len);
    sodium_memzero(cmd.secret, sizeof cmd.secret);
    if (rc != 0)
        goto fail_rc;
    struct raft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    raft_config_set(&cfg, id.node_id, RAFT_VOTER);
    cfg.tiebreaker = id.node_id;
    uint32_t plen = 0;
    rc = raft_config_payload_encode(&cfg, blob, (uint32_t)blob_len, &payload,
                                    &plen);
    if (rc != 0)
        goto fail_rc;
    struct pm_entry e = {.index = 1, .term = 1, .type = PM_ENTRY_CONFIG,
                         .data = payload, .len = plen};
    struct log_hard_state hs = {.term = 1, .vote = 0, .commit = 1};
    struct log_batch b = {.entries = &e, .n_entries = 1, .hard_state = &hs};
    rc = log_write(log, &b);
    if (rc != 0)
        goto fail_rc;
    /* Apply it at once so the files exist before the first start. */
    rc = fsm_new(&fsm);
    if (rc != 0)
        goto fail_rc;
    struct pm_entry fe = e;
    fe.data = blob;
    fe.len = (uint32_t)blob_len;
    struct fsm_result res;
    rc = fsm_apply(fsm, &fe, &res);
    if (rc == 0 && res.status != 0) {
        rc = home_fail(err, err_len, res.status, "bootstrap: %s", res.error);
        goto out;
    }
    if (rc != 0)
        goto fail_rc;
    struct fsm_changes ch;
    fsm_changes(fsm, &ch);
    struct log_batch sb = {.state_clear = ch.clear,
                           .state = (const struct log_kv *)ch.kv,
                           .n_state = ch.n, .applied = ch.applied};
    rc = log_write(log, &sb);
    if (rc != 0)
        goto fail_rc;
    fsm_changes_clear(fsm);
    rc = fsm_materialize(fsm, id.node_id, s->home, NULL, NULL);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "writing settings.json/nats.conf: %s",
                       pm_strerror(rc));
        goto out;
    }
    char url[PM_SEEDURL_TEXT_MAX];
    rc = fsm_seed_url(fsm, url, sizeof url);
    if (rc != 0)
        goto fail_rc;
    rc = home_identity_write(s->home, &id);
    if (rc != 0)
        goto fail_rc;
    if (seed_url_out != NULL) {
        *seed_url_out = strdup(url);
        if (*seed_url_out == NULL)
            rc = home_fail(err, err_len, -PM_ENOMEM, "out of memory");
    }
    sodium_memzero(url, sizeof url);
    goto out;
fail_rc:
    home_fail(err, err_len, rc, "setting up the seed: %s", pm_strerror(rc));
out:
    free(blob);
    free(payload);
    fsm_free(fsm);
    if (log != NULL)
        log_close(log);
    sodium_memzero(&id, sizeof id);
    return rc;
}

/* --- join -------------------------------------------------------------- */

static int parse_u64_str(const cJSON *o, const char *k, uint64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(j)) {
        char *end = NULL;
        *v = strtoull(j->valuestring, &end, 10);
        return end != j->valuestring && *end == '\0' ? 0 : -PM_EPROTO;
    }
    if (cJSON_IsNumber(j)) {
        *v = (uint64_t)j->valuedouble;
        return 0;
    }
    return -PM_EPROTO;
}

static int parse_join_reply(const struct net_reply *r, struct home_identity *id)
{
    cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->body_len);
    if (o == NULL)
        return -PM_EPROTO;
    int rc = -PM_EPROTO;
    if (parse_u64_str(o, "mesh_id", &id->mesh_id) != 0 ||
        parse_u64_str(o, "node_id", &id->node_id) != 0 || id->mesh_id == 0 ||
        id->node_id == 0)
        goto out;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "members");
    const cJSON *m;
    id->n_peers = 0;
    cJSON_ArrayForEach(m, ms) {
        uint64_t mid = 0;
        const cJSON *peer = cJSON_GetObjectItemCaseSensitive(m, "peer");
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(m, "cluster");
        if (parse_u64_str(m, "id", &mid) != 0 || !cJSON_IsString(peer))
            goto out;
        if (mid == id->node_id) {
            if (cJSON_IsString(cl))
                snprintf(id->cluster, sizeof id->cluster, "%s",
                         cl->valuestring);
            continue;
        }
        if (id->n_peers >= HOME_PEERS_MAX)
            continue;
        id->peers[id->n_peers].id = mid;
        snprintf(id->peers[id->n_peers].addr, HOME_ADDR_LEN, "%s",
                 peer->valuestring);
        id->n_peers++;
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

int node_setup_join(const struct node_setup *s, const char *seed_url,
                    int as_replica, char *err, size_t err_len)
{
    if (sodium_init() < 0)
        return home_fail(err, err_len, -PM_EIO, "libsodium failed to start");
    if (s->home == NULL || s->home[0] == '\0')
        return home_fail(err, err_len, -PM_EINVAL, "no home directory given");
    if (home_is_setup(s->home))
        return home_fail(err, err_len, -PM_EEXIST,
                         "%s is already set up (remove it to start over)",
                         s->home);
    struct pm_seedurl u;
    char why[PM_SEEDURL_WHY_LEN];
    if (pm_seedurl_parse(seed_url, &u, why, sizeof why) != 0)
        return home_fail(err, err_len, -PM_EINVAL, "seed URL: %s", why);
    struct home_identity id;
    memset(&id, 0, sizeof id);
    id.role = as_replica ? NODE_ROLE_REPLICA : NODE_ROLE_VOTER;
    int rc = fill_identity(s, &id, "", err, err_len);
    if (rc != 0)
        goto out;
    memcpy(id.secret, u.secret, 32);
    id.has_secret = 1;

    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = FSM_CMD_MEMBER_ADD;
    cmd.time_ms = net_wall_ms();
    fill_member(&id, &cmd.member);
    cmd.member.role = as_replica ? FSM_ROLE_REPLICA : FSM_ROLE_LEARNER;
    /* The same request, byte for byte, goes to every attempt: its client
     * id tells the mesh that a retry is this node again (the leader's
     * answer to an earlier attempt may have been lost after it acted). */
    do
        randombytes_buf(&cmd.client_id, sizeof cmd.client_id);
    while (cmd.client_id == 0);
    cmd.seq = 1;
    /* Test only (node.h): pretend the first N successful replies were
     * lost, to exercise the retry. */
    const char *lose = getenv("PMESH_TEST_JOIN_LOSE_REPLIES");
    long lose_n = lose != NULL ? strtol(lose, NULL, 10) : 0;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    rc = fsm_cmd_encode(&cmd, &blob, &blob_len);
    if (rc != 0) {
        home_fail(err, err_len, rc, "cannot encode the join: %s",
                  pm_strerror(rc));
        goto out;
    }
    struct net_bytes arg = {.data = blob, .len = (uint32_t)blob_len};
    struct net_request req = {.id = 1, .op = "join", .args = &arg,
                              .n_args = 1};
    uint32_t total_ms = s->timeout_ms ? s->timeout_ms : 30000;
    uint64_t deadline = net_mono_ms() + total_ms;
    int last = -PM_ETIMEOUT;
    char last_text[200] = "no answer";
    for (uint32_t attempt = 0; ; attempt++) {
        const struct pm_hostport *hp = &u.hosts[attempt % u.n_hosts];
        char addr[PM_HOSTPORT_TEXT_MAX];
        pm_hostport_format(hp, addr, sizeof addr);
        uint64_t now = net_mono_ms();
        if (now >= deadline)
            break;
        uint32_t left = (uint32_t)(deadline - now);
        req.timeout_ms = left < 10000 ? left : 10000;
        struct net_reply *r = NULL;
        rc = net_call_remote(addr, u.secret, &req, req.timeout_ms, &r);
        if (rc == -PM_EAUTH) {
            free(blob);
            rc = home_fail(err, err_len, rc,
                           "%s refused the handshake: wrong secret in the "
                           "seed URL?", addr);
            goto out;
        }
        if (rc == 0 && r->status == 0 && lose_n > 0) {
            lose_n--;
            net_reply_free(r);
            last = rc = -PM_ETIMEOUT;
            snprintf(last_text, sizeof last_text, "%.120s: reply dropped "
                     "(PMESH_TEST_JOIN_LOSE_REPLIES)", addr);
            usleep(200 * 1000);
            continue;
        }
        if (rc == 0 && r->status == 0) {
            rc = parse_join_reply(r, &id);
            net_reply_free(r);
            if (rc != 0) {
                free(blob);
                home_fail(err, err_len, rc, "%s sent a malformed join reply",
                          addr);
                goto out;
            }
            break;
        }
        if (rc == 0) {
            last = r->status;
            size_t l = r->body_len < sizeof last_text - 1 ? r->body_len
                                                          : sizeof last_text - 1;
            memcpy(last_text, r->body, l);
            last_text[l] = '\0';
            net_reply_free(r);
            if (last != -PM_ENOLEADER && last != -PM_ETIMEOUT &&
                last != -PM_EAGAIN && last != -PM_ENOTLEADER) {
                free(blob);
                rc = home_fail(err, err_len, last, "join refused by %s: %s",
                               addr, last_text);
                goto out;
            }
        } else {
            last = rc;
            snprintf(last_text, sizeof last_text, "%.120s: %s", addr,
                     pm_strerror(rc));
        }
        rc = last;
        usleep(200 * 1000);
    }
    free(blob);
    if (rc != 0) {
        home_fail(err, err_len, rc, "could not join: %s", last_text);
        goto out;
    }
    rc = home_create(s->home);
    if (rc == 0) {
        struct log *log = NULL;
        char dp[4200];
        home_path(dp, sizeof dp, s->home, "data");
        rc = log_open(dp, NULL, &log);
        if (rc == 0)
            log_close(log);
    }
    if (rc == 0)
        rc = home_identity_write(s->home, &id);
    if (rc != 0)
        home_fail(err, err_len, rc, "writing %s: %s", s->home,
                  pm_strerror(rc));
out:
    sodium_memzero(&u, sizeof u);
    sodium_memzero(&id, sizeof id);
    return rc;
}

int node_setup_client(const char *home, const char *seed_url,
                      const char *nats_url, char *err, size_t err_len)
{
    if ((seed_url == NULL) == (nats_url == NULL))
        return home_fail(err, err_len, -PM_EINVAL,
                         "give either a seed URL or a NATS URL");
    int rc = check_fresh(home, err, err_len);
    if (rc != 0)
        return rc;
    struct home_identity id;
    memset(&id, 0, sizeof id);
    id.role = NODE_ROLE_CLIENT;
    snprintf(id.name, sizeof id.name, "client");
    cJSON *o = cJSON_CreateObject();
    cJSON *node = cJSON_AddObjectToObject(o, "node");
    cJSON_AddStringToObject(node, "role", "client");
    if (seed_url != NULL) {
        struct pm_seedurl u;
        char why[PM_SEEDURL_WHY_LEN];
        if (pm_seedurl_parse(seed_url, &u, why, sizeof why) != 0) {
            cJSON_Delete(o);
            return home_fail(err, err_len, -PM_EINVAL, "seed URL: %s", why);
        }
        memcpy(id.secret, u.secret, 32);
        id.has_secret = 1;
        cJSON *sv = cJSON_AddArrayToObject(o, "servers");
        for (uint32_t i = 0; i < u.n_hosts && i < HOME_PEERS_MAX; i++) {
            pm_hostport_format(&u.hosts[i], id.peers[i].addr, HOME_ADDR_LEN);
            cJSON_AddItemToArray(sv, cJSON_CreateString(id.peers[i].addr));
            id.n_peers++;
        }
        sodium_memzero(&u, sizeof u);
    } else {
        if (strncmp(nats_url, "nats://", 7) != 0 ||
            strlen(nats_url) >= sizeof id.nats_url) {
            cJSON_Delete(o);
            return home_fail(err, err_len, -PM_EINVAL,
                             "NATS URL must look like nats://host:port");
        }
        snprintf(id.nats_url, sizeof id.nats_url, "%s", nats_url);
        cJSON *nu = cJSON_AddArrayToObject(o, "nats_urls");
        cJSON_AddItemToArray(nu, cJSON_CreateString(nats_url));
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (text == NULL)
        return home_fail(err, err_len, -PM_ENOMEM, "out of memory");
    rc = home_write_file(home, "settings.json", text, strlen(text), 0600);
    free(text);
    if (rc == 0)
        rc = home_identity_write(home, &id);
    sodium_memzero(&id, sizeof id);
    if (rc != 0)
        return home_fail(err, err_len, rc, "writing %s: %s", home,
                         pm_strerror(rc));
    return 0;
}
