/*
** test_stack_hazards.c -- stack copies (PSS_LINUX_CAPTURE_STACKS) of
** targets whose stacks sit beside memory a read must not touch: pages
** registered with userfaultfd whose handler is a thread of the stopped
** target (a read of one would wait forever), and a guard page between two
** threads' stacks in one mapping (a read stops there). Each target is a
** child this suite forks; every wait is bounded, and a capture that does
** not return in time is ended by killing the target.
*/
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#if defined(__x86_64__)

#define REGION (1u << 20)          /* the child's stack mapping */
#define THREAD_STACK (256u << 10)
#define CAPTURE_LIMIT_S 10
#define STACKS_FLAGS (PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_SPACE | \
                      PSS_LINUX_CAPTURE_STACKS)
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* {======================================================================
** The child: threads on stacks in one mapping, their tids on a pipe
** ======================================================================= */
static int never[2];

static void *sleeper (void *arg) {
  pid_t tid = (pid_t)syscall(SYS_gettid);
  char c;
  if (write(*(int *)arg, &tid, sizeof tid) != sizeof tid) _exit(3);
  for (;;) if (read(never[0], &c, 1) <= 0) pause();
  return NULL;
}

static void start_on (unsigned char *stack, size_t size, int *report) {
  pthread_attr_t a;
  pthread_t th;
  pthread_attr_init(&a);
  pthread_attr_setstack(&a, stack, size);
  if (pthread_create(&th, &a, sleeper, report) != 0) _exit(3);
  pthread_attr_destroy(&a);
}

/* Answers every missing-page fault of the region with a page of zeros. */
static void *fault_handler (void *arg) {
  int uffd = *(int *)arg;
  long page = sysconf(_SC_PAGESIZE);
  for (;;) {
    struct pollfd p = { uffd, POLLIN, 0 };
    struct uffd_msg msg;
    struct uffdio_zeropage z;
    if (poll(&p, 1, -1) < 0 || read(uffd, &msg, sizeof msg) != sizeof msg) continue;
    if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
    memset(&z, 0, sizeof z);
    z.range.start = msg.arg.pagefault.address & ~(uint64_t)(page - 1);
    z.range.len = (uint64_t)page;
    ioctl(uffd, UFFDIO_ZEROPAGE, &z);
  }
  return NULL;
}

/* The whole region under userfaultfd, its handler a thread of this
** process, a thread's stack in its lower part: above that stack, pages no
** one touched, whose fault only the (stopped) handler could answer. 77:
** userfaultfd is not available here. */
static void uffd_child (int report) {
  unsigned char *region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct uffdio_api api = { .api = UFFD_API };
  struct uffdio_register reg;
  pthread_t th;
  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (region == MAP_FAILED) _exit(3);
  if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0) _exit(77);
  memset(&reg, 0, sizeof reg);
  reg.range.start = (uintptr_t)region;
  reg.range.len = REGION;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) _exit(77);
  if (pthread_create(&th, NULL, fault_handler, &uffd) != 0) _exit(3);
  start_on(region, THREAD_STACK, &report);
  for (;;) pause();
}

/* Two threads' stacks in one mapping, a guard page between them (one
** mapping still: MADV_GUARD_INSTALL, Linux 6.13). 77: no such advice. */
static void guard_child (int report) {
  long page = sysconf(_SC_PAGESIZE);
  size_t half = THREAD_STACK;
  unsigned char *region = mmap(NULL, 2 * half + (size_t)page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) _exit(3);
  if (madvise(region + half, (size_t)page, MADV_GUARD_INSTALL) < 0) _exit(77);
  start_on(region, half, &report);
  start_on(region + half + page, half, &report);
  for (;;) pause();
}

struct child { pid_t pid; pid_t tid[2]; size_t threads; };

/* Forks a child running body; reads its threads' tids (bounded). */
static void child_start (struct child *c, void (*body)(int), size_t threads) {
  int p[2];
  size_t got = 0;
  memset(c, 0, sizeof *c);
  c->threads = threads;
  assert_int_equal(pipe(p), 0);
  assert_int_equal(pipe(never), 0);
  if ((c->pid = fork()) == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlives the suite */
    alarm(60);                          /* nor a test that forgot it */
    body(p[1]);
    _exit(0);
  }
  assert_true(c->pid > 0);
  close(p[1]);
  while (got < threads) {
    struct pollfd pf = { p[0], POLLIN, 0 };
    int status;
    if (poll(&pf, 1, 5000) <= 0) break;
    if (read(p[0], &c->tid[got], sizeof c->tid[got]) != sizeof c->tid[got]) break;
    got++;
    (void)status;
  }
  close(p[0]);
  if (got < threads) {
    int status = 0;
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &status, 0);
    c->pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
      skip_because("the kernel refuses what this target needs (userfaultfd, guard pages)");
    fail_because("the child did not start its threads (status 0x%x)", (unsigned)status);
  }
  usleep(20000);   /* each thread reported just before it blocks */
}

