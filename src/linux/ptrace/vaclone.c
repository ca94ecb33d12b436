/*
** vaclone.c -- PSS_CAPTURE_VA_CLONE: a copy-on-write clone of the target's
** memory, made in about the time of a fork, read at leisure after.
**
** The calling process forks itself with a bare clone() system call; the
** child runs only the few instructions below (no code of the caller, no
** atfork handlers, no stack writes) and waits for the end of a pipe.
**
** Another process is made to clone itself: while the capture holds it
** frozen, one of its threads runs a stub written into never-executed
** padding at the end of an executable mapping. The chain is
**
**   target T --clone(CLONE_VM|CLONE_FILES)--> C1 --clone(CLONE_FILES)--> C2
**
** C1 shares T's memory, so making it costs about as much as a thread; its
** fork C2 copies T's address space (the one real cost of the pause) and
** is the clone. C1 is then killed and the stub in T reaps it with wait4().
** C2's parent is gone, so the kernel hands it to the nearest subreaper or
** init, with SIGCHLD as its exit signal; T never sees it (no SIGCHLD, no
** zombie, invisible to its wait(-1)), and whoever reaps orphans reaps C2
** when it dies. Both clones are made with exit signal 0, so T hears
** nothing of C1 either.
**
** What keeps the target safe if this process dies at any instruction:
** - the stub restores itself: from every point it may be left at, it ends
**   by restoring T's signal mask and registers and jumping back to where T
**   was, reaping C1 first if C1 exists;
** - C1 and C2, untraced, only ever run the stub's child path: C2 unshares
**   and closes its descriptors, both exit at once;
** - once set up, C2 is traced with PTRACE_O_EXITKILL (never the target)
**   and parked on an exit_group system call;
** - T runs the injection with every signal blocked (PTRACE_SETSIGMASK), so
**   no handler ever runs on the stub; signals sent meanwhile stay pending
**   and are delivered after, on T's own context;
** - a thread found inside the stub (left by a capturer that died) is never
**   written under: the capture is refused as busy.
**
** The clone belongs to the thread that captured it (ptrace ties a tracee
** to one thread): if that thread exits, the kernel kills the clone.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/ptrace/ptrace.h"
#include "linux/proc/procfs.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* {======================================================================
** Memory of another process
** ======================================================================= */

static ssize_t vm_read (pid_t pid, uint64_t address, void *buf, size_t n) {
  struct iovec local = { buf, n }, remote = { (void *)(uintptr_t)address, n };
  return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* }====================================================================== */


/* {======================================================================
** Reading and releasing a clone (every architecture)
** ======================================================================= */

/*
** Whether the clone is still the process c->pid names. A clone of another
** process is not our child: if the thread that captured it exits, the
** kernel kills it and init reaps it, and its pid may then be reused. Its
** handle (a pidfd, or the /proc/PID directory) stays bound to it, so the
** handle says whether it is gone; a read checked after it is done read the
** clone (a pid is reused only after its process was reaped).
*/
static int clone_alive (const struct pss_clone *c) {
  struct pollfd p = { c->pidfd, POLLIN, 0 };
  if (c->self || c->pidfd < 0) return 1;     /* our child: its pid stays ours */
  if (c->procdir) return faccessat(c->pidfd, "stat", F_OK, 0) == 0;
  return poll(&p, 1, 0) == 0;                /* a pidfd polls readable once it exited */
}

/* The bytes from address up to the first the clone does not hold. */
ssize_t pss_clone_read (const struct pss_clone *c, uint64_t address, void *buf, size_t n) {
  size_t done = 0;
  if (c->pid <= 0) return -ENOENT;
  if (!clone_alive(c)) return -ESRCH;
  while (done < n) {
    ssize_t got = vm_read(c->pid, address + done, (char *)buf + done, n - done);
    if (got <= 0 && c->memfd >= 0)
      got = pread(c->memfd, (char *)buf + done, n - done, (off_t)(address + done));
    if (got <= 0) break;
    done += (size_t)got;
  }
  if (!clone_alive(c)) return -ESRCH;
  return (ssize_t)done;
}

PSS_EXPORT DWORD PssLinuxReadSnapshotMemory (HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                             SIZE_T Length, SIZE_T *BytesRead) {
  struct pss_store *s;
  ssize_t got;
  if (BytesRead == NULL || (Buffer == NULL && Length > 0))
    return pss_fail(ERROR_INVALID_PARAMETER);
  if ((s = pss_registry_get((uintptr_t)SnapshotHandle, PSS_KIND_SNAPSHOT)) == NULL)
    return pss_fail(ERROR_INVALID_HANDLE);
  got = pss_clone_read(&s->clone, Address, Buffer, Length);
  pss_store_release(s);
  if (got == -ENOENT) return pss_fail(ERROR_NOT_FOUND);
  if (got < 0) return pss_win32_error((int)got);
  *BytesRead = (SIZE_T)got;
  return (SIZE_T)got == Length ? ERROR_SUCCESS : pss_fail(ERROR_PARTIAL_COPY);
}

/*
** Kills the clone. The calling process's clone is our child: we collect
** it. Another's is traced by its keeper thread, whose exit lets go of it;
** its zombie is its real parent's (init or a subreaper) to collect, so
** freeing a snapshot does not wait for a whole address space to go.
*/
void pss_clone_release (struct pss_clone *c) {
  /* in a process forked from the capturer the clone is not ours to kill:
  ** only our copies of its descriptors go */
  if (c->owner != getpid()) c->pid = 0;
  if (c->pid > 0 && clone_alive(c)) {
    /* by its handle: never a process that took over the pid */
    if (c->pidfd < 0 || syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0) < 0)
      kill(c->pid, SIGKILL);
    if (c->keeper == NULL) pss_tracee_collect(c->pid);
  }
  pss_tracer_stop(c->keeper);
  c->keeper = NULL;
  c->pid = 0;
  if (c->hold >= 0) close(c->hold);
  if (c->pidfd >= 0) close(c->pidfd);
  if (c->memfd >= 0) close(c->memfd);
  c->hold = c->pidfd = c->memfd = -1;
}

