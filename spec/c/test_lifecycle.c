/*
** test_lifecycle.c -- targets that do not exist, have exited, are
** exiting during the capture, or may not be read; process handles.
*/
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "linux/proc/procfs.h"
#include "suites.h"

#define UNTOUCHED_SNAPSHOT ((HPSS)(uintptr_t)0x5eed5eedu)
#define UNTOUCHED_HANDLE ((HANDLE)(uintptr_t)0x5eed5eedu)

/* A pid that names no process: a child that was reaped */
static pid_t vanished_pid (void) {
  int status;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return pid;
}

static void open_missing_pid_is_invalid_parameter (void **state) {
  HANDLE h = UNTOUCHED_HANDLE;
  long long pid_max = 0;
  char text[32];
  (void)state;
  assert_code(PssLinuxOpenProcess((DWORD)vanished_pid(), &h), ERROR_INVALID_PARAMETER);
  assert_ptr_equal(h, UNTOUCHED_HANDLE);
  if (proc_read(1, "../sys/kernel/pid_max", text, sizeof text - 1) > 0)
    pid_max = atoll(text);
  if (pid_max > 0) {
    assert_code(PssLinuxOpenProcess((DWORD)(pid_max + 1), &h), ERROR_INVALID_PARAMETER);
    assert_ptr_equal(h, UNTOUCHED_HANDLE);
  }
}

static void process_handle_names_its_pid (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  DWORD pid = 0;
  assert_code(PssLinuxGetProcessId(h, &pid), ERROR_SUCCESS);
  assert_int_equal(pid, (DWORD)t->pid);
  assert_code(PssLinuxGetProcessId(PSS_LINUX_CURRENT_PROCESS, &pid), ERROR_SUCCESS);
  assert_int_equal(pid, (DWORD)getpid());
  assert_code(PssLinuxCloseProcess(PSS_LINUX_CURRENT_PROCESS), ERROR_SUCCESS);
  assert_code(PssLinuxCloseProcess(h), ERROR_SUCCESS);
  fixture_forget_process(f, h);
}

static void closing_a_non_pidfd_is_invalid_handle (void **state) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  (void)state;
  assert_true(fd >= 0);
  assert_code(PssLinuxCloseProcess((HANDLE)(intptr_t)fd), ERROR_INVALID_HANDLE);
  /* and it left the descriptor alone */
  assert_int_equal(fcntl(fd, F_GETFD) >= 0, 1);
  close(fd);
}

static void own_pidfd_is_a_process_handle (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  int fd = (int)syscall(SYS_pidfd_open, t->pid, 0);
  HPSS s = NULL;
  DWORD rc;
  if (fd < 0)
    skip_because("pidfd_open: %s", strerror(errno));
  rc = PssCaptureSnapshot((HANDLE)(intptr_t)fd, PSS_CAPTURE_THREADS, 0, &s);
  if (rc == ERROR_SUCCESS)
    fixture_keep_snapshot(f, s);
  close(fd);
  assert_code(rc, ERROR_SUCCESS);
  assert_int_equal(query_process(s).ProcessId, (DWORD)t->pid);
  assert_int_equal(query_thread_count(s), (DWORD)t->thread_count);
}

static void capture_of_reaped_target_is_process_aborted (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = UNTOUCHED_SNAPSHOT;
  DWORD pid = 0;
  assert_int_equal(WEXITSTATUS(target_stop(t)), 0);
  assert_code(PssCaptureSnapshot(h, CAPTURE_EVERYTHING, 0, &s), ERROR_PROCESS_ABORTED);
  assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_NONE, 0, &s), ERROR_PROCESS_ABORTED);
  assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
  assert_code(PssLinuxGetProcessId(h, &pid), ERROR_PROCESS_ABORTED);
  assert_int_equal(pid, 0);
}

