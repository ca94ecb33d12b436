/*
** test_freeze.c -- a capture of another process freezes it: every thread
** is seized and interrupted, its registers read, and detached again
** (src/linux/freeze.c). What the tests hold the library to:
**
** - the registers are those of one instant, each exactly as the thread
**   left them (known values in callee-saved registers, rip inside a known
**   block of code, TebBaseAddress = pthread_self, a debugger agrees);
** - the target is never left stopped or traced: not after a capture, not
**   when the capturer is SIGKILLed at any moment, not when threads come
**   and go or the process exits during the freeze; a target in a
**   job-control stop stays in it;
** - sleeps and blocking reads of the target go on as if nothing happened;
** - a target traced by someone else is ERROR_BUSY, and is left to it;
** - the freeze is measured.
**
** A library call that never returns would hang the whole suite: every test
** runs under a watchdog (SIGALRM) that fails it, and the teardown kills
** and reaps every child process the test started, before the fixture
** stops the targets.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"

#if defined(__x86_64__)

#define UNTOUCHED_SNAPSHOT ((HPSS)(uintptr_t)0x5eed5eedu)
#define WITH_CONTEXTS (PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT)
#define CONTROL_AND_INTEGER (CONTEXT_CONTROL | CONTEXT_INTEGER)
#define MAX_SEEN 256
#define MAX_CHILDREN 8
#define GDB "/usr/bin/gdb"

/* What the parked thread of pss-target --parked loads */
#define PARKED_R12 0x5053535f52313221ULL
#define PARKED_R13 0x0123456789abcdefULL

/* x86-64 Linux user segment selectors (__USER_CS, __USER_DS) */
#define USER_CS 0x33
#define USER_DS 0x2b



/* {======================================================================
** Watchdog and child processes
** ======================================================================= */

static pid_t children[MAX_CHILDREN];
static size_t child_count;

static void forget_child (pid_t pid) {
  size_t i;
  for (i = 0; i < child_count; i++)
    if (children[i] == pid) {
      children[i] = children[--child_count];
      return;
    }
}

/* fork, the child remembered so the teardown can kill it; 0 in the child. */
static pid_t child_fork (void) {
  pid_t pid;
  assert_true(child_count < MAX_CHILDREN);
  pid = fork();
  assert_true(pid >= 0);
  if (pid > 0)
    children[child_count++] = pid;
  return pid;
}

/* Waits up to timeout_ms for a child to end, SIGKILLing it first if
** kill_it; its wait status once reaped, -1 if it cannot be waited for,
** -2 if it is still there. */
static int child_end (pid_t pid, int kill_it, long timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  if (kill_it)
    kill(pid, SIGKILL);
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      forget_child(pid);
      return st;
    }
    if (r < 0 && errno != EINTR) {
      forget_child(pid);
      return -1;
    }
    if (now_ms() > deadline)
      return -2;
    sleep_us(200);
  }
}

/* ASAN_OPTIONS as it was before a test changed it for its targets */
static char *saved_asan_options;
static int asan_options_changed;

/* An ASan build of the target runs LeakSanitizer at exit, and LeakSanitizer
** stops the target's own threads with ptrace: when a capture holds them
** at that moment it gives up and aborts the target ("LeakSanitizer does
** not work under ptrace"). A limit of the sanitizer, not of the library:
** targets started after this call run without the leak check. */
static void targets_without_leak_check (void) {
  char const *old = getenv("ASAN_OPTIONS");
  char *changed;
  if (old == NULL || asan_options_changed)
    return;
  saved_asan_options = strdup(old);
  changed = malloc(strlen(old) + sizeof ":detect_leaks=0");
  assert_non_null(saved_asan_options);
  assert_non_null(changed);
  strcpy(changed, old);
  strcat(changed, ":detect_leaks=0");
  asan_options_changed = 1;
  setenv("ASAN_OPTIONS", changed, 1);
  free(changed);
}

static void restore_asan_options (void) {
  if (!asan_options_changed)
    return;
  setenv("ASAN_OPTIONS", saved_asan_options, 1);
  free(saved_asan_options);
  saved_asan_options = NULL;
  asan_options_changed = 0;
}

static int freeze_setup (void **state) {
  child_count = 0;
  if (fixture_setup(state) != 0)
    return -1;
  watchdog_arm(120, "the test");
  return 0;
}

static int freeze_teardown (void **state) {
  struct fixture *f = FIXTURE(state);
  alarm(0);
  restore_asan_options();
  /* a thread the library left traced by us would make reaping the target
  ** wait forever: detach or reap it first, and say so */
  fixture_release_tracees(f);
  while (child_count > 0) {
    pid_t pid = children[child_count - 1];
    if (child_end(pid, 1, 10000) == -2) {
      note("teardown: child %d did not die", (int)pid);
      forget_child(pid);
    }
  }
  return fixture_teardown(state);
}

#define freeze_test(fn) cmocka_unit_test_setup_teardown(fn, freeze_setup, freeze_teardown)
/* }====================================================================== */


/* {======================================================================
** The target's threads, seen from /proc and from its report
** ======================================================================= */



/* "tid state TracerPid" of every thread of pid, for messages. */
static char const *describe_threads (pid_t pid, char *buf, size_t cap) {
  pid_t tids[64];
  long n = proc_tids(pid, tids, 64), i;
  size_t used = 0;
  buf[0] = '\0';
  for (i = 0; i < n && used + 64 < cap; i++) {
    char st = thread_state(pid, tids[i]);
    used += (size_t)snprintf(buf + used, cap - used, "%s%d %c TracerPid %ld", i ? ", " : "",
                             (int)tids[i], st ? st : '?', thread_tracer(pid, tids[i]));
  }
  return buf;
}


/* Waits (bounded) until every thread of pid is in state want. */
static void wait_all_in_state (pid_t pid, char want, long timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    pid_t tids[1024];
    long n = proc_tids(pid, tids, 1024), i;
    char other = 0;
    pid_t which = 0;
    for (i = 0; i < n && other == 0; i++) {
      char st = thread_state(pid, tids[i]);
      if (st != want && st != 0) {
        other = st;
        which = tids[i];
      }
    }
    if (n > 0 && other == 0)
      return;
    if (now_ms() > deadline)
      fail_because("thread %d of %d is still in state %c, not %c, after %ld ms",
                   (int)which, (int)pid, other ? other : '?', want, timeout_ms);
    sleep_us(1000);
  }
}

/* Waits (bounded) until thread tid is blocked in system call nr. */
static void wait_in_syscall (pid_t pid, pid_t tid, long nr) {
  long long deadline = now_ms() + 10000;
  struct proc_syscall sc;
  for (;;) {
    if (proc_syscall(pid, tid, &sc) == 0 && sc.state == 1 && sc.nr == nr)
      return;
    if (now_ms() > deadline)
      fail_because("thread %d never blocked in system call %ld", (int)tid, nr);
    sleep_us(1000);
  }
}

struct parked {
  pid_t tid;
  uint64_t begin, end, self;
};

