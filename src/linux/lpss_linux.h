/*
** lpss_linux.h -- the Linux side of pss.core, included once by lpss.c.
**
** What a platform gives the binding (the lpss_* functions lpss.h
** declares): opening a process by pid, the pid of the caller, the words
** for a failure, UTF-16 to bytes, the VA clone's memory, a core file; and
** what the module adds on this system (here core.processes, from /proc).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "linux/proc/procfs.h"


/* {======================================================================
** Processes and failures
** ======================================================================= */

/* Linux needs no access rights per capture flag: a pidfd names the
** process, and ptrace and /proc decide at capture time. */
DWORD lpss_process_open (DWORD pid, DWORD flags, HANDLE *h) {
  (void)flags;
  return PssLinuxOpenProcess(pid, h);
}

void lpss_process_close (HANDLE h) { PssLinuxCloseProcess(h); }

lua_Integer lpss_current_pid (void) { return (lua_Integer)getpid(); }

/* nonzero when the last failure came from the system, not from the
** library's own argument checks (those leave no errno behind) */
int lpss_failure_from_system (void) { return PssLinuxLastErrno() != 0; }

/* the system's words for the last failure, when the code has none */
static const char *system_message (DWORD code, char *buf, size_t size) {
  int e = PssLinuxLastErrno();
  (void)code; (void)buf; (void)size;
  return e != 0 ? strerror(e) : NULL;
}

const char *lpss_system_detail (void) { return PssLinuxLastErrorDetail(); }

/* the whole API is always there */
static int api_missing (void) { return 0; }

/* UTF-16 -> the original bytes (see PssLinuxUtf16ToBytes) */
static size_t wide_to_utf8 (const WCHAR *s, size_t units, char *out, size_t size) {
  return PssLinuxUtf16ToBytes(s, units, out, size);
}
/* }====================================================================== */


/* {======================================================================
** The VA clone's memory, the core file, waits
** ======================================================================= */
DWORD lpss_snapshot_memory (HPSS h, UINT64 address, void *buf, SIZE_T n, SIZE_T *got) {
  return PssLinuxReadSnapshotMemory(h, address, buf, n, got);
}

DWORD lpss_snapshot_core (HPSS h, const char *path) { return PssLinuxWriteCore(h, path); }

/* the core on an open file's descriptor (the caller flushed it) */
DWORD lpss_snapshot_core_file (HPSS h, FILE *f) { return PssLinuxWriteCoreFd(h, fileno(f)); }

static DWORD save_flags (int memory) { return memory ? PSS_LINUX_SAVE_MEMORY : 0; }

/* Progress of a long write on standard error, once it has taken a second:
** "pss: saving memory: 312 of 1024 MiB", redrawn at most 4 times a second.
** The caller asks for it only when standard error is a terminal. */
static _Thread_local struct { double start, last; int shown; } progress;

