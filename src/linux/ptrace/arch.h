/*
** arch.h -- what the ptrace layer needs of the machine: a thread's
** registers as the kernel gives them and their Windows CONTEXT. Each
** architecture is one folder (ptrace/x86_64/); others build against
** ptrace/generic/, where thread contexts answer ERROR_NOT_SUPPORTED.
*/
#ifndef PSS_LINUX_PTRACE_ARCH_H
#define PSS_LINUX_PTRACE_ARCH_H

#include <stdint.h>
#include <sys/types.h>

#include "linux/common.h"

#if defined(__x86_64__)
#include "linux/ptrace/x86_64/regs.h"
#else
#include "linux/ptrace/generic/regs.h"
#endif

#pragma GCC visibility push(hidden)

int pss_thread_registers(pid_t tid, struct pss_registers *r, int want_fp, int want_xstate);
uint64_t pss_registers_fs_base(const struct pss_registers *r);
#if defined(__x86_64__)
void pss_fill_context(CONTEXT *c, const struct pss_registers *r, pid_t tid, DWORD flags);
#endif

#pragma GCC visibility pop

#endif
