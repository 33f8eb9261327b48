/* setup.c: `pmesh setup seed|join|replica|client`.
 *
 * Every setting is a flag; on a terminal (and without --yes) the ones not
 * given are asked for, offering the default in brackets. Flags and answers
 * go through the same checks, so a value is either valid or refused with
 * one clear line (exit 2); the node re-checks and owns the semantics.
 */
#include "cli/cli.h"
#include "base/err.h"
#include "base/seedurl.h"
#include "node/node.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WHY_LEN 512
#define ASK_TRIES_MAX 5

/* A check: 0 if TEXT is acceptable, else -1 and a phrase in WHY. */
typedef int (*check_fn)(const char *text, char *why);

static int check_name(const char *text, char *why)
{
    size_t n = strlen(text);
    if (n == 0 || n > 63) {
        snprintf(why, WHY_LEN, "must be 1-63 characters");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = text[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
            snprintf(why, WHY_LEN,
                     "only letters, digits, '_' and '-' are allowed");
            return -1;
        }
    }
    return 0;
}

static int check_listen(const char *text, char *why)
{
    struct pm_hostport hp;
    return pm_hostport_parse(text, strlen(text), &hp, why, WHY_LEN) ? -1 : 0;
}

static int check_advertise(const char *text, char *why)
{
    struct pm_hostport hp;
    if (pm_hostport_parse(text, strlen(text), &hp, why, WHY_LEN) != 0)
        return -1;
    if (pm_host_is_unspecified(&hp)) {
        snprintf(why, WHY_LEN,
                 "%s cannot be dialled; give a routable address", hp.host);
        return -1;
    }
    return 0;
}

static int check_host(const char *text, char *why)
{
    char buf[PM_HOSTPORT_TEXT_MAX];
    int v6 = strchr(text, ':') != NULL;
    if (text[0] == '[') {
        snprintf(why, WHY_LEN, "give the host without brackets");
        return -1;
    }
    if (strlen(text) > PM_HOST_LEN_MAX) {
        snprintf(why, WHY_LEN, "host longer than %d characters",
                 PM_HOST_LEN_MAX);
        return -1;
    }
    snprintf(buf, sizeof buf, v6 ? "[%s]:1" : "%s:1", text);
    return check_listen(buf, why);
}

static int check_port(const char *text, char *why)
{
    uint16_t p;
    int rc = pm_port_parse(text, strlen(text), &p);
    if (rc == 0)
        return 0;
    if (rc == -PM_ERANGE)
        snprintf(why, WHY_LEN, "port out of range 1-65535");
    else
        snprintf(why, WHY_LEN, "want a port number 1-65535");
    return -1;
}

static int check_seed_url(const char *text, char *why)
{
    struct pm_seedurl u;
    char sub[PM_SEEDURL_WHY_LEN];
    if (pm_seedurl_parse(text, &u, sub, sizeof sub) == 0)
        return 0;
    snprintf(why, WHY_LEN, "seed URL: %s", sub);
    return -1;
}

/* nats://[USER[:PASS]@]HOST[:PORT] */
static int check_nats_url(const char *text, char *why)
{
    if (strncmp(text, "nats://", 7) != 0) {
        snprintf(why, WHY_LEN, "must start with 'nats://'");
        return -1;
    }
    const char *rest = text + 7;
    /* Credentials are the NATS server's business; only the address is
     * checked here. */
    const char *at = strrchr(rest, '@');
    if (at != NULL)
        rest = at + 1;
    char buf[PM_HOSTPORT_TEXT_MAX + 8];
    if (strlen(rest) >= PM_HOSTPORT_TEXT_MAX) {
        snprintf(why, WHY_LEN, "address too long");
        return -1;
    }
    /* No port: NATS's default, as the NATS clients do. */
    int has_port = rest[0] == '['
                       ? strstr(rest, "]:") != NULL
                       : strchr(rest, ':') != NULL;
    snprintf(buf, sizeof buf, has_port ? "%s" : "%s:4222", rest);
    return check_listen(buf, why);
}

