/*
** lpss_snapshot.c -- pss.core: the snapshot userdata ("pss.snapshot") and
** its methods other than the walks: capture, query, captured, read,
** write_core, duplicate, free.
**
** Userdata is created empty (freed) before the Pss call that fills it, so
** a memory error in between leaks nothing; the handle is written in the
** state's ledger too (lpss_ledger.c). __gc, __close and :free() are one
** idempotent release, which frees the snapshot's unwinder too.
*/
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lpss.h"


/* {======================================================================
** Userdata
** ======================================================================= */
Snapshot *lpss_check_snapshot (lua_State *L, int i) {
  Snapshot *s = luaL_checkudata(L, i, SNAPSHOT_MT);
  if (s->h == NULL) luaL_error(L, "attempt to use a freed snapshot");
  return s;
}

/* New userdata in the freed state, so a memory error before the Pss call
** that fills it leaks nothing. */
static Snapshot *new_snapshot (lua_State *L, lua_Integer pid) {
  Snapshot *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->h = NULL;
  s->pid = pid;
  s->unwinder = NULL;
  s->unwinding = 0;
  luaL_setmetatable(L, SNAPSHOT_MT);
  return s;
}

/* Fills a new snapshot from a Pss call's result: the handle goes into its
** ledger entry and its userdata at once, or the entry goes. */
static DWORD hold_snapshot (lua_State *L, Snapshot *s, Held *e, DWORD rc, HPSS h) {
  if (lpss_held_keep(L, e, rc, h) == ERROR_SUCCESS) s->h = h;
  return rc;
}

