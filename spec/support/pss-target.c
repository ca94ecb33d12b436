/*
** pss-target -- the process the test suites start, capture and compare.
**
** It builds a known set of threads, file descriptors and mappings, prints a
** report of them on stdout and waits. Everything in the report that the
** kernel can tell is read back from the kernel (fcntl, fstat, getsockname,
** /proc/self/maps, ...), not assumed from what was asked for.
**
** Options: --threads N (3)   --no-fds   --no-maps   --extra-fds N
**          --extra-maps N    --resident MB   --odd-name
**          --exit-now CODE   --exit-after MS   --grow PAGES
**          --parked   --counters   --sleeper   --churn   --tls
**          --writer   --reaper   --fork-maps   --seccomp MODE
**          --changes   --thread-churn   --fd-churn   --map-churn
**
** Report, one item per line, numbers decimal unless said otherwise, byte
** strings (paths) as lowercase hex of the exact bytes, "-" for none:
**
**   pid <pid>
**   exe <hex of the /proc/self/exe link>
**   thread <tid> <name>             main thread first, then worker-0 ...
**   fd <n> <kind> <key>=<value> ... keys in any order; every line ends with
**                                   inode=<st_ino> flags=<F_GETFL, octal with
**                                   a leading 0> cloexec=<0|1>
**   extra-fds <N>
**   map <start, hex> <size> <perms> <kind> <hex of the /proc/self/maps path>
**   extra-maps <N>
**   odd <hex path>                  only with --odd-name
**   thread <tid> <name>             also for parked, counter-a, counter-b,
**                                   sleeper, reader, writer, reaper,
**                                   thread-churn, fd-churn, map-churn,
**                                   changer-0 when their option is given
**   parked <tid> <begin> <end> <self>   only with --parked (hex, no 0x)
**   counters <tid-a> <tid-b>        only with --counters
**   sleeper <tid-sleeper> <tid-reader>  only with --sleeper
**   tls <tid> <pthread_self, hex>   only with --tls, one per reported thread
**   writer <tid> <counter> <buffer> <bytes>  only with --writer (hex addresses)
**   reaper <tid>                    only with --reaper
**   ready
**
** File-like fd kinds (file-*, directory, device, fifo) carry path=, the hex
** of their /proc/self/fd link; every other kind carries link=, the same for
** its "pipe:[...]", "socket:[...]", "anon_inode:[...]" name (and
** socket-unix-bound also path=, the address it is bound to, as given). A map
** line's path is what /proc/self/maps shows: "/dev/zero (deleted)" for
** anon-shared, "/memfd:pss-memfd (deleted)" for memfd. --extra-fds and
** --extra-maps are only counted; those fds are the highest numbers.
**
** After "ready" the main thread reads stdin: "quit" (or "exit") or EOF exits
** 0, "exit N" exits N, SIGTERM or SIGINT exits 0; each first stops the
** workers, kills and reaps the pidfd child and removes the scratch
** directory. --exit-after MS exits 0 after MS ms; EOF then does not end it
** early. --exit-now CODE reaps the child, removes the scratch directory and
** calls _exit(CODE) right after "ready" (for zombie tests).
**
** Threads for the freeze tests (src/linux/freeze.c), each reported with a
** "thread" line after the workers:
** --parked    "parked": loads r12 = 0x5053535f52313221, r13 =
**             0x0123456789abcdef, r14 = its tid, then loops on the pause
**             system call, all inside one asm block between the global
**             labels pss_parked_begin and pss_parked_end; a stopped
**             thread's rip lies in [begin, end].
** --counters  "counter-a" increments r12 and stores it to a shared word X
**             after each increment; "counter-b" loads X into r13, forever.
**             Busy loops in user space: both always run. Frozen together,
**             B's r13 <= A's r12.
** --sleeper   "sleeper" loops clock_nanosleep(CLOCK_MONOTONIC, 20 ms) and
**             counts a nonzero return or less than 20 ms slept as an
**             anomaly; "reader" blocks in read() on a pipe nobody writes
**             and counts any return as one. The stdin command "anomalies"
**             prints "anomalies <n>" (any target; 0 without --sleeper).
** Any target counts the SIGRTMIN+1 it receives (a handler with SA_RESTART);
** the stdin command "signals" prints "signals <n>".
** --churn     the main thread creates and joins do-nothing threads in a
**             loop while it serves stdin (polled between two threads).
** --tls       a "tls" line for every reported thread: its pthread_self,
**             which glibc places at the thread's fs_base.
**
** For the racing tests (spec/c/test_racing.c): threads that change the
** process as fast as they can, so that captures race them. They start
** after the fds and mappings of the report are made (those are as
** without them) and before the report is printed (their "thread" lines).
** --thread-churn  "thread-churn" starts detached threads that exit at
**             once, in a loop, keeping up to four of them alive: unlike
**             --churn (one thread at a time, joined), new threads appear
**             while others still run, and the one that makes them is not
**             the main thread.
** --fd-churn  "fd-churn" opens /dev/null, a pipe, an eventfd and a unix
**             socket pair, then closes all six, in a loop. They take the
**             lowest free numbers (above the standard set); never more
**             than these six are open at once.
** --map-churn "map-churn" works in an arena of its own, 16 slots of 4
**             pages reserved PROT_NONE at start: round k maps 1 + k % 3
**             pages of slot k % 16 read-write over the reservation
**             (MAP_FIXED), writes their first byte, makes their first page
**             read-only, unmaps them and reserves them again
**             (MAP_FIXED_NOREPLACE: a slot whose pages someone else took
**             in between is left alone from then on; with none left the
**             thread ends). So the number of mappings goes up and down by
**             a few, and nothing outside the arena is ever mapped over.
** The stdin command "churned" prints "churned <threads> <fd rounds> <map
** rounds>": the threads --churn and --thread-churn made and the rounds of
** the two other churners so far (each 0 without its option).
**
** For the VA clone tests (src/linux/vaclone.c):
** --writer    "writer" rewrites every word of the global pss_writer_buffer
**             with n+1, then stores n+1 to the global pss_writer_counter,
**             forever. So any one instant holds counter = c and a buffer of
**             c+1 up to some word and c after it. "writer" prints "writer
**             <counter>" (the live value, decimal).
** --reaper    counts SIGCHLD (a handler with SA_RESTART) and runs a thread
**             "reaper" that loops waitpid(-1, 0) (sleeping 5 ms on ECHILD),
**             counting the children it reaps. "children" prints "children
**             <sigchld> <reaped>".
** --fork-maps four more map lines of 4 pages each, written with 0xa5:
**             "fork-private" (private anonymous), "fork-shared" (shared
**             anonymous), "fork-dontfork" (private, MADV_DONTFORK) and
**             "fork-wipe" (private, MADV_WIPEONFORK). "fork-write" stores
**             0x11 to the first byte of each and prints "fork-written".
** For the memory usage tests (PSS_LINUX_CAPTURE_MEMORY_USAGE):
** --grow PAGES a "grow" map line: PAGES pages of private anonymous
**             read-write memory of which none is resident at "ready". The
**             stdin command "touch N" writes the first byte of the next N
**             untouched pages (in address order) and prints "touched
**             <pages touched so far>".
** --seccomp MODE  after the report is built, a filter on every thread
**             (TSYNC): "errno-clone" fails clone() with EPERM, "kill-clone"
**             kills the process on clone(); everything else is allowed.
**
** For the diff tests (lua/pss/diff.lua):
** --changes   each SIGUSR2 makes one "change step" (at most 100), done by
**             the main thread in its wait loop (the handler only sets a
**             flag; SIGUSR2 is blocked everywhere except in the main
**             thread's ppoll). A step opens a pipe (2 fds), then closes the
**             oldest fd of the change set; starts thread "changer-N" (N the
**             step, from 1), then stops (joins) the oldest changer; maps 2
**             private anonymous read-write regions, unmaps the oldest change
**             region, reprotects the next oldest to read-only and grows the
**             third oldest by 2 pages in place (mremap). It prints, flushed:
**               change opened <fd>                     two lines
**               change closed <fd>
**               change started <tid>
**               change ended <tid>
**               change mapped <start, hex> <size>      two lines
**               change unmapped <start, hex>
**               change reprotected <start, hex> <perms, as in maps>
**               change resized <start, hex> <old size> <new size>
**               change done
**             and the process's threads, fds and mappings then differ from
**             before the step by exactly these (sizes and perms read back
**             from /proc/self/maps; an ended thread is gone from
**             /proc/self/task). The initial change set is in the report:
**             "fd <n> change-pipe-read" (step 1 closes it) and "fd <n>
**             change-pipe-write" (step 2), "thread <tid> changer-0" (step 1
**             stops it), "map ... change-unmap" (step 1 unmaps it), "map ...
**             change-reprotect" (step 1 reprotects it, step 2 unmaps it) and
**             "map ... change-resize" (step 1 grows it, step 2 reprotects it,
**             step 3 unmaps it); every region the steps map goes the same
**             way, resized, reprotected and unmapped by the three steps
**             after the one that mapped it. The fds a step opens are closed
**             by later steps in the order they were opened (read end first).
**             Nothing else changes: the regions lie in a range kept free far
**             below the other mappings, each with unmapped pages around it,
**             so none merges with a neighbour or moves; the changers run on
**             stacks allocated at start (no stack mapping comes or goes) and
**             never call malloc; the heap is never trimmed (M_TRIM_THRESHOLD)
**             and the main thread's stack is grown in advance.
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434   /* the same number on every architecture */
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000   /* Linux 4.17; older kernels take it as a hint */
#endif

enum {
  MAX_THREADS = 10000,       /* "worker-9999" still fits the 15-byte name */
  MAX_FDS = 40,              /* the standard set plus file-odd, with room */
  MAX_MAPS = 16,
  FILE_BYTES = 4096,         /* content of the plain scratch files */
  MEMFD_BYTES = 65536,
  HEADROOM_FDS = 256         /* the standard set, stdio and libc, generously */
};

#define ODD_NAME "odd-\xff\xfe-name"
#define MEMFD_NAME "pss-memfd"

