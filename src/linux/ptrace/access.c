/*
** access.c -- why the kernel refused to let us trace a thread, in words a
** person can act on.
**
** PTRACE_SEIZE answers EPERM for many reasons; the kernel checks them in
** this order (ptrace_may_access, then the security modules):
** - a kernel thread is never traced;
** - the caller's uids and gids must all match the target's, or the caller
**   needs CAP_SYS_PTRACE;
** - a process that is not dumpable (it changed credentials, or called
**   prctl(PR_SET_DUMPABLE, 0)) needs CAP_SYS_PTRACE even for its own user;
**   /proc then shows its files (not its directory) as root's, which is
**   how we see it;
** - Yama's ptrace_scope (1: only ancestors, 2: only CAP_SYS_PTRACE, 3:
**   nobody), then SELinux, AppArmor, ...
** Each is checked here from what /proc says, and the first that holds is
** the detail of the failure. Another tracer holding the thread is EBUSY.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#define PF_EXITING 0x00000004u       /* stat's flags: the thread is exiting */
#define PF_KTHREAD 0x00200000u       /* stat's flags: a kernel thread */
#define CAP_SYS_PTRACE_BIT 19

/* This process's own status: CAP_SYS_PTRACE in its CapEff, its seccomp mode. */
static void own_status (struct pss_target *t, int *cap, int *seccomp) {
  struct pss_status ss;
  ssize_t n = pss_read_record(t, AT_FDCWD, "/proc/self/status");
  *cap = *seccomp = 0;
  if (n > 0 && pss_parse_status(t->scratch, (size_t)n, &ss) == 0) {
    *cap = (int)(ss.cap_eff >> CAP_SYS_PTRACE_BIT & 1);
    *seccomp = ss.seccomp;
  }
}

int pss_yama_scope (void) {
  char text[4];
  if (pss_proc_read(AT_FDCWD, "/proc/sys/kernel/yama/ptrace_scope", text, sizeof text) < 1)
    return 0;
  return text[0] >= '0' && text[0] <= '9' ? text[0] - '0' : 0;
}

/* Whether pid is a thread of this process (a tracer of ours). */
static int our_thread (long pid) {
  char path[48];
  snprintf(path, sizeof path, "/proc/self/task/%ld", pid);
  return access(path, F_OK) == 0;
}

/* "NAME" of a process by pid, into out ("?" if unknown). */
static void process_name (long pid, char *out, size_t size) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%ld/comm", pid);
  if (pss_proc_read(AT_FDCWD, path, out, size) <= 0) { snprintf(out, size, "?"); return; }
  out[strcspn(out, "\n")] = '\0';
}

/* Another tracer: one of ours (a capture running in another thread of
** this process) or another process (a debugger). */
static int traced_by (long tracer, pid_t tid) {
  char name[64];
  if (our_thread(tracer)) {
    pss_fail_detailf("thread %d is held by another capture running in this process", (int)tid);
    return -EBUSY;
  }
  process_name(tracer, name, sizeof name);
  pss_fail_detailf("thread %d is traced by another process (pid %ld, %s)", (int)tid, tracer, name);
  return -EBUSY;
}

/* A thread's stat and status, read relative to the task directory. */
static int read_thread (struct pss_target *t, int taskfd, pid_t tid, struct pss_stat *st,
                        struct pss_status *ss) {
  char path[48];
  ssize_t n;
  snprintf(path, sizeof path, "%d/stat", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0 || pss_parse_stat(t->scratch, (size_t)n, st) < 0)
    return -ESRCH;
  snprintf(path, sizeof path, "%d/status", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0) return -ESRCH;
  return pss_parse_status(t->scratch, (size_t)n, ss);
}

int pss_explain_refusal (struct pss_target *t, int taskfd, pid_t tid) {
  struct pss_stat st;
  struct pss_status ss;
  struct stat proc;
  int scope, cap, seccomp, i;
  own_status(t, &cap, &seccomp);
  if (read_thread(t, taskfd, tid, &st, &ss) < 0 || st.state == 'Z' || st.state == 'X' ||
      (st.flags & PF_EXITING))
    return 1;                                   /* gone or dying: skip it */
  if (ss.tracer_pid != 0) return traced_by(ss.tracer_pid, tid);
  if (st.flags & PF_KTHREAD) {
    pss_fail_detail("a kernel thread cannot be traced");
    return -EPERM;
  }
  for (i = 0; i < 4 && !cap; i++)
    if (ss.uid[i] != (unsigned)geteuid()) {
      pss_fail_detailf("it belongs to uid %u and pss runs as uid %u without CAP_SYS_PTRACE",
                       ss.uid[1], (unsigned)geteuid());
      return -EPERM;
    }
  /* the files of a process that is not dumpable are root's (the directory
  ** itself keeps its owner, for ps) */
  if (!cap && fstatat(t->dirfd, "fd", &proc, 0) == 0 && proc.st_uid == 0 && ss.uid[1] != 0) {
    pss_fail_detail("the process is not dumpable (it changed its credentials or called "
                    "prctl(PR_SET_DUMPABLE, 0)); only CAP_SYS_PTRACE may trace it");
    return -EPERM;
  }
  scope = pss_yama_scope();
  if (scope == 3 || (scope == 2 && !cap) || (scope == 1 && !cap)) {
    pss_fail_detailf("ptrace is refused by policy (Yama ptrace_scope %d%s)", scope,
                     scope == 1 ? ": only a parent process or CAP_SYS_PTRACE may trace" : "");
    return -EPERM;
  }
  if (seccomp == 2)
    pss_fail_detail("pss runs under a seccomp filter (a container's profile?) that refuses "
                    "ptrace; run it where ptrace is allowed");
  else if (!cap && geteuid() == 0)
    pss_fail_detail("pss runs as root without CAP_SYS_PTRACE (a container?)");
  else pss_fail_detail("ptrace is refused by a security module (SELinux, AppArmor) or a "
                       "seccomp filter of this process");
  return -EPERM;
}
