/*
** test_unfrozen.c -- captures that do not stop the target: the process
** record alone, PSS_LINUX_CAPTURE_UNFROZEN, and the fallback of
** PSS_LINUX_CAPTURE_FREEZE_OPTIONAL where ptrace is refused (a kernel
** thread). What they read is compared with /proc; the frozen path is
** test_freeze.c's.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

static DWORD fd_count (pid_t pid) {
  int fds[4096];
  long n = proc_fds(pid, fds, 4096);
  assert_true(n >= 0);
  return (DWORD)n;
}

static DWORD map_count (pid_t pid) {
  size_t n = 0;
  struct proc_map *maps = proc_maps(pid, &n);
  assert_non_null(maps);
  free(maps);
  return (DWORD)n;
}

static PSS_LINUX_PERFORMANCE_COUNTERS linux_counters (HPSS s) {
  PSS_LINUX_PERFORMANCE_COUNTERS lp;
  memset(&lp, 0xA5, sizeof lp);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &lp, sizeof lp),
              ERROR_SUCCESS);
  return lp;
}

/* The record of a snapshot read while running, with its reason. */
static void expect_running (HPSS s, const char *why) {
  PSS_LINUX_PROCESS_INFORMATION p = query_linux_process(s);
  assert_int_equal(p.CaptureMode, PSS_LINUX_CAPTURE_MODE_RUNNING);
  assert_non_null(p.NotFrozen);
  assert_int_equal(strlen(p.NotFrozen), p.NotFrozenLength);
  if (strstr(p.NotFrozen, why) == NULL)
    fail_because("NotFrozen is \"%s\", not about \"%s\"", p.NotFrozen, why);
}

static void record_alone_stops_no_thread (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "64", NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CREATE_MEASURE_PERFORMANCE);
  PSS_LINUX_PERFORMANCE_COUNTERS lp = linux_counters(s);
  PSS_LINUX_PROCESS_INFORMATION p = query_linux_process(s);
  assert_int_equal(lp.ThreadsFrozen, 0);
  assert_int_equal(lp.FreezeWallClockPeriod, 0);
  expect_running(s, "process record alone");
  assert_int_equal(p.ThreadCount, t->thread_count);
  assert_int_equal(p.Process.ProcessId, (DWORD)t->pid);
}

static void a_table_is_frozen (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "2", NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_THREADS | PSS_CREATE_MEASURE_PERFORMANCE);
  PSS_LINUX_PROCESS_INFORMATION p = query_linux_process(s);
  assert_int_equal(p.CaptureMode, PSS_LINUX_CAPTURE_MODE_FROZEN);
  assert_int_equal(p.NotFrozenLength, 0);
  assert_string_equal(p.NotFrozen, "");
  assert_int_equal(linux_counters(s).ThreadsFrozen, t->thread_count);
}

static void unfrozen_reads_the_tables_while_running (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "4", NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, CAPTURE_EVERYTHING | PSS_LINUX_CAPTURE_UNFROZEN |
                                 PSS_CREATE_MEASURE_PERFORMANCE);
  size_t n, i;
  PSS_LINUX_THREAD_ENTRY *threads;
  assert_int_equal(linux_counters(s).ThreadsFrozen, 0);
  expect_running(s, "asked not to stop");
  threads = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  assert_int_equal(n, t->thread_count);
  for (i = 0; i < n; i++) {
    assert_true(threads[i].State != 't');            /* never a tracer's stop */
    assert_null(threads[i].Thread.TebBaseAddress);  /* it needs the thread stopped */
  }
  assert_int_equal(query_handle_count(s), fd_count(t->pid));
  assert_int_equal(query_region_count(s), map_count(t->pid));
}

static void unfrozen_refuses_what_needs_ptrace (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = NULL;
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT |
                                    PSS_LINUX_CAPTURE_UNFROZEN, CONTEXT_ALL, &s),
              ERROR_INVALID_PARAMETER);
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE | PSS_LINUX_CAPTURE_UNFROZEN, 0, &s),
              ERROR_INVALID_PARAMETER);
  assert_null(s);
}

/* kthreadd (pid 2): ptrace refuses every kernel thread, /proc reads it. */
static int kthreadd_here (void) {
  char text[64] = "";
  FILE *fp = fopen("/proc/2/stat", "r");
  if (fp == NULL) return 0;
  if (fgets(text, sizeof text, fp) == NULL) text[0] = '\0';
  fclose(fp);
  return strncmp(text, "2 (kthreadd)", 12) == 0;
}

static void kernel_thread_falls_back_only_when_allowed (void **state) {
  struct fixture *f = FIXTURE(state);
  HANDLE h;
  HPSS s = NULL;
  const char *detail;
  if (!kthreadd_here()) skip_because("no kthreadd at pid 2 here (a pid namespace?)");
  h = fixture_open(f, 2);
  /* Windows' contract by default: not taken as asked, so not taken */
  assert_code(PssCaptureSnapshot(h, CAPTURE_EVERYTHING, 0, &s), ERROR_ACCESS_DENIED);
  detail = PssLinuxLastErrorDetail();
  assert_non_null(detail);
  assert_non_null(strstr(detail, "kernel thread"));
  assert_null(strstr(detail, "root"));
  /* allowed: read while running, one thread, no fds, no mappings */
  s = fixture_capture(f, h, CAPTURE_EVERYTHING | PSS_LINUX_CAPTURE_FREEZE_OPTIONAL);
  expect_running(s, "ptrace refused: a kernel thread");
  assert_int_equal(query_thread_count(s), 1);
  assert_int_equal(query_handle_count(s), 0);
  assert_int_equal(query_region_count(s), 0);
  /* what needs ptrace is refused even so, with the cause */
  s = NULL;
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT |
                                    PSS_LINUX_CAPTURE_FREEZE_OPTIONAL, CONTEXT_ALL, &s),
              ERROR_ACCESS_DENIED);
  assert_null(s);
  assert_non_null(strstr(PssLinuxLastErrorDetail(), "kernel thread"));
}

int run_unfrozen_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(record_alone_stops_no_thread),
    fixture_test(a_table_is_frozen),
    fixture_test(unfrozen_reads_the_tables_while_running),
    fixture_test(unfrozen_refuses_what_needs_ptrace),
    fixture_test(kernel_thread_falls_back_only_when_allowed),
  };
  return cmocka_run_group_tests_name("unfrozen", tests, NULL, NULL);
}
