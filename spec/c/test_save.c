/*
** test_save.c -- PssLinuxSaveSnapshot and PssLinuxLoadSnapshot: a capture
** of the stack target with every option saved (to a memfd, to a pipe),
** loaded, and compared entry by entry with the original, pointer fields as
** the bytes they point to; the unwinder on both; and hostile files: empty,
** foreign, cut at every length, a bit flipped in every byte, rows rewritten
** behind valid checksums, lengths and counts far past the file.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "procfs.h"
#include "suites.h"
#include "linux/file/snapfile.h"

#define EVERYTHING (CAPTURE_EVERYTHING | PSS_CAPTURE_THREAD_CONTEXT | PSS_LINUX_CAPTURE_STACKS | \
                    PSS_CAPTURE_VA_CLONE | PSS_CREATE_MEASURE_PERFORMANCE)

static const char *detail (void) {
  return PssLinuxLastErrorDetail() != NULL ? PssLinuxLastErrorDetail() : "";
}


/* {======================================================================
** Targets, files
** ======================================================================= */

/* The stack target ($PSS_STACK_TARGET) with args, owned by the fixture. */
static struct target *stack_target (struct fixture *f, const char *const *args) {
  return fixture_start_stack_target(f, args);
}

static int new_memfd (void) {
  int fd = memfd_create("pss-save", MFD_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

/* The snapshot saved into a memfd, rewound. */
static int saved_to_memfd (HPSS s) {
  int fd = new_memfd();
  DWORD rc = PssLinuxSaveSnapshot(s, fd, 0);
  if (rc != ERROR_SUCCESS) fail_because("save: %s: %s", win32_error_name(rc), detail());
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

static HPSS load_fd (struct fixture *f, int fd) {
  HPSS l = NULL;
  DWORD rc = PssLinuxLoadSnapshot(fd, &l);
  if (rc != ERROR_SUCCESS) fail_because("load: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, l);
  return l;
}

/* The whole saved file, in memory (kept by the fixture). */
static unsigned char *file_bytes (struct fixture *f, HPSS s, size_t *n) {
  int fd = saved_to_memfd(s);
  off_t end = lseek(fd, 0, SEEK_END);
  unsigned char *b;
  assert_true(end > 0);
  assert_non_null(b = fixture_keep(f, malloc((size_t)end)));
  assert_int_equal(pread(fd, b, (size_t)end, 0), end);
  close(fd);
  *n = (size_t)end;
  return b;
}

/* PssLinuxLoadSnapshot of bytes (from a memfd); a success is freed. */
static DWORD load_bytes (const unsigned char *b, size_t n, HPSS *out) {
  int fd = new_memfd();
  HPSS l = NULL;
  DWORD rc;
  assert_int_equal(write(fd, b, n), (ssize_t)n);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  rc = PssLinuxLoadSnapshot(fd, &l);
  close(fd);
  if (out != NULL) *out = l;
  else if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, l);
  return rc;
}
/* PssLinuxLoadSnapshot of bytes that fit a pipe's buffer, from the pipe. */
static DWORD load_pipe (const unsigned char *b, size_t n) {
  HPSS l = NULL;
  DWORD rc;
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_true(n <= (size_t)fcntl(p[1], F_GETPIPE_SZ));
  assert_int_equal(write(p[1], b, n), (ssize_t)n);
  close(p[1]);
  rc = PssLinuxLoadSnapshot(p[0], &l);
  close(p[0]);
  if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, l);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Comparing two snapshots entry by entry
** ======================================================================= */
/* The pointer fields of an entry: where each is, and how many bytes it
** points to. */
struct ref { const void **field; size_t len; };

#define REF(r, k, e, f, n) ((r)[(k)].field = (const void **)(void *)&(e)->f, (r)[(k)++].len = (n))

static size_t entry_refs (PSS_WALK_INFORMATION_CLASS cls, void *entry, struct ref *r) {
  size_t k = 0;
  switch (cls) {
    case PSS_WALK_VA_SPACE: case PSS_WALK_LINUX_VA_SPACE: {
      PSS_LINUX_VA_SPACE_ENTRY *x = entry;
      REF(r, k, x, Region.MappedFileName, x->Region.MappedFileNameLength);
      if (cls != PSS_WALK_LINUX_VA_SPACE) break;
      REF(r, k, x, Path, x->PathLength);
      REF(r, k, x, Usage, x->Usage != NULL ? sizeof *x->Usage : 0);
      break;
    }
    case PSS_WALK_HANDLES: case PSS_WALK_LINUX_HANDLES: {
      PSS_LINUX_HANDLE_ENTRY *x = entry;
      REF(r, k, x, Handle.TypeName, x->Handle.TypeNameLength);
      REF(r, k, x, Handle.ObjectName, x->Handle.ObjectNameLength);
      if (cls == PSS_WALK_LINUX_HANDLES) REF(r, k, x, Target, x->TargetLength);
      break;
    }
    case PSS_WALK_THREADS: case PSS_WALK_LINUX_THREADS: {
      PSS_LINUX_THREAD_ENTRY *x = entry;
      REF(r, k, x, Thread.ContextRecord, x->Thread.SizeOfContextRecord);
      if (cls == PSS_WALK_LINUX_THREADS) REF(r, k, x, Name, x->NameLength);
      break;
    }
    case PSS_WALK_THREAD_NAME: {
      PSS_THREAD_NAME *x = entry;
      REF(r, k, x, ThreadName, x->ThreadNameSize);
      break;
    }
    case PSS_WALK_AUXILIARY_PAGES: {
      PSS_AUXILIARY_PAGE_ENTRY *x = entry;
      REF(r, k, x, PageContents, x->PageSize);
      break;
    }
    default: break;
  }
  return k;
}

/* Equal entries: each pointer field NULL in both or pointing to the same
** bytes; then every other byte the same. */
static void same_entry (PSS_WALK_INFORMATION_CLASS cls, void *a, void *b, size_t size) {
  struct ref ra[3], rb[3];
  size_t k, n = entry_refs(cls, a, ra);
  assert_int_equal(entry_refs(cls, b, rb), n);
  for (k = 0; k < n; k++) {
    assert_int_equal(*ra[k].field == NULL, *rb[k].field == NULL);
    assert_int_equal(ra[k].len, rb[k].len);
    if (*ra[k].field != NULL && ra[k].len > 0)
      assert_memory_equal(*ra[k].field, *rb[k].field, ra[k].len);
    *ra[k].field = *rb[k].field = NULL;
  }
  assert_memory_equal(a, b, size);
}

/* An entry folded into a CRC the same way: the bytes its pointers give,
** then the entry with its pointers cleared. */
static uint32_t entry_digest (uint32_t crc, PSS_WALK_INFORMATION_CLASS cls, void *e, size_t size) {
  struct ref r[3];
  size_t k, n = entry_refs(cls, e, r);
  for (k = 0; k < n; k++) {
    if (*r[k].field != NULL) crc = pss_snap_crc32(crc, *r[k].field, r[k].len);
    *r[k].field = NULL;
  }
  return pss_snap_crc32(crc, e, size);
}

static const PSS_WALK_INFORMATION_CLASS walks[] = {
  PSS_WALK_VA_SPACE, PSS_WALK_HANDLES, PSS_WALK_THREADS, PSS_WALK_THREAD_NAME,
  PSS_WALK_LINUX_VA_SPACE, PSS_WALK_LINUX_HANDLES, PSS_WALK_LINUX_THREADS,
  PSS_WALK_AUXILIARY_PAGES,
};

/* Every walk class gives the same entries, or the same refusal. */
static size_t same_walks (struct fixture *f, HPSS a, HPSS b) {
  size_t c, total = 0;
  for (c = 0; c < sizeof walks / sizeof walks[0]; c++) {
    size_t size = walk_entry_size(walks[c]), na, nb;
    HPSSWALK ma = NULL, mb = NULL;
    char ea[4096], eb[4096];
    DWORD ra, rb;
    assert_true(size <= sizeof ea);
    assert_code(PssWalkMarkerCreate(NULL, &ma), ERROR_SUCCESS);
    fixture_keep_marker(f, ma);
    assert_code(PssWalkMarkerCreate(NULL, &mb), ERROR_SUCCESS);
    fixture_keep_marker(f, mb);
    for (na = 0;; na++) {
      ra = PssWalkSnapshot(a, walks[c], ma, ea, (DWORD)size);
      rb = PssWalkSnapshot(b, walks[c], mb, eb, (DWORD)size);
      assert_code(rb, ra);
      if (ra != ERROR_SUCCESS) break;
      same_entry(walks[c], ea, eb, size);
    }
    nb = na;
    total += nb;
    /* freed here: a test walks many snapshots, more than the fixture keeps */
    fixture_forget_marker(f, ma);
    fixture_forget_marker(f, mb);
    assert_code(PssWalkMarkerFree(ma), ERROR_SUCCESS);
    assert_code(PssWalkMarkerFree(mb), ERROR_SUCCESS);
  }
  return total;
}

static const PSS_QUERY_INFORMATION_CLASS queries[] = {
  PSS_QUERY_PROCESS_INFORMATION, PSS_QUERY_AUXILIARY_PAGES_INFORMATION,
  PSS_QUERY_VA_SPACE_INFORMATION, PSS_QUERY_HANDLE_INFORMATION, PSS_QUERY_THREAD_INFORMATION,
  PSS_QUERY_HANDLE_TRACE_INFORMATION, PSS_QUERY_PERFORMANCE_COUNTERS,
  PSS_QUERY_LINUX_PROCESS_INFORMATION, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS,
};

/* Every query class the same (the VA clone's apart: a loaded snapshot has none). */
static void same_queries (HPSS a, HPSS b) {
  size_t c;
  for (c = 0; c < sizeof queries / sizeof queries[0]; c++) {
    size_t size = query_record_size(queries[c]);
    char qa[4096], qb[4096];
    DWORD ra, rb;
    memset(qa, 0, sizeof qa);
    memset(qb, 0, sizeof qb);
    ra = PssQuerySnapshot(a, queries[c], qa, (DWORD)size);
    rb = PssQuerySnapshot(b, queries[c], qb, (DWORD)size);
    assert_code(rb, ra);
    if (queries[c] == PSS_QUERY_LINUX_PROCESS_INFORMATION && ra == ERROR_SUCCESS) {
      PSS_LINUX_PROCESS_INFORMATION *x = (void *)qa, *y = (void *)qb;
      assert_int_equal(x->CommandLineLength, y->CommandLineLength);
      assert_non_null(x->CommandLine); assert_non_null(x->Comm); assert_non_null(x->NotFrozen);
      assert_non_null(y->CommandLine); assert_non_null(y->Comm); assert_non_null(y->NotFrozen);
      assert_memory_equal(x->CommandLine, y->CommandLine, x->CommandLineLength + 1);
      assert_memory_equal(x->Comm, y->Comm, x->CommLength + 1u);
      assert_memory_equal(x->NotFrozen, y->NotFrozen, x->NotFrozenLength + 1u);
      x->CommandLine = x->Comm = x->NotFrozen = NULL;
      y->CommandLine = y->Comm = y->NotFrozen = NULL;
    }
    assert_memory_equal(qa, qb, size);
  }
}

static void same_snapshot (struct fixture *f, HPSS a, HPSS b) {
  same_queries(a, b);
  note("%zu entries compared", same_walks(f, a, b));
}
/* }====================================================================== */


/* {======================================================================
** Round trips
** ======================================================================= */
static HPSS capture_everything (struct fixture *f, struct target **out) {
  const char *args[] = { "--threads", "3", "--depth", "4", NULL };
  struct target *t = stack_target(f, args);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = NULL;
  DWORD rc = PssCaptureSnapshot(h, EVERYTHING, CONTEXT_ALL, &s);
  if (rc != ERROR_SUCCESS) fail_because("capture: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, s);
  *out = t;
  return s;
}

static void a_memfd_round_trip_gives_every_entry (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l;
  int fd = saved_to_memfd(s);
  PSS_VA_CLONE_INFORMATION vc;
  char byte;
  SIZE_T got;
  l = load_fd(f, fd);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), lseek(fd, 0, SEEK_END));  /* read to its end */
  close(fd);
  same_snapshot(f, s, l);
  assert_true(query_thread_count(l) >= 4);
  assert_true(query_region_count(l) > 0);
  {  /* what makes this capture "every option" is in the loaded copy */
    PSS_AUXILIARY_PAGES_INFORMATION ap;
    PSS_THREAD_INFORMATION ti;
    size_t n;
    PSS_LINUX_THREAD_ENTRY *th = fixture_walk(f, l, PSS_WALK_LINUX_THREADS, &n);
    assert_code(PssQuerySnapshot(l, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, &ap, sizeof ap),
                ERROR_SUCCESS);
    assert_code(PssQuerySnapshot(l, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti), ERROR_SUCCESS);
    note("%u threads (contexts of %u bytes), %u stack pages, %u regions, %u handles",
         (unsigned)ti.ThreadsCaptured, (unsigned)ti.ContextLength, (unsigned)ap.AuxPagesCaptured,
         (unsigned)query_region_count(l), (unsigned)query_handle_count(l));
    assert_true(ap.AuxPagesCaptured > 0 && ti.ContextLength >= sizeof(CONTEXT));
    assert_true(n > 0 && th[0].Thread.ContextRecord != NULL);
  }
  /* no VA clone in a loaded snapshot */
  assert_code(PssQuerySnapshot(s, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc), ERROR_SUCCESS);
  assert_code(PssQuerySnapshot(l, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc), ERROR_NOT_FOUND);
  assert_code(PssLinuxReadSnapshotMemory(l, 4096, &byte, 1, &got), ERROR_NOT_FOUND);
}

struct pipe_writer { HPSS s; int fd; DWORD rc; };

static void *write_pipe (void *arg) {
  struct pipe_writer *w = arg;
  w->rc = PssLinuxSaveSnapshot(w->s, w->fd, 0);
  close(w->fd);
  return NULL;
}

/* A loaded snapshot saved again gives the same file, byte for byte. */
static void a_loaded_snapshot_saves_the_same_bytes (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l;
  size_t n, m;
  unsigned char *a = file_bytes(f, s, &n), *b;
  int fd = saved_to_memfd(s);
  l = load_fd(f, fd);
  close(fd);
  b = file_bytes(f, l, &m);
  note("%zu bytes", n);
  assert_int_equal(m, n);
  assert_memory_equal(a, b, n);
}

/* Through a small non-blocking pipe, read as it is written. */
static void a_pipe_round_trip_gives_every_entry (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l = NULL;
  struct pipe_writer w = { s, -1, 0 };
  pthread_t th;
  int p[2];
  DWORD rc;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  /* a one-page, non-blocking pipe: the writer meets EAGAIN and waits for room */
  assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
  assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  w.fd = p[1];
  assert_int_equal(pthread_create(&th, NULL, write_pipe, &w), 0);
  rc = PssLinuxLoadSnapshot(p[0], &l);
  close(p[0]);
  pthread_join(th, NULL);
  if (rc != ERROR_SUCCESS) fail_because("load from a pipe: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, l);
  assert_code(w.rc, ERROR_SUCCESS);
  same_snapshot(f, s, l);
}

/* Every walk and query of a snapshot folded into one CRC, with plain code
** (no cmocka): a forked child runs it. */
static uint32_t snapshot_digest (HPSS s, size_t *entries) {
  uint32_t crc = 0;
  size_t c;
  *entries = 0;
  for (c = 0; c < sizeof walks / sizeof walks[0]; c++) {
    size_t size = walk_entry_size(walks[c]);
    HPSSWALK m = NULL;
    char e[4096];
    DWORD rc;
    if (PssWalkMarkerCreate(NULL, &m) != ERROR_SUCCESS) return 0;
    while ((rc = PssWalkSnapshot(s, walks[c], m, e, (DWORD)size)) == ERROR_SUCCESS) {
      crc = entry_digest(crc, walks[c], e, size);
      ++*entries;
    }
    crc = pss_snap_crc32(crc, &rc, sizeof rc);
    PssWalkMarkerFree(m);
  }
  for (c = 0; c < sizeof queries / sizeof queries[0]; c++) {
    char q[4096];
    DWORD rc;
    memset(q, 0, sizeof q);
    rc = PssQuerySnapshot(s, queries[c], q, (DWORD)query_record_size(queries[c]));
    if (queries[c] == PSS_QUERY_LINUX_PROCESS_INFORMATION && rc == ERROR_SUCCESS) {
      PSS_LINUX_PROCESS_INFORMATION *x = (void *)q;
      crc = pss_snap_crc32(crc, x->CommandLine, x->CommandLineLength);
      crc = pss_snap_crc32(crc, x->Comm, x->CommLength);
      crc = pss_snap_crc32(crc, x->NotFrozen, x->NotFrozenLength);
      x->CommandLine = x->Comm = x->NotFrozen = NULL;
    }
    crc = pss_snap_crc32(crc, &rc, sizeof rc);
    crc = pss_snap_crc32(crc, q, query_record_size(queries[c]));
  }
  return crc;
}

/* Loaded in another process (a fork that never saw the snapshot's
** entries): the same digest of every walk and query. */
static void another_process_loads_the_same_entries (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t);
  int fd = saved_to_memfd(s), p[2], status;
  size_t want_n, got[2] = { 0, 0 };
  uint32_t want = snapshot_digest(s, &want_n);
  struct pollfd in;
  pid_t child;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  if ((child = fork()) == 0) {
    HPSS l = NULL;
    size_t out[2] = { 0, 0 };
    if (PssLinuxLoadSnapshot(fd, &l) == ERROR_SUCCESS) out[0] = snapshot_digest(l, &out[1]);
    _exit(write(p[1], out, sizeof out) == sizeof out ? 0 : 1);
  }
  assert_true(child > 0);
  close(p[1]);
  in = (struct pollfd){ p[0], POLLIN, 0 };
  if (poll(&in, 1, 20000) == 1) assert_int_equal(read(p[0], got, sizeof got), sizeof got);
  else kill(child, SIGKILL);
  close(p[0]);
  close(fd);
  assert_int_equal(waitpid(child, &status, 0), child);
  note("%zu entries, digest %08x; the other process: %zu, %08x", want_n, (unsigned)want,
       got[1], (unsigned)got[0]);
  assert_int_equal(status, 0);
  assert_int_equal(got[1], want_n);
  assert_int_equal(got[0], want);
}

/* Positions taken on the loaded snapshot find the same entries again;
** its duplicate walks the same; freeing one leaves the other whole. */
static void markers_positions_and_duplicates_work_on_a_loaded_snapshot (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l, d = NULL;
  HPSSWALK m = fixture_marker(f);
  PSS_LINUX_VA_SPACE_ENTRY e1, e2;
  ULONG_PTR pos;
  int fd = saved_to_memfd(s);
  l = load_fd(f, fd);
  close(fd);
  assert_code(PssWalkSnapshot(l, PSS_WALK_LINUX_VA_SPACE, m, &e1, sizeof e1), ERROR_SUCCESS);
  assert_code(PssWalkMarkerGetPosition(m, &pos), ERROR_SUCCESS);
  assert_code(PssWalkSnapshot(l, PSS_WALK_LINUX_VA_SPACE, m, &e1, sizeof e1), ERROR_SUCCESS);
  assert_code(PssWalkMarkerSetPosition(m, pos), ERROR_SUCCESS);
  assert_code(PssWalkSnapshot(l, PSS_WALK_LINUX_VA_SPACE, m, &e2, sizeof e2), ERROR_SUCCESS);
  same_entry(PSS_WALK_LINUX_VA_SPACE, &e1, &e2, sizeof e1);
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, l, PSS_LINUX_CURRENT_PROCESS, &d, 0),
              ERROR_SUCCESS);
  fixture_keep_snapshot(f, d);
  fixture_forget_snapshot(f, l);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, l), ERROR_SUCCESS);
  same_snapshot(f, s, d);
}

