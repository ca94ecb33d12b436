/*
** regs.h -- a thread's registers on an architecture without a port: room for
** them, but no thread contexts (ERROR_NOT_SUPPORTED).
*/
#ifndef PSS_LINUX_PTRACE_GENERIC_REGS_H
#define PSS_LINUX_PTRACE_GENERIC_REGS_H

#include <stddef.h>

struct pss_registers {
  _Alignas(16) unsigned char gp[27 * 8];   /* NT_PRSTATUS: user_regs_struct */
  unsigned char fp[512];                    /* NT_PRFPREG: the FXSAVE image */
  int have_fp;
  unsigned known;                           /* PSS_LINUX_REGISTER_*: what holds the thread's values */
  size_t xstate_len;
  _Alignas(64) unsigned char xstate[16384]; /* NT_X86_XSTATE: the XSAVE area */
};
/* Rax..R15, Rip, EFlags and the segment selectors */
#define PSS_LINUX_ALL_GENERAL_REGISTERS 0x0007FFFFu

#endif