static int check_secret(const char *text, char *why)
{
    uint8_t s[PM_SEED_SECRET_BYTES];
    int rc = pm_seed_secret_parse(text, strlen(text), s, why, WHY_LEN);
    memset(s, 0, sizeof s);
    return rc ? -1 : 0;
}

int cli_interactive(const struct cli *c)
{
    return c->val[CLI_OPT_YES] == NULL && isatty(0);
}

/* Read one answer from stdin; trims blanks. 0, or -1 at end of input. */
static int read_answer(char *out, size_t out_len)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return -1;
    }
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' ||
                       p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len >= out_len)
        len = out_len - 1;
    memcpy(out, p, len);
    out[len] = 0;
    free(line);
    return 0;
}

/* Ask QUESTION offering DEF (may be NULL: an answer is required, or "" to
 * keep the node's default, shown as SHOWN). Retries a refused answer a few
 * times. Returns CLI_EXIT_OK with the answer (or DEF) in OUT. */
static int ask(const struct cli *c, const char *question, const char *def,
               const char *shown, check_fn check, char *out, size_t out_len)
{
    for (int tries = 0; tries < ASK_TRIES_MAX; tries++) {
        const char *offer = shown ? shown : def;
        if (offer && offer[0])
            fprintf(stderr, "%s [%s]: ", question, offer);
        else
            fprintf(stderr, "%s: ", question);
        fflush(stderr);
        if (read_answer(out, out_len) != 0) {
            fputc('\n', stderr);
            return cli_fail(c, CLI_EXIT_FAIL, "aborted (end of input)");
        }
        if (out[0] == 0) {
            if (def == NULL) {
                fprintf(stderr, "  an answer is needed\n");
                continue;
            }
            snprintf(out, out_len, "%s", def);
            if (def[0] == 0)
                return CLI_EXIT_OK;
        }
        char why[WHY_LEN];
        if (check == NULL || check(out, why) == 0)
            return CLI_EXIT_OK;
        fprintf(stderr, "  not accepted: %s\n", why);
    }
    return cli_fail(c, CLI_EXIT_USAGE, "%s: no acceptable answer", question);
}

const struct cli_cmd *cli_setup_ask_role(void)
{
    static const char *const roles[] = {"seed", "join", "replica", "client"};
    /* Messages name "setup" until a role is chosen. */
    static const struct cli_cmd setup = {.name = "setup", .args = ""};
    struct cli c = {0};
    c.cmd = &setup;
    fprintf(stderr,
            "Roles: seed (start a new mesh), join (voting member), replica "
            "(non-voting copy), client (no state).\n");
    for (int tries = 0; tries < ASK_TRIES_MAX; tries++) {
        char answer[32];
        if (ask(&c, "Role", "seed", NULL, NULL, answer, sizeof answer) != 0)
            return NULL;
        for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
            if (strcmp(answer, roles[i]) == 0) {
                char name[32];
                snprintf(name, sizeof name, "setup %s", roles[i]);
                return cli_cmd_find(name);
            }
        fprintf(stderr, "  not accepted: one of seed, join, replica, client\n");
    }
    cli_fail(NULL, CLI_EXIT_USAGE, "setup: no acceptable role");
    return NULL;
}

/* The host name as a member name: its first label, with characters a name
 * may not hold replaced by '-'. */
static void default_name(char out[64])
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == 0)
        snprintf(host, sizeof host, "node");
    host[strcspn(host, ".")] = 0;
    size_t n = strlen(host);
    if (n > 63)
        n = 63;
    for (size_t i = 0; i < n; i++) {
        char ch = host[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        out[i] = ok ? ch : '-';
    }
    out[n] = 0;
    if (n == 0)
        snprintf(out, 64, "node");
}

