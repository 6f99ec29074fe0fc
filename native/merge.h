/* tiktoken's byte-pair merge, counting only: merge the adjacent pair of lowest rank (the
   leftmost of equal ones) until no pair is a token; the parts left are the piece's tokens. */

#ifndef MERGE_H
#define MERGE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ranks.h"

/* The tokens of the piece p[0:n] (n >= 1), or -1 out of memory. */
Py_ssize_t piece_tokens(const Ranks *r, const uint8_t *p, size_t n);

#endif
