/*
** lpss_win.h -- the Windows side of pss.core, included once by lpss.c.
**
** What a platform gives the binding: opening a process by pid, the pid of
** the caller, the words for a failure, UTF-16 to UTF-8, the VA clone's
** memory, a dump file, and what the module adds on this system (here
** core.processes, from the ToolHelp API).
*/
#include <stdlib.h>
#include <string.h>
#include <tlhelp32.h>
#include <psapi.h>
#include <dbghelp.h>

#define CURRENT_PROCESS GetCurrentProcess()
#define HAVE_LINUX_CLASSES 0

#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL _Thread_local
#endif

/* why the last failure of this thread happened, in words (cleared when
** read), and room for words made at run time */
static THREAD_LOCAL const char *failure_detail;
static THREAD_LOCAL char detail_text[96];

/* defined by lpss.c, after this header */
static int push_failure (lua_State *L, const char *fn, DWORD code, const char *reason,
                         lua_Integer pid);
static void push_wide (lua_State *L, const WCHAR *s, size_t units);

/* FARPROC goes through this generic type, which converts to any other
** function pointer type without a cast-function-type warning */
typedef void (*GenericFn)(void);


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
static DWORD process_open (DWORD pid, DWORD flags, HANDLE *h) {
  HANDLE p;
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  p = OpenProcess(capture_access(flags), FALSE, pid);
  if (p == NULL) return GetLastError();
  *h = p;
  return ERROR_SUCCESS;
}

static void process_close (HANDLE h) { CloseHandle(h); }

static void platform_sleep (double seconds) { Sleep((DWORD)(seconds * 1e3 + 0.5)); }

static lua_Integer current_pid (void) { return (lua_Integer)GetCurrentProcessId(); }

/* Every failure of a kernel32 Pss* function is the system's: libpss adds
** no checks of its own here, so ERROR_INVALID_PARAMETER from a capture is
** a runtime failure, not an argument error. */
static int failure_from_system (void) { return 1; }

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

static const char *system_detail (void) {
  const char *d = failure_detail;
  failure_detail = NULL;
  return d;
}

static int api_missing (void) { return !PssWindowsIsAvailable(); }

/* UTF-16 -> UTF-8; an unpaired surrogate becomes U+FFFD */
static size_t wide_to_utf8 (const WCHAR *s, size_t units, char *out, size_t size) {
  int n;
  if (units == 0 || units > INT_MAX || size > INT_MAX) return 0;
  n = WideCharToMultiByte(CP_UTF8, 0, s, (int)units, out, (int)size, NULL, NULL);
  return n > 0 ? (size_t)n : 0;
}

/* UTF-8 -> a NUL-terminated UTF-16 string from malloc in *out */
static DWORD utf8_to_wide (const char *s, WCHAR **out) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  WCHAR *w;
  if (n <= 0) {
    failure_detail = "the path is not valid UTF-8";
    return ERROR_INVALID_PARAMETER;
  }
  if ((w = malloc((size_t)n * sizeof *w)) == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  *out = w;
  return ERROR_SUCCESS;
}
/* }====================================================================== */


/* {======================================================================
** The VA clone's memory
** ======================================================================= */

/* The clone's handle belongs to the snapshot: PssFreeSnapshot releases it
** (pss-api.md §12 item 7), so it is used here and never closed. */
static DWORD clone_handle (HPSS h, HANDLE *clone) {
  PSS_VA_CLONE_INFORMATION vc;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_VA_CLONE_INFORMATION, &vc, sizeof vc);
  if (rc == ERROR_SUCCESS && vc.VaCloneHandle == NULL) rc = ERROR_NOT_FOUND;
  if (rc == ERROR_SUCCESS) *clone = vc.VaCloneHandle;
  return rc;
}

