/* json.h (internal to src/fsm): small cJSON helpers shared by the renderers
 * of settings.json (render.c) and of audit records (audit.c). */
#ifndef PM_FSM_JSON_H
#define PM_FSM_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* A u64 as a JSON number, written exactly (cJSON's own numbers are doubles
 * and would round above 2^53). */
cJSON *fsm__json_u64(uint64_t v);

/* A u64 as a JSON string: for random 64-bit ids such as the mesh id, which
 * most readers (cJSON, jq, JavaScript) would round if they were numbers. */
cJSON *fsm__json_u64_str(uint64_t v);

/* Add ITEM to object O under NAME; on any failure (ITEM NULL after a failed
 * allocation, or the add failing) free ITEM and clear *OK, so a renderer can
 * build a whole document and check once at the end. */
void fsm__json_add(cJSON *o, const char *name, cJSON *item, int *ok);

#endif