struct options {
  long threads;
  bool fds, maps, odd_name;
  long extra_fds, extra_maps, resident_mb, grow_pages;
  int exit_now;              /* -1 unless --exit-now */
  long exit_after_ms;        /* -1 unless --exit-after */
  bool parked, counters, sleeper, churn, tls, writer, reaper, fork_maps;
  char const *seccomp;       /* NULL, "errno-clone" or "kill-clone" */
  bool changes, thread_churn, fd_churn, map_churn;
};

/* One line of the fd part of the report; detail holds the kind's own keys,
** the common ones are read back when the line is printed. */
struct fd_rec {
  int fd;
  char const *kind;
  bool file_like;            /* print path= (else link=) */
  char detail[400];
};

struct map_rec {
  char const *kind;
  uintptr_t start;
  size_t size;
};

struct worker {
  struct crew *crew;
  pthread_t thread;
  pid_t tid;
  unsigned index;
};

/* The workers wait on cond until stop is set, so they can be joined. */
struct crew {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
  size_t created, started;
  struct worker *workers;
};

/* A thread of the freeze options: named, published tid and pthread_self. */
struct extra_thread {
  char const *name;
  pthread_t thread;
  pid_t tid;
  bool started;
};

enum { EXTRA_PARKED, EXTRA_COUNTER_A, EXTRA_COUNTER_B, EXTRA_SLEEPER, EXTRA_READER,
       EXTRA_WRITER, EXTRA_REAPER, EXTRA_THREAD_CHURN, EXTRA_FD_CHURN, EXTRA_MAP_CHURN,
       EXTRA_COUNT };

/* --changes: the change set, as queues (oldest first) of fds, regions and
** changer threads. Region i lies in slot i of the arena; slots are far
** enough apart that no two regions ever touch. */
enum {
  CHANGE_STEPS = 100,
  CHANGE_FDS = 2 + 2 * CHANGE_STEPS,
  CHANGE_SLOTS = 3 + 2 * CHANGE_STEPS,
  CHANGE_SLOT_PAGES = 16,    /* the largest region is 6 pages */
  CHANGE_GROW_PAGES = 2,
  CHANGE_STACK_BYTES = 256 * 1024
};

struct changer {
  struct changes *changes;
  pthread_t thread;
  pid_t tid;
  bool running, stop;
  char name[16];
  char *stack;               /* CHANGE_STACK_BYTES of ours, reused */
};

struct change_region {
  size_t size;
  int prot;
};

struct changes {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned step;             /* steps done */
  char *arena;
  struct change_region regions[CHANGE_SLOTS];
  size_t nregions, oldest_region;
  int fds[CHANGE_FDS];
  size_t nfds, oldest_fd;
  struct changer threads[2]; /* at most two run, during a step */
  unsigned oldest_thread;    /* the index of the one the next step stops */
};

struct target {
  struct options opt;
  size_t page;
  char dir[PATH_MAX];        /* the scratch directory, "" until made */
  pid_t child;               /* the pidfd child, 0 if none */
  sigset_t waitmask;         /* the main thread's mask while it waits */
  struct crew crew;
  int pipe_read, memfd, odd_fd;  /* needed again after opening; -1 if not */
  struct fd_rec fds[MAX_FDS];
  size_t nfds;
  struct map_rec maps[MAX_MAPS];
  size_t nmaps;
  long extra_fds_opened, extra_maps_made;
  struct extra_thread extra[EXTRA_COUNT];
  int idle_pipe[2];          /* --sleeper: the reader's pipe, never written */
  struct changes changes;    /* --changes */
};

/* Set by the SIGTERM/SIGINT handler: the one piece of state a handler needs. */
static volatile sig_atomic_t stop_requested;

/* Set by the SIGUSR2 handler (--changes); the main thread does the step. */
static volatile sig_atomic_t change_requested;

static void cleanup (struct target *t);

/* {======================================================================
** Errors and small helpers
** ======================================================================= */

static _Noreturn void fail (struct target *t, char const *what) {
  int e = errno;
  fprintf(stderr, "pss-target: %s: %s\n", what, strerror(e));
  cleanup(t);
  exit(1);
}

static _Noreturn void usage (char const *why) {
  fprintf(stderr, "pss-target: %s\n"
          "usage: pss-target [--threads N] [--no-fds] [--no-maps] [--extra-fds N]\n"
          "                  [--extra-maps N] [--resident MB] [--odd-name]\n"
          "                  [--exit-now CODE] [--exit-after MS] [--grow PAGES]\n"
          "                  [--parked] [--counters] [--sleeper] [--churn] [--tls]\n"
          "                  [--writer] [--reaper] [--fork-maps] [--seccomp MODE]\n"
          "                  [--changes] [--thread-churn] [--fd-churn] [--map-churn]\n", why);
  exit(2);
}

static long parse_number (char const *text, long max, char const *option) {
  char *end;
  long v;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > max) {
    char why[128];
    snprintf(why, sizeof why, "%s wants a number from 0 to %ld", option, max);
    usage(why);
  }
  return v;
}

static void put_hex (char const *bytes, size_t len) {
  size_t i;
  if (len == 0)
    fputs("-", stdout);
  for (i = 0; i < len; i++)
    printf("%02x", (unsigned)(unsigned char)bytes[i]);
}

static void hex_encode (char const *bytes, size_t len, char *out, size_t cap) {
  size_t i;
  for (i = 0; i < len && 2 * i + 2 < cap; i++)
    snprintf(out + 2 * i, 3, "%02x", (unsigned)(unsigned char)bytes[i]);
  out[2 * i] = '\0';
}

/* readlink that terminates; the length, 0 if the link cannot be read. */
static size_t read_link (char const *path, char *out, size_t cap) {
  ssize_t n = readlink(path, out, cap - 1);
  if (n < 0)
    n = 0;
  out[n] = '\0';
  return (size_t)n;
}

/* The whole of a /proc file, NUL-terminated, in a malloc'ed buffer. */
static char *read_proc (struct target *t, char const *path) {
  size_t cap = 65536, used = 0;
  char *buf = malloc(cap);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (buf == NULL || fd < 0)
    fail(t, path);
  for (;;) {
    ssize_t n;
    if (used + 1 == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL)
        fail(t, path);
      buf = bigger;
      cap *= 2;
    }
    n = read(fd, buf + used, cap - used - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail(t, path);
    if (n == 0)
      break;
    used += (size_t)n;
  }
  close(fd);
  buf[used] = '\0';
  return buf;
}
/* }====================================================================== */


/* {======================================================================
** Options
** ======================================================================= */

static void parse_options (int argc, char **argv, struct options *o) {
  enum { THREADS = 1, NO_FDS, NO_MAPS, EXTRA_FDS, EXTRA_MAPS, RESIDENT,
         ODD_NAME_OPT, EXIT_NOW, EXIT_AFTER, PARKED, COUNTERS, SLEEPER, CHURN, TLS,
         WRITER, REAPER, FORK_MAPS, SECCOMP, CHANGES, THREAD_CHURN, FD_CHURN,
         MAP_CHURN, GROW };
  static struct option const longopts[] = {
    { "threads", required_argument, NULL, THREADS },
    { "no-fds", no_argument, NULL, NO_FDS },
    { "no-maps", no_argument, NULL, NO_MAPS },
    { "extra-fds", required_argument, NULL, EXTRA_FDS },
    { "extra-maps", required_argument, NULL, EXTRA_MAPS },
    { "resident", required_argument, NULL, RESIDENT },
    { "odd-name", no_argument, NULL, ODD_NAME_OPT },
    { "exit-now", required_argument, NULL, EXIT_NOW },
    { "exit-after", required_argument, NULL, EXIT_AFTER },
    { "parked", no_argument, NULL, PARKED },
    { "counters", no_argument, NULL, COUNTERS },
    { "sleeper", no_argument, NULL, SLEEPER },
    { "churn", no_argument, NULL, CHURN },
    { "tls", no_argument, NULL, TLS },
    { "writer", no_argument, NULL, WRITER },
    { "reaper", no_argument, NULL, REAPER },
    { "fork-maps", no_argument, NULL, FORK_MAPS },
    { "seccomp", required_argument, NULL, SECCOMP },
    { "changes", no_argument, NULL, CHANGES },
    { "thread-churn", no_argument, NULL, THREAD_CHURN },
    { "fd-churn", no_argument, NULL, FD_CHURN },
    { "map-churn", no_argument, NULL, MAP_CHURN },
    { "grow", required_argument, NULL, GROW },
    { NULL, 0, NULL, 0 }
  };
  int c;
  *o = (struct options){ .threads = 3, .fds = true, .maps = true,
                         .exit_now = -1, .exit_after_ms = -1 };
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
      case THREADS: o->threads = parse_number(optarg, MAX_THREADS, "--threads"); break;
      case NO_FDS: o->fds = false; break;
      case NO_MAPS: o->maps = false; break;
      case EXTRA_FDS: o->extra_fds = parse_number(optarg, 10000000, "--extra-fds"); break;
      case EXTRA_MAPS: o->extra_maps = parse_number(optarg, 10000000, "--extra-maps"); break;
      case RESIDENT: o->resident_mb = parse_number(optarg, 1L << 20, "--resident"); break;
      case ODD_NAME_OPT: o->odd_name = true; break;
      case EXIT_NOW: o->exit_now = (int)parse_number(optarg, 255, "--exit-now"); break;
      case EXIT_AFTER: o->exit_after_ms = parse_number(optarg, INT_MAX, "--exit-after"); break;
      case PARKED: o->parked = true; break;
      case COUNTERS: o->counters = true; break;
      case SLEEPER: o->sleeper = true; break;
      case CHURN: o->churn = true; break;
      case TLS: o->tls = true; break;
      case WRITER: o->writer = true; break;
      case REAPER: o->reaper = true; break;
      case FORK_MAPS: o->fork_maps = true; break;
      case SECCOMP:
        if (strcmp(optarg, "errno-clone") != 0 && strcmp(optarg, "kill-clone") != 0)
          usage("--seccomp takes errno-clone or kill-clone");
        o->seccomp = optarg;
        break;
      case CHANGES: o->changes = true; break;
      case THREAD_CHURN: o->thread_churn = true; break;
      case FD_CHURN: o->fd_churn = true; break;
      case MAP_CHURN: o->map_churn = true; break;
      case GROW: o->grow_pages = parse_number(optarg, 1L << 24, "--grow"); break;
      default: usage("unknown option");
    }
  }
  if (optind < argc)
    usage("unexpected argument");
}
/* }====================================================================== */


