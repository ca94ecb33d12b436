/*
** lpss.h -- what the files of pss.core share (internal; not installed).
**
** pss.core is split by concern, one room each:
**   lpss.c          module setup: luaopen, constants, errors, the module
**                   functions that hold no handle; includes the platform
**                   header (linux/lpss_linux.h or windows/lpss_win.h,
**                   which also hold core.processes)
**   lpss_ledger.c   the ledger of handles and the PSS_ALLOCATOR bridge
**                   over lua_Alloc (and core.allocations)
**   lpss_snapshot.c the snapshot userdata: capture, query, captured,
**                   read, write_core, duplicate, free
**   lpss_walk.c     walk markers and the walk iterators
**   lpss_fields.c   the record field tables, the interned keys and
**                   core.fields
**   lpss_record.c   the push functions that fill Lua tables from records
**   lpss_stack.c    snap:stack: threads unwound into frames (Linux), the
**                   unwinder each snapshot makes on first use
**
** Names one file gives another start with lpss_ and are hidden: core.so
** exports luaopen_pss_core and nothing else of its own.
*/
#ifndef LPSS_H
#define LPSS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"

#include "pss.h"

/* After the includes: the declarations of Lua and of the Pss* API keep
** their own visibility. Windows DLLs export only what is dllexport. */
#if !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

#define SNAPSHOT_MT "pss.snapshot"
#define MARKER_MT "pss.marker"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))


/* {======================================================================
** Platform: what every file needs to know of the system. The rest of each
** system's side is one header, which lpss.c includes.
** ======================================================================= */
#if defined(_WIN32)
#define CURRENT_PROCESS GetCurrentProcess()
#define HAVE_LINUX_CLASSES 0
#else
#define CURRENT_PROCESS PSS_LINUX_CURRENT_PROCESS
#define HAVE_LINUX_CLASSES 1
#endif

/* Implemented by linux/lpss_linux.h and windows/lpss_win.h */
DWORD lpss_process_open(DWORD pid, DWORD flags, HANDLE *h);
void lpss_process_close(HANDLE h);
lua_Integer lpss_current_pid(void);
/* nonzero when the last failure came from the system, not from the
** library's own argument checks */
int lpss_failure_from_system(void);
/* the library's words for why the last call failed, or NULL */
const char *lpss_system_detail(void);
DWORD lpss_snapshot_memory(HPSS h, UINT64 address, void *buf, SIZE_T n, SIZE_T *got);
DWORD lpss_snapshot_core(HPSS h, const char *path);
DWORD lpss_snapshot_core_file(HPSS h, FILE *f);
DWORD lpss_snapshot_save(HPSS h, const char *path, int memory);
DWORD lpss_snapshot_save_file(HPSS h, FILE *f, int memory);
DWORD lpss_snapshot_load(const char *path, HPSS *h);
DWORD lpss_snapshot_load_file(FILE *f, HPSS *h);
int lpss_load(lua_State *L);
void lpss_progress(const char *what, int on);
/* }====================================================================== */


/* {======================================================================
** lpss.c: errors and strings
** ======================================================================= */
const char *lpss_error_text(DWORD code);
int lpss_push_failure(lua_State *L, const char *fn, DWORD code, const char *reason,
                      lua_Integer pid);
void lpss_push_wide(lua_State *L, const WCHAR *s, size_t units);
/* }====================================================================== */


/* {======================================================================
** lpss_ledger.c: every handle the state holds, and the marker allocator
** ======================================================================= */
/* A marker's and an unwinder's entry hold the PSS_ALLOCATOR they
** allocate through. */
enum { HELD_SNAPSHOT, HELD_MARKER, HELD_UNWINDER };

typedef struct Held Held;

void lpss_push_ledger(lua_State *L);
Held *lpss_held_new(lua_State *L, int kind);
PSS_ALLOCATOR *lpss_held_allocator(Held *e);
DWORD lpss_held_keep(lua_State *L, Held *e, DWORD rc, void *handle);
void lpss_held_drop(lua_State *L, Held *e);
void lpss_held_release(lua_State *L, int kind, void *handle);
PSS_ALLOCATOR *lpss_held_find_allocator(lua_State *L, int kind, void *handle);
int lpss_allocations(lua_State *L);
/* }====================================================================== */


