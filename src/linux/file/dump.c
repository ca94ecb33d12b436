/*
** dump.c -- PssLinuxWriteCore and PssLinuxWriteCoreFd: an ELF core file of
** a snapshot, from its VA clone's memory and the thread contexts captured
** at the same instant (core.c writes the file). The target keeps running
** meanwhile.
**
** A core written to a path goes where path.c says, never costing the
** caller what the path named before.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/file/core.h"
#include "linux/file/path.h"
#include "linux/ptrace/arch.h"
#include "linux/store/store.h"

/* What a core is made of, taken from the snapshot before any file is
** touched: the threads' registers (mmap'd: their number has no bound),
** the identity, and the process holding the memory. */
struct core_source {
  struct pss_core_thread *threads;
  size_t n, bytes;
  struct pss_core_process proc;
  pid_t image;
};

static void source_free (struct core_source *src) {
  if (src != NULL && src->threads != NULL) munmap(src->threads, src->bytes);
}

/* A captured CONTEXT record back in the kernel's register layouts
** (ptrace/ARCH/core.c); fs_base is the thread's TebBaseAddress. */
static void thread_registers (const PSS_LINUX_THREAD_ENTRY *e, const void *context,
                              struct pss_core_thread *out) {
  out->tid = (pid_t)e->Thread.ThreadId;
  out->have_fp = pss_core_regsets(context, e->SyscallNumber,
                                  (uintptr_t)e->Thread.TebBaseAddress, out->gp, out->fp);
}

/* Every captured thread with a context, the main thread first. */
static int core_threads (const struct pss_store *s, struct pss_core_thread *out, size_t *n) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  size_t i, k = 0;
  for (i = 0; i < t->count; i++) {
    const struct pss_thread_row *row = (const void *)(t->rows.data + i * t->row_size);
    uintptr_t off = (uintptr_t)row->e.Thread.ContextRecord;
    if (off == 0) continue;
    thread_registers(&row->e, t->strings.data + off - 1, &out[k]);
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

/* -ENODATA (with a detail) when the snapshot lacks what a core needs;
** source_free releases *src whatever this returns. */
static int source_take (const struct pss_store *s, struct core_source *src) {
  const struct pss_table *t = &s->tables[PSS_TABLE_THREADS];
  memset(src, 0, sizeof *src);
  if (pss_core_machine() == 0) return -EOPNOTSUPP;   /* no port: no cores */
  if (s->clone.pid <= 0) {
    pss_fail_detail("the snapshot has no VA clone (capture with PSS_CAPTURE_VA_CLONE)");
    return -ENODATA;
  }
  src->bytes = (t->count ? t->count : 1) * sizeof *src->threads;
  src->threads = mmap(NULL, src->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  if (src->threads == MAP_FAILED) {
    src->threads = NULL;
    return -ENOMEM;
  }
  if (core_threads(s, src->threads, &src->n) < 0) {
    pss_fail_detail("the snapshot has no thread contexts (capture with "
                    "PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT)");
    return -ENODATA;
  }
  core_identity(s, &src->proc);
  src->image = s->clone.pid;
  return 0;
}

static int source_write (const void *ctx, int fd) {
  const struct core_source *src = ctx;
  return pss_core_write(fd, src->image, &src->proc, src->threads, src->n);
}


/* ENODATA: a part of the capture is missing (ENOENT stays a path error) */
static DWORD core_result (int rc) {
  return rc == -ENODATA ? pss_fail(ERROR_NOT_FOUND) : pss_win32_error(rc);
}

/*
** The snapshot's core to Path or, when Path is NULL, to Fd. What the
** snapshot lacks is found before anything is touched; a pthread_cancel
** waits for the end (a cancelled write would leave the new file, the
** signal mask and the store's reference behind).
*/
static DWORD write_snapshot_core (HPSS SnapshotHandle, const char *Path, int Fd) {
  struct core_source src;
  struct pss_writer w = { source_write, &src };
  struct pss_store *s;
  int rc, cancel;
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
  if ((rc = source_take(s, &src)) == 0)
    rc = Path != NULL ? pss_write_path(Path, &w) : source_write(&src, Fd);
  source_free(&src);
  pss_store_release(s);
  pthread_setcancelstate(cancel, NULL);
  return core_result(rc);
}

PSS_EXPORT DWORD PssLinuxWriteCore (HPSS SnapshotHandle, const char *Path) {
  pss_fail_detail(NULL);
  if (Path == NULL || *Path == '\0') return pss_fail(ERROR_INVALID_PARAMETER);
  return write_snapshot_core(SnapshotHandle, Path, -1);
}

/*
** Fd is the caller's: a bad one is an argument error (ERROR_INVALID_HANDLE,
** no errno behind it, as for a bad snapshot handle); what a write meets
** is the errno's code. Nothing is closed, removed or renamed.
*/
PSS_EXPORT DWORD PssLinuxWriteCoreFd (HPSS SnapshotHandle, int Fd) {
  int fl = Fd >= 0 ? fcntl(Fd, F_GETFL) : -1;
  pss_fail_detail(NULL);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
    pss_fail_detail(Fd < 0 ? "Fd is negative"
                    : fl < 0 ? "Fd is not an open descriptor"
                    : "Fd is not open for writing");
    return pss_fail(ERROR_INVALID_HANDLE);
  }
  return write_snapshot_core(SnapshotHandle, NULL, Fd);
}
