/*
** regs.c -- x86-64 registers: a stopped thread's (ptrace regsets), the
** calling thread's own, and the Windows x64 CONTEXT made from them.
*/
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <elf.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <x86intrin.h>

#include "linux/ptrace/arch.h"
#include "linux/store/buf.h"

_Static_assert(PSS_AUDIT_ARCH == AUDIT_ARCH_X86_64, "the seccomp arch of a native call");

_Static_assert(sizeof(struct user_regs_struct) == PSS_REGS_GP_SIZE, "gp is a user_regs_struct");
_Static_assert(sizeof(struct user_fpregs_struct) == PSS_REGS_FP_SIZE, "fp is an FXSAVE image");

/* {======================================================================
** Reading them
** ======================================================================= */
int pss_thread_registers (pid_t tid, struct pss_registers *r, int want_fp, int want_xstate) {
  struct iovec iov = { &r->gp, sizeof r->gp };
  memset(r, 0, offsetof(struct pss_registers, xstate));
  r->xstate_len = 0;
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) return -errno;
  /* a stopped thread: every register is its own */
  r->known = PSS_LINUX_ALL_GENERAL_REGISTERS | PSS_LINUX_REGISTER_DEBUG;
  if (want_fp) {
    iov.iov_base = r->fp;
    iov.iov_len = sizeof r->fp;
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov) < 0) return -errno;
    r->have_fp = 1;
    r->known |= PSS_LINUX_REGISTER_FLOATING;
  }
  if (want_xstate) {
    iov.iov_base = r->xstate;
    iov.iov_len = sizeof r->xstate;
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0) {
      r->xstate_len = iov.iov_len;
      r->known |= PSS_LINUX_REGISTER_XSTATE;
    }
  }
  return 0;
}

/*
** The rest of pss_own_registers (own.S, which stored the caller's
** registers at the call into r->gp and jumped here): the flags, the
** selectors, fs_base and the FXSAVE image, in the layouts ptrace gives for
** the other threads. rax, r10 and r11 (scratch registers, meaningless at a
** call) are zero and not in r->known, never stack garbage.
*/
void pss_own_registers_rest (struct pss_registers *r);

void pss_own_registers_rest (struct pss_registers *r) {
  struct user_regs_struct at_call, g;
  unsigned long fs_base = 0, flags;
  unsigned short sel;
  _Alignas(16) unsigned char area[512];
  memcpy(&at_call, r->gp, sizeof at_call);
  memset(r, 0, offsetof(struct pss_registers, xstate));
  r->xstate_len = 0;
  __asm__ volatile ("pushfq; popq %0" : "=r" (flags));
  memset(&g, 0, sizeof g);
  g.r8 = at_call.r8;
  g.r9 = at_call.r9;
  g.r12 = at_call.r12;
  g.r13 = at_call.r13;
  g.r14 = at_call.r14;
  g.r15 = at_call.r15;
  g.rdi = at_call.rdi;
  g.rsi = at_call.rsi;
  g.rbp = at_call.rbp;
  g.rbx = at_call.rbx;
  g.rdx = at_call.rdx;
  g.rcx = at_call.rcx;
  g.rsp = at_call.rsp;
  g.rip = at_call.rip;
  g.eflags = flags;
  g.orig_rax = (unsigned long long)-1;
  __asm__ volatile ("mov %%cs, %0" : "=r" (sel)); g.cs = sel;
  __asm__ volatile ("mov %%ss, %0" : "=r" (sel)); g.ss = sel;
  __asm__ volatile ("mov %%ds, %0" : "=r" (sel)); g.ds = sel;
  __asm__ volatile ("mov %%es, %0" : "=r" (sel)); g.es = sel;
  __asm__ volatile ("mov %%fs, %0" : "=r" (sel)); g.fs = sel;
  __asm__ volatile ("mov %%gs, %0" : "=r" (sel)); g.gs = sel;
  if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base) == 0) g.fs_base = fs_base;
  memcpy(r->gp, &g, sizeof g);
  r->known = PSS_LINUX_ALL_GENERAL_REGISTERS &
             ~(PSS_LINUX_REGISTER_RAX | PSS_LINUX_REGISTER_R10 | PSS_LINUX_REGISTER_R11);
  /* FXSAVE takes the whole floating-point and SSE state, as ptrace gives it */
  __asm__ volatile ("fxsave64 %0" : "=m" (area));
  memcpy(r->fp, area, sizeof r->fp);
  r->have_fp = 1;
  r->known |= PSS_LINUX_REGISTER_FLOATING;
}

uint64_t pss_registers_fs_base (const struct pss_registers *r) {
  return ((const struct user_regs_struct *)(const void *)r->gp)->fs_base;
}

uint64_t pss_registers_sp (const struct pss_registers *r) {
  return ((const struct user_regs_struct *)(const void *)r->gp)->rsp;
}

/* The time-stamp counter. */
uint64_t pss_cycles (void) {
  return __rdtsc();
}
/* }====================================================================== */


/* {======================================================================
** The CONTEXT
** ======================================================================= */

