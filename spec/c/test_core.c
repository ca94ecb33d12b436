/*
** test_core.c -- ELF core files (src/linux/core.c), written from a target
** whose threads this test stops itself with ptrace, the image being the
** stopped target. What the tests hold the writer to:
**
** - gdb opens the core: every thread, each with the rip read from it, the
**   parked thread's r12, a backtrace without unreadable memory, and the
**   value of a global as the stopped target held it;
** - read back with a parser of our own, the file is the kernel's layout:
**   ELF header, PT_NOTE then one PT_LOAD per line of maps, in order, with
**   the right flags and sizes; the segments hold the target's memory byte
**   for byte; the notes come in the kernel's order with its sizes;
** - what has no bytes in the file is what the kernel leaves out too
**   (MADV_DONTDUMP, memory never touched), and PROT_NONE memory with data
**   is there all the same; the untouched pages of a mapping with data are
**   holes, never read from the image, and the pages read stay shared
**   with the process the image was forked from;
** - a pipe receives the same bytes as a file;
** - every failure is an -errno: bad fds, no image, a full disk, a file
**   size limit.
**
** And, through PssLinuxWriteCore and PssLinuxWriteCoreFd on real captures
** of the target (VA clone and thread contexts), that writing a core never
** harms the caller (issue 11): a device at Path stays that device, a
** failed write leaves an old file's bytes and mode as they were, a
** symbolic link is replaced and not followed, the result is mode 0600
** whatever was there and whatever the umask, no temporary file is left
** behind; a descriptor gets the core at its offset or in order, and
** neither SIGPIPE nor SIGXFSZ reaches the caller.
**
** The teardown detaches every thread the test stopped, kills a gdb or a
** child that is still running, restores the signal actions, the file
** size limit and the umask, and removes everything in the test's
** directory, then the directory.
*/
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"
#include "linux/file/core.h"

#if defined(__x86_64__)

#define GDB "/usr/bin/gdb"
#define MAX_THREADS 64
#define PAGE 4096u
#define PARKED_R12 0x5053535f52313221ULL
#define GDB_OUTPUT (1 << 20)

static void sleep_ms (long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* {======================================================================
** What a test holds beyond the fixture, released by the teardown
** ======================================================================= */
static struct {
  pid_t seized[MAX_THREADS];   /* threads stopped by the test */
  size_t nseized;
  char dir[64];                /* mkdtemp'd, "" if none; emptied and removed */
  char files[12][384];         /* paths made by temp_file, "" if none */
  int core_fd;                 /* a core opened to read back, -1 if none */
  pid_t gdb;                   /* a gdb still running, 0 if none */
  pid_t child;                 /* an image forked by the test, 0 if none */
  int child_hold;              /* the pipe end that keeps it blocked */
  void *regions;               /* mapped by the test, unmapped at teardown */
  size_t regions_len;
  struct rlimit fsize;         /* RLIMIT_FSIZE before the test lowered it */
  int fsize_lowered;
  struct sigaction pipe_action, xfsz_action;   /* before the test counted them */
  int counting;
  mode_t umask;                /* before the test changed it */
  int umask_set;
} held;

/* SIGPIPE and SIGXFSZ that reached the test while it counted them */
static volatile sig_atomic_t pipe_signals, xfsz_signals;

static int core_setup (void **state) {
  memset(&held, 0, sizeof held);
  held.child_hold = -1;
  held.core_fd = -1;
  if (fixture_setup(state) != 0)
    return -1;
  watchdog_arm(120, "the test");
  return 0;
}

/* Detaches a seized thread; one not in its stop yet (the test failed
** between the seize and the wait) is stopped first. */
static void detach (pid_t tid) {
  int st;
  if (ptrace(PTRACE_DETACH, tid, NULL, NULL) == 0 || errno != ESRCH)
    return;
  if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
    return;                   /* gone */
  while (waitpid(tid, &st, __WALL) < 0 && errno == EINTR) {}
  if (WIFSTOPPED(st) && ptrace(PTRACE_DETACH, tid, NULL, NULL) != 0)
    note("cannot detach thread %d: %s", (int)tid, strerror(errno));
}

/* Detaches every thread the test stopped: a ptrace-stopped target can
** neither be stopped by the fixture nor run on. */
static void release_threads (void) {
  size_t i;
  for (i = 0; i < held.nseized; i++)
    detach(held.seized[i]);
  held.nseized = 0;
}

/* Removes everything in the directory path (relative to at), which the
** test made: files, and directories down to depth levels, made writable
** first (a test makes one read-only). */
static void empty_dir (int at, char const *path, int depth) {
  int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *e;
  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return;
  }
  fchmod(fd, 0700);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (unlinkat(fd, e->d_name, 0) == 0 || errno != EISDIR || depth == 0)
      continue;
    empty_dir(fd, e->d_name, depth - 1);
    if (unlinkat(fd, e->d_name, AT_REMOVEDIR) != 0)
      note("teardown: cannot remove %s/%s: %s", path, e->d_name, strerror(errno));
  }
  closedir(d);
}

static int core_teardown (void **state) {
  alarm(0);
  release_threads();
  if (held.gdb > 0) {
    kill(held.gdb, SIGKILL);
    while (waitpid(held.gdb, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (held.child > 0) {
    if (held.child_hold >= 0)
      close(held.child_hold);
    kill(held.child, SIGKILL);
    while (waitpid(held.child, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (held.regions != NULL)
    munmap(held.regions, held.regions_len);
  if (held.fsize_lowered) {
    setrlimit(RLIMIT_FSIZE, &held.fsize);
    signal(SIGXFSZ, SIG_DFL);
  }
  if (held.counting) {
    sigaction(SIGPIPE, &held.pipe_action, NULL);
    sigaction(SIGXFSZ, &held.xfsz_action, NULL);
  }
  if (held.umask_set)
    umask(held.umask);
  if (held.core_fd >= 0)
    close(held.core_fd);
  if (held.dir[0] != '\0') {
    empty_dir(AT_FDCWD, held.dir, 2);
    if (rmdir(held.dir) != 0)
      note("teardown: cannot remove %s: %s", held.dir, strerror(errno));
  }
  return fixture_teardown(state);
}

#define core_test(fn) cmocka_unit_test_setup_teardown(fn, core_setup, core_teardown)

/* A new file in the test's directory under /tmp: its path. */
static char const *temp_file (char const *name) {
  size_t i;
  if (held.dir[0] == '\0') {
    strcpy(held.dir, "/tmp/pss-core-XXXXXX");
    if (mkdtemp(held.dir) == NULL) {
      held.dir[0] = '\0';
      fail_because("mkdtemp: %s", strerror(errno));
    }
  }
  for (i = 0; held.files[i][0] != '\0'; i++)
    assert_true(i + 1 < sizeof held.files / sizeof held.files[0]);
  assert_true(snprintf(held.files[i], sizeof held.files[i], "%s/%s", held.dir, name) <
              (int)sizeof held.files[i]);
  return held.files[i];
}
/* }====================================================================== */


/* {======================================================================
** The stopped target: its threads, registers and identity
** ======================================================================= */
struct stopped {
  struct target *t;
  struct pss_core_process proc;
  struct pss_core_thread threads[MAX_THREADS];   /* the main thread first */
  size_t n;
  pid_t parked;
  uint64_t counter_at, buffer_at;     /* pss_writer_counter, pss_writer_buffer */
  size_t buffer_bytes;
  uint64_t counter;                   /* its value while stopped */
};

/* Waits (bounded) until thread tid is blocked in system call nr. */
static void wait_in_syscall (pid_t pid, pid_t tid, long nr) {
  long long deadline = now_ms() + 10000;
  struct proc_syscall sc;
  while (proc_syscall(pid, tid, &sc) != 0 || sc.state != 1 || sc.nr != nr) {
    if (now_ms() > deadline)
      fail_because("thread %d never blocked in system call %ld", (int)tid, nr);
    sleep_ms(1);
  }
}

/* Seizes and interrupts every thread of pid, then waits for each stop. */
static void stop_all (pid_t pid) {
  pid_t tids[MAX_THREADS];
  long n = proc_tids(pid, tids, MAX_THREADS), i;
  assert_true(n > 0 && n < MAX_THREADS);
  for (i = 0; i < n; i++) {
    if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) != 0)
      fail_because("PTRACE_SEIZE %d: %s", (int)tids[i], strerror(errno));
    held.seized[held.nseized++] = tids[i];
    if (ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) != 0)
      fail_because("PTRACE_INTERRUPT %d: %s", (int)tids[i], strerror(errno));
  }
  for (i = 0; i < n; i++) {
    int st;
    pid_t r;
    while ((r = waitpid(tids[i], &st, __WALL)) < 0 && errno == EINTR) {}
    if (r != tids[i] || !WIFSTOPPED(st))
      fail_because("thread %d did not stop (waitpid %d, status 0x%x)", (int)tids[i], (int)r, st);
  }
  if (proc_tids(pid, tids, MAX_THREADS) != n)
    fail_because("the target made or lost threads while it was being stopped");
}

static void read_registers (struct pss_core_thread *th, pid_t tid) {
  struct iovec iov = { th->gp, sizeof th->gp };
  memset(th, 0, sizeof *th);
  th->tid = tid;
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) != 0 || iov.iov_len != sizeof th->gp)
    fail_because("NT_PRSTATUS of %d: %s (%zu bytes)", (int)tid, strerror(errno), iov.iov_len);
  iov.iov_base = th->fp;
  iov.iov_len = sizeof th->fp;
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) != 0 || iov.iov_len != sizeof th->fp)
    fail_because("NT_PRFPREG of %d: %s (%zu bytes)", (int)tid, strerror(errno), iov.iov_len);
  th->have_fp = 1;
}

static void read_identity (struct pss_core_process *p, pid_t pid) {
  struct proc_stat st;
  char args[256];
  long n, i;
  memset(p, 0, sizeof *p);
  assert_int_equal(proc_stat(pid, 0, &st), 0);
  p->pid = pid;
  p->ppid = st.ppid;
  p->pgrp = st.pgrp;
  p->sid = st.session;
  p->uid = getuid();
  p->gid = getgid();
  p->state = st.state;
  p->nice = (int)st.nice;
  memcpy(p->fname, st.comm, strnlen(st.comm, sizeof p->fname - 1));
  n = proc_read(pid, "cmdline", args, sizeof args);
  assert_true(n > 0);
  for (i = 0; i < n && i < (long)sizeof p->psargs - 1; i++)
    p->psargs[i] = args[i] != '\0' ? args[i] : ' ';
}

