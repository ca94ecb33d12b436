/*
** test_duplicate.c -- PssDuplicateSnapshot within the calling process.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#define UNTOUCHED_SNAPSHOT ((HPSS)(uintptr_t)0x5eed5eedu)

static HPSS capture_of_new_target (struct fixture *f) {
  struct target *t = fixture_start(f, NULL);
  return fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
}

static HPSS duplicate (struct fixture *f, HANDLE source, HPSS s, HANDLE target,
                       PSS_DUPLICATE_FLAGS flags) {
  HPSS copy = NULL;
  assert_code(PssDuplicateSnapshot(source, s, target, &copy, flags), ERROR_SUCCESS);
  assert_non_null(copy);
  assert_true(copy != s);
  fixture_keep_snapshot(f, copy);
  return copy;
}

/* The two snapshots give the same keys in every table */
static void assert_same_walks (struct fixture *f, HPSS a, HPSS b) {
  size_t na, nb, i;
  PSS_THREAD_ENTRY *ta = fixture_walk(f, a, PSS_WALK_THREADS, &na);
  PSS_THREAD_ENTRY *tb = fixture_walk(f, b, PSS_WALK_THREADS, &nb);
  PSS_HANDLE_ENTRY *ha, *hb;
  PSS_VA_SPACE_ENTRY *ra, *rb;
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++)
    assert_int_equal(ta[i].ThreadId, tb[i].ThreadId);
  ha = fixture_walk(f, a, PSS_WALK_HANDLES, &na);
  hb = fixture_walk(f, b, PSS_WALK_HANDLES, &nb);
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++) {
    assert_ptr_equal(ha[i].Handle, hb[i].Handle);
    assert_int_equal(ha[i].ObjectNameLength, hb[i].ObjectNameLength);
    assert_memory_equal(ha[i].ObjectName, hb[i].ObjectName, ha[i].ObjectNameLength);
  }
  ra = fixture_walk(f, a, PSS_WALK_VA_SPACE, &na);
  rb = fixture_walk(f, b, PSS_WALK_VA_SPACE, &nb);
  assert_int_equal(na, nb);
  for (i = 0; i < na; i++) {
    assert_ptr_equal(ra[i].BaseAddress, rb[i].BaseAddress);
    assert_int_equal(ra[i].RegionSize, rb[i].RegionSize);
    assert_int_equal(ra[i].Protect, rb[i].Protect);
  }
}

static void duplicate_walks_same_entries (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  HPSS copy = duplicate(f, PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                        PSS_DUPLICATE_NONE);
  assert_int_equal(query_process(copy).ProcessId, query_process(s).ProcessId);
  assert_same_walks(f, s, copy);
}

static void duplicate_survives_freeing_the_original (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  HPSS keep = duplicate(f, PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                        PSS_DUPLICATE_NONE);
  HPSS reference = duplicate(f, PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                             PSS_DUPLICATE_NONE);
  PSS_PROCESS_INFORMATION pi = query_process(s);
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi),
              ERROR_INVALID_HANDLE);
  assert_int_equal(query_process(keep).ProcessId, pi.ProcessId);
  assert_same_walks(f, keep, reference);
}

static void close_source_frees_the_source (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  HPSS reference = duplicate(f, PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                             PSS_DUPLICATE_NONE);
  HPSS copy;
  PSS_PROCESS_INFORMATION pi;
  fixture_forget_snapshot(f, s);
  copy = duplicate(f, PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                   PSS_DUPLICATE_CLOSE_SOURCE);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi),
              ERROR_INVALID_HANDLE);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_INVALID_HANDLE);
  assert_same_walks(f, copy, reference);
}

static void close_source_frees_the_source_when_duplication_fails (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE other = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, other, PSS_CAPTURE_THREADS);
  HPSS copy = UNTOUCHED_SNAPSHOT;
  PSS_PROCESS_INFORMATION pi;
  fixture_forget_snapshot(f, s);
  /* a bad target process handle fails the duplication, not the free */
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, (HANDLE)(intptr_t)-7, &copy,
                                   PSS_DUPLICATE_CLOSE_SOURCE), ERROR_INVALID_HANDLE);
  assert_ptr_equal(copy, UNTOUCHED_SNAPSHOT);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi),
              ERROR_INVALID_HANDLE);
}

static void own_pidfd_names_the_calling_process (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  HANDLE self = fixture_open(f, getpid());
  HPSS copy = duplicate(f, self, s, self, PSS_DUPLICATE_NONE);
  HPSS copy2 = duplicate(f, PSS_LINUX_CURRENT_PROCESS, copy, self, PSS_DUPLICATE_NONE);
  fixture_forget_snapshot(f, copy);
  assert_code(PssFreeSnapshot(self, copy), ERROR_SUCCESS);
  assert_same_walks(f, s, copy2);
}

int run_duplicate_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(duplicate_walks_same_entries),
    fixture_test(duplicate_survives_freeing_the_original),
    fixture_test(close_source_frees_the_source),
    fixture_test(close_source_frees_the_source_when_duplication_fails),
    fixture_test(own_pidfd_names_the_calling_process),
  };
  return cmocka_run_group_tests_name("duplicate", tests, NULL, NULL);
}
