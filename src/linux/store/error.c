/*
** error.c -- errno -> Win32 at the API boundary, the thread's last errno,
** and the failure detail in words (PssLinuxLastErrorDetail).
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "linux/store/error.h"

static _Thread_local int last_errno;
/* A detail is noted where a failure is found and published with the code
** at the API boundary; a call that fails without one publishes none. The
** text is copied, so that it may name what was found (a pid, a thread). */
static _Thread_local char pending_detail[PSS_DETAIL_MAX], last_detail[PSS_DETAIL_MAX];

void pss_fail_detail (const char *detail) {
  if (detail == NULL) pending_detail[0] = '\0';
  else snprintf(pending_detail, sizeof pending_detail, "%s", detail);
}

void pss_fail_detailf (const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(pending_detail, sizeof pending_detail, format, ap);
  va_end(ap);
}

/* Moves the pending detail into out (to hand it to another thread). */
void pss_take_detail (char *out, size_t size) {
  snprintf(out, size, "%s", pending_detail);
  pending_detail[0] = '\0';
}

static void publish_detail (void) {
  memcpy(last_detail, pending_detail, sizeof last_detail);
  pending_detail[0] = '\0';
}

DWORD pss_win32_error (int neg_errno) {
  int e = -neg_errno;
  if (e == 0) {
    pending_detail[0] = '\0';
    return ERROR_SUCCESS;
  }
  last_errno = e;
  publish_detail();
  switch (e) {
    case EACCES: case EPERM: return ERROR_ACCESS_DENIED;
    case ENOMEM: return ERROR_NOT_ENOUGH_MEMORY;
    case ESRCH: return ERROR_PROCESS_ABORTED;
    case EBADF: return ERROR_INVALID_HANDLE;
    case EBUSY: return ERROR_BUSY;
    case EINVAL: return ERROR_INVALID_PARAMETER;
    case EAGAIN: return ERROR_NO_PROC_SLOTS;   /* fork limits: pids.max, RLIMIT_NPROC */
    case ETIMEDOUT: return ERROR_TIMEOUT;      /* past the wait limit */
    case ENOSPC: case EDQUOT: return ERROR_DISK_FULL;
    case EFBIG: return ERROR_FILE_TOO_LARGE;
    case EPIPE: return ERROR_BROKEN_PIPE;
    case ENOSYS: case EOPNOTSUPP: return ERROR_NOT_SUPPORTED;
    default: return ERROR_GEN_FAILURE;
  }
}

DWORD pss_fail (DWORD code) {
  last_errno = 0;
  publish_detail();
  return code;
}

PSS_EXPORT DWORD PssLinuxSetLastError (DWORD Code, char const *Detail) {
  pss_fail_detail(Detail);
  return pss_fail(Code);
}

PSS_EXPORT const char *PssLinuxLastErrorDetail (void) {
  return last_detail[0] != '\0' ? last_detail : NULL;
}

PSS_EXPORT int PssLinuxLastErrno (void) {
  return last_errno;
}
