/*
** test_usage.c -- PSS_LINUX_CAPTURE_MEMORY_USAGE against /proc/PID/smaps
** and smaps_rollup, read here on their own (sscanf, not libpss's parser)
** while the target is stopped.
*/
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"
#include "linux/file/snapfile.h"

/* The smaps lines behind PSS_LINUX_MEMORY_USAGE, in its member order. */
static char const *const usage_lines[] = {
  "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
  "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
  "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap",
  "SwapPss", "Locked",
};
#define NUSAGE (sizeof usage_lines / sizeof usage_lines[0])
#define PSS_FIELD 1
#define PSS_DIRTY_FIELD 2
#define SHARED_CLEAN_FIELD 3
#define PRIVATE_CLEAN_FIELD 5
#define SWAP_PSS_FIELD 17

_Static_assert(sizeof(PSS_LINUX_MEMORY_USAGE) == NUSAGE * sizeof(UINT64),
               "one smaps line per PSS_LINUX_MEMORY_USAGE member");

struct smaps_region {
  uint64_t start, end;
  uint64_t v[NUSAGE];        /* bytes */
};

struct smaps {
  struct smaps_region *r;
  size_t n, cap;
};

static int usage_index (char const *name) {
  size_t i;
  for (i = 0; i < NUSAGE; i++)
    if (strcmp(usage_lines[i], name) == 0)
      return (int)i;
  return -1;
}

/* /proc/PID/smaps, or, with rollup, smaps_rollup as one region. */
static struct smaps read_smaps (pid_t pid, int rollup) {
  struct smaps s = { NULL, 0, 0 };
  char path[64], line[8192];
  FILE *fp;
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, rollup ? "smaps_rollup" : "smaps");
  if ((fp = fopen(path, "re")) == NULL)
    fail_because("%s: cannot open", path);
  while (fgets(line, sizeof line, fp) != NULL) {
    unsigned long long a, b, kb;
    char name[64];
    int k;
    if (sscanf(line, "%llx-%llx ", &a, &b) == 2 && strchr(line, ':') > strchr(line, ' ')) {
      if (s.n == s.cap) {
        s.cap = s.cap ? 2 * s.cap : 64;
        assert_non_null(s.r = realloc(s.r, s.cap * sizeof *s.r));
      }
      memset(&s.r[s.n], 0, sizeof s.r[s.n]);
      s.r[s.n].start = a;
      s.r[s.n++].end = b;
    }
    else if (s.n > 0 && sscanf(line, "%63[^:]: %llu kB", name, &kb) == 2 &&
             (k = usage_index(name)) >= 0)
      s.r[s.n - 1].v[k] = kb * 1024;
  }
  fclose(fp);
  return s;
}

static void wait_stopped (pid_t pid) {
  pid_t tids[256];
  long long deadline = now_ms() + 10000;
  long n = proc_tids(pid, tids, 256), i;
  for (i = 0; i < n; i++)
    while (thread_state(pid, tids[i]) != 'T') {
      if (now_ms() > deadline)
        fail_because("thread %d is not stopped 10 s after SIGSTOP", (int)tids[i]);
      sleep_us(1000);
    }
}

/* The regions of a capture with their usage (every one must have it). */
static PSS_LINUX_VA_SPACE_ENTRY *usage_walk (struct fixture *f, HPSS s, size_t *n) {
  PSS_LINUX_VA_SPACE_ENTRY *e = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, n);
  size_t i;
  for (i = 0; i < *n; i++)
    if (e[i].Usage == NULL)
      fail_because("region 0x%llx has no Usage", (unsigned long long)(uintptr_t)
                   e[i].Region.BaseAddress);
  return e;
}

static PSS_LINUX_VA_SPACE_ENTRY const *region_at (PSS_LINUX_VA_SPACE_ENTRY const *e, size_t n,
                                                  uintptr_t start) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((uintptr_t)e[i].Region.BaseAddress == start)
      return &e[i];
  fail_because("no region at 0x%llx", (unsigned long long)start);
  return NULL;
}

/* Rounded down per region in smaps, once in smaps_rollup. */
static int proportional (size_t k) {
  return k == PSS_FIELD || k == PSS_DIRTY_FIELD || k == SWAP_PSS_FIELD;
}

/* What the rest of the machine moves: the proportional figures, and the
** split of clean file pages into shared and private (another process
** mapping the same library page makes it shared). */
static int movable (size_t k) {
  return proportional(k) || k == SHARED_CLEAN_FIELD || k == PRIVATE_CLEAN_FIELD;
}