static uint64_t read_word (pid_t pid, uint64_t at) {
  uint64_t v = 0;
  struct iovec local = { &v, sizeof v }, remote = { (void *)(uintptr_t)at, sizeof v };
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof v)
    fail_because("process_vm_readv of %d at 0x%" PRIx64 ": %s", (int)pid, at, strerror(errno));
  return v;
}

/* The target with threads, a parked thread and a writer, all stopped
** with the parked one in pause(); registers and identity read. */
static struct stopped *stopped_target (struct fixture *f) {
  struct stopped *s = fixture_keep(f, calloc(1, sizeof *s));
  char line[256];
  pid_t tids[MAX_THREADS];
  unsigned long long counter = 0, buffer = 0;
  int parked = 0, writer = 0;
  long n, i;
  assert_non_null(s);
  s->t = fixture_start_running(f, "--threads", "3", "--parked", "--writer", NULL);
  if (!target_report_line(s->t, "parked", 0, line, sizeof line) ||
      sscanf(line, "%d", &parked) != 1)
    fail_because("the target's report has no parked line");
  if (!target_report_line(s->t, "writer", 0, line, sizeof line) ||
      sscanf(line, "%d %llx %llx %zu", &writer, &counter, &buffer, &s->buffer_bytes) != 4)
    fail_because("the target's report has no writer line");
  s->parked = (pid_t)parked;
  s->counter_at = counter;
  s->buffer_at = buffer;
  wait_in_syscall(s->t->pid, s->parked, SYS_pause);
  stop_all(s->t->pid);
  read_identity(&s->proc, s->t->pid);
  n = proc_tids(s->t->pid, tids, MAX_THREADS);
  read_registers(&s->threads[s->n++], s->t->pid);
  for (i = 0; i < n; i++)
    if (tids[i] != s->t->pid)
      read_registers(&s->threads[s->n++], tids[i]);
  s->counter = read_word(s->t->pid, s->counter_at);
  return s;
}

static int write_core (char const *path, pid_t image, struct stopped const *s) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc;
  assert_true(fd >= 0);
  rc = pss_core_write(fd, image, &s->proc, s->threads, s->n);
  close(fd);
  return rc;
}

/* gp is not 8-byte aligned in pss_core_thread: copied out, not cast */
static uint64_t reg_rip (struct pss_core_thread const *th) {
  uint64_t rip;
  memcpy(&rip, th->gp + offsetof(struct user_regs_struct, rip), sizeof rip);
  return rip;
}
/* }====================================================================== */


/* {======================================================================
** The core read back
** ======================================================================= */
struct core_file {
  int fd;
  off_t size;
  Elf64_Ehdr eh;
  Elf64_Phdr *ph;              /* e_phnum of them */
  unsigned char *notes;        /* the PT_NOTE segment */
  size_t notes_len;
};

static void read_at (int fd, void *buf, size_t n, uint64_t at) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(at + done));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      fail_because("the core ends early: %zu bytes at %" PRIu64 " (%s)", n, at,
                   r < 0 ? strerror(errno) : "EOF");
    done += (size_t)r;
  }
}

/* Reads and checks the ELF header and program headers of the core; the
** teardown closes it. */
static void core_open (struct fixture *f, struct core_file *c, char const *path) {
  static unsigned char const ident[] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
                                         ELFDATA2LSB, EV_CURRENT };
  struct stat st;
  size_t i;
  memset(c, 0, sizeof *c);
  assert_int_equal(held.core_fd, -1);
  c->fd = held.core_fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(c->fd >= 0);
  assert_int_equal(fstat(c->fd, &st), 0);
  c->size = st.st_size;
  read_at(c->fd, &c->eh, sizeof c->eh, 0);
  if (memcmp(c->eh.e_ident, ident, sizeof ident) != 0)
    fail_because("not an ELF64 little-endian file");
  assert_int_equal(c->eh.e_type, ET_CORE);
  assert_int_equal(c->eh.e_machine, EM_X86_64);
  assert_int_equal(c->eh.e_version, EV_CURRENT);
  assert_int_equal(c->eh.e_phentsize, sizeof(Elf64_Phdr));
  assert_int_equal(c->eh.e_phoff, sizeof(Elf64_Ehdr));
  assert_true(c->eh.e_phnum > 1 && c->eh.e_phnum < PN_XNUM);
  c->ph = fixture_keep(f, calloc(c->eh.e_phnum, sizeof *c->ph));
  assert_non_null(c->ph);
  read_at(c->fd, c->ph, c->eh.e_phnum * sizeof *c->ph, c->eh.e_phoff);
  assert_int_equal(c->ph[0].p_type, PT_NOTE);
  c->notes_len = c->ph[0].p_filesz;
  c->notes = fixture_keep(f, malloc(c->notes_len));
  assert_non_null(c->notes);
  read_at(c->fd, c->notes, c->notes_len, c->ph[0].p_offset);
  for (i = 1; i < c->eh.e_phnum; i++)
    if (c->ph[i].p_filesz > 0 && c->ph[i].p_offset + c->ph[i].p_filesz > (uint64_t)c->size)
      fail_because("segment %zu ends at %" PRIu64 ", after the end of the file (%lld)", i,
                   (uint64_t)(c->ph[i].p_offset + c->ph[i].p_filesz), (long long)c->size);
}

/* Closes a core opened by core_open, so the test can open another. */
static void core_close (struct core_file *c) {
  close(c->fd);
  c->fd = held.core_fd = -1;
}

struct note {
  uint32_t type;
  char name[8];
  unsigned char const *desc;
  size_t size;
};

/* The notes in order; their count. Fails on a malformed one. */
static size_t core_notes (struct core_file const *c, struct note *out, size_t cap) {
  size_t at = 0, n = 0;
  while (at < c->notes_len) {
    Elf64_Nhdr h;
    size_t name_at = at + sizeof h, desc_at;
    assert_true(at + sizeof h <= c->notes_len && n < cap);
    memcpy(&h, c->notes + at, sizeof h);
    desc_at = name_at + ((h.n_namesz + 3u) & ~3u);
    if (h.n_namesz == 0 || h.n_namesz > sizeof out[n].name || desc_at + h.n_descsz > c->notes_len)
      fail_because("note %zu: name size %u, desc size %u at %zu of %zu", n, h.n_namesz,
                   h.n_descsz, at, c->notes_len);
    memcpy(out[n].name, c->notes + name_at, h.n_namesz);
    if (out[n].name[h.n_namesz - 1] != '\0')
      fail_because("note %zu: its name is not NUL-terminated", n);
    out[n].type = h.n_type;
    out[n].desc = c->notes + desc_at;
    out[n].size = h.n_descsz;
    n++;
    at = desc_at + ((h.n_descsz + 3u) & ~3u);
  }
  assert_int_equal(at, c->notes_len);
  return n;
}
/* }====================================================================== */


/* {======================================================================
** smaps, read independently
** ======================================================================= */
struct smaps_entry {
  uint64_t start;
  int no_dump;                 /* VmFlags has dd, io or pf */
  long rss_kb, swap_kb;
  long private_dirty_kb;       /* pages this process alone maps, written */
};

static int has_flag (char const *flags, char const *flag) {
  char const *p = flags;
  size_t n = strlen(flag);
  while ((p = strstr(p, flag)) != NULL) {
    if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
      return 1;
    p += n;
  }
  return 0;
}

/* The smaps entries of pid, in order; a kept array, *count of them. */
static struct smaps_entry *read_smaps (struct fixture *f, pid_t pid, size_t *count) {
  size_t const cap = 16u << 20;
  char *text = fixture_keep(f, malloc(cap)), *line, *save = NULL;
  struct smaps_entry *v = fixture_keep(f, calloc(4096, sizeof *v));
  long len;
  size_t n = 0;
  assert_non_null(text);
  assert_non_null(v);
  len = proc_read(pid, "smaps", text, cap - 1);
  assert_true(len > 0 && (size_t)len < cap - 1);
  text[len] = '\0';
  for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    unsigned long long start, end;
    if (!(line[0] >= 'A' && line[0] <= 'Z') && sscanf(line, "%llx-%llx ", &start, &end) == 2) {
      assert_true(n < 4096);
      v[n].start = start;
      v[n].rss_kb = v[n].swap_kb = v[n].private_dirty_kb = -1;
      n++;
    } else if (n > 0 && strncmp(line, "Rss:", 4) == 0) {
      v[n - 1].rss_kb = strtol(line + 4, NULL, 10);
    } else if (n > 0 && strncmp(line, "Swap:", 5) == 0) {
      v[n - 1].swap_kb = strtol(line + 5, NULL, 10);
    } else if (n > 0 && strncmp(line, "Private_Dirty:", 14) == 0) {
      v[n - 1].private_dirty_kb = strtol(line + 14, NULL, 10);
    } else if (n > 0 && strncmp(line, "VmFlags:", 8) == 0) {
      v[n - 1].no_dump = has_flag(line + 8, "dd") || has_flag(line + 8, "io") ||
                         has_flag(line + 8, "pf");
    }
  }
  *count = n;
  return v;
}
/* }====================================================================== */


/* {======================================================================
** gdb
** ======================================================================= */