/* The unwinder gives the same frames from the saved stacks. */
static void the_unwinder_gives_the_same_frames (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l;
  HPSSUNWIND us = NULL, ul = NULL;
  int fd = saved_to_memfd(s);
  size_t i, frames = 0;
  DWORD rc;
  l = load_fd(f, fd);
  close(fd);
  rc = PssLinuxUnwinderCreate(s, NULL, &us);
  if (rc == ERROR_NOT_SUPPORTED) skip_because("this libpss unwinds nothing (PSS_UNWIND=none)");
  if (rc != ERROR_SUCCESS) fail_because("unwinder: %s: %s", win32_error_name(rc), detail());
  rc = PssLinuxUnwinderCreate(l, NULL, &ul);
  if (rc != ERROR_SUCCESS) {
    PssLinuxUnwinderFree(us);
    fail_because("unwinder of the loaded snapshot: %s: %s", win32_error_name(rc), detail());
  }
  for (i = 0; i < t->thread_count; i++) {
    PSS_LINUX_STACK *a = NULL, *b = NULL;
    DWORD k, ra = PssLinuxUnwindThread(us, (DWORD)t->threads[i].tid, 0, &a);
    DWORD rb = PssLinuxUnwindThread(ul, (DWORD)t->threads[i].tid, 0, &b);
    assert_code(rb, ra);
    if (ra == ERROR_SUCCESS) {
      fixture_keep(f, a);
      fixture_keep(f, b);
      assert_int_equal(b->FrameCount, a->FrameCount);
      assert_int_equal(b->EndReason, a->EndReason);
      for (k = 0; k < a->FrameCount; k++) {
        assert_int_equal(b->Frames[k].ProgramCounter, a->Frames[k].ProgramCounter);
        assert_int_equal(b->Frames[k].Method, a->Frames[k].Method);
        assert_string_equal(b->Frames[k].Symbol, a->Frames[k].Symbol);
        assert_string_equal(b->Frames[k].ModulePath, a->Frames[k].ModulePath);
      }
      frames += a->FrameCount;
    }
  }
  note("%zu frames compared over %zu threads", frames, t->thread_count);
  assert_true(frames >= t->thread_count * 3);
  assert_code(PssLinuxUnwinderFree(us), ERROR_SUCCESS);
  assert_code(PssLinuxUnwinderFree(ul), ERROR_SUCCESS);
}
/* }====================================================================== */


