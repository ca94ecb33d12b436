/*
** pss_win.c -- libpss on Windows: the Process Snapshotting API of kernel32,
** resolved at run time.
**
** The ten functions are looked up with GetProcAddress on first use, never
** imported: a DLL that imports them does not load at all where kernel32
** lacks them (Windows 7 and 8.0, wine). The API is taken whole or not at
** all -- a snapshot that can be captured but not walked is no use -- so
** when any of the ten is missing every call returns ERROR_NOT_SUPPORTED.
** Beyond that each function is the system's own: same arguments, same
** result, nothing added.
**
** The Windows extensions sit at the end: reads of the VA clone's memory and
** a minidump of a snapshot (MiniDumpWriteDump, pss-api.md §8).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pss.h"
#include <dbghelp.h>

#if defined(_MSC_VER)
#define THREAD_LOCAL __declspec(thread)
#else
#define THREAD_LOCAL _Thread_local
#endif

/* why the last failing call of this thread failed, in words (reset by
** every call), and room for words made at run time */
static THREAD_LOCAL const char *failure_detail;
static THREAD_LOCAL char detail_text[160];

char const *PssWindowsLastErrorDetail (void) { return failure_detail; }

typedef DWORD (WINAPI *CaptureFn)(HANDLE, PSS_CAPTURE_FLAGS, DWORD, HPSS *);
typedef DWORD (WINAPI *DuplicateFn)(HANDLE, HPSS, HANDLE, HPSS *, PSS_DUPLICATE_FLAGS);
typedef DWORD (WINAPI *FreeFn)(HANDLE, HPSS);
typedef DWORD (WINAPI *QueryFn)(HPSS, PSS_QUERY_INFORMATION_CLASS, void *, DWORD);
typedef DWORD (WINAPI *WalkFn)(HPSS, PSS_WALK_INFORMATION_CLASS, HPSSWALK, void *, DWORD);
typedef DWORD (WINAPI *MarkerCreateFn)(PSS_ALLOCATOR const *, HPSSWALK *);
typedef DWORD (WINAPI *MarkerFn)(HPSSWALK);
typedef DWORD (WINAPI *GetPositionFn)(HPSSWALK, ULONG_PTR *);
typedef DWORD (WINAPI *SetPositionFn)(HPSSWALK, ULONG_PTR);

static struct {
  CaptureFn capture;
  DuplicateFn duplicate;
  FreeFn free;
  QueryFn query;
  WalkFn walk;
  MarkerCreateFn marker_create;
  MarkerFn marker_free;
  GetPositionFn get_position;
  SetPositionFn set_position;
  MarkerFn seek_to_beginning;
} api;

static INIT_ONCE resolved = INIT_ONCE_STATIC_INIT;
static BOOL available;

/* GetProcAddress's FARPROC goes through the generic function pointer type,
** which may be converted to any other without a cast-function-type warning */
typedef void (*AnyFn)(void);

static AnyFn lookup (HMODULE kernel32, const char *name) {
  return kernel32 ? (AnyFn)GetProcAddress(kernel32, name) : NULL;
}

static BOOL CALLBACK resolve (PINIT_ONCE once, void *param, void **context) {
  HMODULE k = GetModuleHandleW(L"kernel32.dll");
  (void)once; (void)param; (void)context;
  api.capture = (CaptureFn)lookup(k, "PssCaptureSnapshot");
  api.duplicate = (DuplicateFn)lookup(k, "PssDuplicateSnapshot");
  api.free = (FreeFn)lookup(k, "PssFreeSnapshot");
  api.query = (QueryFn)lookup(k, "PssQuerySnapshot");
  api.walk = (WalkFn)lookup(k, "PssWalkSnapshot");
  api.marker_create = (MarkerCreateFn)lookup(k, "PssWalkMarkerCreate");
  api.marker_free = (MarkerFn)lookup(k, "PssWalkMarkerFree");
  api.get_position = (GetPositionFn)lookup(k, "PssWalkMarkerGetPosition");
  api.set_position = (SetPositionFn)lookup(k, "PssWalkMarkerSetPosition");
  api.seek_to_beginning = (MarkerFn)lookup(k, "PssWalkMarkerSeekToBeginning");
  available = api.capture && api.duplicate && api.free && api.query && api.walk &&
              api.marker_create && api.marker_free && api.get_position &&
              api.set_position && api.seek_to_beginning;
  return TRUE;
}

BOOL PssWindowsIsAvailable (void) {
  failure_detail = NULL;
  InitOnceExecuteOnce(&resolved, resolve, NULL, NULL);
  return available;
}

DWORD WINAPI PssCaptureSnapshot (HANDLE ProcessHandle, PSS_CAPTURE_FLAGS CaptureFlags,
                                 DWORD ThreadContextFlags, HPSS *SnapshotHandle) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.capture(ProcessHandle, CaptureFlags, ThreadContextFlags, SnapshotHandle);
}

DWORD WINAPI PssDuplicateSnapshot (HANDLE SourceProcessHandle, HPSS SnapshotHandle,
                                   HANDLE TargetProcessHandle, HPSS *TargetSnapshotHandle,
                                   PSS_DUPLICATE_FLAGS Flags) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.duplicate(SourceProcessHandle, SnapshotHandle, TargetProcessHandle,
                       TargetSnapshotHandle, Flags);
}

