/*
** memory.c -- the stack memory of a snapshot, as the unwind reads it: the
** auxiliary pages (PSS_LINUX_CAPTURE_STACKS: each thread's stack from its
** stack pointer up) first, else the VA clone (PssLinuxReadSnapshotMemory),
** a page at a time into a small cache, since an unwind reads the same few
** pages a word at a time.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/unwind.h"

/* {======================================================================
** Auxiliary pages
** ======================================================================= */

static int by_address (const void *a, const void *b) {
  UINT64 x = ((const struct unwind_page *)a)->address;
  UINT64 y = ((const struct unwind_page *)b)->address;
  return x < y ? -1 : x > y;
}

static int count_pages (HPSS snapshot, size_t *count) {
  PSS_AUXILIARY_PAGES_INFORMATION info;
  if (PssQuerySnapshot(snapshot, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, &info,
                       sizeof info) != ERROR_SUCCESS)
    return -ENOENT;
  *count = info.AuxPagesCaptured;
  return 0;
}

/*
** The snapshot's auxiliary pages, sorted by address, their contents left
** in the walk marker's copy (valid until the marker is freed, with the
** unwinder). A snapshot without them has none: 0 all the same.
*/
int pss_unwind_load_pages (struct pss_unwinder *u) {
  PSS_AUXILIARY_PAGE_ENTRY e;
  size_t count = 0, n = 0;
  DWORD rc;
  if (count_pages(u->snapshot, &count) != 0 || count == 0) return 0;
  if (PssWalkMarkerCreate(&u->alloc, &u->pages_marker) != ERROR_SUCCESS) return -ENOMEM;
  u->pages = pss_unwind_alloc(u, count * sizeof *u->pages);
  if (u->pages == NULL) return -ENOMEM;
  while ((rc = PssWalkSnapshot(u->snapshot, PSS_WALK_AUXILIARY_PAGES, u->pages_marker, &e,
                               sizeof e)) == ERROR_SUCCESS) {
    if (e.PageContents == NULL || e.PageSize == 0 || n == count) continue;
    u->pages[n].address = (UINT64)(uintptr_t)e.Address;
    u->pages[n].size = e.PageSize;
    u->pages[n].contents = e.PageContents;
    n++;
  }
  u->page_count = n;
  /* in address order already, as the capture stores them: sorting costs
  ** nothing then and keeps the binary search right for any snapshot */
  qsort(u->pages, n, sizeof *u->pages, by_address);
  return pss_unwind_walk_end(rc);
}

/* The page holding address, or NULL. */
static struct unwind_page const *find_page (struct pss_unwinder const *u, UINT64 address) {
  size_t lo = 0, hi = u->page_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    struct unwind_page const *p = &u->pages[mid];
    if (address < p->address) hi = mid;
    else if (address - p->address >= p->size) lo = mid + 1;
    else return p;
  }
  return NULL;
}
/* }====================================================================== */


/* {======================================================================
** The VA clone, through a cache of pages
** ======================================================================= */

/* The cached page at page (aligned), read from the clone on a miss; a
** page the clone does not hold is cached too (valid 0), so a bad stack
** pointer costs one read. */
static struct unwind_cached *clone_page (struct pss_unwinder *u, UINT64 page) {
  struct unwind_cached *c;
  SIZE_T got = 0;
  DWORD rc;
  unsigned i;
  for (i = 0; i < UNWIND_CACHE_PAGES; i++)
    if (u->cache[i].used && u->cache[i].page == page) return &u->cache[i];
  c = &u->cache[u->cache_next++ % UNWIND_CACHE_PAGES];
  c->page = page;
  c->used = 1;
  rc = PssLinuxReadSnapshotMemory(u->snapshot, page, c->data, UNWIND_CACHE_PAGE, &got);
  if (rc == ERROR_SUCCESS) c->valid = UNWIND_CACHE_PAGE;
  else if (rc == ERROR_PARTIAL_COPY && got <= UNWIND_CACHE_PAGE) c->valid = (DWORD)got;
  else c->valid = 0;
  return c;
}

/* Up to length bytes at address from the clone: how many, 0 if none. */
static size_t read_clone (struct pss_unwinder *u, UINT64 address, unsigned char *out,
                          size_t length) {
  UINT64 offset = address % UNWIND_CACHE_PAGE;
  struct unwind_cached *c = clone_page(u, address - offset);
  size_t n;
  if (offset >= c->valid) return 0;
  n = c->valid - offset;
  if (n > length) n = length;
  memcpy(out, c->data + offset, n);
  return n;
}
/* }====================================================================== */


/*
** length bytes at address as the snapshot holds them: 0, or -EFAULT if
** any of them is in neither the stack pages nor the clone.
*/
int pss_unwind_read (struct pss_unwinder *u, UINT64 address, void *out, size_t length) {
  unsigned char *to = out;
  while (length > 0) {
    struct unwind_page const *p = find_page(u, address);
    size_t n = 0;
    if (p != NULL) {
      UINT64 offset = address - p->address;
      n = p->size - offset < length ? (size_t)(p->size - offset) : length;
      memcpy(to, p->contents + offset, n);
    } else if (u->has_clone) {
      n = read_clone(u, address, to, length);
    }
    if (n == 0) return -EFAULT;
    if (address + n < address && length > n) return -EFAULT;  /* past the top of memory */
    address += n;
    to += n;
    length -= n;
  }
  return 0;
}