/* {======================================================================
** Arguments and hostile files
** ======================================================================= */
static void bad_descriptors_and_flags_are_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_THREADS), l = NULL;
  int fd = new_memfd(), ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_code(PssLinuxSaveSnapshot(s, -1, 0), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxSaveSnapshot(s, ro, 0), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxSaveSnapshot(NULL, fd, 0), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxSaveSnapshot(s, fd, 0x80), ERROR_INVALID_PARAMETER);
  assert_code(PssLinuxLoadSnapshot(-1, &l), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxLoadSnapshot(fd, NULL), ERROR_INVALID_PARAMETER);
  assert_int_equal(lseek(fd, 0, SEEK_END), 0);   /* nothing was written */
  assert_code(PssLinuxLoadSnapshot(fd, &l), ERROR_BAD_FORMAT);   /* empty */
  assert_int_equal(write(fd, "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 26), 26);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  assert_code(PssLinuxLoadSnapshot(fd, &l), ERROR_BAD_FORMAT);
  note("a core: %s", detail());
  close(fd);
  close(ro);
}

/* A pipe without a reader: ERROR_BROKEN_PIPE, and the SIGPIPE that would
** kill the test is neither delivered nor left pending. */
static void a_pipe_without_reader_is_a_broken_pipe (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_THREADS);
  sigset_t pending;
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  assert_code(PssLinuxSaveSnapshot(s, p[1], 0), ERROR_BROKEN_PIPE);
  note("%s", detail());
  close(p[1]);
  assert_int_equal(sigpending(&pending), 0);
  assert_false(sigismember(&pending, SIGPIPE));
}

