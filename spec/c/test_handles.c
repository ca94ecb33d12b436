/*
** test_handles.c -- handle entries against the target's report and
** /proc/PID/fd, /proc/PID/fdinfo.
*/
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

#define TCP_ESTABLISHED_STATE 1
#define TCP_LISTEN_STATE 10

/* What each kind of fd of the report must look like */
struct fd_expectation {
  char const *kind;           /* as the report names it */
  DWORD linux_kind;           /* PSS_LINUX_FD_KIND */
  char const *type_name;      /* TypeName */
  int family;                 /* SocketFamily, -1 if not a socket */
  int socket_type;            /* SocketType, 0: not checked */
  int tcp_state;              /* SocketState, 0: not checked */
};

/* ObjectType of a kind: only pidfd, eventfd and memfd have one */
static PSS_OBJECT_TYPE object_type_of (char const *kind) {
  if (strcmp(kind, "pidfd") == 0)
    return PSS_OBJECT_TYPE_PROCESS;
  if (strcmp(kind, "eventfd") == 0)
    return PSS_OBJECT_TYPE_EVENT;
  if (strcmp(kind, "eventfd-semaphore") == 0)
    return PSS_OBJECT_TYPE_SEMAPHORE;
  if (strcmp(kind, "memfd") == 0)
    return PSS_OBJECT_TYPE_SECTION;
  return PSS_OBJECT_TYPE_UNKNOWN;
}

static const struct fd_expectation expectations[] = {
  { "file-ro", PSS_LINUX_FD_FILE, "File", -1, 0, 0 },
  { "file-wo-append", PSS_LINUX_FD_FILE, "File", -1, 0, 0 },
  { "file-rw", PSS_LINUX_FD_FILE, "File", -1, 0, 0 },
  { "file-odd", PSS_LINUX_FD_FILE, "File", -1, 0, 0 },
  { "directory", PSS_LINUX_FD_DIRECTORY, "Directory", -1, 0, 0 },
  { "device", PSS_LINUX_FD_DEVICE, "Device", -1, 0, 0 },
  { "pipe-read", PSS_LINUX_FD_PIPE, "Pipe", -1, 0, 0 },
  { "pipe-write", PSS_LINUX_FD_PIPE, "Pipe", -1, 0, 0 },
  { "fifo", PSS_LINUX_FD_FIFO, "Fifo", -1, 0, 0 },
  { "socket-unix", PSS_LINUX_FD_SOCKET, "Socket", AF_UNIX, SOCK_STREAM, 0 },
  { "socket-unix-bound", PSS_LINUX_FD_SOCKET, "Socket", AF_UNIX, 0, 0 },
  { "socket-tcp-listen", PSS_LINUX_FD_SOCKET, "Socket", AF_INET, SOCK_STREAM, TCP_LISTEN_STATE },
  { "socket-tcp-client", PSS_LINUX_FD_SOCKET, "Socket", AF_INET, SOCK_STREAM, TCP_ESTABLISHED_STATE },
  { "socket-tcp-server", PSS_LINUX_FD_SOCKET, "Socket", AF_INET, SOCK_STREAM, TCP_ESTABLISHED_STATE },
  { "socket-udp", PSS_LINUX_FD_SOCKET, "Socket", AF_INET, SOCK_DGRAM, 0 },
  { "socket-udp6", PSS_LINUX_FD_SOCKET, "Socket", AF_INET6, SOCK_DGRAM, 0 },
  { "socket-netlink", PSS_LINUX_FD_SOCKET, "Socket", AF_NETLINK, 0, 0 },
  { "eventfd", PSS_LINUX_FD_EVENTFD, "EventFd", -1, 0, 0 },
  { "eventfd-semaphore", PSS_LINUX_FD_EVENTFD, "EventFd", -1, 0, 0 },
  { "timerfd", PSS_LINUX_FD_TIMERFD, "TimerFd", -1, 0, 0 },
  { "signalfd", PSS_LINUX_FD_SIGNALFD, "SignalFd", -1, 0, 0 },
  { "epoll", PSS_LINUX_FD_EPOLL, "Epoll", -1, 0, 0 },
  { "inotify", PSS_LINUX_FD_INOTIFY, "Inotify", -1, 0, 0 },
  { "pidfd", PSS_LINUX_FD_PIDFD, "PidFd", -1, 0, 0 },
  { "memfd", PSS_LINUX_FD_MEMFD, "MemFd", -1, 0, 0 },
};

