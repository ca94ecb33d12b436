/*
** stacks.c -- PSS_LINUX_CAPTURE_STACKS: while the target's threads are
** stopped, each one's stack, from just below its stack pointer (the red
** zone) up to the end of the mapping that holds it, at most the capture's
** limit, copied with one process_vm_readv per thread. The copies are the
** snapshot's auxiliary pages: whole pages in address order, each stored
** once, with the MEMORY_BASIC_INFORMATION of its mapping.
**
** It runs last of the frozen passes (snapshot.c), after the thread table
** has the stack pointers (stopped.c) and the region table, if the capture
** asked for one, has the mappings; otherwise it reads /proc/PID/maps once.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"

/* What one read copies: [lo, hi) of the mapping region. */
struct span {
  uint64_t lo, hi;
  const PSS_LINUX_VA_SPACE_ENTRY *region;
};

/*
** [floor(sp - red zone), min(end, ceil(sp - red zone + limit))) of the
** mapping holding sp; 0 if sp is in none (a thread that moved its stack
** pointer out of every mapping has no pages, and that is no error).
*/
static int span_of (uint64_t sp, uint64_t limit, uint64_t page, const struct pss_table *maps,
                    struct span *out) {
  const PSS_LINUX_VA_SPACE_ENTRY *r = pss_region_at(maps, sp);
  uint64_t base, end, start;
  if (r == NULL) return 0;
  base = (uintptr_t)r->Region.BaseAddress;
  end = base + r->Region.RegionSize;
  start = sp - base > PSS_STACK_RED_ZONE ? sp - PSS_STACK_RED_ZONE : base;
  out->lo = start & ~(page - 1);      /* base is a page boundary: lo stays in the mapping */
  out->hi = end - start <= limit ? end : (start + limit + page - 1) & ~(page - 1);
  if (out->hi > end) out->hi = end;
  out->region = r;
  return 1;
}

static int by_low (const void *a, const void *b) {
  uint64_t x = ((const struct span *)a)->lo, y = ((const struct span *)b)->lo;
  return (x > y) - (x < y);
}

/* The threads' spans, sorted, overlaps merged (two threads whose stack
** pointers share a mapping: their pages are read and stored once). */
static int collect_spans (const struct pss_store *s, const struct pss_table *maps,
                          uint64_t limit, uint64_t page, struct pss_buf *out, size_t *count) {
  const struct pss_table *threads = &s->tables[PSS_TABLE_THREADS];
  struct span *v;
  size_t i, n = 0, merged = 0;
  if (pss_buf_reserve(out, (threads->count + 1) * sizeof *v) < 0) return -ENOMEM;
  v = (struct span *)(void *)out->data;
  for (i = 0; i < threads->count; i++) {
    const struct pss_thread_row *row = (const void *)(threads->rows.data + i * threads->row_size);
    if (row->stack_pointer != 0 && span_of(row->stack_pointer, limit, page, maps, &v[n])) n++;
  }
  qsort(v, n, sizeof *v, by_low);
  for (i = 0; i < n; i++) {
    if (merged > 0 && v[i].lo < v[merged - 1].hi) {   /* overlaps: the same mapping */
      if (v[i].hi > v[merged - 1].hi) v[merged - 1].hi = v[i].hi;
    }
    else v[merged++] = v[i];
  }
  *count = merged;
  return 0;
}

/* The region's MEMORY_BASIC_INFORMATION, as PSS_VA_SPACE_ENTRY has it. */
static MEMORY_BASIC_INFORMATION basic_of (const PSS_LINUX_VA_SPACE_ENTRY *e) {
  MEMORY_BASIC_INFORMATION m;
  memset(&m, 0, sizeof m);
  m.BaseAddress = e->Region.BaseAddress;
  m.AllocationBase = e->Region.AllocationBase;
  m.AllocationProtect = e->Region.AllocationProtect;
  m.RegionSize = e->Region.RegionSize;
  m.State = e->Region.State;
  m.Protect = e->Region.Protect;
  m.Type = e->Region.Type;
  return m;
}

/*
** One read straight into the table's pool; the whole pages it returned
** become rows. A read cut short (a page that cannot be read) keeps what
** came before; one that reads nothing (a guard page) adds nothing.
*/
static int copy_span (struct pss_target *t, struct pss_table *pages, const struct span *sp,
                      FILETIME when, uint64_t page) {
  size_t len = (size_t)(sp->hi - sp->lo), whole, k;
  int64_t at = pss_buf_append(&pages->strings, NULL, 0, 16);
  ssize_t got;
  if (at < 0 || pss_buf_reserve(&pages->strings, len) < 0) return -ENOMEM;
  got = pss_read_memory(t, sp->lo, pages->strings.data + at, len);
  if (got <= 0) return 0;
  whole = (size_t)got / page;
  pages->strings.len += whole * page;
  for (k = 0; k < whole; k++) {
    PSS_AUXILIARY_PAGE_ENTRY *e = pss_table_add_row(pages);
    if (e == NULL) return -ENOMEM;
    e->Address = (void *)(uintptr_t)(sp->lo + k * page);
    e->BasicInformation = basic_of(sp->region);
    e->CaptureTime = when;
    e->PageContents = (void *)(uintptr_t)(at + (int64_t)(k * page) + 1);
    e->PageSize = (DWORD)page;
  }
  return 0;
}

/* Room for every span at once: the pool is not moved (copied) while the
** target waits, and one allocation failing fails before any read. */
static int reserve_pages (struct pss_table *pages, const struct span *v, size_t n,
                          uint64_t page) {
  size_t i, bytes = 0, rows = 0;
  for (i = 0; i < n; i++) {
    bytes += (size_t)(v[i].hi - v[i].lo) + 16;
    rows += (size_t)((v[i].hi - v[i].lo) / page);
  }
  if (pss_buf_reserve(&pages->strings, bytes) < 0 ||
      pss_buf_reserve(&pages->rows, rows * pages->row_size + 8) < 0)
    return -ENOMEM;
  return 0;
}

static int copy_stacks (struct pss_target *t, struct pss_store *s, const struct pss_table *maps) {
  struct pss_table *pages = &s->tables[PSS_TABLE_AUX_PAGES];
  struct pss_buf spans = { NULL, 0, 0, s->vm };
  const struct span *v;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  FILETIME when = pss_filetime(pss_now_filetime());
  size_t i, n = 0;
  int rc = collect_spans(s, maps, t->stack_limit, page, &spans, &n);
  v = (const struct span *)(const void *)spans.data;
  if (rc == 0) rc = reserve_pages(pages, v, n, page);
  for (i = 0; rc == 0 && i < n; i++) rc = copy_span(t, pages, &v[i], when, page);
  pss_buf_free(&spans);
  return rc;
}

int pss_capture_stacks (struct pss_target *t, struct pss_store *s) {
  struct pss_table maps;
  int rc;
  if (!(s->flags & PSS_LINUX_CAPTURE_STACKS) || (t->freeze == NULL && t->self_freeze == NULL))
    return 0;
  if (s->flags & PSS_CAPTURE_VA_SPACE) return copy_stacks(t, s, &s->tables[PSS_TABLE_REGIONS]);
  memset(&maps, 0, sizeof maps);
  maps.row_size = sizeof(PSS_LINUX_VA_SPACE_ENTRY);
  maps.rows.vm = maps.strings.vm = s->vm;
  rc = pss_read_regions(t, &maps);
  if (rc == 0) rc = copy_stacks(t, s, &maps);
  pss_buf_free(&maps.rows);
  pss_buf_free(&maps.strings);
  return rc;
}
