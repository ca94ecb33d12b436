/*
** test_self.c -- PSS_LINUX_CURRENT_PROCESS: the suite captures itself.
*/
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#define HELPER_NAME "pss-helper"

/* A thread of the suite, named, blocked reading a pipe until told to end */
struct helper {
  pthread_t thread;
  int pipe[2];
  pid_t tid;
  int ready[2];
};

static void *helper_main (void *arg) {
  struct helper *h = arg;
  char c;
  h->tid = gettid();
  pthread_setname_np(pthread_self(), HELPER_NAME);
  if (write(h->ready[1], "r", 1) != 1)
    return NULL;
  while (read(h->pipe[0], &c, 1) < 0) {}
  return NULL;
}

static void helper_start (struct helper *h) {
  char c;
  assert_int_equal(pipe2(h->pipe, O_CLOEXEC), 0);
  assert_int_equal(pipe2(h->ready, O_CLOEXEC), 0);
  assert_int_equal(pthread_create(&h->thread, NULL, helper_main, h), 0);
  assert_int_equal(read(h->ready[0], &c, 1), 1);
}

static void helper_stop (struct helper *h) {
  close(h->pipe[1]);
  pthread_join(h->thread, NULL);
  close(h->pipe[0]);
  close(h->ready[0]);
  close(h->ready[1]);
}

static void self_capture_includes_calling_thread (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = fixture_capture(f, PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS);
  PSS_PROCESS_INFORMATION pi = query_process(s);
  size_t n, i;
  PSS_THREAD_ENTRY *threads = fixture_walk(f, s, PSS_WALK_THREADS, &n);
  assert_int_equal(pi.ProcessId, (DWORD)getpid());
  assert_int_equal(pi.ParentProcessId, (DWORD)getppid());
  assert_int_equal(pi.ExitStatus, STILL_ACTIVE);
  for (i = 0; i < n && threads[i].ThreadId != (DWORD)gettid(); i++) {}
  if (i == n)
    fail_because("the calling thread %d is not among %zu captured threads", (int)gettid(), n);
  assert_int_equal(threads[i].ProcessId, (DWORD)getpid());
}

static void self_capture_names_helper_thread (void **state) {
  struct fixture *f = FIXTURE(state);
  struct helper h;
  HPSS s = NULL;
  size_t n, nn, i;
  PSS_LINUX_THREAD_ENTRY *threads;
  PSS_THREAD_NAME *names;
  helper_start(&h);
  if (PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS, 0, &s) != ERROR_SUCCESS)
    s = NULL;
  helper_stop(&h);
  if (s == NULL)
    fail_because("capturing the suite itself failed: errno %d", PssLinuxLastErrno());
  fixture_keep_snapshot(f, s);
  threads = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  names = fixture_walk(f, s, PSS_WALK_THREAD_NAME, &nn);
  assert_int_equal(n, nn);
  for (i = 0; i < n && threads[i].Thread.ThreadId != (DWORD)h.tid; i++) {}
  if (i == n)
    fail_because("the helper thread %d was not captured", (int)h.tid);
  assert_bytes(threads[i].Name, threads[i].NameLength, HELPER_NAME, strlen(HELPER_NAME));
  assert_utf16_bytes(names[i].ThreadName, names[i].ThreadNameSize, HELPER_NAME,
                     strlen(HELPER_NAME));
}

static void self_capture_sees_open_file (void **state) {
  struct fixture *f = FIXTURE(state);
  char path[] = "/tmp/pss-self-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  HPSS s = NULL;
  DWORD rc;
  size_t n, i;
  PSS_LINUX_HANDLE_ENTRY *handles;
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "12345", 5), 5);
  rc = PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS,
                          PSS_CAPTURE_HANDLES | PSS_CAPTURE_HANDLE_NAME_INFORMATION |
                          PSS_CAPTURE_HANDLE_BASIC_INFORMATION, 0, &s);
  close(fd);
  unlink(path);
  assert_code(rc, ERROR_SUCCESS);
  fixture_keep_snapshot(f, s);
  handles = fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &n);
  for (i = 0; i < n && (intptr_t)handles[i].Handle.Handle != fd; i++) {}
  if (i == n)
    fail_because("fd %d of the suite was not captured", fd);
  assert_int_equal(handles[i].Kind, PSS_LINUX_FD_FILE);
  assert_int_equal(handles[i].Position, 5);
  assert_bytes(handles[i].Target, handles[i].TargetLength, path, strlen(path));
  assert_utf16_bytes(handles[i].Handle.ObjectName, handles[i].Handle.ObjectNameLength,
                     path, strlen(path));
  assert_int_equal(handles[i].Handle.Attributes & OBJ_INHERIT, 0);
}

static void self_capture_has_exactly_its_open_descriptors (void **state) {
  struct fixture *f = FIXTURE(state);
  int before[1024], own[2];
  long count;
  HPSS s;
  size_t n, i;
  PSS_HANDLE_ENTRY *handles;
  /* two descriptors of known numbers, so the check never rests on what
  ** the suite inherited (CI may start it with stdin closed) */
  assert_int_equal(pipe2(own, O_CLOEXEC), 0);
  count = proc_fds(getpid(), before, 1024);
  s = fixture_capture(f, PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_HANDLES);
  handles = fixture_walk(f, s, PSS_WALK_HANDLES, &n);
  close(own[0]);
  close(own[1]);
  assert_true(count >= 2);
  for (i = 0; i < (size_t)count && before[i] != own[0]; i++) {}
  if (i == (size_t)count)
    fail_because("/proc lists no fd %d though the suite just opened it", own[0]);
  /* the fds open around the capture, in fd order; the /proc directory
  ** fds libpss holds while it reads are left out (linux-mapping.md,
  ** under PSS_PROCESS_INFORMATION) */
  for (i = 0; i < n && i < (size_t)count; i++)
    if ((intptr_t)handles[i].Handle != before[i])
      fail_because("entry %zu of the suite's own snapshot is fd %d, expected fd %d", i,
                   (int)(intptr_t)handles[i].Handle, before[i]);
  assert_int_equal(n, (size_t)count);
}

static void self_capture_sees_own_mapping (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = fixture_capture(f, PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_VA_SPACE);
  static int in_data = 1;
  uintptr_t here = (uintptr_t)&in_data;
  size_t n, i;
  PSS_VA_SPACE_ENTRY *regions = fixture_walk(f, s, PSS_WALK_VA_SPACE, &n);
  for (i = 0; i < n; i++) {
    uintptr_t base = (uintptr_t)regions[i].BaseAddress;
    if (here >= base && here < base + regions[i].RegionSize)
      break;
  }
  if (i == n)
    fail_because("no region holds the suite's own data at 0x%llx", (unsigned long long)here);
  assert_int_equal(regions[i].State, MEM_COMMIT);
  assert_true(regions[i].Protect == PAGE_READWRITE || regions[i].Protect == PAGE_WRITECOPY);
}

int run_self_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(self_capture_includes_calling_thread),
    fixture_test(self_capture_names_helper_thread),
    fixture_test(self_capture_sees_open_file),
    fixture_test(self_capture_has_exactly_its_open_descriptors),
    fixture_test(self_capture_sees_own_mapping),
  };
  return cmocka_run_group_tests_name("self", tests, NULL, NULL);
}
