/*
** observe.h -- watching a target from outside: its threads' states and
** tracers in /proc, and its own counters asked over stdin.
*/
#ifndef SPEC_OBSERVE_H
#define SPEC_OBSERVE_H

#include <sys/types.h>

#include "target.h"

void sleep_us (long us);
long long now_ms (void);
/* State letter of a thread; 0 if it is gone. */
char thread_state (pid_t pid, pid_t tid);
/* TracerPid of a thread; -1 if it is gone. */
long thread_tracer (pid_t pid, pid_t tid);
/* Whether a thread is traced by a thread of this process. */
int traced_by_us (pid_t pid, pid_t tid);
/* A watchdog (SIGALRM) that fails the running test `seconds` from now
** (five times that under valgrind), naming the step that hung; alarm(0)
** disarms it. */
void watchdog_arm (int seconds, char const *step);
/* Detaches (or reaps, if a zombie) every thread of pid still traced by
** this process -- what a capture must never leave, and what would keep
** the target from being reaped; how many there were. */
int release_our_tracees (pid_t pid);
/* Fails unless every thread of pid runs or sleeps untraced: nothing
** stopped ('t', 'T') or with a TracerPid, as a capture must leave it. */
void expect_untouched (pid_t pid, char const *when);
/* Sends a stdin command the target answers with "<command> <n> ...";
** returns the first number, and the second in *second if not NULL. */
long target_ask (struct target *t, char const *command, long *second);
/* The SIGRTMIN+1 signals the target handled; its count of sleeps that
** ended early and reads that returned. */
long target_signals (struct target *t);
long target_anomalies (struct target *t);

#endif
