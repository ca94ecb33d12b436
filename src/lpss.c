/*
** lpss.c -- pss.core: the Process Snapshotting API for Lua 5.4.
**
** Snapshots (HPSS) and walk markers (HPSSWALK) are full userdata with one
** metatable each ("pss.snapshot", "pss.marker"); __gc and __close share one
** idempotent release. Every marker gets a PSS_ALLOCATOR whose routines call
** the state's lua_Alloc. A marker keeps its snapshot alive through its user
** value. Every handle is also written in the state's ledger, which
** lua_close frees last, so no handle outlives the state even when Lua
** could not run a finalizer. Entries become plain tables, filled from
** static field tables so that code and docs list the same fields
** (pss.core.fields()).
**
** Conventions (as liolib): programming errors raise; runtime failures of the
** API return fail, message, Win32 code.
*/
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "pss.h"

#define SNAPSHOT_MT "pss.snapshot"
#define MARKER_MT "pss.marker"

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
** Errors
** ======================================================================= */
static const char *error_text (DWORD code) {
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
    default: return NULL;
  }
}

/* fail, "Function: reason (pid N)[: detail]", code -- as luaL_fileresult
** does; the detail is the library's own account of why, when it has one. */
static int push_failure (lua_State *L, const char *fn, DWORD code, const char *reason,
                         lua_Integer pid) {
  const char *text = reason ? reason : error_text(code), *detail = system_detail();
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
/* }====================================================================== */


/* {======================================================================
** PSS_ALLOCATOR over lua_Alloc
**
** Each block carries its size in a header, so the free can pass lua_Alloc
** the right osize. The context is the marker's ledger entry (below), which
** outlives the marker's userdata, so it is valid for the marker's whole
** life even when Lua frees the userdata without running its finalizer.
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
** the HPSSWALK late still has a valid Context. Releasing never allocates.
** ======================================================================= */
#define LEDGER_MT "pss.ledger"

enum { HELD_SNAPSHOT, HELD_MARKER };

typedef struct Held {
  struct Held *next;
  int kind;
  void *handle;          /* the HPSS or HPSSWALK; NULL until it is made */
  LuaAllocator ctx;      /* what allocated this entry; a marker's Context */
  PSS_ALLOCATOR alloc;   /* a marker's allocator */
} Held;

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
** memory is out or the state is closing. */
static Held *held_new (lua_State *L, int kind) {
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
  e->next = lg->head;
  lg->head = e;
  return e;
}

/* Frees the handle an entry holds, then the entry, whose allocator
** context the marker's free still uses. */
static void held_free (Held *e) {
  if (e->handle != NULL && e->kind == HELD_SNAPSHOT)
    PssFreeSnapshot(CURRENT_PROCESS, (HPSS)e->handle);
  else if (e->handle != NULL)
    PssWalkMarkerFree((HPSSWALK)e->handle);
  e->ctx.f(e->ctx.ud, e, sizeof *e, 0);
}

/* Unlinks and frees an entry of the ledger. */
static void held_drop (Ledger *lg, Held *e) {
  Held **p = &lg->head;
  while (*p != e) p = &(*p)->next;
  *p = e->next;
  held_free(e);
}

/* Frees a handle of `kind` with its entry. A handle the ledger does not
** hold is left alone: the ledger freed it already (lua_close). */
static void held_release (Ledger *lg, int kind, void *handle) {
  Held *e;
  for (e = lg->head; e != NULL; e = e->next)
    if (e->kind == kind && e->handle == handle) {
      held_drop(lg, e);
      return;
    }
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
static void push_ledger (lua_State *L) {
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


/* {======================================================================
** Fields: one static table per record, name -> how to read it
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
  F_ENUM            /* DWORD at off, decoded with names[aux]; raw in name_flags */
};

typedef struct {
  const char *name;
  unsigned char type;
  unsigned short off, aux;
} Field;

typedef struct { DWORD value; const char *name; } EnumName;

#define ENUM_OBJECT_TYPE 0
#define ENUM_STATE 1
#define ENUM_MEM_TYPE 2
#define ENUM_PRIORITY_CLASS 3
#define ENUM_FD_KIND 4
#define ENUM_PROTECT 5

static const EnumName object_type_names[] = {
  { PSS_OBJECT_TYPE_UNKNOWN, "unknown" }, { PSS_OBJECT_TYPE_PROCESS, "process" },
  { PSS_OBJECT_TYPE_THREAD, "thread" }, { PSS_OBJECT_TYPE_MUTANT, "mutant" },
  { PSS_OBJECT_TYPE_EVENT, "event" }, { PSS_OBJECT_TYPE_SECTION, "section" },
  { PSS_OBJECT_TYPE_SEMAPHORE, "semaphore" }, { 0, NULL }
};
static const EnumName state_names[] = {
  { MEM_COMMIT, "commit" }, { MEM_RESERVE, "reserve" }, { MEM_FREE, "free" }, { 0, NULL }
};
static const EnumName mem_type_names[] = {
  { MEM_PRIVATE, "private" }, { MEM_MAPPED, "mapped" }, { MEM_IMAGE, "image" }, { 0, NULL }
};
static const EnumName priority_class_names[] = {
  { IDLE_PRIORITY_CLASS, "idle" }, { BELOW_NORMAL_PRIORITY_CLASS, "below_normal" },
  { NORMAL_PRIORITY_CLASS, "normal" }, { ABOVE_NORMAL_PRIORITY_CLASS, "above_normal" },
  { HIGH_PRIORITY_CLASS, "high" }, { REALTIME_PRIORITY_CLASS, "realtime" }, { 0, NULL }
};
static const EnumName protect_names[] = {
  { PAGE_NOACCESS, "---" }, { PAGE_READONLY, "r--" }, { PAGE_READWRITE, "rw-" },
  { PAGE_WRITECOPY, "rw-" }, { PAGE_EXECUTE, "--x" }, { PAGE_EXECUTE_READ, "r-x" },
  { PAGE_EXECUTE_READWRITE, "rwx" }, { PAGE_EXECUTE_WRITECOPY, "rwx" }, { 0, NULL }
};
#if HAVE_LINUX_CLASSES
static const EnumName fd_kind_names[] = {
  { PSS_LINUX_FD_UNKNOWN, "unknown" }, { PSS_LINUX_FD_FILE, "file" },
  { PSS_LINUX_FD_DIRECTORY, "directory" }, { PSS_LINUX_FD_DEVICE, "device" },
  { PSS_LINUX_FD_PIPE, "pipe" }, { PSS_LINUX_FD_FIFO, "fifo" },
  { PSS_LINUX_FD_SOCKET, "socket" }, { PSS_LINUX_FD_EVENTFD, "eventfd" },
  { PSS_LINUX_FD_TIMERFD, "timerfd" }, { PSS_LINUX_FD_SIGNALFD, "signalfd" },
  { PSS_LINUX_FD_EPOLL, "epoll" }, { PSS_LINUX_FD_INOTIFY, "inotify" },
  { PSS_LINUX_FD_FANOTIFY, "fanotify" }, { PSS_LINUX_FD_PIDFD, "pidfd" },
  { PSS_LINUX_FD_MEMFD, "memfd" }, { PSS_LINUX_FD_ANON_INODE, "anon_inode" }, { 0, NULL }
};
#else
static const EnumName fd_kind_names[] = { { 0, NULL } };
#endif
static const EnumName *const enum_tables[] = {
  object_type_names, state_names, mem_type_names, priority_class_names, fd_kind_names,
  protect_names
};

#define FLD(name, type, S, member) { name, type, offsetof(S, member), 0 }
#define STR(name, type, S, member, len) { name, type, offsetof(S, member), offsetof(S, len) }
#define ENUMF(name, S, member, table) { name, F_ENUM, offsetof(S, member), table }

static const Field process_fields[] = {
  FLD("exit_status", F_U32, PSS_PROCESS_INFORMATION, ExitStatus),
  FLD("peb_base_address", F_PTR, PSS_PROCESS_INFORMATION, PebBaseAddress),
  FLD("affinity_mask", F_U64, PSS_PROCESS_INFORMATION, AffinityMask),
  FLD("base_priority", F_I32, PSS_PROCESS_INFORMATION, BasePriority),
  FLD("pid", F_U32, PSS_PROCESS_INFORMATION, ProcessId),
  FLD("parent_pid", F_U32, PSS_PROCESS_INFORMATION, ParentProcessId),
  FLD("flags", F_U32, PSS_PROCESS_INFORMATION, Flags),
  FLD("create_time", F_TIME, PSS_PROCESS_INFORMATION, CreateTime),
  FLD("exit_time", F_TIME, PSS_PROCESS_INFORMATION, ExitTime),
  FLD("kernel_time", F_SECONDS, PSS_PROCESS_INFORMATION, KernelTime),
  FLD("user_time", F_SECONDS, PSS_PROCESS_INFORMATION, UserTime),
  ENUMF("priority_class", PSS_PROCESS_INFORMATION, PriorityClass, ENUM_PRIORITY_CLASS),
  FLD("peak_virtual_size", F_U64, PSS_PROCESS_INFORMATION, PeakVirtualSize),
  FLD("virtual_size", F_U64, PSS_PROCESS_INFORMATION, VirtualSize),
  FLD("page_fault_count", F_U32, PSS_PROCESS_INFORMATION, PageFaultCount),
  FLD("peak_working_set_size", F_U64, PSS_PROCESS_INFORMATION, PeakWorkingSetSize),
  FLD("working_set_size", F_U64, PSS_PROCESS_INFORMATION, WorkingSetSize),
  FLD("quota_peak_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPeakPagedPoolUsage),
  FLD("quota_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPagedPoolUsage),
  FLD("quota_peak_non_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPeakNonPagedPoolUsage),
  FLD("quota_non_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaNonPagedPoolUsage),
  FLD("pagefile_usage", F_U64, PSS_PROCESS_INFORMATION, PagefileUsage),
  FLD("peak_pagefile_usage", F_U64, PSS_PROCESS_INFORMATION, PeakPagefileUsage),
  FLD("private_usage", F_U64, PSS_PROCESS_INFORMATION, PrivateUsage),
  FLD("execute_flags", F_U32, PSS_PROCESS_INFORMATION, ExecuteFlags),
  { "image_file_name", F_WARRAY, offsetof(PSS_PROCESS_INFORMATION, ImageFileName), 260 },
};

static const Field thread_fields[] = {
  FLD("exit_status", F_U32, PSS_THREAD_ENTRY, ExitStatus),
  FLD("teb_base_address", F_PTR, PSS_THREAD_ENTRY, TebBaseAddress),
  FLD("pid", F_U32, PSS_THREAD_ENTRY, ProcessId),
  FLD("tid", F_U32, PSS_THREAD_ENTRY, ThreadId),
  FLD("affinity_mask", F_U64, PSS_THREAD_ENTRY, AffinityMask),
  FLD("priority", F_I32, PSS_THREAD_ENTRY, Priority),
  FLD("base_priority", F_I32, PSS_THREAD_ENTRY, BasePriority),
  FLD("last_syscall_first_argument", F_PTR, PSS_THREAD_ENTRY, LastSyscallFirstArgument),
  FLD("last_syscall_number", F_U16, PSS_THREAD_ENTRY, LastSyscallNumber),
  FLD("create_time", F_TIME, PSS_THREAD_ENTRY, CreateTime),
  FLD("exit_time", F_TIME, PSS_THREAD_ENTRY, ExitTime),
  FLD("kernel_time", F_SECONDS, PSS_THREAD_ENTRY, KernelTime),
  FLD("user_time", F_SECONDS, PSS_THREAD_ENTRY, UserTime),
  FLD("win32_start_address", F_PTR, PSS_THREAD_ENTRY, Win32StartAddress),
  FLD("capture_time", F_TIME, PSS_THREAD_ENTRY, CaptureTime),
  FLD("flags", F_U32, PSS_THREAD_ENTRY, Flags),
  FLD("suspend_count", F_U16, PSS_THREAD_ENTRY, SuspendCount),
  FLD("size_of_context_record", F_U16, PSS_THREAD_ENTRY, SizeOfContextRecord),
};

static const Field handle_fields[] = {
  FLD("handle", F_PTR, PSS_HANDLE_ENTRY, Handle),
  FLD("flags", F_U32, PSS_HANDLE_ENTRY, Flags),
  ENUMF("object_type", PSS_HANDLE_ENTRY, ObjectType, ENUM_OBJECT_TYPE),
  FLD("capture_time", F_TIME, PSS_HANDLE_ENTRY, CaptureTime),
  STR("type_name", F_WSTR, PSS_HANDLE_ENTRY, TypeName, TypeNameLength),
  STR("object_name", F_WSTR, PSS_HANDLE_ENTRY, ObjectName, ObjectNameLength),
};

/* present only with PSS_HANDLE_HAVE_BASIC_INFORMATION */
static const Field handle_basic_fields[] = {
  FLD("attributes", F_U32, PSS_HANDLE_ENTRY, Attributes),
  FLD("granted_access", F_U32, PSS_HANDLE_ENTRY, GrantedAccess),
  FLD("handle_count", F_U32, PSS_HANDLE_ENTRY, HandleCount),
  FLD("pointer_count", F_U32, PSS_HANDLE_ENTRY, PointerCount),
  FLD("paged_pool_charge", F_U32, PSS_HANDLE_ENTRY, PagedPoolCharge),
  FLD("non_paged_pool_charge", F_U32, PSS_HANDLE_ENTRY, NonPagedPoolCharge),
  FLD("creation_time", F_TIME, PSS_HANDLE_ENTRY, CreationTime),
};

#define TSI(arm, m) TypeSpecificInformation.arm.m
static const Field process_arm_fields[] = {
  FLD("exit_status", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ExitStatus)),
  FLD("peb_base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Process, PebBaseAddress)),
  FLD("affinity_mask", F_U64, PSS_HANDLE_ENTRY, TSI(Process, AffinityMask)),
  FLD("base_priority", F_I32, PSS_HANDLE_ENTRY, TSI(Process, BasePriority)),
  FLD("pid", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ProcessId)),
  FLD("parent_pid", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ParentProcessId)),
  FLD("flags", F_U32, PSS_HANDLE_ENTRY, TSI(Process, Flags)),
};
static const Field thread_arm_fields[] = {
  FLD("exit_status", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ExitStatus)),
  FLD("teb_base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Thread, TebBaseAddress)),
  FLD("pid", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ProcessId)),
  FLD("tid", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ThreadId)),
  FLD("affinity_mask", F_U64, PSS_HANDLE_ENTRY, TSI(Thread, AffinityMask)),
  FLD("priority", F_I32, PSS_HANDLE_ENTRY, TSI(Thread, Priority)),
  FLD("base_priority", F_I32, PSS_HANDLE_ENTRY, TSI(Thread, BasePriority)),
  FLD("win32_start_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Thread, Win32StartAddress)),
};
static const Field mutant_arm_fields[] = {
  FLD("current_count", F_I32, PSS_HANDLE_ENTRY, TSI(Mutant, CurrentCount)),
  FLD("abandoned", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Mutant, Abandoned)),
  FLD("owner_pid", F_U32, PSS_HANDLE_ENTRY, TSI(Mutant, OwnerProcessId)),
  FLD("owner_tid", F_U32, PSS_HANDLE_ENTRY, TSI(Mutant, OwnerThreadId)),
};
static const Field event_arm_fields[] = {
  FLD("manual_reset", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Event, ManualReset)),
  FLD("signaled", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Event, Signaled)),
};
static const Field section_arm_fields[] = {
  FLD("base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Section, BaseAddress)),
  FLD("allocation_attributes", F_U32, PSS_HANDLE_ENTRY, TSI(Section, AllocationAttributes)),
  FLD("maximum_size", F_U64, PSS_HANDLE_ENTRY, TSI(Section, MaximumSize)),
};
static const Field semaphore_arm_fields[] = {
  FLD("current_count", F_I32, PSS_HANDLE_ENTRY, TSI(Semaphore, CurrentCount)),
  FLD("maximum_count", F_I32, PSS_HANDLE_ENTRY, TSI(Semaphore, MaximumCount)),
};

static const Field region_fields[] = {
  FLD("base_address", F_PTR, PSS_VA_SPACE_ENTRY, BaseAddress),
  FLD("allocation_base", F_PTR, PSS_VA_SPACE_ENTRY, AllocationBase),
  ENUMF("allocation_protect", PSS_VA_SPACE_ENTRY, AllocationProtect, ENUM_PROTECT),
  FLD("region_size", F_U64, PSS_VA_SPACE_ENTRY, RegionSize),
  ENUMF("state", PSS_VA_SPACE_ENTRY, State, ENUM_STATE),
  ENUMF("protect", PSS_VA_SPACE_ENTRY, Protect, ENUM_PROTECT),
  ENUMF("type", PSS_VA_SPACE_ENTRY, Type, ENUM_MEM_TYPE),
  STR("mapped_file_name", F_WSTR, PSS_VA_SPACE_ENTRY, MappedFileName, MappedFileNameLength),
};

/* the PE header fields: defined for MEM_IMAGE regions only */
static const Field region_image_fields[] = {
  FLD("time_date_stamp", F_U32, PSS_VA_SPACE_ENTRY, TimeDateStamp),
  FLD("size_of_image", F_U32, PSS_VA_SPACE_ENTRY, SizeOfImage),
  FLD("image_base", F_PTR, PSS_VA_SPACE_ENTRY, ImageBase),
  FLD("check_sum", F_U32, PSS_VA_SPACE_ENTRY, CheckSum),
};

static const Field thread_name_fields[] = {
  STR("thread_name", F_WSTR, PSS_THREAD_NAME, ThreadName, ThreadNameSize),
};

static const Field performance_fields[] = {
  FLD("total_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, TotalCycleCount),
  FLD("total_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, TotalWallClockPeriod),
  FLD("va_clone_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, VaCloneCycleCount),
  FLD("va_clone_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, VaCloneWallClockPeriod),
  FLD("va_space_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, VaSpaceCycleCount),
  FLD("va_space_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, VaSpaceWallClockPeriod),
  FLD("aux_pages_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, AuxPagesCycleCount),
  FLD("aux_pages_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, AuxPagesWallClockPeriod),
  FLD("handles_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, HandlesCycleCount),
  FLD("handles_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, HandlesWallClockPeriod),
  FLD("threads_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, ThreadsCycleCount),
  FLD("threads_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, ThreadsWallClockPeriod),
};

#if HAVE_LINUX_CLASSES
static const Field linux_process_fields[] = {
  FLD("state", F_CHAR, PSS_LINUX_PROCESS_INFORMATION, State),
  FLD("nice", F_I32, PSS_LINUX_PROCESS_INFORMATION, Nice),
  FLD("policy", F_U32, PSS_LINUX_PROCESS_INFORMATION, Policy),
  FLD("realtime_priority", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealtimePriority),
  FLD("thread_count", F_U32, PSS_LINUX_PROCESS_INFORMATION, ThreadCount),
  FLD("process_group_id", F_U32, PSS_LINUX_PROCESS_INFORMATION, ProcessGroupId),
  FLD("session_id", F_U32, PSS_LINUX_PROCESS_INFORMATION, SessionId),
  FLD("uid", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealUserId),
  FLD("euid", F_U32, PSS_LINUX_PROCESS_INFORMATION, EffectiveUserId),
  FLD("gid", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealGroupId),
  FLD("egid", F_U32, PSS_LINUX_PROCESS_INFORMATION, EffectiveGroupId),
  FLD("exit_code", F_U32, PSS_LINUX_PROCESS_INFORMATION, ExitCode),
  FLD("personality", F_U32, PSS_LINUX_PROCESS_INFORMATION, Personality),
  FLD("start_time_ticks", F_U64, PSS_LINUX_PROCESS_INFORMATION, StartTimeTicks),
  FLD("minor_faults", F_U64, PSS_LINUX_PROCESS_INFORMATION, MinorFaults),
  FLD("major_faults", F_U64, PSS_LINUX_PROCESS_INFORMATION, MajorFaults),
  FLD("resident_anon", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentAnon),
  FLD("resident_file", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentFile),
  FLD("resident_shmem", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentShmem),
  FLD("entry_point", F_U64, PSS_LINUX_PROCESS_INFORMATION, EntryPoint),
  STR("comm", F_BYTES, PSS_LINUX_PROCESS_INFORMATION, Comm, CommLength),
};

static const Field linux_thread_fields[] = {
  FLD("state", F_CHAR, PSS_LINUX_THREAD_ENTRY, State),
  FLD("nice", F_I32, PSS_LINUX_THREAD_ENTRY, Nice),
  FLD("policy", F_U32, PSS_LINUX_THREAD_ENTRY, Policy),
  FLD("realtime_priority", F_U32, PSS_LINUX_THREAD_ENTRY, RealtimePriority),
  FLD("processor", F_I32, PSS_LINUX_THREAD_ENTRY, Processor),
  FLD("syscall_number", F_I32, PSS_LINUX_THREAD_ENTRY, SyscallNumber),
  FLD("last_syscall_stack_pointer", F_U64, PSS_LINUX_THREAD_ENTRY, LastSyscallStackPointer),
  FLD("last_syscall_program_counter", F_U64, PSS_LINUX_THREAD_ENTRY, LastSyscallProgramCounter),
  FLD("minor_faults", F_U64, PSS_LINUX_THREAD_ENTRY, MinorFaults),
  FLD("major_faults", F_U64, PSS_LINUX_THREAD_ENTRY, MajorFaults),
  FLD("context_registers", F_U32, PSS_LINUX_THREAD_ENTRY, ContextRegisters),
  STR("name", F_BYTES, PSS_LINUX_THREAD_ENTRY, Name, NameLength),
};

static const Field linux_handle_fields[] = {
  ENUMF("kind", PSS_LINUX_HANDLE_ENTRY, Kind, ENUM_FD_KIND),
  STR("target", F_BYTES, PSS_LINUX_HANDLE_ENTRY, Target, TargetLength),
};

/* present with PSS_HANDLE_HAVE_BASIC_INFORMATION (they come from fdinfo) */
static const Field linux_handle_basic_fields[] = {
  FLD("open_flags", F_U32, PSS_LINUX_HANDLE_ENTRY, OpenFlags),
  FLD("position", F_U64, PSS_LINUX_HANDLE_ENTRY, Position),
  FLD("inode", F_U64, PSS_LINUX_HANDLE_ENTRY, Inode),
  FLD("mount_id", F_U32, PSS_LINUX_HANDLE_ENTRY, MountId),
  FLD("count", F_U64, PSS_LINUX_HANDLE_ENTRY, Count),
};

static const Field linux_region_fields[] = {
  FLD("offset", F_U64, PSS_LINUX_VA_SPACE_ENTRY, Offset),
  FLD("inode", F_U64, PSS_LINUX_VA_SPACE_ENTRY, Inode),
  FLD("device_major", F_U32, PSS_LINUX_VA_SPACE_ENTRY, DeviceMajor),
  FLD("device_minor", F_U32, PSS_LINUX_VA_SPACE_ENTRY, DeviceMinor),
  STR("path", F_BYTES, PSS_LINUX_VA_SPACE_ENTRY, Path, PathLength),
};
#endif

#if defined(__x86_64__)
/* The PSS_LINUX_REGISTER_* bit numbers (pss.h): Rax .. R15 in CONTEXT order,
** then the groups. A register whose bit ContextRegisters lacks holds
** nothing the thread held, so its key is left out. */
enum {
  RB_RAX, RB_RCX, RB_RDX, RB_RBX, RB_RSP, RB_RBP, RB_RSI, RB_RDI, RB_R8, RB_R9, RB_R10,
  RB_R11, RB_R12, RB_R13, RB_R14, RB_R15, RB_RIP, RB_EFLAGS, RB_SEGMENTS, RB_FLOATING,
  RB_DEBUG, RB_XSTATE
};
#if HAVE_LINUX_CLASSES
_Static_assert(PSS_LINUX_REGISTER_RAX == 1u << RB_RAX && PSS_LINUX_REGISTER_RSP == 1u << RB_RSP
               && PSS_LINUX_REGISTER_R15 == 1u << RB_R15 && PSS_LINUX_REGISTER_RIP == 1u << RB_RIP
               && PSS_LINUX_REGISTER_EFLAGS == 1u << RB_EFLAGS
               && PSS_LINUX_REGISTER_SEGMENTS == 1u << RB_SEGMENTS
               && PSS_LINUX_REGISTER_FLOATING == 1u << RB_FLOATING
               && PSS_LINUX_REGISTER_DEBUG == 1u << RB_DEBUG
               && PSS_LINUX_REGISTER_XSTATE == 1u << RB_XSTATE, "PSS_LINUX_REGISTER_* bits");
#endif

/* CONTEXT registers, named as the Linux/x86-64 registers are; aux is 1 +
** the register's bit (0: always there) */
#define REG(name, type, member, bit) { name, type, offsetof(CONTEXT, member), (bit) + 1 }
static const Field context_fields[] = {
  FLD("context_flags", F_U32, CONTEXT, ContextFlags),
  REG("mxcsr", F_U32, MxCsr, RB_FLOATING),
  REG("cs", F_U16, SegCs, RB_SEGMENTS), REG("ds", F_U16, SegDs, RB_SEGMENTS),
  REG("es", F_U16, SegEs, RB_SEGMENTS), REG("fs", F_U16, SegFs, RB_SEGMENTS),
  REG("gs", F_U16, SegGs, RB_SEGMENTS), REG("ss", F_U16, SegSs, RB_SEGMENTS),
  REG("eflags", F_U32, EFlags, RB_EFLAGS),
  REG("dr0", F_U64, Dr0, RB_DEBUG), REG("dr1", F_U64, Dr1, RB_DEBUG),
  REG("dr2", F_U64, Dr2, RB_DEBUG), REG("dr3", F_U64, Dr3, RB_DEBUG),
  REG("dr6", F_U64, Dr6, RB_DEBUG), REG("dr7", F_U64, Dr7, RB_DEBUG),
  REG("rax", F_U64, Rax, RB_RAX), REG("rcx", F_U64, Rcx, RB_RCX),
  REG("rdx", F_U64, Rdx, RB_RDX), REG("rbx", F_U64, Rbx, RB_RBX),
  REG("rsp", F_U64, Rsp, RB_RSP), REG("rbp", F_U64, Rbp, RB_RBP),
  REG("rsi", F_U64, Rsi, RB_RSI), REG("rdi", F_U64, Rdi, RB_RDI),
  REG("r8", F_U64, R8, RB_R8), REG("r9", F_U64, R9, RB_R9),
  REG("r10", F_U64, R10, RB_R10), REG("r11", F_U64, R11, RB_R11),
  REG("r12", F_U64, R12, RB_R12), REG("r13", F_U64, R13, RB_R13),
  REG("r14", F_U64, R14, RB_R14), REG("r15", F_U64, R15, RB_R15),
  REG("rip", F_U64, Rip, RB_RIP),
};
#undef REG
#endif

#if HAVE_LINUX_CLASSES
/* how long the target was stopped (PSS_QUERY_LINUX_PERFORMANCE_COUNTERS) */
static const Field freeze_fields[] = {
  FLD("freeze_cycle_count", F_U64, PSS_LINUX_PERFORMANCE_COUNTERS, FreezeCycleCount),
  FLD("freeze_wall_clock_period", F_MICROS, PSS_LINUX_PERFORMANCE_COUNTERS, FreezeWallClockPeriod),
  FLD("threads_frozen", F_U32, PSS_LINUX_PERFORMANCE_COUNTERS, ThreadsFrozen),
};
#endif

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/*
** Keys. Every field name -- and NAME_flags for each enumeration -- is
** interned once per state in an array in the registry, at fixed positions
** known at compile time, so filling an entry is rawgeti + rawset and never
** hashes or compares a C string (which took a quarter of a walk).
*/
enum extra_key {
  K_NONE, K_TERMINATED, K_SYSCALL_STATE, K_LAST_SYSCALL_ARGUMENTS, K_ACCESS, K_CLOEXEC,
  K_NONBLOCK, K_APPEND, K_SOCKET_FAMILY, K_SOCKET_TYPE, K_SOCKET_PROTOCOL, K_SOCKET_STATE,
  K_PROTECT, K_PROTECTED, K_WOW64, K_FROZEN, K_ARGV, K_COMMAND_LINE_TRUNCATED, K_ARM_PROCESS,
  K_ARM_THREAD, K_ARM_MUTANT, K_ARM_EVENT, K_ARM_SECTION, K_ARM_SEMAPHORE, K_CONTEXT, K_FS_BASE,
  K_FLTSAVE, K_XSTATE, K_CLONE, K_EXTRAS
};
static const char *const extra_names[K_EXTRAS] = {
  "", "terminated", "syscall_state", "last_syscall_arguments", "access", "cloexec",
  "nonblock", "append", "socket_family", "socket_type", "socket_protocol", "socket_state",
  "protect", "protected", "wow64", "frozen", "argv", "command_line_truncated", "process",
  "thread", "mutant", "event", "section", "semaphore", "context", "fs_base", "fltsave",
  "xstate", "clone"
};

/* A record's fields; key of field i at base + 2i, of its NAME_flags at +1. */
typedef struct {
  const char *record;        /* as pss.fields() names it */
  const Field *fields;
  unsigned short n, base;
} FieldSet;

#define AFTER(prev, arr) ((prev) + 2 * NFIELDS(arr))
#define B_PROCESS K_EXTRAS
#define B_THREAD AFTER(B_PROCESS, process_fields)
#define B_HANDLE AFTER(B_THREAD, thread_fields)
#define B_HANDLE_BASIC AFTER(B_HANDLE, handle_fields)
#define B_PROCESS_ARM AFTER(B_HANDLE_BASIC, handle_basic_fields)
#define B_THREAD_ARM AFTER(B_PROCESS_ARM, process_arm_fields)
#define B_MUTANT_ARM AFTER(B_THREAD_ARM, thread_arm_fields)
#define B_EVENT_ARM AFTER(B_MUTANT_ARM, mutant_arm_fields)
#define B_SECTION_ARM AFTER(B_EVENT_ARM, event_arm_fields)
#define B_SEMAPHORE_ARM AFTER(B_SECTION_ARM, section_arm_fields)
#define B_REGION AFTER(B_SEMAPHORE_ARM, semaphore_arm_fields)
#define B_REGION_IMAGE AFTER(B_REGION, region_fields)
#define B_THREAD_NAME AFTER(B_REGION_IMAGE, region_image_fields)
#define B_PERFORMANCE AFTER(B_THREAD_NAME, thread_name_fields)
#define B_COMMON_END AFTER(B_PERFORMANCE, performance_fields)
/* then the names of every enumeration's values, table after table */
#if defined(__x86_64__)
#define B_CONTEXT B_COMMON_END
#define B_CONTEXT_END AFTER(B_CONTEXT, context_fields)
#else
#define B_CONTEXT_END B_COMMON_END
#endif
#if HAVE_LINUX_CLASSES
#define B_LINUX_PROCESS B_CONTEXT_END
#define B_LINUX_THREAD AFTER(B_LINUX_PROCESS, linux_process_fields)
#define B_LINUX_HANDLE AFTER(B_LINUX_THREAD, linux_thread_fields)
#define B_LINUX_HANDLE_BASIC AFTER(B_LINUX_HANDLE, linux_handle_fields)
#define B_LINUX_REGION AFTER(B_LINUX_HANDLE_BASIC, linux_handle_basic_fields)
#define B_FREEZE AFTER(B_LINUX_REGION, linux_region_fields)
#define B_END AFTER(B_FREEZE, freeze_fields)
#else
#define B_END B_CONTEXT_END
#endif
#define E_OBJECT_TYPE B_END
#define E_STATE (E_OBJECT_TYPE + NFIELDS(object_type_names))
#define E_MEM_TYPE (E_STATE + NFIELDS(state_names))
#define E_PRIORITY_CLASS (E_MEM_TYPE + NFIELDS(mem_type_names))
#define E_FD_KIND (E_PRIORITY_CLASS + NFIELDS(priority_class_names))
#define E_PROTECT (E_FD_KIND + NFIELDS(fd_kind_names))
#define KEYS_END (E_PROTECT + NFIELDS(protect_names))
/* in the order of enum_tables */
static const int enum_bases[] = { E_OBJECT_TYPE, E_STATE, E_MEM_TYPE, E_PRIORITY_CLASS,
                                  E_FD_KIND, E_PROTECT };

#define SET(record, arr, base) { record, arr, (unsigned short)NFIELDS(arr), (unsigned short)(base) }
static const FieldSet fs_process = SET("process", process_fields, B_PROCESS);
static const FieldSet fs_thread = SET("thread", thread_fields, B_THREAD);
static const FieldSet fs_handle = SET("handle", handle_fields, B_HANDLE);
static const FieldSet fs_handle_basic = SET("handle", handle_basic_fields, B_HANDLE_BASIC);
static const FieldSet fs_process_arm = SET("process_arm", process_arm_fields, B_PROCESS_ARM);
static const FieldSet fs_thread_arm = SET("thread_arm", thread_arm_fields, B_THREAD_ARM);
static const FieldSet fs_mutant_arm = SET("mutant_arm", mutant_arm_fields, B_MUTANT_ARM);
static const FieldSet fs_event_arm = SET("event_arm", event_arm_fields, B_EVENT_ARM);
static const FieldSet fs_section_arm = SET("section_arm", section_arm_fields, B_SECTION_ARM);
static const FieldSet fs_semaphore_arm = SET("semaphore_arm", semaphore_arm_fields, B_SEMAPHORE_ARM);
static const FieldSet fs_region = SET("region", region_fields, B_REGION);
static const FieldSet fs_region_image = SET("region", region_image_fields, B_REGION_IMAGE);
static const FieldSet fs_thread_name = SET("thread_name", thread_name_fields, B_THREAD_NAME);
static const FieldSet fs_performance = SET("performance", performance_fields, B_PERFORMANCE);
#if defined(__x86_64__)
static const FieldSet fs_context = SET("context", context_fields, B_CONTEXT);
#endif
#if HAVE_LINUX_CLASSES
static const FieldSet fs_linux_process = SET("process", linux_process_fields, B_LINUX_PROCESS);
static const FieldSet fs_linux_thread = SET("thread", linux_thread_fields, B_LINUX_THREAD);
static const FieldSet fs_linux_handle = SET("handle", linux_handle_fields, B_LINUX_HANDLE);
static const FieldSet fs_linux_handle_basic =
  SET("handle", linux_handle_basic_fields, B_LINUX_HANDLE_BASIC);
static const FieldSet fs_linux_region = SET("region", linux_region_fields, B_LINUX_REGION);
static const FieldSet fs_freeze = SET("performance", freeze_fields, B_FREEZE);
#endif

static const FieldSet *const field_sets[] = {
  &fs_process, &fs_thread, &fs_handle, &fs_handle_basic, &fs_process_arm, &fs_thread_arm,
  &fs_mutant_arm, &fs_event_arm, &fs_section_arm, &fs_semaphore_arm, &fs_region,
  &fs_region_image, &fs_thread_name, &fs_performance,
#if defined(__x86_64__)
  &fs_context,
#endif
#if HAVE_LINUX_CLASSES
  &fs_linux_process, &fs_linux_thread, &fs_linux_handle, &fs_linux_handle_basic,
  &fs_linux_region, &fs_freeze,
#endif
  NULL
};

static const char keys_key = 0;   /* the registry slot of the key array */

static void build_keys (lua_State *L) {
  const FieldSet *const *fs;
  const EnumName *e;
  size_t k;
  int i;
  lua_createtable(L, KEYS_END, 0);
  for (i = 1; i < K_EXTRAS; i++) {
    lua_pushstring(L, extra_names[i]);
    lua_rawseti(L, -2, i);
  }
  for (fs = field_sets; *fs != NULL; fs++)
    for (i = 0; i < (*fs)->n; i++) {
      lua_pushstring(L, (*fs)->fields[i].name);
      lua_rawseti(L, -2, (*fs)->base + 2 * i);
      lua_pushfstring(L, "%s_flags", (*fs)->fields[i].name);
      lua_rawseti(L, -2, (*fs)->base + 2 * i + 1);
    }
  for (k = 0; k < NFIELDS(enum_tables); k++)
    for (e = enum_tables[k], i = 0; e[i].name != NULL; i++) {
      lua_pushstring(L, e[i].name);
      lua_rawseti(L, -2, enum_bases[k] + i);
    }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &keys_key);
}

/* Pushes the key array; returns its index. */
static int push_keys (lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &keys_key);
  return lua_gettop(L);
}

/* t[keys[k]] = the value on top of the stack (which is popped) */
static void set_key (lua_State *L, int keys, int t, int k) {
  lua_rawgeti(L, keys, k);
  lua_insert(L, -2);
  lua_rawset(L, t);
}

/* Sets t.NAME_flags to the raw value; pushes the decoded name. */
static void push_enum (lua_State *L, int keys, int t, int flags_key, const Field *f, DWORD v) {
  const EnumName *e = enum_tables[f->aux];
  int i;
  for (i = 0; e[i].name != NULL; i++)
    if (e[i].value == v) break;
  lua_rawgeti(L, keys, flags_key);
  lua_pushinteger(L, v);
  lua_rawset(L, t);
  if (e[i].name != NULL) lua_rawgeti(L, keys, enum_bases[f->aux] + i);
  else lua_pushfstring(L, "0x%p", (void *)(uintptr_t)v);
}

/* UTF-16 -> a Lua string, as the platform converts names */
static void push_wide (lua_State *L, const WCHAR *s, size_t units) {
  luaL_Buffer b;
  size_t n = wide_to_utf8(s, units, NULL, 0);
  char *out = luaL_buffinitsize(L, &b, n);
  wide_to_utf8(s, units, out, n);
  luaL_pushresultsize(&b, n);
}

static double filetime_value (const void *p) {
  FILETIME ft;
  memcpy(&ft, p, sizeof ft);
  return (double)((uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime);
}

/* Pushes the value of one field; returns 0 when it is absent (nil). */
static int push_field (lua_State *L, int keys, int t, int flags_key, const Field *f,
                       const char *base) {
  const char *p = base + f->off;
  uint16_t u16; uint32_t u32; int32_t i32; uint64_t u64; uintptr_t ptr;
  WORD len;
  switch (f->type) {
    case F_U16: memcpy(&u16, p, 2); lua_pushinteger(L, u16); return 1;
    case F_U32: memcpy(&u32, p, 4); lua_pushinteger(L, u32); return 1;
    case F_I32: memcpy(&i32, p, 4); lua_pushinteger(L, i32); return 1;
    case F_U64: memcpy(&u64, p, 8); lua_pushinteger(L, (lua_Integer)u64); return 1;
    case F_PTR: memcpy(&ptr, p, sizeof ptr); lua_pushinteger(L, (lua_Integer)ptr); return 1;
    case F_CHAR: if (*p == 0) return 0; lua_pushlstring(L, p, 1); return 1;
    case F_BOOL32: memcpy(&i32, p, 4); lua_pushboolean(L, i32 != 0); return 1;
    case F_MICROS:
      memcpy(&u64, p, 8); lua_pushnumber(L, (double)u64 / PSS_PERF_RESOLUTION); return 1;
    case F_SECONDS: lua_pushnumber(L, filetime_value(p) / 1e7); return 1;
    case F_TIME: {
      double ft = filetime_value(p);
      if (ft == 0) return 0;
      lua_pushnumber(L, (ft - 116444736000000000.0) / 1e7);
      return 1;
    }
    case F_ENUM: memcpy(&u32, p, 4); push_enum(L, keys, t, flags_key, f, u32); return 1;
    case F_WARRAY: {
      const WCHAR *w = (const WCHAR *)(const void *)p;
      size_t n = 0;
      while (n < f->aux && w[n] != 0) n++;
      push_wide(L, w, n);
      return 1;
    }
    case F_WSTR: case F_BYTES: {
      const void *s;
      memcpy(&s, p, sizeof s);
      memcpy(&len, base + f->aux, sizeof len);
      if (s == NULL) return 0;
      if (f->type == F_WSTR) push_wide(L, s, len / 2);
      else lua_pushlstring(L, s, len);
      return 1;
    }
    default: return 0;
  }
}

/* Sets every field of the set into table t. */
static void set_fields (lua_State *L, int keys, int t, const FieldSet *fs, const void *record) {
  int i;
  for (i = 0; i < fs->n; i++) {
    lua_rawgeti(L, keys, fs->base + 2 * i);
    if (push_field(L, keys, t, fs->base + 2 * i + 1, &fs->fields[i], record)) lua_rawset(L, t);
    else lua_pop(L, 1);
  }
}
/* }====================================================================== */


/* {======================================================================
** Entries: one table per walked record
** ======================================================================= */
typedef union {
  PSS_THREAD_ENTRY thread;
  PSS_HANDLE_ENTRY handle;
  PSS_VA_SPACE_ENTRY region;
  PSS_THREAD_NAME name;
#if HAVE_LINUX_CLASSES
  PSS_LINUX_THREAD_ENTRY lthread;
  PSS_LINUX_HANDLE_ENTRY lhandle;
  PSS_LINUX_VA_SPACE_ENTRY lregion;
#endif
} Entry;

static void set_bool (lua_State *L, int keys, int t, int k, int value) {
  lua_pushboolean(L, value);
  set_key(L, keys, t, k);
}

#if HAVE_LINUX_CLASSES
#include <fcntl.h>

static const char *const socket_families[] = { "unix", "inet", "inet6", "netlink", "packet" };
static const int socket_family_values[] = { 1, 2, 10, 16, 17 };   /* AF_* */
static const char *const socket_types[] = { "", "stream", "dgram", "raw", "", "seqpacket" };
static const char *const tcp_states[] = { "", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
  "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN",
  "CLOSING", "NEW_SYN_RECV" };
static const char *const unix_states[] = { "FREE", "UNCONNECTED", "CONNECTING",
  "CONNECTED", "DISCONNECTING" };

static void set_string (lua_State *L, int keys, int t, int k, const char *value) {
  lua_pushstring(L, value);
  set_key(L, keys, t, k);
}

static const char *syscall_state (WORD nr) {
  if (nr == PSS_LINUX_SYSCALL_RUNNING) return "running";
  if (nr == PSS_LINUX_SYSCALL_NONE) return "blocked";
  if (nr == PSS_LINUX_SYSCALL_UNKNOWN) return "unknown";
  return "syscall";
}

static void linux_thread_extras (lua_State *L, int keys, int t, const Entry *e) {
  const PSS_LINUX_THREAD_ENTRY *th = &e->lthread;
  int i;
  set_fields(L, keys, t, &fs_linux_thread, th);
  set_string(L, keys, t, K_SYSCALL_STATE, syscall_state(th->Thread.LastSyscallNumber));
  lua_createtable(L, 6, 0);
  for (i = 0; i < 6; i++) {
    lua_pushinteger(L, (lua_Integer)th->LastSyscallArguments[i]);
    lua_rawseti(L, -2, i + 1);
  }
  set_key(L, keys, t, K_LAST_SYSCALL_ARGUMENTS);
}

static void linux_socket_extras (lua_State *L, int keys, int t, const PSS_LINUX_HANDLE_ENTRY *h) {
  size_t i;
  for (i = 0; i < sizeof socket_family_values / sizeof socket_family_values[0]; i++)
    if (socket_family_values[i] == h->SocketFamily)
      set_string(L, keys, t, K_SOCKET_FAMILY, socket_families[i]);
  if (h->SocketType > 0 && h->SocketType < 6 && socket_types[h->SocketType][0])
    set_string(L, keys, t, K_SOCKET_TYPE, socket_types[h->SocketType]);
  if (h->SocketProtocol >= 0) {
    lua_pushinteger(L, h->SocketProtocol);
    set_key(L, keys, t, K_SOCKET_PROTOCOL);
  }
  if (h->SocketState == 10) set_string(L, keys, t, K_SOCKET_STATE, "LISTEN");
  else if (h->SocketFamily == 1 && h->SocketState >= 0 && h->SocketState < 5)
    set_string(L, keys, t, K_SOCKET_STATE, unix_states[h->SocketState]);
  else if (h->SocketState > 0 && h->SocketState < 13)
    set_string(L, keys, t, K_SOCKET_STATE, tcp_states[h->SocketState]);
}

static void linux_handle_extras (lua_State *L, int keys, int t, const Entry *e) {
  const PSS_LINUX_HANDLE_ENTRY *h = &e->lhandle;
  set_fields(L, keys, t, &fs_linux_handle, h);
  if (h->Handle.Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION) {
    unsigned acc = h->OpenFlags & O_ACCMODE;
    set_fields(L, keys, t, &fs_linux_handle_basic, h);
    set_string(L, keys, t, K_ACCESS, acc == O_RDONLY ? "r" : acc == O_WRONLY ? "w" : "rw");
    set_bool(L, keys, t, K_CLOEXEC, (h->OpenFlags & O_CLOEXEC) != 0);
    set_bool(L, keys, t, K_NONBLOCK, (h->OpenFlags & O_NONBLOCK) != 0);
    set_bool(L, keys, t, K_APPEND, (h->OpenFlags & O_APPEND) != 0);
  }
  if (h->Kind == PSS_LINUX_FD_SOCKET && h->SocketFamily >= 0) linux_socket_extras(L, keys, t, h);
}

/* protect is "rw-p" as in /proc/PID/maps (set after the Windows fields);
** clone says what the VA clone holds of the region */
static void linux_region_extras (lua_State *L, int keys, int t, const Entry *e) {
  static const char *const coverage[] = { NULL, "copy", "shared", "absent", "zeroed",
                                          "unreadable" };
  const PSS_LINUX_VA_SPACE_ENTRY *r = &e->lregion;
  set_fields(L, keys, t, &fs_linux_region, r);
  lua_pushlstring(L, r->Permissions, 4);
  set_key(L, keys, t, K_PROTECT);
  if (r->CloneCoverage > 0 && r->CloneCoverage < sizeof coverage / sizeof coverage[0]) {
    lua_pushstring(L, coverage[r->CloneCoverage]);
    set_key(L, keys, t, K_CLONE);
  }
}
#endif

/* The TypeSpecificInformation arm that ObjectType selects, as a subtable. */
static void push_type_specific (lua_State *L, int keys, int t, const PSS_HANDLE_ENTRY *h) {
  static const struct { int key; const FieldSet *fs; } arms[] = {
    { 0, NULL }, { K_ARM_PROCESS, &fs_process_arm }, { K_ARM_THREAD, &fs_thread_arm },
    { K_ARM_MUTANT, &fs_mutant_arm }, { K_ARM_EVENT, &fs_event_arm },
    { K_ARM_SECTION, &fs_section_arm }, { K_ARM_SEMAPHORE, &fs_semaphore_arm } };
  if (h->ObjectType == 0 || h->ObjectType >= sizeof arms / sizeof arms[0]) return;
  lua_createtable(L, 0, arms[h->ObjectType].fs->n);
  set_fields(L, keys, lua_gettop(L), arms[h->ObjectType].fs, h);
  set_key(L, keys, t, arms[h->ObjectType].key);
}

/*
** t.context: the registers of the CONTEXT record as integers, fs_base (the
** TebBaseAddress), the FXSAVE image as `fltsave` and the XSAVE area that
** follows the record as `xstate` (byte strings), when they were captured.
** Only the registers `known` has the bit of are there: a register the
** capture could not know is absent, not a 0 that looks like a value.
*/
#if defined(__x86_64__)
static void set_registers (lua_State *L, int keys, int ct, const CONTEXT *c, DWORD known) {
  int i;
  for (i = 0; i < fs_context.n; i++) {
    const Field *f = &context_fields[i];
    if (f->aux != 0 && (known & 1u << (f->aux - 1)) == 0) continue;
    lua_rawgeti(L, keys, fs_context.base + 2 * i);
    push_field(L, keys, ct, 0, f, (const char *)c);
    lua_rawset(L, ct);
  }
}
#endif

static void push_context (lua_State *L, int keys, int t, const PSS_THREAD_ENTRY *th,
                          DWORD known) {
#if defined(__x86_64__)
  CONTEXT c;
  int ct;
  if (th->ContextRecord == NULL || th->SizeOfContextRecord < sizeof c) return;
  memcpy(&c, th->ContextRecord, sizeof c);
  lua_createtable(L, 0, 40);
  ct = lua_gettop(L);
  set_registers(L, keys, ct, &c, known);
  lua_pushinteger(L, (lua_Integer)(uintptr_t)th->TebBaseAddress);
  set_key(L, keys, ct, K_FS_BASE);
  if ((c.ContextFlags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT &&
      (known & 1u << RB_FLOATING) != 0) {
    lua_pushlstring(L, (const char *)&c.FltSave, sizeof c.FltSave);
    set_key(L, keys, ct, K_FLTSAVE);
  }
  if ((c.ContextFlags & CONTEXT_XSTATE) == CONTEXT_XSTATE && th->SizeOfContextRecord > sizeof c &&
      (known & 1u << RB_XSTATE) != 0) {
    lua_pushlstring(L, (const char *)th->ContextRecord + sizeof c, th->SizeOfContextRecord - sizeof c);
    set_key(L, keys, ct, K_XSTATE);
  }
  set_key(L, keys, t, K_CONTEXT);
#else
  (void)L; (void)keys; (void)t; (void)th; (void)known;
#endif
}

/* The registers of a thread's context that hold what the thread held:
** ContextRegisters on Linux; on Windows every one the record was asked for. */
#if HAVE_LINUX_CLASSES
static DWORD known_registers (const Entry *e) { return e->lthread.ContextRegisters; }
#else
static DWORD known_registers (const Entry *e) { (void)e; return 0xFFFFFFFFu; }
#endif

static void push_thread (lua_State *L, int keys, const Entry *e) {
  int t;
  lua_createtable(L, 0, 32);
  t = lua_gettop(L);
  set_fields(L, keys, t, &fs_thread, &e->thread);
  set_bool(L, keys, t, K_TERMINATED, (e->thread.Flags & PSS_THREAD_FLAGS_TERMINATED) != 0);
  push_context(L, keys, t, &e->thread, known_registers(e));
#if HAVE_LINUX_CLASSES
  linux_thread_extras(L, keys, t, e);
#endif
}

static void push_handle (lua_State *L, int keys, const Entry *e) {
  const PSS_HANDLE_ENTRY *h = &e->handle;
  int t;
  lua_createtable(L, 0, 24);
  t = lua_gettop(L);
  set_fields(L, keys, t, &fs_handle, h);
  if (h->Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION) set_fields(L, keys, t, &fs_handle_basic, h);
  if (h->Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION) push_type_specific(L, keys, t, h);
#if HAVE_LINUX_CLASSES
  linux_handle_extras(L, keys, t, e);
#endif
}

static void push_region (lua_State *L, int keys, const Entry *e) {
  int t;
  lua_createtable(L, 0, e->region.Type == MEM_IMAGE ? 21 : 17);
  t = lua_gettop(L);
  set_fields(L, keys, t, &fs_region, &e->region);
  if (e->region.Type == MEM_IMAGE) set_fields(L, keys, t, &fs_region_image, &e->region);
#if HAVE_LINUX_CLASSES
  linux_region_extras(L, keys, t, e);
#endif
}

static void push_thread_name (lua_State *L, int keys, const Entry *e) {
  lua_createtable(L, 0, 1);
  set_fields(L, keys, lua_gettop(L), &fs_thread_name, &e->name);
}

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
    NATIVE(PSS_WALK_THREADS, PSS_WALK_LINUX_THREADS, LINUX_T(PSS_THREAD_ENTRY, PSS_LINUX_THREAD_ENTRY)),
    push_thread, "threads", PSS_QUERY_THREAD_INFORMATION },
  { "handles", PSS_WALK_HANDLES,
    NATIVE(PSS_WALK_HANDLES, PSS_WALK_LINUX_HANDLES, LINUX_T(PSS_HANDLE_ENTRY, PSS_LINUX_HANDLE_ENTRY)),
    push_handle, "handles", PSS_QUERY_HANDLE_INFORMATION },
  { "regions", PSS_WALK_VA_SPACE,
    NATIVE(PSS_WALK_VA_SPACE, PSS_WALK_LINUX_VA_SPACE, LINUX_T(PSS_VA_SPACE_ENTRY, PSS_LINUX_VA_SPACE_ENTRY)),
    push_region, "va_space", PSS_QUERY_VA_SPACE_INFORMATION },
  { "thread_names", PSS_WALK_THREAD_NAME, PSS_WALK_THREAD_NAME, sizeof(PSS_THREAD_NAME),
    push_thread_name, "threads", PSS_QUERY_THREAD_INFORMATION },
  { "auxiliary_pages", PSS_WALK_AUXILIARY_PAGES, PSS_WALK_AUXILIARY_PAGES,
    sizeof(PSS_AUXILIARY_PAGE_ENTRY), NULL, NULL, PSS_QUERY_AUXILIARY_PAGES_INFORMATION },
};
#define WALK_THREADS 0
#define WALK_HANDLES 1
#define WALK_REGIONS 2
#define WALK_THREAD_NAMES 3

/* A class by name ("threads", "va_space"...) or PSS_WALK_* value; raises. */
static int check_walk_class (lua_State *L, int arg) {
  size_t i;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer v = luaL_checkinteger(L, arg);
    for (i = 0; i < NFIELDS(walk_classes); i++)
      if ((lua_Integer)walk_classes[i].cls == v) return (int)i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "unknown walk class %I", v));
  }
  else {
    const char *name = luaL_checkstring(L, arg);
    if (strcmp(name, "va_space") == 0) return WALK_REGIONS;
    for (i = 0; i < NFIELDS(walk_classes); i++)
      if (strcmp(walk_classes[i].name, name) == 0) return (int)i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "unknown walk class '%s'", name));
  }
}
/* }====================================================================== */


/* {======================================================================
** Userdata
** ======================================================================= */
typedef struct {
  HPSS h;              /* NULL once freed */
  lua_Integer pid;
} Snapshot;

typedef struct {
  HPSSWALK h;          /* NULL once freed */
} Marker;

static Snapshot *check_snapshot (lua_State *L, int i) {
  Snapshot *s = luaL_checkudata(L, i, SNAPSHOT_MT);
  if (s->h == NULL) luaL_error(L, "attempt to use a freed snapshot");
  return s;
}

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

/* New userdata in the freed state, so a memory error before the Pss call
** that fills it leaks nothing. */
static Snapshot *new_snapshot (lua_State *L, lua_Integer pid) {
  Snapshot *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->h = NULL;
  s->pid = pid;
  luaL_setmetatable(L, SNAPSHOT_MT);
  return s;
}

/* Fills a new snapshot from a Pss call's result: the handle goes into its
** ledger entry and its userdata at once, or the entry goes. */
static DWORD hold_snapshot (lua_State *L, Snapshot *s, Held *e, DWORD rc, HPSS h) {
  if (rc == ERROR_SUCCESS) e->handle = s->h = h;
  else held_drop(ledger_of(L), e);
  return rc;
}

/* A marker for the snapshot at index `snap`, allocating through lua_Alloc. */
static Marker *new_marker (lua_State *L, int snap, DWORD *rc) {
  Marker *m = lua_newuserdatauv(L, sizeof *m, 1);
  Held *e;
  HPSSWALK h;
  m->h = NULL;
  luaL_setmetatable(L, MARKER_MT);
  lua_pushvalue(L, snap);
  lua_setiuservalue(L, -2, 1);     /* keeps the snapshot alive */
  e = held_new(L, HELD_MARKER);
  e->alloc.Context = &e->ctx;
  e->alloc.AllocRoutine = lua_alloc_routine;
  e->alloc.FreeRoutine = lua_free_routine;
  *rc = PssWalkMarkerCreate(&e->alloc, &h);
  if (*rc == ERROR_SUCCESS) e->handle = m->h = h;
  else held_drop(ledger_of(L), e);
  return m;
}

/* __gc, __close and :free() -- safe to call twice; allocate nothing. */
static int snapshot_release (lua_State *L) {
  Snapshot *s = luaL_checkudata(L, 1, SNAPSHOT_MT);
  HPSS h = s->h;
  s->h = NULL;                     /* first, so nothing can see it twice */
  if (h != NULL) held_release(ledger_of(L), HELD_SNAPSHOT, h);
  lua_pushboolean(L, 1);
  return 1;
}

static int marker_release (lua_State *L) {
  Marker *m = luaL_checkudata(L, 1, MARKER_MT);
  HPSSWALK h = m->h;
  m->h = NULL;
  if (h != NULL) held_release(ledger_of(L), HELD_MARKER, h);
  lua_pushboolean(L, 1);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Snapshot methods
** ======================================================================= */
static DWORD count_of (HPSS h, PSS_QUERY_INFORMATION_CLASS cls) {
  DWORD counts[2] = { 0, 0 };   /* PSS_THREAD_INFORMATION is the largest */
  DWORD size = cls == PSS_QUERY_THREAD_INFORMATION ? 8 : 4;
  return PssQuerySnapshot(h, cls, counts, size) == ERROR_SUCCESS ? counts[0] : (DWORD)-1;
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
    DWORD n = count_of(s->h, parts[i].cls);
    if (n == (DWORD)-1) continue;
    lua_pushfstring(L, ", %d %s", (int)n, parts[i].what);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

static int not_captured (lua_State *L, const char *what, const char *option) {
  if (option == NULL) return luaL_error(L, "%s are never captured on this system", what);
  return luaL_error(L, "%s were not captured (capture with the \"%s\" option)", what, option);
}

static int walk_error (lua_State *L, DWORD rc, const WalkClass *wc) {
  if (rc == ERROR_NOT_FOUND) return not_captured(L, wc->name, wc->option);
  return luaL_error(L, "PssWalkSnapshot: %s", error_text(rc) ? error_text(rc) : "failed");
}

/* snap:walk(class, marker) -> entry, or nil at the end */
static int snapshot_walk (lua_State *L) {
  Snapshot *s = check_snapshot(L, 1);
  const WalkClass *wc = &walk_classes[check_walk_class(L, 2)];
  Marker *m = check_marker(L, 3);
  Entry e;
  DWORD rc = PssWalkSnapshot(s->h, wc->native, m->h, &e, wc->size);
  if (rc == ERROR_NO_MORE_ITEMS) { lua_pushnil(L); return 1; }
  if (rc != ERROR_SUCCESS) return walk_error(L, rc, wc);
  wc->push(L, push_keys(L), &e);
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
  wc->push(L, push_keys(L), &e);
  return 1;
}

/*
** for entry in snap:threads() do ... end. Returns step, nil, nil, marker:
** the marker is the loop's to-be-closed value, freed at once on break or
** error. A class that was not captured raises here, before the loop.
*/
static int walk_iterator (lua_State *L, int cls) {
  Snapshot *s = check_snapshot(L, 1);
  const WalkClass *wc = &walk_classes[cls];
  DWORD rc;
  if (count_of(s->h, wc->count) == (DWORD)-1) return not_captured(L, wc->name, wc->option);
  lua_settop(L, 1);       /* extra arguments are ignored, as Lua's own iterators do */
  new_marker(L, 1, &rc);                                     /* 2 */
  if (rc != ERROR_SUCCESS) return luaL_error(L, "PssWalkMarkerCreate: %s", error_text(rc));
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

static int snapshot_marker (lua_State *L) {
  DWORD rc;
  check_snapshot(L, 1);
  new_marker(L, 1, &rc);
  if (rc != ERROR_SUCCESS) return push_failure(L, "PssWalkMarkerCreate", rc, NULL, 0);
  return 1;
}

static int snapshot_duplicate (lua_State *L) {
  Snapshot *s = check_snapshot(L, 1);
  Snapshot *d = new_snapshot(L, s->pid);
  Held *e = held_new(L, HELD_SNAPSHOT);
  HPSS h;
  DWORD rc = PssDuplicateSnapshot(CURRENT_PROCESS, s->h, CURRENT_PROCESS, &h, 0);
  if (hold_snapshot(L, d, e, rc, h) != ERROR_SUCCESS)
    return push_failure(L, "PssDuplicateSnapshot", rc, NULL, s->pid);
  return 1;
}
/* }====================================================================== */


/* {======================================================================
** Query
** ======================================================================= */
typedef struct { const char *name; PSS_QUERY_INFORMATION_CLASS cls; const char *option; } QueryClass;

static const QueryClass query_classes[] = {
  { "process", PSS_QUERY_PROCESS_INFORMATION, NULL },
  { "va_clone", PSS_QUERY_VA_CLONE_INFORMATION, "va_clone" },
  { "auxiliary_pages", PSS_QUERY_AUXILIARY_PAGES_INFORMATION, NULL },
  { "va_space", PSS_QUERY_VA_SPACE_INFORMATION, "va_space" },
  { "handles", PSS_QUERY_HANDLE_INFORMATION, "handles" },
  { "threads", PSS_QUERY_THREAD_INFORMATION, "threads" },
  { "handle_trace", PSS_QUERY_HANDLE_TRACE_INFORMATION, "handle_trace" },
  { "performance", PSS_QUERY_PERFORMANCE_COUNTERS, "measure_performance" },
};

static const QueryClass *check_query_class (lua_State *L, int arg) {
  size_t i;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer v = luaL_checkinteger(L, arg);
    for (i = 0; i < NFIELDS(query_classes); i++)
      if ((lua_Integer)query_classes[i].cls == v) return &query_classes[i];
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown query class %I", v));
  }
  else {
    const char *name = luaL_checkstring(L, arg);
    for (i = 0; i < NFIELDS(query_classes); i++)
      if (strcmp(query_classes[i].name, name) == 0) return &query_classes[i];
    luaL_argerror(L, arg, lua_pushfstring(L, "unknown query class '%s'", name));
  }
  return NULL;
}

static void set_integer (lua_State *L, const char *key, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, key);
}

static void set_process_flags (lua_State *L, int keys, int t, DWORD f) {
  set_bool(L, keys, t, K_PROTECTED, (f & PSS_PROCESS_FLAGS_PROTECTED) != 0);
  set_bool(L, keys, t, K_WOW64, (f & PSS_PROCESS_FLAGS_WOW64) != 0);
  set_bool(L, keys, t, K_FROZEN, (f & PSS_PROCESS_FLAGS_FROZEN) != 0);
}

#if HAVE_LINUX_CLASSES
/* argv: the NUL-separated command line */
static void set_argv (lua_State *L, int keys, int t, const char *cmd, size_t len) {
  size_t i, start = 0;
  lua_Integer n = 0;
  lua_createtable(L, 4, 0);
  for (i = 0; i <= len; i++)
    if (i == len ? i > start : cmd[i] == '\0') {
      lua_pushlstring(L, cmd + start, i - start);
      lua_rawseti(L, -2, ++n);
      start = i + 1;
    }
  set_key(L, keys, t, K_ARGV);
}

static DWORD push_process (lua_State *L, int keys, HPSS h) {
  PSS_LINUX_PROCESS_INFORMATION p;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_LINUX_PROCESS_INFORMATION, &p, sizeof p);
  int t;
  if (rc != ERROR_SUCCESS) return rc;
  lua_createtable(L, 0, 52);
  t = lua_gettop(L);
  set_fields(L, keys, t, &fs_process, &p.Process);
  set_fields(L, keys, t, &fs_linux_process, &p);
  set_argv(L, keys, t, p.CommandLine, p.CommandLineLength);
  set_bool(L, keys, t, K_COMMAND_LINE_TRUNCATED,
           (p.Truncated & PSS_LINUX_TRUNCATED_COMMAND_LINE) != 0);
  set_process_flags(L, keys, t, p.Process.Flags);
  return rc;
}
#else
static DWORD push_process (lua_State *L, int keys, HPSS h) {
  PSS_PROCESS_INFORMATION p;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_PROCESS_INFORMATION, &p, sizeof p);
  int t;
  if (rc != ERROR_SUCCESS) return rc;
  lua_createtable(L, 0, 32);
  t = lua_gettop(L);
  set_fields(L, keys, t, &fs_process, &p);
  set_process_flags(L, keys, t, p.Flags);
  return rc;
}
#endif

/* The single-record classes: a table of the record's fields. */
static void push_query (lua_State *L, HPSS h, const QueryClass *q, DWORD *rc) {
  union {
    PSS_VA_CLONE_INFORMATION clone; PSS_AUXILIARY_PAGES_INFORMATION aux;
    PSS_VA_SPACE_INFORMATION va; PSS_HANDLE_INFORMATION handles;
    PSS_THREAD_INFORMATION threads; PSS_HANDLE_TRACE_INFORMATION trace;
    PSS_PERFORMANCE_COUNTERS perf;
  } u;
  static const DWORD sizes[] = { 0, sizeof u.clone, sizeof u.aux, sizeof u.va,
    sizeof u.handles, sizeof u.threads, sizeof u.trace, sizeof u.perf };
#if HAVE_LINUX_CLASSES
  if (q->cls == PSS_QUERY_PERFORMANCE_COUNTERS) {
    PSS_LINUX_PERFORMANCE_COUNTERS lp;
    int t, keys;
    *rc = PssQuerySnapshot(h, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &lp, sizeof lp);
    if (*rc != ERROR_SUCCESS) return;
    lua_createtable(L, 0, 16);
    t = lua_gettop(L);
    keys = push_keys(L);
    set_fields(L, keys, t, &fs_performance, &lp.Counters);
    set_fields(L, keys, t, &fs_freeze, &lp);
    lua_pop(L, 1);
    return;
  }
#endif
  if (q->cls == PSS_QUERY_PROCESS_INFORMATION) { *rc = push_process(L, push_keys(L), h); return; }
  *rc = PssQuerySnapshot(h, q->cls, &u, sizes[q->cls]);
  if (*rc != ERROR_SUCCESS) return;
  lua_newtable(L);
  switch (q->cls) {
    case PSS_QUERY_VA_CLONE_INFORMATION:
      set_integer(L, "va_clone_handle", (lua_Integer)(intptr_t)u.clone.VaCloneHandle); break;
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION:
      set_integer(L, "aux_pages_captured", u.aux.AuxPagesCaptured); break;
    case PSS_QUERY_VA_SPACE_INFORMATION: set_integer(L, "region_count", u.va.RegionCount); break;
    case PSS_QUERY_HANDLE_INFORMATION:
      set_integer(L, "handles_captured", u.handles.HandlesCaptured); break;
    case PSS_QUERY_THREAD_INFORMATION:
      set_integer(L, "threads_captured", u.threads.ThreadsCaptured);
      set_integer(L, "context_length", u.threads.ContextLength);
      break;
    case PSS_QUERY_HANDLE_TRACE_INFORMATION:
      set_integer(L, "section_handle", (lua_Integer)(intptr_t)u.trace.SectionHandle);
      set_integer(L, "size", u.trace.Size);
      break;
    default: {
      int t = lua_gettop(L), keys = push_keys(L);
      set_fields(L, keys, t, &fs_performance, &u.perf);
      lua_pop(L, 1);
      break;
    }
  }
}

#define READ_CHUNK ((SIZE_T)1 << 20)

/*
** snap:read(address, length) -> the bytes as they were at the capture
** instant, from the VA clone. A range running into memory the clone does
** not hold gives the bytes up to there, a message and ERROR_PARTIAL_COPY.
** A snapshot without a clone raises: that is a capture option missing.
*/
static int snapshot_read (lua_State *L) {
  Snapshot *s = check_snapshot(L, 1);
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
    rc = snapshot_memory(s->h, at + (UINT64)done, luaL_prepbuffsize(&b, want), want, &got);
    luaL_addsize(&b, got);
    done += (lua_Integer)got;
  } while (rc == ERROR_SUCCESS && done < length && at + (UINT64)done > at);
  if (rc == ERROR_NOT_FOUND) return not_captured(L, "memory contents", "va_clone");
  if (rc == ERROR_SUCCESS && done < length) rc = ERROR_PARTIAL_COPY;
  if (rc != ERROR_SUCCESS && rc != ERROR_PARTIAL_COPY)
    return push_failure(L, "read", rc, NULL, s->pid);
  luaL_pushresult(&b);
  if (rc == ERROR_SUCCESS) return 1;
  snprintf(where, sizeof where, "0x%llx", (unsigned long long)address);
  lua_pushfstring(L, "read: only %I of %I bytes at %s are in the clone", done, length, where);
  lua_pushinteger(L, (lua_Integer)rc);
  return 3;
}

/*
** snap:write_core(path | file) -> true: an ELF core file (a minidump on
** Windows) of the snapshot, for the debugger. An open Lua file (io.open,
** io.stdout) gets the core on its descriptor, after what it buffered.
** Needs the VA clone and thread contexts: without them it raises, as a
** missing capture option; so does a file the core cannot be written to.
*/
static int snapshot_write_core (lua_State *L) {
  Snapshot *s = check_snapshot(L, 1);
  luaL_Stream *f = luaL_testudata(L, 2, LUA_FILEHANDLE);
  const char *why;
  DWORD rc;
  if (f == NULL && lua_type(L, 2) != LUA_TSTRING) return luaL_typeerror(L, 2, "path or file");
  if (f != NULL && f->closef == NULL) return luaL_error(L, "attempt to use a closed file");
  if (f != NULL && fflush(f->f) != 0) {   /* what the file buffered could not be written */
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "write_core: %s", strerror(e));
    lua_pushinteger(L, ERROR_GEN_FAILURE);
    return 3;
  }
  rc = f != NULL ? snapshot_core_file(s->h, f->f) : snapshot_core(s->h, lua_tostring(L, 2));
  why = system_detail();
  if (rc == ERROR_NOT_FOUND)
    return luaL_error(L, "write_core: %s", why ? why : "the snapshot lacks what a core needs");
  if (rc == ERROR_INVALID_HANDLE && f != NULL && why != NULL && !failure_from_system())
    return luaL_argerror(L, 2, why);    /* a file not open for writing */
  if (rc != ERROR_SUCCESS) return push_failure(L, "write_core", rc, NULL, s->pid);
  lua_pushboolean(L, 1);
  return 1;
}

/* snap:query(class) -> table; a class that was not captured raises */
static int snapshot_query (lua_State *L) {
  Snapshot *s = check_snapshot(L, 1);
  const QueryClass *q = check_query_class(L, 2);
  DWORD rc;
  push_query(L, s->h, q, &rc);
  if (rc == ERROR_NOT_FOUND) return not_captured(L, q->name, q->option);
  if (rc != ERROR_SUCCESS) return push_failure(L, "PssQuerySnapshot", rc, NULL, s->pid);
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
  if (rc != ERROR_SUCCESS) return push_failure(L, "PssWalkMarkerGetPosition", rc, NULL, 0);
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

static int marker_seek (lua_State *L) {
  Marker *m = check_marker(L, 1);
  lua_Integer pos = luaL_checkinteger(L, 2);
  DWORD rc = PssWalkMarkerSetPosition(m->h, (ULONG_PTR)pos);
  if (rc == ERROR_INVALID_PARAMETER)
    return luaL_argerror(L, 2, "not a position of this marker");
  if (rc != ERROR_SUCCESS) return push_failure(L, "PssWalkMarkerSetPosition", rc, NULL, 0);
  lua_settop(L, 1);
  return 1;
}

static int marker_rewind (lua_State *L) {
  Marker *m = check_marker(L, 1);
  DWORD rc = PssWalkMarkerSeekToBeginning(m->h);
  if (rc != ERROR_SUCCESS) return push_failure(L, "PssWalkMarkerSeekToBeginning", rc, NULL, 0);
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


/* {======================================================================
** Module functions
** ======================================================================= */
static const char self_key = 0;   /* pss.self: its address is the sentinel */

/*
** core.capture(target, flags [, context_flags]) -> snapshot
**   target: a pid (1 .. 2^31-1) or pss.self; flags: PSS_CAPTURE_* bits.
** fail, message, code when the process is gone, access is denied, ...
*/
static int pss_capture (lua_State *L) {
  int self = lua_touserdata(L, 1) == (void *)&self_key;
  lua_Integer pid = self ? 0 : luaL_checkinteger(L, 1);
  lua_Integer flags = luaL_checkinteger(L, 2);
  lua_Integer context = luaL_optinteger(L, 3, 0);
  HANDLE proc = CURRENT_PROCESS;
  Snapshot *s;
  Held *e;
  HPSS h;
  DWORD rc;
  luaL_argcheck(L, self || (pid > 0 && pid <= INT_MAX), 1,
                "pid must be an integer in 1..2147483647, or pss.self");
  luaL_argcheck(L, flags >= 0 && flags <= 0xFFFFFFFF, 2, "flags out of range");
  luaL_argcheck(L, context >= 0 && context <= 0xFFFFFFFF, 3, "context flags out of range");
  s = new_snapshot(L, self ? current_pid() : pid);
  e = held_new(L, HELD_SNAPSHOT);
  if (!self && (rc = process_open((DWORD)pid, (DWORD)flags, &proc)) != ERROR_SUCCESS) {
    held_drop(ledger_of(L), e);
    return push_failure(L, "PssCaptureSnapshot",
                        rc == ERROR_INVALID_PARAMETER ? ERROR_INVALID_PARAMETER : rc,
                        rc == ERROR_INVALID_PARAMETER ? "no such process" : NULL, pid);
  }
  rc = PssCaptureSnapshot(proc, (DWORD)flags, (DWORD)context, &h);
  if (!self) process_close(proc);
  if (hold_snapshot(L, s, e, rc, h) == ERROR_SUCCESS) return 1;
  /* the library's own argument checks are programming errors; a failure
     of the system (EINVAL from the kernel, say) is a runtime failure */
  if (rc == ERROR_INVALID_PARAMETER && !failure_from_system()) {
    char msg[64];
    snprintf(msg, sizeof msg, "invalid capture flags 0x%lx", (unsigned long)flags);
    return luaL_argerror(L, 2, msg);
  }
  return push_failure(L, "PssCaptureSnapshot", rc, NULL, s->pid);
}

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

/* core.allocations() -> blocks, bytes: live PSS_ALLOCATOR memory of all
** markers of this module (lua_Alloc memory that Lua's GC does not count) */
static int pss_allocations (lua_State *L) {
  lua_pushinteger(L, atomic_load(&live_blocks));
  lua_pushinteger(L, atomic_load(&live_bytes));
  return 2;
}

/*
** core.fields(record) -> the list of field names a record may have
** ("process", "thread", "handle", "region", "thread_name", "performance",
** "process_arm", "event_arm", ...), straight from the tables that fill
** them, so specs can check that the docs list every one.
*/
static int pss_fields (lua_State *L) {
  static const struct { const char *record; int from, to; } extras[] = {
    { "process", K_PROTECTED, K_FROZEN }, { "thread", K_TERMINATED, K_TERMINATED },
    { "thread", K_CONTEXT, K_CONTEXT }, { "context", K_FS_BASE, K_XSTATE },
    { "handle", K_ARM_PROCESS, K_ARM_SEMAPHORE },
#if HAVE_LINUX_CLASSES
    { "process", K_ARGV, K_COMMAND_LINE_TRUNCATED },
    { "thread", K_SYSCALL_STATE, K_LAST_SYSCALL_ARGUMENTS },
    { "handle", K_ACCESS, K_SOCKET_STATE },
#endif
  };
  const char *record = luaL_checkstring(L, 1);
  const FieldSet *const *fs;
  lua_Integer k = 0;
  size_t i;
  int j;
  lua_newtable(L);
  for (fs = field_sets; *fs != NULL; fs++) {
    if (strcmp((*fs)->record, record) != 0) continue;
    for (j = 0; j < (*fs)->n; j++) {
      lua_pushstring(L, (*fs)->fields[j].name);
      lua_rawseti(L, -2, ++k);
      if ((*fs)->fields[j].type != F_ENUM) continue;
      lua_pushfstring(L, "%s_flags", (*fs)->fields[j].name);
      lua_rawseti(L, -2, ++k);
    }
  }
  for (i = 0; i < sizeof extras / sizeof extras[0]; i++)
    if (strcmp(extras[i].record, record) == 0)
      for (j = extras[i].from; j <= extras[i].to; j++) {
        lua_pushstring(L, extra_names[j]);
        lua_rawseti(L, -2, ++k);
      }
  return k > 0 ? 1 : luaL_argerror(L, 1, lua_pushfstring(L, "unknown record '%s'", record));
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
  C(, STILL_ACTIVE), C(, MEM_COMMIT), C(, MEM_RESERVE), C(, MEM_FREE), C(, MEM_PRIVATE),
  C(, MEM_MAPPED), C(, MEM_IMAGE), C(, PAGE_NOACCESS), C(, PAGE_READONLY), C(, PAGE_READWRITE),
  C(, PAGE_WRITECOPY), C(, PAGE_EXECUTE), C(, PAGE_EXECUTE_READ), C(, PAGE_EXECUTE_READWRITE),
  C(, PAGE_EXECUTE_WRITECOPY), C(, PAGE_GUARD), C(, ERROR_BUSY),
  C(, CONTEXT_AMD64), C(, CONTEXT_CONTROL), C(, CONTEXT_INTEGER), C(, CONTEXT_SEGMENTS),
  C(, CONTEXT_FLOATING_POINT), C(, CONTEXT_DEBUG_REGISTERS), C(, CONTEXT_FULL),
  C(, CONTEXT_ALL), C(, CONTEXT_XSTATE),
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

static const luaL_Reg snapshot_methods[] = {
  { "query", snapshot_query }, { "walk", snapshot_walk },
  { "threads", snapshot_threads }, { "handles", snapshot_handles },
  { "regions", snapshot_regions }, { "thread_names", snapshot_thread_names },
  { "marker", snapshot_marker }, { "duplicate", snapshot_duplicate },
  { "read", snapshot_read }, { "write_core", snapshot_write_core },
  { "free", snapshot_release }, { NULL, NULL }
};

static const luaL_Reg snapshot_meta[] = {
  { "__index", NULL }, { "__gc", snapshot_release }, { "__close", snapshot_release },
  { "__tostring", snapshot_tostring }, { NULL, NULL }
};

static const luaL_Reg marker_methods[] = {
  { "position", marker_position }, { "seek", marker_seek }, { "rewind", marker_rewind },
  { "free", marker_release }, { NULL, NULL }
};

static const luaL_Reg marker_meta[] = {
  { "__index", NULL }, { "__gc", marker_release }, { "__close", marker_release },
  { "__tostring", marker_tostring }, { NULL, NULL }
};

static const luaL_Reg functions[] = {
  { "capture", pss_capture }, { "type", pss_type }, { "fields", pss_fields },
  { "allocations", pss_allocations }, { "sleep", pss_sleep },
  { "wait_limit", pss_wait_limit }, { NULL, NULL }
};

/* Sets the functions into the table on top, each with the ledger (at
** index `ledger`) as its upvalue. */
static void set_functions (lua_State *L, const luaL_Reg *l, int ledger) {
  lua_pushvalue(L, ledger);
  luaL_setfuncs(L, l, 1);
}

static void create_meta (lua_State *L, const char *name, const luaL_Reg *meta,
                         const luaL_Reg *methods, int ledger) {
  luaL_newmetatable(L, name);
  set_functions(L, meta, ledger);
  lua_newtable(L);
  set_functions(L, methods, ledger);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

LPSS_API int luaopen_pss_core (lua_State *L);

LPSS_API int luaopen_pss_core (lua_State *L) {
  int ledger;
  size_t i;
  push_ledger(L);      /* first: it must be older than every snapshot */
  ledger = lua_gettop(L);
  build_keys(L);
  luaL_newlibtable(L, functions);
  set_functions(L, functions, ledger);
  create_meta(L, SNAPSHOT_MT, snapshot_meta, snapshot_methods, ledger);
  create_meta(L, MARKER_MT, marker_meta, marker_methods, ledger);
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
  lua_pushlightuserdata(L, (void *)&self_key);
  lua_setfield(L, -2, "self");
  platform_open(L);
  return 1;
}
/* }====================================================================== */
