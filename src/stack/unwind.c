/*
** unwind.c -- PssLinuxUnwinderCreate, PssLinuxUnwindThread and
** PssLinuxUnwinderFree: the stacks of a snapshot's threads, unwound with
** elfutils' libdwfl after the target runs on.
**
** An unwinder holds its own duplicate of the snapshot, the threads'
** registers, the mapped files (modules.c), the stack memory (memory.c) and
** one Dwfl, whose modules and CFI serve every thread. libdwfl sees the
** snapshot through dwfl_attach_state's callbacks: a thread's registers
** from its CONTEXT, memory from the stack pages or the clone. Each frame
** is noted as libdwfl finds it; frames.c then symbolizes them into the
** block the caller gets.
**
** Not thread-safe: one unwinder is used by one thread at a time (libdwfl's
** sessions are not either); different unwinders may run at once.
*/
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack/unwind.h"

/* {======================================================================
** Failures in words, allocation, handles
** ======================================================================= */

/* code, with the reason in words for PssLinuxLastErrorDetail, as every
** failing Pss* call gives one. */
static DWORD fail (DWORD code, char const *format, ...) __attribute__((format(printf, 2, 3)));

static DWORD fail (DWORD code, char const *format, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, format);
  vsnprintf(detail, sizeof detail, format, ap);
  va_end(ap);
  return PssLinuxSetLastError(code, detail);
}

static void *WINAPI heap_alloc (void *context, DWORD size) { (void)context; return malloc(size); }
static void WINAPI heap_free (void *context, void *p) { (void)context; free(p); }

/* The live unwinders: a handle is checked against them, so a freed or made
** up one is ERROR_INVALID_HANDLE, never a crash. A handle is a serial
** number, never an address: a freed unwinder's handle cannot come to name
** a newer one that the allocator placed at the same address. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pss_unwinder *live;
static uintptr_t last_serial;

/* Lists u and returns its handle. */
static HPSSUNWIND live_add (struct pss_unwinder *u) {
  pthread_mutex_lock(&live_lock);
  u->serial = ++last_serial;
  u->next = live;
  live = u;
  pthread_mutex_unlock(&live_lock);
  return (HPSSUNWIND)u->serial;
}

/* The unwinder h names, or NULL; with take, it is no longer live. */
static struct pss_unwinder *live_find (HPSSUNWIND h, int take) {
  struct pss_unwinder **p, *u = NULL;
  pthread_mutex_lock(&live_lock);
  for (p = &live; *p != NULL; p = &(*p)->next)
    if ((HPSSUNWIND)(*p)->serial == h) {
      u = *p;
      if (take) *p = u->next;
      break;
    }
  pthread_mutex_unlock(&live_lock);
  return u;
}
/* }====================================================================== */


/* {======================================================================
** The snapshot's threads
** ======================================================================= */

/* CONTEXT field and PSS_LINUX_REGISTER_* bit of each DWARF register */
#define REG(field, bit) { offsetof(CONTEXT, field), PSS_LINUX_REGISTER_##bit }
static const struct { size_t offset; DWORD bit; } dwarf_registers[UNWIND_REGISTERS] = {
  REG(Rax, RAX), REG(Rdx, RDX), REG(Rcx, RCX), REG(Rbx, RBX),
  REG(Rsi, RSI), REG(Rdi, RDI), REG(Rbp, RBP), REG(Rsp, RSP),
  REG(R8, R8), REG(R9, R9), REG(R10, R10), REG(R11, R11),
  REG(R12, R12), REG(R13, R13), REG(R14, R14), REG(R15, R15),
  REG(Rip, RIP),
};
#undef REG

/* What a CONTEXT without ContextRegisters holds: what its flags say. */
static DWORD registers_of_flags (DWORD flags) {
  DWORD bits = 0;
  if ((flags & CONTEXT_CONTROL) == CONTEXT_CONTROL)
    bits |= PSS_LINUX_REGISTER_RSP | PSS_LINUX_REGISTER_RIP;
  if ((flags & CONTEXT_INTEGER) == CONTEXT_INTEGER) bits |= 0xFFFFu & ~PSS_LINUX_REGISTER_RSP;
  return bits;
}

