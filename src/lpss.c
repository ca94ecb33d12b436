/*
** lpss.c -- pss.core: the Process Snapshotting API for Lua 5.4.
**
** Snapshots (HPSS) and walk markers (HPSSWALK) are full userdata with one
** metatable each ("pss.snapshot", "pss.marker"); __gc and __close share one
** idempotent release. Every marker gets a PSS_ALLOCATOR whose routines call
** the state's lua_Alloc. A marker keeps its snapshot alive through its user
** value. A snapshot unwinds its threads' stacks with an unwinder of its
** own (lpss_stack.c), allocated like a marker and freed with it. Every
** handle is also written in the state's ledger, which
** lua_close frees last, so no handle outlives the state even when Lua
** could not run a finalizer. Entries become plain tables, filled from
** static field tables so that code and docs list the same fields
** (pss.core.fields()). lpss.h says which file holds what.
**
** This file: the module's setup (luaopen, constants, sizes), the errors
** and strings every file uses, and the module functions that hold no
** handle; and, through one header, the side of each system.
**
** Conventions (as liolib): programming errors raise; runtime failures of the
** API return fail, message, Win32 code.
*/
#include <stddef.h>

#include "lpss.h"

#if defined(_WIN32)
#define LPSS_API __declspec(dllexport)
#else
#define LPSS_API __attribute__((visibility("default")))
#endif


/* {======================================================================
** Platform: what differs between the two systems (one header each)
** ======================================================================= */
#if defined(_WIN32)
#include "windows/lpss_win.h"
#else
#include "linux/lpss_linux.h"
#endif
/* }====================================================================== */


/* {======================================================================
** Errors and strings
** ======================================================================= */
const char *lpss_error_text (DWORD code) {
  switch (code) {
    case ERROR_ACCESS_DENIED: return "access denied";
    case ERROR_INVALID_HANDLE: return "invalid handle";
    case ERROR_NOT_ENOUGH_MEMORY: return "not enough memory";
    case ERROR_BAD_LENGTH: return "bad buffer length";
    case ERROR_NOT_SUPPORTED: return "not supported";
    case ERROR_INVALID_PARAMETER: return "invalid parameter";
    case ERROR_MORE_DATA: return "more data";
    case ERROR_NO_MORE_ITEMS: return "no more items";
    case ERROR_PROCESS_ABORTED: return "the process has exited";
    case ERROR_NOT_FOUND: return "not captured";
    case ERROR_BUSY: return "another tracer holds the process";
    case ERROR_NO_PROC_SLOTS: return "no process slots (pids cgroup limit or RLIMIT_NPROC)";
    case ERROR_PARTIAL_COPY: return "partial read";
    case ERROR_TIMEOUT: return "timed out";
    case ERROR_DISK_FULL: return "the disk is full";
    case ERROR_FILE_TOO_LARGE: return "the file is too large";
    case ERROR_BROKEN_PIPE: return "the pipe is broken";
    case ERROR_BAD_FORMAT: return "not a snapshot or core, or a damaged one";
    case ERROR_FILE_NOT_FOUND: return "no such file";
    default: return NULL;
  }
}

/* fail, "Function: reason (pid N)[: detail]", code -- as luaL_fileresult
** does; the detail is the library's own account of why, when it has one. */
int lpss_push_failure (lua_State *L, const char *fn, DWORD code, const char *reason,
                       lua_Integer pid) {
  const char *text = reason ? reason : lpss_error_text(code),
             *detail = lpss_system_detail();
  char buf[256];
  luaL_pushfail(L);
  if (code == ERROR_NOT_SUPPORTED && api_missing()) {
    lua_pushfstring(L, "%s is not available on this system", fn);
    lua_pushinteger(L, (lua_Integer)code);
    return 3;
  }
  if (text == NULL) text = system_message(code, buf, sizeof buf);
  if (text == NULL) lua_pushfstring(L, "%s: error %d", fn, (int)code);
  else if (pid > 0) lua_pushfstring(L, "%s: %s (pid %I)", fn, text, pid);
  else lua_pushfstring(L, "%s: %s", fn, text);
  if (detail != NULL) {
    lua_pushfstring(L, ": %s", detail);
    lua_concat(L, 2);
  }
  lua_pushinteger(L, (lua_Integer)code);
  return 3;
}

