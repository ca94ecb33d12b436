/*
** test_crossdup.c -- PssDuplicateSnapshot into and out of another process,
** and PssFreeSnapshot there.
**
** The other process (the peer) is a fork of this test binary, so it links
** the same libpss: it reads one command a line from a pipe -- blocked in
** read() in between, the case the injection must handle -- runs it with
** libpss and writes one answer line back. Every wait for it is bounded.
** What it answers is compared with what this process captured, and what
** /proc says of it (its descriptors, its mappings, its blocked read and
** the bytes below its stack) is compared before and after.
*/
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#define ANSWER_MS 10000
#define NOBODY 65534

/* {======================================================================
** The peer: commands in, answers out
** ======================================================================= */
static unsigned char known[4096];     /* a buffer the peer sums on demand */

static int read_line (int fd, char *line, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t k = read(fd, line + n, 1);   /* blocked here between commands */
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = '\0';
  return 0;
}

static HANDLE open_pid (unsigned long pid) {
  HANDLE h = NULL;
  return PssLinuxOpenProcess((DWORD)pid, &h) == ERROR_SUCCESS ? h : NULL;
}

static int answer_query (HPSS h, char *out, size_t size) {
  PSS_THREAD_INFORMATION ti;
  PSS_HANDLE_INFORMATION hi;
  PSS_VA_SPACE_INFORMATION vi;
  PSS_PROCESS_INFORMATION pi;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi);
  if (rc == ERROR_SUCCESS) rc = PssQuerySnapshot(h, PSS_QUERY_THREAD_INFORMATION, &ti, sizeof ti);
  if (rc == ERROR_SUCCESS) rc = PssQuerySnapshot(h, PSS_QUERY_HANDLE_INFORMATION, &hi, sizeof hi);
  if (rc == ERROR_SUCCESS) rc = PssQuerySnapshot(h, PSS_QUERY_VA_SPACE_INFORMATION, &vi, sizeof vi);
  if (rc != ERROR_SUCCESS) return snprintf(out, size, "err %lu", (unsigned long)rc);
  return snprintf(out, size, "ok %lu %lu %lu %lu", (unsigned long)pi.ProcessId,
                  (unsigned long)ti.ThreadsCaptured, (unsigned long)hi.HandlesCaptured,
                  (unsigned long)vi.RegionCount);
}

/* The thread walk: how many, and the sum of their ids. */
static int answer_walk (HPSS h, char *out, size_t size) {
  HPSSWALK m = NULL;
  PSS_THREAD_ENTRY te;
  unsigned long n = 0, sum = 0;
  DWORD rc = PssWalkMarkerCreate(NULL, &m);
  while (rc == ERROR_SUCCESS &&
         (rc = PssWalkSnapshot(h, PSS_WALK_THREADS, m, &te, sizeof te)) == ERROR_SUCCESS) {
    n++;
    sum += te.ThreadId;
  }
  if (m != NULL) PssWalkMarkerFree(m);
  if (rc != ERROR_NO_MORE_ITEMS) return snprintf(out, size, "err %lu", (unsigned long)rc);
  return snprintf(out, size, "ok %lu %lu", n, sum);
}

static int answer_dup (unsigned long from, unsigned long to, HPSS h, DWORD flags, char *out,
                       size_t size) {
  HANDLE src = from ? open_pid(from) : PSS_LINUX_CURRENT_PROCESS;
  HANDLE dst = to ? open_pid(to) : PSS_LINUX_CURRENT_PROCESS;
  HPSS copy = NULL;
  DWORD rc = src && dst ? PssDuplicateSnapshot(src, h, dst, &copy, flags) : ERROR_INVALID_HANDLE;
  if (from) PssLinuxCloseProcess(src);
  if (to) PssLinuxCloseProcess(dst);
  if (rc != ERROR_SUCCESS)
    return snprintf(out, size, "err %lu %s", (unsigned long)rc,
                    PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "");
  return snprintf(out, size, "ok %lx", (unsigned long)(uintptr_t)copy);
}

