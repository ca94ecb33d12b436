/*
** test_seccomp.c -- would a stopped thread's seccomp state allow a system
** call pss means to inject (src/linux/seccomp.c)? Against real processes:
**
** - the test target with no filter, with --seccomp errno-clone and with
**   --seccomp kill-clone: the verdicts for clone, wait4 and close_range,
**   and the target is left running and untraced;
** - children of this process that install exactly the filter a test needs
**   (arguments, instruction pointer, architecture, ALU, scratch memory,
**   RET A, chains of filters, strict mode) and block;
** - the kernel as the oracle: for each of those filters a fresh child
**   installs it and makes the call for real, and whether the call ran,
**   failed or killed the child must match the verdict;
** - filters that cannot be read (no CAP_SYS_ADMIN, the checker itself
**   under seccomp) are UNKNOWN, never ALLOWED;
** - the evaluator refuses every program the kernel would refuse.
**
** Every test runs under a watchdog (SIGALRM); the teardown detaches every
** thread the test seized and kills and reaps every child it started.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"
#include "linux/ptrace/seccomp.h" /* src/linux/ptrace/seccomp.h (-Isrc), not the kernel's */

#define MAX_CHILDREN 16
#define MAX_HELD 64
#define DENY_ERRNO 77             /* what ERRNO filters return: getppid never fails */
#define COUNT(a) (sizeof (a) / sizeof (a)[0])

/* Offsets in struct seccomp_data; 32-bit halves of the 64-bit fields */
#define NR_AT offsetof(struct pss_seccomp_data, nr)
#define ARCH_AT offsetof(struct pss_seccomp_data, arch)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LO 0
#define HI 4
#else
#define LO 4
#define HI 0
#endif
#define IP_AT(half) (offsetof(struct pss_seccomp_data, instruction_pointer) + (half))
#define ARG_AT(i, half) (offsetof(struct pss_seccomp_data, args) + 8 * (i) + (half))

#define LOAD(at) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (at))
#define RETURN(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define ALLOW RETURN(PSS_SECCOMP_RET_ALLOW)
#define DENY RETURN(PSS_SECCOMP_RET_ERRNO | DENY_ERRNO)

/* A filter as a test writes it */
struct filter {
  struct sock_filter *code;
  unsigned short len;
};
#define FILTER(code) { (code), COUNT(code) }

/* {======================================================================
** Watchdog, children and seized threads: all undone by the teardown
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

/* fork, the child remembered so the teardown can kill it; 0 in the child,
** where the signals cmocka catches (SIGSYS among them) kill again: a child
** must never return into the test runner. */
static pid_t child_fork (void) {
  pid_t pid;
  assert_true(child_count < MAX_CHILDREN);
  pid = fork();
  assert_true(pid >= 0);
  if (pid > 0)
    children[child_count++] = pid;
  else {
    int const caught[] = { SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGALRM };
    size_t i;
    for (i = 0; i < COUNT(caught); i++)
      signal(caught[i], SIG_DFL);
  }
  return pid;
}

/* Waits for a child to end (killing it first if kill_it); its status. */
static int child_end (pid_t pid, int kill_it) {
  int st = 0;
  if (kill_it)
    kill(pid, SIGKILL);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  forget_child(pid);
  return st;
}

/* Threads seized by the test, with the signal each must get back */
static pid_t held[MAX_HELD];
static int held_signal[MAX_HELD];
static size_t held_count;

/* Seizes and interrupts tid and waits for its stop: a thread as
** pss_seccomp_check wants it. */
static void hold (pid_t tid) {
  int st;
  assert_true(held_count < MAX_HELD);
  if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
    fail_because("PTRACE_SEIZE %d: %s", (int)tid, strerror(errno));
  held[held_count] = tid;
  held_signal[held_count++] = 0;
  if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
    fail_because("PTRACE_INTERRUPT %d: %s", (int)tid, strerror(errno));
  for (;;) {
    pid_t r = waitpid(tid, &st, __WALL);
    if (r == tid && WIFSTOPPED(st)) {
      /* a signal that came first is handed back at the detach */
      if (st >> 16 != PTRACE_EVENT_STOP)
        held_signal[held_count - 1] = WSTOPSIG(st);
      return;
    }
    if (r < 0 && errno == EINTR)
      continue;
    fail_because("thread %d did not stop: waitpid %d, status 0x%x", (int)tid, (int)r, st);
  }
}

/* Detaches tid (stopped, or stopped first); quiet. */
static void detach (pid_t tid, int sig) {
  int st;
  if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(uintptr_t)sig) == 0 || errno != ESRCH)
    return;
  if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0)
    while (waitpid(tid, &st, __WALL) < 0 && errno == EINTR) {}
  ptrace(PTRACE_DETACH, tid, NULL, (void *)(uintptr_t)sig);
}

static void release (pid_t tid) {
  size_t i;
  for (i = 0; i < held_count; i++)
    if (held[i] == tid) {
      if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(uintptr_t)held_signal[i]) != 0)
        fail_because("PTRACE_DETACH %d: %s", (int)tid, strerror(errno));
      held[i] = held[--held_count];
      held_signal[i] = held_signal[held_count];
      return;
    }
  fail_because("thread %d was not held", (int)tid);
}

static int seccomp_setup (void **state) {
  child_count = held_count = 0;
  if (fixture_setup(state) != 0)
    return -1;
  watchdog_arm(60, "the test");
  return 0;
}

static int seccomp_teardown (void **state) {
  alarm(0);
  while (held_count > 0) {
    held_count--;
    detach(held[held_count], held_signal[held_count]);
  }
  while (child_count > 0)
    child_end(children[child_count - 1], 1);
  return fixture_teardown(state);
}

#define seccomp_test(fn) cmocka_unit_test_setup_teardown(fn, seccomp_setup, seccomp_teardown)
/* }====================================================================== */


/* {======================================================================
** Filtered children and verdicts
** ======================================================================= */

