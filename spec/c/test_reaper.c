/*
** test_reaper.c -- captures by a process that reaps its children, and
** captures that run out of time.
**
** Every thread of a process sees the wait reports of every tracee: a
** SIGCHLD handler calling waitpid(-1, WNOHANG), or a thread blocked in
** waitpid(-1), takes the stop reports libpss waits for. Game engines,
** servers and Lua hosts reap children that way. Such a capturer runs in a
** child of the suite (the suite's own children are the fixture's), does
** its captures with a VA clone, thread contexts and everything else, and
** must finish, with the targets never left stopped; the suite bounds it
** and fails a capturer that hangs.
**
** A thread that cannot stop (a parent waiting for its vfork child is in
** an uninterruptible sleep until the child execs or exits) makes a capture
** fail with ERROR_TIMEOUT past the wait limit, with nothing left attached,
** and the thread runs on as if nothing happened once its child ends.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"

#define EVERYTHING_AND_CLONE (CAPTURE_EVERYTHING | PSS_CAPTURE_THREAD_CONTEXT | \
                              PSS_CAPTURE_VA_CLONE)
#define CAPTURER_BOUND_MS 120000

enum reaping { BY_HANDLER, BY_THREAD, BY_THREAD_WALL };

/* {======================================================================
** The capturer (a child of the suite): reports by its exit status and
** stderr, never through cmocka
** ======================================================================= */
static volatile sig_atomic_t reaped_by_handler;

static void reap_all (int sig) {
  int saved = errno;
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) reaped_by_handler++;
  errno = saved;
}

static void *reaper_thread (void *arg) {
  int flags = *(int *)arg;
  for (;;) {
    if (waitpid(-1, NULL, flags) < 0 && errno == ECHILD) sleep_us(1000);
  }
  return NULL;
}

static void start_reaping (enum reaping how) {
  static int flags;
  pthread_t thread;
  if (how == BY_HANDLER) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = reap_all;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    return;
  }
  flags = how == BY_THREAD_WALL ? __WALL : 0;
  if (pthread_create(&thread, NULL, reaper_thread, &flags) != 0) {
    fprintf(stderr, "cannot start the reaping thread\n");
    _exit(2);
  }
}

/* A thread of pid left stopped or traced: its tid, or 0. */
static pid_t left_stopped (pid_t pid) {
  pid_t tids[1024];
  long n = proc_tids(pid, tids, 1024), i;
  for (i = 0; i < n; i++) {
    char st = thread_state(pid, tids[i]);
    if (st == 't' || thread_tracer(pid, tids[i]) > 0) return tids[i];
  }
  return 0;
}

/* Captures `rounds` times; 0, or 1 with the reason on stderr. */
static int capture_rounds (HANDLE h, pid_t pid, int rounds, const char *what) {
  int i;
  for (i = 0; i < rounds; i++) {
    HPSS s = NULL;
    DWORD rc = PssCaptureSnapshot(h, EVERYTHING_AND_CLONE, CONTEXT_ALL, &s);
    pid_t stuck;
    if (rc != ERROR_SUCCESS) {
      const char *detail = PssLinuxLastErrorDetail();
      fprintf(stderr, "%s: capture %d: %s (%u)%s%s\n", what, i, win32_error_name(rc),
              (unsigned)rc, detail ? ": " : "", detail ? detail : "");
      return 1;
    }
    PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    if (pid != getpid() && (stuck = left_stopped(pid)) != 0) {
      sleep_us(200000);
      if (left_stopped(pid) == stuck) {
        fprintf(stderr, "%s: capture %d left thread %d stopped or traced\n", what, i, (int)stuck);
        return 1;
      }
    }
  }
  return 0;
}

