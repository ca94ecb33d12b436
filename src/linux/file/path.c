/*
** path.c -- a file written to a path without ever costing the caller what
** the path named before (issue 11: a failed core write run as root deleted
** /dev/full, and the next one left a regular file in its place). So, by
** what Path names:
**
**   a device, a FIFO or a socket, or a symbolic link to one (/dev/stdout):
**     the file is written through it, opened for writing only -- never
**     created, truncated, renamed or removed;
**   a directory, or a symbolic link to one: EISDIR;
**   nothing, a regular file, or any other symbolic link: the file goes
**     into a new one beside Path, ".NAME.XXXXXX" (O_EXCL, mode 0600),
**     renamed over Path once it is complete and closed; after a failure
**     only that new file is removed. A link is replaced, not followed; an
**     old file's bytes, mode and owner are replaced whole or not at all.
**
** Everything in Path's directory goes through one descriptor of it, so
** the directory looked at is the one written to, and the new file and
** Path are always on one file system (rename cannot meet EXDEV). Cores
** (dump.c) and saved snapshots (save.c) are written this way.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "linux/file/core.h"
#include "linux/file/path.h"
#include "linux/store/store.h"

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
      return failed_with(-e, "Path became a directory while the file was written");
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

/* The file in a new one beside Path, renamed over Path once complete
** and closed; after a failure the new file is removed, Path untouched. */
static int replace (int dirfd, const char *name, const struct pss_writer *w) {
  char tmp[NAME_MAX + 1];
  struct stat st;
  int fd = create_temp(dirfd, name, tmp), rc, e;
  if (fd < 0) return fd;
  /* 0600 whatever the umask: a core holds the target's secrets. A file
  ** system without modes (vfat) refuses, and there a mode means nothing */
  if (fstat(fd, &st) == 0 && (st.st_mode & 07777) != 0600) (void)fchmod(fd, 0600);
  rc = w->put(w->ctx, fd);
  if ((e = close_error(fd)) < 0 && rc == 0) rc = e;
  if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0) rc = rename_error(errno);
  if (rc < 0) unlinkat(dirfd, tmp, 0);
  return rc;
}

int pss_write_path (const char *path, const struct pss_writer *w) {
  const char *name = NULL;
  int dirfd = -1, fd = -1, rc, e, looks = 0;
  if ((rc = open_parent(path, &dirfd, &name)) < 0) goto fail;
  while ((rc = examine(dirfd, name, &fd)) == -EAGAIN)
    if (++looks == LOOKS) {
      rc = failed_with(-ESTALE, "Path kept changing between looking at it and opening it");
      goto fail;
    }
  if (rc == 0) rc = replace(dirfd, name, w);
  else if (rc == 1) {
    rc = w->put(w->ctx, fd);
    if ((e = close_error(fd)) < 0 && rc == 0) rc = e;
    fd = -1;
  }
fail:
  if (fd >= 0) close(fd);
  if (dirfd >= 0) close(dirfd);
  return rc;
}
/* }====================================================================== */
