/*
** lpss_win.h -- the Windows side of pss.core, included once by lpss.c.
**
** What a platform gives the binding (the lpss_* functions lpss.h
** declares): opening a process by pid, the pid of the caller, the words
** for a failure, UTF-16 to UTF-8, the VA clone's memory, a dump file; and
** what the module adds on this system (here core.processes, from the
** ToolHelp API).
*/
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <tlhelp32.h>
#include <psapi.h>


/* {======================================================================
** Processes and failures
** ======================================================================= */

/*
** The rights a capture asks OpenProcess for (pss-api.md §4.1): process,
** thread and region information need PROCESS_QUERY_INFORMATION; section
** information (mapped file names, PE headers) needs PROCESS_VM_READ; the
** handle table is described by duplicating handles, PROCESS_DUP_HANDLE;
** the VA clone is created from the target, PROCESS_CREATE_PROCESS.
*/
static DWORD capture_access (DWORD flags) {
  DWORD access = PROCESS_QUERY_INFORMATION | PROCESS_VM_READ;
  if (flags & PSS_CAPTURE_HANDLES) access |= PROCESS_DUP_HANDLE;
  if (flags & PSS_CAPTURE_VA_CLONE) access |= PROCESS_CREATE_PROCESS;
  return access;
}

/* OpenProcess answers ERROR_INVALID_PARAMETER for a pid that names no
** process, which the caller reports as "no such process". Without the
** API there is nothing to open the process for. */
DWORD lpss_process_open (DWORD pid, DWORD flags, HANDLE *h) {
  HANDLE p;
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  p = OpenProcess(capture_access(flags), FALSE, pid);
  if (p == NULL) return GetLastError();
  *h = p;
  return ERROR_SUCCESS;
}

void lpss_process_close (HANDLE h) { CloseHandle(h); }

static void platform_sleep (double seconds) { Sleep((DWORD)(seconds * 1e3 + 0.5)); }

lua_Integer lpss_current_pid (void) { return (lua_Integer)GetCurrentProcessId(); }

/* Every failure of a kernel32 Pss* function is the system's: libpss adds
** no checks of its own here, so ERROR_INVALID_PARAMETER from a capture is
** a runtime failure, not an argument error. */
int lpss_failure_from_system (void) { return 1; }

/* The system's words for a code, in UTF-8 without the final ".\r\n",
** cut to fit buf. ERROR_GEN_FAILURE is only what a failed minidump
** becomes (its detail says why), not "a device attached ...". */
static const char *system_message (DWORD code, char *buf, size_t size) {
  WCHAR *wide = NULL;
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS |
                           FORMAT_MESSAGE_ALLOCATE_BUFFER, NULL, code, 0,
                           (WCHAR *)(void *)&wide, 0, NULL);
  int len = 0;
  if (code == ERROR_GEN_FAILURE) {
    if (wide != NULL) LocalFree(wide);
    return "failed";
  }
  while (n > 0 && (wide[n - 1] == L'\r' || wide[n - 1] == L'\n' || wide[n - 1] == L'.')) n--;
  /* a message too long for buf is cut a character at a time until it fits */
  while (n > 0 && (len = WideCharToMultiByte(CP_UTF8, 0, wide, (int)n, buf, (int)size - 1,
                                             NULL, NULL)) <= 0)
    n--;
  if (wide != NULL) LocalFree(wide);
  if (len <= 0) return NULL;
  buf[len] = '\0';
  return buf;
}

const char *lpss_system_detail (void) { return PssWindowsLastErrorDetail(); }

static int api_missing (void) { return !PssWindowsIsAvailable(); }

/* UTF-16 -> UTF-8; an unpaired surrogate becomes U+FFFD */
static size_t wide_to_utf8 (const WCHAR *s, size_t units, char *out, size_t size) {
  int n;
  if (units == 0 || units > INT_MAX || size > INT_MAX) return 0;
  n = WideCharToMultiByte(CP_UTF8, 0, s, (int)units, out, (int)size, NULL, NULL);
  return n > 0 ? (size_t)n : 0;
}