/* An unsealed memfd of libpss's name, and a regular file: forgeries. */
static int answer_forge (char *out, size_t size) {
  int mfd = memfd_create("pss-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (mfd < 0 || file < 0 || fstat(mfd, &st) < 0 || write(mfd, "x", 1) != 1)
    return snprintf(out, size, "err 0");
  return snprintf(out, size, "ok %d %lu %d", mfd, (unsigned long)st.st_ino, file);
}

static int answer_capture (unsigned long pid, char *out, size_t size) {
  HANDLE p = open_pid(pid);
  HPSS h = NULL;
  DWORD rc = p ? PssCaptureSnapshot(p, CAPTURE_EVERYTHING, 0, &h) : ERROR_INVALID_HANDLE;
  if (p) PssLinuxCloseProcess(p);
  if (rc != ERROR_SUCCESS) return snprintf(out, size, "err %lu", (unsigned long)rc);
  return snprintf(out, size, "ok %lx", (unsigned long)(uintptr_t)h);
}

/* 2n + 1 more mappings: every other page of a block made writable, so
** that reading its maps (which an injection does) takes long. */
static int answer_maps (unsigned long n, char *out, size_t size) {
  char *base = mmap(NULL, (n * 2 + 1) * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned long i;
  if (base == MAP_FAILED) return snprintf(out, size, "err 0");
  for (i = 0; i < n; i++)
    if (mprotect(base + i * 2 * 4096, 4096, PROT_READ | PROT_WRITE) < 0)
      return snprintf(out, size, "err %d", errno);
  return snprintf(out, size, "ok");
}

static void answer (const char *line, char *out, size_t size) {
  char cmd[16] = "";
  unsigned long a = 0, b = 0;
  HPSS ha, hb;
  unsigned long sum = 0;
  size_t i;
  DWORD rc;
  sscanf(line, "%15s %lx %lx", cmd, &a, &b);
  ha = (HPSS)(uintptr_t)a;
  hb = (HPSS)(uintptr_t)b;
  if (!strcmp(cmd, "query")) answer_query(ha, out, size);
  else if (!strcmp(cmd, "walk")) answer_walk(ha, out, size);
  else if (!strcmp(cmd, "free"))
    snprintf(out, size, "code %lu", (unsigned long)PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, ha));
  else if (!strcmp(cmd, "mem")) {
    SIZE_T got = 0;
    rc = PssLinuxReadSnapshotMemory(ha, 0x1000, known, 8, &got);
    snprintf(out, size, "code %lu", (unsigned long)rc);
  }
  else if (!strcmp(cmd, "dup")) answer_dup(0, 0, ha, 0, out, size);
  else if (!strcmp(cmd, "dupto")) answer_dup(0, a, hb, 0, out, size);
  else if (!strcmp(cmd, "duptoclose")) answer_dup(0, a, hb, PSS_DUPLICATE_CLOSE_SOURCE, out, size);
  else if (!strcmp(cmd, "dupfrom")) answer_dup(a, 0, hb, 0, out, size);
  else if (!strcmp(cmd, "capture")) answer_capture(a, out, size);
  else if (!strcmp(cmd, "forge")) answer_forge(out, size);
  else if (!strcmp(cmd, "maps")) answer_maps(a, out, size);
  else if (!strcmp(cmd, "sum")) {
    for (i = 0; i < sizeof known; i++) sum = sum * 31 + known[i];
    snprintf(out, size, "ok %lx", sum);
  }
  else snprintf(out, size, "err unknown");
}

static void peer_main (int in, int out, int nobody) {
  char line[256], reply[256];
  size_t i;
  for (i = 0; i < sizeof known; i++) known[i] = (unsigned char)(i * 7 + 3);
  if (nobody && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                 setresuid(NOBODY, NOBODY, NOBODY) < 0))
    _exit(3);
  while (read_line(in, line, sizeof line) == 0) {
    size_t n;
    answer(line, reply, sizeof reply - 1);
    n = strlen(reply);
    reply[n++] = '\n';
    if (write(out, reply, n) != (ssize_t)n) break;
  }
  _exit(0);
}

/* The peer of a run under valgrind: this binary again, exec'd so that it
** runs natively (valgrind follows no exec by default). A peer forked from
** a valgrind run would run on valgrind's synthetic CPU, whose threads are
** not the peer's own: the injection would be tested against valgrind. */
int run_crossdup_peer (void) {
  const char *nobody = getenv("PSS_CROSSDUP_PEER");
  peer_main(3, 4, nobody != NULL && nobody[0] == '1');
  return 0;
}

/* Where this binary is: the file /proc/self/maps maps peer_main from
** (/proc/self/exe is valgrind's tool under valgrind). */
static int own_binary (char *path, size_t size) {
  FILE *maps = fopen("/proc/self/maps", "re");
  uintptr_t at = (uintptr_t)&peer_main, lo, hi;
  char line[4096 + 128];
  int found = 0;
  if (maps == NULL) return 0;
  while (!found && fgets(line, sizeof line, maps) != NULL) {
    char *slash = strchr(line, '/');
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2 || at < lo || at >= hi || !slash)
      continue;
    slash[strcspn(slash, "\n")] = '\0';
    found = snprintf(path, size, "%s", slash) < (int)size;
  }
  fclose(maps);
  return found;
}