/* Every region and every figure as smaps said them before and after the
** capture: the same, or for a figure the machine moved meanwhile, between
** the two. 0, or 1 with what differs in why. */
static int regions_differ (PSS_LINUX_VA_SPACE_ENTRY const *e, size_t n, struct smaps const *before,
                           struct smaps const *after, char *why, size_t cap) {
  size_t i, k;
  if (n != before->n || n != after->n)
    return snprintf(why, cap, "%zu regions captured, smaps lists %zu and %zu", n, before->n,
                    after->n), 1;
  for (i = 0; i < n; i++) {
    UINT64 const *u = (UINT64 const *)(void const *)e[i].Usage;
    if ((uintptr_t)e[i].Region.BaseAddress != before->r[i].start ||
        e[i].Region.RegionSize != before->r[i].end - before->r[i].start)
      return snprintf(why, cap, "region %zu is 0x%llx, smaps says 0x%llx", i,
                      (unsigned long long)(uintptr_t)e[i].Region.BaseAddress,
                      (unsigned long long)before->r[i].start), 1;
    for (k = 0; k < NUSAGE; k++) {
      uint64_t x = before->r[i].v[k], y = after->r[i].v[k];
      uint64_t lo = x < y ? x : y, hi = x < y ? y : x;
      if (movable(k) ? u[k] < lo || u[k] > hi : u[k] != x || x != y)
        return snprintf(why, cap, "region 0x%llx: %s %llu, smaps says %llu before and %llu after",
                        (unsigned long long)before->r[i].start, usage_lines[k],
                        (unsigned long long)u[k], (unsigned long long)x,
                        (unsigned long long)y), 1;
    }
  }
  return 0;
}

/* The totals: smaps_rollup's, but for Pss, Pss_Dirty and SwapPss, which
** smaps rounds down per region and smaps_rollup once: the sum is at most
** rollup's and less than a kB per region below it. 0, or 1 with why. */
static int totals_differ (PSS_LINUX_PROCESS_INFORMATION const *p, size_t regions,
                          struct smaps const *rollup, char *why, size_t cap) {
  UINT64 const *u = (UINT64 const *)(void const *)&p->MemoryUsage;
  size_t k;
  assert_int_equal(rollup->n, 1);
  for (k = 0; k < NUSAGE; k++) {
    uint64_t want = rollup->r[0].v[k];
    if (proportional(k) ? (u[k] > want || want - u[k] >= regions * 1024) : u[k] != want)
      return snprintf(why, cap, "total %s %llu, smaps_rollup says %llu (%zu regions)",
                      usage_lines[k], (unsigned long long)u[k], (unsigned long long)want,
                      regions), 1;
  }
  return 0;
}

/*
** The target is stopped (SIGSTOP), so only the rest of the machine can
** change its figures: Pss, and the split of clean pages into shared and
** private, move when another process maps or unmaps the libraries it
** shares, even between two reads that agree. smaps and smaps_rollup are
** read before the capture and smaps after it; a round in which the
** capture agrees with them is the pass, and ten rounds that never agree
** fail with what differed in the last.
*/
static void figures_match_smaps_and_rollup (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--resident", "8", "--grow", "64", NULL);
  HANDLE h = fixture_open(f, t->pid);
  char why[256] = "";
  int round, agreed = 0;
  assert_int_equal(kill(t->pid, SIGSTOP), 0);
  wait_stopped(t->pid);
  for (round = 1; round <= 10 && !agreed; round++) {
    struct smaps before = read_smaps(t->pid, 0), rollup = read_smaps(t->pid, 1), after;
    HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_THREADS |
                                   PSS_LINUX_CAPTURE_MEMORY_USAGE);
    PSS_LINUX_PROCESS_INFORMATION p = query_linux_process(s);
    PSS_LINUX_VA_SPACE_ENTRY *e;
    size_t n;
    after = read_smaps(t->pid, 0);
    e = usage_walk(f, s, &n);
    assert_int_equal(p.HasMemoryUsage, 1);
    agreed = !regions_differ(e, n, &before, &after, why, sizeof why) &&
             !totals_differ(&p, n, &rollup, why, sizeof why);
    if (agreed)
      note("%zu regions, Rss %llu KiB, Pss %llu KiB, as smaps said them (round %d)", n,
           (unsigned long long)p.MemoryUsage.Rss >> 10,
           (unsigned long long)p.MemoryUsage.Pss >> 10, round);
    else
      note("round %d: %s", round, why);
    free(before.r);
    free(after.r);
    free(rollup.r);
    fixture_forget_snapshot(f, s);
    assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  }
  assert_int_equal(kill(t->pid, SIGCONT), 0);
  if (!agreed) fail_because("in 10 rounds the capture never agreed with smaps: %s", why);
}

