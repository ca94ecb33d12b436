/*
** load.c -- PssLinuxLoadSnapshot: a saved snapshot read back into a new
** store, registered as an HPSS like a capture's.
**
** The file is hostile until proven otherwise. Nothing is allocated from a
** length the file states: a payload is read in chunks into a buffer that
** grows with the bytes that arrived (and, from a regular file, a length
** past the file's end is refused before anything is read). Every section
** carries a CRC-32; every row's offset and length is checked against its
** pool before the store is published, because the walk trusts them.
*/
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/file/coreload.h"
#include "linux/file/snapfile.h"
#include "linux/store/store.h"

#define CHUNK ((size_t)1 << 20)   /* bytes read and grown at a time */
#define SECTION_MAX ((uint64_t)1 << 32)   /* a table's rows or strings held in memory */
#define BAD (-EBADMSG)            /* the file is not a snapshot, or is damaged */
#define NEWER (-EPROTONOSUPPORT)  /* a newer major version */

struct loader {
  int fd;
  uint64_t left;             /* bytes left in a regular file; UINT64_MAX otherwise */
  uint64_t pos;              /* a regular file's offset of the next byte */
  struct pss_store *s;
  unsigned major;            /* the file's format version */
  unsigned seen_rows, seen_strings;  /* bit per table id */
  int seen_pstrings, seen_ranges;
  /* saved memory: where each MEMORY section's bytes are (in the file
  ** itself, or, from a pipe, in the spool they were copied to) */
  struct pss_buf runs;       /* struct run */
  struct pss_buf ranges;     /* the MEMRANGES payload */
  int spool;                 /* memfd, -1 until a pipe brings memory */
  uint64_t spooled;
  char *chunk;               /* CHUNK bytes for memory, NULL until needed */
};

struct run { uint64_t address, length, offset; };

static int bad (const char *why) {
  pss_fail_detail(why);
  return BAD;
}

/* {======================================================================
** Reading
** ======================================================================= */

/* n bytes into p; a short file is BAD. */
static int read_exact (struct loader *l, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t k = read(l->fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -errno;
    if (k == 0) return bad("the file ends in the middle of a snapshot (truncated)");
    c += k;
    n -= (size_t)k;
    l->pos += (uint64_t)k;
    if (l->left != UINT64_MAX) l->left -= (uint64_t)k;
  }
  return 0;
}

/* Appends a payload of len bytes to b (NULL: discards it), growing b only
** by what arrived, and folds it into *crc. */
static int read_payload (struct loader *l, struct pss_buf *b, uint64_t len, uint32_t *crc) {
  char scratch[4096];
  int rc;
  if (len > l->left) return bad("a section is longer than the rest of the file");
  /* a sparse file or an endless pipe could claim any length: a table of
  ** more than 4 GiB is refused before it is read into memory */
  if (b != NULL && len > SECTION_MAX)
    return bad("a section is longer than the 4 GiB this libpss reads");
  while (len > 0) {
    size_t n = len < CHUNK ? (size_t)len : CHUNK;
    char *to = scratch;
    if (b == NULL && n > sizeof scratch) n = sizeof scratch;
    if (b != NULL) {
      if (pss_buf_reserve(b, n) < 0) return -ENOMEM;
      to = b->data + b->len;
    }
    if ((rc = read_exact(l, to, n)) < 0) return rc;
    *crc = pss_snap_crc32(*crc, to, n);
    if (b != NULL) b->len += n;
    len -= n;
  }
  return 0;
}

/* The rest of the file header, whose first 8 bytes (the magic) were read. */
static int read_header (struct loader *l, const unsigned char *magic) {
  unsigned char h[PSS_SNAP_HEADER_LEN];
  int rc;
  memcpy(h, magic, PSS_SNAP_MAGIC_LEN);
  if ((rc = read_exact(l, h + PSS_SNAP_MAGIC_LEN, sizeof h - PSS_SNAP_MAGIC_LEN)) < 0) return rc;
  if (pss_snap_get32(h + 20) != pss_snap_crc32(0, h, 20))
    return bad("the snapshot's file header is damaged (checksum mismatch)");
  if ((h[8] | h[9] << 8) > PSS_SNAP_MAJOR) {
    pss_fail_detailf("the snapshot is of format version %u.%u, newer than this libpss "
                     "reads (%u.x)", h[8] | h[9] << 8, h[10] | h[11] << 8, PSS_SNAP_MAJOR);
    return NEWER;
  }
  l->major = (unsigned)(h[8] | h[9] << 8);
  return l->major == 0 ? bad("the snapshot's format version is 0, which no libpss wrote") : 0;
}