/* "parked <tid> <begin> <end> <pthread_self>" of pss-target --parked */
static struct parked parked_of (struct target const *t) {
  char line[256];
  struct parked p;
  int tid = 0;
  unsigned long long begin = 0, end = 0, self = 0;
  if (!target_report_line(t, "parked", 0, line, sizeof line) ||
      sscanf(line, "%d %llx %llx %llx", &tid, &begin, &end, &self) != 4)
    fail_because("the target's report has no parked line");
  p.tid = (pid_t)tid;
  p.begin = begin;
  p.end = end;
  p.self = self;
  assert_true(p.begin < p.end);
  return p;
}

/* pthread_self of a thread from its "tls <tid> <hex>" line; 0 if none. */
static uint64_t tls_of (struct target const *t, pid_t tid) {
  char line[128];
  size_t i;
  for (i = 0; target_report_line(t, "tls", i, line, sizeof line); i++) {
    int who;
    unsigned long long self;
    if (sscanf(line, "%d %llx", &who, &self) == 2 && (pid_t)who == tid)
      return self;
  }
  return 0;
}

/* Two tids of a "<word> <tid> <tid>" line (counters, sleeper). */
static void two_tids_of (struct target const *t, char const *word, pid_t *a, pid_t *b) {
  char line[128];
  int x = 0, y = 0;
  if (!target_report_line(t, word, 0, line, sizeof line) ||
      sscanf(line, "%d %d", &x, &y) != 2)
    fail_because("the target's report has no %s line", word);
  *a = (pid_t)x;
  *b = (pid_t)y;
}

/* }====================================================================== */


/* {======================================================================
** Captures and their thread entries
** ======================================================================= */

/* A thread entry as walked, with a copy of its CONTEXT record: the
** entry's ContextRecord points at the copy (NULL if it had none). */
struct seen {
  PSS_LINUX_THREAD_ENTRY e;
  uintptr_t record;           /* where the walk put the record */
  char name[32];
  CONTEXT c;
};

static struct seen *seen_buffer (struct fixture *f) {
  struct seen *s = calloc(MAX_SEEN, sizeof *s);
  assert_non_null(s);
  return fixture_keep(f, s);
}

/* Walks the threads of s with a marker of its own, freed before return;
** the number of entries. */
static size_t walk_threads (HPSS s, struct seen *out) {
  HPSSWALK m = NULL;
  size_t n = 0;
  DWORD rc;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  for (;;) {
    PSS_LINUX_THREAD_ENTRY e;
    rc = PssWalkSnapshot(s, PSS_WALK_LINUX_THREADS, m, &e, sizeof e);
    if (rc != ERROR_SUCCESS || n == MAX_SEEN)
      break;
    memset(&out[n], 0, sizeof out[n]);
    out[n].e = e;
    out[n].record = (uintptr_t)e.Thread.ContextRecord;
    if (e.Name != NULL)
      snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)e.NameLength, e.Name);
    out[n].e.Name = NULL;
    if (e.Thread.ContextRecord != NULL) {
      size_t len = e.Thread.SizeOfContextRecord;
      memcpy(&out[n].c, e.Thread.ContextRecord, len < sizeof out[n].c ? len : sizeof out[n].c);
      out[n].e.Thread.ContextRecord = &out[n].c;
    }
    n++;
  }
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  if (rc != ERROR_NO_MORE_ITEMS)
    fail_because("walking the threads stopped after %zu entries: %s (%u)", n,
                 win32_error_name(rc), (unsigned)rc);
  return n;
}

static struct seen *find_seen (struct seen *s, size_t n, pid_t tid) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i].e.Thread.ThreadId == (DWORD)tid)
      return &s[i];
  return NULL;
}

/* The entry of tid, which must have a CONTEXT with control and integer. */
static CONTEXT const *context_of (struct seen *s, size_t n, pid_t tid, char const *who) {
  struct seen *e = find_seen(s, n, tid);
  if (e == NULL)
    fail_because("%s (thread %d) is not in the snapshot", who, (int)tid);
  if (e->e.Thread.ContextRecord == NULL)
    fail_because("%s (thread %d) has no ContextRecord", who, (int)tid);
  if ((e->c.ContextFlags & CONTROL_AND_INTEGER) != CONTROL_AND_INTEGER)
    fail_because("%s (thread %d): ContextFlags 0x%08x lacks CONTEXT_CONTROL|CONTEXT_INTEGER",
                 who, (int)tid, (unsigned)e->c.ContextFlags);
  return &e->c;
}

/* PssCaptureSnapshot asserted to succeed, kept by the fixture. */
static HPSS capture_kept (struct fixture *f, HANDLE h, PSS_CAPTURE_FLAGS flags, DWORD context) {
  HPSS s = UNTOUCHED_SNAPSHOT;
  DWORD rc = PssCaptureSnapshot(h, flags, context, &s);
  if (rc != ERROR_SUCCESS)
    fail_because("PssCaptureSnapshot(flags 0x%08x, context 0x%08x): %s (%u), errno %d",
                 (unsigned)flags, (unsigned)context, win32_error_name(rc), (unsigned)rc,
                 PssLinuxLastErrno());
  fixture_keep_snapshot(f, s);
  return s;
}

/* A capture walked into out and freed at once; the number of threads. */
static size_t capture_seen (struct fixture *f, HANDLE h, PSS_CAPTURE_FLAGS flags, DWORD context,
                            struct seen *out) {
  HPSS s = capture_kept(f, h, flags, context);
  size_t n = walk_threads(s, out);
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  return n;
}

#define expect_u64(got, want, what)                                              \
  do {                                                                           \
    uint64_t got_ = (got), want_ = (want);                                       \
    if (got_ != want_)                                                           \
      fail_because("%s: got 0x%016" PRIx64 ", expected 0x%016" PRIx64, (what),   \
                   got_, want_);                                                 \
  } while (0)
/* }====================================================================== */


/* {======================================================================
** Registers
** ======================================================================= */

/* The parked thread's registers as it set them, in a record of this size. */
static void check_parked (struct seen *s, size_t n, struct parked const *p, size_t size) {
  CONTEXT const *c = context_of(s, n, p->tid, "the parked thread");
  struct seen const *e = find_seen(s, n, p->tid);
  if (c->Rip < p->begin || c->Rip > p->end)
    fail_because("parked thread: Rip 0x%" PRIx64 " is outside its asm block [0x%" PRIx64
                 ", 0x%" PRIx64 "]", (uint64_t)c->Rip, p->begin, p->end);
  expect_u64(c->R12, PARKED_R12, "parked thread R12");
  expect_u64(c->R13, PARKED_R13, "parked thread R13");
  expect_u64(c->R14, (uint64_t)p->tid, "parked thread R14 (its tid)");
  expect_u64((uintptr_t)e->e.Thread.TebBaseAddress, p->self,
             "parked thread TebBaseAddress (its pthread_self)");
  assert_int_equal(c->SegCs, USER_CS);
  assert_int_equal(c->SegSs, USER_DS);
  assert_true(c->Rsp != 0);
  assert_int_equal(e->e.Thread.SizeOfContextRecord, size);
}

