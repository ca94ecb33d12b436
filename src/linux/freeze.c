/*
** freeze.c -- stopping every thread of the target for the capture, and
** reading their registers.
**
** PTRACE_SEIZE (no options: nothing the target does is reported or
** changed) then PTRACE_INTERRUPT on every thread, then a wait with __WALL
** for each stop; /proc/PID/task is scanned again until a pass finds no new
** thread. Thawing detaches every thread exactly once.
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
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>

#include "internal.h"
#include "procfs.h"

#define MAX_SCANS 64            /* passes over task/ until no new thread */

enum { THREAD_RUNNING, THREAD_STOPPED, THREAD_GONE };

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

static struct frozen_thread *find (const struct pss_freeze *fz, pid_t tid) {
  struct frozen_thread key;
  key.tid = tid;
  return fz->n ? bsearch(&key, fz->threads, fz->n, sizeof key, cmp_thread) : NULL;
}

static int add_thread (struct pss_freeze *fz, pid_t tid, char before) {
  if (fz->n == fz->cap) {
    size_t cap = fz->cap ? fz->cap * 2 : 64;
    struct frozen_thread *grown = realloc(fz->threads, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    fz->threads = grown;
    fz->cap = cap;
  }
  fz->threads[fz->n].tid = tid;
  fz->threads[fz->n].before = before;
  fz->threads[fz->n].state = THREAD_RUNNING;
  fz->threads[fz->n].pending_signal = 0;
  fz->threads[fz->n].group_stopped = 0;
  fz->n++;
  return 0;
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
** Why a SEIZE was refused: another tracer holds the thread (a debugger:
** -EBUSY), the thread is a zombie or gone (skip: 1), or we have no right.
*/
static int seize_refused (struct pss_target *t, int taskfd, pid_t tid) {
  char path[32];
  ssize_t n;
  const char *tracer;
  char state = thread_state(t, taskfd, tid);
  long pid;
  if (state == 0 || state == 'Z' || state == 'X') return 1;
  snprintf(path, sizeof path, "%d/status", (int)tid);
  n = pss_read_record(t, taskfd, path);
  tracer = n > 0 ? strstr(t->scratch, "\nTracerPid:") : NULL;
  pid = tracer != NULL ? strtol(tracer + 11, NULL, 10) : 0;
  if (pid != 0 && pid != (long)getpid()) return -EBUSY;
  return -EPERM;
}

/*
** Seizes and interrupts one thread, noting its state before (a frozen
** thread reads 't'); 1 if it is gone or a zombie.
*/
static int seize (struct pss_target *t, int taskfd, pid_t tid, char *before) {
  int attempt;
  *before = thread_state(t, taskfd, tid);
  if (*before == 0 || *before == 'Z' || *before == 'X') return 1;
  /* a tracer that let go between the refusal and the look at TracerPid
  ** (another capture ending) is no reason to fail: try again */
  for (attempt = 0; ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0; attempt++) {
    int why;
    if (errno == ESRCH) return 1;
    if (errno != EPERM) return -errno;
    why = seize_refused(t, taskfd, tid);
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
** Records the kind of stop a status (or a siginfo) shows. A thread whose
** stop is a group-stop was stopped by job control: 'T', even if its state
** was read a moment before while it was getting back into that stop (as
** right after an earlier capture detached it).
*/
static void stopped_by (struct frozen_thread *ft, int sig, int event_stop) {
  ft->state = THREAD_STOPPED;
  if (event_stop)
    ft->group_stopped = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
  else ft->pending_signal = sig;   /* a signal on its way in: kept for PTRACE_DETACH */
  if (ft->group_stopped) ft->before = 'T';
}

/*
** Whether a seized thread is in a ptrace stop, asked of the thread itself:
** PTRACE_GETSIGINFO works only then. Needed because the stop's wait report
** may be taken by someone else -- another thread of this process waiting
** for the target when the target is our own child (a reaper thread, a
** SIGCHLD handler calling waitpid(-1)) receives our tracees' stops too.
*/
static int already_stopped (struct frozen_thread *ft) {
  siginfo_t si;
  if (ptrace(PTRACE_GETSIGINFO, ft->tid, NULL, &si) == 0) {
    int event_stop = si.si_code == (SIGTRAP | PTRACE_EVENT_STOP << 8);
    stopped_by(ft, event_stop ? SIGTRAP : si.si_signo, event_stop);
    return 1;
  }
  if (errno == EINVAL) {          /* a group-stop has no siginfo */
    stopped_by(ft, SIGSTOP, 1);
    return 1;
  }
  return 0;
}

/*
** Collects the exit of a traced thread -- but never the exit of the whole
** process when we are its real parent too: that status belongs to the
** caller's own wait for its child. (For a process that is not our child,
** collecting it is the ptrace release the real parent waits for.)
*/
static void collect_exit (struct frozen_thread *ft, int keep_exit) {
  int status;
  if (!keep_exit)
    while (waitpid(ft->tid, &status, __WALL | WNOHANG) < 0 && errno == EINTR) ;
  ft->state = THREAD_GONE;
}

/*
** Waits for the stop of one seized thread: its wait report (peeked first,
** so that an exit is not taken by mistake), or, when none comes, the
** thread found stopped. A thread in uninterruptible sleep stops only when
** it leaves it; the wait lasts until then.
*/
static int wait_stop (struct frozen_thread *ft, int keep_exit) {
  struct timespec pause = { 0, 20000 };
  int status;
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)ft->tid, &si, WEXITED | WSTOPPED | __WALL | WNOHANG | WNOWAIT) < 0) {
      if (errno == EINTR) continue;
      ft->state = THREAD_GONE;
      return errno == ECHILD ? 0 : -errno;
    }
    if (si.si_pid == ft->tid &&
        (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)) {
      collect_exit(ft, keep_exit);
      return 0;
    }
    if (si.si_pid == ft->tid && waitpid(ft->tid, &status, __WALL | WNOHANG) == ft->tid &&
        WIFSTOPPED(status)) {
      stopped_by(ft, WSTOPSIG(status), (status >> 16) == PTRACE_EVENT_STOP);
      return 0;
    }
    if (already_stopped(ft)) return 0;
    nanosleep(&pause, NULL);
    if (pause.tv_nsec < 1000000) pause.tv_nsec *= 2;
  }
}

