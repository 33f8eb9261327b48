/* config.c: membership configurations: validation, quorums, the safety
 * check of a single change, and the binary encoding. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft.h"

int raft_config_role(const struct raft_config *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n && i < RAFT_SERVERS_MAX; i++)
        if (c->servers[i].id == id)
            return c->servers[i].role;
    return 0;
}

uint32_t raft_config_voters(const struct raft_config *c)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < c->n && i < RAFT_SERVERS_MAX; i++)
        v += c->servers[i].role == RAFT_VOTER;
    return v;
}

int raft_config_validate(const struct raft_config *c)
{
    if (c->n > RAFT_SERVERS_MAX || c->weighted > 1 || c->forced > 1)
        return -PM_EINVAL;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        if (s->id == 0 || (s->role != RAFT_VOTER && s->role != RAFT_LEARNER))
            return -PM_EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (c->servers[j].id == s->id)
                return -PM_EINVAL;
    }
    if (c->tiebreaker != 0 && raft_config_role(c, c->tiebreaker) == 0)
        return -PM_EINVAL;
    if (c->weighted &&
        (raft_config_voters(c) != 2 ||
         raft_config_role(c, c->tiebreaker) != RAFT_VOTER))
        return -PM_EINVAL;
    return 0;
}

void raft_config_sort(struct raft_config *c)
{
    /* Insertion sort: at most RAFT_SERVERS_MAX elements. */
    uint32_t n = c->n < RAFT_SERVERS_MAX ? c->n : RAFT_SERVERS_MAX;
    for (uint32_t i = 1; i < n; i++) {
        struct raft_server s = c->servers[i];
        uint32_t j = i;
        while (j > 0 && c->servers[j - 1].id > s.id) {
            c->servers[j] = c->servers[j - 1];
            j--;
        }
        c->servers[j] = s;
    }
}

int raft_config_set(struct raft_config *c, uint64_t id, int role)
{
    if (id == 0 || (role != RAFT_VOTER && role != RAFT_LEARNER) ||
        c->n > RAFT_SERVERS_MAX)
        return -PM_EINVAL;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            c->servers[i].role = (uint8_t)role;
            return 0;
        }
    }
    if (c->n == RAFT_SERVERS_MAX)
        return -PM_ENOSPC;
    c->servers[c->n].id = id;
    c->servers[c->n].role = (uint8_t)role;
    c->n++;
    raft_config_sort(c);
    return 0;
}

int raft_config_remove(struct raft_config *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n && i < RAFT_SERVERS_MAX; i++) {
        if (c->servers[i].id == id) {
            memmove(&c->servers[i], &c->servers[i + 1],
                    (c->n - i - 1) * sizeof c->servers[0]);
            c->n--;
            if (c->tiebreaker == id)
                c->tiebreaker = 0;
            return 0;
        }
    }
    return -PM_ENOTFOUND;
}

int raft_config_is_quorum(const struct raft_config *c, const uint64_t *ids,
                          size_t n)
{
    uint32_t voters = 0, present = 0;
    int tb_present = 0;
    for (uint32_t i = 0; i < c->n && i < RAFT_SERVERS_MAX; i++) {
        const struct raft_server *s = &c->servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        voters++;
        for (size_t k = 0; k < n; k++) {
            if (ids[k] == s->id) {
                present++;
                if (s->id == c->tiebreaker)
                    tb_present = 1;
                break;
            }
        }
    }
    if (voters == 0)
        return 0;
    /* Weighted two-voter mode: the tie-breaker's weight makes it a quorum
     * on its own; the other voter alone never is. */
    if (c->weighted && voters == 2)
        return tb_present;
    return present * 2 > voters;
}

/* Count of servers whose (id, role) differ between A and B. */
static uint32_t server_changes(const struct raft_config *a,
                               const struct raft_config *b)
{
    uint32_t d = 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (raft_config_role(b, a->servers[i].id) != a->servers[i].role)
            d++;
    for (uint32_t i = 0; i < b->n; i++)
        if (raft_config_role(a, b->servers[i].id) == 0)
            d++;
    return d;
}

int raft_config_check_transition(const struct raft_config *old_c,
                                 const struct raft_config *new_c)
{
    if (raft_config_validate(old_c) != 0 || raft_config_validate(new_c) != 0)
        return -PM_EINVAL;
    uint32_t d = server_changes(old_c, new_c);
    if (d > 1)
        return -PM_EINVAL;
    if (raft_config_voters(new_c) == 0)
        return -PM_EINVAL;

    /* Exhaustive intersection check (thesis §4.1 argues it for plain
     * majorities; the weighted mode needs it checked): no set A that is a
     * quorum of OLD may leave a complement that is a quorum of NEW. The
     * universe is the union of both voter sets, at most
     * RAFT_SERVERS_MAX + 1 ids, so at most 2^17 subsets. */
    uint64_t u[2 * RAFT_SERVERS_MAX];
    uint32_t nu = 0;
    const struct raft_config *cs[2] = {old_c, new_c};
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < cs[k]->n; i++) {
            if (cs[k]->servers[i].role != RAFT_VOTER)
                continue;
            uint64_t id = cs[k]->servers[i].id;
            uint32_t j = 0;
            while (j < nu && u[j] != id)
                j++;
            if (j == nu)
                u[nu++] = id;
        }
    }
    if (nu > RAFT_SERVERS_MAX + 1)
        return -PM_EINVAL;
    for (uint32_t mask = 0; mask < (1u << nu); mask++) {
        uint64_t in[2 * RAFT_SERVERS_MAX], out[2 * RAFT_SERVERS_MAX];
        size_t ni = 0, no = 0;
        for (uint32_t j = 0; j < nu; j++) {
            if (mask & (1u << j))
                in[ni++] = u[j];
            else
                out[no++] = u[j];
        }
        if (raft_config_is_quorum(old_c, in, ni) &&
            raft_config_is_quorum(new_c, out, no))
            return -PM_EINVAL;
    }
    return 0;
}