/* Runs gdb in batch mode on the executable and the core with the given
** commands; its stdout and stderr in out. Bounded: killed, and the test
** failed, after 120 s. */
static void run_gdb (char const *exe, char const *core, char const *const *commands,
                     char *out, size_t cap) {
  char const *argv[64];
  size_t argc = 0, used = 0, i;
  long long deadline = now_ms() + 120000;
  int p[2], status;
  pid_t r;
  argv[argc++] = "gdb";
  argv[argc++] = "-nx";
  argv[argc++] = "-batch";
  argv[argc++] = "-iex";
  argv[argc++] = "set debuginfod enabled off";
  for (i = 0; commands[i] != NULL && argc < 60; i++) {
    argv[argc++] = "-ex";
    argv[argc++] = commands[i];
  }
  argv[argc++] = exe;
  argv[argc++] = core;
  argv[argc] = NULL;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  held.gdb = fork();
  assert_true(held.gdb >= 0);
  if (held.gdb == 0) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(null, 0);
    dup2(p[1], 1);
    dup2(p[1], 2);
    unsetenv("DEBUGINFOD_URLS");
    execv(GDB, (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  close(p[1]);
  for (;;) {
    struct pollfd pf = { p[0], POLLIN, 0 };
    ssize_t n;
    if (now_ms() > deadline) {
      close(p[0]);
      fail_because("gdb did not finish within 120 s");   /* the teardown kills it */
    }
    if (poll(&pf, 1, 100) <= 0)
      continue;
    n = read(p[0], out + used, cap - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || (used += (size_t)n) == cap - 1)
      break;
  }
  close(p[0]);
  out[used] = '\0';
  while ((r = waitpid(held.gdb, &status, WNOHANG)) == 0 && now_ms() < deadline)
    sleep_ms(10);
  if (r != held.gdb)
    fail_because("gdb did not exit within 120 s");
  held.gdb = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_because("gdb failed (wait status 0x%x); its output:\n%.3000s", (unsigned)status, out);
}

/* The part of text between the line "@@name" and the next "@@" line;
** its length in *len. */
static char const *section (char const *text, char const *name, size_t *len) {
  char marker[64];
  char const *start, *end;
  snprintf(marker, sizeof marker, "@@%s\n", name);
  start = strstr(text, marker);
  if (start == NULL)
    fail_because("gdb printed no %s section; its output:\n%.3000s", name, text);
  start += strlen(marker);
  end = strstr(start, "\n@@");
  *len = end != NULL ? (size_t)(end + 1 - start) : strlen(start);
  return start;
}

struct gdb_thread {
  pid_t tid;
  uint64_t rip, r12;
  int has_rip, has_r12;
  char const *text;            /* its part of the section */
  size_t len;
};

/* "Thread N (... (LWP tid) ...):" headers and the lines after each, in
** the size bytes at text. */
static size_t gdb_threads (char const *text, size_t size, struct gdb_thread *out, size_t cap) {
  char const *stop = text + size;
  size_t n = 0;
  while (text < stop) {
    char const *eol = memchr(text, '\n', (size_t)(stop - text));
    size_t len = eol != NULL ? (size_t)(eol - text) + 1 : (size_t)(stop - text);
    char const *lwp = strstr(text, "(LWP ");
    if (strncmp(text, "Thread ", 7) == 0 && lwp != NULL && lwp < text + len && n < cap) {
      memset(&out[n], 0, sizeof out[n]);
      out[n].tid = (pid_t)strtol(lwp + 5, NULL, 10);
      out[n].text = text;
      n++;
    } else if (n > 0 && strncmp(text, "rip ", 4) == 0) {
      out[n - 1].rip = strtoull(text + 4, NULL, 0);
      out[n - 1].has_rip = 1;
    } else if (n > 0 && strncmp(text, "r12 ", 4) == 0) {
      out[n - 1].r12 = strtoull(text + 4, NULL, 0);
      out[n - 1].has_r12 = 1;
    }
    text += len;
    if (n > 0)
      out[n - 1].len = (size_t)(text - out[n - 1].text);
  }
  return n;
}

static struct gdb_thread const *gdb_thread (struct gdb_thread const *v, size_t n, pid_t tid,
                                            char const *what, char const *all) {
  size_t i;
  for (i = 0; i < n; i++)
    if (v[i].tid == tid)
      return &v[i];
  fail_because("gdb's %s show no thread %d; they are:\n%.3000s", what, (int)tid, all);
  return NULL;
}

/* Whether the len bytes at text hold needle. */
static int holds (char const *text, size_t len, char const *needle) {
  size_t n = strlen(needle), i;
  for (i = 0; i + n <= len; i++)
    if (memcmp(text + i, needle, n) == 0)
      return 1;
  return 0;
}
/* }====================================================================== */


/*
** gdb opens the core: the threads are the target's, each at the rip
** captured from it, the parked thread with its known r12 and a readable
** frame 0, every backtrace without unreadable memory, and the writer's
** counter as the stopped target held it.
*/
static void core_opens_in_gdb (void **state) {
  static char const *const commands[] = {
    "echo @@threads\\n", "info threads",
    "echo @@registers\\n", "thread apply all info registers rip r12",
    "echo @@backtraces\\n", "thread apply all bt",
    "echo @@counter\\n", "print (unsigned long long) pss_writer_counter",
    "echo @@end\\n", NULL
  };
  struct fixture *f = FIXTURE(state);
  struct gdb_thread regs[MAX_THREADS], bts[MAX_THREADS];
  char const *path = temp_file("core"), *counter, *part;
  char *text;
  struct stopped *s;
  unsigned long long value;
  size_t nregs, nbts, i, len;
  if (access(GDB, X_OK) != 0)
    skip_because("%s is missing: no debugger to open the core with", GDB);
  if (under_valgrind())
    skip_because("under valgrind: gdb runs as a program of its own, which valgrind does not "
                 "follow, so this adds nothing to the memory checks; the writer itself runs "
                 "under valgrind in the other core tests");
  s = stopped_target(f);
  assert_int_equal(write_core(path, s->t->pid, s), 0);
  release_threads();
  text = fixture_keep(f, malloc(GDB_OUTPUT));
  assert_non_null(text);
  run_gdb(target_program(), path, commands, text, GDB_OUTPUT);
  counter = section(text, "counter", &len);
  part = section(text, "threads", &len);
  for (i = 0, nregs = 0; i < len; i++)
    nregs += strncmp(part + i, "(LWP ", 5) == 0;
  if (nregs != s->n)
    fail_because("gdb's info threads lists %zu threads, the target has %zu:\n%.*s", nregs, s->n,
                 (int)len, part);
  part = section(text, "registers", &len);
  nregs = gdb_threads(part, len, regs, MAX_THREADS);
  part = section(text, "backtraces", &len);
  nbts = gdb_threads(part, len, bts, MAX_THREADS);
  if (nregs != s->n || nbts != s->n)
    fail_because("gdb shows %zu threads (%zu backtraces), the target has %zu; its output:\n%.3000s",
                 nregs, nbts, s->n, text);
  for (i = 0; i < s->n; i++) {
    struct gdb_thread const *r = gdb_thread(regs, nregs, s->threads[i].tid, "registers", text);
    struct gdb_thread const *b = gdb_thread(bts, nbts, s->threads[i].tid, "backtraces", text);
    if (!r->has_rip || r->rip != reg_rip(&s->threads[i]))
      fail_because("thread %d: gdb says rip 0x%" PRIx64 ", it was 0x%" PRIx64, (int)r->tid,
                   r->rip, reg_rip(&s->threads[i]));
    if (!holds(b->text, b->len, "#0 ") || holds(b->text, b->len, "Cannot access memory"))
      fail_because("thread %d: no usable backtrace:\n%.*s", (int)b->tid, (int)b->len, b->text);
    if (s->threads[i].tid == s->parked && (!r->has_r12 || r->r12 != PARKED_R12))
      fail_because("the parked thread: gdb says r12 0x%" PRIx64, r->r12);
    if (s->threads[i].tid == s->parked && !holds(b->text, b->len, " park "))
      fail_because("the parked thread's frame 0 is not in park():\n%.*s", (int)b->len, b->text);
  }
  if (sscanf(counter, "$1 = %llu", &value) != 1 || value != s->counter)
    fail_because("gdb prints pss_writer_counter as \"%.80s\", the target held %" PRIu64, counter,
                 s->counter);
  note("gdb: %zu threads at their rip, counter %" PRIu64, s->n, s->counter);
}

/* The PT_LOAD of maps line m: in place, with its flags and sizes. */
static void expect_segment (Elf64_Phdr const *p, struct proc_map const *m,
                            struct smaps_entry const *sm, size_t i) {
  uint32_t flags = (m->perms[0] == 'r' ? PF_R : 0) | (m->perms[1] == 'w' ? PF_W : 0) |
                   (m->perms[2] == 'x' ? PF_X : 0);
  int untouched = m->inode == 0 && m->perms[3] == 'p' && sm->rss_kb == 0 && sm->swap_kb == 0 &&
                  strcmp(m->path, "[vdso]") != 0;
  uint64_t want_filesz = sm->no_dump || untouched ? 0 : m->end - m->start;
  if (p->p_type != PT_LOAD || p->p_vaddr != m->start || p->p_memsz != m->end - m->start ||
      p->p_flags != flags || p->p_filesz != want_filesz || p->p_offset % PAGE != 0 ||
      p->p_align != PAGE)
    fail_because("segment %zu (type %u, vaddr 0x%" PRIx64 ", memsz %" PRIu64 ", filesz %" PRIu64
                 ", flags %u, offset %" PRIu64 ") is not maps line 0x%" PRIxPTR "-0x%" PRIxPTR
                 " %s %s (filesz %" PRIu64 ", flags %u)", i, p->p_type, (uint64_t)p->p_vaddr,
                 (uint64_t)p->p_memsz, (uint64_t)p->p_filesz, p->p_flags,
                 (uint64_t)p->p_offset, m->start, m->end, m->perms, m->path, want_filesz, flags);
}

/* The bytes of a segment equal the stopped target's memory, where
** process_vm_readv can read it; how many were compared. */
static uint64_t expect_contents (struct core_file const *c, Elf64_Phdr const *p, pid_t pid,
                                 unsigned char *mine, unsigned char *theirs, size_t chunk) {
  uint64_t at, compared = 0;
  for (at = 0; at < p->p_filesz; at += chunk) {
    size_t n = p->p_filesz - at < chunk ? (size_t)(p->p_filesz - at) : chunk, k;
    read_at(c->fd, mine, n, p->p_offset + at);
    for (k = 0; k < n; k += PAGE) {
      struct iovec local = { theirs, PAGE };
      struct iovec remote = { (void *)(uintptr_t)(p->p_vaddr + at + k), PAGE };
      if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)PAGE)
        continue;   /* not readable this way (PROT_NONE, ...): the core has zeros or mem's bytes */
      if (memcmp(mine + k, theirs, PAGE) != 0)
        fail_because("the core's page at 0x%" PRIx64 " differs from the target's",
                     (uint64_t)(p->p_vaddr + at + k));
      compared += PAGE;
    }
  }
  return compared;
}

