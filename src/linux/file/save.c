/*
** save.c -- PssLinuxSaveSnapshot: the store written to a descriptor in the
** format of snapfile.h, and the CRC-32 both directions use.
**
** Everything is written with write() in order, so a pipe or socket works
** as well as a file. SIGPIPE and SIGXFSZ are blocked in the writing thread
** meanwhile, as file/core.c does for cores: the caller sees
** ERROR_BROKEN_PIPE or ERROR_FILE_TOO_LARGE, never the signal.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "linux/file/path.h"
#include "linux/file/snapfile.h"
#include "linux/proc/proc.h"
#include "linux/ptrace/ptrace.h"
#include "linux/store/store.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "rows are saved as they are in memory: little-endian only");

/* {======================================================================
** CRC-32
** ======================================================================= */
#ifdef PSS_ZLIB
#include <zlib.h>

/* zlib's, the same CRC: saved memory runs to gigabytes, and zlib's braided
** code is about 2.7 times the speed of slicing by 8 here. */
uint32_t pss_snap_crc32 (uint32_t crc, const void *p, size_t n) {
  /* zlib answers its initial value, 0, for a NULL buffer whatever crc is */
  return n == 0 ? crc : (uint32_t)crc32_z(crc, p, n);
}
#else
/* Slicing by 8 (eight bytes a step), where there is no zlib to link. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init (void) {
  uint32_t i, k, c;
  for (i = 0; i < 256; i++) {
    for (c = i, k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[0][i] = c;
  }
  for (i = 0; i < 256; i++)
    for (k = 1; k < 8; k++)
      crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xFF];
}

uint32_t pss_snap_crc32 (uint32_t crc, const void *p, size_t n) {
  const unsigned char *b = p;
  pthread_once(&crc_once, crc_init);
  crc = ~crc;
  for (; n >= 8; n -= 8, b += 8) {
    uint32_t lo = crc ^ pss_snap_get32(b), hi = pss_snap_get32(b + 4);
    crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
          crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
          crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
          crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
  }
  while (n--) crc = crc_table[0][(crc ^ *b++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}
#endif
/* }====================================================================== */


/* {======================================================================
** Writing
** ======================================================================= */
struct saver {
  int fd;
  int nonblock;              /* O_NONBLOCK: EAGAIN means wait, not fail */
  int signo;                 /* a signal our own failed write raised, 0 if none */
  int masked;
  sigset_t mask, pending;
};

/* Why a write failed, in words, where the errno alone says too little. */
static const char *write_cause (int e) {
  switch (e) {
    case ENOSPC: return "no space left on the device the snapshot is saved to";
    case EDQUOT: return "the disk quota of the user is used up";
    case EFBIG: return "the snapshot is larger than the file size limit (RLIMIT_FSIZE) or than "
                       "the file system allows";
    case EPIPE: return "the reader of the pipe or socket went away before the snapshot was saved";
    case EIO: return "the device the snapshot is saved to reported an I/O error";
    case EAGAIN: return "the descriptor's send timeout expired (SO_SNDTIMEO)";
    default: return NULL;
  }
}

static int write_all (struct saver *w, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t k = write(w->fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN && w->nonblock) {   /* wait for room, as write() would */
      struct pollfd room = { w->fd, POLLOUT, 0 };
      if (poll(&room, 1, -1) >= 0 || errno == EINTR) continue;
    }
    if (k < 0) {
      int e = errno;
      pss_fail_detail(write_cause(e));
      if (e == EPIPE) w->signo = SIGPIPE;
      if (e == EFBIG) w->signo = SIGXFSZ;
      return -e;
    }
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

static void guard_signals (struct saver *w) {
  sigset_t both;
  sigemptyset(&both);
  sigaddset(&both, SIGPIPE);
  sigaddset(&both, SIGXFSZ);
  w->masked = pthread_sigmask(SIG_BLOCK, &both, &w->mask) == 0 &&
              sigpending(&w->pending) == 0;
}

/* Takes back the signal our write raised unless the caller already had
** one pending, then restores the caller's mask. */
static void unguard_signals (struct saver *w) {
  if (!w->masked) return;
  if (w->signo != 0 && !sigismember(&w->pending, w->signo)) {
    static const struct timespec now = { 0, 0 };
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, w->signo);
    while (sigtimedwait(&one, NULL, &now) < 0 && errno == EINTR) ;
  }
  pthread_sigmask(SIG_SETMASK, &w->mask, NULL);
}

