/*
** test_errors.c -- every documented misuse ends in its documented code:
** buffer lengths, classes, capture flags, stale and foreign handles.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#define UNTOUCHED_SNAPSHOT ((HPSS)(uintptr_t)0x5eed5eedu)

/* Everything a capture can hold, including the records only some flags make */
#define CAPTURE_EVERY_RECORD \
  (CAPTURE_EVERYTHING | PSS_CAPTURE_HANDLE_TRACE | PSS_CREATE_MEASURE_PERFORMANCE)

static const PSS_QUERY_INFORMATION_CLASS captured_queries[] = {
  PSS_QUERY_PROCESS_INFORMATION, PSS_QUERY_VA_SPACE_INFORMATION,
  PSS_QUERY_HANDLE_INFORMATION, PSS_QUERY_THREAD_INFORMATION,
  PSS_QUERY_HANDLE_TRACE_INFORMATION, PSS_QUERY_PERFORMANCE_COUNTERS,
  PSS_QUERY_LINUX_PROCESS_INFORMATION,
};

static const PSS_WALK_INFORMATION_CLASS captured_walks[] = {
  PSS_WALK_VA_SPACE, PSS_WALK_HANDLES, PSS_WALK_THREADS, PSS_WALK_THREAD_NAME,
  PSS_WALK_LINUX_VA_SPACE, PSS_WALK_LINUX_HANDLES, PSS_WALK_LINUX_THREADS,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static HPSS capture_of_new_target (struct fixture *f, PSS_CAPTURE_FLAGS flags) {
  struct target *t = fixture_start(f, NULL);
  return fixture_capture(f, fixture_open(f, t->pid), flags);
}

/* Lengths that are not the record size */
static DWORD wrong_length (size_t size, int which) {
  switch (which) {
    case 0: return 0;
    case 1: return (DWORD)size - 1;
    case 2: return (DWORD)size + 1;
    case 3: return (DWORD)size * 2;
    default: return 0xFFFFFFFFu;
  }
}

static void query_rejects_wrong_length (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, CAPTURE_EVERY_RECORD);
  static unsigned char buffer[4096];
  size_t i;
  int w;
  for (i = 0; i < COUNT(captured_queries); i++) {
    size_t size = query_record_size(captured_queries[i]);
    for (w = 0; w < 5; w++) {
      DWORD rc = PssQuerySnapshot(s, captured_queries[i], buffer, wrong_length(size, w));
      if (rc != ERROR_BAD_LENGTH)
        fail_because("query class 0x%x, length %u: %s (%u), expected ERROR_BAD_LENGTH",
                     (unsigned)captured_queries[i], (unsigned)wrong_length(size, w),
                     win32_error_name(rc), (unsigned)rc);
    }
    /* the right length works: the class really was captured */
    assert_code(PssQuerySnapshot(s, captured_queries[i], buffer, (DWORD)size), ERROR_SUCCESS);
  }
}

static void walk_rejects_wrong_length (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, CAPTURE_EVERYTHING);
  HPSSWALK m = fixture_marker(f);
  static unsigned char buffer[4096];
  size_t i;
  int w;
  for (i = 0; i < COUNT(captured_walks); i++) {
    size_t size = walk_entry_size(captured_walks[i]);
    for (w = 0; w < 5; w++) {
      DWORD rc = PssWalkSnapshot(s, captured_walks[i], m, buffer, wrong_length(size, w));
      if (rc != ERROR_BAD_LENGTH)
        fail_because("walk class 0x%x, length %u: %s (%u), expected ERROR_BAD_LENGTH",
                     (unsigned)captured_walks[i], (unsigned)wrong_length(size, w),
                     win32_error_name(rc), (unsigned)rc);
    }
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    assert_code(PssWalkSnapshot(s, captured_walks[i], m, buffer, (DWORD)size), ERROR_SUCCESS);
  }
}

