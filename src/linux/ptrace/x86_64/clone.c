/*
** clone.c -- x86-64's part of the VA clone (ptrace/vaclone.c,
** ptrace/inject.c): the calling process's bare fork, the registers the
** injection saves, edits and puts back, and the stub (stub.S) with the
** values of one injection written in.
*/
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "linux/ptrace/arch.h"
#include "linux/store/error.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* {======================================================================
** The calling process
** ======================================================================= */

/*
** fork() without glibc: clone(exit_signal 0) from inline asm. The child
** closes every descriptor but `keep` (the read end of a pipe), then blocks
** reading it -- into read-only memory, so nothing of its image is written
** -- and exits when the pipe ends: when this process is gone or frees the
** snapshot. Exit signal 0: the caller's SIGCHLD handler and wait(-1)
** never see the child. keep is at least 3.
*/
long pss_fork_waiting_child (int keep) {
  register long r10 __asm__("r10") = 0;
  register long r8 __asm__("r8") = 0;
  register long r12 __asm__("r12") = keep;
  long rax = SYS_clone;
  __asm__ volatile (
    "syscall\n\t"
    "test %%rax, %%rax\n\t"
    "jnz 2f\n\t"
    "mov %[close_range], %%eax\n\t"       /* close_range(0, keep - 1, 0) */
    "xor %%edi, %%edi\n\t"
    "lea -1(%%r12), %%esi\n\t"
    "xor %%edx, %%edx\n\t"
    "syscall\n\t"
    "mov %[close_range], %%eax\n\t"       /* close_range(keep + 1, ~0U, 0) */
    "lea 1(%%r12), %%edi\n\t"
    "mov $-1, %%esi\n\t"
    "xor %%edx, %%edx\n\t"
    "syscall\n"
    "1:\n\t"
    "xor %%eax, %%eax\n\t"                /* read(keep, <code>, 1) */
    "mov %%r12d, %%edi\n\t"
    "lea 1b(%%rip), %%rsi\n\t"
    "mov $1, %%edx\n\t"
    "syscall\n\t"
    "mov %[exit_group], %%eax\n\t"
    "xor %%edi, %%edi\n\t"
    "syscall\n"
    "2:\n\t"
    : "+a"(rax)
    : "D"(0L), "S"(0L), "d"(0L), "r"(r10), "r"(r8), "r"(r12),
      [close_range] "i"(SYS_close_range), [exit_group] "i"(SYS_exit_group)
    : "rcx", "r11", "memory", "cc");
  return rax;
}
/* }====================================================================== */


/* {======================================================================
** The injection's registers: PTRACE_GETREGS's user_regs_struct, copied
** in and out of struct pss_gpregs (its bytes)
** ======================================================================= */
_Static_assert(sizeof(struct user_regs_struct) == sizeof ((struct pss_gpregs *)0)->b, "gpregs");

static struct user_regs_struct regs_of (const struct pss_gpregs *g) {
  struct user_regs_struct r;
  memcpy(&r, g->b, sizeof r);
  return r;
}

static void put_regs (struct pss_gpregs *g, const struct user_regs_struct *r) {
  memcpy(g->b, r, sizeof *r);
}

/* PTRACE_GETREGS, not GETREGSET: it gives the 64-bit layout whatever the
** thread runs, so a 32-bit thread shows as one (cs) and is refused. */
int pss_gpregs_get (pid_t tid, struct pss_gpregs *g) {
  struct user_regs_struct r;
  if (ptrace(PTRACE_GETREGS, tid, NULL, &r) < 0) return -errno;
  put_regs(g, &r);
  return 0;
}

int pss_gpregs_set (pid_t tid, const struct pss_gpregs *g) {
  struct user_regs_struct r = regs_of(g);
  return ptrace(PTRACE_SETREGS, tid, NULL, &r) < 0 ? -errno : 0;
}

int pss_gpregs_injectable (const struct pss_gpregs *g) {
  if (regs_of(g).cs != 0x33) {
    pss_fail_detail("the target runs 32-bit code, which the clone cannot be injected into");
    return -EOPNOTSUPP;
  }
  return 0;
}

