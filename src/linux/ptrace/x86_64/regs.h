/*
** regs.h -- x86-64: a thread's registers as the kernel gives them, and the
** sizes the generic code takes from the machine (the injected stub's site,
** a core's page). Included by ptrace/arch.h, and by stub.S for the
** constants (the C parts are hidden from the assembler).
*/
#ifndef PSS_LINUX_PTRACE_X86_64_REGS_H
#define PSS_LINUX_PTRACE_X86_64_REGS_H

#define PSS_REGS_GP_SIZE (27 * 8)   /* NT_PRSTATUS: struct user_regs_struct */
#define PSS_REGS_FP_SIZE 512        /* NT_PRFPREG: the FXSAVE image */

/* The injected stub (stub.S, clone.c): the bytes of its site -- 269 of
** code, the signal mask at 272, the magic ptrace/inject.c writes in the
** last 8 -- and where the system call instruction of an entry ends (the
** instruction pointer a seccomp filter sees; the tracer starts the thread
** at an entry, on that instruction). */
#define PSS_STUB_SIZE 288
#define PSS_STUB_CALL_END 2

#define PSS_CORE_PAGE 4096u         /* the page a core's NT_FILE counts in */
/* The System V ABI's red zone: the bytes below rsp a leaf function may
** use without moving it; a stack copy starts there. */
#define PSS_STACK_RED_ZONE 128

/* AUDIT_ARCH_X86_64 (linux/audit.h): how a seccomp filter sees a native
** system call (asserted in regs.c). */
#define PSS_AUDIT_ARCH 0xC000003Eu

/* Captures this machine has no port for: none. */
#define PSS_ARCH_UNSUPPORTED_CAPTURES 0

#ifndef __ASSEMBLER__
#include <stddef.h>

struct pss_registers {
  _Alignas(16) unsigned char gp[PSS_REGS_GP_SIZE];   /* NT_PRSTATUS: user_regs_struct */
  unsigned char fp[PSS_REGS_FP_SIZE];                 /* NT_PRFPREG: the FXSAVE image */
  int have_fp;
  unsigned known;                           /* PSS_LINUX_REGISTER_*: what holds the thread's values */
  size_t xstate_len;
  _Alignas(64) unsigned char xstate[16384]; /* NT_X86_XSTATE: the XSAVE area */
};
/* Rax..R15, Rip, EFlags and the segment selectors */
#define PSS_LINUX_ALL_GENERAL_REGISTERS 0x0007FFFFu
#endif

#endif