/* __gc, __close and :free() -- safe to call twice; allocate nothing.
** The unwinder goes too: it holds a duplicate of the snapshot (and so
** its clone), which must not outlive the snapshot the caller freed. */
static int snapshot_release (lua_State *L) {
  Snapshot *s = luaL_checkudata(L, 1, SNAPSHOT_MT);
  HPSS h = s->h;
  s->h = NULL;                     /* first, so nothing can see it twice */
  if (!s->unwinding) lpss_drop_unwinder(L, s);
  if (h != NULL) lpss_held_release(L, HELD_SNAPSHOT, h);
  lua_pushboolean(L, 1);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Capture and duplicate
** ======================================================================= */
const char lpss_self_key = 0;   /* pss.self: its address is the sentinel */

/* PssCaptureSnapshot with the calling thread's stack limit set to `limit`
** (0: left as it is) for this capture only. Nothing between the set and
** the restore can raise, so the limit never stays changed. */
static DWORD capture_limited (HANDLE proc, DWORD flags, DWORD context, DWORD limit, HPSS *h) {
  DWORD before = limit != 0 ? lpss_stack_limit(limit) : 0, rc;
  rc = PssCaptureSnapshot(proc, flags, context, h);
  if (limit != 0) lpss_stack_limit(before);
  return rc;
}

/*
** core.capture(target, flags [, context_flags [, stack_limit]]) -> snapshot
**   target: a pid (1 .. 2^31-1) or pss.self; flags: PSS_CAPTURE_* bits;
**   stack_limit: the most bytes of each thread's stack to copy (Linux
**   STACKS captures; 0 or none: PssLinuxSetStackLimit's setting).
** fail, message, code when the process is gone, access is denied, ...
*/
int lpss_capture (lua_State *L) {
  int self = lua_touserdata(L, 1) == (void *)&lpss_self_key;
  lua_Integer pid = self ? 0 : luaL_checkinteger(L, 1);
  lua_Integer flags = luaL_checkinteger(L, 2);
  lua_Integer context = luaL_optinteger(L, 3, 0);
  lua_Integer limit = luaL_optinteger(L, 4, 0);
  HANDLE proc = CURRENT_PROCESS;
  Snapshot *s;
  Held *e;
  HPSS h = NULL;
  DWORD rc;
  luaL_argcheck(L, self || (pid > 0 && pid <= INT_MAX), 1,
                "pid must be an integer in 1..2147483647, or pss.self");
  luaL_argcheck(L, flags >= 0 && flags <= 0xFFFFFFFF, 2, "flags out of range");
  luaL_argcheck(L, context >= 0 && context <= 0xFFFFFFFF, 3, "context flags out of range");
  luaL_argcheck(L, limit >= 0 && limit <= 0xFFFFFFFF, 4, "stack limit out of range");
  s = new_snapshot(L, self ? lpss_current_pid() : pid);
  e = lpss_held_new(L, HELD_SNAPSHOT);
  if (!self && (rc = lpss_process_open((DWORD)pid, (DWORD)flags, &proc)) != ERROR_SUCCESS) {
    lpss_held_drop(L, e);
    return lpss_push_failure(L, "PssCaptureSnapshot",
                             rc == ERROR_INVALID_PARAMETER ? ERROR_INVALID_PARAMETER : rc,
                             rc == ERROR_INVALID_PARAMETER ? "no such process" : NULL, pid);
  }
  rc = capture_limited(proc, (DWORD)flags, (DWORD)context, (DWORD)limit, &h);
  if (!self) lpss_process_close(proc);
  if (hold_snapshot(L, s, e, rc, h) == ERROR_SUCCESS) return 1;
  /* the library's own argument checks are programming errors; a failure
     of the system (EINVAL from the kernel, say) is a runtime failure */
  if (rc == ERROR_INVALID_PARAMETER && !lpss_failure_from_system()) {
    char msg[64];
    snprintf(msg, sizeof msg, "invalid capture flags 0x%lx", (unsigned long)flags);
    return luaL_argerror(L, 2, msg);
  }
  return lpss_push_failure(L, "PssCaptureSnapshot", rc, NULL, s->pid);
}

static int snapshot_duplicate (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  Snapshot *d = new_snapshot(L, s->pid);
  Held *e = lpss_held_new(L, HELD_SNAPSHOT);
  HPSS h = NULL;
  DWORD rc = PssDuplicateSnapshot(CURRENT_PROCESS, s->h, CURRENT_PROCESS, &h, 0);
  if (hold_snapshot(L, d, e, rc, h) != ERROR_SUCCESS)
    return lpss_push_failure(L, "PssDuplicateSnapshot", rc, NULL, s->pid);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Query and captured
** ======================================================================= */
DWORD lpss_count_of (HPSS h, PSS_QUERY_INFORMATION_CLASS cls) {
  DWORD counts[2] = { 0, 0 };   /* PSS_THREAD_INFORMATION is the largest */
  DWORD size = cls == PSS_QUERY_THREAD_INFORMATION ? 8 : 4;
  return PssQuerySnapshot(h, cls, counts, size) == ERROR_SUCCESS ? counts[0] : (DWORD)-1;
}

int lpss_not_captured (lua_State *L, const char *what, const char *option) {
  if (option == NULL) return luaL_error(L, "%s are never captured on this system", what);
  return luaL_error(L, "%s were not captured (capture with the \"%s\" option)", what, option);
}

typedef struct { const char *name; PSS_QUERY_INFORMATION_CLASS cls; const char *option; } QueryClass;

static const QueryClass query_classes[] = {
  { "process", PSS_QUERY_PROCESS_INFORMATION, NULL },
  { "va_clone", PSS_QUERY_VA_CLONE_INFORMATION, "va_clone" },
#if HAVE_LINUX_CLASSES
  { "auxiliary_pages", PSS_QUERY_AUXILIARY_PAGES_INFORMATION, "stacks" },
#else
  { "auxiliary_pages", PSS_QUERY_AUXILIARY_PAGES_INFORMATION, NULL },
#endif
  { "va_space", PSS_QUERY_VA_SPACE_INFORMATION, "va_space" },
  { "handles", PSS_QUERY_HANDLE_INFORMATION, "handles" },
  { "threads", PSS_QUERY_THREAD_INFORMATION, "threads" },
  { "handle_trace", PSS_QUERY_HANDLE_TRACE_INFORMATION, "handle_trace" },
  { "performance", PSS_QUERY_PERFORMANCE_COUNTERS, "measure_performance" },
};

static const QueryClass *query_class_named (const char *name) {
  size_t i;
  for (i = 0; i < NFIELDS(query_classes); i++)
    if (strcmp(query_classes[i].name, name) == 0) return &query_classes[i];
  return NULL;
}

static const QueryClass *check_query_class (lua_State *L, int arg) {
  const QueryClass *q;
  size_t i;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer v = luaL_checkinteger(L, arg);
    for (i = 0; i < NFIELDS(query_classes); i++)
      if ((lua_Integer)query_classes[i].cls == v) return &query_classes[i];
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown query class %I", v));
  }
  else {
    const char *name = luaL_checkstring(L, arg);
    if ((q = query_class_named(name)) != NULL) return q;
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown query class '%s'", name));
  }
  return NULL;
}

/* snap:query(class) -> table; a class that was not captured raises */
static int snapshot_query (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  const QueryClass *q = check_query_class(L, 2);
  DWORD rc = lpss_push_query(L, s->h, q->cls);
  if (rc == ERROR_NOT_FOUND) return lpss_not_captured(L, q->name, q->option);
  if (rc != ERROR_SUCCESS) return lpss_push_failure(L, "PssQuerySnapshot", rc, NULL, s->pid);
  return 1;
}

/*
** snap:captured(class) -> boolean: whether the snapshot holds the class,
** by any name snap:query or a walk takes ("threads", "va_space",
** "regions", "thread_names", "performance", ...). The answer is
** PssQuerySnapshot's for the class's query (for a walk class, the query
** its iterator checks): ERROR_NOT_FOUND, and only it, means "not held" --
** exactly when snap:query raises "not captured". Names only: the
** PSS_QUERY_* and PSS_WALK_* values overlap.
*/
static int snapshot_captured (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  const QueryClass *q;
  PSS_QUERY_INFORMATION_CLASS cls;
  const char *name;
  if (lua_type(L, 2) != LUA_TSTRING) return luaL_typeerror(L, 2, "string");
  name = lua_tostring(L, 2);
  if ((q = query_class_named(name)) != NULL) cls = q->cls;
  else if (!lpss_walk_count_class(name, &cls))
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown class '%s'", name));
  lua_pushboolean(L, lpss_query_answer(s->h, cls) != ERROR_NOT_FOUND);
  return 1;
}

static int snapshot_tostring (lua_State *L) {
  Snapshot *s = luaL_checkudata(L, 1, SNAPSHOT_MT);
  static const struct { PSS_QUERY_INFORMATION_CLASS cls; const char *what; } parts[] = {
    { PSS_QUERY_THREAD_INFORMATION, "threads" }, { PSS_QUERY_HANDLE_INFORMATION, "handles" },
    { PSS_QUERY_VA_SPACE_INFORMATION, "regions" } };
  luaL_Buffer b;
  size_t i;
  if (s->h == NULL) { lua_pushliteral(L, SNAPSHOT_MT " (freed)"); return 1; }
  luaL_buffinit(L, &b);
  lua_pushfstring(L, SNAPSHOT_MT " (pid %I", s->pid);
  luaL_addvalue(&b);
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    DWORD n = lpss_count_of(s->h, parts[i].cls);
    if (n == (DWORD)-1) continue;
    lua_pushfstring(L, ", %d %s", (int)n, parts[i].what);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}
/* }====================================================================== */


/* An open Lua file argument, flushed (what it buffered for writing goes
** first; what it read ahead of its descriptor is given back), or NULL for
** a path; raises for anything else. *failed: the flush failed. */
static luaL_Stream *file_arg (lua_State *L, int i, int *failed) {
  luaL_Stream *f = luaL_testudata(L, i, LUA_FILEHANDLE);
  *failed = 0;
  if (f == NULL && lua_type(L, i) != LUA_TSTRING) luaL_typeerror(L, i, "path or file");
  if (f != NULL && f->closef == NULL) luaL_error(L, "attempt to use a closed file");
  if (f != NULL && fflush(f->f) != 0) *failed = errno;
  return f;
}

static int push_errno (lua_State *L, const char *fn, int e) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s: %s", fn, strerror(e));
  lua_pushinteger(L, ERROR_GEN_FAILURE);
  return 3;
}


