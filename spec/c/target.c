/*
** target.c -- start, read and stop the test target.
*/
#include "target.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 10000

char const *target_program (void) {
  char const *p = getenv("PSS_TARGET");
  return (p != NULL && *p != '\0') ? p : NULL;
}

static void set_error (struct target *t, char const *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->error, sizeof t->error, fmt, ap);
  va_end(ap);
}

static void sleep_ms (long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

long hex_decode (char const *hex, char *out, size_t cap) {
  size_t n = 0;
  if (strcmp(hex, "-") == 0)
    return 0;
  while (hex[0] != '\0' && hex[0] != ' ' && hex[0] != '\n') {
    char pair[3] = { hex[0], hex[1], '\0' };
    char *end;
    unsigned long v;
    if (hex[1] == '\0')
      return -1;
    v = strtoul(pair, &end, 16);
    if (*end != '\0' || n >= cap)
      return -1;
    out[n++] = (char)v;
    hex += 2;
  }
  if (n < cap)
    out[n] = '\0';
  return (long)n;
}

/* {======================================================================
** Report parsing
** ======================================================================= */

static int grow (void **array, size_t count, size_t size) {
  /* arrays grow in steps of 64 entries: count is a multiple when full */
  if (count % 64 == 0) {
    void *p = realloc(*array, (count + 64) * size);
    if (p == NULL)
      return -1;
    *array = p;
  }
  return 0;
}

static int parse_thread (struct target *t, char const *rest) {
  struct target_thread *th;
  char const *name;
  if (grow((void **)&t->threads, t->thread_count, sizeof *th) != 0)
    return -1;
  th = &t->threads[t->thread_count];
  memset(th, 0, sizeof *th);
  th->tid = (pid_t)strtol(rest, (char **)&name, 10);
  if (*name == ' ')
    name++;
  snprintf(th->name, sizeof th->name, "%s", name);
  t->thread_count++;
  return 0;
}

static int parse_fd (struct target *t, char const *rest) {
  struct target_fd *fd;
  char *end;
  if (grow((void **)&t->fds, t->fd_count, sizeof *fd) != 0)
    return -1;
  fd = &t->fds[t->fd_count];
  memset(fd, 0, sizeof *fd);
  fd->fd = (int)strtol(rest, &end, 10);
  if (sscanf(end, " %39s", fd->kind) != 1)
    return -1;
  end = strstr(end, fd->kind) + strlen(fd->kind);
  while (*end == ' ')
    end++;
  snprintf(fd->attrs, sizeof fd->attrs, "%s", end);
  t->fd_count++;
  return 0;
}

static int parse_map (struct target *t, char const *rest) {
  struct target_map *m;
  unsigned long long start, size;
  char path[2100];
  long n;
  if (grow((void **)&t->maps, t->map_count, sizeof *m) != 0)
    return -1;
  m = &t->maps[t->map_count];
  memset(m, 0, sizeof *m);
  if (sscanf(rest, "%llx %lli %7s %39s %2099s", &start, &size, m->perms,
             m->kind, path) != 5)
    return -1;
  n = hex_decode(path, m->path, sizeof m->path);
  if (n < 0)
    return -1;
  m->start = (uintptr_t)start;
  m->size = (size_t)size;
  m->path_len = (size_t)n;
  t->map_count++;
  return 0;
}

static int parse_hex_line (char const *rest, char *out, size_t cap, size_t *len) {
  long n = hex_decode(rest, out, cap);
  if (n < 0)
    return -1;
  *len = (size_t)n;
  return 0;
}

/* Keeps a line of a word the parser has no field for. */
static int keep_line (struct target *t, char const *line) {
  size_t len = strlen(line);
  char *p = realloc(t->lines, t->lines_len + len + 2);
  if (p == NULL)
    return -1;
  memcpy(p + t->lines_len, line, len);
  p[t->lines_len + len] = '\n';
  p[t->lines_len + len + 1] = '\0';
  t->lines = p;
  t->lines_len += len + 1;
  return 0;
}

/* One report line; 1 at "ready", 0 to go on, -1 if malformed. */
static int parse_line (struct target *t, char const *line) {
  char word[32];
  char const *rest;
  if (strcmp(line, "ready") == 0)
    return 1;
  if (sscanf(line, "%31s", word) != 1)
    return 0;
  rest = line + strlen(word);
  while (*rest == ' ')
    rest++;
  if (strcmp(word, "pid") == 0)
    t->pid = (pid_t)atoi(rest);
  else if (strcmp(word, "exe") == 0)
    return parse_hex_line(rest, t->exe, sizeof t->exe, &t->exe_len);
  else if (strcmp(word, "odd") == 0)
    return parse_hex_line(rest, t->odd, sizeof t->odd, &t->odd_len);
  else if (strcmp(word, "thread") == 0)
    return parse_thread(t, rest);
  else if (strcmp(word, "fd") == 0)
    return parse_fd(t, rest);
  else if (strcmp(word, "map") == 0)
    return parse_map(t, rest);
  else
    return keep_line(t, line);
  return 0;
}

/* Reads lines until "ready": 0, or -1 on EOF, timeout or a bad line. */
static int read_report (struct target *t) {
  char buf[16384];
  size_t used = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    char *nl;
    while ((nl = memchr(buf, '\n', used)) != NULL) {
      int r;
      *nl = '\0';
      r = parse_line(t, buf);
      if (r < 0) {
        set_error(t, "malformed report line: %.200s", buf);
        return -1;
      }
      used -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, used);
      if (r == 1)
        return 0;
    }
    if (used == sizeof buf) {
      set_error(t, "report line too long");
      return -1;
    }
    {
      struct pollfd p = { t->output, POLLIN, 0 };
      long waited;
      ssize_t n;
      clock_gettime(CLOCK_MONOTONIC, &now);
      waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
      if (waited > REPORT_TIMEOUT_MS) {
        set_error(t, "no \"ready\" from the target within %d ms", REPORT_TIMEOUT_MS);
        return -1;
      }
      if (poll(&p, 1, 100) <= 0)
        continue;
      n = read(t->output, buf + used, sizeof buf - used);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        set_error(t, "the target closed its stdout before \"ready\"");
        return -1;
      }
      used += (size_t)n;
    }
  }
}
/* }====================================================================== */

