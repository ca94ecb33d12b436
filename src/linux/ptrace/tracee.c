/*
** tracee.c -- waiting for a tracee's next stop or end, in a way that no
** wait of the caller can take from us, and never past a deadline.
**
** Every thread of a process sees the wait reports of every tracee of any
** of its threads: a host's SIGCHLD handler calling waitpid(-1, WNOHANG),
** or a thread blocked in waitpid(-1), takes the stop reports meant for us.
** A blocking waitpid(tracee) would then sleep forever, with the tracee
** stopped. So a wait here never blocks: it asks the tracee itself --
** PTRACE_GETSIGINFO answers only while it is in a ptrace stop, and tells
** which stop -- takes the stop's report if it is still there, and asks
** waitid (WNOWAIT first) and /proc whether it has ended. Between looks it
** yields, then sleeps a little longer each time, until the deadline.
**
** A report taken by someone else costs nothing but its exit status: the
** stop itself stays until we resume the tracee, and a tracee whose exit
** was collected elsewhere is no longer ours (ECHILD).
*/
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#define BUSY_US 100              /* looks with only a yield between them for 0.1 ms, */
#define QUICK_US 2000            /* then naps of 10 us between looks up to 2 ms ... */
#define SHORT_NAP_NS 10000L
#define LAST_NAP_NS 1000000L     /* ... then doubling up to 1 ms */

static atomic_uint wait_limit_ms = 5000;

PSS_EXPORT DWORD PssLinuxSetWaitLimit (DWORD Milliseconds) {
  if (Milliseconds == 0) return atomic_load(&wait_limit_ms);
  return atomic_exchange(&wait_limit_ms, Milliseconds);
}

uint64_t pss_now_us (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t pss_deadline (void) {
  return pss_now_us() + (uint64_t)atomic_load(&wait_limit_ms) * 1000u;
}

unsigned pss_wait_limit_ms (void) {
  return atomic_load(&wait_limit_ms);
}

/*
** The stop siginfo describes: a system-call stop has si_code
** SIGTRAP|0x80 (PTRACE_O_TRACESYSGOOD); an event stop, si_signo | event
** << 8 (the interrupt stop SIGTRAP, a group-stop its stop signal, under
** PTRACE_SEIZE); anything else is a signal on its way in.
*/
static void stop_from_siginfo (struct pss_stop *st, const siginfo_t *si) {
  st->kind = PSS_STOP_TRAP;
  st->event = 0;
  if (si->si_signo == SIGTRAP && si->si_code == (SIGTRAP | 0x80)) st->sig = SIGTRAP | 0x80;
  else if (si->si_code > 0xff && (si->si_code & 0xff) == si->si_signo) {
    st->sig = si->si_signo;
    st->event = si->si_code >> 8;
  }
  else st->sig = si->si_signo;
}

/* Whether the thread has died (a zombie, or gone): its stat says. */
int pss_tracee_dead (pid_t tid) {
  char path[48], text[1024];
  struct pss_stat st;
  ssize_t n;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
  if ((n = pss_proc_read(AT_FDCWD, path, text, sizeof text)) <= 0) return n == 0 || n == -ESRCH;
  return pss_parse_stat(text, (size_t)n, &st) == 0 && (st.state == 'Z' || st.state == 'X');
}

/*
** Takes the stop's wait report, so that no wait of the caller meets it
** later; WSTOPPED only: an exit can never be taken by this. Its status is
** the stop's own code (the signal, with the event in bits 8-15, or
** SIGTRAP|0x80 for a system call): what the kernel says, where the
** siginfo of a signal-delivery stop is whatever its sender made it.
** 1 with *st filled if there was one.
*/
static int take_stop_report (pid_t tid, struct pss_stop *st) {
  siginfo_t taken;
  memset(&taken, 0, sizeof taken);
  while (waitid(P_PID, (id_t)tid, &taken, WSTOPPED | __WALL | WNOHANG) < 0 && errno == EINTR) {}
  if (taken.si_pid != tid || (taken.si_code != CLD_TRAPPED && taken.si_code != CLD_STOPPED))
    return 0;
  st->kind = PSS_STOP_TRAP;
  st->sig = taken.si_status & 0xff;
  st->event = (taken.si_status >> 8) & 0xff;
  return 1;
}

/*
** Whether the tracee has ended: its exit report (collected unless
** PSS_WAIT_KEEP_EXIT: the end of our own child is its parent's), no
** report because someone else collected it (ECHILD: it is no longer
** ours), or a zombie whose report is held back (a main thread that exited
** before the others). A tracee's stop is reported even to a wait for
** exits only, so the peek says which it saw; once it saw an exit, the
** tracee is a zombie and has no other report to take by mistake.
*/
static int ended (pid_t tid, int flags, struct pss_stop *st) {
  siginfo_t si;
  int status, dead = pss_tracee_dead(tid);    /* first: a zombie's report comes with it */
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)tid, &si, WEXITED | __WALL | WNOHANG | WNOWAIT) < 0) {
    if (errno == EINTR) return 0;
    if (errno != ECHILD) return -errno;
  }
  else if (si.si_pid == tid &&
           (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)) {
    if (!(flags & PSS_WAIT_KEEP_EXIT) && waitpid(tid, &status, __WALL | WNOHANG) == tid)
      st->status = status;
  }
  else if (si.si_pid == tid || !dead) return 0;   /* a stop (the next look sees it), or alive */
  else st->held = 1;                 /* a zombie whose end is not reported yet: still ours */
  st->kind = PSS_STOP_EXITED;
  return 1;
}