/* Kinds the target always opens; the tests below need them */
static char const *const required_kinds[] = {
  "file-ro", "file-wo-append", "file-rw", "directory", "device", "pipe-read",
  "pipe-write", "fifo", "socket-unix", "socket-tcp-listen", "socket-tcp-client",
  "socket-tcp-server", "socket-udp", "socket-netlink", "eventfd",
  "eventfd-semaphore", "timerfd", "signalfd", "epoll", "inotify", "pidfd", "memfd",
};

struct handles {
  struct target *target;
  HPSS snapshot;
  size_t count;
  PSS_HANDLE_ENTRY *entries;
  PSS_LINUX_HANDLE_ENTRY *linux_entries;
};

static struct handles capture_handles (struct fixture *f, PSS_CAPTURE_FLAGS flags) {
  struct handles h;
  size_t n;
  h.target = fixture_start(f, NULL);
  h.snapshot = fixture_capture(f, fixture_open(f, h.target->pid), flags);
  h.entries = fixture_walk(f, h.snapshot, PSS_WALK_HANDLES, &h.count);
  h.linux_entries = fixture_walk(f, h.snapshot, PSS_WALK_LINUX_HANDLES, &n);
  assert_int_equal(n, h.count);
  return h;
}

static struct fd_expectation const *expectation_of (char const *kind) {
  size_t i;
  for (i = 0; i < sizeof expectations / sizeof expectations[0]; i++)
    if (strcmp(expectations[i].kind, kind) == 0)
      return &expectations[i];
  return NULL;
}

/* The Linux entry of fd n; fails the test if there is none */
static PSS_LINUX_HANDLE_ENTRY const *entry_of_fd (struct handles const *h, int n) {
  size_t i;
  for (i = 0; i < h->count; i++)
    if ((intptr_t)h->linux_entries[i].Handle.Handle == n)
      return &h->linux_entries[i];
  fail_because("no handle entry for fd %d", n);
  return NULL;
}

/* The entry for the report's fd of that kind */
static PSS_LINUX_HANDLE_ENTRY const *entry_of_kind (struct handles const *h,
                                                    char const *kind,
                                                    struct target_fd const **fd) {
  *fd = target_fd_by_kind(h->target, kind);
  if (*fd == NULL)
    fail_because("the target reports no fd of kind %s", kind);
  return entry_of_fd(h, (*fd)->fd);
}

static void fd_link (pid_t pid, int fd, char *buf, size_t cap, long *len) {
  char rel[32];
  snprintf(rel, sizeof rel, "fd/%d", fd);
  *len = proc_link(pid, rel, buf, cap);
  assert_true(*len > 0);
}

static void target_opens_every_kind (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  size_t i;
  for (i = 0; i < sizeof required_kinds / sizeof required_kinds[0]; i++)
    if (target_fd_by_kind(t, required_kinds[i]) == NULL)
      fail_because("the target reports no fd of kind %s", required_kinds[i]);
}

static void handle_kinds_and_type_names_follow_fd_kinds (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i, checked = 0;
  for (i = 0; i < h.target->fd_count; i++) {
    struct target_fd const *fd = &h.target->fds[i];
    struct fd_expectation const *x = expectation_of(fd->kind);
    PSS_LINUX_HANDLE_ENTRY const *e = entry_of_fd(&h, fd->fd);
    if (x == NULL) {
      note("fd %d: kind %s has no expectation here", fd->fd, fd->kind);
      continue;
    }
    if (e->Kind != x->linux_kind)
      fail_because("fd %d (%s): Kind %u, expected %u", fd->fd, fd->kind,
                   (unsigned)e->Kind, (unsigned)x->linux_kind);
    assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_TYPE);
    assert_utf16_bytes(e->Handle.TypeName, e->Handle.TypeNameLength, x->type_name,
                       strlen(x->type_name));
    if (e->Handle.ObjectType != object_type_of(fd->kind))
      fail_because("fd %d (%s): ObjectType %d, expected %d", fd->fd, fd->kind,
                   (int)e->Handle.ObjectType, (int)object_type_of(fd->kind));
    /* the union arm exists for pidfd, eventfd and memfd only */
    assert_int_equal((e->Handle.Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION) != 0,
                     object_type_of(fd->kind) != PSS_OBJECT_TYPE_UNKNOWN);
    checked++;
  }
  assert_true(checked >= sizeof required_kinds / sizeof required_kinds[0]);
}

