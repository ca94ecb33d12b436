/*
** seccomp.c -- would a stopped thread's seccomp state allow a system call?
**
** The mode comes from /proc/TID/status ("Seccomp:"). Strict mode (1)
** allows read, write, exit and rt_sigreturn only. Filter mode (2) runs
** every filter of the thread's chain, each read with
** PTRACE_SECCOMP_GET_FILTER, through a strict classic BPF evaluator, and
** takes the action the kernel would take: the one of highest precedence.
**
** Whatever is not an unambiguous ALLOW is a refusal: DENIED when the
** kernel's answer is certain not to be ALLOW, UNKNOWN when it cannot be
** known (the filters cannot be read, or use something the evaluator does
** not model).
**
** The evaluator accepts exactly what the kernel's seccomp_check_filter
** and bpf_check_classic accept; its choices where they matter:
** - A and X start at 0, as in the kernel's converted program;
** - A / X with X == 0 ends the program with result 0 (the kernel's
**   converted classic BPF does that: "for cBPF programs, this was always
**   return 0"), and 0 is SECCOMP_RET_KILL_THREAD: DENIED;
** - a shift by X of 32 or more is UNKNOWN (C leaves it undefined, and the
**   kernel's interpreter and JITs need not agree on it);
** - reading scratch memory before writing it is UNKNOWN (the kernel
**   refuses such a program), as are out-of-range jumps and memory words,
**   loads outside struct seccomp_data or unaligned, division by a zero
**   constant, shifts by a constant of 32 or more, and falling off the end.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"
#include "linux/ptrace/seccomp.h"

_Static_assert(sizeof(struct pss_seccomp_data) == 64, "struct seccomp_data is 64 bytes");
_Static_assert(offsetof(struct pss_seccomp_data, args) == 16, "args follow ip");

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

/* {======================================================================
** Reasons: static strings, one per (what happened, which call)
** ======================================================================= */

/* What a denial was; the order of the DENIALS strings */
enum { ACT_KILL_PROCESS, ACT_KILL_THREAD, ACT_TRAP, ACT_ERRNO, ACT_USER_NOTIF, ACT_TRACE,
       ACT_UNKNOWN_ACTION, ACT_STRICT, ACT_COUNT };

/* The calls pss injects get their names; any other is "the system call" */
enum { CALL_CLONE, CALL_CLONE3, CALL_WAIT4, CALL_CLOSE_RANGE, CALL_EXIT_GROUP, CALL_OTHER,
       CALL_COUNT };

#define DENIALS(call) {                                                       \
    "a filter returns KILL_PROCESS for " call,                                \
    "a filter returns KILL_THREAD for " call,                                 \
    "a filter returns TRAP for " call,                                        \
    "a filter returns ERRNO for " call,                                       \
    "a filter returns USER_NOTIF for " call,                                  \
    "a filter returns TRACE for " call,                                       \
    "a filter returns an action the kernel does not know (it kills) for " call, \
    "strict seccomp (mode 1) denies " call }

static const char *const denials[CALL_COUNT][ACT_COUNT] = {
  DENIALS("clone"), DENIALS("clone3"), DENIALS("wait4"), DENIALS("close_range"),
  DENIALS("exit_group"), DENIALS("the system call"),
};

static int call_name (const struct pss_seccomp_call *c) {
  if (PSS_SECCOMP_ARCH_NATIVE == 0 || c->arch != PSS_SECCOMP_ARCH_NATIVE) return CALL_OTHER;
  switch (c->nr) {
    case SYS_clone: return CALL_CLONE;
#ifdef SYS_clone3
    case SYS_clone3: return CALL_CLONE3;
#endif
    case SYS_wait4: return CALL_WAIT4;
#ifdef SYS_close_range
    case SYS_close_range: return CALL_CLOSE_RANGE;
#endif
    case SYS_exit_group: return CALL_EXIT_GROUP;
    default: return CALL_OTHER;
  }
}

