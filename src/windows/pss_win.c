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
*/
#include "pss.h"

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
