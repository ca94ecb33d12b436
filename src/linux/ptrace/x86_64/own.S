/*
** own.S -- pss_own_registers: the calling thread's registers as its caller
** holds them at the call -- what a call preserves (rbx, rbp, r12-r15), the
** argument registers, and rsp and rip as they are once the call returns.
** They are stored before any instruction of C can change one (a C function
** keeps its own values in those registers and its frame is gone when the
** stacks are copied); the caller's frame stays live for the whole capture,
** so the registers and a copy of the stack agree. Then the C part
** (regs.c, pss_own_registers_rest) adds the flags, the selectors, fs_base
** and the FXSAVE image, and returns to the caller.
*/
#include "linux/ptrace/x86_64/regs.h"

/* struct user_regs_struct (sys/user.h), at the start of pss_registers */
#define R15 0
#define R14 8
#define R13 16
#define R12 24
#define RBP 32
#define RBX 40
#define R9 64
#define R8 72
#define RCX 88
#define RDX 96
#define RSI 104
#define RDI 112
#define RIP 128
#define RSP 152

	.text
	.globl	pss_own_registers
	.hidden	pss_own_registers
	.type	pss_own_registers, @function
pss_own_registers:                      /* rdi: struct pss_registers * */
	.cfi_startproc
	mov	%r15, R15(%rdi)
	mov	%r14, R14(%rdi)
	mov	%r13, R13(%rdi)
	mov	%r12, R12(%rdi)
	mov	%rbp, RBP(%rdi)
	mov	%rbx, RBX(%rdi)
	mov	%r9, R9(%rdi)
	mov	%r8, R8(%rdi)
	mov	%rcx, RCX(%rdi)
	mov	%rdx, RDX(%rdi)
	mov	%rsi, RSI(%rdi)
	mov	%rdi, RDI(%rdi)
	mov	(%rsp), %rax                    /* the return address: the caller's rip */
	mov	%rax, RIP(%rdi)
	lea	8(%rsp), %rax                   /* the caller's rsp once it returns */
	mov	%rax, RSP(%rdi)
	jmp	pss_own_registers_rest          /* returns to our caller */
	.cfi_endproc
	.size	pss_own_registers, .-pss_own_registers

	.section .note.GNU-stack,"",@progbits