/*
** Format 1 had neither PSS_LINUX_MEMORY_USAGE: the record ended before
** MemoryUsage, the region row before Usage. A row or record only ever
** grows at its end, so an older one is read and the rest left zero.
*/
static size_t record_size (const struct loader *l) {
  return l->major < 2 ? offsetof(PSS_LINUX_PROCESS_INFORMATION, MemoryUsage)
                      : sizeof(PSS_LINUX_PROCESS_INFORMATION);
}

static size_t row_size (const struct loader *l, int id, const struct pss_table *t) {
  return l->major < 2 && id == PSS_TABLE_REGIONS ? offsetof(PSS_LINUX_VA_SPACE_ENTRY, Usage)
                                                 : t->row_size;
}

/* Rows of an older, shorter layout spread to this build's, zero-filled. */
static int widen_rows (struct pss_table *t, size_t old) {
  size_t i = t->count;
  if (old == t->row_size) return 0;
  if (pss_buf_reserve(&t->rows, t->count * (t->row_size - old)) < 0) return -ENOMEM;
  while (i-- > 0) {
    memmove(t->rows.data + i * t->row_size, t->rows.data + i * old, old);
    memset(t->rows.data + i * t->row_size + old, 0, t->row_size - old);
  }
  t->rows.len = t->count * t->row_size;
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Sections
** ======================================================================= */
static int read_store (struct loader *l, uint64_t len, uint32_t want_crc) {
  struct pss_snap_store fixed;
  PSS_LINUX_PROCESS_INFORMATION rec;
  unsigned char raw[sizeof fixed + sizeof rec];
  size_t rsize = record_size(l);
  int rc;
  if (l->s != NULL) return bad("the snapshot has two STORE sections");
  if (len != sizeof fixed + rsize) return bad("the STORE section's length is not this build's");
  if ((rc = read_exact(l, raw, (size_t)len)) < 0) return rc;
  if (pss_snap_crc32(0, raw, (size_t)len) != want_crc)
    return bad("the STORE section is damaged (checksum mismatch)");
  memcpy(&fixed, raw, sizeof fixed);
  memset(&rec, 0, sizeof rec);
  memcpy(&rec, raw + sizeof fixed, rsize);
  if (l->major < 2) rec.HasMemoryUsage = 0;   /* its Reserved2 byte in format 1 */
  if (fixed.record_size != rsize) return bad("the process record is not this build's");
  if ((l->s = pss_store_new(fixed.capture_flags)) == NULL) return -ENOMEM;
  /* a CONTEXT with every XSAVE component is a few KiB: whoever copies
  ** ContextLength bytes of a record must not be sent far past its pool */
  if (fixed.context_length > 0xFFFF) return bad("the snapshot's context length is implausible");
  l->s->context_length = fixed.context_length;
  l->s->threads_frozen = fixed.threads_frozen;
  l->s->freeze_cycles = fixed.freeze_cycles;
  l->s->freeze_us = fixed.freeze_us;
  l->s->perf = fixed.perf;
  l->s->process = rec;       /* pointers still offsets+1: checked at the end */
  return 0;
}

/* A table's rows: the row size must be this build's, the count what the
** length holds. */
static int read_rows (struct loader *l, int id, uint64_t len, uint32_t *crc) {
  struct pss_table *t = &l->s->tables[id];
  size_t size = row_size(l, id, t);
  struct pss_snap_rows h;
  int rc;
  if (len < sizeof h) return bad("a ROWS section is too short");
  if ((rc = read_exact(l, &h, sizeof h)) < 0) return rc;
  *crc = pss_snap_crc32(*crc, &h, sizeof h);
  len -= sizeof h;
  if (h.row_size != size)
    return bad("a table's row size is not this build's (saved by another layout)");
  if (h.count > UINT32_MAX || len / size != h.count || len % size != 0)
    return bad("a table's row count does not match its length");
  if ((rc = read_payload(l, &t->rows, len, crc)) < 0) return rc;
  t->count = (size_t)h.count;
  return widen_rows(t, size);
}

/* Which buffer a section fills (NULL: skipped), once each. */
static int section_target (struct loader *l, uint32_t type, uint32_t id,
                           struct pss_buf **to) {
  unsigned bit = 1u << (id & 31);
  *to = NULL;
  if (type == PSS_SNAP_PSTRINGS) {
    if (l->seen_pstrings++) return bad("the snapshot has two PSTRINGS sections");
    *to = &l->s->pstrings;
  } else if (type == PSS_SNAP_ROWS || type == PSS_SNAP_STRINGS) {
    unsigned *seen = type == PSS_SNAP_ROWS ? &l->seen_rows : &l->seen_strings;
    if (id == 0 || id >= PSS_TABLE_COUNT) return bad("a section names no table of this build");
    if (*seen & bit) return bad("a table's section appears twice");
    *seen |= bit;
    *to = type == PSS_SNAP_ROWS ? &l->s->tables[id].rows : &l->s->tables[id].strings;
  }
  return 0;
}

/* Where a MEMORY section's bytes will be read from after the load: the
** file itself when it is a regular file (pread), else a spool they are
** copied into as they arrive. */
static int memory_home (struct loader *l, uint64_t *offset) {
  if (l->left != UINT64_MAX) {
    *offset = l->pos;
    return 0;
  }
  if (l->spool < 0 && (l->spool = memfd_create("pss-memory", MFD_CLOEXEC)) < 0) return -errno;
  *offset = l->spooled;
  return 0;
}

static int spool_write (struct loader *l, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = pwrite(l->spool, p, n, (off_t)l->spooled);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -errno;
    p += k;
    n -= (size_t)k;
    l->spooled += (uint64_t)k;
  }
  return 0;
}

