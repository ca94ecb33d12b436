/*
** internal.h -- what the Linux files of libpss share. Nothing here is
** exported: the only public names are the Pss* functions of pss.h.
**
** Conventions: helpers return 0 or -errno; pss_win32_error() maps errno to a
** Win32 code once, at the API boundary. Out-parameters are written only on
** success; destructors accept NULL.
*/
#ifndef PSS_LINUX_INTERNAL_H
#define PSS_LINUX_INTERNAL_H


#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "pss.h"

/* Internal: hidden from the shared objects that link libpss, whatever
** the build flags (LuaRocks builds without -fvisibility=hidden). */
#pragma GCC visibility push(hidden)

#define PSS_EXPORT __attribute__((visibility("default")))
#define PSS_MUST_CHECK __attribute__((warn_unused_result))

/* {======================================================================
** Growable buffers: malloc, or mmap when the capture asked for
** PSS_CREATE_USE_VM_ALLOCATIONS (no heap use at all).
** ======================================================================= */
struct pss_buf {
  char *data;
  size_t len, cap;
  int vm;          /* memory comes from mmap/mremap */
};

int pss_buf_reserve(struct pss_buf *b, size_t extra) PSS_MUST_CHECK;
/* Appends n bytes (aligned to `align`), returns the offset or -ENOMEM. */
int64_t pss_buf_append(struct pss_buf *b, const void *p, size_t n, size_t align);
void pss_buf_free(struct pss_buf *b);
/* }====================================================================== */


/* {======================================================================
** The snapshot store: immutable once captured, shared by duplicates.
** Rows are the Linux extension entries (the Windows entry first); their
** pointer fields hold offsets+1 into the table's string pool until a walk
** relocates them into the marker's copy of that pool.
** ======================================================================= */
enum pss_table_id { PSS_TABLE_NONE = 0, PSS_TABLE_REGIONS = 1,
                    PSS_TABLE_HANDLES = 2, PSS_TABLE_THREADS = 3,
                    PSS_TABLE_COUNT = 4 };

struct pss_table {
  struct pss_buf rows;     /* array of row_size records */
  struct pss_buf strings;  /* UTF-16 and byte strings of those rows */
  size_t row_size;
  size_t count;
};

/* A thread row: the public Linux entry plus its UTF-16 name for
** PSS_WALK_THREAD_NAME. */
struct pss_thread_row {
  PSS_LINUX_THREAD_ENTRY e;
  uintptr_t name16;        /* offset+1 into strings, 0 if none */
  WORD name16_len;         /* bytes */
};

/* The VA clone: a process holding the target's memory as it was at the
** capture instant (vaclone.c). */
struct pss_clone {
  pid_t pid;               /* in our pid namespace; 0 if the snapshot has none */
  int self;                /* our own child: a clone of the calling process */
  int hold;                /* self: the write end of the pipe whose EOF ends it */
  int pidfd;               /* PSS_VA_CLONE_INFORMATION.VaCloneHandle */
  int procdir;             /* that handle is a /proc/PID directory, not a pidfd */
  int memfd;               /* /proc/CLONE/mem, for what process_vm_readv cannot read */
  uint64_t site, parking;  /* another process's clone: where its stub is, and a
                              syscall instruction to park it on */
  struct pss_tracer *keeper;  /* another process's clone: the thread tracing it */
  pid_t owner;             /* the process that made it (a fork of it does not own it) */
};

struct pss_store {
  atomic_int refs;
  uint64_t serial;         /* unique per store: keys a marker's pool copies */
  PSS_CAPTURE_FLAGS flags;
  int vm;
  PSS_LINUX_PROCESS_INFORMATION process; /* pointers absolute into pstrings */
  struct pss_buf pstrings;
  PSS_PERFORMANCE_COUNTERS perf;
  UINT64 freeze_cycles, freeze_us;  /* how long the target was stopped */
  DWORD threads_frozen;
  DWORD context_length;             /* bytes of each ContextRecord, 0 without */
  struct pss_table tables[PSS_TABLE_COUNT];
  struct pss_clone clone;
};

struct pss_store *pss_store_new(PSS_CAPTURE_FLAGS flags);
void pss_store_release(struct pss_store *s);
/* Stores a string in a table's pool as UTF-16 (with a NUL unit); returns
** offset+1 and the length in bytes (without the NUL), or -ENOMEM. */
int64_t pss_table_utf16(struct pss_table *t, const char *bytes, size_t n,
                        WORD *len_bytes);
int64_t pss_table_bytes(struct pss_table *t, const char *bytes, size_t n);
void *pss_table_add_row(struct pss_table *t);   /* zeroed; NULL on ENOMEM */
static inline void *pss_table_row(struct pss_table *t, size_t i) {
  return t->rows.data + i * t->row_size;
}
/* }====================================================================== */