/* }====================================================================== */


/* {======================================================================
** Coverage: what the clone holds of each captured region
** ======================================================================= */

/* One VMA of the clone's smaps: its start and coverage. */
static unsigned char coverage_of (const char *vmflags) {
  const char *p;
  int shared = 0;
  for (p = vmflags; *p != '\0' && *p != '\n'; p++) {
    if (p[0] == ' ' || p[1] == '\0') continue;
    if (p != vmflags && p[-1] != ' ') continue;
    if (!strncmp(p, "io", 2) || !strncmp(p, "pf", 2)) return PSS_LINUX_CLONE_UNREADABLE;
    if (!strncmp(p, "wf", 2)) return PSS_LINUX_CLONE_ZEROED;
    if (!strncmp(p, "sh", 2)) shared = 1;
  }
  return shared ? PSS_LINUX_CLONE_SHARED : PSS_LINUX_CLONE_COPY;
}

static int cmp_u64 (const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/*
** Reads the clone's smaps once: every VMA's start with its coverage in the
** low byte, sorted; a captured region whose start the clone lacks was not
** copied (MADV_DONTFORK).
*/
int pss_clone_coverage (struct pss_target *t, struct pss_store *s) {
  struct pss_table *regions = &s->tables[PSS_TABLE_REGIONS];
  char path[64];
  uint64_t *vmas = NULL;
  size_t n = 0, cap = 0, i;
  ssize_t len;
  const char *line, *end;
  int dirfd;
  if (!(s->flags & PSS_CAPTURE_VA_SPACE) || s->clone.pid <= 0) return 0;
  snprintf(path, sizeof path, "/proc/%d", (int)s->clone.pid);
  if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return -errno;
  len = pss_read_at(t, dirfd, "smaps");
  close(dirfd);
  if (len < 0) return (int)len;
  for (line = t->scratch, end = t->scratch + len; line < end; ) {
    const char *next = memchr(line, '\n', (size_t)(end - line));
    unsigned long long start;
    next = next ? next + 1 : end;
    if (sscanf(line, "%llx-", &start) == 1 && strchr("0123456789abcdef", line[0])) {
      if (n == cap) {
        uint64_t *grown = realloc(vmas, (cap = cap ? cap * 2 : 256) * sizeof *vmas);
        if (grown == NULL) { free(vmas); return -ENOMEM; }
        vmas = grown;
      }
      vmas[n++] = (uint64_t)start << 8 | PSS_LINUX_CLONE_COPY;
    }
    else if (n > 0 && !strncmp(line, "VmFlags:", 8))
      vmas[n - 1] = (vmas[n - 1] & ~(uint64_t)0xff) | coverage_of(line + 8);
    line = next;
  }
  qsort(vmas, n, sizeof *vmas, cmp_u64);
  for (i = 0; i < regions->count; i++) {
    PSS_LINUX_VA_SPACE_ENTRY *r = pss_table_row(regions, i);
    uint64_t key = (uint64_t)r->Region.BaseAddress << 8;
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if ((vmas[mid] & ~(uint64_t)0xff) < key) lo = mid + 1; else hi = mid;
    }
    r->CloneCoverage = lo < n && (vmas[lo] & ~(uint64_t)0xff) == key
                         ? (unsigned char)(vmas[lo] & 0xff) : PSS_LINUX_CLONE_ABSENT;
  }
  free(vmas);
  return 0;
}
/* }====================================================================== */


#if defined(__x86_64__)
#include <sys/user.h>

#include "linux/ptrace/seccomp.h"

/* {======================================================================
** Memory of a stopped tracee, and the clone's finishing touches
** ======================================================================= */
/* Reads all of n bytes: process_vm_readv, else /proc/PID/mem (which also
** reads what the target cannot, as PROT_NONE pages). */
static int mem_read (int memfd, pid_t pid, uint64_t address, void *buf, size_t n) {
  ssize_t got = vm_read(pid, address, buf, n);
  if (got == (ssize_t)n) return 0;
  if (memfd >= 0 && pread(memfd, buf, n, (off_t)address) == (ssize_t)n) return 0;
  return errno == ESRCH ? -ESRCH : -EIO;
}

/* Writes code into a stopped tracee: /proc/PID/mem writes through the
** page protection (FOLL_FORCE); where the administrator turned that off
** (proc_mem.force_override=never), PTRACE_POKEDATA does it word by word.
** address and n are multiples of 8. */
static int mem_write (int memfd, pid_t pid, uint64_t address, const void *buf, size_t n) {
  size_t i;
  if (memfd >= 0 && pwrite(memfd, buf, n, (off_t)address) == (ssize_t)n) return 0;
  for (i = 0; i < n; i += 8) {
    long word;
    memcpy(&word, (const char *)buf + i, 8);
    if (ptrace(PTRACE_POKEDATA, pid, (void *)(uintptr_t)(address + i), (void *)word) < 0)
      return -errno;
  }
  return 0;
}