/* A MEMORY section: its address, then its bytes, checked (and spooled
** from a pipe) a chunk at a time. */
static int read_memory (struct loader *l, uint64_t len, uint32_t *crc) {
  unsigned char a[8];
  struct run r;
  int rc;
  if (len < sizeof a) return bad("a MEMORY section is too short");
  if (len - sizeof a > l->left) return bad("a section is longer than the rest of the file");
  if ((rc = read_exact(l, a, sizeof a)) < 0) return rc;
  *crc = pss_snap_crc32(*crc, a, sizeof a);
  r.address = pss_snap_get32(a) | (uint64_t)pss_snap_get32(a + 4) << 32;
  r.length = len - sizeof a;
  if (r.address + r.length < r.address)
    return bad("a MEMORY section wraps around the address space");
  if ((rc = memory_home(l, &r.offset)) < 0) return rc;
  if (l->chunk == NULL && (l->chunk = malloc(CHUNK)) == NULL) return -ENOMEM;
  for (len = r.length; len > 0; ) {
    size_t n = len < CHUNK ? (size_t)len : CHUNK;
    if ((rc = read_exact(l, l->chunk, n)) < 0) return rc;
    *crc = pss_snap_crc32(*crc, l->chunk, n);
    if (l->spool >= 0 && (rc = spool_write(l, l->chunk, n)) < 0) return rc;
    len -= n;
  }
  return pss_buf_append(&l->runs, &r, sizeof r, 8) < 0 ? -ENOMEM : 0;
}

