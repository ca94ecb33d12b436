/*
** inject.c -- the VA clone of another process: while the capture holds it
** frozen, one of its threads runs a stub (ARCH/stub.S) written into
** never-executed padding at the end of an executable mapping. The chain is
**
**   target T --clone(CLONE_VM|CLONE_FILES)--> C1 --clone(CLONE_FILES)--> C2
**
** C1 shares T's memory, so making it costs about as much as a thread; its
** fork C2 copies T's address space (the one real cost of the pause) and
** is the clone. C1 is then killed and the stub in T reaps it with wait4().
** C2's parent is gone, so the kernel hands it to the nearest subreaper or
** init, with SIGCHLD as its exit signal; T never sees it (no SIGCHLD, no
** zombie, invisible to its wait(-1)), and whoever reaps orphans reaps C2
** when it dies. Both clones are made with exit signal 0, so T hears
** nothing of C1 either.
**
** What keeps the target safe if this process dies at any instruction:
** - the stub restores itself: from every point it may be left at, it ends
**   by restoring T's signal mask and registers and jumping back to where T
**   was, reaping C1 first if C1 exists;
** - C1 and C2, untraced, only ever run the stub's child path: C2 unshares
**   and closes its descriptors, both exit at once;
** - once set up, C2 is traced with PTRACE_O_EXITKILL (never the target)
**   and parked on an exit_group system call;
** - T runs the injection with every signal blocked (PTRACE_SETSIGMASK), so
**   no handler ever runs on the stub; signals sent meanwhile stay pending
**   and are delivered after, on T's own context;
** - a thread found inside the stub (left by a capturer that died) is never
**   written under: the capture is refused as busy.
**
** The same means run one system call in a stopped thread (at the end of
** this file), on the stub's second entry, which takes the same way back:
** a snapshot handed to another process is a descriptor its thread makes,
** or closes (file/handoff.c).
**
** This file is the same on every machine: what differs -- the stub, the
** registers it is run with, the system call instruction -- is ARCH/clone.c
** behind ptrace/arch.h.
*/
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/ptrace/seccomp.h"
#include "linux/proc/procfs.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* {======================================================================
** The site: where the stub goes
** ======================================================================= */

#define SITE_SIZE PSS_STUB_SIZE  /* the stub's bytes (ARCH/regs.h), the magic last */
#define SITE_GUARD 32           /* zero bytes before it: the end of real code */
#define STUB_MAGIC "pss-stub"   /* the site's last 8 bytes while a stub is there */

#define C1_FLAGS (CLONE_VM | CLONE_FILES)

/* Writes code into a stopped tracee: /proc/PID/mem writes through the
** page protection (FOLL_FORCE); where the administrator turned that off
** (proc_mem.force_override=never), PTRACE_POKEDATA does it word by word.
** address and n are multiples of 8. */
static int mem_write (int memfd, pid_t pid, uint64_t address, const void *buf, size_t n) {
  size_t i;
  if (memfd >= 0 && pwrite(memfd, buf, n, (off_t)address) == (ssize_t)n) return 0;
  for (i = 0; i < n; i += 8) {
    long word;
    memcpy(&word, (const char *)buf + i, 8);
    if (ptrace(PTRACE_POKEDATA, pid, (void *)(uintptr_t)(address + i), (void *)word) < 0)
      return -errno;
  }
  return 0;
}

struct mapping {
  uint64_t start, end;
  char perms[5];
  int vdso, file;
  int stack;          /* private anonymous memory or [stack]: where a stack may be */
};

/* The next line of maps text as a mapping: 1, 0 at the end, or -1 for a
** line that does not parse (skipped). */
static int next_mapping (const char **text, const char *end, struct mapping *m) {
  struct pss_maps_line ml;
  long used;
  if (*text >= end) return 0;
  memset(m, 0, sizeof *m);
  if ((used = pss_parse_maps_line(*text, (size_t)(end - *text), &ml)) <= 0) {
    *text += pss_skip_line(*text, (size_t)(end - *text));
    return -1;
  }
  *text += used;
  m->start = ml.start;
  m->end = ml.end;
  memcpy(m->perms, ml.perms, 5);
  m->vdso = ml.path_len >= 6 && memcmp(ml.path, "[vdso]", 6) == 0;
  m->file = ml.path_len > 0 && ml.path[0] == '/';
  m->stack = ml.perms[3] == 'p' && ml.inode == 0 &&
             (ml.path_len == 0 || (ml.path_len >= 6 && memcmp(ml.path, "[stack", 6) == 0));
  return 1;
}