/* {======================================================================
** The VA clone: read and write_core
** ======================================================================= */
#define READ_CHUNK ((SIZE_T)1 << 20)

/*
** snap:read(address, length) -> the bytes as they were at the capture
** instant, from the VA clone. A range running into memory the clone does
** not hold gives the bytes up to there, a message and ERROR_PARTIAL_COPY.
** A snapshot without a clone raises: that is a capture option missing.
*/
static int snapshot_read (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  lua_Integer address = luaL_checkinteger(L, 2), length = luaL_checkinteger(L, 3), done = 0;
  UINT64 at = (UINT64)address;
  luaL_Buffer b;
  DWORD rc;
  char where[32];
  luaL_argcheck(L, length >= 0, 3, "length must not be negative");
  luaL_buffinit(L, &b);
  /* a chunk at a time: the buffer grows with what the clone holds, so an
     absurd length asks lua_Alloc for no more than a sensible one; it
     stops where the address space ends */
  do {
    SIZE_T want = (SIZE_T)(length - done) < READ_CHUNK ? (SIZE_T)(length - done) : READ_CHUNK;
    SIZE_T got = 0;
    rc = lpss_snapshot_memory(s->h, at + (UINT64)done, luaL_prepbuffsize(&b, want), want, &got);
    luaL_addsize(&b, got);
    done += (lua_Integer)got;
  } while (rc == ERROR_SUCCESS && done < length && at + (UINT64)done > at);
  if (rc == ERROR_NOT_FOUND) return lpss_not_captured(L, "memory contents", "va_clone");
  if (rc == ERROR_SUCCESS && done < length) rc = ERROR_PARTIAL_COPY;
  if (rc != ERROR_SUCCESS && rc != ERROR_PARTIAL_COPY)
    return lpss_push_failure(L, "read", rc, NULL, s->pid);
  luaL_pushresult(&b);
  if (rc == ERROR_SUCCESS) return 1;
  snprintf(where, sizeof where, "0x%llx", (unsigned long long)address);
  lua_pushfstring(L, "read: only %I of %I bytes at %s are in the clone", done, length, where);
  lua_pushinteger(L, (lua_Integer)rc);
  return 3;
}