/* The resident size of a mapping grows by exactly the pages touched. */
static void touched_pages_are_the_growth (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--grow", "256", NULL);
  struct target_map const *grow = target_map_by_kind(t, "grow");
  HANDLE h = fixture_open(f, t->pid);
  PSS_CAPTURE_FLAGS flags = PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_MEMORY_USAGE;
  PSS_LINUX_VA_SPACE_ENTRY const *a, *b, *all;
  size_t n;
  long page = sysconf(_SC_PAGESIZE);
  char line[64];
  assert_non_null(grow);
  all = usage_walk(f, fixture_capture(f, h, flags), &n);
  a = region_at(all, n, grow->start);
  assert_int_equal(target_send(t, "touch 37"), 0);
  assert_int_equal(target_read_line(t, line, sizeof line, 10000), 0);
  assert_string_equal(line, "touched 37");
  all = usage_walk(f, fixture_capture(f, h, flags), &n);
  b = region_at(all, n, grow->start);
  assert_int_equal(a->Usage->Rss, 0);
  assert_int_equal(b->Usage->Rss, 37 * page);
  assert_int_equal(b->Usage->PrivateDirty - a->Usage->PrivateDirty, 37 * page);
  assert_int_equal(b->Usage->Anonymous - a->Usage->Anonymous, 37 * page);
  assert_int_equal(b->Usage->Pss, 37 * page);     /* nobody shares them */
}

/* Without the flag nothing of it is read; the flag needs the VA space. */
static void usage_only_when_asked (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_THREADS);
  PSS_LINUX_PROCESS_INFORMATION p = query_linux_process(s);
  PSS_LINUX_MEMORY_USAGE zero;
  PSS_LINUX_VA_SPACE_ENTRY *e;
  HPSS none = NULL;
  size_t n, i;
  memset(&zero, 0, sizeof zero);
  e = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &n);
  assert_true(n > 0);
  for (i = 0; i < n; i++) assert_null(e[i].Usage);
  assert_int_equal(p.HasMemoryUsage, 0);
  assert_memory_equal(&p.MemoryUsage, &zero, sizeof zero);
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_LINUX_CAPTURE_MEMORY_USAGE, 0,
                                 &none), ERROR_INVALID_PARAMETER);
  assert_null(none);
}

/* Read while the target runs (UNFROZEN), and of the calling process. */
static void unfrozen_and_self_captures_have_usage (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  PSS_CAPTURE_FLAGS flags = PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_MEMORY_USAGE;
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), flags | PSS_LINUX_CAPTURE_UNFROZEN);
  HPSS self = NULL;
  PSS_LINUX_VA_SPACE_ENTRY *e;
  UINT64 rss = 0;
  size_t n, i;
  e = usage_walk(f, s, &n);
  for (i = 0; i < n; i++) rss += e[i].Usage->Rss;
  assert_int_equal(query_linux_process(s).MemoryUsage.Rss, rss);
  assert_true(rss > 0);
  assert_code(PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, flags, 0, &self), ERROR_SUCCESS);
  fixture_keep_snapshot(f, self);
  e = usage_walk(f, self, &n);
  for (rss = 0, i = 0; i < n; i++) rss += e[i].Usage->Rss;
  assert_int_equal(query_linux_process(self).MemoryUsage.Rss, rss);
  assert_true(query_linux_process(self).HasMemoryUsage);
}