/* In a forked child under valgrind: the peer's pipes on fds 3 and 4 and
** this binary exec'd; returns only if that fails. */
static void exec_native_peer (int in, int out, int nobody) {
  char path[4096];
  int a = fcntl(in, F_DUPFD, 10), b = fcntl(out, F_DUPFD, 10);
  if (!own_binary(path, sizeof path) || a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
    return;
  setenv("PSS_CROSSDUP_PEER", nobody ? "1" : "0", 1);
  unsetenv("LD_PRELOAD");             /* valgrind's preloads are not for a native run */
  execl(path, path, (char *)NULL);
}
/* }====================================================================== */


/* {======================================================================
** This side: starting, asking and ending peers
** ======================================================================= */
struct peer { pid_t pid; int cmd, reply; HANDLE h; };

#define MAX_PEERS 4
static struct peer peers[MAX_PEERS];
static size_t npeers;

static struct peer *peer_start (struct fixture *f, int nobody) {
  int down[2], up[2];
  struct peer *p;
  assert_true(npeers < MAX_PEERS);
  assert_int_equal(pipe2(down, O_CLOEXEC), 0);
  assert_int_equal(pipe2(up, O_CLOEXEC), 0);
  p = &peers[npeers++];
  if ((p->pid = fork()) == 0) {
    close(down[1]);
    close(up[0]);
    if (under_valgrind()) exec_native_peer(down[0], up[1], nobody);
    peer_main(down[0], up[1], nobody);
  }
  assert_true(p->pid > 0);
  close(down[0]);
  close(up[1]);
  p->cmd = down[1];
  p->reply = up[0];
  p->h = fixture_open(f, p->pid);
  return p;
}

static void ask(struct peer *p, char *reply, size_t size, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

/* A peer that answered once: it has set itself up (closed the pipe ends
** it does not use, dropped its rights) and waits in read(). */
static struct peer *peer_ready (struct fixture *f, int nobody) {
  struct peer *p = peer_start(f, nobody);
  char reply[64];
  ask(p, reply, sizeof reply, "sum");
  assert_memory_equal(reply, "ok", 2);
  return p;
}

/* One command, its answer line (bounded wait). */
static void ask (struct peer *p, char *reply, size_t size, const char *fmt, ...) {
  char line[256];
  size_t n = 0;
  va_list ap;
  int len;
  va_start(ap, fmt);
  len = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[len++] = '\n';
  assert_int_equal(write(p->cmd, line, (size_t)len), len);
  while (n + 1 < size) {
    struct pollfd pfd = { p->reply, POLLIN, 0 };
    if (poll(&pfd, 1, ANSWER_MS) != 1) fail_because("peer %d did not answer \"%.*s\"", (int)p->pid, len - 1, line);
    if (read(p->reply, reply + n, 1) != 1) fail_because("peer %d ended", (int)p->pid);
    if (reply[n] == '\n') break;
    n++;
  }
  reply[n] = '\0';
}

/* An answer "code N" or "err N" as the code; "ok ..." as 0. */
static DWORD ask_code (struct peer *p, const char *fmt, uintptr_t a) {
  char reply[256];
  unsigned long code = 0;
  ask(p, reply, sizeof reply, fmt, (unsigned long)a);
  if (!strncmp(reply, "ok", 2)) return ERROR_SUCCESS;
  assert_int_equal(sscanf(reply, "%*s %lu", &code), 1);
  return (DWORD)code;
}

static void peers_end (void) {
  size_t i;
  for (i = 0; i < npeers; i++) {
    int status, k;
    close(peers[i].cmd);             /* EOF: the peer exits */
    close(peers[i].reply);
    for (k = 0; k < 200 && waitpid(peers[i].pid, &status, WNOHANG) == 0; k++) usleep(10000);
    if (k == 200) {
      kill(peers[i].pid, SIGKILL);
      waitpid(peers[i].pid, &status, 0);
    }
  }
  npeers = 0;
}

static int teardown (void **state) {
  peers_end();
  return fixture_teardown(state);
}

/* How many descriptors a process has, and whether it maps a memfd. */
static int fd_count (pid_t pid) {
  char path[64];
  struct dirent *e;
  DIR *d;
  int n = 0;
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  assert_non_null(d = opendir(path));
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  return n - (pid == getpid());     /* our own count: without opendir's */
}

static int maps_memfd (pid_t pid) {
  char path[64], line[512];
  FILE *fp;
  int found = 0;
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  assert_non_null(fp = fopen(path, "r"));
  while (fgets(line, sizeof line, fp) != NULL) found |= strstr(line, "/memfd:") != NULL;
  fclose(fp);
  return found;
}

/* The peer as it sits in read(): its system call line and the 1 KiB
** below its stack pointer, where the injection put its data. */
struct still { char syscall[256]; unsigned char below[1024]; };

static void look (pid_t pid, struct still *s) {
  char path[64];
  unsigned long long sp = 0;
  struct iovec local = { s->below, sizeof s->below }, remote;
  int tries;
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  /* once it has answered, it goes back into read(): nr 0 */
  for (tries = 0; tries < 500; tries++) {
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(s->syscall, sizeof s->syscall, fp));
    fclose(fp);
    if (!strncmp(s->syscall, "0 ", 2)) break;
    usleep(2000);
  }
  assert_int_equal(sscanf(s->syscall, "%*s %*s %*s %*s %*s %*s %*s %llx", &sp), 1);
  remote.iov_base = (void *)(uintptr_t)(sp - sizeof s->below);
  remote.iov_len = sizeof s->below;
  assert_int_equal(process_vm_readv(pid, &local, 1, &remote, 1, 0), (ssize_t)sizeof s->below);
}

static void same_still (pid_t pid, const struct still *before) {
  struct still now;
  look(pid, &now);
  assert_string_equal(now.syscall, before->syscall);
  assert_memory_equal(now.below, before->below, sizeof now.below);
}

/* The peer's answer to "query" agrees with this process's snapshot s. */
static void peer_sees (struct fixture *f, struct peer *p, uintptr_t v, HPSS s) {
  char reply[256];
  unsigned long pid, threads, handles, regions, n, sum;
  size_t count, i;
  PSS_THREAD_ENTRY *te;
  unsigned long want = 0;
  ask(p, reply, sizeof reply, "query %lx", (unsigned long)v);
  assert_int_equal(sscanf(reply, "ok %lu %lu %lu %lu", &pid, &threads, &handles, &regions), 4);
  assert_int_equal(pid, query_process(s).ProcessId);
  assert_int_equal(threads, query_thread_count(s));
  assert_int_equal(handles, query_handle_count(s));
  assert_int_equal(regions, query_region_count(s));
  te = fixture_walk(f, s, PSS_WALK_THREADS, &count);
  for (i = 0; i < count; i++) want += te[i].ThreadId;
  ask(p, reply, sizeof reply, "walk %lx", (unsigned long)v);
  assert_int_equal(sscanf(reply, "ok %lu %lu", &n, &sum), 2);
  assert_int_equal(n, count);
  assert_int_equal(sum, want);
}

static uintptr_t dup_into (struct peer *p, HPSS s, DWORD flags) {
  HPSS v = NULL;
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, p->h, &v, flags), ERROR_SUCCESS);
  assert_true(((uintptr_t)v >> 63) != 0);
  return (uintptr_t)v;
}
/* Taking a descriptor out of another process is pidfd_getfd (Linux 5.6);
** valgrind 3.19 does not know that system call (ENOSYS), and libpss then
** answers ERROR_NOT_SUPPORTED, as on an older kernel: skipped, with why. */
static void need_pidfd_getfd (void) {
  if (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS)
    skip_because("pidfd_getfd is not available here (ENOSYS: a kernel before 5.6, "
                 "or valgrind, which does not know it)");
}

