/*
** stacks.c -- PSS_LINUX_CAPTURE_STACKS: while the target's threads are
** stopped, each one's stack, from just below its stack pointer (the red
** zone) up to the end of the mapping that holds it, at most the capture's
** limit, copied with one process_vm_readv per thread. The copies are the
** snapshot's auxiliary pages: whole pages in address order, each stored
** once, with the MEMORY_BASIC_INFORMATION of its mapping.
**
** Only pages that are in memory or in swap are read (/proc/PID/pagemap):
** reading a page the target never touched would fault it in -- a change
** to the target -- and a page registered with userfaultfd whose handler is
** a thread of the (stopped) target would never be answered.
**
** It runs last of the frozen passes (snapshot.c), after the thread table
** has the stack pointers (stopped.c) and the region table, if the capture
** asked for one, has the mappings; otherwise it reads /proc/PID/maps once.
*/
#include <errno.h>
#include <fcntl.h>
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

/* The threads' spans, sorted, each cut to begin where the one before it
** ends (two threads whose copies overlap: the pages are stored once), but
** each read on its own, so no thread's pages depend on another's read. */
static int collect_spans (const struct pss_store *s, const struct pss_table *maps,
                          uint64_t limit, uint64_t page, struct pss_buf *out, size_t *count) {
  const struct pss_table *threads = &s->tables[PSS_TABLE_THREADS];
  struct span *v;
  uint64_t covered = 0;
  size_t i, n = 0, kept = 0;
  if (pss_buf_reserve(out, (threads->count + 1) * sizeof *v) < 0) return -ENOMEM;
  v = (struct span *)(void *)out->data;
  for (i = 0; i < threads->count; i++) {
    const struct pss_thread_row *row = (const void *)(threads->rows.data + i * threads->row_size);
    if (row->stack_pointer != 0 && span_of(row->stack_pointer, limit, page, maps, &v[n])) n++;
  }
  qsort(v, n, sizeof *v, by_low);
  for (i = 0; i < n; i++) {
    if (v[i].lo < covered) v[i].lo = covered;       /* page-aligned, as both are */
    if (v[i].lo >= v[i].hi) continue;
    covered = v[i].hi;
    v[kept++] = v[i];
  }
  *count = kept;
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
** One read of [lo, hi) of a span straight into the table's pool; the
** whole pages it returned become rows. A read cut short (a page that
** cannot be read) keeps what came before; one that reads nothing adds
** nothing.
*/
static int copy_run (struct pss_target *t, struct pss_table *pages, const struct span *sp,
                     uint64_t lo, uint64_t hi, FILETIME when, uint64_t page) {
  size_t len = (size_t)(hi - lo), whole, k;
  int64_t at = pss_buf_append(&pages->strings, NULL, 0, 16);
  ssize_t got;
  if (at < 0 || pss_buf_reserve(&pages->strings, len) < 0) return -ENOMEM;
  got = pss_read_memory(t, lo, pages->strings.data + at, len);
  if (got <= 0) return 0;
  whole = (size_t)got / page;
  pages->strings.len += whole * page;
  for (k = 0; k < whole; k++) {
    PSS_AUXILIARY_PAGE_ENTRY *e = pss_table_add_row(pages);
    if (e == NULL) return -ENOMEM;
    e->Address = (void *)(uintptr_t)(lo + k * page);
    e->BasicInformation = basic_of(sp->region);
    e->CaptureTime = when;
    e->PageContents = (void *)(uintptr_t)(at + (int64_t)(k * page) + 1);
    e->PageSize = (DWORD)page;
  }
  return 0;
}

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_BATCH 256

/* Whether each of n pages from lo is in memory or in swap (pagemap); -1
** where pagemap cannot tell (then every page is taken as readable). */
static int pages_readable (int pagemap, uint64_t lo, uint64_t page, size_t n,
                           unsigned char *readable) {
  uint64_t entry[PAGEMAP_BATCH];
  ssize_t got;
  size_t i;
  if (pagemap < 0) return -1;
  got = pread(pagemap, entry, n * sizeof entry[0], (off_t)(lo / page * sizeof entry[0]));
  if (got != (ssize_t)(n * sizeof entry[0])) return -1;
  for (i = 0; i < n; i++) readable[i] = (entry[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) != 0;
  return 0;
}

/* A span, a read per run of readable pages. */
static int copy_span (struct pss_target *t, struct pss_table *pages, const struct span *sp,
                      int pagemap, FILETIME when, uint64_t page) {
  unsigned char readable[PAGEMAP_BATCH];
  uint64_t at = sp->lo;
  int rc = 0;
  while (rc == 0 && at < sp->hi) {
    size_t n = (size_t)((sp->hi - at) / page), i = 0;
    if (n > PAGEMAP_BATCH) n = PAGEMAP_BATCH;
    if (pages_readable(pagemap, at, page, n, readable) < 0) memset(readable, 1, n);
    while (rc == 0 && i < n) {
      size_t j = i;
      while (j < n && readable[j] == readable[i]) j++;
      if (readable[i]) rc = copy_run(t, pages, sp, at + i * page, at + j * page, when, page);
      i = j;
    }
    at += n * page;
  }
  return rc;
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
  int pagemap, rc = collect_spans(s, maps, t->stack_limit, page, &spans, &n);
  v = (const struct span *)(const void *)spans.data;
  if (rc == 0) rc = reserve_pages(pages, v, n, page);
  /* opened once; where it cannot be (no right to it), every page is read */
  pagemap = rc == 0 && n > 0 ? pss_proc_open(t->pid, "pagemap", O_RDONLY) : -1;
  for (i = 0; rc == 0 && i < n; i++) rc = copy_span(t, pages, &v[i], pagemap, when, page);
  if (pagemap >= 0) close(pagemap);
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
