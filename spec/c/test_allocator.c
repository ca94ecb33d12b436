/*
** test_allocator.c -- PSS_ALLOCATOR: every block a marker takes goes back
** through FreeRoutine, the routines run only where documented, and a
** failing allocator gives ERROR_NOT_ENOUGH_MEMORY without leaks.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define MAX_BLOCKS 4096
#define UNLIMITED (-1L)

/* An allocator that records every block it hands out */
struct counting_allocator {
  struct { void *address; size_t size; } blocks[MAX_BLOCKS];
  size_t live;                /* blocks handed out and not yet freed */
  size_t allocations, frees, null_frees, foreign_frees, refusals;
  unsigned long long allocated_bytes, freed_bytes;
  long budget;                /* allocations left before refusing; UNLIMITED */
  pthread_t owner;
  size_t calls_from_other_threads;
};

static void note_thread (struct counting_allocator *a) {
  if (!pthread_equal(pthread_self(), a->owner))
    a->calls_from_other_threads++;
}

static void *WINAPI counting_alloc (void *context, DWORD size) {
  struct counting_allocator *a = context;
  void *p;
  note_thread(a);
  if (a->budget == 0 || a->live == MAX_BLOCKS) {
    a->refusals++;
    return NULL;
  }
  p = malloc(size > 0 ? size : 1);
  if (p == NULL)
    return NULL;
  if (a->budget > 0)
    a->budget--;
  a->blocks[a->live].address = p;
  a->blocks[a->live].size = size;
  a->live++;
  a->allocations++;
  a->allocated_bytes += size;
  return p;
}

static void WINAPI counting_free (void *context, void *address) {
  struct counting_allocator *a = context;
  size_t i;
  note_thread(a);
  if (address == NULL) {
    a->null_frees++;
    return;
  }
  for (i = 0; i < a->live; i++)
    if (a->blocks[i].address == address) {
      a->freed_bytes += a->blocks[i].size;
      a->blocks[i] = a->blocks[--a->live];
      a->frees++;
      free(address);
      return;
    }
  /* not one of ours: never free it */
  a->foreign_frees++;
}

static struct counting_allocator *new_allocator (struct fixture *f, long budget) {
  struct counting_allocator *a = fixture_keep(f, calloc(1, sizeof *a));
  assert_non_null(a);
  a->budget = budget;
  a->owner = pthread_self();
  return a;
}

static PSS_ALLOCATOR routines_of (struct counting_allocator *a) {
  PSS_ALLOCATOR r;
  r.Context = a;
  r.AllocRoutine = counting_alloc;
  r.FreeRoutine = counting_free;
  return r;
}

/* Every block back, no foreign free, all on the calling thread */
static void assert_all_returned (struct counting_allocator const *a) {
  if (a->live != 0 || a->allocated_bytes != a->freed_bytes)
    fail_because("allocator: %zu blocks still live, %llu bytes allocated, %llu freed",
                 a->live, a->allocated_bytes, a->freed_bytes);
  assert_int_equal(a->foreign_frees, 0);
  assert_int_equal(a->calls_from_other_threads, 0);
}

static const PSS_WALK_INFORMATION_CLASS every_walk[] = {
  PSS_WALK_THREADS, PSS_WALK_THREAD_NAME, PSS_WALK_LINUX_THREADS, PSS_WALK_HANDLES,
  PSS_WALK_LINUX_HANDLES, PSS_WALK_VA_SPACE, PSS_WALK_LINUX_VA_SPACE,
};
#define WALK_COUNT (sizeof every_walk / sizeof every_walk[0])

/* Walks every class from its beginning; the first result other than
** ERROR_SUCCESS / ERROR_NO_MORE_ITEMS ends it and is returned */
static DWORD walk_every_class (HPSS s, HPSSWALK m) {
  unsigned char entry[256];
  size_t i;
  for (i = 0; i < WALK_COUNT; i++) {
    DWORD rc;
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    while ((rc = PssWalkSnapshot(s, every_walk[i], m, entry,
                                 (DWORD)walk_entry_size(every_walk[i]))) == ERROR_SUCCESS) {}
    if (rc != ERROR_NO_MORE_ITEMS)
      return rc;
  }
  return ERROR_SUCCESS;
}