/* }====================================================================== */


static void crossdup_into_a_blocked_process_it_answers_the_same (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  char sum_before[64], sum_after[64];
  struct still before;
  int fds, own_fds;
  uintptr_t v, d;
  ask(p, sum_before, sizeof sum_before, "sum");
  fds = fd_count(p->pid);
  own_fds = fd_count(getpid());
  look(p->pid, &before);
  v = dup_into(p, s, PSS_DUPLICATE_NONE);
  /* the peer sits in the same read, every byte below its stack as it was */
  same_still(p->pid, &before);
  assert_int_equal(fd_count(p->pid), fds + 1);
  assert_int_equal(fd_count(getpid()), own_fds);
  peer_sees(f, p, v, s);
  /* a duplicate there, freed on its own; memory: none without a clone */
  assert_code(ask_code(p, "mem %lx", v), ERROR_NOT_FOUND);
  {
    char reply[64];
    unsigned long dv;
    ask(p, reply, sizeof reply, "dup %lx", (unsigned long)v);
    assert_int_equal(sscanf(reply, "ok %lx", &dv), 1);
    d = dv;
  }
  peer_sees(f, p, d, s);
  assert_code(ask_code(p, "free %lx", d), ERROR_SUCCESS);
  assert_code(ask_code(p, "free %lx", v), ERROR_SUCCESS);
  assert_code(ask_code(p, "query %lx", v), ERROR_INVALID_HANDLE);
  assert_code(ask_code(p, "free %lx", v), ERROR_INVALID_HANDLE);
  assert_int_equal(fd_count(p->pid), fds);
  assert_false(maps_memfd(p->pid));
  ask(p, sum_after, sizeof sum_after, "sum");
  assert_string_equal(sum_after, sum_before);
}