/* The registers to resume a thread stopped inside a system call with:
** the kernel's restart work, done here (as CRIU does), since the stop's
** own restart is lost once the thread has run the stub. */
void pss_gpregs_restartable (struct pss_gpregs *out, const struct pss_gpregs *g) {
  struct user_regs_struct s = regs_of(g);
  if ((long)s.orig_rax >= 0) {
    switch ((long)s.rax) {
      case -512: case -513: case -514:          /* ERESTARTSYS, NOINTR, NOHAND */
        s.rax = s.orig_rax; s.rip -= 2; break;
      case -516:                                /* ERESTART_RESTARTBLOCK */
        s.rax = SYS_restart_syscall; s.rip -= 2; break;
      default: break;
    }
  }
  s.orig_rax = (unsigned long long)-1;
  put_regs(out, &s);
}

/* orig_rax -1: no system call to restart, whatever the thread was in. */
void pss_gpregs_set_call (struct pss_gpregs *g, uint64_t ip, long nr, const uint64_t *args,
                          int nargs) {
  struct user_regs_struct r = regs_of(g);
  unsigned long long *arg[6] = { &r.rdi, &r.rsi, &r.rdx, &r.r10, &r.r8, &r.r9 };
  int i;
  r.rip = ip;
  r.rax = (unsigned long long)nr;
  for (i = 0; i < nargs && i < 6; i++) *arg[i] = args[i];
  r.orig_rax = (unsigned long long)-1;
  put_regs(g, &r);
}

long pss_gpregs_result (const struct pss_gpregs *g) {
  return (long)regs_of(g).rax;
}

uint64_t pss_gpregs_ip (const struct pss_gpregs *g) {
  return regs_of(g).rip;
}

uint64_t pss_gpregs_sp (const struct pss_gpregs *g) {
  return regs_of(g).rsp;
}

/* `syscall` is 0f 05, at any byte. */
size_t pss_syscall_insn (const unsigned char *b, size_t n) {
  size_t i;
  for (i = 0; i + 1 < n; i++)
    if (b[i] == 0x0f && b[i + 1] == 0x05) return i;
  return n;
}
/* }====================================================================== */


/* {======================================================================
** The stub
** ======================================================================= */

/* stub.S: the code, and the 8-byte slots this file writes into a copy */
extern const unsigned char pss_stub_start[], pss_stub_end[], pss_stub_call[];
extern const unsigned char pss_stub_rdi[], pss_stub_rsi[], pss_stub_rdx[], pss_stub_r10[],
                           pss_stub_r8[], pss_stub_r9[], pss_stub_rcx[], pss_stub_rflags[],
                           pss_stub_r11[], pss_stub_rax[], pss_stub_rip[], pss_stub_mask[];

static void patch (unsigned char *out, const unsigned char *slot, uint64_t v) {
  memcpy(out + (slot - pss_stub_start), &v, 8);
}

/*
** The stub for a target thread whose registers after it must be `resume`
** and whose signal mask was `mask`: what the restore path puts back is
** written into its movabs immediates, where it jumps into its last slot.
*/
void pss_stub_build (unsigned char out[PSS_STUB_SIZE], const struct pss_gpregs *resume,
                     uint64_t mask) {
  struct user_regs_struct r = regs_of(resume);
  memset(out, 0, PSS_STUB_SIZE);
  memcpy(out, pss_stub_start, (size_t)(pss_stub_end - pss_stub_start));
  patch(out, pss_stub_rdi, r.rdi);
  patch(out, pss_stub_rsi, r.rsi);
  patch(out, pss_stub_rdx, r.rdx);
  patch(out, pss_stub_r10, r.r10);
  patch(out, pss_stub_r8, r.r8);
  patch(out, pss_stub_r9, r.r9);
  patch(out, pss_stub_rcx, r.rcx);
  patch(out, pss_stub_rflags, r.eflags & ~(uint64_t)0x100);   /* no TF: no trap after popfq */
  patch(out, pss_stub_r11, r.r11);
  patch(out, pss_stub_rax, r.rax);
  patch(out, pss_stub_rip, r.rip);
  patch(out, pss_stub_mask, mask);
}

/* The lone call's entry (stub.S: pss_stub_call), from the site's start. */
size_t pss_stub_call_entry (void) {
  return (size_t)(pss_stub_call - pss_stub_start);
}
/* }====================================================================== */