/* Whether tid is the main thread of a process that is our own child. */
static int own_child_leader (const struct pss_freeze *fz, pid_t tid) {
  return tid == fz->leader && fz->own_child;
}

/*
** Waits for the threads [first, n) just seized -- every one of them, even
** after an error, since a seized thread that is not waited for would stop
** later with nobody to detach it. The main thread comes last: if the
** process is exiting, its report waits until the other threads are reaped.
*/
static int wait_seized (struct pss_freeze *fz, size_t first, pid_t leader) {
  size_t i;
  int rc = 0, r;
  for (i = first; i < fz->n; i++)
    if (fz->threads[i].tid != leader && (r = wait_stop(&fz->threads[i], 0)) < 0 && rc == 0) rc = r;
  for (i = first; i < fz->n; i++)
    if (fz->threads[i].tid == leader &&
        (r = wait_stop(&fz->threads[i], own_child_leader(fz, leader))) < 0 && rc == 0)
      rc = r;
  return rc;
}

/* One pass over task/: seize threads not seen before; returns how many. */
static int scan (struct pss_target *t, struct pss_freeze *fz, int taskfd) {
  pid_t *tids = NULL;
  size_t n = 0, i, first = fz->n;
  int rc = pss_list_numbers(taskfd, &tids, &n), added = 0, r;
  for (i = 0; rc >= 0 && i < n; i++) {
    char before;
    if (find(fz, tids[i]) != NULL) continue;
    r = seize(t, taskfd, tids[i], &before);
    if (r < 0) rc = r;
    else if (r == 0 && (rc = add_thread(fz, tids[i], before)) == 0) added++;
  }
  free(tids);
  /* wait after seizing them all: the stops happen in parallel */
  if ((r = wait_seized(fz, first, t->pid)) < 0 && rc >= 0) rc = r;
  if (fz->n > 1) qsort(fz->threads, fz->n, sizeof *fz->threads, cmp_thread);
  return rc < 0 ? rc : added;
}