/* }====================================================================== */


/* {======================================================================
** The VA clone's memory and the dump file: libpss's Windows extensions
** ======================================================================= */
DWORD lpss_snapshot_memory (HPSS h, UINT64 address, void *buf, SIZE_T n, SIZE_T *got) {
  return PssWindowsReadSnapshotMemory(h, address, buf, n, got);
}

DWORD lpss_snapshot_core (HPSS h, const char *path) { return PssWindowsWriteDump(h, path); }

/* MiniDumpWriteDump takes a path here (PssWindowsWriteDump): an open Lua
** file is not supported. */
DWORD lpss_snapshot_core_file (HPSS h, FILE *f) {
  (void)h; (void)f;
  return ERROR_NOT_SUPPORTED;
}

/* Saved snapshots are a Linux extension of libpss: nothing to report. */
void lpss_progress (const char *what, int on) { (void)what; (void)on; }

DWORD lpss_snapshot_save (HPSS h, const char *path, int memory) {
  (void)h; (void)path; (void)memory;
  return ERROR_NOT_SUPPORTED;
}
DWORD lpss_snapshot_save_file (HPSS h, FILE *f, int memory) {
  (void)h; (void)f; (void)memory;
  return ERROR_NOT_SUPPORTED;
}
DWORD lpss_snapshot_load (const char *path, HPSS *h) {
  (void)path; (void)h;
  return ERROR_NOT_SUPPORTED;
}
DWORD lpss_snapshot_load_file (FILE *f, HPSS *h) {
  (void)f; (void)h;
  return ERROR_NOT_SUPPORTED;
}

/* Windows captures wait for nothing libpss bounds: pss.wait_limit only
** answers the Linux default, 5 seconds. */
static DWORD wait_limit_set (DWORD ms) { (void)ms; return 5000; }
static DWORD wait_limit_get (void) { return 5000; }
/* }====================================================================== */


/* {======================================================================
** core.processes(): the ToolHelp process list
** ======================================================================= */
#define TOOLHELP_MT "pss.toolhelp"

/* The ToolHelp snapshot handle lives in a userdata, so an error raised
** while the list is built (out of memory) still closes it. */
static int toolhelp_close (lua_State *L) {
  HANDLE *h = luaL_checkudata(L, 1, TOOLHELP_MT);
  if (*h != INVALID_HANDLE_VALUE) CloseHandle(*h);
  *h = INVALID_HANDLE_VALUE;
  return 0;
}

typedef struct {
  int have_rss, have_user;
  SIZE_T rss;
  WCHAR user[256];    /* DOMAIN\name */
} ProcessExtras;

/* Account names by SID, for one listing: LookupAccountSidW may ask a
** domain controller, so each user is looked up once, not once a process */
#define USER_CACHE 8
typedef struct {
  int n;
  struct { BYTE sid[SECURITY_MAX_SID_SIZE]; WCHAR user[256]; } e[USER_CACHE];
} UserCache;

static int account_name (PSID sid, WCHAR user[256]) {
  WCHAR name[128], domain[120];
  DWORD nname = 128, ndomain = 120;
  SID_NAME_USE use;
  if (!LookupAccountSidW(NULL, sid, name, &nname, domain, &ndomain, &use)) return 0;
  if (ndomain > 0) _snwprintf(user, 255, L"%ls\\%ls", domain, name);
  else _snwprintf(user, 255, L"%ls", name);
  user[255] = 0;
  return 1;
}