static void zombie_capture_has_exit_code (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--exit-now", "7", NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct proc_stat st;
  HPSS s;
  PSS_PROCESS_INFORMATION pi;
  PSS_LINUX_PROCESS_INFORMATION li;
  PSS_THREAD_ENTRY *threads;
  size_t n;
  assert_int_equal(target_wait_zombie(t), 0);
  assert_int_equal(proc_stat(t->pid, 0, &st), 0);
  assert_int_equal(st.state, 'Z');
  s = fixture_capture(f, h, CAPTURE_EVERYTHING);
  pi = query_process(s);
  li = query_linux_process(s);
  assert_int_equal(pi.ExitStatus, 7);
  assert_int_equal(li.State, 'Z');
  /* a zombie has no memory, no exe and no command line */
  assert_int_equal(pi.VirtualSize, 0);
  assert_int_equal(pi.WorkingSetSize, 0);
  assert_int_equal(pi.ImageFileName[0], 0);
  assert_int_equal(li.CommandLineLength, 0);
  assert_int_equal(li.ExitCode, (DWORD)st.exit_code);
  assert_int_equal(WEXITSTATUS(li.ExitCode), 7);
  threads = fixture_walk(f, s, PSS_WALK_THREADS, &n);
  assert_int_equal(n, 1);
  assert_int_equal(threads[0].ThreadId, (DWORD)t->pid);
  assert_int_equal(threads[0].Flags & PSS_THREAD_FLAGS_TERMINATED, PSS_THREAD_FLAGS_TERMINATED);
  assert_int_equal(WEXITSTATUS(target_reap(t)), 7);
}

/* {======================================================================
** A target exiting while it is captured
** ======================================================================= */

struct reaper {
  struct target *target;
  pthread_t thread;
};

static void *reap_target (void *arg) {
  struct reaper *r = arg;
  target_reap(r->target);
  return NULL;
}

/* Captures until the target, reaped by another thread as soon as it
** exits, is gone; every result must be success or "aborted". */
static void race_one_exit (struct fixture *f, char const *delay_ms) {
  struct target *t = fixture_start(f, "--exit-after", delay_ms, NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct reaper r = { t, 0 };
  DWORD rc = ERROR_SUCCESS, free_rc = ERROR_SUCCESS;
  int i, touched = 0, err;
  assert_int_equal(pthread_create(&r.thread, NULL, reap_target, &r), 0);
  /* nothing may fail out of this loop while the reaper runs */
  for (i = 0; i < 100000 && rc == ERROR_SUCCESS && free_rc == ERROR_SUCCESS; i++) {
    HPSS s = UNTOUCHED_SNAPSHOT;
    rc = PssCaptureSnapshot(h, CAPTURE_EVERYTHING, 0, &s);
    if (rc == ERROR_SUCCESS)
      free_rc = PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    else
      touched = s != UNTOUCHED_SNAPSHOT;
  }
  err = PssLinuxLastErrno();
  pthread_join(r.thread, NULL);
  /* each round's target and handle go now, not at teardown */
  fixture_close(f, h);
  fixture_release_target(f, t);
  assert_code(free_rc, ERROR_SUCCESS);
  if (rc != ERROR_PROCESS_ABORTED)
    fail_because("capture %d of a target exiting after %s ms: %s (%u), errno %d", i,
                 delay_ms, win32_error_name(rc), (unsigned)rc, err);
  if (touched)
    fail_because("a failed capture wrote *SnapshotHandle");
}

static void capture_racing_exit_succeeds_or_aborts (void **state) {
  struct fixture *f = FIXTURE(state);
  long fds_before = proc_self_fd_count();
  int rounds = under_valgrind() ? 8 : 50;
  int i;
  for (i = 0; i < rounds; i++) {
    char delay[16];
    snprintf(delay, sizeof delay, "%d", i % 10);
    race_one_exit(f, delay);
  }
  assert_int_equal(proc_self_fd_count(), fds_before);
}
/* }====================================================================== */

static void target_keeps_running_after_capture (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct proc_stat st;
  size_t i;
  fixture_capture(f, h, CAPTURE_EVERYTHING);
  fixture_capture(f, h, CAPTURE_EVERYTHING);
  for (i = 0; i < t->thread_count; i++) {
    assert_int_equal(proc_stat(t->pid, t->threads[i].tid, &st), 0);
    if (st.state == 't' || st.state == 'T')
      fail_because("thread %d left stopped (%c) after the capture", (int)t->threads[i].tid,
                   st.state);
  }
  assert_int_equal(target_send(t, "exit 5"), 0);
  assert_int_equal(WEXITSTATUS(target_stop(t)), 5);
}

static void captures_leak_no_descriptors (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  long before = proc_self_fd_count();
  int i;
  for (i = 0; i < 5; i++) {
    HPSS s = fixture_capture(f, h, CAPTURE_EVERYTHING);
    size_t n;
    fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &n);
  }
  assert_int_equal(proc_self_fd_count(), before);
}