/* One section: header (with the CRC of the parts), then the parts. */
static int write_section (struct saver *w, uint32_t type, uint32_t id,
                          const void *a, size_t na, const void *b, size_t nb) {
  unsigned char h[PSS_SNAP_SECTION_LEN];
  uint64_t len = (uint64_t)na + nb;
  int rc;
  pss_snap_put32(h, type);
  pss_snap_put32(h + 4, id);
  pss_snap_put32(h + 8, (uint32_t)len);
  pss_snap_put32(h + 12, (uint32_t)(len >> 32));
  pss_snap_put32(h + 16, pss_snap_crc32(pss_snap_crc32(0, a, na), b, nb));
  pss_snap_put32(h + 20, pss_snap_crc32(0, h, 20));
  if ((rc = write_all(w, h, sizeof h)) < 0) return rc;
  if (na > 0 && (rc = write_all(w, a, na)) < 0) return rc;
  return nb > 0 ? write_all(w, b, nb) : 0;
}

static int write_header (struct saver *w) {
  unsigned char h[PSS_SNAP_HEADER_LEN] = { 0 };
  memcpy(h, PSS_SNAP_MAGIC, PSS_SNAP_MAGIC_LEN);
  h[8] = PSS_SNAP_MAJOR; h[9] = 0;
  h[10] = PSS_SNAP_MINOR; h[11] = 0;
  pss_snap_put32(h + 20, pss_snap_crc32(0, h, 20));
  return write_all(w, h, sizeof h);
}

/* The process record's pointers into pstrings, as offsets+1. */
static const char *pool_ref (const struct pss_buf *pool, const char *p) {
  return p == NULL ? NULL : (const char *)(uintptr_t)(p - pool->data + 1);
}

static int write_store (struct saver *w, const struct pss_store *s) {
  struct pss_snap_store fixed;
  PSS_LINUX_PROCESS_INFORMATION rec = s->process;
  memset(&fixed, 0, sizeof fixed);
  fixed.capture_flags = s->flags;
  fixed.context_length = s->context_length;
  fixed.threads_frozen = s->threads_frozen;
  fixed.record_size = sizeof rec;
  fixed.freeze_cycles = s->freeze_cycles;
  fixed.freeze_us = s->freeze_us;
  fixed.perf = s->perf;
  rec.CommandLine = pool_ref(&s->pstrings, rec.CommandLine);
  rec.Comm = pool_ref(&s->pstrings, rec.Comm);
  rec.NotFrozen = pool_ref(&s->pstrings, rec.NotFrozen);
  return write_section(w, PSS_SNAP_STORE, 0, &fixed, sizeof fixed, &rec, sizeof rec);
}

static int write_tables (struct saver *w, const struct pss_store *s) {
  int i, rc;
  for (i = 1; i < PSS_TABLE_COUNT; i++) {
    const struct pss_table *t = &s->tables[i];
    struct pss_snap_rows rows = { t->count, (uint32_t)t->row_size, 0 };
    if ((rc = write_section(w, PSS_SNAP_ROWS, (uint32_t)i, &rows, sizeof rows,
                            t->rows.data, t->count * t->row_size)) < 0 ||
        (rc = write_section(w, PSS_SNAP_STRINGS, (uint32_t)i, t->strings.data,
                            t->strings.len, NULL, 0)) < 0)
      return rc;
  }
  return 0;
}

/* {======================================================================
** Memory (PSS_LINUX_SAVE_MEMORY)
** ======================================================================= */
#define RUN_MAX ((size_t)1 << 20)   /* bytes read, and at most written, per MEMORY section */
#define MEM_PAGE 4096u

struct memsaver {
  struct saver *w;
  const struct pss_store *s;
  unsigned char *buf;        /* RUN_MAX bytes */
  struct pss_buf ranges;     /* u64 start, end pairs, as the file holds them */
  int pagemap;               /* the clone's /proc/PID/pagemap, -1 if none */
  uint64_t done, total;      /* bytes of the regions gone through, and in all */
};