/* UTF-16 -> a Lua string, as the platform converts names */
void lpss_push_wide (lua_State *L, const WCHAR *s, size_t units) {
  luaL_Buffer b;
  size_t n = wide_to_utf8(s, units, NULL, 0);
  char *out = luaL_buffinitsize(L, &b, n);
  wide_to_utf8(s, units, out, n);
  luaL_pushresultsize(&b, n);
}
/* }====================================================================== */


/* {======================================================================
** Module functions
** ======================================================================= */
/* core.sleep(seconds): pauses the calling thread, for sampling loops and
** the diff command (Lua has no sleep of its own) */
static int pss_sleep (lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  luaL_argcheck(L, seconds >= 0 && seconds <= 2e6, 1, "seconds must be in 0..2000000");
  platform_sleep((double)seconds);
  return 0;
}

/*
** core.wait_limit([seconds]) -> the previous limit, in seconds: how long
** libpss waits for a thread of a target to stop (PssLinuxSetWaitLimit,
** milliseconds, process-wide). Without an argument it only tells.
*/
static int pss_wait_limit (lua_State *L) {
  DWORD before;
  if (lua_isnoneornil(L, 1)) before = wait_limit_get();
  else {
    lua_Number seconds = luaL_checknumber(L, 1);
    luaL_argcheck(L, seconds >= 0.001 && seconds <= 4294967.295, 1,
                  "seconds must be in 0.001..4294967.295");
    before = wait_limit_set((DWORD)(seconds * 1000 + 0.5));
  }
  lua_pushnumber(L, (lua_Number)before / 1000);
  return 1;
}

/* core.type(x) -> "snapshot" | "freed snapshot" | "marker" | "freed marker" | nil */
static int pss_type (lua_State *L) {
  Snapshot *s;
  Marker *m;
  luaL_checkany(L, 1);
  if ((s = luaL_testudata(L, 1, SNAPSHOT_MT)) != NULL)
    lua_pushstring(L, s->h ? "snapshot" : "freed snapshot");
  else if ((m = luaL_testudata(L, 1, MARKER_MT)) != NULL)
    lua_pushstring(L, m->h ? "marker" : "freed marker");
  else luaL_pushfail(L);
  return 1;
}

/* }====================================================================== */


/* {======================================================================
** Constants and registration
** ======================================================================= */
typedef struct { const char *name; lua_Integer value; } Constant;