/* --- encoding ----------------------------------------------------------- */

#define HDR_LEN (1 + 1 + 8 + 1)
#define SRV_LEN (8 + 1)

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t raft_config_encoded_len(const struct raft_config *c)
{
    uint32_t n = c->n < RAFT_SERVERS_MAX ? c->n : RAFT_SERVERS_MAX;
    return HDR_LEN + (size_t)n * SRV_LEN;
}

int raft_config_encode(const struct raft_config *c, uint8_t *buf, size_t cap,
                       size_t *len)
{
    if (raft_config_validate(c) != 0)
        return -PM_EINVAL;
    size_t need = raft_config_encoded_len(c);
    if (cap < need)
        return -PM_ETOOBIG;
    struct raft_config s = *c;
    raft_config_sort(&s);
    buf[0] = RAFT_CONFIG_VERSION;
    buf[1] = (uint8_t)(s.weighted | (s.forced << 1));
    put_u64(buf + 2, s.tiebreaker);
    buf[10] = (uint8_t)s.n;
    for (uint32_t i = 0; i < s.n; i++) {
        put_u64(buf + HDR_LEN + i * SRV_LEN, s.servers[i].id);
        buf[HDR_LEN + i * SRV_LEN + 8] = s.servers[i].role;
    }
    *len = need;
    return 0;
}

int raft_config_decode(const uint8_t *buf, size_t len, struct raft_config *c)
{
    if (buf == NULL || len < HDR_LEN)
        return -PM_ECORRUPT;
    if (buf[0] != RAFT_CONFIG_VERSION)
        return -PM_EVERSION;
    if (buf[1] & ~3u)
        return -PM_ECORRUPT;
    uint32_t n = buf[10];
    if (n > RAFT_SERVERS_MAX || len != HDR_LEN + (size_t)n * SRV_LEN)
        return -PM_ECORRUPT;
    struct raft_config t;
    memset(&t, 0, sizeof t);
    t.weighted = buf[1] & 1;
    t.forced = (buf[1] >> 1) & 1;
    t.tiebreaker = get_u64(buf + 2);
    t.n = n;
    for (uint32_t i = 0; i < n; i++) {
        t.servers[i].id = get_u64(buf + HDR_LEN + i * SRV_LEN);
        t.servers[i].role = buf[HDR_LEN + i * SRV_LEN + 8];
        if (i > 0 && t.servers[i].id <= t.servers[i - 1].id)
            return -PM_ECORRUPT; /* canonical: sorted, unique */
    }
    if (raft_config_validate(&t) != 0)
        return -PM_ECORRUPT;
    *c = t;
    return 0;
}

int raft_config_payload_encode(const struct raft_config *c, const void *app,
                               uint32_t app_len, uint8_t **out,
                               uint32_t *len)
{
    if (raft_config_validate(c) != 0 || (app == NULL && app_len > 0))
        return -PM_EINVAL;
    size_t cl = raft_config_encoded_len(c);
    size_t total = 4 + cl + (size_t)app_len;
    if (total > UINT32_MAX)
        return -PM_ETOOBIG;
    uint8_t *p = malloc(total);
    if (p == NULL)
        return -PM_ENOMEM;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(cl >> (8 * i));
    size_t got;
    int rc = raft_config_encode(c, p + 4, cl, &got);
    if (rc != 0) {
        free(p);
        return rc;
    }
    if (app_len > 0)
        memcpy(p + 4 + cl, app, app_len);
    *out = p;
    *len = (uint32_t)total;
    return 0;
}

int raft_config_payload_split(const uint8_t *data, uint32_t len,
                              struct raft_config *c, const uint8_t **app,
                              uint32_t *app_len)
{
    if (data == NULL || len < 4)
        return -PM_ECORRUPT;
    uint32_t cl = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                  (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    if (cl > len - 4)
        return -PM_ECORRUPT;
    int rc = raft_config_decode(data + 4, cl, c);
    if (rc != 0)
        return rc == -PM_EVERSION ? rc : -PM_ECORRUPT;
    if (app != NULL)
        *app = data + 4 + cl;
    if (app_len != NULL)
        *app_len = len - 4 - cl;
    return 0;
}
