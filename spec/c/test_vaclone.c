/*
** test_vaclone.c -- PSS_CAPTURE_VA_CLONE: the clone holds the capture
** instant, the target is left exactly as it was, and nothing outlives the
** snapshot (src/linux/vaclone.c).
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"

#if defined(__x86_64__)

#define CLONE_FLAGS (PSS_CAPTURE_VA_CLONE | PSS_CAPTURE_VA_SPACE)

/* {======================================================================
** Helpers
** ======================================================================= */

/* The clone's pid, from the handle PSS_QUERY_VA_CLONE_INFORMATION gives. */
static pid_t clone_pid (HPSS s) {
  PSS_VA_CLONE_INFORMATION vc;
  DWORD pid = 0;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc),
              ERROR_SUCCESS);
  assert_code(PssLinuxGetProcessId(vc.VaCloneHandle, &pid), ERROR_SUCCESS);
  assert_true(pid > 0);
  return (pid_t)pid;
}

static uint64_t read_u64 (HPSS s, uint64_t address) {
  uint64_t v = 0;
  SIZE_T got = 0;
  assert_code(PssLinuxReadSnapshotMemory(s, address, &v, sizeof v, &got), ERROR_SUCCESS);
  assert_int_equal(got, sizeof v);
  return v;
}

/* Whether a process exists (a zombie does). */
static int exists (pid_t pid) {
  return kill(pid, 0) == 0 || errno == EPERM;
}

/* The parent pid and state of a process; 0 if it is gone. */
static char state_of (pid_t pid, pid_t *ppid) {
  struct proc_stat st;
  if (proc_stat(pid, pid, &st) != 0) return 0;
  if (ppid != NULL) *ppid = st.ppid;
  return st.state;
}

/* Waits until pid is gone from the process table: a released clone is
** reaped by init (or the nearest subreaper), which may take a few seconds. */
static void expect_gone (pid_t pid, long timeout_ms, char const *what) {
  long long deadline = now_ms() + timeout_ms;
  while (exists(pid)) {
    if (now_ms() > deadline) {
      pid_t ppid = 0;
      char st = state_of(pid, &ppid);
      fail_because("%s: %d is still there after %ld ms (state %c, parent %d)", what, (int)pid,
                   timeout_ms, st ? st : '?', (int)ppid);
    }
    sleep_us(5000);
  }
}

/* No process in the table is a zombie child of pid. */
static void expect_no_zombie_children (pid_t pid, char const *when) {
  static pid_t all[65536];
  long n = proc_pids(all, 65536), i;
  for (i = 0; i < n; i++) {
    pid_t ppid = 0;
    if (state_of(all[i], &ppid) == 'Z' && ppid == pid)
      fail_because("%s: %d is a zombie child of the target %d", when, (int)all[i], (int)pid);
  }
}

/* The --writer line: the writer's counter and buffer, the buffer's size. */
static void writer_of (struct target *t, uint64_t *counter, uint64_t *buffer, size_t *bytes) {
  char rest[256];
  int tid;
  assert_int_equal(target_report_line(t, "writer", 0, rest, sizeof rest), 1);
  if (sscanf(rest, "%d %" SCNx64 " %" SCNx64 " %zu", &tid, counter, buffer, bytes) != 4)
    fail_because("unexpected writer line: %s", rest);
}

/* The target's SigBlk of a thread, as /proc says. */
static unsigned long long blocked_mask (pid_t pid, pid_t tid) {
  char rel[64], text[4096];
  char const *line;
  long n;
  snprintf(rel, sizeof rel, "task/%d/status", (int)tid);
  n = proc_read(pid, rel, text, sizeof text - 1);
  assert_true(n > 0);
  text[n] = '\0';
  line = strstr(text, "\nSigBlk:");
  assert_non_null(line);
  return strtoull(line + 8, NULL, 16);
}

/* Bytes at the end of each executable mapping of pid, where the stub goes:
** a capture must leave them as they were. */
static size_t exec_tails (pid_t pid, unsigned char *out, size_t cap) {
  size_t n = 0, count, i;
  struct proc_map *maps = proc_maps(pid, &count);
  char path[64];
  int fd;
  assert_non_null(maps);
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  for (i = 0; i < count && n + 512 <= cap; i++) {
    if (strchr(maps[i].perms, 'x') == NULL || maps[i].end - maps[i].start < 512) continue;
    if (pread(fd, out + n, 512, (off_t)(maps[i].end - 512)) == 512) n += 512;
  }
  close(fd);
  free(maps);
  return n;
}
/* }====================================================================== */


/* {======================================================================
** The calling process
** ======================================================================= */

static volatile uint64_t self_value;

static void self_clone_holds_the_instant (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s;
  pid_t pid;
  self_value = 0x1111222233334444ULL;
  s = fixture_capture(f, PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_VA_CLONE);
  self_value = 0x5555666677778888ULL;
  assert_int_equal(read_u64(s, (uintptr_t)&self_value), 0x1111222233334444ULL);
  pid = clone_pid(s);
  /* our child, holding one descriptor (the pipe that ends it), never our
  ** wait(-1)'s business: exit signal 0 */
  {
    pid_t ppid = 0;
    long long deadline = now_ms() + 2000;
    int fds[16];
    while (state_of(pid, &ppid) != 'S' && now_ms() < deadline) sleep_us(1000);
    assert_int_equal(state_of(pid, &ppid), 'S');     /* asleep in its read */
    assert_int_equal(ppid, getpid());
    /* valgrind keeps descriptors of its own open in the child */
    if (!under_valgrind()) assert_int_equal(proc_fds(pid, fds, 16), 1);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  }
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  assert_false(exists(pid));
}

