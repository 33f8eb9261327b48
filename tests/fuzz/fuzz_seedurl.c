/* fuzz_seedurl.c: libFuzzer target for the seed URL and host:port parsers
 * (src/base/seedurl.c), which read text users paste and files on disk.
 *
 * Besides "no crash, no sanitizer report", it checks the module's promise:
 * whatever parses formats back to exactly the input, and the formatted
 * text parses to the same value. A failed parse leaves no secret bytes.
 */
#include "base/err.h"
#include "base/seedurl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Inputs past the longest valid URL are still tried (they must be
 * refused), but not much past, to keep the fuzzer's time on the grammar. */
#define INPUT_MAX (PM_SEEDURL_TEXT_MAX + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return 0;

    /* host:port on exactly SIZE bytes, with no terminator after them, so
     * ASan catches any read past the given length. */
    char *raw = malloc(size ? size : 1);
    if (raw == NULL)
        return 0;
    memcpy(raw, data, size);
    struct pm_hostport hp;
    char why[PM_SEEDURL_WHY_LEN];
    if (pm_hostport_parse(raw, size, &hp, why, sizeof why) == 0) {
        char back[PM_HOSTPORT_TEXT_MAX];
        int n = pm_hostport_format(&hp, back, sizeof back);
        if (n < 0 || (size_t)n != size || memcmp(back, raw, size) != 0)
            abort();
        if (hp.port == 0)
            abort();
    }
    uint8_t secret[PM_SEED_SECRET_BYTES];
    if (pm_seed_secret_parse(raw, size, secret, why, sizeof why) == 0) {
        char back[PM_SEED_SECRET_TEXT_LEN + 1];
        if (pm_seed_secret_format(secret, back, sizeof back) !=
                PM_SEED_SECRET_TEXT_LEN ||
            memcmp(back, raw, size) != 0)
            abort();
    }
    uint16_t port;
    if (pm_port_parse(raw, size, &port) == 0 && port == 0)
        abort();
    free(raw);

    /* The seed URL parser takes a C string. */
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct pm_seedurl u;
    int rc = pm_seedurl_parse(text, &u, why, sizeof why);
    if (rc == 0) {
        if (u.n_hosts < 1 || u.n_hosts > PM_SEED_HOSTS_MAX)
            abort();
        char back[PM_SEEDURL_TEXT_MAX];
        int n = pm_seedurl_format(&u, back, sizeof back);
        if (n < 0 || strcmp(back, text) != 0)
            abort();
        struct pm_seedurl again;
        if (pm_seedurl_parse(back, &again, NULL, 0) != 0 ||
            memcmp(&again, &u, sizeof u) != 0)
            abort();
    } else {
        static const uint8_t zero[PM_SEED_SECRET_BYTES];
        if (rc != -PM_EINVAL || memcmp(u.secret, zero, sizeof zero) != 0 ||
            why[0] == 0 || strlen(why) >= sizeof why)
            abort();
    }
    free(text);
    return 0;
}
