/*
** freeze.c -- stopping every thread of the target for the capture (their
** registers are read by ptrace/ARCH/regs.c).
**
** PTRACE_SEIZE (no options: nothing the target does is reported or
** changed) then PTRACE_INTERRUPT on every thread, then a wait for each
** stop; /proc/PID/task is scanned again until a pass finds no new thread.
** Thawing detaches every thread exactly once. It all runs on the capture's
** tracer thread (tracer.c), and every wait ends at the freeze's deadline.
**
** The target is never left stopped or changed:
** - a thread that was in a job-control stop (SIGSTOP) stays in it: the
**   kernel puts a detached tracee back into its group stop;
** - a signal that arrives during the freeze shows as a signal-delivery
**   stop; the thread stays there (it is stopped, its registers are those
**   before the signal) and the signal is handed back with PTRACE_DETACH,
**   so none is lost or added;
** - a thread inside a system call is restarted by the kernel as after any
**   ptrace stop (sleeps keep their deadline, reads go on); only calls the
**   kernel never restarts after a stop (epoll_wait, ...) see EINTR, as
**   under gdb -- see docs/linux-mapping.md;
** - a thread that does not stop before the deadline (an uninterruptible
**   sleep) cannot be detached -- PTRACE_DETACH needs a stop --: the
**   capture fails and its tracer thread exits, and the kernel lets go of
**   it then, its pending stop cleared;
** - no allocation happens between a seize and the record of it: every
**   seized thread is in the list thaw walks;
** - if the capturing process dies at any moment, the kernel detaches its
**   tracees and they run on (seized tracees are resumed, group-stopped
**   ones stay stopped), so no cleanup of ours is needed for that.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#define MAX_SCANS 64            /* passes over task/ until no new thread */

/* THREAD_DEAD: it ended, but its end is not reported yet (a main thread
** that exited before the others): still our tracee, not yet let go of */
enum { THREAD_RUNNING, THREAD_STOPPED, THREAD_GONE, THREAD_DEAD };

struct frozen_thread {
  pid_t tid;
  char before;                  /* its state letter before the freeze */
  int state;                    /* THREAD_* after the freeze */
  int pending_signal;           /* to hand back at detach */
  int group_stopped;            /* it was in (or entered) a job-control stop */
};

static int cmp_thread (const void *a, const void *b) {
  pid_t x = ((const struct frozen_thread *)a)->tid, y = ((const struct frozen_thread *)b)->tid;
  return (x > y) - (x < y);
}

/* The sorted part by binary search, then the threads added since. */
static struct frozen_thread *find (const struct pss_freeze *fz, pid_t tid) {
  struct frozen_thread key, *hit;
  size_t i;
  key.tid = tid;
  hit = fz->sorted ? bsearch(&key, fz->threads, fz->sorted, sizeof key, cmp_thread) : NULL;
  for (i = fz->sorted; hit == NULL && i < fz->n; i++)
    if (fz->threads[i].tid == tid) hit = &fz->threads[i];
  return hit;
}

/* Room for `more` threads, made before any of them is seized. */
static int reserve (struct pss_freeze *fz, size_t more) {
  size_t cap = fz->cap ? fz->cap : 64;
  struct frozen_thread *grown;
  while (cap < fz->n + more) cap *= 2;
  if (cap == fz->cap) return 0;
  if ((grown = realloc(fz->threads, cap * sizeof *grown)) == NULL) return -ENOMEM;
  fz->threads = grown;
  fz->cap = cap;
  return 0;
}

static void record (struct pss_freeze *fz, pid_t tid, char before) {
  struct frozen_thread *ft = &fz->threads[fz->n++];
  ft->tid = tid;
  ft->before = before;
  ft->state = THREAD_RUNNING;
  ft->pending_signal = 0;
  ft->group_stopped = 0;
}

/* State letter of a thread, or 0 if it is gone. */
static char thread_state (struct pss_target *t, int taskfd, pid_t tid) {
  char path[32];
  struct pss_stat st;
  ssize_t n;
  snprintf(path, sizeof path, "%d/stat", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0 || pss_parse_stat(t->scratch, (size_t)n, &st) < 0)
    return 0;
  return st.state;
}

