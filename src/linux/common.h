/*
** common.h -- what every Linux file of libpss shares: the visibility of
** internal names and the conventions.
**
** Conventions: helpers return 0 or -errno; pss_win32_error() maps errno to a
** Win32 code once, at the API boundary. Out-parameters are written only on
** success; destructors accept NULL.
**
** Layers (docs/ARCHITECTURE.md; `make lint` checks them): a file includes
** and calls only files of its own layer or of one below it, with no cycle:
**     store/  <  proc/  <  ptrace/ (and ptrace/ARCH/)  <  file/  <  snapshot.c
*/
#ifndef PSS_LINUX_COMMON_H
#define PSS_LINUX_COMMON_H

#include "pss.h"

#define PSS_EXPORT __attribute__((visibility("default")))
#define PSS_MUST_CHECK __attribute__((warn_unused_result))

#endif