/* A small saved file: the test target's threads only. */
static unsigned char *small_file (struct fixture *f, size_t *n) {
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_THREADS | PSS_CAPTURE_HANDLES);
  return file_bytes(f, s, n);
}

static void a_file_cut_anywhere_is_a_bad_format (void **state) {
  struct fixture *f = FIXTURE(state);
  size_t n, cut;
  unsigned char *b = small_file(f, &n);
  note("%zu bytes", n);
  assert_code(load_bytes(b, n, NULL), ERROR_SUCCESS);
  for (cut = 0; cut < n; cut++)
    if (load_bytes(b, cut, NULL) != ERROR_BAD_FORMAT)
      fail_because("a file cut at %zu of %zu bytes loaded or failed otherwise", cut, n);
}

/* Walks every class and reads every byte a pointer gives (ASan checks them). */
static void walk_everything (struct fixture *f, HPSS l) {
  (void)same_walks(f, l, l);
  same_queries(l, l);
}

static void a_flipped_bit_is_found (void **state) {
  struct fixture *f = FIXTURE(state);
  size_t n, i, loaded = 0;
  unsigned char *b = small_file(f, &n);
  for (i = 0; i < n; i++) {
    HPSS l = NULL;
    DWORD rc;
    b[i] ^= (unsigned char)(1u << (i % 8));
    rc = load_bytes(b, n, &l);
    b[i] ^= (unsigned char)(1u << (i % 8));
    if (rc == ERROR_SUCCESS) {
      loaded++;
      walk_everything(f, l);
      PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, l);
    } else if (rc != ERROR_BAD_FORMAT && rc != ERROR_NOT_SUPPORTED) {
      fail_because("byte %zu flipped: %s", i, win32_error_name(rc));
    }
  }
  note("%zu of %zu flips loaded (the checksums missed them)", loaded, n);
  assert_int_equal(loaded, 0);
}

