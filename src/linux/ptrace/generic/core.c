/*
** core.c -- a machine without a port writes no core files
** (PssLinuxWriteCore answers ERROR_NOT_SUPPORTED).
*/
#include <string.h>

#include "linux/ptrace/arch.h"

unsigned pss_core_machine (void) {
  return 0;
}

int pss_core_regsets (const void *context, int64_t syscall_nr, uint64_t fs_base,
                      unsigned char gp[PSS_REGS_GP_SIZE], unsigned char fp[PSS_REGS_FP_SIZE]) {
  (void)context; (void)syscall_nr; (void)fs_base; (void)fp;
  memset(gp, 0, PSS_REGS_GP_SIZE);
  return 0;
}