/*
** One look: 1 with *st filled when the tracee is in a ptrace stop or has
** ended, 0 while it runs, or -errno. The stop's report says which stop it
** is; when another wait took the report, PTRACE_GETSIGINFO (which answers
** only in a ptrace stop) says it. Whether it ended costs more, and is
** asked only when `full`.
*/
static int look (pid_t tid, int flags, int full, struct pss_stop *st) {
  siginfo_t si;
  memset(st, 0, sizeof *st);
  st->status = -1;
  if (take_stop_report(tid, st)) return 1;
  if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) == 0) {
    stop_from_siginfo(st, &si);
    return 1;
  }
  if (errno == EINVAL) {           /* a group-stop without siginfo */
    st->kind = PSS_STOP_TRAP;
    st->sig = SIGSTOP;
    st->event = PTRACE_EVENT_STOP;
    return 1;
  }
  if (errno != ESRCH) return -errno;
  return full ? ended(tid, flags, st) : 0;
}

/*
** Most stops come within microseconds of the resume (a system call's
** entry, a clone event), and the target is paused while we wait. So the
** first 0.1 ms are spent looking with only a yield in between (the
** tracee, just woken, may be queued on our own CPU); then for up to 2 ms
** the waits nap 10 us between looks, then longer each time. Naps, not
** more yields: on a busy machine a yield can queue us behind every other
** task, while a thread that wakes from a short sleep runs soon. A full
** look (has it ended?) costs more: every 8th time. (The tracer thread's
** timer slack is 1 ns, so a nap is as long as asked.)
*/
int pss_tracee_wait (pid_t tid, int flags, uint64_t deadline, struct pss_stop *st) {
  struct timespec nap = { 0, SHORT_NAP_NS };
  uint64_t start = pss_now_us(), now;
  unsigned round;
  int r;
  for (round = 0; ; round++) {
    r = look(tid, flags, round % 8 == 7, st);
    if (r < 0) return r;
    /* PSS_WAIT_END: a stop on the way to the end (a killed tracee leaves
    ** any stop it was in) is no answer */
    if (r > 0 && (st->kind == PSS_STOP_EXITED || !(flags & PSS_WAIT_END))) return 0;
    if ((now = pss_now_us()) >= deadline) return -ETIMEDOUT;
    if (now - start < BUSY_US) {
      sched_yield();
      continue;
    }
    nanosleep(&nap, NULL);
    if (now - start >= QUICK_US && nap.tv_nsec < LAST_NAP_NS) nap.tv_nsec *= 2;
  }
}

/*
** Collects the end of a tracee or child that was killed: it is dying, so
** this is short; a report someone else took is the end of it too.
*/
void pss_tracee_collect (pid_t pid) {
  struct pss_stop st;
  if (pss_tracee_wait(pid, PSS_WAIT_END, pss_deadline(), &st) < 0) {
    /* still dying past the limit: it is dead to us, and its parent (or
    ** the kernel, when our thread exits) takes it */
  }
}