/* In a child: no_new_privs, then the filters in order; 0 or a code.
** Through prctl rather than seccomp(2), which valgrind does not know. */
static int install (const struct filter *filters, size_t n) {
  size_t i;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return 100;
  for (i = 0; i < n; i++) {
    struct sock_fprog prog = { filters[i].len, filters[i].code };
    if (prctl(PR_SET_SECCOMP, PSS_SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
      return 101 + (int)i;
  }
  return 0;
}

/* Waits for the byte a child writes on fd once it is ready, and closes
** fd; fails with the child's exit status if it ends first. */
static void wait_ready (int fd, pid_t pid, char const *what) {
  struct pollfd pf = { fd, POLLIN, 0 };
  char c;
  int ready = poll(&pf, 1, under_valgrind() ? 60000 : 10000) == 1 && read(fd, &c, 1) == 1;
  close(fd);
  if (!ready) {
    int st = child_end(pid, 1);
    fail_because("%s never became ready (wait status 0x%x: exit %d, signal %d)", what, st,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  }
}

/* A child with the filters installed, blocked in pause(). */
static pid_t filtered_child (const struct filter *filters, size_t n) {
  int p[2];
  pid_t pid;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  pid = child_fork();
  if (pid == 0) {
    int rc = install(filters, n);
    if (rc == 0 && write(p[1], "r", 1) == 1)
      for (;;)
        pause();
    _exit(rc != 0 ? rc : 99);
  }
  close(p[1]);
  wait_ready(p[0], pid, "the filtered child");
  return pid;
}

static struct pss_seccomp_call call (int nr) {
  struct pss_seccomp_call c;
  memset(&c, 0, sizeof c);
  c.nr = nr;
  c.arch = PSS_SECCOMP_ARCH_NATIVE;
  return c;
}

static struct pss_seccomp_call call_with (int nr, uint64_t a0, uint64_t a1, uint64_t a2) {
  struct pss_seccomp_call c = call(nr);
  c.args[0] = a0;
  c.args[1] = a1;
  c.args[2] = a2;
  return c;
}

static char const *verdict_name (int v) {
  static char other[64];
  switch (v) {
    case PSS_SECCOMP_ALLOWED: return "ALLOWED";
    case PSS_SECCOMP_DENIED: return "DENIED";
    case PSS_SECCOMP_UNKNOWN: return "UNKNOWN";
    default:
      snprintf(other, sizeof other, "%d (%s)", v, v < 0 ? strerror(-v) : "?");
      return other;
  }
}

/* Fails unless the verdict for the calls is want and its detail mentions
** part (when not NULL). */
#define expect_verdict(tid, calls, n, want, part, what) \
  expect_verdict_((tid), (calls), (n), (want), (part), (what), __FILE__, __LINE__)
static void expect_verdict_ (pid_t tid, const struct pss_seccomp_call *calls, size_t n,
                             int want, char const *part, char const *what,
                             char const *file, int line) {
  char const *detail = NULL;
  int got = pss_seccomp_check(tid, calls, n, &detail);
  if (got == want && detail != NULL && (part == NULL || strstr(detail, part) != NULL))
    return;
  note("%s: %s (\"%s\"), expected %s", what, verdict_name(got),
       detail != NULL ? detail : "no detail", verdict_name(want));
  if (part != NULL)
    note("  with a detail that mentions \"%s\"", part);
  _fail(file, line);
}

/* The same for one call */
#define expect_call(tid, c, want, part, what) \
  expect_verdict_((tid), &(c), 1, (want), (part), (what), __FILE__, __LINE__)

/* The target runs on as before: alive, every thread untraced and not
** stopped (waited for briefly: a detached thread takes a moment to run),
** and it answers "signals" with the count it had. */
static void expect_target_untouched (struct target *t, char const *when) {
  pid_t tids[256];
  long n = proc_tids(t->pid, tids, COUNT(tids)), i;
  siginfo_t si;
  char line[128];
  if (n <= 0)
    fail_because("%s: the target %d has no threads (gone?)", when, (int)t->pid);
  for (i = 0; i < n; i++) {
    long long deadline = now_ms() + 2000;
    struct proc_stat st;
    while ((thread_tracer(t->pid, tids[i]) != 0 ||
            (proc_stat(t->pid, tids[i], &st) == 0 && st.state == 't')) && now_ms() < deadline)
      sleep_us(1000);
    if (thread_tracer(t->pid, tids[i]) != 0)
      fail_because("%s: thread %d of the target is still traced", when, (int)tids[i]);
    if (proc_stat(t->pid, tids[i], &st) == 0 && (st.state == 't' || st.state == 'T'))
      fail_because("%s: thread %d of the target is stopped ('%c')", when, (int)tids[i],
                   st.state);
  }
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == t->pid)
    fail_because("%s: the target has exited (code %d, status %d)", when, si.si_code,
                 si.si_status);
  if (target_send(t, "signals") != 0 || target_read_line(t, line, sizeof line, 10000) != 0)
    fail_because("%s: the target does not answer \"signals\"", when);
  if (strcmp(line, "signals 0") != 0)
    fail_because("%s: the target answers \"%s\", expected \"signals 0\"", when, line);
}

/* "Seccomp:" of /proc/PID/status, read independently; -1 if absent. */
static long long status_mode (pid_t pid) {
  return proc_status_value(pid, "Seccomp");
}
/* }====================================================================== */


/* {======================================================================
** The kernel as the oracle
** ======================================================================= */

/* What the kernel does with the call behind the filters: a fresh child
** installs them and makes it. ALLOWED if it ran, DENIED if it failed (only
** a filter makes getppid fail) or the child was killed by SIGSYS; *how
** says which. */
static int kernel_verdict (const struct filter *filters, size_t n, int nr, const uint64_t *args,
                           char const **how) {
  pid_t pid = child_fork();
  int st;
  if (pid == 0) {
    struct rlimit none = { 0, 0 };
    long r;
    /* a SIGSYS death is expected: no core file for it */
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (install(filters, n) != 0)
      _exit(90);
    r = syscall(nr, (long)args[0], (long)args[1], (long)args[2], (long)args[3], (long)args[4],
                (long)args[5]);
    _exit(r == -1 ? 1 : 0);
  }
  st = child_end(pid, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    *how = "the call ran";
    return PSS_SECCOMP_ALLOWED;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 1) {
    *how = "the call failed";
    return PSS_SECCOMP_DENIED;
  }
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
    *how = "SIGSYS killed the process";
    return PSS_SECCOMP_DENIED;
  }
  *how = "the child could not run the call";
  return -1;
}

/*
** For each argument vector: the verdict for getppid(args) on a stopped
** child with the filters must be what the kernel does when a child with
** the same filters makes the call, and, when want is not NULL, want[i].
*/
static void expect_kernel_agrees (const struct filter *filters, size_t n,
                                  const uint64_t (*args)[6], size_t count, const int *want,
                                  char const *what) {
  pid_t pid = filtered_child(filters, n);
  int ours[16];
  char const *details[16];
  size_t i;
  assert_true(count <= COUNT(ours));
  hold(pid);
  for (i = 0; i < count; i++) {
    struct pss_seccomp_call c = call(SYS_getppid);
    memcpy(c.args, args[i], sizeof c.args);
    ours[i] = pss_seccomp_check(pid, &c, 1, &details[i]);
  }
  release(pid);
  child_end(pid, 1);
  if (under_valgrind()) {
    /* the call would be made by valgrind's emulation, which asserts on a
    ** SIGSYS from SECCOMP_RET_TRAP: only the expected verdicts count */
    note("%s: the kernel's own verdicts not asked under valgrind (it mishandles SIGSYS "
         "from seccomp)", what);
    for (i = 0; want != NULL && i < count; i++)
      if (ours[i] != want[i])
        fail_because("%s, args #%zu: pss says %s (\"%s\"), expected %s", what, i,
                     verdict_name(ours[i]), details[i], verdict_name(want[i]));
    return;
  }
  for (i = 0; i < count; i++) {
    char const *how = NULL;
    int kernel = kernel_verdict(filters, n, SYS_getppid, args[i], &how);
    if (kernel < 0 || ours[i] != kernel || (want != NULL && ours[i] != want[i]))
      fail_because("%s, args #%zu (0x%llx 0x%llx 0x%llx): pss says %s (\"%s\"), "
                   "the kernel: %s%s%s", what, i, (unsigned long long)args[i][0],
                   (unsigned long long)args[i][1], (unsigned long long)args[i][2],
                   verdict_name(ours[i]), details[i], how, want != NULL ? ", expected " : "",
                   want != NULL ? verdict_name(want[i]) : "");
  }
}
/* }====================================================================== */


/* {======================================================================
** The test target
** ======================================================================= */

static void seccomp_no_filter_is_allowed (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  struct pss_seccomp_call calls[3];
  size_t i;
  calls[0] = call(SYS_clone);
  calls[1] = call(SYS_wait4);
  calls[2] = call(SYS_close_range);
  assert_int_equal(status_mode(t->pid), 0);
  /* mode 0 needs no ptrace stop */
  expect_verdict(t->pid, calls, 3, PSS_SECCOMP_ALLOWED, "no seccomp", "main thread, not seized");
  for (i = 0; i < t->thread_count; i++) {
    hold(t->threads[i].tid);
    expect_verdict(t->threads[i].tid, calls, 3, PSS_SECCOMP_ALLOWED, "no seccomp",
                   t->threads[i].name);
    release(t->threads[i].tid);
  }
  expect_target_untouched(t, "after the checks");
}

/* Every thread of a --seccomp target (TSYNC) gives the verdicts. */
static void expect_clone_denied_only (struct target *t, char const *action) {
  size_t i;
  assert_true(t->thread_count >= 2);
  for (i = 0; i < t->thread_count; i++) {
    pid_t tid = t->threads[i].tid;
    struct pss_seccomp_call clone_call = call(SYS_clone), wait_call = call(SYS_wait4),
                            close_call = call(SYS_close_range);
    struct pss_seccomp_call all[3];
    all[0] = wait_call;
    all[1] = clone_call;
    all[2] = close_call;
    assert_int_equal(status_mode(t->pid), 2);
    hold(tid);
    expect_call(tid, clone_call, PSS_SECCOMP_DENIED, action, t->threads[i].name);
    expect_call(tid, clone_call, PSS_SECCOMP_DENIED, "clone", t->threads[i].name);
    expect_call(tid, wait_call, PSS_SECCOMP_ALLOWED, NULL, t->threads[i].name);
    expect_call(tid, close_call, PSS_SECCOMP_ALLOWED, NULL, t->threads[i].name);
    expect_verdict(tid, all, 3, PSS_SECCOMP_DENIED, action, "wait4, clone and close_range");
    expect_verdict(tid, all, 1, PSS_SECCOMP_ALLOWED, NULL, "wait4 alone");
    release(tid);
  }
}

static void seccomp_errno_clone_target (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--seccomp", "errno-clone", NULL);
  expect_clone_denied_only(t, "ERRNO");
  expect_target_untouched(t, "after the checks");
}

static void seccomp_kill_clone_target (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--seccomp", "kill-clone", NULL);
  expect_clone_denied_only(t, "KILL_PROCESS");
  expect_target_untouched(t, "after the checks");
}
/* }====================================================================== */


/* {======================================================================
** Filters written for the tests
** ======================================================================= */

/* clone is checked on its flags (as Docker's profile does) and on the
** high half of its second argument; anything else is allowed. */
static void seccomp_argument_checks (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
    ALLOW,
    LOAD(ARG_AT(0, LO)),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
    DENY,
    LOAD(ARG_AT(1, HI)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
    RETURN(PSS_SECCOMP_RET_KILL_PROCESS),
    LOAD(ARG_AT(5, LO)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xdeadbeef, 0, 1),
    RETURN(PSS_SECCOMP_RET_TRAP),
    ALLOW,
  };
  struct filter filters[] = { FILTER(code) };
  pid_t pid = filtered_child(filters, 1);
  struct pss_seccomp_call c;
  (void)state;
  hold(pid);
  c = call(SYS_clone);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "clone(0)");
  c = call_with(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS, 0, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO for clone", "clone(CLONE_NEWUSER)");
  c = call_with(SYS_clone, 0, 0xffffffffu, 0);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "clone(0, 0xffffffff): only the low half set");
  c = call_with(SYS_clone, 0, 1ull << 32, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_PROCESS for clone", "clone(0, 1 << 32)");
  c = call(SYS_clone);
  c.args[5] = 0xdeadbeef;
  expect_call(pid, c, PSS_SECCOMP_DENIED, "TRAP for clone", "clone(..., 0xdeadbeef)");
  c.args[5] = 0xdeadbeefull << 32;
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "clone(..., 0xdeadbeef << 32)");
  c = call_with(SYS_wait4, CLONE_NEWUSER, 1ull << 32, 0);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "wait4 with the same arguments");
  release(pid);
}

