/*
** test_coreload.c -- ELF cores that pss did not write, read into a
** snapshot (src/linux/file/coreload.c), through PssLinuxLoadSnapshot:
**
** - gdb's gcore of the stack target: the threads, their registers, the
**   regions and their files and the memory are what a live capture and
**   /proc/PID/mem say of the same blocked process;
** - a kernel core of a child of the test that aborts in a second thread:
**   that thread comes first and has the signal, its stack pointer is on
**   the stack it knew, and a global holds the value it wrote there;
** - pss's own core (PssLinuxWriteCoreFd) gives back the capture's threads
**   and registers exactly, and the clone's memory;
** - hostile files: another machine, cuts at every byte of the headers and
**   notes and in the segments, sizes and counts past the file, flipped
**   bits: -EBADMSG (ERROR_BAD_FORMAT) with a detail in words, and no
**   descriptor left open.
**
** The teardown kills a gcore or child still running, puts core_pattern
** back if the test changed it, and removes the test's directory.
*/
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"
#include "linux/file/coreload.h"

#if defined(__x86_64__)

#define GCORE "/usr/bin/gcore"
#define PATTERN "/proc/sys/kernel/core_pattern"
#define MARKER 0x5053535f434f5245ULL   /* "PSS_CORE" */

static const char *detail (void) {
  return PssLinuxLastErrorDetail() != NULL ? PssLinuxLastErrorDetail() : "";
}

/* {======================================================================
** What a test holds beyond the fixture
** ======================================================================= */
static struct {
  char dir[64];                /* mkdtemp'd, "" if none */
  pid_t child;                 /* a gcore or crashing child still running, 0 if none */
  char pattern[512];           /* core_pattern to put back, "" if unchanged */
} held;

static int load_setup (void **state) {
  memset(&held, 0, sizeof held);
  if (fixture_setup(state) != 0) return -1;
  watchdog_arm(120, "the test");
  return 0;
}

static void restore_pattern (void) {
  int fd;
  if (held.pattern[0] == '\0') return;
  if ((fd = open(PATTERN, O_WRONLY | O_CLOEXEC)) < 0 ||
      write(fd, held.pattern, strlen(held.pattern)) < 0)
    note("cannot put core_pattern back to \"%s\": %s", held.pattern, strerror(errno));
  if (fd >= 0) close(fd);
  held.pattern[0] = '\0';
}

