#ifndef CSYMBOLS_H
#define CSYMBOLS_H

/* What the Symbols module needs from C: zlib's one-shot inflate for compressed debug sections. */

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/* Inflates the zlib stream `in` into exactly `out_len` bytes at `out`. Returns 0 when the stream
 * is complete and fills the buffer exactly, -1 otherwise (corrupt, short, or longer). */
static inline int fh_inflate_exact(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len) {
    uLongf produced = (uLongf)out_len;
    uLong consumed = (uLong)in_len;
    if ((size_t)produced != out_len || (size_t)consumed != in_len) return -1;
    int rc = uncompress2(out, &produced, in, &consumed);
    return rc == Z_OK && (size_t)produced == out_len ? 0 : -1;
}

#endif
