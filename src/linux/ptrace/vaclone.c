/*
** vaclone.c -- PSS_CAPTURE_VA_CLONE: a copy-on-write clone of the target's
** memory, made in about the time of a fork, read at leisure after.
**
** The calling process forks itself with a bare clone() system call; the
** child runs only a few instructions (ARCH/clone.c: no code of the caller,
** no atfork handlers, no stack writes) and waits for the end of a pipe.
** Another process is made to clone itself by a stub injected into one of
** its frozen threads (inject.c).
**
** Here, for both: reading the clone's memory, its coverage of the captured
** regions, its handles once it is made, and its release.
**
** The clone of another process belongs to the thread that captured it
** (ptrace ties a tracee to one thread): if that thread exits, the kernel
** kills the clone.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* {======================================================================
** Memory of another process
** ======================================================================= */

static ssize_t vm_read (pid_t pid, uint64_t address, void *buf, size_t n) {
  struct iovec local = { buf, n }, remote = { (void *)(uintptr_t)address, n };
  return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* Reads all of n bytes: process_vm_readv, else /proc/PID/mem (which also
** reads what the target cannot, as PROT_NONE pages). */
int pss_mem_read (int memfd, pid_t pid, uint64_t address, void *buf, size_t n) {
  ssize_t got = vm_read(pid, address, buf, n);
  if (got == (ssize_t)n) return 0;
  if (memfd >= 0 && pread(memfd, buf, n, (off_t)address) == (ssize_t)n) return 0;
  return errno == ESRCH ? -ESRCH : -EIO;
}


/* }====================================================================== */


/* {======================================================================
** Reading and releasing a clone
** ======================================================================= */

/*
** Whether the clone is still the process c->pid names. A clone of another
** process is not our child: if the thread that captured it exits, the
** kernel kills it and init reaps it, and its pid may then be reused. Its
** handle (a pidfd, or the /proc/PID directory) stays bound to it, so the
** handle says whether it is gone; a read checked after it is done read the
** clone (a pid is reused only after its process was reaped).
*/
static int clone_alive (const struct pss_clone *c) {
  struct pollfd p = { c->pidfd, POLLIN, 0 };
  if (c->self || c->pidfd < 0) return 1;     /* our child: its pid stays ours */
  if (c->procdir) return faccessat(c->pidfd, "stat", F_OK, 0) == 0;
  return poll(&p, 1, 0) == 0;                /* a pidfd polls readable once it exited */
}

/* The bytes from address up to the first the clone does not hold. */
ssize_t pss_clone_read (const struct pss_clone *c, uint64_t address, void *buf, size_t n) {
  size_t done = 0;
  if (c->pid <= 0) return -ENOENT;
  if (!clone_alive(c)) return -ESRCH;
  /* /proc/CLONE/mem first: process_vm_readv pins the pages it reads, and
  ** pinning a copy-on-write page the target shares makes the kernel copy
  ** it into the clone (about 1 GiB of new memory, and a third of the time,
  ** to read 1 GiB); a read through mem leaves the pages shared */
  while (done < n) {
    ssize_t got = c->memfd >= 0
                  ? pread(c->memfd, (char *)buf + done, n - done, (off_t)(address + done)) : -1;
    if (got <= 0) got = vm_read(c->pid, address + done, (char *)buf + done, n - done);
    if (got <= 0) break;
    done += (size_t)got;
  }
  if (!clone_alive(c)) return -ESRCH;
  return (ssize_t)done;
}

PSS_EXPORT DWORD PssLinuxReadSnapshotMemory (HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                             SIZE_T Length, SIZE_T *BytesRead) {
  struct pss_store *s;
  ssize_t got;
  if (BytesRead == NULL || (Buffer == NULL && Length > 0))
    return pss_fail(ERROR_INVALID_PARAMETER);
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  /* a loaded snapshot's memory is a file's; a captured one's, its clone's */
  got = s->mem.count > 0 ? pss_filemem_read(&s->mem, Address, Buffer, Length)
                         : pss_clone_read(&s->clone, Address, Buffer, Length);
  pss_store_release(s);
  if (got == -ENOENT) return pss_fail(ERROR_NOT_FOUND);
  if (got < 0) return pss_win32_error((int)got);
  *BytesRead = (SIZE_T)got;
  return (SIZE_T)got == Length ? ERROR_SUCCESS : pss_fail(ERROR_PARTIAL_COPY);
}

/*
** Kills the clone. The calling process's clone is our child: we collect
** it. Another's is traced by its keeper thread, whose exit lets go of it;
** its zombie is its real parent's (init or a subreaper) to collect, so
** freeing a snapshot does not wait for a whole address space to go.
*/
void pss_clone_release (struct pss_clone *c) {
  /* in a process forked from the capturer the clone is not ours to kill:
  ** only our copies of its descriptors go */
  if (c->owner != getpid()) c->pid = 0;
  if (c->pid > 0 && clone_alive(c)) {
    /* by its handle: never a process that took over the pid */
    if (c->pidfd < 0 || syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0) < 0)
      kill(c->pid, SIGKILL);
    if (c->keeper == NULL) pss_tracee_collect(c->pid);
  }
  pss_tracer_stop(c->keeper);
  c->keeper = NULL;
  c->pid = 0;
  if (c->hold >= 0) close(c->hold);
  if (c->pidfd >= 0) close(c->pidfd);
  if (c->memfd >= 0) close(c->memfd);
  c->hold = c->pidfd = c->memfd = -1;
}

