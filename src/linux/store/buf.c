/*
** buf.c -- growable buffers: malloc, or mmap when the capture asked for
** PSS_CREATE_USE_VM_ALLOCATIONS (then a capture makes no heap use at all).
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "linux/store/buf.h"



static int buf_grow (struct pss_buf *b, size_t need) {
  size_t cap = b->cap ? b->cap : 256;
  void *p;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return -ENOMEM;
    cap *= 2;
  }
  if (b->vm) {
    cap = pss_page_round(cap);
    p = b->data ? mremap(b->data, b->cap, cap, MREMAP_MAYMOVE)
                : mmap(NULL, cap, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -ENOMEM;
  }
  else if ((p = realloc(b->data, cap)) == NULL) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pss_buf_reserve (struct pss_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return -ENOMEM;
  return b->len + extra <= b->cap ? 0 : buf_grow(b, b->len + extra);
}

int64_t pss_buf_append (struct pss_buf *b, const void *p, size_t n, size_t align) {
  size_t at = (b->len + align - 1) & ~(align - 1);
  int rc = pss_buf_reserve(b, at - b->len + n);
  if (rc < 0) return rc;
  if (at > b->len) memset(b->data + b->len, 0, at - b->len);
  if (n > 0) memcpy(b->data + at, p, n);
  b->len = at + n;
  return (int64_t)at;
}

void pss_buf_free (struct pss_buf *b) {
  if (b->data == NULL) return;
  if (b->vm) munmap(b->data, b->cap);
  else free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
