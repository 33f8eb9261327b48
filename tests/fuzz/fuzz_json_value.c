/* fuzz_json_value.c: libFuzzer target for the text a user gives `pmesh set`
 * as a value (and as a key): fsm_value_normalize() and fsm_key_check().
 *
 * Properties checked on every input, beyond "no crash, no leak, no UB":
 *  - a normalized value is valid JSON (cJSON parses it), at most
 *    FSM_VALUE_MAX bytes, NUL-free, and its reported length is exact;
 *  - normalizing is idempotent: normalizing the canonical text again gives
 *    the same bytes (so a value read back and set again never changes);
 *  - a refusal comes with a code from the contract and a message.
 * `make fuzz-json-value` runs it (mk/chaos.mk); `make check` replays the
 * committed corpus tests/fuzz/corpus/json_value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "fsm/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * FSM_VALUE_MAX)
        return 0;
    const char *raw = (const char *)data;
    char err[256] = "";
    char *json = NULL;
    size_t len = 0;
    int rc = fsm_value_normalize(raw, size, &json, &len, err, sizeof err);
    if (rc != 0) {
        if (rc != -PM_EINVAL && rc != -PM_ETOOBIG && rc != -PM_ENOMEM)
            abort();
        if (err[0] == '\0')
            abort();
    } else {
        if (json == NULL || len > FSM_VALUE_MAX || strlen(json) != len)
            abort();
        cJSON *v = cJSON_ParseWithLength(json, len);
        if (v == NULL)
            abort();
        cJSON_Delete(v);
        char *again = NULL;
        size_t again_len = 0;
        rc = fsm_value_normalize(json, len, &again, &again_len, err,
                                 sizeof err);
        if (rc != 0)
            abort();
        if (again_len != len || memcmp(again, json, len) != 0)
            abort();
        free(again);
        free(json);
    }
    /* The same bytes as a settings key. */
    err[0] = '\0';
    rc = fsm_key_check(raw, size, err, sizeof err);
    if (rc != 0 && (err[0] == '\0' || (rc != -PM_EINVAL && rc != -PM_ETOOBIG)))
        abort();
    return 0;
}