DWORD WINAPI PssFreeSnapshot (HANDLE ProcessHandle, HPSS SnapshotHandle) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.free(ProcessHandle, SnapshotHandle);
}

DWORD WINAPI PssQuerySnapshot (HPSS SnapshotHandle, PSS_QUERY_INFORMATION_CLASS InformationClass,
                               void *Buffer, DWORD BufferLength) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.query(SnapshotHandle, InformationClass, Buffer, BufferLength);
}

DWORD WINAPI PssWalkSnapshot (HPSS SnapshotHandle, PSS_WALK_INFORMATION_CLASS InformationClass,
                              HPSSWALK WalkMarkerHandle, void *Buffer, DWORD BufferLength) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.walk(SnapshotHandle, InformationClass, WalkMarkerHandle, Buffer, BufferLength);
}

DWORD WINAPI PssWalkMarkerCreate (PSS_ALLOCATOR const *Allocator, HPSSWALK *WalkMarkerHandle) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.marker_create(Allocator, WalkMarkerHandle);
}

DWORD WINAPI PssWalkMarkerFree (HPSSWALK WalkMarkerHandle) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.marker_free(WalkMarkerHandle);
}

DWORD WINAPI PssWalkMarkerGetPosition (HPSSWALK WalkMarkerHandle, ULONG_PTR *Position) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.get_position(WalkMarkerHandle, Position);
}

DWORD WINAPI PssWalkMarkerSetPosition (HPSSWALK WalkMarkerHandle, ULONG_PTR Position) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.set_position(WalkMarkerHandle, Position);
}

DWORD WINAPI PssWalkMarkerSeekToBeginning (HPSSWALK WalkMarkerHandle) {
  if (!PssWindowsIsAvailable()) return ERROR_NOT_SUPPORTED;
  return api.seek_to_beginning(WalkMarkerHandle);
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

/* {======================================================================
** Windows extension: the VA clone's memory
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
static DWORD read_prefix (HANDLE process, UINT64 address, void *buf, SIZE_T n, SIZE_T *got) {
  SYSTEM_INFO si;
  SIZE_T done = 0, step, part = 0;
  DWORD err;
  if (n == 0) {
    *got = 0;
    return ERROR_SUCCESS;
  }
  if (ReadProcessMemory(process, (const void *)(uintptr_t)address, buf, n, &part)) {
    if (part == n) {
      *got = n;
      return ERROR_SUCCESS;
    }
  } else if ((err = GetLastError()) != ERROR_PARTIAL_COPY && err != ERROR_NOACCESS) {
    return err;
  }
  GetSystemInfo(&si);
  while (done < n) {
    step = si.dwPageSize - (SIZE_T)((address + done) % si.dwPageSize);
    if (step > n - done) step = n - done;
    if (!ReadProcessMemory(process, (const void *)(uintptr_t)(address + done),
                           (char *)buf + done, step, &part) || part == 0)
      break;
    done += part;
  }
  *got = done;
  return done == n ? ERROR_SUCCESS : ERROR_PARTIAL_COPY;
}

DWORD PssWindowsReadSnapshotMemory (HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                    SIZE_T Length, SIZE_T *BytesRead) {
  HANDLE clone;
  DWORD rc = clone_handle(SnapshotHandle, &clone);
  if (rc != ERROR_SUCCESS) return rc;
  return read_prefix(clone, Address, Buffer, Length, BytesRead);
}
/* }====================================================================== */
/* {======================================================================
** Windows extension: a minidump of the snapshot (pss-api.md §8)
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
    write_dump = (WriteDumpFn)(AnyFn)GetProcAddress(dbghelp, "MiniDumpWriteDump");
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
  if (hr != 0 && hr < 0x10000u) return hr;                       /* a Win32 code */
  if ((hr & 0xFFFF0000u) == 0x80070000u && (hr & 0xFFFFu) != 0) return hr & 0xFFFFu;
  snprintf(detail_text, sizeof detail_text, "MiniDumpWriteDump failed with HRESULT 0x%08lx",
           (unsigned long)hr);
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

/* A full-memory minidump of what (a snapshot, or a process handle when
** snapshot is FALSE) at path (UTF-8); the file is removed again when the
** dump fails. */
static DWORD write_dump_file (HANDLE what, BOOL snapshot, DWORD pid, const char *path) {
  MINIDUMP_CALLBACK_INFORMATION callback = { dump_callback, NULL };
  HANDLE file;
  WCHAR *wpath;
  BOOL written;
  DWORD rc;
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
    written = write_dump(what, pid, file, DUMP_TYPE, NULL, NULL, snapshot ? &callback : NULL);
    if (!written) rc = dump_error(GetLastError());
    ReleaseSRWLockExclusive(&dbghelp_lock);
    CloseHandle(file);
    if (rc != ERROR_SUCCESS) DeleteFileW(wpath);
  }
  free(wpath);
  return rc;
}

DWORD PssWindowsWriteDump (HPSS SnapshotHandle, char const *Path) {
  PSS_PROCESS_INFORMATION process;
  DWORD rc = PssQuerySnapshot(SnapshotHandle, PSS_QUERY_PROCESS_INFORMATION, &process,
                              sizeof process);
  if (rc == ERROR_SUCCESS) rc = dump_needs(SnapshotHandle);
  if (rc != ERROR_SUCCESS) return rc;
  return write_dump_file((HANDLE)SnapshotHandle, TRUE, process.ProcessId, Path);
}
/* }====================================================================== */
