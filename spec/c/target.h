/*
** target.h -- the test target (spec/support/pss-target.c) as a child.
**
** target_start forks and execs $PSS_TARGET with its stdin and stdout on
** pipes, reads its report up to the line "ready" and parses it; target_stop
** closes its stdin (the target then exits 0) and reaps it. A started target
** is always stopped by the fixture's teardown, so no test leaves a child.
*/
#ifndef SPEC_TARGET_H
#define SPEC_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct target_thread {
  pid_t tid;
  char name[64];
};

/* "fd <n> <kind> key=value ..." */
struct target_fd {
  int fd;
  char kind[40];
  char attrs[512];            /* the key=value part, as printed */
};

/* "map <start> <size> <perms> <kind> <hexpath|->" */
struct target_map {
  uintptr_t start;
  size_t size;
  char perms[8];
  char kind[40];
  char path[1024];            /* decoded bytes, "" if none */
  size_t path_len;
};

struct target {
  pid_t pid;
  int input;                  /* write end of the target's stdin, -1 once closed */
  int output;                 /* read end of the target's stdout */
  int reaped;
  int wait_status;
  char exe[1024];             /* decoded bytes of the "exe" line */
  size_t exe_len;
  char odd[1024];             /* decoded bytes of the "odd" line */
  size_t odd_len;
  struct target_thread *threads;   /* main thread first */
  size_t thread_count;
  struct target_fd *fds;
  size_t fd_count;
  struct target_map *maps;
  size_t map_count;
  char error[256];            /* why target_start failed */
  char *lines;                /* report lines of other words, '\n'-separated */
  size_t lines_len;
};

/* The path of the target executable ($PSS_TARGET), NULL if not set. */
char const *target_program(void);

/* Starts the target with the NULL-terminated option list args (may be
** NULL) and reads its report. 0 on success; -1 with t->error set. */
int target_start(struct target *t, char const *const *args);

/* Stops a started target: closes its stdin and reaps it (SIGKILL after a
** few seconds). Returns its wait status; safe to call twice. */
int target_stop(struct target *t);

/* target_stop, then frees the parsed report. */
void target_release(struct target *t);

/* Sends one line to the target's stdin ("exit 3", "quit"). */
int target_send(struct target *t, char const *line);

/* Waits (without reaping, waitid WNOWAIT) until the target has exited,
** so it stays a zombie. 0 once it is one, -1 on timeout. */
int target_wait_zombie(struct target *t);

/* Waits until every thread of the target sleeps ('S' in its stat), so
** what a capture sees is what /proc shows after it. 0, or -1 on timeout. */
int target_wait_quiet (struct target *t);

/* Reaps a target that has exited; returns its wait status. */
int target_reap(struct target *t);

struct target_fd const *target_fd_by_kind(struct target const *t, char const *kind);
struct target_fd const *target_fd_by_number(struct target const *t, int fd);
struct target_map const *target_map_by_kind(struct target const *t, char const *kind);

/* The value of key in an fd line: 1 and the text in out if present. */
int target_fd_attr(struct target_fd const *fd, char const *key, char *out, size_t cap);
/* ... as a number (decimal, or hex with 0x); 1 if present and numeric. */
int target_fd_number(struct target_fd const *fd, char const *key, unsigned long long *out);
/* ... as hex-encoded bytes decoded into out; the length, or -1. */
long target_fd_path(struct target_fd const *fd, char const *key, char *out, size_t cap);

/* The rest of the nth (from 0) report line whose first word is word
** ("parked", "counters", "tls", ...: lines the parser has no field for)
** in out; 1 if there is one, 0 if not. */
int target_report_line(struct target const *t, char const *word, size_t nth,
                       char *out, size_t cap);

/* Reads one line the target printed after its report (an answer to a
** command), without its newline; 0, or -1 on EOF or after timeout_ms. */
int target_read_line(struct target *t, char *out, size_t cap, long timeout_ms);

/* Decodes lowercase hex into bytes; the length, or -1 if not hex. */
long hex_decode(char const *hex, char *out, size_t cap);

#endif
