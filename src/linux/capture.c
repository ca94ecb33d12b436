/*
** capture.c -- reading the target: /proc files relative to its directory
** fd, liveness, time conversion, and the process information record.
*/
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "procfs.h"

/* {======================================================================
** Reading /proc
** ======================================================================= */

/*
** Reads the whole file into t->scratch. /proc files are generated on
** read, so their size is unknown in advance: grow until a read hits EOF.
** A one-record file (stat, status, fdinfo, syscall: seq_file single_open)
** hands over all of its text in the first read when it fits, so a short
** first read is its end and the read that would return 0 is skipped --
** a tenth of the cost of such a file, paid per fd and per thread.
*/
static ssize_t read_file (struct pss_target *t, int dirfd, const char *name, int one_record,
                          size_t max) {
  struct pss_buf b = { t->scratch, 0, t->scratch_cap, t->scratch_vm };
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) return -errno;
  for (;;) {
    size_t room;
    if (b.cap - b.len < 4096 && pss_buf_reserve(&b, b.cap ? b.cap : 16384) < 0) {
      n = -ENOMEM;
      break;
    }
    room = b.cap - b.len - 1;
    if (room > max - b.len) room = max - b.len;
    if (room == 0) { n = 0; break; }
    n = read(fd, b.data + b.len, room);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { if (n < 0) n = -errno; break; }
    b.len += (size_t)n;
    if (one_record && b.len < b.cap - 1 - 4096) { n = 0; break; }
  }
  close(fd);
  t->scratch = b.data;
  t->scratch_cap = b.cap;
  if (n < 0) return n;
  b.data[b.len] = '\0';
  return (ssize_t)b.len;
}

ssize_t pss_read_at (struct pss_target *t, int dirfd, const char *name) {
  return read_file(t, dirfd, name, 0, SIZE_MAX - 1);
}

ssize_t pss_read_record (struct pss_target *t, int dirfd, const char *name) {
  return read_file(t, dirfd, name, 1, SIZE_MAX - 1);
}

/*
** A /proc/PID directory fd stays bound to the process it was opened for:
** once that process is reaped its entries are gone, even if the pid is
** reused. A zombie still has them, and can still be captured.
*/
int pss_target_alive (const struct pss_target *t) {
  return faccessat(t->dirfd, "stat", F_OK, 0) == 0;
}
/* }====================================================================== */