/*
** snap:write_core(path | file [, {progress = true}]) -> true: an ELF core
** file (a minidump on Windows) of the snapshot, for the debugger. An open
** Lua file (io.open, io.stdout) gets the core on its descriptor, after
** what it buffered. Needs the VA clone and thread contexts: without them
** it raises, as a missing capture option; so does a file the core cannot
** be written to. progress: a write longer than a second says how far it
** is on standard error (Linux).
*/
static int snapshot_write_core (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  int failed, progress = 0;
  luaL_Stream *f = file_arg(L, 2, &failed);
  const char *why;
  DWORD rc;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    progress = lua_getfield(L, 3, "progress") != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (failed) return push_errno(L, "write_core", failed);   /* its buffer could not go */
  /* nothing between these two raises: the routine never stays set */
  if (progress) lpss_progress("writing core", 1);
  rc = f != NULL ? lpss_snapshot_core_file(s->h, f->f)
                 : lpss_snapshot_core(s->h, lua_tostring(L, 2));
  if (progress) lpss_progress(NULL, 0);
  why = lpss_system_detail();
  if (rc == ERROR_NOT_FOUND)
    return luaL_error(L, "write_core: %s", why ? why : "the snapshot lacks what a core needs");
  if (rc == ERROR_INVALID_HANDLE && f != NULL && why != NULL && !lpss_failure_from_system())
    return luaL_argerror(L, 2, why);    /* a file not open for writing */
  if (rc != ERROR_SUCCESS) return lpss_push_failure(L, "write_core", rc, NULL, s->pid);
  lua_pushboolean(L, 1);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Save and load
** ======================================================================= */

/*
** snap:save(path | file [, {memory = true}]) -> true: the snapshot in the
** saved snapshot format (docs/snapshot-format.md), for core.load. A path
** gets a new file renamed into place; an open file gets it at its
** position. memory: the VA clone's memory too (raises without a clone).
*/
static int snapshot_save (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  int failed, memory = 0, progress = 0;
  luaL_Stream *f = file_arg(L, 2, &failed);
  const char *why;
  DWORD rc;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    memory = lua_getfield(L, 3, "memory") != LUA_TNIL && lua_toboolean(L, -1);
    progress = lua_getfield(L, 3, "progress") != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  if (failed) return push_errno(L, "save", failed);
  /* nothing between these two raises: the routine never stays set */
  if (progress && memory) lpss_progress("saving memory", 1);
  rc = f != NULL ? lpss_snapshot_save_file(s->h, f->f, memory)
                 : lpss_snapshot_save(s->h, lua_tostring(L, 2), memory);
  if (progress && memory) lpss_progress(NULL, 0);
  why = lpss_system_detail();
  if (rc == ERROR_NOT_FOUND) return lpss_not_captured(L, "memory contents", "va_clone");
  if (rc == ERROR_INVALID_HANDLE && f != NULL && why != NULL && !lpss_failure_from_system())
    return luaL_argerror(L, 2, why);    /* a file not open for writing */
  if (rc != ERROR_SUCCESS) return lpss_push_failure(L, "save", rc, NULL, s->pid);
  lua_pushboolean(L, 1);
  return 1;
}

/* The pid a loaded snapshot's process record names, for messages. */
static lua_Integer loaded_pid (HPSS h) {
  PSS_PROCESS_INFORMATION pi;
  if (PssQuerySnapshot(h, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi) != ERROR_SUCCESS)
    return 0;
  return (lua_Integer)pi.ProcessId;
}

/*
** core.load(path | file) -> snapshot: a saved snapshot, or an ELF core the
** kernel, gdb or write_core wrote; an open file is read from its position.
** fail, message, code for a file that is missing, not a snapshot or core
** (ERROR_BAD_FORMAT), damaged, or of a newer format.
*/
int lpss_load (lua_State *L) {
  int failed;
  luaL_Stream *f = file_arg(L, 1, &failed);
  Snapshot *s = new_snapshot(L, 0);
  Held *e = lpss_held_new(L, HELD_SNAPSHOT);
  HPSS h = NULL;
  DWORD rc;
  if (failed) {
    lpss_held_drop(L, e);
    return push_errno(L, "load", failed);
  }
  rc = f != NULL ? lpss_snapshot_load_file(f->f, &h) : lpss_snapshot_load(lua_tostring(L, 1), &h);
  if (hold_snapshot(L, s, e, rc, h) != ERROR_SUCCESS) {
    if (f == NULL && rc != ERROR_NOT_ENOUGH_MEMORY) {
      const char *why = lpss_system_detail();
      luaL_pushfail(L);
      lua_pushfstring(L, "load: %s: %s", lua_tostring(L, 1),
                      why != NULL ? why : lpss_error_text(rc) ? lpss_error_text(rc) : "failed");
      lua_pushinteger(L, (lua_Integer)rc);
      return 3;
    }
    return lpss_push_failure(L, "load", rc, NULL, 0);
  }
  s->pid = loaded_pid(h);
  return 1;
}
/* }====================================================================== */


const luaL_Reg lpss_snapshot_methods[] = {
  { "query", snapshot_query }, { "captured", snapshot_captured },
  { "duplicate", snapshot_duplicate }, { "read", snapshot_read },
  { "write_core", snapshot_write_core }, { "save", snapshot_save },
  { "free", snapshot_release }, { NULL, NULL }
};

const luaL_Reg lpss_snapshot_meta[] = {
  { "__index", NULL }, { "__gc", snapshot_release }, { "__close", snapshot_release },
  { "__tostring", snapshot_tostring }, { NULL, NULL }
};
