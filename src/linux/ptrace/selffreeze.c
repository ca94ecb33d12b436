/*
** selffreeze.c -- thread contexts of the calling process.
**
** A process cannot ptrace its own threads. For a capture of the calling
** process with thread contexts, a helper child seizes every other thread
** of the caller, reads their registers into shared memory, reports, and
** waits; the caller gathers the snapshot meanwhile, takes its own registers
** at the call (pss_own_registers, ptrace/ARCH/regs.c), then lets the
** helper detach them and exit.
**
** - The helper is a raw clone with no exit signal: the caller's SIGCHLD
**   handler and wait(-1) never see it; the caller reaps it with __WALL.
** - Between clone and exit the helper makes system calls only (no malloc,
**   no stdio, no locks another thread of the caller might have held).
** - If either side dies, the pipes close and the other goes on: a dead
**   helper's tracees are detached by the kernel; an orphaned helper sees
**   EOF and detaches everything itself.
** - Under Yama ptrace_scope 1 the caller names the helper its ptracer
**   (PR_SET_PTRACER) for the time of the freeze.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"

#define MAX_SCANS 64

struct helper_slot {
  pid_t tid;
  char before;                /* state letter before the freeze */
  int stopped, pending_signal;
  struct pss_registers regs;
};

struct pss_self_freeze {
  pid_t caller, helper;
  uint64_t deadline_ns;       /* CLOCK_MONOTONIC: the helper's waits end there */
  pid_t late;                 /* a thread that did not stop by then */
  int status;                 /* 0, or -errno from the helper */
  int thaw_fd;                /* the caller's end of the thaw pipe */
  int want_fp, want_xstate;
  size_t count, cap;
  size_t map_size;
  struct helper_slot slots[];
};


/* {======================================================================
** The helper (system calls only)
** ======================================================================= */
struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static struct helper_slot *slot_of (struct pss_self_freeze *sf, pid_t tid) {
  size_t i;
  for (i = 0; i < sf->count; i++)
    if (sf->slots[i].tid == tid) return &sf->slots[i];
  return NULL;
}