/* {======================================================================
** Scratch directory, pidfd child, signals, limits
** ======================================================================= */

static void scratch_path (struct target *t, char const *name, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/%s", t->dir, name);
  if (n < 0 || (size_t)n >= cap) {
    errno = ENAMETOOLONG;
    fail(t, name);
  }
}

static void make_scratch (struct target *t) {
  char const *tmp = getenv("TMPDIR");
  int n;
  if (tmp == NULL || *tmp == '\0')
    tmp = "/tmp";
  n = snprintf(t->dir, sizeof t->dir, "%s/pss-target.XXXXXX", tmp);
  /* <dir>/sock must fit a unix socket address */
  if (n < 0 || (size_t)n + sizeof "/sock" > sizeof ((struct sockaddr_un *)NULL)->sun_path) {
    t->dir[0] = '\0';
    errno = ENAMETOOLONG;
    fail(t, "scratch directory under $TMPDIR");
  }
  if (mkdtemp(t->dir) == NULL) {
    t->dir[0] = '\0';        /* nothing to remove */
    fail(t, "mkdtemp");
  }
}

/* Removes every name this program creates and then the directory. By name,
** not by reading the directory: that needs a free fd, and --extra-fds may
** have failed for want of one. Open fds and mappings of them stay valid. */
static void remove_scratch (struct target *t) {
  static char const *const names[] = {
    "file-ro", "file-wo-append", "file-rw", "fifo", "sock", "mapped-private",
    "mapped-shared", "extra", ODD_NAME
  };
  size_t i;
  if (t->dir[0] == '\0')
    return;
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", t->dir, names[i]) < sizeof path)
      unlink(path);
  }
  if (rmdir(t->dir) != 0)
    fprintf(stderr, "pss-target: rmdir %s: %s\n", t->dir, strerror(errno));
  t->dir[0] = '\0';
}

/* The child that the pidfd names. Forked before anything else is opened or
** any signal is blocked, and it closes even 0-2: a test that reads our
** stdout to EOF must not wait for this child. */
static pid_t spawn_sleeper (void) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  /* die with the target even if it is SIGKILLed; the getppid check covers a
  ** parent that died before prctl took effect */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    _exit(0);
  close_range(0, ~0U, 0);
  for (;;)
    pause();
}

static void reap_child (struct target *t) {
  if (t->child <= 0)
    return;
  kill(t->child, SIGKILL);
  while (waitpid(t->child, NULL, 0) < 0 && errno == EINTR) {}
  t->child = 0;
}

static void on_stop_signal (int signo) {
  (void)signo;
  stop_requested = 1;
}

static void on_change_signal (int signo) {
  (void)signo;
  change_requested = 1;
}

/* SIGRTMIN+1 deliveries, for the "signals" command: a realtime signal
** queues each instance, so the count says whether any was lost or added. */
static volatile long signals_delivered;

static void on_counted_signal (int sig) {
  (void)sig;
  __atomic_add_fetch(&signals_delivered, 1, __ATOMIC_RELAXED);
}

/* Blocked here, before any thread exists, so every worker inherits the
** mask: SIGUSR1 then only ever queues for the signalfd, and SIGTERM/SIGINT
** reach the main thread only inside ppoll, which unblocks them. */
static void block_signals (struct target *t) {
  struct sigaction sa;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  if (t->opt.changes)
    sigaddset(&block, SIGUSR2);        /* like SIGTERM: only inside ppoll */
  if (pthread_sigmask(SIG_BLOCK, &block, &t->waitmask) != 0)
    fail(t, "pthread_sigmask");
  sigaddset(&t->waitmask, SIGUSR1);
  sigdelset(&t->waitmask, SIGTERM);
  sigdelset(&t->waitmask, SIGINT);
  if (t->opt.changes)
    sigdelset(&t->waitmask, SIGUSR2);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;      /* no SA_RESTART: ppoll must return */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
    fail(t, "sigaction");
  sa.sa_handler = on_change_signal;
  if (t->opt.changes && sigaction(SIGUSR2, &sa, NULL) != 0)
    fail(t, "sigaction SIGUSR2");
  sa.sa_handler = on_counted_signal;
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGRTMIN + 1, &sa, NULL) != 0)
    fail(t, "sigaction");
}

static void raise_fd_limit (struct target *t) {
  struct rlimit rl;
  rlim_t need = (rlim_t)t->opt.extra_fds + HEADROOM_FDS;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    fail(t, "getrlimit");
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rl.rlim_cur = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      fail(t, "setrlimit");
  }
}
/* }====================================================================== */


/* {======================================================================
** Worker threads
** ======================================================================= */

static void *worker_main (void *arg) {
  struct worker *w = arg;
  struct crew *c = w->crew;
  char name[16];
  snprintf(name, sizeof name, "worker-%u", w->index);
  /* on itself, so glibc uses prctl and opens no /proc file */
  pthread_setname_np(pthread_self(), name);
  pthread_mutex_lock(&c->lock);
  w->tid = gettid();
  c->started++;
  pthread_cond_broadcast(&c->cond);
  while (!c->stop)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* Returns once every worker has named itself and published its tid. */
static void crew_start (struct target *t) {
  struct crew *c = &t->crew;
  size_t n = (size_t)t->opt.threads, i;
  if (n == 0)
    return;
  c->workers = calloc(n, sizeof *c->workers);
  if (c->workers == NULL)
    fail(t, "calloc");
  for (i = 0; i < n; i++) {
    int err;
    c->workers[i] = (struct worker){ .crew = c, .index = (unsigned)i };
    err = pthread_create(&c->workers[i].thread, NULL, worker_main, &c->workers[i]);
    if (err != 0) {
      errno = err;
      fail(t, "pthread_create");
    }
    c->created++;
  }
  pthread_mutex_lock(&c->lock);
  while (c->started < n)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
}

static void crew_stop (struct crew *c) {
  size_t i;
  pthread_mutex_lock(&c->lock);
  c->stop = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  for (i = 0; i < c->created; i++)
    pthread_join(c->workers[i].thread, NULL);
  c->created = 0;
  free(c->workers);
  c->workers = NULL;
}
/* }====================================================================== */


/* {======================================================================
** Threads for the freeze tests: --parked, --counters, --sleeper, --churn
** ======================================================================= */

/* Functions whose asm defines global labels must exist exactly once. */
#if defined(__clang__)
#define ONE_COPY __attribute__((noinline))
#else
#define ONE_COPY __attribute__((noinline, noclone))
#endif

/* The bounds of the parked thread's asm block, defined in it. */
extern char const pss_parked_begin[], pss_parked_end[];

/* The shared word of the counters: A stores, B loads; B sets the flag
** once its register holds copies of X only. */
static volatile uint64_t counter_x;
static volatile int counter_b_looping;

/* Early returns of the sleeper, returns of the reader (atomic). */
static long anomaly_count;

static void anomaly (void) {
  __atomic_fetch_add(&anomaly_count, 1, __ATOMIC_RELAXED);
}

/* Names the calling thread and publishes its tid, under the crew's lock. */
static void extra_started (struct target *t, struct extra_thread *x) {
  pthread_setname_np(pthread_self(), x->name);
  pthread_mutex_lock(&t->crew.lock);
  x->tid = gettid();
  x->started = true;
  pthread_cond_broadcast(&t->crew.cond);
  pthread_mutex_unlock(&t->crew.lock);
}

/* Known values in callee-saved registers, then pause() forever, all in one
** asm block: while the thread is blocked its rip is inside the block. The
** syscall instruction clobbers only rax, rcx and r11. */
ONE_COPY __attribute__((noreturn))
static void park (long tid) {
  __asm__ volatile (
    ".globl pss_parked_begin\n"
    "pss_parked_begin:\n\t"
    "movabs $0x5053535f52313221, %%r12\n\t"
    "movabs $0x0123456789abcdef, %%r13\n\t"
    "mov %0, %%r14\n"
    "1:\n\t"
    "mov %1, %%eax\n\t"
    "syscall\n\t"
    "jmp 1b\n"
    ".globl pss_parked_end\n"
    "pss_parked_end:\n\t"
    "nop\n\t"
    :
    : "r"(tid), "i"(SYS_pause)
    : "rax", "rcx", "r11", "r12", "r13", "r14", "memory", "cc");
  __builtin_unreachable();
}

static void *parked_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_PARKED]);
  park((long)gettid());
}

/* A: r12 counts up from 0; each new value is stored to X right after. */
ONE_COPY __attribute__((noreturn))
static void count_up (void) {
  __asm__ volatile (
    "xor %%r12d, %%r12d\n"
    "1:\n\t"
    "inc %%r12\n\t"
    "mov %%r12, (%0)\n\t"
    "jmp 1b\n"
    :
    : "r"(&counter_x)
    : "r12", "memory", "cc");
  __builtin_unreachable();
}

/* B: r13 is a copy of X, loaded again and again. */
ONE_COPY __attribute__((noreturn))
static void copy_down (void) {
  __asm__ volatile (
    "xor %%r13d, %%r13d\n\t"
    "movl $1, (%1)\n"
    "1:\n\t"
    "mov (%0), %%r13\n\t"
    "jmp 1b\n"
    :
    : "r"(&counter_x), "r"(&counter_b_looping)
    : "r13", "memory", "cc");
  __builtin_unreachable();
}

static void *counter_a_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_COUNTER_A]);
  count_up();
}

static void *counter_b_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_COUNTER_B]);
  copy_down();
}