/* Starts $PSS_TARGET as a child of this process; its pid, or 0. */
static pid_t start_own_target (int *input) {
  int in[2];
  pid_t pid;
  if (pipe(in) < 0) return 0;
  if ((pid = fork()) == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(in[0], 0);
    dup2(null, 1);
    close(in[0]); close(in[1]);
    execl(target_program(), target_program(), "--threads", "4", "--no-fds", (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  *input = in[1];
  sleep_us(300000);                 /* its threads started */
  return pid > 0 ? pid : 0;
}

static void capturer (enum reaping how, pid_t other, int rounds) {
  HANDLE h;
  int input = -1, failed = 0;
  pid_t own;
  start_reaping(how);
  if ((own = start_own_target(&input)) == 0) _exit(2);
  if (PssLinuxOpenProcess((DWORD)own, &h) != ERROR_SUCCESS) _exit(2);
  failed |= capture_rounds(h, own, rounds, "a child of the capturer");
  PssLinuxCloseProcess(h);
  if (PssLinuxOpenProcess((DWORD)other, &h) != ERROR_SUCCESS) _exit(2);
  failed |= capture_rounds(h, other, rounds, "a process that is not its child");
  PssLinuxCloseProcess(h);
  failed |= capture_rounds(PSS_LINUX_CURRENT_PROCESS, getpid(), rounds / 4 + 1,
                           "the capturer itself");
  close(input);                     /* its target ends on EOF */
  kill(own, SIGTERM);
  _exit(failed);
}
/* }====================================================================== */


/* Waits for the child that runs a capturer, bounded: a capture that hangs
** fails the test (the child is killed); so does one that failed. */
static void expect_capturer_ends (pid_t pid, char const *what) {
  long long deadline = now_ms() + CAPTURER_BOUND_MS;
  int status;
  assert_true(pid > 0);
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_because("%s hung for %d s", what, CAPTURER_BOUND_MS / 1000);
    }
    sleep_us(20000);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_because("%s failed (status %#x; its reason is above)", what, status);
}

static void run_capturer (enum reaping how, pid_t other, int rounds) {
  pid_t pid = fork();
  if (pid == 0) capturer(how, other, rounds);
  expect_capturer_ends(pid, "the capturer");
}

static void reaping_capturer (void **state, enum reaping how) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "4", "--reaper", "--sleeper", NULL);
  run_capturer(how, t->pid, under_valgrind() ? 2 : 20);
  expect_untouched(t->pid, "after the reaping capturer");
  assert_int_equal(target_anomalies(t), 0);
}

static void captures_by_a_sigchld_reaper (void **state) { reaping_capturer(state, BY_HANDLER); }
static void captures_by_a_reaping_thread (void **state) { reaping_capturer(state, BY_THREAD); }
static void captures_by_a_wall_reaping_thread (void **state) {
  reaping_capturer(state, BY_THREAD_WALL);
}


/* {======================================================================
** A thread that cannot stop: a parent waiting for its vfork child
** ======================================================================= */
struct vforker { long child_ms; int ready; };

