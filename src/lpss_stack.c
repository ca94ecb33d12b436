/*
** lpss_stack.c -- pss.core: snap:stack(tid), a thread of a snapshot
** unwound into symbolized frames by libpss's unwinder (elfutils' libdwfl,
** PssLinuxUnwinder*), and the stack limit of a capture.
**
** Each snapshot userdata makes one unwinder, on its first snap:stack, and
** keeps it until the snapshot is freed: libdwfl's module caches are then
** reused by every thread. The unwinder allocates through the state's
** lua_Alloc (its ledger entry holds the PSS_ALLOCATOR, as a marker's does)
** and holds its own duplicate of the snapshot inside libpss, so nothing
** on the Lua side keeps the snapshot alive for it; snap:free(), __close
** and __gc free it with the snapshot (lpss_drop_unwinder), lua_close at
** the latest. On Windows snap:stack answers "not supported".
*/
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "lpss.h"


#if HAVE_LINUX_CLASSES
/* {======================================================================
** The unwinder of a snapshot
** ======================================================================= */
void lpss_unwinder_free (void *unwinder) { PssLinuxUnwinderFree((HPSSUNWIND)unwinder); }

DWORD lpss_stack_limit (DWORD bytes) { return PssLinuxSetStackLimit(bytes); }

/* Frees the snapshot's unwinder, if it made one; allocates nothing. */
void lpss_drop_unwinder (lua_State *L, Snapshot *s) {
  void *u = s->unwinder;
  s->unwinder = NULL;              /* first, as snapshot_release does */
  if (u != NULL) lpss_held_release(L, HELD_UNWINDER, u);
}

/* The snapshot's unwinder, made on first use through a ledger entry of
** its own. Returns the Win32 code of PssLinuxUnwinderCreate; a failure
** leaves none, so the next call tries again. */
static DWORD snapshot_unwinder (lua_State *L, Snapshot *s) {
  HPSSUNWIND u = NULL;
  Held *e;
  DWORD rc;
  if (s->unwinder != NULL) return ERROR_SUCCESS;
  e = lpss_held_new(L, HELD_UNWINDER);
  rc = PssLinuxUnwinderCreate(s->h, lpss_held_allocator(e), &u);
  if (lpss_held_keep(L, e, rc, u) == ERROR_SUCCESS) s->unwinder = u;
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Frames as Lua tables
** ======================================================================= */
static const char *const end_reasons[] = {
  NULL, "outermost", "limit", "repeated", "memory", "unwind", "no_context"
};

static void set_integer_key (lua_State *L, int keys, int t, int k, lua_Integer v) {
  lua_pushinteger(L, v);
  lpss_set_key(L, keys, t, k);
}

/* One frame: the fields of lpss_fs_frame, then what no field table says
** (module_offset only inside a module, offset only with a symbol). */
static void push_frame (lua_State *L, int keys, const PSS_LINUX_STACK_FRAME *f) {
  int t;
  lua_createtable(L, 0, 14);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_frame, f);
  if (f->ModuleStart != 0)
    set_integer_key(L, keys, t, K_MODULE_OFFSET, (lua_Integer)f->ModuleOffset);
  if (f->SymbolLength > 0) set_integer_key(L, keys, t, K_OFFSET, (lua_Integer)f->SymbolOffset);
  if (f->BuildIdLength > 0) {
    lpss_push_hex(L, f->BuildId, f->BuildIdLength < PSS_LINUX_BUILD_ID_MAX
                                   ? f->BuildIdLength : PSS_LINUX_BUILD_ID_MAX);
    lpss_set_key(L, keys, t, K_BUILD_ID);
  }
  lua_pushboolean(L, f->Activation != 0);
  lpss_set_key(L, keys, t, K_ACTIVATION);
}