/* AT_ENTRY of the target's auxiliary vector, 0 if unknown. */
static uint64_t entry_point (struct pss_target *t) {
  ssize_t n = pss_read_at(t, t->livefd, "auxv"), i;
  for (i = 0; i + 16 <= n; i += 16) {
    uint64_t type, value;
    memcpy(&type, t->scratch + i, 8);
    memcpy(&value, t->scratch + i + 8, 8);
    if (type == 9 /* AT_ENTRY */) return value;
  }
  return 0;
}

struct injection {
  struct pss_target *t;
  pid_t tid;                       /* the thread that runs the stub */
  int memfd;                       /* /proc/PID/mem of the target */
  struct pss_gpregs frozen;        /* its registers as found */
  struct pss_gpregs resume;        /* the same, ready to run again */
  uint64_t mask;                   /* its signal mask as found */
  uint64_t site;                   /* where the stub is written */
  uint64_t parking;                /* a syscall instruction for the parked clone */
  int stub_written, moved, mask_set, options_set;
  int running;                     /* the thread was resumed and has not stopped since */
  int wait_flags;                  /* PSS_WAIT_KEEP_EXIT when it is our own child's main thread */
  uint64_t deadline;               /* every stop of the injection must come before it */
  pid_t c1, c2;                    /* in our pid namespace; 0 if none */
  int c1_ended;                    /* C1 exited by itself and was collected */
  const char *step;                /* who we wait for, for a timeout's detail */
};

/* Whether the site's bytes are free: zeros after zeros, or a stub left by
** a capturer that died (the padding was zeros before it came). */
static int site_free (const unsigned char *b) {
  size_t i;
  for (i = 0; i < SITE_GUARD; i++) if (b[i]) return 0;
  if (!memcmp(b + SITE_GUARD + SITE_SIZE - 8, STUB_MAGIC, 8)) return 1;
  for (i = SITE_GUARD; i < SITE_GUARD + SITE_SIZE; i++) if (b[i]) return 0;
  return 1;
}

static int try_site (struct injection *in, const struct mapping *m) {
  unsigned char b[SITE_GUARD + SITE_SIZE];
  uint64_t at = m->end - SITE_SIZE;
  if (m->perms[0] != 'r' || m->perms[2] != 'x' || m->end - m->start < sizeof b) return 0;
  if (pss_mem_read(in->memfd, in->t->pid, at - SITE_GUARD, b, sizeof b) < 0 || !site_free(b))
    return 0;
  in->site = at;
  return 1;
}

/* A system call instruction in [start, end) of the target, 0 if none. */
static uint64_t find_syscall (struct injection *in, uint64_t start, uint64_t end) {
  unsigned char b[8192];
  size_t n = end - start < sizeof b ? (size_t)(end - start) : sizeof b, i;
  if (pss_mem_read(in->memfd, in->t->pid, start, b, n) < 0) return 0;
  i = pss_syscall_insn(b, n);
  return i < n ? start + i : 0;
}

/* The executable mappings of the target, at most max of them, into list:
** how many, or -errno. With `around`, the mapping that holds the address
** sp too (its end 0 if none): one read of maps, which can be long. */
static ssize_t exec_mappings (struct pss_target *t, struct mapping *list, size_t max, uint64_t sp,
                              struct mapping *around) {
  struct mapping m;
  ssize_t len = pss_read_at(t, t->livefd, "maps");
  const char *p, *end;
  size_t n = 0;
  int r;
  if (len < 0) return len;
  if (around != NULL) memset(around, 0, sizeof *around);
  for (p = t->scratch, end = p + len; (r = next_mapping(&p, end, &m)) != 0; ) {
    if (r > 0 && m.perms[2] == 'x' && n < max) list[n++] = m;
    if (r > 0 && around != NULL && sp >= m.start && sp < m.end) *around = m;
  }
  return (ssize_t)n;
}

/* A syscall instruction of the vDSO (or of a file's mapping): where a
** parked clone waits, and where a lone system call is run. */
static void find_parking (struct injection *in, const struct mapping *list, size_t n) {
  size_t i;
  for (i = 0; i < n && !in->parking; i++)
    if (list[i].vdso) in->parking = find_syscall(in, list[i].start, list[i].end);
  for (i = 0; i < n && !in->parking; i++)
    if (list[i].file) in->parking = find_syscall(in, list[i].start, list[i].end);
}