/* The child ends with us: it holds only the pipe, whose other end dies
** with the process that captured. */
static void self_clone_ends_with_its_process (void **state) {
  int p[2];
  pid_t capturer, clone = 0;
  int status;
  (void)state;
  assert_int_equal(pipe(p), 0);
  if ((capturer = fork()) == 0) {
    HPSS s;
    PSS_VA_CLONE_INFORMATION vc;
    DWORD pid = 0;
    close(p[0]);
    if (PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_VA_CLONE, 0, &s) != 0 ||
        PssQuerySnapshot(s, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc) != 0 ||
        PssLinuxGetProcessId(vc.VaCloneHandle, &pid) != 0)
      _exit(2);
    if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid) _exit(3);
    pause();
    _exit(0);
  }
  close(p[1]);
  assert_int_equal(read(p[0], &clone, sizeof clone), (ssize_t)sizeof clone);
  close(p[0]);
  assert_true(exists(clone));
  kill(capturer, SIGKILL);
  assert_int_equal(waitpid(capturer, &status, 0), capturer);
  expect_gone(clone, 10000, "the clone of a killed capturer");
}
/* }====================================================================== */


/* {======================================================================
** Another process
** ======================================================================= */

/* Frozen: counter c and a buffer of c+1 up to some word and c after it,
** read twice over time; the live writer has moved on. */
static void clone_of_a_writer_is_one_instant (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start_running(f, "--writer", NULL);
  HANDLE h = fixture_open(f, t->pid);
  uint64_t counter_at, buffer_at, *buf, c, again;
  size_t bytes, words, i, boundary;
  SIZE_T got = 0;
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_CLONE);
  writer_of(t, &counter_at, &buffer_at, &bytes);
  words = bytes / 8;
  buf = fixture_keep(f, malloc(bytes));
  assert_non_null(buf);
  c = read_u64(s, counter_at);
  assert_code(PssLinuxReadSnapshotMemory(s, buffer_at, buf, bytes, &got), ERROR_SUCCESS);
  assert_int_equal(got, bytes);
  for (boundary = 0; boundary < words && buf[boundary] == c + 1; boundary++) {}
  for (i = boundary; i < words; i++)
    if (buf[i] != c)
      fail_because("word %zu of the clone's buffer is %" PRIu64 "; counter %" PRIu64
                   ", words before %zu hold %" PRIu64, i, buf[i], c, boundary, c + 1);
  sleep_us(50000);
  again = read_u64(s, counter_at);
  assert_int_equal(again, c);
  /* the live target went on meanwhile, and goes on */
  {
    long live = target_ask(t, "writer", NULL), later;
    assert_true((uint64_t)live > c);
    sleep_us(20000);
    later = target_ask(t, "writer", NULL);
    assert_true(later > live);
  }
  expect_untouched(t->pid, "after a clone capture");
}

/*
** The target's view: no SIGCHLD, nothing for its waitpid(-1) thread, no
** zombie, signals counted exactly once, sleeps and reads undisturbed, its
** signal masks and code bytes as they were.
*/
static void target_sees_nothing_of_the_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--reaper", "--sleeper", "--no-fds", NULL);
  HANDLE h = fixture_open(f, t->pid);
  pid_t tids[64];
  unsigned long long masks[64];
  unsigned char *before = fixture_keep(f, malloc(65536)), *after = fixture_keep(f, malloc(65536));
  size_t tails = exec_tails(t->pid, before, 65536);
  long n = proc_tids(t->pid, tids, 64), i, reaped = -1, sigchld;
  int rounds = under_valgrind() ? 5 : 40, k;
  pid_t clones[64];
  assert_true(n > 0 && tails > 0);
  /* masks are compared with every thread blocked where it waits: the main
  ** thread's mask differs inside ppoll and while it answers a command */
  for (i = 0; i < n; i++) masks[i] = blocked_mask(t->pid, tids[i]);
  for (k = 0; k < rounds; k++) {
    HPSS s;
    assert_int_equal(kill(t->pid, SIGRTMIN + 1), 0);
    s = fixture_capture(f, h, CLONE_FLAGS | PSS_CAPTURE_THREADS);
    clones[k % 64] = clone_pid(s);
    fixture_forget_snapshot(f, s);
    assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  }
  for (k = 0; k < rounds && k < 64; k++) expect_gone(clones[k], 15000, "a freed clone");
  sleep_us(50000);
  sigchld = target_ask(t, "children", &reaped);
  assert_int_equal(sigchld, 0);
  assert_int_equal(reaped, 0);
  assert_int_equal(target_signals(t), rounds);
  assert_int_equal(target_anomalies(t), 0);
  assert_int_equal(target_wait_quiet(t), 0);
  for (i = 0; i < n; i++)
    if (blocked_mask(t->pid, tids[i]) != masks[i])
      fail_because("thread %d's signal mask changed: %llx, was %llx", (int)tids[i],
                   blocked_mask(t->pid, tids[i]), masks[i]);
  assert_int_equal(exec_tails(t->pid, after, 65536), tails);
  assert_memory_equal(before, after, tails);
  expect_no_zombie_children(t->pid, "after the captures");
  expect_untouched(t->pid, "after the captures");
}