/* A saved snapshot gives every figure back; a duplicate too. */
static void usage_survives_save_and_duplicate (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid),
                           PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_MEMORY_USAGE);
  HPSS l = NULL, d = NULL;
  PSS_LINUX_PROCESS_INFORMATION ps, pl;
  PSS_LINUX_VA_SPACE_ENTRY *a, *b, *c;
  size_t na, nb, nc, i;
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  assert_code(PssLinuxSaveSnapshot(s, fileno(tmp), 0), ERROR_SUCCESS);
  assert_int_equal(lseek(fileno(tmp), 0, SEEK_SET), 0);
  assert_code(PssLinuxLoadSnapshot(fileno(tmp), &l), ERROR_SUCCESS);
  fclose(tmp);
  fixture_keep_snapshot(f, l);
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, l, PSS_LINUX_CURRENT_PROCESS, &d, 0),
              ERROR_SUCCESS);
  fixture_keep_snapshot(f, d);
  a = usage_walk(f, s, &na);
  b = usage_walk(f, l, &nb);
  c = usage_walk(f, d, &nc);
  assert_int_equal(na, nb);
  assert_int_equal(na, nc);
  for (i = 0; i < na; i++) {
    assert_memory_equal(a[i].Usage, b[i].Usage, sizeof *a[i].Usage);
    assert_memory_equal(a[i].Usage, c[i].Usage, sizeof *a[i].Usage);
  }
  ps = query_linux_process(s);
  pl = query_linux_process(l);
  assert_memory_equal(&ps.MemoryUsage, &pl.MemoryUsage, sizeof ps.MemoryUsage);
  assert_int_equal(pl.HasMemoryUsage, 1);
}

/*
** A target that ends while its regions are read: smaps (and maps) of a
** process whose memory is gone end early without a failed read, so the
** capture must notice the end and fail -- a table cut short is never a
** success; a capture that began once the target had ended is the
** capture of a zombie. The target exits by itself (--exit-after) at a
** moment that moves across the rounds, 20,000 mappings long.
*/
static void a_target_ending_mid_read_is_no_success (void **state) {
  struct fixture *f = FIXTURE(state);
  int rounds = under_valgrind() ? 2 : 12, i, whole = 0, aborted = 0, zombies = 0;
  for (i = 0; i < rounds; i++) {
    char after[16];
    struct target *t;
    HANDLE h;
    long long deadline;
    snprintf(after, sizeof after, "%d", 40 + 15 * i);
    t = fixture_start(f, "--no-fds", "--extra-maps", "20000", "--exit-after", after, NULL);
    h = fixture_open(f, t->pid);
    deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
      PSS_CAPTURE_FLAGS flags = PSS_CAPTURE_VA_SPACE | (i % 2 ? PSS_LINUX_CAPTURE_MEMORY_USAGE : 0);
      HPSS s = NULL;
      DWORD rc = PssCaptureSnapshot(h, flags, 0, &s);
      if (rc == ERROR_SUCCESS) {
        PSS_VA_SPACE_INFORMATION vi;
        char letter = query_linux_process(s).State;
        assert_code(PssQuerySnapshot(s, PSS_QUERY_VA_SPACE_INFORMATION, &vi, sizeof vi),
                    ERROR_SUCCESS);
        assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
        if (letter == 'Z' && vi.RegionCount == 0) {   /* it had ended: a zombie holds nothing */
          zombies++;
          break;
        }
        if (vi.RegionCount < 20000)
          fail_because("a capture (state %c) succeeded with %u regions of the target's 20,000 "
                       "and more", letter, (unsigned)vi.RegionCount);
        whole++;
        continue;
      }
      if (rc != ERROR_PROCESS_ABORTED)
        fail_because("capture of an ending target: %s (%u), errno %d", win32_error_name(rc),
                     (unsigned)rc, PssLinuxLastErrno());
      aborted++;
      break;
    }
    fixture_close(f, h);
    fixture_release_target(f, t);
  }
  note("%d whole captures, %d found the target ending, %d found it a zombie", whole, aborted,
       zombies);
  assert_true(aborted > 0);
}

