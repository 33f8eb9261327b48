/* entry.h: a replicated log entry, the value type shared by src/raft,
 * src/log and src/fsm.
 *
 * The payload is opaque to src/log. src/raft interprets CONFIG payloads
 * (membership) and nothing else; src/fsm interprets COMMAND payloads and the
 * application part of CONFIG payloads.
 */
#ifndef PM_ENTRY_H
#define PM_ENTRY_H

#include <stddef.h>
#include <stdint.h>

enum pm_entry_type {
    PM_ENTRY_NOOP = 1,    /* a new leader's first entry (Raft §5.4.2) */
    PM_ENTRY_CONFIG = 2,  /* a membership change (raft config + app data) */
    PM_ENTRY_COMMAND = 3, /* an FSM command (src/fsm encodes it) */
};

struct pm_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;          /* enum pm_entry_type */
    const uint8_t *data;   /* payload; ownership is stated by each API */
    uint32_t len;          /* payload bytes */
};

#endif