/* The clone: parked, no descriptors, oom_score_adj 1000, not the target's
** child; gone once freed. */
static void clone_is_parked_and_released (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_CLONE);
  pid_t pid = clone_pid(s), ppid = 0;
  int fds[16];
  char adj[16];
  long len = proc_read(pid, "oom_score_adj", adj, sizeof adj - 1);
  assert_true(len > 0);
  adj[len] = '\0';
  assert_int_equal(atoi(adj), 1000);
  assert_int_equal(state_of(pid, &ppid), 't');
  assert_true(ppid != t->pid);
  assert_int_equal(proc_fds(pid, fds, 16), 0);
  assert_true(traced_by_us(pid, pid));     /* by the snapshot's keeper thread */
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  expect_gone(pid, 15000, "a freed clone");
  expect_no_zombie_children(t->pid, "after the free");
}

/* Each region says what the clone holds; reads behave as it says. */
static void regions_say_what_the_clone_holds (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--fork-maps", NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, CLONE_FLAGS);
  size_t n, i, k;
  PSS_LINUX_VA_SPACE_ENTRY *r = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &n);
  struct { char const *kind; unsigned coverage; int first; DWORD rc; } want[] = {
    { "fork-private", PSS_LINUX_CLONE_COPY, 0xa5, ERROR_SUCCESS },
    { "fork-shared", PSS_LINUX_CLONE_SHARED, 0x11, ERROR_SUCCESS },
    { "fork-dontfork", PSS_LINUX_CLONE_ABSENT, -1, ERROR_PARTIAL_COPY },
    { "fork-wipe", PSS_LINUX_CLONE_ZEROED, 0x00, ERROR_SUCCESS },
  };
  char line[64];
  /* after the capture the target writes 0x11 to the first byte of each */
  assert_int_equal(target_send(t, "fork-write"), 0);
  assert_int_equal(target_read_line(t, line, sizeof line, 10000), 0);
  assert_string_equal(line, "fork-written");
  for (k = 0; k < sizeof want / sizeof want[0]; k++) {
    struct target_map const *m = target_map_by_kind(t, want[k].kind);
    unsigned char byte = 0xee;
    SIZE_T got = 99;
    assert_non_null(m);
    for (i = 0; i < n && r[i].Region.BaseAddress != (void *)m->start; i++) {}
    if (i == n) fail_because("no region at the %s map", want[k].kind);
    if (r[i].CloneCoverage != want[k].coverage)
      fail_because("%s: CloneCoverage %u, expected %u", want[k].kind, r[i].CloneCoverage,
                   want[k].coverage);
    assert_code(PssLinuxReadSnapshotMemory(s, m->start, &byte, 1, &got), want[k].rc);
    assert_int_equal(got, want[k].rc == ERROR_SUCCESS ? 1 : 0);
    if (want[k].first >= 0 && byte != want[k].first)
      fail_because("%s: the clone reads %#x, expected %#x", want[k].kind, byte, want[k].first);
  }
  for (i = 0; i < n; i++)
    if (r[i].PathLength == 6 && !memcmp(r[i].Path, "[vvar]", 6))
      assert_int_equal(r[i].CloneCoverage, PSS_LINUX_CLONE_UNREADABLE);
}

/* A read running past a region into a hole returns what was there and
** says it was short. */
static void short_reads_stop_at_the_hole (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, CLONE_FLAGS);
  size_t n, i;
  PSS_VA_SPACE_ENTRY *r = fixture_walk(f, s, PSS_WALK_VA_SPACE, &n);
  unsigned char buf[8192];
  SIZE_T got = 0;
  for (i = 0; i + 1 < n; i++) {
    uintptr_t end = (uintptr_t)r[i].BaseAddress + r[i].RegionSize;
    if ((uintptr_t)r[i + 1].BaseAddress > end + 4096 && (r[i].Protect & 0xff) != PAGE_NOACCESS)
      break;
  }
  assert_true(i + 1 < n);
  memset(buf, 0xee, sizeof buf);
  assert_code(PssLinuxReadSnapshotMemory(s, (uintptr_t)r[i].BaseAddress + r[i].RegionSize - 4096,
                                         buf, sizeof buf, &got), ERROR_PARTIAL_COPY);
  assert_int_equal(got, 4096);
  assert_int_equal(buf[4096], 0xee);    /* nothing written past what was read */
  /* a snapshot without a clone has nothing to read */
  {
    HPSS plain = fixture_capture(f, h, PSS_CAPTURE_VA_SPACE);
    assert_code(PssLinuxReadSnapshotMemory(plain, (uintptr_t)r[i].BaseAddress, buf, 1, &got),
                ERROR_NOT_FOUND);
  }
}