/* dup2 onto a standard fd, also when pipe2 already returned that number
** (the suite was started with it closed): dup2 of an fd onto itself
** keeps FD_CLOEXEC, and exec would then close it. */
static void onto (int fd, int std) {
  if (fd == std)
    fcntl(fd, F_SETFD, 0);
  else
    dup2(fd, std);
}

int target_start (struct target *t, char const *const *args) {
  char const *prog = target_program();
  char const *argv[64];
  int in[2], out[2];
  size_t argc = 0;
  memset(t, 0, sizeof *t);
  t->input = t->output = -1;
  t->pid = 0;
  t->reaped = 1;
  if (prog == NULL) {
    set_error(t, "PSS_TARGET is not set");
    return -1;
  }
  argv[argc++] = prog;
  while (args != NULL && *args != NULL && argc < 63)
    argv[argc++] = *args++;
  argv[argc] = NULL;
  if (pipe2(in, O_CLOEXEC) != 0)
    return set_error(t, "pipe2: %s", strerror(errno)), -1;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return set_error(t, "pipe2: %s", strerror(errno)), -1;
  }
  t->pid = fork();
  if (t->pid < 0) {
    set_error(t, "fork: %s", strerror(errno));
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return -1;
  }
  if (t->pid == 0) {
    /* dup2 clears FD_CLOEXEC on 0 and 1; every other fd of the suite is
    ** close-on-exec, so the target starts with exactly 0, 1 and 2 */
    onto(in[0], 0);
    onto(out[1], 1);
    execv(prog, (char *const *)argv);
    _exit(127);
  }
  t->reaped = 0;
  close(in[0]);
  close(out[1]);
  t->input = in[1];
  t->output = out[0];
  {
    pid_t child = t->pid;
    if (read_report(t) != 0) {
      target_stop(t);
      return -1;
    }
    if (t->pid != child) {
      set_error(t, "report says pid %d, fork gave %d", (int)t->pid, (int)child);
      t->pid = child;
      target_stop(t);
      return -1;
    }
  }
  return 0;
}

int target_send (struct target *t, char const *line) {
  size_t len = strlen(line);
  if (t->input < 0)
    return -1;
  if (write(t->input, line, len) != (ssize_t)len || write(t->input, "\n", 1) != 1)
    return -1;
  return 0;
}

/* The target's exit. A capture traces the target, and the tracer is also
** this parent: a wait here can see its ptrace stops, which are no exit. */
static int exited (int status) { return WIFEXITED(status) || WIFSIGNALED(status); }

static int wait_exit (struct target *t, long timeout_ms) {
  long waited;
  for (waited = 0; waited <= timeout_ms; waited += 5) {
    int st;
    pid_t r = waitpid(t->pid, &st, WNOHANG);
    if (r == t->pid && exited(st)) {
      t->reaped = 1;
      t->wait_status = st;
      return 0;
    }
    if (r < 0 && errno != EINTR) {
      t->reaped = 1;
      t->wait_status = -1;
      return 0;
    }
    sleep_ms(5);
  }
  return -1;
}

int target_stop (struct target *t) {
  if (t->input >= 0) {
    close(t->input);
    t->input = -1;
  }
  if (!t->reaped && t->pid > 0 && wait_exit(t, STOP_TIMEOUT_MS) != 0) {
    kill(t->pid, SIGKILL);
    target_reap(t);
    t->reaped = 1;
  }
  if (t->output >= 0) {
    close(t->output);
    t->output = -1;
  }
  return t->wait_status;
}