/* The sections of a file: offsets of their headers. */
static size_t sections (const unsigned char *b, size_t n, size_t *at, size_t max) {
  size_t off = PSS_SNAP_HEADER_LEN, k = 0;
  while (off + PSS_SNAP_SECTION_LEN <= n && k < max) {
    uint64_t len = pss_snap_get32(b + off + 8) | (uint64_t)pss_snap_get32(b + off + 12) << 32;
    at[k++] = off;
    off += PSS_SNAP_SECTION_LEN + (size_t)len;
  }
  return k;
}

/* The section at off gets checksums that hold again. */
static void reseal (unsigned char *b, size_t off) {
  uint64_t len = pss_snap_get32(b + off + 8) | (uint64_t)pss_snap_get32(b + off + 12) << 32;
  pss_snap_put32(b + off + 16, pss_snap_crc32(0, b + off + PSS_SNAP_SECTION_LEN, (size_t)len));
  pss_snap_put32(b + off + 20, pss_snap_crc32(0, b + off, 20));
}

/* Rows and records rewritten byte by byte behind valid checksums: the
** loader's own checks must refuse what points outside a pool. */
static void rewritten_rows_stay_within_their_pools (void **state) {
  struct fixture *f = FIXTURE(state);
  static const unsigned char values[] = { 0xFF, 0x7F, 0x01, 0x00, 0x40 };
  size_t n, at[16], k, s, i, v, loaded = 0, tried = 0;
  unsigned char *b = small_file(f, &n);
  size_t nvalues = under_valgrind() ? 2 : sizeof values;   /* 45 s under valgrind else */
  k = sections(b, n, at, 16);
  for (s = 0; s < k; s++) {
    uint32_t type = pss_snap_get32(b + at[s]);
    uint64_t len = pss_snap_get32(b + at[s] + 8);
    if (type != PSS_SNAP_STORE && type != PSS_SNAP_ROWS) continue;
    for (i = 0; i < len; i++)
      for (v = 0; v < nvalues; v++) {
        unsigned char *p = b + at[s] + PSS_SNAP_SECTION_LEN + i, keep = *p;
        HPSS l = NULL;
        DWORD rc;
        if (keep == values[v]) continue;
        *p = values[v];
        reseal(b, at[s]);
        rc = load_bytes(b, n, &l);
        *p = keep;
        reseal(b, at[s]);
        tried++;
        if (rc == ERROR_SUCCESS) {
          loaded++;
          walk_everything(f, l);
          PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, l);
        } else if (rc != ERROR_BAD_FORMAT) {
          fail_because("section %zu byte %zu = 0x%02x: %s", s, i, values[v], win32_error_name(rc));
        }
      }
  }
  note("%zu rewrites, %zu loaded and walked within bounds", tried, loaded);
  assert_true(tried > 0);
}

/* A length or count far past the file is refused before it is allocated
** (ASan's allocator would abort on a 2^62-byte request). */
static void lengths_past_the_file_are_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  size_t n, at[16], k, s;
  unsigned char *b = small_file(f, &n), *c;
  assert_non_null(c = fixture_keep(f, malloc(n)));
  k = sections(b, n, at, 16);
  for (s = 0; s < k; s++) {
    memcpy(c, b, n);
    pss_snap_put32(c + at[s] + 12, 0x40000000u);       /* 2^62 bytes */
    pss_snap_put32(c + at[s] + 20, pss_snap_crc32(0, c + at[s], 20));
    assert_code(load_bytes(c, n, NULL), ERROR_BAD_FORMAT);
    assert_code(load_pipe(c, n), ERROR_BAD_FORMAT);   /* no file length to check against */
    if (pss_snap_get32(b + at[s]) == PSS_SNAP_ROWS) {   /* a count of 2^40 rows */
      memcpy(c, b, n);
      pss_snap_put32(c + at[s] + PSS_SNAP_SECTION_LEN + 4, 0x100);
      reseal(c, at[s]);
      assert_code(load_bytes(c, n, NULL), ERROR_BAD_FORMAT);
    }
  }
}

