/*
** test_capture.c -- a full capture of the target against /proc: counts,
** order of entries, and the process records.
*/
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

/* A running target and a capture of everything it has */
struct captured {
  struct target *target;
  HPSS snapshot;
};

static struct captured capture_target (struct fixture *f, PSS_CAPTURE_FLAGS flags) {
  struct captured c;
  c.target = fixture_start(f, NULL);
  c.snapshot = fixture_capture(f, fixture_open(f, c.target->pid), flags);
  /* a thread woken by the thaw restarts its syscall and runs for a moment:
     let it sleep again before /proc is compared with the snapshot */
  assert_int_equal(target_wait_quiet(c.target), 0);
  return c;
}

static void counts_match_proc (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  pid_t tids[256];
  int fds[1024];
  size_t map_count = 0;
  long tid_count = proc_tids(c.target->pid, tids, 256);
  long fd_count = proc_fds(c.target->pid, fds, 1024);
  struct proc_map *maps = fixture_keep(f, proc_maps(c.target->pid, &map_count));
  assert_non_null(maps);
  assert_true(tid_count > 0 && fd_count > 0 && map_count > 0);
  /* the target's own account agrees with /proc */
  assert_int_equal(c.target->thread_count, (size_t)tid_count);
  assert_int_equal(query_thread_count(c.snapshot), (DWORD)tid_count);
  assert_int_equal(query_handle_count(c.snapshot), (DWORD)fd_count);
  assert_int_equal(query_region_count(c.snapshot), (DWORD)map_count);
}

static void threads_walk_in_tid_order (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  pid_t tids[256];
  long count = proc_tids(c.target->pid, tids, 256);
  size_t n, nl, i;
  PSS_THREAD_ENTRY *e = fixture_walk(f, c.snapshot, PSS_WALK_THREADS, &n);
  PSS_LINUX_THREAD_ENTRY *l = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_THREADS, &nl);
  assert_int_equal(n, (size_t)count);
  assert_int_equal(nl, (size_t)count);
  for (i = 0; i < n; i++) {
    assert_int_equal(e[i].ThreadId, (DWORD)tids[i]);
    assert_int_equal(l[i].Thread.ThreadId, (DWORD)tids[i]);
  }
}

static void handles_walk_in_fd_order (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  int fds[1024];
  long count = proc_fds(c.target->pid, fds, 1024);
  size_t n, nl, i;
  PSS_HANDLE_ENTRY *e = fixture_walk(f, c.snapshot, PSS_WALK_HANDLES, &n);
  PSS_LINUX_HANDLE_ENTRY *l = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_HANDLES, &nl);
  assert_int_equal(n, (size_t)count);
  assert_int_equal(nl, (size_t)count);
  for (i = 0; i < n; i++) {
    assert_int_equal((uintptr_t)e[i].Handle, (uintptr_t)fds[i]);
    assert_int_equal((uintptr_t)l[i].Handle.Handle, (uintptr_t)fds[i]);
  }
}

static void regions_walk_in_address_order (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  size_t count = 0, n, nl, i;
  struct proc_map *maps = fixture_keep(f, proc_maps(c.target->pid, &count));
  PSS_VA_SPACE_ENTRY *e = fixture_walk(f, c.snapshot, PSS_WALK_VA_SPACE, &n);
  PSS_LINUX_VA_SPACE_ENTRY *l = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_VA_SPACE, &nl);
  assert_non_null(maps);
  assert_int_equal(n, count);
  assert_int_equal(nl, count);
  for (i = 0; i < n; i++) {
    assert_int_equal((uintptr_t)e[i].BaseAddress, maps[i].start);
    assert_int_equal(e[i].RegionSize, maps[i].end - maps[i].start);
    assert_int_equal((uintptr_t)l[i].Region.BaseAddress, maps[i].start);
    assert_int_equal(l[i].Region.RegionSize, maps[i].end - maps[i].start);
  }
}

/* {======================================================================
** The Linux walks carry the same Windows entry as the plain walks
** ======================================================================= */