/* Bytes of [at, at + n) inside segment p. */
static uint64_t overlap (Elf64_Phdr const *p, uint64_t at, uint64_t n) {
  uint64_t lo = at > p->p_vaddr ? at : p->p_vaddr;
  uint64_t hi = at + n < p->p_vaddr + p->p_memsz ? at + n : p->p_vaddr + p->p_memsz;
  return hi > lo ? hi - lo : 0;
}

/*
** The file read back: ELF header, PT_NOTE, one PT_LOAD per maps line in
** maps order with its address, size and flags; no bytes for dd/io/pf and
** for anonymous memory without pages, all bytes otherwise, and those equal
** the stopped target's memory (the writer's buffer included).
*/
static void core_holds_the_image (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("core");
  size_t const chunk = 1u << 20;
  unsigned char *mine = fixture_keep(f, malloc(chunk)), *theirs = fixture_keep(f, malloc(PAGE));
  struct stopped *s = stopped_target(f);
  struct core_file c;
  struct proc_map *maps;
  struct smaps_entry *sm;
  size_t nmaps, nsmaps, i, empty = 0;
  uint64_t compared = 0, end = 0, buffer_in = 0;
  assert_non_null(mine);
  assert_non_null(theirs);
  assert_int_equal(write_core(path, s->t->pid, s), 0);
  maps = fixture_keep(f, proc_maps(s->t->pid, &nmaps));
  assert_non_null(maps);
  sm = read_smaps(f, s->t->pid, &nsmaps);
  assert_int_equal(nsmaps, nmaps);
  core_open(f, &c, path);
  if (c.eh.e_phnum != nmaps + 1)
    fail_because("e_phnum %u, the target has %zu mappings", c.eh.e_phnum, nmaps);
  for (i = 0; i < nmaps; i++) {
    Elf64_Phdr const *p = &c.ph[i + 1];
    assert_int_equal(sm[i].start, maps[i].start);
    expect_segment(p, &maps[i], &sm[i], i + 1);
    if (p->p_filesz == 0)
      empty++;
    if (p->p_filesz > 0 && p->p_offset < end)
      fail_because("segment %zu overlaps the one before it", i + 1);
    if (p->p_filesz > 0)
      end = p->p_offset + p->p_filesz;
    compared += expect_contents(&c, p, s->t->pid, mine, theirs, chunk);
    buffer_in += p->p_filesz > 0 ? overlap(p, s->buffer_at, s->buffer_bytes) : 0;
  }
  if ((uint64_t)c.size != end)
    fail_because("the file has %lld bytes, its last segment ends at %" PRIu64,
                 (long long)c.size, end);
  if (buffer_in != s->buffer_bytes)
    fail_because("%" PRIu64 " bytes of the writer's buffer are in the core, not %zu", buffer_in,
                 s->buffer_bytes);
  note("%zu segments (%zu without bytes), %" PRIu64 " MiB compared with the target", nmaps,
       empty, compared >> 20);
}

/* NT_FILE's entries are the file mappings of maps, in order. */
static void expect_files (struct note const *nt, struct proc_map const *maps, size_t nmaps) {
  uint64_t count, page;
  size_t i, k = 0;
  char const *name;
  assert_true(nt->size >= 16);
  memcpy(&count, nt->desc, 8);
  memcpy(&page, nt->desc + 8, 8);
  assert_int_equal(page, PAGE);
  assert_true(16 + count * 24 <= nt->size);
  name = (char const *)nt->desc + 16 + count * 24;
  for (i = 0; i < nmaps; i++) {
    uint64_t e[3];
    if (maps[i].inode == 0)
      continue;
    if (k == count)
      fail_because("NT_FILE has %" PRIu64 " files, maps has more", count);
    memcpy(e, nt->desc + 16 + k * 24, sizeof e);
    if (e[0] != maps[i].start || e[1] != maps[i].end || e[2] != maps[i].offset / PAGE ||
        strcmp(name, maps[i].path) != 0)
      fail_because("NT_FILE entry %zu: 0x%" PRIx64 "-0x%" PRIx64 " page %" PRIu64 " %s; maps: "
                   "0x%" PRIxPTR "-0x%" PRIxPTR " %s", k, e[0], e[1], e[2], name,
                   maps[i].start, maps[i].end, maps[i].path);
    name += strlen(name) + 1;
    k++;
  }
  assert_int_equal(k, count);
  assert_ptr_equal(name, (char const *)nt->desc + nt->size);
}

/*
** The notes: the kernel's order and sizes, named "CORE"; each thread's
** NT_PRSTATUS has its tid and registers, NT_FPREGSET its FXSAVE image;
** NT_PRPSINFO the identity; NT_AUXV /proc/PID/auxv; NT_FILE the files.
*/
static void core_notes_follow_the_kernel (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("core");
  struct stopped *s = stopped_target(f);
  struct note *nt = fixture_keep(f, calloc(4 * MAX_THREADS, sizeof *nt));
  unsigned char auxv[4096];
  struct core_file c;
  struct proc_map *maps;
  struct elf_prpsinfo ps;
  size_t nmaps, n, i, t;
  long auxv_len;
  assert_non_null(nt);
  assert_int_equal(write_core(path, s->t->pid, s), 0);
  maps = fixture_keep(f, proc_maps(s->t->pid, &nmaps));
  assert_non_null(maps);
  auxv_len = proc_read(s->t->pid, "auxv", (char *)auxv, sizeof auxv);
  assert_true(auxv_len > 0);
  core_open(f, &c, path);
  n = core_notes(&c, nt, 4 * MAX_THREADS);
  if (n != 4 + 2 * s->n)
    fail_because("%zu notes for %zu threads, expected %zu", n, s->n, 4 + 2 * s->n);
  for (i = 0; i < n; i++)
    if (strcmp(nt[i].name, "CORE") != 0)
      fail_because("note %zu (type %u) is named \"%s\"", i, nt[i].type, nt[i].name);
  /* PRSTATUS PRPSINFO SIGINFO AUXV FILE FPREGSET, then PRSTATUS FPREGSET per thread */
  for (i = 0, t = 0; i < n; t++) {
    struct elf_prstatus st;
    assert_int_equal(nt[i].type, NT_PRSTATUS);
    assert_int_equal(nt[i].size, sizeof st);
    memcpy(&st, nt[i].desc, sizeof st);
    assert_int_equal(st.pr_pid, s->threads[t].tid);
    assert_int_equal(st.pr_ppid, s->proc.ppid);
    assert_int_equal(st.pr_fpvalid, 1);
    assert_memory_equal(&st.pr_reg, s->threads[t].gp, sizeof s->threads[t].gp);
    if (t == 0) {
      assert_int_equal(nt[i + 1].type, NT_PRPSINFO);
      assert_int_equal(nt[i + 1].size, sizeof ps);
      memcpy(&ps, nt[i + 1].desc, sizeof ps);
      assert_int_equal(ps.pr_pid, s->t->pid);
      assert_int_equal(ps.pr_sid, s->proc.sid);
      assert_int_equal(ps.pr_sname, s->proc.state == 't' ? 'T' : s->proc.state);
      assert_string_equal(ps.pr_fname, s->proc.fname);
      assert_string_equal(ps.pr_psargs, s->proc.psargs);
      assert_int_equal(nt[i + 2].type, NT_SIGINFO);
      assert_int_equal(nt[i + 2].size, 128);
      assert_int_equal(nt[i + 3].type, NT_AUXV);
      assert_bytes((char const *)nt[i + 3].desc, nt[i + 3].size, (char const *)auxv,
                   (size_t)auxv_len);
      assert_int_equal(nt[i + 4].type, NT_FILE);
      expect_files(&nt[i + 4], maps, nmaps);
      i += 4;
    }
    assert_int_equal(nt[i + 1].type, NT_FPREGSET);
    assert_int_equal(nt[i + 1].size, sizeof s->threads[t].fp);
    assert_memory_equal(nt[i + 1].desc, s->threads[t].fp, sizeof s->threads[t].fp);
    i += 2;
  }
  assert_int_equal(t, s->n);
}

/* Drains a pipe into a file. */
struct drain {
  int from, to;
  int error;
};

