/* The pre-tokenizer: tiktoken's cl100k_base and o200k_base patterns, hand-compiled, over the
   Unicode classes tiktoken's regex engine uses (classes.h). */

#ifndef PIECES_H
#define PIECES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

/* A str, read in place (immutable: safe to read without the interpreter lock). */
typedef struct {
    int kind, ascii; /* an ASCII str's data is its UTF-8 */
    const void *data;
    size_t n;
} Text;

static inline uint32_t at(const Text *t, size_t i) { return PyUnicode_READ(t->kind, t->data, i); }

int pieces_init(void); /* the class table, once: 0, or -1 out of memory */
size_t next_cl100k(const Text *t, size_t i); /* the end of the piece that starts at i */
size_t next_o200k(const Text *t, size_t i);

#endif