/* One section; 1 at END. */
static int read_section (struct loader *l) {
  unsigned char h[PSS_SNAP_SECTION_LEN];
  uint32_t type, id, want, crc = 0;
  uint64_t len;
  struct pss_buf *to;
  int rc;
  if ((rc = read_exact(l, h, sizeof h)) < 0) return rc;
  if (pss_snap_get32(h + 20) != pss_snap_crc32(0, h, 20))
    return bad("a section header is damaged (checksum mismatch)");
  type = pss_snap_get32(h);
  id = pss_snap_get32(h + 4);
  len = pss_snap_get32(h + 8) | (uint64_t)pss_snap_get32(h + 12) << 32;
  want = pss_snap_get32(h + 16);
  if (type == PSS_SNAP_STORE) return read_store(l, len, want);
  if (l->s == NULL) return bad("the snapshot does not begin with its STORE section");
  if (type == PSS_SNAP_END) return len == 0 ? 1 : bad("the END section is not empty");
  if (type == PSS_SNAP_MEMRANGES && l->seen_ranges++)
    return bad("the snapshot has two MEMRANGES sections");
  if ((rc = section_target(l, type, id, &to)) < 0) return rc;
  if (type == PSS_SNAP_ROWS) rc = read_rows(l, (int)id, len, &crc);
  else if (type == PSS_SNAP_MEMORY) rc = read_memory(l, len, &crc);
  else if (type == PSS_SNAP_MEMRANGES) rc = read_payload(l, &l->ranges, len, &crc);
  else rc = read_payload(l, to, len, &crc);   /* an unknown type (a newer minor) is skipped */
  if (rc < 0) return rc;
  return crc == want ? 0 : bad("a section is damaged (checksum mismatch)");
}
/* }====================================================================== */


/* {======================================================================
** Checks: every reference a walk follows stays inside its pool
** ======================================================================= */

/* ref is offset+1 into pool (0: none, then len must be 0): len bytes at an
** offset aligned to align, followed by term zero bytes. */
static int ref_ok (const struct pss_buf *pool, const void *ref, size_t len, size_t align,
                   size_t term) {
  uintptr_t r = (uintptr_t)ref;
  size_t off, i;
  if (r == 0) return len == 0;
  off = (size_t)(r - 1);
  if (off > pool->len || pool->len - off < term || pool->len - off - term < len ||
      off % align != 0)
    return 0;
  for (i = 0; i < term; i++)
    if (pool->data[off + len + i] != 0) return 0;
  return 1;
}

static int region_ok (const struct pss_table *t, const PSS_LINUX_VA_SPACE_ENTRY *e) {
  return ref_ok(&t->strings, e->Region.MappedFileName, e->Region.MappedFileNameLength, 2, 2) &&
         ref_ok(&t->strings, e->Path, e->PathLength, 1, 1) &&
         ref_ok(&t->strings, e->Usage, e->Usage != NULL ? sizeof *e->Usage : 0, 8, 0) &&
         e->BuildIdLength <= PSS_LINUX_BUILD_ID_MAX;
}

static int handle_ok (const struct pss_table *t, const PSS_LINUX_HANDLE_ENTRY *e) {
  return ref_ok(&t->strings, e->Handle.TypeName, e->Handle.TypeNameLength, 2, 2) &&
         ref_ok(&t->strings, e->Handle.ObjectName, e->Handle.ObjectNameLength, 2, 2) &&
         ref_ok(&t->strings, e->Target, e->TargetLength, 1, 1);
}

/* A CONTEXT is read whole by whoever walks it: at least sizeof(CONTEXT),
** at most the snapshot's context_length, 16-aligned. A machine without
** the x86-64 CONTEXT captures none, and loads none. */
static size_t context_min (void) {
#if defined(__x86_64__)
  return sizeof(CONTEXT);
#else
  return SIZE_MAX;
#endif
}

static int thread_ok (const struct pss_store *s, const struct pss_table *t,
                      const struct pss_thread_row *r) {
  const PSS_THREAD_ENTRY *th = &r->e.Thread;
  if (th->ContextRecord != NULL &&
      (th->SizeOfContextRecord < context_min() ||
       th->SizeOfContextRecord > s->context_length))
    return 0;
  return ref_ok(&t->strings, th->ContextRecord, th->SizeOfContextRecord, 16, 0) &&
         ref_ok(&t->strings, r->e.Name, r->e.NameLength, 1, 1) &&
         ref_ok(&t->strings, (const void *)r->name16, r->name16_len, 2, 2);
}

static int page_ok (const struct pss_table *t, const PSS_AUXILIARY_PAGE_ENTRY *e) {
  return ref_ok(&t->strings, e->PageContents, e->PageSize, 1, 0);
}

static int row_ok (const struct pss_store *s, int id, const void *row) {
  const struct pss_table *t = &s->tables[id];
  switch (id) {
    case PSS_TABLE_REGIONS: return region_ok(t, row);
    case PSS_TABLE_HANDLES: return handle_ok(t, row);
    case PSS_TABLE_THREADS: return thread_ok(s, t, row);
    case PSS_TABLE_AUX_PAGES: return page_ok(t, row);
    default: return 0;
  }
}