/* State letter of task TID from its stat text, after the last ')'. */
static char task_state (int taskfd, pid_t tid) {
  char path[24], text[512];
  int i = 0, fd;
  long n, k;
  pid_t v = tid;
  char digits[12];
  do { digits[i++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
  for (k = 0; i > 0; ) path[k++] = digits[--i];
  memcpy(path + k, "/stat", 6);
  if ((fd = (int)syscall(SYS_openat, taskfd, path, O_RDONLY | O_CLOEXEC)) < 0) return 0;
  n = syscall(SYS_read, fd, text, sizeof text);
  syscall(SYS_close, fd);
  for (k = n - 1; k > 0; k--)
    if (text[k] == ')') return k + 2 < n ? text[k + 2] : 0;
  return 0;
}

static uint64_t monotonic_ns (void) {
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Polls (the caller's waits cannot take our reports, but polling is what
** lets the wait end at the deadline: a thread that never stops is left
** to the kernel, which lets go of it when the helper exits). */
static int helper_wait_stop (struct pss_self_freeze *sf, struct helper_slot *s) {
  struct timespec pause = { 0, 20000 };
  siginfo_t si;
  int status;
  for (;;) {
    if (monotonic_ns() >= sf->deadline_ns) {
      sf->late = s->tid;
      return -ETIMEDOUT;
    }
    long r = syscall(SYS_wait4, s->tid, &status, __WALL | WNOHANG, NULL);
    if (r == s->tid && WIFSTOPPED(status)) {
      s->stopped = 1;
      if ((status >> 16) != PTRACE_EVENT_STOP) s->pending_signal = WSTOPSIG(status);
      return 0;
    }
    if (r == s->tid || (r < 0 && errno != EINTR)) return 0;   /* it exited */
    if (syscall(SYS_ptrace, PTRACE_GETSIGINFO, s->tid, NULL, &si) == 0) {
      s->stopped = 1;
      if (si.si_code != (SIGTRAP | PTRACE_EVENT_STOP << 8)) s->pending_signal = si.si_signo;
      return 0;
    }
    if (errno == EINVAL) { s->stopped = 1; return 0; }      /* a group-stop */
    syscall(SYS_nanosleep, &pause, NULL);
    if (pause.tv_nsec < 1000000) pause.tv_nsec *= 2;
  }
}

/* One pass over the caller's task/; returns threads added or -errno. */
static long helper_scan (struct pss_self_freeze *sf, int taskfd) {
  char buf[8192];
  long n, pos, added = 0;
  size_t first = sf->count, i;
  syscall(SYS_lseek, taskfd, 0L, SEEK_SET);
  while ((n = syscall(SYS_getdents64, taskfd, buf, sizeof buf)) > 0)
    for (pos = 0; pos < n; pos += ((struct linux_dirent64 *)(void *)(buf + pos))->d_reclen) {
      const char *name = ((struct linux_dirent64 *)(void *)(buf + pos))->d_name;
      pid_t tid = 0;
      char before;
      for (; *name >= '0' && *name <= '9'; name++) tid = tid * 10 + (*name - '0');
      if (tid <= 0 || tid == sf->caller || slot_of(sf, tid) != NULL) continue;
      if (sf->count == sf->cap) return -ENOMEM;
      before = task_state(taskfd, tid);
      if (before == 0 || before == 'Z' || before == 'X') continue;
      if (syscall(SYS_ptrace, PTRACE_SEIZE, tid, NULL, NULL) < 0) {
        if (errno == ESRCH) continue;
        return errno == EPERM ? -EPERM : -errno;
      }
      syscall(SYS_ptrace, PTRACE_INTERRUPT, tid, NULL, NULL);
      sf->slots[sf->count].tid = tid;
      sf->slots[sf->count].before = before;
      sf->count++;
      added++;
    }
  for (i = first; i < sf->count; i++)
    if (helper_wait_stop(sf, &sf->slots[i]) < 0) added = -ETIMEDOUT;
  return added;
}

static void helper_detach_all (struct pss_self_freeze *sf) {
  size_t i;
  for (i = 0; i < sf->count; i++)
    if (sf->slots[i].stopped)
      syscall(SYS_ptrace, PTRACE_DETACH, sf->slots[i].tid, NULL,
              (void *)(uintptr_t)sf->slots[i].pending_signal);
}

/*
** The helper starts with every signal blocked (the caller blocked them
** around the clone): none of the caller's handlers may run here, and every
** ptrace stop sends this process a SIGCHLD. It gives each signal its
** default action (the caller's dispositions are not shared: no CLONE_SIGHAND),
** and dies with the thread that made it: if an execve in the caller kills
** that thread while we hold the caller's other threads, our end lets the
** execve go on instead of both waiting for each other.
*/
static void helper_signals (void) {
  struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } dfl;
  int sig;
  memset(&dfl, 0, sizeof dfl);
  dfl.handler = SIG_DFL;
  for (sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8L);
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
}

static void helper_main (struct pss_self_freeze *sf, int taskfd, int go, int ready, int thaw) {
  char byte = 0;
  long rc = 0;
  int pass;
  size_t i;
  helper_signals();
  /* the caller has named us its ptracer; EOF: it is gone (its thread was
  ** killed before our PR_SET_PDEATHSIG took effect, an execve closed it) */
  if (syscall(SYS_read, go, &byte, 1L) != 1) syscall(SYS_exit_group, 0);
  for (pass = 0; pass < MAX_SCANS && (rc = helper_scan(sf, taskfd)) > 0; pass++) ;
  for (i = 0; rc >= 0 && i < sf->count; i++)
    if (sf->slots[i].stopped &&
        pss_thread_registers(sf->slots[i].tid, &sf->slots[i].regs, sf->want_fp, sf->want_xstate) < 0)
      sf->slots[i].stopped = 0;              /* killed meanwhile */
  sf->status = rc < 0 ? (int)rc : 0;
  syscall(SYS_sendto, ready, &byte, 1L, (long)MSG_NOSIGNAL, NULL, 0L);
  if (rc >= 0) syscall(SYS_read, thaw, &byte, 1);   /* returns at the thaw or at EOF */
  helper_detach_all(sf);
  syscall(SYS_exit_group, 0);
}
/* }====================================================================== */


/* {======================================================================
** The caller's side
** ======================================================================= */


/* The helper's report that every thread is stopped, within the wait
** limit; a helper that does not answer is killed (the kernel then lets
** go of every thread it seized). */
static int await_ready (struct pss_self_freeze *sf, int ready) {
  struct pollfd p = { ready, POLLIN, 0 };
  char byte;
  for (;;) {
    uint64_t now = pss_now_us(), end = sf->deadline_ns / 1000u + 1000000u;
    int r = poll(&p, 1, now >= end ? 0 : (int)((end - now) / 1000u) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r > 0 && read(ready, &byte, 1) == 1) {
      if (sf->status == -ETIMEDOUT)
        pss_fail_detailf("thread %d of this process did not stop within %u ms", (int)sf->late,
                         pss_wait_limit_ms());
      return sf->status;
    }
    if (r > 0) return -ESRCH;
    kill(sf->helper, SIGKILL);
    pss_fail_detailf("the helper that stops this process's threads did not answer within %u ms",
                     pss_wait_limit_ms());
    return -ETIMEDOUT;
  }
}

/*
** The caller and the helper talk over socket pairs, not pipes: a word to
** a helper that has died (killed past the wait limit) must be an error,
** not a SIGPIPE that kills the caller -- send() can say MSG_NOSIGNAL.
*/
static int channel (int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
}

static int tell (int fd) {
  static const char byte = 1;
  return send(fd, &byte, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static void close_pair (int p[2]) {
  if (p[0] >= 0) close(p[0]);
  if (p[1] >= 0) close(p[1]);
}

int pss_self_freeze (struct pss_target *t, struct pss_self_freeze **out, DWORD context_flags) {
  int go[2] = { -1, -1 }, ready[2] = { -1, -1 }, thaw[2] = { -1, -1 }, rc = 0, yama;
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct pss_self_freeze *sf;
  size_t cap = 2 * 4096, size;
  sigset_t all, old;
  long pid;
  if (taskfd < 0) return -errno;
  size = offsetof(struct pss_self_freeze, slots) + cap * sizeof(struct helper_slot);
  sf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (sf == MAP_FAILED) { close(taskfd); return -ENOMEM; }
  sf->caller = (pid_t)syscall(SYS_gettid);
  sf->cap = cap;
  sf->map_size = size;
  sf->deadline_ns = pss_deadline() * 1000u;
  sf->want_fp = (context_flags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT;
  sf->want_xstate = (context_flags & CONTEXT_XSTATE) == CONTEXT_XSTATE;
  if (channel(go) < 0 || channel(ready) < 0 || channel(thaw) < 0) {
    rc = -errno;
    goto fail;
  }
  /* exit signal 0: invisible to the caller's SIGCHLD and wait(-1); every
  ** signal blocked until the helper has reset their actions */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = syscall(SYS_clone, 0L, NULL, NULL, NULL, NULL);
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) { rc = -errno; goto fail; }
  if (pid == 0) {
    syscall(SYS_close, go[1]); syscall(SYS_close, ready[0]); syscall(SYS_close, thaw[1]);
    helper_main(sf, taskfd, go[0], ready[1], thaw[0]);
  }
  sf->helper = (pid_t)pid;
  sf->thaw_fd = thaw[1];
  close(go[0]); close(ready[1]); close(thaw[0]);
  go[0] = ready[1] = thaw[0] = -1;
  /* Yama ptrace_scope 1 lets only a named ptracer seize a non-descendant */
  yama = pss_yama_scope() == 1;
  if (yama) prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0);
  if (tell(go[1]) < 0) rc = -ESRCH;
  else rc = await_ready(sf, ready[0]);
  if (yama) prctl(PR_SET_PTRACER, 0, 0, 0, 0);
  close(go[1]); close(ready[0]);
  go[1] = ready[0] = -1;
  sf->thaw_fd = thaw[1];
  close(taskfd);
  if (rc < 0) {
    pss_self_thaw(sf);
    return rc;
  }
  *out = sf;
  return 0;
fail:
  close_pair(go); close_pair(ready); close_pair(thaw);
  close(taskfd);
  munmap(sf, size);
  return rc;
}

/* Lets the helper detach every thread and exit, then reaps it; a helper
** that does not end in time is killed (its tracees are then let go by
** the kernel). */
void pss_self_thaw (struct pss_self_freeze *sf) {
  struct pss_stop st;
  if (sf == NULL) return;
  if (tell(sf->thaw_fd) < 0) { /* the helper is gone: nothing to wake */ }
  close(sf->thaw_fd);
  if (pss_tracee_wait(sf->helper, PSS_WAIT_END, pss_deadline(), &st) < 0) {
    kill(sf->helper, SIGKILL);
    pss_tracee_collect(sf->helper);
  }
  munmap(sf, sf->map_size);
}

size_t pss_self_frozen_count (const struct pss_self_freeze *sf) {
  size_t i, n = 0;
  for (i = 0; i < sf->count; i++) n += sf->slots[i].stopped;
  return n;
}

/* The registers and state of a frozen thread of the caller; 0 if not. */
const struct pss_registers *pss_self_registers (const struct pss_self_freeze *sf, pid_t tid,
                                                char *before) {
  size_t i;
  for (i = 0; i < sf->count; i++)
    if (sf->slots[i].tid == tid && sf->slots[i].stopped) {
      *before = sf->slots[i].before;
      return &sf->slots[i].regs;
    }
  return NULL;
}
/* }====================================================================== */
