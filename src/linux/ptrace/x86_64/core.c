/*
** core.c -- what an ELF core of x86-64 holds that file/core.c cannot know:
** the machine, the sizes gdb checks, and a captured CONTEXT back in the
** kernel's register layouts (for PssLinuxWriteCore, file/dump.c).
*/
#include <stdint.h>
#include <string.h>
#include <elf.h>
#include <sys/procfs.h>
#include <sys/user.h>

#include "linux/ptrace/arch.h"

/* What gdb and the kernel agree on for x86-64 (gdb checks these sizes). */
_Static_assert(sizeof(struct elf_prstatus) == 336, "x86-64 NT_PRSTATUS is 336 bytes");
_Static_assert(sizeof(struct elf_prpsinfo) == 136, "x86-64 NT_PRPSINFO is 136 bytes");
_Static_assert(sizeof(elf_gregset_t) == PSS_REGS_GP_SIZE, "gp is the whole pr_reg");
_Static_assert(sizeof(elf_fpregset_t) == PSS_REGS_FP_SIZE, "fp is the whole NT_FPREGSET");

unsigned pss_core_machine (void) {
  return EM_X86_64;
}

/* A captured CONTEXT back in the kernel's register layout; fs_base is the
** thread's TebBaseAddress. */
int pss_core_regsets (const void *context, int64_t syscall_nr, uint64_t fs_base,
                      unsigned char gp[PSS_REGS_GP_SIZE], unsigned char fp[PSS_REGS_FP_SIZE]) {
  struct user_regs_struct r;
  CONTEXT copy;
  const CONTEXT *c = &copy;
  int have_fp;
  memcpy(&copy, context, sizeof copy);     /* the pool keeps no alignment */
  have_fp = (c->ContextFlags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT;
  memset(&r, 0, sizeof r);
  r.r15 = c->R15; r.r14 = c->R14; r.r13 = c->R13; r.r12 = c->R12;
  r.rbp = c->Rbp; r.rbx = c->Rbx; r.r11 = c->R11; r.r10 = c->R10;
  r.r9 = c->R9; r.r8 = c->R8; r.rax = c->Rax; r.rcx = c->Rcx;
  r.rdx = c->Rdx; r.rsi = c->Rsi; r.rdi = c->Rdi;
  r.orig_rax = (unsigned long long)(long long)syscall_nr;
  r.rip = c->Rip; r.cs = c->SegCs; r.eflags = c->EFlags; r.rsp = c->Rsp; r.ss = c->SegSs;
  r.fs_base = fs_base;
  r.ds = c->SegDs; r.es = c->SegEs; r.fs = c->SegFs; r.gs = c->SegGs;
  memcpy(gp, &r, PSS_REGS_GP_SIZE);
  if (have_fp) memcpy(fp, &c->FltSave, PSS_REGS_FP_SIZE);
  return have_fp;
}
