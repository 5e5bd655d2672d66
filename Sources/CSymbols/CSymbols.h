#ifndef CSYMBOLS_H
#define CSYMBOLS_H

/* What the Symbols module needs from C: libdeflate's one-shot zlib decompression for compressed
 * debug sections (about three times zlib's own speed on a whole section), and openat2 (no glibc
 * wrapper; syscall() is variadic). */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <libdeflate.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* O_PATH (hidden behind _GNU_SOURCE in glibc's headers). */
#define FH_O_PATH 010000000

/* openat2(2)'s resolve flags used here. */
#define FH_RESOLVE_NO_MAGICLINKS 0x02
#define FH_RESOLVE_IN_ROOT 0x10

/* openat2(dirfd, path, {flags, 0, resolve}): returns the fd, or -errno. */
static inline int fh_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
    struct { uint64_t flags, mode, resolve; } how = {flags, 0, resolve};
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

/* Inflates the zlib stream `in` into `out_len` bytes at `out`; libdeflate never writes past
 * `out_len` and never reads past `in_len`. Returns 0 when the stream is complete, its checksum
 * right, and it fills the buffer exactly; -1 otherwise (corrupt, short, or longer). With `whole` 0,
 * also 0 when the stream goes on past `out_len`: it was inflated until the next piece (a literal, a
 * match of at most 258 bytes, a stored block of at most 65,535) did not fit, its checksum, at the
 * end, not reached. */
static inline int fh_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, int whole) {
    struct libdeflate_decompressor *decompressor = libdeflate_alloc_decompressor();
    if (decompressor == NULL) return -1;
    size_t produced = 0;
    enum libdeflate_result rc = libdeflate_zlib_decompress(decompressor, in, in_len, out, out_len, &produced);
    libdeflate_free_decompressor(decompressor);
    if (rc == LIBDEFLATE_SUCCESS) return produced == out_len ? 0 : -1;
    return !whole && rc == LIBDEFLATE_INSUFFICIENT_SPACE ? 0 : -1;
}

#endif