/* Whether the target is our own child (its stat's ppid is us). */
static int is_own_child (struct pss_target *t) {
  struct pss_stat st;
  ssize_t n = pss_read_record(t, t->dirfd, "stat");
  return n > 0 && pss_parse_stat(t->scratch, (size_t)n, &st) == 0 && st.ppid == getpid();
}

static uint64_t now_us (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

int pss_freeze (struct pss_target *t, struct pss_freeze *fz) {
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0, pass;
  memset(fz, 0, sizeof *fz);
  fz->leader = t->pid;
  fz->own_child = is_own_child(t);
  if (taskfd < 0) return errno == ENOENT ? -ESRCH : -errno;
  fz->started_us = now_us();
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
** Collects the exit report of a traced thread that is dying (blocking: it
** is already on its way out), except the process's own exit when we are
** its parent (see collect_exit).
*/
static void reap (const struct pss_freeze *fz, struct frozen_thread *ft) {
  int status;
  siginfo_t si;
  if (own_child_leader(fz, ft->tid)) {
    while (waitid(P_PID, (id_t)ft->tid, &si, WEXITED | __WALL | WNOWAIT) < 0 && errno == EINTR) ;
  }
  else while (waitpid(ft->tid, &status, __WALL) < 0 && errno == EINTR) ;
  ft->state = THREAD_GONE;
}

/*
** Detaches every seized thread once, handing back any signal it held.
** A thread killed while frozen cannot be detached (ESRCH: it is dying):
** it stays a zombie traced by us, and holds up its whole process, until we
** collect its exit -- so we do, blocking (it is already dying), the other
** threads first: a main thread's exit report waits for the rest.
*/
void pss_thaw (struct pss_freeze *fz) {
  size_t i;
  if (fz == NULL || fz->threads == NULL) return;
  for (i = 0; i < fz->n; i++) {
    struct frozen_thread *ft = &fz->threads[i];
    if (ft->state == THREAD_RUNNING) wait_stop(ft, own_child_leader(fz, ft->tid));
    if (ft->state == THREAD_GONE) continue;
    if (ptrace(PTRACE_DETACH, ft->tid, NULL, (void *)(uintptr_t)ft->pending_signal) == 0 ||
        errno != ESRCH)
      ft->state = THREAD_GONE;          /* detached: nothing more to do */
  }
  for (i = 0; i < fz->n; i++)
    if (fz->threads[i].state != THREAD_GONE && fz->threads[i].tid != fz->leader)
      reap(fz, &fz->threads[i]);
  for (i = 0; i < fz->n; i++)
    if (fz->threads[i].state != THREAD_GONE) reap(fz, &fz->threads[i]);
  fz->frozen_us = now_us() - fz->started_us;
  free(fz->threads);
  fz->threads = NULL;
  fz->count = fz->n;
  fz->n = fz->cap = 0;
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


/*
** Either kind of freeze. For the calling process, the calling thread is
** not stopped (it runs the capture): its registers are taken at the call
** (t->regs, filled by the caller) and its state is 'R'.
*/
const struct pss_registers *pss_target_registers (struct pss_target *t, pid_t tid, int fp,
                                                  int xstate, int *err) {
  char before;
  *err = 0;
  if (t->freeze != NULL) {
    if (!pss_frozen(t->freeze, tid)) return NULL;
    if ((*err = pss_thread_registers(tid, t->regs, fp, xstate)) < 0) return NULL;
    return t->regs;
  }
  if (t->self_freeze == NULL) return NULL;
  if (tid == (pid_t)syscall(SYS_gettid)) return t->regs;
  return pss_self_registers(t->self_freeze, tid, &before);
}

char pss_target_state_before (const struct pss_target *t, pid_t tid) {
  char before = 0;
  if (t->freeze != NULL) return pss_state_before(t->freeze, tid);
  if (t->self_freeze == NULL) return 0;
  if (tid == (pid_t)syscall(SYS_gettid)) return 'R';
  return pss_self_registers(t->self_freeze, tid, &before) != NULL ? before : 0;
}

/* {======================================================================
** Registers
** ======================================================================= */
#if defined(__x86_64__)
#include <stddef.h>
#include <sys/user.h>

int pss_thread_registers (pid_t tid, struct pss_registers *r, int want_fp, int want_xstate) {
  struct iovec iov = { &r->gp, sizeof r->gp };
  memset(r, 0, offsetof(struct pss_registers, xstate));
  r->xstate_len = 0;
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) return -errno;
  if (want_fp) {
    iov.iov_base = r->fp;
    iov.iov_len = sizeof r->fp;
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0) return -errno;
    r->have_fp = 1;
  }
  if (want_xstate) {
    iov.iov_base = r->xstate;
    iov.iov_len = sizeof r->xstate;
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0)
      r->xstate_len = iov.iov_len;
  }
  return 0;
}