static void handle_targets_are_fd_links (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i;
  for (i = 0; i < h.count; i++) {
    PSS_LINUX_HANDLE_ENTRY const *e = &h.linux_entries[i];
    char link[4096];
    long len;
    fd_link(h.target->pid, (int)(intptr_t)e->Handle.Handle, link, sizeof link, &len);
    assert_bytes(e->Target, e->TargetLength, link, (size_t)len);
    assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_NAME);
  }
}

static void object_names_are_link_targets (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i, named = 0;
  for (i = 0; i < h.count; i++) {
    PSS_LINUX_HANDLE_ENTRY const *e = &h.linux_entries[i];
    int n = (int)(intptr_t)e->Handle.Handle;
    char link[4096];
    long len;
    if (e->Kind == PSS_LINUX_FD_SOCKET)
      continue;   /* a socket's name describes it, see below */
    fd_link(h.target->pid, n, link, sizeof link, &len);
    assert_utf16_bytes(e->Handle.ObjectName, e->Handle.ObjectNameLength, link, (size_t)len);
    named++;
  }
  assert_true(named >= 15);
}

static void file_paths_match_report (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  static char const *const kinds[] = { "file-ro", "file-wo-append", "file-rw", "directory",
                                       "device", "fifo" };
  size_t i;
  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    struct target_fd const *fd;
    PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(&h, kinds[i], &fd);
    char reported[4096];
    long rlen = target_fd_path(fd, "path", reported, sizeof reported);
    assert_true(rlen > 0);
    assert_utf16_bytes(e->Handle.ObjectName, e->Handle.ObjectNameLength, reported,
                       (size_t)rlen);
    assert_bytes(e->Target, e->TargetLength, reported, (size_t)rlen);
  }
}

static void open_flags_and_positions_match_fdinfo (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *ro;
  unsigned long long offset;
  size_t i;
  for (i = 0; i < h.count; i++) {
    PSS_LINUX_HANDLE_ENTRY const *e = &h.linux_entries[i];
    int n = (int)(intptr_t)e->Handle.Handle;
    struct proc_fdinfo info;
    assert_int_equal(proc_fdinfo(h.target->pid, n, &info), 0);
    if (e->OpenFlags != info.flags)
      fail_because("fd %d: OpenFlags 0%o, fdinfo flags 0%o", n, e->OpenFlags, info.flags);
    assert_int_equal(e->Position, info.pos);
    assert_int_equal(e->MountId, info.mnt_id);
    if (info.has_ino)
      assert_int_equal(e->Inode, info.ino);
  }
  /* the target reads 3 bytes of its read-only file */
  entry_of_kind(&h, "file-ro", &ro);
  assert_true(target_fd_number(ro, "offset", &offset));
  assert_int_equal(entry_of_fd(&h, ro->fd)->Position, offset);
  assert_int_equal(offset, 3);
  assert_int_equal(entry_of_fd(&h, ro->fd)->OpenFlags & O_ACCMODE, O_RDONLY);
  assert_true(entry_of_fd(&h, target_fd_by_kind(h.target, "file-wo-append")->fd)->OpenFlags & O_APPEND);
}

static void inodes_match_report (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i, checked = 0;
  for (i = 0; i < h.target->fd_count; i++) {
    unsigned long long inode;
    if (!target_fd_number(&h.target->fds[i], "inode", &inode))
      continue;
    if (entry_of_fd(&h, h.target->fds[i].fd)->Inode != inode)
      fail_because("fd %d (%s): Inode %llu, the target says %llu", h.target->fds[i].fd,
                   h.target->fds[i].kind,
                   (unsigned long long)entry_of_fd(&h, h.target->fds[i].fd)->Inode, inode);
    checked++;
  }
  assert_true(checked >= 5);   /* pipes and sockets */
}