/* Debug registers live in struct user, read one word at a time. */
static UINT64 debug_register (pid_t tid, int i) {
  long v;
  errno = 0;
  v = ptrace(PTRACE_PEEKUSER, tid,
             (void *)(offsetof(struct user, u_debugreg) + (size_t)i * sizeof(long)), NULL);
  return errno ? 0 : (UINT64)v;
}

/*
** The Windows x64 CONTEXT from Linux's registers, filling what `flags`
** asks for (CONTEXT_CONTROL, _INTEGER, _SEGMENTS, _FLOATING_POINT,
** _DEBUG_REGISTERS); ContextFlags says what was filled.
*/
static void fill_context (CONTEXT *c, const struct pss_registers *r, pid_t tid, DWORD flags) {
  const struct user_regs_struct *g = (const struct user_regs_struct *)(const void *)r->gp;
  memset(c, 0, sizeof *c);
  c->ContextFlags = CONTEXT_AMD64;
  if ((flags & CONTEXT_CONTROL) == CONTEXT_CONTROL) {
    c->SegCs = (WORD)g->cs; c->SegSs = (WORD)g->ss;
    c->Rsp = g->rsp; c->Rip = g->rip; c->EFlags = (DWORD)g->eflags;
    c->ContextFlags |= CONTEXT_CONTROL;
  }
  if ((flags & CONTEXT_INTEGER) == CONTEXT_INTEGER) {
    c->Rax = g->rax; c->Rcx = g->rcx; c->Rdx = g->rdx; c->Rbx = g->rbx;
    c->Rbp = g->rbp; c->Rsi = g->rsi; c->Rdi = g->rdi;
    c->R8 = g->r8; c->R9 = g->r9; c->R10 = g->r10; c->R11 = g->r11;
    c->R12 = g->r12; c->R13 = g->r13; c->R14 = g->r14; c->R15 = g->r15;
    c->ContextFlags |= CONTEXT_INTEGER;
  }
  if ((flags & CONTEXT_SEGMENTS) == CONTEXT_SEGMENTS) {
    c->SegDs = (WORD)g->ds; c->SegEs = (WORD)g->es; c->SegFs = (WORD)g->fs; c->SegGs = (WORD)g->gs;
    c->ContextFlags |= CONTEXT_SEGMENTS;
  }
  if ((flags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT && r->have_fp) {
    memcpy(&c->FltSave, r->fp, sizeof c->FltSave);
    c->MxCsr = c->FltSave.MxCsr;
    c->ContextFlags |= CONTEXT_FLOATING_POINT;
  }
  if ((flags & CONTEXT_DEBUG_REGISTERS) == CONTEXT_DEBUG_REGISTERS) {
    c->Dr0 = debug_register(tid, 0); c->Dr1 = debug_register(tid, 1);
    c->Dr2 = debug_register(tid, 2); c->Dr3 = debug_register(tid, 3);
    c->Dr6 = debug_register(tid, 6); c->Dr7 = debug_register(tid, 7);
    c->ContextFlags |= CONTEXT_DEBUG_REGISTERS;
  }
  if ((flags & CONTEXT_XSTATE) == CONTEXT_XSTATE && r->xstate_len > 0)
    c->ContextFlags |= CONTEXT_XSTATE;
}

/* The PSS_LINUX_REGISTER_* bits a CONTEXT's ContextFlags cover. */
static DWORD registers_in (DWORD flags) {
  DWORD m = 0;
  if ((flags & CONTEXT_CONTROL) == CONTEXT_CONTROL)
    m |= PSS_LINUX_REGISTER_RSP | PSS_LINUX_REGISTER_RIP | PSS_LINUX_REGISTER_EFLAGS |
         PSS_LINUX_REGISTER_SEGMENTS;
  if ((flags & CONTEXT_INTEGER) == CONTEXT_INTEGER) m |= 0xFFFFu & ~PSS_LINUX_REGISTER_RSP;
  if ((flags & CONTEXT_SEGMENTS) == CONTEXT_SEGMENTS) m |= PSS_LINUX_REGISTER_SEGMENTS;
  if ((flags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT) m |= PSS_LINUX_REGISTER_FLOATING;
  if ((flags & CONTEXT_DEBUG_REGISTERS) == CONTEXT_DEBUG_REGISTERS) m |= PSS_LINUX_REGISTER_DEBUG;
  if ((flags & CONTEXT_XSTATE) == CONTEXT_XSTATE) m |= PSS_LINUX_REGISTER_XSTATE;
  return m;
}

/* Thread contexts: a CONTEXT record in the table's pool (16-aligned),
** followed by the XSAVE area with CONTEXT_XSTATE. */
int64_t pss_context_append (struct pss_buf *pool, const struct pss_registers *r, pid_t tid,
                            DWORD flags, size_t *size, DWORD *held) {
  CONTEXT c;
  size_t xs = (flags & CONTEXT_XSTATE) == CONTEXT_XSTATE ? r->xstate_len : 0;
  int64_t off;
  fill_context(&c, r, tid, flags);
  *held = registers_in(c.ContextFlags) & r->known;
  if ((off = pss_buf_append(pool, &c, sizeof c, 16)) < 0 ||
      pss_buf_append(pool, r->xstate, xs, 1) < 0)
    return -ENOMEM;
  *size = sizeof c + xs;
  return off;
}
/* }====================================================================== */
