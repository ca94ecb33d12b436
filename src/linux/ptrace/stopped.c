/*
** stopped.c -- what either kind of freeze (freeze.c for another process,
** selffreeze.c for the calling one) knows of a thread: its state before it
** was stopped, its registers, and the thread contexts of a capture, added
** to the thread table once /proc has filled it.
*/
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"

/*
** Either kind of freeze. For the calling process, the calling thread is
** not stopped (it runs the capture): its registers are taken at the call
** (t->regs, filled by the caller) and its state is 'R'.
*/
const struct pss_registers *pss_target_registers (struct pss_target *t, pid_t tid, int fp,
                                                  int xstate, int *err) {
  char before;
  *err = 0;
  if (t->freeze != NULL) {
    if (!pss_frozen(t->freeze, tid)) return NULL;
    if ((*err = pss_thread_registers(tid, t->regs, fp, xstate)) < 0) return NULL;
    return t->regs;
  }
  if (t->self_freeze == NULL) return NULL;
  if (tid == (pid_t)syscall(SYS_gettid)) return t->regs;
  return pss_self_registers(t->self_freeze, tid, &before);
}

char pss_stopped_state_before (const struct pss_target *t, pid_t tid) {
  char before = 0;
  if (t->freeze != NULL) return pss_state_before(t->freeze, tid);
  if (t->self_freeze == NULL) return 0;
  if (tid == (pid_t)syscall(SYS_gettid)) return 'R';
  return pss_self_registers(t->self_freeze, tid, &before) != NULL ? before : 0;
}

/*
** A frozen thread's registers: TebBaseAddress is its fs_base (the TLS block,
** as the TEB is on Windows); with thread contexts, a CONTEXT record in the
** table's pool (16-aligned), followed by the XSAVE area with CONTEXT_XSTATE.
*/
static int capture_registers (struct pss_target *t, struct pss_store *s, size_t i) {
  struct pss_table *tab = &s->tables[PSS_TABLE_THREADS];
  struct pss_thread_row *row = pss_table_row(tab, i);
  pid_t tid = (pid_t)row->e.Thread.ThreadId;
  DWORD want = t->context_flags;
  int rc;
  const struct pss_registers *regs =
    pss_target_registers(t, tid, (want & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT,
                         (want & CONTEXT_XSTATE) == CONTEXT_XSTATE, &rc);
  if (rc == -ESRCH || (rc == 0 && regs == NULL)) return 0;   /* killed, or not frozen */
  if (rc < 0) return rc;
  row->e.Thread.TebBaseAddress = (void *)(uintptr_t)pss_registers_fs_base(regs);
  /* kept apart from the CONTEXT, which holds rsp only with CONTEXT_CONTROL */
  row->stack_pointer = pss_registers_sp(regs);
  if (want != 0) {
    DWORD held;
    size_t size;
    int64_t off = pss_context_append(&tab->strings, regs, tid, want, &size, &held);
    if (off < 0) return (int)off;
    row = pss_table_row(tab, i);   /* the pool grew, the rows did not move */
    row->e.ContextRegisters = held;
    row->e.Thread.ContextRecord = (PCONTEXT)(uintptr_t)(off + 1);
    row->e.Thread.SizeOfContextRecord = (WORD)size;
    if (s->context_length < size) s->context_length = (DWORD)size;
  }
  return 0;
}

int pss_capture_contexts (struct pss_target *t, struct pss_store *s) {
  struct pss_table *tab = &s->tables[PSS_TABLE_THREADS];
  size_t i;
  int rc = 0;
  if (t->freeze == NULL && t->self_freeze == NULL) return 0;
  for (i = 0; rc == 0 && i < tab->count; i++) rc = capture_registers(t, s, i);
  return rc;
}
