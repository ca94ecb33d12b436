/*
** floor.c -- the floor of a pss capture: the time the kernel needs to
** produce the /proc files that pss.capture(pid, {"threads", "handles",
** "va_space"}) reads, with no parsing and no storing.
**
** Every file is read to EOF (the read that returns 0 included), relative to
** an open /proc/PID directory, as libpss does:
**   process       stat, readlink exe, status, auxv, personality, cmdline
**   task-stat     list task/, then task/TID/stat per thread
**   task-syscall  task/TID/syscall per thread
**   fd-link       list fd/, then readlink fd/N per fd
**   fd-info       fdinfo/N per fd
**   maps          maps
**   net           net/unix, net/tcp, net/tcp6, net/udp, net/udp6
** "floor" is the sum of these, timed as one block.
**
** Also timed, outside the floor, are the other calls a capture makes
** (src/linux/), so their cost is known:
**   x-affinity    sched_getaffinity per thread
**   x-fstat       fstatat through fd/N per fd whose link is a path
**   x-net-rest    net/raw raw6 udplite udplite6 icmp icmp6 netlink packet
**                 (read by pss while a socket is still undescribed)
** and, to know what this machine charges for fresh memory:
**   x-1000-faults  first touch of 1000 fresh anonymous pages (so the
**                  milliseconds printed are microseconds per page fault)
**
** usage: floor PID REPS
** output: one line per measure, "<name> <median ms> <min ms>".
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { PROCESS, TASK_STAT, TASK_SYSCALL, FD_LINK, FD_INFO, MAPS, NET, FLOOR,
       X_AFFINITY, X_FSTAT, X_NET_REST, X_FAULTS, NPARTS };

static const char *const part_names[NPARTS] = {
  "process", "task-stat", "task-syscall", "fd-link", "fd-info", "maps", "net",
  "floor", "x-affinity", "x-fstat", "x-net-rest", "x-1000-faults"
};

static char buf[1 << 20];   /* contents are thrown away */

static double now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads dirfd/name to EOF; returns the byte count, -1 if it cannot be opened. */
static long slurp (int dirfd, const char *name) {
  long total = 0;
  ssize_t n;
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
  close(fd);
  return total;
}

/* The numeric entries of dirfd/name; the count, or -1. */
static int list_numbers (int dirfd, const char *name, int *out, int cap) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
  struct dirent *de;
  DIR *d;
  if (fd < 0 || (d = fdopendir(fd)) == NULL) return -1;
  while ((de = readdir(d)) != NULL && n < cap)
    if (de->d_name[0] >= '0' && de->d_name[0] <= '9') out[n++] = atoi(de->d_name);
  closedir(d);
  return n;
}

static void read_all (int dirfd, const char *const *names) {
  for (; *names; names++) slurp(dirfd, *names);
}

/* Milliseconds to fault in n fresh anonymous pages, one write each. */
static double touch_fresh_pages (size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), i;
  volatile char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  double t0 = now_ms(), t;
  if (p == MAP_FAILED) return 0;
  for (i = 0; i < n; i++) p[i * page] = 1;
  t = now_ms() - t0;
  munmap((void *)p, n * page);
  return t;
}

#define MAX_IDS 65536
static int tids[MAX_IDS], fds[MAX_IDS];
static char is_path[MAX_IDS];

/* One capture's worth of reads; t[] receives each part's milliseconds. */
static void one_round (int pid, double *t) {
  static const char *const process_files[] = { "stat", "status", "auxv", "personality",
                                               "cmdline", NULL };
  static const char *const net5[] = { "net/unix", "net/tcp", "net/tcp6", "net/udp",
                                      "net/udp6", NULL };
  static const char *const net_rest[] = { "net/raw", "net/raw6", "net/udplite",
    "net/udplite6", "net/icmp", "net/icmp6", "net/netlink", "net/packet", NULL };
  char path[64], link[4096];
  int dirfd, taskfd, fddir, infodir, nt, nf, i;
  double t0 = now_ms(), t1, t2, t3, t4, t5, t6, t7;
  cpu_set_t set;
  struct stat sb;

  snprintf(path, sizeof path, "/proc/%d", pid);
  if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    perror(path);
    exit(1);
  }
  readlinkat(dirfd, "exe", link, sizeof link);
  read_all(dirfd, process_files);
  t1 = now_ms();

  taskfd = openat(dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  nt = list_numbers(dirfd, "task", tids, MAX_IDS);
  for (i = 0; i < nt; i++) {
    snprintf(path, sizeof path, "%d/stat", tids[i]);
    slurp(taskfd, path);
  }
  t2 = now_ms();
  for (i = 0; i < nt; i++) {
    snprintf(path, sizeof path, "%d/syscall", tids[i]);
    slurp(taskfd, path);
  }
  t3 = now_ms();

  fddir = openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  infodir = openat(dirfd, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  nf = list_numbers(dirfd, "fd", fds, MAX_IDS);
  for (i = 0; i < nf; i++) {
    ssize_t n;
    snprintf(path, sizeof path, "%d", fds[i]);
    n = readlinkat(fddir, path, link, sizeof link);
    is_path[i] = n > 0 && link[0] == '/';
  }
  t4 = now_ms();
  for (i = 0; i < nf; i++) {
    snprintf(path, sizeof path, "%d", fds[i]);
    slurp(infodir, path);
  }
  t5 = now_ms();
  slurp(dirfd, "maps");
  t6 = now_ms();
  read_all(dirfd, net5);
  t7 = now_ms();
  t[PROCESS] = t1 - t0; t[TASK_STAT] = t2 - t1; t[TASK_SYSCALL] = t3 - t2;
  t[FD_LINK] = t4 - t3; t[FD_INFO] = t5 - t4; t[MAPS] = t6 - t5;
  t[NET] = t7 - t6; t[FLOOR] = t7 - t0;

  /* outside the floor: the other calls a capture makes */
  t0 = now_ms();
  for (i = 0; i < nt; i++) sched_getaffinity(tids[i], sizeof set, &set);
  t1 = now_ms();
  for (i = 0; i < nf; i++)
    if (is_path[i]) {
      snprintf(path, sizeof path, "%d", fds[i]);
      fstatat(fddir, path, &sb, 0);
    }
  t2 = now_ms();
  read_all(dirfd, net_rest);
  t3 = now_ms();
  t[X_AFFINITY] = t1 - t0; t[X_FSTAT] = t2 - t1; t[X_NET_REST] = t3 - t2;
  t[X_FAULTS] = touch_fresh_pages(1000);

  close(infodir);
  close(fddir);
  close(taskfd);
  close(dirfd);
}

static int cmp_double (const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main (int argc, char **argv) {
  int pid, reps, r, p;
  double *samples;
  if (argc != 3 || (pid = atoi(argv[1])) <= 0 || (reps = atoi(argv[2])) <= 0) {
    fprintf(stderr, "usage: floor PID REPS\n");
    return 2;
  }
  if ((samples = malloc(sizeof *samples * NPARTS * (size_t)reps)) == NULL) return 1;
  {
    double warm[NPARTS];
    one_round(pid, warm);   /* warm the dentry and inode caches once */
  }
  for (r = 0; r < reps; r++) {
    double t[NPARTS];
    one_round(pid, t);
    for (p = 0; p < NPARTS; p++) samples[p * reps + r] = t[p];
  }
  for (p = 0; p < NPARTS; p++) {
    double *s = samples + p * reps;
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    printf("%s %.3f %.3f\n", part_names[p], (s[(reps - 1) / 2] + s[reps / 2]) / 2, s[0]);
  }
  free(samples);
  return 0;
}