static int action_kind (uint32_t action) {
  switch (action & PSS_SECCOMP_RET_ACTION_FULL) {
    case PSS_SECCOMP_RET_KILL_PROCESS: return ACT_KILL_PROCESS;
    case PSS_SECCOMP_RET_KILL_THREAD: return ACT_KILL_THREAD;
    case PSS_SECCOMP_RET_TRAP: return ACT_TRAP;
    case PSS_SECCOMP_RET_ERRNO: return ACT_ERRNO;
    case PSS_SECCOMP_RET_USER_NOTIF: return ACT_USER_NOTIF;
    case PSS_SECCOMP_RET_TRACE: return ACT_TRACE;
    default: return ACT_UNKNOWN_ACTION;
  }
}
/* }====================================================================== */


/* {======================================================================
** The classic BPF evaluator
** ======================================================================= */

struct bpf_machine {
  uint32_t a, x;
  uint32_t mem[BPF_MEMWORDS];
  unsigned written;           /* bit i: mem[i] was stored on this path */
};

/* A op B for the ALU operations seccomp accepts; -EINVAL if not one of
** them or not modelled, 1 when the program ends with 0 (A / 0). */
static int alu (uint16_t op, uint32_t *a, uint32_t b, int b_is_k, const char **why) {
  switch (op) {
    case BPF_ADD: *a += b; return 0;
    case BPF_SUB: *a -= b; return 0;
    case BPF_MUL: *a *= b; return 0;
    case BPF_OR: *a |= b; return 0;
    case BPF_AND: *a &= b; return 0;
    case BPF_XOR: *a ^= b; return 0;
    case BPF_DIV:
      if (b != 0) { *a /= b; return 0; }
      if (!b_is_k) return 1;
      *why = "a filter divides by the constant 0 (the kernel refuses that)";
      return -EINVAL;
    case BPF_LSH: case BPF_RSH:
      if (b >= 32) {
        *why = "a filter shifts by 32 or more";
        return -EINVAL;
      }
      *a = op == BPF_LSH ? *a << b : *a >> b;
      return 0;
    default:
      *why = "a filter uses an ALU operation seccomp does not accept";
      return -EINVAL;
  }
}

static int jump_taken (uint16_t op, uint32_t a, uint32_t b) {
  switch (op) {
    case BPF_JEQ: return a == b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    default: return (a & b) != 0;         /* BPF_JSET */
  }
}

/* Loads and stores: 0, or -EINVAL outside seccomp_data or scratch memory. */
static int load_store (struct bpf_machine *m, const struct sock_filter *f,
                       const struct pss_seccomp_data *d, const char **why) {
  uint32_t k = f->k;
  if (f->code == (BPF_LD | BPF_W | BPF_ABS)) {
    if (k >= sizeof *d || (k & 3) != 0) {
      *why = "a filter loads outside struct seccomp_data or unaligned";
      return -EINVAL;
    }
    memcpy(&m->a, (const char *)d + k, sizeof m->a);   /* as the kernel: from memory */
    return 0;
  }
  if (k >= BPF_MEMWORDS) {
    *why = "a filter indexes scratch memory out of range";
    return -EINVAL;
  }
  switch (f->code) {
    case BPF_ST: m->mem[k] = m->a; break;
    case BPF_STX: m->mem[k] = m->x; break;
    default:                              /* BPF_LD|BPF_MEM, BPF_LDX|BPF_MEM */
      if (!(m->written >> k & 1u)) {
        *why = "a filter reads scratch memory it has not written";
        return -EINVAL;
      }
      if (f->code == (BPF_LD | BPF_MEM)) m->a = m->mem[k];
      else m->x = m->mem[k];
      return 0;
  }
  m->written |= 1u << k;
  return 0;
}

/* Moves pc forward by off; -EINVAL past the end. */
static int jump (size_t *pc, size_t len, uint32_t off, const char **why) {
  if (off >= len - *pc) {
    *why = "a filter jumps out of range";
    return -EINVAL;
  }
  *pc += off;
  return 0;
}