static int load_teardown (void **state) {
  alarm(0);
  restore_pattern();
  if (held.child > 0) {
    kill(-held.child, SIGKILL);
    kill(held.child, SIGKILL);
    while (waitpid(held.child, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (held.dir[0] != '\0') {
    DIR *d = opendir(held.dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
      if (e->d_name[0] != '.') {
        char path[384];
        snprintf(path, sizeof path, "%s/%s", held.dir, e->d_name);
        unlink(path);
      }
    if (d != NULL) closedir(d);
    rmdir(held.dir);
  }
  return fixture_teardown(state);
}

#define load_test(fn) cmocka_unit_test_setup_teardown(fn, load_setup, load_teardown)

static const char *scratch_dir (void) {
  if (held.dir[0] == '\0') {
    strcpy(held.dir, "/tmp/pss-coreload-XXXXXX");
    if (mkdtemp(held.dir) == NULL) {
      held.dir[0] = '\0';
      fail_because("mkdtemp: %s", strerror(errno));
    }
  }
  return held.dir;
}

static int count_fds (void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Waits for child (bounded by ms): its wait status, or fails (the
** teardown kills it). */
static int wait_child (pid_t child, long ms, const char *what) {
  long long deadline = now_ms() + ms;
  int status;
  pid_t r;
  while ((r = waitpid(child, &status, WNOHANG)) == 0 && now_ms() < deadline) sleep_us(10000);
  if (r != child) fail_because("%s did not end within %ld ms", what, ms);
  held.child = 0;
  return status;
}
/* }====================================================================== */


/* {======================================================================
** Loading, and looking at what was loaded
** ======================================================================= */

/* PssLinuxLoadSnapshot of the core at path; kept by the fixture. */
static HPSS load_path (struct fixture *f, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  HPSS l = NULL;
  DWORD rc;
  if (fd < 0) fail_because("open %s: %s", path, strerror(errno));
  rc = PssLinuxLoadSnapshot(fd, &l);
  close(fd);
  if (rc != ERROR_SUCCESS) fail_because("load %s: %s: %s", path, win32_error_name(rc), detail());
  fixture_keep_snapshot(f, l);
  return l;
}

static CONTEXT context_of (const PSS_LINUX_THREAD_ENTRY *e) {
  CONTEXT c;
  assert_non_null(e->Thread.ContextRecord);
  assert_true(e->Thread.SizeOfContextRecord >= sizeof c);
  memcpy(&c, e->Thread.ContextRecord, sizeof c);
  return c;
}

static const PSS_LINUX_THREAD_ENTRY *thread_by_id (const PSS_LINUX_THREAD_ENTRY *v, size_t n,
                                                   DWORD tid) {
  size_t i;
  for (i = 0; i < n; i++)
    if (v[i].Thread.ThreadId == tid) return &v[i];
  fail_because("no thread %u among the %zu loaded", (unsigned)tid, n);
  return NULL;
}

static const PSS_LINUX_VA_SPACE_ENTRY *region_at (const PSS_LINUX_VA_SPACE_ENTRY *v, size_t n,
                                                  uintptr_t base) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((uintptr_t)v[i].Region.BaseAddress == base) return &v[i];
  return NULL;
}

/* The general registers, rip, rsp and the flags the same. */
static void same_registers (DWORD tid, const CONTEXT *a, const CONTEXT *b) {
  const UINT64 ra[] = { a->Rax, a->Rcx, a->Rdx, a->Rbx, a->Rsp, a->Rbp, a->Rsi, a->Rdi, a->R8,
                         a->R9, a->R10, a->R11, a->R12, a->R13, a->R14, a->R15, a->Rip };
  const UINT64 rb[] = { b->Rax, b->Rcx, b->Rdx, b->Rbx, b->Rsp, b->Rbp, b->Rsi, b->Rdi, b->R8,
                         b->R9, b->R10, b->R11, b->R12, b->R13, b->R14, b->R15, b->Rip };
  size_t i;
  for (i = 0; i < sizeof ra / sizeof ra[0]; i++)
    if (ra[i] != rb[i])
      fail_because("thread %u: register %zu (CONTEXT order, 16 = Rip) is 0x%llx, not 0x%llx",
                   (unsigned)tid, i, (unsigned long long)rb[i], (unsigned long long)ra[i]);
  assert_int_equal(a->EFlags, b->EFlags);
  assert_int_equal(a->SegCs, b->SegCs);
  assert_int_equal(a->SegSs, b->SegSs);
}

/* n bytes at address of a live process, through /proc/PID/mem. */
static size_t read_live (pid_t pid, uint64_t address, void *buf, size_t n) {
  char path[64];
  ssize_t k;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
  k = pread(fd, buf, n, (off_t)address);
  close(fd);
  return k > 0 ? (size_t)k : 0;
}

/* Every region of l that a segment gave (Protect known) is one of the
** live capture's, with its size, protection and path; a region known only
** from NT_FILE has its place and path. Returns how many were compared. */
static DWORD writes_executes (DWORD protect) {
  switch (protect) {
    case PAGE_READWRITE: case PAGE_WRITECOPY: return 1;
    case PAGE_EXECUTE: case PAGE_EXECUTE_READ: return 2;
    case PAGE_EXECUTE_READWRITE: case PAGE_EXECUTE_WRITECOPY: return 3;
    default: return 0;
  }
}

/* gdb: gcore marks every segment readable (PF_R), so only writing and
** executing are compared. */
static size_t regions_match (struct fixture *f, HPSS live, HPSS l, int gdb) {
  size_t nl, nc, i, named = 0;
  PSS_LINUX_VA_SPACE_ENTRY *lv = fixture_walk(f, live, PSS_WALK_LINUX_VA_SPACE, &nl);
  PSS_LINUX_VA_SPACE_ENTRY *cv = fixture_walk(f, l, PSS_WALK_LINUX_VA_SPACE, &nc);
  for (i = 0; i < nc; i++) {
    const PSS_LINUX_VA_SPACE_ENTRY *c = &cv[i];
    uintptr_t base = (uintptr_t)c->Region.BaseAddress;
    const PSS_LINUX_VA_SPACE_ENTRY *r = region_at(lv, nl, base);
    if (base >= 0xffffffffff600000u) continue;   /* [vsyscall]: gdb writes it readable */
    if (r == NULL) fail_because("the core's region at 0x%lx is none of the process's", (long)base);
    assert_int_equal(c->Region.RegionSize, r->Region.RegionSize);
    if (c->Region.Protect != 0 && (gdb ? writes_executes(c->Region.Protect) !=
                                         writes_executes(r->Region.Protect)
                                       : c->Region.Protect != r->Region.Protect))
      fail_because("region 0x%lx (%.*s): protection 0x%x, the capture's 0x%x", (long)base,
                   (int)r->PathLength, r->Path, (unsigned)c->Region.Protect,
                   (unsigned)r->Region.Protect);
    if (c->PathLength > 0) {
      assert_bytes(c->Path, c->PathLength, r->Path, r->PathLength);
      assert_non_null(c->Region.MappedFileName);
      assert_utf16_bytes(c->Region.MappedFileName, c->Region.MappedFileNameLength, r->Path,
                         r->PathLength);
      assert_int_equal(c->Region.Type, r->Region.Type);
      named++;
    }
  }
  note("%zu regions of the core, %zu of them named, all the process's", nc, named);
  assert_true(named > 0);
  return nc;
}
/* }====================================================================== */


/* {======================================================================
** gdb's gcore
** ======================================================================= */

/* gcore -o DIR/core PID, bounded; the core's path, or a skip. */
static const char *run_gcore (pid_t pid, char *path, size_t cap) {
  char prefix[128], log[160];
  int status, out;
  if (access(GCORE, X_OK) != 0) skip_because("%s is not installed (gdb)", GCORE);
  snprintf(prefix, sizeof prefix, "%s/core", scratch_dir());
  snprintf(log, sizeof log, "%s/gcore.log", held.dir);
  snprintf(path, cap, "%s.%d", prefix, (int)pid);
  assert_true((out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0);
  held.child = fork();
  assert_true(held.child >= 0);
  if (held.child == 0) {
    char spid[16];
    setpgid(0, 0);          /* gcore is a script: its gdb is killed with it */
    dup2(out, 1);
    dup2(out, 2);
    unsetenv("DEBUGINFOD_URLS");
    snprintf(spid, sizeof spid, "%d", (int)pid);
    execl(GCORE, "gcore", "-o", prefix, spid, (char *)NULL);
    _exit(127);
  }
  close(out);
  status = wait_child(held.child, 90000, "gcore");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || access(path, R_OK) != 0)
    fail_because("gcore failed (wait status 0x%x); see %s", (unsigned)status, log);
  return path;
}

static void a_gcore_core_is_the_process_it_was (void **state) {
  struct fixture *f = FIXTURE(state);
  const char *args[] = { "--threads", "3", NULL };
  struct target *t = fixture_start_stack_target(f, args);
  HPSS live = NULL, l;
  char path[256];
  size_t nlive, ncore, i, same = 0;
  PSS_LINUX_THREAD_ENTRY *lt, *ct;
  PSS_LINUX_PROCESS_INFORMATION lp, cp;
  PSS_VA_CLONE_INFORMATION vc;
  PSS_HANDLE_INFORMATION hi;
  DWORD rc;
  assert_int_equal(target_wait_quiet(t), 0);
  rc = PssCaptureSnapshot(fixture_open(f, t->pid), PSS_CAPTURE_THREADS |
                          PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_SPACE |
                          PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION, CONTEXT_ALL, &live);
  if (rc != ERROR_SUCCESS) fail_because("capture: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, live);
  l = load_path(f, run_gcore(t->pid, path, sizeof path));
  /* threads: the same, at the same registers (they are blocked in read) */
  lt = fixture_walk(f, live, PSS_WALK_LINUX_THREADS, &nlive);
  ct = fixture_walk(f, l, PSS_WALK_LINUX_THREADS, &ncore);
  assert_int_equal(ncore, nlive);
  for (i = 0; i < nlive; i++) {
    const PSS_LINUX_THREAD_ENTRY *c = thread_by_id(ct, ncore, lt[i].Thread.ThreadId);
    CONTEXT a = context_of(&lt[i]), b = context_of(c);
    same_registers(lt[i].Thread.ThreadId, &a, &b);
    assert_int_equal(b.MxCsr, a.MxCsr);
    assert_int_equal((uintptr_t)c->Thread.TebBaseAddress, (uintptr_t)lt[i].Thread.TebBaseAddress);
    assert_int_equal(c->SyscallNumber, lt[i].SyscallNumber);
    assert_int_equal(c->Thread.ProcessId, (DWORD)t->pid);
  }
  /* the process */
  lp = query_linux_process(live);
  cp = query_linux_process(l);
  assert_int_equal(cp.Process.ProcessId, (DWORD)t->pid);
  assert_int_equal(cp.Process.ParentProcessId, (DWORD)getpid());
  assert_int_equal(cp.EntryPoint, lp.EntryPoint);
  assert_int_equal(cp.ThreadCount, nlive);
  assert_memory_equal(cp.Process.ImageFileName, lp.Process.ImageFileName,
                      sizeof lp.Process.ImageFileName);
  assert_bytes(cp.Comm, cp.CommLength, lp.Comm, lp.CommLength);
  assert_non_null(cp.CommandLine);
  assert_non_null(cp.NotFrozen);
  regions_match(f, live, l, 1);
  /* memory: every writable region's first page, and each thread's stack at
  ** its stack pointer, as /proc/PID/mem gives them */
  {
    size_t nr;
    PSS_LINUX_VA_SPACE_ENTRY *cv = fixture_walk(f, l, PSS_WALK_LINUX_VA_SPACE, &nr);
    for (i = 0; i < nr + ncore; i++) {
      unsigned char a[4096], b[4096];
      uint64_t at = i < nr ? (uintptr_t)cv[i].Region.BaseAddress : context_of(&ct[i - nr]).Rsp;
      SIZE_T got = 0;
      size_t n;
      if (i < nr && writes_executes(cv[i].Region.Protect) != 1) continue;   /* data only */
      n = read_live(t->pid, at, a, 256);
      assert_true(n > 0);
      assert_code(PssLinuxReadSnapshotMemory(l, at, b, n, &got), ERROR_SUCCESS);
      assert_int_equal(got, n);
      if (memcmp(a, b, n) != 0) fail_because("the core's bytes at 0x%llx are not the process's",
                                             (unsigned long long)at);
      same++;
    }
  }
  note("%zu threads at their registers, %zu memory ranges the same", nlive, same);
  assert_true(same > ncore);
  /* what a core does not hold */
  assert_code(PssQuerySnapshot(l, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc), ERROR_NOT_FOUND);
  assert_code(PssQuerySnapshot(l, PSS_QUERY_HANDLE_INFORMATION, &hi, sizeof hi),
              PssQuerySnapshot(live, PSS_QUERY_HANDLE_INFORMATION, &hi, sizeof hi));
}
/* }====================================================================== */


/* {======================================================================
** A kernel core
** ======================================================================= */
static volatile uint64_t crash_marker;   /* the child writes it before it aborts */

struct crash { int report; uint64_t stack; };

static void *crash_thread (void *arg) {
  struct crash *c = arg;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  uint64_t word[2];
  word[0] = (uint64_t)tid;
  word[1] = (uint64_t)(uintptr_t)&tid;       /* where its stack is */
  if (write(c->report, word, sizeof word) != sizeof word) _exit(3);
  close(c->report);
  raise(SIGABRT);
  _exit(4);
}

/* The child: a second thread aborts, so the kernel's core has two. */
static void crash_child (const char *dir, int report, uint64_t marker) {
  struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
  struct sigaction dfl;
  struct crash c = { report, 0 };
  pthread_t th;
  sigset_t all;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGABRT, &dfl, NULL);
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  if (setrlimit(RLIMIT_CORE, &unlimited) != 0 || chdir(dir) != 0) _exit(2);
  prctl(PR_SET_DUMPABLE, 1);
  crash_marker = marker;
  if (pthread_create(&th, NULL, crash_thread, &c) != 0) _exit(5);
  for (;;) pause();
}

/*
** Where the kernel will write the core: a pattern relative to the
** crashing process's directory needs no change; an absolute one is
** pointed at the test's directory for its child, and put back at once; a
** pipe to a handler is not ours to replace.
*/
static void aim_core_pattern (const char *dir) {
  char now[512], want[300];
  ssize_t n;
  int fd = open(PATTERN, O_RDONLY | O_CLOEXEC);
  if (fd < 0) skip_because("%s cannot be read: %s", PATTERN, strerror(errno));
  n = read(fd, now, sizeof now - 1);
  close(fd);
  if (n <= 0) skip_because("%s is empty", PATTERN);
  now[n] = '\0';
  if (now[0] == '|') skip_because("core_pattern pipes cores to a handler (%s)", now);
  if (strchr(now, '/') == NULL) return;
  snprintf(want, sizeof want, "%s/core", dir);
  snprintf(held.pattern, sizeof held.pattern, "%s", now);
  if ((fd = open(PATTERN, O_WRONLY | O_CLOEXEC)) < 0 || write(fd, want, strlen(want)) < 0) {
    held.pattern[0] = '\0';
    if (fd >= 0) close(fd);
    skip_because("core_pattern is %s and cannot be pointed here: %s", now, strerror(errno));
  }
  close(fd);
}

/* The one core file in dir. */
static void find_core (const char *dir, char *path, size_t cap) {
  DIR *d = opendir(dir);
  struct dirent *e;
  path[0] = '\0';
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, "core", 4) == 0) snprintf(path, cap, "%s/%s", dir, e->d_name);
  closedir(d);
  if (path[0] == '\0') skip_because("the kernel wrote no core into %s", dir);
}

static void a_kernel_core_shows_the_crash (void **state) {
  struct fixture *f = FIXTURE(state);
  const char *dir = scratch_dir();
  uint64_t marker = MARKER ^ (uint64_t)getpid(), word[2], got_marker = 0;
  char path[384];
  int p[2], status;
  pid_t child;
  struct pollfd in;
  size_t n;
  PSS_LINUX_THREAD_ENTRY *th;
  PSS_LINUX_PROCESS_INFORMATION cp;
  CONTEXT c;
  SIZE_T got = 0;
  aim_core_pattern(dir);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  child = held.child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    close(p[0]);
    crash_child(dir, p[1], marker);
  }
  close(p[1]);
  in = (struct pollfd){ p[0], POLLIN, 0 };
  assert_int_equal(poll(&in, 1, 20000), 1);
  assert_int_equal(read(p[0], word, sizeof word), (ssize_t)sizeof word);
  close(p[0]);
  status = wait_child(held.child, 60000, "the crashing child");
  restore_pattern();
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_because("the child ended with wait status 0x%x, not SIGABRT", (unsigned)status);
  if (!WCOREDUMP(status)) skip_because("the kernel dumped no core of the child (wait status 0x%x)",
                                       (unsigned)status);
  find_core(dir, path, sizeof path);
  cp = query_linux_process(load_path(f, path));
  th = fixture_walk(f, f->snapshots[f->snapshot_count - 1], PSS_WALK_LINUX_THREADS, &n);
  note("core %s: %zu threads, thread %u first", path, n, (unsigned)th[0].Thread.ThreadId);
  assert_int_equal(n, 2);
  assert_int_equal(cp.Process.ProcessId, (DWORD)child);
  assert_int_equal(th[0].Thread.ThreadId, (DWORD)word[0]);         /* the crashing thread first */
  assert_int_equal(th[0].Thread.ExitStatus, 128u + SIGABRT);
  assert_int_equal(th[1].Thread.ThreadId, cp.Process.ProcessId);  /* then the main thread */
  assert_int_equal(cp.Process.ParentProcessId, (DWORD)getpid());
  assert_int_equal(cp.RealUserId, (DWORD)getuid());
  c = context_of(&th[0]);
  /* its stack pointer is below the local it reported, on the same stack */
  if (c.Rsp > word[1] || word[1] - c.Rsp > 65536)
    fail_because("the crashing thread's rsp 0x%llx is not just below its local at 0x%llx",
                 (unsigned long long)c.Rsp, (unsigned long long)word[1]);
  assert_code(PssLinuxReadSnapshotMemory(f->snapshots[f->snapshot_count - 1],
                                         (uintptr_t)&crash_marker, &got_marker,
                                         sizeof got_marker, &got), ERROR_SUCCESS);
  assert_int_equal(got_marker, marker);
  note("the marker 0x%llx is in the core at %p", (unsigned long long)got_marker,
       (void *)&crash_marker);
}
/* }====================================================================== */


/* {======================================================================
** pss's own core
** ======================================================================= */
static int core_memfd (HPSS s) {
  int fd = memfd_create("pss-coreload", MFD_CLOEXEC);
  DWORD rc;
  assert_true(fd >= 0);
  rc = PssLinuxWriteCoreFd(s, fd);
  if (rc != ERROR_SUCCESS) fail_because("write core: %s: %s", win32_error_name(rc), detail());
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

static void a_pss_core_gives_back_the_capture (void **state) {
  struct fixture *f = FIXTURE(state);
  const char *args[] = { "--threads", "2", NULL };
  struct target *t = fixture_start_stack_target(f, args);
  HPSS s = NULL, l = NULL;
  size_t ns, nl, i;
  PSS_LINUX_THREAD_ENTRY *st, *lt;
  DWORD rc = PssCaptureSnapshot(fixture_open(f, t->pid), PSS_CAPTURE_VA_CLONE |
                                PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT |
                                PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION,
                                CONTEXT_ALL, &s);
  int fd;
  if (rc != ERROR_SUCCESS) fail_because("capture: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, s);
  fd = core_memfd(s);
  rc = PssLinuxLoadSnapshot(fd, &l);
  close(fd);
  if (rc != ERROR_SUCCESS) fail_because("load: %s: %s", win32_error_name(rc), detail());
  fixture_keep_snapshot(f, l);
  st = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &ns);
  lt = fixture_walk(f, l, PSS_WALK_LINUX_THREADS, &nl);
  assert_int_equal(nl, ns);
  assert_int_equal(lt[0].Thread.ThreadId, (DWORD)t->pid);   /* the writer puts main first */
  for (i = 0; i < ns; i++) {
    const PSS_LINUX_THREAD_ENTRY *e = thread_by_id(lt, nl, st[i].Thread.ThreadId);
    CONTEXT a = context_of(&st[i]), b = context_of(e);
    unsigned char x[512], y[512];
    SIZE_T gx = 0, gy = 0;
    same_registers(e->Thread.ThreadId, &a, &b);
    assert_memory_equal(&a.FltSave, &b.FltSave, sizeof a.FltSave);
    assert_int_equal(a.SegDs, b.SegDs);
    assert_int_equal(a.SegFs, b.SegFs);
    assert_int_equal((uintptr_t)e->Thread.TebBaseAddress, (uintptr_t)st[i].Thread.TebBaseAddress);
    assert_int_equal(e->SyscallNumber, st[i].SyscallNumber);
    assert_int_equal(e->ContextRegisters & 0x7FFFFu, st[i].ContextRegisters & 0x7FFFFu);
    /* the stack at rsp: the core's bytes are the clone's */
    assert_code(PssLinuxReadSnapshotMemory(s, a.Rsp, x, sizeof x, &gx), ERROR_SUCCESS);
    assert_code(PssLinuxReadSnapshotMemory(l, a.Rsp, y, sizeof y, &gy), ERROR_SUCCESS);
    assert_memory_equal(x, y, sizeof x);
  }
  regions_match(f, s, l, 0);
  note("%zu threads: the capture's registers, system calls and stacks", ns);
}
/* }====================================================================== */


/* {======================================================================
** Hostile cores
** ======================================================================= */
struct image {
  unsigned char *b;
  size_t n, headers_end, notes_off, notes_len, data_end, file_note;   /* offsets in b */
};

/* A small pss core of the test target, in memory, with where its parts are. */
static void small_core (struct fixture *f, struct image *im) {
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_VA_CLONE |
                           PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT);
  int fd = core_memfd(s);
  off_t end = lseek(fd, 0, SEEK_END);
  Elf64_Ehdr e;
  size_t i, at;
  assert_true(end > 0);
  memset(im, 0, sizeof *im);
  im->n = (size_t)end;
  assert_non_null(im->b = fixture_keep(f, malloc(im->n)));
  assert_int_equal(pread(fd, im->b, im->n, 0), end);
  close(fd);
  memcpy(&e, im->b, sizeof e);
  im->headers_end = e.e_phoff + (size_t)e.e_phnum * sizeof(Elf64_Phdr);
  for (i = 0; i < e.e_phnum; i++) {
    Elf64_Phdr p;
    memcpy(&p, im->b + e.e_phoff + i * sizeof p, sizeof p);
    if (p.p_type == PT_NOTE) { im->notes_off = p.p_offset; im->notes_len = p.p_filesz; }
    if (p.p_type == PT_LOAD && p.p_offset + p.p_filesz > im->data_end)
      im->data_end = p.p_offset + p.p_filesz;
  }
  assert_true(im->notes_len > 0 && im->data_end > im->notes_off + im->notes_len);
  /* the NT_FILE note: its desc's offset */
  for (at = im->notes_off; at + 12 <= im->notes_off + im->notes_len;) {
    uint32_t h[3];
    memcpy(h, im->b + at, sizeof h);
    if (h[2] == 0x46494c45) im->file_note = at + 12 + ((h[0] + 3) & ~3u);
    at += 12 + ((h[0] + 3) & ~3u) + ((h[1] + 3) & ~3u);
  }
  assert_true(im->file_note > 0);
}

/* pss_core_load of [0, size) of fd, its detail (pending, as no Pss*
** call published it) taken into why. */
static int core_load (int fd, uint64_t size, struct pss_store **s, char *why) {
  int rc = pss_core_load(fd, 0, size, s);
  pss_take_detail(why, PSS_DETAIL_MAX);
  return rc;
}

/* bytes[0..n) in a new memfd. */
static int bytes_fd (const unsigned char *b, size_t n) {
  int fd = memfd_create("pss-hostile", MFD_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, b, n), (ssize_t)n);
  return fd;
}

