/*
** clone-target -- the process bench/clone.sh pauses: MB of resident memory,
** THREADS-1 threads sleeping 5 ms at a time, and a main thread that counts
** and writes one word per page in a tight loop, timing each turn. The
** longest turn is the longest pause the target saw.
**
**   clone-target MB THREADS [thp]
**
** stdin commands (one answer line each):
**   reset   forget the longest turn so far        -> "ok"
**   gap     the longest turn since reset, in us   -> "gap <us>"
**   fork    its own fork() time: median of 5 raw clone(SIGCHLD) calls whose
**           child exits at once, timed in the parent, in us -> "fork <us>"
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_llong longest_ns;
static atomic_int reset_asked;

static long long now_ns (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *sleeper (void *arg) {
  struct timespec five = { 0, 5000000 };
  (void)arg;
  for (;;) nanosleep(&five, NULL);
  return NULL;
}

static int cmp_ll (const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

/* The kernel's cost of duplicating this address space, as a fork shows it. */
static long long fork_us (void) {
  long long t[5];
  int i;
  for (i = 0; i < 5; i++) {
    long long t0 = now_ns();
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    t[i] = now_ns() - t0;
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  }
  qsort(t, 5, sizeof t[0], cmp_ll);
  return t[2] / 1000;
}

static void *control (void *arg) {
  char line[64];
  (void)arg;
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (!strncmp(line, "reset", 5)) { atomic_store(&reset_asked, 1); puts("ok"); }
    else if (!strncmp(line, "gap", 3)) printf("gap %lld\n", atomic_load(&longest_ns) / 1000);
    else if (!strncmp(line, "fork", 4)) printf("fork %lld\n", fork_us());
    fflush(stdout);
  }
  exit(0);
}

int main (int argc, char **argv) {
  size_t bytes, pages, i;
  long threads;
  unsigned char *mem;
  pthread_t th;
  long long last;
  uint64_t counter = 0;
  if (argc < 3) { fprintf(stderr, "usage: clone-target MB THREADS [thp]\n"); return 2; }
  bytes = (size_t)atol(argv[1]) << 20;
  threads = atol(argv[2]);
  mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) { perror("mmap"); return 1; }
  madvise(mem, bytes, argc > 3 && !strcmp(argv[3], "thp") ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  memset(mem, 1, bytes);
  pages = bytes / 4096;
  for (i = 1; i < (size_t)threads; i++) pthread_create(&th, NULL, sleeper, NULL);
  pthread_create(&th, NULL, control, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  last = now_ns();
  for (;;) {
    long long t = now_ns(), turn = t - last;
    last = t;
    if (atomic_exchange(&reset_asked, 0)) atomic_store(&longest_ns, 0);
    else if (turn > atomic_load(&longest_ns)) atomic_store(&longest_ns, turn);
    counter++;
    mem[(counter % pages) * 4096] = (unsigned char)counter;
  }
}