/* The snapshot's memory: a loaded one's file, else its clone. */
static ssize_t memory_read (const struct pss_store *s, uint64_t at, void *buf, size_t n) {
  return s->mem.count > 0 ? pss_filemem_read(&s->mem, at, buf, n)
                          : pss_clone_read(&s->clone, at, buf, n);
}

static int page_is_zero (const unsigned char *p, size_t n) {
  const uint64_t *w = (const uint64_t *)(const void *)p;
  size_t i;
  for (i = 0; i < n / 8; i++)
    if (w[i] != 0) return 0;
  for (i = n & ~(size_t)7; i < n; i++)
    if (p[i] != 0) return 0;
  return 1;
}

/* n bytes read from address at: each run of pages holding something is a
** MEMORY section; pages of zeros are left out (the ranges say they are
** zeros), as the kernel leaves holes in a core. */
static int write_runs (struct memsaver *m, uint64_t at, const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t start, len;
    unsigned char addr[8];
    int rc;
    while (i < n && page_is_zero(p + i, n - i < MEM_PAGE ? n - i : MEM_PAGE)) i += MEM_PAGE;
    if (i >= n) break;
    for (start = i; i < n && !page_is_zero(p + i, n - i < MEM_PAGE ? n - i : MEM_PAGE); )
      i += MEM_PAGE;
    len = (i < n ? i : n) - start;
    pss_snap_put32(addr, (uint32_t)(at + start));
    pss_snap_put32(addr + 4, (uint32_t)((at + start) >> 32));
    rc = write_section(m->w, PSS_SNAP_MEMORY, 0, addr, sizeof addr, p + start, len);
    if (rc < 0) return rc;
  }
  return 0;
}

static int add_range (struct memsaver *m, uint64_t start, uint64_t end) {
  unsigned char pair[16];
  uint64_t *last = m->ranges.len ? (uint64_t *)(void *)(m->ranges.data + m->ranges.len - 16)
                                 : NULL;
  if (last != NULL && last[1] == start) {     /* contiguous regions: one range */
    last[1] = end;
    return 0;
  }
  memcpy(pair, &start, 8);
  memcpy(pair + 8, &end, 8);
  return pss_buf_append(&m->ranges, pair, sizeof pair, 8) < 0 ? -ENOMEM : 0;
}

/* Whether a region's memory is there to save: what the clone holds (a
** loaded snapshot's file is simply read). PROT_NONE regions too: the clone
** reads them through /proc/PID/mem, and a loaded snapshot must answer as
** the captured one did. */
static int worth_saving (const struct pss_store *s, const PSS_LINUX_VA_SPACE_ENTRY *r) {
  if (s->mem.count > 0) return 1;
  return r->CloneCoverage == PSS_LINUX_CLONE_COPY || r->CloneCoverage == PSS_LINUX_CLONE_SHARED ||
         r->CloneCoverage == PSS_LINUX_CLONE_ZEROED;
}

/* Private anonymous memory, whose pages that are not there are zeros: no
** path, or "[heap]", "[stack]", "[anon:NAME]" -- not [vdso], whose pages
** the kernel puts in on the first touch. The row's Path is still an
** offset+1 into its pool. */
static int anonymous (const struct memsaver *m, const PSS_LINUX_VA_SPACE_ENTRY *r) {
  const struct pss_buf *pool = &m->s->tables[PSS_TABLE_REGIONS].strings;
  const char *path;
  size_t n = r->PathLength;
  if (r->Inode != 0 || r->Permissions[3] != 'p') return 0;
  if (n == 0) return 1;
  path = pool->data + (uintptr_t)r->Path - 1;
  return (n == 6 && memcmp(path, "[heap]", 6) == 0) || (n >= 6 && memcmp(path, "[stack", 6) == 0) ||
         (n > 6 && memcmp(path, "[anon:", 6) == 0);
}

