/*
** walk.c -- PssQuerySnapshot, PssWalkSnapshot and walk markers.
**
** Walks copy one row of the store into the caller's buffer. Pointers in a
** row are offsets into its table's string pool; the walk points them into
** the marker's own copy of that pool, made once per (snapshot, table) with
** the marker's allocator, so they stay valid until the marker is freed --
** even after the snapshot is.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linux/store/store.h"

/* A marker's copy of one table's string pool. */
struct pool_copy {
  struct pool_copy *next;
  uint64_t serial;         /* of the store it came from */
  int table;
  char *data;              /* 16-aligned (CONTEXT records), inside this block */
};

struct marker {
  PSS_ALLOCATOR alloc;
  int table;                      /* table being walked, 0 when fresh */
  size_t index;
  size_t seen[PSS_TABLE_COUNT];   /* largest row count seen per table */
  struct pool_copy *copies;
};

/* Positions carry a tag so that values not made by GetPosition are
** recognised: tag | table << 40 | index. */
#define POSITION_TAG   0x5053000000000000ULL
#define POSITION_TABLE(p) ((int)(((p) >> 40) & 0xFF))
#define POSITION_INDEX(p) ((size_t)((p) & 0xFFFFFFFFFFULL))


/* {======================================================================
** Classes
** ======================================================================= */
struct walk_class {
  PSS_WALK_INFORMATION_CLASS cls;
  int table;
  PSS_CAPTURE_FLAGS needs;
  DWORD size;
};

static const struct walk_class walk_classes[] = {
  { PSS_WALK_VA_SPACE, PSS_TABLE_REGIONS, PSS_CAPTURE_VA_SPACE, sizeof(PSS_VA_SPACE_ENTRY) },
  { PSS_WALK_HANDLES, PSS_TABLE_HANDLES, PSS_CAPTURE_HANDLES, sizeof(PSS_HANDLE_ENTRY) },
  { PSS_WALK_THREADS, PSS_TABLE_THREADS, PSS_CAPTURE_THREADS, sizeof(PSS_THREAD_ENTRY) },
  { PSS_WALK_THREAD_NAME, PSS_TABLE_THREADS, PSS_CAPTURE_THREADS, sizeof(PSS_THREAD_NAME) },
  { PSS_WALK_LINUX_VA_SPACE, PSS_TABLE_REGIONS, PSS_CAPTURE_VA_SPACE, sizeof(PSS_LINUX_VA_SPACE_ENTRY) },
  { PSS_WALK_LINUX_HANDLES, PSS_TABLE_HANDLES, PSS_CAPTURE_HANDLES, sizeof(PSS_LINUX_HANDLE_ENTRY) },
  { PSS_WALK_LINUX_THREADS, PSS_TABLE_THREADS, PSS_CAPTURE_THREADS, sizeof(PSS_LINUX_THREAD_ENTRY) },
  /* the copies of the threads' stacks */
  { PSS_WALK_AUXILIARY_PAGES, PSS_TABLE_AUX_PAGES, PSS_LINUX_CAPTURE_STACKS,
    sizeof(PSS_AUXILIARY_PAGE_ENTRY) },
};

static const struct walk_class *find_walk_class (PSS_WALK_INFORMATION_CLASS cls) {
  size_t i;
  for (i = 0; i < sizeof walk_classes / sizeof walk_classes[0]; i++)
    if (walk_classes[i].cls == cls) return &walk_classes[i];
  return NULL;
}
/* }====================================================================== */


/* {======================================================================
** Markers
** ======================================================================= */
static void *WINAPI heap_alloc (void *ctx, DWORD size) { (void)ctx; return malloc(size); }
static void WINAPI heap_free (void *ctx, void *p) { (void)ctx; free(p); }

static void free_copies (struct marker *m) {
  while (m->copies != NULL) {
    struct pool_copy *next = m->copies->next;
    m->alloc.FreeRoutine(m->alloc.Context, m->copies);
    m->copies = next;
  }
}