/*
** The site: the padding at the end of the executable mapping holding the
** program's entry point, else of any other executable mapping. Nobody
** executes padding, so the stub there cannot meet the program's own code.
*/
static int pick_site (struct injection *in, const struct mapping *list, size_t n) {
  uint64_t entry = entry_point(in->t);
  size_t i;
  for (i = 0; i < n && !in->site; i++)
    if (entry >= list[i].start && entry < list[i].end) try_site(in, &list[i]);
  for (i = 0; i < n && !in->site; i++)
    if (list[i].file || list[i].vdso) try_site(in, &list[i]);
  if (!in->site) {
    pss_fail_detail("no executable mapping of the target ends in padding for the injection");
    return -EOPNOTSUPP;
  }
  return 0;
}

/* The clone's site, and its parking place. */
static int find_site (struct injection *in) {
  struct mapping list[512];
  ssize_t n = exec_mappings(in->t, list, sizeof list / sizeof list[0], 0, NULL);
  int rc;
  if (n < 0) return (int)n;
  if ((rc = pick_site(in, list, (size_t)n)) < 0) return rc;
  find_parking(in, list, (size_t)n);
  return in->parking ? 0 : -EOPNOTSUPP;
}

/* A thread stopped inside the site is running a stub left by a capturer
** that died: writing there now would change code under it. */
static int site_in_use (struct injection *in, struct pss_freeze *fz) {
  size_t i;
  for (i = 0; i < fz->n; i++) {
    struct pss_gpregs r;
    pid_t tid = pss_freeze_thread(fz, i);
    uint64_t ip;
    if (tid == 0 || pss_gpregs_get(tid, &r) < 0) continue;
    ip = pss_gpregs_ip(&r);
    if (ip >= in->site && ip < in->site + SITE_SIZE) {
      pss_fail_detail("a thread of the target is still running the stub of an earlier "
                      "capture; try again");
      return -EBUSY;
    }
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Running system calls in a tracee
** ======================================================================= */

enum { STOP_SYSCALL = 1, STOP_CLONE_EVENT = 2 };

/* A flag of run_to_stop, beside the PSS_WAIT_* ones: the tracee is not
** resumed once the deadline is past (-ETIMEDOUT, still stopped). */
#define RESUME_IN_TIME 0x100

/*
** Resumes pid to its next system-call stop or clone event. Stops for job
** control are passed over (PTRACE_SYSCALL overrides them; the kernel puts
** the thread back into the stop at detach); a signal -- only SIGSTOP-like
** ones can come, the rest is blocked -- is passed on as it came. *running
** is 1 while pid runs: a thread that did not come back to a stop cannot be
** touched again.
*/
static int run_to_stop (pid_t pid, int flags, uint64_t deadline, int *running) {
  long sig = 0;
  for (;;) {
    struct pss_stop st;
    int rc;
    if ((flags & RESUME_IN_TIME) && pss_now_us() >= deadline) return -ETIMEDOUT;
    if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)sig) < 0) return -errno;
    sig = 0;
    if (running != NULL) *running = 1;
    if ((rc = pss_tracee_wait(pid, flags & ~RESUME_IN_TIME, deadline, &st)) < 0) return rc;
    if (st.kind == PSS_STOP_EXITED) return -ESRCH;
    if (running != NULL) *running = 0;
    if (st.sig == (SIGTRAP | 0x80)) return STOP_SYSCALL;
    if (st.event == PTRACE_EVENT_CLONE) return STOP_CLONE_EVENT;
    if (st.event == PTRACE_EVENT_STOP) continue;
    if (st.event == 0) sig = st.sig;
  }
}

/* Waits for the first stop of an auto-attached child. */
static int first_stop (pid_t pid, uint64_t deadline) {
  struct pss_stop st;
  int rc = pss_tracee_wait(pid, 0, deadline, &st);
  if (rc < 0) return rc;
  return st.kind == PSS_STOP_TRAP ? 0 : -ESRCH;
}

/*
** Runs the system call the tracee is about to make (its registers are
** set), through its entry and exit stops; *child gets the pid a clone
** event reports. Returns the call's result, or -errno of ptrace.
*/
static int run_syscall (pid_t pid, int flags, uint64_t deadline, int *running, long *result,
                        pid_t *child) {
  struct pss_gpregs r;
  unsigned long msg;
  int rc = run_to_stop(pid, flags, deadline, running);      /* entry */
  if (rc < 0) return rc;
  if ((rc = run_to_stop(pid, flags, deadline, running)) == STOP_CLONE_EVENT) {
    if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg) < 0) return -errno;
    if (child != NULL) *child = (pid_t)msg;
    rc = run_to_stop(pid, flags, deadline, running);         /* exit */
  }
  if (rc < 0) return rc;
  if ((rc = pss_gpregs_get(pid, &r)) < 0) return rc;
  *result = pss_gpregs_result(&r);
  return 0;
}