static int cmp_pid (const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

/*
** The numeric entries of a /proc directory (tasks, fds), sorted. An entry
** that appears after the scan is not in the snapshot; one that goes away
** after it is skipped when its files vanish.
*/
int pss_list_numbers (int dirfd, pid_t **out, size_t *n) {
  struct pss_buf b = { 0 };
  struct dirent *de;
  DIR *d;
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if ((d = fdopendir(fd)) == NULL) { close(fd); return -errno; }
  while ((de = readdir(d)) != NULL) {
    pid_t v = (pid_t)atoi(de->d_name);
    if ((v > 0 || de->d_name[0] == '0') && de->d_name[0] != '.' &&
        pss_buf_append(&b, &v, sizeof v, sizeof v) < 0) {
      closedir(d);
      pss_buf_free(&b);
      return -ENOMEM;
    }
  }
  closedir(d);
  *n = b.len / sizeof(pid_t);
  if (*n > 1) qsort(b.data, *n, sizeof(pid_t), cmp_pid);
  *out = (pid_t *)(void *)b.data;
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Time
** ======================================================================= */
FILETIME pss_filetime (uint64_t v) {
  FILETIME ft = { (DWORD)v, (DWORD)(v >> 32) };
  return ft;
}

uint64_t pss_now_filetime (void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return PSS_FILETIME_UNIX_EPOCH + (uint64_t)ts.tv_sec * 10000000u +
         (uint64_t)ts.tv_nsec / 100;
}

FILETIME pss_ticks_duration (const struct pss_target *t, uint64_t ticks) {
  return pss_filetime(ticks * (10000000u / (uint64_t)t->ticks));
}

FILETIME pss_ticks_after_boot (const struct pss_target *t, uint64_t ticks) {
  return pss_filetime(t->boot_filetime + ticks * (10000000u / (uint64_t)t->ticks));
}
/* }====================================================================== */


/* {======================================================================
** Process information
** ======================================================================= */

/* Exit status of a zombie: the exit code, or 128+signal as shells say. */
DWORD pss_exit_status (int wait_status) {
  if ((wait_status & 0x7F) == 0) return (DWORD)((wait_status >> 8) & 0xFF);
  return 128u + (DWORD)(wait_status & 0x7F);
}

static DWORD priority_class (unsigned policy, long nice) {
  if (policy == SCHED_FIFO || policy == SCHED_RR) return REALTIME_PRIORITY_CLASS;
  if (policy == SCHED_IDLE || nice >= 10) return IDLE_PRIORITY_CLASS;
  if (nice <= -10) return HIGH_PRIORITY_CLASS;
  if (nice < 0) return ABOVE_NORMAL_PRIORITY_CLASS;
  if (nice > 0) return BELOW_NORMAL_PRIORITY_CLASS;
  return NORMAL_PRIORITY_CLASS;
}

ULONG_PTR pss_affinity (pid_t tid) {
  cpu_set_t set;
  ULONG_PTR mask = 0;
  int cpu;
  CPU_ZERO(&set);
  if (sched_getaffinity(tid, sizeof set, &set) < 0) return 0;
  for (cpu = 0; cpu < 64; cpu++)
    if (CPU_ISSET(cpu, &set)) mask |= (ULONG_PTR)1 << cpu;
  return mask;
}

/* ImageFileName: readlink of exe. EACCES means no ptrace read access,
** which every capture needs; a zombie or kernel thread has no exe. */
static int read_image_name (struct pss_target *t, struct pss_store *s) {
  char path[4096];
  ssize_t n = readlinkat(t->livefd, "exe", path, sizeof path);
  WCHAR *out = s->process.Process.ImageFileName;
  size_t units;
  if (n < 0) return errno == ENOENT ? 0 : -errno;
  units = PssLinuxBytesToUtf16(path, (size_t)n, out, 259);
  out[units < 259 ? units : 259] = 0;
  return 0;
}

/* 32-bit ELF on a 64-bit kernel: the nearest thing to WOW64. */
static int is_32bit_image (struct pss_target *t) {
  unsigned char ident[EI_NIDENT];
  int fd = openat(t->livefd, "exe", O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) return 0;
  n = pread(fd, ident, sizeof ident, 0);
  close(fd);
  return n == (ssize_t)sizeof ident && memcmp(ident, ELFMAG, SELFMAG) == 0 &&
         ident[EI_CLASS] == ELFCLASS32;
}

/* AT_ENTRY from auxv (native 64-bit layout only). */
static uint64_t entry_point (struct pss_target *t, int is32) {
  ssize_t n = is32 ? -1 : pss_read_at(t, t->livefd, "auxv");
  const uint64_t *av = (const uint64_t *)(void *)t->scratch;
  size_t i;
  for (i = 0; n > 0 && i + 1 < (size_t)n / 8; i += 2)
    if (av[i] == AT_ENTRY) return av[i + 1];
  return 0;
}

/*
** The command line, whole: its arguments are what a person looks for (a
** process with thousands of arguments is common). One byte more than the
** cap is read only to know it was cut.
*/
static int store_process_strings (struct pss_target *t, struct pss_store *s,
                                  const struct pss_stat *st) {
  PSS_LINUX_PROCESS_INFORMATION *p = &s->process;
  ssize_t n = read_file(t, t->livefd, "cmdline", 0, PSS_LINUX_COMMAND_LINE_MAX + 1);
  int64_t cmd, comm;
  if (n < 0) n = 0;           /* a zombie has none */
  if ((size_t)n > PSS_LINUX_COMMAND_LINE_MAX) {
    n = PSS_LINUX_COMMAND_LINE_MAX;
    p->Truncated |= PSS_LINUX_TRUNCATED_COMMAND_LINE;
  }
  if ((cmd = pss_buf_append(&s->pstrings, t->scratch, (size_t)n, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0 ||
      (comm = pss_buf_append(&s->pstrings, st->comm, st->comm_len, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0)
    return -ENOMEM;
  p->CommandLineLength = (DWORD)n;
  p->CommLength = (WORD)st->comm_len;
  p->CommandLine = s->pstrings.data + cmd;
  p->Comm = s->pstrings.data + comm;
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
  ssize_t n = pss_read_at(t, t->livefd, "personality");
  return n > 0 ? (unsigned)strtoul(t->scratch, NULL, 16) : 0;
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
  int rc, is32, exited;
  if ((n = pss_read_record(t, t->dirfd, "stat")) < 0) return (int)n;
  if ((rc = pss_parse_stat(t->scratch, (size_t)n, &st)) < 0) return rc;
  if (pss_target_state_before(t, t->pid) != 0) st.state = pss_target_state_before(t, t->pid);
  /* num_threads still counts a zombie main thread while others run */
  exited = (st.state == 'Z' || st.state == 'X') &&
           (st.num_threads <= 1 || !find_live_thread(t));
  if ((rc = read_image_name(t, s)) < 0) return rc;
  if ((n = pss_read_record(t, t->livefd, "status")) < 0) return (int)n;
  pss_parse_status(t->scratch, (size_t)n, &ss);
  fill_process(t, &s->process, &st, &ss, exited);
  is32 = is_32bit_image(t);
  if (is32) s->process.Process.Flags |= PSS_PROCESS_FLAGS_WOW64;
  s->process.EntryPoint = entry_point(t, is32);
  s->process.Personality = read_personality(t);
  s->process.Process.ExecuteFlags = s->process.Personality;
  return store_process_strings(t, s, &st);
}
/* }====================================================================== */
