/* fuzz_net_raft.c: libFuzzer target for the raft message payload. The
 * input is placed after a fixed, valid body header (version 1, kind RAFT)
 * so that the fuzzer spends its time inside the message decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t head[] = {0x95, 0x01, 0x07, 0x02, WIRE_RAFT};
    if (size > (1u << 20))
        return 0;
    uint8_t *buf = malloc(sizeof head + size);
    if (buf == NULL)
        return 0;
    memcpy(buf, head, sizeof head);
    if (size)
        memcpy(buf + sizeof head, data, size);
    struct wire_body b;
    if (wire_decode(buf, sizeof head + size, &b) == 0) {
        /* Decoded values respect the documented ranges. */
        if (b.h.kind != WIRE_RAFT || b.raft.type < 1 ||
            b.raft.type > RAFT_MSG_TYPE_MAX || b.raft.reject > 1 ||
            b.raft.transfer > 1 || b.raft.done > 1 ||
            b.raft.n_entries > WIRE_ENTRIES_MAX)
            abort();
        for (uint32_t i = 0; i < b.raft.n_entries; i++) {
            const struct pm_entry *e = &b.raft.entries[i];
            if (e->type < PM_ENTRY_NOOP || e->type > PM_ENTRY_COMMAND ||
                (e->len && (e->data < buf || e->data + e->len > buf + sizeof head + size)))
                abort();
        }
        wire_body_free(&b);
    }
    free(buf);
    return 0;
}