/* Kills a capturer that holds a clone of t; returns the clone's pid. */
static pid_t kill_capturer_holding_clone (struct target *t) {
  int p[2], status;
  pid_t capturer, clone = 0;
  assert_int_equal(pipe(p), 0);
  if ((capturer = fork()) == 0) {
    HANDLE h;
    HPSS s;
    PSS_VA_CLONE_INFORMATION vc;
    DWORD pid = 0;
    close(p[0]);
    if (PssLinuxOpenProcess((DWORD)t->pid, &h) != 0 ||
        PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s) != 0 ||
        PssQuerySnapshot(s, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc) != 0 ||
        PssLinuxGetProcessId(vc.VaCloneHandle, &pid) != 0)
      pid = 0;
    if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid) _exit(3);
    pause();
    _exit(0);
  }
  close(p[1]);
  if (read(p[0], &clone, sizeof clone) != (ssize_t)sizeof clone) clone = 0;
  close(p[0]);
  kill(capturer, SIGKILL);
  assert_int_equal(waitpid(capturer, &status, 0), capturer);
  if (clone == 0) fail_because("the capturer could not capture a clone of %d", (int)t->pid);
  return clone;
}

/* The clone dies with the thread that holds it: within a second it is
** dead, soon after reaped; the target runs on, untouched. */
static void capturer_killed_while_holding_a_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--reaper", "--sleeper", "--no-fds", NULL);
  int rounds = under_valgrind() ? 5 : 100, i;
  pid_t clones[100];
  long reaped = -1;
  for (i = 0; i < rounds; i++) {
    long long deadline;
    clones[i] = kill_capturer_holding_clone(t);
    for (deadline = now_ms() + 1000; state_of(clones[i], NULL) != 0 &&
                                     state_of(clones[i], NULL) != 'Z'; sleep_us(1000))
      if (now_ms() > deadline)
        fail_because("round %d: clone %d still alive 1 s after its capturer died", i,
                     (int)clones[i]);
  }
  for (i = 0; i < rounds; i++) expect_gone(clones[i], 15000, "the clone of a killed capturer");
  assert_int_equal(target_ask(t, "children", &reaped), 0);
  assert_int_equal(reaped, 0);
  assert_int_equal(target_anomalies(t), 0);
  expect_no_zombie_children(t->pid, "after the kills");
  expect_untouched(t->pid, "after the kills");
}

/*
** The capturer killed at random moments of clone captures (many in the
** middle of the injection): the target never dies, is never left stopped,
** traced, with a changed mask or a stub in its code, and no process is
** left behind.
*/
static void capturer_killed_at_any_moment (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--reaper", "--sleeper", "--no-fds", NULL);
  int rounds = under_valgrind() ? 10 : 200, i;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  unsigned char *before = fixture_keep(f, malloc(65536)), *after = fixture_keep(f, malloc(65536));
  size_t tails = exec_tails(t->pid, before, 65536);
  unsigned long long mask = blocked_mask(t->pid, t->pid);
  long reaped = -1;
  note("seed %u", seed);
  srand(seed);
  for (i = 0; i < rounds; i++) {
    pid_t capturer = fork();
    int status;
    if (capturer == 0) {
      HANDLE h;
      HPSS s;
      if (PssLinuxOpenProcess((DWORD)t->pid, &h) != 0) _exit(2);
      for (;;)
        if (PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s) == 0)
          PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    }
    assert_true(capturer > 0);
    sleep_us(rand() % 20000);
    kill(capturer, SIGKILL);
    assert_int_equal(waitpid(capturer, &status, 0), capturer);
  }
  sleep_us(100000);
  assert_int_equal(state_of(t->pid, NULL) != 0, 1);
  expect_untouched(t->pid, "after the kills");
  /* a capturer killed mid-injection leaves its stub in the padding (the
  ** target ran it to its end by itself); the next capture takes the site
  ** over and gives the padding its zeros back */
  {
    HANDLE h = fixture_open(f, t->pid);
    HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_CLONE);
    fixture_forget_snapshot(f, s);
    assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  }
  assert_int_equal(target_wait_quiet(t), 0);
  assert_int_equal(blocked_mask(t->pid, t->pid), mask);
  assert_int_equal(exec_tails(t->pid, after, 65536), tails);
  assert_memory_equal(before, after, tails);
  assert_int_equal(target_ask(t, "children", &reaped), 0);
  assert_int_equal(reaped, 0);
  assert_int_equal(target_anomalies(t), 0);
  expect_no_zombie_children(t->pid, "after the kills");
}

