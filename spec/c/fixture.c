/*
** fixture.c -- per-test ownership and the common capture/walk/query steps.
*/
#include "fixture.h"
#include "observe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int under_valgrind (void) {
  char const *v = getenv("PSS_UNDER_VALGRIND");
  return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

void fixture_release_tracees (struct fixture *f) {
  size_t i;
  for (i = 0; f != NULL && i < f->target_count; i++)
    if (!f->targets[i]->reaped && f->targets[i]->pid > 0) {
      int n = release_our_tracees(f->targets[i]->pid);
      if (n > 0)
        note("teardown: %d thread(s) of target %d were still traced by this process", n,
             (int)f->targets[i]->pid);
    }
}

int fixture_setup (void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  *state = f;
  return 0;
}

int fixture_teardown (void **state) {
  struct fixture *f = FIXTURE(state);
  size_t i;
  int bad = 0;
  if (f == NULL)
    return 0;
  for (i = 0; i < f->marker_count; i++)
    if (PssWalkMarkerFree(f->markers[i]) != ERROR_SUCCESS)
      bad = 1;
  for (i = 0; i < f->snapshot_count; i++)
    if (PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, f->snapshots[i]) != ERROR_SUCCESS)
      bad = 1;
  for (i = 0; i < f->process_count; i++)
    PssLinuxCloseProcess(f->processes[i]);
  for (i = 0; i < f->target_count; i++) {
    target_release(f->targets[i]);
    free(f->targets[i]);
  }
  for (i = 0; i < f->block_count; i++)
    free(f->blocks[i]);
  free(f);
  *state = NULL;
  if (bad)
    note("teardown: freeing a snapshot or marker of the test failed");
  return bad ? -1 : 0;
}

static void forget (void **slots, size_t *count, void const *item) {
  size_t i;
  for (i = 0; i < *count; i++)
    if (slots[i] == item) {
      slots[i] = slots[--*count];
      return;
    }
}

void *fixture_keep (struct fixture *f, void *block) {
  assert_true(f->block_count < sizeof f->blocks / sizeof f->blocks[0]);
  f->blocks[f->block_count++] = block;
  return block;
}

static int exits_by_itself (char const *const *args) {
  for (; args != NULL && *args != NULL; args++)
    if (strcmp(*args, "--exit-now") == 0 || strcmp(*args, "--exit-after") == 0)
      return 1;
  return 0;
}

static struct target *start (struct fixture *f, char const *const *args, int settle) {
  struct target *t;
  if (target_program() == NULL)
    skip_because("PSS_TARGET is not set (run through make check)");
  assert_true(f->target_count < FIXTURE_MAX);
  t = calloc(1, sizeof *t);
  assert_non_null(t);
  f->targets[f->target_count++] = t;
  if (target_start(t, args) != 0)
    fail_because("starting the target %s failed: %s", target_program(), t->error);
  /* a target that stays settles: its threads all wait before the test
  ** captures and compares with /proc */
  if (settle && !exits_by_itself(args) && target_wait_quiet(t) != 0)
    fail_because("the target's threads did not all settle in a wait");
  return t;
}

struct target *fixture_start_argv (struct fixture *f, char const *const *args) {
  return start(f, args, 1);
}

/* The stack target ($PSS_STACK_TARGET) with args: target_start runs
** $PSS_TARGET, which names it for the call and is put back after. Skips
** where it is not set. */
struct target *fixture_start_stack_target (struct fixture *f, char const *const *args) {
  const char *prog = getenv("PSS_STACK_TARGET"), *saved = getenv("PSS_TARGET");
  char keep[4096];
  struct target *t;
  int rc;
  if (prog == NULL || *prog == '\0') skip_because("PSS_STACK_TARGET is not set (run through make check)");
  snprintf(keep, sizeof keep, "%s", saved != NULL ? saved : "");
  assert_true(f->target_count < FIXTURE_MAX);
  assert_non_null(t = calloc(1, sizeof *t));
  f->targets[f->target_count++] = t;
  setenv("PSS_TARGET", prog, 1);
  rc = target_start(t, args);
  if (keep[0] != '\0') setenv("PSS_TARGET", keep, 1);
  else unsetenv("PSS_TARGET");
  if (rc != 0) fail_because("starting %s failed: %s", prog, t->error);
  return t;
}

struct target *fixture_start (struct fixture *f, ...) {
  char const *args[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, f);
  while (n < 31 && (args[n] = va_arg(ap, char const *)) != NULL)
    n++;
  va_end(ap);
  args[n] = NULL;
  return fixture_start_argv(f, args);
}