static int open_mem (pid_t pid, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  return open(path, flags | O_CLOEXEC);
}
/* The handle PSS_QUERY_VA_CLONE_INFORMATION gives, the oom score that
** makes the kernel pick the snapshot, not the target, and the mem file
** for reads. */
static int clone_finish (struct pss_clone *c) {
  char path[64];
  int fd;
  snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)c->pid);
  if ((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
    if (write(fd, "1000", 4) != 4) { /* a snapshot still works without it */ }
    close(fd);
  }
  c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  if (c->pidfd < 0 && errno == ENOSYS) {
    snprintf(path, sizeof path, "/proc/%d", (int)c->pid);
    c->pidfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    c->procdir = 1;
  }
  if (c->pidfd >= 0 && c->pidfd < 3) {    /* a handle never looks like NULL */
    int high = fcntl(c->pidfd, F_DUPFD_CLOEXEC, 3);
    close(c->pidfd);
    c->pidfd = high;
  }
  if (c->pidfd < 0) return -errno;
  c->memfd = open_mem(c->pid, O_RDONLY);
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** The calling process
** ======================================================================= */

/*
** fork() without glibc: clone(exit_signal 0) from inline asm. The child
** closes every descriptor but `keep` (the read end of a pipe), then blocks
** reading it -- into read-only memory, so nothing of its image is written
** -- and exits when the pipe ends: when this process is gone or frees the
** snapshot. Exit signal 0: the caller's SIGCHLD handler and wait(-1)
** never see the child. keep is at least 3.
*/
static long fork_waiting_child (long keep) {
  register long r10 __asm__("r10") = 0;
  register long r8 __asm__("r8") = 0;
  register long r12 __asm__("r12") = keep;
  long rax = SYS_clone;
  __asm__ volatile (
    "syscall\n\t"
    "test %%rax, %%rax\n\t"
    "jnz 2f\n\t"
    "mov %[close_range], %%eax\n\t"       /* close_range(0, keep - 1, 0) */
    "xor %%edi, %%edi\n\t"
    "lea -1(%%r12), %%esi\n\t"
    "xor %%edx, %%edx\n\t"
    "syscall\n\t"
    "mov %[close_range], %%eax\n\t"       /* close_range(keep + 1, ~0U, 0) */
    "lea 1(%%r12), %%edi\n\t"
    "mov $-1, %%esi\n\t"
    "xor %%edx, %%edx\n\t"
    "syscall\n"
    "1:\n\t"
    "xor %%eax, %%eax\n\t"                /* read(keep, <code>, 1) */
    "mov %%r12d, %%edi\n\t"
    "lea 1b(%%rip), %%rsi\n\t"
    "mov $1, %%edx\n\t"
    "syscall\n\t"
    "mov %[exit_group], %%eax\n\t"
    "xor %%edi, %%edi\n\t"
    "syscall\n"
    "2:\n\t"
    : "+a"(rax)
    : "D"(0L), "S"(0L), "d"(0L), "r"(r10), "r"(r8), "r"(r12),
      [close_range] "i"(SYS_close_range), [exit_group] "i"(SYS_exit_group)
    : "rcx", "r11", "memory", "cc");
  return rax;
}

int pss_clone_self (struct pss_clone *c) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  sigset_t all, old;
  int p[2], keep;
  long pid;
  if (pipe2(p, O_CLOEXEC) < 0) return -errno;
  keep = p[0] >= 3 ? p[0] : fcntl(p[0], F_DUPFD_CLOEXEC, 3);
  if (keep != p[0]) close(p[0]);
  if (keep < 0) { close(p[1]); return -EMFILE; }
  /* the child starts with every signal blocked: no handler of ours ever
  ** runs in it */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = fork_waiting_child(keep);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(keep);
  if (pid < 0) {
    close(p[1]);
    return (int)pid;
  }
  c->pid = (pid_t)pid;
  c->self = 1;
  c->hold = p[1];
  return clone_finish(c);
}
/* }====================================================================== */


/* {======================================================================
** The stub
** ======================================================================= */

#define SITE_SIZE 288           /* bytes the stub uses: 252 of code, its mask, the magic */
#define SITE_GUARD 32           /* zero bytes before it: the end of real code */
#define STUB_MAGIC "pss-stub"   /* the site's last 8 bytes while a stub is there */

#define C1_FLAGS (CLONE_VM | CLONE_FILES)

struct emit { unsigned char *p; size_t at; };

static void bytes (struct emit *e, const char *b, size_t n) {
  memcpy(e->p + e->at, b, n);
  e->at += n;
}

static void imm64 (struct emit *e, const char *op, uint64_t v) {
  bytes(e, op, 2);
  memcpy(e->p + e->at, &v, 8);
  e->at += 8;
}