static int same_filetime (FILETIME a, FILETIME b) {
  return a.dwLowDateTime == b.dwLowDateTime && a.dwHighDateTime == b.dwHighDateTime;
}

static int same_utf16 (WCHAR const *a, WCHAR const *b, size_t bytes) {
  return bytes == 0 || (a != NULL && b != NULL && memcmp(a, b, bytes) == 0);
}

static void same_thread_entry (PSS_THREAD_ENTRY const *a, PSS_THREAD_ENTRY const *b) {
  assert_int_equal(a->ExitStatus, b->ExitStatus);
  assert_ptr_equal(a->TebBaseAddress, b->TebBaseAddress);
  assert_int_equal(a->ProcessId, b->ProcessId);
  assert_int_equal(a->ThreadId, b->ThreadId);
  assert_int_equal(a->AffinityMask, b->AffinityMask);
  assert_int_equal(a->Priority, b->Priority);
  assert_int_equal(a->BasePriority, b->BasePriority);
  assert_ptr_equal(a->LastSyscallFirstArgument, b->LastSyscallFirstArgument);
  assert_int_equal(a->LastSyscallNumber, b->LastSyscallNumber);
  assert_true(same_filetime(a->CreateTime, b->CreateTime));
  assert_true(same_filetime(a->KernelTime, b->KernelTime));
  assert_true(same_filetime(a->UserTime, b->UserTime));
  assert_true(same_filetime(a->CaptureTime, b->CaptureTime));
  assert_ptr_equal(a->Win32StartAddress, b->Win32StartAddress);
  assert_int_equal(a->Flags, b->Flags);
  assert_int_equal(a->SuspendCount, b->SuspendCount);
  assert_int_equal(a->SizeOfContextRecord, b->SizeOfContextRecord);
}

static void same_handle_entry (PSS_HANDLE_ENTRY const *a, PSS_HANDLE_ENTRY const *b) {
  assert_ptr_equal(a->Handle, b->Handle);
  assert_int_equal(a->Flags, b->Flags);
  assert_int_equal(a->ObjectType, b->ObjectType);
  assert_true(same_filetime(a->CaptureTime, b->CaptureTime));
  assert_int_equal(a->Attributes, b->Attributes);
  assert_int_equal(a->GrantedAccess, b->GrantedAccess);
  assert_int_equal(a->HandleCount, b->HandleCount);
  assert_int_equal(a->PointerCount, b->PointerCount);
  assert_int_equal(a->TypeNameLength, b->TypeNameLength);
  assert_true(same_utf16(a->TypeName, b->TypeName, a->TypeNameLength));
  assert_int_equal(a->ObjectNameLength, b->ObjectNameLength);
  assert_true(same_utf16(a->ObjectName, b->ObjectName, a->ObjectNameLength));
  if (!(a->Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION))
    return;
  switch (a->ObjectType) {
    case PSS_OBJECT_TYPE_PROCESS:
      assert_int_equal(a->TypeSpecificInformation.Process.ProcessId,
                       b->TypeSpecificInformation.Process.ProcessId);
      assert_int_equal(a->TypeSpecificInformation.Process.ExitStatus,
                       b->TypeSpecificInformation.Process.ExitStatus);
      break;
    case PSS_OBJECT_TYPE_EVENT:
      assert_int_equal(a->TypeSpecificInformation.Event.Signaled,
                       b->TypeSpecificInformation.Event.Signaled);
      assert_int_equal(a->TypeSpecificInformation.Event.ManualReset,
                       b->TypeSpecificInformation.Event.ManualReset);
      break;
    case PSS_OBJECT_TYPE_SEMAPHORE:
      assert_int_equal(a->TypeSpecificInformation.Semaphore.CurrentCount,
                       b->TypeSpecificInformation.Semaphore.CurrentCount);
      assert_int_equal(a->TypeSpecificInformation.Semaphore.MaximumCount,
                       b->TypeSpecificInformation.Semaphore.MaximumCount);
      break;
    case PSS_OBJECT_TYPE_SECTION:
      assert_int_equal(a->TypeSpecificInformation.Section.MaximumSize.QuadPart,
                       b->TypeSpecificInformation.Section.MaximumSize.QuadPart);
      break;
    default:
      break;
  }
}

