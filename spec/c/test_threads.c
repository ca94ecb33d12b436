/*
** test_threads.c -- thread entries against the target's report and
** /proc/PID/task/TID/{comm,stat,syscall}.
*/
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

struct threads {
  struct target *target;
  HPSS snapshot;
  size_t count;
  PSS_THREAD_ENTRY *entries;
  PSS_LINUX_THREAD_ENTRY *linux_entries;
};

static struct threads capture_threads (struct fixture *f, PSS_CAPTURE_FLAGS flags) {
  struct threads t;
  size_t n;
  t.target = fixture_start(f, "--threads", "3", NULL);
  t.snapshot = fixture_capture(f, fixture_open(f, t.target->pid), flags);
  t.entries = fixture_walk(f, t.snapshot, PSS_WALK_THREADS, &t.count);
  t.linux_entries = fixture_walk(f, t.snapshot, PSS_WALK_LINUX_THREADS, &n);
  assert_int_equal(n, t.count);
  return t;
}

static char const *report_name (struct target const *t, DWORD tid) {
  size_t i;
  for (i = 0; i < t->thread_count; i++)
    if ((DWORD)t->threads[i].tid == tid)
      return t->threads[i].name;
  return NULL;
}

/* comm of one thread, without its newline; the length */
static size_t task_comm (pid_t pid, DWORD tid, char *buf, size_t cap) {
  char rel[64];
  long n;
  snprintf(rel, sizeof rel, "task/%u/comm", (unsigned)tid);
  n = proc_read(pid, rel, buf, cap - 1);
  assert_true(n > 0);
  if (buf[n - 1] == '\n')
    n--;
  buf[n] = '\0';
  return (size_t)n;
}

static void thread_names_match_report (void **state) {
  struct fixture *f = FIXTURE(state);
  struct threads t = capture_threads(f, PSS_CAPTURE_THREADS);
  size_t n, i;
  PSS_THREAD_NAME *names = fixture_walk(f, t.snapshot, PSS_WALK_THREAD_NAME, &n);
  assert_int_equal(n, t.count);
  assert_int_equal(t.count, t.target->thread_count);
  assert_int_equal(t.count, 4);   /* main + --threads 3 */
  for (i = 0; i < n; i++) {
    char comm[64];
    size_t comm_len = task_comm(t.target->pid, t.entries[i].ThreadId, comm, sizeof comm);
    char const *reported = report_name(t.target, t.entries[i].ThreadId);
    if (reported == NULL)
      fail_because("thread %u is not in the target's report", (unsigned)t.entries[i].ThreadId);
    assert_string_equal(comm, reported);
    assert_utf16_bytes(names[i].ThreadName, names[i].ThreadNameSize, comm, comm_len);
    assert_bytes(t.linux_entries[i].Name, t.linux_entries[i].NameLength, comm, comm_len);
  }
}

static void threads_belong_to_running_target (void **state) {
  struct fixture *f = FIXTURE(state);
  struct threads t = capture_threads(f, PSS_CAPTURE_THREADS);
  PSS_THREAD_INFORMATION ti;
  size_t i;
  assert_code(PssQuerySnapshot(t.snapshot, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti),
              ERROR_SUCCESS);
  assert_int_equal(ti.ThreadsCaptured, t.count);
  assert_int_equal(ti.ContextLength, 0);
  for (i = 0; i < t.count; i++) {
    assert_int_equal(t.entries[i].ProcessId, (DWORD)t.target->pid);
    assert_int_equal(t.entries[i].ExitStatus, STILL_ACTIVE);
    assert_int_equal(t.entries[i].Flags & PSS_THREAD_FLAGS_TERMINATED, 0);
    assert_null(t.entries[i].ContextRecord);
    assert_int_equal(t.entries[i].SizeOfContextRecord, 0);
  }
  /* the first thread is the main one, whose tid is the pid */
  assert_int_equal(t.entries[0].ThreadId, (DWORD)t.target->pid);
}

