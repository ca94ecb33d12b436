/*
** dump.c -- PssLinuxWriteCore and PssLinuxWriteCoreFd: an ELF core file of
** a snapshot, from its VA clone's memory and the thread contexts captured
** at the same instant (core.c writes the file). The target keeps running
** meanwhile.
**
** Writing a core must never cost the caller what Path named before it
** (issue 11: a failed write run as root deleted /dev/full, and the next
** one left a regular file in its place). So, by what Path names:
**
**   a device, a FIFO or a socket, or a symbolic link to one (/dev/stdout):
**     the core is written through it, opened for writing only -- never
**     created, truncated, renamed or removed;
**   a directory, or a symbolic link to one: EISDIR;
**   nothing, a regular file, or any other symbolic link: the core goes
**     into a new file beside Path, ".NAME.XXXXXX" (O_EXCL, mode 0600),
**     renamed over Path once it is complete and closed; after a failure
**     only that new file is removed. A link is replaced, not followed; an
**     old file's bytes, mode and owner are replaced whole or not at all.
**
** Everything in Path's directory goes through one descriptor of it, so
** the directory looked at is the one written to, and the new file and
** Path are always on one file system (rename cannot meet EXDEV).
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "linux/file/core.h"
#include "linux/ptrace/arch.h"
#include "linux/store/store.h"

/* What a core is made of, taken from the snapshot before any file is
** touched: the threads' registers (mmap'd: their number has no bound),
** the identity, and the process holding the memory. */
struct core_source {
  struct pss_core_thread *threads;
  size_t n, bytes;
  struct pss_core_process proc;
  pid_t image;
};

static void source_free (struct core_source *src) {
  if (src != NULL && src->threads != NULL) munmap(src->threads, src->bytes);
}

/* A captured CONTEXT record back in the kernel's register layouts
** (ptrace/ARCH/core.c); fs_base is the thread's TebBaseAddress. */
static void thread_registers (const PSS_LINUX_THREAD_ENTRY *e, const void *context,
                              struct pss_core_thread *out) {
  out->tid = (pid_t)e->Thread.ThreadId;
  out->have_fp = pss_core_regsets(context, e->SyscallNumber,
                                  (uintptr_t)e->Thread.TebBaseAddress, out->gp, out->fp);
}

/* Every captured thread with a context, the main thread first. */
static int core_threads (const struct pss_store *s, struct pss_core_thread *out, size_t *n) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  size_t i, k = 0;
  for (i = 0; i < t->count; i++) {
    const struct pss_thread_row *row = (const void *)(t->rows.data + i * t->row_size);
    uintptr_t off = (uintptr_t)row->e.Thread.ContextRecord;
    if (off == 0) continue;
    thread_registers(&row->e, t->strings.data + off - 1, &out[k]);
    if (out[k].tid == (pid_t)s->process.Process.ProcessId && k > 0) {
      struct pss_core_thread main = out[k];
      memmove(&out[1], &out[0], k * sizeof *out);
      out[0] = main;
    }
    k++;
  }
  *n = k;
  return k > 0 ? 0 : -ENODATA;
}

static void core_identity (const struct pss_store *s, struct pss_core_process *p) {
  const PSS_LINUX_PROCESS_INFORMATION *lp = &s->process;
  size_t i, n;
  memset(p, 0, sizeof *p);
  p->pid = (pid_t)lp->Process.ProcessId;
  p->ppid = (pid_t)lp->Process.ParentProcessId;
  p->pgrp = (pid_t)lp->ProcessGroupId;
  p->sid = (pid_t)lp->SessionId;
  p->uid = (uid_t)lp->RealUserId;
  p->gid = (gid_t)lp->RealGroupId;
  p->state = lp->State;
  p->nice = (int)lp->Nice;
  n = lp->CommLength < sizeof p->fname - 1 ? lp->CommLength : sizeof p->fname - 1;
  if (lp->Comm != NULL) memcpy(p->fname, lp->Comm, n);
  n = lp->CommandLineLength < sizeof p->psargs - 1 ? lp->CommandLineLength : sizeof p->psargs - 1;
  if (lp->CommandLine != NULL) memcpy(p->psargs, lp->CommandLine, n);
  for (i = 0; i < n; i++) if (p->psargs[i] == '\0') p->psargs[i] = ' ';
}