/*
** The stub, for a target thread whose registers after it must be `r` and
** whose signal mask was `mask`:
**
**       syscall                  clone(CLONE_VM|CLONE_FILES) -- set by the tracer
**       test rax,rax; je child; jl restore
**       mov rdi,rax
**   wait: wait4(rdi, NULL, __WALL, NULL), again on EINTR
**   restore: rt_sigprocmask(SIG_SETMASK, &mask, NULL, 8), every
**       register the calls clobber and rflags (pushed below the red zone),
**       jmp to r.rip
**   child (C1): clone(CLONE_FILES), then exit_group(errno) (0 if the clone
**       worked); C2 (rax 0): close_range(0, ~0U, CLOSE_RANGE_UNSHARE),
**       exit_group(0)
**   mask, 8 bytes; ...; STUB_MAGIC in the last 8 bytes
*/
static void build_stub (unsigned char out[SITE_SIZE], const struct user_regs_struct *r,
                        uint64_t mask) {
  struct emit e = { out, 0 };
  size_t child_jump, restore_jump, wait_at, mask_lea, exit_jump, mask_at;
  int32_t rel;
  memset(out, 0, SITE_SIZE);
  bytes(&e, "\x0f\x05", 2);                               /* syscall */
  bytes(&e, "\x48\x85\xc0", 3);                           /* test rax,rax */
  child_jump = e.at; bytes(&e, "\x0f\x84\0\0\0\0", 6);  /* je child (rel32) */
  restore_jump = e.at; bytes(&e, "\x7c\x00", 2);          /* jl restore */
  bytes(&e, "\x48\x89\xc7", 3);                           /* mov rdi,rax */
  wait_at = e.at;
  bytes(&e, "\xb8\x3d\x00\x00\x00", 5);                   /* mov eax,61 (wait4) */
  bytes(&e, "\x31\xf6", 2);                               /* xor esi,esi */
  bytes(&e, "\xba\x00\x00\x00\x40", 5);                   /* mov edx,__WALL */
  bytes(&e, "\x4d\x31\xd2", 3);                           /* xor r10,r10 */
  bytes(&e, "\x0f\x05", 2);                               /* syscall */
  bytes(&e, "\x48\x83\xf8\xfc", 4);                       /* cmp rax,-EINTR */
  bytes(&e, "\x74", 1);                                   /* je wait */
  out[e.at] = (unsigned char)(signed char)((long)wait_at - (long)(e.at + 1));
  e.at++;
  out[restore_jump + 1] = (unsigned char)(e.at - (restore_jump + 2));
  bytes(&e, "\xb8\x0e\x00\x00\x00", 5);                   /* mov eax,14 */
  bytes(&e, "\xbf\x02\x00\x00\x00", 5);                   /* mov edi,SIG_SETMASK */
  mask_lea = e.at; bytes(&e, "\x48\x8d\x35\x00\x00\x00\x00", 7); /* lea rsi,[rip+mask] */
  bytes(&e, "\x31\xd2", 2);                               /* xor edx,edx */
  bytes(&e, "\x41\xba\x08\x00\x00\x00", 6);               /* mov r10d,8 */
  bytes(&e, "\x0f\x05", 2);                               /* syscall */
  imm64(&e, "\x48\xbf", r->rdi);
  imm64(&e, "\x48\xbe", r->rsi);
  imm64(&e, "\x48\xba", r->rdx);
  imm64(&e, "\x49\xba", r->r10);
  imm64(&e, "\x49\xb8", r->r8);
  imm64(&e, "\x49\xb9", r->r9);
  imm64(&e, "\x48\xb9", r->rcx);
  imm64(&e, "\x49\xbb", r->eflags & ~(uint64_t)0x100);   /* mov r11,rflags (no TF) */
  bytes(&e, "\x48\x8d\xa4\x24\x00\xff\xff\xff", 8);       /* lea rsp,[rsp-256] */
  bytes(&e, "\x41\x53\x9d", 3);                           /* push r11; popfq */
  bytes(&e, "\x48\x8d\xa4\x24\x00\x01\x00\x00", 8);       /* lea rsp,[rsp+256] */
  imm64(&e, "\x49\xbb", r->r11);
  imm64(&e, "\x48\xb8", r->rax);
  bytes(&e, "\xff\x25\x00\x00\x00\x00", 6);               /* jmp [rip+0] */
  memcpy(out + e.at, &r->rip, 8); e.at += 8;
  rel = (int32_t)(e.at - (child_jump + 6));
  memcpy(out + child_jump + 2, &rel, 4);
  bytes(&e, "\xb8\x38\x00\x00\x00", 5);                   /* mov eax,56 (clone) */
  bytes(&e, "\xbf\x00\x04\x00\x00", 5);                   /* mov edi,CLONE_FILES */
  bytes(&e, "\x31\xf6\x31\xd2\x4d\x31\xd2\x4d\x31\xc0", 10); /* rsi rdx r10 r8 = 0 */
  bytes(&e, "\x0f\x05", 2);                               /* syscall */
  bytes(&e, "\x48\x85\xc0", 3);                           /* test rax,rax */
  exit_jump = e.at; bytes(&e, "\x75\x00", 2);             /* jnz c1_exit */
  bytes(&e, "\xb8\xb4\x01\x00\x00", 5);                   /* mov eax,436 (close_range) */
  bytes(&e, "\x31\xff", 2);                               /* xor edi,edi */
  bytes(&e, "\xbe\xff\xff\xff\xff", 5);                   /* mov esi,~0U */
  bytes(&e, "\xba\x02\x00\x00\x00", 5);                   /* mov edx,CLOSE_RANGE_UNSHARE */
  bytes(&e, "\x0f\x05", 2);                               /* syscall */
  bytes(&e, "\x31\xff\xeb\x04", 4);                       /* xor edi,edi; jmp do_exit */
  out[exit_jump + 1] = (unsigned char)(e.at - (exit_jump + 2));
  bytes(&e, "\x89\xc7\xf7\xdf", 4);                       /* c1_exit: edi = -rax */
  bytes(&e, "\xb8\xe7\x00\x00\x00", 5);                   /* do_exit: mov eax,231 */
  bytes(&e, "\x0f\x05\x0f\x0b", 4);                       /* syscall; ud2 */
  mask_at = (e.at + 7) & ~(size_t)7;
  memcpy(out + mask_at, &mask, 8);
  rel = (int32_t)(mask_at - (mask_lea + 7));
  memcpy(out + mask_lea + 3, &rel, 4);
  memcpy(out + SITE_SIZE - 8, STUB_MAGIC, 8);
}
/* }====================================================================== */


/* {======================================================================
** Where the stub goes
** ======================================================================= */

struct mapping { uint64_t start, end; char perms[5]; int vdso; int file; };

