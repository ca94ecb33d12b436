/*
** arch.h -- what the rest of libpss needs of the machine. Each
** architecture is one folder under ptrace/ (x86_64/: regs.h, regs.c,
** clone.c, stub.S, core.c), built when the Makefile's PSS_ARCH names it;
** other machines build ptrace/generic/, where thread contexts, the VA
** clone and core files answer ERROR_NOT_SUPPORTED. A port is a new folder
** and its line below.
**
** ARCH/regs.h gives struct pss_registers and the sizes the generic code
** takes from the machine: PSS_REGS_GP_SIZE and PSS_REGS_FP_SIZE (the
** NT_PRSTATUS and NT_PRFPREG regsets), PSS_STUB_SIZE and PSS_STUB_CALL_END
** (the injected stub), PSS_CORE_PAGE, PSS_STACK_RED_ZONE,
** PSS_ARCH_UNSUPPORTED_CAPTURES.
**
** The functions here call nothing of libpss above the store (a failure
** detail at most): ptrace/, file/ and snapshot.c call them.
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

struct pss_buf;

/* {======================================================================
** Registers and the CONTEXT (ARCH/regs.c)
** ======================================================================= */
/* A stopped tracee's registers, with the floating point and the extended
** state if asked (the latter only where the kernel gives it); -errno. */
int pss_thread_registers(pid_t tid, struct pss_registers *r, int want_fp, int want_xstate);
/* The calling thread's registers, at the call, in the same layouts: as
** its caller holds them (rip the return address, rsp past it), so that they
** agree with that caller's frame for as long as it runs. */
void pss_own_registers(struct pss_registers *r);
/* The thread pointer (x86-64: fs_base): a thread's TebBaseAddress. */
uint64_t pss_registers_fs_base(const struct pss_registers *r);
/* The stack pointer (x86-64: rsp): where a thread's stack copy starts. */
uint64_t pss_registers_sp(const struct pss_registers *r);
/* The CONTEXT record of what flags (CONTEXT_*) asks for appended to pool,
** 16-aligned, with the XSAVE area after it for CONTEXT_XSTATE: its offset,
** or -ENOMEM. *size: the record's bytes; *held: the PSS_LINUX_REGISTER_*
** bits it holds the thread's own values of. tid: the thread, for
** registers read apart (debug registers). */
int64_t pss_context_append(struct pss_buf *pool, const struct pss_registers *r, pid_t tid,
                           DWORD flags, size_t *size, DWORD *held);
/* The cycle counter of the performance counters; 0 where there is none. */
uint64_t pss_cycles(void);

/* {======================================================================
** The VA clone (ARCH/clone.c, ARCH/stub.S)
** ======================================================================= */
/* fork() with a bare clone system call: the child closes every
** descriptor but keep (>= 3) and exits when keep's pipe ends. The child's
** pid, or -errno. */
long pss_fork_waiting_child(int keep);

/* A thread's general registers, as the injection saves, edits and puts
** them back (x86-64: PTRACE_GETREGS's user_regs_struct). */
struct pss_gpregs { _Alignas(16) unsigned char b[PSS_REGS_GP_SIZE]; };
int pss_gpregs_get(pid_t tid, struct pss_gpregs *r);           /* 0 or -errno */
int pss_gpregs_set(pid_t tid, const struct pss_gpregs *r);     /* 0 or -errno */
/* 0, or -EOPNOTSUPP with a detail: code the stub cannot run in (32-bit). */
int pss_gpregs_injectable(const struct pss_gpregs *r);
/* r stopped inside a system call, made ready to run anything else first:
** the restart the kernel would do, done in the registers. */
void pss_gpregs_restartable(struct pss_gpregs *out, const struct pss_gpregs *r);
/* r set to make system call nr with args[0..nargs) at the instruction ip
** (other argument registers unchanged). */
void pss_gpregs_set_call(struct pss_gpregs *r, uint64_t ip, long nr, const uint64_t *args,
                         int nargs);
long pss_gpregs_result(const struct pss_gpregs *r);    /* a system call's return value */
uint64_t pss_gpregs_ip(const struct pss_gpregs *r);
uint64_t pss_gpregs_sp(const struct pss_gpregs *r);
/* Where the first system call instruction in b[0..n) starts; n if none. */
size_t pss_syscall_insn(const unsigned char *b, size_t n);
/* The stub for a thread to go on with `resume` and signal mask `mask`
** after it, in out[0 .. PSS_STUB_SIZE - 8), zeros after its end; the last
** 8 bytes are the caller's. It begins with the system call instruction the
** thread is started on (pss_gpregs_set_call at the site, clone's
** arguments), which ends at PSS_STUB_CALL_END. */
void pss_stub_build(unsigned char out[PSS_STUB_SIZE], const struct pss_gpregs *resume,
                    uint64_t mask);
/* Where in the stub its second entry is: one system call of the tracer's
** (pss_gpregs_set_call there), then the same way back to `resume` with
** `mask`, so that a thread let go anywhere on it puts itself back. Its
** instruction ends at this + PSS_STUB_CALL_END. */
size_t pss_stub_call_entry(void);

/* {======================================================================
** Core files (ARCH/core.c)
** ======================================================================= */
/* The e_machine of this machine's cores; 0: it writes none. */
unsigned pss_core_machine(void);
/* A CONTEXT record as pss_context_append made it (at any alignment), with
** the thread's system call number (-1 if none) and TebBaseAddress, back in
** the kernel's layouts: gp as NT_PRSTATUS, fp as NT_PRFPREG. Returns
** whether fp was filled (the record has the floating point). */
int pss_core_regsets(const void *context, int64_t syscall_nr, uint64_t fs_base,
                     unsigned char gp[PSS_REGS_GP_SIZE], unsigned char fp[PSS_REGS_FP_SIZE]);
/* }====================================================================== */

#pragma GCC visibility pop

#endif
