/*
** process.c -- the process information record (PssQuerySnapshot's
** PSS_QUERY_PROCESS_INFORMATION and its Linux extension).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

/* {======================================================================
** Process information
** ======================================================================= */

static DWORD priority_class (unsigned policy, long nice) {
  if (policy == SCHED_FIFO || policy == SCHED_RR) return REALTIME_PRIORITY_CLASS;
  if (policy == SCHED_IDLE || nice >= 10) return IDLE_PRIORITY_CLASS;
  if (nice <= -10) return HIGH_PRIORITY_CLASS;
  if (nice < 0) return ABOVE_NORMAL_PRIORITY_CLASS;
  if (nice > 0) return BELOW_NORMAL_PRIORITY_CLASS;
  return NORMAL_PRIORITY_CLASS;
}

/* ImageFileName: readlink of exe. EACCES means no ptrace read access,
** which every capture needs; a zombie or kernel thread has no exe. */
static int read_image_name (struct pss_target *t, struct pss_store *s) {
  char path[4096];
  ssize_t n = readlinkat(t->livefd, "exe", path, sizeof path);
  WCHAR *out = s->process.Process.ImageFileName;
  size_t units;
  int e = errno;
  if (n < 0 && (e == EACCES || e == EPERM))
    pss_fail_detail("its files in /proc cannot be read (exe: permission denied): it belongs "
                    "to another user or user namespace; only its owner or CAP_SYS_PTRACE "
                    "over it may read them");
  if (n < 0) return e == ENOENT ? 0 : -e;
  units = PssLinuxBytesToUtf16(path, (size_t)n, out, 259);
  out[units < 259 ? units : 259] = 0;
  return 0;
}

/* AT_ENTRY, and whether the program is 32-bit (auxv in that layout: the
** nearest thing to WOW64), from one read of auxv. */
static void read_auxv (struct pss_target *t, uint64_t *entry, int *is32) {
  ssize_t n = pss_read_record(t, t->livefd, "auxv");   /* a copy the kernel keeps whole */
  if (n < 0 || pss_parse_auxv(t->scratch, (size_t)n, entry, is32) < 0) {
    *entry = 0;
    *is32 = 0;
  }
}