/* The next line of maps text as a mapping; 0 at the end. */
static int next_mapping (const char **text, const char *end, struct mapping *m) {
  const char *line = *text, *nl;
  unsigned long long a, b;
  char perms[5];
  int path_at = 0;
  if (line >= end) return 0;
  nl = memchr(line, '\n', (size_t)(end - line));
  *text = nl ? nl + 1 : end;
  memset(m, 0, sizeof *m);
  if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &a, &b, perms, &path_at) < 3) return -1;
  m->start = a;
  m->end = b;
  memcpy(m->perms, perms, 5);
  m->vdso = path_at > 0 && !strncmp(line + path_at, "[vdso]", 6);
  m->file = path_at > 0 && line[path_at] == '/';
  return 1;
}

/* AT_ENTRY of the target's auxiliary vector, 0 if unknown. */
static uint64_t entry_point (struct pss_target *t) {
  ssize_t n = pss_read_at(t, t->livefd, "auxv"), i;
  for (i = 0; i + 16 <= n; i += 16) {
    uint64_t type, value;
    memcpy(&type, t->scratch + i, 8);
    memcpy(&value, t->scratch + i + 8, 8);
    if (type == 9 /* AT_ENTRY */) return value;
  }
  return 0;
}

struct injection {
  struct pss_target *t;
  pid_t tid;                       /* the thread that runs the stub */
  int memfd;                       /* /proc/PID/mem of the target */
  struct user_regs_struct frozen;  /* its registers as found */
  struct user_regs_struct resume;  /* the same, ready to run again */
  uint64_t mask;                   /* its signal mask as found */
  uint64_t site;                   /* where the stub is written */
  uint64_t parking;                /* a syscall instruction for the parked clone */
  int stub_written, moved, mask_set, options_set;
  int running;                     /* the thread was resumed and has not stopped since */
  int wait_flags;                  /* PSS_WAIT_KEEP_EXIT when it is our own child's main thread */
  uint64_t deadline;               /* every stop of the injection must come before it */
  pid_t c1, c2;                    /* in our pid namespace; 0 if none */
  int c1_ended;                    /* C1 exited by itself and was collected */
  const char *step;                /* who we wait for, for a timeout's detail */
};

/* Whether the site's bytes are free: zeros after zeros, or a stub left by
** a capturer that died (the padding was zeros before it came). */
static int site_free (const unsigned char *b) {
  size_t i;
  for (i = 0; i < SITE_GUARD; i++) if (b[i]) return 0;
  if (!memcmp(b + SITE_GUARD + SITE_SIZE - 8, STUB_MAGIC, 8)) return 1;
  for (i = SITE_GUARD; i < SITE_GUARD + SITE_SIZE; i++) if (b[i]) return 0;
  return 1;
}

static int try_site (struct injection *in, const struct mapping *m) {
  unsigned char b[SITE_GUARD + SITE_SIZE];
  uint64_t at = m->end - SITE_SIZE;
  if (m->perms[0] != 'r' || m->perms[2] != 'x' || m->end - m->start < sizeof b) return 0;
  if (mem_read(in->memfd, in->t->pid, at - SITE_GUARD, b, sizeof b) < 0 || !site_free(b))
    return 0;
  in->site = at;
  return 1;
}

/* A `syscall` instruction (0f 05) in [start, end) of the target, 0 if none. */
static uint64_t find_syscall (struct injection *in, uint64_t start, uint64_t end) {
  unsigned char b[8192];
  size_t n = end - start < sizeof b ? (size_t)(end - start) : sizeof b, i;
  if (mem_read(in->memfd, in->t->pid, start, b, n) < 0) return 0;
  for (i = 0; i + 1 < n; i++)
    if (b[i] == 0x0f && b[i + 1] == 0x05) return start + i;
  return 0;
}

/*
** The site: the padding at the end of the executable mapping holding the
** program's entry point, else of any other executable mapping. Nobody
** executes padding, so the stub there cannot meet the program's own code.
** Also picks the clone's parking place, a syscall instruction of the vDSO
** (or of the site's mapping).
*/
static int find_site (struct injection *in) {
  struct mapping m, list[512];
  uint64_t entry = entry_point(in->t);
  ssize_t len = pss_read_at(in->t, in->t->livefd, "maps");
  const char *p, *end;
  size_t n = 0, i;
  int r;
  if (len < 0) return (int)len;
  for (p = in->t->scratch, end = p + len; (r = next_mapping(&p, end, &m)) != 0; )
    if (r > 0 && m.perms[2] == 'x' && n < sizeof list / sizeof list[0]) list[n++] = m;
  for (i = 0; i < n && !in->site; i++)
    if (entry >= list[i].start && entry < list[i].end) try_site(in, &list[i]);
  for (i = 0; i < n && !in->site; i++)
    if (list[i].file || list[i].vdso) try_site(in, &list[i]);
  if (!in->site) {
    pss_fail_detail("no executable mapping of the target ends in padding for the injection");
    return -EOPNOTSUPP;
  }
  for (i = 0; i < n && !in->parking; i++)
    if (list[i].vdso) in->parking = find_syscall(in, list[i].start, list[i].end);
  for (i = 0; i < n && !in->parking; i++)
    if (list[i].file) in->parking = find_syscall(in, list[i].start, list[i].end);
  return in->parking ? 0 : -EOPNOTSUPP;
}