/* Kills and collects one of the injection's own tracees (C1, C2). */
static void reap_tracee (pid_t pid) {
  kill(pid, SIGKILL);
  pss_tracee_collect(pid);
}
/* }====================================================================== */


/* {======================================================================
** The injection: arm, make C1 and C2, disarm; the clone settled after
** the thaw
** ======================================================================= */

/* T's registers for the clone call at the site: on the stub's first
** instruction, a system call. */
static int call_clone (struct injection *in) {
  static const uint64_t args[] = { C1_FLAGS, 0, 0, 0, 0 };
  struct pss_gpregs r = in->resume;
  pss_gpregs_set_call(&r, in->site, SYS_clone, args, (int)(sizeof args / sizeof args[0]));
  return pss_gpregs_set(in->tid, &r);
}

/* Writes the stub and points the thread at it, every signal blocked. The
** order matters if we die in between: code first, then registers; the
** stub restores the mask itself. */
static int arm (struct injection *in) {
  unsigned char stub[SITE_SIZE];
  uint64_t all = ~(uint64_t)0;
  int rc;
  pss_stub_build(stub, &in->resume, in->mask);
  memcpy(stub + SITE_SIZE - 8, STUB_MAGIC, 8);
  rc = mem_write(in->memfd, in->t->pid, in->site, stub, sizeof stub);
  if (rc < 0) return rc == -ESRCH ? rc : -EPERM;   /* refused, unless the target is gone */
  in->stub_written = 1;
  if (ptrace(PTRACE_SETOPTIONS, in->tid, NULL,
             (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE)) < 0)
    return -errno;
  in->options_set = 1;
  if ((rc = call_clone(in)) < 0) return rc;
  in->moved = 1;
  if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)8, &all) < 0) return -errno;
  in->mask_set = 1;
  return 0;
}

/* The error of a failed clone(), with the reason in words. */
static int clone_refused (long result) {
  switch (result) {
    case -ENOMEM:
      pss_fail_detail("the kernel refused to copy the target's address space "
                      "(the memory overcommit limit, or a cgroup's memory limit)");
      break;
    case -EAGAIN:
      pss_fail_detail("the target may not create a process (pids cgroup limit or RLIMIT_NPROC)");
      break;
    case -EPERM: case -EACCES:
      pss_fail_detail("the target's clone() was refused (seccomp or a security module)");
      break;
    default: break;
  }
  return (int)result;
}

/* T clones itself into C1 (sharing its memory); retried while a job-control
** stop makes the kernel ask for a restart. */
static int make_c1 (struct injection *in) {
  int attempt, rc;
  long result = -513;
  for (attempt = 0; attempt < 8 && result <= -512 && result >= -516; attempt++) {
    if (attempt > 0 && (rc = call_clone(in)) < 0) return rc;
    if ((rc = run_syscall(in->tid, in->wait_flags, in->deadline, &in->running, &result,
                          &in->c1)) < 0)
      return rc;
  }
  if (result < 0) {
    in->c1 = 0;
    return clone_refused(result);
  }
  return in->c1 > 0 ? first_stop(in->c1, in->deadline) : -ESRCH;
}

/*
** Resumes C1 to its clone event: C2's pid. C1 runs without system-call
** stops (each stop is a round trip the target waits for); if its clone
** fails, C1 exits with the errno as its exit code.
*/
static int c1_clones (struct injection *in) {
  long sig = 0;
  for (;;) {
    struct pss_stop st;
    unsigned long msg;
    int rc;
    if (ptrace(PTRACE_CONT, in->c1, NULL, (void *)sig) < 0) return -errno;
    sig = 0;
    if ((rc = pss_tracee_wait(in->c1, 0, in->deadline, &st)) < 0) return rc;
    if (st.kind == PSS_STOP_EXITED) {
      in->c1_ended = 1;
      /* its exit code is the clone's errno -- unless someone else took it */
      return st.status != -1 && WIFEXITED(st.status) && WEXITSTATUS(st.status)
             ? -WEXITSTATUS(st.status) : -ESRCH;
    }
    if (st.event == PTRACE_EVENT_CLONE) {
      if (ptrace(PTRACE_GETEVENTMSG, in->c1, NULL, &msg) < 0) return -errno;
      in->c2 = (pid_t)msg;
      return 0;
    }
    if (st.event == 0 && st.sig != SIGTRAP) sig = st.sig;
  }
}