/* ReadProcessMemory fails whole when any page of the range is missing; the
** readable prefix is then read page by page, so a partial read says how
** far it got, as on Linux. */
static DWORD snapshot_memory (HPSS h, UINT64 address, void *buf, SIZE_T n, SIZE_T *got) {
  HANDLE clone;
  SYSTEM_INFO si;
  SIZE_T done = 0, step, part;
  DWORD rc = clone_handle(h, &clone), err;
  if (rc != ERROR_SUCCESS) return rc;
  if (ReadProcessMemory(clone, (const void *)(uintptr_t)address, buf, n, &part) && part == n) {
    *got = n;
    return ERROR_SUCCESS;
  }
  err = GetLastError();
  if (err != ERROR_PARTIAL_COPY && err != ERROR_NOACCESS && err != ERROR_SUCCESS) return err;
  GetSystemInfo(&si);
  while (done < n) {
    step = si.dwPageSize - (SIZE_T)((address + done) % si.dwPageSize);
    if (step > n - done) step = n - done;
    if (!ReadProcessMemory(clone, (const void *)(uintptr_t)(address + done),
                           (char *)buf + done, step, &part) || part == 0)
      break;
    done += part;
  }
  *got = done;
  return done == n ? ERROR_SUCCESS : ERROR_PARTIAL_COPY;
}
/* }====================================================================== */


/* {======================================================================
** Dump file: MiniDumpWriteDump on the snapshot (pss-api.md §8)
** ======================================================================= */
typedef BOOL (WINAPI *WriteDumpFn)(HANDLE, DWORD, HANDLE, MINIDUMP_TYPE,
                                   PMINIDUMP_EXCEPTION_INFORMATION,
                                   PMINIDUMP_USER_STREAM_INFORMATION,
                                   PMINIDUMP_CALLBACK_INFORMATION);

static INIT_ONCE dbghelp_loaded = INIT_ONCE_STATIC_INIT;
static HMODULE dbghelp;
static WriteDumpFn write_dump;
/* DbgHelp is single-threaded: two Lua states on two threads must not be
** inside MiniDumpWriteDump at once */
static SRWLOCK dbghelp_lock = SRWLOCK_INIT;

#ifndef LOAD_LIBRARY_SEARCH_SYSTEM32
#define LOAD_LIBRARY_SEARCH_SYSTEM32 0x00000800
#endif

/* dbghelp.dll and its own imports from the system directory only: never a
** copy planted beside the host program or in the working directory. The
** search flag needs KB2533623 on Windows 7; without it the full path
** still names the system's dbghelp. */
static BOOL CALLBACK load_dbghelp (PINIT_ONCE once, void *param, void **context) {
  static const WCHAR name[] = L"\\dbghelp.dll";
  WCHAR path[MAX_PATH];
  UINT n = GetSystemDirectoryW(path, MAX_PATH);
  (void)once; (void)param; (void)context;
  if (n == 0 || n + sizeof name / sizeof name[0] > MAX_PATH) return TRUE;
  memcpy(path + n, name, sizeof name);
  dbghelp = LoadLibraryExW(path, NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (dbghelp == NULL && GetLastError() == ERROR_INVALID_PARAMETER)
    dbghelp = LoadLibraryW(path);
  if (dbghelp != NULL)
    write_dump = (WriteDumpFn)(GenericFn)GetProcAddress(dbghelp, "MiniDumpWriteDump");
  return TRUE;
}

/*
** Tells dbghelp that the "process handle" is a PSS snapshot: the answer to
** IsProcessSnapshotCallback is Status = S_FALSE. Status is written at
** offset 0 because that is where the SDK's MINIDUMP_CALLBACK_OUTPUT has it
** (a member of its leading union); mingw-w64's header declares it after
** the union, where dbghelp would never look.
*/
static BOOL CALLBACK dump_callback (void *param, PMINIDUMP_CALLBACK_INPUT in,
                                    PMINIDUMP_CALLBACK_OUTPUT out) {
  (void)param;
  if (in->CallbackType == IsProcessSnapshotCallback) {
    HRESULT status = S_FALSE;
    memcpy(out, &status, sizeof status);
  }
  return TRUE;
}

#define DUMP_TYPE (MiniDumpWithFullMemory | MiniDumpWithHandleData | \
  MiniDumpWithUnloadedModules | MiniDumpWithFullMemoryInfo | MiniDumpWithThreadInfo | \
  MiniDumpIgnoreInaccessibleMemory)