static void a_newer_major_is_refused_and_a_newer_minor_read (void **state) {
  struct fixture *f = FIXTURE(state);
  size_t n;
  unsigned char *b = small_file(f, &n);
  b[8] = PSS_SNAP_MAJOR + 1;
  pss_snap_put32(b + 20, pss_snap_crc32(0, b, 20));
  assert_code(load_bytes(b, n, NULL), ERROR_NOT_SUPPORTED);
  note("%s", detail());
  assert_non_null(strstr(detail(), "newer"));
  b[8] = PSS_SNAP_MAJOR;
  b[10] = PSS_SNAP_MINOR + 1;
  pss_snap_put32(b + 20, pss_snap_crc32(0, b, 20));
  assert_code(load_bytes(b, n, NULL), ERROR_SUCCESS);
  {  /* a section this reader does not know, before END, is skipped */
    static const char payload[] = "a section of version 1.1";
    unsigned char *c = fixture_keep(f, malloc(n + PSS_SNAP_SECTION_LEN + sizeof payload));
    size_t end = n - PSS_SNAP_SECTION_LEN;
    assert_non_null(c);
    assert_int_equal(pss_snap_get32(b + end), PSS_SNAP_END);
    memcpy(c, b, end);
    memset(c + end, 0, PSS_SNAP_SECTION_LEN);
    pss_snap_put32(c + end, 99);
    pss_snap_put32(c + end + 8, sizeof payload);
    memcpy(c + end + PSS_SNAP_SECTION_LEN, payload, sizeof payload);
    reseal(c, end);
    memcpy(c + end + PSS_SNAP_SECTION_LEN + sizeof payload, b + end, PSS_SNAP_SECTION_LEN);
    assert_code(load_bytes(c, n + PSS_SNAP_SECTION_LEN + sizeof payload, NULL), ERROR_SUCCESS);
  }
}
/* }====================================================================== */


/* {======================================================================
** Saved memory (PSS_LINUX_SAVE_MEMORY)
** ======================================================================= */
struct mem_writer { HPSS s; int fd; DWORD flags, rc; };

static void *write_memory_pipe (void *arg) {
  struct mem_writer *w = arg;
  w->rc = PssLinuxSaveSnapshot(w->s, w->fd, w->flags);
  close(w->fd);
  return NULL;
}