/* -ENODATA (with a detail) when the snapshot lacks what a core needs;
** source_free releases *src whatever this returns. */
static int source_take (const struct pss_store *s, struct core_source *src) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  memset(src, 0, sizeof *src);
  if (pss_core_machine() == 0) return -EOPNOTSUPP;   /* no port: no cores */
  if (s->clone.pid <= 0) {
    pss_fail_detail("the snapshot has no VA clone (capture with PSS_CAPTURE_VA_CLONE)");
    return -ENODATA;
  }
  src->bytes = (t->count ? t->count : 1) * sizeof *src->threads;
  src->threads = mmap(NULL, src->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  if (src->threads == MAP_FAILED) {
    src->threads = NULL;
    return -ENOMEM;
  }
  if (core_threads(s, src->threads, &src->n) < 0) {
    pss_fail_detail("the snapshot has no thread contexts (capture with "
                    "PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT)");
    return -ENODATA;
  }
  core_identity(s, &src->proc);
  src->image = s->clone.pid;
  return 0;
}

static int source_write (const struct core_source *src, int fd) {
  return pss_core_write(fd, src->image, &src->proc, src->threads, src->n);
}

/* rc, with a detail saying why */
static int failed_with (int rc, const char *why) {
  pss_fail_detail(why);
  return rc;
}


/* {======================================================================
** Path
** ======================================================================= */
#define LOOKS 3              /* Path changed between looking and opening this often: give up */
#define TEMP_TRIES 100       /* names tried for the new file */

/* Path's directory, opened O_PATH (creating and renaming in it needs no
** right to read it), and Path's last component in *name. */
static int open_parent (const char *path, int *dirfd, const char **name) {
  const char *slash = strrchr(path, '/');
  char *dir = NULL;
  int fd, e;
  if (slash != NULL && slash[1] == '\0')
    return failed_with(-EISDIR, "Path ends in '/', so it names a directory");
  if (slash != NULL && (dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path)))
                       == NULL)
    return -ENOMEM;
  fd = open(dir != NULL ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  e = errno;
  free(dir);
  if (fd < 0) {
    switch (e) {
      case ENOENT: return failed_with(-e, "the directory of Path does not exist");
      case ENOTDIR: return failed_with(-e, "the directory part of Path is not a directory");
      case EACCES: return failed_with(-e, "the directory of Path cannot be searched");
      case ENAMETOOLONG: return failed_with(-e, "Path is too long");
      default: return -e;
    }
  }
  *dirfd = fd;
  *name = slash != NULL ? slash + 1 : path;
  return 0;
}

/*
** Whether a symbolic link names an open descriptor (/dev/stdout is
** /proc/self/fd/1, /dev/fd/N): the caller names what it already holds
** open, a file included, so it is written through, as a shell's `>` would.
*/
static int names_a_descriptor (int dirfd, const char *name) {
  char text[64];
  ssize_t n = readlinkat(dirfd, name, text, sizeof text - 1);
  if (n <= 0) return 0;
  text[n] = '\0';
  return strncmp(text, "/proc/", 6) == 0 || strncmp(text, "/dev/fd/", 8) == 0;
}

