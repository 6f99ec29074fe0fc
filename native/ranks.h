/* One encoding's mergeable ranks, compactly: every token's bytes in one buffer (in rank order),
   an offsets array, and an open-addressing hash table (linear probing) whose entries are
   rank + 1 tagged with 11 bits of the key's hash, so most misses never compare bytes. */

#ifndef RANKS_H
#define RANKS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NO_RANK UINT32_MAX
#define RANK_BITS 21 /* a table entry: tag (11 bits) << 21 | rank + 1; 0: empty */
#define MAX_TOKENS ((1u << RANK_BITS) - 2)

typedef struct {
    uint8_t *bytes;    /* every token's bytes, in rank order */
    uint32_t *offsets; /* token r is bytes[offsets[r] : offsets[r + 1]] */
    uint32_t *table;
    size_t mask, max_len;
} Ranks;

static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

/* The rank of the token p[0:n], or NO_RANK. */
static inline uint32_t rank_of(const Ranks *r, const uint8_t *p, size_t n) {
    if (n > r->max_len) return NO_RANK;
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 53);
    for (size_t i = h & r->mask;; i = (i + 1) & r->mask) {
        uint32_t e = r->table[i];
        if (!e) return NO_RANK;
        if (e >> RANK_BITS == tag) {
            uint32_t k = (e & ((1u << RANK_BITS) - 1)) - 1;
            if (r->offsets[k + 1] - r->offsets[k] == n && !memcmp(r->bytes + r->offsets[k], p, n))
                return k;
        }
    }
}

#endif