static void *drain_pipe (void *arg) {
  struct drain *d = arg;
  static char buf[1 << 16];
  ssize_t n;
  while ((n = read(d->from, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || write(d->to, buf, (size_t)n) != n) {
      d->error = errno;
      break;
    }
  }
  return NULL;
}

/* The n bytes of file a from offset at_a equal those of b from at_b. */
static void expect_same_range (struct fixture *f, char const *a, uint64_t at_a, char const *b,
                               uint64_t at_b, uint64_t n) {
  size_t const chunk = 1u << 20;
  char *x = fixture_keep(f, malloc(chunk)), *y = fixture_keep(f, malloc(chunk));
  int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
  uint64_t at;
  assert_non_null(x);
  assert_non_null(y);
  assert_true(fa >= 0 && fb >= 0);
  for (at = 0; at < n; at += chunk) {
    size_t k = n - at < chunk ? (size_t)(n - at) : chunk;
    read_at(fa, x, k, at_a + at);
    read_at(fb, y, k, at_b + at);
    if (memcmp(x, y, k) != 0)
      fail_because("%s from %" PRIu64 " and %s from %" PRIu64 " differ in the MiB at %" PRIu64,
                   a, at_a, b, at_b, at);
  }
  close(fa);
  close(fb);
}

static void expect_same_files (struct fixture *f, char const *a, char const *b) {
  struct stat sa, sb;
  assert_int_equal(stat(a, &sa), 0);
  assert_int_equal(stat(b, &sb), 0);
  if (sa.st_size != sb.st_size)
    fail_because("%s has %lld bytes, %s %lld", a, (long long)sa.st_size, b, (long long)sb.st_size);
  expect_same_range(f, a, 0, b, 0, (uint64_t)sa.st_size);
}

/* Written to a pipe (every byte in order, no holes), the core is the
** same as written to a file. */
static void core_through_a_pipe_is_the_same (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *file = temp_file("core"), *piped = temp_file("piped");
  struct stopped *s = stopped_target(f);
  struct drain d;
  pthread_t drainer;
  int p[2], rc;
  assert_int_equal(write_core(file, s->t->pid, s), 0);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  d.from = p[0];
  d.to = open(piped, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  d.error = 0;
  assert_true(d.to >= 0);
  assert_int_equal(pthread_create(&drainer, NULL, drain_pipe, &d), 0);
  rc = pss_core_write(p[1], s->t->pid, &s->proc, s->threads, s->n);
  close(p[1]);
  pthread_join(drainer, NULL);
  close(p[0]);
  close(d.to);
  assert_int_equal(rc, 0);
  assert_int_equal(d.error, 0);
  expect_same_files(f, file, piped);
}

/* The PT_LOAD at vaddr; fails if there is none. */
static Elf64_Phdr const *segment_at (struct core_file const *c, uint64_t vaddr) {
  size_t i;
  for (i = 1; i < c->eh.e_phnum; i++)
    if (c->ph[i].p_vaddr == vaddr)
      return &c->ph[i];
  fail_because("the core has no segment at 0x%" PRIx64, vaddr);
  return NULL;
}

/* A child of the test: a copy-on-write clone of it, as the product's
** image is, blocked on a pipe until the teardown kills it. */
static pid_t clone_image (void) {
  int p[2];
  char c;
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  held.child = fork();
  assert_true(held.child >= 0);
  if (held.child == 0) {
    close(p[1]);
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
    _exit(0);
  }
  close(p[0]);
  held.child_hold = p[1];
  return held.child;
}

/* The smaps entry of pid's mapping at start; fails if there is none. */
static struct smaps_entry const *smaps_at (struct fixture *f, pid_t pid, uint64_t start) {
  size_t n, i;
  struct smaps_entry const *v = read_smaps(f, pid, &n);
  for (i = 0; i < n; i++)
    if (v[i].start == start)
      return &v[i];
  fail_because("pid %d has no mapping at 0x%" PRIx64, (int)pid, start);
  return NULL;
}

/* Whether the file system of a new file at path keeps holes that SEEK_DATA
** finds (the file is removed again). */
static int keeps_holes (char const *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), keeps;
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, "x", 1, 1 << 20), 1);
  keeps = lseek(fd, 0, SEEK_DATA) == 1 << 20;
  close(fd);
  unlink(path);
  return keeps;
}

/*
** What goes into the file and what does not, on an image made for it (a
** forked copy of the test): memory marked MADV_DONTDUMP has no bytes;
** anonymous memory never touched has none; PROT_NONE memory with data,
** which process_vm_readv cannot read, has its bytes (from /proc/PID/mem);
** a mapping with one page written has every page, that one with its data,
** the others holes in the file (where its file system keeps holes). The
** pages the image never had are never read (reading would allocate them:
** its Rss stays one page), and the page it shares with the test stays
** shared (reading it must not copy it into the image).
*/
static void core_keeps_what_the_kernel_keeps (void **state) {
  enum { PAGES = 16, SPAN = PAGES * PAGE };
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("core");
  unsigned char *r, *got = fixture_keep(f, malloc(SPAN));
  struct stopped *s = fixture_keep(f, calloc(1, sizeof *s));
  struct core_file c;
  Elf64_Phdr const *dontdump, *untouched, *hidden, *sparse;
  struct smaps_entry const *image;
  size_t i;
  assert_non_null(got);
  assert_non_null(s);
  /* four mappings, each followed by an execute-only gap that no neighbor
  ** can merge with: dontdump, untouched, hidden, sparse */
  r = mmap(NULL, 8 * SPAN, PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(r != MAP_FAILED);
  held.regions = r;
  held.regions_len = 8 * SPAN;
  for (i = 0; i < 4; i++)
    assert_true(mmap(r + 2 * i * SPAN, SPAN, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED);
  memset(r, 0x11, SPAN);
  assert_int_equal(madvise(r, SPAN, MADV_DONTDUMP), 0);
  for (i = 0; i < SPAN; i++)
    r[4 * SPAN + i] = (unsigned char)(i * 7 + 3);
  assert_int_equal(mprotect(r + 4 * SPAN, SPAN, PROT_NONE), 0);
  memset(r + 6 * SPAN + 5 * PAGE, 0x5a, PAGE);
  s->proc.pid = clone_image();
  s->proc.state = 'S';
  s->threads[0].tid = s->proc.pid;
  s->n = 1;
  assert_int_equal(write_core(path, s->proc.pid, s), 0);
  core_open(f, &c, path);
  dontdump = segment_at(&c, (uintptr_t)r);
  untouched = segment_at(&c, (uintptr_t)(r + 2 * SPAN));
  hidden = segment_at(&c, (uintptr_t)(r + 4 * SPAN));
  sparse = segment_at(&c, (uintptr_t)(r + 6 * SPAN));
  assert_int_equal(dontdump->p_memsz, SPAN);
  assert_int_equal(dontdump->p_filesz, 0);
  assert_int_equal(untouched->p_memsz, SPAN);
  assert_int_equal(untouched->p_filesz, 0);
  assert_int_equal(hidden->p_flags, 0);
  assert_int_equal(hidden->p_filesz, SPAN);
  read_at(c.fd, got, SPAN, hidden->p_offset);
  for (i = 0; i < SPAN; i++)
    if (got[i] != (unsigned char)(i * 7 + 3))
      fail_because("byte %zu of the PROT_NONE mapping is 0x%02x in the core", i, got[i]);
  assert_int_equal(sparse->p_filesz, SPAN);
  read_at(c.fd, got, SPAN, sparse->p_offset);
  for (i = 0; i < SPAN; i++)
    if (got[i] != (i / PAGE == 5 ? 0x5a : 0))
      fail_because("byte %zu of the sparse mapping is 0x%02x in the core", i, got[i]);
  if (keeps_holes(temp_file("probe"))) {
    assert_int_equal(lseek(c.fd, (off_t)sparse->p_offset, SEEK_DATA), sparse->p_offset + 5 * PAGE);
    assert_int_equal(lseek(c.fd, (off_t)(sparse->p_offset + 5 * PAGE), SEEK_HOLE),
                     sparse->p_offset + 6 * PAGE);
  }
  image = smaps_at(f, s->proc.pid, (uintptr_t)(r + 6 * SPAN));
  if (image->rss_kb != PAGE / 1024 || image->private_dirty_kb != 0)
    fail_because("after the core, the image's sparse mapping has Rss %ld kB, Private_Dirty %ld kB "
                 "(its one page, shared with the test: %u and 0)", image->rss_kb,
                 image->private_dirty_kb, PAGE / 1024);
}

/* A pid that names no process: a child's, once reaped. */
static pid_t gone_pid (void) {
  pid_t pid = fork();
  int st;
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(0);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return pid;
}

/* Every failure is an -errno: never a file that looks whole. */
static void core_write_errors (void **state) {
  struct fixture *f = FIXTURE(state);
  struct stopped *s = stopped_target(f);
  char const *path = temp_file("core");
  struct rlimit small;
  siginfo_t exited;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), closed, full, rc;
  assert_true(fd >= 0);
  /* no fd, a closed one, one not open for writing */
  assert_int_equal(pss_core_write(-1, s->t->pid, &s->proc, s->threads, s->n), -EBADF);
  closed = dup(fd);
  assert_true(closed >= 0);
  close(closed);
  assert_int_equal(pss_core_write(closed, s->t->pid, &s->proc, s->threads, s->n), -EBADF);
  {
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    assert_int_equal(pss_core_write(ro, s->t->pid, &s->proc, s->threads, s->n), -EBADF);
    close(ro);
  }
  /* no image: gone, a zombie (no memory left), none; no threads */
  assert_int_equal(pss_core_write(fd, gone_pid(), &s->proc, s->threads, s->n), -ESRCH);
  held.child = fork();
  assert_true(held.child >= 0);
  if (held.child == 0)
    _exit(0);
  assert_int_equal(waitid(P_PID, (id_t)held.child, &exited, WEXITED | WNOWAIT), 0);
  assert_int_equal(pss_core_write(fd, held.child, &s->proc, s->threads, s->n), -ESRCH);
  assert_int_equal(pss_core_write(fd, 0, &s->proc, s->threads, s->n), -ESRCH);
  assert_int_equal(pss_core_write(fd, s->t->pid, &s->proc, s->threads, 0), -EINVAL);
  /* a full disk */
  full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full >= 0) {
    assert_int_equal(pss_core_write(full, s->t->pid, &s->proc, s->threads, s->n), -ENOSPC);
    close(full);
  }
  /* a file size limit, met in the middle of the memory */
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &held.fsize), 0);
  small = held.fsize;
  small.rlim_cur = 4u << 20;
  signal(SIGXFSZ, SIG_IGN);
  held.fsize_lowered = 1;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
  rc = pss_core_write(fd, s->t->pid, &s->proc, s->threads, s->n);
  setrlimit(RLIMIT_FSIZE, &held.fsize);
  assert_int_equal(rc, -EFBIG);
  close(fd);
}

/* {======================================================================
** PssLinuxWriteCore and PssLinuxWriteCoreFd on real captures: a core is
** written without harming the caller (issue 11)
** ======================================================================= */

/* The code of a failed write where Win32 has no closer code (EISDIR,
** ENOENT): PssLinuxLastErrno says which and the detail says it in words.
** ENOSPC, EFBIG and EPIPE have theirs. */
#define WRITE_FAILURE ERROR_GEN_FAILURE

