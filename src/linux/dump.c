/*
** dump.c -- PssLinuxWriteCore: an ELF core file of a snapshot, from its VA
** clone's memory and the thread contexts captured at the same instant
** (core.c writes the file). The target keeps running meanwhile.
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "internal.h"

#if defined(__x86_64__)
#include <sys/user.h>

/* A captured CONTEXT back in the kernel's register layout; fs_base is the
** thread's TebBaseAddress. */
static void thread_registers (const PSS_LINUX_THREAD_ENTRY *e, const CONTEXT *c,
                              struct pss_core_thread *out) {
  struct user_regs_struct r;
  memset(&r, 0, sizeof r);
  r.r15 = c->R15; r.r14 = c->R14; r.r13 = c->R13; r.r12 = c->R12;
  r.rbp = c->Rbp; r.rbx = c->Rbx; r.r11 = c->R11; r.r10 = c->R10;
  r.r9 = c->R9; r.r8 = c->R8; r.rax = c->Rax; r.rcx = c->Rcx;
  r.rdx = c->Rdx; r.rsi = c->Rsi; r.rdi = c->Rdi;
  r.orig_rax = (unsigned long long)(long long)e->SyscallNumber;
  r.rip = c->Rip; r.cs = c->SegCs; r.eflags = c->EFlags; r.rsp = c->Rsp; r.ss = c->SegSs;
  r.fs_base = (uintptr_t)e->Thread.TebBaseAddress;
  r.ds = c->SegDs; r.es = c->SegEs; r.fs = c->SegFs; r.gs = c->SegGs;
  out->tid = (pid_t)e->Thread.ThreadId;
  memcpy(out->gp, &r, sizeof out->gp);
  out->have_fp = (c->ContextFlags & CONTEXT_FLOATING_POINT) == CONTEXT_FLOATING_POINT;
  if (out->have_fp) memcpy(out->fp, &c->FltSave, sizeof out->fp);
}

/* Every captured thread with a context, the main thread first. */
static int core_threads (const struct pss_store *s, struct pss_core_thread *out, size_t *n) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  size_t i, k = 0;
  for (i = 0; i < t->count; i++) {
    const struct pss_thread_row *row = (const void *)(t->rows.data + i * t->row_size);
    uintptr_t off = (uintptr_t)row->e.Thread.ContextRecord;
    CONTEXT c;
    if (off == 0) continue;
    memcpy(&c, t->strings.data + off - 1, sizeof c);
    thread_registers(&row->e, &c, &out[k]);
    if (out[k].tid == (pid_t)s->process.Process.ProcessId && k > 0) {
      struct pss_core_thread main = out[k];
      memmove(&out[1], &out[0], k * sizeof *out);
      out[0] = main;
    }
    k++;
  }
  *n = k;
  return k > 0 ? 0 : -ENODATA;
}

static void core_identity (const struct pss_store *s, struct pss_core_process *p) {
  const PSS_LINUX_PROCESS_INFORMATION *lp = &s->process;
  size_t i, n;
  memset(p, 0, sizeof *p);
  p->pid = (pid_t)lp->Process.ProcessId;
  p->ppid = (pid_t)lp->Process.ParentProcessId;
  p->pgrp = (pid_t)lp->ProcessGroupId;
  p->sid = (pid_t)lp->SessionId;
  p->uid = (uid_t)lp->RealUserId;
  p->gid = (gid_t)lp->RealGroupId;
  p->state = lp->State;
  p->nice = (int)lp->Nice;
  n = lp->CommLength < sizeof p->fname - 1 ? lp->CommLength : sizeof p->fname - 1;
  if (lp->Comm != NULL) memcpy(p->fname, lp->Comm, n);
  n = lp->CommandLineLength < sizeof p->psargs - 1 ? lp->CommandLineLength : sizeof p->psargs - 1;
  if (lp->CommandLine != NULL) memcpy(p->psargs, lp->CommandLine, n);
  for (i = 0; i < n; i++) if (p->psargs[i] == '\0') p->psargs[i] = ' ';
}

static int write_core (const struct pss_store *s, const char *path) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  size_t bytes = (t->count ? t->count : 1) * sizeof(struct pss_core_thread), n;
  struct pss_core_thread *threads;
  struct pss_core_process proc;
  int fd, rc;
  if (s->clone.pid <= 0) {
    pss_fail_detail("the snapshot has no VA clone (capture with PSS_CAPTURE_VA_CLONE)");
    return -ENODATA;
  }
  threads = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (threads == MAP_FAILED) return -ENOMEM;
  if ((rc = core_threads(s, threads, &n)) < 0) {
    pss_fail_detail("the snapshot has no thread contexts (capture with "
                    "PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT)");
    munmap(threads, bytes);
    return rc;
  }
  core_identity(s, &proc);
  if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
    rc = -errno;
    munmap(threads, bytes);
    return rc;
  }
  rc = pss_core_write(fd, s->clone.pid, &proc, threads, n);
  if (close(fd) < 0 && rc == 0) rc = -errno;
  if (rc < 0) unlink(path);      /* never a half-written core */
  munmap(threads, bytes);
  return rc;
}
#else
static int write_core (const struct pss_store *s, const char *path) {
  (void)s; (void)path;
  return -EOPNOTSUPP;
}
#endif

PSS_EXPORT DWORD PssLinuxWriteCore (HPSS SnapshotHandle, const char *Path) {
  struct pss_store *s;
  int rc;
  pss_fail_detail(NULL);
  if (Path == NULL || *Path == '\0') return pss_fail(ERROR_INVALID_PARAMETER);
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  rc = write_core(s, Path);
  pss_store_release(s);
  /* ENODATA: a part of the capture is missing (ENOENT stays a path error) */
  if (rc == -ENODATA) return pss_fail(ERROR_NOT_FOUND);
  return pss_win32_error(rc);
}