static void same_region_entry (PSS_VA_SPACE_ENTRY const *a, PSS_VA_SPACE_ENTRY const *b) {
  assert_ptr_equal(a->BaseAddress, b->BaseAddress);
  assert_ptr_equal(a->AllocationBase, b->AllocationBase);
  assert_int_equal(a->AllocationProtect, b->AllocationProtect);
  assert_int_equal(a->RegionSize, b->RegionSize);
  assert_int_equal(a->State, b->State);
  assert_int_equal(a->Protect, b->Protect);
  assert_int_equal(a->Type, b->Type);
  assert_int_equal(a->TimeDateStamp, b->TimeDateStamp);
  assert_int_equal(a->SizeOfImage, b->SizeOfImage);
  assert_ptr_equal(a->ImageBase, b->ImageBase);
  assert_int_equal(a->CheckSum, b->CheckSum);
  assert_int_equal(a->MappedFileNameLength, b->MappedFileNameLength);
  assert_true(same_utf16(a->MappedFileName, b->MappedFileName, a->MappedFileNameLength));
}

static void linux_walks_extend_windows_walks (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  size_t n, nl, i;
  PSS_THREAD_ENTRY *t = fixture_walk(f, c.snapshot, PSS_WALK_THREADS, &n);
  PSS_LINUX_THREAD_ENTRY *lt = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_THREADS, &nl);
  PSS_HANDLE_ENTRY *h;
  PSS_LINUX_HANDLE_ENTRY *lh;
  PSS_VA_SPACE_ENTRY *r;
  PSS_LINUX_VA_SPACE_ENTRY *lr;
  assert_int_equal(n, nl);
  for (i = 0; i < n; i++)
    same_thread_entry(&t[i], &lt[i].Thread);
  h = fixture_walk(f, c.snapshot, PSS_WALK_HANDLES, &n);
  lh = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_HANDLES, &nl);
  assert_int_equal(n, nl);
  for (i = 0; i < n; i++)
    same_handle_entry(&h[i], &lh[i].Handle);
  r = fixture_walk(f, c.snapshot, PSS_WALK_VA_SPACE, &n);
  lr = fixture_walk(f, c.snapshot, PSS_WALK_LINUX_VA_SPACE, &nl);
  assert_int_equal(n, nl);
  for (i = 0; i < n; i++)
    same_region_entry(&r[i], &lr[i].Region);
}
/* }====================================================================== */

/* {======================================================================
** Process information
** ======================================================================= */

static void process_record_names_the_target (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  char exe[1024];
  long exe_len = proc_link(c.target->pid, "exe", exe, sizeof exe);
  size_t units = utf16_units(pi.ImageFileName, 260);
  assert_true(exe_len > 0);
  assert_int_equal(pi.ProcessId, (DWORD)c.target->pid);
  assert_int_equal(pi.ParentProcessId, (DWORD)getpid());
  assert_int_equal(pi.ExitStatus, STILL_ACTIVE);
  assert_true(units < 260);   /* NUL-terminated */
  assert_utf16_bytes(pi.ImageFileName, units * 2, exe, (size_t)exe_len);
  assert_utf16_bytes(pi.ImageFileName, units * 2, c.target->exe, c.target->exe_len);
}

static void process_create_time_is_start_time (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  struct proc_stat st;
  long long hz = sysconf(_SC_CLK_TCK);
  long long expected, got, diff;
  assert_int_equal(proc_stat(c.target->pid, 0, &st), 0);
  expected = proc_boot_time_ns() + (long long)st.starttime * (1000000000LL / hz);
  got = filetime_unix_ns(pi.CreateTime);
  diff = got > expected ? got - expected : expected - got;
  if (diff > 1000000000LL + 1000000000LL / hz)
    fail_because("CreateTime is %lld ns from boot time + starttime %llu ticks",
                 diff, st.starttime);
}