/* {======================================================================
** Handle registry: HPSS / HPSSWALK are slot numbers with a generation, so a
** freed or forged handle is detected instead of dereferenced.
** ======================================================================= */
enum pss_kind { PSS_KIND_SNAPSHOT = 1, PSS_KIND_MARKER = 2 };
uintptr_t pss_registry_add(enum pss_kind kind, void *object);  /* 0: ENOMEM */
/* Looks a handle up; for snapshots takes a store reference. */
void *pss_registry_get(uintptr_t handle, enum pss_kind kind);
void *pss_registry_remove(uintptr_t handle, enum pss_kind kind);
/* }====================================================================== */


/* {======================================================================
** Tracees (tracee.c): waits no wait of the caller can take, each bounded
** by the wait limit; the tracer thread (tracer.c) that does the ptrace
** work of a capture, and keeps a snapshot's clone
** ======================================================================= */
uint64_t pss_now_us(void);                 /* CLOCK_MONOTONIC */
uint64_t pss_deadline(void);               /* now + the wait limit */
unsigned pss_wait_limit_ms(void);

enum { PSS_STOP_TRAP = 1, PSS_STOP_EXITED = 2 };
struct pss_stop {
  int kind;        /* PSS_STOP_TRAP: in a ptrace stop; PSS_STOP_EXITED: ended */
  int sig;         /* the stop's signal; SIGTRAP|0x80 for a system-call stop */
  int event;       /* PTRACE_EVENT_* of an event stop, else 0 */
  int status;      /* wait status of an end we collected; -1 otherwise */
  int held;        /* ended, but its end is not reported yet: still our tracee */
};
#define PSS_WAIT_KEEP_EXIT 1   /* never collect its end: our own child's is its parent's */
#define PSS_WAIT_END 2         /* only its end is an answer */
/* 0 with *st filled, -ETIMEDOUT past the deadline, or -errno. */
int pss_tracee_wait(pid_t tid, int flags, uint64_t deadline, struct pss_stop *st) PSS_MUST_CHECK;
/* Collects the end of a tracee or child that was killed (bounded). */
void pss_tracee_collect(pid_t pid);
/* Whether a thread has died (a zombie, or gone), as /proc says. */
int pss_tracee_dead(pid_t tid);

struct pss_tracer;
int pss_tracer_start(struct pss_tracer **out) PSS_MUST_CHECK;
/* Runs job(arg) on the tracer thread; returns its result, and passes its
** failure detail on to the calling thread. Once the job has run for 0.2 s
** (or the wait limit, if shorter), rescue(arg) runs on the calling thread
** every 50 ms until it ends (NULL: none). */
int pss_tracer_run(struct pss_tracer *tr, int (*job)(void *), void (*rescue)(void *), void *arg);
/* Ends the thread: the kernel lets go of every tracee it still has. NULL-safe. */
void pss_tracer_stop(struct pss_tracer *tr);

/* Why the kernel refused to let us trace a thread (access.c): -EBUSY or
** -EPERM with a detail noted, or 1 if the thread is gone. */
struct pss_target;
int pss_explain_refusal(struct pss_target *t, int taskfd, pid_t tid);
/* Yama's ptrace_scope (0 where Yama is absent). */
int pss_yama_scope(void);
/* }====================================================================== */


/* {======================================================================
** Freeze: every thread of another process stopped for the capture
** ======================================================================= */
struct frozen_thread;
struct pss_freeze {
  struct frozen_thread *threads;   /* [0, sorted) sorted by tid; then this pass's */
  size_t n, cap, sorted;
  size_t count;                    /* threads that were frozen (set by thaw) */
  size_t unreleased;               /* threads thaw could not let go of (set by thaw) */
  pid_t leader;                    /* the main thread, reaped last */
  int own_child;                   /* the target is our child: its exit is not ours to take */
  uint64_t started_us, frozen_us;  /* when the freeze began; how long it held */
  uint64_t deadline;               /* every stop must come before it */
};
int pss_freeze(struct pss_target *t, struct pss_freeze *fz) PSS_MUST_CHECK;
int pss_is_own_child(struct pss_target *t);
/* From another thread while the freeze is late: collects the ends of the
** target's threads that died traced by us (an execve waits for them). */
void pss_freeze_rescue(pid_t pid, int own_child);
void pss_thaw(struct pss_freeze *fz);              /* NULL-safe, once */
int pss_frozen(const struct pss_freeze *fz, pid_t tid);
pid_t pss_freeze_injector(const struct pss_freeze *fz);
pid_t pss_freeze_thread(const struct pss_freeze *fz, size_t i);
/* A thread's state letter as found before the freeze; 0 if not frozen. */
char pss_state_before(const struct pss_freeze *fz, pid_t tid);

/* The calling process: a helper child freezes its other threads. */
struct pss_self_freeze;
int pss_self_freeze(struct pss_target *t, struct pss_self_freeze **out, DWORD context_flags)
  PSS_MUST_CHECK;