/* Loaded from a pipe that the snapshot is saved into meanwhile. */
static HPSS load_through_pipe (struct fixture *f, HPSS s, DWORD flags) {
  struct mem_writer w = { s, -1, flags, 0 };
  HPSS l = NULL;
  pthread_t th;
  int p[2];
  DWORD rc;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  w.fd = p[1];
  assert_int_equal(pthread_create(&th, NULL, write_memory_pipe, &w), 0);
  rc = PssLinuxLoadSnapshot(p[0], &l);
  close(p[0]);
  pthread_join(th, NULL);
  if (rc != ERROR_SUCCESS) fail_because("load from a pipe: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, l);
  assert_code(w.rc, ERROR_SUCCESS);
  return l;
}

/* Every region of a reads the same from b, a MiB at a time: the same
** answer, the same count, the same bytes. Returns the bytes compared. */
static uint64_t same_memory (struct fixture *f, HPSS a, HPSS b) {
  static unsigned char x[1 << 20], y[1 << 20];
  size_t n, i;
  uint64_t total = 0;
  PSS_LINUX_VA_SPACE_ENTRY *r = fixture_walk(f, a, PSS_WALK_LINUX_VA_SPACE, &n);
  for (i = 0; i < n; i++) {
    uint64_t at = (uint64_t)(uintptr_t)r[i].Region.BaseAddress;
    uint64_t end = at + r[i].Region.RegionSize;
    if (r[i].CloneCoverage != PSS_LINUX_CLONE_COPY) continue;
    while (at < end) {
      SIZE_T want = end - at < sizeof x ? (SIZE_T)(end - at) : sizeof x, gx = 0, gy = 0;
      DWORD ra = PssLinuxReadSnapshotMemory(a, at, x, want, &gx);
      DWORD rb = PssLinuxReadSnapshotMemory(b, at, y, want, &gy);
      if (ra != rb || gx != gy)
        fail_because("at 0x%llx (%s): %s %zu bytes, loaded %s %zu", (unsigned long long)at,
                     r[i].Path, win32_error_name(ra), (size_t)gx, win32_error_name(rb), (size_t)gy);
      if (memcmp(x, y, gx) != 0)
        fail_because("the bytes at 0x%llx (%s) differ", (unsigned long long)at, r[i].Path);
      total += gx;
      if (gx < want) break;
      at += want;
    }
  }
  return total;
}

static void saved_memory_reads_as_the_clone_did (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l, p;
  int fd = new_memfd();
  SIZE_T got;
  char byte;
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  note("%lld bytes with memory", (long long)lseek(fd, 0, SEEK_CUR));
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  l = load_fd(f, fd);
  close(fd);                           /* the loaded snapshot keeps its own */
  note("%llu bytes read alike from a memfd", (unsigned long long)same_memory(f, s, l));
  same_snapshot(f, s, l);
  p = load_through_pipe(f, s, PSS_LINUX_SAVE_MEMORY);
  assert_true(same_memory(f, s, p) > 0);
  /* what the clone does not hold is not made up by the file either */
  assert_code(PssLinuxReadSnapshotMemory(l, 0, &byte, 1, &got), ERROR_PARTIAL_COPY);
  assert_int_equal(got, 0);
  /* without the flag, the tables only: no memory */
  p = load_through_pipe(f, s, 0);
  assert_code(PssLinuxReadSnapshotMemory(p, 0, &byte, 1, &got), ERROR_NOT_FOUND);
}

/* A snapshot loaded with its memory saves it again, byte for byte. */
static void saved_memory_saves_again_the_same (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t), l;
  int fd = new_memfd(), again = new_memfd();
  off_t n, m;
  unsigned char *a, *b;
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  n = lseek(fd, 0, SEEK_CUR);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  l = load_fd(f, fd);
  assert_code(PssLinuxSaveSnapshot(l, again, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  m = lseek(again, 0, SEEK_CUR);
  assert_int_equal(m, n);
  assert_non_null(a = fixture_keep(f, malloc((size_t)n)));
  assert_non_null(b = fixture_keep(f, malloc((size_t)n)));
  assert_int_equal(pread(fd, a, (size_t)n, 0), n);
  assert_int_equal(pread(again, b, (size_t)n, 0), n);
  assert_memory_equal(a, b, (size_t)n);
  close(fd);
  close(again);
}

/* One section with checksums that hold, at out; returns its size. */
static size_t put_section (unsigned char *out, uint32_t type, const void *payload, size_t len) {
  memset(out, 0, PSS_SNAP_SECTION_LEN);
  pss_snap_put32(out, type);
  pss_snap_put32(out + 8, (uint32_t)len);
  memcpy(out + PSS_SNAP_SECTION_LEN, payload, len);
  reseal(out, 0);
  return PSS_SNAP_SECTION_LEN + len;
}

static size_t put_memory (unsigned char *out, uint64_t address, unsigned char fill, size_t len) {
  unsigned char p[8 + 8192];
  assert_true(len <= 8192);
  memcpy(p, &address, 8);
  memset(p + 8, fill, len);
  return put_section(out, PSS_SNAP_MEMORY, p, 8 + len);
}

static size_t put_ranges (unsigned char *out, const uint64_t *pairs, size_t npairs) {
  return put_section(out, PSS_SNAP_MEMRANGES, pairs, npairs * 16);
}

/* The small file with `extra` inserted before its END section. */
static DWORD load_with (struct fixture *f, const unsigned char *extra, size_t nextra, HPSS *out) {
  size_t n;
  unsigned char *b = small_file(f, &n), *c;
  size_t end = n - PSS_SNAP_SECTION_LEN;
  assert_non_null(c = fixture_keep(f, malloc(n + nextra)));
  memcpy(c, b, end);
  memcpy(c + end, extra, nextra);
  memcpy(c + end + nextra, b + end, PSS_SNAP_SECTION_LEN);
  return load_bytes(c, n + nextra, out);
}

/* Memory written by hand: runs inside ranges read back, the gaps as
** zeros, past the ranges nothing; and every inconsistency refused. */
static void crafted_memory_is_read_or_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  static unsigned char x[64 * 1024];
  const uint64_t base = 0x7f0000000000ull;
  const uint64_t ranges[] = { base, base + 0x4000, base + 0x8000, base + 0x9000 };
  const uint64_t descending[] = { base + 0x8000, base + 0x9000, base, base + 0x4000 };
  unsigned char buf[8192];
  size_t n = 0, i;
  SIZE_T got;
  HPSS l = NULL;
  n += put_memory(x + n, base + 0x1000, 0xAB, 0x1000);
  n += put_memory(x + n, base + 0x8000, 0xCD, 0x800);
  n += put_ranges(x + n, ranges, 2);
  assert_code(load_with(f, x, n, &l), ERROR_SUCCESS);
  fixture_keep_snapshot(f, l);
  assert_code(PssLinuxReadSnapshotMemory(l, base, buf, 0x2000, &got), ERROR_SUCCESS);
  for (i = 0; i < 0x2000; i++) assert_int_equal(buf[i], i < 0x1000 ? 0 : 0xAB);
  assert_code(PssLinuxReadSnapshotMemory(l, base + 0x3800, buf, 0x1000, &got), ERROR_PARTIAL_COPY);
  assert_int_equal(got, 0x800);
  assert_code(PssLinuxReadSnapshotMemory(l, base + 0x8400, buf, 0x800, &got), ERROR_SUCCESS);
  assert_int_equal(buf[0x3ff], 0xCD);
  assert_int_equal(buf[0x400], 0);
  /* refused: a run outside every range, overlapping runs, ranges out of
  ** order, memory without ranges, two range sections, a short MEMORY, a
  ** ranges length not of pairs, a run wrapping around */
  n = put_memory(x, base + 0x5000, 1, 16);
  n += put_ranges(x + n, ranges, 2);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  note("%s", detail());
  n = put_memory(x, base + 0x1000, 1, 0x1000);
  n += put_memory(x + n, base + 0x1800, 1, 0x1000);
  n += put_ranges(x + n, ranges, 2);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_ranges(x, descending, 2);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_memory(x, base, 1, 16);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_ranges(x, ranges, 2);
  n += put_ranges(x + n, ranges, 2);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_section(x, PSS_SNAP_MEMORY, "1234", 4);
  n += put_ranges(x + n, ranges, 2);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_section(x, PSS_SNAP_MEMRANGES, ranges, 24);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
  n = put_memory(x, UINT64_MAX - 8, 1, 4096);
  assert_code(load_with(f, x, n, NULL), ERROR_BAD_FORMAT);
}

/* A reservation nobody touched (a JVM heap, ASan's shadow) is not read:
** its pages are zeros, the clone's pagemap says none is there, and reading
** them would fault each into the clone (the clone's RSS would grow by the
** reservation's size). The calling process is the target: it makes one. */
static void an_untouched_reservation_is_not_read (void **state) {
  struct fixture *f = FIXTURE(state);
  const size_t size = (size_t)1 << 30;
  unsigned char *rw = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  unsigned char *none = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                             -1, 0);
  HPSS s = NULL, l;
  PSS_VA_CLONE_INFORMATION vc;
  DWORD clone = 0;
  long long before, after;
  int fd = new_memfd();
  unsigned char got8[8];
  SIZE_T got;
  assert_true(rw != MAP_FAILED && none != MAP_FAILED);
  rw[size / 2] = 0x5a;                       /* one page of the gigabyte is there */
  assert_code(PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_VA_SPACE |
                                 PSS_CAPTURE_VA_CLONE, 0, &s), ERROR_SUCCESS);
  fixture_keep_snapshot(f, s);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc), ERROR_SUCCESS);
  assert_code(PssLinuxGetProcessId(vc.VaCloneHandle, &clone), ERROR_SUCCESS);
  before = proc_status_value((pid_t)clone, "RssAnon");   /* file pages read come in too */
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  after = proc_status_value((pid_t)clone, "RssAnon");
  note("the clone's RssAnon %lld kB before the save, %lld kB after; file %lld bytes", before, after,
       (long long)lseek(fd, 0, SEEK_CUR));
  assert_true(after - before < 64 * 1024);   /* of the reservation's 1 GiB */
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  l = load_fd(f, fd);
  close(fd);
  assert_code(PssLinuxReadSnapshotMemory(l, (uintptr_t)rw + size / 2, got8, 8, &got), ERROR_SUCCESS);
  assert_int_equal(got8[0], 0x5a);
  assert_code(PssLinuxReadSnapshotMemory(l, (uintptr_t)rw + 4096, got8, 8, &got), ERROR_SUCCESS);
  assert_int_equal(got8[0], 0);
  assert_code(PssLinuxReadSnapshotMemory(l, (uintptr_t)none + size - 8, got8, 8, &got),
              ERROR_SUCCESS);
  assert_int_equal(got8[7], 0);
  munmap(rw, size);
  munmap(none, size);
}