/* A capture of the target with what a core needs, its VA clone and every
** thread's context; *threads of them. Freed by the teardown. */
static HPSS core_capture (struct fixture *f, DWORD *threads) {
  struct target *t = fixture_start(f, "--threads", "2", NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = NULL;
  DWORD rc = PssCaptureSnapshot(h, PSS_CAPTURE_VA_CLONE | PSS_CAPTURE_THREADS |
                                   PSS_CAPTURE_THREAD_CONTEXT, CONTEXT_ALL, &s);
  if (rc != ERROR_SUCCESS)
    fail_because("PssCaptureSnapshot with a VA clone and contexts: %s (%u), errno %d, %s",
                 win32_error_name(rc), (unsigned)rc, PssLinuxLastErrno(),
                 PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "no detail");
  fixture_keep_snapshot(f, s);
  if (threads != NULL)
    *threads = query_thread_count(s);
  return s;
}

/* A call that failed with code, errno err behind it (0: an argument
** error) and, when words is not NULL, a detail that says them. */
static void expect_failure (DWORD rc, DWORD code, int err, char const *words) {
  char const *detail = PssLinuxLastErrorDetail();
  assert_code(rc, code);
  if (PssLinuxLastErrno() != err)
    fail_because("errno %d (%s) behind the failure, expected %d (%s)", PssLinuxLastErrno(),
                 strerror(PssLinuxLastErrno()), err, strerror(err));
  if (words != NULL && (detail == NULL || strstr(detail, words) == NULL))
    fail_because("the detail \"%s\" does not say \"%s\"", detail ? detail : "(none)", words);
}

/* A whole core at path: its ELF header and program headers hold, and its
** notes are those of `threads` threads, main thread first. */
static void expect_core (struct fixture *f, char const *path, DWORD threads) {
  struct note *nt = fixture_keep(f, calloc(4 * MAX_THREADS, sizeof *nt));
  struct core_file c;
  size_t n;
  assert_non_null(nt);
  core_open(f, &c, path);
  n = core_notes(&c, nt, 4 * MAX_THREADS);
  if (n != 4 + 2 * (size_t)threads)
    fail_because("%s: %zu notes for %u threads", path, n, (unsigned)threads);
  assert_int_equal(nt[0].type, NT_PRSTATUS);
  assert_int_equal(nt[1].type, NT_PRPSINFO);
  core_close(&c);
}

static void write_fill (int fd, int byte, size_t n) {
  char buf[4096];
  memset(buf, byte, sizeof buf);
  while (n > 0) {
    size_t k = n < sizeof buf ? n : sizeof buf;
    assert_int_equal(write(fd, buf, k), (ssize_t)k);
    n -= k;
  }
}

/* A file of n bytes `byte` at path, with mode whatever the umask; *st. */
static void make_file (char const *path, int byte, size_t n, mode_t mode, struct stat *st) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  write_fill(fd, byte, n);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(fstat(fd, st), 0);
  close(fd);
}

/* Fails unless the n bytes of path from offset at are all `byte`. */
static void expect_filled (char const *path, uint64_t at, int byte, size_t n) {
  unsigned char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t done, i;
  assert_true(fd >= 0);
  for (done = 0; done < n; done += sizeof buf) {
    size_t k = n - done < sizeof buf ? n - done : sizeof buf;
    read_at(fd, buf, k, at + done);
    for (i = 0; i < k; i++)
      if (buf[i] != (unsigned char)byte)
        fail_because("%s: byte %" PRIu64 " is 0x%02x, not 0x%02x", path, at + done + i, buf[i],
                     (unsigned char)byte);
  }
  close(fd);
}

/* Path is still the file `before` described -- the same inode, mode,
** size and modification time -- holding its n bytes `byte`. */
static void expect_unchanged (char const *path, struct stat const *before, int byte) {
  struct stat now;
  if (lstat(path, &now) != 0)
    fail_because("%s is gone: %s", path, strerror(errno));
  if (now.st_ino != before->st_ino || now.st_dev != before->st_dev ||
      now.st_mode != before->st_mode || now.st_size != before->st_size ||
      now.st_mtim.tv_sec != before->st_mtim.tv_sec ||
      now.st_mtim.tv_nsec != before->st_mtim.tv_nsec)
    fail_because("%s changed: inode %llu mode 0%o size %lld, it was inode %llu mode 0%o size %lld",
                 path, (unsigned long long)now.st_ino, (unsigned)now.st_mode,
                 (long long)now.st_size, (unsigned long long)before->st_ino,
                 (unsigned)before->st_mode, (long long)before->st_size);
  expect_filled(path, 0, byte, (size_t)now.st_size);
}

/* Path is a regular file of mode 0600 (not a link, whatever was there). */
static void expect_private_file (char const *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600)
    fail_because("%s has mode 0%o, expected a regular file of mode 0600", path,
                 (unsigned)st.st_mode);
}

/* The directory holds exactly `expected` entries, the ones the test made:
** the writer left no temporary file in it. */
static void expect_entries (char const *dir, size_t expected) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char names[2048] = "";
  size_t n = 0, used = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    n++;
    if (used < sizeof names - 1)
      used += (size_t)snprintf(names + used, sizeof names - used, " %.60s", e->d_name);
  }
  closedir(d);
  if (n != expected)
    fail_because("%s holds %zu entries, the test made %zu:%s", dir, n, expected, names);
}

static void count_signal (int signo) {
  if (signo == SIGPIPE)
    pipe_signals++;
  else
    xfsz_signals++;
}

/* From here on SIGPIPE and SIGXFSZ are counted, neither ignored (main
** ignores SIGPIPE) nor fatal: a writer that lets one through is seen. */
static void count_signals (void) {
  struct sigaction sa;
  assert_false(held.counting);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  pipe_signals = xfsz_signals = 0;
  assert_int_equal(sigaction(SIGPIPE, &sa, &held.pipe_action), 0);
  assert_int_equal(sigaction(SIGXFSZ, &sa, &held.xfsz_action), 0);
  held.counting = 1;
}

/* None of them reached the test or waits for it, and neither is left
** blocked. */
static void expect_no_signals (void) {
  sigset_t pending, mask;
  assert_int_equal(sigpending(&pending), 0);
  assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
  if (pipe_signals != 0 || xfsz_signals != 0)
    fail_because("the writer let %d SIGPIPE and %d SIGXFSZ through", (int)pipe_signals,
                 (int)xfsz_signals);
  if (sigismember(&pending, SIGPIPE) || sigismember(&pending, SIGXFSZ))
    fail_because("a SIGPIPE or SIGXFSZ of the writer is left pending");
  if (sigismember(&mask, SIGPIPE) || sigismember(&mask, SIGXFSZ))
    fail_because("the writer left SIGPIPE or SIGXFSZ blocked");
}

/*
** A device at Path is written through and stays the device: /dev/full
** fails with ENOSPC's code and a detail that says so, and is the same
** character device afterwards (a failed write once deleted it, and the
** next write left a regular file in its place); no temporary file is left
** in /dev. A symbolic link to it (as /dev/stdout is a link) is written
** through and stays a link; /dev/null takes a whole core.
*/
static void core_to_a_device_leaves_the_device (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *link = temp_file("full");
  struct stat before, after;
  char target[64];
  DIR *dev;
  struct dirent *e;
  HPSS snap;
  ssize_t n;
  if (stat("/dev/full", &before) != 0)
    skip_because("/dev/full: %s", strerror(errno));
  if (!S_ISCHR(before.st_mode))
    skip_because("/dev/full is not a character device here (mode 0%o): an older pss may have "
                 "replaced it; as root, rm /dev/full && mknod -m 666 /dev/full c 1 7",
                 (unsigned)before.st_mode);
  snap = core_capture(f, NULL);
  expect_failure(PssLinuxWriteCore(snap, "/dev/full"), ERROR_DISK_FULL, ENOSPC, "no space left");
  assert_int_equal(lstat("/dev/full", &after), 0);
  if (!S_ISCHR(after.st_mode) || after.st_rdev != before.st_rdev || after.st_ino != before.st_ino)
    fail_because("/dev/full is no longer the device it was (mode 0%o)", (unsigned)after.st_mode);
  dev = opendir("/dev");
  assert_non_null(dev);
  while ((e = readdir(dev)) != NULL)
    if (strncmp(e->d_name, ".full.", 6) == 0) {
      closedir(dev);
      fail_because("a temporary file /dev/%s is left", e->d_name);
    }
  closedir(dev);
  assert_int_equal(symlink("/dev/full", link), 0);
  expect_failure(PssLinuxWriteCore(snap, link), ERROR_DISK_FULL, ENOSPC, "no space left");
  n = readlink(link, target, sizeof target - 1);
  assert_true(n > 0);
  target[n] = '\0';
  assert_string_equal(target, "/dev/full");
  assert_code(PssLinuxWriteCore(snap, "/dev/null"), ERROR_SUCCESS);
  assert_int_equal(lstat("/dev/null", &after), 0);
  assert_true(S_ISCHR(after.st_mode));
  assert_int_equal(lstat("/dev/full", &after), 0);
  assert_true(S_ISCHR(after.st_mode) && after.st_ino == before.st_ino);
  expect_entries(held.dir, 1);
}

/*
** A symbolic link to an open descriptor (/dev/stdout is /proc/self/fd/1)
** names what the caller holds open: written through, as a shell's `>`
** would write it, even when that is a regular file; the link stays.
*/
static void core_through_a_descriptor_link (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *file = temp_file("behind-fd"), *link = temp_file("stdout");
  char target[64], text[64];
  struct stat st;
  HPSS snap = core_capture(f, NULL);
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ssize_t n;
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "old bytes, longer than nothing", 30), 30);
  snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
  assert_int_equal(symlink(target, link), 0);
  assert_code(PssLinuxWriteCore(snap, link), ERROR_SUCCESS);
  close(fd);
  n = readlink(link, text, sizeof text - 1);
  assert_true(n > 0);
  text[n] = '\0';
  assert_string_equal(text, target);
  assert_int_equal(lstat(file, &st), 0);
  assert_true(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);
  expect_core(f, file, query_thread_count(snap));
}

/* Drains a FIFO opened without waiting for a writer: waits (bounded) for
** the first bytes, then reads to the end. */
static void *drain_fifo (void *arg) {
  struct drain *d = arg;
  long long deadline = now_ms() + (under_valgrind() ? 300000 : 60000);
  struct pollfd pf = { d->from, POLLIN, 0 };
  while (poll(&pf, 1, 100) <= 0 || !(pf.revents & (POLLIN | POLLHUP)))
    if (now_ms() > deadline) {
      d->error = ETIMEDOUT;
      return NULL;
    }
  if (fcntl(d->from, F_SETFL, fcntl(d->from, F_GETFL) & ~O_NONBLOCK) != 0) {
    d->error = errno;
    return NULL;
  }
  return drain_pipe(d);
}