#define C(prefix, name) { #name, prefix##name }
static const Constant constants[] = {
  C(PSS_, CAPTURE_NONE), C(PSS_, CAPTURE_VA_CLONE), C(PSS_, CAPTURE_RESERVED_00000002),
  C(PSS_, CAPTURE_HANDLES), C(PSS_, CAPTURE_HANDLE_NAME_INFORMATION),
  C(PSS_, CAPTURE_HANDLE_BASIC_INFORMATION), C(PSS_, CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION),
  C(PSS_, CAPTURE_HANDLE_TRACE), C(PSS_, CAPTURE_THREADS), C(PSS_, CAPTURE_THREAD_CONTEXT),
  C(PSS_, CAPTURE_THREAD_CONTEXT_EXTENDED), C(PSS_, CAPTURE_RESERVED_00000400),
  C(PSS_, CAPTURE_VA_SPACE), C(PSS_, CAPTURE_VA_SPACE_SECTION_INFORMATION),
  C(PSS_, CAPTURE_IPT_TRACE), C(PSS_, CAPTURE_RESERVED_00004000),
  C(PSS_, CREATE_BREAKAWAY_OPTIONAL), C(PSS_, CREATE_BREAKAWAY), C(PSS_, CREATE_FORCE_BREAKAWAY),
  C(PSS_, CREATE_USE_VM_ALLOCATIONS), C(PSS_, CREATE_MEASURE_PERFORMANCE),
  C(PSS_, CREATE_RELEASE_SECTION),
  C(PSS_, QUERY_PROCESS_INFORMATION), C(PSS_, QUERY_VA_CLONE_INFORMATION),
  C(PSS_, QUERY_AUXILIARY_PAGES_INFORMATION), C(PSS_, QUERY_VA_SPACE_INFORMATION),
  C(PSS_, QUERY_HANDLE_INFORMATION), C(PSS_, QUERY_THREAD_INFORMATION),
  C(PSS_, QUERY_HANDLE_TRACE_INFORMATION), C(PSS_, QUERY_PERFORMANCE_COUNTERS),
  C(PSS_, WALK_AUXILIARY_PAGES), C(PSS_, WALK_VA_SPACE), C(PSS_, WALK_HANDLES),
  C(PSS_, WALK_THREADS), C(PSS_, WALK_THREAD_NAME),
  C(PSS_, DUPLICATE_NONE), C(PSS_, DUPLICATE_CLOSE_SOURCE),
  C(PSS_, PROCESS_FLAGS_NONE), C(PSS_, PROCESS_FLAGS_PROTECTED), C(PSS_, PROCESS_FLAGS_WOW64),
  C(PSS_, PROCESS_FLAGS_FROZEN), C(PSS_, THREAD_FLAGS_NONE), C(PSS_, THREAD_FLAGS_TERMINATED),
  C(PSS_, HANDLE_NONE), C(PSS_, HANDLE_HAVE_TYPE), C(PSS_, HANDLE_HAVE_NAME),
  C(PSS_, HANDLE_HAVE_BASIC_INFORMATION), C(PSS_, HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION),
  C(PSS_, OBJECT_TYPE_UNKNOWN), C(PSS_, OBJECT_TYPE_PROCESS), C(PSS_, OBJECT_TYPE_THREAD),
  C(PSS_, OBJECT_TYPE_MUTANT), C(PSS_, OBJECT_TYPE_EVENT), C(PSS_, OBJECT_TYPE_SECTION),
  C(PSS_, OBJECT_TYPE_SEMAPHORE), C(PSS_, PERF_RESOLUTION),
  C(, ERROR_SUCCESS), C(, ERROR_ACCESS_DENIED), C(, ERROR_INVALID_HANDLE),
  C(, ERROR_NOT_ENOUGH_MEMORY), C(, ERROR_BAD_LENGTH), C(, ERROR_GEN_FAILURE),
  C(, ERROR_NOT_SUPPORTED), C(, ERROR_INVALID_PARAMETER), C(, ERROR_MORE_DATA),
  C(, ERROR_NO_MORE_ITEMS), C(, ERROR_PARTIAL_COPY), C(, ERROR_PROCESS_ABORTED),
  C(, ERROR_NOT_FOUND), C(, ERROR_NO_PROC_SLOTS), C(, ERROR_TIMEOUT),
  C(, ERROR_DISK_FULL), C(, ERROR_FILE_TOO_LARGE), C(, ERROR_BROKEN_PIPE),
  C(, ERROR_BAD_FORMAT), C(, ERROR_FILE_NOT_FOUND),
  C(, STILL_ACTIVE), C(, MEM_COMMIT), C(, MEM_RESERVE), C(, MEM_FREE), C(, MEM_PRIVATE),
  C(, MEM_MAPPED), C(, MEM_IMAGE), C(, PAGE_NOACCESS), C(, PAGE_READONLY), C(, PAGE_READWRITE),
  C(, PAGE_WRITECOPY), C(, PAGE_EXECUTE), C(, PAGE_EXECUTE_READ), C(, PAGE_EXECUTE_READWRITE),
  C(, PAGE_EXECUTE_WRITECOPY), C(, PAGE_GUARD), C(, ERROR_BUSY),
  C(, CONTEXT_AMD64), C(, CONTEXT_CONTROL), C(, CONTEXT_INTEGER), C(, CONTEXT_SEGMENTS),
  C(, CONTEXT_FLOATING_POINT), C(, CONTEXT_DEBUG_REGISTERS), C(, CONTEXT_FULL),
  C(, CONTEXT_ALL), C(, CONTEXT_XSTATE),
#if HAVE_LINUX_CLASSES
  C(PSS_, LINUX_CAPTURE_UNFROZEN), C(PSS_, LINUX_CAPTURE_FREEZE_OPTIONAL),
  C(PSS_, LINUX_CAPTURE_STACKS), C(PSS_, LINUX_STACK_LIMIT_DEFAULT),
  C(PSS_, LINUX_CAPTURE_MEMORY_USAGE),
  C(PSS_, LINUX_STACK_FRAMES_MAX),
#endif
};
#undef C