static void unknown_classes_are_invalid_parameter (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, CAPTURE_EVERY_RECORD);
  HPSSWALK m = fixture_marker(f);
  static const unsigned bad_queries[] = { 8, 9, 0xFF, 0x102, 0x7FFFFFFF, 0xFFFFFFFF };
  static const unsigned bad_walks[] = { 5, 6, 0x100, 0x104, 0x7FFFFFFF, 0xFFFFFFFF };
  static unsigned char buffer[4096];
  size_t i;
  for (i = 0; i < COUNT(bad_queries); i++)
    assert_code(PssQuerySnapshot(s, (PSS_QUERY_INFORMATION_CLASS)bad_queries[i], buffer, 4),
                ERROR_INVALID_PARAMETER);
  for (i = 0; i < COUNT(bad_walks); i++)
    assert_code(PssWalkSnapshot(s, (PSS_WALK_INFORMATION_CLASS)bad_walks[i], m, buffer, 16),
                ERROR_INVALID_PARAMETER);
}

static void queries_of_missing_data_are_not_found (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS none = capture_of_new_target(f, PSS_CAPTURE_NONE);
  HPSS full = capture_of_new_target(f, CAPTURE_EVERYTHING);
  static const PSS_QUERY_INFORMATION_CLASS missing[] = {
    PSS_QUERY_VA_CLONE_INFORMATION, PSS_QUERY_AUXILIARY_PAGES_INFORMATION,
    PSS_QUERY_VA_SPACE_INFORMATION, PSS_QUERY_HANDLE_INFORMATION,
    PSS_QUERY_THREAD_INFORMATION, PSS_QUERY_HANDLE_TRACE_INFORMATION,
    PSS_QUERY_PERFORMANCE_COUNTERS,
  };
  static unsigned char buffer[4096];
  size_t i;
  for (i = 0; i < COUNT(missing); i++) {
    DWORD size = (DWORD)query_record_size(missing[i]);
    assert_code(PssQuerySnapshot(none, missing[i], buffer, size), ERROR_NOT_FOUND);
  }
  /* never captured on Linux, whatever the flags */
  assert_code(PssQuerySnapshot(full, PSS_QUERY_VA_CLONE_INFORMATION, buffer,
                               sizeof(PSS_VA_CLONE_INFORMATION)), ERROR_NOT_FOUND);
  assert_code(PssQuerySnapshot(full, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, buffer,
                               sizeof(PSS_AUXILIARY_PAGES_INFORMATION)), ERROR_NOT_FOUND);
  assert_code(PssQuerySnapshot(full, PSS_QUERY_HANDLE_TRACE_INFORMATION, buffer,
                               sizeof(PSS_HANDLE_TRACE_INFORMATION)), ERROR_NOT_FOUND);
  assert_code(PssQuerySnapshot(full, PSS_QUERY_PERFORMANCE_COUNTERS, buffer,
                               sizeof(PSS_PERFORMANCE_COUNTERS)), ERROR_NOT_FOUND);
}

static void walks_of_missing_data_are_not_found (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS none = capture_of_new_target(f, PSS_CAPTURE_NONE);
  HPSS full = capture_of_new_target(f, CAPTURE_EVERYTHING);
  HPSSWALK m = fixture_marker(f);
  static unsigned char buffer[4096];
  size_t i;
  for (i = 0; i < COUNT(captured_walks); i++) {
    DWORD size = (DWORD)walk_entry_size(captured_walks[i]);
    assert_code(PssWalkSnapshot(none, captured_walks[i], m, buffer, size), ERROR_NOT_FOUND);
  }
  assert_code(PssWalkSnapshot(none, PSS_WALK_AUXILIARY_PAGES, m, buffer,
                              sizeof(PSS_AUXILIARY_PAGE_ENTRY)), ERROR_NOT_FOUND);
  assert_code(PssWalkSnapshot(full, PSS_WALK_AUXILIARY_PAGES, m, buffer,
                              sizeof(PSS_AUXILIARY_PAGE_ENTRY)), ERROR_NOT_FOUND);
}