/*
** One instruction (pc already past it): 0 to go on, 1 when the program
** returned (*result set), -EINVAL for anything seccomp does not accept.
*/
static int step (struct bpf_machine *m, const struct sock_filter *f, size_t *pc, size_t len,
                 const struct pss_seccomp_data *d, uint32_t *result, const char **why) {
  uint16_t code = f->code;
  int r;
  switch (code) {
    case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_MEM: case BPF_LDX | BPF_MEM:
    case BPF_ST: case BPF_STX:
      return load_store(m, f, d, why);
    case BPF_LD | BPF_W | BPF_LEN: m->a = sizeof *d; return 0;
    case BPF_LDX | BPF_W | BPF_LEN: m->x = sizeof *d; return 0;
    case BPF_LD | BPF_IMM: m->a = f->k; return 0;
    case BPF_LDX | BPF_IMM: m->x = f->k; return 0;
    case BPF_MISC | BPF_TAX: m->x = m->a; return 0;
    case BPF_MISC | BPF_TXA: m->a = m->x; return 0;
    case BPF_ALU | BPF_NEG: m->a = 0u - m->a; return 0;
    case BPF_JMP | BPF_JA: return jump(pc, len, f->k, why);
    case BPF_RET | BPF_K: *result = f->k; return 1;
    case BPF_RET | BPF_A: *result = m->a; return 1;
  }
  if (BPF_CLASS(code) == BPF_ALU && (code & ~(BPF_OP(code) | BPF_SRC(code))) == BPF_ALU) {
    r = alu((uint16_t)BPF_OP(code), &m->a, BPF_SRC(code) == BPF_X ? m->x : f->k,
            BPF_SRC(code) == BPF_K, why);
    if (r == 1) *result = 0;              /* A / 0: the program returns 0 */
    return r;
  }
  if (BPF_CLASS(code) == BPF_JMP && (code & ~(BPF_OP(code) | BPF_SRC(code))) == BPF_JMP &&
      (BPF_OP(code) == BPF_JEQ || BPF_OP(code) == BPF_JGT || BPF_OP(code) == BPF_JGE ||
       BPF_OP(code) == BPF_JSET)) {
    int taken = jump_taken((uint16_t)BPF_OP(code), m->a, BPF_SRC(code) == BPF_X ? m->x : f->k);
    return jump(pc, len, taken ? f->jt : f->jf, why);
  }
  *why = "a filter uses an instruction seccomp does not accept";
  return -EINVAL;
}

int pss_seccomp_run (const struct sock_filter *prog, size_t len,
                     const struct pss_seccomp_data *d, uint32_t *result, const char **why) {
  struct bpf_machine m;
  size_t pc = 0;
  if (len == 0 || len > BPF_MAXINSNS) {
    *why = "a filter is empty or longer than BPF_MAXINSNS";
    return -EINVAL;
  }
  memset(&m, 0, sizeof m);
  /* jumps only go forward, so this ends within len steps */
  while (pc < len) {
    const struct sock_filter *f = &prog[pc++];
    int r = step(&m, f, &pc, len, d, result, why);
    if (r != 0) return r < 0 ? r : 0;
  }
  *why = "a filter runs past its last instruction";
  return -EINVAL;
}
/* }====================================================================== */


/* {======================================================================
** The verdict: findings combined over calls and filters
** ======================================================================= */

struct judgement {
  int verdict;                /* PSS_SECCOMP_* so far */
  uint32_t action;            /* when DENIED: the action of highest precedence found */
  const char *why;
};

/* Whether action a takes precedence over b: the kernel compares the
** actions as signed numbers, lowest first; flipping the sign bit makes
** that an unsigned comparison. */
static int precedes (uint32_t a, uint32_t b) {
  return ((a & PSS_SECCOMP_RET_ACTION_FULL) ^ 0x80000000u) <
         ((b & PSS_SECCOMP_RET_ACTION_FULL) ^ 0x80000000u);
}