/* Walks every class and reads memory at each region (ASan watches). */
static void touch_everything (struct fixture *f, HPSS l) {
  static const PSS_WALK_INFORMATION_CLASS walks[] = {
    PSS_WALK_VA_SPACE, PSS_WALK_LINUX_VA_SPACE, PSS_WALK_THREADS, PSS_WALK_LINUX_THREADS,
    PSS_WALK_THREAD_NAME, PSS_WALK_HANDLES };
  size_t c;
  PSS_LINUX_PROCESS_INFORMATION p;
  assert_code(PssQuerySnapshot(l, PSS_QUERY_LINUX_PROCESS_INFORMATION, &p, sizeof p),
              ERROR_SUCCESS);
  assert_true(p.CommandLine != NULL && p.Comm != NULL && p.NotFrozen != NULL);
  assert_int_equal(strlen(p.CommandLine), p.CommandLineLength);
  for (c = 0; c < sizeof walks / sizeof walks[0]; c++) {
    HPSSWALK m = NULL;
    char e[4096];
    assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
    while (PssWalkSnapshot(l, walks[c], m, e, (DWORD)walk_entry_size(walks[c])) == ERROR_SUCCESS)
      if (walks[c] == PSS_WALK_LINUX_VA_SPACE) {
        PSS_LINUX_VA_SPACE_ENTRY *r = (void *)e;
        char byte;
        SIZE_T got;
        (void)PssLinuxReadSnapshotMemory(l, (uintptr_t)r->Region.BaseAddress, &byte, 1, &got);
        assert_int_equal(strlen(r->Path), r->PathLength);
      } else if (walks[c] == PSS_WALK_LINUX_THREADS) {
        PSS_LINUX_THREAD_ENTRY *th = (void *)e;
        if (th->Thread.ContextRecord != NULL) (void)context_of(th);
      }
    assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  }
  (void)f;
}

