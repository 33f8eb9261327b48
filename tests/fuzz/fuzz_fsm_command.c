/* fuzz_fsm_command.c: libFuzzer target for the FSM command decoder.
 *
 * Each input is treated as an entry payload: decoded, validated against no
 * state and against a small mesh, applied (as COMMAND and as CONFIG app
 * blob), and, when it decodes, re-encoded and decoded again, which must be
 * a fixed point. The same bytes are also offered to fsm_restore(), the
 * other decoder of untrusted msgpack in src/fsm. Build and run:
 * `make BUILD=build/fsm fuzz-fsm` (mk/fsm.mk). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/entry.h"
#include "base/err.h"
#include "fsm/fsm.h"

static struct fsm *mesh(void)
{
    struct fsm *f;
    if (fsm_new(&f))
        abort();
    struct fsm_cmd c;
    memset(&c, 0, sizeof c);
    c.type = FSM_CMD_BOOTSTRAP;
    c.mesh_id = 1;
    memset(c.secret, 7, sizeof c.secret);
    c.member.id = 1;
    strcpy(c.member.name, "a");
    strcpy(c.member.cluster, "eu");
    c.member.role = FSM_ROLE_VOTER;
    c.member.seed = 1;
    strcpy(c.member.peer_host, "127.0.0.1");
    c.member.peer_port = 8443;
    strcpy(c.member.nats_host, "127.0.0.1");
    c.member.nats_client_port = 4222;
    c.member.nats_cluster_port = 4223;
    c.member.nats_gateway_port = 4224;
    c.member.nats_leaf_port = 4225;
    c.member.nats_http_port = 4226;
    uint8_t *buf;
    size_t len;
    if (fsm_cmd_encode(&c, &buf, &len))
        abort();
    struct pm_entry e = {.index = 1, .term = 1, .type = PM_ENTRY_COMMAND,
                         .data = buf, .len = (uint32_t)len};
    if (fsm_apply(f, &e, NULL))
        abort();
    free(buf);
    fsm_track_changes(f, 0);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsm_cmd c, d;
    char why[FSM_ERR_LEN];
    if (size > (1u << 20))
        return 0;
    int rc = fsm_cmd_decode(data, size, &c, why, sizeof why);
    if (rc == 0) {
        uint8_t *b1, *b2;
        size_t l1, l2;
        fsm_validate(NULL, &c, why, sizeof why);
        if (fsm_cmd_encode(&c, &b1, &l1) == 0) {
            if (fsm_cmd_decode(b1, l1, &d, NULL, 0) != 0)
                abort();
            if (fsm_cmd_encode(&d, &b2, &l2) != 0 || l1 != l2 ||
                memcmp(b1, b2, l1) != 0)
                abort();
            free(b1);
            free(b2);
        }
    }
    struct fsm *f = mesh();
    for (uint8_t t = PM_ENTRY_COMMAND; t >= PM_ENTRY_CONFIG; t--) {
        struct pm_entry e = {.index = fsm_applied(f) + 1, .term = 2,
                             .type = t, .data = data,
                             .len = (uint32_t)size};
        struct fsm_result r;
        if (fsm_apply(f, &e, &r) != 0)
            abort();
    }
    char hash_before[FSM_HASH_HEX_LEN], hash_after[FSM_HASH_HEX_LEN];
    fsm_state_hash(f, hash_before);
    if (fsm_restore(f, data, size) != 0) {
        /* A failed restore leaves the state untouched. */
        fsm_state_hash(f, hash_after);
        if (strcmp(hash_before, hash_after) != 0)
            abort();
    }
    fsm_free(f);
    return 0;
}