static void take_thread (struct unwind_thread *t, PSS_LINUX_THREAD_ENTRY const *e) {
  CONTEXT const *c = e->Thread.ContextRecord;
  DWORD have;
  int r;
  memset(t, 0, sizeof *t);
  t->tid = e->Thread.ThreadId;
  if (c == NULL) return;
  have = e->ContextRegisters != 0 ? e->ContextRegisters : registers_of_flags(c->ContextFlags);
  for (r = 0; r < UNWIND_REGISTERS; r++) {
    if ((have & dwarf_registers[r].bit) == 0) continue;
    memcpy(&t->regs[r], (char const *)c + dwarf_registers[r].offset, sizeof t->regs[r]);
    t->known |= 1u << r;
  }
}

static int by_tid (const void *a, const void *b) {
  DWORD x = ((const struct unwind_thread *)a)->tid, y = ((const struct unwind_thread *)b)->tid;
  return x < y ? -1 : x > y;
}

/* The threads and their registers, sorted by tid: -ENOENT without the
** threads, -ENODATA if no thread has a context. */
static int load_threads (struct pss_unwinder *u) {
  PSS_THREAD_INFORMATION info;
  PSS_LINUX_THREAD_ENTRY e;
  HPSSWALK marker;
  size_t n = 0, i, with_context = 0;
  DWORD code;
  if (PssQuerySnapshot(u->snapshot, PSS_QUERY_THREAD_INFORMATION, &info,
                       sizeof info) != ERROR_SUCCESS)
    return -ENOENT;
  if (info.ThreadsCaptured == 0 || info.ContextLength == 0) return -ENODATA;
  u->threads = pss_unwind_alloc(u, (size_t)info.ThreadsCaptured * sizeof *u->threads);
  if (u->threads == NULL) return -ENOMEM;
  if (PssWalkMarkerCreate(&u->alloc, &marker) != ERROR_SUCCESS) return -ENOMEM;
  while ((code = PssWalkSnapshot(u->snapshot, PSS_WALK_LINUX_THREADS, marker, &e,
                                 sizeof e)) == ERROR_SUCCESS)
    if (n < info.ThreadsCaptured) take_thread(&u->threads[n++], &e);
  PssWalkMarkerFree(marker);
  u->thread_count = n;
  if (pss_unwind_walk_end(code) != 0) return pss_unwind_walk_end(code);
  qsort(u->threads, n, sizeof *u->threads, by_tid);
  for (i = 0; i < n; i++) with_context += u->threads[i].known != 0;
  return with_context > 0 ? 0 : -ENODATA;
}

static struct unwind_thread *find_thread (struct pss_unwinder *u, DWORD tid) {
  struct unwind_thread key;
  key.tid = tid;
  return bsearch(&key, u->threads, u->thread_count, sizeof key, by_tid);
}
/* }====================================================================== */


/* {======================================================================
** libdwfl's view of the snapshot (Dwfl_Thread_Callbacks)
** ======================================================================= */

static pid_t next_thread (Dwfl *dwfl, void *arg, void **thread_argp) {
  struct pss_unwinder *u = arg;
  struct unwind_thread *t = *thread_argp;
  (void)dwfl;
  t = t == NULL ? u->threads : t + 1;
  if (t >= u->threads + u->thread_count) return 0;
  *thread_argp = t;
  return (pid_t)t->tid;
}

static bool get_thread (Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp) {
  struct unwind_thread *t = find_thread(arg, (DWORD)tid);
  (void)dwfl;
  if (t == NULL) return false;
  *thread_argp = t;
  return true;
}

/* A read that fails is remembered: libdwfl takes a return address it
** cannot read for the end of the stack, and the reason must say it was not. */
static bool memory_read (Dwfl *dwfl, Dwarf_Addr address, Dwarf_Word *result, void *arg) {
  struct pss_unwinder *u = arg;
  (void)dwfl;
  if (pss_unwind_read(u, address, result, sizeof *result) == 0) return true;
  if (!u->read_failed) {
    u->read_failed = 1;
    u->failed_address = address;
  }
  return false;
}

