/* The pre-tokenizer (pieces.h): where each piece of a text ends, as tiktoken's patterns split it. */

#include "pieces.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"

/* ---- Unicode classes: a two-stage table built from classes.h at import ---- */

enum { F_L = 1, F_UP = 2, F_LO = 4, F_N = 8, F_S = 16 };
#define BLOCKS (0x110000 >> 8)

static uint16_t class_index[BLOCKS];
static uint8_t *class_blocks;

int pieces_init(void) {
    uint8_t block[256];
    size_t unique = 0, capacity = 64, r = 0;
    if (class_blocks) return 0;
    class_blocks = malloc(capacity * 256);
    if (!class_blocks) return -1;
    for (uint32_t b = 0; b < BLOCKS; b++) {
        uint32_t base = b << 8;
        memset(block, 0, sizeof block);
        while (r < CLASS_RANGES && class_ranges[r].last < base) r++;
        for (size_t k = r; k < CLASS_RANGES && class_ranges[k].first <= base + 255; k++) {
            uint32_t lo = class_ranges[k].first > base ? class_ranges[k].first : base;
            uint32_t hi = class_ranges[k].last < base + 255 ? class_ranges[k].last : base + 255;
            memset(block + (lo - base), class_ranges[k].flags, hi - lo + 1);
        }
        size_t found = 0;
        while (found < unique && memcmp(class_blocks + found * 256, block, 256)) found++;
        if (found == unique) {
            if (unique == capacity) {
                uint8_t *grown = realloc(class_blocks, (capacity *= 2) * 256);
                if (!grown) return -1;
                class_blocks = grown;
            }
            memcpy(class_blocks + unique++ * 256, block, 256);
        }
        class_index[b] = (uint16_t)found;
    }
    return 0;
}

static inline unsigned cls(uint32_t cp) {
    return cp < 0x110000 ? class_blocks[((size_t)class_index[cp >> 8] << 8) | (cp & 255)] : 0;
}

/* ---- reading the text ---- */

static inline unsigned fl(const Text *t, size_t i) { return cls(at(t, i)); }
static inline int newline(uint32_t c) { return c == '\r' || c == '\n'; }
/* [^\s\p{L}\p{N}] */
static inline int other(const Text *t, size_t i) { return i < t->n && !(fl(t, i) & (F_S | F_L | F_N)); }

/* The letter a contraction's (?i:...) matches: simple case folding, as regex-syntax does. */
static inline uint32_t fold(uint32_t c) {
    if (c == 0x17F) return 's'; /* LATIN SMALL LETTER LONG S */
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* '(?i:s|t|m|d) or '(?i:ll|ve|re) at i: its end, or i. */
static size_t contraction(const Text *t, size_t i) {
    if (i + 1 >= t->n || at(t, i) != '\'') return i;
    uint32_t a = fold(at(t, i + 1));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 >= t->n) return i;
    uint32_t b = fold(at(t, i + 2));
    if ((a == 'l' && b == 'l') || (a == 'v' && b == 'e') || (a == 'r' && b == 'e')) return i + 3;
    return i;
}

/* \p{N}{1,3} from i (a number). */
static size_t digits_end(const Text *t, size_t i) {
    size_t j = i + 1;
    while (j < t->n && j < i + 3 && (fl(t, j) & F_N)) j++;
    return j;
}

/* ` ?[^\s\p{L}\p{N}]+[\r\n]*` (o200k: `[\r\n/]*`) from i: its end, or i. */
static size_t symbols_end(const Text *t, size_t i, int slash) {
    size_t j = at(t, i) == ' ' && other(t, i + 1) ? i + 1 : i;
    if (!other(t, j)) return i;
    while (other(t, j)) j++;
    while (j < t->n && (newline(at(t, j)) || (slash && at(t, j) == '/'))) j++;
    return j;
}

/* The end of the run of whitespace (\s) from i. */
static size_t space_end(const Text *t, size_t i) {
    size_t e = i;
    while (e < t->n && (fl(t, e) & F_S)) e++;
    return e;
}

static size_t last_newline(const Text *t, size_t i, size_t e) { /* \s*[\r\n]: past the last one */
    for (size_t k = e; k > i; k--)
        if (newline(at(t, k - 1))) return k;
    return 0;
}

/* cl100k_base:
   '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|
   \s++$|\s*[\r\n]|\s+(?!\S)|\s */
size_t next_cl100k(const Text *t, size_t i) {
    uint32_t c = at(t, i);
    unsigned f = cls(c);
    size_t j = contraction(t, i);
    if (j > i) return j;
    j = i;
    if (!(f & F_L) && !newline(c) && !(f & F_N) && i + 1 < t->n && (fl(t, i + 1) & F_L)) j = i + 1;
    if (j < t->n && (fl(t, j) & F_L)) {
        while (j < t->n && (fl(t, j) & F_L)) j++;
        return j;
    }
    if (f & F_N) return digits_end(t, i);
    if ((j = symbols_end(t, i, 0)) > i) return j;
    size_t e = space_end(t, i); /* c is whitespace */
    if (e == t->n) return e;
    if ((j = last_newline(t, i, e))) return j;
    return e - i >= 2 ? e - 1 : i + 1;
}

/* o200k_base:
   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
   \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
   The greedy quantifiers backtrack: the first match in a backtracking engine's order wins. */
size_t next_o200k(const Text *t, size_t i) {
    uint32_t c = at(t, i);
    unsigned f = cls(c);
    size_t starts[2], n_starts = 0, j;
    if (!(f & (F_L | F_N)) && !newline(c)) starts[n_starts++] = i + 1; /* the prefix, if it can */
    starts[n_starts++] = i;
    for (size_t s = 0; s < n_starts; s++) { /* UP* LO+: the last LO reachable through UP* */
        size_t u = starts[s], k;
        while (u < t->n && (fl(t, u) & F_UP)) u++;
        for (k = u + 1; k > starts[s]; k--)
            if (k - 1 < t->n && (fl(t, k - 1) & F_LO)) break;
        if (k > starts[s]) {
            for (j = k - 1; j < t->n && (fl(t, j) & F_LO); j++) {}
            return contraction(t, j);
        }
    }
    for (size_t s = 0; s < n_starts; s++) { /* UP+ LO* */
        j = starts[s];
        if (j < t->n && (fl(t, j) & F_UP)) {
            while (j < t->n && (fl(t, j) & F_UP)) j++;
            while (j < t->n && (fl(t, j) & F_LO)) j++;
            return contraction(t, j);
        }
    }
    if (f & F_N) return digits_end(t, i);
    if ((j = symbols_end(t, i, 1)) > i) return j;
    size_t e = space_end(t, i); /* c is whitespace */
    if ((j = last_newline(t, i, e))) return j;
    if (e == t->n) return e;
    return e - i >= 2 ? e - 1 : e;
}