/* Every record: 16-aligned, CONTEXT_AMD64 plus known bits only, the
** requested parts filled, MxCsr as in FltSave, TebBaseAddress its tls. */
static void check_records (struct target const *t, struct seen *s, size_t n, size_t size,
                           PSS_THREAD_INFORMATION const *ti, int extended) {
  size_t i;
  assert_int_equal(ti->ThreadsCaptured, n);
  assert_int_equal(ti->ContextLength, size);
  for (i = 0; i < n; i++) {
    CONTEXT const *c = context_of(s, n, (pid_t)s[i].e.Thread.ThreadId, s[i].name);
    DWORD known = CONTEXT_ALL | CONTEXT_XSTATE;
    uint64_t tls = tls_of(t, (pid_t)s[i].e.Thread.ThreadId);
    if (s[i].record % 16 != 0)
      fail_because("thread %u: ContextRecord %p is not 16-aligned",
                   (unsigned)s[i].e.Thread.ThreadId, (void *)s[i].record);
    if (s[i].e.Thread.SizeOfContextRecord != size)
      fail_because("thread %u: SizeOfContextRecord %u, ContextLength %zu",
                   (unsigned)s[i].e.Thread.ThreadId,
                   (unsigned)s[i].e.Thread.SizeOfContextRecord, size);
    if ((c->ContextFlags & ~known) != 0 || (c->ContextFlags & CONTEXT_AMD64) == 0)
      fail_because("thread %u: ContextFlags 0x%08x has unknown bits",
                   (unsigned)s[i].e.Thread.ThreadId, (unsigned)c->ContextFlags);
    if ((c->ContextFlags & CONTEXT_ALL) != CONTEXT_ALL)
      fail_because("thread %u: ContextFlags 0x%08x for CONTEXT_ALL",
                   (unsigned)s[i].e.Thread.ThreadId, (unsigned)c->ContextFlags);
    if (extended && (c->ContextFlags & CONTEXT_XSTATE) != CONTEXT_XSTATE)
      fail_because("thread %u: an extended record without CONTEXT_XSTATE in 0x%08x",
                   (unsigned)s[i].e.Thread.ThreadId, (unsigned)c->ContextFlags);
    if (!extended && (c->ContextFlags & CONTEXT_XSTATE) == CONTEXT_XSTATE)
      fail_because("thread %u: CONTEXT_XSTATE without PSS_CAPTURE_THREAD_CONTEXT_EXTENDED",
                   (unsigned)s[i].e.Thread.ThreadId);
    assert_int_equal(c->MxCsr, c->FltSave.MxCsr);
    assert_int_equal(c->SegCs, USER_CS);
    if (tls == 0)
      fail_because("thread %u is not in the target's tls lines", (unsigned)s[i].e.Thread.ThreadId);
    expect_u64((uintptr_t)s[i].e.Thread.TebBaseAddress, tls, s[i].name);
  }
}

static void registers_of_a_parked_thread (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--parked", "--tls", NULL);
  struct parked p = parked_of(t);
  HANDLE h = fixture_open(f, t->pid);
  struct seen *seen = seen_buffer(f);
  PSS_THREAD_INFORMATION ti;
  size_t n, extended_size;
  HPSS s;
  wait_in_syscall(t->pid, p.tid, SYS_pause);
  /* the record alone */
  s = capture_kept(f, h, WITH_CONTEXTS, CONTEXT_ALL);
  n = walk_threads(s, seen);
  assert_int_equal(n, t->thread_count);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti), ERROR_SUCCESS);
  assert_int_equal(sizeof(CONTEXT), 1232);
  check_parked(seen, n, &p, sizeof(CONTEXT));
  check_records(t, seen, n, sizeof(CONTEXT), &ti, 0);
  /* and with the XSAVE area after it */
  s = capture_kept(f, h, WITH_CONTEXTS | PSS_CAPTURE_THREAD_CONTEXT_EXTENDED, CONTEXT_ALL);
  n = walk_threads(s, seen);
  assert_int_equal(n, t->thread_count);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti), ERROR_SUCCESS);
  extended_size = find_seen(seen, n, p.tid)->e.Thread.SizeOfContextRecord;
  if (extended_size <= sizeof(CONTEXT))
    fail_because("an extended record is %zu bytes, not more than the CONTEXT's %zu",
                 extended_size, sizeof(CONTEXT));
  check_parked(seen, n, &p, extended_size);
  check_records(t, seen, n, extended_size, &ti, 1);
  expect_untouched(t->pid, "after the captures");
}

/* }====================================================================== */

/* {======================================================================
** Against a debugger
** ======================================================================= */

struct gdb_thread {
  pid_t tid;
  uint64_t rip, rsp;
  int has_rip, has_rsp;
};