/* Captures with flags must fail with want, writing no snapshot handle */
static void check_capture_refused (HANDLE h, PSS_CAPTURE_FLAGS flags, DWORD want) {
  HPSS s = UNTOUCHED_SNAPSHOT;
  DWORD rc = PssCaptureSnapshot(h, flags, 0, &s);
  if (rc != want)
    fail_because("capture flags 0x%08x: %s (%u), expected %s", (unsigned)flags,
                 win32_error_name(rc), (unsigned)rc, win32_error_name(want));
  if (s != UNTOUCHED_SNAPSHOT)
    fail_because("capture flags 0x%08x failed but wrote *SnapshotHandle", (unsigned)flags);
}

static void reserved_capture_flags_are_invalid (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  static const PSS_CAPTURE_FLAGS reserved[] = {
    PSS_CAPTURE_RESERVED_00000002, PSS_CAPTURE_RESERVED_00000400,
    PSS_CAPTURE_RESERVED_00004000, 0x00008000u, 0x00010000u, 0x00100000u,
    0x02000000u, 0x00800000u,
  };
  size_t i;
  for (i = 0; i < COUNT(reserved); i++) {
    check_capture_refused(h, reserved[i], ERROR_INVALID_PARAMETER);
    check_capture_refused(h, reserved[i] | PSS_CAPTURE_THREADS, ERROR_INVALID_PARAMETER);
  }
}

static void unsupported_capture_flags_are_not_supported (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  /* contexts come with threads */
  check_capture_refused(h, PSS_CAPTURE_THREAD_CONTEXT, ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_IPT_TRACE | PSS_CAPTURE_VA_CLONE, ERROR_NOT_SUPPORTED);
  check_capture_refused(h, PSS_CAPTURE_IPT_TRACE, ERROR_NOT_SUPPORTED);
  check_capture_refused(h, PSS_CAPTURE_IPT_TRACE | PSS_CAPTURE_THREADS, ERROR_NOT_SUPPORTED);
}

static void detail_flags_need_their_table (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  check_capture_refused(h, PSS_CAPTURE_HANDLE_NAME_INFORMATION, ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_HANDLE_BASIC_INFORMATION, ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION, ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_THREADS | PSS_CAPTURE_HANDLE_NAME_INFORMATION,
                        ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION, ERROR_INVALID_PARAMETER);
  check_capture_refused(h, PSS_CAPTURE_HANDLES | PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION,
                        ERROR_INVALID_PARAMETER);
}

static void capture_with_closed_descriptor_is_invalid_handle (void **state) {
  int fd = dup(0);
  (void)state;
  assert_true(fd >= 0);
  close(fd);
  check_capture_refused((HANDLE)(intptr_t)fd, PSS_CAPTURE_THREADS, ERROR_INVALID_HANDLE);
}

/* {======================================================================
** Stale and foreign handles
** ======================================================================= */

/* Query, walk, duplicate and (if free_too) free of s must all give want */
static void check_snapshot_refused (HPSS s, DWORD want, int free_too) {
  static unsigned char buffer[4096];
  HPSSWALK m = NULL;
  HPSS dup = UNTOUCHED_SNAPSHOT;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PROCESS_INFORMATION, buffer,
                               sizeof(PSS_PROCESS_INFORMATION)), want);
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREADS, m, buffer, sizeof(PSS_THREAD_ENTRY)), want);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                                   &dup, PSS_DUPLICATE_NONE), want);
  assert_ptr_equal(dup, UNTOUCHED_SNAPSHOT);
  if (free_too)
    assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), want);
}

static void freed_snapshot_is_invalid_handle (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, PSS_CAPTURE_THREADS);
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  check_snapshot_refused(s, ERROR_INVALID_HANDLE, 1);
}

static void freed_snapshot_stays_invalid_after_new_captures (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, PSS_CAPTURE_THREADS);
  HANDLE h = f->processes[0];
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  /* new snapshots may reuse the slot: the old handle still names nothing */
  fixture_capture(f, h, PSS_CAPTURE_THREADS);
  fixture_capture(f, h, PSS_CAPTURE_THREADS);
  check_snapshot_refused(s, ERROR_INVALID_HANDLE, 1);
}