static HPSS capture_of_new_target (struct fixture *f) {
  struct target *t = fixture_start(f, NULL);
  return fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
}

static void allocator_gets_back_every_block (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS a = capture_of_new_target(f), b = capture_of_new_target(f);
  struct counting_allocator *alloc = new_allocator(f, UNLIMITED);
  PSS_ALLOCATOR routines = routines_of(alloc);
  HPSSWALK m = NULL;
  size_t after_create;
  assert_code(PssWalkMarkerCreate(&routines, &m), ERROR_SUCCESS);
  fixture_keep_marker(f, m);
  /* the marker itself comes from the allocator */
  after_create = alloc->allocations;
  assert_true(after_create >= 1);
  assert_code(walk_every_class(a, m), ERROR_SUCCESS);
  assert_true(alloc->allocations > after_create);
  assert_code(walk_every_class(b, m), ERROR_SUCCESS);
  assert_code(walk_every_class(a, m), ERROR_SUCCESS);
  fixture_forget_marker(f, m);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  assert_all_returned(alloc);
  assert_int_equal(alloc->null_frees, 0);
  /* FreeRoutine must accept NULL, as on Windows: ours does */
  routines.FreeRoutine(routines.Context, NULL);
  assert_int_equal(alloc->null_frees, 1);
  assert_all_returned(alloc);
}

static void allocator_runs_only_in_create_walk_and_free (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  struct counting_allocator *alloc = new_allocator(f, UNLIMITED);
  PSS_ALLOCATOR routines = routines_of(alloc);
  HPSSWALK m = NULL;
  ULONG_PTR pos;
  size_t calls;
  HPSS other;
  unsigned char entry[256];
  assert_code(PssWalkMarkerCreate(&routines, &m), ERROR_SUCCESS);
  fixture_keep_marker(f, m);
  assert_code(PssWalkSnapshot(s, PSS_WALK_LINUX_HANDLES, m, entry,
                              sizeof(PSS_LINUX_HANDLE_ENTRY)), ERROR_SUCCESS);
  calls = alloc->allocations + alloc->frees + alloc->null_frees;
  assert_code(PssWalkMarkerGetPosition(m, &pos), ERROR_SUCCESS);
  assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
  assert_code(PssWalkMarkerSetPosition(m, pos), ERROR_SUCCESS);
  assert_true(query_handle_count(s) > 0);
  other = fixture_capture(f, f->processes[0], PSS_CAPTURE_THREADS);
  fixture_forget_snapshot(f, other);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, other), ERROR_SUCCESS);
  assert_int_equal(alloc->allocations + alloc->frees + alloc->null_frees, calls);
  fixture_forget_marker(f, m);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  assert_all_returned(alloc);
}

/* Routines that must never run: the marker copied the first ones */
static size_t stale_calls;
static void *WINAPI stale_alloc (void *context, DWORD size) {
  (void)context, (void)size;
  stale_calls++;
  return NULL;
}
static void WINAPI stale_free (void *context, void *address) {
  (void)context, (void)address;
  stale_calls++;
}

static void allocator_structure_is_copied (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  struct counting_allocator *alloc = new_allocator(f, UNLIMITED);
  PSS_ALLOCATOR *routines = fixture_keep(f, malloc(sizeof *routines));
  HPSSWALK m = NULL;
  size_t before;
  assert_non_null(routines);
  *routines = routines_of(alloc);
  assert_code(PssWalkMarkerCreate(routines, &m), ERROR_SUCCESS);
  fixture_keep_marker(f, m);
  before = alloc->allocations;
  routines->Context = NULL;
  routines->AllocRoutine = stale_alloc;
  routines->FreeRoutine = stale_free;
  stale_calls = 0;
  assert_code(walk_every_class(s, m), ERROR_SUCCESS);
  assert_true(alloc->allocations > before);
  fixture_forget_marker(f, m);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  assert_int_equal(stale_calls, 0);
  assert_all_returned(alloc);
}