/* getppid is allowed only from [0x7f0000001000, 0x7f0000002000). */
static void seccomp_instruction_pointer_checks (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    LOAD(IP_AT(HI)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x7f00, 1, 0),
    DENY,
    LOAD(IP_AT(LO)),
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x1000, 1, 0),
    DENY,
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x2000, 0, 1),
    DENY,
    ALLOW,
  };
  struct filter filters[] = { FILTER(code) };
  pid_t pid = filtered_child(filters, 1);
  struct pss_seccomp_call c = call(SYS_getppid);
  (void)state;
  hold(pid);
  c.ip = 0x7f0000001800ull;
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "ip inside the range");
  c.ip = 0x7f0000001000ull;
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "ip at the start of the range");
  c.ip = 0x7f0000002000ull;
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO", "ip at the end of the range");
  c.ip = 0x7f0100001800ull;
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO", "ip with another high half");
  c.ip = 0x1800ull;
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO", "ip in the low 4 GiB");
  c = call(SYS_wait4);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "another call, any ip");
  release(pid);
}

/* The usual prologue: a foreign architecture kills, x32 numbers fail. */
static void seccomp_architecture_checks (void **state) {
  struct sock_filter code[] = {
    LOAD(ARCH_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PSS_SECCOMP_ARCH_NATIVE, 1, 0),
    RETURN(PSS_SECCOMP_RET_KILL_PROCESS),
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
    DENY,
    ALLOW,
  };
  struct filter filters[] = { FILTER(code) };
  pid_t pid = filtered_child(filters, 1);
  struct pss_seccomp_call c = call(SYS_clone);
  (void)state;
  hold(pid);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "a native clone");
  c.arch = PSS_SECCOMP_ARCH_NATIVE == AUDIT_ARCH_I386 ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_PROCESS for the system call", "a foreign clone");
  c = call(SYS_clone | 0x40000000);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO for the system call", "an x32 clone");
  release(pid);
}

