/*
** handoff.c -- PssDuplicateSnapshot into and out of another process, and
** PssFreeSnapshot there.
**
** A snapshot is memory of the process that holds it, and its HPSS a value
** only that process's libpss understands. What can be handed to another
** process is a descriptor: the snapshot saved (pss_snapshot_save) into a
** memfd sealed against every change (F_SEAL_WRITE, _GROW, _SHRINK, _SEAL),
** named PSS_HANDOFF_NAME. The HPSS value valid in the receiving process
** names that descriptor and its file's inode (store.h); its libpss checks
** the descriptor and loads the snapshot on the value's first use
** (registry.c). Why this way:
** - the receiver may be any process that links libpss, blocked in a read()
**   or busy: nothing of it needs to run or cooperate, and its heap is
**   never written;
** - the file is the receiver's own descriptor: it lives as long as the
**   receiver keeps it, whatever becomes of us, and goes with the
**   receiver; sealed, nobody (the receiver included) can change what its
**   libpss then reads, so a checked file stays checked;
** - it needs from the receiver no right on us: the receiver's thread
**   makes the memfd itself (memfd_create, one system call we run in one of
**   its threads while it is frozen, pss_inject_syscall), and we fill it
**   through /proc/PID/fd, which the same right to trace allows.
** Taking one out (pidfd_getfd) and freeing one there (a close() run the
** same way) ask the kernel for the same right a capture needs: to trace
** that process (PTRACE_MODE_ATTACH_REALCREDS). A snapshot another process
** captured itself is a slot of its registry, in its memory: that process
** must hand it over itself.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux/file/handoff.h"
#include "linux/file/snapfile.h"
#include "linux/proc/procfs.h"
#include "linux/ptrace/ptrace.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define COPY_CHUNK ((size_t)1 << 16)

/* The registry reads a handed-over file with the saved-snapshot loader,
** which lives above it: set before main, since a process that receives a
** snapshot may call nothing of libpss before its first use of the value. */
__attribute__((constructor)) static void handoff_install (void) {
  pss_handoff_set_loader(pss_snapshot_load);
}

/* memfd_create's flags: no exec permission where the kernel knows of it
** (Linux 6.3, vm.memfd_noexec; 2 there refuses memfds that could be). */
static unsigned memfd_flags (void) {
  unsigned f = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  return access("/proc/sys/vm/memfd_noexec", F_OK) == 0 ? f | MFD_NOEXEC_SEAL : f;
}


/* {======================================================================
** The other process's descriptor, taken here
** ======================================================================= */

/* Why a value names nothing we can take out of t. */
static int not_handed (struct pss_target *t, uintptr_t h) {
  if ((h & 0xF) == PSS_KIND_SNAPSHOT && (h >> 32) != 0) {
    pss_fail_detailf("the snapshot lives in the memory of process %d (it captured it); "
                     "that process can hand it over with PssDuplicateSnapshot", (int)t->pid);
    return -EOPNOTSUPP;
  }
  pss_fail_detail("the value is not a snapshot handle");
  return -EBADF;
}

/* "process P's descriptors may not be taken: WHY" */
static int refused (struct pss_target *t) {
  char why[PSS_DETAIL_MAX];
  int taskfd = openat(t->dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -EPERM;
  if (taskfd >= 0) {
    rc = pss_explain_refusal(t, taskfd, t->pid);
    close(taskfd);
  }
  if (rc == 1) return -ESRCH;
  pss_take_detail(why, sizeof why);
  pss_fail_detailf("pss may not take descriptors of process %d, which needs the right to "
                   "trace it%s%s", (int)t->pid, why[0] ? ": " : "", why);
  return -EPERM;
}

/* Descriptor n of t, duplicated into this process (pidfd_getfd). */
static int take_fd (struct pss_target *t, int n, int *out) {
  int pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0), fd, e;
  if (pidfd < 0) {
    if (errno == ENOSYS) pss_fail_detail("this kernel has no pidfd_open (Linux 5.6 needed)");
    return errno == ESRCH ? -ESRCH : -errno;
  }
  /* t's directory still names the live process: the pid was not reused */
  if (!pss_target_alive(t)) { close(pidfd); return -ESRCH; }
  fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
  e = errno;
  close(pidfd);
  if (fd >= 0) { *out = fd; return 0; }
  if (e == EPERM) return refused(t);
  if (e == EBADF) {
    pss_fail_detailf("process %d has no descriptor %d: the handle is not valid there",
                     (int)t->pid, n);
    return -EBADF;
  }
  if (e == ENOSYS) pss_fail_detail("this kernel has no pidfd_getfd (Linux 5.6 needed)");
  return -e;
}