/* A host other machines can probably reach this one at: the first address
 * of an interface that is up and not loopback, IPv4 preferred; 127.0.0.1
 * when there is none. Only a guess offered as a default. */
static void routable_host(char *out, size_t out_len)
{
    struct ifaddrs *list = NULL;
    snprintf(out, out_len, "127.0.0.1");
    if (getifaddrs(&list) != 0)
        return;
    int found_v6 = 0;
    for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *a = (const void *)i->ifa_addr;
            inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)out_len);
            break;
        }
        if (i->ifa_addr->sa_family == AF_INET6 && !found_v6) {
            const struct sockaddr_in6 *a = (const void *)i->ifa_addr;
            if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr))
                continue;
            inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)out_len);
            found_v6 = 1;
        }
    }
    freeifaddrs(list);
}

/* The advertise default for LISTEN: the same, with a routable host in
 * place of 0.0.0.0 / [::]. */
static void default_advertise(const char *listen, char *out, size_t out_len)
{
    struct pm_hostport hp;
    if (pm_hostport_parse(listen, strlen(listen), &hp, NULL, 0) != 0) {
        snprintf(out, out_len, "%s", listen);
        return;
    }
    if (pm_host_is_unspecified(&hp)) {
        routable_host(hp.host, sizeof hp.host);
        hp.kind = strchr(hp.host, ':') ? PM_HOST_IPV6 : PM_HOST_IPV4;
    }
    if (pm_hostport_format(&hp, out, out_len) < 0)
        snprintf(out, out_len, "%s", listen);
}

enum setup_role { ROLE_SEED, ROLE_JOIN, ROLE_REPLICA };

struct plan {
    char name[64];
    char cluster[64];
    char listen[PM_HOSTPORT_TEXT_MAX];
    char advertise[PM_HOSTPORT_TEXT_MAX];
    char nats_port[8];
    char seed_url[PM_SEEDURL_TEXT_MAX];
};

/* Check the flag O (if given) with CHECK; SECRET_VALUE: do not echo it. */
static int check_flag(const struct cli *c, int o, check_fn check,
                      int secret_value)
{
    const char *v = c->val[o];
    char why[WHY_LEN];
    if (v == NULL || check(v, why) == 0)
        return CLI_EXIT_OK;
    if (secret_value)
        return cli_fail(c, CLI_EXIT_USAGE, "--%s: %s", cli_opts[o].name, why);
    return cli_fail(c, CLI_EXIT_USAGE, "--%s '%s': %s", cli_opts[o].name, v,
                    why);
}

static int check_flags(const struct cli *c)
{
    static const struct {
        int opt;
        check_fn check;
    } table[] = {
        {CLI_OPT_NAME, check_name},
        {CLI_OPT_CLUSTER, check_name},
        {CLI_OPT_LISTEN, check_listen},
        {CLI_OPT_ADVERTISE, check_advertise},
        {CLI_OPT_NATS_HOST, check_host},
        {CLI_OPT_NATS_PORT, check_port},
        {CLI_OPT_NATS_CLUSTER_PORT, check_port},
        {CLI_OPT_NATS_GATEWAY_PORT, check_port},
        {CLI_OPT_NATS_LEAF_PORT, check_port},
        {CLI_OPT_NATS_HTTP_PORT, check_port},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = check_flag(c, table[i].opt, table[i].check, 0);
        if (rc != 0)
            return rc;
    }
    /* Values that may hold credentials are never echoed. */
    int rc = check_flag(c, CLI_OPT_NATS_URL, check_nats_url, 1);
    if (rc != 0)
        return rc;
    return check_flag(c, CLI_OPT_SECRET, check_secret, 1);
}

static uint16_t port_of(const char *text)
{
    uint16_t p = 0;
    if (text != NULL)
        pm_port_parse(text, strlen(text), &p);
    return p;
}

/* Fill S's NATS ports: explicit flags, else PORT+1..+4; refuse derived
 * ports past 65535 and any port used twice (peer port included). */
