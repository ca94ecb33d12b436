/*
** procfs.h -- pure parsers of /proc text. They take text, never paths, so
** they can be tested on fixture text and fuzzed; they never allocate.
*/
#ifndef PSS_LINUX_PROCFS_H
#define PSS_LINUX_PROCFS_H

/* Internal: hidden from the shared objects that link libpss, whatever
** the build flags (LuaRocks builds without -fvisibility=hidden). */
#pragma GCC visibility push(hidden)

#include <stddef.h>
#include <stdint.h>

/* /proc/PID/stat and /proc/PID/task/TID/stat, fields as in proc(5) */
struct pss_stat {
  char comm[64];          /* (2) without the parentheses, up to 63 bytes */
  size_t comm_len;
  char state;             /* (3) */
  int ppid;               /* (4) */
  int pgrp, session;      /* (5) (6) */
  unsigned flags;           /* (9) PF_* of the task */
  uint64_t minflt, majflt;  /* (10) (12) */
  uint64_t utime, stime;    /* (14) (15) clock ticks */
  long priority, nice;      /* (18) (19) */
  long num_threads;         /* (20) */
  uint64_t starttime;       /* (22) clock ticks after boot */
  uint64_t vsize;           /* (23) bytes */
  int64_t rss;              /* (24) pages */
  uint64_t startstack;      /* (28) */
  int processor;            /* (39) */
  unsigned rt_priority;     /* (40) */
  unsigned policy;          /* (41) */
  uint64_t arg_start;       /* (48) */
  int exit_code;            /* (52) wait status, zombies only */
};
int pss_parse_stat(const char *text, size_t len, struct pss_stat *st);

/* /proc/PID/status: the fields libpss uses (memory in bytes) */
struct pss_status {
  uint64_t vm_peak, vm_size, vm_hwm, vm_rss, rss_anon, rss_file, rss_shmem;
  uint64_t vm_data, vm_stk, vm_swap, vm_pte;
  unsigned uid[4], gid[4];   /* real, effective, saved, filesystem */
  long tracer_pid;           /* TracerPid: 0 when untraced */
  uint64_t cap_eff;          /* CapEff: the effective capability set */
};
int pss_parse_status(const char *text, size_t len, struct pss_status *st);

/* /proc/PID/task/TID/syscall: "nr a1..a6 sp pc", "-1 sp pc" or "running" */
struct pss_syscall {
  int state;                 /* 1 in syscall, 0 blocked outside, -1 running */
  long nr;
  uint64_t args[6], sp, pc;
};
int pss_parse_syscall(const char *text, size_t len, struct pss_syscall *sc);

/* /proc/PID/fdinfo/N */
struct pss_fdinfo {
  uint64_t pos, ino, count;
  unsigned flags;
  unsigned mnt_id;
  int pid;                   /* pidfd: Pid: (-1 when the process is gone) */
  int has_pid, has_count, semaphore;
};
int pss_parse_fdinfo(const char *text, size_t len, struct pss_fdinfo *fi);

/* One line of /proc/PID/maps; path points into the line (not unescaped). */
struct pss_maps_line {
  uint64_t start, end, offset, inode;
  unsigned dev_major, dev_minor;
  char perms[5];
  const char *path;
  size_t path_len;
};
/* Parses the line at text[0..len); returns the bytes consumed including
** the newline, 0 at the end, -EINVAL on malformed text. */
long pss_parse_maps_line(const char *text, size_t len, struct pss_maps_line *ml);

/* Lines of /proc/PID/net/{tcp,udp,raw}{,6}. Addresses in host order text. */
struct pss_inet_line {
  uint64_t inode;
  int state;
  int v6;
  unsigned char local[16], remote[16];
  unsigned lport, rport;
};
long pss_parse_inet_line(const char *text, size_t len, struct pss_inet_line *il);

/* Lines of /proc/PID/net/unix */
struct pss_unix_line {
  uint64_t inode;
  int type, state;
  unsigned flags;          /* __SO_ACCEPTCON (0x10000): listening */
  const char *path;
  size_t path_len;
};
long pss_parse_unix_line(const char *text, size_t len, struct pss_unix_line *ul);

/* Lines of /proc/PID/net/netlink and packet: the inode and protocol */
long pss_parse_netlink_line(const char *text, size_t len, uint64_t *inode,
                            int *protocol);
long pss_parse_packet_line(const char *text, size_t len, uint64_t *inode,
                           int *type, int *protocol);

/* Skips one line; returns bytes consumed (0 at the end). */
size_t pss_skip_line(const char *text, size_t len);

#pragma GCC visibility pop

#endif