static double monotonic (void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void show_progress (void *what, UINT64 done, UINT64 total) {
  double now = monotonic();
  char line[128];
  int n;
  if (now - progress.start < 1.0 || (now - progress.last < 0.25 && done < total)) return;
  progress.last = now;
  progress.shown = 1;
  n = snprintf(line, sizeof line, "\rpss: %s: %llu of %llu MiB", (const char *)what,
               (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
  if (n > 0) fwrite(line, 1, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, stderr);
}

/* on: reports go to standard error from now on; off: they stop, and a
** line that was shown is ended. */
void lpss_progress (const char *what, int on) {
  if (on) {
    progress.start = progress.last = monotonic();
    progress.shown = 0;
    PssLinuxSetProgressRoutine(show_progress, (void *)(uintptr_t)what);
    return;
  }
  PssLinuxSetProgressRoutine(NULL, NULL);
  if (progress.shown) fputc('\n', stderr);
  progress.shown = 0;
}

DWORD lpss_snapshot_save (HPSS h, const char *path, int memory) {
  return PssLinuxSaveSnapshotFile(h, path, save_flags(memory));
}

/* on an open file's descriptor (the caller flushed it) */
DWORD lpss_snapshot_save_file (HPSS h, FILE *f, int memory) {
  return PssLinuxSaveSnapshot(h, fileno(f), save_flags(memory));
}

DWORD lpss_snapshot_load (const char *path, HPSS *h) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), e;
  DWORD rc;
  if (fd < 0) {
    e = errno;
    return PssLinuxSetLastError(e == ENOENT || e == ENOTDIR ? ERROR_FILE_NOT_FOUND
                                : e == EACCES || e == EPERM ? ERROR_ACCESS_DENIED
                                : ERROR_GEN_FAILURE, strerror(e));
  }
  rc = PssLinuxLoadSnapshot(fd, h);
  close(fd);
  return rc;
}

/* from an open file's descriptor, at its position (the caller flushed it) */
DWORD lpss_snapshot_load_file (FILE *f, HPSS *h) { return PssLinuxLoadSnapshot(fileno(f), h); }

static DWORD wait_limit_set (DWORD ms) { return PssLinuxSetWaitLimit(ms); }

/* The limit, unchanged (PssLinuxSetWaitLimit(0) only reads it). */
static DWORD wait_limit_get (void) { return PssLinuxSetWaitLimit(0); }

/* the whole time, whatever signals arrive meanwhile */
static void platform_sleep (double seconds) {
  struct timespec t;
  t.tv_sec = (time_t)seconds;
  t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
  while (nanosleep(&t, &t) != 0 && errno == EINTR) continue;
}
/* }====================================================================== */


/* {======================================================================
** core.processes(): the process list from /proc
**
** pids first (the directory, sorted), then each process's stat and status,
** read with one read each through the /proc directory fd and parsed by
** libpss's own parsers. A process that is gone by then, or that cannot be
** read, is left out: the list is of one moment only in name anyway.
** ======================================================================= */
#define PROCDIR_MT "pss.procdir"

/* The /proc directory stream lives in a userdata marked to be closed, so
** an error raised while the list is built (out of memory) closes it at
** once; __gc is there for a state closed meanwhile. */
typedef struct { DIR *dir; } ProcDir;

static int procdir_close (lua_State *L) {
  ProcDir *d = luaL_checkudata(L, 1, PROCDIR_MT);
  if (d->dir != NULL) closedir(d->dir);
  d->dir = NULL;
  return 0;
}

/* fail, "processes: what: reason", code: as a runtime failure */
static int proc_failure (lua_State *L, const char *what, int e) {
  DWORD code = e == EACCES || e == EPERM ? ERROR_ACCESS_DENIED
             : e == ENOMEM ? ERROR_NOT_ENOUGH_MEMORY : ERROR_GEN_FAILURE;
  luaL_pushfail(L);
  lua_pushfstring(L, "processes: %s: %s", what, strerror(e));
  lua_pushinteger(L, (lua_Integer)code);
  return 3;
}

/* One read of a one-record file relative to the /proc fd: seq_file hands
** over all of its text (up to size) in the first read. -1 when it cannot
** be opened or read (the process is gone, or hides it). */
static ssize_t read_record (int procfd, const char *path, char *buf, size_t size) {
  int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  ssize_t n;
  if (fd < 0) return -1;
  do n = read(fd, buf, size); while (n < 0 && errno == EINTR);
  close(fd);
  return n;
}

/* pid of a /proc entry whose name is all digits, else 0 */
static int pid_of (const char *name) {
  long pid = 0;
  const char *p;
  for (p = name; *p >= '0' && *p <= '9' && pid <= INT_MAX; p++) pid = pid * 10 + (*p - '0');
  return *p == '\0' && p > name && pid <= INT_MAX ? (int)pid : 0;
}

static int pid_order (const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The pids of /proc, sorted, in a userdata pushed on the stack. */
static int *list_pids (lua_State *L, DIR *dir, size_t *count, int *err) {
  size_t n = 0, cap = 512;
  int *pids = lua_newuserdatauv(L, cap * sizeof *pids, 0);
  int slot = lua_gettop(L), pid;
  struct dirent *de;
  *err = 0;
  for (;;) {
    errno = 0;
    if ((de = readdir(dir)) == NULL) break;
    if ((pid = pid_of(de->d_name)) == 0) continue;
    if (n == cap) {    /* a bigger block; the old one goes with the GC */
      int *more = lua_newuserdatauv(L, 2 * cap * sizeof *pids, 0);
      memcpy(more, pids, n * sizeof *pids);
      lua_replace(L, slot);
      pids = more;
      cap *= 2;
    }
    pids[n++] = pid;
  }
  *err = errno;
  qsort(pids, n, sizeof *pids, pid_order);
  *count = n;
  return pids;
}

/* Pushes the name of a uid: getpwuid_r's, or the uid in decimal. Each
** uid is resolved once per listing (users: uid -> name), since the name
** service may be a directory server. */
static void push_user (lua_State *L, int users, unsigned uid) {
  char stack[4096], *buf = stack;
  size_t size = sizeof stack;
  struct passwd pw, *found = NULL;
  int rc, grown = 0;
  if (lua_rawgeti(L, users, uid) == LUA_TSTRING) return;
  lua_pop(L, 1);
  while ((rc = getpwuid_r((uid_t)uid, &pw, buf, size, &found)) == ERANGE && size < 1u << 20) {
    if (grown) lua_pop(L, 1);
    size *= 2;
    buf = lua_newuserdatauv(L, size, 0);   /* on the stack while in use */
    grown = 1;
  }
  if (rc == 0 && found != NULL) lua_pushstring(L, pw.pw_name);
  else lua_pushfstring(L, "%I", (lua_Integer)uid);
  if (grown) lua_remove(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, users, uid);
}

static void set_field_integer (lua_State *L, const char *key, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, key);
}

/* Pushes the entry of one process and returns 1, or returns 0 (pushing
** nothing) when it cannot be read. */
static int push_process_entry (lua_State *L, int procfd, int pid, int users, long page) {
  char path[32], text[4096];
  struct pss_stat st;
  struct pss_status status;
  ssize_t n;
  snprintf(path, sizeof path, "%d/stat", pid);
  if ((n = read_record(procfd, path, text, sizeof text)) <= 0) return 0;
  if (pss_parse_stat(text, (size_t)n, &st) != 0) return 0;
  /* Uid: is a line of the first few hundred bytes, so a status longer
     than the buffer (long Cpus_allowed masks) is cut harmlessly */
  snprintf(path, sizeof path, "%d/status", pid);
  if ((n = read_record(procfd, path, text, sizeof text)) <= 0) return 0;
  pss_parse_status(text, (size_t)n, &status);
  lua_createtable(L, 0, 8);
  set_field_integer(L, "pid", pid);
  set_field_integer(L, "ppid", st.ppid);
  lua_pushlstring(L, st.comm, st.comm_len);
  lua_setfield(L, -2, "name");
  lua_pushlstring(L, &st.state, 1);
  lua_setfield(L, -2, "state");
  set_field_integer(L, "uid", status.uid[0]);
  push_user(L, users, status.uid[0]);
  lua_setfield(L, -2, "user");
  set_field_integer(L, "threads", st.num_threads);
  set_field_integer(L, "rss", (lua_Integer)st.rss * page);
  return 1;
}

/*
** core.processes() -> list of {pid, ppid, name, state, uid, user, threads,
** rss}, sorted by pid; fail, message, code when /proc cannot be listed.
*/
static int linux_processes (lua_State *L) {
  ProcDir *d;
  size_t i, count;
  int *pids, procfd, users, list, err;
  long page = sysconf(_SC_PAGESIZE);
  lua_Integer n = 0;
  lua_settop(L, 0);
  d = lua_newuserdatauv(L, sizeof *d, 0);                      /* 1 */
  d->dir = NULL;
  luaL_setmetatable(L, PROCDIR_MT);
  lua_toclose(L, 1);
  if ((procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return proc_failure(L, "/proc", errno);
  if ((d->dir = fdopendir(procfd)) == NULL) {
    err = errno;
    close(procfd);
    return proc_failure(L, "/proc", err);
  }
  pids = list_pids(L, d->dir, &count, &err);                   /* 2 */
  if (err != 0) return proc_failure(L, "/proc", err);
  lua_newtable(L);                                             /* 3 */
  users = lua_gettop(L);
  lua_createtable(L, (int)count, 0);                           /* 4 */
  list = lua_gettop(L);
  for (i = 0; i < count; i++)
    if (push_process_entry(L, procfd, pids[i], users, page)) lua_rawseti(L, list, ++n);
  return 1;     /* returning closes slot 1, the directory */
}

static void platform_open (lua_State *L) {
  static const luaL_Reg procdir_meta[] = {
    { "__gc", procdir_close }, { "__close", procdir_close }, { NULL, NULL }
  };
  luaL_newmetatable(L, PROCDIR_MT);
  luaL_setfuncs(L, procdir_meta, 0);
  lua_pop(L, 1);
  lua_pushliteral(L, "linux");
  lua_setfield(L, -2, "platform");
  lua_pushcfunction(L, linux_processes);
  lua_setfield(L, -2, "processes");
}
/* }====================================================================== */
