/*
** proc.h -- reading the target through /proc: one /proc/PID directory,
** read relative to its fd (read.c), the process record (process.c) and one
** table per file (thread.c, handle.c, socket.c, region.c). The parsers of
** the text are in procfs.c; nothing here uses ptrace.
*/
#ifndef PSS_LINUX_PROC_PROC_H
#define PSS_LINUX_PROC_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "linux/common.h"
#include "linux/store/store.h"

#pragma GCC visibility push(hidden)

struct pss_freeze;
struct pss_self_freeze;
struct pss_registers;

struct pss_target {
  pid_t pid;
  int dirfd;               /* /proc/PID, checked to be the handle's process */
  int livefd;              /* where mm, fds and net are read: dirfd, or the
                              task dir of a live thread when the main thread
                              has exited (pthread_exit) and others run on */
  int self;
  uint64_t boot_filetime;  /* the boot instant as a FILETIME value */
  long ticks;              /* sysconf(_SC_CLK_TCK) */
  char *scratch;           /* grows to the largest /proc file read */
  size_t scratch_cap;
  int scratch_vm;          /* PSS_CREATE_USE_VM_ALLOCATIONS: mmap it */
  int own_child;                  /* the target is our own child (another process) */
  /* How the capture reads the target (PSS_LINUX_CAPTURE_MODE_*), and why
  ** not frozen, in words: the process record carries both. */
  unsigned char capture_mode;
  char not_frozen[PSS_DETAIL_MAX + 64];
  DWORD context_flags;            /* CONTEXT_* to capture, 0 for none */
  DWORD stack_limit;              /* STACKS: the calling thread's PssLinuxSetStackLimit */
  /* Set by the ptrace layer while it holds the target's threads stopped
  ** (ptrace/stopped.c); the tables only read them through state_before. */
  struct pss_freeze *freeze;      /* the target's threads, stopped; NULL for self */
  struct pss_self_freeze *self_freeze;  /* the caller's other threads, with contexts */
  struct pss_registers *regs;     /* room to read one thread's registers */
  /* A stopped thread's state letter as found before it was stopped (a
  ** frozen thread reads 't'); 0 for one not stopped, or no hook. */
  char (*state_before)(const struct pss_target *t, pid_t tid);
};

/* Reads a whole /proc file relative to dirfd into t->scratch (NUL
** terminated); returns its length or -errno. */
ssize_t pss_read_at(struct pss_target *t, int dirfd, const char *name);
/* Whether every thread of the target is exiting or gone (a process
** killed while it is read: its /proc files end early without an error). */
int pss_target_exiting(struct pss_target *t);
/* The same for one-record files (stat, status, fdinfo, syscall): no read
** just to see the end. */
ssize_t pss_read_record(struct pss_target *t, int dirfd, const char *name);
/* The same, reading no more than max bytes: a longer file is cut there. */
ssize_t pss_read_upto(struct pss_target *t, int dirfd, const char *name, size_t max);
int pss_target_alive(const struct pss_target *t) PSS_MUST_CHECK;
/* The target's memory at address, read with one process_vm_readv: the
** bytes read (a prefix of n: it stops at the first page it cannot read),
** or -errno (-EPERM where we may not trace it, -EFAULT, -ESRCH). */
ssize_t pss_read_memory(const struct pss_target *t, uint64_t address, void *buf, size_t n);
/* The numeric entries of a directory (tasks, fds), sorted; free() them. */
int pss_list_numbers(int dirfd, pid_t **out, size_t *n) PSS_MUST_CHECK;