static void refusing_allocator_fails_marker_creation (void **state) {
  struct fixture *f = FIXTURE(state);
  struct counting_allocator *alloc = new_allocator(f, 0);
  PSS_ALLOCATOR routines = routines_of(alloc);
  HPSSWALK m = (HPSSWALK)(uintptr_t)0x5eed5eedu;
  assert_code(PssWalkMarkerCreate(&routines, &m), ERROR_NOT_ENOUGH_MEMORY);
  assert_ptr_equal(m, (HPSSWALK)(uintptr_t)0x5eed5eedu);
  assert_true(alloc->refusals >= 1);
  assert_all_returned(alloc);
}

static void walk_without_memory_is_not_enough_memory (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  struct counting_allocator *alloc = new_allocator(f, UNLIMITED);
  PSS_ALLOCATOR routines = routines_of(alloc);
  HPSSWALK m = NULL;
  PSS_THREAD_NAME name;
  size_t n, live_after_create;
  PSS_THREAD_NAME *expected = fixture_walk(f, s, PSS_WALK_THREAD_NAME, &n);
  char want[64], got[64];
  size_t want_len = utf16_to_bytes(expected[0].ThreadName, expected[0].ThreadNameSize,
                                   want, sizeof want);
  size_t got_len;
  assert_code(PssWalkMarkerCreate(&routines, &m), ERROR_SUCCESS);
  fixture_keep_marker(f, m);
  live_after_create = alloc->live;
  alloc->budget = 0;
  /* the first walk of a table copies its strings: it needs memory */
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREAD_NAME, m, &name, sizeof name),
              ERROR_NOT_ENOUGH_MEMORY);
  assert_true(alloc->refusals >= 1);
  assert_int_equal(alloc->live, live_after_create);
  /* with memory again, the walk starts where it was: the first entry */
  alloc->budget = UNLIMITED;
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREAD_NAME, m, &name, sizeof name), ERROR_SUCCESS);
  got_len = utf16_to_bytes(name.ThreadName, name.ThreadNameSize, got, sizeof got);
  assert_bytes(got, got_len, want, want_len);
  fixture_forget_marker(f, m);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  assert_all_returned(alloc);
}

/* For every k, an allocator that refuses after k blocks: each call ends
** in success or ERROR_NOT_ENOUGH_MEMORY, and freeing returns every block */
static void allocation_failures_leak_nothing (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f);
  struct counting_allocator *alloc = new_allocator(f, UNLIMITED);
  PSS_ALLOCATOR routines = routines_of(alloc);
  HPSSWALK m = NULL;
  size_t needed, k;
  assert_code(PssWalkMarkerCreate(&routines, &m), ERROR_SUCCESS);
  assert_code(walk_every_class(s, m), ERROR_SUCCESS);
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  needed = alloc->allocations;
  assert_all_returned(alloc);
  for (k = 0; k <= needed; k++) {
    DWORD rc;
    memset(alloc, 0, sizeof *alloc);
    alloc->owner = pthread_self();
    alloc->budget = (long)k;
    m = NULL;
    rc = PssWalkMarkerCreate(&routines, &m);
    if (rc == ERROR_SUCCESS) {
      rc = walk_every_class(s, m);
      assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
    }
    if (rc != ERROR_SUCCESS && rc != ERROR_NOT_ENOUGH_MEMORY)
      fail_because("budget of %zu blocks: %s (%u)", k, win32_error_name(rc), (unsigned)rc);
    if (k < needed && rc == ERROR_SUCCESS)
      fail_because("budget of %zu blocks (of %zu needed) still succeeded", k, needed);
    assert_all_returned(alloc);
  }
}

int run_allocator_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(allocator_gets_back_every_block),
    fixture_test(allocator_runs_only_in_create_walk_and_free),
    fixture_test(allocator_structure_is_copied),
    fixture_test(refusing_allocator_fails_marker_creation),
    fixture_test(walk_without_memory_is_not_enough_memory),
    fixture_test(allocation_failures_leak_nothing),
  };
  return cmocka_run_group_tests_name("allocator", tests, NULL, NULL);
}