/* |a - b| within pct percent of b, plus slack bytes */
static void assert_near (unsigned long long a, unsigned long long b, unsigned pct,
                         unsigned long long slack, char const *what) {
  unsigned long long d = a > b ? a - b : b - a;
  if (d > b / 100 * pct + slack)
    fail_because("%s: %llu, /proc says %llu", what, a, b);
}

static void process_memory_sizes_match_status (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  long long rss = proc_status_value(c.target->pid, "VmRSS");
  long long size = proc_status_value(c.target->pid, "VmSize");
  assert_true(rss > 0 && size > 0);
  assert_near(pi.WorkingSetSize, (unsigned long long)rss * 1024, 5, 64 * 1024,
              "WorkingSetSize");
  assert_near(pi.VirtualSize, (unsigned long long)size * 1024, 5, 64 * 1024,
              "VirtualSize");
  assert_true(pi.PeakWorkingSetSize >= pi.WorkingSetSize);
  assert_true(pi.PeakVirtualSize >= pi.VirtualSize);
}

static void linux_process_record_matches_proc (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  PSS_LINUX_PROCESS_INFORMATION li = query_linux_process(c.snapshot);
  struct proc_stat st;
  char cmdline[4096], comm[64];
  long cmd_len = proc_read(c.target->pid, "cmdline", cmdline, sizeof cmdline);
  long comm_len = proc_read(c.target->pid, "comm", comm, sizeof comm);
  assert_int_equal(proc_stat(c.target->pid, 0, &st), 0);
  assert_true(cmd_len > 0 && comm_len > 1);
  comm_len--;   /* the trailing newline */
  assert_int_equal(li.Process.ProcessId, pi.ProcessId);
  assert_int_equal(li.Process.ParentProcessId, pi.ParentProcessId);
  assert_int_equal(li.State, st.state);
  assert_int_equal(li.Nice, st.nice);
  assert_int_equal(li.Policy, st.policy);
  assert_int_equal(li.RealtimePriority, st.rt_priority);
  assert_int_equal(li.ThreadCount, (DWORD)st.num_threads);
  assert_int_equal(li.ProcessGroupId, (DWORD)st.pgrp);
  assert_int_equal(li.SessionId, (DWORD)st.session);
  assert_int_equal(li.StartTimeTicks, st.starttime);
  assert_int_equal(li.RealUserId, getuid());
  assert_int_equal(li.EffectiveUserId, geteuid());
  assert_int_equal(li.RealGroupId, getgid());
  assert_int_equal(li.EffectiveGroupId, getegid());
  assert_int_equal(li.ExitCode, 0);
  assert_bytes(li.CommandLine, li.CommandLineLength, cmdline, (size_t)cmd_len);
  assert_bytes(li.Comm, li.CommLength, comm, (size_t)comm_len);
  /* both NUL-terminated after their length */
  assert_int_equal(li.CommandLine[li.CommandLineLength], '\0');
  assert_int_equal(li.Comm[li.CommLength], '\0');
}

/* The documented nice/policy → priority class rule */
static DWORD priority_class_of (unsigned policy, long nice) {
  if (policy == 1 || policy == 2)   /* SCHED_FIFO, SCHED_RR */
    return REALTIME_PRIORITY_CLASS;
  if (policy == 5 || nice >= 10)    /* SCHED_IDLE */
    return IDLE_PRIORITY_CLASS;
  if (nice <= -10)
    return HIGH_PRIORITY_CLASS;
  if (nice < 0)
    return ABOVE_NORMAL_PRIORITY_CLASS;
  return nice > 0 ? BELOW_NORMAL_PRIORITY_CLASS : NORMAL_PRIORITY_CLASS;
}

static ULONG_PTR affinity_of (pid_t pid) {
  cpu_set_t set;
  ULONG_PTR mask = 0;
  unsigned cpu;
  CPU_ZERO(&set);
  assert_int_equal(sched_getaffinity(pid, sizeof set, &set), 0);
  for (cpu = 0; cpu < 64; cpu++)
    if (CPU_ISSET(cpu, &set))
      mask |= (ULONG_PTR)1 << cpu;
  return mask;
}

