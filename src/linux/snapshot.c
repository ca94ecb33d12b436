/*
** snapshot.c -- PssCaptureSnapshot, PssFreeSnapshot, PssDuplicateSnapshot
** and the Linux process-handle extensions (pidfds).
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "linux/file/handoff.h"
#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#define CAPTURE_HANDLE_DETAILS (PSS_CAPTURE_HANDLE_NAME_INFORMATION |             \
                                PSS_CAPTURE_HANDLE_BASIC_INFORMATION |            \
                                PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION)
#define CAPTURE_SUPPORTED (PSS_CAPTURE_HANDLES | CAPTURE_HANDLE_DETAILS |         \
                           CAPTURE_CONTEXTS |                                     \
                           PSS_CAPTURE_HANDLE_TRACE | PSS_CAPTURE_THREADS |       \
                           PSS_CAPTURE_VA_CLONE | PSS_CAPTURE_VA_SPACE |          \
                           PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION)
#define CAPTURE_CONTEXTS (PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_THREAD_CONTEXT_EXTENDED)
/* Intel PT traces have no Linux counterpart here: refused rather than
** answered with an empty result. */
#define CAPTURE_UNSUPPORTED PSS_CAPTURE_IPT_TRACE
#define CREATE_OPTIONS (PSS_CREATE_BREAKAWAY_OPTIONAL | PSS_CREATE_BREAKAWAY |    \
                        PSS_CREATE_FORCE_BREAKAWAY | PSS_CREATE_USE_VM_ALLOCATIONS | \
                        PSS_CREATE_MEASURE_PERFORMANCE | PSS_CREATE_RELEASE_SECTION)
#define CAPTURE_LINUX (PSS_LINUX_CAPTURE_UNFROZEN | PSS_LINUX_CAPTURE_FREEZE_OPTIONAL | \
                       PSS_LINUX_CAPTURE_STACKS | PSS_LINUX_CAPTURE_MEMORY_USAGE)
/* What must describe one instant (the tables), and what needs the target's
** threads stopped whatever the caller allows (ptrace: their registers, a
** system call run by one of them). The process record alone needs neither. */
#define CAPTURE_TABLES (PSS_CAPTURE_THREADS | PSS_CAPTURE_HANDLES | PSS_CAPTURE_VA_SPACE)
#define CAPTURE_NEEDS_PTRACE (CAPTURE_CONTEXTS | PSS_CAPTURE_VA_CLONE | PSS_LINUX_CAPTURE_STACKS)


/* {======================================================================
** Process handles
** ======================================================================= */

/* A /proc/PID directory fd (the fallback handle): its pid, if still there. */
static int procdir_pid (int fd, pid_t *pid) {
  char path[64], link[64];
  ssize_t n;
  int p, deleted;
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if ((n = readlink(path, link, sizeof link)) < 0 ||
      pss_parse_procdir_link(link, (size_t)n, &p, &deleted) < 0)
    return -EBADF;
  /* once the process is reaped the link reads "/proc/PID (deleted)" */
  if (faccessat(fd, "stat", F_OK, 0) < 0) return -ESRCH;
  *pid = (pid_t)p;
  return 0;
}

/*
** Linux 6.13 and later answer a pidfd's pid with one ioctl, where its
** fdinfo takes three system calls and a parse. The ioctl is asked only of
** an fd that is a pidfd (its file system is pidfs, Linux 6.9): a device's
** driver could read the number as its own request. 1: not answered here.
*/
#define PSS_PIDFS_MAGIC 0x50494446u
struct pss_pidfd_info {             /* struct pidfd_info, its first 64 bytes */
  uint64_t mask, cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
};
#define PSS_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pss_pidfd_info)
_Static_assert(sizeof(struct pss_pidfd_info) == 64, "PIDFD_INFO_SIZE_VER0");