/* Each run of registers the context holds; the others stay undefined, so
** CFI that needs one fails rather than using a zero. */
static bool set_initial_registers (Dwfl_Thread *thread, void *arg) {
  struct unwind_thread const *t = arg;
  unsigned first = 0, r;
  for (r = 0; r <= UNWIND_REGISTERS; r++) {
    if (r < UNWIND_REGISTERS && (t->known >> r & 1u)) continue;
    if (r > first && !dwfl_thread_state_registers(thread, (int)first, r - first, t->regs + first))
      return false;
    first = r + 1;
  }
  dwfl_thread_state_register_pc(thread, t->regs[UNWIND_PC]);
  return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
  .next_thread = next_thread,
  .get_thread = get_thread,
  .memory_read = memory_read,
  .set_initial_registers = set_initial_registers,
};
/* }====================================================================== */


/* {======================================================================
** Frames and why they end
** ======================================================================= */

static void end_with (struct pss_unwinder *u, DWORD reason, char const *format, ...)
  __attribute__((format(printf, 3, 4)));

static void end_with (struct pss_unwinder *u, DWORD reason, char const *format, ...) {
  va_list ap;
  u->end_reason = reason;
  va_start(ap, format);
  vsnprintf(u->end_detail, sizeof u->end_detail, format, ap);
  va_end(ap);
}

/* The address looked up for a frame: its pc if exact, else inside the
** call that returns there. */
static Dwarf_Addr lookup_pc (struct unwind_frame const *f) {
  return f->activation ? f->pc : f->pc - 1;
}

/* Whether frame f repeats prev: the unwind would go round forever. */
static int repeats (struct unwind_frame const *prev, struct unwind_frame const *f) {
  if (prev->pc != f->pc) return 0;
  return prev->has_sp == f->has_sp && (!f->has_sp || prev->sp == f->sp);
}

static int on_frame (Dwfl_Frame *state, void *arg) {
  struct pss_unwinder *u = arg;
  struct unwind_frame *f, next;
  Dwarf_Addr pc;
  Dwarf_Word sp = 0;
  bool activation = false;
  size_t n = u->frame_count;
  u->read_failed = 0;   /* from here on, the reads that find the next frame */
  if (!dwfl_frame_pc(state, &pc, &activation)) {
    end_with(u, PSS_LINUX_STACK_END_UNWIND, "no pc for frame %zu: %s", n, dwfl_errmsg(-1));
    return DWARF_CB_ABORT;
  }
  memset(&next, 0, sizeof next);
  next.pc = pc;
  next.activation = n == 0 || activation;
  next.has_sp = dwfl_frame_reg(state, UNWIND_SP, &sp) == 0;
  next.sp = next.has_sp ? sp : 0;
  if (n > 0 && repeats(&u->frames[n - 1], &next)) {
    end_with(u, PSS_LINUX_STACK_END_REPEATED, "frame %zu repeats frame %zu (pc 0x%" PRIx64
             ", sp 0x%" PRIx64 ")", n, n - 1, (uint64_t)pc, (uint64_t)next.sp);
    return DWARF_CB_ABORT;
  }
  if (n == PSS_LINUX_STACK_FRAMES_MAX) {
    end_with(u, PSS_LINUX_STACK_END_LIMIT, "more than %d frames", PSS_LINUX_STACK_FRAMES_MAX);
    return DWARF_CB_ABORT;
  }
  next.method = n == 0 ? PSS_LINUX_FRAME_CONTEXT
              : pss_unwind_has_cfi(u, lookup_pc(&u->frames[n - 1])) ? PSS_LINUX_FRAME_CFI
              : PSS_LINUX_FRAME_FALLBACK;
  f = &u->frames[u->frame_count++];
  *f = next;
  return DWARF_CB_OK;
}

/* Runs libdwfl over thread t into u->frames, and says why they end. */
static void unwind (struct pss_unwinder *u, struct unwind_thread const *t) {
  int rc = dwfl_getthread_frames(u->dwfl, (pid_t)t->tid, on_frame, u);
  if (u->end_reason != 0) return;                 /* the callback stopped it */
  if (u->read_failed)
    end_with(u, PSS_LINUX_STACK_END_MEMORY, "memory at 0x%" PRIx64 " is not in the snapshot",
             u->failed_address);
  else if (rc == 0) end_with(u, PSS_LINUX_STACK_END_OUTERMOST, "%s", "");
  else if (u->frame_count == 0)
    end_with(u, PSS_LINUX_STACK_END_UNWIND, "no first frame: %s", dwfl_errmsg(-1));
  else
    end_with(u, PSS_LINUX_STACK_END_UNWIND, "no way to the caller of frame %zu (pc 0x%" PRIx64
             "): %s", u->frame_count - 1, u->frames[u->frame_count - 1].pc, dwfl_errmsg(-1));
}
/* }====================================================================== */