/* The process record's references made absolute, once they are checked. */
static int check_process (struct pss_store *s) {
  PSS_LINUX_PROCESS_INFORMATION *p = &s->process;
  const struct pss_buf *pool = &s->pstrings;
  /* never NULL in a capture: readers may take them as C strings */
  if (p->CommandLine == NULL || p->Comm == NULL || p->NotFrozen == NULL ||
      !ref_ok(pool, p->CommandLine, p->CommandLineLength, 1, 1) ||
      !ref_ok(pool, p->Comm, p->CommLength, 1, 1) ||
      !ref_ok(pool, p->NotFrozen, p->NotFrozenLength, 1, 1) ||
      p->Process.ImageFileName[259] != 0)
    return bad("the process record points outside its strings");
  p->CommandLine = pool->data + (uintptr_t)p->CommandLine - 1;
  p->Comm = pool->data + (uintptr_t)p->Comm - 1;
  p->NotFrozen = pool->data + (uintptr_t)p->NotFrozen - 1;
  return 0;
}

static int check_store (struct loader *l) {
  unsigned all = ((1u << PSS_TABLE_COUNT) - 1) & ~1u;
  size_t i;
  int id;
  if (!l->seen_pstrings || l->seen_rows != all || l->seen_strings != all)
    return bad("the snapshot lacks one of its sections");
  for (id = 1; id < PSS_TABLE_COUNT; id++)
    for (i = 0; i < l->s->tables[id].count; i++)
      if (!row_ok(l->s, id, pss_table_row(&l->s->tables[id], i))) {
        pss_fail_detailf("row %zu of table %d points outside its strings", i, id);
        return BAD;
      }
  return check_process(l->s);
}
/* }====================================================================== */


/* {======================================================================
** Saved memory: the runs laid into the ranges, the gaps zeros
** ======================================================================= */

/* The runs inside range [start, end) from runs[*j] on, and zeros around them. */
static int fill_range (struct pss_filemem *m, const struct run *runs, size_t nruns, size_t *j,
                       uint64_t start, uint64_t end) {
  uint64_t at = start;
  int rc;
  for (; *j < nruns && runs[*j].address < end; (*j)++) {
    const struct run *r = &runs[*j];
    if (r->address < at || r->length > end - r->address)
      return bad("saved memory lies outside its ranges, or overlaps itself");
    if ((rc = pss_filemem_add(m, at, r->address - at, PSS_FILEMEM_ZEROS)) < 0 ||
        (rc = pss_filemem_add(m, r->address, r->length, r->offset)) < 0)
      return rc;
    at = r->address + r->length;
  }
  return pss_filemem_add(m, at, end - at, PSS_FILEMEM_ZEROS);
}

static int build_memory (struct loader *l) {
  const struct run *runs = (const struct run *)(const void *)l->runs.data;
  size_t nruns = l->runs.len / sizeof *runs, nranges = l->ranges.len / 16, i, j = 0;
  uint64_t prev = 0;
  int rc;
  if (!l->seen_ranges) return nruns == 0 ? 0 : bad("the snapshot has memory but no MEMRANGES");
  if (l->ranges.len % 16 != 0) return bad("the MEMRANGES section's length is not of pairs");
  for (i = 0; i < nranges; i++) {
    uint64_t start, end;
    memcpy(&start, l->ranges.data + 16 * i, 8);
    memcpy(&end, l->ranges.data + 16 * i + 8, 8);
    if (start >= end || (i > 0 && start < prev))
      return bad("the saved memory's ranges are not ascending and disjoint");
    if (j < nruns && runs[j].address < start)
      return bad("saved memory lies outside its ranges, or overlaps itself");
    if ((rc = fill_range(&l->s->mem, runs, nruns, &j, start, end)) < 0) return rc;
    prev = end;
  }
  if (j < nruns) return bad("saved memory lies outside its ranges, or overlaps itself");
  if (l->s->mem.count == 0) return 0;
  if (l->spool >= 0) {               /* the spool becomes the store's */
    l->s->mem.fd = l->spool;
    l->spool = -1;
  } else if ((l->s->mem.fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3)) < 0)
    return -errno;
  return 0;
}
/* }====================================================================== */


