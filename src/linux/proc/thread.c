/*
** thread.c -- PSS_CAPTURE_THREADS: one row per entry of /proc/PID/task.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

static void fill_syscall (PSS_LINUX_THREAD_ENTRY *e, const struct pss_syscall *sc) {
  int i;
  e->SyscallNumber = sc->state == 1 ? (LONG)sc->nr : -1;
  if (sc->state == 1) {
    e->Thread.LastSyscallNumber = (WORD)sc->nr;
    e->Thread.LastSyscallFirstArgument = (void *)(uintptr_t)sc->args[0];
    for (i = 0; i < 6; i++) e->LastSyscallArguments[i] = sc->args[i];
  }
  else e->Thread.LastSyscallNumber =
      sc->state < 0 ? PSS_LINUX_SYSCALL_RUNNING : PSS_LINUX_SYSCALL_NONE;
  e->LastSyscallStackPointer = sc->sp;
  e->LastSyscallProgramCounter = sc->pc;
}

static void fill_thread (struct pss_target *t, PSS_LINUX_THREAD_ENTRY *e, pid_t tid,
                         const struct pss_stat *st) {
  PSS_THREAD_ENTRY *w = &e->Thread;
  int dead = st->state == 'Z' || st->state == 'X';
  w->ExitStatus = dead ? pss_exit_status(st->exit_code) : STILL_ACTIVE;
  w->ProcessId = (DWORD)t->pid;
  w->ThreadId = (DWORD)tid;
  w->AffinityMask = pss_affinity(tid);
  w->Priority = (int)st->priority;
  w->BasePriority = (int)st->nice;
  w->CreateTime = pss_ticks_after_boot(t, st->starttime);
  w->KernelTime = pss_ticks_duration(t, st->stime);
  w->UserTime = pss_ticks_duration(t, st->utime);
  w->CaptureTime = pss_filetime(pss_now_filetime());
  if (dead) w->Flags |= PSS_THREAD_FLAGS_TERMINATED;
  if (st->state == 'T' || st->state == 't') w->SuspendCount = 1;
  e->State = st->state;
  e->Nice = (LONG)st->nice;
  e->Policy = st->policy;
  e->RealtimePriority = st->rt_priority;
  e->Processor = st->processor;
  e->MinorFaults = st->minflt;
  e->MajorFaults = st->majflt;
}

static int store_names (struct pss_table *tab, struct pss_thread_row *row,
                        const struct pss_stat *st) {
  int64_t name = pss_table_bytes(tab, st->comm, st->comm_len);
  int64_t name16;
  if (name < 0) return -ENOMEM;
  if ((name16 = pss_table_utf16(tab, st->comm, st->comm_len, &row->name16_len)) < 0)
    return -ENOMEM;
  row->e.Name = (const char *)(uintptr_t)name;
  row->e.NameLength = (WORD)st->comm_len;
  row->name16 = (uintptr_t)name16;
  return 0;
}

/* One thread; returns 1 if it vanished (skipped), 0, or -errno. */
static int capture_thread (struct pss_target *t, struct pss_store *s, int taskfd,
                           pid_t tid) {
  struct pss_table *tab = &s->tables[PSS_TABLE_THREADS];
  char path[64];
  struct pss_stat st;
  struct pss_syscall sc;
  struct pss_thread_row *row;
  ssize_t n;
  snprintf(path, sizeof path, "%d/stat", (int)tid);
  if ((n = pss_read_record(t, taskfd, path)) < 0)
    return (n == -ENOENT || n == -ESRCH) ? 1 : (int)n;
  if (pss_parse_stat(t->scratch, (size_t)n, &st) < 0) return -EINVAL;
  /* frozen, it reads 't': report what it was doing when found */
  st.state = pss_target_state(t, tid, st.state);
  if ((row = pss_table_add_row(tab)) == NULL) return -ENOMEM;
  fill_thread(t, &row->e, tid, &st);
  /* syscall needs ptrace attach rights; without them the field says so */
  snprintf(path, sizeof path, "%d/syscall", (int)tid);
  n = pss_read_record(t, taskfd, path);
  if (n >= 0 && pss_parse_syscall(t->scratch, (size_t)n, &sc) == 0) fill_syscall(&row->e, &sc);
  else {
    row->e.Thread.LastSyscallNumber = PSS_LINUX_SYSCALL_UNKNOWN;
    row->e.SyscallNumber = -1;
  }
  return store_names(tab, row, &st);
}

int pss_capture_threads (struct pss_target *t, struct pss_store *s) {
  struct pss_table *tab = &s->tables[PSS_TABLE_THREADS];
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  pid_t *tids = NULL;
  size_t n = 0, i;
  int rc;
  if (taskfd < 0) return -errno;
  rc = pss_list_numbers(taskfd, &tids, &n);
  for (i = 0; rc >= 0 && i < n; i++) {
    rc = capture_thread(t, s, taskfd, tids[i]);
    /* the main thread starts at the program's entry point */
    if (rc == 0 && tids[i] == t->pid) {
      struct pss_thread_row *row = pss_table_row(tab, tab->count - 1);
      row->e.Thread.Win32StartAddress = (void *)(uintptr_t)s->process.EntryPoint;
    }
  }
  free(tids);
  close(taskfd);
  return rc < 0 ? rc : 0;
}