static int allows (uint32_t result) {
  uint32_t action = result & PSS_SECCOMP_RET_ACTION_FULL;
  return action == PSS_SECCOMP_RET_ALLOW || action == PSS_SECCOMP_RET_LOG;
}

/* A certain denial: it outweighs any doubt, and a lesser denial. */
static void deny (struct judgement *j, uint32_t action, int kind, int call) {
  if (j->verdict == PSS_SECCOMP_DENIED && !precedes(action, j->action)) return;
  j->verdict = PSS_SECCOMP_DENIED;
  j->action = action;
  j->why = denials[call][kind];
}

/* An answer that cannot be known: it outweighs only ALLOWED. */
static void doubt (struct judgement *j, const char *why) {
  if (j->verdict != PSS_SECCOMP_ALLOWED) return;
  j->verdict = PSS_SECCOMP_UNKNOWN;
  j->why = why;
}

/* One call through one filter. */
static void judge_call (struct judgement *j, const struct sock_filter *prog, size_t len,
                        const struct pss_seccomp_call *c) {
  struct pss_seccomp_data d;
  uint32_t result = 0;
  const char *why = NULL;
  memset(&d, 0, sizeof d);
  d.nr = c->nr;
  d.arch = c->arch;
  d.instruction_pointer = c->ip;
  memcpy(d.args, c->args, sizeof d.args);
  if (pss_seccomp_run(prog, len, &d, &result, &why) < 0) doubt(j, why);
  else if (!allows(result)) deny(j, result, action_kind(result), call_name(c));
}

/* Strict mode: the kernel's fixed list, for native calls only (a compat
** call has other numbers). A refused call kills the thread. */
static void judge_strict (struct judgement *j, const struct pss_seccomp_call *calls, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int nr = calls[i].nr;
    if (PSS_SECCOMP_ARCH_NATIVE == 0 || calls[i].arch != PSS_SECCOMP_ARCH_NATIVE)
      doubt(j, "strict seccomp (mode 1) and a call of a foreign architecture");
    else if (nr != SYS_read && nr != SYS_write && nr != SYS_exit && nr != SYS_rt_sigreturn)
      deny(j, PSS_SECCOMP_RET_KILL_THREAD, ACT_STRICT, call_name(&calls[i]));
  }
}
/* }====================================================================== */


/* {======================================================================
** The thread's mode and filters
** ======================================================================= */

/*
** The "Seccomp:" mode of /proc/TID/status (any thread, by its tid), -1 if
** unreadable; 0 when there is no such line (a kernel without
** CONFIG_SECCOMP). Read line by line through one buffer: a line longer
** than it (Groups: of a process in thousands of groups) is skipped.
*/
static int seccomp_mode (pid_t tid, int *mode) {
  struct pss_lines l;
  const char *line;
  size_t len;
  char name[32];
  int rc;
  snprintf(name, sizeof name, "/proc/%d/status", (int)tid);
  if ((rc = pss_lines_open(&l, AT_FDCWD, name, 4096, 1)) < 0) return rc;
  *mode = 0;
  while ((rc = pss_lines_next(&l, &line, &len)) > 0)
    if (len >= sizeof "Seccomp:" - 1 && memcmp(line, "Seccomp:", sizeof "Seccomp:" - 1) == 0) {
      struct pss_status ss;
      (void)pss_parse_status(line, len, &ss);     /* the parser takes one line too */
      *mode = ss.seccomp;
      break;
    }
  pss_lines_close(&l);
  return rc < 0 ? rc : 0;
}