/*
** Two processes capturing clones of one target at the same time: each
** capture either holds the instant (the writer's invariant) or is refused
** as busy (the other holds the target); the target runs on untouched.
*/
static void two_capturers_never_corrupt_each_other (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start_running(f, "--writer", "--no-fds", NULL);
  uint64_t counter_at, buffer_at;
  size_t bytes;
  pid_t capturers[2];
  int i, status, rounds = under_valgrind() ? 5 : 60;
  writer_of(t, &counter_at, &buffer_at, &bytes);
  for (i = 0; i < 2; i++) {
    if ((capturers[i] = fork()) == 0) {
      HANDLE h;
      int k, made = 0;
      if (PssLinuxOpenProcess((DWORD)t->pid, &h) != 0) _exit(10);
      for (k = 0; k < rounds; k++) {
        HPSS s;
        uint64_t c = 0, first = 0, last = 0;
        SIZE_T got;
        DWORD rc;
        usleep((useconds_t)(1000 + 1000 * i + (k * 7919) % 2000));   /* both get turns */
        rc = PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s);
        if (rc == ERROR_BUSY) continue;
        if (rc != ERROR_SUCCESS) {
          note("capturer %d: %s (%u), errno %d, %s", i, win32_error_name(rc), (unsigned)rc,
               PssLinuxLastErrno(), PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "-");
          _exit(11);
        }
        /* the counter, and the first and last word of the buffer */
        if (PssLinuxReadSnapshotMemory(s, counter_at, &c, 8, &got) != 0 ||
            PssLinuxReadSnapshotMemory(s, buffer_at, &first, 8, &got) != 0 ||
            PssLinuxReadSnapshotMemory(s, buffer_at + bytes - 8, &last, 8, &got) != 0)
          _exit(12);
        if ((first != c && first != c + 1) || last != c) _exit(13);
        PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
        made++;
      }
      _exit(made > 0 ? 0 : 14);
    }
    assert_true(capturers[i] > 0);
  }
  for (i = 0; i < 2; i++) {
    assert_int_equal(waitpid(capturers[i], &status, 0), capturers[i]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_because("capturer %d ended with status %#x", i, status);
  }
  expect_untouched(t->pid, "after two capturers");
  expect_no_zombie_children(t->pid, "after two capturers");
}

static void clone_is_measured (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_VA_CLONE | PSS_CREATE_MEASURE_PERFORMANCE);
  PSS_LINUX_PERFORMANCE_COUNTERS pc;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &pc, sizeof pc),
              ERROR_SUCCESS);
  assert_true(pc.Counters.VaCloneWallClockPeriod > 0);
  assert_true(pc.Counters.VaCloneWallClockPeriod <= pc.FreezeWallClockPeriod);
  assert_true(pc.FreezeWallClockPeriod <= pc.Counters.TotalWallClockPeriod);
}
/* }====================================================================== */


/* {======================================================================
** Refusals: nothing left behind, the reason said
** ======================================================================= */

/* A capture that must fail with code: the target is as it was, no
** process is left, and the library says why. */
static void expect_refused (struct fixture *f, struct target *t, DWORD code, char const *why) {
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = NULL;
  char const *detail;
  DWORD rc = PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s);
  if (rc == ERROR_SUCCESS) fixture_keep_snapshot(f, s);
  assert_code(rc, code);
  detail = PssLinuxLastErrorDetail();
  if (detail == NULL || strstr(detail, why) == NULL)
    fail_because("detail \"%s\" does not say \"%s\"", detail ? detail : "(none)", why);
  sleep_us(20000);
  expect_untouched(t->pid, "after the refusal");
  expect_no_zombie_children(t->pid, "after the refusal");
  assert_int_equal(target_signals(t), 0);
}

static int write_file (char const *path, char const *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC), ok;
  if (fd < 0) return -1;
  ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
  close(fd);
  return ok ? 0 : -1;
}

/* A seccomp filter on clone(): refused before anything is written, and the
** target -- which a KILL_PROCESS filter would have killed -- runs on. */
static void seccomp_filters_refuse_the_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--no-fds", "--seccomp", "errno-clone", NULL);
  expect_refused(f, t, ERROR_ACCESS_DENIED, "ERRNO for clone");
  t = fixture_start(f, "--no-fds", "--seccomp", "kill-clone", NULL);
  expect_refused(f, t, ERROR_ACCESS_DENIED, "KILL_PROCESS for clone");
}

/* A pids cgroup (v1 or v2) the target is moved into, its limit reached. */
static void pid_limit_refuses_the_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--no-fds", NULL);
  static char const *const roots[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup" };
  char dir[256], path[320], pid[32], current[32] = "";
  size_t i;
  int fd;
  long n;
  for (i = 0; i < 2; i++) {
    snprintf(dir, sizeof dir, "%s/pss-spec-%d", roots[i], (int)getpid());
    snprintf(path, sizeof path, "%s/pids.max", dir);
    if (mkdir(dir, 0755) == 0 && access(path, W_OK) == 0) break;
    rmdir(dir);
  }
  if (i == 2) skip_because("no pids cgroup can be made here");
  snprintf(pid, sizeof pid, "%d", (int)t->pid);
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  assert_int_equal(write_file(path, pid), 0);
  snprintf(path, sizeof path, "%s/pids.current", dir);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
    n = read(fd, current, sizeof current - 1);
    current[n > 0 ? n : 0] = '\0';
    close(fd);
  }
  snprintf(path, sizeof path, "%s/pids.max", dir);
  if (current[0] != '\0' && write_file(path, current) == 0)
    expect_refused(f, t, ERROR_NO_PROC_SLOTS, "pids cgroup limit");
  /* back to the root group, then the group goes */
  snprintf(path, sizeof path, "%s/cgroup.procs", roots[i]);
  write_file(path, pid);
  assert_int_equal(rmdir(dir), 0);
  assert_true(current[0] != '\0');
}