/* t's descriptor that h names, checked to be a handed-over snapshot. */
static int take_handed (struct pss_target *t, uintptr_t h, int *out) {
  int n = pss_handoff_fd(h), rc;
  if (n < 0) return not_handed(t, h);
  if ((rc = take_fd(t, n, out)) < 0) return rc;
  if ((rc = pss_handoff_check(*out, h)) < 0) {
    close(*out);
    *out = -1;
  }
  return rc;
}

int pss_handoff_fetch (struct pss_target *t, uintptr_t h, struct pss_store **out) {
  int fd, rc;
  *out = NULL;
  if ((rc = take_handed(t, h, &fd)) < 0) return rc;
  rc = pss_handoff_load(fd, h, out);
  close(fd);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** The other process frozen, for the one system call it runs
** ======================================================================= */
struct job {
  struct pss_target *t;
  int (*work)(struct job *, struct pss_freeze *);
  int src;                 /* put: our memfd holding the snapshot */
  int fd;                  /* their descriptor */
  dev_t dev;               /* drop: the file it must hold */
  ino_t ino;
  uintptr_t value;         /* put: the HPSS there */
};

static int frozen (void *arg) {
  struct job *job = arg;
  struct pss_freeze fz;
  int rc;
  if ((rc = pss_freeze(job->t, &fz)) < 0) return rc;
  job->t->freeze = &fz;
  rc = job->work(job, &fz);
  pss_thaw(&fz);
  job->t->freeze = NULL;
  return rc;
}

/* On the calling thread while the tracer thread is late (tracer.c). */
static void rescue (void *arg) {
  const struct job *job = arg;
  pss_freeze_rescue(job->t->pid, job->t->own_child);
}

/* The work on a tracer thread of its own, which lets go of every thread
** of t when it ends, whatever happened (tracer.c). */
static int run_frozen (struct job *job) {
  struct pss_tracer *tr;
  int rc;
  job->t->own_child = pss_is_own_child(job->t);
  if ((rc = pss_tracer_start(&tr)) < 0) return rc;
  rc = pss_tracer_run(tr, frozen, rescue, job);
  pss_tracer_stop(tr);
  return rc;
}

/* close(fd) run by t; a detail of its own only if nothing failed before. */
static int close_there (struct job *job, struct pss_freeze *fz, int keep_detail) {
  struct pss_lone_call c = { SYS_close, { (uint64_t)job->fd }, NULL, 0, -1 };
  char before[PSS_DETAIL_MAX];
  long result;
  int rc;
  pss_take_detail(before, sizeof before);
  if ((rc = pss_inject_syscall(job->t, fz, &c, &result)) == 0 && result < 0) {
    pss_fail_detailf("close(%d) failed in process %d", job->fd, (int)job->t->pid);
    rc = (int)result;
  }
  if (keep_detail) pss_fail_detail(before);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Put: a sealed copy made by the other process
** ======================================================================= */

/* Our memfd holding the snapshot, made before the other process is stopped. */
static int save_copy (const struct pss_store *s, int *out) {
  int fd = memfd_create(PSS_HANDOFF_NAME, memfd_flags()), rc;
  if (fd < 0 && errno == EINVAL) fd = memfd_create(PSS_HANDOFF_NAME, MFD_CLOEXEC);
  if (fd < 0) return -errno;
  if ((rc = pss_snapshot_save(s, fd, 0)) < 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

/* src's bytes into dst, both from offset 0. */
static int copy_file (int src, int dst) {
  char *buf = malloc(COPY_CHUNK);
  off_t at = 0;
  ssize_t n = 0;
  if (buf == NULL) return -ENOMEM;
  while ((n = pread(src, buf, COPY_CHUNK, at)) > 0) {
    ssize_t done = 0, w;
    for (; done < n; done += w)
      if ((w = pwrite(dst, buf + done, (size_t)(n - done), at + done)) <= 0) {
        n = w < 0 ? -errno : -EIO;
        goto out;
      }
    at += n;
  }
  if (n < 0) n = -errno;
out:
  free(buf);
  return n < 0 ? (int)n : 0;
}

/* Whether t is gone, as a capture judges it: its /proc directory no
** longer names it, or it is a zombie (which has no descriptors left). */
static int vanished (struct pss_target *t) {
  struct pss_stat st;
  ssize_t n;
  if (!pss_target_alive(t)) return 1;
  n = pss_read_record(t, t->dirfd, "stat");
  return n > 0 && pss_parse_stat(t->scratch, (size_t)n, &st) == 0 &&
         (st.state == 'Z' || st.state == 'X');
}

/* The descriptor t just made, filled and sealed through /proc/PID/fd (a
** description of our own) and checked as the receiver will check it. */
static int fill_there (struct job *job) {
  char path[32];
  struct stat st;
  int theirs, rc;
  snprintf(path, sizeof path, "fd/%d", job->fd);
  if ((theirs = openat(job->t->dirfd, path, O_RDWR | O_CLOEXEC)) < 0) {
    /* a process killed meanwhile took its descriptors with it: it is
    ** gone, as a capture would say, not a file not found */
    rc = -errno;
    return rc == -ENOENT && vanished(job->t) ? -ESRCH : rc;
  }
  rc = copy_file(job->src, theirs);
  if (rc == 0 && fcntl(theirs, F_ADD_SEALS, PSS_HANDOFF_SEALS) < 0) rc = -errno;
  if (rc == 0 && fstat(theirs, &st) < 0) rc = -errno;
  if (rc == 0) {
    job->value = pss_handoff_value(job->fd, (uint64_t)st.st_ino);
    rc = pss_handoff_check(theirs, job->value);
  }
  close(theirs);
  return rc;
}

static int put_work (struct job *job, struct pss_freeze *fz) {
  static const char name[] = PSS_HANDOFF_NAME;
  struct pss_lone_call c = { SYS_memfd_create, { 0, memfd_flags() }, name, sizeof name, 0 };
  long result;
  int rc = pss_inject_syscall(job->t, fz, &c, &result);
  if (rc == 0 && result == -EINVAL && (c.args[1] & MFD_NOEXEC_SEAL)) {
    c.args[1] &= ~(uint64_t)MFD_NOEXEC_SEAL;        /* a kernel before 6.3 */
    rc = pss_inject_syscall(job->t, fz, &c, &result);
  }
  if (rc < 0) return rc;
  if (result < 0) {
    pss_fail_detailf("memfd_create failed in process %d: %s", (int)job->t->pid,
                     strerror((int)-result));
    return (int)result;
  }
  job->fd = (int)result;
  if ((rc = fill_there(job)) < 0) (void)close_there(job, fz, 1);
  return rc;
}

int pss_handoff_put (struct pss_target *t, const struct pss_store *s, uintptr_t *value) {
  struct job job = { t, put_work, -1, -1, 0, 0, 0 };
  int rc;
  if ((rc = save_copy(s, &job.src)) < 0) return rc;
  rc = run_frozen(&job);
  close(job.src);
  if (rc == 0) *value = job.value;
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Drop: the other process closes the descriptor
** ======================================================================= */

/* Frozen, t can change nothing: the descriptor is still the file checked
** (not closed and reused meanwhile) when t closes it. */
static int drop_work (struct job *job, struct pss_freeze *fz) {
  char path[32];
  struct stat st;
  snprintf(path, sizeof path, "fd/%d", job->fd);
  if (fstatat(job->t->dirfd, path, &st, 0) < 0 || st.st_dev != job->dev || st.st_ino != job->ino) {
    pss_fail_detailf("process %d closed descriptor %d meanwhile", (int)job->t->pid, job->fd);
    return -EBADF;
  }
  return close_there(job, fz, 0);
}

int pss_handoff_drop (struct pss_target *t, uintptr_t h) {
  struct job job = { t, drop_work, -1, pss_handoff_fd(h), 0, 0, 0 };
  struct stat st;
  int mine, rc;
  if ((rc = take_handed(t, h, &mine)) < 0) return rc;
  rc = fstat(mine, &st) < 0 ? -errno : 0;
  close(mine);
  if (rc < 0) return rc;
  job.dev = st.st_dev;
  job.ino = st.st_ino;
  return run_frozen(&job);
}
/* }====================================================================== */
