/* lincheck_main.c: `chaos-lincheck [--steps N] HISTORY...`: check the
 * histories (concatenated; see lincheck.h for the format) and print one
 * summary line. Exit 0 linearizable, 1 not linearizable (the explanation
 * on stdout), 2 undecided (search budget), 3 bad usage or bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos/lincheck.h"

int main(int argc, char **argv)
{
    unsigned long long steps = 0;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--steps") == 0) {
        char *end;
        steps = strtoull(argv[i + 1], &end, 10);
        if (*end || steps == 0) {
            fprintf(stderr, "chaos-lincheck: bad --steps\n");
            return 3;
        }
        i += 2;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: chaos-lincheck [--steps N] HISTORY...\n");
        return 3;
    }
    struct lc_history *h = NULL;
    char err[256];
    for (; i < argc; i++) {
        if (lc_parse_file(&h, argv[i], err, sizeof err) != 0) {
            fprintf(stderr, "chaos-lincheck: %s: %s\n", argv[i], err);
            lc_free(h);
            return 3;
        }
    }
    struct lc_stats st;
    enum lc_verdict v = lc_check(h, steps, stdout, &st);
    printf("lincheck: %s: %zu operations, %zu checked over %zu keys "
           "(writes ok %zu, failed %zu, unknown %zu of which %zu unobserved; "
           "reads ok %zu, not completed %zu); %llu search steps, memo %zu\n",
           v == LC_OK ? "linearizable"
                      : v == LC_VIOLATION ? "NOT LINEARIZABLE" : "UNDECIDED",
           st.ops, st.ops_checked, st.keys, st.writes_ok, st.writes_fail,
           st.writes_info, st.info_dropped, st.reads_ok, st.reads_dropped,
           (unsigned long long)st.steps, st.cache_max);
    lc_free(h);
    return v == LC_OK ? 0 : v == LC_VIOLATION ? 1 : 2;
}