/* {======================================================================
** A memory cgroup of the test's own
** ======================================================================= */

/* The test's group: made nested in this process's own memory cgroup, so
** that the target can be moved in and given a limit without touching any
** setting of the system or of another group. */
struct memcg {
  char parent[400];       /* this process's own group (a directory) */
  char dir[480];          /* the group made, "" if none */
  int v1;                 /* cgroup v1 (memory.limit_in_bytes) or v2 */
  pid_t janitor;          /* removes the group if this process dies */
  int janitor_pipe;       /* its pipe's write end, -1 if none */
};

/* The whole of a small file, NUL-terminated, newline stripped; -1 if it
** cannot be read. */
static int read_text (char const *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) return -1;
  n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return 0;
}

static int in_group (struct memcg const *g, char const *name, char *path, size_t cap) {
  return snprintf(path, cap, "%s/%s", g->dir, name) < (int)cap ? 0 : -1;
}

static int group_write (struct memcg const *g, char const *name, char const *text) {
  char path[600];
  return in_group(g, name, path, sizeof path) == 0 ? write_file(path, text) : -1;
}

static long long group_number (struct memcg const *g, char const *name) {
  char path[600], text[64];
  if (in_group(g, name, path, sizeof path) != 0 || read_text(path, text, sizeof text) != 0)
    return -1;
  return strtoll(text, NULL, 10);
}

/* A word in a space- or comma-separated list. */
static int has_word (char const *list, char const *word) {
  size_t n = strlen(word);
  char const *p = list;
  while ((p = strstr(p, word)) != NULL) {
    if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
        (p[n] == '\0' || p[n] == ' ' || p[n] == ',' || p[n] == '\n'))
      return 1;
    p += n;
  }
  return 0;
}

/* The directory of a group, from its hierarchy's mount point, the part of
** the hierarchy mounted there ("/" but in a cgroup namespace) and the
** group's path in the hierarchy, into g->parent; -1 if there is none. */
static int group_directory (struct memcg *g, char const *mount, char const *root,
                            char const *path) {
  size_t n = strlen(root);
  int len;
  if (mount[0] == '\0') return -1;
  if (strcmp(root, "/") != 0) {
    if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0')) return -1;
    path += n;
  }
  len = snprintf(g->parent, sizeof g->parent, "%s%s", mount, path);
  return len > 0 && (size_t)len < sizeof g->parent ? 0 : -1;
}

/*
** This process's own memory cgroup, as a directory, into g->parent: v2
** only where the memory controller is already enabled for the groups
** below it (cgroup.subtree_control; enabling it would change a setting of
** the system), else v1's memory hierarchy. 0, or -1 with the reason.
*/
static int own_memory_group (struct memcg *g, char *why, size_t cap) {
  char line[1024], v1_path[400] = "", v2_path[400] = "", v1_mount[256] = "",
       v1_root[256] = "", v2_mount[256] = "", v2_root[256] = "", control[600], text[256];
  int have_v1 = 0, have_v2 = 0;
  FILE *file = fopen("/proc/self/cgroup", "r");
  if (file == NULL) { snprintf(why, cap, "no /proc/self/cgroup"); return -1; }
  while (fgets(line, sizeof line, file) != NULL) {
    char *controllers = strchr(line, ':'), *path;
    if (controllers == NULL || (path = strchr(++controllers, ':')) == NULL) continue;
    *path++ = '\0';
    path[strcspn(path, "\n")] = '\0';
    if (*controllers == '\0') { snprintf(v2_path, sizeof v2_path, "%s", path); have_v2 = 1; }
    else if (has_word(controllers, "memory")) {
      snprintf(v1_path, sizeof v1_path, "%s", path);
      have_v1 = 1;
    }
  }
  fclose(file);
  /* mount points, and the hierarchy's root they show (a cgroup namespace) */
  if ((file = fopen("/proc/self/mountinfo", "r")) != NULL) {
    while (fgets(line, sizeof line, file) != NULL) {
      char root[256], mount[256], *dash = strstr(line, " - "), type[32], source[64],
           options[512] = "";
      if (dash == NULL || sscanf(line, "%*s %*s %*s %255s %255s", root, mount) != 2 ||
          sscanf(dash + 3, "%31s %63s %511s", type, source, options) < 2)
        continue;
      if (strcmp(type, "cgroup2") == 0 && v2_mount[0] == '\0') {
        snprintf(v2_mount, sizeof v2_mount, "%s", mount);
        snprintf(v2_root, sizeof v2_root, "%s", root);
      } else if (strcmp(type, "cgroup") == 0 && has_word(options, "memory")) {
        snprintf(v1_mount, sizeof v1_mount, "%s", mount);
        snprintf(v1_root, sizeof v1_root, "%s", root);
      }
    }
    fclose(file);
  }
  if (have_v2 && group_directory(g, v2_mount, v2_root, v2_path) == 0) {
    snprintf(control, sizeof control, "%s/cgroup.subtree_control", g->parent);
    if (read_text(control, text, sizeof text) == 0 && has_word(text, "memory")) {
      g->v1 = 0;
      return 0;
    }
  }
  if (have_v1 && group_directory(g, v1_mount, v1_root, v1_path) == 0) {
    g->v1 = 1;
    return 0;
  }
  snprintf(why, cap, "no memory cgroup to nest one in: cgroup v2 %s, no v1 memory hierarchy",
           have_v2 && v2_mount[0] != '\0'
             ? "does not enable the memory controller below this process's group "
               "(cgroup.subtree_control), and enabling it would change a system setting"
             : "is not mounted");
  return -1;
}