static int plan_ports(const struct cli *c, const struct plan *p,
                      struct node_setup *s)
{
    static const int opts[4] = {CLI_OPT_NATS_CLUSTER_PORT,
                                CLI_OPT_NATS_GATEWAY_PORT,
                                CLI_OPT_NATS_LEAF_PORT,
                                CLI_OPT_NATS_HTTP_PORT};
    uint16_t *fields[4] = {&s->nats_cluster_port, &s->nats_gateway_port,
                           &s->nats_leaf_port, &s->nats_http_port};
    s->nats_port = port_of(p->nats_port);
    for (int k = 0; k < 4; k++) {
        uint16_t v = port_of(c->val[opts[k]]);
        if (v == 0) {
            uint32_t derived = (uint32_t)s->nats_port + (uint32_t)k + 1;
            if (derived > 65535)
                return cli_fail(c, CLI_EXIT_USAGE,
                                "--nats-port %u: the derived --%s would be "
                                "%u, past 65535; give it explicitly",
                                (unsigned)s->nats_port, cli_opts[opts[k]].name,
                                (unsigned)derived);
            v = (uint16_t)derived;
        }
        *fields[k] = v;
    }
    struct pm_hostport listen;
    if (pm_hostport_parse(p->listen, strlen(p->listen), &listen, NULL, 0))
        return cli_fail(c, CLI_EXIT_USAGE, "--listen '%s': invalid",
                        p->listen);
    const char *names[6] = {"--listen", "--nats-port", "--nats-cluster-port",
                            "--nats-gateway-port", "--nats-leaf-port",
                            "--nats-http-port"};
    uint16_t ports[6] = {listen.port, s->nats_port, s->nats_cluster_port,
                         s->nats_gateway_port, s->nats_leaf_port,
                         s->nats_http_port};
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            if (ports[i] == ports[j])
                return cli_fail(c, CLI_EXIT_USAGE,
                                "port %u is given to both %s and %s",
                                (unsigned)ports[i], names[i], names[j]);
    return CLI_EXIT_OK;
}

/* Gather the settings of a server role from flags and, on a terminal,
 * answers. */