/* The bytes refused with -EBADMSG and a detail holding words, and by
** PssLinuxLoadSnapshot with ERROR_BAD_FORMAT; no descriptor stays open. */
static void expect_refused (const unsigned char *b, size_t n, const char *words) {
  int before = count_fds(), fd = bytes_fd(b, n);
  struct pss_store *s = (void *)1;
  HPSS l = NULL;
  char why[PSS_DETAIL_MAX];
  int rc = core_load(fd, n, &s, why);
  if (rc != -EBADMSG) fail_because("expected -EBADMSG (%s), got %d (%s)", words, rc, why);
  assert_null(s);
  if (strstr(why, words) == NULL) fail_because("the detail \"%s\" does not say \"%s\"", why, words);
  note("%s", why);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  assert_code(PssLinuxLoadSnapshot(fd, &l), ERROR_BAD_FORMAT);
  close(fd);
  assert_int_equal(count_fds(), before);
}

static void a_hostile_core_is_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  struct image im;
  unsigned char *c;
  Elf64_Ehdr e;
  small_core(f, &im);
  assert_non_null(c = fixture_keep(f, malloc(im.n + 64)));
  memcpy(&e, im.b, sizeof e);
#define FRESH() memcpy(c, im.b, im.n)
  FRESH(); c[offsetof(Elf64_Ehdr, e_machine)] = EM_AARCH64;
  expect_refused(c, im.n, "another machine (e_machine 183)");
  FRESH(); c[EI_CLASS] = ELFCLASS32;
  expect_refused(c, im.n, "64-bit");
  FRESH(); c[offsetof(Elf64_Ehdr, e_type)] = ET_EXEC;
  expect_refused(c, im.n, "no core");
  expect_refused(im.b, 40, "truncated");
  expect_refused(im.b, sizeof e + 20, "truncated");
  expect_refused(im.b, im.notes_off + im.notes_len / 2, "truncated");
  expect_refused(im.b, im.data_end - 100, "truncated");
  FRESH(); memcpy(c + im.notes_off + 4, "\xf0\xff\xff\xff", 4);     /* the first descsz */
  expect_refused(c, im.n, "past the end of its segment");
  FRESH(); e.e_phnum = 60000; memcpy(c, &e, sizeof e);          /* 3 MB of headers */
  expect_refused(c, im.notes_off + im.notes_len, "program headers");
  memcpy(&e, im.b, sizeof e);
  FRESH(); e.e_phoff = im.n + 4096; memcpy(c, &e, sizeof e);
  expect_refused(c, im.n, "program headers");
  memcpy(&e, im.b, sizeof e);
  FRESH(); memcpy(c + im.file_note, "\0\0\0\0\0\1\0\0", 8);         /* 2^40 files */
  expect_refused(c, im.n, "counts");
  {  /* PN_XNUM: without section 0, with a huge count, and with the true one */
    Elf64_Shdr sh;
    struct pss_store *s = NULL;
    char why[PSS_DETAIL_MAX];
    size_t phnum = e.e_phnum;
    int fd;
    memset(&sh, 0, sizeof sh);
    FRESH(); e.e_phnum = PN_XNUM; memcpy(c, &e, sizeof e);
    expect_refused(c, im.n, "PN_XNUM");
    e.e_shoff = im.n; e.e_shentsize = sizeof sh; e.e_shnum = 1; memcpy(c, &e, sizeof e);
    sh.sh_info = 0xffffffffu; memcpy(c + im.n, &sh, sizeof sh);
    expect_refused(c, im.n + sizeof sh, "segments");
    sh.sh_info = (Elf64_Word)phnum; memcpy(c + im.n, &sh, sizeof sh);
    fd = bytes_fd(c, im.n + sizeof sh);
    assert_int_equal(core_load(fd, im.n + sizeof sh, &s, why), 0);
    close(fd);
    assert_non_null(s);
    assert_true(s->tables[PSS_TABLE_REGIONS].count > 0);
    pss_store_release(s);
    memcpy(&e, im.b, sizeof e);
  }