static void crossdup_out_of_another_process_and_freed_there (void **state) {
  struct fixture *f = FIXTURE(state);
  need_pidfd_getfd();
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  int fds = fd_count(p->pid), own_fds = fd_count(getpid());
  struct still before;
  HPSS back = NULL;
  uintptr_t v = dup_into(p, s, PSS_DUPLICATE_NONE);
  /* the peer loads it first: its kept copy goes when the descriptor does */
  assert_code(ask_code(p, "query %lx", v), ERROR_SUCCESS);
  assert_code(PssDuplicateSnapshot(p->h, (HPSS)v, PSS_LINUX_CURRENT_PROCESS, &back, 0),
              ERROR_SUCCESS);
  fixture_keep_snapshot(f, back);
  assert_int_equal(query_process(back).ProcessId, (DWORD)t->pid);
  assert_int_equal(query_thread_count(back), query_thread_count(s));
  assert_int_equal(query_handle_count(back), query_handle_count(s));
  assert_int_equal(query_region_count(back), query_region_count(s));
  look(p->pid, &before);
  assert_code(PssFreeSnapshot(p->h, (HPSS)v), ERROR_SUCCESS);
  same_still(p->pid, &before);
  assert_int_equal(fd_count(p->pid), fds);
  assert_code(ask_code(p, "query %lx", v), ERROR_INVALID_HANDLE);
  assert_code(PssFreeSnapshot(p->h, (HPSS)v), ERROR_INVALID_HANDLE);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, back), ERROR_SUCCESS);
  fixture_forget_snapshot(f, back);
  assert_int_equal(fd_count(getpid()), own_fds);
  assert_false(maps_memfd(getpid()));
}

/* The peer captures, and hands its snapshot over itself: into this
** process, where this libpss is the receiver. */
static void crossdup_a_snapshot_the_other_captured_comes_only_when_it_hands_it (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  int own_fds = fd_count(getpid());
  char reply[128];
  unsigned long r, v;
  HPSS got = NULL;
  ask(p, reply, sizeof reply, "capture %lx", (unsigned long)t->pid);
  assert_int_equal(sscanf(reply, "ok %lx", &r), 1);
  /* its own capture lives in its memory: it has to hand it over */
  assert_code(PssDuplicateSnapshot(p->h, (HPSS)r, PSS_LINUX_CURRENT_PROCESS, &got, 0),
              ERROR_NOT_SUPPORTED);
  assert_non_null(PssLinuxLastErrorDetail());
  assert_code(PssFreeSnapshot(p->h, (HPSS)r), ERROR_NOT_SUPPORTED);
  ask(p, reply, sizeof reply, "duptoclose %lx %lx", (unsigned long)getpid(), r);
  assert_int_equal(sscanf(reply, "ok %lx", &v), 1);
  assert_code(ask_code(p, "query %lx", r), ERROR_INVALID_HANDLE);    /* CLOSE_SOURCE */
  assert_int_equal(fd_count(getpid()), own_fds + 1);
  assert_int_equal(query_thread_count((HPSS)v), query_thread_count(s));
  assert_int_equal(query_handle_count((HPSS)v), query_handle_count(s));
  assert_int_equal(query_region_count((HPSS)v), query_region_count(s));
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, (HPSS)v), ERROR_SUCCESS);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, (HPSS)v), ERROR_INVALID_HANDLE);
  assert_int_equal(fd_count(getpid()), own_fds);
}