static void garbage_snapshots_are_invalid_handle (void **state) {
  (void)state;
  /* NULL is not freed (destructors may accept it), only used */
  check_snapshot_refused(NULL, ERROR_INVALID_HANDLE, 0);
  check_snapshot_refused((HPSS)(uintptr_t)0x12345678u, ERROR_INVALID_HANDLE, 1);
  check_snapshot_refused((HPSS)(uintptr_t)~(uintptr_t)0, ERROR_INVALID_HANDLE, 1);
}

/* Walk, position, seek and (if free_too) free with m must all give
** ERROR_INVALID_HANDLE */
static void check_marker_refused (HPSS s, HPSSWALK m, int free_too) {
  static unsigned char buffer[4096];
  ULONG_PTR pos = 0x5eed;
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREADS, m, buffer, sizeof(PSS_THREAD_ENTRY)),
              ERROR_INVALID_HANDLE);
  assert_code(PssWalkMarkerGetPosition(m, &pos), ERROR_INVALID_HANDLE);
  assert_int_equal(pos, 0x5eed);
  assert_code(PssWalkMarkerSetPosition(m, 0), ERROR_INVALID_HANDLE);
  assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_INVALID_HANDLE);
  if (free_too)
    assert_code(PssWalkMarkerFree(m), ERROR_INVALID_HANDLE);
}

static void freed_marker_is_invalid_handle (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, PSS_CAPTURE_THREADS);
  HPSSWALK m = NULL;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  check_marker_refused(s, m, 1);
}

static void markers_and_snapshots_are_not_interchangeable (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, PSS_CAPTURE_THREADS);
  HPSSWALK m = fixture_marker(f);
  /* a marker where a snapshot is expected */
  check_snapshot_refused((HPSS)m, ERROR_INVALID_HANDLE, 1);
  /* a snapshot where a marker is expected */
  check_marker_refused(s, (HPSSWALK)s, 1);
  /* both still work */
  assert_int_equal(query_thread_count(s), (DWORD)f->targets[0]->thread_count);
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREADS, m, NULL, sizeof(PSS_THREAD_ENTRY)),
              ERROR_MORE_DATA);
}

static void garbage_markers_are_invalid_handle (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, PSS_CAPTURE_THREADS);
  check_marker_refused(s, NULL, 0);
  check_marker_refused(s, (HPSSWALK)(uintptr_t)0x12345678u, 1);
}

/* A handle this process captured, named as another process's: that
** process never received it, so there is nothing there to take or free. */
static void foreign_registry_handles_are_not_supported (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE other = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, other, PSS_CAPTURE_THREADS);
  HPSS dup = UNTOUCHED_SNAPSHOT;
  assert_code(PssDuplicateSnapshot(other, s, PSS_LINUX_CURRENT_PROCESS, &dup,
                                   PSS_DUPLICATE_NONE), ERROR_NOT_SUPPORTED);
  assert_ptr_equal(dup, UNTOUCHED_SNAPSHOT);
  assert_code(PssFreeSnapshot(other, s), ERROR_NOT_SUPPORTED);
  /* nothing was freed: the snapshot still answers */
  assert_int_equal(query_thread_count(s), (DWORD)t->thread_count);
}
/* }====================================================================== */

int run_error_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(query_rejects_wrong_length),
    fixture_test(walk_rejects_wrong_length),
    fixture_test(unknown_classes_are_invalid_parameter),
    fixture_test(queries_of_missing_data_are_not_found),
    fixture_test(walks_of_missing_data_are_not_found),
    fixture_test(reserved_capture_flags_are_invalid),
    fixture_test(unsupported_capture_flags_are_not_supported),
    fixture_test(detail_flags_need_their_table),
    cmocka_unit_test(capture_with_closed_descriptor_is_invalid_handle),
    fixture_test(freed_snapshot_is_invalid_handle),
    fixture_test(freed_snapshot_stays_invalid_after_new_captures),
    cmocka_unit_test(garbage_snapshots_are_invalid_handle),
    fixture_test(freed_marker_is_invalid_handle),
    fixture_test(markers_and_snapshots_are_not_interchangeable),
    fixture_test(garbage_markers_are_invalid_handle),
    fixture_test(foreign_registry_handles_are_not_supported),
  };
  return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