/*
** Which pages of [at, at + n) of an anonymous private region the clone
** has (pagemap bit 63 present, 62 swapped): 1 with entries filled, 0 when
** the region is not such memory or pagemap cannot say. The pages it lacks
** are zeros, so they are not read: a 64 GiB PROT_NONE reservation (a JVM
** heap, ASan's shadow) is skipped instead of faulted into the clone, and
** a read of a missing page in a transparent-huge-page region, which can
** allocate a whole huge page there, never happens.
*/
static int present_pages (const struct memsaver *m, const PSS_LINUX_VA_SPACE_ENTRY *r,
                          uint64_t at, size_t n, uint64_t *entries) {
  size_t count = n / MEM_PAGE;
  if (m->pagemap < 0 || !anonymous(m, r) || count == 0 || n % MEM_PAGE != 0) return 0;
  return pread(m->pagemap, entries, count * 8, (off_t)(at / MEM_PAGE * 8)) ==
         (ssize_t)(count * 8);
}

static int clone_gone (void) {
  pss_fail_detail("the snapshot's VA clone is gone (killed, or the thread that captured "
                  "it exited)");
  return -ESRCH;
}

/* Bytes [at, at + n) into the file: read whole, or, with entries, only the
** runs of pages there. The bytes done from at (short: a page that could
** not be read ends the region), or -errno. */
static ssize_t save_chunk (struct memsaver *m, uint64_t at, size_t n, const uint64_t *entries) {
  size_t i = 0, count = n / MEM_PAGE;
  ssize_t got;
  int rc;
  if (entries == NULL) {
    if ((got = memory_read(m->s, at, m->buf, n)) == -ESRCH) return clone_gone();
    if (got > 0 && (rc = write_runs(m, at, m->buf, (size_t)got)) < 0) return rc;
    return got < 0 ? 0 : got;
  }
  while (i < count) {
    size_t j = i, want;
    if (entries[i] >> 62 == 0) {       /* not there: zeros */
      i++;
      continue;
    }
    while (j < count && entries[j] >> 62 != 0) j++;
    want = (j - i) * MEM_PAGE;
    if ((got = memory_read(m->s, at + i * MEM_PAGE, m->buf, want)) == -ESRCH) return clone_gone();
    if (got > 0 && (rc = write_runs(m, at + i * MEM_PAGE, m->buf, (size_t)got)) < 0) return rc;
    if (got < (ssize_t)want) return (ssize_t)(i * MEM_PAGE) + (got > 0 ? got : 0);
    i = j;
  }
  return (ssize_t)n;
}

/* A region's memory up to the first byte that cannot be read. */
static int save_region (struct memsaver *m, const PSS_LINUX_VA_SPACE_ENTRY *r) {
  uint64_t base = (uint64_t)(uintptr_t)r->Region.BaseAddress, at = base;
  uint64_t end = base + r->Region.RegionSize;
  uint64_t entries[RUN_MAX / MEM_PAGE];
  while (at < end) {
    size_t want = end - at < RUN_MAX ? (size_t)(end - at) : RUN_MAX;
    ssize_t got;
    pss_progress(m->done += want, m->total);
    got = save_chunk(m, at, want, present_pages(m, r, at, want, entries) ? entries : NULL);
    if (got < 0) return (int)got;
    at += (uint64_t)got;
    if ((size_t)got < want) break;
  }
  return at > base ? add_range(m, base, at) : 0;
}

static int save_memory (struct saver *w, const struct pss_store *s) {
  const struct pss_table *t = &s->tables[PSS_TABLE_REGIONS];
  struct memsaver m = { w, s, NULL, { 0 }, -1, 0, 0 };
  uint64_t done = 0;
  size_t i;
  int rc = 0;
  if ((m.buf = malloc(RUN_MAX)) == NULL) return -ENOMEM;
  if (s->mem.count == 0 && s->clone.pid > 0 && s->clone.owner == getpid())
    m.pagemap = pss_proc_open(s->clone.pid, "pagemap", O_RDONLY);
  for (i = 0; i < t->count; i++) {
    const PSS_LINUX_VA_SPACE_ENTRY *r = pss_table_row((struct pss_table *)t, i);
    if (worth_saving(s, r)) m.total += r->Region.RegionSize;
  }
  for (i = 0; i < t->count && rc == 0; i++) {
    const PSS_LINUX_VA_SPACE_ENTRY *r = pss_table_row((struct pss_table *)t, i);
    uint64_t base = (uint64_t)(uintptr_t)r->Region.BaseAddress;
    if (worth_saving(s, r) && base >= done) {   /* rows overlapping the last: skipped */
      rc = save_region(&m, r);
      done = base + r->Region.RegionSize;
    }
  }
  if (rc == 0)
    rc = write_section(w, PSS_SNAP_MEMRANGES, 0, m.ranges.data, m.ranges.len, NULL, 0);
  if (rc == 0) pss_progress(m.total, m.total);
  free(m.buf);
  pss_buf_free(&m.ranges);
  if (m.pagemap >= 0) close(m.pagemap);
  return rc;
}
/* }====================================================================== */


