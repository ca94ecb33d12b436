/*
** test_create_flags.c -- PSS_CREATE_* and the flags Linux answers in its
** own way: VM allocations, performance counters, handle trace, and the
** flags accepted without effect.
*/
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

/* Two captures of one idle target give the same entries */
static void assert_same_capture (struct fixture *f, HPSS a, HPSS b) {
  size_t na, nb, i;
  PSS_LINUX_THREAD_ENTRY *ta = fixture_walk(f, a, PSS_WALK_LINUX_THREADS, &na);
  PSS_LINUX_THREAD_ENTRY *tb = fixture_walk(f, b, PSS_WALK_LINUX_THREADS, &nb);
  PSS_LINUX_HANDLE_ENTRY *ha, *hb;
  PSS_LINUX_VA_SPACE_ENTRY *ra, *rb;
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++) {
    assert_int_equal(ta[i].Thread.ThreadId, tb[i].Thread.ThreadId);
    assert_bytes(ta[i].Name, ta[i].NameLength, tb[i].Name, tb[i].NameLength);
  }
  ha = fixture_walk(f, a, PSS_WALK_LINUX_HANDLES, &na);
  hb = fixture_walk(f, b, PSS_WALK_LINUX_HANDLES, &nb);
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++) {
    assert_ptr_equal(ha[i].Handle.Handle, hb[i].Handle.Handle);
    assert_int_equal(ha[i].Kind, hb[i].Kind);
    assert_bytes(ha[i].Target, ha[i].TargetLength, hb[i].Target, hb[i].TargetLength);
  }
  ra = fixture_walk(f, a, PSS_WALK_LINUX_VA_SPACE, &na);
  rb = fixture_walk(f, b, PSS_WALK_LINUX_VA_SPACE, &nb);
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++) {
    assert_ptr_equal(ra[i].Region.BaseAddress, rb[i].Region.BaseAddress);
    assert_int_equal(ra[i].Region.Protect, rb[i].Region.Protect);
    assert_int_equal(ra[i].Region.Type, rb[i].Region.Type);
    assert_bytes(ra[i].Path, ra[i].PathLength, rb[i].Path, rb[i].PathLength);
  }
}

static void vm_allocations_capture_the_same (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS plain = fixture_capture(f, h, CAPTURE_EVERYTHING);
  HPSS vm = fixture_capture(f, h, CAPTURE_EVERYTHING | PSS_CREATE_USE_VM_ALLOCATIONS);
  assert_int_equal(query_thread_count(vm), query_thread_count(plain));
  assert_int_equal(query_handle_count(vm), query_handle_count(plain));
  assert_int_equal(query_region_count(vm), query_region_count(plain));
  assert_same_capture(f, plain, vm);
}

static void measured_capture_reports_its_cost (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, CAPTURE_EVERYTHING | PSS_CREATE_MEASURE_PERFORMANCE);
  HPSS unmeasured = fixture_capture(f, h, CAPTURE_EVERYTHING);
  PSS_PERFORMANCE_COUNTERS pc;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PERFORMANCE_COUNTERS, &pc, sizeof pc),
              ERROR_SUCCESS);
  assert_true(pc.TotalWallClockPeriod > 0);
  /* the parts are measured within the whole */
  assert_true(pc.ThreadsWallClockPeriod <= pc.TotalWallClockPeriod);
  assert_true(pc.HandlesWallClockPeriod <= pc.TotalWallClockPeriod);
  assert_true(pc.VaSpaceWallClockPeriod <= pc.TotalWallClockPeriod);
  assert_code(PssQuerySnapshot(unmeasured, PSS_QUERY_PERFORMANCE_COUNTERS, &pc, sizeof pc),
              ERROR_NOT_FOUND);
}

static void handle_trace_is_empty (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_HANDLES | PSS_CAPTURE_HANDLE_TRACE);
  HPSS trace_only = fixture_capture(f, h, PSS_CAPTURE_HANDLE_TRACE);
  PSS_HANDLE_TRACE_INFORMATION ht;
  memset(&ht, 0xA5, sizeof ht);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_HANDLE_TRACE_INFORMATION, &ht, sizeof ht),
              ERROR_SUCCESS);
  assert_null(ht.SectionHandle);
  assert_int_equal(ht.Size, 0);
  memset(&ht, 0xA5, sizeof ht);
  assert_code(PssQuerySnapshot(trace_only, PSS_QUERY_HANDLE_TRACE_INFORMATION, &ht, sizeof ht),
              ERROR_SUCCESS);
  assert_null(ht.SectionHandle);
  assert_int_equal(ht.Size, 0);
}

static void breakaway_and_release_flags_are_accepted (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  static const PSS_CAPTURE_FLAGS accepted[] = {
    PSS_CREATE_BREAKAWAY_OPTIONAL, PSS_CREATE_BREAKAWAY, PSS_CREATE_FORCE_BREAKAWAY,
    PSS_CREATE_RELEASE_SECTION,
  };
  size_t i;
  for (i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
    HPSS s = fixture_capture(f, h, PSS_CAPTURE_THREADS | accepted[i]);
    assert_int_equal(query_thread_count(s), (DWORD)t->thread_count);
  }
}

static void thread_context_flags_are_ignored_without_contexts (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = NULL;
  PSS_THREAD_INFORMATION ti;
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS, 0x0010001F, &s), ERROR_SUCCESS);
  fixture_keep_snapshot(f, s);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti), ERROR_SUCCESS);
  assert_int_equal(ti.ThreadsCaptured, (DWORD)t->thread_count);
  assert_int_equal(ti.ContextLength, 0);
}

int run_create_flag_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(vm_allocations_capture_the_same),
    fixture_test(measured_capture_reports_its_cost),
    fixture_test(handle_trace_is_empty),
    fixture_test(breakaway_and_release_flags_are_accepted),
    fixture_test(thread_context_flags_are_ignored_without_contexts),
  };
  return cmocka_run_group_tests_name("create-flags", tests, NULL, NULL);
}
