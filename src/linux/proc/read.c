/*
** read.c -- the leaf that reads the target: whole /proc files relative to
** a directory fd, liveness, directory listings, the clock conversions
** every table uses, and a thread's state as the capture shows it.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

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

ssize_t pss_read_upto (struct pss_target *t, int dirfd, const char *name, size_t max) {
  return read_file(t, dirfd, name, 0, max);
}

/*
** A /proc/PID directory fd stays bound to the process it was opened for:
** once that process is reaped its entries are gone, even if the pid is
** reused. A zombie still has them, and can still be captured.
*/
int pss_target_alive (const struct pss_target *t) {
  return faccessat(t->dirfd, "stat", F_OK, 0) == 0;
}

/* A task of the process is on its way out: a zombie, or past the start of
** do_exit (PF_EXITING). pss_read_record's buffer is used. */
#define PF_EXITING 0x00000004u
static int task_exiting (struct pss_target *t, int dirfd, const char *name) {
  struct pss_stat st;
  ssize_t n = pss_read_record(t, dirfd, name);
  if (n <= 0 || pss_parse_stat(t->scratch, (size_t)n, &st) < 0) return 1;   /* gone */
  return st.state == 'Z' || st.state == 'X' || (st.flags & PF_EXITING) != 0;
}

/*
** Whether the whole process is exiting or has exited: every one of its
** threads is. One read while the main thread lives (the usual case); the
** threads are looked at only when it does not, since a main thread that
** called pthread_exit is a zombie while the others run on.
*/
int pss_target_exiting (struct pss_target *t) {
  pid_t *tids = NULL;
  size_t n = 0, i;
  int taskfd, all = 1;
  if (!pss_target_alive(t)) return 1;
  if (!task_exiting(t, t->dirfd, "stat")) return 0;
  if ((taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return 1;
  if (pss_list_numbers(taskfd, &tids, &n) < 0) n = 0;
  for (i = 0; i < n && all; i++) {
    char name[32];
    snprintf(name, sizeof name, "%d/stat", (int)tids[i]);
    all = task_exiting(t, taskfd, name);
  }
  free(tids);
  close(taskfd);
  return all;
}

/*
** One process_vm_readv: it needs no ptrace stop, only the right to trace
** (PTRACE_MODE_ATTACH), and stops at the first page it cannot read, so
** what it returns is a prefix of what was asked.
*/
ssize_t pss_read_memory (const struct pss_target *t, uint64_t address, void *buf, size_t n) {
  struct iovec local = { buf, n }, remote = { (void *)(uintptr_t)address, n };
  ssize_t got = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
  return got < 0 ? -errno : got;
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
    uint64_t number;
    pid_t v;
    if (pss_parse_number(de->d_name, strlen(de->d_name), 10, &number) < 0 ||
        number > INT_MAX)
      continue;                            /* ".", "..", "self": not a number */
    v = (pid_t)number;
    if (pss_buf_append(&b, &v, sizeof v, sizeof v) < 0) {
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
** Threads
** ======================================================================= */
/* Exit status of a zombie: the exit code, or 128+signal as shells say. */
DWORD pss_exit_status (int wait_status) {
  if ((wait_status & 0x7F) == 0) return (DWORD)((wait_status >> 8) & 0xFF);
  return 128u + (DWORD)(wait_status & 0x7F);
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

char pss_target_state (const struct pss_target *t, pid_t tid, char now) {
  char before = t->state_before != NULL ? t->state_before(t, tid) : 0;
  return before != 0 ? before : now;
}
/* }====================================================================== */


/* {======================================================================
** /proc of any process, without a target: for the ptrace layer, which
** reads /proc only through here
** ======================================================================= */
int pss_proc_open (pid_t pid, const char *name, int flags) {
  char path[64];
  int fd;
  if (name != NULL) snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  else snprintf(path, sizeof path, "/proc/%d", (int)pid);
  if (name == NULL) flags |= O_RDONLY | O_DIRECTORY;
  while ((fd = open(path, flags | O_CLOEXEC)) < 0 && errno == EINTR) ;
  if (fd < 0) return errno == ENOENT ? -ESRCH : -errno;
  return fd;
}

ssize_t pss_proc_read (int dirfd, const char *name, char *buf, size_t size) {
  ssize_t n;
  int fd;
  if (size == 0) return -EINVAL;
  while ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) ;
  if (fd < 0) return errno == ENOENT ? -ESRCH : -errno;
  while ((n = read(fd, buf, size - 1)) < 0 && errno == EINTR) ;
  if (n < 0) n = errno == ENOENT ? -ESRCH : -errno;   /* ESRCH: the task is gone */
  close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
}

int pss_lines_open (struct pss_lines *l, int dirfd, const char *name, size_t cap,
                    int long_lines) {
  char *buf = malloc(cap);
  int rc;
  if (buf == NULL) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
    return -ENOMEM;
  }
  if ((rc = pss_lines_open_in(l, dirfd, name, buf, cap, long_lines)) < 0) {
    free(buf);
    return rc;
  }
  l->own_buf = 1;
  return 0;
}

int pss_lines_open_in (struct pss_lines *l, int dirfd, const char *name, char *buf, size_t cap,
                       int long_lines) {
  memset(l, 0, sizeof *l);
  l->buf = buf;
  l->cap = cap;
  l->long_lines = long_lines;
  while ((l->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR) ;
  if (l->fd < 0) {
    int e = errno;
    pss_lines_close(l);
    return e == ENOENT ? -ESRCH : -e;
  }
  return 0;
}

/* Refills the buffer after what is left of it; 0, or -errno. */
static int lines_fill (struct pss_lines *l) {
  ssize_t n;
  memmove(l->buf, l->buf + l->start, l->end - l->start);
  l->end -= l->start;
  l->start = 0;
  while ((n = read(l->fd, l->buf + l->end, l->cap - l->end)) < 0 && errno == EINTR) ;
  if (n < 0) return errno == ENOENT ? -ESRCH : -errno;
  if (n == 0) l->eof = 1;
  l->end += (size_t)n;
  return 0;
}

int pss_lines_next (struct pss_lines *l, const char **line, size_t *len) {
  for (;;) {
    char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
    int rc;
    if (l->skipping) {                   /* the rest of a line too long */
      l->start = nl != NULL ? (size_t)(nl + 1 - l->buf) : l->end;
      l->skipping = nl == NULL;
      if (!l->skipping) continue;
    }
    else if (nl != NULL || (l->eof && l->end > l->start)) {
      *line = l->buf + l->start;
      *len = nl != NULL ? (size_t)(nl - *line) : l->end - l->start;
      l->start = nl != NULL ? (size_t)(nl + 1 - l->buf) : l->end;
      return 1;
    }
    else if (l->start == 0 && l->end == l->cap) {   /* one line fills the buffer */
      if (l->long_lines == PSS_LINES_FAIL) return -EOVERFLOW;
      l->skipping = 1;
      l->start = l->end;
      if (l->long_lines == PSS_LINES_CUT) {
        *line = l->buf;
        *len = l->cap;
        return 1;
      }
    }
    if (l->eof) return 0;
    if ((rc = lines_fill(l)) < 0) return rc;
  }
}

void pss_lines_close (struct pss_lines *l) {
  if (l->fd >= 0) close(l->fd);
  if (l->own_buf) free(l->buf);
  l->fd = -1;
  l->buf = NULL;
}
/* }====================================================================== */