static long long elapsed_ns (struct timespec const *a, struct timespec const *b) {
  return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* The counted signal goes to other threads: a handler interrupts any sleep
** (the kernel never restarts one after a handler), which is not what the
** sleeper and the reader are there to watch. */
static void block_counted_signal (void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN + 1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* 20 ms sleeps: each must return 0 after at least 20 ms. */
static void *sleeper_main (void *arg) {
  struct target *t = arg;
  struct timespec const nap = { 0, 20000000 };
  block_counted_signal();
  extra_started(t, &t->extra[EXTRA_SLEEPER]);
  for (;;) {
    struct timespec before, after;
    int r;
    clock_gettime(CLOCK_MONOTONIC, &before);
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &after);
    if (r != 0 || elapsed_ns(&before, &after) < 20000000LL)
      anomaly();
  }
  return NULL;
}

/* A read that must never return: nobody writes the pipe, and we hold its
** write end open. */
static void *reader_main (void *arg) {
  struct target *t = arg;
  block_counted_signal();
  extra_started(t, &t->extra[EXTRA_READER]);
  for (;;) {
    char c;
    ssize_t n = read(t->idle_pipe[0], &c, 1);
    (void)n;
    anomaly();
  }
  return NULL;
}

static void extra_start (struct target *t, int which, char const *name, void *(*fn)(void *)) {
  struct extra_thread *x = &t->extra[which];
  int err;
  x->name = name;
  err = pthread_create(&x->thread, NULL, fn, t);
  if (err != 0) {
    errno = err;
    fail(t, "pthread_create");
  }
}

/* --writer: globals, so gdb finds them by name in a core file. */
#define WRITER_WORDS 131072          /* 1 MiB */
volatile uint64_t pss_writer_counter;
volatile uint64_t pss_writer_buffer[WRITER_WORDS];

static void *writer_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_WRITER]);
  for (;;) {
    uint64_t next = pss_writer_counter + 1;
    size_t i;
    for (i = 0; i < WRITER_WORDS; i++)
      pss_writer_buffer[i] = next;
    pss_writer_counter = next;
  }
  return NULL;
}

/* --reaper: what the target sees of children it did not make. */
static volatile long sigchld_count, reaped_count;

static void on_sigchld (int sig) {
  (void)sig;
  __atomic_add_fetch(&sigchld_count, 1, __ATOMIC_RELAXED);
}

static void *reaper_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_REAPER]);
  for (;;) {
    pid_t r = waitpid(-1, NULL, 0);
    if (r > 0)
      __atomic_add_fetch(&reaped_count, 1, __ATOMIC_RELAXED);
    else if (errno == ECHILD)
      usleep(5000);
  }
  return NULL;
}

static void reaper_start (struct target *t) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, &sa, NULL) != 0)
    fail(t, "sigaction SIGCHLD");
  extra_start(t, EXTRA_REAPER, "reaper", reaper_main);
}

/* Returns once every extra thread started so far has published its tid. */
static void extras_wait (struct target *t) {
  size_t i;
  pthread_mutex_lock(&t->crew.lock);
  for (i = 0; i < EXTRA_COUNT; i++)
    while (t->extra[i].name != NULL && !t->extra[i].started)
      pthread_cond_wait(&t->crew.cond, &t->crew.lock);
  pthread_mutex_unlock(&t->crew.lock);
}

/* Starts the threads the options ask for; returns once each has published
** its tid (and, for the counters, once both loop). They never end: the
** process's exit ends them. */
static void extras_start (struct target *t) {
  if (t->opt.parked)
    extra_start(t, EXTRA_PARKED, "parked", parked_main);
  if (t->opt.counters) {
    extra_start(t, EXTRA_COUNTER_A, "counter-a", counter_a_main);
    extra_start(t, EXTRA_COUNTER_B, "counter-b", counter_b_main);
  }
  if (t->opt.sleeper) {
    if (pipe2(t->idle_pipe, O_CLOEXEC) != 0)
      fail(t, "pipe2");
    extra_start(t, EXTRA_SLEEPER, "sleeper", sleeper_main);
    extra_start(t, EXTRA_READER, "reader", reader_main);
  }
  if (t->opt.writer)
    extra_start(t, EXTRA_WRITER, "writer", writer_main);
  if (t->opt.reaper)
    reaper_start(t);
  extras_wait(t);
  /* A is in its loop once X moved; B says so itself */
  while (t->opt.counters && (counter_x == 0 || !counter_b_looping))
    sched_yield();
  while (t->opt.writer && pss_writer_counter == 0)
    sched_yield();
}

static void *do_nothing (void *arg) {
  return arg;
}

/* The "churned" command's counts (atomic). */
static long threads_churned, fd_rounds, map_rounds;

/* --churn: one short-lived thread, created and joined. */
static void churn_once (void) {
  pthread_t th;
  if (pthread_create(&th, NULL, do_nothing, NULL) == 0 && pthread_join(th, NULL) == 0)
    __atomic_add_fetch(&threads_churned, 1, __ATOMIC_RELAXED);
}

/* --thread-churn: the short-lived threads alive (atomic). */
enum { THREAD_CHURN_ALIVE = 4 };
static int churn_alive;

static void *short_lived (void *arg) {
  __atomic_sub_fetch(&churn_alive, 1, __ATOMIC_RELEASE);
  return arg;
}