/*
** Protected (lua_pcall): the stack at light userdata 1 as the list of its
** frames, innermost first, with end_reason and end_detail set on the list
** itself. Run protected so that a memory error while the tables are made
** still lets the caller free the stack's block.
*/
static int push_stack (lua_State *L) {
  const PSS_LINUX_STACK *st = lua_touserdata(L, 1);
  DWORD i, reason = st->EndReason;
  int list, keys;
  lua_createtable(L, (int)st->FrameCount, 2);
  list = lua_gettop(L);
  keys = lpss_push_keys(L);
  for (i = 0; i < st->FrameCount; i++) {
    push_frame(L, keys, &st->Frames[i]);
    lua_rawseti(L, list, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
  if (reason < sizeof end_reasons / sizeof end_reasons[0] && end_reasons[reason] != NULL)
    lua_pushstring(L, end_reasons[reason]);
  else lua_pushfstring(L, "%d", (int)reason);    /* a reason newer than this module */
  lua_setfield(L, list, "end_reason");
  lua_pushlstring(L, st->EndDetail != NULL ? st->EndDetail : "", st->EndDetailLength);
  lua_setfield(L, list, "end_detail");
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** snap:stack
** ======================================================================= */
/* fail, message, code of a stack that could not be had. The snapshot
** lacking what stacks need is named by the option that captures it (the
** library's detail names C flags); other failures carry its detail. */
static int stack_failure (lua_State *L, Snapshot *s, DWORD rc, lua_Integer tid, int creating) {
  if (rc != ERROR_NOT_FOUND) return lpss_push_failure(L, "stack", rc, NULL, s->pid);
  luaL_pushfail(L);
  if (creating)
    lua_pushliteral(L, "stack: the snapshot holds no stacks (capture with the \"stacks\" option)");
  else lua_pushfstring(L, "stack: no thread %I in the snapshot (pid %I)", tid, s->pid);
  lua_pushinteger(L, (lua_Integer)rc);
  return 3;
}

/* The unwind flags of snap:stack's options table (argument 3, optional):
** { lines = true } adds source file, line and column. */
static DWORD stack_flags (lua_State *L) {
  DWORD flags = 0;
  if (lua_isnoneornil(L, 3)) return 0;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_getfield(L, 3, "lines");
  if (!lua_isnil(L, -1)) {
    luaL_argcheck(L, lua_isboolean(L, -1), 3, "lines must be a boolean");
    if (lua_toboolean(L, -1)) flags |= PSS_LINUX_UNWIND_SOURCE_LINES;
  }
  lua_pop(L, 1);
  return flags;
}

/*
** snap:stack(tid [, {lines = true}]) -> frames: the thread unwound,
** innermost frame first, with end_reason and end_detail on the list;
** fail, message, code when the snapshot holds no such thread or nothing to
** unwind.
*/
static int snapshot_stack (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  lua_Integer tid = luaL_checkinteger(L, 2);
  DWORD flags = stack_flags(L);
  PSS_LINUX_STACK *st = NULL;
  PSS_ALLOCATOR *a;
  DWORD rc;
  int status;
  luaL_argcheck(L, tid > 0 && tid <= INT_MAX, 2, "tid must be an integer in 1..2147483647");
  lua_settop(L, 2);
  if ((rc = snapshot_unwinder(L, s)) != ERROR_SUCCESS) return stack_failure(L, s, rc, tid, 1);
  if ((rc = PssLinuxUnwindThread(s->unwinder, (DWORD)tid, flags, &st)) != ERROR_SUCCESS)
    return stack_failure(L, s, rc, tid, 0);
  a = lpss_held_find_allocator(L, HELD_UNWINDER, s->unwinder);
  lua_pushcfunction(L, push_stack);       /* pushing these allocates nothing */
  lua_pushlightuserdata(L, st);
  /* a finalizer run while the tables are made may free the snapshot:
     its unwinder, whose allocator frees the block, then waits for us */
  s->unwinding++;                         /* a count: that finalizer may call us too */
  status = lua_pcall(L, 1, 1, 0);
  s->unwinding--;
  if (a != NULL) a->FreeRoutine(a->Context, st);
  if (s->h == NULL && s->unwinding == 0) lpss_drop_unwinder(L, s);
  if (status != LUA_OK) return lua_error(L);
  return 1;
}
/* }====================================================================== */

#else
/* {======================================================================
** Windows: no unwinder
** ======================================================================= */
void lpss_unwinder_free (void *unwinder) { (void)unwinder; }

DWORD lpss_stack_limit (DWORD bytes) { (void)bytes; return 0; }

void lpss_drop_unwinder (lua_State *L, Snapshot *s) { (void)L; s->unwinder = NULL; }

/* snap:stack(tid) -> fail, "stack: not supported ...", ERROR_NOT_SUPPORTED */
static int snapshot_stack (lua_State *L) {
  lua_Integer tid;
  lpss_check_snapshot(L, 1);
  tid = luaL_checkinteger(L, 2);
  luaL_argcheck(L, tid > 0 && tid <= INT_MAX, 2, "tid must be an integer in 1..2147483647");
  luaL_pushfail(L);
  lua_pushliteral(L, "stack: not supported on this system (stacks are a Linux capture)");
  lua_pushinteger(L, ERROR_NOT_SUPPORTED);
  return 3;
}
/* }====================================================================== */
#endif

const luaL_Reg lpss_stack_methods[] = {
  { "stack", snapshot_stack }, { NULL, NULL }
};