/* {======================================================================
** The API
** ======================================================================= */

static void destroy (struct pss_unwinder *u) {
  if (u->dwfl != NULL) dwfl_end(u->dwfl);   /* first: its modules use what follows */
  if (u->arch_elf != NULL) elf_end(u->arch_elf);
  if (u->pages_marker != NULL) PssWalkMarkerFree(u->pages_marker);
  if (u->snapshot != NULL) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, u->snapshot);
  if (u->proc_fd >= 0) close(u->proc_fd);
  pss_unwind_free(u, u->vdso_copy);
  pss_unwind_free(u, u->paths);
  pss_unwind_free(u, u->modules);
  pss_unwind_free(u, u->pages);
  pss_unwind_free(u, u->threads);
  pss_unwind_free(u, u);
}

/* The snapshot's process, threads, files and stack memory: 0 or the
** failure, with its reason. */
static DWORD load (struct pss_unwinder *u) {
  PSS_LINUX_PROCESS_INFORMATION process;
  PSS_VA_CLONE_INFORMATION clone;
  SIZE_T none;
  int rc;
  if (PssQuerySnapshot(u->snapshot, PSS_QUERY_LINUX_PROCESS_INFORMATION, &process,
                       sizeof process) != ERROR_SUCCESS)
    return fail(ERROR_INVALID_HANDLE, "the snapshot has no process record");
  u->pid = process.Process.ProcessId;
  u->start_ticks = process.StartTimeTicks;
  rc = load_threads(u);
  if (rc == -ENOENT || rc == -ENODATA)
    return fail(ERROR_NOT_FOUND, "the snapshot has no thread contexts (capture "
                "with PSS_CAPTURE_THREADS and PSS_CAPTURE_THREAD_CONTEXT)");
  if (rc == 0) rc = pss_unwind_load_modules(u);
  if (rc == -ENOENT)
    return fail(ERROR_NOT_FOUND, "the snapshot has no VA space (capture with "
                "PSS_CAPTURE_VA_SPACE)");
  if (rc == 0) rc = pss_unwind_load_pages(u);
  if (rc == -ENOMEM) return fail(ERROR_NOT_ENOUGH_MEMORY, "out of memory");
  if (rc != 0) return fail(ERROR_GEN_FAILURE, "a walk of the snapshot failed");
  /* memory: a clone's, or a loaded snapshot's file (a zero-length read
     succeeds exactly when there is one) */
  u->has_clone = PssQuerySnapshot(u->snapshot, PSS_QUERY_VA_CLONE_INFORMATION, &clone,
                                  sizeof clone) == ERROR_SUCCESS ||
                 PssLinuxReadSnapshotMemory(u->snapshot, 0, NULL, 0, &none) == ERROR_SUCCESS;
  if (u->page_count == 0 && !u->has_clone)
    return fail(ERROR_NOT_FOUND, "the snapshot holds no stack memory (capture "
                "with PSS_LINUX_CAPTURE_STACKS or PSS_CAPTURE_VA_CLONE)");
  return ERROR_SUCCESS;
}

/* An ELF header naming x86-64, the machine of every CONTEXT: libdwfl's
** unwinder for it, without opening any module's file. */
static int name_machine (struct pss_unwinder *u) {
  Elf64_Ehdr *eh = &u->arch_ehdr;
  memset(eh, 0, sizeof *eh);
  memcpy(eh->e_ident, ELFMAG, SELFMAG);
  eh->e_ident[EI_CLASS] = ELFCLASS64;
  eh->e_ident[EI_DATA] = ELFDATA2LSB;
  eh->e_ident[EI_VERSION] = EV_CURRENT;
  eh->e_type = ET_CORE;
  eh->e_machine = EM_X86_64;
  eh->e_version = EV_CURRENT;
  eh->e_ehsize = sizeof *eh;
  elf_version(EV_CURRENT);
  u->arch_elf = elf_memory((char *)eh, sizeof *eh);
  return u->arch_elf != NULL ? 0 : -ENOMEM;
}

