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
**
** floor PID REPS smaps -- the floor of a capture with memory usage
** (PSS_LINUX_CAPTURE_MEMORY_USAGE), and pagemap as another source of
** residency; each read to EOF, no parsing unless said:
**   process       the process record's files, as above
**   smaps         smaps through a 1 MiB buffer (few reads)
**   smaps-64k     smaps through a 64 KiB buffer (libpss's line buffer)
**   floor-usage   process + smaps, timed as one block
**   maps          maps (what a capture without memory usage reads)
**   smaps-rollup  smaps_rollup (the process's totals alone)
**   pagemap       pagemap for every mapping's range (ranges from a maps
**                 read outside the timing), present and swapped bits
**                 counted
**   maps+pagemap  maps, its ranges parsed, then pagemap as above
** then "count <what> <n>": mappings, bytes of smaps and of pagemap read,
** pages mapped, present and swapped (pagemap), the present pages and those
** mapped once ("exclusively mapped") in kB, and the sums of smaps's Rss,
** Swap and Private_Clean + Private_Dirty lines in kB (parsed, outside the
** timing).
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
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

/* {======================================================================
** smaps mode: the floor of a capture with memory usage, and pagemap
** ======================================================================= */
enum { U_PROCESS, U_SMAPS, U_SMAPS_64K, U_FLOOR, U_MAPS, U_ROLLUP, U_PAGEMAP,
       U_MAPS_PAGEMAP, NUSAGE };

static const char *const usage_names[NUSAGE] = {
  "process", "smaps", "smaps-64k", "floor-usage", "maps", "smaps-rollup", "pagemap",
  "maps+pagemap"
};

/* dirfd/name to EOF through chunk bytes of buf at a time; the byte count. */
static long slurp_by (int dirfd, const char *name, size_t chunk) {
  long total = 0;
  ssize_t n;
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while ((n = read(fd, buf, chunk)) > 0) total += n;
  close(fd);
  return total;
}

#define MAX_RANGES (1 << 20)
static unsigned long range_start[MAX_RANGES], range_end[MAX_RANGES];

static char maps_text[16 << 20];

/* maps into the ranges (its first two fields); their count. */
static int read_ranges (int dirfd) {
  char *p, *end;
  long n = 0;
  ssize_t got;
  int count = 0, fd = openat(dirfd, "maps", O_RDONLY | O_CLOEXEC);
  while (fd >= 0 && (got = read(fd, maps_text + n, sizeof maps_text - 1 - (size_t)n)) > 0)
    n += got;
  if (fd < 0 || (size_t)n >= sizeof maps_text - 1) {
    fprintf(stderr, "floor: maps unreadable or over %zu bytes\n", sizeof maps_text - 1);
    exit(1);
  }
  close(fd);
  maps_text[n] = '\0';
  for (p = maps_text; *p != '\0' && count < MAX_RANGES; p = end + 1) {
    range_start[count] = strtoul(p, &p, 16);
    range_end[count++] = strtoul(p + 1, &p, 16);
    if ((end = strchr(p, '\n')) == NULL) break;
  }
  return count;
}

struct pages { long mapped, present, swapped, exclusive, bytes; };

/* Every range's pagemap entries (bit 63: present, bit 62: swapped, bit 56:
** mapped once). A range beyond what pagemap covers ([vsyscall]) reads 0
** bytes. */
static void read_pagemap (int fd, int nranges, struct pages *pg) {
  const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
  uint64_t *entry = (uint64_t *)(void *)buf;
  int i;
  memset(pg, 0, sizeof *pg);
  for (i = 0; i < nranges; i++) {
    unsigned long first = range_start[i] / page, last = range_end[i] / page;
    pg->mapped += (long)(last - first);
    while (first < last) {
      size_t want = (last - first) * 8 < sizeof buf ? (last - first) * 8 : sizeof buf;
      ssize_t n = pread(fd, entry, want, (off_t)(first * 8)), k;
      if (n <= 0) break;
      for (k = 0; k < n / 8; k++) {
        pg->present += (long)(entry[k] >> 63);
        pg->swapped += (long)(entry[k] >> 62 & 1);
        pg->exclusive += (long)(entry[k] >> 56 & 1);
      }
      pg->bytes += n;
      first += (unsigned long)n / 8;
    }
  }
}

/* The sum of one smaps field (kB) over the mappings, parsed. */
static long smaps_sum_kb (int dirfd, const char *field) {
  FILE *f;
  char line[8192];
  size_t k = strlen(field);
  long sum = 0;
  int fd = openat(dirfd, "smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (f = fdopen(fd, "r")) == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, k) == 0 && line[k] == ':') sum += atol(line + k + 1);
  fclose(f);
  return sum;
}

static void usage_round (int dirfd, int pagemapfd, int nranges, double *t, struct pages *pg) {
  static const char *const process_files[] = { "stat", "status", "auxv", "personality",
                                               "cmdline", NULL };
  char link[4096];
  double t0 = now_ms(), t1, t2, t3, t4;
  readlinkat(dirfd, "exe", link, sizeof link);
  read_all(dirfd, process_files);
  t1 = now_ms();
  slurp_by(dirfd, "smaps", sizeof buf);
  t2 = now_ms();
  t[U_PROCESS] = t1 - t0; t[U_SMAPS] = t2 - t1; t[U_FLOOR] = t2 - t0;
  t0 = now_ms();
  slurp_by(dirfd, "smaps", 64 * 1024);
  t1 = now_ms();
  slurp_by(dirfd, "maps", sizeof buf);
  t2 = now_ms();
  slurp_by(dirfd, "smaps_rollup", sizeof buf);
  t3 = now_ms();
  read_pagemap(pagemapfd, nranges, pg);
  t4 = now_ms();
  t[U_SMAPS_64K] = t1 - t0; t[U_MAPS] = t2 - t1; t[U_ROLLUP] = t3 - t2; t[U_PAGEMAP] = t4 - t3;
  t0 = now_ms();
  read_pagemap(pagemapfd, read_ranges(dirfd), pg);
  t[U_MAPS_PAGEMAP] = now_ms() - t0;
}

static int usage_main (int pid, int reps) {
  char path[64];
  double *samples, t[NUSAGE];
  struct pages pg;
  int dirfd, pagemapfd, nranges, r, p;
  long page_kb = sysconf(_SC_PAGESIZE) / 1024;
  snprintf(path, sizeof path, "/proc/%d", pid);
  if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
      (pagemapfd = openat(dirfd, "pagemap", O_RDONLY | O_CLOEXEC)) < 0) {
    perror(path);
    return 1;
  }
  if ((samples = malloc(sizeof *samples * NUSAGE * (size_t)reps)) == NULL) return 1;
  nranges = read_ranges(dirfd);
  usage_round(dirfd, pagemapfd, nranges, t, &pg);   /* warm the caches once */
  for (r = 0; r < reps; r++) {
    usage_round(dirfd, pagemapfd, nranges, t, &pg);
    for (p = 0; p < NUSAGE; p++) samples[p * reps + r] = t[p];
  }
  for (p = 0; p < NUSAGE; p++) {
    double *s = samples + p * reps;
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    printf("%s %.3f %.3f\n", usage_names[p], (s[(reps - 1) / 2] + s[reps / 2]) / 2, s[0]);
  }
  printf("count mappings %d\n", nranges);
  printf("count smaps_bytes %ld\n", slurp_by(dirfd, "smaps", sizeof buf));
  printf("count pagemap_bytes %ld\n", pg.bytes);
  printf("count pages_mapped %ld\n", pg.mapped);
  printf("count pages_present %ld\n", pg.present);
  printf("count pages_swapped %ld\n", pg.swapped);
  printf("count pagemap_present_kb %ld\n", pg.present * page_kb);
  printf("count pagemap_exclusive_kb %ld\n", pg.exclusive * page_kb);
  printf("count smaps_rss_kb %ld\n", smaps_sum_kb(dirfd, "Rss"));
  printf("count smaps_swap_kb %ld\n", smaps_sum_kb(dirfd, "Swap"));
  printf("count smaps_private_kb %ld\n",
         smaps_sum_kb(dirfd, "Private_Clean") + smaps_sum_kb(dirfd, "Private_Dirty"));
  free(samples);
  close(pagemapfd);
  close(dirfd);
  return 0;
}
/* }====================================================================== */

int main (int argc, char **argv) {
  int pid, reps, r, p;
  double *samples;
  if (argc == 4 && strcmp(argv[3], "smaps") == 0 && (pid = atoi(argv[1])) > 0 &&
      (reps = atoi(argv[2])) > 0)
    return usage_main(pid, reps);
  if (argc != 3 || (pid = atoi(argv[1])) <= 0 || (reps = atoi(argv[2])) <= 0) {
    fprintf(stderr, "usage: floor PID REPS [smaps]\n");
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
