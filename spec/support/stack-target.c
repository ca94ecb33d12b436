/*
** stack-target -- a process whose threads wait at known stacks, for the
** stack specs and bench/stack.sh. Built with -O2 -fomit-frame-pointer, so
** unwinding it needs CFI; every stack_* function is kept out of line and
** calls the next one as a real call (no tail call), so each is one frame.
**
** Options: --threads N (3)     chain threads
**          --depth D (3)       stack_chain_depth frames in each chain
**          --corrupt           a thread whose callers' frames are overwritten
**          --bad-sp            a thread whose stack pointer is 0x1000 (x86-64)
**          --spin              a thread running a loop in stack_spin_leaf
**          --meter             a thread timing its own loop (pause)
**          --cxx               a thread waiting under a function whose symbol
**                              is C++-mangled: pss::target::cxx_frame(int)
**
** A chain thread's stack, innermost first: read (libc), stack_chain_leaf,
** stack_chain_depth (D times), stack_chain_middle, stack_chain_top, then
** libc's thread start. The main thread waits in stack_main_wait, under
** main.
**
** Report: "pid <pid>", then "thread <tid> <name> <role>" for the main
** thread (role main) and each other thread (chain, corrupt, bad-sp, spin,
** meter, cxx), then "ready". Then it reads stdin: EOF or "quit" exits 0;
** "pause" prints "pause <us>", the longest gap the meter thread saw between
** two turns of its loop since the last "pause" (0 without --meter).
*/
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KEEP __attribute__((noinline, noclone, used))
/* after a call: keeps it a call, not a jump (each function its own frame) */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

static int never[2];                 /* a pipe no one writes to */
static int depth = 3;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started = PTHREAD_COND_INITIALIZER;
static int waiting;                  /* threads that reported their tid */
static atomic_ullong longest_gap;    /* microseconds */
static volatile unsigned long spins;

struct role { char name[16]; const char *role; pid_t tid; };

static void report_tid (struct role *r) {
  pthread_mutex_lock(&lock);
  r->tid = (pid_t)syscall(SYS_gettid);
  waiting++;
  pthread_cond_broadcast(&started);
  pthread_mutex_unlock(&lock);
}

static volatile int leave;           /* never set: the waits could end */

static KEEP void stack_block (void) {
  char c;
  while (!leave) if (read(never[0], &c, 1) <= 0) pause();
}

static KEEP int stack_chain_leaf (void) { stack_block(); NO_TAIL(); return 0; }

static KEEP int stack_chain_depth (int n) {
  int r = n > 1 ? stack_chain_depth(n - 1) : stack_chain_leaf();
  NO_TAIL();
  return r + 1;
}

static KEEP int stack_chain_middle (void) { int r = stack_chain_depth(depth); NO_TAIL(); return r; }
static KEEP int stack_chain_top (void) { int r = stack_chain_middle(); NO_TAIL(); return r; }

static void *chain_thread (void *arg) {
  report_tid(arg);
  stack_chain_top();
  return NULL;
}

/* Overwrites the frames of its callers (up to its thread's first frame,
** whose address it is given) with 0x41 bytes, then waits. */
static KEEP void stack_corrupt_leaf (volatile unsigned char *limit) {
  volatile unsigned char here[32];
  volatile unsigned char *p = here + sizeof here;
  here[0] = 0;
  while (p < limit) *p++ = 0x41;
  stack_block();
  NO_TAIL();
}

static KEEP void stack_corrupt_top (volatile unsigned char *limit) {
  stack_corrupt_leaf(limit);
  NO_TAIL();
}

static void *corrupt_thread (void *arg) {
  volatile unsigned char mark = 0;
  report_tid(arg);
  stack_corrupt_top(&mark);
  return NULL;
}

/* Spins with its stack pointer at 0x1000, in no mapping, every signal
** blocked (a signal frame could not be pushed there). */
static void *bad_sp_thread (void *arg) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  report_tid(arg);
#if defined(__x86_64__)
  __asm__ volatile("mov $0x1000, %%rsp\n"
                   "1: mov $34, %%eax\n"   /* pause */
                   "syscall\n"
                   "jmp 1b\n" ::: "rax", "rcx", "r11", "memory");
#endif
  for (;;) pause();
  return NULL;
}

