/*
** observe.c -- see observe.h.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "fixture.h"
#include "observe.h"
#include "procfs.h"

void sleep_us (long us) {
  struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

long long now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* State letter of a thread; 0 if it is gone. */
char thread_state (pid_t pid, pid_t tid) {
  struct proc_stat st;
  return proc_stat(pid, tid, &st) == 0 ? st.state : 0;
}

/* TracerPid of a thread; -1 if it is gone. */
long thread_tracer (pid_t pid, pid_t tid) {
  char rel[64], text[4096];
  char const *line;
  long n;
  snprintf(rel, sizeof rel, "task/%d/status", (int)tid);
  n = proc_read(pid, rel, text, sizeof text - 1);
  if (n < 0)
    return -1;
  text[n] = '\0';
  line = strstr(text, "\nTracerPid:");
  return line != NULL ? strtol(line + 11, NULL, 10) : -1;
}

/* Whether a thread is traced by a thread of this process (libpss traces
** from a thread of its own, so TracerPid is that thread's tid). */
int traced_by_us (pid_t pid, pid_t tid) {
  char path[64];
  long tracer = thread_tracer(pid, tid);
  if (tracer <= 0)
    return 0;
  snprintf(path, sizeof path, "/proc/self/task/%ld", tracer);
  return access(path, F_OK) == 0;
}

/* {======================================================================
** Watchdog: a test that hangs fails instead of blocking the suite
** ======================================================================= */
static int watchdog_seconds;
static char const *watchdog_step = "the test";

/* A step hung: say which and fail the test (cmocka longjmps out of it);
** the teardowns then release what the test held. */
static void on_watchdog (int signo) {
  (void)signo;
  note("TIMEOUT: %s did not finish within %d s (a hang?)", watchdog_step, watchdog_seconds);
  _fail(__FILE__, __LINE__);
}

void watchdog_arm (int seconds, char const *step) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_watchdog;
  sa.sa_flags = SA_NODEFER;     /* left by longjmp: SIGALRM must not stay blocked */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  watchdog_step = step;
  watchdog_seconds = under_valgrind() ? 5 * seconds : seconds;
  alarm((unsigned)watchdog_seconds);
}
/* }====================================================================== */

int release_our_tracees (pid_t pid) {
  pid_t tids[1024];
  long n = proc_tids(pid, tids, 1024), i;
  int count = 0;
  for (i = 0; i < n; i++) {
    int st, k;
    if (!traced_by_us(pid, tids[i]))
      continue;
    count++;
    if (ptrace(PTRACE_DETACH, tids[i], NULL, NULL) == 0)
      continue;
    /* not in a stop: a zombie to reap, or a running tracee to stop first */
    if (waitpid(tids[i], &st, __WALL | WNOHANG) == tids[i] && (WIFEXITED(st) || WIFSIGNALED(st)))
      continue;
    ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL);
    for (k = 0; k < 1000; k++) {
      pid_t r = waitpid(tids[i], &st, __WALL | WNOHANG);
      if (r == tids[i] || (r < 0 && errno != EINTR))
        break;
      sleep_us(1000);
    }
    ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
  }
  return count;
}

/* Fails unless every thread of pid runs or sleeps untraced: nothing
** stopped ('t', 'T') or with a TracerPid, as a capture must leave it. A
** thread found wrong is looked at again 200 ms later, for the message. */
void expect_untouched (pid_t pid, char const *when) {
  pid_t tids[1024];
  long n = proc_tids(pid, tids, 1024), i;
  if (n <= 0)
    fail_because("%s: cannot list the threads of %d", when, (int)pid);
  for (i = 0; i < n; i++) {
    char st = thread_state(pid, tids[i]);
    long tracer = thread_tracer(pid, tids[i]);
    if (st == 't' || st == 'T' || tracer > 0) {
      char later;
      long later_tracer;
      sleep_us(200000);
      later = thread_state(pid, tids[i]);
      later_tracer = thread_tracer(pid, tids[i]);
      fail_because("%s: thread %d of %d is %s (state %c, TracerPid %ld); "
                   "200 ms later: state %c, TracerPid %ld", when, (int)tids[i], (int)pid,
                   tracer > 0 ? "traced" : "stopped", st ? st : '?', tracer,
                   later ? later : '?', later_tracer);
    }
  }
}


long target_ask (struct target *t, char const *command, long *second) {
  char line[256], format[64];
  long n = -1, m = -1;
  if (target_send(t, command) != 0)
    fail_because("cannot send \"%s\" to the target", command);
  if (target_read_line(t, line, sizeof line, 10000) != 0)
    fail_because("no answer to \"%s\" from the target", command);
  snprintf(format, sizeof format, "%s %%ld %%ld", command);
  if (sscanf(line, format, &n, &m) < 1)
    fail_because("unexpected answer to \"%s\": %s", command, line);
  if (second != NULL)
    *second = m;
  return n;
}

long target_signals (struct target *t) {
  return target_ask(t, "signals", NULL);
}

long target_anomalies (struct target *t) {
  return target_ask(t, "anomalies", NULL);
}
