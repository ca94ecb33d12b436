/*
** procfs.c -- independent /proc readings.
*/
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp_long (void const *a, void const *b) {
  long x = *(long const *)a, y = *(long const *)b;
  return (x > y) - (x < y);
}

/* Numeric names of a directory, sorted; the count or -1. When the
** directory is our own fd table, the fd reading it is left out. */
static long numeric_entries (char const *dir, long *out, size_t cap, int own_fds) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  int reading;
  if (d == NULL)
    return -1;
  reading = own_fds ? dirfd(d) : -1;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    if (e->d_name[0] == '\0' || *end != '\0' || v == reading)
      continue;
    if (n < cap)
      out[n] = v;
    n++;
  }
  closedir(d);
  if (n > cap)
    n = cap;
  qsort(out, n, sizeof *out, cmp_long);
  return (long)n;
}

long proc_pids (pid_t *out, size_t cap) {
  static long tmp[65536];
  long n = numeric_entries("/proc", tmp, cap < 65536 ? cap : 65536, 0), i;
  for (i = 0; i < n; i++)
    out[i] = (pid_t)tmp[i];
  return n;
}

long proc_tids (pid_t pid, pid_t *out, size_t cap) {
  char dir[64];
  long tmp[4096];
  long n, i;
  snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
  n = numeric_entries(dir, tmp, cap < 4096 ? cap : 4096, 0);
  for (i = 0; i < n; i++)
    out[i] = (pid_t)tmp[i];
  return n;
}

long proc_fds (pid_t pid, int *out, size_t cap) {
  char dir[64];
  long tmp[4096];
  long n, i;
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
  n = numeric_entries(dir, tmp, cap < 4096 ? cap : 4096, pid == getpid());
  for (i = 0; i < n; i++)
    out[i] = (int)tmp[i];
  return n;
}

long proc_read (pid_t pid, char const *rel, char *buf, size_t cap) {
  char path[256];
  size_t used = 0;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, rel);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  while (used < cap) {
    ssize_t n = read(fd, buf + used, cap - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      close(fd);
      return -1;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  close(fd);
  if (used < cap)
    buf[used] = '\0';
  return (long)used;
}

long proc_link (pid_t pid, char const *rel, char *buf, size_t cap) {
  char path[256];
  ssize_t n;
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, rel);
  n = readlink(path, buf, cap);
  if (n >= 0 && (size_t)n < cap)
    buf[n] = '\0';
  return (long)n;
}

struct proc_map *proc_maps (pid_t pid, size_t *count) {
  static char text[1 << 20];
  struct proc_map *maps = NULL;
  size_t n = 0, cap = 0;
  char *line, *save = NULL;
  long len = proc_read(pid, "maps", text, sizeof text - 1);
  if (len < 0)
    return NULL;
  text[len] = '\0';
  for (line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    struct proc_map *m;
    unsigned long long start, end, offset, inode;
    int path_at = 0;
    if (n == cap) {
      struct proc_map *p = realloc(maps, (cap + 64) * sizeof *maps);
      if (p == NULL) {
        free(maps);
        return NULL;
      }
      maps = p;
      cap += 64;
    }
    m = &maps[n];
    memset(m, 0, sizeof *m);
    if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, m->perms,
               &offset, &m->dev_major, &m->dev_minor, &inode, &path_at) < 7)
      continue;
    m->start = (uintptr_t)start;
    m->end = (uintptr_t)end;
    m->offset = offset;
    m->inode = inode;
    if (path_at > 0)
      snprintf(m->path, sizeof m->path, "%s", line + path_at);
    n++;
  }
  *count = n;
  if (maps == NULL)
    maps = calloc(1, sizeof *maps);
  return maps;
}

int proc_fdinfo (pid_t pid, int fd, struct proc_fdinfo *out) {
  char rel[64], text[4096];
  char *line, *save = NULL;
  snprintf(rel, sizeof rel, "fdinfo/%d", fd);
  memset(out, 0, sizeof *out);
  if (proc_read(pid, rel, text, sizeof text - 1) < 0)
    return -1;
  text[sizeof text - 1] = '\0';
  for (line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    unsigned long long v;
    if (sscanf(line, "pos: %llu", &v) == 1)
      out->pos = v;
    else if (sscanf(line, "flags: %llo", &v) == 1)
      out->flags = (unsigned)v;
    else if (sscanf(line, "mnt_id: %llu", &v) == 1)
      out->mnt_id = (unsigned)v;
    else if (sscanf(line, "ino: %llu", &v) == 1)
      out->ino = v, out->has_ino = 1;
    else if (sscanf(line, "eventfd-count: %llx", &v) == 1)
      out->eventfd_count = v, out->has_eventfd_count = 1;
    else if (sscanf(line, "ticks: %llu", &v) == 1)
      out->ticks = v, out->has_ticks = 1;
    else if (sscanf(line, "sigmask: %llx", &v) == 1)
      out->sigmask = v, out->has_sigmask = 1;
  }
  return 0;
}