static int pidfs_pid (int fd, pid_t *pid) {
  struct statfs fs;
  struct pss_pidfd_info info;
  if (fstatfs(fd, &fs) < 0) return -EBADF;
  if ((uint32_t)fs.f_type != PSS_PIDFS_MAGIC) return 1;
  memset(&info, 0, sizeof info);
  info.mask = 1;                    /* PIDFD_INFO_PID */
  /* an older kernel; or ESRCH, which is also a pid not visible here:
  ** fdinfo tells those apart */
  if (ioctl(fd, PSS_PIDFD_GET_INFO, &info) < 0) return 1;
  if (info.pid == 0) return -EPERM;  /* not visible in our pid namespace */
  *pid = (pid_t)info.pid;
  return 0;
}

/*
** The pid a process handle names: -EBADF if fd is not one, -ESRCH once the
** process is reaped. A handle is a pidfd, or where pidfd_open is missing
** (Linux < 5.3, valgrind 3.19) an fd of /proc/PID: both stay bound to
** their process, so neither can be redirected by pid reuse.
*/
static int pidfd_pid (int fd, pid_t *pid) {
  char path[64], text[512];
  struct pss_fdinfo fi;
  ssize_t n;
  if (fd < 0) return -EBADF;
  if ((n = pidfs_pid(fd, pid)) != 1) return (int)n;
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  if ((n = pss_proc_read(AT_FDCWD, path, text, sizeof text)) <= 0 ||
      pss_parse_fdinfo(text, (size_t)n, &fi) < 0)
    return -EBADF;
  if (!fi.has_pid) return procdir_pid(fd, pid);
  *pid = (pid_t)fi.pid;
  if (*pid < 0) return -ESRCH;
  return *pid == 0 ? -EPERM : 0;   /* 0: not visible in our pid namespace */
}

static int handle_fd (HANDLE h) {
  intptr_t v = (intptr_t)h;
  return v >= 0 && v <= INT_MAX ? (int)v : -1;
}

static int handle_pid (HANDLE h, pid_t *pid) {
  if (h == PSS_LINUX_CURRENT_PROCESS) { *pid = getpid(); return 0; }
  return pidfd_pid(handle_fd(h), pid);
}

/*
** After /proc/PID is opened: the handle's process still holds the pid, so
** the directory is its. A pidfd is asked with a null signal, which reaches
** its process, alive or a zombie, until it is reaped (one system call
** where its fdinfo takes three); where that cannot answer (a /proc/PID
** handle, a process we may not signal) the handle's pid is read again.
*/
static int handle_still (HANDLE h) {
  pid_t again;
  if (syscall(SYS_pidfd_send_signal, handle_fd(h), 0, NULL, 0) == 0) return 0;
  if (errno == ESRCH) return -ESRCH;
  return handle_pid(h, &again);
}

/* 1 if the handle names the calling process, 0 if another, or -errno. */
static int is_current_process (HANDLE h) {
  pid_t pid;
  int rc = handle_pid(h, &pid);
  if (rc == -ESRCH || rc == -EPERM) return 0;   /* surely not us */
  return rc < 0 ? rc : pid == getpid();
}

