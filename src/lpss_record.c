/*
** lpss_record.c -- pss.core: one Lua table per record. Entries of the
** walks (threads, handles, regions, thread names) and the tables of the
** query classes, filled from the field tables of lpss_fields.c plus the
** keys that no table has (decoded flags, sockets, argv, the context).
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lpss.h"

#if HAVE_LINUX_CLASSES
#include <fcntl.h>
#endif

/* {======================================================================
** Entries: one table per walked record
** ======================================================================= */
static void set_bool (lua_State *L, int keys, int t, int k, int value) {
  lua_pushboolean(L, value);
  lpss_set_key(L, keys, t, k);
}

/* bytes as lowercase hex (a build id) */
void lpss_push_hex (lua_State *L, const unsigned char *bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char buf[2 * 64];
  size_t i;
  if (n > sizeof buf / 2) n = sizeof buf / 2;
  for (i = 0; i < n; i++) {
    buf[2 * i] = digits[bytes[i] >> 4];
    buf[2 * i + 1] = digits[bytes[i] & 15];
  }
  lua_pushlstring(L, buf, 2 * n);
}

#if HAVE_LINUX_CLASSES
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
  lpss_set_key(L, keys, t, k);
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
  lpss_set_fields(L, keys, t, &lpss_fs_linux_thread, th);
  set_string(L, keys, t, K_SYSCALL_STATE, syscall_state(th->Thread.LastSyscallNumber));
  lua_createtable(L, 6, 0);
  for (i = 0; i < 6; i++) {
    lua_pushinteger(L, (lua_Integer)th->LastSyscallArguments[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lpss_set_key(L, keys, t, K_LAST_SYSCALL_ARGUMENTS);
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
    lpss_set_key(L, keys, t, K_SOCKET_PROTOCOL);
  }
  if (h->SocketState == 10) set_string(L, keys, t, K_SOCKET_STATE, "LISTEN");
  else if (h->SocketFamily == 1 && h->SocketState >= 0 && h->SocketState < 5)
    set_string(L, keys, t, K_SOCKET_STATE, unix_states[h->SocketState]);
  else if (h->SocketState > 0 && h->SocketState < 13)
    set_string(L, keys, t, K_SOCKET_STATE, tcp_states[h->SocketState]);
}

static void linux_handle_extras (lua_State *L, int keys, int t, const Entry *e) {
  const PSS_LINUX_HANDLE_ENTRY *h = &e->lhandle;
  lpss_set_fields(L, keys, t, &lpss_fs_linux_handle, h);
  if (h->Handle.Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION) {
    unsigned acc = h->OpenFlags & O_ACCMODE;
    lpss_set_fields(L, keys, t, &lpss_fs_linux_handle_basic, h);
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
  lpss_set_fields(L, keys, t, &lpss_fs_linux_region, r);
  lua_pushlstring(L, r->Permissions, 4);
  lpss_set_key(L, keys, t, K_PROTECT);
  if (r->CloneCoverage > 0 && r->CloneCoverage < sizeof coverage / sizeof coverage[0]) {
    lua_pushstring(L, coverage[r->CloneCoverage]);
    lpss_set_key(L, keys, t, K_CLONE);
  }
  if (r->BuildIdLength > 0) {
    lpss_push_hex(L, r->BuildId, r->BuildIdLength < PSS_LINUX_BUILD_ID_MAX
                                   ? r->BuildIdLength : PSS_LINUX_BUILD_ID_MAX);
    lpss_set_key(L, keys, t, K_BUILD_ID);
  }
  if (r->Usage != NULL) lpss_set_fields(L, keys, t, &lpss_fs_region_usage, r->Usage);
}
#endif

/* The TypeSpecificInformation arm that ObjectType selects, as a subtable. */
static void push_type_specific (lua_State *L, int keys, int t, const PSS_HANDLE_ENTRY *h) {
  static const struct { int key; const FieldSet *fs; } arms[] = {
    { 0, NULL }, { K_ARM_PROCESS, &lpss_fs_process_arm },
    { K_ARM_THREAD, &lpss_fs_thread_arm }, { K_ARM_MUTANT, &lpss_fs_mutant_arm },
    { K_ARM_EVENT, &lpss_fs_event_arm }, { K_ARM_SECTION, &lpss_fs_section_arm },
    { K_ARM_SEMAPHORE, &lpss_fs_semaphore_arm } };
  if (h->ObjectType == 0 || h->ObjectType >= sizeof arms / sizeof arms[0]) return;
  lua_createtable(L, 0, arms[h->ObjectType].fs->n);
  lpss_set_fields(L, keys, lua_gettop(L), arms[h->ObjectType].fs, h);
  lpss_set_key(L, keys, t, arms[h->ObjectType].key);
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
  for (i = 0; i < lpss_fs_context.n; i++) {
    const Field *f = &lpss_fs_context.fields[i];
    if (f->aux != 0 && (known & 1u << (f->aux - 1)) == 0) continue;
    lua_rawgeti(L, keys, lpss_fs_context.base + 2 * i);
    lpss_push_field(L, keys, ct, 0, f, (const char *)c);
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
  lpss_set_key(L, keys, ct, K_FS_BASE);
  if ((c.ContextFlags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT &&
      (known & 1u << RB_FLOATING) != 0) {
    lua_pushlstring(L, (const char *)&c.FltSave, sizeof c.FltSave);
    lpss_set_key(L, keys, ct, K_FLTSAVE);
  }
  if ((c.ContextFlags & CONTEXT_XSTATE) == CONTEXT_XSTATE && th->SizeOfContextRecord > sizeof c &&
      (known & 1u << RB_XSTATE) != 0) {
    lua_pushlstring(L, (const char *)th->ContextRecord + sizeof c, th->SizeOfContextRecord - sizeof c);
    lpss_set_key(L, keys, ct, K_XSTATE);
  }
  lpss_set_key(L, keys, t, K_CONTEXT);
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

void lpss_push_thread (lua_State *L, int keys, const Entry *e) {
  int t;
  lua_createtable(L, 0, 32);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_thread, &e->thread);
  set_bool(L, keys, t, K_TERMINATED, (e->thread.Flags & PSS_THREAD_FLAGS_TERMINATED) != 0);
  push_context(L, keys, t, &e->thread, known_registers(e));
#if HAVE_LINUX_CLASSES
  linux_thread_extras(L, keys, t, e);
#endif
}

void lpss_push_handle (lua_State *L, int keys, const Entry *e) {
  const PSS_HANDLE_ENTRY *h = &e->handle;
  int t;
  lua_createtable(L, 0, 24);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_handle, h);
  if (h->Flags & PSS_HANDLE_HAVE_BASIC_INFORMATION)
    lpss_set_fields(L, keys, t, &lpss_fs_handle_basic, h);
  if (h->Flags & PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION) push_type_specific(L, keys, t, h);
#if HAVE_LINUX_CLASSES
  linux_handle_extras(L, keys, t, e);
#endif
}

void lpss_push_region (lua_State *L, int keys, const Entry *e) {
  int t;
  lua_createtable(L, 0, e->region.Type == MEM_IMAGE ? 21 : 17);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_region, &e->region);
  if (e->region.Type == MEM_IMAGE)
    lpss_set_fields(L, keys, t, &lpss_fs_region_image, &e->region);
#if HAVE_LINUX_CLASSES
  linux_region_extras(L, keys, t, e);
#endif
}

void lpss_push_thread_name (lua_State *L, int keys, const Entry *e) {
  lua_createtable(L, 0, 1);
  lpss_set_fields(L, keys, lua_gettop(L), &lpss_fs_thread_name, &e->name);
}

/* an auxiliary page: where, its region, and its bytes as a string (the
** marker's copy is valid until the marker is freed; Lua keeps its own) */
void lpss_push_aux_page (lua_State *L, int keys, const Entry *e) {
  const PSS_AUXILIARY_PAGE_ENTRY *p = &e->aux;
  int t;
  lua_createtable(L, 0, 18);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_aux_page, p);
  if (p->PageContents != NULL) {
    lua_pushlstring(L, (const char *)p->PageContents, p->PageSize);
    lpss_set_key(L, keys, t, K_CONTENTS);
  }
}
/* }====================================================================== */


/* {======================================================================
** Query tables: one table per single-record class
** ======================================================================= */
void lpss_set_integer (lua_State *L, const char *key, lua_Integer v) {
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
  lpss_set_key(L, keys, t, K_ARGV);
}


/* What an ELF core does not hold (coreload.c leaves it 0): absent, never
** a made-up zero. */
static void drop_core_absent (lua_State *L, int t) {
  static const char *const absent[] = {
    "affinity_mask", "execute_flags", "major_faults", "minor_faults", "page_fault_count",
    "pagefile_usage", "peak_pagefile_usage", "peak_virtual_size", "peak_working_set_size",
    "peb_base_address", "personality", "policy", "priority_class", "priority_class_flags",
    "private_usage", "quota_non_paged_pool_usage", "quota_paged_pool_usage",
    "quota_peak_non_paged_pool_usage", "quota_peak_paged_pool_usage", "realtime_priority",
    "resident_anon", "resident_file", "resident_shmem", "start_time_ticks", "virtual_size",
    "working_set_size", "create_time", "exit_code", NULL
  };
  const char *const *k;
  for (k = absent; *k != NULL; k++) {
    lua_pushnil(L);
    lua_setfield(L, t, *k);
  }
}

static DWORD push_process (lua_State *L, int keys, HPSS h) {
  PSS_LINUX_PROCESS_INFORMATION p;
  DWORD rc = PssQuerySnapshot(h, PSS_QUERY_LINUX_PROCESS_INFORMATION, &p, sizeof p);
  int t;
  if (rc != ERROR_SUCCESS) return rc;
  lua_createtable(L, 0, 52);
  t = lua_gettop(L);
  lpss_set_fields(L, keys, t, &lpss_fs_process, &p.Process);
  lpss_set_fields(L, keys, t, &lpss_fs_linux_process, &p);
  set_argv(L, keys, t, p.CommandLine, p.CommandLineLength);
  set_bool(L, keys, t, K_COMMAND_LINE_TRUNCATED,
           (p.Truncated & PSS_LINUX_TRUNCATED_COMMAND_LINE) != 0);
  /* how it was taken: stopped at one instant, or read while running (why) */
  lua_pushstring(L, p.CaptureMode == PSS_LINUX_CAPTURE_MODE_FROZEN ? "frozen"
                   : p.CaptureMode == PSS_LINUX_CAPTURE_MODE_CORE ? "core" : "running");
  lpss_set_key(L, keys, t, K_CAPTURE_MODE);
  if (p.CaptureMode == PSS_LINUX_CAPTURE_MODE_RUNNING) {
    lua_pushlstring(L, p.NotFrozen, p.NotFrozenLength);
    lpss_set_key(L, keys, t, K_NOT_FROZEN);
  }
  set_process_flags(L, keys, t, p.Process.Flags);
  if (p.HasMemoryUsage) lpss_set_fields(L, keys, t, &lpss_fs_process_usage, &p.MemoryUsage);
  if (p.CaptureMode == PSS_LINUX_CAPTURE_MODE_CORE) drop_core_absent(L, t);
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
  lpss_set_fields(L, keys, t, &lpss_fs_process, &p);
  set_process_flags(L, keys, t, p.Flags);
  return rc;
}
#endif

/* Room for the record of any query class but the Linux ones, and its
** size, by PSS_QUERY_* value. */
typedef union {
  PSS_PROCESS_INFORMATION process; PSS_VA_CLONE_INFORMATION clone;
  PSS_AUXILIARY_PAGES_INFORMATION aux; PSS_VA_SPACE_INFORMATION va;
  PSS_HANDLE_INFORMATION handles; PSS_THREAD_INFORMATION threads;
  PSS_HANDLE_TRACE_INFORMATION trace; PSS_PERFORMANCE_COUNTERS perf;
} QueryRecord;

static const DWORD query_sizes[] = { sizeof(PSS_PROCESS_INFORMATION),
  sizeof(PSS_VA_CLONE_INFORMATION), sizeof(PSS_AUXILIARY_PAGES_INFORMATION),
  sizeof(PSS_VA_SPACE_INFORMATION), sizeof(PSS_HANDLE_INFORMATION),
  sizeof(PSS_THREAD_INFORMATION), sizeof(PSS_HANDLE_TRACE_INFORMATION),
  sizeof(PSS_PERFORMANCE_COUNTERS) };

/* PssQuerySnapshot's answer for a class, the record thrown away: what
** snap:captured asks (ERROR_NOT_FOUND: the snapshot does not hold it). */
DWORD lpss_query_answer (HPSS h, PSS_QUERY_INFORMATION_CLASS cls) {
  QueryRecord u;
  return PssQuerySnapshot(h, cls, &u, query_sizes[cls]);
}

/* The single-record classes: pushes a table of the record's fields and
** returns ERROR_SUCCESS, or returns the failure and pushes nothing. */
DWORD lpss_push_query (lua_State *L, HPSS h, PSS_QUERY_INFORMATION_CLASS cls) {
  QueryRecord u;
  DWORD rc;
#if HAVE_LINUX_CLASSES
  if (cls == PSS_QUERY_PERFORMANCE_COUNTERS) {
    PSS_LINUX_PERFORMANCE_COUNTERS lp;
    int t, keys;
    rc = PssQuerySnapshot(h, PSS_QUERY_LINUX_PERFORMANCE_COUNTERS, &lp, sizeof lp);
    if (rc != ERROR_SUCCESS) return rc;
    lua_createtable(L, 0, 16);
    t = lua_gettop(L);
    keys = lpss_push_keys(L);
    lpss_set_fields(L, keys, t, &lpss_fs_performance, &lp.Counters);
    lpss_set_fields(L, keys, t, &lpss_fs_freeze, &lp);
    lua_pop(L, 1);
    return rc;
  }
#endif
  if (cls == PSS_QUERY_PROCESS_INFORMATION) return push_process(L, lpss_push_keys(L), h);
  rc = PssQuerySnapshot(h, cls, &u, query_sizes[cls]);
  if (rc != ERROR_SUCCESS) return rc;
  lua_newtable(L);
  switch (cls) {
    case PSS_QUERY_VA_CLONE_INFORMATION:
      lpss_set_integer(L, "va_clone_handle", (lua_Integer)(intptr_t)u.clone.VaCloneHandle);
      break;
    case PSS_QUERY_AUXILIARY_PAGES_INFORMATION:
      lpss_set_integer(L, "aux_pages_captured", u.aux.AuxPagesCaptured); break;
    case PSS_QUERY_VA_SPACE_INFORMATION:
      lpss_set_integer(L, "region_count", u.va.RegionCount); break;
    case PSS_QUERY_HANDLE_INFORMATION:
      lpss_set_integer(L, "handles_captured", u.handles.HandlesCaptured); break;
    case PSS_QUERY_THREAD_INFORMATION:
      lpss_set_integer(L, "threads_captured", u.threads.ThreadsCaptured);
      lpss_set_integer(L, "context_length", u.threads.ContextLength);
      break;
    case PSS_QUERY_HANDLE_TRACE_INFORMATION:
      lpss_set_integer(L, "section_handle", (lua_Integer)(intptr_t)u.trace.SectionHandle);
      lpss_set_integer(L, "size", u.trace.Size);
      break;
    default: {
      int t = lua_gettop(L), keys = lpss_push_keys(L);
      lpss_set_fields(L, keys, t, &lpss_fs_performance, &u.perf);
      lua_pop(L, 1);
      break;
    }
  }
  return rc;
}
/* }====================================================================== */
