/*
** handle.c -- PSS_CAPTURE_HANDLES: one row per entry of /proc/PID/fd.
**
** The link target tells the kind of every fd ("pipe:[123]",
** "anon_inode:[eventfd]", a path, ...); fdinfo adds flags, offset, inode
** and the per-kind counters; sockets are described from /proc/PID/net.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

#define SEC_COMMIT 0x08000000

static const char *const type_names[PSS_LINUX_FD_KIND_COUNT] = {
  "Unknown", "File", "Directory", "Device", "Pipe", "Fifo", "Socket",
  "EventFd", "TimerFd", "SignalFd", "Epoll", "Inotify", "Fanotify", "PidFd",
  "MemFd", "AnonInode"
};

static int starts (const char *s, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

/* The kind from the link target alone (paths need a stat, see below). */
static PSS_LINUX_FD_KIND kind_of_target (const char *s, size_t n) {
  static const struct { const char *prefix; PSS_LINUX_FD_KIND kind; } anon[] = {
    { "anon_inode:[eventfd]", PSS_LINUX_FD_EVENTFD },
    { "anon_inode:[timerfd]", PSS_LINUX_FD_TIMERFD },
    { "anon_inode:[signalfd]", PSS_LINUX_FD_SIGNALFD },
    { "anon_inode:[eventpoll]", PSS_LINUX_FD_EPOLL },
    { "anon_inode:inotify", PSS_LINUX_FD_INOTIFY },
    { "anon_inode:[fanotify]", PSS_LINUX_FD_FANOTIFY },
    { "anon_inode:[pidfd]", PSS_LINUX_FD_PIDFD },
    { "pidfd:", PSS_LINUX_FD_PIDFD },          /* pidfs, Linux 6.9+ */
    { "anon_inode:", PSS_LINUX_FD_ANON_INODE },
    { "pipe:", PSS_LINUX_FD_PIPE },
    { "socket:", PSS_LINUX_FD_SOCKET },
    { "/memfd:", PSS_LINUX_FD_MEMFD },
  };
  size_t i;
  for (i = 0; i < sizeof anon / sizeof anon[0]; i++)
    if (starts(s, n, anon[i].prefix)) return anon[i].kind;
  return n > 0 && s[0] == '/' ? PSS_LINUX_FD_FILE : PSS_LINUX_FD_UNKNOWN;
}

static PSS_LINUX_FD_KIND kind_of_mode (mode_t mode) {
  if (S_ISDIR(mode)) return PSS_LINUX_FD_DIRECTORY;
  if (S_ISCHR(mode) || S_ISBLK(mode)) return PSS_LINUX_FD_DEVICE;
  if (S_ISFIFO(mode)) return PSS_LINUX_FD_FIFO;
  if (S_ISSOCK(mode)) return PSS_LINUX_FD_SOCKET;
  return PSS_LINUX_FD_FILE;
}

static DWORD granted_access (unsigned flags) {
  if ((flags & O_PATH) == O_PATH) return 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return GENERIC_READ;
    case O_WRONLY: return GENERIC_WRITE;
    default: return GENERIC_READ | GENERIC_WRITE;
  }
}


/* {======================================================================
** Type-specific arms
** ======================================================================= */

/* The Windows object an fd kind stands for (PSS_HANDLE_HAVE_TYPE). */
static PSS_OBJECT_TYPE object_type_of (PSS_LINUX_FD_KIND kind, const struct pss_fdinfo *fi) {
  switch (kind) {
    case PSS_LINUX_FD_PIDFD: return PSS_OBJECT_TYPE_PROCESS;
    case PSS_LINUX_FD_EVENTFD:
      return fi->semaphore ? PSS_OBJECT_TYPE_SEMAPHORE : PSS_OBJECT_TYPE_EVENT;
    case PSS_LINUX_FD_MEMFD: return PSS_OBJECT_TYPE_SECTION;
    default: return PSS_OBJECT_TYPE_UNKNOWN;
  }
}

struct fd_dirs { int fd, fdinfo; };

/* The pid that the target's pidfd `name` names now, or -1. */
static int pidfd_pid_now (struct pss_target *t, const struct fd_dirs *dirs, const char *name) {
  struct pss_fdinfo fi;
  ssize_t n = pss_read_record(t, dirs->fdinfo, name);
  if (n < 0) return -1;
  pss_parse_fdinfo(t->scratch, (size_t)n, &fi);
  return fi.has_pid ? fi.pid : -1;
}

