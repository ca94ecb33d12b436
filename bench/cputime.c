/*
** cputime OUT COMMAND [ARG...] -- runs COMMAND and writes to the file OUT
** one line "WALL_US CPU_US": its wall time and the CPU time (user + system)
** of it and of the children it waited for, in microseconds, from wait4's
** rusage: what `perf stat` or time(1) would say, without their start-up
** in the wall time or their 10 ms steps. Exits with COMMAND's status
** (128 + the signal that ended it). For bench/stack.sh.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* wait4 */
#endif
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long micros (struct timeval tv) {
  return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static long long now_us (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main (int argc, char **argv) {
  struct rusage ru;
  long long start;
  int status;
  pid_t child;
  FILE *out;
  if (argc < 3) {
    fprintf(stderr, "usage: cputime OUT COMMAND [ARG...]\n");
    return 2;
  }
  start = now_us();
  child = fork();
  if (child < 0) { perror("cputime: fork"); return 1; }
  if (child == 0) {
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  while (wait4(child, &status, 0, &ru) < 0) {
    if (errno != EINTR) { perror("cputime: wait4"); return 1; }
  }
  if ((out = fopen(argv[1], "w")) == NULL) { perror(argv[1]); return 1; }
  fprintf(out, "%lld %lld\n", now_us() - start, micros(ru.ru_utime) + micros(ru.ru_stime));
  if (fclose(out) != 0) { perror(argv[1]); return 1; }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