/* }====================================================================== */


/* {======================================================================
** Coverage: what the clone holds of each captured region
** ======================================================================= */

/* What the clone holds of a VMA, from its smaps VmFlags. */
static unsigned char coverage_of (const struct pss_smaps_line *sl) {
  if (pss_vmflags_has(sl->flags, sl->flags_len, "io") ||
      pss_vmflags_has(sl->flags, sl->flags_len, "pf"))
    return PSS_LINUX_CLONE_UNREADABLE;
  if (pss_vmflags_has(sl->flags, sl->flags_len, "wf")) return PSS_LINUX_CLONE_ZEROED;
  if (pss_vmflags_has(sl->flags, sl->flags_len, "sh")) return PSS_LINUX_CLONE_SHARED;
  return PSS_LINUX_CLONE_COPY;
}

static int cmp_u64 (const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/*
** Reads the clone's smaps once: every VMA's start with its coverage in the
** low byte, sorted; a captured region whose start the clone lacks was not
** copied (MADV_DONTFORK).
*/
int pss_clone_coverage (struct pss_target *t, struct pss_store *s) {
  struct pss_table *regions = &s->tables[PSS_TABLE_REGIONS];
  uint64_t *vmas = NULL;
  size_t n = 0, cap = 0, i, at;
  ssize_t len;
  int dirfd;
  if (!(s->flags & PSS_CAPTURE_VA_SPACE) || s->clone.pid <= 0) return 0;
  if ((dirfd = pss_proc_open(s->clone.pid, NULL, 0)) < 0) return dirfd;
  len = pss_read_at(t, dirfd, "smaps");
  close(dirfd);
  if (len < 0) return (int)len;
  for (at = 0; at < (size_t)len; ) {
    struct pss_smaps_line sl;
    long used = pss_parse_smaps_line(t->scratch + at, (size_t)len - at, &sl);
    if (used <= 0) {                        /* a header that does not parse */
      at += pss_skip_line(t->scratch + at, (size_t)len - at);
      continue;
    }
    at += (size_t)used;
    if (sl.kind == PSS_SMAPS_MAPPING) {
      if (n == cap) {
        uint64_t *grown = realloc(vmas, (cap = cap ? cap * 2 : 256) * sizeof *vmas);
        if (grown == NULL) { free(vmas); return -ENOMEM; }
        vmas = grown;
      }
      vmas[n++] = sl.map.start << 8 | PSS_LINUX_CLONE_COPY;
    }
    else if (sl.kind == PSS_SMAPS_VMFLAGS && n > 0)
      vmas[n - 1] = (vmas[n - 1] & ~(uint64_t)0xff) | coverage_of(&sl);
  }
  qsort(vmas, n, sizeof *vmas, cmp_u64);
  for (i = 0; i < regions->count; i++) {
    PSS_LINUX_VA_SPACE_ENTRY *r = pss_table_row(regions, i);
    uint64_t key = (uint64_t)r->Region.BaseAddress << 8;
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if ((vmas[mid] & ~(uint64_t)0xff) < key) lo = mid + 1; else hi = mid;
    }
    r->CloneCoverage = lo < n && (vmas[lo] & ~(uint64_t)0xff) == key
                         ? (unsigned char)(vmas[lo] & 0xff) : PSS_LINUX_CLONE_ABSENT;
  }
  free(vmas);
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** The clone's finishing touches, once it is made
** ======================================================================= */
/* The handle PSS_QUERY_VA_CLONE_INFORMATION gives, the oom score that
** makes the kernel pick the snapshot, not the target, and the mem file
** for reads. */
int pss_clone_finish (struct pss_clone *c) {
  int fd;
  if ((fd = pss_proc_open(c->pid, "oom_score_adj", O_WRONLY)) >= 0) {
    if (write(fd, "1000", 4) != 4) { /* a snapshot still works without it */ }
    close(fd);
  }
  c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  if (c->pidfd < 0 && errno == ENOSYS) {
    if ((c->pidfd = pss_proc_open(c->pid, NULL, 0)) < 0) c->pidfd = -1;
    c->procdir = 1;
  }
  if (c->pidfd >= 0 && c->pidfd < 3) {    /* a handle never looks like NULL */
    int high = fcntl(c->pidfd, F_DUPFD_CLOEXEC, 3);
    close(c->pidfd);
    c->pidfd = high;
  }
  if (c->pidfd < 0) return -errno;
  /* /proc/PID/mem: reads that pass the page protection */
  if ((c->memfd = pss_proc_open(c->pid, "mem", O_RDONLY)) < 0) c->memfd = -1;
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** The calling process
** ======================================================================= */

/* Its fork (pss_fork_waiting_child) keeps the pipe's read end; the
** snapshot holds the write end, whose close ends the clone. */
int pss_clone_self (struct pss_clone *c) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  sigset_t all, old;
  int p[2], keep;
  long pid;
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  keep = p[0] >= 3 ? p[0] : fcntl(p[0], F_DUPFD_CLOEXEC, 3);
  if (keep != p[0]) close(p[0]);
  if (keep < 0) { close(p[1]); return -EMFILE; }
  /* the child starts with every signal blocked: no handler of ours ever
  ** runs in it */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = pss_fork_waiting_child(keep);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(keep);
  if (pid < 0) {
    close(p[1]);
    return (int)pid;
  }
  c->pid = (pid_t)pid;
  c->self = 1;
  c->hold = p[1];
  return pss_clone_finish(c);
}
/* }====================================================================== */
