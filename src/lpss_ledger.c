/*
** lpss_ledger.c -- pss.core: the ledger of every handle a state holds, and
** the PSS_ALLOCATOR that walk markers and unwinders allocate through
** (lua_Alloc).
*/
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "lpss.h"


/* {======================================================================
** PSS_ALLOCATOR over lua_Alloc
**
** Each block carries its size in a header, so the free can pass lua_Alloc
** the right osize. The context is the marker's (or unwinder's) ledger
** entry (below), which outlives the marker's userdata, so it is valid for
** the marker's whole life even when Lua frees the userdata without running
** its finalizer.
** These bytes bypass Lua's GC accounting: live_blocks/live_bytes count
** them for the specs.
** ======================================================================= */
typedef struct {
  lua_Alloc f;
  void *ud;
} LuaAllocator;

typedef union { size_t size; max_align_t align; } BlockHeader;

static atomic_long live_blocks, live_bytes;

static void *WINAPI lua_alloc_routine (void *context, DWORD size) {
  LuaAllocator *a = context;
  BlockHeader *h;
  h = a->f(a->ud, NULL, 0, sizeof *h + size);
  if (h == NULL) return NULL;
  h->size = size;
  atomic_fetch_add(&live_blocks, 1);
  atomic_fetch_add(&live_bytes, (long)size);
  return h + 1;
}

static void WINAPI lua_free_routine (void *context, void *address) {
  LuaAllocator *a = context;
  BlockHeader *h;
  if (address == NULL) return;
  h = (BlockHeader *)address - 1;
  atomic_fetch_sub(&live_blocks, 1);
  atomic_fetch_sub(&live_bytes, (long)h->size);
  a->f(a->ud, h, sizeof *h + h->size, 0);
}

/* core.allocations() -> blocks, bytes: live PSS_ALLOCATOR memory of all
** markers and unwinders of this module (lua_Alloc memory that Lua's GC
** does not count) */
int lpss_allocations (lua_State *L) {
  lua_pushinteger(L, atomic_load(&live_blocks));
  lua_pushinteger(L, atomic_load(&live_bytes));
  return 2;
}
/* }====================================================================== */


/* {======================================================================
** The ledger: every handle the state holds, freed at lua_close at the
** latest
**
** A finalizer does not always run: when memory is out and the stack must
** grow, Lua cannot even call it, and frees the userdata all the same. So a
** handle is also written in the ledger, in an entry allocated with the
** state's lua_Alloc before the Pss call that makes the handle and freed
** with it. The ledger is a userdata made by luaopen, older than every
** snapshot and marker, so lua_close finalizes it after all of them, with
** the stack empty: it frees whatever no finalizer freed. Entries hold
** handle values, never pointers into userdata (Lua frees those), and a
** marker's allocator lives in its entry, not in its userdata, so freeing
** the HPSSWALK late still has a valid Context. An unwinder (snap:stack)
** has an entry of its own, like a marker's; it holds a duplicate of its
** snapshot inside libpss, so the two may be freed in either order.
** Releasing never allocates.
** ======================================================================= */
#define LEDGER_MT "pss.ledger"

struct Held {
  struct Held *next;
  int kind;
  void *handle;          /* the HPSS, HPSSWALK or HPSSUNWIND; NULL until it is made */
  LuaAllocator ctx;      /* what allocated this entry; a marker's Context */
  PSS_ALLOCATOR alloc;   /* a marker's or an unwinder's allocator */
};

typedef struct {
  Held *head;            /* newest first: a loop's marker is found at once */
  int closed;            /* finalized by lua_close: takes nothing more */
} Ledger;

static const char ledger_key = 0;   /* the ledger's registry slot */