/*
** A FIFO at Path is written through, not replaced: its reader gets the
** whole core, the same bytes as a file gets, and the FIFO is still there.
*/
static void core_through_a_fifo_at_path (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *fifo = temp_file("fifo"), *file = temp_file("core"), *got = temp_file("got");
  DWORD threads, rc;
  HPSS snap = core_capture(f, &threads);
  struct drain d;
  struct stat before, after;
  pthread_t drainer;
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(lstat(fifo, &before), 0);
  assert_code(PssLinuxWriteCore(snap, file), ERROR_SUCCESS);
  /* a reader is there first, so the writer's open does not wait */
  d.from = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  d.to = open(got, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  d.error = 0;
  assert_true(d.from >= 0 && d.to >= 0);
  assert_int_equal(pthread_create(&drainer, NULL, drain_fifo, &d), 0);
  rc = PssLinuxWriteCore(snap, fifo);
  pthread_join(drainer, NULL);
  close(d.from);
  close(d.to);
  assert_code(rc, ERROR_SUCCESS);
  assert_int_equal(d.error, 0);
  assert_int_equal(lstat(fifo, &after), 0);
  assert_true(S_ISFIFO(after.st_mode) && after.st_ino == before.st_ino);
  expect_core(f, got, threads);
  expect_same_files(f, file, got);
  expect_entries(held.dir, 3);
}

/*
** A write that fails over an existing file leaves it as it was: the same
** inode with its bytes and mode 0644. The failure is a file size limit
** met in the middle of the memory, with SIGXFSZ counted (not ignored),
** so a writer that let the signal through would be seen. Through a
** descriptor the caller's file stays where it is, holding what was
** written.
*/
static void core_failure_leaves_the_old_file (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("app.core"), *other = temp_file("by-fd");
  HPSS snap = core_capture(f, NULL);
  struct stat before, st;
  struct rlimit small;
  int fd;
  make_file(path, 'o', 10000, 0644, &before);
  count_signals();
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &held.fsize), 0);
  small = held.fsize;
  small.rlim_cur = 4u << 20;
  held.fsize_lowered = 1;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
  expect_failure(PssLinuxWriteCore(snap, path), ERROR_FILE_TOO_LARGE, EFBIG, "file size limit");
  fd = open(other, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  expect_failure(PssLinuxWriteCoreFd(snap, fd), ERROR_FILE_TOO_LARGE, EFBIG, "file size limit");
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &held.fsize), 0);
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  assert_true(st.st_nlink == 1 && st.st_size > 0 && st.st_size <= (off_t)small.rlim_cur);
  expect_unchanged(path, &before, 'o');
  expect_entries(held.dir, 2);
  expect_no_signals();
}

/*
** What Path named is replaced whole: a symbolic link by a file (the file
** it pointed to, in another directory, is untouched), an existing file of
** mode 0644 by a new one, a dangling link by a file (nothing is made
** where it pointed). Each result is a regular file of mode 0600, under a
** umask that would have made 0400 of it, holding the same whole core.
*/
static void core_replaces_links_and_modes (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *outside = temp_file("outside"), *link = temp_file("link");
  char const *old = temp_file("old.core"), *dangling = temp_file("dangling");
  char victim[400], nowhere[400];
  struct stat victim_before, old_before, st;
  DWORD threads;
  HPSS snap = core_capture(f, &threads);
  snprintf(victim, sizeof victim, "%s/victim", outside);
  snprintf(nowhere, sizeof nowhere, "%s/nowhere", outside);
  assert_int_equal(mkdir(outside, 0700), 0);
  make_file(victim, 'v', 5000, 0644, &victim_before);
  make_file(old, 'o', 5000, 0644, &old_before);
  assert_int_equal(symlink(victim, link), 0);
  assert_int_equal(symlink(nowhere, dangling), 0);
  held.umask = umask(0277);
  held.umask_set = 1;
  assert_code(PssLinuxWriteCore(snap, link), ERROR_SUCCESS);
  assert_code(PssLinuxWriteCore(snap, old), ERROR_SUCCESS);
  assert_code(PssLinuxWriteCore(snap, dangling), ERROR_SUCCESS);
  umask(held.umask);
  held.umask_set = 0;
  expect_unchanged(victim, &victim_before, 'v');
  if (lstat(nowhere, &st) == 0 || errno != ENOENT)
    fail_because("%s was made through the dangling link", nowhere);
  expect_private_file(link);
  expect_private_file(old);
  expect_private_file(dangling);
  assert_int_equal(lstat(old, &st), 0);
  assert_true(st.st_ino != old_before.st_ino);   /* a new file, renamed over the old */
  expect_core(f, link, threads);
  expect_same_files(f, link, old);
  expect_same_files(f, link, dangling);
  expect_entries(held.dir, 4);
  expect_entries(outside, 1);
}

/*
** Through a pipe (its writing end non-blocking: the writer waits for room
** as on a blocking one) the core is whole and the same bytes as written
** to a path. A pipe whose reader is gone is EPIPE, with a detail, and no
** SIGPIPE reaches the caller, though it neither ignores nor blocks it.
*/
static void core_fd_through_a_pipe (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *file = temp_file("core"), *piped = temp_file("piped");
  DWORD threads, rc;
  HPSS snap = core_capture(f, &threads);
  struct drain d;
  pthread_t drainer;
  int p[2];
  count_signals();
  assert_code(PssLinuxWriteCore(snap, file), ERROR_SUCCESS);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK), 0);
  d.from = p[0];
  d.to = open(piped, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  d.error = 0;
  assert_true(d.to >= 0);
  assert_int_equal(pthread_create(&drainer, NULL, drain_pipe, &d), 0);
  rc = PssLinuxWriteCoreFd(snap, p[1]);
  close(p[1]);
  pthread_join(drainer, NULL);
  close(p[0]);
  close(d.to);
  assert_code(rc, ERROR_SUCCESS);
  assert_int_equal(d.error, 0);
  expect_core(f, piped, threads);
  expect_same_files(f, file, piped);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  rc = PssLinuxWriteCoreFd(snap, p[1]);
  close(p[1]);
  expect_failure(rc, ERROR_BROKEN_PIPE, EPIPE, "went away");
  expect_no_signals();
}

/*
** A regular file gets the core from its offset on: the caller's bytes
** before it stay, the old bytes after it are gone (none shows through the
** core's holes), the file ends where the core ends and the offset moves
** there. Opened O_APPEND, it gets the core after what it holds, wherever
** its offset was. Either way the bytes are those written to a path.
*/
static void core_fd_at_an_offset (void **state) {
  enum { PREFIX = 1000, OLD = 3 << 20 };
  struct fixture *f = FIXTURE(state);
  char const *reference = temp_file("reference"), *framed = temp_file("framed");
  char const *appended = temp_file("appended");
  DWORD threads;
  HPSS snap = core_capture(f, &threads);
  struct stat ref, st;
  off_t end;
  int fd;
  assert_code(PssLinuxWriteCore(snap, reference), ERROR_SUCCESS);
  expect_core(f, reference, threads);
  assert_int_equal(stat(reference, &ref), 0);
  end = PREFIX + ref.st_size;
  fd = open(framed, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  write_fill(fd, 'P', PREFIX);
  write_fill(fd, 0xff, OLD);
  assert_int_equal(lseek(fd, PREFIX, SEEK_SET), PREFIX);
  assert_code(PssLinuxWriteCoreFd(snap, fd), ERROR_SUCCESS);
  assert_int_equal(lseek(fd, 0, SEEK_CUR), end);
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  assert_int_equal(st.st_size, end);
  expect_filled(framed, 0, 'P', PREFIX);
  expect_same_range(f, framed, PREFIX, reference, 0, (uint64_t)ref.st_size);
  fd = open(appended, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  write_fill(fd, 'A', PREFIX);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  assert_code(PssLinuxWriteCoreFd(snap, fd), ERROR_SUCCESS);
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  assert_int_equal(st.st_size, end);
  expect_filled(appended, 0, 'A', PREFIX);
  expect_same_range(f, appended, PREFIX, reference, 0, (uint64_t)ref.st_size);
}

/*
** What cannot take a core is an argument error (ERROR_INVALID_HANDLE, no
** errno behind it, a detail): a negative descriptor, a closed one, one
** open only for reading, an O_PATH one. A snapshot without a VA clone is
** ERROR_NOT_FOUND before anything is written or made. No file changes.
*/
static void core_fd_refuses_what_cannot_take_it (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("kept"), *missing = temp_file("missing");
  HPSS snap = core_capture(f, NULL), plain;
  struct stat before, st;
  int ro, opath, closed, w;
  make_file(path, 'k', 100, 0644, &before);
  ro = open(path, O_RDONLY | O_CLOEXEC);
  opath = open(path, O_PATH | O_CLOEXEC);
  closed = dup(ro);
  assert_true(ro >= 0 && opath >= 0 && closed >= 0);
  close(closed);
  expect_failure(PssLinuxWriteCoreFd(snap, -1), ERROR_INVALID_HANDLE, 0, "negative");
  expect_failure(PssLinuxWriteCoreFd(snap, closed), ERROR_INVALID_HANDLE, 0, "not an open");
  expect_failure(PssLinuxWriteCoreFd(snap, ro), ERROR_INVALID_HANDLE, 0, "not open for writing");
  expect_failure(PssLinuxWriteCoreFd(snap, opath), ERROR_INVALID_HANDLE, 0,
                 "not open for writing");
  close(ro);
  close(opath);
  w = open(path, O_WRONLY | O_CLOEXEC);
  assert_true(w >= 0);
  assert_code(PssLinuxWriteCoreFd(NULL, w), ERROR_INVALID_HANDLE);
  plain = fixture_capture(f, PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS);
  expect_failure(PssLinuxWriteCoreFd(plain, w), ERROR_NOT_FOUND, 0, "no VA clone");
  expect_failure(PssLinuxWriteCore(plain, missing), ERROR_NOT_FOUND, 0, "no VA clone");
  close(w);
  assert_true(lstat(missing, &st) != 0 && errno == ENOENT);
  expect_unchanged(path, &before, 'k');
  expect_entries(held.dir, 1);
}

/*
** Paths that cannot take a core fail clearly, leaving what is there: a
** directory (by name, with a trailing '/', through a link), a directory
** that is not there, a file taken for a directory, a name longer than
** NAME_MAX, no path, a socket (which no open reaches). A name of NAME_MAX bytes works: the temporary name
** beside it is cut to fit.
*/
static void core_path_errors_are_clear (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *file = temp_file("file"), *dirlink = temp_file("dirlink"), *longest;
  char const *socket_path = temp_file("socket");
  char path[PATH_MAX], name[NAME_MAX + 2];
  HPSS snap = core_capture(f, NULL);
  struct sockaddr_un sa;
  struct stat before, st;
  int sock, rc;
  make_file(file, 'f', 10, 0644, &before);
  expect_failure(PssLinuxWriteCore(snap, held.dir), WRITE_FAILURE, EISDIR, "is a directory");
  snprintf(path, sizeof path, "%s/", held.dir);
  expect_failure(PssLinuxWriteCore(snap, path), WRITE_FAILURE, EISDIR, "names a directory");
  assert_int_equal(symlink(held.dir, dirlink), 0);
  expect_failure(PssLinuxWriteCore(snap, dirlink), WRITE_FAILURE, EISDIR, "link to a directory");
  assert_true(lstat(dirlink, &st) == 0 && S_ISLNK(st.st_mode));
  snprintf(path, sizeof path, "%s/missing/core", held.dir);
  expect_failure(PssLinuxWriteCore(snap, path), WRITE_FAILURE, ENOENT, "does not exist");
  snprintf(path, sizeof path, "%s/core", file);
  expect_failure(PssLinuxWriteCore(snap, path), WRITE_FAILURE, ENOTDIR, "not a directory");
  memset(name, 'n', NAME_MAX);
  name[NAME_MAX] = '\0';
  longest = temp_file(name);
  assert_code(PssLinuxWriteCore(snap, longest), ERROR_SUCCESS);
  expect_private_file(longest);
  name[NAME_MAX] = 'n';
  name[NAME_MAX + 1] = '\0';
  snprintf(path, sizeof path, "%s/%s", held.dir, name);
  expect_failure(PssLinuxWriteCore(snap, path), WRITE_FAILURE, ENAMETOOLONG, "too long");
  expect_failure(PssLinuxWriteCore(snap, NULL), ERROR_INVALID_PARAMETER, 0, NULL);
  expect_failure(PssLinuxWriteCore(snap, ""), ERROR_INVALID_PARAMETER, 0, NULL);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(sock >= 0);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  assert_true(strlen(socket_path) < sizeof sa.sun_path);
  strcpy(sa.sun_path, socket_path);
  rc = bind(sock, (struct sockaddr *)&sa, sizeof sa);
  close(sock);
  assert_int_equal(rc, 0);
  expect_failure(PssLinuxWriteCore(snap, socket_path), WRITE_FAILURE, ENXIO, "is a socket");
  assert_true(lstat(socket_path, &st) == 0 && S_ISSOCK(st.st_mode));
  expect_unchanged(file, &before, 'f');
  expect_entries(held.dir, 4);
}

/* What a child reports of its call */
struct verdict {
  DWORD rc;
  int err;                    /* PssLinuxLastErrno, or -1: the child could not drop rights */
  char detail[240];
};

/* Drops the rights that let root write in any directory, so a read-only
** directory is one for this process too. */
static int drop_dac_rights (void) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0)
    return -errno;
  d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER));
  return syscall(SYS_capset, &h, d) == 0 ? 0 : -errno;
}