/*
** Seizes and interrupts one thread, noting its state before (a frozen
** thread reads 't'); 1 if it is gone or a zombie. A refusal is explained
** (access.c); a tracer that let go between the refusal and the look at
** it (another capture ending) is no reason to fail: try again.
*/
static int seize (struct pss_target *t, int taskfd, pid_t tid, char *before) {
  int attempt;
  *before = thread_state(t, taskfd, tid);
  if (*before == 0 || *before == 'Z' || *before == 'X') return 1;
  for (attempt = 0; ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0; attempt++) {
    int why;
    if (errno == ESRCH) return 1;
    if (errno != EPERM) return -errno;
    why = pss_explain_refusal(t, taskfd, tid);
    if (why != -EPERM || attempt == 3) return why;
  }
  if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH) {
    int e = errno;
    ptrace(PTRACE_DETACH, tid, NULL, NULL);
    return -e;
  }
  return 0;
}

/*
** Records the kind of stop: a group-stop (its signal one of job control)
** means the thread was stopped by job control: 'T', even if its state
** was read a moment before while it was getting back into that stop (as
** right after an earlier capture detached it). A signal-delivery stop
** holds a signal on its way in, handed back at detach.
*/
static void stopped_by (struct frozen_thread *ft, const struct pss_stop *st) {
  int sig = st->sig;
  ft->state = THREAD_STOPPED;
  if (st->event == PTRACE_EVENT_STOP)
    ft->group_stopped = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
  else if (sig >= 1 && sig < NSIG) ft->pending_signal = sig;
  if (ft->group_stopped) ft->before = 'T';
}

/* Whether tid is the main thread of a process that is our own child:
** its exit report is its parent's (the caller's) to collect, not ours. */
static int own_child_leader (const struct pss_freeze *fz, pid_t tid) {
  return tid == fz->leader && fz->own_child;
}

/* "thread N did not stop within M ms (state D, in WCHAN)" */
static void note_timeout (struct pss_target *t, int taskfd, pid_t tid) {
  char path[48], wchan[64] = "";
  char state = thread_state(t, taskfd, tid);
  ssize_t n;
  snprintf(path, sizeof path, "%d/wchan", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) > 0 && strcmp(t->scratch, "0") != 0)
    snprintf(wchan, sizeof wchan, ", in %.40s", t->scratch);
  pss_fail_detailf("thread %d of the target did not stop within %u ms (state %c%s%s)",
                   (int)tid, pss_wait_limit_ms(), state ? state : '?',
                   state == 'D' ? ", an uninterruptible sleep" : "", wchan);
}

/* Waits for the stop of one seized thread, or its end. */
static int wait_stop (struct pss_freeze *fz, struct frozen_thread *ft) {
  struct pss_stop st;
  int flags = own_child_leader(fz, ft->tid) ? PSS_WAIT_KEEP_EXIT : 0;
  int rc = pss_tracee_wait(ft->tid, flags, fz->deadline, &st);
  if (rc < 0) return rc;
  if (st.kind == PSS_STOP_EXITED) ft->state = st.held ? THREAD_DEAD : THREAD_GONE;
  else stopped_by(ft, &st);
  return 0;
}

/*
** Waits for the threads [first, n) just seized -- every one of them, even
** after an error, since each must be stopped to be detached. The main
** thread comes last: if the process is exiting, its report waits until
** the other threads are reaped.
*/
static int wait_seized (struct pss_target *t, int taskfd, struct pss_freeze *fz, size_t first) {
  size_t i, pass;
  int rc = 0, r;
  for (pass = 0; pass < 2; pass++)
    for (i = first; i < fz->n; i++) {
      struct frozen_thread *ft = &fz->threads[i];
      if ((ft->tid == fz->leader) != (pass == 1)) continue;
      if ((r = wait_stop(fz, ft)) < 0 && rc == 0) {
        rc = r;
        if (r == -ETIMEDOUT) note_timeout(t, taskfd, ft->tid);
      }
    }
  return rc;
}

