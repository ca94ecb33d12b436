/*
** progress.c -- PssLinuxSetProgressRoutine: how far a long write is, for
** the caller to show (the pss command prints it on a terminal). One
** routine per calling thread, as the stack limit is: a write reports to
** the thread that asked for it, never to another's.
*/
#include "linux/store/error.h"

static _Thread_local PSS_LINUX_PROGRESS_ROUTINE routine;
static _Thread_local void *context;

PSS_EXPORT DWORD PssLinuxSetProgressRoutine (PSS_LINUX_PROGRESS_ROUTINE Routine, void *Context) {
  routine = Routine;
  context = Context;
  return ERROR_SUCCESS;
}

void pss_progress (uint64_t done, uint64_t total) {
  if (routine != NULL) routine(context, done, total);
}