static DWORD access_of (unsigned flags) {
  if ((flags & O_PATH) == O_PATH)
    return 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return GENERIC_READ;
    case O_WRONLY: return GENERIC_WRITE;
    default: return GENERIC_READ | GENERIC_WRITE;
  }
}

static void basic_fields_follow_open_flags (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i;
  for (i = 0; i < h.count; i++) {
    PSS_HANDLE_ENTRY const *e = &h.linux_entries[i].Handle;
    struct proc_fdinfo info;
    assert_int_equal(proc_fdinfo(h.target->pid, (int)(intptr_t)e->Handle, &info), 0);
    if (e->GrantedAccess != access_of(info.flags))
      fail_because("fd %d (flags 0%o): GrantedAccess 0x%x, expected 0x%x",
                   (int)(intptr_t)e->Handle, info.flags, (unsigned)e->GrantedAccess,
                   (unsigned)access_of(info.flags));
    /* what /proc cannot tell is 0 */
    assert_int_equal(e->HandleCount, 0);
    assert_int_equal(e->PointerCount, 0);
    assert_int_equal(e->PagedPoolCharge, 0);
    assert_int_equal(e->NonPagedPoolCharge, 0);
    assert_int_equal(filetime_ticks(e->CreationTime), 0);
  }
}

static void inherit_attribute_follows_cloexec (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i, inheritable = 0, not_inheritable = 0;
  for (i = 0; i < h.target->fd_count; i++) {
    struct target_fd const *fd = &h.target->fds[i];
    PSS_LINUX_HANDLE_ENTRY const *e = entry_of_fd(&h, fd->fd);
    struct proc_fdinfo info;
    unsigned long long cloexec;
    assert_true(target_fd_number(fd, "cloexec", &cloexec));
    assert_int_equal(proc_fdinfo(h.target->pid, fd->fd, &info), 0);
    assert_int_equal(cloexec != 0, (info.flags & O_CLOEXEC) != 0);
    assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION);
    if ((e->Handle.Attributes & OBJ_INHERIT) != (cloexec ? 0 : OBJ_INHERIT))
      fail_because("fd %d (%s, cloexec=%llu): Attributes 0x%x", fd->fd, fd->kind,
                   cloexec, (unsigned)e->Handle.Attributes);
    if (cloexec)
      not_inheritable++;
    else
      inheritable++;
  }
  /* the report has both, so the test sees both answers */
  assert_true(inheritable > 0 && not_inheritable > 0);
}

static void pidfd_handle_is_process (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(&h, "pidfd", &fd);
  unsigned long long pid;
  assert_true(target_fd_number(fd, "pid", &pid));
  assert_int_equal(e->Handle.ObjectType, PSS_OBJECT_TYPE_PROCESS);
  assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION);
  assert_int_equal(e->Handle.TypeSpecificInformation.Process.ProcessId, (DWORD)pid);
  /* the process it names: the target's child, alive */
  assert_int_equal(e->Handle.TypeSpecificInformation.Process.ParentProcessId,
                   (DWORD)h.target->pid);
  assert_int_equal(e->Handle.TypeSpecificInformation.Process.ExitStatus, STILL_ACTIVE);
  assert_int_equal(e->Handle.TypeSpecificInformation.Process.Flags, 0);
}

static void eventfd_handle_is_signaled_event (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(&h, "eventfd", &fd);
  struct proc_fdinfo info;
  unsigned long long count;
  assert_true(target_fd_number(fd, "count", &count));
  assert_int_equal(proc_fdinfo(h.target->pid, fd->fd, &info), 0);
  assert_int_equal(e->Handle.ObjectType, PSS_OBJECT_TYPE_EVENT);
  assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION);
  assert_int_equal(e->Handle.TypeSpecificInformation.Event.Signaled, TRUE);
  assert_int_equal(e->Handle.TypeSpecificInformation.Event.ManualReset, FALSE);
  assert_int_equal(e->Count, count);
  assert_int_equal(count, 5);
  if (info.has_eventfd_count)
    assert_int_equal(e->Count, info.eventfd_count);
}