/* C1 forks C2, the clone, which is bound to us at once: if we die from
** here on, the kernel kills it. */
static int make_c2 (struct injection *in) {
  int rc = c1_clones(in);
  if (rc < 0) { in->c2 = 0; return rc == -ESRCH ? rc : clone_refused(rc); }
  if (in->c2 <= 0 || (rc = first_stop(in->c2, in->deadline)) < 0) return in->c2 <= 0 ? -ESRCH : rc;
  if (ptrace(PTRACE_SETOPTIONS, in->c2, NULL,
             (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) < 0)
    return -errno;
  return 0;
}

/* T's stub reaps C1 (killed by us, reported to us first, then to T). */
static int reap_c1 (struct injection *in) {
  long result;
  if (!in->c1_ended) reap_tracee(in->c1);
  in->c1 = 0;
  return run_syscall(in->tid, in->wait_flags, in->deadline, &in->running, &result, NULL);
}

/*
** Puts T back as it was: mask, registers (those found if it never ran,
** else the restartable ones), options, then the site's bytes -- after the
** registers, so a thread is never in code being rewritten. A thread that
** was resumed and did not stop again (past the deadline) is running the
** stub (either entry): nothing is touched; the stub restores it by itself
** once we let go of it (the thaw, or our tracer thread's exit), and the
** site keeps the stub's magic.
*/
static int disarm (struct injection *in) {
  static const unsigned char zeros[SITE_SIZE];
  int rc = 0, r;
  if (in->running) return -ETIMEDOUT;
  if (in->mask_set && ptrace(PTRACE_SETSIGMASK, in->tid, (void *)8, &in->mask) < 0) rc = -errno;
  if (in->moved && (r = pss_gpregs_set(in->tid, &in->resume)) < 0 && rc == 0) rc = r;
  if (in->options_set && ptrace(PTRACE_SETOPTIONS, in->tid, NULL, NULL) < 0 && rc == 0)
    rc = -errno;
  if (rc == 0 && in->stub_written && mem_write(in->memfd, in->t->pid, in->site, zeros, SITE_SIZE) < 0 &&
      rc == 0)
    rc = -EIO;
  return rc;
}

/* The injecting thread's filters' answer for calls: 0 if a certain yes;
** otherwise -EACCES with the reason (denied: the evaluator's, or `denied`). */
static int seccomp_verdict (struct injection *in, const struct pss_seccomp_call *calls, size_t n,
                            const char *denied) {
  const char *why = NULL;
  int verdict = pss_seccomp_check(in->tid, calls, n, &why);
  if (verdict < 0) return verdict;
  if (verdict == PSS_SECCOMP_ALLOWED) return 0;
  /* the evaluator's reason names the filter's action and the call */
  pss_fail_detail(why != NULL ? why
                  : verdict == PSS_SECCOMP_DENIED
                    ? denied
                    : "the target has seccomp filters pss cannot read (CAP_SYS_ADMIN needed)");
  return -EACCES;
}

/*
** The injecting thread's seccomp filters, asked about every system call
** the stub makes in it and in the clones (they inherit its filters), with
** the stub's own addresses. Anything but a certain yes is a refusal: a
** filter may kill the whole target.
*/
static int seccomp_allows (struct injection *in) {
  const uint64_t ip = in->site + PSS_STUB_CALL_END;
  const struct pss_seccomp_call calls[] = {
    { SYS_clone, PSS_SECCOMP_ARCH_NATIVE, ip, { C1_FLAGS, 0, 0, 0, 0, 0 } },
    { SYS_wait4, PSS_SECCOMP_ARCH_NATIVE, ip, { 1, 0, 0x40000000, 0, 0, 0 } },
    { SYS_rt_sigprocmask, PSS_SECCOMP_ARCH_NATIVE, ip, { SIG_SETMASK, 0, 0, 8, 0, 0 } },
    { SYS_clone, PSS_SECCOMP_ARCH_NATIVE, ip, { CLONE_FILES, 0, 0, 0, 0, 0 } },
    { SYS_close_range, PSS_SECCOMP_ARCH_NATIVE, ip, { 0, ~0u, 2, 0, 0, 0 } },
    { SYS_exit_group, PSS_SECCOMP_ARCH_NATIVE, ip, { 0, 0, 0, 0, 0, 0 } },
  };
  return seccomp_verdict(in, calls, sizeof calls / sizeof calls[0],
                         "the target's seccomp filter forbids a system call the clone needs");
}

/* The thread to run the injection, its registers and signal mask as
** found, and the target's mem file; what for, in words, for a refusal. */
static int take_thread (struct injection *in, struct pss_freeze *fz, const char *what) {
  int rc;
  in->deadline = pss_deadline();
  if ((in->tid = pss_freeze_injector(fz)) == 0) {
    size_t i;
    for (i = 0; i < fz->n && pss_freeze_thread(fz, i) == 0; i++) {}
    if (i == fz->n) return -ESRCH;    /* no thread left: the process has exited */
    pss_fail_detailf("no thread of the target is in a plain stop to %s", what);
    return -EBUSY;
  }
  in->wait_flags = in->tid == fz->leader && fz->own_child ? PSS_WAIT_KEEP_EXIT : 0;
  if ((rc = pss_gpregs_get(in->tid, &in->frozen)) < 0) return rc;
  if ((rc = pss_gpregs_injectable(&in->frozen)) < 0) return rc;
  pss_gpregs_restartable(&in->resume, &in->frozen);
  if (ptrace(PTRACE_GETSIGMASK, in->tid, (void *)8, &in->mask) < 0) return -errno;
  /* /proc/PID/mem writes past the page protection */
  if ((in->memfd = pss_proc_open(in->t->pid, "mem", O_RDWR)) < 0) {
    int gone = in->memfd == -ESRCH;
    in->memfd = -1;
    if (gone) return -ESRCH;
  }
  return 0;
}

static int prepare (struct injection *in, struct pss_freeze *fz) {
  int rc;
  if ((rc = take_thread(in, fz, "make the clone")) < 0) return rc;
  if ((rc = find_site(in)) < 0) return rc;
  if ((rc = site_in_use(in, fz)) < 0) return rc;
  return seccomp_allows(in);
}

static void note_late (const struct injection *in) {
  pss_fail_detailf("%s (pid %d) did not come back within %u ms while the clone was made", in->step,
                   (int)(in->step[4] == 't' ? in->tid : in->c1), pss_wait_limit_ms());
}

int pss_clone_inject (struct pss_target *t, struct pss_freeze *fz, struct pss_clone *c,
                      uint64_t *clone_us) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  struct injection in;
  uint64_t w0 = pss_now_us();
  int rc, undo;
  memset(&in, 0, sizeof in);
  in.t = t;
  in.memfd = -1;
  rc = prepare(&in, fz);
  if (rc == 0) rc = arm(&in);
  in.step = "the target's thread making the clone";
  if (rc == 0) rc = make_c1(&in);
  in.step = "the clone's first process (C1)";
  if (rc == 0) rc = make_c2(&in);
  if (rc == -ETIMEDOUT) note_late(&in);
  if (in.c2 > 0 && rc < 0) { reap_tracee(in.c2); in.c2 = 0; }
  if (in.c1 > 0) {
    int r;
    in.step = "the target's thread collecting C1";
    if ((r = reap_c1(&in)) == -ETIMEDOUT && rc == 0) note_late(&in);
    if (rc == 0) rc = r;
  }
  undo = disarm(&in);
  if (rc == 0) rc = undo;
  if (rc == 0) {
    c->pid = in.c2;
    c->site = in.site;
    c->parking = in.parking;
  }
  else if (in.c2 > 0) reap_tracee(in.c2);
  if (in.memfd >= 0) close(in.memfd);
  *clone_us = pss_now_us() - w0;
  return rc;
}