static int plan_server(struct cli *c, enum setup_role role, struct plan *p)
{
    int rc = check_flags(c);
    if (rc != 0)
        return rc;
    int ia = cli_interactive(c);
    if (role != ROLE_SEED) {
        if (c->npos == 1) {
            char why[WHY_LEN];
            if (check_seed_url(c->pos[0], why) != 0)
                return cli_fail(c, CLI_EXIT_USAGE, "%s", why);
            snprintf(p->seed_url, sizeof p->seed_url, "%s", c->pos[0]);
        } else if (ia) {
            rc = ask(c, "Seed URL (from 'pmesh get-seed' on a member)", NULL,
                     NULL, check_seed_url, p->seed_url, sizeof p->seed_url);
            if (rc != 0)
                return rc;
        } else {
            return cli_fail(c, CLI_EXIT_USAGE,
                            "missing SEED_URL (see 'pmesh %s --help')",
                            c->cmd->name);
        }
    }

    char defname[64];
    default_name(defname);
    if (c->val[CLI_OPT_NAME] != NULL) {
        snprintf(p->name, sizeof p->name, "%s", c->val[CLI_OPT_NAME]);
    } else if (ia) {
        if ((rc = ask(c, "Member name", defname, NULL, check_name, p->name,
                      sizeof p->name)) != 0)
            return rc;
    } else {
        char why[WHY_LEN];
        if (check_name(defname, why) != 0)
            return cli_fail(c, CLI_EXIT_USAGE,
                            "host name '%s' is not a valid member name (%s); "
                            "give --name", defname, why);
        memcpy(p->name, defname, sizeof p->name);
    }

    /* Empty cluster: the node's default ("default" for a seed, the seed's
     * for a joiner). */
    if (c->val[CLI_OPT_CLUSTER] != NULL)
        snprintf(p->cluster, sizeof p->cluster, "%s", c->val[CLI_OPT_CLUSTER]);
    else if (ia && (rc = ask(c, "NATS cluster (region) label", "",
                             role == ROLE_SEED ? "default" : "the seed's",
                             check_name, p->cluster, sizeof p->cluster)) != 0)
        return rc;

    if (c->val[CLI_OPT_LISTEN] != NULL)
        snprintf(p->listen, sizeof p->listen, "%s", c->val[CLI_OPT_LISTEN]);
    else if (ia && (rc = ask(c, "Peer listen address", "0.0.0.0:8443", NULL,
                             check_listen, p->listen, sizeof p->listen)) != 0)
        return rc;
    else if (!ia)
        snprintf(p->listen, sizeof p->listen, "0.0.0.0:%d",
                 NODE_PEER_PORT_DEFAULT);

    char def[PM_HOSTPORT_TEXT_MAX];
    default_advertise(p->listen, def, sizeof def);
    if (c->val[CLI_OPT_ADVERTISE] != NULL)
        snprintf(p->advertise, sizeof p->advertise, "%s",
                 c->val[CLI_OPT_ADVERTISE]);
    else if (ia && (rc = ask(c, "Address other servers dial", def, NULL,
                             check_advertise, p->advertise,
                             sizeof p->advertise)) != 0)
        return rc;
    else if (!ia)
        snprintf(p->advertise, sizeof p->advertise, "%s", def);

    if (c->val[CLI_OPT_NATS_PORT] != NULL)
        snprintf(p->nats_port, sizeof p->nats_port, "%s",
                 c->val[CLI_OPT_NATS_PORT]);
    else if (ia && (rc = ask(c, "NATS client port", "4222", NULL, check_port,
                             p->nats_port, sizeof p->nats_port)) != 0)
        return rc;
    else if (!ia)
        snprintf(p->nats_port, sizeof p->nats_port, "%d",
                 NODE_NATS_PORT_DEFAULT);

    /* The default advertise address can still be unusable (a listen host
     * of [::] on a machine with no routable address is fine, but a typed
     * advertise is checked above). */
    char why[WHY_LEN];
    if (check_advertise(p->advertise, why) != 0)
        return cli_fail(c, CLI_EXIT_USAGE, "advertise address '%s': %s",
                        p->advertise, why);
    return CLI_EXIT_OK;
}

static void fill_setup(const struct cli *c, const struct plan *p,
                       struct node_setup *s)
{
    s->home = c->home;
    s->name = p->name;
    s->cluster = p->cluster[0] ? p->cluster : NULL;
    s->listen = p->listen;
    s->advertise = p->advertise;
    s->nats_host = c->val[CLI_OPT_NATS_HOST];
    s->secret = c->val[CLI_OPT_SECRET];
}

static void print_json_object(const struct cli *c, cJSON *o)
{
    char *text = cli_json_text(o, c->json_pretty);
    if (text != NULL)
        puts(text);
    free(text);
}

int cli_setup_seed(struct cli *c)
{
    struct plan p = {0};
    struct node_setup s = {0};
    int rc = plan_server(c, ROLE_SEED, &p);
    if (rc != 0)
        return rc;
    fill_setup(c, &p, &s);
    if ((rc = plan_ports(c, &p, &s)) != 0)
        return rc;
    char err[NODE_ERR_LEN] = "";
    char *url = NULL;
    int st = node_setup_seed(&s, &url, err, sizeof err);
    if (st != 0)
        return cli_fail(c, st == -PM_EEXIST ? CLI_EXIT_FAIL : cli_exit_for(st),
                        "%s", err[0] ? err : pm_strerror(st));
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p.name);
        cJSON_AddStringToObject(o, "home", c->home);
        cJSON_AddStringToObject(o, "seed_url", url);
        print_json_object(c, o);
        cJSON_Delete(o);
    } else {
        puts(url);
    }
    if (isatty(2))
        fprintf(stderr,
                "Seed '%s' set up in %s. The URL above holds the mesh "
                "secret: keep it private.\nStart the node with: pmesh --home "
                "%s start\n",
                p.name, c->home, c->home);
    free(url);
    return CLI_EXIT_OK;
}