struct target *fixture_start_running (struct fixture *f, ...) {
  char const *args[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, f);
  while (n < 31 && (args[n] = va_arg(ap, char const *)) != NULL)
    n++;
  va_end(ap);
  args[n] = NULL;
  return start(f, args, 0);
}

void fixture_release_target (struct fixture *f, struct target *t) {
  forget((void **)f->targets, &f->target_count, t);
  target_release(t);
  free(t);
}

HANDLE fixture_open (struct fixture *f, pid_t pid) {
  HANDLE h = NULL;
  assert_code(PssLinuxOpenProcess((DWORD)pid, &h), ERROR_SUCCESS);
  assert_non_null(h);
  assert_true(f->process_count < FIXTURE_MAX);
  f->processes[f->process_count++] = h;
  return h;
}

void fixture_forget_process (struct fixture *f, HANDLE h) {
  forget((void **)f->processes, &f->process_count, h);
}

void fixture_close (struct fixture *f, HANDLE h) {
  fixture_forget_process(f, h);
  PssLinuxCloseProcess(h);
}

void fixture_keep_snapshot (struct fixture *f, HPSS s) {
  assert_true(f->snapshot_count < FIXTURE_MAX);
  f->snapshots[f->snapshot_count++] = s;
}

HPSS fixture_capture (struct fixture *f, HANDLE process, PSS_CAPTURE_FLAGS flags) {
  HPSS s = NULL;
  DWORD rc = PssCaptureSnapshot(process, flags, 0, &s);
  if (rc != ERROR_SUCCESS)
    fail_because("PssCaptureSnapshot(flags 0x%08x): %s (%u), errno %d",
                 (unsigned)flags, win32_error_name(rc), (unsigned)rc,
                 PssLinuxLastErrno());
  assert_non_null(s);
  fixture_keep_snapshot(f, s);
  return s;
}

void fixture_forget_snapshot (struct fixture *f, HPSS s) {
  forget((void **)f->snapshots, &f->snapshot_count, s);
}

void fixture_keep_marker (struct fixture *f, HPSSWALK m) {
  assert_true(f->marker_count < FIXTURE_MAX);
  f->markers[f->marker_count++] = m;
}

HPSSWALK fixture_marker (struct fixture *f) {
  HPSSWALK m = NULL;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  assert_non_null(m);
  fixture_keep_marker(f, m);
  return m;
}

void fixture_forget_marker (struct fixture *f, HPSSWALK m) {
  forget((void **)f->markers, &f->marker_count, m);
}

size_t walk_entry_size (PSS_WALK_INFORMATION_CLASS cls) {
  switch (cls) {
    case PSS_WALK_AUXILIARY_PAGES: return sizeof(PSS_AUXILIARY_PAGE_ENTRY);
    case PSS_WALK_VA_SPACE: return sizeof(PSS_VA_SPACE_ENTRY);
    case PSS_WALK_HANDLES: return sizeof(PSS_HANDLE_ENTRY);
    case PSS_WALK_THREADS: return sizeof(PSS_THREAD_ENTRY);
    case PSS_WALK_THREAD_NAME: return sizeof(PSS_THREAD_NAME);
    case PSS_WALK_LINUX_VA_SPACE: return sizeof(PSS_LINUX_VA_SPACE_ENTRY);
    case PSS_WALK_LINUX_HANDLES: return sizeof(PSS_LINUX_HANDLE_ENTRY);
    case PSS_WALK_LINUX_THREADS: return sizeof(PSS_LINUX_THREAD_ENTRY);
  }
  return 0;
}

size_t query_record_size (PSS_QUERY_INFORMATION_CLASS cls) {
  switch (cls) {
    case PSS_QUERY_PROCESS_INFORMATION: return sizeof(PSS_PROCESS_INFORMATION);
    case PSS_QUERY_VA_CLONE_INFORMATION: return sizeof(PSS_VA_CLONE_INFORMATION);
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION: return sizeof(PSS_AUXILIARY_PAGES_INFORMATION);
    case PSS_QUERY_VA_SPACE_INFORMATION: return sizeof(PSS_VA_SPACE_INFORMATION);
    case PSS_QUERY_HANDLE_INFORMATION: return sizeof(PSS_HANDLE_INFORMATION);
    case PSS_QUERY_THREAD_INFORMATION: return sizeof(PSS_THREAD_INFORMATION);
    case PSS_QUERY_HANDLE_TRACE_INFORMATION: return sizeof(PSS_HANDLE_TRACE_INFORMATION);
    case PSS_QUERY_PERFORMANCE_COUNTERS: return sizeof(PSS_PERFORMANCE_COUNTERS);
    case PSS_QUERY_LINUX_PROCESS_INFORMATION: return sizeof(PSS_LINUX_PROCESS_INFORMATION);
    case PSS_QUERY_LINUX_PERFORMANCE_COUNTERS: return sizeof(PSS_LINUX_PERFORMANCE_COUNTERS);
  }
  return 0;
}

