/*
** regs.h -- a machine without a port: room for a thread's registers, but
** no thread contexts, VA clone or core files (ERROR_NOT_SUPPORTED; the
** fallbacks are generic/regs.c, clone.c and core.c). The sizes only let
** the generic code build.
*/
#ifndef PSS_LINUX_PTRACE_GENERIC_REGS_H
#define PSS_LINUX_PTRACE_GENERIC_REGS_H

#include <stddef.h>

#define PSS_REGS_GP_SIZE (27 * 8)
#define PSS_REGS_FP_SIZE 512
#define PSS_STUB_SIZE 288
#define PSS_STUB_CALL_END 0
#define PSS_CORE_PAGE 4096u
#define PSS_STACK_RED_ZONE 0         /* no stacks are captured here */
#define PSS_AUDIT_ARCH 0u            /* unknown: a seccomp strict mode is UNKNOWN */

/* Captures this machine has no port for: the layouts and the injected
** code are x86-64's. */
#define PSS_ARCH_UNSUPPORTED_CAPTURES (PSS_CAPTURE_THREAD_CONTEXT |              \
                                       PSS_CAPTURE_THREAD_CONTEXT_EXTENDED |     \
                                       PSS_CAPTURE_VA_CLONE |                    \
                                       PSS_LINUX_CAPTURE_STACKS)

struct pss_registers {
  _Alignas(16) unsigned char gp[PSS_REGS_GP_SIZE];
  unsigned char fp[PSS_REGS_FP_SIZE];
  int have_fp;
  unsigned known;                           /* PSS_LINUX_REGISTER_*: what holds the thread's values */
  size_t xstate_len;                        /* always 0 */
  _Alignas(64) unsigned char xstate[64];
};

#endif