/* A thread stopped inside the site is running a stub left by a capturer
** that died: writing there now would change code under it. */
static int site_in_use (struct injection *in, struct pss_freeze *fz) {
  size_t i;
  for (i = 0; i < fz->n; i++) {
    struct user_regs_struct r;
    pid_t tid = pss_freeze_thread(fz, i);
    if (tid == 0 || ptrace(PTRACE_GETREGS, tid, NULL, &r) < 0) continue;
    if (r.rip >= in->site && r.rip < in->site + SITE_SIZE) {
      pss_fail_detail("a thread of the target is still running the stub of an earlier "
                      "capture; try again");
      return -EBUSY;
    }
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Running system calls in a tracee
** ======================================================================= */

enum { STOP_SYSCALL = 1, STOP_CLONE_EVENT = 2 };

/*
** Resumes pid to its next system-call stop or clone event. Stops for job
** control are passed over (PTRACE_SYSCALL overrides them; the kernel puts
** the thread back into the stop at detach); a signal -- only SIGSTOP-like
** ones can come, the rest is blocked -- is passed on as it came. *running
** is 1 while pid runs: a thread that did not come back to a stop cannot be
** touched again.
*/
static int run_to_stop (pid_t pid, int flags, uint64_t deadline, int *running) {
  long sig = 0;
  for (;;) {
    struct pss_stop st;
    int rc;
    if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)sig) < 0) return -errno;
    sig = 0;
    if (running != NULL) *running = 1;
    if ((rc = pss_tracee_wait(pid, flags, deadline, &st)) < 0) return rc;
    if (st.kind == PSS_STOP_EXITED) return -ESRCH;
    if (running != NULL) *running = 0;
    if (st.sig == (SIGTRAP | 0x80)) return STOP_SYSCALL;
    if (st.event == PTRACE_EVENT_CLONE) return STOP_CLONE_EVENT;
    if (st.event == PTRACE_EVENT_STOP) continue;
    if (st.event == 0) sig = st.sig;
  }
}

/* Waits for the first stop of an auto-attached child. */
static int first_stop (pid_t pid, uint64_t deadline) {
  struct pss_stop st;
  int rc = pss_tracee_wait(pid, 0, deadline, &st);
  if (rc < 0) return rc;
  return st.kind == PSS_STOP_TRAP ? 0 : -ESRCH;
}

/*
** Runs the system call the tracee is about to make (its registers are
** set), through its entry and exit stops; *child gets the pid a clone
** event reports. Returns the call's result (rax), or -errno of ptrace.
*/
static int run_syscall (pid_t pid, int flags, uint64_t deadline, int *running, long *result,
                        pid_t *child) {
  struct user_regs_struct r;
  unsigned long msg;
  int rc = run_to_stop(pid, flags, deadline, running);      /* entry */
  if (rc < 0) return rc;
  if ((rc = run_to_stop(pid, flags, deadline, running)) == STOP_CLONE_EVENT) {
    if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg) < 0) return -errno;
    if (child != NULL) *child = (pid_t)msg;
    rc = run_to_stop(pid, flags, deadline, running);         /* exit */
  }
  if (rc < 0) return rc;
  if (ptrace(PTRACE_GETREGS, pid, NULL, &r) < 0) return -errno;
  *result = (long)r.rax;
  return 0;
}

/* Kills and collects one of the injection's own tracees (C1, C2). */
static void reap_tracee (pid_t pid) {
  kill(pid, SIGKILL);
  pss_tracee_collect(pid);
}

/* The registers to resume a thread stopped inside a system call with:
** the kernel's restart work, done here (as CRIU does), since the stop's
** own restart is lost once the thread has run the stub. */
static struct user_regs_struct restartable (const struct user_regs_struct *r) {
  struct user_regs_struct s = *r;
  if ((long)s.orig_rax >= 0) {
    switch ((long)s.rax) {
      case -512: case -513: case -514:          /* ERESTARTSYS, NOINTR, NOHAND */
        s.rax = s.orig_rax; s.rip -= 2; break;
      case -516:                                /* ERESTART_RESTARTBLOCK */
        s.rax = SYS_restart_syscall; s.rip -= 2; break;
      default: break;
    }
  }
  s.orig_rax = (unsigned long long)-1;
  return s;
}
/* }====================================================================== */


/* {======================================================================
** Another process
** ======================================================================= */

/* T's registers for the clone call at the site. */
static int call_clone (struct injection *in) {
  struct user_regs_struct r = in->resume;
  r.rip = in->site;
  r.rax = SYS_clone;
  r.rdi = C1_FLAGS;
  r.rsi = r.rdx = r.r10 = r.r8 = 0;
  r.orig_rax = (unsigned long long)-1;
  return ptrace(PTRACE_SETREGS, in->tid, NULL, &r) < 0 ? -errno : 0;
}

/* Writes the stub and points the thread at it, every signal blocked. The
** order matters if we die in between: code first, then registers; the
** stub restores the mask itself. */
static int arm (struct injection *in) {
  unsigned char stub[SITE_SIZE];
  uint64_t all = ~(uint64_t)0;
  int rc;
  build_stub(stub, &in->resume, in->mask);
  rc = mem_write(in->memfd, in->t->pid, in->site, stub, sizeof stub);
  if (rc < 0) return rc == -ESRCH ? rc : -EPERM;   /* refused, unless the target is gone */
  in->stub_written = 1;
  if (ptrace(PTRACE_SETOPTIONS, in->tid, NULL,
             (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE)) < 0)
    return -errno;
  in->options_set = 1;
  if (call_clone(in) < 0) return -errno;
  in->moved = 1;
  if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)8, &all) < 0) return -errno;
  in->mask_set = 1;
  return 0;
}

/* The error of a failed clone(), with the reason in words. */
static int clone_refused (long result) {
  switch (result) {
    case -ENOMEM:
      pss_fail_detail("the kernel refused to copy the target's address space "
                      "(the memory overcommit limit, or a cgroup's memory limit)");
      break;
    case -EAGAIN:
      pss_fail_detail("the target may not create a process (pids cgroup limit or RLIMIT_NPROC)");
      break;
    case -EPERM: case -EACCES:
      pss_fail_detail("the target's clone() was refused (seccomp or a security module)");
      break;
    default: break;
  }
  return (int)result;
}

