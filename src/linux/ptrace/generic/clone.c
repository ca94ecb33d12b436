/*
** clone.c -- a machine without a port: no VA clone (a capture asking for
** one is refused before it starts; these answer -EOPNOTSUPP all the same).
*/
#include <errno.h>
#include <string.h>

#include "linux/ptrace/arch.h"

long pss_fork_waiting_child (int keep) {
  (void)keep;
  return -EOPNOTSUPP;
}

int pss_gpregs_get (pid_t tid, struct pss_gpregs *r) {
  (void)tid; (void)r;
  return -EOPNOTSUPP;
}

int pss_gpregs_set (pid_t tid, const struct pss_gpregs *r) {
  (void)tid; (void)r;
  return -EOPNOTSUPP;
}

int pss_gpregs_injectable (const struct pss_gpregs *r) {
  (void)r;
  return -EOPNOTSUPP;
}

void pss_gpregs_restartable (struct pss_gpregs *out, const struct pss_gpregs *r) {
  *out = *r;
}

void pss_gpregs_set_call (struct pss_gpregs *r, uint64_t ip, long nr, const uint64_t *args,
                          int nargs) {
  (void)r; (void)ip; (void)nr; (void)args; (void)nargs;
}

long pss_gpregs_result (const struct pss_gpregs *r) {
  (void)r;
  return -EOPNOTSUPP;
}

uint64_t pss_gpregs_ip (const struct pss_gpregs *r) {
  (void)r;
  return 0;
}

uint64_t pss_gpregs_sp (const struct pss_gpregs *r) {
  (void)r;
  return 0;
}

size_t pss_syscall_insn (const unsigned char *b, size_t n) {
  (void)b;
  return n;
}

void pss_stub_build (unsigned char out[PSS_STUB_SIZE], const struct pss_gpregs *resume,
                     uint64_t mask) {
  (void)resume; (void)mask;
  memset(out, 0, PSS_STUB_SIZE);
}

size_t pss_stub_call_entry (void) {
  return 0;
}