/* {======================================================================
** A capture without ptrace access: a child of the suite that became
** "nobody" captures a target that belongs to root
** ======================================================================= */

#define PSS_DETAIL_TEXT 256

struct denied_result {
  DWORD none_rc, everything_rc;
  int untouched;
  int setup_errno;
  char detail[PSS_DETAIL_TEXT];   /* PssLinuxLastErrorDetail of the last capture */
};

static int become_nobody (void) {
  return setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
         setresuid(65534, 65534, 65534) != 0 ? errno : 0;
}

static void capture_as_nobody (pid_t target, int report) {
  struct denied_result res;
  HANDLE h = NULL;
  HPSS s = UNTOUCHED_SNAPSHOT;
  memset(&res, 0, sizeof res);
  if ((res.setup_errno = become_nobody()) != 0) {}
  else if (PssLinuxOpenProcess((DWORD)target, &h) != ERROR_SUCCESS)
    res.setup_errno = -1;
  else {
    res.none_rc = PssCaptureSnapshot(h, PSS_CAPTURE_NONE, 0, &s);
    res.untouched = s == UNTOUCHED_SNAPSHOT;
    res.everything_rc = PssCaptureSnapshot(h, CAPTURE_EVERYTHING, 0, &s);
    res.untouched = res.untouched && s == UNTOUCHED_SNAPSHOT;
    snprintf(res.detail, sizeof res.detail, "%s",
             PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "(none)");
  }
  if (write(report, &res, sizeof res) != (ssize_t)sizeof res)
    _exit(2);
  _exit(0);
}

/* Runs capture_as_nobody against target in a child; its result. */
static struct denied_result denied_as_nobody (pid_t target) {
  struct denied_result res;
  int p[2], status;
  pid_t child;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  child = fork();
  assert_true(child >= 0);
  if (child == 0)
    capture_as_nobody(target, p[1]);
  close(p[1]);
  memset(&res, 0xff, sizeof res);
  status = (int)read(p[0], &res, sizeof res);
  close(p[0]);
  assert_int_equal(waitpid(child, NULL, 0), child);
  assert_int_equal(status, (int)sizeof res);
  if (res.setup_errno != 0)
    fail_because("the child could not become nobody or open the target (%d)", res.setup_errno);
  res.detail[sizeof res.detail - 1] = '\0';
  return res;
}

static void expect_detail (const char *detail, const char *words) {
  if (strstr(detail, words) == NULL)
    fail_because("the detail \"%s\" does not say \"%s\"", detail, words);
}

/* The reason is the real one: another user's process, said so. */
static void capture_without_access_is_denied (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  struct denied_result res;
  if (geteuid() != 0)
    skip_because("needs root to drop to nobody (uid 65534) in a child");
  t = fixture_start(f, NULL);
  res = denied_as_nobody(t->pid);
  assert_code(res.none_rc, ERROR_ACCESS_DENIED);
  assert_code(res.everything_rc, ERROR_ACCESS_DENIED);
  assert_true(res.untouched);
  expect_detail(res.detail, "belongs to uid 0");
  expect_detail(res.detail, "pss runs as uid 65534");
}