/* core.sizes: sizeof each structure of the API, as this build lays it out
** (the x64 values of pss-api.md on both systems; the specs compare) */
typedef struct { const char *name; size_t size; } StructSize;

#define S(type) { #type, sizeof(type) }
static const StructSize struct_sizes[] = {
  S(PSS_ALLOCATOR), S(PSS_PROCESS_INFORMATION), S(PSS_VA_CLONE_INFORMATION),
  S(PSS_AUXILIARY_PAGES_INFORMATION), S(PSS_VA_SPACE_INFORMATION), S(PSS_HANDLE_INFORMATION),
  S(PSS_THREAD_INFORMATION), S(PSS_HANDLE_TRACE_INFORMATION), S(PSS_PERFORMANCE_COUNTERS),
  S(PSS_AUXILIARY_PAGE_ENTRY), S(PSS_VA_SPACE_ENTRY), S(PSS_HANDLE_ENTRY), S(PSS_THREAD_ENTRY),
  S(PSS_THREAD_NAME), S(MEMORY_BASIC_INFORMATION), S(FILETIME),
};
#undef S

static const luaL_Reg functions[] = {
  { "capture", lpss_capture }, { "type", pss_type }, { "fields", lpss_fields },
  { "allocations", lpss_allocations }, { "sleep", pss_sleep },
  { "wait_limit", pss_wait_limit }, { "load", lpss_load }, { NULL, NULL }
};

/* Sets the functions into the table on top, each with the ledger (at
** index `ledger`) as its upvalue. */
static void set_functions (lua_State *L, const luaL_Reg *l, int ledger) {
  lua_pushvalue(L, ledger);
  luaL_setfuncs(L, l, 1);
}

/* A metatable whose __index holds the methods of every list of
** `methods` (NULL-terminated). */
static void create_meta (lua_State *L, const char *name, const luaL_Reg *meta,
                         const luaL_Reg *const *methods, int ledger) {
  luaL_newmetatable(L, name);
  set_functions(L, meta, ledger);
  lua_newtable(L);
  for (; *methods != NULL; methods++) set_functions(L, *methods, ledger);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

LPSS_API int luaopen_pss_core (lua_State *L);

LPSS_API int luaopen_pss_core (lua_State *L) {
  static const luaL_Reg *const snapshot_methods[] = {
    lpss_snapshot_methods, lpss_walk_methods, lpss_stack_methods, NULL };
  static const luaL_Reg *const marker_methods[] = { lpss_marker_methods, NULL };
  int ledger;
  size_t i;
  lpss_push_ledger(L);   /* first: it must be older than every snapshot */
  ledger = lua_gettop(L);
  lpss_build_keys(L);
  luaL_newlibtable(L, functions);
  set_functions(L, functions, ledger);
  create_meta(L, SNAPSHOT_MT, lpss_snapshot_meta, snapshot_methods, ledger);
  create_meta(L, MARKER_MT, lpss_marker_meta, marker_methods, ledger);
  for (i = 0; i < NFIELDS(constants); i++) {
    lua_pushinteger(L, constants[i].value);
    lua_setfield(L, -2, constants[i].name);
  }
  lua_createtable(L, 0, (int)NFIELDS(struct_sizes));
  for (i = 0; i < NFIELDS(struct_sizes); i++) {
    lua_pushinteger(L, (lua_Integer)struct_sizes[i].size);
    lua_setfield(L, -2, struct_sizes[i].name);
  }
  lua_setfield(L, -2, "sizes");
  lua_pushlightuserdata(L, (void *)&lpss_self_key);
  lua_setfield(L, -2, "self");
  lua_pushliteral(L, PSS_VERSION);   /* "X.Y.Z", as lua-cjson's _VERSION */
  lua_setfield(L, -2, "_VERSION");
  platform_open(L);
  return 1;
}
/* }====================================================================== */