static void semaphore_eventfd_handle_counts (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(&h, "eventfd-semaphore", &fd);
  unsigned long long count;
  assert_true(target_fd_number(fd, "count", &count));
  assert_int_equal(e->Handle.ObjectType, PSS_OBJECT_TYPE_SEMAPHORE);
  assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION);
  assert_int_equal(e->Handle.TypeSpecificInformation.Semaphore.CurrentCount, (LONG)count);
  assert_int_equal(e->Handle.TypeSpecificInformation.Semaphore.MaximumCount, 0x7FFFFFFF);
  assert_int_equal(e->Count, count);
  assert_int_equal(count, 2);
}

static void memfd_handle_is_section_of_its_size (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(&h, "memfd", &fd);
  unsigned long long size;
  assert_true(target_fd_number(fd, "size", &size));
  assert_int_equal(e->Handle.ObjectType, PSS_OBJECT_TYPE_SECTION);
  assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION);
  assert_int_equal(e->Handle.TypeSpecificInformation.Section.MaximumSize.QuadPart,
                   (int64_t)size);
  assert_int_equal(size, 65536);
  assert_int_equal(e->Handle.TypeSpecificInformation.Section.AllocationAttributes,
                   0x08000000);   /* SEC_COMMIT */
  assert_null(e->Handle.TypeSpecificInformation.Section.BaseAddress);
}

static void timer_and_signal_counts_match_fdinfo (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *timer = entry_of_kind(&h, "timerfd", &fd);
  PSS_LINUX_HANDLE_ENTRY const *signals;
  struct proc_fdinfo info;
  unsigned long long signo;
  assert_int_equal(proc_fdinfo(h.target->pid, fd->fd, &info), 0);
  assert_true(info.has_ticks);
  assert_int_equal(timer->Count, info.ticks);
  signals = entry_of_kind(&h, "signalfd", &fd);
  assert_int_equal(proc_fdinfo(h.target->pid, fd->fd, &info), 0);
  assert_true(info.has_sigmask);
  assert_true(target_fd_number(fd, "signals", &signo));
  assert_int_equal(info.sigmask, 1ULL << (signo - 1));
  assert_int_equal(signals->Count, info.sigmask);
}

static void socket_details_follow_socket_kinds (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  size_t i, sockets = 0;
  for (i = 0; i < h.target->fd_count; i++) {
    struct target_fd const *fd = &h.target->fds[i];
    struct fd_expectation const *x = expectation_of(fd->kind);
    PSS_LINUX_HANDLE_ENTRY const *e = entry_of_fd(&h, fd->fd);
    if (x == NULL)
      continue;
    if (e->SocketFamily != x->family)
      fail_because("fd %d (%s): SocketFamily %d, expected %d", fd->fd, fd->kind,
                   (int)e->SocketFamily, x->family);
    if (x->family < 0) {
      assert_int_equal(e->SocketType, -1);
      assert_int_equal(e->SocketState, -1);
      continue;
    }
    sockets++;
    if (x->socket_type != 0 && e->SocketType != x->socket_type)
      fail_because("fd %d (%s): SocketType %d, expected %d", fd->fd, fd->kind,
                   (int)e->SocketType, x->socket_type);
    if (x->tcp_state != 0 && e->SocketState != x->tcp_state)
      fail_because("fd %d (%s): SocketState %d, expected %d", fd->fd, fd->kind,
                   (int)e->SocketState, x->tcp_state);
  }
  assert_true(sockets >= 6);
}

/* The ObjectName of the report's first fd of kind, as bytes */
static size_t socket_name (struct handles const *h, char const *kind,
                           struct target_fd const **fd, char *out, size_t cap) {
  PSS_LINUX_HANDLE_ENTRY const *e = entry_of_kind(h, kind, fd);
  size_t len;
  assert_true(e->Handle.Flags & PSS_HANDLE_HAVE_NAME);
  len = utf16_to_bytes(e->Handle.ObjectName, e->Handle.ObjectNameLength, out, cap);
  assert_true(len < cap);
  return len;
}