static void *vfork_and_wait (void *arg) {
  struct vforker *v = arg;
  pid_t pid;
  if (write(v->ready, "v", 1) != 1) return NULL;
  if ((pid = vfork()) == 0) {
    struct timespec ts = { v->child_ms / 1000, (v->child_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    _exit(0);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
  return NULL;
}

/* A process (a child of the suite) whose thread "vforker" stays in an
** uninterruptible sleep for child_ms; it exits when `quit` reaches EOF.
** Its pid; *vforker_tid the waiting thread's tid. */
static pid_t start_vforker (long child_ms, int *quit, pid_t *vforker_tid) {
  int q[2], r[2];
  pid_t pid;
  char byte;
  assert_int_equal(pipe(q), 0);
  assert_int_equal(pipe(r), 0);
  if ((pid = fork()) == 0) {
    struct vforker v = { child_ms, r[1] };
    pthread_t thread;
    pid_t tid;
    close(q[1]); close(r[0]);
    if (pthread_create(&thread, NULL, vfork_and_wait, &v) != 0) _exit(2);
    while (read(q[0], &byte, 1) > 0) {}
    (void)tid;
    _exit(0);
  }
  close(q[0]); close(r[1]);
  assert_int_equal(read(r[0], &byte, 1), 1);
  close(r[0]);
  *quit = q[1];
  *vforker_tid = 0;
  {
    long long deadline = now_ms() + 5000;
    while (*vforker_tid == 0 && now_ms() < deadline) {
      pid_t tids[16];
      long n = proc_tids(pid, tids, 16), i;
      for (i = 0; i < n; i++)
        if (tids[i] != pid && thread_state(pid, tids[i]) == 'D') *vforker_tid = tids[i];
      if (*vforker_tid == 0) sleep_us(5000);
    }
  }
  return pid;
}

static void capture_times_out_on_a_thread_that_cannot_stop (void **state) {
  struct fixture *f = FIXTURE(state);
  int quit, status;
  pid_t vforker, pid;
  DWORD previous, rc;
  HPSS s = NULL;
  HANDLE h;
  const char *detail;
  char want[64];
  long long deadline;
  if (under_valgrind()) skip_because("valgrind runs vfork as fork: no thread waits in it");
  pid = start_vforker(3000, &quit, &vforker);
  if (vforker == 0) {
    close(quit);
    waitpid(pid, NULL, 0);
    fail_because("the vfork parent thread of %d never showed state D", (int)pid);
  }
  h = fixture_open(f, pid);
  previous = PssLinuxSetWaitLimit(300);
  rc = PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL, &s);
  detail = PssLinuxLastErrorDetail();
  PssLinuxSetWaitLimit(previous);
  if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
  assert_code(rc, ERROR_TIMEOUT);
  snprintf(want, sizeof want, "thread %d of the target did not stop within 300 ms", (int)vforker);
  if (detail == NULL || strstr(detail, want) == NULL)
    fail_because("detail \"%s\", expected it to say \"%s\"", detail ? detail : "(none)", want);
  /* nothing attached, nothing stopped -- right away, while the thread
  ** still waits for its child */
  assert_int_equal(thread_state(pid, vforker), 'D');
  expect_untouched(pid, "after the timeout");
  /* the child ends: the thread goes on, never stopping for a tracer */
  for (deadline = now_ms() + 10000; thread_state(pid, vforker) == 'D'; sleep_us(10000))
    if (now_ms() > deadline) fail_because("the vfork parent still waits after 10 s");
  sleep_us(100000);
  expect_untouched(pid, "after its vfork child ended");
  /* and the process can be captured whole again */
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL,
                                 &s), ERROR_SUCCESS);
  PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
  expect_untouched(pid, "after a capture");
  close(quit);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The calling process, with one of its own threads in a vfork wait: the
** self-freeze's helper runs out of time and lets go of everything. */
static void self_capture_times_out_on_a_thread_that_cannot_stop (void **state) {
  struct vforker v = { 1500, -1 };
  int r[2];
  pthread_t thread;
  pid_t vforker = 0;
  DWORD previous, rc;
  HPSS s = NULL;
  const char *detail;
  char byte;
  long long deadline;
  (void)state;
  if (under_valgrind()) skip_because("valgrind runs vfork as fork: no thread waits in it");
  assert_int_equal(pipe(r), 0);
  v.ready = r[1];
  assert_int_equal(pthread_create(&thread, NULL, vfork_and_wait, &v), 0);
  assert_int_equal(read(r[0], &byte, 1), 1);
  for (deadline = now_ms() + 5000; vforker == 0 && now_ms() < deadline; sleep_us(5000)) {
    pid_t tids[64];
    long n = proc_tids(getpid(), tids, 64), i;
    for (i = 0; i < n; i++)
      if (thread_state(getpid(), tids[i]) == 'D') vforker = tids[i];
  }
  if (vforker == 0) {
    pthread_join(thread, NULL);
    fail_because("no thread of this process showed state D in its vfork wait");
  }
  previous = PssLinuxSetWaitLimit(300);
  rc = PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS |
                          PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL, &s);
  detail = PssLinuxLastErrorDetail();
  PssLinuxSetWaitLimit(previous);
  if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
  assert_code(rc, ERROR_TIMEOUT);
  if (detail == NULL || strstr(detail, "did not stop within 300 ms") == NULL)
    fail_because("detail \"%s\"", detail ? detail : "(none)");
  assert_int_equal(thread_tracer(getpid(), vforker), 0);
  pthread_join(thread, NULL);
  close(r[0]); close(r[1]);
}