static void child_stop (struct child *c) {
  if (c->pid <= 0) return;
  kill(c->pid, SIGKILL);
  waitpid(c->pid, NULL, 0);
  close(never[0]);
  close(never[1]);
  c->pid = 0;
}

/* The child of the test under way: stopped by the teardown whatever
** assertion ended the test. */
static struct child current;

static int hazard_teardown (void **state) {
  child_stop(&current);
  return fixture_teardown(state);
}
/* }====================================================================== */


/* {======================================================================
** A capture on a thread of its own, bounded
** ======================================================================= */
struct job { HANDLE h; DWORD rc; HPSS snap; };

/* With a limit past the end of every mapping here: each thread's copy
** runs to the end of its mapping, over what lies above its stack. */
static void *capture_job (void *arg) {
  struct job *j = arg;
  PssLinuxSetStackLimit(4u << 20);
  j->rc = PssCaptureSnapshot(j->h, STACKS_FLAGS, CONTEXT_ALL, &j->snap);
  return NULL;
}

/* The capture, or a failure if it did not return in CAPTURE_LIMIT_S (the
** child is then killed, which ends whatever it waited for). */
static HPSS bounded_capture (struct fixture *f, struct child *c) {
  struct job j = { fixture_open(f, c->pid), 0, NULL };
  struct timespec until;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, capture_job, &j), 0);
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += CAPTURE_LIMIT_S;
  if (pthread_timedjoin_np(th, NULL, &until) != 0) {
    child_stop(c);
    pthread_join(th, NULL);
    if (j.rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, j.snap);
    fail_because("the capture did not return in %d s", CAPTURE_LIMIT_S);
  }
  if (j.rc != ERROR_SUCCESS) fail_because("PssCaptureSnapshot: %s", win32_error_name(j.rc));
  fixture_keep_snapshot(f, j.snap);
  return j.snap;
}

static uint64_t sp_of (struct fixture *f, HPSS s, pid_t tid) {
  size_t n, i;
  PSS_LINUX_THREAD_ENTRY *t = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &n);
  for (i = 0; i < n; i++)
    if (t[i].Thread.ThreadId == (DWORD)tid && t[i].Thread.ContextRecord != NULL)
      return t[i].Thread.ContextRecord->Rsp;
  fail_because("thread %d has no context", (int)tid);
  return 0;
}

static int copied (struct fixture *f, HPSS s, uint64_t address) {
  size_t n, i;
  PSS_AUXILIARY_PAGE_ENTRY *p = fixture_walk(f, s, PSS_WALK_AUXILIARY_PAGES, &n);
  for (i = 0; i < n; i++)
    if (address - (uintptr_t)p[i].Address < p[i].PageSize) return 1;
  return 0;
}
/* }====================================================================== */


static void pages_under_userfaultfd_are_not_waited_for (void **state) {
  struct fixture *f = FIXTURE(state);
  struct child *c = &current;
  HPSS s;
  uint64_t sp;
  child_start(c, uffd_child, 1);
  s = bounded_capture(f, c);
  sp = sp_of(f, s, c->tid[0]);
  assert_true(copied(f, s, sp));
  /* above the stack, pages never touched: not read, not faulted in */
  assert_false(copied(f, s, (sp & ~(uint64_t)4095) + THREAD_STACK));
  child_stop(c);
}

static void a_guard_page_between_stacks_cuts_neither (void **state) {
  struct fixture *f = FIXTURE(state);
  struct child *c = &current;
  HPSS s;
  size_t i;
  child_start(c, guard_child, 2);
  s = bounded_capture(f, c);
  for (i = 0; i < 2; i++) {
    uint64_t sp = sp_of(f, s, c->tid[i]);
    if (!copied(f, s, sp)) fail_because("thread %d: the page of sp 0x%llx was not copied",
                                        (int)c->tid[i], (unsigned long long)sp);
  }
  child_stop(c);
}

int run_stack_hazard_suite (void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(pages_under_userfaultfd_are_not_waited_for, fixture_setup,
                                    hazard_teardown),
    cmocka_unit_test_setup_teardown(a_guard_page_between_stacks_cuts_neither, fixture_setup,
                                    hazard_teardown),
  };
  return cmocka_run_group_tests_name("stack-hazards", tests, NULL, NULL);
}

#else

int run_stack_hazard_suite (void) { return 0; }

#endif