/* One pass over task/: seize threads not seen before; returns how many. */
static int scan (struct pss_target *t, struct pss_freeze *fz, int taskfd) {
  pid_t *tids = NULL;
  size_t n = 0, i, k, first = fz->n;
  int rc = pss_list_numbers(taskfd, &tids, &n), added = 0, r;
  /* the new ones first, so that their room is made before any seize */
  for (i = k = 0; rc >= 0 && i < n; i++)
    if (find(fz, tids[i]) == NULL) tids[k++] = tids[i];
  if (rc >= 0) rc = reserve(fz, k);
  for (i = 0; rc >= 0 && i < k; i++) {
    char before;
    r = seize(t, taskfd, tids[i], &before);
    if (r < 0) rc = r;
    else if (r == 0) { record(fz, tids[i], before); added++; }
  }
  free(tids);
  /* wait after seizing them all: the stops happen in parallel */
  if ((r = wait_seized(t, taskfd, fz, first)) < 0 && rc >= 0) rc = r;
  if (fz->n > 1) qsort(fz->threads, fz->n, sizeof *fz->threads, cmp_thread);
  fz->sorted = fz->n;
  return rc < 0 ? rc : added;
}

/* Whether the target is our own child (its stat's ppid is us). */
int pss_is_own_child (struct pss_target *t) {
  struct pss_stat st;
  ssize_t n = pss_read_record(t, t->dirfd, "stat");
  return n > 0 && pss_parse_stat(t->scratch, (size_t)n, &st) == 0 && st.ppid == getpid();
}

/*
** Run by the calling thread while the tracer thread is late: collects the
** end of every thread of the target that died traced by us. A thread that
** calls execve kills the others and waits, holding the target's
** cred_guard_mutex, until each is collected -- while our tracer thread may
** be blocked in PTRACE_SEIZE on that very mutex: a deadlock only another
** thread of this process can break, since any of them may collect our
** tracees' ends. Never the main thread of our own child (its end is the
** caller's); a stop report is left alone (peeked first).
*/
void pss_freeze_rescue (pid_t pid, int own_child) {
  pid_t *tids = NULL;
  size_t n = 0, i;
  int taskfd;
  if ((taskfd = pss_proc_open(pid, "task", O_RDONLY | O_DIRECTORY)) < 0) return;
  if (pss_list_numbers(taskfd, &tids, &n) < 0) n = 0;
  close(taskfd);
  for (i = 0; i < n; i++) {
    siginfo_t si;
    int status;
    if (tids[i] == pid && own_child) continue;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)tids[i], &si, WEXITED | __WALL | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == tids[i] &&
        (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED))
      (void)waitpid(tids[i], &status, __WALL | WNOHANG);
  }
  free(tids);
}

int pss_freeze (struct pss_target *t, struct pss_freeze *fz) {
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0, pass;
  memset(fz, 0, sizeof *fz);
  fz->leader = t->pid;
  fz->own_child = t->own_child;
  if (taskfd < 0) return errno == ENOENT ? -ESRCH : -errno;
  fz->started_us = pss_now_us();
  fz->deadline = pss_deadline();
  for (pass = 0; pass < MAX_SCANS; pass++)
    if ((rc = scan(t, fz, taskfd)) <= 0) break;
  close(taskfd);
  if (rc < 0) {
    pss_thaw(fz);
    return rc;
  }
  return 0;
}

/*
** Collects the end of a traced thread that has died, which releases it
** (a traced thread's exit holds up its process until its tracer takes
** it); the process's own exit when we are its parent is the caller's.
*/
static void reap (const struct pss_freeze *fz, struct frozen_thread *ft, uint64_t deadline) {
  struct pss_stop st;
  int flags = PSS_WAIT_END | (own_child_leader(fz, ft->tid) ? PSS_WAIT_KEEP_EXIT : 0);
  if (pss_tracee_wait(ft->tid, flags, deadline, &st) == 0 && !st.held) ft->state = THREAD_GONE;
}

