/*
** tracer.c -- the thread of libpss's own that does a capture's ptrace work.
**
** ptrace ties a tracee to the thread that seized it, and a tracee can be
** detached only while it is in a stop. A thread of the target in an
** uninterruptible sleep (a read from a hung file system, a parent waiting
** for its vfork child) does not stop until it leaves that sleep, and then
** it would stop with nobody to let it go. The one clean way out is for
** the tracer thread to exit: the kernel then detaches every one of its
** tracees, stopped or not, and clears the stops they still owe (tracees
** with PTRACE_O_EXITKILL, the VA clone, are killed instead).
**
** So the ptrace work of a capture of another process runs on a thread
** started for it: a capture that runs out of time ends that thread and
** leaves nothing attached, the caller's own threads never become tracers,
** and a snapshot's clone outlives whatever thread of the caller captured
** it -- the tracer thread stays, parked, as the clone's keeper until the
** snapshot is freed.
**
** The thread blocks every signal: no handler of the host ever runs on it.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"

enum { IDLE, JOB, DONE, QUIT };

struct pss_tracer {
  pthread_t thread;
  pid_t owner;                   /* the process that started it (fork copies no thread) */
  pid_t tid;                     /* the thread's own, set when it starts */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int state;
  int (*job)(void *);
  void *arg;
  int result;
  char detail[PSS_DETAIL_MAX];   /* the job's failure detail, for the caller's thread */
};

static void *tracer_main (void *p) {
  struct pss_tracer *tr = p;
  /* its waits nap for tens of microseconds: no 50 us of slack on each */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  pthread_mutex_lock(&tr->lock);
  tr->tid = (pid_t)syscall(SYS_gettid);
  for (;;) {
    while (tr->state != JOB && tr->state != QUIT) pthread_cond_wait(&tr->wake, &tr->lock);
    if (tr->state == QUIT) break;
    pthread_mutex_unlock(&tr->lock);
    pss_fail_detail(NULL);
    tr->result = tr->job(tr->arg);
    pss_take_detail(tr->detail, sizeof tr->detail);
    pthread_mutex_lock(&tr->lock);
    tr->state = DONE;
    pthread_cond_broadcast(&tr->wake);
  }
  pthread_mutex_unlock(&tr->lock);
  return NULL;
}

int pss_tracer_start (struct pss_tracer **out) {
  struct pss_tracer *tr = calloc(1, sizeof *tr);
  pthread_condattr_t attr;
  sigset_t all, old;
  int rc;
  if (tr == NULL) return -ENOMEM;
  tr->owner = getpid();
  tr->state = IDLE;
  pthread_mutex_init(&tr->lock, NULL);
  /* timed waits on the monotonic clock: a change of the date moves nothing */
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&tr->wake, &attr);
  pthread_condattr_destroy(&attr);
  /* the new thread starts with the mask in force here */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&tr->thread, NULL, tracer_main, tr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&tr->wake);
    pthread_mutex_destroy(&tr->lock);
    free(tr);
    pss_fail_detail("could not start a thread for the capture");
    return -rc;
  }
  *out = tr;
  return 0;
}

/* now + us on CLOCK_MONOTONIC, as pthread_cond_timedwait takes it */
static struct timespec after_us (uint64_t us) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(us / 1000000u);
  ts.tv_nsec += (long)(us % 1000000u) * 1000;
  if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
  return ts;
}

int pss_tracer_run (struct pss_tracer *tr, int (*job)(void *), void (*rescue)(void *), void *arg) {
  /* a capture that takes longer than this may be held up by an execve */
  uint64_t first = pss_wait_limit_ms() < 200 ? pss_wait_limit_ms() : 200;
  struct timespec next = after_us(first * 1000u);
  int rc;
  pthread_mutex_lock(&tr->lock);
  tr->job = job;
  tr->arg = arg;
  tr->state = JOB;
  pthread_cond_broadcast(&tr->wake);
  while (tr->state != DONE)
    if (pthread_cond_timedwait(&tr->wake, &tr->lock, &next) == ETIMEDOUT && rescue != NULL) {
      pthread_mutex_unlock(&tr->lock);
      rescue(arg);
      pthread_mutex_lock(&tr->lock);
      next = after_us(50000);
    }
  tr->state = IDLE;
  rc = tr->result;
  pthread_mutex_unlock(&tr->lock);
  if (tr->detail[0] != '\0') pss_fail_detail(tr->detail);
  return rc;
}

/*
** pthread_join returns once the thread's exit has cleared its tid, which
** the kernel does before it lets go of the thread's tracees (exit_ptrace
** comes later in do_exit). Until the thread is gone from the kernel too, a
** thread of the target that never stopped may still read as traced: wait
** for that (bounded), so a capture returns with nothing of it traced.
*/
static void await_gone (pid_t tid) {
  uint64_t deadline = pss_now_us() + 1000000;
  while (tid > 0 && syscall(SYS_tgkill, getpid(), tid, 0) == 0 && pss_now_us() < deadline) {
    struct timespec nap = { 0, 20000 };
    nanosleep(&nap, NULL);
  }
}

void pss_tracer_stop (struct pss_tracer *tr) {
  if (tr == NULL) return;
  /* in a child forked since, the thread does not exist: only forget it */
  if (tr->owner != getpid()) {
    free(tr);
    return;
  }
  pthread_mutex_lock(&tr->lock);
  tr->state = QUIT;
  pthread_cond_broadcast(&tr->wake);
  pthread_mutex_unlock(&tr->lock);
  pthread_join(tr->thread, NULL);
  await_gone(tr->tid);
  pthread_cond_destroy(&tr->wake);
  pthread_mutex_destroy(&tr->lock);
  free(tr);
}
