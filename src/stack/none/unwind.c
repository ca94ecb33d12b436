/*
** none/unwind.c -- the unwinder where libpss is built without elfutils'
** libdw (PSS_UNWIND=none): snapshots still capture stacks, but unwinding
** them is not supported by this build.
*/
#include "pss.h"

#define PSS_EXPORT __attribute__((visibility("default")))

PSS_EXPORT DWORD PssLinuxUnwinderCreate (HPSS SnapshotHandle, PSS_ALLOCATOR const *Allocator,
                                         HPSSUNWIND *Unwinder) {
  (void)SnapshotHandle; (void)Allocator; (void)Unwinder;
  return PssLinuxSetLastError(ERROR_NOT_SUPPORTED,
                              "this libpss was built without an unwinder (PSS_UNWIND=none)");
}

PSS_EXPORT DWORD PssLinuxUnwinderFree (HPSSUNWIND Unwinder) {
  (void)Unwinder;
  return PssLinuxSetLastError(ERROR_INVALID_HANDLE, "not a live unwinder");
}

PSS_EXPORT DWORD PssLinuxUnwindThread (HPSSUNWIND Unwinder, DWORD ThreadId, DWORD Flags,
                                       PSS_LINUX_STACK **Stack) {
  (void)Unwinder; (void)ThreadId; (void)Flags; (void)Stack;
  return PssLinuxSetLastError(ERROR_INVALID_HANDLE, "not a live unwinder");
}