/* Debug registers live in struct user, read one word at a time. */
static UINT64 debug_register (pid_t tid, int i) {
  long v;
  errno = 0;
  v = ptrace(PTRACE_PEEKUSER, tid,
             (void *)(offsetof(struct user, u_debugreg) + (size_t)i * sizeof(long)), NULL);
  return errno ? 0 : (UINT64)v;
}

/*
** The Windows x64 CONTEXT from Linux's registers, filling what `flags`
** asks for (CONTEXT_CONTROL, _INTEGER, _SEGMENTS, _FLOATING_POINT,
** _DEBUG_REGISTERS); ContextFlags says what was filled.
*/
void pss_fill_context (CONTEXT *c, const struct pss_registers *r, pid_t tid, DWORD flags) {
  const struct user_regs_struct *g = (const struct user_regs_struct *)(const void *)r->gp;
  memset(c, 0, sizeof *c);
  c->ContextFlags = CONTEXT_AMD64;
  if ((flags & CONTEXT_CONTROL) == CONTEXT_CONTROL) {
    c->SegCs = (WORD)g->cs; c->SegSs = (WORD)g->ss;
    c->Rsp = g->rsp; c->Rip = g->rip; c->EFlags = (DWORD)g->eflags;
    c->ContextFlags |= CONTEXT_CONTROL;
  }
  if ((flags & CONTEXT_INTEGER) == CONTEXT_INTEGER) {
    c->Rax = g->rax; c->Rcx = g->rcx; c->Rdx = g->rdx; c->Rbx = g->rbx;
    c->Rbp = g->rbp; c->Rsi = g->rsi; c->Rdi = g->rdi;
    c->R8 = g->r8; c->R9 = g->r9; c->R10 = g->r10; c->R11 = g->r11;
    c->R12 = g->r12; c->R13 = g->r13; c->R14 = g->r14; c->R15 = g->r15;
    c->ContextFlags |= CONTEXT_INTEGER;
  }
  if ((flags & CONTEXT_SEGMENTS) == CONTEXT_SEGMENTS) {
    c->SegDs = (WORD)g->ds; c->SegEs = (WORD)g->es; c->SegFs = (WORD)g->fs; c->SegGs = (WORD)g->gs;
    c->ContextFlags |= CONTEXT_SEGMENTS;
  }
  if ((flags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT && r->have_fp) {
    memcpy(&c->FltSave, r->fp, sizeof c->FltSave);
    c->MxCsr = c->FltSave.MxCsr;
    c->ContextFlags |= CONTEXT_FLOATING_POINT;
  }
  if ((flags & CONTEXT_DEBUG_REGISTERS) == CONTEXT_DEBUG_REGISTERS) {
    c->Dr0 = debug_register(tid, 0); c->Dr1 = debug_register(tid, 1);
    c->Dr2 = debug_register(tid, 2); c->Dr3 = debug_register(tid, 3);
    c->Dr6 = debug_register(tid, 6); c->Dr7 = debug_register(tid, 7);
    c->ContextFlags |= CONTEXT_DEBUG_REGISTERS;
  }
  if ((flags & CONTEXT_XSTATE) == CONTEXT_XSTATE && r->xstate_len > 0)
    c->ContextFlags |= CONTEXT_XSTATE;
}

uint64_t pss_registers_fs_base (const struct pss_registers *r) {
  return ((const struct user_regs_struct *)(const void *)r->gp)->fs_base;
}
#else
int pss_thread_registers (pid_t tid, struct pss_registers *r, int want_fp, int want_xstate) {
  (void)tid; (void)r; (void)want_fp; (void)want_xstate;
  return -EOPNOTSUPP;
}

uint64_t pss_registers_fs_base (const struct pss_registers *r) {
  (void)r;
  return 0;
}
#endif
/* }====================================================================== */