static void *thread_churn_main (void *arg) {
  struct target *t = arg;
  pthread_attr_t detached;
  extra_started(t, &t->extra[EXTRA_THREAD_CHURN]);
  if (pthread_attr_init(&detached) != 0 ||
      pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED) != 0)
    return NULL;
  for (;;) {
    pthread_t th;
    if (__atomic_load_n(&churn_alive, __ATOMIC_ACQUIRE) >= THREAD_CHURN_ALIVE) {
      sched_yield();
      continue;
    }
    __atomic_add_fetch(&churn_alive, 1, __ATOMIC_RELAXED);
    if (pthread_create(&th, &detached, short_lived, NULL) == 0)
      __atomic_add_fetch(&threads_churned, 1, __ATOMIC_RELAXED);
    else
      __atomic_sub_fetch(&churn_alive, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static void close_if_open (int fd) {
  if (fd >= 0)
    close(fd);
}

/* --fd-churn: six fds of four kinds come and go, forever. */
static void *fd_churn_main (void *arg) {
  struct target *t = arg;
  extra_started(t, &t->extra[EXTRA_FD_CHURN]);
  for (;;) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC), event = eventfd(0, EFD_CLOEXEC);
    int p[2] = { -1, -1 }, sv[2] = { -1, -1 };
    if (pipe2(p, O_CLOEXEC) != 0)
      p[0] = p[1] = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      sv[0] = sv[1] = -1;
    close_if_open(null);
    close_if_open(p[0]);
    close_if_open(p[1]);
    close_if_open(event);
    close_if_open(sv[0]);
    close_if_open(sv[1]);
    __atomic_add_fetch(&fd_rounds, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

enum { MAP_CHURN_SLOTS = 16, MAP_CHURN_SLOT_PAGES = 4 };

/* --map-churn: mappings come, change protection and go, inside an arena
** reserved here (before the thread starts), forever. */
static char *map_churn_arena;

static void *map_churn_main (void *arg) {
  struct target *t = arg;
  bool lost[MAP_CHURN_SLOTS] = { false };
  unsigned long k, nlost = 0;
  int const anon = MAP_PRIVATE | MAP_ANONYMOUS;
  extra_started(t, &t->extra[EXTRA_MAP_CHURN]);
  for (k = 0; nlost < MAP_CHURN_SLOTS; k++) {
    size_t slot = k % MAP_CHURN_SLOTS, len = (1 + k % 3) * t->page;
    char *p = map_churn_arena + slot * MAP_CHURN_SLOT_PAGES * t->page, *back;
    if (lost[slot])
      continue;
    /* over our own reservation: MAP_FIXED replaces only what is ours */
    if (mmap(p, len, PROT_READ | PROT_WRITE, anon | MAP_FIXED, -1, 0) == MAP_FAILED)
      continue;
    p[0] = 1;
    mprotect(p, t->page, PROT_READ);
    munmap(p, len);
    /* the pages are a hole now: take them back only if nobody else did */
    back = mmap(p, len, PROT_NONE, anon | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (back != p) {
      if (back != MAP_FAILED)
        munmap(back, len);   /* a kernel that took the flag for a hint */
      lost[slot] = true;
      nlost++;
    }
    __atomic_add_fetch(&map_rounds, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

/* Starts --thread-churn, --fd-churn and --map-churn; returns once they run. */
static void churners_start (struct target *t) {
  if (t->opt.thread_churn)
    extra_start(t, EXTRA_THREAD_CHURN, "thread-churn", thread_churn_main);
  if (t->opt.map_churn) {
    map_churn_arena = mmap(NULL, MAP_CHURN_SLOTS * MAP_CHURN_SLOT_PAGES * t->page, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map_churn_arena == MAP_FAILED)
      fail(t, "mmap --map-churn");
    extra_start(t, EXTRA_MAP_CHURN, "map-churn", map_churn_main);
  }
  if (t->opt.fd_churn)
    extra_start(t, EXTRA_FD_CHURN, "fd-churn", fd_churn_main);
  extras_wait(t);
}
/* }====================================================================== */


/* {======================================================================
** The standard fd set
** ======================================================================= */

static struct fd_rec *add_fd (struct target *t, int fd, char const *kind, bool file_like) {
  struct fd_rec *r;
  if (fd < 0)
    fail(t, kind);
  if (t->nfds == MAX_FDS) {
    errno = EMFILE;
    fail(t, "too many fd records");
  }
  r = &t->fds[t->nfds++];
  r->fd = fd;
  r->kind = kind;
  r->file_like = file_like;
  r->detail[0] = '\0';
  return r;
}

__attribute__((format(printf, 2, 3)))
static void set_detail (struct fd_rec *r, char const *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->detail, sizeof r->detail, fmt, ap);
  va_end(ap);
}

/* Creates name in the scratch directory with size bytes of text. */
static void create_file (struct target *t, char const *name, size_t size) {
  char path[PATH_MAX], chunk[4096];
  size_t done = 0, i;
  int fd;
  scratch_path(t, name, path, sizeof path);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    fail(t, name);
  for (i = 0; i < sizeof chunk; i++)
    chunk[i] = (char)('a' + i % 26);
  while (done < size) {
    size_t n = size - done < sizeof chunk ? size - done : sizeof chunk;
    ssize_t w = write(fd, chunk, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      fail(t, name);
    done += (size_t)w;
  }
  close(fd);
}

static int open_scratch (struct target *t, char const *name, int flags) {
  char path[PATH_MAX];
  scratch_path(t, name, path, sizeof path);
  return open(path, flags);
}

/* A regular file with content, opened with flags, offset moved to offset. */
static void open_file (struct target *t, char const *kind, int flags, off_t offset) {
  struct fd_rec *r;
  create_file(t, kind, FILE_BYTES);
  r = add_fd(t, open_scratch(t, kind, flags), kind, true);
  if (offset != 0 && lseek(r->fd, offset, SEEK_SET) < 0)
    fail(t, "lseek");
  set_detail(r, "offset=%jd", (intmax_t)lseek(r->fd, 0, SEEK_CUR));
}

static void open_plain_files (struct target *t) {
  open_file(t, "file-ro", O_RDONLY | O_CLOEXEC, 3);
  open_file(t, "file-wo-append", O_WRONLY | O_APPEND, 0);   /* inherited on exec */
  open_file(t, "file-rw", O_RDWR | O_CLOEXEC, 0);
  add_fd(t, open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "directory", true);
}

static void open_device_and_pipes (struct target *t) {
  struct fd_rec *r;
  struct stat st;
  int p[2] = { -1, -1 };
  char path[PATH_MAX];
  r = add_fd(t, open("/dev/null", O_RDWR | O_CLOEXEC), "device", true);
  if (fstat(r->fd, &st) != 0)
    fail(t, "fstat /dev/null");
  set_detail(r, "major=%u minor=%u", major(st.st_rdev), minor(st.st_rdev));
  if (pipe2(p, O_CLOEXEC) != 0)
    fail(t, "pipe2");
  t->pipe_read = add_fd(t, p[0], "pipe-read", false)->fd;
  add_fd(t, p[1], "pipe-write", false);
  scratch_path(t, "fifo", path, sizeof path);
  if (mkfifo(path, 0600) != 0)
    fail(t, "mkfifo");
  add_fd(t, open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC), "fifo", true);
}

/* The port of a socket's own (peer false) or its peer's address. */
static unsigned sock_port (struct target *t, int fd, bool peer) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
               : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r != 0)
    fail(t, peer ? "getpeername" : "getsockname");
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void open_unix_sockets (struct target *t) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  socklen_t len = sizeof addr;
  char hex[2 * sizeof addr.sun_path + 1];
  struct fd_rec *r;
  int sv[2] = { -1, -1 };
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    fail(t, "socketpair");
  add_fd(t, sv[0], "socket-unix", false);
  add_fd(t, sv[1], "socket-unix", false);
  r = add_fd(t, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket-unix-bound", false);
  scratch_path(t, "sock", addr.sun_path, sizeof addr.sun_path);
  if (bind(r->fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(r->fd, 8) != 0)
    fail(t, "bind/listen unix");
  /* read back: the address the kernel keeps, as /proc/net/unix shows it */
  memset(&addr, 0, sizeof addr);
  if (getsockname(r->fd, (struct sockaddr *)&addr, &len) != 0)
    fail(t, "getsockname unix");
  hex_encode(addr.sun_path, strnlen(addr.sun_path, sizeof addr.sun_path), hex, sizeof hex);
  set_detail(r, "path=%s", hex);
}

static int inet_socket (struct target *t, int type, char const *kind) {
  struct sockaddr_in sin = { .sin_family = AF_INET };
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    fail(t, kind);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
    fail(t, kind);
  return fd;
}

static void open_tcp_sockets (struct target *t) {
  struct sockaddr_in sin = { .sin_family = AF_INET };
  struct fd_rec *listener, *client, *server;
  listener = add_fd(t, inet_socket(t, SOCK_STREAM, "socket-tcp-listen"),
                    "socket-tcp-listen", false);
  if (listen(listener->fd, 8) != 0)
    fail(t, "listen tcp");
  set_detail(listener, "port=%u", sock_port(t, listener->fd, false));
  client = add_fd(t, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket-tcp-client", false);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons((uint16_t)sock_port(t, listener->fd, false));
  /* loopback: the handshake completes inside connect, so accept is ready */
  if (connect(client->fd, (struct sockaddr *)&sin, sizeof sin) != 0)
    fail(t, "connect tcp");
  server = add_fd(t, accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC), "socket-tcp-server", false);
  set_detail(client, "lport=%u rport=%u",
             sock_port(t, client->fd, false), sock_port(t, client->fd, true));
  set_detail(server, "lport=%u rport=%u",
             sock_port(t, server->fd, false), sock_port(t, server->fd, true));
}

/* [::1] may be missing (IPv6 disabled, no lo address): then no line at all. */
static void open_udp6 (struct target *t) {
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  if (bind(fd, (struct sockaddr *)&sin6, sizeof sin6) != 0) {
    close(fd);
    return;
  }
  set_detail(add_fd(t, fd, "socket-udp6", false), "port=%u", sock_port(t, fd, false));
}

static void open_other_sockets (struct target *t) {
  struct fd_rec *r;
  r = add_fd(t, inet_socket(t, SOCK_DGRAM, "socket-udp"), "socket-udp", false);
  set_detail(r, "port=%u", sock_port(t, r->fd, false));
  open_udp6(t);
  r = add_fd(t, socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE),
             "socket-netlink", false);
  set_detail(r, "protocol=%d", NETLINK_ROUTE);
}

static void open_event_and_timer (struct target *t) {
  struct itimerspec hour = { .it_interval = { 3600, 0 }, .it_value = { 3600, 0 } }, now;
  struct fd_rec *r;
  set_detail(add_fd(t, eventfd(5, EFD_CLOEXEC), "eventfd", false), "count=5 semaphore=0");
  set_detail(add_fd(t, eventfd(2, EFD_SEMAPHORE | EFD_CLOEXEC), "eventfd-semaphore", false),
             "count=2 semaphore=1");
  r = add_fd(t, timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), "timerfd", false);
  if (timerfd_settime(r->fd, 0, &hour, NULL) != 0 || timerfd_gettime(r->fd, &now) != 0)
    fail(t, "timerfd_settime");
  set_detail(r, "clockid=%d interval_ns=%jd", CLOCK_MONOTONIC,
             (intmax_t)now.it_interval.tv_sec * 1000000000 + now.it_interval.tv_nsec);
}

static void open_watchers (struct target *t) {
  struct epoll_event ev = { .events = EPOLLIN };
  sigset_t usr1;
  struct fd_rec *r;
  struct stat st;
  int wd;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  set_detail(add_fd(t, signalfd(-1, &usr1, SFD_CLOEXEC), "signalfd", false), "signals=%d", SIGUSR1);
  r = add_fd(t, epoll_create1(EPOLL_CLOEXEC), "epoll", false);
  ev.data.fd = t->pipe_read;
  if (epoll_ctl(r->fd, EPOLL_CTL_ADD, t->pipe_read, &ev) != 0)
    fail(t, "epoll_ctl");
  /* the kernel always adds EPOLLERR|EPOLLHUP to a watch; fdinfo shows those */
  set_detail(r, "tfd=%d events=%u", t->pipe_read, (unsigned)(EPOLLIN | EPOLLERR | EPOLLHUP));
  r = add_fd(t, inotify_init1(IN_CLOEXEC), "inotify", false);
  /* self events only: creating the scratch files later queues nothing */
  wd = inotify_add_watch(r->fd, t->dir, IN_DELETE_SELF | IN_MOVE_SELF);
  if (wd < 0 || stat(t->dir, &st) != 0)
    fail(t, "inotify_add_watch");
  set_detail(r, "wd=%d watch_ino=%ju mask=%u", wd, (uintmax_t)st.st_ino,
             (unsigned)(IN_DELETE_SELF | IN_MOVE_SELF));
}

static int make_memfd (struct target *t) {
  int fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, MEMFD_BYTES) != 0)
    fail(t, "memfd_create");
  return fd;
}

/* Without pidfd_open (valgrind 3.19 does not know the syscall) there is no
** pidfd line, as for IPv6; the child is still killed and reaped at exit. */
static void open_pidfd (struct target *t) {
  int fd = (int)syscall(SYS_pidfd_open, t->child, 0);
  if (fd < 0 && errno == ENOSYS) {
    fprintf(stderr, "pss-target: pidfd_open: %s; no pidfd line\n", strerror(errno));
    return;
  }
  set_detail(add_fd(t, fd, "pidfd", false), "pid=%d", (int)t->child);
}

static void open_memfd (struct target *t) {
  struct fd_rec *r;
  struct stat st;
  r = add_fd(t, make_memfd(t), "memfd", false);
  t->memfd = r->fd;
  if (fstat(r->fd, &st) != 0)
    fail(t, "fstat memfd");
  set_detail(r, "size=%jd name=%s", (intmax_t)st.st_size, MEMFD_NAME);
}

static void open_standard_fds (struct target *t) {
  open_plain_files(t);
  open_device_and_pipes(t);
  open_unix_sockets(t);
  open_tcp_sockets(t);
  open_other_sockets(t);
  open_event_and_timer(t);
  open_watchers(t);
  open_pidfd(t);
  open_memfd(t);
}
/* }====================================================================== */


/* {======================================================================
** Extra fds (benchmarks): not reported one by one
** ======================================================================= */

/* Opens one or two fds of kind (mod 6), at most room; the number opened. */
static int open_cheap (struct target *t, long kind, long room) {
  int two[2];
  switch (kind % 6) {
    case 0: two[0] = open_scratch(t, "extra", O_RDONLY | O_CLOEXEC); break;
    case 1: if (room < 2) return 0;
            return pipe2(two, O_CLOEXEC) == 0 ? 2 : -1;
    case 2: two[0] = eventfd(0, EFD_CLOEXEC); break;
    case 3: if (room < 2) return 0;
            return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, two) == 0 ? 2 : -1;
    case 4: two[0] = open("/dev/null", O_RDONLY | O_CLOEXEC); break;
    default: two[0] = memfd_create("pss-extra", MFD_CLOEXEC); break;
  }
  return two[0] < 0 ? -1 : 1;
}

static void open_extra_fds (struct target *t) {
  long kind = 0;
  if (t->opt.extra_fds == 0)
    return;
  create_file(t, "extra", FILE_BYTES);
  while (t->extra_fds_opened < t->opt.extra_fds) {
    int n = open_cheap(t, kind++, t->opt.extra_fds - t->extra_fds_opened);
    if (n < 0)
      fail(t, "--extra-fds");
    t->extra_fds_opened += n;
  }
}
/* }====================================================================== */


/* {======================================================================
** Mappings
** ======================================================================= */

struct map_spec {
  char const *kind;
  size_t pages;
  int prot, flags, fd;
};

static void add_map (struct target *t, char const *kind, void *start, size_t size) {
  if (t->nmaps == MAX_MAPS) {
    errno = ENOMEM;
    fail(t, "too many map records");
  }
  t->maps[t->nmaps++] = (struct map_rec){ kind, (uintptr_t)start, size };
}

/* Reserves the whole layout plus a PROT_NONE guard page at each end, then
** places the mappings side by side inside it in the given order. Every
** mapping then touches only its listed neighbours or a guard, so the order
** alone decides whether the kernel could merge two of them: the caller puts
** no two mergeable ones (same protection, both anonymous private, or the
** same file) next to each other and none is PROT_NONE next to a guard. */
static void place_layout (struct target *t, struct map_spec const *spec, size_t n) {
  size_t total = 2, i;
  char *base, *at;
  for (i = 0; i < n; i++)
    total += spec[i].pages;
  base = mmap(NULL, total * t->page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    fail(t, "mmap reservation");
  at = base + t->page;
  for (i = 0; i < n; i++) {
    size_t size = spec[i].pages * t->page;
    void *p = mmap(at, size, spec[i].prot, spec[i].flags | MAP_FIXED, spec[i].fd, 0);
    if (p == MAP_FAILED)
      fail(t, spec[i].kind);
    if (spec[i].prot & PROT_WRITE)
      memset(p, 0x5a, size);   /* make the pages resident */
    add_map(t, spec[i].kind, p, size);
    at += size;
  }
}

static void map_standard (struct target *t) {
  int const anon = MAP_PRIVATE | MAP_ANONYMOUS;
  int const rw = PROT_READ | PROT_WRITE;
  int priv, shared, memfd = t->memfd;
  create_file(t, "mapped-private", 13 * t->page);
  create_file(t, "mapped-shared", 17 * t->page);
  priv = open_scratch(t, "mapped-private", O_RDONLY | O_CLOEXEC);
  shared = open_scratch(t, "mapped-shared", O_RDWR | O_CLOEXEC);
  if (priv < 0 || shared < 0)
    fail(t, "open mapped-*");
  if (memfd < 0)
    memfd = make_memfd(t);   /* --no-fds: same name, closed again below */
  {
    /* anon-none sits between two non-PROT_NONE neighbours */
    struct map_spec const spec[] = {
      { "anon-rw", 7, rw, anon, -1 },
      { "anon-ro", 3, PROT_READ, anon, -1 },
      { "anon-none", 5, PROT_NONE, anon, -1 },
      { "anon-rx", 2, PROT_READ | PROT_EXEC, anon, -1 },
      { "anon-shared", 11, rw, MAP_SHARED | MAP_ANONYMOUS, -1 },
      { "file-private", 13, PROT_READ, MAP_PRIVATE, priv },
      { "file-shared", 17, rw, MAP_SHARED, shared },
      { "memfd", MEMFD_BYTES / t->page, rw, MAP_SHARED, memfd },
    };
    place_layout(t, spec, sizeof spec / sizeof spec[0]);
  }
  close(priv);
  close(shared);
  if (memfd != t->memfd)
    close(memfd);
}

/* --fork-maps: what a clone holds of each kind of private and shared memory. */
static uint8_t *fork_map_start[4];

static void map_fork (struct target *t) {
  int const rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
  struct map_spec const spec[] = {
    { "fork-private", 4, rw, anon, -1 },
    { "fork-shared", 4, rw, MAP_SHARED | MAP_ANONYMOUS, -1 },
    { "fork-dontfork", 4, rw, anon, -1 },
    { "fork-wipe", 4, rw, anon, -1 },
  };
  size_t first = t->nmaps, i;
  place_layout(t, spec, 4);
  for (i = 0; i < 4; i++) {
    fork_map_start[i] = (uint8_t *)t->maps[first + i].start;
    memset(fork_map_start[i], 0xa5, t->maps[first + i].size);
  }
  if (madvise(fork_map_start[2], 4 * t->page, MADV_DONTFORK) != 0 ||
      madvise(fork_map_start[3], 4 * t->page, MADV_WIPEONFORK) != 0)
    fail(t, "madvise");
}

/* The odd name is not valid UTF-8: it checks that names come back byte for
** byte. The fd stays open (an fd line) and maps it (a map line). */
static void open_odd (struct target *t) {
  struct fd_rec *r;
  create_file(t, ODD_NAME, 4 * t->page);
  r = add_fd(t, open_scratch(t, ODD_NAME, O_RDONLY | O_CLOEXEC), "file-odd", true);
  set_detail(r, "offset=0");
  t->odd_fd = r->fd;
}

static void map_odd (struct target *t) {
  struct map_spec spec = { "file-odd", 4, PROT_READ, MAP_PRIVATE, t->odd_fd };
  place_layout(t, &spec, 1);
}

static void map_resident (struct target *t) {
  struct map_spec spec = { "resident", 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1 };
  spec.pages = ((size_t)t->opt.resident_mb << 20) / t->page;
  place_layout(t, &spec, 1);
}

/* --grow: mapped read-only first, so that place_layout leaves it untouched,
** then made writable; "touch N" makes its pages resident one by one. */
static uint8_t *grow_start;
static size_t grow_size, grow_touched, grow_page;

static void map_grow (struct target *t) {
  struct map_spec spec = { "grow", 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1 };
  spec.pages = (size_t)t->opt.grow_pages;
  place_layout(t, &spec, 1);
  grow_start = (uint8_t *)t->maps[t->nmaps - 1].start;
  grow_size = t->maps[t->nmaps - 1].size;
  grow_page = t->page;
  if (mprotect(grow_start, grow_size, PROT_READ | PROT_WRITE) != 0)
    fail(t, "mprotect --grow");
}

static void touch_pages (size_t n) {
  while (n-- > 0 && (grow_touched + 1) * grow_page <= grow_size)
    grow_start[grow_touched++ * grow_page] = 1;
  printf("touched %zu\n", grow_touched);
  fflush(stdout);
}

/* One page each, alternating read-only and read-write so no two neighbours
** merge, between guard pages; not reported one by one. */
static void map_extra (struct target *t) {
  size_t n = (size_t)t->opt.extra_maps, i;
  char *base;
  if (n == 0)
    return;
  base = mmap(NULL, (n + 2) * t->page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    fail(t, "mmap --extra-maps");
  for (i = 0; i < n; i++) {
    int prot = (i % 2) ? PROT_READ | PROT_WRITE : PROT_READ;
    if (mmap(base + (i + 1) * t->page, t->page, prot,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
      fail(t, "mmap --extra-maps (vm.max_map_count?)");
    t->extra_maps_made++;
  }
}
/* }====================================================================== */


/* {======================================================================
** --changes: one change step per SIGUSR2
** ======================================================================= */

static char *change_slot (struct target *t, size_t slot) {
  return t->changes.arena + slot * CHANGE_SLOT_PAGES * t->page;
}

/* /proc/self/maps, read into a buffer mapped at start: a step must not
** malloc (a heap that grows or shrinks would be a change of its own). */
enum { CHANGE_MAPS_BYTES = 1 << 20 };
static char *change_maps;

static void change_maps_read (struct target *t) {
  size_t used = 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(t, "/proc/self/maps");
  for (;;) {
    ssize_t n = read(fd, change_maps + used, CHANGE_MAPS_BYTES - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail(t, "/proc/self/maps");
    if (n == 0)
      break;
    used += (size_t)n;
    if (used == CHANGE_MAPS_BYTES - 1) {
      errno = EFBIG;
      fail(t, "/proc/self/maps");
    }
  }
  close(fd);
  change_maps[used] = '\0';
}

/* The size and perms ("rw-p") of the maps line that starts at start; false
** if no line starts there. */
static bool change_maps_find (char const *start, size_t *size, char perms[5]) {
  char const *line = change_maps;
  while (*line != '\0') {
    char const *eol = strchr(line, '\n');
    char *p;
    uintmax_t from = strtoumax(line, &p, 16);
    if (from == (uintptr_t)start && *p == '-') {
      *size = (size_t)(strtoumax(p + 1, &p, 16) - from);
      memcpy(perms, p + 1, 4);
      perms[4] = '\0';
      return true;
    }
    if (eol == NULL)
      break;
    line = eol + 1;
  }
  return false;
}

/* A changer: named, published, then waits until told to stop. It runs on a
** stack of ours and calls nothing that allocates. */
static void *changer_main (void *arg) {
  struct changer *ch = arg;
  struct changes *c = ch->changes;
  pthread_setname_np(pthread_self(), ch->name);   /* on itself: prctl */
  pthread_mutex_lock(&c->lock);
  ch->tid = gettid();
  ch->running = true;
  pthread_cond_broadcast(&c->cond);
  while (!ch->stop)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* Starts "changer-<n>" on ch's stack; returns once it has named itself. */
static void changer_start (struct target *t, struct changer *ch, unsigned n) {
  struct changes *c = &t->changes;
  pthread_attr_t attr;
  int err;
  snprintf(ch->name, sizeof ch->name, "changer-%u", n);
  ch->changes = c;
  ch->running = ch->stop = false;
  if ((err = pthread_attr_init(&attr)) != 0 ||
      (err = pthread_attr_setstack(&attr, ch->stack, CHANGE_STACK_BYTES)) != 0 ||
      (err = pthread_create(&ch->thread, &attr, changer_main, ch)) != 0) {
    errno = err;
    fail(t, "pthread_create --changes");
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&c->lock);
  while (!ch->running)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
}

/* Stops and joins ch; returns once its task has left /proc/self/task (the
** join returns when the kernel clears the tid, a moment before that). */
static void changer_stop (struct target *t, struct changer *ch) {
  struct changes *c = &t->changes;
  char path[64];
  int i;
  pthread_mutex_lock(&c->lock);
  ch->stop = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
  pthread_join(ch->thread, NULL);
  ch->running = false;
  snprintf(path, sizeof path, "/proc/self/task/%d", (int)ch->tid);
  for (i = 0; access(path, F_OK) == 0; i++) {
    if (i == 10000) {
      errno = ETIMEDOUT;
      fail(t, path);
    }
    usleep(1000);
  }
}

/* Maps the next slot's region, read-write, and writes its pages. */
static char *change_map (struct target *t, size_t pages) {
  struct changes *c = &t->changes;
  size_t const size = pages * t->page;
  char *want = change_slot(t, c->nregions), *p;
  p = mmap(want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
           -1, 0);
  if (p == MAP_FAILED)
    fail(t, "mmap --changes");
  if (p != want) {           /* a kernel without MAP_FIXED_NOREPLACE */
    munmap(p, size);
    errno = EEXIST;
    fail(t, "mmap --changes");
  }
  memset(p, 0x5a, size);
  c->regions[c->nregions++] = (struct change_region){ size, PROT_READ | PROT_WRITE };
  return p;
}

/* The arena: a range that nothing else maps, 64 GiB below where the kernel
** places mappings now (it fills the address space from the top down). */
static void change_arena (struct target *t) {
  size_t const span = (size_t)CHANGE_SLOTS * CHANGE_SLOT_PAGES * t->page;
  char *probe = mmap(NULL, t->page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uintptr_t at;
  if (probe == MAP_FAILED)
    fail(t, "mmap --changes");
  munmap(probe, t->page);
  at = ((uintptr_t)probe - ((uintptr_t)64 << 30) - span) & ~(((uintptr_t)1 << 30) - 1);
  t->changes.arena = (char *)at;
}

/* Deeper than a step ever goes, so the [stack] mapping does not grow in one. */
__attribute__((noinline))
static void grow_main_stack (void) {
  volatile char pad[256 * 1024];
  size_t i;
  for (i = 0; i < sizeof pad; i += 1024)
    pad[i] = 0;
}

/* The initial change set, so that step 1 can make every kind of change. */
static void changes_start (struct target *t) {
  static char const *const kinds[3] = { "change-unmap", "change-reprotect", "change-resize" };
  struct changes *c = &t->changes;
  char *stacks;
  int p[2];
  size_t i;
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  grow_main_stack();
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  if (pipe2(p, O_CLOEXEC) != 0)
    fail(t, "pipe2 --changes");
  c->fds[c->nfds++] = add_fd(t, p[0], "change-pipe-read", false)->fd;
  c->fds[c->nfds++] = add_fd(t, p[1], "change-pipe-write", false)->fd;
  stacks = mmap(NULL, 2 * CHANGE_STACK_BYTES, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  change_maps = mmap(NULL, CHANGE_MAPS_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stacks == MAP_FAILED || change_maps == MAP_FAILED)
    fail(t, "mmap --changes");
  c->threads[0].stack = stacks;
  c->threads[1].stack = stacks + CHANGE_STACK_BYTES;
  changer_start(t, &c->threads[0], 0);
  change_arena(t);
  for (i = 0; i < 3; i++)
    add_map(t, kinds[i], change_map(t, 2), 2 * t->page);
}

/* One step (see --changes at the top), then its report, flushed. */
static void change_step (struct target *t) {
  struct changes *c = &t->changes;
  struct changer *old = &c->threads[c->oldest_thread];
  struct changer *fresh = &c->threads[1 - c->oldest_thread];
  size_t const u = c->oldest_region, grow = CHANGE_GROW_PAGES * t->page;
  size_t old_size = c->regions[u + 2].size, size, i;
  size_t const first = c->nregions;
  char *mapped[2], perms[5];
  int p[2], closed;
  if (c->step == CHANGE_STEPS) {
    errno = ENOSPC;
    fail(t, "--changes: no steps left");
  }
  c->step++;
  /* the pipe first: the number closed is then not reused at once */
  if (pipe2(p, O_CLOEXEC) != 0)
    fail(t, "pipe2 --changes");
  c->fds[c->nfds++] = p[0];
  c->fds[c->nfds++] = p[1];
  closed = c->fds[c->oldest_fd++];
  if (close(closed) != 0)
    fail(t, "close --changes");
  /* the new thread first, on the stack the oldest one does not use */
  changer_start(t, fresh, c->step);
  changer_stop(t, old);
  c->oldest_thread = 1 - c->oldest_thread;
  /* two new regions; of the oldest three, unmap, reprotect and grow one each */
  for (i = 0; i < 2; i++)
    mapped[i] = change_map(t, 2 + c->nregions % 3);
  if (munmap(change_slot(t, u), c->regions[u].size) != 0)
    fail(t, "munmap --changes");
  if (mprotect(change_slot(t, u + 1), c->regions[u + 1].size, PROT_READ) != 0)
    fail(t, "mprotect --changes");
  c->regions[u + 1].prot = PROT_READ;
  if (mremap(change_slot(t, u + 2), old_size, old_size + grow, 0) != change_slot(t, u + 2))
    fail(t, "mremap --changes");
  c->regions[u + 2].size = old_size + grow;
  c->oldest_region++;
  /* the report: what the kernel now says */
  printf("change opened %d\nchange opened %d\nchange closed %d\n", p[0], p[1], closed);
  printf("change started %d\nchange ended %d\n", (int)fresh->tid, (int)old->tid);
  change_maps_read(t);
  for (i = 0; i < 2; i++) {
    if (!change_maps_find(mapped[i], &size, perms) || size != c->regions[first + i].size) {
      errno = EFAULT;
      fail(t, "--changes: a new region is not as mapped");
    }
    printf("change mapped %" PRIxPTR " %zu\n", (uintptr_t)mapped[i], size);
  }
  if (change_maps_find(change_slot(t, u), &size, perms)) {
    errno = EEXIST;
    fail(t, "--changes: an unmapped region is still there");
  }
  printf("change unmapped %" PRIxPTR "\n", (uintptr_t)change_slot(t, u));
  if (!change_maps_find(change_slot(t, u + 1), &size, perms)) {
    errno = EFAULT;
    fail(t, "--changes: the reprotected region is gone");
  }
  printf("change reprotected %" PRIxPTR " %s\n", (uintptr_t)change_slot(t, u + 1), perms);
  if (!change_maps_find(change_slot(t, u + 2), &size, perms) || size != old_size + grow) {
    errno = EFAULT;
    fail(t, "--changes: the grown region is not as resized");
  }
  printf("change resized %" PRIxPTR " %zu %zu\n", (uintptr_t)change_slot(t, u + 2), old_size, size);
  printf("change done\n");
  if (fflush(stdout) != 0)
    fail(t, "stdout");
}
/* }====================================================================== */


/* --seccomp: clone() fails with EPERM or kills the process; every thread
** gets the filter (TSYNC). Installed after the report is built, so the
** target's own start-up is not affected. */
static void install_seccomp (struct target *t) {
  uint32_t action = strcmp(t->opt.seccomp, "kill-clone") == 0
                      ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ERRNO | EPERM;
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, action),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof code / sizeof code[0], code };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    fail(t, "seccomp");
}
/* }====================================================================== */


/* {======================================================================
** The report
** ======================================================================= */

static void print_thread (struct target *t, pid_t tid) {
  char path[64], name[64];
  int fd;
  ssize_t n = 0;
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (n = read(fd, name, sizeof name - 1)) < 0)
    fail(t, path);
  close(fd);
  while (n > 0 && name[n - 1] == '\n')
    n--;
  name[n] = '\0';
  printf("thread %d %s\n", (int)tid, name);
}

static void print_tls (pid_t tid, pthread_t self) {
  printf("tls %d %" PRIxPTR "\n", (int)tid, (uintptr_t)self);
}

static void print_threads (struct target *t) {
  size_t i;
  for (i = 0; i <= t->crew.started; i++)
    print_thread(t, i == 0 ? getpid() : t->crew.workers[i - 1].tid);
  for (i = 0; i < EXTRA_COUNT; i++)
    if (t->extra[i].started)
      print_thread(t, t->extra[i].tid);
  if (t->opt.changes)
    print_thread(t, t->changes.threads[0].tid);
  if (t->opt.parked)
    printf("parked %d %" PRIxPTR " %" PRIxPTR " %" PRIxPTR "\n", (int)t->extra[EXTRA_PARKED].tid,
           (uintptr_t)pss_parked_begin, (uintptr_t)pss_parked_end,
           (uintptr_t)t->extra[EXTRA_PARKED].thread);
  if (t->opt.counters)
    printf("counters %d %d\n", (int)t->extra[EXTRA_COUNTER_A].tid,
           (int)t->extra[EXTRA_COUNTER_B].tid);
  if (t->opt.sleeper)
    printf("sleeper %d %d\n", (int)t->extra[EXTRA_SLEEPER].tid,
           (int)t->extra[EXTRA_READER].tid);
  if (t->opt.writer)
    printf("writer %d %" PRIxPTR " %" PRIxPTR " %zu\n", (int)t->extra[EXTRA_WRITER].tid,
           (uintptr_t)&pss_writer_counter, (uintptr_t)pss_writer_buffer,
           sizeof pss_writer_buffer);
  if (t->opt.reaper)
    printf("reaper %d\n", (int)t->extra[EXTRA_REAPER].tid);
  if (t->opt.tls) {
    print_tls(getpid(), pthread_self());
    for (i = 0; i < t->crew.started; i++)
      print_tls(t->crew.workers[i].tid, t->crew.workers[i].thread);
    for (i = 0; i < EXTRA_COUNT; i++)
      if (t->extra[i].started)
        print_tls(t->extra[i].tid, t->extra[i].thread);
    if (t->opt.changes)
      print_tls(t->changes.threads[0].tid, t->changes.threads[0].thread);
  }
}

static void print_fd (struct target *t, struct fd_rec const *r) {
  char path[64], target_link[PATH_MAX];
  struct stat st;
  size_t len;
  int fdflags = fcntl(r->fd, F_GETFD), flflags = fcntl(r->fd, F_GETFL);
  if (fdflags < 0 || flflags < 0 || fstat(r->fd, &st) != 0)
    fail(t, r->kind);
  snprintf(path, sizeof path, "/proc/self/fd/%d", r->fd);
  len = read_link(path, target_link, sizeof target_link);
  printf("fd %d %s %s=", r->fd, r->kind, r->file_like ? "path" : "link");
  put_hex(target_link, len);
  if (r->detail[0] != '\0')
    printf(" %s", r->detail);
  printf(" inode=%ju flags=0%o cloexec=%d\n", (uintmax_t)st.st_ino,
         (unsigned)flflags, (fdflags & FD_CLOEXEC) ? 1 : 0);
}

/* Skips one space-separated field of a maps line and the spaces after it. */
static char const *skip_field (char const *p) {
  while (*p != ' ' && *p != '\n' && *p != '\0')
    p++;
  while (*p == ' ')
    p++;
  return p;
}

/* Prints the maps line of m: it must start at m->start and end at exactly
** start + size, or the kernel merged or split it and the report would lie. */
static void print_map (struct target *t, char const *maps, struct map_rec const *m) {
  char const *line = maps;
  while (*line != '\0') {
    char const *eol = strchr(line, '\n'), *path;
    char *p;
    uintmax_t start = strtoumax(line, &p, 16), end;
    if (eol == NULL)
      eol = line + strlen(line);
    if (start == m->start && *p == '-') {
      end = strtoumax(p + 1, &p, 16);
      if (end - start != m->size)
        break;
      path = skip_field(skip_field(skip_field(skip_field(p + 1))));
      printf("map %jx %zu %.4s %s ", start, m->size, p + 1, m->kind);
      put_hex(path, (size_t)(eol - path));
      putchar('\n');
      return;
    }
    line = *eol == '\n' ? eol + 1 : eol;
  }
  errno = EFAULT;
  fail(t, m->kind);   /* merged with a neighbour or gone */
}

static void report (struct target *t) {
  char exe[PATH_MAX];
  size_t len = read_link("/proc/self/exe", exe, sizeof exe), i;
  char *maps;
  printf("pid %d\nexe ", (int)getpid());
  put_hex(exe, len);
  putchar('\n');
  print_threads(t);
  for (i = 0; i < t->nfds; i++)
    print_fd(t, &t->fds[i]);
  printf("extra-fds %ld\n", t->extra_fds_opened);
  maps = read_proc(t, "/proc/self/maps");
  for (i = 0; i < t->nmaps; i++)
    print_map(t, maps, &t->maps[i]);
  free(maps);
  printf("extra-maps %ld\n", t->extra_maps_made);
  if (t->odd_fd >= 0) {
    char path[64], odd[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", t->odd_fd);
    len = read_link(path, odd, sizeof odd);
    printf("odd ");
    put_hex(odd, len);
    putchar('\n');
  }
  printf("ready\n");
  if (fflush(stdout) != 0)
    fail(t, "stdout");
}
/* }====================================================================== */


/* {======================================================================
** Waiting for the end
** ======================================================================= */

struct line_reader {
  char buf[256];
  size_t len;
  bool overlong;             /* drop the rest of a line that did not fit */
};

/* The exit code a command asks for, or -1 to go on. */
static int run_command (char *line) {
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
    line[--n] = '\0';
  if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0)
    return 0;
  if (strcmp(line, "signals") == 0) {
    printf("signals %ld\n", __atomic_load_n(&signals_delivered, __ATOMIC_RELAXED));
    fflush(stdout);
    return -1;
  }
  if (strcmp(line, "writer") == 0) {
    printf("writer %" PRIu64 "\n", pss_writer_counter);
    fflush(stdout);
    return -1;
  }
  if (strcmp(line, "children") == 0) {
    printf("children %ld %ld\n", __atomic_load_n(&sigchld_count, __ATOMIC_RELAXED),
           __atomic_load_n(&reaped_count, __ATOMIC_RELAXED));
    fflush(stdout);
    return -1;
  }
  if (strcmp(line, "fork-write") == 0 && fork_map_start[0] != NULL) {
    size_t i;
    for (i = 0; i < 4; i++)
      fork_map_start[i][0] = 0x11;
    printf("fork-written\n");
    fflush(stdout);
    return -1;
  }
  if (strncmp(line, "touch ", 6) == 0 && grow_start != NULL) {
    char *end;
    long pages = strtol(line + 6, &end, 10);
    if (end != line + 6 && *end == '\0' && pages >= 0) {
      touch_pages((size_t)pages);
      return -1;
    }
  }
  if (strcmp(line, "churned") == 0) {
    printf("churned %ld %ld %ld\n", __atomic_load_n(&threads_churned, __ATOMIC_RELAXED),
           __atomic_load_n(&fd_rounds, __ATOMIC_RELAXED),
           __atomic_load_n(&map_rounds, __ATOMIC_RELAXED));
    fflush(stdout);
    return -1;
  }
  if (strcmp(line, "anomalies") == 0) {
    printf("anomalies %ld\n", __atomic_load_n(&anomaly_count, __ATOMIC_RELAXED));
    fflush(stdout);
    return -1;
  }
  if (strncmp(line, "exit ", 5) == 0) {
    char *end;
    long code = strtol(line + 5, &end, 10);
    if (end != line + 5 && *end == '\0' && code >= 0 && code <= 255)
      return (int)code;
  }
  if (n > 0)
    fprintf(stderr, "pss-target: ignoring command \"%s\"\n", line);
  return -1;
}

/* Reads what stdin has; the exit code of a complete command, else -1.
** *eof is set at end of input (or a read error); a last line without a
** newline still counts then. */
static int read_commands (struct line_reader *lr, bool *eof) {
  char chunk[512];
  ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk), i;
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return -1;
  if (n <= 0) {
    *eof = true;
    lr->buf[lr->len] = '\0';
    return lr->len > 0 && !lr->overlong ? run_command(lr->buf) : -1;
  }
  for (i = 0; i < n; i++) {
    if (chunk[i] == '\n') {
      int code = -1;
      lr->buf[lr->len] = '\0';
      if (!lr->overlong)
        code = run_command(lr->buf);
      lr->len = 0;
      lr->overlong = false;
      if (code >= 0)
        return code;
    } else if (lr->len + 1 < sizeof lr->buf) {
      lr->buf[lr->len++] = chunk[i];
    } else {
      lr->overlong = true;
    }
  }
  return -1;
}

/* The time left until deadline in *left; false once it has passed. */
static bool time_left (struct timespec const *deadline, struct timespec *left) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  left->tv_sec = deadline->tv_sec - now.tv_sec;
  left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
  if (left->tv_nsec < 0) {
    left->tv_nsec += 1000000000;
    left->tv_sec--;
  }
  return left->tv_sec > 0 || (left->tv_sec == 0 && left->tv_nsec > 0);
}

/* Waits for a command, EOF, a stop signal or the --exit-after deadline;
** returns the exit code. With --exit-after, EOF only stops the reading:
** the deadline still decides, so a test need not hold stdin open. */
static int serve (struct target *t) {
  struct line_reader lr = { .len = 0 };
  struct timespec deadline, left;
  bool timed = t->opt.exit_after_ms >= 0, eof = false;
  if (timed) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += t->opt.exit_after_ms / 1000;
    deadline.tv_nsec += (t->opt.exit_after_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_nsec -= 1000000000;
      deadline.tv_sec++;
    }
  }
  for (;;) {
    struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
    struct timespec const now = { 0, 0 }, *timeout = timed ? &left : NULL;
    int r, code;
    if (change_requested) {  /* --changes: the step runs here, not in the handler */
      change_requested = 0;
      change_step(t);
    }
    if (stop_requested || (eof && !timed) || (timed && !time_left(&deadline, &left)))
      return 0;
    if (eof)
      in.fd = -1;            /* poll ignores it: wait for the deadline only */
    if (t->opt.churn) {      /* a thread comes and goes between two polls */
      churn_once();
      timeout = &now;
    }
    /* the only place SIGTERM/SIGINT (and SIGUSR2) are unblocked, so none is missed */
    r = ppoll(&in, 1, timeout, &t->waitmask);
    if (r < 0 && errno != EINTR)
      fail(t, "ppoll");
    if (r <= 0)
      continue;
    code = read_commands(&lr, &eof);
    if (code >= 0)
      return code;
  }
}

/* Every exit path: nothing of ours may outlive us, not even a zombie. */
static void cleanup (struct target *t) {
  crew_stop(&t->crew);
  reap_child(t);
  remove_scratch(t);
}
/* }====================================================================== */


int main (int argc, char **argv) {
  struct target t;
  int code;
  memset(&t, 0, sizeof t);
  pthread_mutex_init(&t.crew.lock, NULL);
  pthread_cond_init(&t.crew.cond, NULL);
  t.pipe_read = t.memfd = t.odd_fd = -1;
  t.idle_pipe[0] = t.idle_pipe[1] = -1;
  parse_options(argc, argv, &t.opt);
  t.page = (size_t)sysconf(_SC_PAGESIZE);
  raise_fd_limit(&t);
  make_scratch(&t);
  if (t.opt.fds && (t.child = spawn_sleeper()) < 0) {
    t.child = 0;
    fail(&t, "fork");
  }
  /* lets a capturing process that is not our ancestor in under Yama
  ** ptrace_scope 1; harmless (EINVAL) without Yama */
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  block_signals(&t);
  crew_start(&t);
  extras_start(&t);
  if (t.opt.fds)
    open_standard_fds(&t);
  if (t.opt.odd_name)
    open_odd(&t);
  open_extra_fds(&t);
  if (t.opt.maps)
    map_standard(&t);
  if (t.opt.odd_name)
    map_odd(&t);
  if (t.opt.resident_mb > 0)
    map_resident(&t);
  if (t.opt.grow_pages > 0)
    map_grow(&t);
  map_extra(&t);
  if (t.opt.fork_maps)
    map_fork(&t);
  if (t.opt.changes)
    changes_start(&t);
  churners_start(&t);        /* after what the report lists; clone() is still allowed */
  if (t.opt.seccomp != NULL)
    install_seccomp(&t);
  report(&t);
  if (t.opt.exit_now >= 0) {
    /* at once: the workers die with the process; the child must not */
    reap_child(&t);
    remove_scratch(&t);
    _exit(t.opt.exit_now);
  }
  code = serve(&t);
  cleanup(&t);
  pthread_cond_destroy(&t.crew.cond);
  pthread_mutex_destroy(&t.crew.lock);
  return code;
}