/*
** What Path names: 0 to replace it with a new file; 1 to write through
** it, opened in *fd; -EAGAIN when it changed between the look and the
** open (look again); else -errno.
*/
static int examine (int dirfd, const char *name, int *fd) {
  struct stat st, at;
  int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY, e;
  *fd = -1;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    e = errno;
    if (e == ENOENT) return 0;
    if (e == ENAMETOOLONG) return failed_with(-e, "the last name in Path is too long");
    return -e;
  }
  if (S_ISREG(st.st_mode)) return 0;
  if (S_ISDIR(st.st_mode)) return failed_with(-EISDIR, "Path is a directory");
  if (S_ISLNK(st.st_mode)) {
    /* followed only to what is written through in place, which creates
    ** nothing; a dangling link or one to a file is replaced */
    if (fstatat(dirfd, name, &at, 0) < 0) return 0;
    if (S_ISREG(at.st_mode)) {
      if (!names_a_descriptor(dirfd, name)) return 0;
      flags |= O_TRUNC;
    }
    if (S_ISDIR(at.st_mode))
      return failed_with(-EISDIR, "Path is a symbolic link to a directory");
  } else {
    at = st;
    flags |= O_NOFOLLOW;
  }
  /* A FIFO waits here for a reader, as a shell's redirection would */
  while ((*fd = openat(dirfd, name, flags)) < 0 && errno == EINTR) ;
  if (*fd < 0) {
    e = errno;
    if (e == ELOOP || e == ENOENT) return -EAGAIN;   /* replaced meanwhile */
    if (e == ENXIO && S_ISSOCK(at.st_mode))
      return failed_with(-e, "Path is a socket, which cannot be opened as a file");
    if (e == ENXIO) return failed_with(-e, "Path is a device with nothing behind it");
    if (e == EACCES || e == EPERM || e == EROFS)
      return failed_with(-e, "Path is a device, a FIFO or a socket that is not writable");
    return -e;
  }
  if (fstat(*fd, &st) < 0 || st.st_dev != at.st_dev || st.st_ino != at.st_ino) {
    close(*fd);
    *fd = -1;
    return -EAGAIN;
  }
  return 1;
}

/* Unpredictable enough that a name is taken by chance only; O_EXCL makes
** a taken one cost a retry, nothing more. */
static uint64_t temp_random (void) {
  static _Atomic uint64_t counter;
  struct timespec ts;
  uint64_t r;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) return r;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u) ^ (uint64_t)ts.tv_sec ^
         ((uint64_t)getpid() << 32) ^ (counter++ * 0xBF58476D1CE4E5B9u);
}

/* ".NAME.XXXXXX", NAME cut where the whole would pass NAME_MAX */
static void temp_name (char *out, const char *name, uint64_t r) {
  static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = strlen(name), i;
  if (n > NAME_MAX - 8) n = NAME_MAX - 8;
  out[0] = '.';
  memcpy(out + 1, name, n);
  out[n + 1] = '.';
  for (i = 0; i < 6; i++, r /= sizeof letters - 1)
    out[n + 2 + i] = letters[r % (sizeof letters - 1)];
  out[n + 8] = '\0';
}

static int create_error (int e) {
  switch (e) {
    case EACCES: case EPERM:
      return failed_with(-e, "no new file can be made in the directory of Path (the core is "
                             "written to one beside Path, then renamed over it)");
    case EROFS: return failed_with(-e, "Path is on a read-only file system");
    case ENOSPC: case EDQUOT: return failed_with(-e, pss_core_write_cause(e));
    default: return -e;
  }
}

/* The new file beside Path, its name in tmp (NAME_MAX + 1 bytes). */
static int create_temp (int dirfd, const char *name, char *tmp) {
  int i, fd;
  for (i = 0; i < TEMP_TRIES; i++) {
    temp_name(tmp, name, temp_random());
    while ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600)) < 0 && errno == EINTR) ;
    if (fd >= 0) return fd;
    if (errno != EEXIST) return create_error(errno);
  }
  return failed_with(-EEXIST, "every name tried for the new file beside Path was taken");
}

static int rename_error (int e) {
  switch (e) {
    case EISDIR: case ENOTEMPTY: case EEXIST:
      return failed_with(-e, "Path became a directory while the core was written");
    case EBUSY: return failed_with(-e, "Path is a mount point, which cannot be replaced");
    case EACCES: case EPERM:
      return failed_with(-e, "Path cannot be replaced (another user's file in a sticky "
                             "directory, or an immutable one)");
    default: return -e;
  }
}