static int same_syscall (struct proc_syscall const *a, struct proc_syscall const *b) {
  return a->state == b->state && a->nr == b->nr && a->sp == b->sp && a->pc == b->pc &&
         memcmp(a->args, b->args, sizeof a->args) == 0;
}

static void check_blocked_syscall (PSS_LINUX_THREAD_ENTRY const *e,
                                   struct proc_syscall const *s) {
  int i;
  assert_int_equal(e->LastSyscallStackPointer, s->sp);
  assert_int_equal(e->LastSyscallProgramCounter, s->pc);
  if (s->state == 0) {
    /* blocked outside a syscall: "-1 sp pc" */
    assert_int_equal(e->Thread.LastSyscallNumber, PSS_LINUX_SYSCALL_NONE);
    assert_int_equal(e->SyscallNumber, -1);
    assert_null(e->Thread.LastSyscallFirstArgument);
    for (i = 0; i < 6; i++)
      assert_int_equal(e->LastSyscallArguments[i], 0);
    return;
  }
  assert_int_equal(e->Thread.LastSyscallNumber, (WORD)s->nr);
  assert_int_equal(e->SyscallNumber, s->nr);
  assert_int_equal((uintptr_t)e->Thread.LastSyscallFirstArgument, s->args[0]);
  for (i = 0; i < 6; i++)
    assert_int_equal(e->LastSyscallArguments[i], s->args[i]);
}

static void blocked_thread_syscalls_match_proc (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *target = fixture_start(f, "--threads", "3", NULL);
  HANDLE process = fixture_open(f, target->pid);
  struct proc_syscall before[64], after[64];
  size_t n, i, checked = 0;
  HPSS s;
  PSS_LINUX_THREAD_ENTRY *e;
  assert_true(target->thread_count <= 64);
  for (i = 0; i < target->thread_count; i++)
    assert_int_equal(proc_syscall(target->pid, target->threads[i].tid, &before[i]), 0);
  s = fixture_capture(f, process, PSS_CAPTURE_THREADS);
  /* thawed threads run for a moment before they block again */
  assert_int_equal(target_wait_quiet(target), 0);
  for (i = 0; i < target->thread_count; i++)
    assert_int_equal(proc_syscall(target->pid, target->threads[i].tid, &after[i]), 0);
  e = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  for (i = 0; i < target->thread_count; i++) {
    size_t k;
    /* only a thread that stayed in one blocking call says what to expect */
    if (before[i].state < 0 || !same_syscall(&before[i], &after[i]))
      continue;
    for (k = 0; k < n && e[k].Thread.ThreadId != (DWORD)target->threads[i].tid; k++) {}
    assert_true(k < n);
    check_blocked_syscall(&e[k], &before[i]);
    checked++;
  }
  /* an idle target's threads all wait in a syscall */
  assert_true(checked >= 1);
}

static ULONG_PTR affinity_bits (pid_t tid) {
  cpu_set_t set;
  ULONG_PTR mask = 0;
  unsigned cpu;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(tid, sizeof set, &set), 0);
  for (cpu = 0; cpu < 8 * sizeof mask; cpu++)
    if (CPU_ISSET(cpu, &set))
      mask |= (ULONG_PTR)1 << cpu;
  return mask;
}

static void thread_affinity_matches_scheduler (void **state) {
  struct fixture *f = FIXTURE(state);
  struct threads t = capture_threads(f, PSS_CAPTURE_THREADS);
  size_t i;
  for (i = 0; i < t.count; i++) {
    ULONG_PTR mask = affinity_bits((pid_t)t.entries[i].ThreadId);
    assert_true(mask != 0);
    assert_int_equal(t.entries[i].AffinityMask, mask);
  }
}

