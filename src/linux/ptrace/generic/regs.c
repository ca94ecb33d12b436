/*
** regs.c -- a machine without a port: no thread's registers can be read
** (a capture with thread contexts is refused before it starts, so only a
** frozen thread's TebBaseAddress ever asks, and is told -EOPNOTSUPP).
*/
#include <errno.h>
#include <string.h>

#include "linux/ptrace/arch.h"

int pss_thread_registers (pid_t tid, struct pss_registers *r, int want_fp, int want_xstate) {
  (void)tid; (void)r; (void)want_fp; (void)want_xstate;
  return -EOPNOTSUPP;
}

void pss_own_registers (struct pss_registers *r) {
  memset(r, 0, sizeof *r);
}

uint64_t pss_registers_fs_base (const struct pss_registers *r) {
  (void)r;
  return 0;
}

uint64_t pss_registers_sp (const struct pss_registers *r) {
  (void)r;
  return 0;
}

int64_t pss_context_append (struct pss_buf *pool, const struct pss_registers *r, pid_t tid,
                            DWORD flags, size_t *size, DWORD *held) {
  (void)pool; (void)r; (void)tid; (void)flags; (void)size; (void)held;
  return -EOPNOTSUPP;
}

uint64_t pss_cycles (void) {
  return 0;
}