PSS_EXPORT DWORD WINAPI PssWalkMarkerCreate (PSS_ALLOCATOR const *Allocator,
                                             HPSSWALK *WalkMarkerHandle) {
  PSS_ALLOCATOR a = { NULL, heap_alloc, heap_free };
  struct marker *m;
  uintptr_t h;
  if (WalkMarkerHandle == NULL) return pss_fail(ERROR_INVALID_PARAMETER);
  if (Allocator != NULL) {
    if (Allocator->AllocRoutine == NULL || Allocator->FreeRoutine == NULL)
      return pss_fail(ERROR_INVALID_PARAMETER);
    a = *Allocator;
  }
  if ((m = a.AllocRoutine(a.Context, sizeof *m)) == NULL)
    return pss_fail(ERROR_NOT_ENOUGH_MEMORY);
  memset(m, 0, sizeof *m);
  m->alloc = a;
  if ((h = pss_registry_add(PSS_KIND_MARKER, m)) == 0) {
    a.FreeRoutine(a.Context, m);
    return pss_fail(ERROR_NOT_ENOUGH_MEMORY);
  }
  *WalkMarkerHandle = (HPSSWALK)h;
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD WINAPI PssWalkMarkerFree (HPSSWALK WalkMarkerHandle) {
  struct marker *m = pss_registry_remove((uintptr_t)WalkMarkerHandle, PSS_KIND_MARKER);
  PSS_ALLOCATOR a;
  if (m == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  free_copies(m);
  a = m->alloc;
  a.FreeRoutine(a.Context, m);
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD WINAPI PssWalkMarkerGetPosition (HPSSWALK WalkMarkerHandle,
                                                  ULONG_PTR *Position) {
  struct marker *m = pss_registry_get((uintptr_t)WalkMarkerHandle, PSS_KIND_MARKER);
  if (m == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  if (Position == NULL) return pss_fail(ERROR_INVALID_PARAMETER);
  *Position = (ULONG_PTR)(POSITION_TAG | (uint64_t)m->table << 40 | m->index);
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD WINAPI PssWalkMarkerSetPosition (HPSSWALK WalkMarkerHandle,
                                                  ULONG_PTR Position) {
  struct marker *m = pss_registry_get((uintptr_t)WalkMarkerHandle, PSS_KIND_MARKER);
  uint64_t p = Position;
  int table = POSITION_TABLE(p);
  size_t index = POSITION_INDEX(p);
  if (m == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  if ((p & 0xFFFF000000000000ULL) != POSITION_TAG || table >= PSS_TABLE_COUNT ||
      index > m->seen[table] || (table == PSS_TABLE_NONE && index != 0))
    return pss_fail(ERROR_INVALID_PARAMETER);
  m->table = table;
  m->index = index;
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD WINAPI PssWalkMarkerSeekToBeginning (HPSSWALK WalkMarkerHandle) {
  struct marker *m = pss_registry_get((uintptr_t)WalkMarkerHandle, PSS_KIND_MARKER);
  if (m == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  m->table = PSS_TABLE_NONE;
  m->index = 0;
  return ERROR_SUCCESS;
}
/* }====================================================================== */


/* {======================================================================
** Walk
** ======================================================================= */

/* The marker's copy of a table's strings, made on first use. */
static int pool_for (struct marker *m, const struct pss_store *s, int table,
                     const char **base) {
  const struct pss_buf *strings = &s->tables[table].strings;
  struct pool_copy *c;
  if (strings->len == 0) { *base = NULL; return 0; }
  for (c = m->copies; c != NULL; c = c->next)
    if (c->serial == s->serial && c->table == table) { *base = c->data; return 0; }
  /* 15 spare bytes: the pool's 16-byte alignment whatever the allocator's */
  if (strings->len > 0xFFFFFFFFu - sizeof *c - 15) return -ENOMEM;
  c = m->alloc.AllocRoutine(m->alloc.Context, (DWORD)(sizeof *c + 15 + strings->len));
  if (c == NULL) return -ENOMEM;
  c->serial = s->serial;
  c->table = table;
  c->data = (char *)(((uintptr_t)(c + 1) + 15) & ~(uintptr_t)15);
  memcpy(c->data, strings->data, strings->len);
  c->next = m->copies;
  m->copies = c;
  *base = c->data;
  return 0;
}

static const void *relocate (const void *offset_plus_one, const char *base) {
  uintptr_t off = (uintptr_t)offset_plus_one;
  return off == 0 ? NULL : base + off - 1;
}

static void copy_region (const PSS_LINUX_VA_SPACE_ENTRY *row, const char *base,
                         void *buf, DWORD size) {
  PSS_LINUX_VA_SPACE_ENTRY *e = buf;
  memcpy(buf, row, size);
  e->Region.MappedFileName = relocate(row->Region.MappedFileName, base);
  if (size != sizeof *e) return;
  e->Path = relocate(row->Path, base);
  e->Usage = relocate(row->Usage, base);
}

static void copy_handle (const PSS_LINUX_HANDLE_ENTRY *row, const char *base,
                         void *buf, DWORD size) {
  PSS_LINUX_HANDLE_ENTRY *e = buf;
  memcpy(buf, row, size);
  e->Handle.TypeName = relocate(row->Handle.TypeName, base);
  e->Handle.ObjectName = relocate(row->Handle.ObjectName, base);
  if (size == sizeof *e) e->Target = relocate(row->Target, base);
}

static void copy_thread (const struct pss_thread_row *row, PSS_WALK_INFORMATION_CLASS cls,
                         const char *base, void *buf, DWORD size) {
  if (cls == PSS_WALK_THREAD_NAME) {
    PSS_THREAD_NAME *n = buf;
    memset(n, 0, sizeof *n);
    n->ThreadNameSize = row->name16_len;
    n->ThreadName = relocate((const void *)row->name16, base);
    return;
  }
  memcpy(buf, &row->e, size);
  ((PSS_THREAD_ENTRY *)buf)->ContextRecord =
      (PCONTEXT)relocate(row->e.Thread.ContextRecord, base);
  if (size == sizeof row->e)
    ((PSS_LINUX_THREAD_ENTRY *)buf)->Name = relocate(row->e.Name, base);
}

/* PageContents points into the marker's copy of the pages, so a page
** stays readable until the marker is freed, as on Windows. */
static void copy_page (const PSS_AUXILIARY_PAGE_ENTRY *row, const char *base, void *buf) {
  PSS_AUXILIARY_PAGE_ENTRY *e = buf;
  memcpy(buf, row, sizeof *e);
  e->PageContents = (void *)relocate(row->PageContents, base);
}

static DWORD walk_store (const struct pss_store *s, const struct walk_class *wc,
                         struct marker *m, void *buf, DWORD len) {
  const struct pss_table *t;
  const char *base;
  const void *row;
  int rc;
  if (wc->table == PSS_TABLE_NONE || (s->flags & wc->needs) == 0)
    return pss_fail(ERROR_NOT_FOUND);
  if (buf != NULL && len != wc->size) return pss_fail(ERROR_BAD_LENGTH);
  t = &s->tables[wc->table];
  if (m->table != wc->table) { m->table = wc->table; m->index = 0; }
  if (m->seen[wc->table] < t->count) m->seen[wc->table] = t->count;
  if (m->index >= t->count) return pss_fail(ERROR_NO_MORE_ITEMS);
  if (buf == NULL) return pss_fail(ERROR_MORE_DATA);
  if ((rc = pool_for(m, s, wc->table, &base)) < 0) return pss_win32_error(rc);
  row = t->rows.data + m->index * t->row_size;
  switch (wc->table) {
    case PSS_TABLE_REGIONS: copy_region(row, base, buf, len); break;
    case PSS_TABLE_HANDLES: copy_handle(row, base, buf, len); break;
    case PSS_TABLE_AUX_PAGES: copy_page(row, base, buf); break;
    default: copy_thread(row, wc->cls, base, buf, len); break;
  }
  m->index++;
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD WINAPI PssWalkSnapshot (HPSS SnapshotHandle,
                                         PSS_WALK_INFORMATION_CLASS InformationClass,
                                         HPSSWALK WalkMarkerHandle,
                                         void *Buffer, DWORD BufferLength) {
  struct pss_store *s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT);
  struct marker *m;
  const struct walk_class *wc;
  DWORD rc;
  if (s == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  m = pss_registry_get((uintptr_t)WalkMarkerHandle, PSS_KIND_MARKER);
  if (m == NULL) rc = pss_fail(ERROR_INVALID_HANDLE);
  else if ((wc = find_walk_class(InformationClass)) == NULL)
    rc = pss_fail(ERROR_INVALID_PARAMETER);
  else rc = walk_store(s, wc, m, Buffer, BufferLength);
  pss_store_release(s);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Query
** ======================================================================= */
static DWORD query_size (PSS_QUERY_INFORMATION_CLASS cls) {
  switch (cls) {
    case PSS_QUERY_PROCESS_INFORMATION: return sizeof(PSS_PROCESS_INFORMATION);
    case PSS_QUERY_VA_CLONE_INFORMATION: return sizeof(PSS_VA_CLONE_INFORMATION);
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION: return sizeof(PSS_AUXILIARY_PAGES_INFORMATION);
    case PSS_QUERY_VA_SPACE_INFORMATION: return sizeof(PSS_VA_SPACE_INFORMATION);
    case PSS_QUERY_HANDLE_INFORMATION: return sizeof(PSS_HANDLE_INFORMATION);
    case PSS_QUERY_THREAD_INFORMATION: return sizeof(PSS_THREAD_INFORMATION);
    case PSS_QUERY_HANDLE_TRACE_INFORMATION: return sizeof(PSS_HANDLE_TRACE_INFORMATION);
    case PSS_QUERY_PERFORMANCE_COUNTERS: return sizeof(PSS_PERFORMANCE_COUNTERS);
    case PSS_QUERY_LINUX_PROCESS_INFORMATION: return sizeof(PSS_LINUX_PROCESS_INFORMATION);
    case PSS_QUERY_LINUX_PERFORMANCE_COUNTERS: return sizeof(PSS_LINUX_PERFORMANCE_COUNTERS);
    default: return 0;
  }
}

/* Whether the snapshot holds the class's data. */
static int query_present (const struct pss_store *s, PSS_QUERY_INFORMATION_CLASS cls) {
  switch (cls) {
    case PSS_QUERY_PROCESS_INFORMATION:
    case PSS_QUERY_LINUX_PROCESS_INFORMATION: return 1;
    case PSS_QUERY_VA_SPACE_INFORMATION: return (s->flags & PSS_CAPTURE_VA_SPACE) != 0;
    case PSS_QUERY_HANDLE_INFORMATION: return (s->flags & PSS_CAPTURE_HANDLES) != 0;
    case PSS_QUERY_THREAD_INFORMATION: return (s->flags & PSS_CAPTURE_THREADS) != 0;
    case PSS_QUERY_HANDLE_TRACE_INFORMATION: return (s->flags & PSS_CAPTURE_HANDLE_TRACE) != 0;
    case PSS_QUERY_VA_CLONE_INFORMATION: return s->clone.pid > 0;
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION:
      return (s->flags & PSS_LINUX_CAPTURE_STACKS) != 0;
    case PSS_QUERY_PERFORMANCE_COUNTERS:
    case PSS_QUERY_LINUX_PERFORMANCE_COUNTERS:
      return (s->flags & PSS_CREATE_MEASURE_PERFORMANCE) != 0;
    default: return 0;
  }
}

static void query_fill (const struct pss_store *s, PSS_QUERY_INFORMATION_CLASS cls,
                        void *buf) {
  DWORD count = 0;
  switch (cls) {
    case PSS_QUERY_PROCESS_INFORMATION:
      memcpy(buf, &s->process.Process, sizeof s->process.Process); return;
    case PSS_QUERY_LINUX_PROCESS_INFORMATION:
      memcpy(buf, &s->process, sizeof s->process); return;
    case PSS_QUERY_PERFORMANCE_COUNTERS:
      memcpy(buf, &s->perf, sizeof s->perf); return;
    case PSS_QUERY_LINUX_PERFORMANCE_COUNTERS: {
      PSS_LINUX_PERFORMANCE_COUNTERS lp;
      memset(&lp, 0, sizeof lp);
      lp.Counters = s->perf;
      lp.FreezeCycleCount = s->freeze_cycles;
      lp.FreezeWallClockPeriod = s->freeze_us;
      lp.ThreadsFrozen = s->threads_frozen;
      memcpy(buf, &lp, sizeof lp);
      return;
    }
    case PSS_QUERY_HANDLE_TRACE_INFORMATION:
      memset(buf, 0, sizeof(PSS_HANDLE_TRACE_INFORMATION)); return;
    case PSS_QUERY_VA_CLONE_INFORMATION: {
      /* the snapshot owns the handle: it is closed when the snapshot is freed */
      PSS_VA_CLONE_INFORMATION vc = { (HANDLE)(intptr_t)s->clone.pidfd };
      memcpy(buf, &vc, sizeof vc);
      return;
    }
    case PSS_QUERY_THREAD_INFORMATION: {
      PSS_THREAD_INFORMATION ti = { (DWORD)s->tables[PSS_TABLE_THREADS].count, s->context_length };
      memcpy(buf, &ti, sizeof ti);
      return;
    }
    case PSS_QUERY_VA_SPACE_INFORMATION: count = (DWORD)s->tables[PSS_TABLE_REGIONS].count; break;
    case PSS_QUERY_HANDLE_INFORMATION: count = (DWORD)s->tables[PSS_TABLE_HANDLES].count; break;
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION:
      count = (DWORD)s->tables[PSS_TABLE_AUX_PAGES].count; break;
    default: break;
  }
  memcpy(buf, &count, sizeof count);
}

PSS_EXPORT DWORD WINAPI PssQuerySnapshot (HPSS SnapshotHandle,
                                          PSS_QUERY_INFORMATION_CLASS InformationClass,
                                          void *Buffer, DWORD BufferLength) {
  struct pss_store *s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT);
  DWORD size = query_size(InformationClass), rc = ERROR_SUCCESS;
  if (s == NULL) return pss_fail(ERROR_INVALID_HANDLE);
  if (size == 0) rc = pss_fail(ERROR_INVALID_PARAMETER);
  else if (!query_present(s, InformationClass)) rc = pss_fail(ERROR_NOT_FOUND);
  else if (BufferLength != size) rc = pss_fail(ERROR_BAD_LENGTH);
  else if (Buffer == NULL) rc = pss_fail(ERROR_INVALID_PARAMETER);
  else query_fill(s, InformationClass, Buffer);
  pss_store_release(s);
  return rc;
}
/* }====================================================================== */