static int load (struct loader *l, const unsigned char *magic) {
  int rc;
  if ((rc = read_header(l, magic)) < 0) return rc;
  while ((rc = read_section(l)) == 0) ;
  if (rc < 0 || (rc = check_store(l)) < 0) return rc;
  return build_memory(l);
}


/* {======================================================================
** ELF cores: read where they lie (a regular file), or spooled from a pipe
** ======================================================================= */
static int load_core (struct loader *l, const unsigned char *magic, struct pss_store **out) {
  int rc;
  if (l->left != UINT64_MAX)
    return pss_core_load(l->fd, l->pos - PSS_SNAP_MAGIC_LEN, l->left + PSS_SNAP_MAGIC_LEN, out);
  /* a core is read out of order (notes, then segments anywhere): a pipe's
  ** bytes are kept in a memfd first */
  if ((l->spool = memfd_create("pss-core", MFD_CLOEXEC)) < 0) return -errno;
  if ((rc = spool_write(l, (const char *)magic, PSS_SNAP_MAGIC_LEN)) == 0 &&
      (l->chunk = malloc(CHUNK)) == NULL)
    rc = -ENOMEM;
  while (rc == 0) {
    ssize_t k = read(l->fd, l->chunk, CHUNK);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      rc = k < 0 ? -errno : 0;
      break;
    }
    rc = spool_write(l, l->chunk, (size_t)k);
  }
  return rc < 0 ? rc : pss_core_load(l->spool, 0, l->spooled, out);
}
/* }====================================================================== */


static void loader_free (struct loader *l) {
  pss_buf_free(&l->runs);
  pss_buf_free(&l->ranges);
  free(l->chunk);
  if (l->spool >= 0) close(l->spool);
}

int pss_snapshot_load (int fd, struct pss_store **out) {
  struct loader l = { .fd = fd, .left = UINT64_MAX, .spool = -1 };
  unsigned char magic[PSS_SNAP_MAGIC_LEN];
  struct stat st;
  int rc;
  *out = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (at >= 0) {
      l.left = at <= st.st_size ? (uint64_t)(st.st_size - at) : 0;
      l.pos = (uint64_t)at;
    }
  }
  if ((rc = read_exact(&l, magic, sizeof magic)) == BAD)
    rc = bad("the file is neither a pss snapshot nor an ELF core (shorter than a magic)");
  else if (rc == 0 && memcmp(magic, "\x7f" "ELF", 4) == 0)
    rc = load_core(&l, magic, out);
  else if (rc == 0 && memcmp(magic, PSS_SNAP_MAGIC, PSS_SNAP_MAGIC_LEN) != 0)
    rc = bad("the file is neither a pss snapshot nor an ELF core (no magic at its start)");
  else if (rc == 0 && (rc = load(&l, magic)) == 0)
    *out = l.s;
  if (rc < 0) pss_store_release(l.s);
  loader_free(&l);
  return rc;
}

PSS_EXPORT DWORD PssLinuxLoadSnapshot (int Fd, HPSS *SnapshotHandle) {
  int fl = Fd >= 0 ? fcntl(Fd, F_GETFL) : -1;
  struct pss_store *s;
  uintptr_t h;
  int rc;
  pss_fail_detail(NULL);
  if (SnapshotHandle == NULL) return pss_fail(ERROR_INVALID_PARAMETER);
  if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
    pss_fail_detail(fl < 0 ? "Fd is not an open descriptor" : "Fd is not open for reading");
    return pss_fail(ERROR_INVALID_HANDLE);
  }
  rc = pss_snapshot_load(Fd, &s);
  if (rc == 0 && (h = pss_registry_add(PSS_KIND_SNAPSHOT, s)) != 0) {
    *SnapshotHandle = (HPSS)h;
    return ERROR_SUCCESS;
  }
  if (rc == 0) pss_store_release(s);
  if (rc == BAD) return pss_fail(ERROR_BAD_FORMAT);
  if (rc == NEWER) return pss_fail(ERROR_NOT_SUPPORTED);
  return pss_win32_error(rc == 0 ? -ENOMEM : rc);
}