/* Why PTRACE_SECCOMP_GET_FILTER failed: -errno for a real error, else
** UNKNOWN with the reason. */
static int unreadable (int e, const char **why) {
  switch (e) {
    case ESRCH: case ENOMEM: return -e;
    case EACCES:
      *why = "the filters cannot be read: pss lacks CAP_SYS_ADMIN or is under seccomp itself";
      break;
    case EMEDIUMTYPE:
      *why = "a filter cannot be read: it is not classic BPF or the kernel kept no copy";
      break;
    case EINVAL:
      *why = "the kernel does not give filters out (no CONFIG_CHECKPOINT_RESTORE?)";
      break;
    case EIO:
      *why = "the kernel has no PTRACE_SECCOMP_GET_FILTER";
      break;
    default:
      *why = "the filters cannot be read";
      break;
  }
  return PSS_SECCOMP_UNKNOWN;
}

/*
** Reads filter `nth` of tid's chain into prog (BPF_MAXINSNS long); *len
** is 0 past the last one. Index 0 is the OLDEST filter (the kernel counts
** from the first installed, although ptrace(2) says the newest): the order
** does not change the verdict. Returns 0, UNKNOWN (*why) or -errno.
*/
static int fetch_filter (pid_t tid, unsigned long nth, struct sock_filter *prog, size_t *len,
                         const char **why) {
  long count = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)nth, NULL), again;
  *len = 0;
  if (count < 0) return errno == ENOENT ? 0 : unreadable(errno, why);
  /* asked first, so a kernel with longer filters cannot write past prog */
  if (count == 0 || count > BPF_MAXINSNS) {
    *why = "a filter is empty or longer than BPF_MAXINSNS";
    return PSS_SECCOMP_UNKNOWN;
  }
  again = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)nth, prog);
  if (again < 0) return unreadable(errno == ENOENT ? EINVAL : errno, why);
  if (again != count) {
    *why = "a filter changed while it was read";
    return PSS_SECCOMP_UNKNOWN;
  }
  *len = (size_t)count;
  return 0;
}

/* Every filter of the chain for every call; 0 or -errno. */
static int judge_filters (struct judgement *j, pid_t tid, const struct pss_seccomp_call *calls,
                          size_t n) {
  /* zeroed: valgrind cannot see the kernel fill it */
  struct sock_filter *prog = calloc(BPF_MAXINSNS, sizeof *prog);
  const char *why = NULL;
  unsigned long nth;
  size_t len = 0, i;
  int rc = 0;
  if (prog == NULL) return -ENOMEM;
  for (nth = 0; (rc = fetch_filter(tid, nth, prog, &len, &why)) == 0 && len > 0; nth++)
    for (i = 0; i < n; i++) judge_call(j, prog, len, &calls[i]);
  free(prog);
  if (rc == PSS_SECCOMP_UNKNOWN) doubt(j, why);
  else if (rc == 0 && nth == 0) doubt(j, "seccomp mode 2 without a filter");
  return rc < 0 ? rc : 0;
}
/* }====================================================================== */


static const char *failure (int rc) {
  switch (rc) {
    case -ESRCH: return "the thread is gone, or is not stopped under our ptrace";
    case -ENOMEM: return "out of memory";
    case -EINVAL: return "no calls to check";
    default: return "the thread's seccomp state cannot be read";
  }
}

int pss_seccomp_check (pid_t tid, const struct pss_seccomp_call *calls, size_t n,
                       const char **detail) {
  struct judgement j = { PSS_SECCOMP_ALLOWED, 0, "every filter allows these system calls" };
  int mode = -1, rc = calls == NULL && n > 0 ? -EINVAL : seccomp_mode(tid, &mode);
  if (rc == 0) {
    switch (mode) {
      case PSS_SECCOMP_MODE_DISABLED: j.why = "the thread has no seccomp"; break;
      case PSS_SECCOMP_MODE_STRICT: judge_strict(&j, calls, n); break;
      case PSS_SECCOMP_MODE_FILTER: rc = judge_filters(&j, tid, calls, n); break;
      default: doubt(&j, "the thread's seccomp mode is not 0, 1 or 2"); break;
    }
  }
  if (detail != NULL) *detail = rc < 0 ? failure(rc) : j.why;
  return rc < 0 ? rc : j.verdict;
}