/* {======================================================================
** lpss_snapshot.c and lpss_walk.c: the userdata
** ======================================================================= */
typedef struct {
  HPSS h;              /* NULL once freed */
  lua_Integer pid;
  void *unwinder;      /* its HPSSUNWIND, made by the first snap:stack; else NULL */
  int unwinding;       /* how many snap:stack calls are turning a stack into
                          tables: a release meanwhile leaves the unwinder to them */
} Snapshot;

typedef struct {
  HPSSWALK h;          /* NULL once freed */
} Marker;

Snapshot *lpss_check_snapshot(lua_State *L, int i);
DWORD lpss_count_of(HPSS h, PSS_QUERY_INFORMATION_CLASS cls);
int lpss_not_captured(lua_State *L, const char *what, const char *option);
extern const char lpss_self_key;   /* pss.self is its address */
int lpss_capture(lua_State *L);
int lpss_walk_count_class(const char *name, PSS_QUERY_INFORMATION_CLASS *count);

void lpss_drop_unwinder(lua_State *L, Snapshot *s);
extern const luaL_Reg lpss_snapshot_methods[], lpss_snapshot_meta[];
extern const luaL_Reg lpss_walk_methods[], lpss_marker_methods[], lpss_marker_meta[];
/* }====================================================================== */


/* {======================================================================
** lpss_stack.c: stacks (the Linux unwinder; "not supported" elsewhere)
** ======================================================================= */
void lpss_unwinder_free(void *unwinder);
DWORD lpss_stack_limit(DWORD bytes);
extern const luaL_Reg lpss_stack_methods[];
/* }====================================================================== */


/* {======================================================================
** lpss_fields.c: one static table per record, name -> how to read it
** ======================================================================= */
enum field_type {
  F_U16, F_U32, F_I32, F_U64, F_PTR,  /* integers (addresses keep all 64 bits) */
  F_CHAR,           /* one char -> string of 1 */
  F_TIME,           /* FILETIME since 1601 -> Unix epoch seconds, nil if 0 */
  F_SECONDS,        /* FILETIME duration -> seconds */
  F_MICROS,         /* UINT64 microseconds -> seconds */
  F_WSTR,           /* const WCHAR * at off, WORD byte length at aux */
  F_WARRAY,         /* WCHAR[aux] at off, NUL terminated */
  F_BYTES,          /* const char * at off, WORD length at aux */
  F_BOOL32,         /* BOOL -> boolean */
  F_ENUM,           /* DWORD at off, decoded with names[aux]; raw in name_flags */
  F_ENUM8,          /* the same of an unsigned char */
  F_TEXT,           /* as F_BYTES, but absent when empty */
  F_NZ32, F_NZ64    /* DWORD, UINT64; absent when 0 ("not known") */
};

typedef struct {
  const char *name;
  unsigned char type;
  unsigned short off, aux;
} Field;

/* A record's fields; key of field i at base + 2i, of its NAME_flags at +1. */
typedef struct {
  const char *record;        /* as pss.fields() names it */
  const Field *fields;
  unsigned short n, base;
} FieldSet;

/* Keys that are no field of a table: set by the push functions. */
enum extra_key {
  K_NONE, K_TERMINATED, K_SYSCALL_STATE, K_LAST_SYSCALL_ARGUMENTS, K_ACCESS, K_CLOEXEC,
  K_NONBLOCK, K_APPEND, K_SOCKET_FAMILY, K_SOCKET_TYPE, K_SOCKET_PROTOCOL, K_SOCKET_STATE,
  K_PROTECT, K_PROTECTED, K_WOW64, K_FROZEN, K_ARGV, K_COMMAND_LINE_TRUNCATED, K_CAPTURE_MODE,
  K_NOT_FROZEN, K_ARM_PROCESS,
  K_ARM_THREAD, K_ARM_MUTANT, K_ARM_EVENT, K_ARM_SECTION, K_ARM_SEMAPHORE, K_CONTEXT, K_FS_BASE,
  K_FLTSAVE, K_XSTATE, K_CLONE, K_BUILD_ID, K_CONTENTS, K_MODULE_OFFSET, K_OFFSET,
  K_ACTIVATION, K_EXTRAS
};