#undef FRESH
}

/* Cut at every byte up to the end of the notes, and at pages of the
** segments: each refused (the same descriptor, a shorter size). */
static void a_core_cut_anywhere_is_refused (void **state) {
  struct fixture *f = FIXTURE(state);
  struct image im;
  size_t cut, tried = 0;
  int fd, before;
  small_core(f, &im);
  fd = bytes_fd(im.b, im.n);
  before = count_fds();
  for (cut = 0; cut < im.data_end; cut += cut < im.notes_off + im.notes_len ? 1 : 4093) {
    struct pss_store *s = NULL;
    char why[PSS_DETAIL_MAX];
    int rc = core_load(fd, cut, &s, why);
    if (rc != -EBADMSG) fail_because("cut at %zu of %zu bytes: %d (%s)", cut, im.n, rc, why);
    tried++;
  }
  assert_int_equal(count_fds(), before);
  close(fd);
  note("%zu cuts refused (notes end at %zu, data at %zu)", tried, im.notes_off + im.notes_len,
       im.data_end);
}

/* A bit flipped in every byte of the headers and notes: refused, or
** loaded into a snapshot whose every entry stays in bounds. */
static void a_core_with_flipped_bits_stays_in_bounds (void **state) {
  struct fixture *f = FIXTURE(state);
  struct image im;
  size_t i, loaded = 0, end;
  int fd, before;
  small_core(f, &im);
  fd = bytes_fd(im.b, im.n);
  before = count_fds();
  end = im.notes_off + im.notes_len;
  for (i = 0; i < end; i++) {
    unsigned char keep = im.b[i], flip = (unsigned char)(keep ^ (1u << (i % 8)));
    struct pss_store *s = NULL;
    char why[PSS_DETAIL_MAX];
    int rc;
    if (i >= im.headers_end && i < im.notes_off) continue;   /* between headers and notes */
    assert_int_equal(pwrite(fd, &flip, 1, (off_t)i), 1);
    rc = core_load(fd, im.n, &s, why);
    assert_int_equal(pwrite(fd, &keep, 1, (off_t)i), 1);
    if (rc == 0) {
      uintptr_t h = pss_registry_add(PSS_KIND_SNAPSHOT, s);
      assert_true(h != 0);
      loaded++;
      touch_everything(f, (HPSS)h);
      assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, (HPSS)h), ERROR_SUCCESS);
    } else if (rc != -EBADMSG) {
      fail_because("byte %zu flipped: %d (%s)", i, rc, why);
    }
  }
  close(fd);
  assert_int_equal(count_fds(), before - 1);
  note("%zu flips, %zu loaded and walked", end, loaded);
  assert_true(loaded > 0);
}
/* }====================================================================== */


int run_coreload_suite (void) {
  const struct CMUnitTest tests[] = {
    load_test(a_gcore_core_is_the_process_it_was),
    load_test(a_kernel_core_shows_the_crash),
    load_test(a_pss_core_gives_back_the_capture),
    load_test(a_hostile_core_is_refused),
    load_test(a_core_cut_anywhere_is_refused),
    load_test(a_core_with_flipped_bits_stays_in_bounds),
  };
  return cmocka_run_group_tests_name("coreload", tests, NULL, NULL);
}

#else

int run_coreload_suite (void) {
  return 0;   /* x86-64 cores are written and read by the x86-64 port only */
}

#endif