static void process_record_fields_match_proc (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, CAPTURE_EVERYTHING);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  PSS_LINUX_PROCESS_INFORMATION li = query_linux_process(c.snapshot);
  pid_t pid = c.target->pid;
  struct proc_stat st;
  char personality[32];
  long long data = proc_status_value(pid, "VmData"), stk = proc_status_value(pid, "VmStk");
  long long swap = proc_status_value(pid, "VmSwap");
  assert_int_equal(proc_stat(pid, 0, &st), 0);
  assert_true(proc_read(pid, "personality", personality, sizeof personality - 1) > 0);
  assert_int_equal(pi.AffinityMask, affinity_of(pid));
  assert_int_equal(pi.BasePriority, st.nice);
  assert_int_equal((uintptr_t)pi.PebBaseAddress, st.arg_start);
  assert_int_equal(pi.PriorityClass, priority_class_of(st.policy, st.nice));
  expect_cpu_time_then(filetime_ticks(pi.UserTime), ticks_as_filetime(st.utime));
  expect_cpu_time_then(filetime_ticks(pi.KernelTime), ticks_as_filetime(st.stime));
  assert_int_equal(filetime_ticks(pi.ExitTime), 0);
  assert_int_equal(pi.PageFaultCount, (DWORD)(st.minflt + st.majflt));
  assert_int_equal(li.MinorFaults, st.minflt);
  assert_int_equal(li.MajorFaults, st.majflt);
  assert_int_equal(pi.PrivateUsage, (unsigned long long)(data + stk) * 1024);
  assert_int_equal(pi.PagefileUsage, (unsigned long long)swap * 1024);
  assert_int_equal(pi.ExecuteFlags, strtoul(personality, NULL, 16));
  assert_int_equal(li.Personality, pi.ExecuteFlags);
  assert_int_equal(pi.Flags, PSS_PROCESS_FLAGS_NONE);
  assert_int_equal(pi.QuotaPeakPagedPoolUsage | pi.QuotaPagedPoolUsage |
                   pi.QuotaPeakNonPagedPoolUsage | pi.QuotaNonPagedPoolUsage, 0);
  assert_int_equal(pi.PeakPagefileUsage, 0);
  assert_near(li.ResidentAnon, (unsigned long long)proc_status_value(pid, "RssAnon") * 1024,
              5, 64 * 1024, "ResidentAnon");
  assert_near(li.ResidentFile, (unsigned long long)proc_status_value(pid, "RssFile") * 1024,
              5, 64 * 1024, "ResidentFile");
  assert_near(li.ResidentShmem, (unsigned long long)proc_status_value(pid, "RssShmem") * 1024,
              5, 64 * 1024, "ResidentShmem");
}

static void capture_none_still_has_process_record (void **state) {
  struct fixture *f = FIXTURE(state);
  struct captured c = capture_target(f, PSS_CAPTURE_NONE);
  PSS_PROCESS_INFORMATION pi = query_process(c.snapshot);
  PSS_LINUX_PROCESS_INFORMATION li = query_linux_process(c.snapshot);
  assert_int_equal(pi.ProcessId, (DWORD)c.target->pid);
  assert_int_equal(pi.ExitStatus, STILL_ACTIVE);
  assert_int_equal(li.Process.ProcessId, (DWORD)c.target->pid);
}
/* }====================================================================== */

int run_capture_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(counts_match_proc),
    fixture_test(threads_walk_in_tid_order),
    fixture_test(handles_walk_in_fd_order),
    fixture_test(regions_walk_in_address_order),
    fixture_test(linux_walks_extend_windows_walks),
    fixture_test(process_record_names_the_target),
    fixture_test(process_create_time_is_start_time),
    fixture_test(process_memory_sizes_match_status),
    fixture_test(linux_process_record_matches_proc),
    fixture_test(process_record_fields_match_proc),
    fixture_test(capture_none_still_has_process_record),
  };
  return cmocka_run_group_tests_name("capture", tests, NULL, NULL);
}
