/* json.c: cJSON helpers shared by the fsm renderers (see json.h). */
#include "fsm/json.h"

#include <inttypes.h>
#include <stdio.h>

cJSON *fsm__json_u64(uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    return cJSON_CreateRaw(t);
}

cJSON *fsm__json_u64_str(uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    return cJSON_CreateString(t);
}

void fsm__json_add(cJSON *o, const char *name, cJSON *item, int *ok)
{
    if (!item || !cJSON_AddItemToObject(o, name, item)) {
        cJSON_Delete(item);
        *ok = 0;
    }
}