/* T clones itself into C1 (sharing its memory); retried while a job-control
** stop makes the kernel ask for a restart. */
static int make_c1 (struct injection *in) {
  int attempt, rc;
  long result = -513;
  for (attempt = 0; attempt < 8 && result <= -512 && result >= -516; attempt++) {
    if (attempt > 0 && (rc = call_clone(in)) < 0) return rc;
    if ((rc = run_syscall(in->tid, in->wait_flags, in->deadline, &in->running, &result,
                          &in->c1)) < 0)
      return rc;
  }
  if (result < 0) {
    in->c1 = 0;
    return clone_refused(result);
  }
  return in->c1 > 0 ? first_stop(in->c1, in->deadline) : -ESRCH;
}

/*
** Resumes C1 to its clone event: C2's pid. C1 runs without system-call
** stops (each stop is a round trip the target waits for); if its clone
** fails, C1 exits with the errno as its exit code.
*/
static int c1_clones (struct injection *in) {
  long sig = 0;
  for (;;) {
    struct pss_stop st;
    unsigned long msg;
    int rc;
    if (ptrace(PTRACE_CONT, in->c1, NULL, (void *)sig) < 0) return -errno;
    sig = 0;
    if ((rc = pss_tracee_wait(in->c1, 0, in->deadline, &st)) < 0) return rc;
    if (st.kind == PSS_STOP_EXITED) {
      in->c1_ended = 1;
      /* its exit code is the clone's errno -- unless someone else took it */
      return st.status != -1 && WIFEXITED(st.status) && WEXITSTATUS(st.status)
             ? -WEXITSTATUS(st.status) : -ESRCH;
    }
    if (st.event == PTRACE_EVENT_CLONE) {
      if (ptrace(PTRACE_GETEVENTMSG, in->c1, NULL, &msg) < 0) return -errno;
      in->c2 = (pid_t)msg;
      return 0;
    }
    if (st.event == 0 && st.sig != SIGTRAP) sig = st.sig;
  }
}

