/* test_fsm_util.h: helpers shared by the FSM unit tests (not a test). */
#ifndef TEST_FSM_UTIL_H
#define TEST_FSM_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "fsm/fsm.h"

#define T_MESH_ID 0x0123456789abcdefull

/* A member on 127.0.0.1 with ports derived from its id: peer 8000+id,
 * NATS 10000+10*id .. +4. */
static inline struct fsm_member t_member(uint64_t id, const char *name,
                                         const char *cluster, int role)
{
    struct fsm_member m;
    memset(&m, 0, sizeof m);
    m.id = id;
    snprintf(m.name, sizeof m.name, "%s", name);
    snprintf(m.cluster, sizeof m.cluster, "%s", cluster);
    m.role = (uint8_t)role;
    snprintf(m.peer_host, sizeof m.peer_host, "127.0.0.1");
    m.peer_port = (uint16_t)(8000 + id);
    snprintf(m.nats_host, sizeof m.nats_host, "127.0.0.1");
    uint16_t b = (uint16_t)(10000 + 10 * id);
    m.nats_client_port = b;
    m.nats_cluster_port = (uint16_t)(b + 1);
    m.nats_gateway_port = (uint16_t)(b + 2);
    m.nats_leaf_port = (uint16_t)(b + 3);
    m.nats_http_port = (uint16_t)(b + 4);
    return m;
}

static inline struct fsm_cmd t_cmd(int type)
{
    struct fsm_cmd c;
    memset(&c, 0, sizeof c);
    c.type = (uint8_t)type;
    c.proposer = 1;
    c.time_ms = 1764150000000ull;
    return c;
}

static inline struct fsm_cmd t_bootstrap(void)
{
    struct fsm_cmd c = t_cmd(FSM_CMD_BOOTSTRAP);
    c.mesh_id = T_MESH_ID;
    for (int i = 0; i < 32; i++)
        c.secret[i] = (uint8_t)(i * 7 + 1);
    c.member = t_member(1, "seed", "eu", FSM_ROLE_VOTER);
    c.member.seed = 1;
    return c;
}

static inline struct fsm_cmd t_add(uint64_t id, const char *name,
                                   const char *cluster, int role)
{
    struct fsm_cmd c = t_cmd(FSM_CMD_MEMBER_ADD);
    c.member = t_member(id, name, cluster, role);
    return c;
}

static inline struct fsm_cmd t_id_cmd(int type, uint64_t id)
{
    struct fsm_cmd c = t_cmd(type);
    c.member_id = id;
    return c;
}

/* SET with VALUE given as canonical JSON text. */
static inline struct fsm_cmd t_set(const char *key, const char *json)
{
    struct fsm_cmd c = t_cmd(FSM_CMD_SET);
    c.key.p = key;
    c.key.len = (uint32_t)strlen(key);
    c.value.p = json;
    c.value.len = (uint32_t)strlen(json);
    return c;
}

static inline struct fsm_cmd t_unset(const char *key)
{
    struct fsm_cmd c = t_cmd(FSM_CMD_UNSET);
    c.key.p = key;
    c.key.len = (uint32_t)strlen(key);
    return c;
}

/* Apply one encoded payload as entry applied+1 of TYPE. */
static inline int t_apply_bytes(struct fsm *f, uint8_t type,
                                const uint8_t *data, size_t len,
                                struct fsm_result *res)
{
    struct pm_entry e = {.index = fsm_applied(f) + 1, .term = 1,
                         .type = type, .data = data, .len = (uint32_t)len};
    return fsm_apply(f, &e, res);
}

/* Encode and apply C as a COMMAND entry; returns the result status. */
static inline int t_apply(struct fsm *f, const struct fsm_cmd *c,
                          struct fsm_result *res_out)
{
    uint8_t *buf;
    size_t len;
    struct fsm_result res;
    assert_int_equal(fsm_cmd_encode(c, &buf, &len), 0);
    assert_int_equal(t_apply_bytes(f, PM_ENTRY_COMMAND, buf, len, &res), 0);
    free(buf);
    if (res_out)
        *res_out = res;
    return res.status;
}

/* A bootstrapped FSM with changes discarded. */
static inline struct fsm *t_fsm_booted(void)
{
    struct fsm *f;
    assert_int_equal(fsm_new(&f), 0);
    struct fsm_cmd c = t_bootstrap();
    assert_int_equal(t_apply(f, &c, NULL), 0);
    fsm_changes_clear(f);
    return f;
}

static inline char *t_get(const struct fsm *f, const char *key)
{
    char *j = NULL;
    size_t n;
    if (fsm_get(f, key, &j, &n) != 0)
        return NULL;
    return j;
}

static inline void t_assert_get(const struct fsm *f, const char *key,
                                const char *want)
{
    char *j = t_get(f, key);
    if (!want) {
        assert_null(j);
        return;
    }
    assert_non_null(j);
    assert_string_equal(j, want);
    free(j);
}

/* Deterministic PRNG for the randomized tests (splitmix64). */
static inline uint64_t t_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A fresh temporary directory (caller removes it with t_rmdir). */
static inline char *t_tmpdir(void)
{
    char *d = strdup("/tmp/pmesh-fsm-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static inline void t_rmdir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

#endif
