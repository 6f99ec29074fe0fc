/* gateway._bpe: count tiktoken tokens (cl100k_base, o200k_base) in a few megabytes.

A Vocabulary holds one encoding's mergeable ranks compactly (ranks.h). `count(text)` splits the
text as tiktoken's pattern does (pieces.c) and runs tiktoken's byte-pair merge (merge.c) on every
piece that is not itself a token; only the number of tokens is computed.

Loading never builds Python objects per token: `measure(chunk)` sizes a chunk of the
"base64token rank" lines, then `Vocabulary(tokens, size, encoding)` allocates exactly and
`load(chunk)` fills it, chunk by chunk. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "pieces.h"
#include "ranks.h"

/* ---- the vocabulary ---- */

typedef struct {
    PyObject_HEAD
    Ranks ranks;
    size_t tokens, size, loaded; /* as measured; loaded so far */
    int o200k;
} Vocabulary;

/* ---- counting ---- */

enum { COUNT_NO_MEMORY = -1, COUNT_SURROGATE = -2 };
#define PIECE_BUFFER 1024 /* bytes: longer pieces are encoded into the heap */

/* Code points [i, e) as UTF-8 into *buf (grown as needed): the length, or an error above. */
static Py_ssize_t utf8(const Text *t, size_t i, size_t e, uint8_t **buf, size_t *cap) {
    if (4 * (e - i) > *cap) {
        size_t want = 4 * (e - i);
        uint8_t *grown = *cap > PIECE_BUFFER ? realloc(*buf, want) : malloc(want);
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
    uint8_t small[PIECE_BUFFER], *buf = small;
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
        got = len < 0 ? len : piece_tokens(&v->ranks, piece, (size_t)len);
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
    const uint8_t *p = v->ranks.bytes + v->ranks.offsets[rank];
    size_t n = v->ranks.offsets[rank + 1] - v->ranks.offsets[rank];
    if (rank_of(&v->ranks, p, n) != NO_RANK) {
        PyErr_Format(PyExc_ValueError, "token of rank %u appears twice", rank);
        return -1;
    }
    uint64_t h = hash_bytes(p, n);
    size_t i = h & v->ranks.mask;
    while (v->ranks.table[i]) i = (i + 1) & v->ranks.mask;
    v->ranks.table[i] = (uint32_t)(h >> 53) << RANK_BITS | (rank + 1);
    return 0;
}

static PyObject *Vocabulary_load(Vocabulary *v, PyObject *arg) {
    Py_buffer chunk;
    if (PyObject_GetBuffer(arg, &chunk, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *at = chunk.buf, *end = at + chunk.len;
    Line line;
    int got;
    while ((got = next_line(&at, end, &line)) > 0) {
        size_t rank = 0, o = v->ranks.offsets[v->loaded];
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
        uint8_t *o_bytes = v->ranks.bytes + o;
        for (size_t k = 0; k < line.token_len; k += 4) {
            uint32_t quad = 0;
            for (size_t q = 0; q < 4; q++)
                quad = quad << 6 | (line.token[k + q] == '=' ? 0 : (uint32_t)b64[line.token[k + q]]);
            uint8_t three[3] = {(uint8_t)(quad >> 16), (uint8_t)(quad >> 8), (uint8_t)quad};
            size_t take = line.size - (size_t)(o_bytes - (v->ranks.bytes + o));
            memcpy(o_bytes, three, take < 3 ? take : 3);
            o_bytes += take < 3 ? take : 3;
        }
        v->ranks.offsets[v->loaded + 1] = (uint32_t)(o + line.size);
        if (line.size > v->ranks.max_len) v->ranks.max_len = line.size;
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
    v->ranks.bytes = malloc((size_t)size);
    v->ranks.offsets = calloc((size_t)tokens + 1, sizeof *v->ranks.offsets);
    v->ranks.table = calloc(slots, sizeof *v->ranks.table);
    v->ranks.mask = slots - 1, v->tokens = (size_t)tokens, v->size = (size_t)size, v->o200k = o200k;
    if (!v->ranks.bytes || !v->ranks.offsets || !v->ranks.table) {
        Py_DECREF(v);
        return PyErr_NoMemory();
    }
    return (PyObject *)v;
}

static void Vocabulary_dealloc(Vocabulary *v) {
    free(v->ranks.bytes), free(v->ranks.offsets), free(v->ranks.table);
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
    if (v->loaded != v->tokens || v->ranks.offsets[v->tokens] != v->size) {
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
    return PyLong_FromSize_t(v->size + (v->tokens + 1) * sizeof *v->ranks.offsets
                             + (v->ranks.mask + 1) * sizeof *v->ranks.table);
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
    if (pieces_init() < 0) return PyErr_NoMemory();
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