/* Runs gdb on pid; its stdout in out (NUL-terminated). Bounded: gdb is
** killed, and the test fails, if it takes more than 60 s. */
static void run_gdb (pid_t pid, char *out, size_t cap) {
  char pidtext[32];
  int p[2], status;
  size_t used = 0;
  long long deadline = now_ms() + 60000;
  pid_t child;
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  child = child_fork();
  if (child == 0) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    dup2(p[1], 1);
    dup2(null, 2);
    unsetenv("DEBUGINFOD_URLS");
    execl(GDB, "gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-p", pidtext,
          "-ex", "thread apply all info registers rip rsp", (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  for (;;) {
    struct pollfd pf = { p[0], POLLIN, 0 };
    ssize_t n;
    if (now_ms() > deadline) {
      close(p[0]);
      child_end(child, 1, 10000);
      fail_because("gdb did not finish within 60 s");
    }
    if (poll(&pf, 1, 100) <= 0)
      continue;
    n = read(p[0], out + used, cap - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t)n;
    if (used == cap - 1)
      break;
  }
  close(p[0]);
  out[used] = '\0';
  status = child_end(child, 0, deadline - now_ms() > 0 ? (long)(deadline - now_ms()) : 1);
  if (status == -2) {
    child_end(child, 1, 10000);
    fail_because("gdb did not exit within 60 s");
  }
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_because("gdb -p %d failed (wait status 0x%x)", (int)pid, (unsigned)status);
}

/* "Thread N (Thread 0x... (LWP tid) "name"):" then "rip 0x..." "rsp 0x..." */
static size_t parse_gdb (char const *text, struct gdb_thread *out, size_t cap) {
  size_t n = 0;
  while (*text != '\0') {
    char const *eol = strchr(text, '\n');
    char const *lwp = strstr(text, "(LWP ");
    size_t len = eol != NULL ? (size_t)(eol - text) : strlen(text);
    if (lwp != NULL && (size_t)(lwp - text) < len && strncmp(text, "Thread ", 7) == 0 && n < cap) {
      memset(&out[n], 0, sizeof out[n]);
      out[n++].tid = (pid_t)strtol(lwp + 5, NULL, 10);
    } else if (n > 0 && strncmp(text, "rip ", 4) == 0) {
      out[n - 1].rip = strtoull(text + 4, NULL, 0);
      out[n - 1].has_rip = 1;
    } else if (n > 0 && strncmp(text, "rsp ", 4) == 0) {
      out[n - 1].rsp = strtoull(text + 4, NULL, 0);
      out[n - 1].has_rsp = 1;
    }
    text += len;
    if (*text == '\n')
      text++;
  }
  return n;
}

static void contexts_match_gdb (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  struct parked p;
  struct seen *seen;
  struct gdb_thread gdb[MAX_SEEN];
  char *text;
  size_t n, ng, i, j, compared = 0;
  if (access(GDB, X_OK) != 0)
    skip_because("%s is missing: no debugger to compare the registers with", GDB);
  t = fixture_start(f, "--parked", NULL);
  p = parked_of(t);
  seen = seen_buffer(f);
  text = fixture_keep(f, malloc(1 << 20));
  assert_non_null(text);
  wait_in_syscall(t->pid, p.tid, SYS_pause);
  n = capture_seen(f, fixture_open(f, t->pid), WITH_CONTEXTS, CONTEXT_ALL, seen);
  assert_int_equal(n, t->thread_count);
  /* every thread is blocked in a system call: none moves before gdb looks */
  run_gdb(t->pid, text, 1 << 20);
  ng = parse_gdb(text, gdb, MAX_SEEN);
  for (i = 0; i < n; i++) {
    CONTEXT const *c = context_of(seen, n, (pid_t)seen[i].e.Thread.ThreadId, seen[i].name);
    if (seen[i].e.State != 'S' || seen[i].e.SyscallNumber < 0)
      continue;
    for (j = 0; j < ng && gdb[j].tid != (pid_t)seen[i].e.Thread.ThreadId; j++) {}
    if (j == ng || !gdb[j].has_rip || !gdb[j].has_rsp)
      fail_because("gdb shows no rip/rsp for thread %u (%s); its output:\n%.2000s",
                   (unsigned)seen[i].e.Thread.ThreadId, seen[i].name, text);
    if (c->Rip != gdb[j].rip || c->Rsp != gdb[j].rsp)
      fail_because("thread %u (%s, in system call %ld): captured rip 0x%" PRIx64
                   " rsp 0x%" PRIx64 ", gdb says rip 0x%" PRIx64 " rsp 0x%" PRIx64,
                   (unsigned)seen[i].e.Thread.ThreadId, seen[i].name,
                   (long)seen[i].e.SyscallNumber, (uint64_t)c->Rip, (uint64_t)c->Rsp,
                   gdb[j].rip, gdb[j].rsp);
    compared++;
  }
  if (compared != n)
    fail_because("only %zu of %zu threads were blocked in a system call", compared, n);
  note("rip and rsp of %zu threads agree with gdb", compared);
}
/* }====================================================================== */

/* {======================================================================
** One instant
** ======================================================================= */

static void one_instant_across_threads (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start_running(f, "--counters", "--threads", "1", NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct seen *seen = seen_buffer(f);
  uint64_t last_a = 0, last_b = 0;
  pid_t a, b;
  int i;
  two_tids_of(t, "counters", &a, &b);
  for (i = 0; i < 20; i++) {
    size_t n = capture_seen(f, h, WITH_CONTEXTS, CONTEXT_ALL, seen);
    uint64_t ra = context_of(seen, n, a, "counter-a")->R12;
    uint64_t rb = context_of(seen, n, b, "counter-b")->R13;
    if (rb > ra)
      fail_because("capture %d: counter-b had copied X = %" PRIu64 " but counter-a's register "
                   "says %" PRIu64 ": the two were not stopped at one instant", i, rb, ra);
    if (ra < last_a || rb < last_b)
      fail_because("capture %d: a counter went back (a %" PRIu64 " after %" PRIu64
                   ", b %" PRIu64 " after %" PRIu64 ")", i, ra, last_a, rb, last_b);
    last_a = ra;
    last_b = rb;
  }
  assert_true(last_a > 0);
  expect_untouched(t->pid, "after the captures");
}
/* }====================================================================== */


/* {======================================================================
** The target is never left stopped
** ======================================================================= */

/* The capturing child: says it is ready, then captures forever; a capture
** that fails writes its code (the parent reads them after the kill). */
static _Noreturn void capture_forever (pid_t pid, int report) {
  HANDLE h = NULL;
  char ready = 1;
  fcntl(report, F_SETFL, O_NONBLOCK);
  if (PssLinuxOpenProcess((DWORD)pid, &h) != ERROR_SUCCESS)
    _exit(3);
  if (write(report, &ready, 1) != 1)
    _exit(4);
  for (;;) {
    HPSS s = NULL;
    DWORD rc = PssCaptureSnapshot(h, WITH_CONTEXTS, CONTEXT_ALL, &s);
    if (rc == ERROR_SUCCESS)
      PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    else if (write(report, &rc, sizeof rc) < 0) {
      /* the pipe is full: the parent has seen enough */
    }
  }
}

/* One round: a child captures until it is SIGKILLed after delay_us. */
static void kill_capturer_after (struct target *t, long delay_us, int round) {
  int p[2], status;
  char ready = 0;
  DWORD code;
  pid_t child;
  struct pollfd pf;
  char when[128];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  child = child_fork();
  if (child == 0) {
    close(p[0]);
    capture_forever(t->pid, p[1]);
  }
  close(p[1]);
  pf.fd = p[0];
  pf.events = POLLIN;
  pf.revents = 0;
  /* capturing from now on; the kill then lands anywhere in a capture */
  if (poll(&pf, 1, under_valgrind() ? 60000 : 10000) != 1 || read(p[0], &ready, 1) != 1) {
    close(p[0]);
    child_end(child, 1, 10000);
    fail_because("round %d: the capturing child did not start", round);
  }
  sleep_us(delay_us);
  status = child_end(child, 1, 10000);
  if (status == -2) {
    close(p[0]);
    fail_because("round %d: the capturing child did not die of SIGKILL", round);
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  code = ERROR_SUCCESS;
  if (read(p[0], &code, sizeof code) != (ssize_t)sizeof code)
    code = ERROR_SUCCESS;
  close(p[0]);
  if (code != ERROR_SUCCESS)
    fail_because("round %d: a capture in the child failed: %s (%u)", round,
                 win32_error_name(code), (unsigned)code);
  snprintf(when, sizeof when, "round %d, capturer killed after %ld us", round, delay_us);
  expect_untouched(t->pid, when);
}

static void target_never_left_stopped_when_capturer_is_killed (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--sleeper", NULL);
  int rounds = under_valgrind() ? 20 : 200, i;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  long anomalies;
  note("seed %u", seed);
  srand(seed);
  for (i = 0; i < rounds; i++)
    kill_capturer_after(t, rand() % 3001, i);
  sleep_us(60000);   /* a sleep the last kill hit has ended */
  anomalies = target_anomalies(t);
  if (anomalies != 0)
    fail_because("%ld sleeps or reads of the target ended early (EINTR or short)", anomalies);
  expect_untouched(t->pid, "at the end");
}

static void threads_that_come_and_go (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start_running(f, "--churn", "--threads", "2", NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct seen *seen = seen_buffer(f);
  int rounds = under_valgrind() ? 100 : 1000, i, ok = 0;
  DWORD last_error = ERROR_SUCCESS;
  int errors = 0;
  watchdog_arm(under_valgrind() ? 120 : 60, "capturing a target whose threads come and go");
  for (i = 0; i < rounds; i++) {
    HPSS s = UNTOUCHED_SNAPSHOT;
    DWORD rc = PssCaptureSnapshot(h, WITH_CONTEXTS, CONTEXT_ALL, &s);
    if (rc == ERROR_SUCCESS) {
      size_t n;
      fixture_keep_snapshot(f, s);
      n = walk_threads(s, seen);
      fixture_forget_snapshot(f, s);
      assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
      /* the main thread never exits: frozen every time */
      context_of(seen, n, t->pid, "the main thread");
      ok++;
      continue;
    }
    if (s != UNTOUCHED_SNAPSHOT)
      fail_because("capture %d failed (%s) but wrote *SnapshotHandle", i, win32_error_name(rc));
    /* a thread that comes or goes is no reason to fail: every capture of
    ** a live target succeeds (a thread seized twice once gave "access
    ** denied" here) */
    errors++;
    last_error = rc;
    fail_because("capture %d of a live target: %s (%u), errno %d, %s", i, win32_error_name(rc),
                 (unsigned)rc, PssLinuxLastErrno(),
                 PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "no detail");
  }
  watchdog_arm(120, "the test");
  note("%d of %d captures succeeded; %d failed, the last with %s", ok, rounds, errors,
       win32_error_name(last_error));
  assert_true(ok > 0);
  expect_untouched(t->pid, "after the captures");
}

/* 1 once the target is a zombie (not reaped), 0 while it runs; fails if it
** is gone: someone else reaped our child -- nobody here but the library. */
static int target_is_zombie (struct target *t, int captures, DWORD last) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOWAIT | WNOHANG) == 0)
    return si.si_pid == t->pid;
  if (errno == ECHILD)
    fail_because("target %d (our child) was reaped by someone else after %d captures, "
                 "the last %s (%u): its exit status is lost", (int)t->pid, captures,
                 win32_error_name(last), (unsigned)last);
  return 0;
}

static void target_exiting_during_freeze (void **state) {
  struct fixture *f = FIXTURE(state);
  int rounds = under_valgrind() ? 5 : 20, i;
  targets_without_leak_check();
  for (i = 0; i < rounds; i++) {
    char delay[16];
    struct target *t;
    HANDLE h;
    long long deadline;
    int k, status, captured = 0;
    DWORD rc = ERROR_SUCCESS;
    long long stop_capturing;
    snprintf(delay, sizeof delay, "%d", i % 10);
    t = fixture_start(f, "--exit-after", delay, "--threads", "3", "--parked", NULL);
    h = fixture_open(f, t->pid);
    stop_capturing = now_ms() + 3000;
    for (k = 0; now_ms() < stop_capturing && !target_is_zombie(t, k, rc); k++) {
      HPSS s = UNTOUCHED_SNAPSHOT;
      rc = PssCaptureSnapshot(h, WITH_CONTEXTS, CONTEXT_ALL, &s);
      if (rc == ERROR_SUCCESS) {
        captured++;
        assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
      } else if (rc != ERROR_PROCESS_ABORTED) {
        fail_because("round %d (exit after %s ms), capture %d: %s (%u), errno %d", i, delay, k,
                     win32_error_name(rc), (unsigned)rc, PssLinuxLastErrno());
      } else if (s != UNTOUCHED_SNAPSHOT) {
        fail_because("an aborted capture wrote *SnapshotHandle");
      }
    }
    fixture_close(f, h);
    /* its threads detached, the target finishes its exit by itself */
    deadline = now_ms() + 10000;
    while (!target_is_zombie(t, k, rc)) {
      if (now_ms() > deadline) {
        char threads[1024];
        describe_threads(t->pid, threads, sizeof threads);
        fail_because("round %d: the target did not finish exiting within 10 s of its %s ms "
                     "(%d captures, the last %s); its threads: %s (this process is %d)", i,
                     delay, k, win32_error_name(rc), threads, (int)getpid());
      }
      sleep_us(1000);
    }
    status = target_reap(t);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_because("round %d: the target ended with wait status 0x%x, not exit 0 "
                   "(%d captures)", i, (unsigned)status, captured);
    fixture_release_target(f, t);
  }
}

/* The counters' registers while a target with --counters is stopped. */
struct counters {
  pid_t a, b;
  uint64_t ra, rb;
};

static void capture_counters (struct fixture *f, HANDLE h, struct seen *seen,
                              struct counters *c, char const *when) {
  size_t n = capture_seen(f, h, WITH_CONTEXTS, CONTEXT_ALL, seen), i;
  c->ra = context_of(seen, n, c->a, "counter-a")->R12;
  c->rb = context_of(seen, n, c->b, "counter-b")->R13;
  for (i = 0; i < n; i++)
    if (seen[i].e.State != 'T')
      fail_because("%s: thread %u (%s) captured in state %c, not T", when,
                   (unsigned)seen[i].e.Thread.ThreadId, seen[i].name, seen[i].e.State);
}

/* A job-control stop survives the capture: the detached threads go back
** into it (the kernel wakes a detached tracee, which re-enters the group
** stop: /proc may show it 'R' for some microseconds, so the state is
** awaited, bounded), no user code of the target runs (the counters'
** registers do not move between two captures), SIGCONT resumes it. */
static void stopped_target_stays_stopped (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start_running(f, "--counters", "--parked", NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct seen *seen = seen_buffer(f);
  struct counters first, second, resumed;
  PSS_LINUX_PROCESS_INFORMATION li;
  size_t i;
  HPSS s;
  two_tids_of(t, "counters", &first.a, &first.b);
  second = resumed = first;
  assert_int_equal(kill(t->pid, SIGSTOP), 0);
  wait_all_in_state(t->pid, 'T', 10000);
  capture_counters(f, h, seen, &first, "first capture");
  wait_all_in_state(t->pid, 'T', 1000);
  for (i = 0; i < t->thread_count; i++) {
    long tracer = thread_tracer(t->pid, t->threads[i].tid);
    if (tracer != 0)
      fail_because("after the capture thread %d (%s) has TracerPid %ld",
                   (int)t->threads[i].tid, t->threads[i].name, tracer);
  }
  /* still stopped a while later, without waiting */
  sleep_us(100000);
  wait_all_in_state(t->pid, 'T', 0);
  s = capture_kept(f, h, WITH_CONTEXTS, CONTEXT_ALL);
  li = query_linux_process(s);
  assert_int_equal(li.State, 'T');
  assert_int_equal(li.Process.Flags & PSS_PROCESS_FLAGS_FROZEN, PSS_PROCESS_FLAGS_FROZEN);
  capture_counters(f, h, seen, &second, "second capture");
  if (second.ra != first.ra || second.rb != first.rb)
    fail_because("the stopped target ran between two captures: counter-a %" PRIu64
                 " then %" PRIu64 ", counter-b %" PRIu64 " then %" PRIu64,
                 first.ra, second.ra, first.rb, second.rb);
  wait_all_in_state(t->pid, 'T', 1000);
  for (i = 0; i < t->thread_count; i++)
    assert_int_equal(thread_tracer(t->pid, t->threads[i].tid), 0);
  /* SIGCONT: it runs again -- the sleepers sleep, the counters count */
  assert_int_equal(kill(t->pid, SIGCONT), 0);
  for (i = 0; i < t->thread_count; i++)
    if (t->threads[i].tid != first.a && t->threads[i].tid != first.b) {
      long long deadline = now_ms() + 10000;
      while (thread_state(t->pid, t->threads[i].tid) != 'S') {
        if (now_ms() > deadline)
          fail_because("thread %d (%s) is not back in S after SIGCONT (state %c)",
                       (int)t->threads[i].tid, t->threads[i].name,
                       thread_state(t->pid, t->threads[i].tid));
        sleep_us(1000);
      }
    }
  expect_untouched(t->pid, "after SIGCONT");
  {
    /* it may wait for a CPU a while: look again until it moved (bounded) */
    long long deadline = now_ms() + 10000;
    do {
      size_t n = capture_seen(f, h, WITH_CONTEXTS, CONTEXT_ALL, seen);
      resumed.ra = context_of(seen, n, resumed.a, "counter-a")->R12;
      if (resumed.ra == first.ra && now_ms() > deadline)
        fail_because("counter-a did not move within 10 s of SIGCONT (%" PRIu64 ")", resumed.ra);
      if (resumed.ra == first.ra)
        sleep_us(10000);
    } while (resumed.ra == first.ra);
  }
  assert_int_equal(target_send(t, "exit 4"), 0);
  assert_int_equal(WEXITSTATUS(target_stop(t)), 4);
}
/* }====================================================================== */


/* {======================================================================
** Someone else's tracee
** ======================================================================= */

/* The holder: seizes the threads of pid (all, or only the highest tid)
** without stopping them, reports how many (or -errno), holds them until
** hold reads EOF, and exits: the kernel detaches them. */
static _Noreturn void hold_threads (pid_t pid, int all, int report, int hold) {
  pid_t tids[1024];
  long n = proc_tids(pid, tids, 1024), i;
  int seized = n > 0 ? 0 : -ESRCH;
  char c;
  for (i = all ? 0 : n - 1; i >= 0 && i < n && seized >= 0; i++) {
    if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) != 0)
      seized = -errno;
    else
      seized++;
  }
  if (write(report, &seized, sizeof seized) != (ssize_t)sizeof seized)
    _exit(2);
  while (read(hold, &c, 1) < 0 && errno == EINTR) {}
  _exit(0);
}

static void busy_while_held (struct fixture *f, struct target *t, HANDLE h, int all) {
  int report[2], hold[2], seized = 0, status;
  struct seen *seen = seen_buffer(f);
  pid_t holder, highest = 0;
  size_t i, n;
  HPSS s;
  assert_int_equal(pipe2(report, O_CLOEXEC), 0);
  assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
  holder = child_fork();
  if (holder == 0) {
    close(report[0]);
    close(hold[1]);
    hold_threads(t->pid, all, report[1], hold[0]);
  }
  close(report[1]);
  close(hold[0]);
  status = (int)read(report[0], &seized, sizeof seized);
  close(report[0]);
  if (status != (int)sizeof seized || seized <= 0) {
    close(hold[1]);
    fail_because("the holder could not seize the target (%d)", seized);
  }
  for (i = 0; i < t->thread_count; i++)
    if (t->threads[i].tid > highest)
      highest = t->threads[i].tid;
  /* held: busy, with or without contexts, and *SnapshotHandle untouched;
  ** the detail names the holder */
  s = UNTOUCHED_SNAPSHOT;
  assert_code(PssCaptureSnapshot(h, WITH_CONTEXTS, CONTEXT_ALL, &s), ERROR_BUSY);
  assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
  {
    char want[64];
    const char *detail = PssLinuxLastErrorDetail();
    snprintf(want, sizeof want, "is traced by another process (pid %d, ", (int)holder);
    if (detail == NULL || strstr(detail, want) == NULL)
      fail_because("the detail \"%s\" does not name the holder: \"%s\"",
                   detail ? detail : "(none)", want);
  }
  assert_code(PssCaptureSnapshot(h, CAPTURE_EVERYTHING, 0, &s), ERROR_BUSY);
  assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
  /* what the library seized before it met the holder's thread, it let go */
  for (i = 0; i < t->thread_count; i++) {
    pid_t tid = t->threads[i].tid;
    long tracer = thread_tracer(t->pid, tid), want = (all || tid == highest) ? holder : 0;
    char st = thread_state(t->pid, tid);
    if (tracer != want || st == 't' || st == 'T')
      fail_because("held %s: thread %d (%s) after ERROR_BUSY: TracerPid %ld (expected %ld), "
                   "state %c", all ? "all threads" : "the highest thread", (int)tid,
                   t->threads[i].name, tracer, want, st ? st : '?');
  }
  /* the holder lets go: captures work again */
  close(hold[1]);
  status = child_end(holder, 0, 10000);
  if (status == -2 || status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_because("the holder did not exit cleanly (%d)", status);
  expect_untouched(t->pid, "after the holder exited");
  n = capture_seen(f, h, WITH_CONTEXTS, CONTEXT_ALL, seen);
  assert_int_equal(n, t->thread_count);
  for (i = 0; i < n; i++)
    context_of(seen, n, (pid_t)seen[i].e.Thread.ThreadId, seen[i].name);
  expect_untouched(t->pid, "after the capture");
}

static void traced_target_is_busy (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--parked", NULL);
  HANDLE h = fixture_open(f, t->pid);
  busy_while_held(f, t, h, 1);
  busy_while_held(f, t, h, 0);
}
/* }====================================================================== */


static void freeze_is_measured (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--parked", NULL);
  HANDLE h = fixture_open(f, t->pid);
  PSS_CAPTURE_FLAGS const flags[] = {
    WITH_CONTEXTS | PSS_CREATE_MEASURE_PERFORMANCE,
    PSS_CAPTURE_HANDLES | PSS_CREATE_MEASURE_PERFORMANCE,   /* a table of another process */
  };
  size_t k;
  pid_t tids[1024];
  long ntids = proc_tids(t->pid, tids, 1024);
  assert_int_equal(ntids, (long)t->thread_count);
  for (k = 0; k < sizeof flags / sizeof flags[0]; k++) {
    HPSS s = capture_kept(f, h, flags[k], CONTEXT_ALL);
    PSS_LINUX_PERFORMANCE_COUNTERS lp;
    memset(&lp, 0xA5, sizeof lp);
    assert_code(PssQuerySnapshot(s, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &lp, sizeof lp),
                ERROR_SUCCESS);
    if (lp.ThreadsFrozen != (DWORD)t->thread_count)
      fail_because("flags 0x%08x: ThreadsFrozen %u, the target has %zu threads",
                   (unsigned)flags[k], (unsigned)lp.ThreadsFrozen, t->thread_count);
    if (flags[k] & PSS_CAPTURE_THREADS)
      assert_int_equal(query_thread_count(s), lp.ThreadsFrozen);
    if (lp.FreezeWallClockPeriod == 0 ||
        lp.FreezeWallClockPeriod > lp.Counters.TotalWallClockPeriod)
      fail_because("flags 0x%08x: FreezeWallClockPeriod %" PRIu64 " us, "
                   "TotalWallClockPeriod %" PRIu64 " us", (unsigned)flags[k],
                   (uint64_t)lp.FreezeWallClockPeriod, (uint64_t)lp.Counters.TotalWallClockPeriod);
  }
}

/* {======================================================================
** Flags
** ======================================================================= */

/* Contexts of the calling process, named by handle h, are not supported. */
/* A thread of the test process itself, parked on a condition variable. */
struct parked_thread {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int go, ready;
  pid_t tid;
  void *tls;
};

static void *park (void *arg) {
  struct parked_thread *p = arg;
  pthread_mutex_lock(&p->lock);
  p->tid = (pid_t)syscall(SYS_gettid);
  p->tls = (void *)pthread_self();
  p->ready = 1;
  pthread_cond_broadcast(&p->wake);
  while (!p->go) pthread_cond_wait(&p->wake, &p->lock);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/*
** Contexts of the calling process: a helper process freezes the other
** threads; every thread gets a record, each TebBaseAddress is that
** thread's own pthread_self(), and nothing traces us afterwards.
*/
/* ContextRegisters: all but the scratch registers and the debug
** registers for the calling thread, all for a stopped one. */
static void expect_known_registers (struct fixture *f, HPSS s, pid_t parked, char const *name) {
  const DWORD scratch = PSS_LINUX_REGISTER_RAX | PSS_LINUX_REGISTER_R10 | PSS_LINUX_REGISTER_R11;
  size_t n, i;
  PSS_LINUX_THREAD_ENTRY *e = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  for (i = 0; i < n; i++) {
    DWORD got = e[i].ContextRegisters, gp = 0x0003FFFFu;
    if (e[i].Thread.ThreadId == (DWORD)syscall(SYS_gettid) &&
        ((got & scratch) != 0 || (got & gp) != (gp & ~scratch) ||
         (got & PSS_LINUX_REGISTER_DEBUG) != 0 || !(got & PSS_LINUX_REGISTER_FLOATING)))
      fail_because("%s: the calling thread's ContextRegisters are %#x", name, (unsigned)got);
    if (e[i].Thread.ThreadId == (DWORD)parked &&
        (got & (gp | PSS_LINUX_REGISTER_SEGMENTS | PSS_LINUX_REGISTER_FLOATING |
                PSS_LINUX_REGISTER_DEBUG)) !=
          (gp | PSS_LINUX_REGISTER_SEGMENTS | PSS_LINUX_REGISTER_FLOATING | PSS_LINUX_REGISTER_DEBUG))
      fail_because("%s: a stopped thread's ContextRegisters are %#x", name, (unsigned)got);
  }
}

static void expect_own_contexts (struct fixture *f, HANDLE h, char const *name) {
  PSS_CAPTURE_FLAGS const flags[] = { WITH_CONTEXTS, WITH_CONTEXTS | PSS_CAPTURE_THREAD_CONTEXT_EXTENDED };
  struct parked_thread p;
  size_t i;
  if (under_valgrind()) {
    print_message("# skipped under valgrind: its threads run on valgrind's simulated CPU, so "
                  "ptrace sees valgrind's registers, and stopping them under it is unreliable\n");
    skip();
  }
  memset(&p, 0, sizeof p);
  pthread_mutex_init(&p.lock, NULL);
  pthread_cond_init(&p.wake, NULL);
  assert_int_equal(pthread_create(&p.thread, NULL, park, &p), 0);
  pthread_mutex_lock(&p.lock);
  while (!p.ready) pthread_cond_wait(&p.wake, &p.lock);
  pthread_mutex_unlock(&p.lock);
  for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    HPSS s = capture_kept(f, h, flags[i], CONTEXT_ALL);
    HPSSWALK m = fixture_marker(f);
    PSS_THREAD_ENTRY e;
    int seen_self = 0, seen_parked = 0;
    while (PssWalkSnapshot(s, PSS_WALK_THREADS, m, &e, sizeof e) == ERROR_SUCCESS) {
      if (e.ContextRecord == NULL || e.SizeOfContextRecord < sizeof(CONTEXT))
        fail_because("%s: thread %u has no context", name, (unsigned)e.ThreadId);
      if (e.ThreadId == (DWORD)syscall(SYS_gettid)) {
        seen_self = 1;
        assert_ptr_equal(e.TebBaseAddress, (void *)pthread_self());
        /* described at the call: the scratch registers are not known there,
        ** and are zero, never what the stack held (r10 was once the canary) */
        if (e.ContextRecord->Rax != 0 || e.ContextRecord->R10 != 0 || e.ContextRecord->R11 != 0)
          fail_because("%s: the calling thread's rax, r10, r11 are %#llx %#llx %#llx, not 0", name,
                       (unsigned long long)e.ContextRecord->Rax,
                       (unsigned long long)e.ContextRecord->R10,
                       (unsigned long long)e.ContextRecord->R11);
      }
      if (e.ThreadId == (DWORD)p.tid) {
        seen_parked = 1;
        assert_ptr_equal(e.TebBaseAddress, p.tls);
        assert_true(e.ContextRecord->Rip != 0 && e.ContextRecord->Rsp != 0);
      }
    }
    if (!seen_self || !seen_parked) fail_because("%s: a thread is missing", name);
    expect_known_registers(f, s, p.tid, name);
  }
  pthread_mutex_lock(&p.lock);
  p.go = 1;
  pthread_cond_broadcast(&p.wake);
  pthread_mutex_unlock(&p.lock);
  assert_int_equal(pthread_join(p.thread, NULL), 0);
  expect_untouched(getpid(), name);
}

/*
** Signals sent while captures freeze the target: each is delivered exactly
** once (a realtime signal queues every instance, so a lost or an added one
** shows in the count), and no sleep or read of the target is disturbed.
*/
static void signals_during_freezes_are_delivered_once (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--sleeper", NULL);
  HANDLE h = fixture_open(f, t->pid);
  int rounds = under_valgrind() ? 30 : 300, i, waited;
  long got = 0;
  for (i = 0; i < rounds; i++) {
    HPSS s;
    assert_int_equal(kill(t->pid, SIGRTMIN + 1), 0);
    s = capture_kept(f, h, WITH_CONTEXTS, CONTEXT_ALL);
    fixture_forget_snapshot(f, s);
    assert_int_equal(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  }
  for (waited = 0; waited < 2000 && (got = target_signals(t)) < rounds; waited += 10)
    sleep_us(10000);
  if (got != rounds)
    fail_because("%d signals sent during captures, %ld delivered", rounds, got);
  assert_int_equal(target_anomalies(t), 0);
  expect_untouched(t->pid, "after the captures");
}

/* A child blocked in epoll_wait: counts the EINTRs it gets until told to
** stop, then reports them. */
static void count_epoll_eintr (int control, int report) {
  struct epoll_event ev, out;
  long eintr = 0;
  int ep = epoll_create1(0);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = control;
  epoll_ctl(ep, EPOLL_CTL_ADD, control, &ev);
  for (;;) {
    int n = epoll_wait(ep, &out, 1, -1);
    if (n < 0 && errno == EINTR) { eintr++; continue; }
    break;
  }
  if (write(report, &eintr, sizeof eintr) != (ssize_t)sizeof eintr) _exit(2);
  _exit(0);
}

/*
** What a freeze makes visible: epoll_wait, which the kernel never restarts
** after a stop, returns EINTR -- as under gdb (docs/linux-mapping.md). It
** is measured here: at least once in all, at most once per capture.
*/
static void epoll_wait_sees_eintr_at_most_once_per_capture (void **state) {
  struct fixture *f = FIXTURE(state);
  int control[2], report[2], i, rounds = 50, status;
  long eintr = -1;
  pid_t pid;
  if (under_valgrind()) {
    print_message("# skipped under valgrind: the child's epoll_wait runs under valgrind's "
                  "own syscall handling\n");
    skip();
  }
  assert_int_equal(pipe(control), 0);
  assert_int_equal(pipe(report), 0);
  if ((pid = fork()) == 0) {
    close(control[1]);
    close(report[0]);
    count_epoll_eintr(control[0], report[1]);
  }
  close(control[0]);
  close(report[1]);
  sleep_us(50000);                          /* the child is in epoll_wait */
  {
    HANDLE h = fixture_open(f, pid);
    for (i = 0; i < rounds; i++) {
      HPSS s = capture_kept(f, h, PSS_CAPTURE_THREADS, 0);
      fixture_forget_snapshot(f, s);
      assert_int_equal(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
    }
  }
  assert_int_equal(write(control[1], "x", 1), 1);
  assert_int_equal(read(report[0], &eintr, sizeof eintr), (ssize_t)sizeof eintr);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  close(control[1]);
  close(report[0]);
  print_message("# epoll_wait returned EINTR %ld times during %d captures\n", eintr, rounds);
  if (eintr < 1 || eintr > rounds)
    fail_because("epoll_wait saw %ld EINTRs for %d captures", eintr, rounds);
}

static void calling_process_contexts (void **state) {
  struct fixture *f = FIXTURE(state);
  expect_own_contexts(f, PSS_LINUX_CURRENT_PROCESS, "the pseudo-handle");
}

/* The calling process named by a pidfd (PssLinuxOpenProcess(getpid())) is
** the calling process all the same. */
static void own_pidfd_contexts (void **state) {
  struct fixture *f = FIXTURE(state);
  expect_own_contexts(f, fixture_open(f, getpid()), "a pidfd of the calling process");
}

static void contexts_need_threads (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE const handles[] = { fixture_open(f, t->pid), PSS_LINUX_CURRENT_PROCESS };
  PSS_CAPTURE_FLAGS const flags[] = {
    PSS_CAPTURE_THREAD_CONTEXT,
    PSS_CAPTURE_THREAD_CONTEXT_EXTENDED,
    PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_THREAD_CONTEXT_EXTENDED,
    PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_HANDLES,
  };
  size_t i, k;
  for (k = 0; k < 2; k++)
    for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
      HPSS s = UNTOUCHED_SNAPSHOT;
      DWORD rc = PssCaptureSnapshot(handles[k], flags[i], CONTEXT_ALL, &s);
      if (rc == ERROR_SUCCESS)
        fixture_keep_snapshot(f, s);
      if (rc != ERROR_INVALID_PARAMETER)
        fail_because("%s, flags 0x%08x: %s (%u), expected ERROR_INVALID_PARAMETER",
                     k == 0 ? "the target" : "the calling process", (unsigned)flags[i],
                     win32_error_name(rc), (unsigned)rc);
      assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
    }
  expect_untouched(t->pid, "after the refused captures");
}
/* }====================================================================== */

static void sleeps_and_reads_are_unaffected (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--sleeper", NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct seen *seen = seen_buffer(f);
  int rounds = under_valgrind() ? 20 : 100, i;
  pid_t sleeper, reader;
  long anomalies;
  two_tids_of(t, "sleeper", &sleeper, &reader);
  wait_in_syscall(t->pid, reader, SYS_read);
  srand((unsigned)getpid());
  for (i = 0; i < rounds; i++) {
    size_t n = capture_seen(f, h, WITH_CONTEXTS, CONTEXT_ALL, seen);
    context_of(seen, n, sleeper, "the sleeper");
    context_of(seen, n, reader, "the reader");
    /* spread over the 20 ms sleeps, so freezes hit them anywhere */
    sleep_us(rand() % 2000);
  }
  sleep_us(60000);   /* the sleep the last capture hit has ended */
  anomalies = target_anomalies(t);
  if (anomalies != 0)
    fail_because("%ld sleeps or reads of the target ended early (EINTR, short or returned) "
                 "during %d captures", anomalies, rounds);
  expect_untouched(t->pid, "after the captures");
}

int run_freeze_suite (void) {
  const struct CMUnitTest tests[] = {
    freeze_test(registers_of_a_parked_thread),
    freeze_test(contexts_match_gdb),
    freeze_test(one_instant_across_threads),
    freeze_test(target_never_left_stopped_when_capturer_is_killed),
    freeze_test(threads_that_come_and_go),
    freeze_test(target_exiting_during_freeze),
    freeze_test(stopped_target_stays_stopped),
    freeze_test(traced_target_is_busy),
    freeze_test(freeze_is_measured),
    freeze_test(signals_during_freezes_are_delivered_once),
    freeze_test(epoll_wait_sees_eintr_at_most_once_per_capture),
    freeze_test(calling_process_contexts),
    freeze_test(own_pidfd_contexts),
    freeze_test(contexts_need_threads),
    freeze_test(sleeps_and_reads_are_unaffected),
  };
  return cmocka_run_group_tests_name("freeze", tests, NULL, NULL);
}

#else

/* Thread contexts are x86-64 CONTEXT records: nothing to test elsewhere. */
int run_freeze_suite (void) {
  return 0;
}

#endif
