/*
** buf.h -- growable buffers: malloc, or mmap when the capture asked for
** PSS_CREATE_USE_VM_ALLOCATIONS (no heap use at all).
*/
#ifndef PSS_LINUX_STORE_BUF_H
#define PSS_LINUX_STORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "linux/common.h"

/* Internal: hidden from the shared objects that link libpss, whatever
** the build flags (LuaRocks builds without -fvisibility=hidden). */
#pragma GCC visibility push(hidden)

struct pss_buf {
  char *data;
  size_t len, cap;
  int vm;          /* memory comes from mmap/mremap */
};

int pss_buf_reserve(struct pss_buf *b, size_t extra) PSS_MUST_CHECK;
/* Appends n bytes (aligned to `align`), returns the offset or -ENOMEM. */
int64_t pss_buf_append(struct pss_buf *b, const void *p, size_t n, size_t align);
void pss_buf_free(struct pss_buf *b);

static inline size_t pss_page_round (size_t n) { return (n + 4095) & ~(size_t)4095; }

#pragma GCC visibility pop

#endif
