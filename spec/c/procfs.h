/*
** procfs.h -- what the suite reads from /proc itself, independently of
** libpss, to check a snapshot against.
*/
#ifndef SPEC_PROCFS_H
#define SPEC_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sorted pids of /proc; the count (at most cap), -1 on error. */
long proc_pids (pid_t *out, size_t cap);
/* Sorted thread ids of /proc/PID/task; the count (at most cap), -1 on error. */
long proc_tids (pid_t pid, pid_t *out, size_t cap);
/* Sorted fd numbers of /proc/PID/fd; the count, -1 on error. */
long proc_fds (pid_t pid, int *out, size_t cap);

struct proc_map {
  uintptr_t start, end;
  char perms[5];
  uint64_t offset;
  unsigned dev_major, dev_minor;
  uint64_t inode;
  char path[1024];            /* pathname column, "" if none */
};
/* The lines of /proc/PID/maps; a malloc'd array, *count lines; NULL on error. */
struct proc_map *proc_maps (pid_t pid, size_t *count);

/* Reads /proc/PID/<rel> whole; the length, -1 on error. */
long proc_read (pid_t pid, char const *rel, char *buf, size_t cap);
/* readlink /proc/PID/<rel>; the length, -1 on error. */
long proc_link (pid_t pid, char const *rel, char *buf, size_t cap);

struct proc_fdinfo {
  uint64_t pos;
  unsigned flags;             /* octal "flags:" */
  unsigned mnt_id;
  uint64_t ino;
  int has_ino;
  uint64_t eventfd_count;
  int has_eventfd_count;
  uint64_t ticks;             /* timerfd */
  int has_ticks;
  uint64_t sigmask;           /* signalfd, hex */
  int has_sigmask;
};
int proc_fdinfo (pid_t pid, int fd, struct proc_fdinfo *out);

struct proc_syscall {
  int state;                  /* 1 in a syscall, 0 blocked outside one, -1 running */
  long nr;
  uint64_t args[6];
  uint64_t sp, pc;
};
int proc_syscall (pid_t pid, pid_t tid, struct proc_syscall *out);

/* Fields of /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat, man 5 proc. */
struct proc_stat {
  char comm[64];
  char state;
  int ppid, pgrp, session;
  unsigned long minflt, majflt;
  unsigned long long utime, stime;
  long priority, nice, num_threads;
  unsigned long long starttime;
  unsigned long vsize;
  long rss;
  int processor;
  unsigned rt_priority, policy;
  unsigned long long arg_start;
  int exit_code;
};
int proc_stat (pid_t pid, pid_t tid, struct proc_stat *out);

/* A "Name:   value kB" line of /proc/PID/status, in kB (or the bare
** number); -1 if absent. */
long long proc_status_value (pid_t pid, char const *key);

/* AT_ENTRY of /proc/PID/auxv; 0 if absent or unreadable. */
uint64_t proc_entry_point (pid_t pid);

/* The boot time as a Unix time in nanoseconds (CLOCK_REALTIME minus
** CLOCK_BOOTTIME). */
long long proc_boot_time_ns (void);

/* Number of open fds of the calling process. */
long proc_self_fd_count (void);

#endif