/* Closes fd: close is where a network file system reports what its
** writeback met. An EINTR from it on Linux closed the file all the same,
** after the data went: not a failure. */
static int close_error (int fd) {
  int e;
  if (close(fd) == 0 || errno == EINTR) return 0;
  e = errno;
  return failed_with(-e, pss_core_write_cause(e));
}

/* The core in a new file beside Path, renamed over Path once complete
** and closed; after a failure the new file is removed, Path untouched. */
static int replace (int dirfd, const char *name, const struct core_source *src) {
  char tmp[NAME_MAX + 1];
  struct stat st;
  int fd = create_temp(dirfd, name, tmp), rc, e;
  if (fd < 0) return fd;
  /* 0600 whatever the umask: a core holds the target's secrets. A file
  ** system without modes (vfat) refuses, and there a mode means nothing */
  if (fstat(fd, &st) == 0 && (st.st_mode & 07777) != 0600) (void)fchmod(fd, 0600);
  rc = source_write(src, fd);
  if ((e = close_error(fd)) < 0 && rc == 0) rc = e;
  if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0) rc = rename_error(errno);
  if (rc < 0) unlinkat(dirfd, tmp, 0);
  return rc;
}

static int write_path (const struct core_source *src, const char *path) {
  const char *name = NULL;
  int dirfd = -1, fd = -1, rc, e, looks = 0;
  if ((rc = open_parent(path, &dirfd, &name)) < 0) goto fail;
  while ((rc = examine(dirfd, name, &fd)) == -EAGAIN)
    if (++looks == LOOKS) {
      rc = failed_with(-ESTALE, "Path kept changing between looking at it and opening it");
      goto fail;
    }
  if (rc == 0) rc = replace(dirfd, name, src);
  else if (rc == 1) {
    rc = source_write(src, fd);
    if ((e = close_error(fd)) < 0 && rc == 0) rc = e;
    fd = -1;
  }
fail:
  if (fd >= 0) close(fd);
  if (dirfd >= 0) close(dirfd);
  return rc;
}
/* }====================================================================== */


/* ENODATA: a part of the capture is missing (ENOENT stays a path error) */
static DWORD core_result (int rc) {
  return rc == -ENODATA ? pss_fail(ERROR_NOT_FOUND) : pss_win32_error(rc);
}

/*
** The snapshot's core to Path or, when Path is NULL, to Fd. What the
** snapshot lacks is found before anything is touched; a pthread_cancel
** waits for the end (a cancelled write would leave the new file, the
** signal mask and the store's reference behind).
*/
static DWORD write_snapshot_core (HPSS SnapshotHandle, const char *Path, int Fd) {
  struct core_source src;
  struct pss_store *s;
  int rc, cancel;
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  if ((rc = source_take(s, &src)) == 0)
    rc = Path != NULL ? write_path(&src, Path) : source_write(&src, Fd);
  source_free(&src);
  pss_store_release(s);
  pthread_setcancelstate(cancel, NULL);
  return core_result(rc);
}

PSS_EXPORT DWORD PssLinuxWriteCore (HPSS SnapshotHandle, const char *Path) {
  pss_fail_detail(NULL);
  if (Path == NULL || *Path == '\0') return pss_fail(ERROR_INVALID_PARAMETER);
  return write_snapshot_core(SnapshotHandle, Path, -1);
}

/*
** Fd is the caller's: a bad one is an argument error (ERROR_INVALID_HANDLE,
** no errno behind it, as for a bad snapshot handle); what a write meets
** is the errno's code. Nothing is closed, removed or renamed.
*/
PSS_EXPORT DWORD PssLinuxWriteCoreFd (HPSS SnapshotHandle, int Fd) {
  int fl = Fd >= 0 ? fcntl(Fd, F_GETFL) : -1;
  pss_fail_detail(NULL);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
    pss_fail_detail(Fd < 0 ? "Fd is negative"
                    : fl < 0 ? "Fd is not an open descriptor"
                    : "Fd is not open for writing");
    return pss_fail(ERROR_INVALID_HANDLE);
  }
  return write_snapshot_core(SnapshotHandle, NULL, Fd);
}
