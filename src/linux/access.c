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

#include "internal.h"
#include "procfs.h"

#define PF_EXITING 0x00000004u       /* stat's flags: the thread is exiting */
#define PF_KTHREAD 0x00200000u       /* stat's flags: a kernel thread */
#define CAP_SYS_PTRACE_BIT 19

/* The value of a "Name:\t..." line of a status text, or NULL. */
static const char *status_field (const char *text, const char *name) {
  size_t n = strlen(name);
  const char *p = text;
  while (p != NULL && *p != '\0') {
    if (strncmp(p, name, n) == 0 && p[n] == ':') return p + n + 1;
    if ((p = strchr(p, '\n')) != NULL) p++;
  }
  return NULL;
}

/* Whether this process may trace anyone: CAP_SYS_PTRACE in CapEff. */
static int have_cap_ptrace (void) {
  char text[4096];
  const char *cap;
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  cap = status_field(text, "CapEff");
  return cap != NULL && (strtoull(cap, NULL, 16) >> CAP_SYS_PTRACE_BIT & 1);
}

static int yama_scope (void) {
  char c = 0;
  int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  if (read(fd, &c, 1) != 1) c = '0';
  close(fd);
  return c >= '0' && c <= '9' ? c - '0' : 0;
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
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%ld/comm", pid);
  snprintf(out, size, "?");
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return;
  n = read(fd, out, size - 1);
  close(fd);
  if (n <= 0) { snprintf(out, size, "?"); return; }
  out[n] = '\0';
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

/* A thread's status and stat, read relative to the task directory. */
static int read_thread (struct pss_target *t, int taskfd, pid_t tid, struct pss_stat *st,
                        long *tracer, unsigned long uids[4]) {
  char path[48];
  const char *f;
  ssize_t n;
  snprintf(path, sizeof path, "%d/stat", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0 || pss_parse_stat(t->scratch, (size_t)n, st) < 0)
    return -ESRCH;
  snprintf(path, sizeof path, "%d/status", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0) return -ESRCH;
  f = status_field(t->scratch, "TracerPid");
  *tracer = f != NULL ? strtol(f, NULL, 10) : 0;
  memset(uids, 0, 4 * sizeof *uids);
  if ((f = status_field(t->scratch, "Uid")) != NULL)
    sscanf(f, "%lu %lu %lu %lu", &uids[0], &uids[1], &uids[2], &uids[3]);
  return 0;
}

int pss_explain_refusal (struct pss_target *t, int taskfd, pid_t tid) {
  struct pss_stat st;
  struct stat proc;
  unsigned long uids[4];
  long tracer;
  int scope, cap = have_cap_ptrace(), i;
  if (read_thread(t, taskfd, tid, &st, &tracer, uids) < 0 || st.state == 'Z' || st.state == 'X' ||
      (st.flags & PF_EXITING))
    return 1;                                   /* gone or dying: skip it */
  if (tracer != 0) return traced_by(tracer, tid);
  if (st.flags & PF_KTHREAD) {
    pss_fail_detail("a kernel thread cannot be traced");
    return -EPERM;
  }
  for (i = 0; i < 4 && !cap; i++)
    if (uids[i] != (unsigned long)geteuid()) {
      pss_fail_detailf("it belongs to uid %lu and pss runs as uid %lu without CAP_SYS_PTRACE",
                       uids[1], (unsigned long)geteuid());
      return -EPERM;
    }
  /* the files of a process that is not dumpable are root's (the directory
  ** itself keeps its owner, for ps) */
  if (!cap && fstatat(t->dirfd, "fd", &proc, 0) == 0 && proc.st_uid == 0 && uids[1] != 0) {
    pss_fail_detail("the process is not dumpable (it changed its credentials or called "
                    "prctl(PR_SET_DUMPABLE, 0)); only CAP_SYS_PTRACE may trace it");
    return -EPERM;
  }
  scope = yama_scope();
  if (scope == 3 || (scope == 2 && !cap) || (scope == 1 && !cap)) {
    pss_fail_detailf("ptrace is refused by policy (Yama ptrace_scope %d%s)", scope,
                     scope == 1 ? ": only a parent process or CAP_SYS_PTRACE may trace" : "");
    return -EPERM;
  }
  if (!cap && geteuid() == 0)
    pss_fail_detail("pss runs as root without CAP_SYS_PTRACE (a container?)");
  else pss_fail_detail("ptrace is refused by a security module (SELinux, AppArmor) or a "
                       "seccomp filter of this process");
  return -EPERM;
}