/* The limit back to none, the OOM killer back on (v1): what lets a target
** the limit holds go on. */
static void memcg_unlimit (struct memcg const *g) {
  group_write(g, g->v1 ? "memory.limit_in_bytes" : "memory.max", g->v1 ? "-1" : "max");
  if (g->v1) group_write(g, "memory.oom_control", "0");
}

/*
** Makes the group, and a janitor child that lifts its limit and removes
** it if this process dies before it does (then the target, our child,
** exits too: its stdin closes). The janitor keeps no descriptor but its
** pipe: a copy of the target's stdin would keep the target from ever
** seeing it close. 0, or -1 with the reason.
*/
static int memcg_make (struct memcg *g, char *why, size_t cap) {
  char limit[600];
  int p[2];
  memset(g, 0, sizeof *g);
  g->janitor_pipe = -1;
  if (own_memory_group(g, why, cap) != 0) return -1;
  snprintf(g->dir, sizeof g->dir, "%s/pss-spec-%d", g->parent, (int)getpid());
  if (mkdir(g->dir, 0755) != 0) {
    snprintf(why, cap, "cannot make a cgroup in %.300s: %s", g->parent, strerror(errno));
    g->dir[0] = '\0';
    return -1;
  }
  in_group(g, g->v1 ? "memory.limit_in_bytes" : "memory.max", limit, sizeof limit);
  if (access(limit, W_OK) != 0 || pipe2(p, O_CLOEXEC) != 0) {
    snprintf(why, cap, "%.300s cannot be written: %s", limit, strerror(errno));
    rmdir(g->dir);
    g->dir[0] = '\0';
    return -1;
  }
  if ((g->janitor = fork()) == 0) {
    char c;
    int i;
    for (i = 0; i < 4096; i++)
      if (i != p[0]) close(i);
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
    memcg_unlimit(g);
    for (i = 0; i < 300 && rmdir(g->dir) != 0 && errno != ENOENT; i++)
      sleep_us(50000);
    _exit(0);
  }
  close(p[0]);
  g->janitor_pipe = p[1];
  if (g->janitor < 0) {
    snprintf(why, cap, "fork: %s", strerror(errno));
    close(p[1]);
    rmdir(g->dir);
    g->dir[0] = '\0';
    return -1;
  }
  return 0;
}

/* Moves pid back to this process's own group, removes the group (the
** kernel may take a moment to let go of it) and ends the janitor. 0 if
** the group is gone. */
static int memcg_remove (struct memcg *g, pid_t pid) {
  char procs[600], text[32];
  int i, gone = 0;
  memcg_unlimit(g);
  snprintf(procs, sizeof procs, "%s/cgroup.procs", g->parent);
  snprintf(text, sizeof text, "%d", (int)pid);
  write_file(procs, text);
  for (i = 0; i < 200 && !gone; i++) {
    gone = rmdir(g->dir) == 0 || errno == ENOENT;
    if (!gone) sleep_us(10000);
  }
  close(g->janitor_pipe);
  while (waitpid(g->janitor, NULL, 0) < 0 && errno == EINTR) {}
  return gone ? 0 : -1;
}
/* }====================================================================== */


