/* check.c: incremental Raft safety invariants (see check.h). */
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlib.h"

void chk_init(struct chk *c)
{
    memset(c, 0, sizeof(*c));
}

void chk_free(struct chk *c)
{
    free(c->c);
    free(c->leader);
    free(c->pairs);
    memset(c, 0, sizeof(*c));
}

uint64_t chk_phash_next(uint64_t prev, uint64_t term, uint64_t ehash)
{
    return sim_mix(sim_mix(prev, term), ehash);
}

static void grow_u64(uint64_t **v, uint64_t *cap, uint64_t need)
{
    if (need < *cap)
        return;
    uint64_t n = *cap ? *cap : 64;
    while (n <= need)
        n *= 2;
    *v = sim_xrealloc(*v, n * sizeof(**v));
    memset(*v + *cap, 0, (n - *cap) * sizeof(**v));
    *cap = n;
}

int chk_leader(struct chk *c, uint64_t term, uint64_t id)
{
    grow_u64(&c->leader, &c->leader_cap, term);
    if (c->leader[term] && c->leader[term] != id) {
        snprintf(c->msg, sizeof(c->msg),
                 "election safety: nodes %" PRIu64 " and %" PRIu64
                 " both leader in term %" PRIu64,
                 c->leader[term], id, term);
        return -1;
    }
    c->leader[term] = id;
    return 0;
}

/* --- (index, term) -> prefix hash ---------------------------------------- */

static size_t pair_slot(uint64_t index, uint64_t term, size_t cap)
{
    return (size_t)(sim_mix(index, term) & (cap - 1));
}

static void pairs_grow(struct chk *c)
{
    size_t ncap = c->pairs_cap ? c->pairs_cap * 2 : 1024;
    struct chk_pair *np = sim_xcalloc(ncap, sizeof(*np));
    for (size_t i = 0; i < c->pairs_cap; i++) {
        struct chk_pair *p = &c->pairs[i];
        if (!p->index)
            continue;
        size_t s = pair_slot(p->index, p->term, ncap);
        while (np[s].index)
            s = (s + 1) & (ncap - 1);
        np[s] = *p;
    }
    free(c->pairs);
    c->pairs = np;
    c->pairs_cap = ncap;
}

static int pair_find(struct chk *c, uint64_t index, uint64_t term,
                     uint64_t phash, int insert)
{
    if (index == 0)
        return 0;
    if (!insert && c->pairs_cap == 0)
        return 0;
    if (insert && 2 * (c->pairs_n + 1) > c->pairs_cap)
        pairs_grow(c);
    size_t s = pair_slot(index, term, c->pairs_cap);
    while (c->pairs[s].index) {
        struct chk_pair *p = &c->pairs[s];
        if (p->index == index && p->term == term) {
            if (p->phash != phash) {
                snprintf(c->msg, sizeof(c->msg),
                         "log matching: two logs hold index %" PRIu64
                         " term %" PRIu64 " with different prefixes",
                         index, term);
                return -1;
            }
            return 0;
        }
        s = (s + 1) & (c->pairs_cap - 1);
    }
    if (insert) {
        c->pairs[s] = (struct chk_pair){index, term, phash};
        c->pairs_n++;
    }
    return 0;
}

int chk_pair(struct chk *c, uint64_t index, uint64_t term, uint64_t phash)
{
    return pair_find(c, index, term, phash, 1);
}

int chk_pair_match(struct chk *c, uint64_t index, uint64_t term,
                   uint64_t phash)
{
    return pair_find(c, index, term, phash, 0);
}

/* --- committed history --------------------------------------------------- */

static void commit_grow(struct chk *c, uint64_t index)
{
    if (index < c->c_cap)
        return;
    uint64_t n = c->c_cap ? c->c_cap : 1024;
    while (n <= index)
        n *= 2;
    c->c = sim_xrealloc(c->c, n * sizeof(*c->c));
    memset(c->c + c->c_cap, 0, (n - c->c_cap) * sizeof(*c->c));
    c->c_cap = n;
}

int chk_commit(struct chk *c, uint64_t index, uint64_t term, uint64_t ehash,
               uint64_t phash, uint64_t seen_term)
{
    if (index == 0)
        return 0;
    commit_grow(c, index);
    struct chk_commit *r = &c->c[index];
    if (r->set) {
        if (r->term != term || r->phash != phash) {
            snprintf(c->msg, sizeof(c->msg),
                     "committed entry changed: index %" PRIu64
                     " was term %" PRIu64 ", a node now commits term %" PRIu64
                     "%s",
                     index, r->term, term,
                     r->term == term ? " with a different prefix" : "");
            return -1;
        }
        if (seen_term < r->seen_term)
            r->seen_term = seen_term;
        return 0;
    }
    r->set = 1;
    r->term = term;
    r->ehash = ehash;
    r->phash = phash;
    r->seen_term = seen_term;
    if (index > c->committed)
        c->committed = index;
    return 0;
}

int chk_snapshot(struct chk *c, uint64_t index, uint64_t term, uint64_t state)
{
    if (index == 0 || index >= c->c_cap || !c->c[index].set)
        return 0; /* not known committed here: the commit check covers it */
    struct chk_commit *r = &c->c[index];
    if (r->term != term) {
        snprintf(c->msg, sizeof(c->msg),
                 "snapshot at index %" PRIu64 " term %" PRIu64
                 " but committed term there is %" PRIu64,
                 index, term, r->term);
        return -1;
    }
    if (r->state && state && r->state != state) {
        snprintf(c->msg, sizeof(c->msg),
                 "state machine safety: snapshot at index %" PRIu64
                 " holds state %016" PRIx64 ", applied state there is %016"
                 PRIx64, index, state, r->state);
        return -1;
    }
    if (!r->state)
        r->state = state;
    return 0;
}