static void token_user (HANDLE process, ProcessExtras *x, UserCache *cache) {
  union { TOKEN_USER user; char room[128]; } info;
  DWORD size;
  HANDLE token;
  int i;
  if (!OpenProcessToken(process, TOKEN_QUERY, &token)) return;
  if (GetTokenInformation(token, TokenUser, &info, sizeof info, &size)) {
    PSID sid = info.user.User.Sid;
    for (i = 0; i < cache->n && !EqualSid(sid, cache->e[i].sid); i++) continue;
    if (i < cache->n) {
      memcpy(x->user, cache->e[i].user, sizeof x->user);
      x->have_user = 1;
    } else if (account_name(sid, x->user)) {
      x->have_user = 1;
      if (cache->n < USER_CACHE && CopySid(SECURITY_MAX_SID_SIZE, cache->e[cache->n].sid, sid)) {
        memcpy(cache->e[cache->n].user, x->user, sizeof x->user);
        cache->n++;
      }
    }
  }
  CloseHandle(token);
}

/* what this user may read of a process beyond the ToolHelp entry */
static void process_extras (DWORD pid, ProcessExtras *x, UserCache *cache) {
  PROCESS_MEMORY_COUNTERS mc;
  HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  x->have_rss = x->have_user = 0;
  if (p == NULL) return;
  mc.cb = sizeof mc;
  if (GetProcessMemoryInfo(p, &mc, sizeof mc)) {
    x->have_rss = 1;
    x->rss = mc.WorkingSetSize;
  }
  token_user(p, x, cache);
  CloseHandle(p);
}

static void entry_wide (lua_State *L, const char *k, const WCHAR *s) {
  lpss_push_wide(L, s, wcslen(s));
  lua_setfield(L, -2, k);
}

static void push_toolhelp_entry (lua_State *L, const PROCESSENTRY32W *pe, const ProcessExtras *x) {
  lua_createtable(L, 0, 8);
  lpss_set_integer(L, "pid", pe->th32ProcessID);
  lpss_set_integer(L, "ppid", pe->th32ParentProcessID);
  entry_wide(L, "name", pe->szExeFile);
  lpss_set_integer(L, "threads", pe->cntThreads);
  lpss_set_integer(L, "base_priority", pe->pcPriClassBase);
  if (x->have_rss) lpss_set_integer(L, "rss", (lua_Integer)x->rss);
  if (x->have_user) entry_wide(L, "user", x->user);
}

/* core.processes() -> list of {pid, ppid, name, threads, base_priority
** [, rss, user]} at one instant; rss and user where this user may open
** the process */
static int win_processes (lua_State *L) {
  PROCESSENTRY32W pe;
  ProcessExtras x;
  UserCache cache;
  lua_Integer n = 0;
  HANDLE *h = lua_newuserdatauv(L, sizeof *h, 0);
  BOOL more;
  DWORD err;
  cache.n = 0;
  PssWindowsIsAvailable();   /* clears the failure detail of earlier calls */
  *h = INVALID_HANDLE_VALUE;
  luaL_setmetatable(L, TOOLHELP_MT);
  *h = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (*h == INVALID_HANDLE_VALUE)
    return lpss_push_failure(L, "CreateToolhelp32Snapshot", GetLastError(), NULL, 0);
  lua_newtable(L);
  pe.dwSize = sizeof pe;
  for (more = Process32FirstW(*h, &pe); more; more = Process32NextW(*h, &pe)) {
    process_extras(pe.th32ProcessID, &x, &cache);
    push_toolhelp_entry(L, &pe, &x);
    lua_rawseti(L, -2, ++n);
  }
  err = GetLastError();   /* why the walk ended: the end, or a failure */
  CloseHandle(*h);
  *h = INVALID_HANDLE_VALUE;
  if (err != ERROR_NO_MORE_FILES) return lpss_push_failure(L, "Process32NextW", err, NULL, 0);
  return 1;
}

static void platform_open (lua_State *L) {
  static const luaL_Reg toolhelp_meta[] = {
    { "__gc", toolhelp_close }, { "__close", toolhelp_close }, { NULL, NULL }
  };
  luaL_newmetatable(L, TOOLHELP_MT);
  luaL_setfuncs(L, toolhelp_meta, 0);
  lua_pop(L, 1);
  lua_pushliteral(L, "windows");
  lua_setfield(L, -2, "platform");
  lua_pushcfunction(L, win_processes);
  lua_setfield(L, -2, "processes");
}
/* }====================================================================== */
