/*
** lpss_linux.h -- the Linux side of pss.core, included once by lpss.c.
**
** What a platform gives the binding: opening a process by pid, the pid of
** the caller, the words for a failure, UTF-16 to bytes, the VA clone's
** memory, a core file, and what the module adds on this system.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CURRENT_PROCESS PSS_LINUX_CURRENT_PROCESS
#define HAVE_LINUX_CLASSES 1

/* Linux needs no access rights per capture flag: a pidfd names the
** process, and ptrace and /proc decide at capture time. */
static DWORD process_open (DWORD pid, DWORD flags, HANDLE *h) {
  (void)flags;
  return PssLinuxOpenProcess(pid, h);
}

static void process_close (HANDLE h) { PssLinuxCloseProcess(h); }

static lua_Integer current_pid (void) { return (lua_Integer)getpid(); }

/* nonzero when the last failure came from the system, not from the
** library's own argument checks (those leave no errno behind) */
static int failure_from_system (void) { return PssLinuxLastErrno() != 0; }

/* the system's words for the last failure, when the code has none */
static const char *system_message (DWORD code, char *buf, size_t size) {
  int e = PssLinuxLastErrno();
  (void)code; (void)buf; (void)size;
  return e != 0 ? strerror(e) : NULL;
}

static const char *system_detail (void) { return PssLinuxLastErrorDetail(); }

/* the whole API is always there */
static int api_missing (void) { return 0; }

/* UTF-16 -> the original bytes (see PssLinuxUtf16ToBytes) */
static size_t wide_to_utf8 (const WCHAR *s, size_t units, char *out, size_t size) {
  return PssLinuxUtf16ToBytes(s, units, out, size);
}

static DWORD snapshot_memory (HPSS h, UINT64 address, void *buf, SIZE_T n, SIZE_T *got) {
  return PssLinuxReadSnapshotMemory(h, address, buf, n, got);
}

static DWORD snapshot_core (HPSS h, const char *path) { return PssLinuxWriteCore(h, path); }

/* the core on an open file's descriptor (the caller flushed it) */
static DWORD snapshot_core_file (HPSS h, FILE *f) { return PssLinuxWriteCoreFd(h, fileno(f)); }

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

/* pss.processes() is pure Lua over /proc (lua/pss/process.lua) */
static void platform_open (lua_State *L) {
  lua_pushliteral(L, "linux");
  lua_setfield(L, -2, "platform");
}
