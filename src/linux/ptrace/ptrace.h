/*
** ptrace.h -- everything that stops, waits for or changes the target with
** ptrace: tracees and the tracer thread, the freeze of another process and
** of the calling one, thread registers, the VA clone. It reads /proc only
** through the proc layer (proc/proc.h, proc/procfs.h). What differs by
** machine is in ptrace/ARCH/, behind arch.h.
*/
#ifndef PSS_LINUX_PTRACE_PTRACE_H
#define PSS_LINUX_PTRACE_PTRACE_H

#include <stdint.h>
#include <sys/types.h>

#include "linux/common.h"
#include "linux/proc/proc.h"
#include "linux/ptrace/arch.h"
#include "linux/store/store.h"

#pragma GCC visibility push(hidden)

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
/* Either kind of freeze (stopped.c): a thread's registers (NULL if it was
** not frozen) and its state before the freeze (0 if not frozen; the
** target's state_before hook while its threads are stopped). */
const struct pss_registers *pss_target_registers(struct pss_target *t, pid_t tid, int fp,
                                                 int xstate, int *err);
char pss_stopped_state_before(const struct pss_target *t, pid_t tid);
/* The TEB (fs_base) and, with thread contexts, the CONTEXT of every
** stopped thread of the thread table. */
int pss_capture_contexts(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
/* PSS_LINUX_CAPTURE_STACKS (stacks.c): each stopped thread's stack into
** the auxiliary pages; after the contexts and the regions are taken. */
int pss_capture_stacks(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;


/* {======================================================================
** VA clone: of the calling process and read, released (vaclone.c); of
** another process, by injection (inject.c)
** ======================================================================= */
/* The calling process: a child made by a bare clone() system call. */
int pss_clone_self(struct pss_clone *c) PSS_MUST_CHECK;
/* Another process, frozen in fz: the clone is made by one of its threads. */
int pss_clone_inject(struct pss_target *t, struct pss_freeze *fz, struct pss_clone *c,
                     uint64_t *clone_us) PSS_MUST_CHECK;
/* After the thaw: the clone closes its descriptors and is parked. */
int pss_clone_settle(struct pss_clone *c) PSS_MUST_CHECK;
/* A clone just made: its handle (pidfd), oom score and mem file. */
int pss_clone_finish(struct pss_clone *c) PSS_MUST_CHECK;
/* What the clone holds of each captured region (CloneCoverage). */
int pss_clone_coverage(struct pss_target *t, struct pss_store *s) PSS_MUST_CHECK;
void pss_clone_release(struct pss_clone *c);      /* kills and reaps it */
/* Reads the clone's memory; the bytes read, or -errno if none could be. */
ssize_t pss_clone_read(const struct pss_clone *c, uint64_t address, void *buf, size_t n);
/*
** One system call run by a thread of a process frozen in fz, on a system
** call instruction of its own (the vDSO's): nr with args (unused ones
** 0). data, if len > 0 (at most 256 bytes), is put below that thread's
** stack for the call and its address passed as args[data_arg]. The
** thread's registers, signal mask (every signal blocked meanwhile) and
** those bytes are put back after. Returns 0 with the call's own result in
** *result (-errno of the call), or -errno (-EACCES: a seccomp filter of
** the thread would not allow it) with a detail.
*/
struct pss_lone_call {
  long nr;
  uint64_t args[6];
  const void *data;
  size_t len;
  int data_arg;
};
int pss_inject_syscall(struct pss_target *t, struct pss_freeze *fz,
                       const struct pss_lone_call *call, long *result) PSS_MUST_CHECK;
/* Another process's memory: all of n bytes (process_vm_readv, else the
** mem file memfd if >= 0), or -ESRCH / -EIO. */
int pss_mem_read(int memfd, pid_t pid, uint64_t address, void *buf, size_t n) PSS_MUST_CHECK;
/* }====================================================================== */

#pragma GCC visibility pop

#endif