/*
** After the thaw (the target runs again): the clone runs the rest of the
** stub's child path, close_range(0, ~0U, CLOSE_RANGE_UNSHARE), so that it
** holds no descriptor (no socket kept open, no pipe kept from EOF, no lock
** kept held); its copy of the site gets its zeros back, and it is parked
** on exit_group: resumed by anyone, it just ends.
*/
int pss_clone_settle (struct pss_clone *c) {
  static const unsigned char zeros[SITE_SIZE];
  static const uint64_t status[] = { 0 };
  struct pss_gpregs r;
  long result;
  int rc;
  if (c->self) return 0;
  if ((rc = run_syscall(c->pid, 0, pss_deadline(), NULL, &result, NULL)) < 0) {
    if (rc == -ETIMEDOUT)
      pss_fail_detailf("the clone (pid %d) did not close its descriptors within %u ms",
                       (int)c->pid, pss_wait_limit_ms());
    return rc;
  }
  if ((rc = pss_gpregs_get(c->pid, &r)) < 0) return rc;
  pss_gpregs_set_call(&r, c->parking, SYS_exit_group, status, 1);
  if ((rc = pss_gpregs_set(c->pid, &r)) < 0) return rc;
  if ((rc = mem_write(-1, c->pid, c->site, zeros, SITE_SIZE)) < 0) return rc;
  return pss_clone_finish(c);
}
/* }====================================================================== */