/* The progress routine hears of a memory save, forwards only, up to its
** total; it is the calling thread's, and a NULL one hears nothing. */
static void progress_reaches_the_total (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_everything(f, &t);
  struct progress_log log = { 0, 0, 0, 0 };
  int fd = new_memfd();
  assert_code(PssLinuxSetProgressRoutine(progress_log_routine, &log), ERROR_SUCCESS);
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  assert_code(PssLinuxSetProgressRoutine(NULL, NULL), ERROR_SUCCESS);
  note("%u reports, %llu bytes in all", log.calls, (unsigned long long)log.total);
  assert_true(log.calls >= 2);
  assert_int_equal(log.backwards, 0);
  assert_true(log.total > 0);
  assert_true(log.last == log.total);
  log.calls = 0;
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_SUCCESS);
  assert_int_equal(log.calls, 0);
  close(fd);
}

/* Memory that a snapshot does not hold cannot be saved. */
static void memory_without_a_clone_is_not_found (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_THREADS);
  int fd = new_memfd();
  assert_code(PssLinuxSaveSnapshot(s, fd, PSS_LINUX_SAVE_MEMORY), ERROR_NOT_FOUND);
  note("%s", detail());
  assert_int_equal(lseek(fd, 0, SEEK_END), 0);   /* nothing was written */
  close(fd);
}
/* }====================================================================== */


/* The fixed corpus of spec/fuzz/loader-corpus (the fuzzer's seeds, made
** by loader-seeds.py): the sound files load and walk, every hostile one is
** refused with a detail -- by name, after its "vN-" (the format version it
** was written in, every one this build reads): "snapshot*" and
** "core-small" load, "newer-major" is ERROR_NOT_SUPPORTED, anything else
** ERROR_BAD_FORMAT. */
static void the_bad_file_corpus_is_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  const char *dir = "spec/fuzz/loader-corpus";
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t files = 0;
  if (d == NULL) fail_because("%s: %s (run from the repository's top)", dir, strerror(errno));
  while ((e = readdir(d)) != NULL) {
    char path[512];
    const char *name;
    HPSS l = NULL;
    DWORD rc, want;
    int fd;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
    rc = PssLinuxLoadSnapshot(fd, &l);
    close(fd);
    name = e->d_name[0] == 'v' && strchr(e->d_name, '-') != NULL
           ? strchr(e->d_name, '-') + 1 : e->d_name;
    want = strncmp(name, "snapshot", 8) == 0 || strcmp(name, "core-small.core") == 0
           ? ERROR_SUCCESS : strncmp(name, "newer-major", 11) == 0 ? ERROR_NOT_SUPPORTED
           : ERROR_BAD_FORMAT;
    if (rc != want)
      fail_because("%s: %s, expected %s (%s)", e->d_name, win32_error_name(rc),
                   win32_error_name(want), detail());
    if (rc == ERROR_SUCCESS) {
      fixture_keep_snapshot(f, l);
      walk_everything(f, l);
    } else {
      assert_true(detail()[0] != '\0');
      note("%s: %s", e->d_name, detail());
    }
    files++;
  }
  closedir(d);
  assert_true(files >= 10);
}

int run_save_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(a_memfd_round_trip_gives_every_entry),
    fixture_test(a_pipe_round_trip_gives_every_entry),
    fixture_test(a_loaded_snapshot_saves_the_same_bytes),
    fixture_test(another_process_loads_the_same_entries),
    fixture_test(markers_positions_and_duplicates_work_on_a_loaded_snapshot),
    fixture_test(the_unwinder_gives_the_same_frames),
    fixture_test(bad_descriptors_and_flags_are_refused),
    fixture_test(a_pipe_without_reader_is_a_broken_pipe),
    fixture_test(a_file_cut_anywhere_is_a_bad_format),
    fixture_test(a_flipped_bit_is_found),
    fixture_test(rewritten_rows_stay_within_their_pools),
    fixture_test(lengths_past_the_file_are_refused),
    fixture_test(a_newer_major_is_refused_and_a_newer_minor_read),
    fixture_test(saved_memory_reads_as_the_clone_did),
    fixture_test(saved_memory_saves_again_the_same),
    fixture_test(crafted_memory_is_read_or_refused),
    fixture_test(memory_without_a_clone_is_not_found),
    fixture_test(an_untouched_reservation_is_not_read),
    fixture_test(progress_reaches_the_total),
    fixture_test(the_bad_file_corpus_is_refused),
  };
  return cmocka_run_group_tests_name("save", tests, NULL, NULL);
}
