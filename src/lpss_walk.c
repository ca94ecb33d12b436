/*
** lpss_walk.c -- pss.core: walk markers and the walk iterators.
**
** A marker's user value is its snapshot, so no collection order can free a
** snapshot under a live marker; after an explicit snap:free() the
** marker's methods raise. Iterators return step, nil, nil, marker: the
** generic for closes the marker on break or error.
*/
#include <stddef.h>
#include <string.h>

#include "lpss.h"


/* {======================================================================
** Walk classes
** ======================================================================= */
typedef struct {
  const char *name;                  /* as Lua says it */
  PSS_WALK_INFORMATION_CLASS cls;    /* the Windows class */
  PSS_WALK_INFORMATION_CLASS native; /* what is walked (a Linux superset) */
  DWORD size;
  void (*push)(lua_State *L, int keys, const Entry *e);
  const char *option;                /* the capture option that provides it */
  PSS_QUERY_INFORMATION_CLASS count; /* the query that tells if it was captured */
} WalkClass;

#if HAVE_LINUX_CLASSES
#define NATIVE(win, lin, T) lin, sizeof(T)
#define LINUX_T(w, l) l
#else
#define NATIVE(win, lin, T) win, sizeof(T)
#define LINUX_T(w, l) w
#endif
static const WalkClass walk_classes[] = {
  { "threads", PSS_WALK_THREADS,
    NATIVE(PSS_WALK_THREADS, PSS_WALK_LINUX_THREADS,
           LINUX_T(PSS_THREAD_ENTRY, PSS_LINUX_THREAD_ENTRY)),
    lpss_push_thread, "threads", PSS_QUERY_THREAD_INFORMATION },
  { "handles", PSS_WALK_HANDLES,
    NATIVE(PSS_WALK_HANDLES, PSS_WALK_LINUX_HANDLES,
           LINUX_T(PSS_HANDLE_ENTRY, PSS_LINUX_HANDLE_ENTRY)),
    lpss_push_handle, "handles", PSS_QUERY_HANDLE_INFORMATION },
  { "regions", PSS_WALK_VA_SPACE,
    NATIVE(PSS_WALK_VA_SPACE, PSS_WALK_LINUX_VA_SPACE,
           LINUX_T(PSS_VA_SPACE_ENTRY, PSS_LINUX_VA_SPACE_ENTRY)),
    lpss_push_region, "va_space", PSS_QUERY_VA_SPACE_INFORMATION },
  { "thread_names", PSS_WALK_THREAD_NAME, PSS_WALK_THREAD_NAME, sizeof(PSS_THREAD_NAME),
    lpss_push_thread_name, "threads", PSS_QUERY_THREAD_INFORMATION },
  /* the stacks of a Linux STACKS capture; Windows captures none */
  { "auxiliary_pages", PSS_WALK_AUXILIARY_PAGES, PSS_WALK_AUXILIARY_PAGES,
    sizeof(PSS_AUXILIARY_PAGE_ENTRY), lpss_push_aux_page, LINUX_T(NULL, "stacks"),
    PSS_QUERY_AUXILIARY_PAGES_INFORMATION },
};
#define WALK_THREADS 0
#define WALK_HANDLES 1
#define WALK_REGIONS 2
#define WALK_THREAD_NAMES 3
#define WALK_AUXILIARY_PAGES 4

/* The index of a class by name ("threads", "va_space"...), or -1. */
static int walk_class_named (const char *name) {
  size_t i;
  if (strcmp(name, "va_space") == 0) return WALK_REGIONS;
  for (i = 0; i < NFIELDS(walk_classes); i++)
    if (strcmp(walk_classes[i].name, name) == 0) return (int)i;
  return -1;
}

/* A class by name or PSS_WALK_* value; raises. */
static int check_walk_class (lua_State *L, int arg) {
  size_t i;
  int k;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer v = luaL_checkinteger(L, arg);
    for (i = 0; i < NFIELDS(walk_classes); i++)
      if ((lua_Integer)walk_classes[i].cls == v) return (int)i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "unknown walk class %I", v));
  }
  else {
    const char *name = luaL_checkstring(L, arg);
    if ((k = walk_class_named(name)) >= 0) return k;
    return luaL_argerror(L, arg, lua_pushfstring(L, "unknown walk class '%s'", name));
  }
}