/*
** Lets go of a stopped thread, handing back the signal it held. A signal
** PTRACE_DETACH refuses is not lost for that: the thread is let go
** without it. ESRCH: the thread is no longer in a stop -- dying (it is
** collected below) or running again (the injection's thread, past the
** deadline): the tracer thread's exit lets go of that one.
*/
static void detach (struct frozen_thread *ft) {
  if (ptrace(PTRACE_DETACH, ft->tid, NULL, (void *)(uintptr_t)ft->pending_signal) == 0 ||
      (errno != ESRCH && ptrace(PTRACE_DETACH, ft->tid, NULL, NULL) == 0))
    ft->state = THREAD_GONE;
  else if (errno == ESRCH) ft->state = pss_tracee_dead(ft->tid) ? THREAD_DEAD : THREAD_RUNNING;
}

/*
** Detaches every seized thread once. A thread still running (it never
** stopped before the deadline) gets one last look. A thread that died
** while frozen cannot be detached: it stays a zombie traced by us, and
** holds up its whole process, until we collect its exit -- so we do, the
** other threads first: a main thread's exit report waits for the rest.
** All of it within one wait limit. What is left (unreleased) is let go by
** the kernel when the tracer thread exits.
*/
void pss_thaw (struct pss_freeze *fz) {
  uint64_t deadline = pss_deadline();
  size_t i;
  if (fz == NULL || fz->threads == NULL) return;
  for (i = 0; i < fz->n; i++) {
    struct frozen_thread *ft = &fz->threads[i];
    if (ft->state == THREAD_RUNNING) (void)wait_stop(fz, ft);
    if (ft->state == THREAD_STOPPED) detach(ft);
  }
  for (i = 0; i < fz->n; i++)
    if (fz->threads[i].state == THREAD_DEAD && fz->threads[i].tid != fz->leader)
      reap(fz, &fz->threads[i], deadline);
  for (i = 0; i < fz->n; i++)
    if (fz->threads[i].state == THREAD_DEAD) reap(fz, &fz->threads[i], deadline);
  fz->unreleased = 0;
  for (i = 0; i < fz->n; i++) fz->unreleased += fz->threads[i].state != THREAD_GONE;
  fz->frozen_us = pss_now_us() - fz->started_us;
  free(fz->threads);
  fz->threads = NULL;
  fz->count = fz->n;
  fz->n = fz->cap = fz->sorted = 0;
}

int pss_frozen (const struct pss_freeze *fz, pid_t tid) {
  const struct frozen_thread *ft = find(fz, tid);
  return ft != NULL && ft->state == THREAD_STOPPED;
}

/*
** The thread to inject system calls into: one in a plain ptrace stop with
** no signal held for it, the main thread first; a thread in a job-control
** stop only if there is no other. 0 if none.
*/
pid_t pss_freeze_injector (const struct pss_freeze *fz) {
  size_t i, pass;
  const struct frozen_thread *ft = find(fz, fz->leader);
  if (ft != NULL && ft->state == THREAD_STOPPED && !ft->pending_signal && !ft->group_stopped)
    return ft->tid;
  for (pass = 0; pass < 2; pass++)
    for (i = 0; i < fz->n; i++) {
      ft = &fz->threads[i];
      if (ft->state == THREAD_STOPPED && !ft->pending_signal && ft->group_stopped == (int)pass)
        return ft->tid;
    }
  return 0;
}

/* The i-th frozen thread's tid, 0 if it is not stopped (gone). */
pid_t pss_freeze_thread (const struct pss_freeze *fz, size_t i) {
  return i < fz->n && fz->threads[i].state == THREAD_STOPPED ? fz->threads[i].tid : 0;
}

/* A thread's state letter as found before the freeze; 0 if not frozen. */
char pss_state_before (const struct pss_freeze *fz, pid_t tid) {
  const struct frozen_thread *ft = fz != NULL ? find(fz, tid) : NULL;
  return ft != NULL ? ft->before : 0;
}