/*
** A pidfd is a process object: describe the process it names. Its stat is
** read by pid number, so the pidfd is asked again afterwards: if it still
** names that pid, the process was alive throughout and the pid not reused.
*/
static void fill_process_arm (struct pss_target *t, const struct fd_dirs *dirs,
                              const char *name, PSS_HANDLE_ENTRY *h, int pid) {
  char path[32];
  struct pss_stat st;
  ssize_t n;
  h->Flags |= PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION;
  if (pid <= 0) return;     /* -1: the process is gone (reaped) */
  h->TypeSpecificInformation.Process.ProcessId = (DWORD)pid;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if ((n = pss_read_at(t, AT_FDCWD, path)) < 0 ||
      pss_parse_stat(t->scratch, (size_t)n, &st) < 0 || pidfd_pid_now(t, dirs, name) != pid)
    return;
  h->TypeSpecificInformation.Process.ExitStatus =
      (st.state == 'Z' || st.state == 'X') ? pss_exit_status(st.exit_code) : STILL_ACTIVE;
  h->TypeSpecificInformation.Process.PebBaseAddress = (void *)(uintptr_t)st.arg_start;
  h->TypeSpecificInformation.Process.AffinityMask = pss_affinity(pid);
  h->TypeSpecificInformation.Process.BasePriority = (LONG)st.nice;
  h->TypeSpecificInformation.Process.ParentProcessId = (DWORD)st.ppid;
  if (st.state == 'T' || st.state == 't')
    h->TypeSpecificInformation.Process.Flags = PSS_PROCESS_FLAGS_FROZEN;
}

/*
** An eventfd is an auto-reset event (a read takes the whole count); in
** semaphore mode (EFD_SEMAPHORE) each read takes one: a semaphore.
*/
static void fill_eventfd_arm (PSS_HANDLE_ENTRY *h, const struct pss_fdinfo *fi) {
  h->Flags |= PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION;
  if (fi->semaphore) {
    h->TypeSpecificInformation.Semaphore.CurrentCount =
        fi->count > 0x7FFFFFFF ? 0x7FFFFFFF : (LONG)fi->count;
    h->TypeSpecificInformation.Semaphore.MaximumCount = 0x7FFFFFFF;
  }
  else {
    h->TypeSpecificInformation.Event.ManualReset = FALSE;
    h->TypeSpecificInformation.Event.Signaled = fi->count > 0;
  }
}

/* A memfd is anonymous shared memory: a pagefile-backed section. */
static void fill_section_arm (PSS_HANDLE_ENTRY *h, uint64_t size) {
  h->Flags |= PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION;
  h->TypeSpecificInformation.Section.AllocationAttributes = SEC_COMMIT;
  h->TypeSpecificInformation.Section.MaximumSize.QuadPart = (int64_t)size;
}
/* }====================================================================== */


/* {======================================================================
** One fd
** ======================================================================= */

static int store_names (struct pss_table *tab, PSS_LINUX_HANDLE_ENTRY *e,
                        const char *target, size_t n, int with_name) {
  const char *type = type_names[e->Kind];
  int64_t off;
  if ((off = pss_table_utf16(tab, type, strlen(type), &e->Handle.TypeNameLength)) < 0)
    return -ENOMEM;
  e->Handle.TypeName = (const WCHAR *)(uintptr_t)off;
  if ((off = pss_table_bytes(tab, target, n)) < 0) return -ENOMEM;
  e->Target = (const char *)(uintptr_t)off;
  e->TargetLength = (WORD)n;
  if (!with_name) return 0;
  if ((off = pss_table_utf16(tab, target, n, &e->Handle.ObjectNameLength)) < 0)
    return -ENOMEM;
  e->Handle.ObjectName = (const WCHAR *)(uintptr_t)off;
  e->Handle.Flags |= PSS_HANDLE_HAVE_NAME;
  return 0;
}

static void fill_basic (PSS_LINUX_HANDLE_ENTRY *e, const struct pss_fdinfo *fi,
                        PSS_CAPTURE_FLAGS flags) {
  e->OpenFlags = fi->flags;
  e->Position = fi->pos;
  e->MountId = fi->mnt_id;
  if (fi->ino) e->Inode = fi->ino;
  if (fi->has_count) e->Count = fi->count;
  if (flags & PSS_CAPTURE_HANDLE_BASIC_INFORMATION) {
    e->Handle.Flags |= PSS_HANDLE_HAVE_BASIC_INFORMATION;
    e->Handle.Attributes = (fi->flags & O_CLOEXEC) ? 0 : OBJ_INHERIT;
    e->Handle.GrantedAccess = granted_access(fi->flags);
  }
}

