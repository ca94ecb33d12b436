/*
** handoff.h -- a snapshot put into, taken out of, or freed in another
** process: PssDuplicateSnapshot and PssFreeSnapshot across processes
** (handoff.c says how; store.h what the handle value in that process is).
*/
#ifndef PSS_LINUX_FILE_HANDOFF_H
#define PSS_LINUX_FILE_HANDOFF_H

#include <stdint.h>

#include "linux/proc/proc.h"
#include "linux/store/store.h"

#pragma GCC visibility push(hidden)

/*
** Each takes the other process as a target opened by the caller (its
** /proc directory checked to be the process handle's), returns 0 or
** -errno with a detail: -EPERM where we may not trace it, -EBUSY where
** another tracer holds it, -ESRCH once it is gone, -EBADF for a value
** that names no snapshot there, -EOPNOTSUPP for a snapshot that lives in
** its memory (one it captured itself).
*/
/* A copy of s in t: *value is its HPSS there. */
int pss_handoff_put(struct pss_target *t, const struct pss_store *s, uintptr_t *value)
  PSS_MUST_CHECK;
/* The snapshot that t's handle h holds, loaded here into *out. */
int pss_handoff_fetch(struct pss_target *t, uintptr_t h, struct pss_store **out) PSS_MUST_CHECK;
/* t's handle h freed in t: its descriptor closed, nothing else of t touched. */
int pss_handoff_drop(struct pss_target *t, uintptr_t h) PSS_MUST_CHECK;

#pragma GCC visibility pop

#endif