/*
** A directory where no file can be made (mode 0555, in a child without
** root's rights over it): ERROR_ACCESS_DENIED with a detail that says
** why, and the file at Path, in that directory, as it was.
*/
static void core_in_a_read_only_directory (void **state) {
  struct fixture *f = FIXTURE(state);
  char const *ro = temp_file("read-only");
  char path[400];
  HPSS snap = core_capture(f, NULL);
  struct verdict v;
  struct stat before;
  long long deadline = now_ms() + (under_valgrind() ? 120000 : 20000);
  size_t got = 0;
  int p[2], st;
  snprintf(path, sizeof path, "%s/app.core", ro);
  assert_int_equal(mkdir(ro, 0700), 0);
  make_file(path, 'r', 3000, 0644, &before);
  assert_int_equal(chmod(ro, 0555), 0);
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  held.child = fork();
  assert_true(held.child >= 0);
  if (held.child == 0) {
    char const *detail;
    memset(&v, 0, sizeof v);
    v.err = -1;
    if (drop_dac_rights() == 0) {
      v.rc = PssLinuxWriteCore(snap, path);
      v.err = PssLinuxLastErrno();
      detail = PssLinuxLastErrorDetail();
      snprintf(v.detail, sizeof v.detail, "%s", detail != NULL ? detail : "");
    }
    _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
  }
  close(p[1]);
  while (got < sizeof v) {
    struct pollfd pf = { p[0], POLLIN, 0 };
    ssize_t n;
    if (now_ms() > deadline) {
      close(p[0]);
      fail_because("the child did not report within its time");   /* the teardown kills it */
    }
    if (poll(&pf, 1, 100) <= 0)
      continue;
    n = read(p[0], (char *)&v + got, sizeof v - got);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(p[0]);
  assert_int_equal(waitpid(held.child, &st, 0), held.child);
  held.child = 0;
  if (got != sizeof v || v.err == -1)
    fail_because("the child could not make the call (wait status 0x%x)", (unsigned)st);
  assert_code(v.rc, ERROR_ACCESS_DENIED);
  assert_int_equal(v.err, EACCES);
  if (strstr(v.detail, "no new file can be made") == NULL)
    fail_because("the detail \"%s\" does not say the directory takes no new file", v.detail);
  expect_unchanged(path, &before, 'r');
  expect_entries(ro, 1);
}

/*
** gdb opens a core written by PssLinuxWriteCore over an existing file,
** from a real capture: every captured thread, each at the rip of its
** captured context.
*/
static void core_of_a_capture_opens_in_gdb (void **state) {
  static char const *const commands[] = {
    "echo @@registers\\n", "thread apply all info registers rip", "echo @@end\\n", NULL
  };
  struct fixture *f = FIXTURE(state);
  char const *path = temp_file("app.core"), *part;
  struct gdb_thread regs[MAX_THREADS];
  PSS_THREAD_ENTRY *threads;
  struct stat before;
  size_t n, nregs, i, len;
  HPSS snap;
  char *text;
  if (access(GDB, X_OK) != 0)
    skip_because("%s is missing: no debugger to open the core with", GDB);
  if (under_valgrind())
    skip_because("under valgrind: gdb runs as a program of its own, which valgrind does not "
                 "follow; the writer runs under valgrind in the other core tests");
  snap = core_capture(f, NULL);
  make_file(path, 'x', 100, 0644, &before);
  assert_code(PssLinuxWriteCore(snap, path), ERROR_SUCCESS);
  expect_private_file(path);
  threads = fixture_walk(f, snap, PSS_WALK_THREADS, &n);
  text = fixture_keep(f, malloc(GDB_OUTPUT));
  assert_non_null(text);
  run_gdb(target_program(), path, commands, text, GDB_OUTPUT);
  part = section(text, "registers", &len);
  nregs = gdb_threads(part, len, regs, MAX_THREADS);
  if (nregs != n)
    fail_because("gdb shows %zu threads, the snapshot has %zu; its output:\n%.3000s", nregs, n,
                 text);
  for (i = 0; i < n; i++) {
    struct gdb_thread const *r = gdb_thread(regs, nregs, (pid_t)threads[i].ThreadId, "registers",
                                            text);
    assert_non_null(threads[i].ContextRecord);
    if (!r->has_rip || r->rip != threads[i].ContextRecord->Rip)
      fail_because("thread %u: gdb says rip 0x%" PRIx64 ", the capture 0x%" PRIx64,
                   (unsigned)threads[i].ThreadId, r->rip,
                   (uint64_t)threads[i].ContextRecord->Rip);
  }
  note("gdb: %zu captured threads at their rip", n);
}
/* }====================================================================== */



/* The progress routine hears of a core write, forwards only, up to its
** total: the bytes of the mappings the core holds, which its PT_LOAD
** segments' file sizes add up to. A NULL routine hears nothing. */
static void core_write_reports_progress (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = core_capture(f, NULL);
  struct progress_log log = { 0, 0, 0, 0 };
  struct core_file c;
  char path[] = "/tmp/pss-core-progress-XXXXXX";
  UINT64 loads = 0;
  size_t i;
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_code(PssLinuxSetProgressRoutine(progress_log_routine, &log), ERROR_SUCCESS);
  assert_code(PssLinuxWriteCoreFd(s, fd), ERROR_SUCCESS);
  assert_code(PssLinuxSetProgressRoutine(NULL, NULL), ERROR_SUCCESS);
  close(fd);
  core_open(f, &c, path);
  for (i = 0; i < c.eh.e_phnum; i++)
    if (c.ph[i].p_type == PT_LOAD) loads += c.ph[i].p_filesz;
  core_close(&c);
  note("%u reports, %llu bytes in all, %llu in PT_LOAD", log.calls,
       (unsigned long long)log.total, (unsigned long long)loads);
  assert_true(log.calls >= 2);
  assert_int_equal(log.backwards, 0);
  assert_int_equal(log.last, log.total);
  assert_int_equal(log.total, loads);
  log.calls = 0;
  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_code(PssLinuxWriteCoreFd(s, fd), ERROR_SUCCESS);
  close(fd);
  unlink(path);
  assert_int_equal(log.calls, 0);
}

int run_core_suite (void) {
  const struct CMUnitTest tests[] = {
    core_test(core_opens_in_gdb),
    core_test(core_holds_the_image),
    core_test(core_notes_follow_the_kernel),
    core_test(core_keeps_what_the_kernel_keeps),
    core_test(core_through_a_pipe_is_the_same),
    core_test(core_write_errors),
    core_test(core_to_a_device_leaves_the_device),
    core_test(core_through_a_descriptor_link),
    core_test(core_through_a_fifo_at_path),
    core_test(core_failure_leaves_the_old_file),
    core_test(core_replaces_links_and_modes),
    core_test(core_fd_through_a_pipe),
    core_test(core_fd_at_an_offset),
    core_test(core_fd_refuses_what_cannot_take_it),
    core_test(core_path_errors_are_clear),
    core_test(core_in_a_read_only_directory),
    core_test(core_of_a_capture_opens_in_gdb),
    core_test(core_write_reports_progress),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}

#else

/* The registers of a core thread are x86-64's: nothing to test elsewhere. */
int run_core_suite (void) {
  return 0;
}

#endif
