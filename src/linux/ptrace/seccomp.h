/*
** seccomp.h -- would a thread's seccomp state let pss run a system call in
** it? Asked before a system call is injected into a stopped thread: a
** filter could make the call fail, hand it to someone else's supervisor,
** or kill the whole target (SECCOMP_RET_KILL_PROCESS).
**
** Under -Isrc the name <linux/seccomp.h> finds this file, not the kernel's
** header, so the kernel values needed here are spelled below with a PSS_
** prefix (they are ABI: seccomp(2), <linux/seccomp.h>).
*/
#ifndef PSS_LINUX_SECCOMP_H
#define PSS_LINUX_SECCOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/audit.h>
#include <linux/filter.h>

#include "linux/ptrace/arch.h"

/* Internal: hidden from the shared objects that link libpss. */
#pragma GCC visibility push(hidden)

/* The verdict of a thread's seccomp state for one system call. */
enum pss_seccomp_verdict {
  PSS_SECCOMP_ALLOWED = 0,  /* mode 0, or every filter returns ALLOW (or LOG) */
  PSS_SECCOMP_DENIED,       /* a filter returns ERRNO, TRAP, TRACE, USER_NOTIF, KILL_*
                               (or an action the kernel does not know, which kills);
                               or mode 1 (strict) and nr is not read/write/exit/rt_sigreturn */
  PSS_SECCOMP_UNKNOWN       /* filters exist but cannot be read (no CAP_SYS_ADMIN, pss itself
                               under seccomp, no CONFIG_CHECKPOINT_RESTORE, ...) or do
                               something the evaluator does not model */
};

/*
** One system call as the kernel's filters see it (struct seccomp_data).
** ip is what the kernel reports there: the address just AFTER the system
** call instruction (x86-64: the `syscall` site + 2; aarch64: `svc` + 4).
*/
struct pss_seccomp_call {
  int nr;
  uint32_t arch;            /* AUDIT_ARCH_*: PSS_SECCOMP_ARCH_NATIVE for a native call */
  uint64_t ip;
  uint64_t args[6];
};

/*
** Evaluates tid's seccomp state for each of the n calls. tid must be a
** thread the caller has seized (PTRACE_SEIZE) and that is in a ptrace stop,
** except that a thread without seccomp (mode 0) is ALLOWED without ptrace.
** The verdict is the worst over the calls, where a certain DENIED is worse
** than UNKNOWN (a denial from one filter is certain whatever another
** unreadable one would say). Returns the verdict, or -ESRCH when the thread
** is gone or is not our stopped tracee, -ENOMEM, -EINVAL for calls == NULL
** with n > 0. *detail, if not NULL, receives a short static reason ("a
** filter returns KILL_PROCESS for clone").
**
** The answer holds while the thread stays stopped, unless another thread of
** its process installs a filter with SECCOMP_FILTER_FLAG_TSYNC meanwhile:
** stop every thread of the process to rule that out.
*/
int pss_seccomp_check(pid_t tid, const struct pss_seccomp_call *calls, size_t n,
                      const char **detail);


/* {======================================================================
** The kernel's side (seccomp(2)), for the evaluator and its tests
** ======================================================================= */
/* the machine's AUDIT_ARCH_* (ptrace/ARCH/regs.h; 0 where unknown: a
** strict mode is then UNKNOWN) */
#define PSS_SECCOMP_ARCH_NATIVE PSS_AUDIT_ARCH

/* Seccomp: in /proc/PID/status, and the modes of prctl(PR_SET_SECCOMP) */
#define PSS_SECCOMP_MODE_DISABLED 0
#define PSS_SECCOMP_MODE_STRICT 1
#define PSS_SECCOMP_MODE_FILTER 2

/* Filter results: an action in the high 16 bits, data in the low 16. The
** kernel takes the action of lowest value as a signed number, so the list
** is in order of precedence. */
#define PSS_SECCOMP_RET_KILL_PROCESS 0x80000000u
#define PSS_SECCOMP_RET_KILL_THREAD  0x00000000u
#define PSS_SECCOMP_RET_TRAP         0x00030000u
#define PSS_SECCOMP_RET_ERRNO        0x00050000u
#define PSS_SECCOMP_RET_USER_NOTIF   0x7fc00000u
#define PSS_SECCOMP_RET_TRACE        0x7ff00000u
#define PSS_SECCOMP_RET_LOG          0x7ffc0000u
#define PSS_SECCOMP_RET_ALLOW        0x7fff0000u
#define PSS_SECCOMP_RET_ACTION_FULL  0xffff0000u
#define PSS_SECCOMP_RET_DATA         0x0000ffffu

/* struct seccomp_data, what BPF_LD|BPF_W|BPF_ABS reads (native byte order) */
struct pss_seccomp_data {
  int nr;
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t args[6];
};

/*
** Runs one classic BPF filter (as PTRACE_SECCOMP_GET_FILTER returns it) on
** d as the kernel would: 0 and the filter's 32-bit result in *result; or
** -EINVAL (*why says what) for a program the kernel would have refused or
** whose outcome the evaluator does not model.
*/
int pss_seccomp_run(const struct sock_filter *prog, size_t len,
                    const struct pss_seccomp_data *d, uint32_t *result, const char **why);
/* }====================================================================== */

#pragma GCC visibility pop

#endif
