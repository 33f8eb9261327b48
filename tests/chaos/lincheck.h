/* lincheck.h: a linearizability checker for a history of register
 * operations (one register per key), recorded by the chaos harness.
 *
 * History text, one operation per line ('#' starts a comment):
 *
 *     PROC OP KEY VALUE INVOKE RETURN STATUS
 *
 *   PROC    the client that ran it (a token; only used in reports)
 *   OP      w (write VALUE) or r (read; VALUE is what it returned)
 *   KEY     the register
 *   VALUE   a token without blanks; "-" is "no value" (the initial state
 *           of every key, and what a read of an absent key returns)
 *   INVOKE  when the client invoked it, integer microseconds (any clock
 *           that is monotonic across all clients)
 *   RETURN  when the client saw it complete, same clock; "-" if never
 *   STATUS  ok      completed with that result
 *           fail    definitely had no effect (a write that was refused)
 *           info    unknown (timeout, crash): a write may or may not have
 *                   taken effect, at any moment after INVOKE; a read that
 *                   did not complete tells nothing and is ignored
 *
 * Model (Herlihy & Wing 1990): the history is linearizable if each
 * completed operation can be given one instant between its invocation and
 * its return such that the register semantics hold in that order.
 * Linearizability is local (ibid., Theorem 1), so every key is checked on
 * its own. The search is Wing & Gong's, with Lowe's memoization of
 * (linearized set, register value) configurations ("Testing for
 * linearizability", 2017), in the iterative form Porcupine uses.
 *
 * Pruning that keeps the search small without changing the answer:
 *  - failed writes and reads that did not complete are dropped;
 *  - an unknown write whose value no completed read returned is dropped:
 *    it may always be placed after every other operation (its return is at
 *    infinity), where it affects nothing that was observed;
 *  - an unknown write that some read did observe is kept with its return
 *    at infinity.
 * A read of a value that no write (ok or info) ever wrote, or only a failed
 * one, is reported at once.
 */
#ifndef PM_CHAOS_LINCHECK_H
#define PM_CHAOS_LINCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lc_history; /* opaque: parsed operations */

/* Verdict of a check. */
enum lc_verdict {
    LC_OK = 0,         /* every key linearizable */
    LC_VIOLATION = 1,  /* some key is not linearizable */
    LC_UNDECIDED = 2,  /* a key exceeded the search budget */
};

struct lc_stats {
    size_t ops;            /* operations parsed (all statuses) */
    size_t ops_checked;    /* operations that entered the search */
    size_t writes_ok, writes_fail, writes_info, reads_ok, reads_dropped;
    size_t info_dropped;   /* unknown writes nobody observed */
    size_t keys;
    uint64_t steps;        /* search steps over all keys */
    size_t cache_max;      /* largest memo table of any key (entries) */
};

/* Parse history text of LEN bytes (need not be NUL-terminated) and append
 * its operations to *H (created when *H is NULL). Returns 0, or -1 with
 * one line naming the bad line in ERR (ERR_LEN bytes). Bad input never
 * crashes. The caller frees *H with lc_free(). */
int lc_parse(struct lc_history **h, const char *text, size_t len,
             char *err, size_t err_len);

/* Read and parse the file PATH (appending to *H). Same returns. */
int lc_parse_file(struct lc_history **h, const char *path, char *err,
                  size_t err_len);

void lc_free(struct lc_history *h);

/* Check every key. STEPS_MAX bounds the search steps of one key (0: a
 * default of 50 million); a key over it is LC_UNDECIDED. REPORT, when not
 * NULL, receives a human-readable explanation of every violation: the key,
 * the operations that could not be placed, and the operations concurrent
 * with them. STATS (may be NULL) is filled in. */
enum lc_verdict lc_check(const struct lc_history *h, uint64_t steps_max,
                         FILE *report, struct lc_stats *stats);

#endif