static void check_thread_against_stat (PSS_LINUX_THREAD_ENTRY const *e,
                                       struct proc_stat const *st, long cpus) {
  long long hz = sysconf(_SC_CLK_TCK);
  long long created = proc_boot_time_ns() + (long long)st->starttime * (1000000000LL / hz);
  long long diff = filetime_unix_ns(e->Thread.CreateTime) - created;
  assert_int_equal(e->State, st->state);
  assert_int_equal(e->Nice, st->nice);
  assert_int_equal(e->Policy, st->policy);
  assert_int_equal(e->RealtimePriority, st->rt_priority);
  assert_int_equal(e->Thread.Priority, st->priority);
  assert_int_equal(e->Thread.BasePriority, st->nice);
  /* the CPU it last ran on: a thread woken by the thaw may have run elsewhere
     since, so only its range is certain */
  assert_true(e->Processor >= 0 && e->Processor < cpus);
  expect_cpu_time_then(filetime_ticks(e->Thread.UserTime), ticks_as_filetime(st->utime));
  expect_cpu_time_then(filetime_ticks(e->Thread.KernelTime), ticks_as_filetime(st->stime));
  assert_int_equal(e->MinorFaults, st->minflt);
  assert_int_equal(e->MajorFaults, st->majflt);
  /* the thread's fs_base (its TLS block), read while it was frozen */
  assert_non_null(e->Thread.TebBaseAddress);
  assert_int_equal(filetime_ticks(e->Thread.ExitTime), 0);
  assert_int_equal(e->Thread.SuspendCount, 0);
  if (diff < -1100000000LL || diff > 1100000000LL)
    fail_because("thread %u CreateTime is %lld ns from its starttime",
                 (unsigned)e->Thread.ThreadId, diff);
}

static void linux_thread_fields_match_task_stat (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *target = fixture_start(f, "--threads", "3", NULL);
  HANDLE process = fixture_open(f, target->pid);
  struct timespec t0, t1;
  HPSS s;
  PSS_LINUX_THREAD_ENTRY *e;
  size_t n, i;
  clock_gettime(CLOCK_REALTIME, &t0);
  s = fixture_capture(f, process, PSS_CAPTURE_THREADS);
  clock_gettime(CLOCK_REALTIME, &t1);
  /* a thread woken by the thaw restarts its syscall and runs for a moment */
  assert_int_equal(target_wait_quiet(target), 0);
  e = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  for (i = 0; i < n; i++) {
    struct proc_stat st;
    long long captured = filetime_unix_ns(e[i].Thread.CaptureTime);
    assert_int_equal(proc_stat(target->pid, (pid_t)e[i].Thread.ThreadId, &st), 0);
    check_thread_against_stat(&e[i], &st, sysconf(_SC_NPROCESSORS_CONF));
    /* read during the capture (100 ns units: allow one unit each side) */
    assert_true(captured >= (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec - 100);
    assert_true(captured <= (long long)t1.tv_sec * 1000000000LL + t1.tv_nsec + 100);
  }
}

static void main_thread_starts_at_entry_point (void **state) {
  struct fixture *f = FIXTURE(state);
  struct threads t = capture_threads(f, PSS_CAPTURE_THREADS);
  uint64_t entry = proc_entry_point(t.target->pid);
  PSS_LINUX_PROCESS_INFORMATION li = query_linux_process(t.snapshot);
  size_t i;
  assert_true(entry != 0);
  assert_int_equal(li.EntryPoint, entry);
  for (i = 0; i < t.count; i++) {
    uintptr_t start = (uintptr_t)t.entries[i].Win32StartAddress;
    if (t.entries[i].ThreadId == (DWORD)t.target->pid)
      assert_int_equal(start, entry);
    else
      assert_int_equal(start, 0);
  }
}

int run_thread_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(thread_names_match_report),
    fixture_test(threads_belong_to_running_target),
    fixture_test(blocked_thread_syscalls_match_proc),
    fixture_test(thread_affinity_matches_scheduler),
    fixture_test(linux_thread_fields_match_task_stat),
    fixture_test(main_thread_starts_at_entry_point),
  };
  return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