int pss_snapshot_save (const struct pss_store *s, int fd, unsigned flags) {
  int fl = fcntl(fd, F_GETFL);
  struct saver w = { .fd = fd, .nonblock = fl >= 0 && (fl & O_NONBLOCK) != 0 };
  int rc;
  guard_signals(&w);
  if ((rc = write_header(&w)) == 0 && (rc = write_store(&w, s)) == 0 &&
      (rc = write_section(&w, PSS_SNAP_PSTRINGS, 0, s->pstrings.data, s->pstrings.len,
                          NULL, 0)) == 0 &&
      (rc = write_tables(&w, s)) == 0 &&
      (!(flags & PSS_LINUX_SAVE_MEMORY) || (rc = save_memory(&w, s)) == 0))
    rc = write_section(&w, PSS_SNAP_END, 0, NULL, 0, NULL, 0);
  unguard_signals(&w);
  return rc;
}
/* }====================================================================== */


/* Flags and the snapshot's memory, checked before anything is written. */
static DWORD check_save (const struct pss_store *s, DWORD Flags) {
  if ((Flags & ~PSS_LINUX_SAVE_MEMORY) != 0) return pss_fail(ERROR_INVALID_PARAMETER);
  if ((Flags & PSS_LINUX_SAVE_MEMORY) && s->clone.pid <= 0 && s->mem.count == 0) {
    pss_fail_detail("the snapshot holds no memory to save (captured without "
                    "PSS_CAPTURE_VA_CLONE, or loaded from a file saved without it)");
    return pss_fail(ERROR_NOT_FOUND);
  }
  return ERROR_SUCCESS;
}

struct save_job { const struct pss_store *s; DWORD flags; };

static int put_snapshot (const void *ctx, int fd) {
  const struct save_job *j = ctx;
  return pss_snapshot_save(j->s, fd, j->flags);
}

/* Path or Fd (Path NULL); a cancelled write would leave the signal mask,
** a new file and the reference behind. */
static DWORD save (HPSS SnapshotHandle, const char *Path, int Fd, DWORD Flags) {
  struct pss_store *s;
  struct save_job job;
  struct pss_writer w = { put_snapshot, &job };
  DWORD code;
  int rc, cancel;
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  if ((code = check_save(s, Flags)) != ERROR_SUCCESS) {
    pss_store_release(s);
    return code;
  }
  job.s = s;
  job.flags = Flags;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  rc = Path != NULL ? pss_write_path(Path, &w) : pss_snapshot_save(s, Fd, Flags);
  pss_store_release(s);
  pthread_setcancelstate(cancel, NULL);
  return pss_win32_error(rc);
}

PSS_EXPORT DWORD PssLinuxSaveSnapshot (HPSS SnapshotHandle, int Fd, DWORD Flags) {
  int fl = Fd >= 0 ? fcntl(Fd, F_GETFL) : -1;
  pss_fail_detail(NULL);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
    pss_fail_detail(fl < 0 ? "Fd is not an open descriptor" : "Fd is not open for writing");
    return pss_fail(ERROR_INVALID_HANDLE);
  }
  return save(SnapshotHandle, NULL, Fd, Flags);
}

PSS_EXPORT DWORD PssLinuxSaveSnapshotFile (HPSS SnapshotHandle, const char *Path, DWORD Flags) {
  pss_fail_detail(NULL);
  if (Path == NULL || *Path == '\0') return pss_fail(ERROR_INVALID_PARAMETER);
  return save(SnapshotHandle, Path, -1, Flags);
}