/* Older filters count too, and the action of highest precedence wins;
** LOG allows. PTRACE_SECCOMP_GET_FILTER numbers them from the oldest. */
static void seccomp_chain_of_filters (void **state) {
  struct sock_filter oldest[] = {                  /* getppid, clone: ERRNO */
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
    ALLOW,
    DENY,
  };
  struct sock_filter middle[] = {                  /* clone: KILL_PROCESS, wait4: LOG */
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
    RETURN(PSS_SECCOMP_RET_KILL_PROCESS),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_wait4, 0, 1),
    RETURN(PSS_SECCOMP_RET_LOG),
    ALLOW,
  };
  struct sock_filter newest[] = { ALLOW };
  struct filter filters[] = { FILTER(oldest), FILTER(middle), FILTER(newest) };
  pid_t pid = filtered_child(filters, COUNT(filters));
  struct pss_seccomp_call c;
  struct sock_filter first[16];
  (void)state;
  memset(first, 0, sizeof first);               /* valgrind cannot see ptrace fill it */
  assert_int_equal(proc_status_value(pid, "Seccomp_filters"), 3);
  hold(pid);
  c = call(SYS_getppid);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO for the system call",
              "getppid: the oldest denies");
  c = call(SYS_clone);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_PROCESS for clone",
              "clone: ERRNO and KILL_PROCESS");
  c = call(SYS_wait4);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "wait4: LOG");
  c = call(SYS_close_range);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "close_range: every filter allows");
  /* the kernel's numbering, which ptrace(2) states the other way round */
  assert_int_equal(ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)0, NULL), COUNT(oldest));
  assert_int_equal(ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)2, NULL), COUNT(newest));
  assert_int_equal(ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)0, first), COUNT(oldest));
  assert_memory_equal(first, oldest, sizeof oldest);
  release(pid);
  {
    uint64_t const args[1][6] = { { 0 } };
    int const want[] = { PSS_SECCOMP_DENIED };
    expect_kernel_agrees(filters, COUNT(filters), args, 1, want, "the chain, getppid");
  }
}

/* ALU operations with K, scratch memory, LEN: allowed only when args[1]
** is what the filter computes from args[0]. */
static uint32_t alu_k_model (uint32_t v) {
  v += 7; v -= 3; v *= 5; v /= 2; v |= 0x100; v &= 0xfff; v ^= 0x55; v <<= 3; v >>= 1;
  return 0u - v;
}

/* The same with X: args[2] is the operand, non-zero. */
static uint32_t alu_x_model (uint32_t v, uint32_t x) {
  v += x; v *= x; v -= x; v /= x; v |= x; v ^= x; v &= x | 0xf0f0; v <<= 5; v >>= 2;
  return v;
}

static void seccomp_alu_and_scratch_memory (void **state) {
  struct sock_filter with_k[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sizeof(struct pss_seccomp_data), 1, 0),
    DENY,
    LOAD(ARG_AT(0, LO)),
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 7),
    BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, 3),
    BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 5),
    BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 2),
    BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 0x100),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xfff),
    BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, 0x55),
    BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 3),
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 1),
    BPF_STMT(BPF_ALU | BPF_NEG, 0),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),                   /* A stays */
    BPF_STMT(BPF_ST, 7),
    LOAD(ARG_AT(1, LO)),
    BPF_STMT(BPF_LDX | BPF_MEM, 7),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 0),
    DENY,
    ALLOW,
  };
  struct sock_filter with_x[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
    BPF_STMT(BPF_MISC | BPF_TXA, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sizeof(struct pss_seccomp_data), 1, 0),
    DENY,
    LOAD(ARG_AT(0, LO)),
    BPF_STMT(BPF_ST, 0),
    LOAD(ARG_AT(2, LO)),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    BPF_STMT(BPF_STX, 1),
    BPF_STMT(BPF_LD | BPF_MEM, 0),
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
    BPF_STMT(BPF_ALU | BPF_MUL | BPF_X, 0),
    BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),
    BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
    BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
    BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    BPF_STMT(BPF_ST, 2),                               /* X | 0xf0f0, by way of A */
    BPF_STMT(BPF_LD | BPF_MEM, 1),
    BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 0xf0f0),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    BPF_STMT(BPF_LD | BPF_MEM, 2),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_X, 0),
    BPF_STMT(BPF_LDX | BPF_IMM, 5),
    BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),
    BPF_STMT(BPF_LDX | BPF_IMM, 2),
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_X, 0),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    LOAD(ARG_AT(1, LO)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 0),
    DENY,
    ALLOW,
  };
  struct filter k_filters[] = { FILTER(with_k) }, x_filters[] = { FILTER(with_x) };
  uint64_t k_args[4][6] = { { 0 } }, x_args[4][6] = { { 0 } };
  int const want[] = { PSS_SECCOMP_ALLOWED, PSS_SECCOMP_DENIED, PSS_SECCOMP_ALLOWED,
                       PSS_SECCOMP_DENIED };
  (void)state;
  k_args[0][0] = 1234;
  k_args[0][1] = alu_k_model(1234);
  k_args[1][0] = 1234;
  k_args[1][1] = alu_k_model(1234) + 1;
  k_args[2][0] = 0xfffffff0u;                          /* wraps around */
  k_args[2][1] = alu_k_model(0xfffffff0u);
  k_args[3][0] = 0xfffffff0u;
  k_args[3][1] = alu_k_model(0xfffffff0u) ^ 0x80000000u;
  expect_kernel_agrees(k_filters, 1, (const uint64_t (*)[6])k_args, 4, want, "ALU with K");
  x_args[0][0] = 99; x_args[0][2] = 7;
  x_args[0][1] = alu_x_model(99, 7);
  x_args[1][0] = 99; x_args[1][2] = 7;
  x_args[1][1] = alu_x_model(99, 7) + 4;
  x_args[2][0] = 0x89abcdefu; x_args[2][2] = 0x10001;
  x_args[2][1] = alu_x_model(0x89abcdefu, 0x10001);
  x_args[3][0] = 0x89abcdefu; x_args[3][2] = 0x10001;
  x_args[3][1] = alu_x_model(0x89abcdefu, 0x10001) + 0x100000000ull;  /* high half ignored: */
  {
    int const want_x[] = { PSS_SECCOMP_ALLOWED, PSS_SECCOMP_DENIED, PSS_SECCOMP_ALLOWED,
                           PSS_SECCOMP_ALLOWED };
    expect_kernel_agrees(x_filters, 1, (const uint64_t (*)[6])x_args, 4, want_x, "ALU with X");
  }
}