static unsigned long long fd_number (struct target_fd const *fd, char const *key) {
  unsigned long long v;
  if (!target_fd_number(fd, key, &v))
    fail_because("fd %d (%s): no %s= in the report", fd->fd, fd->kind, key);
  return v;
}

static void assert_socket_name (struct handles const *h, char const *kind,
                                char const *want) {
  struct target_fd const *fd;
  char name[256];
  size_t len = socket_name(h, kind, &fd, name, sizeof name);
  assert_bytes(name, len, want, strlen(want));
}

static void inet_socket_names_describe_them (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *listen = target_fd_by_kind(h.target, "socket-tcp-listen");
  struct target_fd const *client = target_fd_by_kind(h.target, "socket-tcp-client");
  struct target_fd const *server = target_fd_by_kind(h.target, "socket-tcp-server");
  struct target_fd const *udp = target_fd_by_kind(h.target, "socket-udp");
  struct target_fd const *udp6 = target_fd_by_kind(h.target, "socket-udp6");
  char want[160];
  assert_true(listen && client && server && udp);
  snprintf(want, sizeof want, "tcp 127.0.0.1:%llu LISTEN", fd_number(listen, "port"));
  assert_socket_name(&h, "socket-tcp-listen", want);
  snprintf(want, sizeof want, "tcp 127.0.0.1:%llu -> 127.0.0.1:%llu ESTABLISHED",
           fd_number(client, "lport"), fd_number(client, "rport"));
  assert_socket_name(&h, "socket-tcp-client", want);
  snprintf(want, sizeof want, "tcp 127.0.0.1:%llu -> 127.0.0.1:%llu ESTABLISHED",
           fd_number(server, "lport"), fd_number(server, "rport"));
  assert_socket_name(&h, "socket-tcp-server", want);
  snprintf(want, sizeof want, "udp 127.0.0.1:%llu", fd_number(udp, "port"));
  assert_socket_name(&h, "socket-udp", want);
  if (udp6 != NULL) {
    snprintf(want, sizeof want, "udp6 [::1]:%llu", fd_number(udp6, "port"));
    assert_socket_name(&h, "socket-udp6", want);
  }
}

static void local_socket_names_describe_them (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  char path[200], want[256], name[256], printed[300];
  long plen;
  size_t len;
  assert_socket_name(&h, "socket-unix", "unix stream");
  fd = target_fd_by_kind(h.target, "socket-unix-bound");
  assert_non_null(fd);
  plen = target_fd_path(fd, "path", path, sizeof path);
  assert_true(plen > 0);
  snprintf(want, sizeof want, "unix stream %s", path);
  assert_socket_name(&h, "socket-unix-bound", want);
  /* netlink: "netlink route" when /proc/net/netlink lists it, the
  ** system.sockprotoname fallback "netlink" when it does not (unbound) */
  len = socket_name(&h, "socket-netlink", &fd, name, sizeof name);
  if (!(len == 13 && memcmp(name, "netlink route", 13) == 0) &&
      !(len == 7 && memcmp(name, "netlink", 7) == 0))
    fail_because("netlink ObjectName \"%s\"", printable(name, len, printed, sizeof printed));
}

static void socket_protocols_and_states (void **state) {
  struct fixture *f = FIXTURE(state);
  struct handles h = capture_handles(f, CAPTURE_EVERYTHING);
  struct target_fd const *fd;
  PSS_LINUX_HANDLE_ENTRY const *e;
  e = entry_of_kind(&h, "socket-tcp-client", &fd);
  assert_int_equal(e->SocketProtocol, IPPROTO_TCP);
  e = entry_of_kind(&h, "socket-udp", &fd);
  assert_int_equal(e->SocketProtocol, IPPROTO_UDP);
  assert_int_equal(e->SocketState, 7);        /* TCP_CLOSE: unconnected */
  e = entry_of_kind(&h, "socket-unix", &fd);
  assert_int_equal(e->SocketProtocol, 0);
  assert_int_equal(e->SocketState, 3);        /* SS_CONNECTED */
  e = entry_of_kind(&h, "socket-unix-bound", &fd);
  assert_int_equal(e->SocketState, TCP_LISTEN_STATE);
  e = entry_of_kind(&h, "socket-netlink", &fd);
  assert_int_equal(e->SocketType, -1);
  assert_int_equal(e->SocketState, -1);
}