/* MiniDumpWriteDump leaves an HRESULT (or a plain Win32 code) as the last
** error; never ERROR_SUCCESS, since the call failed */
static DWORD dump_error (DWORD hr) {
  char words[64];
  if (hr != 0 && hr < 0x10000u) return hr;                       /* a Win32 code */
  if ((hr & 0xFFFF0000u) == 0x80070000u && (hr & 0xFFFFu) != 0) return hr & 0xFFFFu;
  if (system_message(hr, words, sizeof words) == NULL) words[0] = '\0';
  snprintf(detail_text, sizeof detail_text, "MiniDumpWriteDump: %s%sHRESULT 0x%08lx", words,
           words[0] ? ", " : "", (unsigned long)hr);
  failure_detail = detail_text;
  return ERROR_GEN_FAILURE;
}

/* What a useful dump needs, as on Linux: the clone's memory and the
** threads (ERROR_NOT_FOUND, naming the missing option, raises in Lua) */
static DWORD dump_needs (HPSS h) {
  HANDLE clone;
  PSS_THREAD_INFORMATION threads;
  DWORD rc = clone_handle(h, &clone);
  if (rc == ERROR_NOT_FOUND) {
    failure_detail = "the snapshot has no VA clone (capture with PSS_CAPTURE_VA_CLONE)";
    return rc;
  }
  if (rc != ERROR_SUCCESS) return rc;
  rc = PssQuerySnapshot(h, PSS_QUERY_THREAD_INFORMATION, &threads, sizeof threads);
  if (rc == ERROR_NOT_FOUND)
    failure_detail = "the snapshot has no threads (capture with PSS_CAPTURE_THREADS)";
  return rc;
}

/* A full-memory minidump of the snapshot at path (UTF-8); the file is
** removed again when the dump fails. */
static DWORD snapshot_core (HPSS h, const char *path) {
  MINIDUMP_CALLBACK_INFORMATION callback = { dump_callback, NULL };
  PSS_PROCESS_INFORMATION process;
  HANDLE file;
  WCHAR *wpath;
  BOOL written;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_PROCESS_INFORMATION, &process, sizeof process);
  if (rc == ERROR_SUCCESS) rc = dump_needs(h);
  if (rc != ERROR_SUCCESS) return rc;
  InitOnceExecuteOnce(&dbghelp_loaded, load_dbghelp, NULL, NULL);
  if (write_dump == NULL) {
    failure_detail = dbghelp ? "dbghelp.dll has no MiniDumpWriteDump"
                             : "dbghelp.dll could not be loaded from the system directory";
    return ERROR_NOT_SUPPORTED;
  }
  if ((rc = utf8_to_wide(path, &wpath)) != ERROR_SUCCESS) return rc;
  file = CreateFileW(wpath, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (file == INVALID_HANDLE_VALUE) {
    rc = GetLastError();
  } else {
    AcquireSRWLockExclusive(&dbghelp_lock);
    written = write_dump((HANDLE)h, process.ProcessId, file, DUMP_TYPE, NULL, NULL, &callback);
    if (!written) rc = dump_error(GetLastError());
    ReleaseSRWLockExclusive(&dbghelp_lock);
    CloseHandle(file);
    if (rc != ERROR_SUCCESS) DeleteFileW(wpath);
  }
  free(wpath);
  return rc;
}
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

static void entry_integer (lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void entry_wide (lua_State *L, const char *k, const WCHAR *s) {
  push_wide(L, s, wcslen(s));
  lua_setfield(L, -2, k);
}

static void push_toolhelp_entry (lua_State *L, const PROCESSENTRY32W *pe, const ProcessExtras *x) {
  lua_createtable(L, 0, 8);
  entry_integer(L, "pid", pe->th32ProcessID);
  entry_integer(L, "ppid", pe->th32ParentProcessID);
  entry_wide(L, "name", pe->szExeFile);
  entry_integer(L, "threads", pe->cntThreads);
  entry_integer(L, "base_priority", pe->pcPriClassBase);
  if (x->have_rss) entry_integer(L, "rss", (lua_Integer)x->rss);
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
  *h = INVALID_HANDLE_VALUE;
  luaL_setmetatable(L, TOOLHELP_MT);
  *h = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (*h == INVALID_HANDLE_VALUE)
    return push_failure(L, "CreateToolhelp32Snapshot", GetLastError(), NULL, 0);
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
  if (err != ERROR_NO_MORE_FILES) return push_failure(L, "Process32NextW", err, NULL, 0);
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
