/*
** stub.S -- the code injected into another process to make its VA clone
** (ptrace/inject.c has the whole story). It is data here: never run in
** this process, copied by pss_stub_build (clone.c) into the padding at the
** end of an executable mapping of the target, with the values marked
** `patched` written in. A thread of the target, stopped by the capture,
** is pointed at its first byte with clone()'s arguments in its registers.
**
**   target T --clone(CLONE_VM|CLONE_FILES)--> C1 --clone(CLONE_FILES)--> C2
**
** T's path: make C1 (the tracer set up the call), wait for C1 to end,
** put back its own signal mask and registers, and jump to where it was.
** A second entry, pss_stub_call, runs one system call of the tracer's
** instead and takes the same way back.
** C1's path: make C2 (a copy of T's memory: the clone), exit. C2's path:
** drop every descriptor, exit; the tracer holds C2 from its first
** instruction and, once it has dropped them, parks it instead.
**
** If the capturer dies at any instruction, T still ends back where it was:
** every path of T goes through `restore`, and C1 and C2 only exit. So the
** stub calls nothing, writes nothing of T's (its one push is 256 bytes
** below T's stack pointer, past the red zone), and takes every value it
** restores from its own bytes.
**
** Encodings are fixed: every patched value is a movabs (any 64-bit value
** fits) and the jump to `child` has a 32-bit displacement, so the bytes
** are the same instructions the stub had when C emitted it (see them with
** `objdump -D -j .rodata`). System call numbers are x86-64's.
*/
#include <asm/unistd.h>

#include "linux/ptrace/x86_64/regs.h"

#define CLONE_FILES 0x00000400          /* <linux/sched.h> */
#define WALL 0x40000000                 /* __WALL: C1 is a clone, not a child with SIGCHLD */
#define SIG_SETMASK 2
#define CLOSE_RANGE_UNSHARE 2           /* <linux/close_range.h> */
#define EINTR 4

/* A hidden global label, for the C code to find the stub and its slots. */
.macro export name
	.globl	\name
	.hidden	\name
.endm

/* movabs $<patched>, reg; `name` marks the 8 bytes of the immediate. */
.macro patched reg, name
	movabsq	$0, \reg
	export	\name
	.set	\name, . - 8
.endm

	.section .rodata
	.balign	8
	export	pss_stub_start
	.type	pss_stub_start, @object
pss_stub_start:
.Lstart:
	/* The tracer starts T here with clone(CLONE_VM|CLONE_FILES) in its
	** registers: C1 shares T's memory, so it costs about a thread. Exit
	** signal 0: T hears nothing of C1 (no SIGCHLD). */
	syscall
	test	%rax, %rax
	{disp32} je .Lchild               /* rax 0: we are C1 */
	jl	.Lrestore                 /* clone failed: T goes back at once */
	mov	%rax, %rdi                /* C1's pid */

	/* wait4(C1, NULL, __WALL, NULL): T reaps C1 once it exited (or was
	** killed by the tracer), so T is left no zombie; again if a signal (a
	** ptrace stop) interrupted the wait. */
.Lwait:
	mov	$__NR_wait4, %eax
	xor	%esi, %esi
	mov	$WALL, %edx
	xor	%r10, %r10
	syscall
	cmp	$-EINTR, %rax
	je	.Lwait

	/* T's way out, from every point it may be left at. First its signal
	** mask: T runs the stub with every signal blocked (PTRACE_SETSIGMASK),
	** so no handler ever runs on the stub; signals sent meanwhile stay
	** pending and are delivered after, on T's own context. */
.Lrestore:
	mov	$__NR_rt_sigprocmask, %eax
	mov	$SIG_SETMASK, %edi
	lea	.Lmask(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall

	/* Then every register the system calls clobbered (their values as
	** found, as restartable: see pss_gpregs_restartable), rcx and r11
	** included, which `syscall` itself overwrites. */
	patched	%rdi, pss_stub_rdi
	patched	%rsi, pss_stub_rsi
	patched	%rdx, pss_stub_rdx
	patched	%r10, pss_stub_r10
	patched	%r8, pss_stub_r8
	patched	%r9, pss_stub_r9
	patched	%rcx, pss_stub_rcx
	/* rflags (without TF), through r11 and the stack: popfq is the one way
	** to set them. 256 bytes below rsp, past the 128-byte red zone, where
	** nothing of T's lives. */
	patched	%r11, pss_stub_rflags
	lea	-256(%rsp), %rsp
	push	%r11
	popfq
	lea	256(%rsp), %rsp
	patched	%r11, pss_stub_r11
	patched	%rax, pss_stub_rax
	/* and back to where T was: an indirect jump through the next 8 bytes,
	** which clobbers no register */
	jmp	*.Lrip(%rip)
.Lrip:
	.quad	0                         /* patched: T's rip */
	export	pss_stub_rip
	.set	pss_stub_rip, .Lrip

	/* C1: clone(CLONE_FILES), a fork of T's memory -- the clone, C2, and
	** the one real cost of the pause. Exit signal 0: when C1 is gone, C2
	** is handed to the nearest subreaper or init, never to T. If the
	** clone fails, C1 exits with its errno, which the tracer reads as
	** C1's exit code; if it works, the tracer kills C1 at its clone event
	** (untraced, C1 exits with a code nobody reads). */
.Lchild:
	mov	$__NR_clone, %eax
	mov	$CLONE_FILES, %edi
	xor	%esi, %esi
	xor	%edx, %edx
	xor	%r10, %r10
	xor	%r8, %r8
	syscall
	test	%rax, %rax
	jnz	.Lc1_exit
	/* C2: close_range(0, ~0U, CLOSE_RANGE_UNSHARE) -- it shares C1's
	** table (CLONE_FILES), so it unshares it and closes its own copy: the
	** clone holds no socket open, no pipe from EOF, no lock held. The
	** tracer stops it at this call's exit and parks it on exit_group;
	** untraced, it just exits. */
	mov	$__NR_close_range, %eax
	xor	%edi, %edi
	mov	$-1, %esi
	mov	$CLOSE_RANGE_UNSHARE, %edx
	syscall
	xor	%edi, %edi
	jmp	.Lexit
.Lc1_exit:
	mov	%eax, %edi
	neg	%edi                      /* -rax: the errno of a failed clone */
.Lexit:
	mov	$__NR_exit_group, %eax
	syscall
	ud2                               /* exit_group does not return */

	/* The lone call's entry (pss_inject_syscall): the tracer starts a
	** thread here with any one system call in its registers, and this
	** stub's restore path after it. Stopped at the call's exit, the
	** thread is put back by the tracer; let go anywhere before (the
	** tracer past its deadline, or dead), it puts itself back. Its ip
	** after the call is this entry + PSS_STUB_CALL_END. */
	export	pss_stub_call
pss_stub_call:
	syscall
	jmp	.Lrestore

	/* T's signal mask as found (patched), 8-aligned after the code */
	.balign	8
.Lmask:
	.quad	0
	export	pss_stub_mask
	.set	pss_stub_mask, .Lmask
	/* zeros up to the site's last 8 bytes (the magic, written by
	** inject.c); .org fails to assemble if the stub outgrew its site */
	.org	.Lstart + PSS_STUB_SIZE - 8
	export	pss_stub_end
pss_stub_end:
	.size	pss_stub_start, pss_stub_end - pss_stub_start

	.section .note.GNU-stack,"",@progbits
