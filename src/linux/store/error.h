/*
** error.h -- errno -> Win32 once, at the API boundary, and the failure
** detail in words that goes with the code (PssLinuxLastErrorDetail).
*/
#ifndef PSS_LINUX_STORE_ERROR_H
#define PSS_LINUX_STORE_ERROR_H

#include <stddef.h>

#include "linux/common.h"

#pragma GCC visibility push(hidden)

/* Maps -errno (or 0) to a Win32 code and records errno for the thread. */
DWORD pss_win32_error(int neg_errno);
/* Records a Win32 failure that has no errno behind it. */
DWORD pss_fail(DWORD code);

/* Why the last failure of this thread happened, in words (copied; NULL
** clears); pss_take_detail moves it out, to hand it to another thread. */
#define PSS_DETAIL_MAX 256
void pss_fail_detail(const char *detail);
/* Tells the calling thread's progress routine (PssLinuxSetProgressRoutine)
** how many of total bytes a long write has done. */
void pss_progress(uint64_t done, uint64_t total);
void pss_fail_detailf(const char *format, ...) __attribute__((format(printf, 1, 2)));
void pss_take_detail(char *out, size_t size);

#pragma GCC visibility pop

#endif