/*
** The command line, whole: its arguments are what a person looks for (a
** process with thousands of arguments is common). One byte more than the
** cap is read only to know it was cut.
*/
static int store_process_strings (struct pss_target *t, struct pss_store *s,
                                  const struct pss_stat *st) {
  PSS_LINUX_PROCESS_INFORMATION *p = &s->process;
  ssize_t n = pss_read_upto(t, t->livefd, "cmdline", PSS_LINUX_COMMAND_LINE_MAX + 1);
  int64_t cmd, comm, why;
  size_t why_len = strlen(t->not_frozen);
  if (n < 0) n = 0;           /* a zombie has none */
  if ((size_t)n > PSS_LINUX_COMMAND_LINE_MAX) {
    n = PSS_LINUX_COMMAND_LINE_MAX;
    p->Truncated |= PSS_LINUX_TRUNCATED_COMMAND_LINE;
  }
  if ((cmd = pss_buf_append(&s->pstrings, t->scratch, (size_t)n, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0 ||
      (comm = pss_buf_append(&s->pstrings, st->comm, st->comm_len, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0 ||
      (why = pss_buf_append(&s->pstrings, t->not_frozen, why_len + 1, 1)) < 0)
    return -ENOMEM;
  p->CommandLineLength = (DWORD)n;
  p->CommLength = (WORD)st->comm_len;
  p->CommandLine = s->pstrings.data + cmd;
  p->Comm = s->pstrings.data + comm;
  p->CaptureMode = t->capture_mode;
  p->NotFrozenLength = (WORD)why_len;
  p->NotFrozen = s->pstrings.data + why;
  return 0;
}

static void fill_process (struct pss_target *t, PSS_LINUX_PROCESS_INFORMATION *p,
                          const struct pss_stat *st, const struct pss_status *ss, int zombie) {
  PSS_PROCESS_INFORMATION *w = &p->Process;
  w->ExitStatus = zombie ? pss_exit_status(st->exit_code) : STILL_ACTIVE;
  w->PebBaseAddress = (void *)(uintptr_t)st->arg_start;
  w->AffinityMask = pss_affinity(t->pid);
  w->BasePriority = (LONG)st->nice;
  w->ProcessId = (DWORD)t->pid;
  w->ParentProcessId = (DWORD)st->ppid;
  if (st->state == 'T' || st->state == 't') w->Flags |= PSS_PROCESS_FLAGS_FROZEN;
  w->CreateTime = pss_ticks_after_boot(t, st->starttime);
  w->KernelTime = pss_ticks_duration(t, st->stime);
  w->UserTime = pss_ticks_duration(t, st->utime);
  w->PriorityClass = priority_class(st->policy, st->nice);
  w->PeakVirtualSize = ss->vm_peak;
  w->VirtualSize = ss->vm_size;
  w->PageFaultCount = (DWORD)(st->minflt + st->majflt);
  w->PeakWorkingSetSize = ss->vm_hwm;
  w->WorkingSetSize = ss->vm_rss;
  w->PagefileUsage = ss->vm_swap;
  w->PrivateUsage = ss->vm_data + ss->vm_stk;
  p->State = st->state;
  p->Nice = (LONG)st->nice;
  p->Policy = st->policy;
  p->RealtimePriority = st->rt_priority;
  p->ThreadCount = (DWORD)st->num_threads;
  p->ProcessGroupId = (DWORD)st->pgrp;
  p->SessionId = (DWORD)st->session;
  p->RealUserId = ss->uid[0]; p->EffectiveUserId = ss->uid[1];
  p->RealGroupId = ss->gid[0]; p->EffectiveGroupId = ss->gid[1];
  p->ExitCode = zombie ? (DWORD)st->exit_code : 0;
  p->StartTimeTicks = st->starttime;
  p->MinorFaults = st->minflt;
  p->MajorFaults = st->majflt;
  p->ResidentAnon = ss->rss_anon;
  p->ResidentFile = ss->rss_file;
  p->ResidentShmem = ss->rss_shmem;
}

static unsigned read_personality (struct pss_target *t) {
  ssize_t n = pss_read_record(t, t->livefd, "personality");
  uint64_t v;
  return n > 0 && pss_parse_number(t->scratch, (size_t)n, 16, &v) == 0 ? (unsigned)v : 0;
}

/*
** When the main thread has exited (pthread_exit) while others run on, its
** /proc/PID entries for memory, fds and the executable are empty: read
** those through a live thread instead. Returns 1 if one was found.
*/
static int find_live_thread (struct pss_target *t) {
  char path[48];
  pid_t *tids = NULL;
  size_t n = 0, i;
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = 0;
  if (taskfd < 0 || pss_list_numbers(taskfd, &tids, &n) < 0) n = 0;
  for (i = 0; i < n && !found; i++) {
    struct pss_stat st;
    ssize_t k;
    snprintf(path, sizeof path, "%d/stat", (int)tids[i]);
    if (tids[i] == t->pid || (k = pss_read_record(t, taskfd, path)) < 0 ||
        pss_parse_stat(t->scratch, (size_t)k, &st) < 0 || st.state == 'Z' || st.state == 'X')
      continue;
    snprintf(path, sizeof path, "%d", (int)tids[i]);
    if ((t->livefd = openat(taskfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) found = 1;
    else t->livefd = t->dirfd;
  }
  free(tids);
  if (taskfd >= 0) close(taskfd);
  return found;
}

int pss_capture_process (struct pss_target *t, struct pss_store *s) {
  struct pss_stat st;
  struct pss_status ss;
  ssize_t n;
  uint64_t entry;
  int rc, is32, exited;
  if ((n = pss_read_record(t, t->dirfd, "stat")) < 0) return (int)n;
  if ((rc = pss_parse_stat(t->scratch, (size_t)n, &st)) < 0) return rc;
  st.state = pss_target_state(t, t->pid, st.state);
  /* num_threads still counts a zombie main thread while others run */
  exited = (st.state == 'Z' || st.state == 'X') &&
           (st.num_threads <= 1 || !find_live_thread(t));
  if ((rc = read_image_name(t, s)) < 0) return rc;
  if ((n = pss_read_record(t, t->livefd, "status")) < 0) return (int)n;
  pss_parse_status(t->scratch, (size_t)n, &ss);
  fill_process(t, &s->process, &st, &ss, exited);
  read_auxv(t, &entry, &is32);
  if (is32) s->process.Process.Flags |= PSS_PROCESS_FLAGS_WOW64;
  s->process.EntryPoint = entry;
  s->process.Personality = read_personality(t);
  s->process.Process.ExecuteFlags = s->process.Personality;
  return store_process_strings(t, s, &st);
}
/* }====================================================================== */