static void crossdup_close_source_both_ways (void **state) {
  struct fixture *f = FIXTURE(state);
  need_pidfd_getfd();
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  int fds = fd_count(p->pid);
  HPSS local = NULL, back = NULL, none = NULL;
  uintptr_t v;
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, PSS_LINUX_CURRENT_PROCESS,
                                   &local, 0), ERROR_SUCCESS);
  v = dup_into(p, local, PSS_DUPLICATE_CLOSE_SOURCE);
  assert_code(PssQuerySnapshot(local, PSS_QUERY_THREAD_INFORMATION, &(PSS_THREAD_INFORMATION){ 0, 0 },
                               sizeof(PSS_THREAD_INFORMATION)), ERROR_INVALID_HANDLE);
  peer_sees(f, p, v, s);
  assert_code(PssDuplicateSnapshot(p->h, (HPSS)v, PSS_LINUX_CURRENT_PROCESS, &back,
                                   PSS_DUPLICATE_CLOSE_SOURCE), ERROR_SUCCESS);
  fixture_keep_snapshot(f, back);
  assert_int_equal(query_thread_count(back), query_thread_count(s));
  assert_code(ask_code(p, "query %lx", v), ERROR_INVALID_HANDLE);
  assert_int_equal(fd_count(p->pid), fds);
  /* a duplication that fails frees the source all the same, there too */
  v = dup_into(p, s, PSS_DUPLICATE_NONE);
  assert_code(PssDuplicateSnapshot(p->h, (HPSS)v, PSS_LINUX_CURRENT_PROCESS, NULL,
                                   PSS_DUPLICATE_CLOSE_SOURCE), ERROR_INVALID_PARAMETER);
  assert_code(ask_code(p, "query %lx", v), ERROR_INVALID_HANDLE);
  assert_int_equal(fd_count(p->pid), fds);
  assert_ptr_equal(none, NULL);
}

static void crossdup_forged_and_stale_values_are_invalid_handles (void **state) {
  struct fixture *f = FIXTURE(state);
  need_pidfd_getfd();
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  const uintptr_t top = (uintptr_t)1 << 63;
  char reply[128];
  int mfd, file;
  unsigned long ino;
  uintptr_t forged[5], v, w;
  HPSS got = NULL;
  size_t i;
  ask(p, reply, sizeof reply, "forge");
  assert_int_equal(sscanf(reply, "ok %d %lu %d", &mfd, &ino, &file), 3);
  /* the value's layout (store.h): fd in bits 4-35, inode bits 36-62 */
  forged[0] = top | (0u << 4) | 1;                                     /* stdin: a pipe */
  forged[1] = top | ((uintptr_t)file << 4) | 1;                        /* a regular file */
  forged[2] = top | ((uintptr_t)999 << 4) | 1;                         /* closed */
  forged[3] = top | ((uintptr_t)(ino & 0x7FFFFFF) << 36) | ((uintptr_t)mfd << 4) | 1; /* unsealed */
  forged[4] = top | ((uintptr_t)mfd << 4) | 2;                         /* a marker's kind */
  for (i = 0; i < 5; i++) {
    assert_code(ask_code(p, "query %lx", forged[i]), ERROR_INVALID_HANDLE);
    assert_code(ask_code(p, "free %lx", forged[i]), ERROR_INVALID_HANDLE);
    assert_code(PssDuplicateSnapshot(p->h, (HPSS)forged[i], PSS_LINUX_CURRENT_PROCESS, &got, 0),
                ERROR_INVALID_HANDLE);
    assert_code(PssFreeSnapshot(p->h, (HPSS)forged[i]), ERROR_INVALID_HANDLE);
  }
  assert_null(got);
  /* a value freed, its descriptor number given to the next one: stale */
  v = dup_into(p, s, PSS_DUPLICATE_NONE);
  assert_code(ask_code(p, "free %lx", v), ERROR_SUCCESS);
  w = dup_into(p, s, PSS_DUPLICATE_NONE);
  /* the lowest free descriptor: the same number, another file */
  assert_int_equal((w >> 4) & 0xFFFFFFFFu, (v >> 4) & 0xFFFFFFFFu);
  assert_true(w != v);
  assert_code(ask_code(p, "query %lx", v), ERROR_INVALID_HANDLE);
  assert_code(PssFreeSnapshot(p->h, (HPSS)v), ERROR_INVALID_HANDLE);
  assert_code(ask_code(p, "query %lx", w), ERROR_SUCCESS);
  assert_code(ask_code(p, "free %lx", w), ERROR_SUCCESS);
}

/* nobody may not trace root: neither direction, with a reason in words */
static void crossdup_without_the_right_to_trace_it_is_access_denied (void **state) {
  struct fixture *f = FIXTURE(state);
  struct peer *p;
  char reply[128];
  unsigned long r;
  uintptr_t forged = ((uintptr_t)1 << 63) | (1u << 4) | 1;   /* our stdout */
  if (getuid() != 0) skip_because("needs root, to make a peer that runs as nobody");
  p = peer_ready(f, 1);
  ask(p, reply, sizeof reply, "capture %lx", (unsigned long)p->pid);
  assert_int_equal(sscanf(reply, "ok %lx", &r), 1);
  {
    char line[128];
    snprintf(line, sizeof line, "dupto %lx %lx", (unsigned long)getpid(), r);
    ask(p, reply, sizeof reply, "%s", line);
    note("into root: %s", reply);
    assert_memory_equal(reply, "err 5 ", 6);
    assert_true(strlen(reply) > 12);                  /* and why, in words */
    snprintf(line, sizeof line, "dupfrom %lx %lx", (unsigned long)getpid(), (unsigned long)forged);
    ask(p, reply, sizeof reply, "%s", line);
    note("out of root: %s", reply);
    assert_memory_equal(reply, "err 5 ", 6);
    assert_true(strlen(reply) > 12);
  }
}