int pss_capture_process(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_threads(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_handles(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_regions(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
/* The Win32 protection of a maps line's "rwxp" (copy-on-write file pages:
** PAGE_WRITECOPY, as for Windows views). */
DWORD pss_region_protect(const char *perms, int file_backed);
/* Rows [first, end) as one allocation: the first row's base and
** protection; image: every one MEM_IMAGE. */
void pss_region_group(struct pss_table *tab, size_t first, size_t end, int image);
/* The rows of /proc/PID/maps alone (no names, no image fields) into tab,
** a region table (rows of PSS_LINUX_VA_SPACE_ENTRY), for a pass that
** needs the mappings of a capture that did not ask for its VA space. */
int pss_read_regions(struct pss_target *t, struct pss_table *tab) PSS_MUST_CHECK;
/* The region of tab (in address order) holding address; NULL if none. */
const PSS_LINUX_VA_SPACE_ENTRY *pss_region_at(const struct pss_table *tab, uint64_t address);
/* After the thaw: the GNU build id of every ELF image the region table
** maps (buildid.c), read from the target's memory; left empty where the
** kernel will not let us read it. */
void pss_capture_build_ids(struct pss_target *t, struct pss_store *s);
/* The same from any memory that holds the images (a core's): what reads
** it, returning the bytes read or -errno. */
struct pss_image_reader {
  ssize_t (*read)(void *ctx, uint64_t address, void *buf, size_t n);
  void *ctx;
};
void pss_build_ids(struct pss_table *tab, const struct pss_image_reader *r);

/* Socket descriptions from /proc/PID/net/ for the given inodes. */
struct pss_socket_info {
  uint64_t inode;
  int family, type, protocol, state;
  char desc[160];          /* "tcp 127.0.0.1:80 -> 10.0.0.1:5555" */
  int found;
};
int pss_sockets_describe(struct pss_target *t, struct pss_socket_info *socks,
                         size_t n) PSS_MUST_CHECK;

/* Time: FILETIME counts 100 ns since 1601-01-01 UTC. */
#define PSS_FILETIME_UNIX_EPOCH 116444736000000000ULL
FILETIME pss_filetime(uint64_t v);
uint64_t pss_now_filetime(void);
FILETIME pss_ticks_duration(const struct pss_target *t, uint64_t ticks);
FILETIME pss_ticks_after_boot(const struct pss_target *t, uint64_t ticks);
/* Exit status of a zombie: the exit code, or 128+signal as shells say. */
DWORD pss_exit_status(int wait_status);
/* The first 64 CPUs of a task's affinity as a Windows mask. */
ULONG_PTR pss_affinity(pid_t tid);

/* /proc of any process, for code that has no target (the ptrace layer
** reads /proc only through these). pss_proc_open opens /proc/PID/NAME with
** flags, or the /proc/PID directory when name is NULL; -ESRCH when absent. */
int pss_proc_open(pid_t pid, const char *name, int flags);
/* Reads a one-record file (stat, status, comm, fdinfo) relative to dirfd
** (AT_FDCWD with an absolute path) into buf, NUL terminated: its length,
** cut at size-1, or -errno. */
ssize_t pss_proc_read(int dirfd, const char *name, char *buf, size_t size);

/* A multi-record file line by line through a buffer of cap bytes. A line
** that does not fit is, by `long_lines`: PSS_LINES_FAIL, -EOVERFLOW;
** PSS_LINES_SKIP, skipped; PSS_LINES_CUT, given as its first cap bytes
** (the rest skipped), for a line whose head is what counts (a smaps
** mapping line whose path is longer than anyone keeps). */
enum { PSS_LINES_FAIL = 0, PSS_LINES_SKIP = 1, PSS_LINES_CUT = 2 };
struct pss_lines {
  int fd, eof, long_lines, skipping, own_buf;
  char *buf;
  size_t cap, start, end;
};
int pss_lines_open(struct pss_lines *l, int dirfd, const char *name, size_t cap,
                   int long_lines) PSS_MUST_CHECK;
/* The same through the caller's buffer of cap bytes, which it keeps. */
int pss_lines_open_in(struct pss_lines *l, int dirfd, const char *name, char *buf, size_t cap,
                      int long_lines) PSS_MUST_CHECK;
/* The next line, without its '\n': 1, 0 at the end, or -errno. */
int pss_lines_next(struct pss_lines *l, const char **line, size_t *len);
void pss_lines_close(struct pss_lines *l);            /* idempotent */

/* The process's state letter, or that of thread tid, as the capture shows
** it: from before the freeze if the ptrace layer stopped it. */
char pss_target_state(const struct pss_target *t, pid_t tid, char now);

#pragma GCC visibility pop

#endif