/* Makes `depth` nested directories of 250-byte names under the open
** directory `at`; returns a descriptor of the deepest. */
static int nest (int at, int depth, char *name) {
  int d = dup(at), i;
  memset(name, 'd', 250);
  name[250] = '\0';
  for (i = 0; i < depth; i++) {
    int next;
    assert_int_equal(mkdirat(d, name, 0700), 0);
    next = openat(d, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(next >= 0);
    close(d);
    d = next;
  }
  return d;
}

static void unnest (int at, int depth, char const *name) {
  int fds[300], i;
  fds[0] = dup(at);
  for (i = 1; i <= depth; i++) fds[i] = openat(fds[i - 1], name, O_RDONLY | O_DIRECTORY);
  unlinkat(fds[depth], "f", 0);
  for (i = depth; i >= 1; i--) {
    close(fds[i]);
    unlinkat(fds[i - 1], name, AT_REMOVEDIR);
  }
  close(fds[0]);
}

/* A mapping whose smaps line is longer than the reader's buffer (a file
** 270 directories of 250 bytes deep: a 67 KiB path) is cut, not fatal:
** the capture has the region, its path cut to what a row keeps. */
static void a_path_longer_than_a_line_is_cut (void **state) {
  struct fixture *f = FIXTURE(state);
  char dir[] = "/tmp/pss-deep-XXXXXX", name[251];
  int top, deep, fd, depth = 270;
  PSS_LINUX_VA_SPACE_ENTRY const *r, *all;
  void *p;
  size_t n;
  HPSS s = NULL;
  DWORD rc;
  assert_non_null(mkdtemp(dir));
  top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  deep = nest(top, depth, name);
  fd = openat(deep, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0 && ftruncate(fd, 4096) == 0);
  p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
  assert_true(p != MAP_FAILED);
  rc = PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS,
                          PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_MEMORY_USAGE, 0, &s);
  if (rc == ERROR_SUCCESS) fixture_keep_snapshot(f, s);
  munmap(p, 4096);
  close(fd);
  close(deep);
  unnest(top, depth, name);
  close(top);
  rmdir(dir);
  assert_code(rc, ERROR_SUCCESS);
  all = usage_walk(f, s, &n);
  r = region_at(all, n, (uintptr_t)p);
  assert_true(r->PathLength > 0 && r->PathLength <= 4096);
  assert_memory_equal(r->Path, dir, strlen(dir));
  note("the region's path kept %u bytes of %d", (unsigned)r->PathLength,
       (int)(strlen(dir) + (size_t)depth * 251 + 2));
}

/* A file of format 1 has no memory usage, whatever its record's byte
** that became HasMemoryUsage held (format 1's Reserved2): the corpus's
** v1 snapshot with that byte set, the STORE section resealed, loads with
** HasMemoryUsage 0 and no Usage. */
static void a_format_1_file_has_no_usage (void **state) {
  struct fixture *f = FIXTURE(state);
  enum { HDR = 24, SEC = 24 };
  static unsigned char b[1 << 20];
  size_t at = HDR + SEC + sizeof(struct pss_snap_store) +
              offsetof(PSS_LINUX_PROCESS_INFORMATION, HasMemoryUsage);
  FILE *fp = fopen("spec/fuzz/loader-corpus/v1-snapshot.pss", "rb");
  size_t n, len, i;
  PSS_LINUX_VA_SPACE_ENTRY *e;
  HPSS l = NULL;
  int fd = memfd_create("pss-v1", MFD_CLOEXEC);
  if (fp == NULL) fail_because("spec/fuzz/loader-corpus/v1-snapshot.pss: run from the top");
  n = fread(b, 1, sizeof b, fp);
  fclose(fp);
  assert_true(n > at && b[8] == 1 && pss_snap_get32(b + HDR) == PSS_SNAP_STORE);
  len = pss_snap_get32(b + HDR + 8);
  b[at] = 1;
  pss_snap_put32(b + HDR + 16, pss_snap_crc32(0, b + HDR + SEC, len));
  pss_snap_put32(b + HDR + 20, pss_snap_crc32(0, b + HDR, 20));
  assert_true(fd >= 0 && write(fd, b, n) == (ssize_t)n && lseek(fd, 0, SEEK_SET) == 0);
  assert_code(PssLinuxLoadSnapshot(fd, &l), ERROR_SUCCESS);
  close(fd);
  fixture_keep_snapshot(f, l);
  assert_int_equal(query_linux_process(l).HasMemoryUsage, 0);
  e = fixture_walk(f, l, PSS_WALK_LINUX_VA_SPACE, &n);
  assert_true(n > 0);
  for (i = 0; i < n; i++) assert_null(e[i].Usage);
}

int run_usage_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(figures_match_smaps_and_rollup),
    fixture_test(touched_pages_are_the_growth),
    fixture_test(usage_only_when_asked),
    fixture_test(unfrozen_and_self_captures_have_usage),
    fixture_test(usage_survives_save_and_duplicate),
    fixture_test(a_target_ending_mid_read_is_no_success),
    fixture_test(a_path_longer_than_a_line_is_cut),
    fixture_test(a_format_1_file_has_no_usage),
  };
  return cmocka_run_group_tests_name("usage", tests, NULL, NULL);
}