void pss_self_thaw(struct pss_self_freeze *sf);        /* NULL-safe, once */
size_t pss_self_frozen_count(const struct pss_self_freeze *sf);
const struct pss_registers *pss_self_registers(const struct pss_self_freeze *sf, pid_t tid,
                                               char *before);
void pss_own_registers(struct pss_registers *r);       /* the calling thread's, now */
/* Either kind of freeze: a thread's registers (NULL if it was not frozen)
** and its state before the freeze (0 if not frozen). */
const struct pss_registers *pss_target_registers(struct pss_target *t, pid_t tid, int fp,
                                                 int xstate, int *err);
char pss_target_state_before(const struct pss_target *t, pid_t tid);

/* A thread's registers as the kernel gives them (x86-64 layouts). */
struct pss_registers {
  _Alignas(16) unsigned char gp[27 * 8];   /* NT_PRSTATUS: user_regs_struct */
  unsigned char fp[512];                    /* NT_PRFPREG: the FXSAVE image */
  int have_fp;
  unsigned known;                           /* PSS_LINUX_REGISTER_*: what holds the thread's values */
  size_t xstate_len;
  _Alignas(64) unsigned char xstate[16384]; /* NT_X86_XSTATE: the XSAVE area */
};
/* Rax..R15, Rip, EFlags and the segment selectors */
#define PSS_LINUX_ALL_GENERAL_REGISTERS 0x0007FFFFu
int pss_thread_registers(pid_t tid, struct pss_registers *r, int want_fp, int want_xstate);
uint64_t pss_registers_fs_base(const struct pss_registers *r);
#if defined(__x86_64__)
void pss_fill_context(CONTEXT *c, const struct pss_registers *r, pid_t tid, DWORD flags);
#endif
/* }====================================================================== */


/* {======================================================================
** Capture: one /proc/PID directory, read relative to its fd.
** ======================================================================= */
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
  struct pss_freeze *freeze;      /* the target's threads, stopped; NULL for self */
  struct pss_self_freeze *self_freeze;  /* the caller's other threads, with contexts */
  struct pss_registers *regs;     /* room to read one thread's registers */
  int own_child;                  /* the target is our own child (another process) */
  DWORD context_flags;            /* CONTEXT_* to capture, 0 for none */
};

/* Reads a whole /proc file relative to dirfd into t->scratch (NUL
** terminated); returns its length or -errno. */
ssize_t pss_read_at(struct pss_target *t, int dirfd, const char *name);
/* The same for one-record files (stat, status, fdinfo, syscall): no read
** just to see the end. */
ssize_t pss_read_record(struct pss_target *t, int dirfd, const char *name);
int pss_target_alive(const struct pss_target *t) PSS_MUST_CHECK;
/* The numeric entries of a directory (tasks, fds), sorted; free() them. */
int pss_list_numbers(int dirfd, pid_t **out, size_t *n) PSS_MUST_CHECK;

int pss_capture_process(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_threads(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_handles(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
int pss_capture_regions(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;

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
/* }====================================================================== */


/* {======================================================================
** VA clone (vaclone.c)
** ======================================================================= */
/* The calling process: a child made by a bare clone() system call. */
int pss_clone_self(struct pss_clone *c) PSS_MUST_CHECK;
/* Another process, frozen in fz: the clone is made by one of its threads. */
int pss_clone_inject(struct pss_target *t, struct pss_freeze *fz, struct pss_clone *c,
                     uint64_t *clone_us) PSS_MUST_CHECK;
/* After the thaw: the clone closes its descriptors and is parked. */
int pss_clone_settle(struct pss_clone *c) PSS_MUST_CHECK;
/* What the clone holds of each captured region (CloneCoverage). */
int pss_clone_coverage(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
void pss_clone_release(struct pss_clone *c);      /* kills and reaps it */
/* Reads the clone's memory; the bytes read, or -errno if none could be. */
ssize_t pss_clone_read(const struct pss_clone *c, uint64_t address, void *buf, size_t n);
/* Why the last failure of this thread happened, in words (copied; NULL
** clears); pss_take_detail moves it out, to hand it to another thread. */
#define PSS_DETAIL_MAX 256
void pss_fail_detail(const char *detail);
void pss_fail_detailf(const char *format, ...) __attribute__((format(printf, 1, 2)));
void pss_take_detail(char *out, size_t size);
/* }====================================================================== */


/* {======================================================================
** Errors
** ======================================================================= */
/* Maps -errno (or 0) to a Win32 code and records errno for the thread. */
DWORD pss_win32_error(int neg_errno);
/* Records a Win32 failure that has no errno behind it. */
DWORD pss_fail(DWORD code);
/* }====================================================================== */

#pragma GCC visibility pop

#endif