/* {======================================================================
** One system call run by a thread of a frozen process (file/handoff.c
** puts a descriptor into another process, or takes one out, this way)
**
** The thread runs it on the stub's second entry (stub.S: pss_stub_call),
** written at a site as the clone's stub is, with the thread's registers
** and signal mask patched in for the way back. The tracer stops it at the
** call's exit and puts it back itself. A thread let go of before that --
** our wait limit passed while it was not scheduled, or this process died
** -- is never left on borrowed registers: it finishes the call, restores
** its own mask and registers, and goes on where it was. Once the deadline
** is past, the thread is not resumed at all (RESUME_IN_TIME): it is put
** back while still stopped.
**
** What such a late call leaves: its effect (a late memfd_create leaves
** the receiver a descriptor no handle names, an empty unsealed memfd; a
** late close is done as asked), the data below its stack (memory below
** its red zone, which nothing of the thread holds), and the stub at the
** site (never-executed padding, which the next injection takes as free).
** ======================================================================= */

/* The call's data goes below the thread's stack pointer, past its red
** zone and the 256 bytes the stub uses: nothing of the thread's lives
** there. The bytes found there are put back after, if the thread stopped
** after the call. */
#define DATA_GAP (PSS_STACK_RED_ZONE + 256)
#define DATA_MAX 256

struct lone_call {
  struct injection in;
  const struct pss_lone_call *call;
  uint64_t data_at;                  /* where the data is, 0 if none */
  size_t data_len;                   /* its length, rounded up to 8 */
  unsigned char saved[DATA_MAX];     /* the bytes it covers */
  int data_written;
};

/*
** Room for the data below the stack, and what it holds now. The room
** must be in the very mapping the stack pointer is in, and one a stack can
** be (private anonymous, or [stack], writable): below a stack that ends
** there lies someone else's memory, which is not ours to write over.
*/
static int place_data (struct lone_call *lc, const struct mapping *stack) {
  struct injection *in = &lc->in;
  uint64_t sp = pss_gpregs_sp(&in->frozen);
  if (lc->call->len == 0) return 0;
  if (lc->call->len > DATA_MAX || lc->call->data_arg < 0 || lc->call->data_arg >= 6)
    return -EINVAL;
  lc->data_len = (lc->call->len + 7) & ~(size_t)7;
  lc->data_at = (sp - DATA_GAP - lc->data_len) & ~(uint64_t)15;
  if (stack->end == 0 || !stack->stack || stack->perms[0] != 'r' || stack->perms[1] != 'w' ||
      sp < DATA_GAP + DATA_MAX || lc->data_at < stack->start ||
      pss_mem_read(in->memfd, in->t->pid, lc->data_at, lc->saved, lc->data_len) < 0) {
    pss_fail_detailf("the stack of thread %d of the target has no room below its pointer",
                     (int)in->tid);
    lc->data_at = 0;
    return -EFAULT;
  }
  return 0;
}

/* The injecting thread's filters, asked about the call and the stub's
** way back (rt_sigprocmask), with the entry's address. */
static int call_seccomp (struct lone_call *lc) {
  const struct pss_lone_call *c = lc->call;
  const uint64_t ip = lc->in.site + pss_stub_call_entry() + PSS_STUB_CALL_END;
  struct pss_seccomp_call sc[2] = {
    { (int)c->nr, PSS_SECCOMP_ARCH_NATIVE, ip, { 0 } },
    { SYS_rt_sigprocmask, PSS_SECCOMP_ARCH_NATIVE, ip, { SIG_SETMASK, 0, 0, 8, 0, 0 } },
  };
  memcpy(sc[0].args, c->args, sizeof sc[0].args);
  if (c->len > 0) sc[0].args[c->data_arg] = lc->data_at;
  return seccomp_verdict(&lc->in, sc, 2, "the target's seccomp filter forbids the system call");
}

static int call_prepare (struct lone_call *lc, struct pss_freeze *fz) {
  struct injection *in = &lc->in;
  struct mapping list[512], stack;
  ssize_t n;
  int rc;
  if ((rc = take_thread(in, fz, "run a system call")) < 0) return rc;
  n = exec_mappings(in->t, list, sizeof list / sizeof list[0], pss_gpregs_sp(&in->frozen), &stack);
  if (n < 0) return (int)n;
  if ((rc = pick_site(in, list, (size_t)n)) < 0) return rc;
  if ((rc = site_in_use(in, fz)) < 0) return rc;
  if ((rc = place_data(lc, &stack)) < 0) return rc;
  return call_seccomp(lc);
}