int proc_syscall (pid_t pid, pid_t tid, struct proc_syscall *out) {
  char rel[64], text[512];
  unsigned long long v[8];
  long nr;
  int n;
  snprintf(rel, sizeof rel, "task/%d/syscall", (int)tid);
  memset(out, 0, sizeof *out);
  if (proc_read(pid, rel, text, sizeof text - 1) < 0)
    return -1;
  text[sizeof text - 1] = '\0';
  if (strncmp(text, "running", 7) == 0) {
    out->state = -1;
    return 0;
  }
  n = sscanf(text, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &nr, &v[0],
             &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  out->nr = nr;
  if (n == 9) {
    int i;
    out->state = 1;
    for (i = 0; i < 6; i++)
      out->args[i] = v[i];
    out->sp = v[6];
    out->pc = v[7];
    return 0;
  }
  if (n == 3 && nr == -1) {
    out->state = 0;
    out->sp = v[0];
    out->pc = v[1];
    return 0;
  }
  return -1;
}

int proc_stat (pid_t pid, pid_t tid, struct proc_stat *out) {
  char rel[64], text[2048];
  char *open_paren, *close_paren;
  long len;
  if (tid > 0)
    snprintf(rel, sizeof rel, "task/%d/stat", (int)tid);
  else
    snprintf(rel, sizeof rel, "stat");
  memset(out, 0, sizeof *out);
  len = proc_read(pid, rel, text, sizeof text - 1);
  if (len < 0)
    return -1;
  text[len] = '\0';
  /* comm may hold spaces and parentheses: split at the last ')' */
  open_paren = strchr(text, '(');
  close_paren = strrchr(text, ')');
  if (open_paren == NULL || close_paren == NULL)
    return -1;
  snprintf(out->comm, sizeof out->comm, "%.*s",
           (int)(close_paren - open_paren - 1), open_paren + 1);
  {
    /* fields 3.. after ") " */
    unsigned long long f[60];
    char *p = close_paren + 2;
    int i;
    out->state = *p;
    p += 1;
    memset(f, 0, sizeof f);
    for (i = 4; i < 60 && *p != '\0'; i++) {
      char *end;
      f[i] = strtoull(p, &end, 10);
      if (end == p) {
        /* signed fields (priority, nice) */
        long long s = strtoll(p, &end, 10);
        if (end == p)
          break;
        f[i] = (unsigned long long)s;
      }
      p = end;
    }
    out->ppid = (int)f[4];
    out->pgrp = (int)f[5];
    out->session = (int)f[6];
    out->minflt = (unsigned long)f[10];
    out->majflt = (unsigned long)f[12];
    out->utime = f[14];
    out->stime = f[15];
    out->priority = (long)(long long)f[18];
    out->nice = (long)(long long)f[19];
    out->num_threads = (long)f[20];
    out->starttime = f[22];
    out->vsize = (unsigned long)f[23];
    out->rss = (long)f[24];
    out->processor = (int)f[39];
    out->rt_priority = (unsigned)f[40];
    out->policy = (unsigned)f[41];
    out->arg_start = f[48];
    out->exit_code = (int)f[52];
  }
  return 0;
}

long long proc_status_value (pid_t pid, char const *key) {
  char text[8192];
  size_t klen = strlen(key);
  char *line, *save = NULL;
  if (proc_read(pid, "status", text, sizeof text - 1) < 0)
    return -1;
  text[sizeof text - 1] = '\0';
  for (line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save))
    if (strncmp(line, key, klen) == 0 && line[klen] == ':')
      return strtoll(line + klen + 1, NULL, 10);
  return -1;
}

uint64_t proc_entry_point (pid_t pid) {
  uint64_t auxv[256];
  long n = proc_read(pid, "auxv", (char *)auxv, sizeof auxv);
  long i;
  for (i = 0; i + 1 < n / 8; i += 2)
    if (auxv[i] == 9)   /* AT_ENTRY */
      return auxv[i + 1];
  return 0;
}

long long proc_boot_time_ns (void) {
  struct timespec real, boot;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return ((long long)real.tv_sec - boot.tv_sec) * 1000000000LL +
         (real.tv_nsec - boot.tv_nsec);
}

long proc_self_fd_count (void) {
  long tmp[4096];
  return numeric_entries("/proc/self/fd", tmp, 4096, 1);
}
