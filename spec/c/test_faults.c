/*
** test_faults.c -- allocation failure at every point of a capture, as
** SQLite tests it: for each N, the N-th allocation libpss makes fails
** (once, then in a second sweep every allocation from the N-th on). Each
** capture must end with ERROR_SUCCESS or ERROR_NOT_ENOUGH_MEMORY, leak
** nothing (the ASan and valgrind runs see that), leave the target running
** and untraced, and the next capture must work. The sweep ends at the
** first N past the capture's last allocation.
**
** A capture of another process with its 101 threads seized is where a
** failed allocation once left a thread stopped until the capturer exited.
*/
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "fixture.h"
#include "observe.h"
#include "suites.h"

#define MAX_POINTS 20000      /* far above what any capture allocates */

static const struct { PSS_CAPTURE_FLAGS flags; const char *name; } kinds[] = {
  { PSS_CAPTURE_NONE, "process record" },
  { PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_THREAD_CONTEXT_EXTENDED,
    "threads with contexts" },
  { PSS_CAPTURE_HANDLES | PSS_CAPTURE_HANDLE_NAME_INFORMATION |
    PSS_CAPTURE_HANDLE_BASIC_INFORMATION | PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION,
    "handles" },
  { PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION, "regions" },
  { PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_MEMORY_USAGE, "regions from smaps" },
  { PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_LINUX_CAPTURE_STACKS,
    "stacks, the mappings read apart" },
  { CAPTURE_EVERYTHING | PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_CLONE |
    PSS_LINUX_CAPTURE_STACKS, "everything with a VA clone and stacks" },
  { CAPTURE_EVERYTHING | PSS_CAPTURE_VA_CLONE | PSS_CREATE_USE_VM_ALLOCATIONS,
    "everything, VM allocations" },
};

/* Every thread of this process but the caller untraced: the self-freeze's
** helper let go of them. */
static void expect_self_untraced (const char *what, long n) {
  pid_t tids[256];
  long count = proc_tids(getpid(), tids, 256), i;
  for (i = 0; i < count; i++)
    if (thread_tracer(getpid(), tids[i]) > 0)
      fail_because("%s, allocation %ld failing: thread %d of the suite is still traced", what, n,
                   (int)tids[i]);
}

/* One sweep; returns the number of allocation points found. */
static long sweep (struct fixture *f, HANDLE h, pid_t pid, PSS_CAPTURE_FLAGS flags,
                   int from_then_on, const char *what) {
  long n, stride = under_valgrind() ? 7 : 1, failed = 0;
  for (n = 0; n < MAX_POINTS; n += stride) {
    HPSS s = NULL;
    DWORD rc;
    faults_arm(n, from_then_on);
    rc = PssCaptureSnapshot(h, flags, CONTEXT_ALL, &s);
    failed = faults_disarm();
    if (rc == ERROR_SUCCESS) assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s),
                                         ERROR_SUCCESS);
    else if (rc != ERROR_NOT_ENOUGH_MEMORY || failed == 0)
      fail_because("%s, allocation %ld failing%s: %s (%u), errno %d, %s", what, n,
                   from_then_on ? " and every one after" : "", win32_error_name(rc),
                   (unsigned)rc, PssLinuxLastErrno(),
                   PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "no detail");
    if (pid == getpid()) expect_self_untraced(what, n);
    else expect_untouched(pid, what);
    if (failed == 0) break;              /* past the capture's last allocation */
  }
  if (n >= MAX_POINTS) fail_because("%s: still failing after %d allocations", what, MAX_POINTS);
  /* and the next capture works */
  fixture_capture(f, h, flags);
  return n;
}

static void sweep_kinds (struct fixture *f, HANDLE h, pid_t pid, int from_then_on,
                         const char *whose) {
  size_t k;
  for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    char what[96];
    long points;
    snprintf(what, sizeof what, "%s: %s", whose, kinds[k].name);
    points = sweep(f, h, pid, kinds[k].flags, from_then_on, what);
    note("%s: %ld allocation points%s", what, points, from_then_on ? " (failing from each on)" : "");
  }
}

static void every_allocation_of_a_capture_fails_once (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "100", NULL);
  sweep_kinds(f, fixture_open(f, t->pid), t->pid, 0, "another process");
  assert_int_equal(target_anomalies(t), 0);
}

static void allocations_fail_from_each_point_on (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--threads", "100", NULL);
  sweep_kinds(f, fixture_open(f, t->pid), t->pid, 1, "another process");
}

static void every_allocation_of_a_self_capture_fails_once (void **state) {
  struct fixture *f = FIXTURE(state);
  sweep_kinds(f, PSS_LINUX_CURRENT_PROCESS, getpid(), 0, "the calling process");
}

static void self_allocations_fail_from_each_point_on (void **state) {
  struct fixture *f = FIXTURE(state);
  sweep_kinds(f, PSS_LINUX_CURRENT_PROCESS, getpid(), 1, "the calling process");
}

int run_fault_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(every_allocation_of_a_capture_fails_once),
    fixture_test(allocations_fail_from_each_point_on),
    fixture_test(every_allocation_of_a_self_capture_fails_once),
    fixture_test(self_allocations_fail_from_each_point_on),
  };
  return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