/* Unsigned comparisons with X and with a constant of the top bit set;
** JSET with X, JA. a0 > a1: ERRNO; a0 == a1: allowed; a0 > 0x7fffffff:
** KILL_THREAD; a0 & a1: TRAP; else KILL_PROCESS. */
static void seccomp_jumps (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    LOAD(ARG_AT(1, LO)),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    LOAD(ARG_AT(0, LO)),
    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1),
    DENY,
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0, 0, 1),
    ALLOW,
    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0x7fffffff, 0, 1),
    RETURN(PSS_SECCOMP_RET_KILL_THREAD),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 1),
    RETURN(PSS_SECCOMP_RET_TRAP),
    BPF_STMT(BPF_JMP | BPF_JA, 1),
    ALLOW,                                            /* jumped over */
    RETURN(PSS_SECCOMP_RET_KILL_PROCESS),
  };
  struct filter filters[] = { FILTER(code) };
  uint64_t const args[][6] = {
    { 5, 3 }, { 0x80000000u, 0x7fffffffu }, { 7, 7 }, { 0xffffffffu, 0xffffffffu },
    { 3, 6 }, { 0x40000000u, 0xc0000000u }, { 0x80000000u, 0xffffffffu }, { 1, 2 },
    { 0x100000001ull, 2 },
  };
  int const want[] = { PSS_SECCOMP_DENIED, PSS_SECCOMP_DENIED, PSS_SECCOMP_ALLOWED,
                       PSS_SECCOMP_ALLOWED, PSS_SECCOMP_DENIED, PSS_SECCOMP_DENIED,
                       PSS_SECCOMP_DENIED, PSS_SECCOMP_DENIED, PSS_SECCOMP_DENIED };
  pid_t pid;
  struct pss_seccomp_call c;
  (void)state;
  expect_kernel_agrees(filters, 1, args, COUNT(args), want, "jumps");
  pid = filtered_child(filters, 1);
  hold(pid);
  c = call_with(SYS_getppid, 5, 3, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO", "5 > 3");
  c = call_with(SYS_getppid, 3, 6, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "TRAP", "3 & 6");
  c = call_with(SYS_getppid, 0x80000000u, 0xffffffffu, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_THREAD", "0x80000000 > 0x7fffffff unsigned");
  c = call_with(SYS_getppid, 1, 2, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_PROCESS", "1, 2: after JA");
  release(pid);
}

/* A / X with X == 0 ends the filter with 0: SECCOMP_RET_KILL_THREAD. */
static void seccomp_division_by_zero (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    LOAD(ARG_AT(0, LO)),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    BPF_STMT(BPF_LD | BPF_IMM, 100),
    BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
    DENY,
    ALLOW,
  };
  struct filter filters[] = { FILTER(code) };
  uint64_t const args[][6] = { { 0 }, { 5 }, { 20 }, { 1ull << 32 } };
  int const want[] = { PSS_SECCOMP_DENIED, PSS_SECCOMP_DENIED, PSS_SECCOMP_ALLOWED,
                       PSS_SECCOMP_DENIED };
  pid_t pid;
  struct pss_seccomp_call c = call(SYS_getppid);
  (void)state;
  expect_kernel_agrees(filters, 1, args, COUNT(args), want, "A / X");
  pid = filtered_child(filters, 1);
  hold(pid);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "KILL_THREAD", "100 / 0");
  release(pid);
}