/* C1 forks C2, the clone, which is bound to us at once: if we die from
** here on, the kernel kills it. */
static int make_c2 (struct injection *in) {
  int rc = c1_clones(in);
  if (rc < 0) { in->c2 = 0; return rc == -ESRCH ? rc : clone_refused(rc); }
  if (in->c2 <= 0 || (rc = first_stop(in->c2, in->deadline)) < 0) return in->c2 <= 0 ? -ESRCH : rc;
  if (ptrace(PTRACE_SETOPTIONS, in->c2, NULL,
             (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) < 0)
    return -errno;
  return 0;
}

/* T's stub reaps C1 (killed by us, reported to us first, then to T). */
static int reap_c1 (struct injection *in) {
  long result;
  if (!in->c1_ended) reap_tracee(in->c1);
  in->c1 = 0;
  return run_syscall(in->tid, in->wait_flags, in->deadline, &in->running, &result, NULL);
}

/*
** Puts T back as it was: mask, registers (those found if it never ran,
** else the restartable ones), options, then the site's bytes -- after the
** registers, so a thread is never in code being rewritten. A thread that
** was resumed and did not stop again (past the deadline) is running the
** stub: nothing is touched; the stub restores it by itself once our tracer
** thread exits and lets go of it, and the site keeps the stub's magic.
*/
static int disarm (struct injection *in) {
  static const unsigned char zeros[SITE_SIZE];
  int rc = 0;
  if (in->running) return -ETIMEDOUT;
  if (in->mask_set && ptrace(PTRACE_SETSIGMASK, in->tid, (void *)8, &in->mask) < 0) rc = -errno;
  if (in->moved && ptrace(PTRACE_SETREGS, in->tid, NULL, &in->resume) < 0 && rc == 0) rc = -errno;
  if (in->options_set && ptrace(PTRACE_SETOPTIONS, in->tid, NULL, NULL) < 0 && rc == 0)
    rc = -errno;
  if (rc == 0 && in->stub_written && mem_write(in->memfd, in->t->pid, in->site, zeros, SITE_SIZE) < 0 &&
      rc == 0)
    rc = -EIO;
  return rc;
}

/*
** The injecting thread's seccomp filters, asked about every system call
** the stub makes in it and in the clones (they inherit its filters), with
** the stub's own addresses. Anything but a certain yes is a refusal: a
** filter may kill the whole target.
*/
static int seccomp_allows (struct injection *in) {
  const uint64_t ip = in->site + 2;
  const struct pss_seccomp_call calls[] = {
    { SYS_clone, PSS_SECCOMP_ARCH_NATIVE, ip, { C1_FLAGS, 0, 0, 0, 0, 0 } },
    { SYS_wait4, PSS_SECCOMP_ARCH_NATIVE, ip, { 1, 0, 0x40000000, 0, 0, 0 } },
    { SYS_rt_sigprocmask, PSS_SECCOMP_ARCH_NATIVE, ip, { SIG_SETMASK, 0, 0, 8, 0, 0 } },
    { SYS_clone, PSS_SECCOMP_ARCH_NATIVE, ip, { CLONE_FILES, 0, 0, 0, 0, 0 } },
    { SYS_close_range, PSS_SECCOMP_ARCH_NATIVE, ip, { 0, ~0u, 2, 0, 0, 0 } },
    { SYS_exit_group, PSS_SECCOMP_ARCH_NATIVE, ip, { 0, 0, 0, 0, 0, 0 } },
  };
  const char *why = NULL;
  int verdict = pss_seccomp_check(in->tid, calls, sizeof calls / sizeof calls[0], &why);
  if (verdict < 0) return verdict;
  if (verdict == PSS_SECCOMP_ALLOWED) return 0;
  /* the evaluator's reason names the filter's action and the call */
  pss_fail_detail(why != NULL ? why
                  : verdict == PSS_SECCOMP_DENIED
                    ? "the target's seccomp filter forbids a system call the clone needs"
                    : "the target has seccomp filters pss cannot read (CAP_SYS_ADMIN needed)");
  return -EACCES;
}

static int prepare (struct injection *in, struct pss_freeze *fz) {
  int rc;
  in->deadline = pss_deadline();
  if ((in->tid = pss_freeze_injector(fz)) == 0) {
    size_t i;
    for (i = 0; i < fz->n && pss_freeze_thread(fz, i) == 0; i++) {}
    if (i == fz->n) return -ESRCH;    /* no thread left: the process has exited */
    pss_fail_detail("no thread of the target is in a plain stop to make the clone");
    return -EBUSY;
  }
  in->wait_flags = in->tid == fz->leader && fz->own_child ? PSS_WAIT_KEEP_EXIT : 0;
  if (ptrace(PTRACE_GETREGS, in->tid, NULL, &in->frozen) < 0) return -errno;
  if (in->frozen.cs != 0x33) {
    pss_fail_detail("the target runs 32-bit code, which the clone cannot be injected into");
    return -EOPNOTSUPP;
  }
  in->resume = restartable(&in->frozen);
  if (ptrace(PTRACE_GETSIGMASK, in->tid, (void *)8, &in->mask) < 0) return -errno;
  if ((in->memfd = open_mem(in->t->pid, O_RDWR)) < 0 && (in->memfd = -1, errno == ESRCH))
    return -ESRCH;
  if ((rc = find_site(in)) < 0) return rc;
  if ((rc = site_in_use(in, fz)) < 0) return rc;
  return seccomp_allows(in);
}

static void note_late (const struct injection *in) {
  pss_fail_detailf("%s (pid %d) did not come back within %u ms while the clone was made", in->step,
                   (int)(in->step[4] == 't' ? in->tid : in->c1), pss_wait_limit_ms());
}

int pss_clone_inject (struct pss_target *t, struct pss_freeze *fz, struct pss_clone *c,
                      uint64_t *clone_us) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  struct injection in;
  uint64_t w0 = pss_now_us();
  int rc, undo;
  memset(&in, 0, sizeof in);
  in.t = t;
  in.memfd = -1;
  rc = prepare(&in, fz);
  if (rc == 0) rc = arm(&in);
  in.step = "the target's thread making the clone";
  if (rc == 0) rc = make_c1(&in);
  in.step = "the clone's first process (C1)";
  if (rc == 0) rc = make_c2(&in);
  if (rc == -ETIMEDOUT) note_late(&in);
  if (in.c2 > 0 && rc < 0) { reap_tracee(in.c2); in.c2 = 0; }
  if (in.c1 > 0) {
    int r;
    in.step = "the target's thread collecting C1";
    if ((r = reap_c1(&in)) == -ETIMEDOUT && rc == 0) note_late(&in);
    if (rc == 0) rc = r;
  }
  undo = disarm(&in);
  if (rc == 0) rc = undo;
  if (rc == 0) {
    c->pid = in.c2;
    c->site = in.site;
    c->parking = in.parking;
  }
  else if (in.c2 > 0) reap_tracee(in.c2);
  if (in.memfd >= 0) close(in.memfd);
  *clone_us = pss_now_us() - w0;
  return rc;
}

/*
** After the thaw (the target runs again): the clone runs the rest of the
** stub's child path, close_range(0, ~0U, CLOSE_RANGE_UNSHARE), so that it
** holds no descriptor (no socket kept open, no pipe kept from EOF, no lock
** kept held); its copy of the site gets its zeros back, and it is parked
** on exit_group: resumed by anyone, it just ends.
*/
int pss_clone_settle (struct pss_clone *c) {
  static const unsigned char zeros[SITE_SIZE];
  struct user_regs_struct r;
  long result;
  int rc;
  if (c->self) return 0;
  if ((rc = run_syscall(c->pid, 0, pss_deadline(), NULL, &result, NULL)) < 0) {
    if (rc == -ETIMEDOUT)
      pss_fail_detailf("the clone (pid %d) did not close its descriptors within %u ms",
                       (int)c->pid, pss_wait_limit_ms());
    return rc;
  }
  if (ptrace(PTRACE_GETREGS, c->pid, NULL, &r) < 0) return -errno;
  r.rip = c->parking;
  r.rax = SYS_exit_group;
  r.rdi = 0;
  r.orig_rax = (unsigned long long)-1;
  if (ptrace(PTRACE_SETREGS, c->pid, NULL, &r) < 0) return -errno;
  if ((rc = mem_write(-1, c->pid, c->site, zeros, SITE_SIZE)) < 0) return rc;
  return clone_finish(c);
}
/* }====================================================================== */

#else

int pss_clone_self (struct pss_clone *c) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  (void)c;
  return -EOPNOTSUPP;
}

int pss_clone_inject (struct pss_target *t, struct pss_freeze *fz, struct pss_clone *c,
                      uint64_t *clone_us) {
  c->release = pss_clone_release;   /* the store calls it with its last handle */
  (void)t; (void)fz; (void)c;
  *clone_us = 0;
  return -EOPNOTSUPP;
}

int pss_clone_settle (struct pss_clone *c) {
  (void)c;
  return -EOPNOTSUPP;
}

#endif
