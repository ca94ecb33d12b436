/*
** fixture.h -- what one test owns: targets, process handles, snapshots,
** walk markers and memory. The teardown frees whatever the test did not,
** so a failing assertion (a longjmp out of the test) leaks nothing and
** leaves no child behind.
*/
#ifndef SPEC_FIXTURE_H
#define SPEC_FIXTURE_H

#include "expect.h"
#include "procfs.h"
#include "target.h"

#define FIXTURE_MAX 32

/* Everything a capture of the target can hold on Linux */
#define CAPTURE_EVERYTHING                                                   \
  (PSS_CAPTURE_THREADS | PSS_CAPTURE_HANDLES |                               \
   PSS_CAPTURE_HANDLE_NAME_INFORMATION | PSS_CAPTURE_HANDLE_BASIC_INFORMATION | \
   PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION | PSS_CAPTURE_VA_SPACE |     \
   PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION)

struct fixture {
  struct target *targets[FIXTURE_MAX];
  size_t target_count;
  HANDLE processes[FIXTURE_MAX];
  size_t process_count;
  HPSS snapshots[FIXTURE_MAX];
  size_t snapshot_count;
  HPSSWALK markers[FIXTURE_MAX];
  size_t marker_count;
  void *blocks[FIXTURE_MAX * 4];
  size_t block_count;
};

int fixture_setup (void **state);
int fixture_teardown (void **state);

/* Starts the target with options (NULL-terminated); skips the test when
** $PSS_TARGET is not set, fails it when the target does not come up. */
struct target *fixture_start (struct fixture *f, ...) __attribute__((sentinel));
struct target *fixture_start_argv (struct fixture *f, char const *const *args);
/* $PSS_STACK_TARGET (spec/support/stack-target.c) with args, NULL-ended. */
struct target *fixture_start_stack_target (struct fixture *f, char const *const *args);

/* fixture_start for a target whose threads never all sleep (--counters,
** --churn): it does not wait for them to settle. */
struct target *fixture_start_running (struct fixture *f, ...) __attribute__((sentinel));

/* Releases (and notes) every thread of the fixture's live targets still
** traced by this process; teardowns that must not wait forever call it. */
void fixture_release_tracees (struct fixture *f);

/* Stops and frees a target before teardown. */
void fixture_release_target (struct fixture *f, struct target *t);

/* PssLinuxOpenProcess, asserted to succeed; closed at teardown. */
HANDLE fixture_open (struct fixture *f, pid_t pid);
/* The handle no longer needs closing (the test closed it). */
void fixture_forget_process (struct fixture *f, HANDLE h);
/* Closes a process handle before teardown. */
void fixture_close (struct fixture *f, HANDLE h);

/* PssCaptureSnapshot, asserted to succeed; freed at teardown. */
HPSS fixture_capture (struct fixture *f, HANDLE process, PSS_CAPTURE_FLAGS flags);
/* A snapshot made by the test itself, to be freed at teardown. */
void fixture_keep_snapshot (struct fixture *f, HPSS s);
/* The test freed it (or means to check that something else did). */
void fixture_forget_snapshot (struct fixture *f, HPSS s);

/* PssWalkMarkerCreate(NULL), asserted; freed at teardown. */
HPSSWALK fixture_marker (struct fixture *f);
void fixture_keep_marker (struct fixture *f, HPSSWALK m);
void fixture_forget_marker (struct fixture *f, HPSSWALK m);

/* Memory freed at teardown. */
void *fixture_keep (struct fixture *f, void *block);

/* Walks class to its end with a new marker (kept alive, so the entries'
** strings stay valid); asserts every step is ERROR_SUCCESS and the end is
** ERROR_NO_MORE_ITEMS. Returns the entries (kept), *count of them. */
void *fixture_walk (struct fixture *f, HPSS snapshot,
                    PSS_WALK_INFORMATION_CLASS cls, size_t *count);

/* The entry size of a walk class / the record size of a query class. */
size_t walk_entry_size (PSS_WALK_INFORMATION_CLASS cls);
size_t query_record_size (PSS_QUERY_INFORMATION_CLASS cls);

/* PssQuerySnapshot asserted to succeed. */
PSS_PROCESS_INFORMATION query_process (HPSS s);
PSS_LINUX_PROCESS_INFORMATION query_linux_process (HPSS s);
DWORD query_thread_count (HPSS s);
DWORD query_handle_count (HPSS s);
DWORD query_region_count (HPSS s);

/* FILETIME as 100 ns units since 1601, and the Unix time (ns) it means */
uint64_t filetime_ticks (FILETIME t);
/* Clock ticks of /proc as the 100 ns count of a FILETIME duration */
uint64_t ticks_as_filetime (unsigned long long ticks);
/* A CPU time of a snapshot is at most a few ticks behind /proc read later. */
void expect_cpu_time_then (uint64_t got, uint64_t now);
long long filetime_unix_ns (FILETIME t);

/* The fixture's state, for tests: struct fixture *f = FIXTURE(state); */
#define FIXTURE(state) ((struct fixture *)*(state))

/* cmocka_unit_test with the fixture's setup and teardown */
#define fixture_test(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

/* Nonzero when running under valgrind (make valgrind sets it): loops
** that race the target are shortened there. */
int under_valgrind (void);

/* What a PSS_LINUX_PROGRESS_ROUTINE heard (progress_log_routine with the
** log as its context): calls, how often it went backwards or changed its
** total, and the last report. */
struct progress_log { unsigned calls, backwards; UINT64 last, total; };
void progress_log_routine (void *ctx, UINT64 done, UINT64 total);

#endif