void target_release (struct target *t) {
  target_stop(t);
  free(t->threads);
  free(t->fds);
  free(t->maps);
  free(t->lines);
  t->lines = NULL;
  t->lines_len = 0;
  t->threads = NULL;
  t->fds = NULL;
  t->maps = NULL;
  t->thread_count = t->fd_count = t->map_count = 0;
}

int target_report_line (struct target const *t, char const *word, size_t nth,
                        char *out, size_t cap) {
  size_t wlen = strlen(word);
  char const *line = t->lines;
  while (line != NULL && *line != '\0') {
    char const *eol = strchr(line, '\n');
    size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
    if (len > wlen && strncmp(line, word, wlen) == 0 && line[wlen] == ' ' && nth-- == 0) {
      size_t rest = len - wlen - 1;
      if (cap == 0)
        return 1;
      if (rest >= cap)
        rest = cap - 1;
      memcpy(out, line + wlen + 1, rest);
      out[rest] = '\0';
      return 1;
    }
    line += len;
    if (*line == '\n')
      line++;
  }
  return 0;
}

int target_read_line (struct target *t, char *out, size_t cap, long timeout_ms) {
  struct timespec t0, now;
  size_t used = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p = { t->output, POLLIN, 0 };
    long waited;
    char c;
    ssize_t n;
    clock_gettime(CLOCK_MONOTONIC, &now);
    waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (t->output < 0 || waited > timeout_ms)
      return -1;
    if (poll(&p, 1, 50) <= 0)
      continue;
    n = read(t->output, &c, 1);   /* a byte at a time: nothing read ahead is lost */
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    if (c == '\n') {
      if (cap > 0)
        out[used < cap ? used : cap - 1] = '\0';
      return 0;
    }
    if (used + 1 < cap)
      out[used++] = c;
  }
}

int target_wait_zombie (struct target *t) {
  long waited;
  for (waited = 0; waited <= STOP_TIMEOUT_MS; waited += 2) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOWAIT | WNOHANG) == 0 &&
        si.si_pid == t->pid)
      return 0;
    sleep_ms(2);
  }
  return -1;
}

/* 1 if every task of pid is sleeping, 0 if not, -1 if it cannot tell */
static int all_sleeping (pid_t pid) {
  pid_t tids[1024];
  long n, i;
  n = proc_tids(pid, tids, 1024);
  if (n <= 0)
    return -1;
  for (i = 0; i < n; i++) {
    struct proc_stat st;
    if (proc_stat(pid, tids[i], &st) != 0)
      return -1;
    if (st.state != 'S')
      return 0;
  }
  return 1;
}

int target_wait_quiet (struct target *t) {
  long waited;
  for (waited = 0; waited <= STOP_TIMEOUT_MS; waited += 2) {
    int r = all_sleeping(t->pid);
    if (r != 0)
      return r > 0 ? 0 : -1;
    sleep_ms(2);
  }
  return -1;
}

int target_reap (struct target *t) {
  while (!t->reaped) {
    pid_t r = waitpid(t->pid, &t->wait_status, 0);
    if ((r == t->pid && exited(t->wait_status)) || (r < 0 && errno != EINTR)) t->reaped = 1;
  }
  return t->wait_status;
}

struct target_fd const *target_fd_by_kind (struct target const *t, char const *kind) {
  size_t i;
  for (i = 0; i < t->fd_count; i++)
    if (strcmp(t->fds[i].kind, kind) == 0)
      return &t->fds[i];
  return NULL;
}

struct target_fd const *target_fd_by_number (struct target const *t, int fd) {
  size_t i;
  for (i = 0; i < t->fd_count; i++)
    if (t->fds[i].fd == fd)
      return &t->fds[i];
  return NULL;
}

struct target_map const *target_map_by_kind (struct target const *t, char const *kind) {
  size_t i;
  for (i = 0; i < t->map_count; i++)
    if (strcmp(t->maps[i].kind, kind) == 0)
      return &t->maps[i];
  return NULL;
}

int target_fd_attr (struct target_fd const *fd, char const *key, char *out, size_t cap) {
  size_t klen = strlen(key);
  char const *p = fd->attrs;
  while (*p != '\0') {
    char const *end = strchr(p, ' ');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = len - klen - 1;
      if (vlen >= cap)
        vlen = cap - 1;
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = '\0';
      return 1;
    }
    p += len;
    while (*p == ' ')
      p++;
  }
  return 0;
}

int target_fd_number (struct target_fd const *fd, char const *key, unsigned long long *out) {
  char text[64], *end;
  if (!target_fd_attr(fd, key, text, sizeof text))
    return 0;
  errno = 0;
  *out = strtoull(text, &end, 0);
  return errno == 0 && end != text && *end == '\0';
}

long target_fd_path (struct target_fd const *fd, char const *key, char *out, size_t cap) {
  char text[2100];
  if (!target_fd_attr(fd, key, text, sizeof text))
    return -1;
  return hex_decode(text, out, cap);
}