static DWORD start_session (struct pss_unwinder *u) {
  if ((u->dwfl = dwfl_begin(&pss_unwind_dwfl_callbacks)) == NULL || name_machine(u) != 0 ||
      pss_unwind_report_modules(u) != 0)
    return fail(ERROR_NOT_ENOUGH_MEMORY, "libdwfl: %s", dwfl_errmsg(-1));
  if (!dwfl_attach_state(u->dwfl, u->arch_elf, (pid_t)u->pid, &thread_callbacks, u))
    return fail(ERROR_NOT_SUPPORTED, "libdwfl cannot unwind x86-64 here: %s",
                dwfl_errmsg(-1));
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD PssLinuxUnwinderCreate (HPSS SnapshotHandle, PSS_ALLOCATOR const *Allocator,
                                         HPSSUNWIND *Unwinder) {
  PSS_ALLOCATOR a = { NULL, heap_alloc, heap_free };
  struct pss_unwinder *u;
  DWORD rc;
  if (Unwinder == NULL) return fail(ERROR_INVALID_PARAMETER, "no Unwinder");
  if (Allocator != NULL) {
    if (Allocator->AllocRoutine == NULL || Allocator->FreeRoutine == NULL)
      return fail(ERROR_INVALID_PARAMETER, "an allocator without its routines");
    a = *Allocator;
  }
  if ((u = a.AllocRoutine(a.Context, sizeof *u)) == NULL)
    return fail(ERROR_NOT_ENOUGH_MEMORY, "out of memory");
  memset(u, 0, sizeof *u);
  u->alloc = a;
  u->proc_fd = -1;
  rc = PssDuplicateSnapshot(PSS_LINUX_CURRENT_PROCESS, SnapshotHandle, PSS_LINUX_CURRENT_PROCESS,
                            &u->snapshot, 0);
  if (rc != ERROR_SUCCESS) {
    u->snapshot = NULL;
    rc = rc == ERROR_INVALID_HANDLE
       ? fail(rc, "SnapshotHandle is no snapshot (freed, or never one)")
       : fail(rc, "PssDuplicateSnapshot failed");
  }
  if (rc == ERROR_SUCCESS) rc = load(u);
  if (rc == ERROR_SUCCESS) {
    pss_unwind_open_process(u);
    rc = start_session(u);
  }
  if (rc != ERROR_SUCCESS) {
    destroy(u);
    return rc;
  }
  *Unwinder = live_add(u);
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD PssLinuxUnwinderFree (HPSSUNWIND Unwinder) {
  struct pss_unwinder *u = live_find(Unwinder, 1);
  if (u == NULL) return fail(ERROR_INVALID_HANDLE, "not a live unwinder");
  destroy(u);
  return ERROR_SUCCESS;
}

PSS_EXPORT DWORD PssLinuxUnwindThread (HPSSUNWIND Unwinder, DWORD ThreadId, DWORD Flags,
                                       PSS_LINUX_STACK **Stack) {
  struct pss_unwinder *u = live_find(Unwinder, 0);
  struct unwind_thread const *t;
  if (u == NULL) return fail(ERROR_INVALID_HANDLE, "not a live unwinder");
  if (Stack == NULL) return fail(ERROR_INVALID_PARAMETER, "no Stack");
  if (Flags & ~PSS_LINUX_UNWIND_SOURCE_LINES)
    return fail(ERROR_INVALID_PARAMETER, "unknown flags 0x%x", (unsigned)Flags);
  if ((t = find_thread(u, ThreadId)) == NULL)
    return fail(ERROR_NOT_FOUND, "no thread %u in the snapshot", (unsigned)ThreadId);
  u->frame_count = 0;
  u->end_reason = 0;
  u->read_failed = 0;
  if (t->known == 0)
    end_with(u, PSS_LINUX_STACK_END_NO_CONTEXT, "thread %u was captured without a context",
             (unsigned)t->tid);
  else if ((t->known >> UNWIND_PC & 1u) == 0)
    end_with(u, PSS_LINUX_STACK_END_NO_CONTEXT, "the context of thread %u has no pc",
             (unsigned)t->tid);
  else unwind(u, t);
  if (pss_unwind_pack(u, t->tid, (Flags & PSS_LINUX_UNWIND_SOURCE_LINES) != 0, Stack) != 0)
    return fail(ERROR_NOT_ENOUGH_MEMORY, "out of memory");
  return ERROR_SUCCESS;
}
/* }====================================================================== */