/* A process of the same user that made itself not dumpable: the detail
** says that, not "another user" nor "run as root". */
static void not_dumpable_is_said (void **state) {
  struct denied_result res;
  int p[2], ready[2];
  char byte;
  pid_t target;
  (void)state;
  if (geteuid() != 0)
    skip_because("needs root to make two processes of nobody");
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
  target = fork();
  assert_true(target >= 0);
  if (target == 0) {
    close(p[1]);
    close(ready[0]);
    if (become_nobody() != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(2);
    while (read(p[0], &byte, 1) < 0 && errno == EINTR) {}
    _exit(0);
  }
  close(p[0]);
  close(ready[1]);
  if (read(ready[0], &byte, 1) != 1) {
    close(p[1]);
    waitpid(target, NULL, 0);
    fail_because("the target could not become nobody and not dumpable");
  }
  close(ready[0]);
  res = denied_as_nobody(target);
  close(p[1]);
  assert_int_equal(waitpid(target, NULL, 0), target);
  assert_code(res.everything_rc, ERROR_ACCESS_DENIED);
  expect_detail(res.detail, "not dumpable");
}

/* The status fields a refusal is explained from, parsed from fixture
** text: four uids, TracerPid, CapEff (hex). */
static void status_text_gives_what_refusals_need (void **state) {
  static const char text[] =
    "Name:\tpss-target\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\n"
    "TracerPid:\t4242\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\n"
    "VmRSS:\t    1024 kB\nCapEff:\t000001ffffffffff\n";
  struct pss_status st;
  (void)state;
  assert_int_equal(pss_parse_status(text, sizeof text - 1, &st), 0);
  assert_int_equal(st.tracer_pid, 4242);
  assert_int_equal(st.uid[0], 1000);
  assert_int_equal(st.uid[3], 1003);
  assert_int_equal(st.gid[2], 7);
  assert_true(st.cap_eff == 0x1ffffffffffULL);
  assert_true(st.vm_rss == 1024 * 1024);
}

/* A kernel thread: refused, and said to be one (as root, which would
** otherwise be told to run as root). */
static void kernel_thread_is_said (void **state) {
  struct fixture *f = FIXTURE(state);
  char text[512], *paren;
  unsigned long flags = 0;
  long n = proc_read(2, "stat", text, sizeof text - 1);
  HANDLE h;
  HPSS s = UNTOUCHED_SNAPSHOT;
  const char *detail;
  if (n <= 0) skip_because("no process 2 in this pid namespace");
  text[n] = '\0';
  paren = strrchr(text, ')');
  if (paren == NULL || sscanf(paren + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1 ||
      !(flags & 0x00200000u))
    skip_because("process 2 is not a kernel thread here (a container?)");
  h = fixture_open(f, 2);
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS, 0, &s), ERROR_ACCESS_DENIED);
  assert_ptr_equal(s, UNTOUCHED_SNAPSHOT);
  detail = PssLinuxLastErrorDetail();
  expect_detail(detail ? detail : "(none)", "a kernel thread cannot be traced");
}
/* }====================================================================== */

int run_lifecycle_suite (void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(open_missing_pid_is_invalid_parameter),
    fixture_test(process_handle_names_its_pid),
    cmocka_unit_test(closing_a_non_pidfd_is_invalid_handle),
    fixture_test(own_pidfd_is_a_process_handle),
    fixture_test(capture_of_reaped_target_is_process_aborted),
    fixture_test(zombie_capture_has_exit_code),
    fixture_test(capture_racing_exit_succeeds_or_aborts),
    fixture_test(target_keeps_running_after_capture),
    fixture_test(captures_leak_no_descriptors),
    fixture_test(capture_without_access_is_denied),
    fixture_test(not_dumpable_is_said),
    fixture_test(kernel_thread_is_said),
    cmocka_unit_test(status_text_gives_what_refusals_need),
  };
  return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
