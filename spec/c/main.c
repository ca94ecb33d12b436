/*
** main.c -- the libpss C suite: every group, against real processes.
**
** Run through `make check` (PSS_TARGET names build/pss-target). Set
** PSS_TEST_FILTER to a cmocka pattern ("*marker*") to run some tests only.
** The exit code is the number of failed tests (nonzero if any failed).
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "expect.h"
#include "suites.h"

int main (void) {
  char const *filter = getenv("PSS_TEST_FILTER");
  int failed = 0;
  char const *asan = getenv("ASAN_OPTIONS");
  /* a target that died must not kill the suite when it writes to it */
  signal(SIGPIPE, SIG_IGN);
  /* An ASan-built target checks for leaks at exit by ptracing its own
  ** threads, so a capture racing its exit would meet "another tracer".
  ** This process read its own options at start-up; only the targets it
  ** starts see the change. */
  if (asan != NULL) {
    static char options[1024];
    snprintf(options, sizeof options, "%s:detect_leaks=0", asan);
    setenv("ASAN_OPTIONS", options, 1);
  }
  if (getenv("PSS_CROSSDUP_PEER") != NULL) return run_crossdup_peer();
  if (filter != NULL && *filter != '\0')
    cmocka_set_test_filter(filter);
  failed += run_procfs_suite();
  failed += run_capture_suite();
  failed += run_thread_suite();
  failed += run_handle_suite();
  failed += run_region_suite();
  failed += run_usage_suite();
  failed += run_name_suite();
  failed += run_lifecycle_suite();
  failed += run_error_suite();
  failed += run_marker_suite();
  failed += run_allocator_suite();
  failed += run_duplicate_suite();
  failed += run_create_flag_suite();
  failed += run_self_suite();
  failed += run_freeze_suite();
  failed += run_unfrozen_suite();
  failed += run_stack_capture_suite();
  failed += run_unwind_suite();
  failed += run_stack_hazard_suite();
  failed += run_save_suite();
  failed += run_coreload_suite();
  failed += run_crossdup_suite();
  failed += run_seccomp_suite();
  failed += run_core_suite();
  failed += run_vaclone_suite();
  failed += run_reaper_suite();
  failed += run_fault_suite();
  failed += run_racing_suite();
  return failed > 0 ? (failed < 125 ? failed : 125) : 0;
}