/* The thread's registers for the call, on the stub's call entry. */
static int call_set (struct lone_call *lc) {
  const struct pss_lone_call *c = lc->call;
  struct pss_gpregs r = lc->in.resume;
  uint64_t args[6];
  memcpy(args, c->args, sizeof args);
  if (c->len > 0) args[c->data_arg] = lc->data_at;
  pss_gpregs_set_call(&r, lc->in.site + pss_stub_call_entry(), c->nr, args, 6);
  return pss_gpregs_set(lc->in.tid, &r);
}

/* Data, stub, options, registers, every signal blocked: the order of
** arm(), so that from the moment the thread is on the stub, it has its
** way back. */
static int call_arm (struct lone_call *lc) {
  struct injection *in = &lc->in;
  unsigned char stub[SITE_SIZE];
  uint64_t all = ~(uint64_t)0;
  int rc;
  if (lc->data_len > 0) {
    unsigned char data[DATA_MAX];
    memset(data, 0, sizeof data);
    memcpy(data, lc->call->data, lc->call->len);
    if ((rc = mem_write(in->memfd, in->t->pid, lc->data_at, data, lc->data_len)) < 0)
      return rc == -ESRCH ? rc : -EPERM;
    lc->data_written = 1;
  }
  pss_stub_build(stub, &in->resume, in->mask);
  memcpy(stub + SITE_SIZE - 8, STUB_MAGIC, 8);
  if ((rc = mem_write(in->memfd, in->t->pid, in->site, stub, sizeof stub)) < 0)
    return rc == -ESRCH ? rc : -EPERM;
  in->stub_written = 1;
  if (ptrace(PTRACE_SETOPTIONS, in->tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0)
    return -errno;
  in->options_set = 1;
  if ((rc = call_set(lc)) < 0) return rc;
  in->moved = 1;
  if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)8, &all) < 0) return -errno;
  in->mask_set = 1;
  return 0;
}

/* Runs it; again while a job-control stop makes the kernel ask for a
** restart (the ERESTART* codes, which a thread never sees). Never resumed
** past the deadline. */
static int call_run (struct lone_call *lc, long *result) {
  struct injection *in = &lc->in;
  int attempt, rc;
  *result = -513;
  for (attempt = 0; attempt < 8 && *result <= -512 && *result >= -516; attempt++) {
    if (attempt > 0 && (rc = call_set(lc)) < 0) return rc;
    if ((rc = run_syscall(in->tid, in->wait_flags | RESUME_IN_TIME, in->deadline, &in->running,
                          result, NULL)) < 0)
      return rc;
  }
  return *result <= -512 && *result >= -516 ? -EINTR : 0;
}

/* The thread as it was (disarm), then the bytes under its stack -- not
** while the thread runs: the call may still be reading them. */
static int call_disarm (struct lone_call *lc) {
  int rc = disarm(&lc->in);
  if (rc != -ETIMEDOUT && lc->data_written &&
      mem_write(lc->in.memfd, lc->in.t->pid, lc->data_at, lc->saved, lc->data_len) < 0 && rc == 0)
    rc = -EIO;
  return rc;
}

int pss_inject_syscall (struct pss_target *t, struct pss_freeze *fz,
                        const struct pss_lone_call *call, long *result) {
  struct lone_call lc;
  int rc, undo;
  memset(&lc, 0, sizeof lc);
  lc.in.t = t;
  lc.in.memfd = -1;
  lc.call = call;
  rc = call_prepare(&lc, fz);
  if (rc == 0) rc = call_arm(&lc);
  if (rc == 0) rc = call_run(&lc, result);
  if (rc == -ETIMEDOUT)
    pss_fail_detailf("thread %d of the target did not come back from a system call within %u ms%s",
                     (int)lc.in.tid, pss_wait_limit_ms(),
                     lc.in.running ? " (it puts itself back when it does)" : "");
  undo = call_disarm(&lc);
  if (rc == 0 && undo < 0) {
    pss_fail_detailf("thread %d of the target could not be put back as it was", (int)lc.in.tid);
    rc = undo;
  }
  if (lc.in.memfd >= 0) close(lc.in.memfd);
  return rc;
}
/* }====================================================================== */
