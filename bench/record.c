/*
** record.c -- what a capture of the process record alone costs, next to
** reading the same kind of text by hand.
**
**   bench-record PID REPS
**
** Per round, in this one process: (a) PssCaptureSnapshot(handle, 0) and
** PssFreeSnapshot -- the record needs no freeze, so the target is not
** stopped; (b) open, read and close /proc/PID/stat, status and cmdline
** (what ps reads per process). Prints "<name> <median us> <min us>" and
** the target's threads frozen by (a) (0 when it is read while running).
** Measurement only: nothing is asserted.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pss.h"

static double now_us (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double (const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report (const char *name, double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  printf("%s %.1f %.1f\n", name, v[n / 2], v[0]);
}

static char buf[1 << 16];

static void read_by_hand (int pid) {
  static const char *const names[] = { "stat", "status", "cmdline" };
  char path[64];
  size_t i;
  for (i = 0; i < 3; i++) {
    int fd;
    snprintf(path, sizeof path, "/proc/%d/%s", pid, names[i]);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) { perror(path); exit(1); }
    while (read(fd, buf, sizeof buf) > 0) ;
    close(fd);
  }
}

int main (int argc, char **argv) {
  int pid = argc > 2 ? atoi(argv[1]) : 0, reps = argc > 2 ? atoi(argv[2]) : 0, i;
  double *capture, *by_hand;
  HANDLE h;
  PSS_LINUX_PERFORMANCE_COUNTERS lp;
  HPSS s;
  if (pid <= 0 || reps <= 0) {
    fprintf(stderr, "usage: bench-record PID REPS\n");
    return 2;
  }
  capture = calloc((size_t)reps, sizeof *capture);
  by_hand = calloc((size_t)reps, sizeof *by_hand);
  if (capture == NULL || by_hand == NULL || PssLinuxOpenProcess((DWORD)pid, &h) != 0) {
    fprintf(stderr, "bench-record: cannot open pid %d\n", pid);
    return 1;
  }
  for (i = 0; i < reps; i++) {
    double t0 = now_us();
    if (PssCaptureSnapshot(h, PSS_CAPTURE_NONE, 0, &s) != ERROR_SUCCESS) {
      fprintf(stderr, "bench-record: capture failed: %s\n", PssLinuxLastErrorDetail());
      return 1;
    }
    PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    capture[i] = now_us() - t0;
    t0 = now_us();
    read_by_hand(pid);
    by_hand[i] = now_us() - t0;
  }
  if (PssCaptureSnapshot(h, PSS_CREATE_MEASURE_PERFORMANCE, 0, &s) != ERROR_SUCCESS ||
      PssQuerySnapshot(s, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &lp, sizeof lp) != 0)
    return 1;
  PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
  report("record-capture", capture, reps);
  report("stat+status+cmdline", by_hand, reps);
  printf("threads-frozen %u\n", (unsigned)lp.ThreadsFrozen);
  PssLinuxCloseProcess(h);
  return 0;
}
