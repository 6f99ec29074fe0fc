/* The byte-pair merge (merge.h). */

#include "merge.h"

#include <stdlib.h>
#include <string.h>

#define SMALL 256

static size_t merge_small(const Ranks *ranks, const uint8_t *p, size_t n) {
    /* tiktoken's own algorithm: O(n * merges), best for short pieces */
    size_t start[SMALL + 1];
    uint32_t rank[SMALL + 1];
    size_t parts = n + 1; /* n parts and the end */
    for (size_t i = 0; i + 1 < n; i++) {
        start[i] = i;
        rank[i] = rank_of(ranks, p + i, 2);
    }
    start[n - 1] = n - 1, rank[n - 1] = NO_RANK;
    start[n] = n, rank[n] = NO_RANK;
    for (;;) {
        size_t best = 0;
        uint32_t min = NO_RANK;
        for (size_t i = 0; i + 1 < parts; i++)
            if (rank[i] < min) min = rank[i], best = i;
        if (min == NO_RANK) return parts - 1;
        if (best > 0)
            rank[best - 1] = best + 2 < parts
                ? rank_of(ranks, p + start[best - 1], start[best + 2] - start[best - 1]) : NO_RANK;
        rank[best] = best + 3 < parts
            ? rank_of(ranks, p + start[best], start[best + 3] - start[best]) : NO_RANK;
        memmove(start + best + 1, start + best + 2, (parts - best - 2) * sizeof *start);
        memmove(rank + best + 1, rank + best + 2, (parts - best - 2) * sizeof *rank);
        parts--;
    }
}

/* The same merges for long pieces in O(n log n): parts as a list over byte positions, their
   pair ranks in an indexed min-heap ordered by (rank, position). */
typedef struct {
    uint32_t *rank, *next, *heap, *pos;
    size_t size;
} Heap;

static inline int before(const Heap *h, uint32_t a, uint32_t b) {
    return h->rank[a] < h->rank[b] || (h->rank[a] == h->rank[b] && a < b);
}

static void heap_set(Heap *h, size_t i, uint32_t part) { h->heap[i] = part, h->pos[part] = (uint32_t)i; }

static void heap_up(Heap *h, size_t i) {
    uint32_t part = h->heap[i];
    while (i > 0 && before(h, part, h->heap[(i - 1) / 2])) {
        heap_set(h, i, h->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(h, i, part);
}

static void heap_down(Heap *h, size_t i) {
    uint32_t part = h->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->size) break;
        if (c + 1 < h->size && before(h, h->heap[c + 1], h->heap[c])) c++;
        if (!before(h, h->heap[c], part)) break;
        heap_set(h, i, h->heap[c]);
        i = c;
    }
    heap_set(h, i, part);
}

static void heap_remove(Heap *h, uint32_t part) {
    size_t i = h->pos[part];
    if (i == UINT32_MAX) return;
    h->pos[part] = UINT32_MAX;
    uint32_t last = h->heap[--h->size];
    if (i == h->size) return;
    heap_set(h, i, last);
    heap_up(h, i);
    heap_down(h, h->pos[last]);
}

static void heap_rerank(Heap *h, uint32_t part, uint32_t rank) {
    h->rank[part] = rank;
    if (h->pos[part] == UINT32_MAX) {
        if (rank == NO_RANK) return;
        heap_set(h, h->size++, part);
        heap_up(h, h->size - 1);
    } else if (rank == NO_RANK) {
        heap_remove(h, part);
    } else {
        heap_up(h, h->pos[part]);
        heap_down(h, h->pos[part]);
    }
}

static Py_ssize_t merge_large(const Ranks *ranks, const uint8_t *p, size_t n) {
    Heap h = {malloc(n * 4), malloc(n * 4), malloc(n * 4), malloc(n * 4), 0};
    Py_ssize_t parts = -1;
    if (!h.rank || !h.next || !h.heap || !h.pos) goto done;
    for (size_t i = 0; i < n; i++) {
        h.next[i] = (uint32_t)(i + 1);
        h.rank[i] = i + 1 < n ? rank_of(ranks, p + i, 2) : NO_RANK;
        h.pos[i] = UINT32_MAX;
        if (h.rank[i] != NO_RANK) heap_set(&h, h.size++, (uint32_t)i);
    }
    for (size_t i = h.size / 2; i-- > 0;) heap_down(&h, i);
    parts = (Py_ssize_t)n;
    while (h.size) {
        uint32_t i = h.heap[0], j = h.next[i], k = h.next[j];
        heap_remove(&h, j);
        h.next[j] = 0; /* j is inside i now */
        h.next[i] = k;
        parts--;
        heap_rerank(&h, i, k < n ? rank_of(ranks, p + i, h.next[k] - i) : NO_RANK);
        if (i > 0) {
            uint32_t before_i = i - 1;
            while (!h.next[before_i]) before_i--;
            heap_rerank(&h, before_i, rank_of(ranks, p + before_i, k - before_i));
        }
    }
done:
    free(h.rank), free(h.next), free(h.heap), free(h.pos);
    return parts;
}

Py_ssize_t piece_tokens(const Ranks *ranks, const uint8_t *p, size_t n) {
    if (n == 1 || rank_of(ranks, p, n) != NO_RANK) return 1;
    if (n <= SMALL) return (Py_ssize_t)merge_small(ranks, p, n);
    if (n >= UINT32_MAX) return -1;
    return merge_large(ranks, p, n);
}