#if defined(__x86_64__)
/* The PSS_LINUX_REGISTER_* bit numbers (pss.h): Rax .. R15 in CONTEXT order,
** then the groups. A register whose bit ContextRegisters lacks holds
** nothing the thread held, so its key is left out. */
enum {
  RB_RAX, RB_RCX, RB_RDX, RB_RBX, RB_RSP, RB_RBP, RB_RSI, RB_RDI, RB_R8, RB_R9, RB_R10,
  RB_R11, RB_R12, RB_R13, RB_R14, RB_R15, RB_RIP, RB_EFLAGS, RB_SEGMENTS, RB_FLOATING,
  RB_DEBUG, RB_XSTATE
};
#endif

extern const FieldSet lpss_fs_process, lpss_fs_thread, lpss_fs_handle, lpss_fs_handle_basic,
  lpss_fs_process_arm, lpss_fs_thread_arm, lpss_fs_mutant_arm, lpss_fs_event_arm,
  lpss_fs_section_arm, lpss_fs_semaphore_arm, lpss_fs_region, lpss_fs_region_image,
  lpss_fs_thread_name, lpss_fs_performance, lpss_fs_aux_page;
#if defined(__x86_64__)
extern const FieldSet lpss_fs_context;
#endif
#if HAVE_LINUX_CLASSES
extern const FieldSet lpss_fs_linux_process, lpss_fs_linux_thread, lpss_fs_linux_handle,
  lpss_fs_linux_handle_basic, lpss_fs_linux_region, lpss_fs_freeze, lpss_fs_frame,
  lpss_fs_region_usage, lpss_fs_process_usage;
#endif

void lpss_build_keys(lua_State *L);
int lpss_push_keys(lua_State *L);
void lpss_set_key(lua_State *L, int keys, int t, int k);
int lpss_push_field(lua_State *L, int keys, int t, int flags_key, const Field *f,
                    const char *base);
void lpss_set_fields(lua_State *L, int keys, int t, const FieldSet *fs, const void *record);
int lpss_fields(lua_State *L);
/* }====================================================================== */


/* {======================================================================
** lpss_record.c: one Lua table per record
** ======================================================================= */
typedef union {
  PSS_THREAD_ENTRY thread;
  PSS_HANDLE_ENTRY handle;
  PSS_VA_SPACE_ENTRY region;
  PSS_THREAD_NAME name;
  PSS_AUXILIARY_PAGE_ENTRY aux;
#if HAVE_LINUX_CLASSES
  PSS_LINUX_THREAD_ENTRY lthread;
  PSS_LINUX_HANDLE_ENTRY lhandle;
  PSS_LINUX_VA_SPACE_ENTRY lregion;
#endif
} Entry;

void lpss_push_thread(lua_State *L, int keys, const Entry *e);
void lpss_push_handle(lua_State *L, int keys, const Entry *e);
void lpss_push_region(lua_State *L, int keys, const Entry *e);
void lpss_push_thread_name(lua_State *L, int keys, const Entry *e);
void lpss_push_aux_page(lua_State *L, int keys, const Entry *e);
void lpss_push_hex(lua_State *L, const unsigned char *bytes, size_t n);
DWORD lpss_push_query(lua_State *L, HPSS h, PSS_QUERY_INFORMATION_CLASS cls);
DWORD lpss_query_answer(HPSS h, PSS_QUERY_INFORMATION_CLASS cls);
void lpss_set_integer(lua_State *L, const char *key, lua_Integer v);
/* }====================================================================== */

#if !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