/* A C function under the symbol a C++ compiler gives
** pss::target::cxx_frame(int): what an unwinder must demangle. */
KEEP void cxx_frame (int n) __asm__("_ZN3pss6target9cxx_frameEi");
KEEP void cxx_frame (int n) {
  if (n > 0) stack_block();
  NO_TAIL();
}

static void *cxx_thread (void *arg) {
  report_tid(arg);
  cxx_frame(1);
  return NULL;
}

static KEEP void stack_spin_leaf (void) { for (;;) spins++; }
static KEEP void stack_spin_top (void) { stack_spin_leaf(); NO_TAIL(); }

static void *spin_thread (void *arg) {
  report_tid(arg);
  stack_spin_top();
  return NULL;
}

static unsigned long long now_us (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000u + (unsigned long long)ts.tv_nsec / 1000u;
}

/* Turns every 50 us; a turn that took longer was paused from outside. */
static void *meter_thread (void *arg) {
  struct timespec nap = { 0, 50000 };
  unsigned long long last;
  report_tid(arg);
  last = now_us();
  for (;;) {
    unsigned long long t, gap, seen;
    nanosleep(&nap, NULL);
    t = now_us();
    gap = t - last;
    last = t;
    seen = atomic_load(&longest_gap);
    while (gap > seen && !atomic_compare_exchange_weak(&longest_gap, &seen, gap)) {}
  }
  return NULL;
}

static KEEP void stack_main_wait (void) {
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "quit", 4) == 0) break;
    if (strncmp(line, "pause", 5) == 0) {
      printf("pause %llu\n", atomic_exchange(&longest_gap, 0));
      fflush(stdout);
    }
  }
  NO_TAIL();
}

static void start (struct role *r, const char *name, const char *role, void *(*fn)(void *)) {
  pthread_t th;
  pthread_attr_t attr;
  snprintf(r->name, sizeof r->name, "%s", name);
  r->role = role;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 << 10);
  if (pthread_create(&th, &attr, fn, r) != 0) { perror("pthread_create"); exit(1); }
  pthread_setname_np(th, r->name);
  pthread_attr_destroy(&attr);
}

int main (int argc, char **argv) {
  int threads = 3, corrupt = 0, bad_sp = 0, spin = 0, meter = 0, cxx = 0, i, n = 0;
  struct role *roles;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc) depth = atoi(argv[++i]);
    else if (strcmp(argv[i], "--corrupt") == 0) corrupt = 1;
    else if (strcmp(argv[i], "--bad-sp") == 0) bad_sp = 1;
    else if (strcmp(argv[i], "--spin") == 0) spin = 1;
    else if (strcmp(argv[i], "--meter") == 0) meter = 1;
    else if (strcmp(argv[i], "--cxx") == 0) cxx = 1;
    else { fprintf(stderr, "stack-target: unknown option %s\n", argv[i]); return 2; }
  }
  if (threads < 0 || threads > 4096 || depth < 1 || depth > 10000 || pipe(never) < 0) return 2;
  if ((roles = calloc((size_t)threads + 5, sizeof *roles)) == NULL) return 1;
  for (i = 0; i < threads; i++) {
    char name[16];
    snprintf(name, sizeof name, "chain-%d", i);
    start(&roles[n++], name, "chain", chain_thread);
  }
  if (corrupt) start(&roles[n++], "corrupt", "corrupt", corrupt_thread);
  if (bad_sp) start(&roles[n++], "bad-sp", "bad-sp", bad_sp_thread);
  if (spin) start(&roles[n++], "spin", "spin", spin_thread);
  if (meter) start(&roles[n++], "meter", "meter", meter_thread);
  if (cxx) start(&roles[n++], "cxx", "cxx", cxx_thread);
  pthread_mutex_lock(&lock);
  while (waiting < n) pthread_cond_wait(&started, &lock);
  pthread_mutex_unlock(&lock);
  printf("pid %d\nthread %d stack-target main\n", (int)getpid(), (int)getpid());
  for (i = 0; i < n; i++) printf("thread %d %s %s\n", (int)roles[i].tid, roles[i].name, roles[i].role);
  /* the threads reported their tid just before they block: give them time
  ** to reach their wait (a reader of the report may capture at once) */
  usleep(20000);
  printf("ready\n");
  fflush(stdout);
  stack_main_wait();
  return 0;
}