PSS_EXPORT DWORD PssLinuxOpenProcess (DWORD ProcessId, HANDLE *ProcessHandle) {
  int fd;
  if (ProcessHandle == NULL || ProcessId == 0 || ProcessId > INT_MAX)
    return pss_fail(ERROR_INVALID_PARAMETER);
  fd = (int)syscall(SYS_pidfd_open, (pid_t)ProcessId, 0);
  if (fd < 0 && errno == ENOSYS) {
    fd = pss_proc_open((pid_t)ProcessId, NULL, 0);
    if (fd < 0) errno = -fd;
  }
  if (fd < 0) {
    if (errno == ESRCH || errno == EINVAL) return pss_win32_error(-EINVAL);
    return pss_win32_error(-errno);
  }
  if (fd < 3) {    /* never 0: a handle must not look like NULL */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    if (high < 0) return pss_win32_error(-e);
    fd = high;
  }
  *ProcessHandle = (HANDLE)(intptr_t)fd;
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD PssLinuxCloseProcess (HANDLE ProcessHandle) {
  pid_t pid;
  int rc;
  if (ProcessHandle == PSS_LINUX_CURRENT_PROCESS) return ERROR_SUCCESS;
  rc = pidfd_pid(handle_fd(ProcessHandle), &pid);
  if (rc == -EBADF) return pss_win32_error(rc);
  close(handle_fd(ProcessHandle));
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD PssLinuxGetProcessId (HANDLE ProcessHandle, DWORD *ProcessId) {
  pid_t pid;
  int rc;
  if (ProcessId == NULL) return pss_fail(ERROR_INVALID_PARAMETER);
  if ((rc = handle_pid(ProcessHandle, &pid)) < 0) return pss_win32_error(rc);
  *ProcessId = (DWORD)pid;
  return ERROR_SUCCESS;
}
/* }====================================================================== */


/* {======================================================================
** Capture
** ======================================================================= */
static uint64_t cycles (void) {
  return pss_cycles();
}


/* PssLinuxSetStackLimit: per calling thread, so that two threads
** capturing with different limits never see each other's. */
static _Thread_local DWORD stack_limit = PSS_LINUX_STACK_LIMIT_DEFAULT;

PSS_EXPORT DWORD PssLinuxSetStackLimit (DWORD Bytes) {
  DWORD previous = stack_limit;
  if (Bytes != 0) stack_limit = Bytes;
  return previous;
}

/* The boot instant as a FILETIME: /proc start times count from boot. */
static uint64_t boot_filetime (void) {
  struct timespec real, boot;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return PSS_FILETIME_UNIX_EPOCH +
         ((uint64_t)real.tv_sec - (uint64_t)boot.tv_sec) * 10000000u +
         ((int64_t)real.tv_nsec - (int64_t)boot.tv_nsec) / 100;
}

/*
** /proc/PID is opened after the pidfd exists and checked alive after: the
** pid then cannot have been reused in between, so every later openat()
** reads the process the handle names (or fails once it is reaped).
*/
static int target_open (HANDLE h, PSS_CAPTURE_FLAGS flags, struct pss_target *t) {
  int rc;
  memset(t, 0, sizeof *t);
  t->dirfd = t->livefd = -1;
  t->self = h == PSS_LINUX_CURRENT_PROCESS;
  if ((rc = handle_pid(h, &t->pid)) < 0) return rc;
  t->self = t->pid == getpid();     /* a pidfd of our own process is "self" too */
  if ((t->dirfd = pss_proc_open(t->pid, NULL, 0)) < 0) return t->dirfd;
  /* the handle's process still has this pid, so the directory is its */
  if (!t->self && (rc = handle_still(h)) < 0) return rc;   /* and not reaped */
  t->livefd = t->dirfd;
  /* the states the freeze found, while one holds the target (0 otherwise) */
  t->state_before = pss_stopped_state_before;
  t->boot_filetime = boot_filetime();
  t->ticks = sysconf(_SC_CLK_TCK);
  if (t->ticks <= 0) t->ticks = 100;
  t->scratch_vm = (flags & PSS_CREATE_USE_VM_ALLOCATIONS) != 0;
  t->stack_limit = stack_limit;    /* the caller's: the copy runs on the tracer thread */
  return 0;
}

static void target_close (struct pss_target *t) {
  struct pss_buf b = { t->scratch, 0, t->scratch_cap, t->scratch_vm };
  if (t->regs != NULL) munmap(t->regs, sizeof *t->regs);
  if (t->livefd >= 0 && t->livefd != t->dirfd) close(t->livefd);
  if (t->dirfd >= 0) close(t->dirfd);
  pss_buf_free(&b);
}

typedef int (*capture_part)(struct pss_target *, struct pss_store *);

/* Runs one part, timing it into the performance counters. */
static int timed (capture_part part, struct pss_target *t, struct pss_store *s,
                  UINT64 *cycle_count, UINT64 *wall) {
  uint64_t c0 = cycles(), w0 = pss_now_us();
  int rc = part(t, s);
  *cycle_count = cycles() - c0;
  *wall = pss_now_us() - w0;
  return rc;
}

/* The thread table from /proc, then what the freeze knows of each thread. */
static int capture_threads (struct pss_target *t, struct pss_store *s) {
  int rc = pss_capture_threads(t, s);
  return rc < 0 ? rc : pss_capture_contexts(t, s);
}

static int capture_parts (struct pss_target *t, struct pss_store *s) {
  PSS_PERFORMANCE_COUNTERS *pc = &s->perf;
  int rc = pss_capture_process(t, s);
  if (rc == 0 && (s->flags & PSS_CAPTURE_THREADS))
    rc = timed(capture_threads, t, s, &pc->ThreadsCycleCount, &pc->ThreadsWallClockPeriod);
  if (rc == 0 && (s->flags & PSS_CAPTURE_HANDLES))
    rc = timed(pss_capture_handles, t, s, &pc->HandlesCycleCount, &pc->HandlesWallClockPeriod);
  if (rc == 0 && (s->flags & PSS_CAPTURE_VA_SPACE))
    rc = timed(pss_capture_regions, t, s, &pc->VaSpaceCycleCount, &pc->VaSpaceWallClockPeriod);
  /* last: it needs the stack pointers and, if captured, the regions */
  if (rc == 0 && (s->flags & PSS_LINUX_CAPTURE_STACKS))
    rc = timed(pss_capture_stacks, t, s, &pc->AuxPagesCycleCount, &pc->AuxPagesWallClockPeriod);
  return rc;
}

/*
** After the thaw (the target runs on): the build ids of the images the
** region table maps, timed with the VA space they describe.
*/
static void build_ids (struct pss_target *t, struct pss_store *s) {
  uint64_t c0, w0;
  if (!(s->flags & PSS_CAPTURE_VA_SPACE)) return;
  c0 = cycles();
  w0 = pss_now_us();
  pss_capture_build_ids(t, s);
  s->perf.VaSpaceCycleCount += cycles() - c0;
  s->perf.VaSpaceWallClockPeriod += pss_now_us() - w0;
}

static uint64_t cycles (void);

/* The calling process's clone: a fork, timed as Windows times the clone. */
static int clone_self (struct pss_store *s) {
  uint64_t c0 = cycles(), w0 = pss_now_us();
  int rc;
  if (!(s->flags & PSS_CAPTURE_VA_CLONE)) return 0;
  rc = pss_clone_self(&s->clone);
  s->perf.VaCloneCycleCount = cycles() - c0;
  s->perf.VaCloneWallClockPeriod = pss_now_us() - w0;
  return rc;
}

/*
** The calling process with thread contexts: a helper child freezes the
** other threads (selffreeze.c); the calling thread's registers are those
** at the call.
*/
static int capture_self_frozen (struct pss_target *t, struct pss_store *s, uint64_t c0) {
  uint64_t w0 = pss_now_us();
  int rc;
  pss_own_registers(t->regs);
  if ((rc = pss_self_freeze(t, &t->self_freeze, t->context_flags)) < 0) return rc;
  rc = clone_self(s);
  if (rc == 0) rc = capture_parts(t, s);
  s->threads_frozen = (DWORD)pss_self_frozen_count(t->self_freeze);
  pss_self_thaw(t->self_freeze);
  t->self_freeze = NULL;
  s->freeze_cycles = cycles() - c0;
  s->freeze_us = pss_now_us() - w0;
  return rc;
}

/* Another process's clone, made while its threads are stopped. */
static int clone_other (struct pss_target *t, struct pss_freeze *fz, struct pss_store *s) {
  uint64_t c0 = cycles(), us;
  int rc;
  if (!(s->flags & PSS_CAPTURE_VA_CLONE)) return 0;
  rc = pss_clone_inject(t, fz, &s->clone, &us);
  s->perf.VaCloneCycleCount = cycles() - c0;
  s->perf.VaCloneWallClockPeriod = us;
  return rc;
}

/*
** Another process is frozen for the whole capture, so the snapshot is one
** instant; the thaw runs on every path out. This runs on the capture's
** tracer thread.
*/
struct frozen_capture {
  struct pss_target *t;
  struct pss_store *s;
  size_t unreleased;
  int refused;             /* the kernel would not let us trace the target */
};

static int capture_other_frozen (void *arg) {
  struct frozen_capture *job = arg;
  struct pss_target *t = job->t;
  struct pss_store *s = job->s;
  struct pss_freeze fz;
  uint64_t c0 = cycles();
  int rc;
  if ((rc = pss_freeze(t, &fz)) < 0) {
    job->unreleased = fz.unreleased;
    /* another tracer (-EBUSY) is not a refusal: it is there to be detached */
    job->refused = rc == -EPERM;
    return rc;
  }
  t->freeze = &fz;
  /* the clone last: its injection changes the injecting thread's
  ** registers and system call for a moment; all threads stay stopped, so
  ** the memory is that of the instant the rest was read at */
  rc = capture_parts(t, s);
  if (rc == 0) rc = clone_other(t, &fz, s);
  pss_thaw(&fz);
  t->freeze = NULL;
  job->unreleased = fz.unreleased;
  s->freeze_cycles = cycles() - c0;
  s->freeze_us = fz.frozen_us;
  s->threads_frozen = (DWORD)fz.count;
  /* the target runs again; the clone is finished while it does -- or,
  ** if it cannot be, killed and collected here, by its tracer */
  if (rc == 0 && s->clone.pid > 0 && (rc = pss_clone_settle(&s->clone)) < 0)
    pss_clone_release(&s->clone);
  return rc;
}

/* On the calling thread, while the tracer thread works: it reads only what
** no one changes during the capture. */
static void rescue_frozen (void *arg) {
  const struct frozen_capture *job = arg;
  pss_freeze_rescue(job->t->pid, job->t->own_child);
}

/*
** The tracer thread stays as the keeper of a clone; otherwise it ends,
** and with it whatever it could not let go of (a thread that never
** stopped): the kernel detaches those when it exits. A clone cannot be
** kept by a thread that must end, so such a capture fails.
*/
static int capture_other (struct pss_target *t, struct pss_store *s, int *refused) {
  struct frozen_capture job = { t, s, 0, 0 };
  struct pss_tracer *tr;
  int rc;
  t->own_child = pss_is_own_child(t);
  if ((rc = pss_tracer_start(&tr)) < 0) return rc;
  rc = pss_tracer_run(tr, capture_other_frozen, rescue_frozen, &job);
  if (rc == 0 && job.unreleased > 0 && s->clone.pid > 0) {
    pss_fail_detailf("%zu thread(s) of the target could not be let go of in time", job.unreleased);
    rc = -ETIMEDOUT;
  }
  if (rc == 0 && s->clone.pid > 0) s->clone.keeper = tr;
  else pss_tracer_stop(tr);
  *refused = job.refused;
  return rc;
}

/* Reads the target while it runs, saying why it was not stopped. */
static int capture_running (struct pss_target *t, struct pss_store *s, const char *why) {
  t->capture_mode = PSS_LINUX_CAPTURE_MODE_RUNNING;
  snprintf(t->not_frozen, sizeof t->not_frozen, "%s", why);
  return capture_parts(t, s);
}

/*
** Where ptrace is refused (Yama, no CAP_SYS_PTRACE, a seccomp filter, a
** kernel thread), a caller that allows it gets the target
** read while running, with the refusal's words as the reason.
*/
static int capture_refused (struct pss_target *t, struct pss_store *s, int rc) {
  char detail[PSS_DETAIL_MAX], why[sizeof t->not_frozen];
  pss_take_detail(detail, sizeof detail);
  snprintf(why, sizeof why, "ptrace refused: %s", detail[0] != '\0' ? detail : strerror(-rc));
  return capture_running(t, s, why);
}

/*
** The capture as the flags ask: frozen at one instant where the parts must
** agree or ptrace is needed; read while running where nothing asked needs
** it (the process record alone), or the caller asked for that.
*/
static int capture_taken (struct pss_target *t, struct pss_store *s) {
  uint64_t c0 = cycles();
  int rc, refused = 0;
  t->capture_mode = PSS_LINUX_CAPTURE_MODE_FROZEN;
  t->not_frozen[0] = '\0';
  if (s->flags & PSS_LINUX_CAPTURE_UNFROZEN)
    return capture_running(t, s, "the capture was asked not to stop the target");
  if (!(s->flags & (CAPTURE_TABLES | CAPTURE_NEEDS_PTRACE)))
    return capture_running(t, s, "the process record alone needs no freeze");
  if (t->self && t->context_flags == 0) {
    rc = clone_self(s);
    return rc == 0 ? capture_running(t, s, "the calling process runs on while it reads itself")
                   : rc;
  }
  /* mmap, not malloc: PSS_CREATE_USE_VM_ALLOCATIONS means no heap at all */
  t->regs = mmap(NULL, sizeof *t->regs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (t->regs == MAP_FAILED) { t->regs = NULL; return -ENOMEM; }
  if (t->self) return capture_self_frozen(t, s, c0);
  rc = capture_other(t, s, &refused);
  if (rc < 0 && refused && (s->flags & PSS_LINUX_CAPTURE_FREEZE_OPTIONAL) &&
      !(s->flags & CAPTURE_NEEDS_PTRACE))
    rc = capture_refused(t, s, rc);
  return rc;
}

/* A process whose every thread has ended (a zombie): no failure of a
** capture of it means more than that. */
static int target_ended (struct pss_target *t) {
  struct pss_stat st;
  ssize_t n = pss_read_record(t, t->dirfd, "stat");
  return n > 0 && pss_parse_stat(t->scratch, (size_t)n, &st) == 0 &&
         (st.state == 'Z' || st.state == 'X') && st.num_threads <= 1;
}

/*
** A process that ends while its tables are read leaves them cut short
** without a failed read: its maps and smaps end early once its memory is
** gone, its fd directory empties. So a capture of a process that had not
** ended (a zombie is captured as one) is refused if it is exiting by the
** time the tables are read, even though every read succeeded.
*/
static int capture_into (struct pss_target *t, struct pss_store *s) {
  PSS_PERFORMANCE_COUNTERS *pc = &s->perf;
  uint64_t c0 = cycles(), w0 = pss_now_us();
  int ended_before = !t->self && target_ended(t);
  int rc = capture_taken(t, s);
  if (rc == 0 && !t->self && !ended_before && pss_target_exiting(t)) rc = -ESRCH;
  if (rc == 0) build_ids(t, s);
  if (rc == 0) rc = pss_clone_coverage(t, s);
  pc->TotalCycleCount = cycles() - c0;
  pc->TotalWallClockPeriod = pss_now_us() - w0;
  /* a file that vanished, a write refused, a thread that did not stop
  ** because the process did: it exited */
  if (rc < 0 && (!pss_target_alive(t) || target_ended(t))) rc = -ESRCH;
  return rc;
}


static DWORD check_capture_flags (PSS_CAPTURE_FLAGS f, int self) {
  if (f & ~(CAPTURE_SUPPORTED | CAPTURE_UNSUPPORTED | CREATE_OPTIONS | CAPTURE_LINUX))
    return ERROR_INVALID_PARAMETER;      /* reserved or undefined bits */
  if ((f & PSS_LINUX_CAPTURE_UNFROZEN) && (f & CAPTURE_NEEDS_PTRACE))
    return ERROR_INVALID_PARAMETER;      /* contexts and a clone need the threads stopped */
  if (((f & CAPTURE_HANDLE_DETAILS) && !(f & PSS_CAPTURE_HANDLES)) ||
      ((f & PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION) && !(f & PSS_CAPTURE_VA_SPACE)) ||
      ((f & CAPTURE_CONTEXTS) && !(f & PSS_CAPTURE_THREADS)) ||
      ((f & PSS_LINUX_CAPTURE_STACKS) && !(f & PSS_CAPTURE_THREAD_CONTEXT)) ||
      ((f & PSS_LINUX_CAPTURE_MEMORY_USAGE) && !(f & PSS_CAPTURE_VA_SPACE)))
    return ERROR_INVALID_PARAMETER;
  if (f & CAPTURE_UNSUPPORTED) return ERROR_NOT_SUPPORTED;
  /* what the machine has no port for (ptrace/ARCH/regs.h) */
  if (f & PSS_ARCH_UNSUPPORTED_CAPTURES) return ERROR_NOT_SUPPORTED;
  (void)self;
  return ERROR_SUCCESS;
}

/* The CONTEXT_* parts to capture; flags without CONTEXT_AMD64 are taken
** as meant for it. EXTENDED adds the XSAVE area. */
static DWORD context_flags (PSS_CAPTURE_FLAGS f, DWORD requested) {
  if (!(f & CAPTURE_CONTEXTS)) return 0;
  requested |= CONTEXT_AMD64;
  if (f & PSS_CAPTURE_THREAD_CONTEXT_EXTENDED) requested |= CONTEXT_XSTATE;
  return requested;
}

PSS_EXPORT DWORD WINAPI PssCaptureSnapshot (HANDLE ProcessHandle,
                                            PSS_CAPTURE_FLAGS CaptureFlags,
                                            DWORD ThreadContextFlags,
                                            HPSS *SnapshotHandle) {
  struct pss_target t;
  struct pss_store *s = NULL;
  uintptr_t h;
  DWORD code;
  int rc, cancel;
  pss_fail_detail(NULL);
  if (SnapshotHandle == NULL) return pss_fail(ERROR_INVALID_PARAMETER);
  code = check_capture_flags(CaptureFlags, ProcessHandle == PSS_LINUX_CURRENT_PROCESS);
  if (code != ERROR_SUCCESS) return pss_fail(code);
  /* a capture waits (for its threads, its helpers): a pthread_cancel
  ** there would leave threads of the target stopped; it acts at the
  ** caller's next cancellation point instead */
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  if ((rc = target_open(ProcessHandle, CaptureFlags, &t)) < 0) goto fail;
  t.context_flags = context_flags(CaptureFlags, ThreadContextFlags);
  if ((s = pss_store_new(CaptureFlags)) == NULL) { rc = -ENOMEM; goto fail; }
  if ((rc = capture_into(&t, s)) < 0) goto fail;
  if ((h = pss_registry_add(PSS_KIND_SNAPSHOT, s)) == 0) { rc = -ENOMEM; goto fail; }
  target_close(&t);
  pthread_setcancelstate(cancel, NULL);
  *SnapshotHandle = (HPSS)h;
  return ERROR_SUCCESS;
fail:
  pss_store_release(s);
  target_close(&t);
  pthread_setcancelstate(cancel, NULL);
  return pss_win32_error(rc);
}
/* }====================================================================== */


/* {======================================================================
** Free, duplicate
**
** Within the calling process a duplicate is a second handle to the same
** immutable store. Another process gets, or gives, a sealed copy of it
** (file/handoff.c): the handle there names a descriptor of its own.
** ======================================================================= */

/* A snapshot of this process let go of: a slot of the registry, or a
** descriptor another process handed over. 0 or -EBADF. */
static int free_local (HPSS SnapshotHandle) {
  uintptr_t h = (uintptr_t)SnapshotHandle;
  struct pss_store *s;
  if (pss_handoff_fd(h) >= 0) return pss_handoff_free(h);
  if ((s = pss_registry_remove(h, PSS_KIND_SNAPSHOT)) == NULL) return -EBADF;
  pss_store_release(s);
  return 0;
}

/* A snapshot another process holds, freed there (its descriptor closed). */
static int free_remote (HANDLE ProcessHandle, HPSS SnapshotHandle) {
  struct pss_target t;
  int rc = target_open(ProcessHandle, 0, &t);
  if (rc == 0) rc = pss_handoff_drop(&t, (uintptr_t)SnapshotHandle);
  target_close(&t);
  return rc;
}

/*
** The release joins a keeper thread, a free in another process stops it
** for a moment: neither is cancelled halfway.
*/
PSS_EXPORT DWORD WINAPI PssFreeSnapshot (HANDLE ProcessHandle, HPSS SnapshotHandle) {
  int cur, rc, cancel;
  pss_fail_detail(NULL);
  if ((cur = is_current_process(ProcessHandle)) < 0) return pss_win32_error(cur);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  rc = cur ? free_local(SnapshotHandle) : free_remote(ProcessHandle, SnapshotHandle);
  pthread_setcancelstate(cancel, NULL);
  return pss_win32_error(rc);
}

/* The store a handle of the source holds: a reference to ours, or
** another process's snapshot loaded here. */
static int fetch (HANDLE process, int local, HPSS SnapshotHandle, struct pss_store **out) {
  struct pss_target t;
  int rc;
  if (local) {
    *out = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT);
    return *out != NULL ? 0 : -EBADF;
  }
  if ((rc = target_open(process, 0, &t)) == 0) rc = pss_handoff_fetch(&t, (uintptr_t)SnapshotHandle, out);
  target_close(&t);
  return rc;
}

/* A handle to s in the target process; takes the fetch's reference. */
static int put (HANDLE process, int local, struct pss_store *s, uintptr_t *out) {
  struct pss_target t;
  int rc;
  if (local) {
    /* the fetch's reference becomes the new handle's */
    if ((*out = pss_registry_add(PSS_KIND_SNAPSHOT, s)) != 0) return 0;
    pss_store_release(s);
    return -ENOMEM;
  }
  if ((rc = target_open(process, 0, &t)) == 0) rc = pss_handoff_put(&t, s, out);
  target_close(&t);
  pss_store_release(s);
  return rc;
}

/* PSS_DUPLICATE_CLOSE_SOURCE, whatever the duplication gave: its detail stays. */
static void close_source (HANDLE process, int local, HPSS SnapshotHandle) {
  char detail[PSS_DETAIL_MAX];
  pss_take_detail(detail, sizeof detail);
  (void)(local ? free_local(SnapshotHandle) : free_remote(process, SnapshotHandle));
  pss_fail_detail(detail);
}

PSS_EXPORT DWORD WINAPI PssDuplicateSnapshot (HANDLE SourceProcessHandle,
                                              HPSS SnapshotHandle,
                                              HANDLE TargetProcessHandle,
                                              HPSS *TargetSnapshotHandle,
                                              PSS_DUPLICATE_FLAGS Flags) {
  struct pss_store *s;
  uintptr_t h = 0;
  int src, dst, rc, cancel;
  pss_fail_detail(NULL);
  if ((src = is_current_process(SourceProcessHandle)) < 0) return pss_win32_error(src);
  dst = is_current_process(TargetProcessHandle);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  if ((Flags & ~PSS_DUPLICATE_CLOSE_SOURCE) || TargetSnapshotHandle == NULL) rc = -EINVAL;
  else if (dst < 0) rc = dst;
  else if ((rc = fetch(SourceProcessHandle, src, SnapshotHandle, &s)) == 0)
    rc = put(TargetProcessHandle, dst, s, &h);
  if (rc == 0) *TargetSnapshotHandle = (HPSS)h;
  /* documented: the source is freed even when the duplication fails */
  if (Flags & PSS_DUPLICATE_CLOSE_SOURCE) close_source(SourceProcessHandle, src, SnapshotHandle);
  pthread_setcancelstate(cancel, NULL);
  return pss_win32_error(rc);
}
/* }====================================================================== */