/* RET A: the filter returns args[0] as its result, so every action. */
static void seccomp_every_action (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
    ALLOW,
    LOAD(ARG_AT(0, LO)),
    BPF_STMT(BPF_RET | BPF_A, 0),
  };
  struct filter filters[] = { FILTER(code) };
  static struct {
    uint32_t result;
    int verdict;
    char const *detail;
  } const actions[] = {
    { PSS_SECCOMP_RET_ALLOW, PSS_SECCOMP_ALLOWED, "allows" },
    { PSS_SECCOMP_RET_ALLOW | 0x1234, PSS_SECCOMP_ALLOWED, "allows" },
    { PSS_SECCOMP_RET_LOG, PSS_SECCOMP_ALLOWED, "allows" },
    { PSS_SECCOMP_RET_ERRNO | DENY_ERRNO, PSS_SECCOMP_DENIED, "ERRNO" },
    { PSS_SECCOMP_RET_TRACE, PSS_SECCOMP_DENIED, "TRACE" },
    { PSS_SECCOMP_RET_USER_NOTIF, PSS_SECCOMP_DENIED, "USER_NOTIF" },
    { PSS_SECCOMP_RET_TRAP, PSS_SECCOMP_DENIED, "TRAP" },
    { PSS_SECCOMP_RET_KILL_THREAD, PSS_SECCOMP_DENIED, "KILL_THREAD" },
    { PSS_SECCOMP_RET_KILL_PROCESS, PSS_SECCOMP_DENIED, "KILL_PROCESS" },
    { 0x00010000u, PSS_SECCOMP_DENIED, "does not know" },
    { 0x7ffd0000u, PSS_SECCOMP_DENIED, "does not know" },
  };
  uint64_t args[COUNT(actions)][6];
  int want[COUNT(actions)];
  size_t i;
  pid_t pid;
  (void)state;
  memset(args, 0, sizeof args);
  for (i = 0; i < COUNT(actions); i++) {
    args[i][0] = actions[i].result;
    want[i] = actions[i].verdict;
  }
  expect_kernel_agrees(filters, 1, (const uint64_t (*)[6])args, COUNT(actions), want, "RET A");
  pid = filtered_child(filters, 1);
  hold(pid);
  for (i = 0; i < COUNT(actions); i++) {
    struct pss_seccomp_call c = call_with(SYS_getppid, actions[i].result, 0, 0);
    char what[64];
    snprintf(what, sizeof what, "the filter returns 0x%08x", (unsigned)actions[i].result);
    expect_call(pid, c, actions[i].verdict, actions[i].detail, what);
  }
  release(pid);
}

/* A shift by X of 32 or more is not modelled: UNKNOWN -- unless another
** filter denies the call anyway, which is certain. */
static void seccomp_unknown_gives_way_to_denied (void **state) {
  struct sock_filter older[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
    DENY,
    ALLOW,
  };
  struct sock_filter newer[] = {
    LOAD(ARG_AT(0, LO)),
    BPF_STMT(BPF_MISC | BPF_TAX, 0),
    LOAD(NR_AT),
    BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),
    ALLOW,
  };
  struct filter filters[] = { FILTER(older), FILTER(newer) };
  pid_t pid = filtered_child(filters, COUNT(filters));
  struct pss_seccomp_call c, calls[2];
  (void)state;
  hold(pid);
  c = call_with(SYS_wait4, 3, 0, 0);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "wait4, a shift by 3");
  c = call_with(SYS_wait4, 40, 0, 0);
  expect_call(pid, c, PSS_SECCOMP_UNKNOWN, "shifts by 32 or more", "wait4, a shift by 40");
  c = call_with(SYS_clone, 40, 0, 0);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "ERRNO for clone", "clone, a shift by 40");
  calls[0] = call_with(SYS_wait4, 40, 0, 0);
  calls[1] = call(SYS_clone);
  expect_verdict(pid, calls, 2, PSS_SECCOMP_DENIED, "ERRNO for clone", "wait4 (unknown), clone");
  release(pid);
}

/* Strict mode: read, write, exit and rt_sigreturn only. */
static void seccomp_strict_mode (void **state) {
  int ready[2], hold_open[2];
  pid_t pid;
  struct pss_seccomp_call c, both[2];
  (void)state;
  if (under_valgrind())
    skip_because("under valgrind the strict child is SIGKILLed at once: valgrind itself makes "
                 "system calls strict mode does not allow");
  assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
  assert_int_equal(pipe2(hold_open, O_CLOEXEC), 0);
  pid = child_fork();
  if (pid == 0) {
    char byte;
    close(ready[0]);
    close(hold_open[1]);                             /* or its read never sees EOF */
    if (prctl(PR_SET_SECCOMP, PSS_SECCOMP_MODE_STRICT, 0, 0, 0) == 0 &&
        write(ready[1], "r", 1) == 1)
      for (;;)
        if (read(hold_open[0], &byte, 1) <= 0)
          break;
    syscall(SYS_exit, 0);                            /* exit_group is not allowed */
  }
  close(ready[1]);
  wait_ready(ready[0], pid, "the strict child");
  close(hold_open[0]);
  assert_int_equal(status_mode(pid), 1);
  hold(pid);
  c = call(SYS_read);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "read");
  c = call(SYS_write);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "write");
  c = call(SYS_exit);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "exit");
  c = call(SYS_rt_sigreturn);
  expect_call(pid, c, PSS_SECCOMP_ALLOWED, NULL, "rt_sigreturn");
  c = call(SYS_clone);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "strict seccomp (mode 1) denies clone", "clone");
  c = call(SYS_exit_group);
  expect_call(pid, c, PSS_SECCOMP_DENIED, "exit_group", "exit_group");
  both[0] = call(SYS_read);
  both[1] = call(SYS_wait4);
  expect_verdict(pid, both, 2, PSS_SECCOMP_DENIED, "wait4", "read and wait4");
  c = call(SYS_read);
  c.arch = PSS_SECCOMP_ARCH_NATIVE == AUDIT_ARCH_I386 ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
  expect_call(pid, c, PSS_SECCOMP_UNKNOWN, "foreign", "a foreign read");
  both[0] = c;
  both[1] = call(SYS_clone);
  expect_verdict(pid, both, 2, PSS_SECCOMP_DENIED, "clone", "a foreign read, then clone");
  release(pid);
  close(hold_open[1]);                               /* it reads EOF and exits */
  {
    int st = child_end(pid, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail_because("the strict child did not exit 0 after the checks (status 0x%x)", st);
  }
}
/* }====================================================================== */


/* {======================================================================
** Filters that cannot be read, threads that are not there
** ======================================================================= */

/* In a child: drops CAP_SYS_ADMIN everywhere, keeps CAP_SYS_PTRACE. */
static int drop_sys_admin (void) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
  unsigned i = CAP_TO_INDEX(CAP_SYS_ADMIN);
  if (syscall(SYS_capget, &h, d) != 0)
    return -1;
  d[i].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
  d[i].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
  d[i].inheritable &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
  return (int)syscall(SYS_capset, &h, d);
}

/* What a checker child, handicapped by how, gets for call on tid. */
struct remote_verdict {
  int verdict;
  int mode0_verdict;           /* for the test process itself (mode 0) */
  char detail[200];
};

enum { WITHOUT_SYS_ADMIN, UNDER_SECCOMP };