void *fixture_walk (struct fixture *f, HPSS snapshot,
                    PSS_WALK_INFORMATION_CLASS cls, size_t *count) {
  HPSSWALK m = fixture_marker(f);
  size_t size = walk_entry_size(cls), n = 0, cap = 16;
  char *entries = fixture_keep(f, malloc(cap * size));
  DWORD rc;
  assert_non_null(entries);
  for (;;) {
    if (n == cap) {
      char *p = realloc(entries, cap * 2 * size);
      assert_non_null(p);
      f->blocks[f->block_count - 1] = p;   /* the last kept block is ours */
      entries = p;
      cap *= 2;
    }
    rc = PssWalkSnapshot(snapshot, cls, m, entries + n * size, (DWORD)size);
    if (rc != ERROR_SUCCESS)
      break;
    n++;
    assert_true(n < 1000000);
  }
  if (rc != ERROR_NO_MORE_ITEMS)
    fail_because("PssWalkSnapshot(class 0x%x) after %zu entries: %s (%u), "
                 "expected ERROR_NO_MORE_ITEMS", (unsigned)cls, n,
                 win32_error_name(rc), (unsigned)rc);
  *count = n;
  return entries;
}

PSS_PROCESS_INFORMATION query_process (HPSS s) {
  PSS_PROCESS_INFORMATION pi;
  memset(&pi, 0xA5, sizeof pi);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi),
              ERROR_SUCCESS);
  return pi;
}

PSS_LINUX_PROCESS_INFORMATION query_linux_process (HPSS s) {
  PSS_LINUX_PROCESS_INFORMATION li;
  memset(&li, 0xA5, sizeof li);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_LINUX_PROCESS_INFORMATION, &li, sizeof li),
              ERROR_SUCCESS);
  return li;
}

DWORD query_thread_count (HPSS s) {
  PSS_THREAD_INFORMATION ti;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti),
              ERROR_SUCCESS);
  return ti.ThreadsCaptured;
}

DWORD query_handle_count (HPSS s) {
  PSS_HANDLE_INFORMATION hi;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_HANDLE_INFORMATION, &hi, sizeof hi),
              ERROR_SUCCESS);
  return hi.HandlesCaptured;
}

DWORD query_region_count (HPSS s) {
  PSS_VA_SPACE_INFORMATION vi;
  assert_code(PssQuerySnapshot(s, PSS_QUERY_VA_SPACE_INFORMATION, &vi, sizeof vi),
              ERROR_SUCCESS);
  return vi.RegionCount;
}

uint64_t filetime_ticks (FILETIME t) {
  return ((uint64_t)t.dwHighDateTime << 32) | t.dwLowDateTime;
}

/* 1601-01-01 to 1970-01-01 in 100 ns units */
#define EPOCH_DIFFERENCE_TICKS 116444736000000000ULL

long long filetime_unix_ns (FILETIME t) {
  return ((long long)filetime_ticks(t) - (long long)EPOCH_DIFFERENCE_TICKS) * 100LL;
}

uint64_t ticks_as_filetime (unsigned long long ticks) {
  return ticks * (10000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* A CPU time of the snapshot (100 ns units) against /proc read afterwards:
** it can only have grown since -- a thread woken by the thaw runs for a
** moment -- by a few clock ticks at most. */
void expect_cpu_time_then (uint64_t got, uint64_t now) {
  uint64_t slack = ticks_as_filetime(5);
  if (got > now || now - got > slack)
    fail_because("CPU time %llu in the snapshot, %llu in /proc afterwards",
                 (unsigned long long)got, (unsigned long long)now);
}

void progress_log_routine (void *ctx, UINT64 done, UINT64 total) {
  struct progress_log *p = ctx;
  if (done < p->last || (p->calls > 0 && total != p->total)) p->backwards++;
  p->calls++;
  p->last = done;
  p->total = total;
}