static void crossdup_a_vanished_process_is_what_a_capture_says (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = fixture_capture(f, h, PSS_CAPTURE_THREADS), got = NULL;
  DWORD capture, dup, from, freed;
  fixture_release_target(f, t);
  capture = PssCaptureSnapshot(h, PSS_CAPTURE_THREADS, 0, &got);
  dup = PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, h, &got, 0);
  from = PssDuplicateSnapshot(h, (HPSS)(((uintptr_t)1 << 63) | (3u << 4) | 1),
                              PSS_LINUX_CURRENT_PROCESS, &got, 0);
  freed = PssFreeSnapshot(h, (HPSS)(((uintptr_t)1 << 63) | (3u << 4) | 1));
  assert_int_not_equal(capture, ERROR_SUCCESS);
  assert_code(dup, capture);
  assert_code(from, capture);
  assert_code(freed, capture);
  assert_null(got);
}

/* Another tracer holds the peer: refused at once as busy, with who it is;
** the peer is left as it was. */
static void crossdup_a_process_traced_by_another_is_busy (void **state) {
  struct fixture *f = FIXTURE(state);
  need_pidfd_getfd();
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING), got = NULL;
  struct peer *p = peer_ready(f, 0);
  int fds = fd_count(p->pid), sync[2], status;
  uintptr_t v = dup_into(p, s, PSS_DUPLICATE_NONE);
  pid_t tracer;
  char c;
  assert_int_equal(pipe(sync), 0);
  if ((tracer = fork()) == 0) {
    char ok = ptrace(PTRACE_SEIZE, p->pid, NULL, NULL) == 0 ? 'y' : 'n';
    if (write(sync[1], &ok, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  assert_true(tracer > 0);
  close(sync[1]);
  assert_int_equal(read(sync[0], &c, 1), 1);
  close(sync[0]);
  if (c != 'y') {
    kill(tracer, SIGKILL);
    waitpid(tracer, &status, 0);
    skip_because("could not trace the peer from a helper");
  }
  assert_code(PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, p->h, &got, 0), ERROR_BUSY);
  assert_non_null(strstr(PssLinuxLastErrorDetail(), "traced by another process"));
  assert_code(PssFreeSnapshot(p->h, (HPSS)v), ERROR_BUSY);
  assert_null(got);
  kill(tracer, SIGKILL);
  waitpid(tracer, &status, 0);
  /* the value is still there, and still good */
  assert_int_equal(fd_count(p->pid), fds + 1);
  peer_sees(f, p, v, s);
  assert_code(PssFreeSnapshot(p->h, (HPSS)v), ERROR_SUCCESS);
  assert_int_equal(fd_count(p->pid), fds);
}

/* The peer has not died (of a signal, say, on borrowed registers). */
static void peer_lives (struct peer *p) {
  int status;
  if (waitpid(p->pid, &status, WNOHANG) == p->pid)
    fail_because("peer %d died: %s %d", (int)p->pid, WIFSIGNALED(status) ? "signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/*
** The wait limit passes while the peer's thread is borrowed for its one
** system call (1 ms, and a peer with 60,000 mappings, whose maps alone
** take longer to read). The duplication may fail as a timeout, but the
** peer is never left on the borrowed registers: it sits in the same read,
** answers as before, and takes a duplicate with the limit back. A thread
** let go of while it ran the call puts itself back (the detail says so);
** then the call's memfd stays with the peer, and the name below its
** stack: only what the thread itself holds is compared.
*/
static void crossdup_past_the_wait_limit_the_receiver_lives_on (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  char sum_before[64], sum_after[64];
  struct still before, now;
  int fds, i, timeouts = 0, late = 0;
  DWORD limit, rc;
  ask(p, sum_before, sizeof sum_before, "maps %x", 30000);
  assert_string_equal(sum_before, "ok");
  ask(p, sum_before, sizeof sum_before, "sum");
  fds = fd_count(p->pid);
  look(p->pid, &before);
  limit = PssLinuxSetWaitLimit(1);
  for (i = 0; i < 5; i++) {
    HPSS v = NULL;
    rc = PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, p->h, &v, 0);
    if (rc == ERROR_TIMEOUT) {
      timeouts++;
      late += strstr(PssLinuxLastErrorDetail(), "puts itself back") != NULL;
      continue;
    }
    PssLinuxSetWaitLimit(limit);
    assert_code(rc, ERROR_SUCCESS);
    assert_code(PssFreeSnapshot(p->h, v), ERROR_SUCCESS);
    PssLinuxSetWaitLimit(1);
  }
  PssLinuxSetWaitLimit(limit);
  note("%d of 5 timed out, %d of them with the call under way", timeouts, late);
  usleep(20000);                 /* a thread let go on borrowed registers dies at once */
  peer_lives(p);
  look(p->pid, &now);
  assert_string_equal(now.syscall, before.syscall);
  if (!late) {
    assert_memory_equal(now.below, before.below, sizeof now.below);
    assert_int_equal(fd_count(p->pid), fds);
  }
  ask(p, sum_after, sizeof sum_after, "sum");
  assert_string_equal(sum_after, sum_before);
  peer_sees(f, p, dup_into(p, s, PSS_DUPLICATE_NONE), s);
}

/* A process that duplicates s into pid again and again until killed. */
static pid_t start_duplicator (HPSS s, pid_t pid) {
  pid_t child = fork();
  if (child == 0) {
    HANDLE h = open_pid((unsigned long)pid);
    int i;
    for (i = 0; h != NULL && i < 100000; i++) {
      HPSS v = NULL;
      if (PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, s, h, &v, 0) == ERROR_SUCCESS)
        (void)PssFreeSnapshot(h, v);
    }
    _exit(0);
  }
  assert_true(child > 0);
  return child;
}

/* Polls the peer's system call line until it is not its read's (a thread
** borrowed for the call): 1 then, 0 if not seen within the bound. */
static int borrowed (pid_t pid, const char *rest) {
  char path[64], line[256];
  int fd, k, seen = 0;
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
  for (k = 0; k < 2000000 && !seen; k++) {
    ssize_t n = pread(fd, line, sizeof line - 1, 0);
    if (n <= 0) break;
    line[n] = '\0';
    seen = strcmp(line, rest) != 0 && strcmp(line, "running\n") != 0;
  }
  close(fd);
  return seen;
}

/*
** The duplicating process is killed while the peer's thread is borrowed
** for the call (seen in /proc/PID/syscall: not the read it sits in). The
** kernel lets go of the thread wherever it was; it must put itself back
** and sit in the same read again, answering as before.
*/
static void crossdup_the_caller_killed_midway_the_receiver_lives_on (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct peer *p = peer_ready(f, 0);
  char sum_before[64], sum_after[64];
  struct still before, now;
  int round, caught = 0;
  if (under_valgrind()) skip_because("the race needs the duplications at full speed");
  ask(p, sum_before, sizeof sum_before, "sum");
  look(p->pid, &before);
  for (round = 0; round < 10; round++) {
    pid_t dup = start_duplicator(s, p->pid);
    int status, seen = borrowed(p->pid, before.syscall);
    kill(dup, SIGKILL);
    assert_int_equal(waitpid(dup, &status, 0), dup);
    caught += seen;
    usleep(20000);
    peer_lives(p);
    look(p->pid, &now);          /* back in its read, bounded */
    assert_string_equal(now.syscall, before.syscall);
    ask(p, sum_after, sizeof sum_after, "sum");
    assert_string_equal(sum_after, sum_before);
    look(p->pid, &before);
  }
  note("killed the caller %d times with the peer's thread borrowed", caught);
  if (caught == 0) skip_because("never caught the peer's thread borrowed");
  peer_sees(f, p, dup_into(p, s, PSS_DUPLICATE_NONE), s);
}

#define crossdup_test(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, teardown)

int run_crossdup_suite (void) {
  const struct CMUnitTest tests[] = {
    crossdup_test(crossdup_into_a_blocked_process_it_answers_the_same),
    crossdup_test(crossdup_out_of_another_process_and_freed_there),
    crossdup_test(crossdup_a_snapshot_the_other_captured_comes_only_when_it_hands_it),
    crossdup_test(crossdup_close_source_both_ways),
    crossdup_test(crossdup_forged_and_stale_values_are_invalid_handles),
    crossdup_test(crossdup_without_the_right_to_trace_it_is_access_denied),
    crossdup_test(crossdup_a_vanished_process_is_what_a_capture_says),
    crossdup_test(crossdup_a_process_traced_by_another_is_busy),
    crossdup_test(crossdup_past_the_wait_limit_the_receiver_lives_on),
    crossdup_test(crossdup_the_caller_killed_midway_the_receiver_lives_on),
  };
  return cmocka_run_group_tests_name("crossdup", tests, NULL, NULL);
}