/* {======================================================================
** A target that calls execve while it is captured: the execve kills the
** other threads and waits for each to be collected -- which, while they
** are traced, only the capturing process can do -- holding a lock our
** PTRACE_SEIZE of another thread waits for. Every capture must end.
** ======================================================================= */
static void *sleep_forever (void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

/* A child with four threads that execs /bin/sleep after `us`. */
static pid_t start_execer (long us) {
  pid_t pid = fork();
  if (pid == 0) {
    pthread_t t;
    int i, null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    for (i = 0; i < 4; i++) pthread_create(&t, NULL, sleep_forever, NULL);
    sleep_us(us);
    execl("/bin/sleep", "sleep", "30", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void execer_rounds (int rounds) {
  int i, failed = 0;
  PssLinuxSetWaitLimit(300);
  srand((unsigned)getpid());
  for (i = 0; i < rounds; i++) {
    pid_t pid = start_execer(rand() % 6000), stuck;
    HANDLE h;
    HPSS s;
    DWORD rc;
    sleep_us(2000 + rand() % 3000);
    if (PssLinuxOpenProcess((DWORD)pid, &h) != ERROR_SUCCESS) { kill(pid, SIGKILL); continue; }
    rc = PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL, &s);
    if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    PssLinuxCloseProcess(h);
    if ((stuck = left_stopped(pid)) != 0) {
      sleep_us(300000);
      if (left_stopped(pid) == stuck) {
        fprintf(stderr, "round %d (%s): thread %d left stopped or traced\n", i,
                win32_error_name(rc), (int)stuck);
        failed = 1;
      }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  _exit(failed);
}

static void captures_of_a_target_that_execs_end (void **state) {
  pid_t pid;
  (void)state;
  if (access("/bin/sleep", X_OK) != 0) skip_because("no /bin/sleep to exec");
  if ((pid = fork()) == 0) execer_rounds(under_valgrind() ? 10 : 150);
  expect_capturer_ends(pid, "a capturer of a target calling execve");
}
/* }====================================================================== */


/* {======================================================================
** The helper of a capture of the calling process never runs the caller's
** signal handlers (each ptrace stop sends the helper a SIGCHLD)
** ======================================================================= */
/* In shared memory: a handler running in another process (the helper is
** a fork of ours) counts where we see it. */
static volatile sig_atomic_t *handled;      /* [0] here, [1] elsewhere */
static pid_t handler_owner;

static void count_where (int sig) {
  (void)sig;
  handled[getpid() == handler_owner ? 0 : 1]++;
}

static void self_captures_never_run_our_handlers (void **state) {
  struct sigaction sa, old;
  pthread_t threads[3];
  int i;
  (void)state;
  if (under_valgrind()) skip_because("valgrind cannot stop this process's threads for contexts");
  handler_owner = getpid();
  handled = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(handled != MAP_FAILED);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_where;
  sa.sa_flags = SA_RESTART;
  assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
  for (i = 0; i < 3; i++) assert_int_equal(pthread_create(&threads[i], NULL, sleep_forever, NULL), 0);
  for (i = 0; i < 20; i++) {
    HPSS s;
    DWORD rc = PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS |
                                  PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL, &s);
    if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    else break;
  }
  for (i = 0; i < 3; i++) pthread_cancel(threads[i]);
  for (i = 0; i < 3; i++) pthread_join(threads[i], NULL);
  sigaction(SIGCHLD, &old, NULL);
  note("SIGCHLD handled %d times in this process, %d times elsewhere", (int)handled[0],
       (int)handled[1]);
  i = (int)handled[1];
  munmap((void *)handled, 4096);
  assert_int_equal(i, 0);
}
/* }====================================================================== */


/* {======================================================================
** pthread_cancel of a thread inside a capture: it ends when the capture
** has, never with the target's threads held
** ======================================================================= */
struct canceled { HANDLE h; int rounds; };

static void *capture_until_canceled (void *arg) {
  struct canceled *c = arg;
  for (;;) {
    HPSS s;
    if (PssCaptureSnapshot(c->h, EVERYTHING_AND_CLONE, CONTEXT_ALL, &s) == ERROR_SUCCESS)
      PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    c->rounds++;
    pthread_testcancel();
  }
  return NULL;
}

static void canceled_captures_leave_nothing (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "20", NULL);
  HANDLE h = fixture_open(f, t->pid);
  int i, rounds = under_valgrind() ? 3 : 30;
  for (i = 0; i < rounds; i++) {
    struct canceled c = { h, 0 };
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, capture_until_canceled, &c), 0);
    sleep_us(1000 + (i * 7919) % 20000);
    assert_int_equal(pthread_cancel(thread), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    expect_untouched(t->pid, "after a canceled capture");
  }
  assert_int_equal(target_anomalies(t), 0);
}
/* }====================================================================== */


/* The wait limit: set, read back (0 only reads it), restored. */
static void wait_limit_is_kept (void **state) {
  DWORD previous = PssLinuxSetWaitLimit(1234);
  (void)state;
  assert_int_equal(PssLinuxSetWaitLimit(0), 1234);
  assert_int_equal(PssLinuxSetWaitLimit(0), 1234);
  assert_int_equal(PssLinuxSetWaitLimit(previous), 1234);
  assert_int_equal(PssLinuxSetWaitLimit(0), previous);
}
/* }====================================================================== */


int run_reaper_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(captures_by_a_sigchld_reaper),
    fixture_test(captures_by_a_reaping_thread),
    fixture_test(captures_by_a_wall_reaping_thread),
    fixture_test(capture_times_out_on_a_thread_that_cannot_stop),
    fixture_test(self_capture_times_out_on_a_thread_that_cannot_stop),
    fixture_test(wait_limit_is_kept),
    fixture_test(captures_of_a_target_that_execs_end),
    fixture_test(self_captures_never_run_our_handlers),
    fixture_test(canceled_captures_leave_nothing),
  };
  return cmocka_run_group_tests_name("reaper", tests, NULL, NULL);
}