/* Kind and size of a path-backed fd: stat through the magic link. */
static void stat_path_fd (const struct fd_dirs *dirs, const char *name,
                          PSS_LINUX_HANDLE_ENTRY *e, uint64_t *size) {
  struct stat sb;
  if (fstatat(dirs->fd, name, &sb, 0) < 0) return;
  if (e->Kind == PSS_LINUX_FD_FILE) e->Kind = kind_of_mode(sb.st_mode);
  e->Inode = sb.st_ino;
  *size = (uint64_t)sb.st_size;
}

static void fill_type_specific (struct pss_target *t, const struct fd_dirs *dirs,
                                const char *name, PSS_LINUX_HANDLE_ENTRY *e,
                                const struct pss_fdinfo *fi, uint64_t size) {
  switch (e->Kind) {
    case PSS_LINUX_FD_PIDFD:
      fill_process_arm(t, dirs, name, &e->Handle, fi->has_pid ? fi->pid : -1);
      break;
    case PSS_LINUX_FD_EVENTFD: fill_eventfd_arm(&e->Handle, fi); break;
    case PSS_LINUX_FD_MEMFD: fill_section_arm(&e->Handle, size); break;
    default: break;
  }
}

/* Returns 1 if the fd was closed meanwhile (skipped), 0, or -errno. */
static int capture_fd (struct pss_target *t, struct pss_store *s,
                       const struct fd_dirs *dirs, int fd) {
  struct pss_table *tab = &s->tables[PSS_TABLE_HANDLES];
  PSS_CAPTURE_FLAGS flags = s->flags;
  char name[16], target[4096];
  struct pss_fdinfo fi;
  PSS_LINUX_HANDLE_ENTRY *e;
  uint64_t size = 0;
  ssize_t n;
  PSS_LINUX_FD_KIND kind;
  snprintf(name, sizeof name, "%d", fd);
  if ((n = readlinkat(dirs->fd, name, target, sizeof target)) < 0)
    return errno == ENOENT ? 1 : -errno;
  kind = kind_of_target(target, (size_t)n);
  memset(&fi, 0, sizeof fi);
  /* an eventfd's object type (event or semaphore) needs its fdinfo too */
  if ((flags & (PSS_CAPTURE_HANDLE_BASIC_INFORMATION |
                PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION)) || kind == PSS_LINUX_FD_EVENTFD) {
    ssize_t k = pss_read_record(t, dirs->fdinfo, name);
    if (k == -ENOENT) return 1;
    if (k < 0) return (int)k;
    pss_parse_fdinfo(t->scratch, (size_t)k, &fi);
  }
  if ((e = pss_table_add_row(tab)) == NULL) return -ENOMEM;
  e->Handle.Handle = (HANDLE)(uintptr_t)fd;
  e->Handle.Flags = PSS_HANDLE_HAVE_TYPE;
  e->Handle.ObjectType = object_type_of(kind, &fi);
  e->Handle.CaptureTime = pss_filetime(pss_now_filetime());
  e->Kind = kind;
  e->SocketFamily = e->SocketType = e->SocketProtocol = e->SocketState = -1;
  if (e->Kind == PSS_LINUX_FD_PIPE || e->Kind == PSS_LINUX_FD_SOCKET)
    e->Inode = pss_parse_link_inode(target, (size_t)n);
  if (e->Kind == PSS_LINUX_FD_FILE || e->Kind == PSS_LINUX_FD_MEMFD)
    stat_path_fd(dirs, name, e, &size);
  fill_basic(e, &fi, flags);
  if (flags & PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION)
    fill_type_specific(t, dirs, name, e, &fi, size);
  return store_names(tab, e, target, (size_t)n,
                     (flags & PSS_CAPTURE_HANDLE_NAME_INFORMATION) != 0);
}
/* }====================================================================== */