/* The query that tells whether the walk class `name` was captured (for
** snap:captured); 0 when no walk class has that name. */
int lpss_walk_count_class (const char *name, PSS_QUERY_INFORMATION_CLASS *count) {
  int k = walk_class_named(name);
  if (k < 0) return 0;
  *count = walk_classes[k].count;
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Marker userdata
** ======================================================================= */
/* The snapshot a marker belongs to (its user value), which must be live. */
static Marker *check_marker (lua_State *L, int i) {
  Marker *m = luaL_checkudata(L, i, MARKER_MT);
  Snapshot *s;
  if (m->h == NULL) luaL_error(L, "attempt to use a freed marker");
  lua_getiuservalue(L, i, 1);
  s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (s == NULL || s->h == NULL)
    luaL_error(L, "attempt to use a marker of a freed snapshot");
  return m;
}

/* A marker for the snapshot at index `snap`, allocating through lua_Alloc
** (the allocator lives in the marker's ledger entry). It is made in the
** freed state, so a memory error before PssWalkMarkerCreate leaks nothing. */
static Marker *new_marker (lua_State *L, int snap, DWORD *rc) {
  Marker *m = lua_newuserdatauv(L, sizeof *m, 1);
  Held *e;
  HPSSWALK h = NULL;
  m->h = NULL;
  luaL_setmetatable(L, MARKER_MT);
  lua_pushvalue(L, snap);
  lua_setiuservalue(L, -2, 1);     /* keeps the snapshot alive */
  e = lpss_held_new(L, HELD_MARKER);
  *rc = PssWalkMarkerCreate(lpss_held_allocator(e), &h);
  if (lpss_held_keep(L, e, *rc, h) == ERROR_SUCCESS) m->h = h;
  return m;
}

/* __gc, __close and m:free() -- safe to call twice; allocate nothing. */
static int marker_release (lua_State *L) {
  Marker *m = luaL_checkudata(L, 1, MARKER_MT);
  HPSSWALK h = m->h;
  m->h = NULL;                     /* first, so nothing can see it twice */
  if (h != NULL) lpss_held_release(L, HELD_MARKER, h);
  lua_pushboolean(L, 1);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Walks: snap:walk and the iterators
** ======================================================================= */
static int walk_error (lua_State *L, DWORD rc, const WalkClass *wc) {
  if (rc == ERROR_NOT_FOUND) return lpss_not_captured(L, wc->name, wc->option);
  const char *text = lpss_error_text(rc);
  return luaL_error(L, "PssWalkSnapshot: %s", text ? text : "failed");
}

/* snap:walk(class, marker) -> entry, or nil at the end */
static int snapshot_walk (lua_State *L) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  const WalkClass *wc = &walk_classes[check_walk_class(L, 2)];
  Marker *m = check_marker(L, 3);
  Entry e;
  DWORD rc = PssWalkSnapshot(s->h, wc->native, m->h, &e, wc->size);
  if (rc == ERROR_NO_MORE_ITEMS) { lua_pushnil(L); return 1; }
  if (rc != ERROR_SUCCESS) return walk_error(L, rc, wc);
  wc->push(L, lpss_push_keys(L), &e);
  return 1;
}

/* The generic-for step: upvalues snapshot, marker, class index. They were
** put there by walk_iterator, so their types need no check. */
static int walk_step (lua_State *L) {
  Snapshot *s = lua_touserdata(L, lua_upvalueindex(1));
  Marker *m = lua_touserdata(L, lua_upvalueindex(2));
  const WalkClass *wc = &walk_classes[lua_tointeger(L, lua_upvalueindex(3))];
  Entry e;
  DWORD rc;
  if (s->h == NULL) return luaL_error(L, "attempt to use a freed snapshot");
  if (m->h == NULL) return luaL_error(L, "attempt to use a freed marker");
  rc = PssWalkSnapshot(s->h, wc->native, m->h, &e, wc->size);
  if (rc == ERROR_NO_MORE_ITEMS) return 0;
  if (rc != ERROR_SUCCESS) return walk_error(L, rc, wc);
  wc->push(L, lpss_push_keys(L), &e);
  return 1;
}

/*
** for entry in snap:threads() do ... end. Returns step, nil, nil, marker:
** the marker is the loop's to-be-closed value, freed at once on break or
** error. A class that was not captured raises here, before the loop.
*/
static int walk_iterator (lua_State *L, int cls) {
  Snapshot *s = lpss_check_snapshot(L, 1);
  const WalkClass *wc = &walk_classes[cls];
  DWORD rc;
  if (lpss_count_of(s->h, wc->count) == (DWORD)-1)
    return lpss_not_captured(L, wc->name, wc->option);
  lua_settop(L, 1);       /* extra arguments are ignored, as Lua's own iterators do */
  new_marker(L, 1, &rc);                                     /* 2 */
  if (rc != ERROR_SUCCESS) return luaL_error(L, "PssWalkMarkerCreate: %s", lpss_error_text(rc));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushinteger(L, cls);
  lua_pushcclosure(L, walk_step, 3);                         /* 3 */
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 2);    /* the marker, to be closed */
  return 4;
}