/* The ledger is upvalue 1 of every function the module registers. */
static Ledger *ledger_of (lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* A new entry, linked first, for a handle about to be made; raises when
** memory is out or the state is closing. A marker's (an unwinder's) entry
** holds its allocator, ready for PssWalkMarkerCreate
** (PssLinuxUnwinderCreate). */
Held *lpss_held_new (lua_State *L, int kind) {
  Ledger *lg = ledger_of(L);
  LuaAllocator a;
  Held *e;
  if (lg->closed) luaL_error(L, "pss: the Lua state is closing");
  a.f = lua_getallocf(L, &a.ud);
  e = a.f(a.ud, NULL, 0, sizeof *e);
  if (e == NULL) luaL_error(L, "not enough memory");
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->ctx = a;
  if (kind != HELD_SNAPSHOT) {
    e->alloc.Context = &e->ctx;
    e->alloc.AllocRoutine = lua_alloc_routine;
    e->alloc.FreeRoutine = lua_free_routine;
  }
  e->next = lg->head;
  lg->head = e;
  return e;
}

PSS_ALLOCATOR *lpss_held_allocator (Held *e) { return &e->alloc; }

/* Frees the handle an entry holds, then the entry, whose allocator
** context the marker's (unwinder's) free still uses. */
static void held_free (Held *e) {
  if (e->handle != NULL && e->kind == HELD_SNAPSHOT)
    PssFreeSnapshot(CURRENT_PROCESS, (HPSS)e->handle);
  else if (e->handle != NULL && e->kind == HELD_MARKER)
    PssWalkMarkerFree((HPSSWALK)e->handle);
  else if (e->handle != NULL)
    lpss_unwinder_free(e->handle);
  e->ctx.f(e->ctx.ud, e, sizeof *e, 0);
}

/* Unlinks and frees an entry of the ledger. */
void lpss_held_drop (lua_State *L, Held *e) {
  Held **p = &ledger_of(L)->head;
  while (*p != e) p = &(*p)->next;
  *p = e->next;
  held_free(e);
}

/* Fills an entry from a Pss call's result: the handle goes into the
** entry, or the entry goes. The caller stores the handle in its userdata
** at once, with nothing in between that could raise. */
DWORD lpss_held_keep (lua_State *L, Held *e, DWORD rc, void *handle) {
  if (rc == ERROR_SUCCESS) e->handle = handle;
  else lpss_held_drop(L, e);
  return rc;
}

/* Frees a handle of `kind` with its entry. A handle the ledger does not
** hold is left alone: the ledger freed it already (lua_close). */
void lpss_held_release (lua_State *L, int kind, void *handle) {
  Held *e;
  for (e = ledger_of(L)->head; e != NULL; e = e->next)
    if (e->kind == kind && e->handle == handle) {
      lpss_held_drop(L, e);
      return;
    }
}

/* The allocator of the entry that holds `handle`, or NULL when the ledger
** holds no such handle: what frees the blocks the handle handed out. */
PSS_ALLOCATOR *lpss_held_find_allocator (lua_State *L, int kind, void *handle) {
  Held *e;
  for (e = ledger_of(L)->head; e != NULL; e = e->next)
    if (e->kind == kind && e->handle == handle) return &e->alloc;
  return NULL;
}

/* __gc of the ledger (lua_close only: the registry holds it until then) */
static int ledger_close (lua_State *L) {
  Ledger *lg = luaL_checkudata(L, 1, LEDGER_MT);
  Held *e;
  lg->closed = 1;
  while ((e = lg->head) != NULL) {
    lg->head = e->next;
    held_free(e);
  }
  return 0;
}

/* Pushes the state's ledger, made on the first luaopen of the state. */
void lpss_push_ledger (lua_State *L) {
  Ledger *lg;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ledger_key) == LUA_TUSERDATA) return;
  lua_pop(L, 1);
  lg = lua_newuserdatauv(L, sizeof *lg, 0);
  lg->head = NULL;
  lg->closed = 0;
  if (luaL_newmetatable(L, LEDGER_MT)) {
    lua_pushcfunction(L, ledger_close);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "private");   /* getmetatable cannot reach __gc */
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ledger_key);
}
/* }====================================================================== */
