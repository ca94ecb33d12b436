/*
** procfs.h -- pure parsers of /proc text. They take text, never paths, so
** they can be tested on fixture text and fuzzed; they never allocate.
**
** Every parser reads text[0..len) and nothing else: the text need not be
** NUL-terminated, and any bytes are accepted (a NUL is an ordinary byte).
** Numbers are decimal, or hex and octal where proc(5) prints them so; a
** number that does not fit in 64 bits, a kB count whose bytes do not, or a
** value outside the range of the field it goes to (a pid above INT_MAX) is
** malformed, never wrapped nor saturated: a parser that needs the value
** returns -EINVAL, one of optional fields (status, fdinfo) leaves that
** field as if the line were absent.
*/
#ifndef PSS_LINUX_PROCFS_H
#define PSS_LINUX_PROCFS_H

/* Internal: hidden from the shared objects that link libpss, whatever
** the build flags (LuaRocks builds without -fvisibility=hidden). */
#pragma GCC visibility push(hidden)

#include <stddef.h>
#include <stdint.h>

/* /proc/PID/stat and /proc/PID/task/TID/stat, fields as in proc(5).
** Fields 4..41 are required; later ones absent on old kernels are 0. */
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

/* /proc/PID/status: the fields libpss uses (memory in bytes). Lines may
** come in any order or be missing (a kernel thread has no Vm* lines): a
** missing or malformed field is 0, except seccomp. Always returns 0. */
struct pss_status {
  uint64_t vm_peak, vm_size, vm_hwm, vm_rss, rss_anon, rss_file, rss_shmem;
  uint64_t vm_data, vm_stk, vm_swap, vm_pte;
  unsigned uid[4], gid[4];   /* real, effective, saved, filesystem */
  long tracer_pid;           /* TracerPid: 0 when untraced */
  uint64_t cap_eff;          /* CapEff: the effective capability set */
  int pid;                   /* Pid: in the pid namespace of the /proc mount */
  int nspid;                 /* NSpid: its last value, the pid in the process's own
                                namespace (0 if the list is absent or malformed) */
  int seccomp;               /* Seccomp: 0 off, 1 strict, 2 filter; 0 without the
                                line (no CONFIG_SECCOMP); -1 if its value is not
                                one number (a single line may be given) */
  int seccomp_filters;       /* Seccomp_filters: (Linux 5.9) */
};
int pss_parse_status(const char *text, size_t len, struct pss_status *st);

/* /proc/PID/task/TID/syscall: "nr a1..a6 sp pc", "-1 sp pc" or "running" */
struct pss_syscall {
  int state;                 /* 1 in syscall, 0 blocked outside, -1 running */
  long nr;
  uint64_t args[6], sp, pc;
};
int pss_parse_syscall(const char *text, size_t len, struct pss_syscall *sc);

/* /proc/PID/fdinfo/N; always returns 0 (missing fields are 0). */
struct pss_fdinfo {
  uint64_t pos, ino, count;
  unsigned flags;
  unsigned mnt_id;
  int pid;                   /* pidfd: Pid: (-1 when the process is gone) */
  int nspid;                 /* pidfd: NSpid:'s last value (-1 gone; 0 absent) */
  int has_pid, has_count, semaphore;
};
int pss_parse_fdinfo(const char *text, size_t len, struct pss_fdinfo *fi);

/*
** The line parsers below take the text from a line's start to the end of
** the buffer (or one line without its newline) and return the bytes they
** consumed including the newline, 0 when len is 0, or -EINVAL for a
** malformed line (pss_skip_line passes it). Their struct is zeroed first,
** even when len is 0.
*/

/* One line of /proc/PID/maps; path points into the line (not unescaped;
** a deleted file ends in " (deleted)"). */
struct pss_maps_line {
  uint64_t start, end, offset, inode;
  unsigned dev_major, dev_minor;
  char perms[5];
  const char *path;
  size_t path_len;
};
long pss_parse_maps_line(const char *text, size_t len, struct pss_maps_line *ml);

/* The path of a maps line as the file is named: maps escapes only '\n',
** as "\012". out holds n bytes (it may be `in` itself); returns its length. */
size_t pss_unescape_maps_path(const char *in, size_t n, char *out);

