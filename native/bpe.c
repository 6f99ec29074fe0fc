/* gateway._bpe: count tiktoken tokens (cl100k_base, o200k_base) in a few megabytes.

A Vocabulary holds one encoding's mergeable ranks compactly: every token's bytes in one buffer
(in rank order), an offsets array, and an open-addressing hash table of rank + 1 tagged with
11 bits of the key's hash. `count(text)` splits text as tiktoken's pattern does (the pattern
hand-compiled below, over the Unicode classes of classes.h) and runs tiktoken's byte-pair merge
on every piece that is not itself a token. Only the number of tokens is computed.

Loading never builds Python objects per token: `measure(chunk)` sizes a chunk of the
"base64token rank" lines, then `Vocabulary(tokens, size, encoding)` allocates exactly and
`load(chunk)` fills it, chunk by chunk. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"

/* ---- Unicode classes: a two-stage table built from classes.h at import ---- */

enum { F_L = 1, F_UP = 2, F_LO = 4, F_N = 8, F_S = 16 };
#define BLOCKS (0x110000 >> 8)

static uint16_t class_index[BLOCKS];
static uint8_t *class_blocks;

static int build_classes(void) {
    uint8_t block[256];
    size_t unique = 0, capacity = 64, r = 0;
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

/* ---- the text, read in place (a str is immutable: safe without the GIL) ---- */

typedef struct {
    int kind, ascii; /* an ASCII str's data is its UTF-8 */
    const void *data;
    size_t n;
} Text;

static inline uint32_t at(const Text *t, size_t i) { return PyUnicode_READ(t->kind, t->data, i); }
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
static size_t next_cl100k(const Text *t, size_t i) {
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
static size_t next_o200k(const Text *t, size_t i) {
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

/* ---- the vocabulary ---- */

#define NO_RANK UINT32_MAX
#define RANK_BITS 21 /* a table entry: tag (11 bits) << 21 | rank + 1 */
#define MAX_TOKENS ((1u << RANK_BITS) - 2)

typedef struct {
    PyObject_HEAD
    uint8_t *bytes;    /* every token's bytes, in rank order */
    uint32_t *offsets; /* token r is bytes[offsets[r] : offsets[r + 1]] */
    uint32_t *table;   /* open addressing, linear probing; 0: empty */
    size_t mask, tokens, size, loaded, max_len;
    int o200k;
} Vocabulary;

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

static uint32_t rank_of(const Vocabulary *v, const uint8_t *p, size_t n) {
    if (n > v->max_len) return NO_RANK;
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 53);
    for (size_t i = h & v->mask;; i = (i + 1) & v->mask) {
        uint32_t e = v->table[i];
        if (!e) return NO_RANK;
        if (e >> RANK_BITS == tag) {
            uint32_t r = (e & ((1u << RANK_BITS) - 1)) - 1;
            if (v->offsets[r + 1] - v->offsets[r] == n && !memcmp(v->bytes + v->offsets[r], p, n))
                return r;
        }
    }
}

/* ---- tiktoken's byte-pair merge: merge the adjacent pair of lowest rank (the leftmost of
   equal ones) until no pair is a token; the number of parts left is the count ---- */

#define SMALL 256

static size_t merge_small(const Vocabulary *v, const uint8_t *p, size_t n) {
    /* tiktoken's own algorithm: O(n * merges), best for short pieces */
    size_t start[SMALL + 1];
    uint32_t rank[SMALL + 1];
    size_t parts = n + 1; /* n parts and the end */
    for (size_t i = 0; i + 1 < n; i++) {
        start[i] = i;
        rank[i] = rank_of(v, p + i, 2);
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
                ? rank_of(v, p + start[best - 1], start[best + 2] - start[best - 1]) : NO_RANK;
        rank[best] = best + 3 < parts
            ? rank_of(v, p + start[best], start[best + 3] - start[best]) : NO_RANK;
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

static Py_ssize_t merge_large(const Vocabulary *v, const uint8_t *p, size_t n) {
    Heap h = {malloc(n * 4), malloc(n * 4), malloc(n * 4), malloc(n * 4), 0};
    Py_ssize_t parts = -1;
    if (!h.rank || !h.next || !h.heap || !h.pos) goto done;
    for (size_t i = 0; i < n; i++) {
        h.next[i] = (uint32_t)(i + 1);
        h.rank[i] = i + 1 < n ? rank_of(v, p + i, 2) : NO_RANK;
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
        heap_rerank(&h, i, k < n ? rank_of(v, p + i, h.next[k] - i) : NO_RANK);
        if (i > 0) {
            uint32_t before_i = i - 1;
            while (!h.next[before_i]) before_i--;
            heap_rerank(&h, before_i, rank_of(v, p + before_i, k - before_i));
        }
    }
done:
    free(h.rank), free(h.next), free(h.heap), free(h.pos);
    return parts;
}

static Py_ssize_t piece_tokens(const Vocabulary *v, const uint8_t *p, size_t n) {
    if (n == 1 || rank_of(v, p, n) != NO_RANK) return 1;
    if (n <= SMALL) return (Py_ssize_t)merge_small(v, p, n);
    if (n >= UINT32_MAX) return -1;
    return merge_large(v, p, n);
}

/* ---- counting ---- */

enum { COUNT_NO_MEMORY = -1, COUNT_SURROGATE = -2 };

/* Code points [i, e) as UTF-8 into *buf (grown as needed): the length, or an error above. */
static Py_ssize_t utf8(const Text *t, size_t i, size_t e, uint8_t **buf, size_t *cap) {
    if (4 * (e - i) > *cap) {
        size_t want = 4 * (e - i);
        uint8_t *grown = *cap > SMALL * 4 ? realloc(*buf, want) : malloc(want);
        if (!grown) return COUNT_NO_MEMORY;
        *buf = grown, *cap = want;
    }
    uint8_t *o = *buf;
    for (; i < e; i++) {
        uint32_t c = at(t, i);
        if (c < 0x80) {
            *o++ = (uint8_t)c;
        } else if (c < 0x800) {
            *o++ = (uint8_t)(0xC0 | c >> 6), *o++ = (uint8_t)(0x80 | (c & 63));
        } else if (c < 0x10000) {
            if (c >= 0xD800 && c <= 0xDFFF) return COUNT_SURROGATE;
            *o++ = (uint8_t)(0xE0 | c >> 12), *o++ = (uint8_t)(0x80 | (c >> 6 & 63));
            *o++ = (uint8_t)(0x80 | (c & 63));
        } else {
            *o++ = (uint8_t)(0xF0 | c >> 18), *o++ = (uint8_t)(0x80 | (c >> 12 & 63));
            *o++ = (uint8_t)(0x80 | (c >> 6 & 63)), *o++ = (uint8_t)(0x80 | (c & 63));
        }
    }
    return o - *buf;
}

static Py_ssize_t count_text(const Vocabulary *v, const Text *t) {
    uint8_t small[SMALL * 4], *buf = small;
    size_t cap = sizeof small;
    const uint8_t *ascii = t->ascii ? t->data : NULL;
    Py_ssize_t total = 0;
    for (size_t i = 0, e; i < t->n && total >= 0; i = e) {
        e = v->o200k ? next_o200k(t, i) : next_cl100k(t, i);
        Py_ssize_t len = (Py_ssize_t)(e - i), got;
        const uint8_t *piece = buf;
        if (ascii)
            piece = ascii + i;
        else
            len = utf8(t, i, e, &buf, &cap), piece = buf;
        got = len < 0 ? len : piece_tokens(v, piece, (size_t)len);
        total = got < 0 ? got : total + got;
    }
    if (buf != small) free(buf);
    return total;
}

/* ---- loading: lines of "base64token rank" ---- */

static int8_t b64[256];

static void build_base64(void) {
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64, -1, sizeof b64);
    for (int k = 0; k < 64; k++) b64[(uint8_t)alphabet[k]] = (int8_t)k;
}

typedef struct {
    const uint8_t *token, *rank; /* the base64 text and the rank's digits */
    size_t token_len, rank_len, size; /* size: the token's decoded length */
} Line;

/* The line at *at (advanced past it): 1, 0 at the end of the chunk, -1 (ValueError) if bad. */
static int next_line(const uint8_t **at, const uint8_t *end, Line *line) {
    while (*at < end && (**at == '\n' || **at == '\r')) (*at)++;
    if (*at == end) return 0;
    const uint8_t *stop = memchr(*at, '\n', (size_t)(end - *at));
    if (!stop) stop = end;
    const uint8_t *space = memchr(*at, ' ', (size_t)(stop - *at));
    const uint8_t *rank_end = stop > *at && stop[-1] == '\r' ? stop - 1 : stop;
    line->token = *at;
    *at = stop;
    if (!space || space == line->token) goto bad;
    line->token_len = (size_t)(space - line->token);
    line->rank = space + 1;
    line->rank_len = rank_end > line->rank ? (size_t)(rank_end - line->rank) : 0;
    if (line->token_len % 4 || !line->rank_len || line->rank_len > 9) goto bad;
    size_t pad = line->token[line->token_len - 1] == '=' ? 1 + (line->token[line->token_len - 2] == '=') : 0;
    for (size_t k = 0; k < line->token_len - pad; k++)
        if (b64[line->token[k]] < 0) goto bad;
    for (size_t k = 0; k < line->rank_len; k++)
        if (line->rank[k] < '0' || line->rank[k] > '9') goto bad;
    line->size = line->token_len / 4 * 3 - pad;
    if (!line->size) goto bad;
    return 1;
bad:;
    PyObject *text = PyBytes_FromStringAndSize((const char *)line->token,
                                               *at - line->token > 60 ? 60 : *at - line->token);
    if (text) {
        PyErr_Format(PyExc_ValueError, "not a \"base64token rank\" line: %R", text);
        Py_DECREF(text);
    }
    return -1;
}

static PyObject *measure(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer chunk;
    if (PyObject_GetBuffer(arg, &chunk, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *at = chunk.buf, *end = at + chunk.len;
    size_t lines = 0, size = 0;
    Line line;
    int got;
    while ((got = next_line(&at, end, &line)) > 0) lines++, size += line.size;
    PyBuffer_Release(&chunk);
    return got < 0 ? NULL : Py_BuildValue("nn", (Py_ssize_t)lines, (Py_ssize_t)size);
}

static int insert(Vocabulary *v, uint32_t rank) {
    const uint8_t *p = v->bytes + v->offsets[rank];
    size_t n = v->offsets[rank + 1] - v->offsets[rank];
    if (rank_of(v, p, n) != NO_RANK) {
        PyErr_Format(PyExc_ValueError, "token of rank %u appears twice", rank);
        return -1;
    }
    uint64_t h = hash_bytes(p, n);
    size_t i = h & v->mask;
    while (v->table[i]) i = (i + 1) & v->mask;
    v->table[i] = (uint32_t)(h >> 53) << RANK_BITS | (rank + 1);
    return 0;
}

static PyObject *Vocabulary_load(Vocabulary *v, PyObject *arg) {
    Py_buffer chunk;
    if (PyObject_GetBuffer(arg, &chunk, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *at = chunk.buf, *end = at + chunk.len;
    Line line;
    int got;
    while ((got = next_line(&at, end, &line)) > 0) {
        size_t rank = 0, o = v->offsets[v->loaded];
        for (size_t k = 0; k < line.rank_len; k++) rank = rank * 10 + (line.rank[k] - '0');
        if (v->loaded == v->tokens || o + line.size > v->size) {
            PyErr_SetString(PyExc_ValueError, "more tokens than measured");
            got = -1;
            break;
        }
        if (rank != v->loaded) {
            PyErr_Format(PyExc_ValueError, "rank %zu where %zu was due (ranks must be 0, 1, ...)",
                         rank, v->loaded);
            got = -1;
            break;
        }
        uint8_t *o_bytes = v->bytes + o;
        for (size_t k = 0; k < line.token_len; k += 4) {
            uint32_t quad = 0;
            for (size_t q = 0; q < 4; q++)
                quad = quad << 6 | (line.token[k + q] == '=' ? 0 : (uint32_t)b64[line.token[k + q]]);
            uint8_t three[3] = {(uint8_t)(quad >> 16), (uint8_t)(quad >> 8), (uint8_t)quad};
            size_t take = line.size - (size_t)(o_bytes - (v->bytes + o));
            memcpy(o_bytes, three, take < 3 ? take : 3);
            o_bytes += take < 3 ? take : 3;
        }
        v->offsets[v->loaded + 1] = (uint32_t)(o + line.size);
        if (line.size > v->max_len) v->max_len = line.size;
        if (insert(v, (uint32_t)v->loaded) < 0) {
            got = -1;
            break;
        }
        v->loaded++;
    }
    PyBuffer_Release(&chunk);
    if (got < 0) return NULL;
    Py_RETURN_NONE;
}

/* ---- the type ---- */

static PyObject *Vocabulary_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"tokens", "size", "encoding", NULL};
    Py_ssize_t tokens, size;
    const char *encoding;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nns", names, &tokens, &size, &encoding))
        return NULL;
    int o200k = !strcmp(encoding, "o200k_base");
    if (!o200k && strcmp(encoding, "cl100k_base")) {
        PyErr_Format(PyExc_ValueError, "no pre-tokenizer for encoding %s", encoding);
        return NULL;
    }
    if (tokens < 1 || tokens > MAX_TOKENS || size < tokens || size >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "tokens or size out of range");
        return NULL;
    }
    Vocabulary *v = (Vocabulary *)type->tp_alloc(type, 0);
    if (!v) return NULL;
    size_t slots = 16;
    while (slots < 2 * (size_t)tokens) slots *= 2; /* load factor at most 1/2 */
    v->bytes = malloc((size_t)size);
    v->offsets = calloc((size_t)tokens + 1, sizeof *v->offsets);
    v->table = calloc(slots, sizeof *v->table);
    v->mask = slots - 1, v->tokens = (size_t)tokens, v->size = (size_t)size, v->o200k = o200k;
    if (!v->bytes || !v->offsets || !v->table) {
        Py_DECREF(v);
        return PyErr_NoMemory();
    }
    return (PyObject *)v;
}

static void Vocabulary_dealloc(Vocabulary *v) {
    free(v->bytes), free(v->offsets), free(v->table);
    Py_TYPE(v)->tp_free((PyObject *)v);
}

/* Texts this long are counted with the interpreter lock released. */
#define UNLOCKED_FROM 2048

static PyObject *Vocabulary_count(Vocabulary *v, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "count() takes a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0) return NULL;
    if (v->loaded != v->tokens || v->offsets[v->tokens] != v->size) {
        PyErr_SetString(PyExc_RuntimeError, "the vocabulary is not fully loaded");
        return NULL;
    }
    Text t = {PyUnicode_KIND(text), PyUnicode_IS_ASCII(text), PyUnicode_DATA(text),
              (size_t)PyUnicode_GET_LENGTH(text)};
    Py_ssize_t total;
    if (t.n >= UNLOCKED_FROM) {
        Py_BEGIN_ALLOW_THREADS
        total = count_text(v, &t);
        Py_END_ALLOW_THREADS
    } else {
        total = count_text(v, &t);
    }
    if (total == COUNT_SURROGATE) {
        PyErr_SetString(PyExc_UnicodeError, "surrogates not allowed");
        return NULL;
    }
    if (total < 0) return PyErr_NoMemory();
    return PyLong_FromSsize_t(total);
}

static PyObject *Vocabulary_tokens(Vocabulary *v, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(v->tokens);
}

static PyObject *Vocabulary_memory(Vocabulary *v, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(v->size + (v->tokens + 1) * sizeof *v->offsets
                             + (v->mask + 1) * sizeof *v->table);
}

static PyMethodDef Vocabulary_methods[] = {
    {"load", (PyCFunction)Vocabulary_load, METH_O,
     "load(chunk): append the tokens of whole \"base64token rank\" lines, ranks in order."},
    {"count", (PyCFunction)Vocabulary_count, METH_O,
     "count(text): len(tiktoken_encoding.encode_ordinary(text))."},
    {NULL},
};

static PyGetSetDef Vocabulary_getset[] = {
    {"tokens", (getter)Vocabulary_tokens, NULL, "number of tokens", NULL},
    {"memory", (getter)Vocabulary_memory, NULL, "bytes allocated for the vocabulary", NULL},
    {NULL},
};

static PyTypeObject VocabularyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway._bpe.Vocabulary",
    .tp_doc = "Vocabulary(tokens, size, encoding): one encoding's ranks, for counting tokens.",
    .tp_basicsize = sizeof(Vocabulary),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Vocabulary_new,
    .tp_dealloc = (destructor)Vocabulary_dealloc,
    .tp_methods = Vocabulary_methods,
    .tp_getset = Vocabulary_getset,
};

static PyMethodDef module_methods[] = {
    {"measure", measure, METH_O,
     "measure(chunk) -> (tokens, size): the token count and decoded bytes of whole lines."},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway._bpe",
    "Exact tiktoken token counts (cl100k_base, o200k_base) from a compact vocabulary.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bpe(void) {
    build_base64();
    if (!class_blocks && build_classes() < 0) return PyErr_NoMemory();
    if (PyType_Ready(&VocabularyType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&VocabularyType);
    if (PyModule_AddObject(m, "Vocabulary", (PyObject *)&VocabularyType) < 0) {
        Py_DECREF(&VocabularyType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