/* Capture with handles and some of the detail flags: which HAVE_ flags
** every entry carries */
static void check_detail_flags (struct fixture *f, PSS_CAPTURE_FLAGS details) {
  struct target *t = fixture_start(f, NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), PSS_CAPTURE_HANDLES | details);
  size_t n, i, type_specific = 0;
  PSS_HANDLE_ENTRY *e = fixture_walk(f, s, PSS_WALK_HANDLES, &n);
  int name = (details & PSS_CAPTURE_HANDLE_NAME_INFORMATION) != 0;
  int basic = (details & PSS_CAPTURE_HANDLE_BASIC_INFORMATION) != 0;
  int specific = (details & PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION) != 0;
  PSS_LINUX_HANDLE_ENTRY *l = fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &i);
  assert_int_equal(i, n);
  assert_true(n > 0);
  for (i = 0; i < n; i++) {
    if (!name) {
      assert_null(e[i].ObjectName);
      assert_int_equal(e[i].ObjectNameLength, 0);
      /* the extension's Target is there all the same */
      assert_true(l[i].TargetLength > 0);
    }
    if (!basic) {
      assert_int_equal(e[i].Attributes, 0);
      assert_int_equal(e[i].GrantedAccess, 0);
    }
    /* fdinfo is read with _BASIC_ or _TYPE_SPECIFIC_ (and for eventfds) */
    if (!basic && !specific && l[i].Kind != PSS_LINUX_FD_EVENTFD) {
      assert_int_equal(l[i].OpenFlags, 0);
      assert_int_equal(l[i].Position, 0);
      assert_int_equal(l[i].MountId, 0);
      assert_int_equal(l[i].Count, 0);
    }
    assert_true(e[i].Flags & PSS_HANDLE_HAVE_TYPE);
    assert_true(e[i].TypeNameLength > 0);
    assert_int_equal((e[i].Flags & PSS_HANDLE_HAVE_NAME) != 0, name);
    assert_int_equal((e[i].Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION) != 0, basic);
    if (!specific)
      assert_int_equal(e[i].Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION, 0);
    if (e[i].Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION)
      type_specific++;
  }
  /* pidfd, two eventfds and memfd have a union arm */
  if (specific)
    assert_int_equal(type_specific, 4);
}

static void handle_flags_without_details (void **state) {
  check_detail_flags(FIXTURE(state), 0);
}

static void handle_flags_with_names_only (void **state) {
  check_detail_flags(FIXTURE(state), PSS_CAPTURE_HANDLE_NAME_INFORMATION);
}

static void handle_flags_with_basic_only (void **state) {
  check_detail_flags(FIXTURE(state), PSS_CAPTURE_HANDLE_BASIC_INFORMATION);
}

static void handle_flags_with_type_specific_only (void **state) {
  check_detail_flags(FIXTURE(state), PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION);
}

int run_handle_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(target_opens_every_kind),
    fixture_test(handle_kinds_and_type_names_follow_fd_kinds),
    fixture_test(handle_targets_are_fd_links),
    fixture_test(object_names_are_link_targets),
    fixture_test(file_paths_match_report),
    fixture_test(open_flags_and_positions_match_fdinfo),
    fixture_test(inodes_match_report),
    fixture_test(basic_fields_follow_open_flags),
    fixture_test(inherit_attribute_follows_cloexec),
    fixture_test(pidfd_handle_is_process),
    fixture_test(eventfd_handle_is_signaled_event),
    fixture_test(semaphore_eventfd_handle_counts),
    fixture_test(memfd_handle_is_section_of_its_size),
    fixture_test(timer_and_signal_counts_match_fdinfo),
    fixture_test(socket_details_follow_socket_kinds),
    fixture_test(inet_socket_names_describe_them),
    fixture_test(local_socket_names_describe_them),
    fixture_test(socket_protocols_and_states),
    fixture_test(handle_flags_without_details),
    fixture_test(handle_flags_with_names_only),
    fixture_test(handle_flags_with_basic_only),
    fixture_test(handle_flags_with_type_specific_only),
  };
  return cmocka_run_group_tests_name("handles", tests, NULL, NULL);
}