/*
** A memory limit with no room for a copy of the target's address space:
** the target, started by the test, is moved into a cgroup the test makes
** (nested in its own), limited to 512 KiB above what the target is
** charged there. The clone's fork must then charge the page tables of the
** 1 GiB the target holds (2 MiB in 4 KiB pages) and the vm_area_structs of
** its 16 Ki mappings (4 Ki under valgrind, where so many are slow to
** clone; either way over 512 KiB, in huge pages too) and fails with
** ENOMEM. The limit leaves room for the small charges the injection itself
** makes (a page of code padding, the first clone's task). The cgroup's OOM killer must not pick the target instead: v1
** turns it off for the group (memory.oom_control), and the target (ours)
** is unkillable (oom_score_adj -1000) for the time. Afterwards the target
** goes back to the test's own group and the group is removed.
*/
static void memory_limit_refuses_the_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  struct memcg g;
  HANDLE h;
  HPSS s = NULL;
  DWORD rc = ERROR_INVALID_FUNCTION;
  char why[512], detail[512] = "", adj_path[64], adj[16] = "0", text[64], cmdline[4096] = "";
  long long charged, failures;
  int moved, removed, err = 0;
  if (read_text("/proc/cmdline", cmdline, sizeof cmdline) == 0 && strstr(cmdline, "nokmem") != NULL)
    skip_because("the kernel does not charge kernel memory to cgroups (cgroup.memory=nokmem)");
  t = fixture_start(f, "--no-fds", "--resident", "1024", "--extra-maps",
                    under_valgrind() ? "4096" : "16384", NULL);
  h = fixture_open(f, t->pid);
  if (memcg_make(&g, why, sizeof why) != 0)
    skip_because("%s", why);
  /* the target unkillable: it is ours, and it gets its value back */
  snprintf(adj_path, sizeof adj_path, "/proc/%d/oom_score_adj", (int)t->pid);
  read_text(adj_path, adj, sizeof adj);
  if (write_file(adj_path, "-1000") != 0 && !g.v1) {
    memcg_remove(&g, t->pid);
    skip_because("cannot make the target unkillable (oom_score_adj) for cgroup v2's OOM killer");
  }
  snprintf(text, sizeof text, "%d", (int)t->pid);
  moved = group_write(&g, "cgroup.procs", text) == 0;
  charged = group_number(&g, g.v1 ? "memory.usage_in_bytes" : "memory.current");
  if (moved && charged >= 0) {
    /* 512 KiB above what the group holds, a whole number of pages */
    snprintf(text, sizeof text, "%lld", (charged + (512 << 10) + 4095) / 4096 * 4096);
    if (g.v1) group_write(&g, "memory.oom_control", "1");
    if (group_write(&g, g.v1 ? "memory.limit_in_bytes" : "memory.max", text) == 0) {
      char const *d;
      rc = PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s);
      err = PssLinuxLastErrno();
      if ((d = PssLinuxLastErrorDetail()) != NULL) snprintf(detail, sizeof detail, "%s", d);
    } else {
      moved = 0;
    }
  } else {
    moved = 0;
  }
  failures = g.v1 ? group_number(&g, "memory.failcnt") : -1;
  removed = memcg_remove(&g, t->pid) == 0;
  write_file(adj_path, adj);
  if (!moved) skip_because("the target cannot be moved into the cgroup or limited there");
  if (!removed) fail_because("the cgroup %s could not be removed", g.dir);
  if (rc == ERROR_SUCCESS) fixture_keep_snapshot(f, s);
  note("memory cgroup %s (v%d): %lld bytes charged before the capture, limit 512 KiB above; "
       "%lld failed charges", g.dir, g.v1 ? 1 : 2, charged, failures);
  if (rc != ERROR_NOT_ENOUGH_MEMORY)
    fail_because("a clone the memory limit has no room for: %s (%u), errno %d, \"%s\"",
                 win32_error_name(rc), (unsigned)rc, err, detail);
  if (strstr(detail, "memory") == NULL)
    fail_because("detail \"%s\" does not say the memory ran out", detail);
  sleep_us(20000);
  expect_untouched(t->pid, "after the refusal");
  expect_no_zombie_children(t->pid, "after the refusal");
  assert_int_equal(target_signals(t), 0);
}

/* A target exiting while clones are made of it: each capture succeeds or
** says the process exited; nothing is left either way. */
static void target_exiting_during_the_clone (void **state) {
  struct fixture *f = FIXTURE(state);
  int rounds = under_valgrind() ? 3 : 30, i, ok = 0, aborted = 0;
  for (i = 0; i < rounds; i++) {
    struct target *t = fixture_start(f, "--no-fds", "--exit-after", "30", NULL);
    HANDLE h = fixture_open(f, t->pid);
    long long deadline = now_ms() + 2000;
    while (now_ms() < deadline) {
      HPSS s = NULL;
      DWORD rc = PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE, 0, &s);
      if (rc == ERROR_SUCCESS) {
        pid_t clone = clone_pid(s);
        ok++;
        assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
        expect_gone(clone, 15000, "the clone of an exiting target");
        continue;
      }
      if (rc != ERROR_PROCESS_ABORTED)
        fail_because("capture of an exiting target: %s (%u), errno %d", win32_error_name(rc),
                     (unsigned)rc, PssLinuxLastErrno());
      aborted++;
      break;
    }
    fixture_close(f, h);
    fixture_release_target(f, t);
  }
  note("%d clones made, %d captures found the target gone", ok, aborted);
  assert_true(aborted > 0);
}
/* }====================================================================== */


int run_vaclone_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(self_clone_holds_the_instant),
    fixture_test(self_clone_ends_with_its_process),
    fixture_test(clone_of_a_writer_is_one_instant),
    fixture_test(target_sees_nothing_of_the_clone),
    fixture_test(clone_is_parked_and_released),
    fixture_test(regions_say_what_the_clone_holds),
    fixture_test(short_reads_stop_at_the_hole),
    fixture_test(capturer_killed_while_holding_a_clone),
    fixture_test(capturer_killed_at_any_moment),
    fixture_test(two_capturers_never_corrupt_each_other),
    fixture_test(clone_is_measured),
    fixture_test(seccomp_filters_refuse_the_clone),
    fixture_test(pid_limit_refuses_the_clone),
    fixture_test(memory_limit_refuses_the_clone),
    fixture_test(target_exiting_during_the_clone),
  };
  return cmocka_run_group_tests_name("vaclone", tests, NULL, NULL);
}

#else

/* The clone is injected as x86-64 code: nothing to test elsewhere. */
int run_vaclone_suite (void) {
  return 0;
}

#endif
