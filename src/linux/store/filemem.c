/*
** filemem.c -- memory that a file holds: a loaded snapshot's saved memory
** or a core's segments (store.h). Reads are pread()s, never mappings, so a
** file cut short or rewritten after the load gives a short read, never a
** SIGBUS.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linux/store/store.h"

int pss_filemem_add (struct pss_filemem *m, uint64_t address, uint64_t length, uint64_t offset) {
  struct pss_fileseg *last = m->count ? &m->segs[m->count - 1] : NULL;
  if (length == 0) return 0;
  if (address + length < address || (last != NULL && address < last->address + last->length))
    return -EINVAL;
  if (m->count == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct pss_fileseg *grown = realloc(m->segs, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    m->segs = grown;
    m->cap = cap;
  }
  m->segs[m->count++] = (struct pss_fileseg){ address, length, offset };
  return 0;
}

/* The segment holding address, or NULL. */
static const struct pss_fileseg *find (const struct pss_filemem *m, uint64_t address) {
  size_t lo = 0, hi = m->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct pss_fileseg *g = &m->segs[mid];
    if (address < g->address) hi = mid;
    else if (address - g->address >= g->length) lo = mid + 1;
    else return g;
  }
  return NULL;
}

/* Up to n bytes of segment g from address: *whole is set when all that g
** holds of them arrived (so the read may go on into the next segment). */
static ssize_t read_segment (const struct pss_filemem *m, const struct pss_fileseg *g,
                             uint64_t address, char *buf, size_t n, int *whole) {
  uint64_t skip = address - g->address;
  size_t done = 0;
  if (n > g->length - skip) n = (size_t)(g->length - skip);
  *whole = 1;
  if (g->offset == PSS_FILEMEM_ZEROS) {
    memset(buf, 0, n);
    return (ssize_t)n;
  }
  while (done < n) {
    ssize_t k = pread(m->fd, buf + done, n - done, (off_t)(g->offset + skip + done));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && done == 0) return -errno;
    if (k <= 0) break;                 /* the file was cut short after the load */
    done += (size_t)k;
  }
  *whole = done == n;
  return (ssize_t)done;
}

ssize_t pss_filemem_read (const struct pss_filemem *m, uint64_t address, void *buf, size_t n) {
  const struct pss_fileseg *g;
  size_t done = 0;
  int whole = 1;
  if (m->count == 0) return -ENOENT;
  while (whole && done < n && address + done >= address &&
         (g = find(m, address + done)) != NULL) {
    ssize_t k = read_segment(m, g, address + done, (char *)buf + done, n - done, &whole);
    if (k < 0) return done > 0 ? (ssize_t)done : k;
    done += (size_t)k;
  }
  return (ssize_t)done;
}

void pss_filemem_free (struct pss_filemem *m) {
  if (m->fd >= 0) close(m->fd);
  free(m->segs);
  m->segs = NULL;
  m->count = m->cap = 0;
  m->fd = -1;
}