static int setup_join(struct cli *c, enum setup_role role)
{
    struct plan p = {0};
    struct node_setup s = {0};
    int rc = plan_server(c, role, &p);
    if (rc != 0)
        return rc;
    fill_setup(c, &p, &s);
    if ((rc = plan_ports(c, &p, &s)) != 0)
        return rc;
    s.timeout_ms = c->val[CLI_OPT_TIMEOUT] ? c->timeout_ms : 0;
    char err[NODE_ERR_LEN] = "";
    int st = node_setup_join(&s, p.seed_url, role == ROLE_REPLICA, err,
                             sizeof err);
    if (st != 0)
        return cli_fail(c, st == -PM_EEXIST ? CLI_EXIT_FAIL : cli_exit_for(st),
                        "%s", err[0] ? err : pm_strerror(st));
    struct node_home_info info;
    if (node_home_info(c->home, &info, err, sizeof err) != 0)
        memset(&info, 0, sizeof info);
    const char *what = role == ROLE_REPLICA ? "replica" : "voter";
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p.name);
        cJSON_AddStringToObject(o, "home", c->home);
        cJSON_AddStringToObject(o, "role", what);
        /* Ids are u64: written as raw decimal, a double would round. */
        char id[24];
        snprintf(id, sizeof id, "%" PRIu64, info.node_id);
        cJSON_AddRawToObject(o, "node_id", id);
        snprintf(id, sizeof id, "%" PRIu64, info.mesh_id);
        cJSON_AddRawToObject(o, "mesh_id", id);
        print_json_object(c, o);
        cJSON_Delete(o);
    } else {
        printf("joined as %s '%s' (node id %" PRIu64 "); start it with: "
               "pmesh --home %s start\n",
               what, p.name, info.node_id, c->home);
    }
    return CLI_EXIT_OK;
}

int cli_setup_join(struct cli *c) { return setup_join(c, ROLE_JOIN); }
int cli_setup_replica(struct cli *c) { return setup_join(c, ROLE_REPLICA); }

int cli_setup_client(struct cli *c)
{
    int rc = check_flags(c);
    if (rc != 0)
        return rc;
    const char *nats = c->val[CLI_OPT_NATS_URL];
    char seed[PM_SEEDURL_TEXT_MAX] = "";
    char why[WHY_LEN];
    if (c->npos == 1 && nats != NULL)
        return cli_fail(c, CLI_EXIT_USAGE,
                        "give either SEED_URL or --nats URL, not both");
    if (c->npos == 1) {
        if (check_seed_url(c->pos[0], why) != 0)
            return cli_fail(c, CLI_EXIT_USAGE, "%s", why);
        snprintf(seed, sizeof seed, "%s", c->pos[0]);
    } else if (nats == NULL) {
        if (!cli_interactive(c))
            return cli_fail(c, CLI_EXIT_USAGE,
                            "missing SEED_URL or --nats URL (see 'pmesh "
                            "setup client --help')");
        rc = ask(c, "Seed URL", NULL, NULL, check_seed_url, seed,
                 sizeof seed);
        if (rc != 0)
            return rc;
    }
    char err[NODE_ERR_LEN] = "";
    int st = node_setup_client(c->home, nats ? NULL : seed, nats, err,
                               sizeof err);
    if (st != 0)
        return cli_fail(c, st == -PM_EEXIST ? CLI_EXIT_FAIL : cli_exit_for(st),
                        "%s", err[0] ? err : pm_strerror(st));
    printf("client set up in %s\n", c->home);
    return CLI_EXIT_OK;
}