/*
** One line of /proc/PID/smaps: a mapping's header (a maps line, which
** starts with a lowercase hex digit), or one of the fields of the mapping
** before it. Only a header that does not parse is -EINVAL; a line that is
** neither a header nor "Name: number [kB]" nor VmFlags is OTHER, since
** smaps grows fields (skip it).
*/
enum {
  PSS_SMAPS_MAPPING = 1,     /* map */
  PSS_SMAPS_FIELD,           /* name, value, kb: "Rss:    8 kB", "THPeligible:    0" */
  PSS_SMAPS_VMFLAGS,         /* name, flags: "VmFlags: rd wr mr mw me ac" */
  PSS_SMAPS_OTHER            /* name when the line has a "Name:" key */
};
struct pss_smaps_line {
  int kind;
  struct pss_maps_line map;
  const char *name;          /* the key before ':', into the line */
  size_t name_len;
  uint64_t value;            /* in bytes when kb, else as printed */
  int kb;                    /* the value was in kB */
  const char *flags;         /* the two-letter flags, space-separated */
  size_t flags_len;
};
long pss_parse_smaps_line(const char *text, size_t len, struct pss_smaps_line *sl);

/*
** Which figure of a mapping's memory a smaps FIELD line gives, as an index
** into PSS_SMAPS_USAGE_FIELDS numbers in the order of
** PSS_LINUX_MEMORY_USAGE (Rss, Pss, Pss_Dirty, Shared_Clean, ...,
** Locked); -1 for any other field (Size, KernelPageSize, THPeligible, a
** field of a newer kernel).
*/
#define PSS_SMAPS_USAGE_FIELDS 19
int pss_smaps_usage_index(const char *name, size_t len);

/* Whether the VmFlags list holds flag as a whole space-separated word
** ("dd", "io", "wf"); a cut word ("d") is not the flag. */
int pss_vmflags_has(const char *flags, size_t len, const char *flag);

/* Lines of /proc/PID/net/{tcp,udp,raw}{,6}. Addresses in host order text. */
struct pss_inet_line {
  uint64_t inode;
  int state;
  int v6;
  unsigned char local[16], remote[16];
  unsigned lport, rport;
};
long pss_parse_inet_line(const char *text, size_t len, struct pss_inet_line *il);

/* Lines of /proc/PID/net/unix; path is empty for an unnamed socket and
** starts with '@' for an abstract one (its NULs printed as '@'). */
struct pss_unix_line {
  uint64_t inode;
  int type, state;
  unsigned flags;          /* __SO_ACCEPTCON (0x10000): listening */
  const char *path;
  size_t path_len;
};
long pss_parse_unix_line(const char *text, size_t len, struct pss_unix_line *ul);

/* Lines of /proc/PID/net/netlink and packet: the inode and protocol
** (and type), written only when the line parses */
long pss_parse_netlink_line(const char *text, size_t len, uint64_t *inode,
                            int *protocol);
long pss_parse_packet_line(const char *text, size_t len, uint64_t *inode,
                           int *type, int *protocol);

/* Skips one line; returns bytes consumed (0 only when len is 0). */
size_t pss_skip_line(const char *text, size_t len);

/* The inode in a descriptor's link text, "socket:[123]" or "pipe:[45]";
** 0 when there is no "[number" ("anon_inode:[eventfd]", a path). */
uint64_t pss_parse_link_inode(const char *text, size_t len);
/* A file that holds one number in base 10, 16 or 8 (personality: hex),
** with trailing blanks; -EINVAL for anything else. */
int pss_parse_number(const char *text, size_t len, unsigned base, uint64_t *out);
/* The link of a /proc/PID directory fd: "/proc/PID", or "/proc/PID
** (deleted)" once the process is reaped; -EINVAL for any other text. */
int pss_parse_procdir_link(const char *text, size_t len, int *pid, int *deleted);

/* /proc/PID/auxv: AT_ENTRY, and whether the vector is in the 32-bit
** layout, as the kernel keeps it for a 32-bit program on a 64-bit one (the
** nearest thing to WOW64). Empty text (a kernel thread, a zombie) is 0
** and 0; text that is neither layout is -EINVAL. */
int pss_parse_auxv(const char *text, size_t len, uint64_t *entry, int *is32);

#pragma GCC visibility pop

#endif