/* {======================================================================
** Sockets: described after all fds are known, one pass per /proc/net table
** ======================================================================= */
/*
** A socket no /proc/net table lists (an unbound netlink or packet socket,
** say) still names its protocol in the xattr system.sockprotoname.
*/
static void protocol_name_only (int fddir, int fd, struct pss_socket_info *si) {
  static const struct { const char *name; int family, type, protocol; } protos[] = {
    { "UNIX", AF_UNIX, -1, 0 }, { "TCP", AF_INET, SOCK_STREAM, 6 },
    { "UDP", AF_INET, SOCK_DGRAM, 17 }, { "RAW", AF_INET, SOCK_RAW, -1 },
    { "PING", AF_INET, SOCK_DGRAM, 1 }, { "TCPv6", AF_INET6, SOCK_STREAM, 6 },
    { "UDPv6", AF_INET6, SOCK_DGRAM, 17 }, { "RAWv6", AF_INET6, SOCK_RAW, -1 },
    { "PINGv6", AF_INET6, SOCK_DGRAM, 58 }, { "NETLINK", AF_NETLINK, -1, -1 },
    { "PACKET", AF_PACKET, -1, -1 },
  };
  char path[64], name[32];
  ssize_t n;
  size_t i, k;
  snprintf(path, sizeof path, "/proc/self/fd/%d/%d", fddir, fd);
  if ((n = getxattr(path, "system.sockprotoname", name, sizeof name - 1)) <= 0) return;
  name[n] = '\0';
  for (i = 0; i < sizeof protos / sizeof protos[0]; i++)
    if (strcmp(name, protos[i].name) == 0) {
      si->family = protos[i].family;
      si->type = protos[i].type;
      si->protocol = protos[i].protocol;
      si->state = -1;
      si->found = 1;
      for (k = 0; name[k]; k++) si->desc[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
      si->desc[k] = '\0';
      return;
    }
}

static int describe_sockets (struct pss_target *t, struct pss_store *s, int fddir) {
  struct pss_table *tab = &s->tables[PSS_TABLE_HANDLES];
  struct pss_socket_info *socks;
  size_t i, n = 0;
  int rc;
  for (i = 0; i < tab->count; i++)
    n += ((PSS_LINUX_HANDLE_ENTRY *)pss_table_row(tab, i))->Kind == PSS_LINUX_FD_SOCKET;
  if (n == 0) return 0;
  if ((socks = calloc(n, sizeof *socks)) == NULL) return -ENOMEM;
  for (i = 0, n = 0; i < tab->count; i++) {
    PSS_LINUX_HANDLE_ENTRY *e = pss_table_row(tab, i);
    if (e->Kind == PSS_LINUX_FD_SOCKET) socks[n++].inode = e->Inode;
  }
  rc = pss_sockets_describe(t, socks, n);
  for (i = 0, n = 0; rc == 0 && i < tab->count; i++) {
    PSS_LINUX_HANDLE_ENTRY *e = pss_table_row(tab, i);
    struct pss_socket_info *si;
    int64_t off;
    if (e->Kind != PSS_LINUX_FD_SOCKET) continue;
    si = &socks[n++];
    if (!si->found) protocol_name_only(fddir, (int)(uintptr_t)e->Handle.Handle, si);
    if (!si->found) continue;
    e->SocketFamily = si->family;
    e->SocketType = si->type;
    e->SocketProtocol = si->protocol;
    e->SocketState = si->state;
    if (!(s->flags & PSS_CAPTURE_HANDLE_NAME_INFORMATION)) continue;
    off = pss_table_utf16(tab, si->desc, strlen(si->desc), &e->Handle.ObjectNameLength);
    if (off < 0) { rc = -ENOMEM; break; }
    e->Handle.ObjectName = (const WCHAR *)(uintptr_t)off;
  }
  free(socks);
  return rc;
}

int pss_capture_handles (struct pss_target *t, struct pss_store *s) {
  struct fd_dirs dirs = { -1, -1 };
  pid_t *fds = NULL;
  size_t n = 0, i;
  int rc;
  if ((dirs.fd = openat(t->livefd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return -errno;
  dirs.fdinfo = openat(t->livefd, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rc = dirs.fdinfo < 0 ? -errno : pss_list_numbers(dirs.fd, &fds, &n);
  for (i = 0; rc >= 0 && i < n; i++) {
    /* capturing ourselves: the directories this capture opened are not
       the process's own handles */
    if (t->self && (fds[i] == t->dirfd || fds[i] == t->livefd || fds[i] == dirs.fd ||
                    fds[i] == dirs.fdinfo))
      continue;
    rc = capture_fd(t, s, &dirs, fds[i]);
  }
  if (rc >= 0) rc = describe_sockets(t, s, dirs.fd);
  free(fds);
  close(dirs.fd);
  if (dirs.fdinfo >= 0) close(dirs.fdinfo);
  return rc < 0 ? rc : 0;
}
/* }====================================================================== */