static void checker (int how, pid_t tid, pid_t mode0, struct pss_seccomp_call c, int out) {
  struct sock_filter allow_all[] = { ALLOW };
  struct filter self[] = { FILTER(allow_all) };
  struct remote_verdict r;
  char const *detail = NULL;
  int st;
  memset(&r, 0, sizeof r);
  r.verdict = -1000;
  if ((how == WITHOUT_SYS_ADMIN ? drop_sys_admin() : install(self, 1)) != 0)
    r.verdict = -1001;
  else if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
    r.verdict = -1002;
  else {
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0 || waitpid(tid, &st, __WALL) != tid)
      r.verdict = -1003;
    else {
      r.verdict = pss_seccomp_check(tid, &c, 1, &detail);
      snprintf(r.detail, sizeof r.detail, "%s", detail != NULL ? detail : "(none)");
    }
    ptrace(PTRACE_DETACH, tid, NULL, NULL);
  }
  r.mode0_verdict = pss_seccomp_check(mode0, &c, 1, NULL);
  _exit(write(out, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
}

static struct remote_verdict check_elsewhere (int how, pid_t tid, struct pss_seccomp_call c) {
  struct remote_verdict r;
  int p[2];
  pid_t pid;
  pid_t self = getpid();
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  pid = child_fork();
  if (pid == 0)
    checker(how, tid, self, c, p[1]);
  close(p[1]);
  memset(&r, 0, sizeof r);
  if (read(p[0], &r, sizeof r) != (ssize_t)sizeof r) {
    close(p[0]);
    fail_because("the checker child gave no answer (status 0x%x)", child_end(pid, 0));
  }
  close(p[0]);
  child_end(pid, 0);
  return r;
}

static void seccomp_unreadable_filters_are_unknown (void **state) {
  struct sock_filter code[] = {
    LOAD(NR_AT),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
    DENY,
    ALLOW,
  };
  struct filter filters[] = { FILTER(code) };
  pid_t pid = filtered_child(filters, 1);
  struct pss_seccomp_call wait_call = call(SYS_wait4), clone_call = call(SYS_clone);
  struct remote_verdict r;
  (void)state;
  r = check_elsewhere(WITHOUT_SYS_ADMIN, pid, wait_call);
  if (r.verdict != PSS_SECCOMP_UNKNOWN || strstr(r.detail, "CAP_SYS_ADMIN") == NULL)
    fail_because("without CAP_SYS_ADMIN: %s (\"%s\"), expected UNKNOWN naming CAP_SYS_ADMIN",
                 verdict_name(r.verdict), r.detail);
  if (r.mode0_verdict != PSS_SECCOMP_ALLOWED)
    fail_because("without CAP_SYS_ADMIN, a thread without seccomp: %s, expected ALLOWED",
                 verdict_name(r.mode0_verdict));
  r = check_elsewhere(WITHOUT_SYS_ADMIN, pid, clone_call);
  if (r.verdict != PSS_SECCOMP_UNKNOWN)
    fail_because("without CAP_SYS_ADMIN, clone: %s (\"%s\"), expected UNKNOWN",
                 verdict_name(r.verdict), r.detail);
  r = check_elsewhere(UNDER_SECCOMP, pid, wait_call);
  if (r.verdict != PSS_SECCOMP_UNKNOWN || strstr(r.detail, "under seccomp") == NULL)
    fail_because("from a checker under seccomp: %s (\"%s\"), expected UNKNOWN",
                 verdict_name(r.verdict), r.detail);
  if (thread_tracer(pid, pid) != 0)
    fail_because("the filtered child is still traced after the checkers");
  /* and with the rights, the same thread is readable */
  hold(pid);
  expect_call(pid, wait_call, PSS_SECCOMP_ALLOWED, NULL, "wait4, with CAP_SYS_ADMIN");
  expect_call(pid, clone_call, PSS_SECCOMP_DENIED, "ERRNO for clone", "clone, with CAP_SYS_ADMIN");
  release(pid);
}

static void seccomp_threads_not_held_or_gone (void **state) {
  struct sock_filter code[] = { ALLOW };
  struct filter filters[] = { FILTER(code) };
  pid_t pid = filtered_child(filters, 1), gone;
  struct pss_seccomp_call c = call(SYS_clone);
  char const *detail = NULL;
  int rc;
  (void)state;
  /* filters are read only from our stopped tracee */
  rc = pss_seccomp_check(pid, &c, 1, &detail);
  if (rc != -ESRCH || detail == NULL)
    fail_because("a filtered thread not seized: %s, expected -ESRCH", verdict_name(rc));
  hold(pid);
  expect_verdict(pid, &c, 0, PSS_SECCOMP_ALLOWED, NULL, "no calls");
  assert_int_equal(pss_seccomp_check(pid, NULL, 1, NULL), -EINVAL);
  release(pid);
  gone = child_fork();
  if (gone == 0)
    _exit(0);
  child_end(gone, 0);
  if (kill(gone, 0) == 0)
    skip_because("the pid %d was reused at once", (int)gone);
  rc = pss_seccomp_check(gone, &c, 1, &detail);
  if (rc != -ESRCH || detail == NULL)
    fail_because("a reaped child: %s, expected -ESRCH", verdict_name(rc));
}
/* }====================================================================== */


/* {======================================================================
** The evaluator alone: programs the kernel would never install
** ======================================================================= */

/* Runs code and fails unless it is refused with a reason mentioning part. */
#define expect_refused(code, len, part) expect_refused_((code), (len), (part), __FILE__, __LINE__)
static void expect_refused_ (const struct sock_filter *code, size_t len, char const *part,
                             char const *file, int line) {
  struct pss_seccomp_data d;
  uint32_t result = 0x5eed;
  char const *why = NULL;
  int rc;
  memset(&d, 0, sizeof d);
  rc = pss_seccomp_run(code, len, &d, &result, &why);
  if (rc == -EINVAL && why != NULL && strstr(why, part) != NULL)
    return;
  note("expected -EINVAL (\"...%s...\"), got %d (\"%s\", result 0x%x)", part, rc,
       why != NULL ? why : "no reason", (unsigned)result);
  _fail(file, line);
}

/* Runs code on d and fails unless it returns want. */
static void expect_result (const struct sock_filter *code, size_t len,
                           const struct pss_seccomp_data *d, uint32_t want) {
  uint32_t result = 0x5eed;
  char const *why = NULL;
  int rc = pss_seccomp_run(code, len, d, &result, &why);
  if (rc != 0 || result != want)
    fail_because("expected result 0x%x, got %d (result 0x%x, \"%s\")", (unsigned)want, rc,
                 (unsigned)result, why != NULL ? why : "");
}

static void seccomp_evaluator_refuses_what_the_kernel_refuses (void **state) {
  struct sock_filter jump_out[] = { BPF_STMT(BPF_JMP | BPF_JA, 1), ALLOW };
  struct sock_filter cond_out[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0), ALLOW, ALLOW };
  struct sock_filter jump_last[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0) };
  struct sock_filter no_ret[] = { LOAD(NR_AT) };
  struct sock_filter unaligned[] = { LOAD(2), ALLOW };
  struct sock_filter beyond[] = { LOAD(sizeof(struct pss_seccomp_data)), ALLOW };
  struct sock_filter half[] = { BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), ALLOW };
  struct sock_filter byte[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ALLOW };
  struct sock_filter indirect[] = { BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0), ALLOW };
  struct sock_filter msh[] = { BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0), ALLOW };
  struct sock_filter mod[] = { BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ALLOW };
  struct sock_filter ja_x[] = { BPF_STMT(BPF_JMP | BPF_JA | BPF_X, 0), ALLOW };
  struct sock_filter ret_x[] = { BPF_STMT(BPF_RET | BPF_X, 0) };
  struct sock_filter extension[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS | 0x100, 0), ALLOW };
  struct sock_filter store_out[] = { BPF_STMT(BPF_ST, BPF_MEMWORDS), ALLOW };
  struct sock_filter load_out[] = { BPF_STMT(BPF_LDX | BPF_MEM, BPF_MEMWORDS), ALLOW };
  struct sock_filter unwritten[] = { BPF_STMT(BPF_ST, 2), BPF_STMT(BPF_LD | BPF_MEM, 3), ALLOW };
  struct sock_filter div_k0[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ALLOW };
  struct sock_filter lsh_k32[] = { BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), ALLOW };
  struct sock_filter rsh_x40[] = { BPF_STMT(BPF_LDX | BPF_IMM, 40),
                                   BPF_STMT(BPF_ALU | BPF_RSH | BPF_X, 0), ALLOW };
  struct sock_filter to_last[] = {
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),              /* to the last one */
    RETURN(PSS_SECCOMP_RET_KILL_PROCESS),
    ALLOW,
  };
  struct sock_filter fine[] = {
    BPF_STMT(BPF_ST, 2), BPF_STMT(BPF_LD | BPF_MEM, 2),        /* written on this path */
    LOAD(ARG_AT(5, HI)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 9, 0, 1),
    BPF_STMT(BPF_RET | BPF_A, 0),
    BPF_STMT(BPF_LDX | BPF_IMM, 0),
    BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),                    /* returns 0 */
    ALLOW,
  };
  struct sock_filter *longest = fixture_keep(FIXTURE(state),
                                             calloc(BPF_MAXINSNS + 1, sizeof *longest));
  struct pss_seccomp_data d;
  size_t i;
  assert_non_null(longest);
  expect_refused(fine, 0, "empty");
  expect_refused(jump_out, COUNT(jump_out), "jumps out of range");
  expect_refused(cond_out, COUNT(cond_out), "jumps out of range");
  expect_refused(jump_last, COUNT(jump_last), "jumps out of range");
  expect_refused(no_ret, COUNT(no_ret), "past its last");
  expect_refused(unaligned, COUNT(unaligned), "unaligned");
  expect_refused(beyond, COUNT(beyond), "outside struct seccomp_data");
  expect_refused(half, COUNT(half), "does not accept");
  expect_refused(byte, COUNT(byte), "does not accept");
  expect_refused(indirect, COUNT(indirect), "does not accept");
  expect_refused(msh, COUNT(msh), "does not accept");
  expect_refused(mod, COUNT(mod), "does not accept");
  expect_refused(ja_x, COUNT(ja_x), "does not accept");
  expect_refused(ret_x, COUNT(ret_x), "does not accept");
  expect_refused(extension, COUNT(extension), "does not accept");
  expect_refused(store_out, COUNT(store_out), "out of range");
  expect_refused(load_out, COUNT(load_out), "out of range");
  expect_refused(unwritten, COUNT(unwritten), "not written");
  expect_refused(div_k0, COUNT(div_k0), "constant 0");
  expect_refused(lsh_k32, COUNT(lsh_k32), "32 or more");
  expect_refused(rsh_x40, COUNT(rsh_x40), "32 or more");
  /* the longest program the kernel takes, and one more */
  for (i = 0; i < BPF_MAXINSNS; i++)
    longest[i] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
  longest[BPF_MAXINSNS - 1] = (struct sock_filter)ALLOW;
  memset(&d, 0, sizeof d);
  expect_result(longest, BPF_MAXINSNS, &d, PSS_SECCOMP_RET_ALLOW);
  longest[BPF_MAXINSNS] = (struct sock_filter)ALLOW;
  expect_refused(longest, BPF_MAXINSNS + 1, "longer than BPF_MAXINSNS");
  /* a jump to the last instruction, RET A, a division by X == 0 */
  expect_result(to_last, COUNT(to_last), &d, PSS_SECCOMP_RET_ALLOW);
  d.args[5] = 9ull << 32;
  expect_result(fine, COUNT(fine), &d, 9);
  d.args[5] = 8ull << 32;
  expect_result(fine, COUNT(fine), &d, PSS_SECCOMP_RET_KILL_THREAD);
}
/* }====================================================================== */


int run_seccomp_suite (void) {
  const struct CMUnitTest tests[] = {
    seccomp_test(seccomp_no_filter_is_allowed),
    seccomp_test(seccomp_errno_clone_target),
    seccomp_test(seccomp_kill_clone_target),
    seccomp_test(seccomp_argument_checks),
    seccomp_test(seccomp_instruction_pointer_checks),
    seccomp_test(seccomp_architecture_checks),
    seccomp_test(seccomp_chain_of_filters),
    seccomp_test(seccomp_alu_and_scratch_memory),
    seccomp_test(seccomp_jumps),
    seccomp_test(seccomp_division_by_zero),
    seccomp_test(seccomp_every_action),
    seccomp_test(seccomp_unknown_gives_way_to_denied),
    seccomp_test(seccomp_strict_mode),
    seccomp_test(seccomp_unreadable_filters_are_unknown),
    seccomp_test(seccomp_threads_not_held_or_gone),
    seccomp_test(seccomp_evaluator_refuses_what_the_kernel_refuses),
  };
  return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