int chk_applied(struct chk *c, uint64_t index, uint64_t term, uint64_t ehash,
                uint64_t state)
{
    commit_grow(c, index);
    struct chk_commit *r = &c->c[index];
    if (!r->set) {
        snprintf(c->msg, sizeof(c->msg),
                 "applied index %" PRIu64 " term %" PRIu64
                 " that no node reported committed",
                 index, term);
        return -1;
    }
    if (r->term != term || r->ehash != ehash) {
        snprintf(c->msg, sizeof(c->msg),
                 "state machine safety: index %" PRIu64 " applied as term %"
                 PRIu64 " (hash %016" PRIx64 "), committed as term %" PRIu64
                 " (hash %016" PRIx64 ")",
                 index, term, ehash, r->term, r->ehash);
        return -1;
    }
    if (r->state && r->state != state) {
        snprintf(c->msg, sizeof(c->msg),
                 "state machine safety: FSM state after index %" PRIu64
                 " is %016" PRIx64 ", another node had %016" PRIx64,
                 index, state, r->state);
        return -1;
    }
    r->state = state;
    return 0;
}

uint64_t chk_required(const struct chk *c, uint64_t term, uint64_t *phash)
{
    /* Bounded by the committed history; in practice one or two steps, since
     * commits seen in the current term sit only at the very top. */
    for (uint64_t i = c->committed; i > c->fork_index; i--) {
        const struct chk_commit *r = &c->c[i];
        if (r->set && r->seen_term < term) {
            *phash = r->phash;
            return i;
        }
    }
    if (c->fork_index && c->fork_index < c->c_cap &&
        c->c[c->fork_index].set) {
        *phash = c->c[c->fork_index].phash;
        return c->fork_index;
    }
    *phash = 0;
    return 0;
}

int chk_get(const struct chk *c, uint64_t index, struct chk_commit *out)
{
    if (index == 0 || index >= c->c_cap || !c->c[index].set)
        return 0;
    *out = c->c[index];
    return 1;
}

void chk_pairs_reset(struct chk *c)
{
    if (c->pairs)
        memset(c->pairs, 0, c->pairs_cap * sizeof(*c->pairs));
    c->pairs_n = 0;
}

void chk_fork(struct chk *c, uint64_t keep)
{
    for (uint64_t i = keep + 1; i <= c->committed && i < c->c_cap; i++)
        memset(&c->c[i], 0, sizeof(c->c[i]));
    if (c->committed > keep)
        c->committed = keep;
    c->fork_index = keep;
    c->forks++;
    /* Terms led by the lost tie-breaker live on only in lost nodes; the
     * survivor cannot know them and may lead one of them again. */
    if (c->leader)
        memset(c->leader, 0, c->leader_cap * sizeof(*c->leader));
}

/* --- shadow logs --------------------------------------------------------- */

void chk_log_init(struct chk_log *l)
{
    memset(l, 0, sizeof(*l));
}

void chk_log_free(struct chk_log *l)
{
    free(l->term);
    free(l->ehash);
    free(l->phash);
    memset(l, 0, sizeof(*l));
}

void chk_log_reset(struct chk_log *l, uint64_t index, uint64_t term,
                   uint64_t phash)
{
    l->base_index = index;
    l->base_term = term;
    l->base_phash = phash;
    l->last = index;
}

void chk_log_truncate(struct chk_log *l, uint64_t from)
{
    if (from <= l->base_index)
        from = l->base_index + 1;
    if (from <= l->last)
        l->last = from - 1;
}

uint64_t chk_log_append(struct chk_log *l, uint64_t term, uint64_t ehash)
{
    uint64_t k = l->last - l->base_index; /* slot of the new entry */
    if (k >= l->cap) {
        uint64_t n = l->cap ? l->cap * 2 : 256;
        l->term = sim_xrealloc(l->term, n * sizeof(uint64_t));
        l->ehash = sim_xrealloc(l->ehash, n * sizeof(uint64_t));
        l->phash = sim_xrealloc(l->phash, n * sizeof(uint64_t));
        l->cap = n;
    }
    uint64_t prev = k ? l->phash[k - 1] : l->base_phash;
    uint64_t ph = chk_phash_next(prev, term, ehash);
    l->term[k] = term;
    l->ehash[k] = ehash;
    l->phash[k] = ph;
    l->last++;
    return ph;
}

void chk_log_compact(struct chk_log *l, uint64_t upto)
{
    if (upto <= l->base_index)
        return;
    if (upto > l->last)
        upto = l->last;
    uint64_t drop = upto - l->base_index;
    uint64_t keep = l->last - upto;
    uint64_t nt = l->term[drop - 1], np = l->phash[drop - 1];
    memmove(l->term, l->term + drop, keep * sizeof(uint64_t));
    memmove(l->ehash, l->ehash + drop, keep * sizeof(uint64_t));
    memmove(l->phash, l->phash + drop, keep * sizeof(uint64_t));
    l->base_index = upto;
    l->base_term = nt;
    l->base_phash = np;
}

int chk_log_get(const struct chk_log *l, uint64_t index, uint64_t *term,
                uint64_t *ehash, uint64_t *phash)
{
    if (index < l->base_index || index > l->last)
        return 0;
    if (index == l->base_index) {
        *term = l->base_term;
        *ehash = 0;
        *phash = l->base_phash;
        return 1;
    }
    uint64_t k = index - l->base_index - 1;
    *term = l->term[k];
    *ehash = l->ehash[k];
    *phash = l->phash[k];
    return 1;
}