static int snapshot_threads (lua_State *L) { return walk_iterator(L, WALK_THREADS); }
static int snapshot_handles (lua_State *L) { return walk_iterator(L, WALK_HANDLES); }
static int snapshot_regions (lua_State *L) { return walk_iterator(L, WALK_REGIONS); }
static int snapshot_thread_names (lua_State *L) { return walk_iterator(L, WALK_THREAD_NAMES); }
static int snapshot_auxiliary_pages (lua_State *L) { return walk_iterator(L, WALK_AUXILIARY_PAGES); }

static int snapshot_marker (lua_State *L) {
  DWORD rc;
  lpss_check_snapshot(L, 1);
  new_marker(L, 1, &rc);
  if (rc != ERROR_SUCCESS) return lpss_push_failure(L, "PssWalkMarkerCreate", rc, NULL, 0);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Marker methods
** ======================================================================= */

/* The position is opaque: pass it back to m:seek() only. */
static int marker_position (lua_State *L) {
  Marker *m = check_marker(L, 1);
  ULONG_PTR pos;
  DWORD rc = PssWalkMarkerGetPosition(m->h, &pos);
  if (rc != ERROR_SUCCESS)
    return lpss_push_failure(L, "PssWalkMarkerGetPosition", rc, NULL, 0);
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

static int marker_seek (lua_State *L) {
  Marker *m = check_marker(L, 1);
  lua_Integer pos = luaL_checkinteger(L, 2);
  DWORD rc = PssWalkMarkerSetPosition(m->h, (ULONG_PTR)pos);
  if (rc == ERROR_INVALID_PARAMETER)
    return luaL_argerror(L, 2, "not a position of this marker");
  if (rc != ERROR_SUCCESS)
    return lpss_push_failure(L, "PssWalkMarkerSetPosition", rc, NULL, 0);
  lua_settop(L, 1);
  return 1;
}

static int marker_rewind (lua_State *L) {
  Marker *m = check_marker(L, 1);
  DWORD rc = PssWalkMarkerSeekToBeginning(m->h);
  if (rc != ERROR_SUCCESS)
    return lpss_push_failure(L, "PssWalkMarkerSeekToBeginning", rc, NULL, 0);
  lua_settop(L, 1);
  return 1;
}

static int marker_tostring (lua_State *L) {
  Marker *m = luaL_checkudata(L, 1, MARKER_MT);
  if (m->h == NULL) lua_pushliteral(L, MARKER_MT " (freed)");
  else lua_pushfstring(L, MARKER_MT " (%p)", (void *)m);
  return 1;
}
/* }====================================================================== */


/* The walk methods of a snapshot, beside those of lpss_snapshot.c */
const luaL_Reg lpss_walk_methods[] = {
  { "walk", snapshot_walk }, { "threads", snapshot_threads }, { "handles", snapshot_handles },
  { "regions", snapshot_regions }, { "thread_names", snapshot_thread_names },
  { "auxiliary_pages", snapshot_auxiliary_pages }, { "marker", snapshot_marker },
  { NULL, NULL }
};

const luaL_Reg lpss_marker_methods[] = {
  { "position", marker_position }, { "seek", marker_seek }, { "rewind", marker_rewind },
  { "free", marker_release }, { NULL, NULL }
};

const luaL_Reg lpss_marker_meta[] = {
  { "__index", NULL }, { "__gc", marker_release }, { "__close", marker_release },
  { "__tostring", marker_tostring }, { NULL, NULL }
};
