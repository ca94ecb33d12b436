/*
** coreload.c -- an ELF core file read into a store: the kernel's
** (core_pattern), gdb's gcore, or pss's own (file/core.c). Where each part
** of the snapshot comes from:
**   process  NT_PRPSINFO (ids, state, nice, fname as Comm, psargs as
**            CommandLine), NT_AUXV (AT_ENTRY, AT_EUID, AT_EGID), the NT_FILE
**            mapping holding AT_ENTRY (ImageFileName), the leader's times;
**   threads  one per NT_PRSTATUS, in the file's order (the first is the
**            thread that crashed, or gdb's current one), its CONTEXT made by
**            ptrace/ARCH/regs.c from pr_reg and the NT_FPREGSET and
**            NT_X86_XSTATE after it;
**   regions  one per PT_LOAD, named by the NT_FILE entry starting there;
**            one per NT_FILE mapping no segment covers (gcore leaves
**            read-only file mappings out), of unknown protection;
**   memory   the PT_LOAD bytes, by pread (store/filemem.c); past p_filesz,
**            zeros (ELF's rule) -- but not in a file mapping, whose bytes
**            are the file's: there they are absent.
** Capture flags are what the file holds: THREADS, THREAD_CONTEXT, VA_SPACE,
** and VA_SPACE_SECTION_INFORMATION with an NT_FILE; never VA_CLONE,
** HANDLES or STACKS.
**
** The file is hostile: every offset and length is checked against `size`
** before it is read, every count against the bytes that hold it, and
** nothing is allocated but for bytes the file has. A core cut short is
** refused, naming the part that ends past the end, rather than loaded in
** part: a core cut by RLIMIT_CORE loses its last segments, whose absence
** a reader could not tell from memory never mapped. Numbers are read in
** this machine's byte order (little-endian), as proc/elf.c reads them.
*/
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linux/file/coreload.h"
#include "linux/proc/proc.h"
#include "linux/ptrace/arch.h"

#define BAD (-EBADMSG)
#define SEGMENTS_MAX (1u << 20)   /* 16 times what vm.max_map_count allows by default */

/* The x86-64 core's layouts (what gdb and the kernel agree on, asserted
** against <sys/procfs.h> by ptrace/x86_64/core.c), read at fixed offsets
** so that they are the file's whatever machine reads it. */
#define PRSTATUS_SIZE 336
#define PRSTATUS_CURSIG 12        /* short */
#define PRSTATUS_PID 32           /* int */
#define PRSTATUS_UTIME 48         /* struct timeval */
#define PRSTATUS_STIME 64
#define PRSTATUS_REG 112          /* user_regs_struct: 27 words */
#define PRPSINFO_SIZE 136
#define FPREGSET_SIZE 512
#define NT_X86_XSTATE_TYPE 0x202  /* name "LINUX" */
#define NT_FILE_TYPE 0x46494c45   /* "FILE" */
/* word indices into pr_reg */
enum { R_R10 = 7, R_R9 = 8, R_R8 = 9, R_RDX = 12, R_RSI = 13, R_RDI = 14, R_ORIG_RAX = 15,
       R_RIP = 16, R_RSP = 19, R_FS_BASE = 21 };

/* Every register a core holds for a thread: Rax..R15, Rip, EFlags, the selectors. */
#define CORE_GENERAL_REGISTERS (0xFFFFu | PSS_LINUX_REGISTER_RIP | \
                                PSS_LINUX_REGISTER_EFLAGS | PSS_LINUX_REGISTER_SEGMENTS)

_Static_assert(PSS_REGS_GP_SIZE == 27 * 8, "pr_reg is the registers' gp");
_Static_assert(PSS_REGS_FP_SIZE == FPREGSET_SIZE, "NT_FPREGSET is the registers' fp");

/* What the notes say of one thread: pointers into the notes' bytes. */
struct core_thread {
  const unsigned char *prstatus;     /* PRSTATUS_SIZE bytes */
  const unsigned char *fp;           /* FPREGSET_SIZE bytes, NULL if none */
  const unsigned char *xstate;       /* NULL if none */
  size_t xstate_len;
};

/* An NT_FILE entry: a file mapping. */
struct core_map {
  uint64_t start, end, offset;
  const char *path;
  size_t path_len;
  int covered;                       /* a PT_LOAD starts where it starts */
};

struct core {
  int fd;
  uint64_t base, size;
  Elf64_Phdr *ph;
  size_t phnum;
  unsigned char *notes;              /* every PT_NOTE's bytes, back to back */
  struct core_thread *threads;       /* nthreads of cap */
  size_t nthreads, cap;
  const unsigned char *prpsinfo;     /* NULL if none */
  const unsigned char *auxv, *files; /* NT_AUXV, NT_FILE descs; NULL if none */
  size_t auxv_len, files_len;
  struct core_map *maps;             /* sorted by start */
  size_t nmaps;
  uint64_t entry, euid, egid, vdso;  /* from the auxv; 0 if absent */
};

static int bad (const char *why) { pss_fail_detail(why); return BAD; }

static uint64_t get64 (const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t get32 (const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static uint64_t reg (const struct core_thread *t, int i) {
  return get64(t->prstatus + PRSTATUS_REG + 8 * i);
}

/* [off, off + n) lies inside the core. */
static int within (const struct core *c, uint64_t off, uint64_t n) {
  return off <= c->size && n <= c->size - off;
}

/* n bytes at off of the core, which within() vouched for. */
static int core_read (const struct core *c, uint64_t off, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t k = pread(c->fd, p, n, (off_t)(c->base + off));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -errno;
    if (k == 0) return bad("the core is truncated: the file is shorter than its size");
    p += k;
    off += (uint64_t)k;
    n -= (size_t)k;
  }
  return 0;
}


/* {======================================================================
** Headers
** ======================================================================= */
static int check_header (const Elf64_Ehdr *e) {
  if (memcmp(e->e_ident, ELFMAG, SELFMAG) != 0) return bad("the file is not an ELF file");
  if (e->e_ident[EI_CLASS] != ELFCLASS64) {
    pss_fail_detailf("the core is not a 64-bit ELF file (class %u), this libpss reads x86-64 "
                     "cores", (unsigned)e->e_ident[EI_CLASS]);
    return BAD;
  }
  if (e->e_ident[EI_DATA] != ELFDATA2LSB)
    return bad("the core is big-endian, this libpss reads x86-64 cores");
  if (e->e_ident[EI_VERSION] != EV_CURRENT || e->e_version != EV_CURRENT)
    return bad("the core is of an unknown ELF version");
  if (e->e_machine != EM_X86_64) {
    pss_fail_detailf("the core is of another machine (e_machine %u), this libpss reads x86-64 "
                     "cores", (unsigned)e->e_machine);
    return BAD;
  }
  if (e->e_type != ET_CORE) {
    pss_fail_detailf("the file is an ELF file but no core (e_type %u)", (unsigned)e->e_type);
    return BAD;
  }
  if (e->e_phentsize != sizeof(Elf64_Phdr))
    return bad("the core's program headers are not of ELF64's size");
  return 0;
}

/* The number of segments: e_phnum, or with PN_XNUM the sh_info of section 0. */
static int segment_count (const struct core *c, const Elf64_Ehdr *e, size_t *n) {
  Elf64_Shdr sh;
  int rc;
  if (e->e_phnum != PN_XNUM) {
    *n = e->e_phnum;
    return 0;
  }
  if (e->e_shoff == 0 || e->e_shnum == 0 || e->e_shentsize != sizeof sh)
    return bad("the core says PN_XNUM segments but has no section 0 to count them");
  if (!within(c, e->e_shoff, sizeof sh))
    return bad("the core is truncated: its section header ends past the file's end");
  if ((rc = core_read(c, e->e_shoff, &sh, sizeof sh)) < 0) return rc;
  *n = sh.sh_info;
  return 0;
}

static int read_headers (struct core *c) {
  Elf64_Ehdr e;
  size_t n;
  int rc;
  if (c->size < sizeof e) return bad("the core is truncated: it ends inside its ELF header");
  if ((rc = core_read(c, 0, &e, sizeof e)) < 0 || (rc = check_header(&e)) < 0 ||
      (rc = segment_count(c, &e, &n)) < 0)
    return rc;
  if (n > SEGMENTS_MAX) {
    pss_fail_detailf("the core claims %zu segments, more than the %u this libpss reads", n,
                     SEGMENTS_MAX);
    return BAD;
  }
  if (!within(c, e.e_phoff, (uint64_t)n * sizeof *c->ph))
    return bad("the core is truncated: its program headers end past the file's end");
  if (n == 0) return 0;
  if ((c->ph = malloc(n * sizeof *c->ph)) == NULL) return -ENOMEM;
  c->phnum = n;
  return core_read(c, e.e_phoff, c->ph, n * sizeof *c->ph);
}
/* }====================================================================== */


/* {======================================================================
** Notes
** ======================================================================= */
static int name_is (const unsigned char *name, uint32_t namesz, const char *want) {
  size_t n = strlen(want) + 1;
  return namesz == n && memcmp(name, want, n) == 0;
}

static int add_thread (struct core *c, const unsigned char *prstatus) {
  if (c->nthreads == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    struct core_thread *grown = realloc(c->threads, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    c->threads = grown;
    c->cap = cap;
  }
  memset(&c->threads[c->nthreads], 0, sizeof *c->threads);
  c->threads[c->nthreads++].prstatus = prstatus;
  return 0;
}

static int wrong_size (const char *note, uint32_t got, unsigned want) {
  pss_fail_detailf("the core's %s note is %u bytes, an x86-64 core's is %u", note,
                   (unsigned)got, want);
  return BAD;
}

/*
** One note. A thread's NT_FPREGSET and NT_X86_XSTATE follow its
** NT_PRSTATUS (the kernel's order and gdb's); one before any is no
** thread's. Notes of other types and owners are skipped.
*/
static int take_note (struct core *c, const unsigned char *name, uint32_t namesz,
                      uint32_t type, const unsigned char *desc, uint32_t descsz) {
  struct core_thread *last = c->nthreads > 0 ? &c->threads[c->nthreads - 1] : NULL;
  if (name_is(name, namesz, "LINUX") && type == NT_X86_XSTATE_TYPE && last != NULL) {
    last->xstate = desc, last->xstate_len = descsz;
    return 0;
  }
  if (!name_is(name, namesz, "CORE")) return 0;
  switch (type) {
    case NT_PRSTATUS:
      if (descsz != PRSTATUS_SIZE) return wrong_size("NT_PRSTATUS", descsz, PRSTATUS_SIZE);
      return add_thread(c, desc);
    case NT_FPREGSET:
      if (descsz != FPREGSET_SIZE) return wrong_size("NT_FPREGSET", descsz, FPREGSET_SIZE);
      if (last != NULL) last->fp = desc;
      return 0;
    case NT_PRPSINFO:
      if (descsz != PRPSINFO_SIZE) return wrong_size("NT_PRPSINFO", descsz, PRPSINFO_SIZE);
      if (c->prpsinfo == NULL) c->prpsinfo = desc;
      return 0;
    case NT_AUXV: c->auxv = desc; c->auxv_len = descsz; return 0;
    case NT_FILE_TYPE: c->files = desc; c->files_len = descsz; return 0;
    default: return 0;
  }
}

/* The notes of one PT_NOTE segment: header, name and desc, each padded to
** 4 bytes; the last note's padding may be missing (the segment ends). */
static int parse_notes (struct core *c, const unsigned char *p, size_t n) {
  size_t at = 0;
  while (at < n) {
    uint32_t namesz, descsz, type;
    const unsigned char *name, *desc;
    int rc;
    if (n - at < 12) return bad("a note of the core is cut short by the end of its segment");
    namesz = get32(p + at);
    descsz = get32(p + at + 4);
    type = get32(p + at + 8);
    at += 12;
    name = p + at;
    if (((size_t)namesz + 3) / 4 * 4 > n - at)
      return bad("a note's name runs past the end of its segment");
    at += ((size_t)namesz + 3) / 4 * 4;
    desc = p + at;
    if (descsz > n - at) return bad("a note's descsz runs past the end of its segment");
    at += descsz;
    at += (4 - descsz % 4) % 4 < n - at ? (4 - descsz % 4) % 4 : n - at;
    if ((rc = take_note(c, name, namesz, type, desc, descsz)) < 0) return rc;
  }
  return 0;
}

/* Every PT_NOTE into one block (its bytes are the file's: the segments
** fit in the file and do not add up past its size), then parsed. */
static int read_notes (struct core *c) {
  uint64_t total = 0, at = 0;
  size_t i;
  int rc;
  for (i = 0; i < c->phnum; i++) {
    const Elf64_Phdr *p = &c->ph[i];
    if (p->p_type != PT_NOTE) continue;
    if (!within(c, p->p_offset, p->p_filesz)) {
      pss_fail_detailf("the core is truncated: its note segment %zu ends past the file's end", i);
      return BAD;
    }
    if (p->p_filesz > c->size - total || total + p->p_filesz > (64u << 20))  /* a sparse file */
      return bad("the core's notes add up past its size, or past the 64 MiB this libpss reads");
    total += p->p_filesz;
  }
  if (total == 0) return 0;
  if ((c->notes = malloc((size_t)total)) == NULL) return -ENOMEM;
  for (i = 0; i < c->phnum; i++) {
    const Elf64_Phdr *p = &c->ph[i];
    if (p->p_type != PT_NOTE || p->p_filesz == 0) continue;
    if ((rc = core_read(c, p->p_offset, c->notes + at, (size_t)p->p_filesz)) < 0 ||
        (rc = parse_notes(c, c->notes + at, (size_t)p->p_filesz)) < 0)
      return rc;
    at += p->p_filesz;
  }
  return 0;
}

/* AT_ENTRY, AT_EUID, AT_EGID and AT_SYSINFO_EHDR (the vDSO) of NT_AUXV:
** pairs of words up to AT_NULL. */
static void read_auxv (struct core *c) {
  size_t i;
  for (i = 0; i + 16 <= c->auxv_len; i += 16) {
    uint64_t key = get64(c->auxv + i), value = get64(c->auxv + i + 8);
    if (key == AT_NULL) break;
    if (key == AT_ENTRY) c->entry = value;
    else if (key == AT_SYSINFO_EHDR) c->vdso = value;
    else if (key == AT_EUID) c->euid = value;
    else if (key == AT_EGID) c->egid = value;
  }
}

static int by_start (const void *a, const void *b) {
  const struct core_map *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/*
** NT_FILE: count, page size, count (start, end, page offset) triples,
** then count NUL-terminated paths. The count is held to what the note's
** bytes can hold before anything is allocated for it.
*/
static int read_files (struct core *c) {
  const unsigned char *p = c->files;
  uint64_t count, page;
  size_t i, n = c->files_len, at;
  if (p == NULL) return 0;
  if (n < 16) return bad("the core's NT_FILE note is too short for its header");
  count = get64(p);
  page = get64(p + 8);
  if (count > (n - 16) / 24) {
    pss_fail_detailf("the core's NT_FILE note counts %llu files, more than its %zu bytes hold",
                     (unsigned long long)count, n);
    return BAD;
  }
  if (page == 0 || (page & (page - 1)) != 0)
    return bad("the core's NT_FILE page size is not a power of two");
  if (count == 0) return 0;
  if ((c->maps = calloc((size_t)count, sizeof *c->maps)) == NULL) return -ENOMEM;
  c->nmaps = (size_t)count;
  at = 16 + (size_t)count * 24;
  for (i = 0; i < c->nmaps; i++) {
    struct core_map *m = &c->maps[i];
    const unsigned char *nul;
    uint64_t pgoff = get64(p + 16 + i * 24 + 16);
    m->start = get64(p + 16 + i * 24);
    m->end = get64(p + 16 + i * 24 + 8);
    if (m->end <= m->start || pgoff > UINT64_MAX / page)
      return bad("an NT_FILE mapping of the core is empty or its offset overflows");
    m->offset = pgoff * page;
    if (at >= n || (nul = memchr(p + at, '\0', n - at)) == NULL)
      return bad("an NT_FILE path of the core is not terminated inside the note");
    m->path = (const char *)p + at;
    m->path_len = (size_t)(nul - (p + at));
    at += m->path_len + 1;
  }
  qsort(c->maps, c->nmaps, sizeof *c->maps, by_start);
  return 0;
}

/* The NT_FILE mapping that starts at start, or NULL. */
static struct core_map *map_at (const struct core *c, uint64_t start) {
  size_t lo = 0, hi = c->nmaps;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->maps[mid].start < start) lo = mid + 1;
    else if (c->maps[mid].start > start) hi = mid;
    else return &c->maps[mid];
  }
  return NULL;
}
/* }====================================================================== */


/* {======================================================================
** The process record
** ======================================================================= */
static FILETIME duration (const unsigned char *timeval) {
  uint64_t v = get64(timeval) * 10000000u + get64(timeval + 8) * 10u;
  FILETIME ft = { (DWORD)v, (DWORD)(v >> 32) };
  return ft;
}

/* The executable: the file mapping that holds the entry point. */
static void image_name (const struct core *c, PSS_LINUX_PROCESS_INFORMATION *p) {
  size_t i, units;
  WCHAR *out = p->Process.ImageFileName;
  for (i = 0; i < c->nmaps; i++) {
    const struct core_map *m = &c->maps[i];
    if (c->entry == 0 || c->entry < m->start || c->entry >= m->end) continue;
    units = PssLinuxBytesToUtf16(m->path, m->path_len, out, 259);
    out[units < 259 ? units : 259] = 0;
    return;
  }
}

/*
** Comm is pr_fname; CommandLine pr_psargs: the first 79 bytes of the
** command line with its NULs turned to spaces (gdb writes the executable's
** path there), so a full one may have been cut. NotFrozen is "": every
** thread was stopped while the core was written.
*/
static int process_strings (const struct core *c, struct pss_store *s) {
  PSS_LINUX_PROCESS_INFORMATION *p = &s->process;
  const char *fname = c->prpsinfo != NULL ? (const char *)c->prpsinfo + 40 : "";
  const char *psargs = c->prpsinfo != NULL ? (const char *)c->prpsinfo + 56 : "";
  size_t flen = strnlen(fname, 16), alen = strnlen(psargs, 80);
  int64_t cmd, comm, why;
  if ((cmd = pss_buf_append(&s->pstrings, psargs, alen, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0 ||
      (comm = pss_buf_append(&s->pstrings, fname, flen, 1)) < 0 ||
      pss_buf_append(&s->pstrings, "", 1, 1) < 0 ||
      (why = pss_buf_append(&s->pstrings, "", 1, 1)) < 0)
    return -ENOMEM;
  if (alen >= 79) p->Truncated |= PSS_LINUX_TRUNCATED_COMMAND_LINE;
  p->CommandLineLength = (DWORD)alen;
  p->CommLength = (WORD)flen;
  p->CommandLine = s->pstrings.data + cmd;
  p->Comm = s->pstrings.data + comm;
  p->NotFrozen = s->pstrings.data + why;
  p->NotFrozenLength = 0;
  return 0;
}

static void fill_identity (const struct core *c, PSS_LINUX_PROCESS_INFORMATION *p) {
  const unsigned char *ps = c->prpsinfo;
  PSS_PROCESS_INFORMATION *w = &p->Process;
  char sname;
  w->ExitStatus = STILL_ACTIVE;
  p->CaptureMode = PSS_LINUX_CAPTURE_MODE_CORE;
  p->EntryPoint = c->entry;
  p->ThreadCount = (DWORD)c->nthreads;
  p->EffectiveUserId = (DWORD)c->euid;      /* as at exec: the core holds no later ones */
  p->EffectiveGroupId = (DWORD)c->egid;
  if (ps == NULL) return;
  sname = (char)ps[1];
  if ((sname >= 'A' && sname <= 'Z') || (sname >= 'a' && sname <= 'z')) p->State = sname;
  if (sname == 'T' || sname == 't') w->Flags |= PSS_PROCESS_FLAGS_FROZEN;
  p->Nice = (LONG)(signed char)ps[3];
  w->BasePriority = p->Nice;
  p->RealUserId = get32(ps + 16);
  p->RealGroupId = get32(ps + 20);
  w->ProcessId = get32(ps + 24);
  w->ParentProcessId = get32(ps + 28);
  p->ProcessGroupId = get32(ps + 32);
  p->SessionId = get32(ps + 36);
}
/* }====================================================================== */


/* {======================================================================
** Threads
** ======================================================================= */

/* The system call the registers show, as /proc/TID/syscall derives it
** from them: orig_rax, the argument registers, sp and pc. */
static void fill_syscall (PSS_LINUX_THREAD_ENTRY *e, const struct core_thread *t) {
  static const int args[6] = { R_RDI, R_RSI, R_RDX, R_R10, R_R8, R_R9 };
  uint64_t nr = reg(t, R_ORIG_RAX);
  int i;
  e->LastSyscallStackPointer = reg(t, R_RSP);
  e->LastSyscallProgramCounter = reg(t, R_RIP);
  if (nr > 0x7FFFFFFFu) {       /* -1: in none */
    e->SyscallNumber = -1;
    e->Thread.LastSyscallNumber = PSS_LINUX_SYSCALL_NONE;
    return;
  }
  e->SyscallNumber = (LONG)nr;
  e->Thread.LastSyscallNumber = (WORD)nr;
  e->Thread.LastSyscallFirstArgument = (void *)(uintptr_t)reg(t, R_RDI);
  for (i = 0; i < 6; i++) e->LastSyscallArguments[i] = reg(t, args[i]);
}

/*
** ExitStatus is 128 + pr_cursig, the signal the thread was stopped with
** when the core was written -- in a kernel core the one killing the
** process -- else STILL_ACTIVE. Times are pr_utime and pr_stime (the
** kernel gives the leader's the whole process's; gdb and pss write 0).
*/
static int add_thread_row (struct pss_store *s, const struct core_thread *t) {
  struct pss_thread_row *row = pss_table_add_row(&s->tables[PSS_TABLE_THREADS]);
  PSS_THREAD_ENTRY *w;
  unsigned sig;
  if (row == NULL) return -ENOMEM;
  w = &row->e.Thread;
  sig = (unsigned)(t->prstatus[PRSTATUS_CURSIG] | t->prstatus[PRSTATUS_CURSIG + 1] << 8);
  w->ExitStatus = sig != 0 ? 128u + sig : STILL_ACTIVE;
  w->ProcessId = s->process.Process.ProcessId;
  w->ThreadId = get32(t->prstatus + PRSTATUS_PID);
  w->UserTime = duration(t->prstatus + PRSTATUS_UTIME);
  w->KernelTime = duration(t->prstatus + PRSTATUS_STIME);
  w->TebBaseAddress = (void *)(uintptr_t)reg(t, R_FS_BASE);
  row->stack_pointer = reg(t, R_RSP);
  fill_syscall(&row->e, t);
  if (w->ThreadId == w->ProcessId && w->ProcessId != 0) {
    w->Win32StartAddress = (void *)(uintptr_t)s->process.EntryPoint;
    s->process.Process.UserTime = w->UserTime;
    s->process.Process.KernelTime = w->KernelTime;
  }
  return 0;
}

/*
** The thread's CONTEXT, as a capture stores one (ptrace/ARCH/regs.c), from
** the registers the core holds: no debug registers. -EOPNOTSUPP: this
** machine makes no x86-64 CONTEXT (no port), so the thread has none.
*/
static int add_context (struct pss_store *s, size_t i, const struct core_thread *t,
                        struct pss_registers *r) {
  struct pss_table *tab = &s->tables[PSS_TABLE_THREADS];
  struct pss_thread_row *row;
  DWORD flags = CONTEXT_CONTROL | CONTEXT_INTEGER | CONTEXT_SEGMENTS, held;
  size_t size;
  int64_t off;
  memset(r, 0, offsetof(struct pss_registers, xstate));
  memcpy(r->gp, t->prstatus + PRSTATUS_REG, PSS_REGS_GP_SIZE);
  r->known = CORE_GENERAL_REGISTERS;
  if (t->fp != NULL) {
    memcpy(r->fp, t->fp, PSS_REGS_FP_SIZE);
    r->have_fp = 1;
    r->known |= PSS_LINUX_REGISTER_FLOATING;
    flags |= CONTEXT_FLOATING_POINT;
  }
  if (t->xstate != NULL && t->xstate_len <= sizeof r->xstate) {  /* else more than a CPU has */
    memcpy(r->xstate, t->xstate, t->xstate_len);
    r->xstate_len = t->xstate_len;
    r->known |= PSS_LINUX_REGISTER_XSTATE;
    flags |= CONTEXT_XSTATE;
  }
  off = pss_context_append(&tab->strings, r, 0, flags, &size, &held);
  if (off < 0) return (int)off;
  row = pss_table_row(tab, i);
  row->e.ContextRegisters = held;
  row->e.Thread.ContextRecord = (PCONTEXT)(uintptr_t)(off + 1);
  row->e.Thread.SizeOfContextRecord = (WORD)size;
  if (s->context_length < size) s->context_length = (DWORD)size;
  return 0;
}

static int load_threads (const struct core *c, struct pss_store *s) {
  struct pss_registers *r;
  size_t i;
  int rc = 0;
  if (c->nthreads == 0) return 0;
  s->flags |= PSS_CAPTURE_THREADS;
  for (i = 0; i < c->nthreads; i++)
    if ((rc = add_thread_row(s, &c->threads[i])) < 0) return rc;
  if ((r = aligned_alloc(_Alignof(struct pss_registers), sizeof *r)) == NULL) return -ENOMEM;
  for (i = 0; rc == 0 && i < c->nthreads; i++) rc = add_context(s, i, &c->threads[i], r);
  free(r);
  if (rc == -EOPNOTSUPP) return 0;
  if (rc == 0) s->flags |= PSS_CAPTURE_THREAD_CONTEXT;
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Regions and memory
** ======================================================================= */

/*
** One region. A core does not say whether a mapping was shared: it is
** taken as private ('p'), as nearly all are. perms "???" : the core holds
** no segment for the mapping, so its protection is unknown (Protect 0).
*/
static int add_region (struct pss_table *tab, uint64_t start, uint64_t size, const char *perms,
                       const struct core_map *m, int vdso) {
  const char *path = m != NULL ? m->path : vdso ? "[vdso]" : "";
  size_t plen = m != NULL ? m->path_len : strlen(path);
  PSS_LINUX_VA_SPACE_ENTRY *e;
  int64_t off;
  if (plen > 4096) plen = 4096;    /* as a capture: maps' longest path */
  if ((off = pss_table_bytes(tab, path, plen)) < 0) return -ENOMEM;
  if ((e = pss_table_add_row(tab)) == NULL) return -ENOMEM;
  e->Path = (const char *)(uintptr_t)off;
  e->PathLength = (WORD)plen;
  e->Region.BaseAddress = (void *)(uintptr_t)start;
  e->Region.AllocationBase = e->Region.BaseAddress;
  e->Region.RegionSize = size;
  e->Offset = m != NULL ? m->offset : 0;
  memcpy(e->Permissions, perms, 3);
  e->Permissions[3] = 'p';
  e->Region.Protect = perms[0] == '?' ? 0 : pss_region_protect(e->Permissions, m != NULL);
  e->Region.AllocationProtect = e->Region.Protect;
  e->Region.State = e->Region.Protect == PAGE_NOACCESS ? MEM_RESERVE : MEM_COMMIT;
  e->Region.Type = m != NULL ? MEM_MAPPED : vdso ? MEM_IMAGE : MEM_PRIVATE;
  return 0;
}

/* A segment's memory: its bytes in the file, then zeros to p_memsz --
** but the rest of a file mapping is the file's, which the core lacks. */
static int add_memory (const struct core *c, struct pss_store *s, size_t i, int file) {
  const Elf64_Phdr *p = &c->ph[i];
  int rc;
  if (!within(c, p->p_offset, p->p_filesz)) {
    pss_fail_detailf("the core is truncated: segment %zu ends past the file's end", i);
    return BAD;
  }
  rc = pss_filemem_add(&s->mem, p->p_vaddr, p->p_filesz, c->base + p->p_offset);
  if (rc == 0 && !file)
    rc = pss_filemem_add(&s->mem, p->p_vaddr + p->p_filesz, p->p_memsz - p->p_filesz,
                         PSS_FILEMEM_ZEROS);
  if (rc == -EINVAL) return bad("the core's segments overlap or are out of order");
  return rc;
}

/* The NT_FILE mappings below `below` that no segment starts at, as
** regions of unknown protection (from *next on); those that overlap a
** segment are dropped. */
static int add_unloaded (const struct core *c, struct pss_table *tab, size_t *next,
                         uint64_t below, uint64_t *last_end) {
  int rc;
  for (; *next < c->nmaps && c->maps[*next].start < below; ++*next) {
    const struct core_map *m = &c->maps[*next];
    if (m->covered || m->start < *last_end || m->end > below) continue;
    if ((rc = add_region(tab, m->start, m->end - m->start, "???", m, 0)) < 0) return rc;
    *last_end = m->end;
  }
  return 0;
}

static int load_segments (const struct core *c, struct pss_store *s) {
  struct pss_table *tab = &s->tables[PSS_TABLE_REGIONS];
  uint64_t last_end = 0;
  size_t i, next = 0;
  int rc;
  for (i = 0; i < c->phnum; i++) {
    const Elf64_Phdr *p = &c->ph[i];
    struct core_map *m = map_at(c, p->p_vaddr);
    if (p->p_type == PT_LOAD && m != NULL) m->covered = 1;
  }
  for (i = 0; i < c->phnum; i++) {
    const Elf64_Phdr *p = &c->ph[i];
    const struct core_map *m;
    char perms[4];
    if (p->p_type != PT_LOAD || p->p_memsz == 0) continue;
    if (p->p_filesz > p->p_memsz || p->p_vaddr + p->p_memsz < p->p_vaddr) {
      pss_fail_detailf("the core's segment %zu holds more than its size or wraps around", i);
      return BAD;
    }
    if (p->p_vaddr < last_end) return bad("the core's segments overlap or are out of order");
    if ((rc = add_unloaded(c, tab, &next, p->p_vaddr, &last_end)) < 0) return rc;
    m = map_at(c, p->p_vaddr);
    perms[0] = p->p_flags & PF_R ? 'r' : '-';
    perms[1] = p->p_flags & PF_W ? 'w' : '-';
    perms[2] = p->p_flags & PF_X ? 'x' : '-';
    perms[3] = '\0';
    if ((rc = add_region(tab, p->p_vaddr, p->p_memsz, perms, m,
                         m == NULL && c->vdso != 0 && p->p_vaddr == c->vdso)) < 0 ||
        (rc = add_memory(c, s, i, m != NULL)) < 0)
      return rc;
    last_end = p->p_vaddr + p->p_memsz;
  }
  return add_unloaded(c, tab, &next, UINT64_MAX, &last_end);
}

/* Rows [first, end) map one file back to back. */
static size_t group_end (struct pss_table *tab, size_t first) {
  const PSS_LINUX_VA_SPACE_ENTRY *a = pss_table_row(tab, first);
  const char *pool = tab->strings.data;
  size_t i;
  for (i = first + 1; i < tab->count; i++) {
    const PSS_LINUX_VA_SPACE_ENTRY *b = pss_table_row(tab, i), *prev = pss_table_row(tab, i - 1);
    uintptr_t prev_end = (uintptr_t)prev->Region.BaseAddress + prev->Region.RegionSize;
    if (b->Region.Type != MEM_MAPPED || b->PathLength != a->PathLength ||
        memcmp(pool + (uintptr_t)b->Path - 1, pool + (uintptr_t)a->Path - 1, a->PathLength) != 0 ||
        (uintptr_t)b->Region.BaseAddress != prev_end)
      break;
  }
  return i;
}

/* Whether the core's memory at address starts with an ELF header. */
static int elf_at (const struct pss_store *s, uint64_t address) {
  char magic[SELFMAG];
  return pss_filemem_read(&s->mem, address, magic, sizeof magic) == (ssize_t)sizeof magic &&
         memcmp(magic, ELFMAG, SELFMAG) == 0;
}

/*
** As proc/region.c: one allocation per file mapped back to back (the
** same path: a core has no inodes), an image when one of its mappings is
** executable -- or, where the core does not give the protection, when
** its memory begins with an ELF header.
*/
static void group_allocations (struct pss_store *s) {
  struct pss_table *tab = &s->tables[PSS_TABLE_REGIONS];
  size_t i = 0, k, end;
  while (i < tab->count) {
    PSS_LINUX_VA_SPACE_ENTRY *first = pss_table_row(tab, i);
    int image = 0, unknown = 0;
    if (first->Region.Type != MEM_MAPPED) { i++; continue; }
    end = group_end(tab, i);
    for (k = i; k < end; k++) {
      const PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, k);
      image |= e->Permissions[2] == 'x';
      unknown |= e->Permissions[2] == '?';
    }
    if (!image && unknown && first->Offset == 0)
      image = elf_at(s, (uintptr_t)first->Region.BaseAddress);
    pss_region_group(tab, i, end, image);
    i = end;
  }
}

/* PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION: the names as UTF-16. */
static int name_mapped_files (struct pss_table *tab) {
  size_t i;
  for (i = 0; i < tab->count; i++) {
    PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, i);
    char path[4096];
    int64_t off;
    if (e->Region.Type == MEM_PRIVATE || e->PathLength == 0) continue;
    /* copied out first: the pool may move while the UTF-16 form grows it */
    memcpy(path, tab->strings.data + (uintptr_t)e->Path - 1, e->PathLength);
    off = pss_table_utf16(tab, path, e->PathLength, &e->Region.MappedFileNameLength);
    if (off < 0) return -ENOMEM;
    e = pss_table_row(tab, i);
    e->Region.MappedFileName = (const WCHAR *)(uintptr_t)off;
  }
  return 0;
}
/* }====================================================================== */


static ssize_t core_memory (void *mem, uint64_t address, void *buf, size_t n) {
  return pss_filemem_read(mem, address, buf, n);
}

static int load (struct core *c, struct pss_store *s) {
  int rc;
  if ((rc = read_headers(c)) < 0 || (rc = read_notes(c)) < 0 || (rc = read_files(c)) < 0)
    return rc;
  read_auxv(c);
  fill_identity(c, &s->process);
  image_name(c, &s->process);
  if ((rc = process_strings(c, s)) < 0 || (rc = load_threads(c, s)) < 0 ||
      (rc = load_segments(c, s)) < 0)
    return rc;
  s->flags |= PSS_CAPTURE_VA_SPACE;
  group_allocations(s);
  if (c->files == NULL) return 0;
  s->flags |= PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION;
  if ((rc = name_mapped_files(&s->tables[PSS_TABLE_REGIONS])) < 0) return rc;
  /* build ids from the images' first pages in the core (the kernel and gcore
  ** dump them): with no inode in a core, they are how an unwinder knows a
  ** file on disk is the one that was mapped */
  {
    struct pss_image_reader r = { core_memory, &s->mem };
    pss_build_ids(&s->tables[PSS_TABLE_REGIONS], &r);
  }
  return 0;
}

int pss_core_load (int fd, uint64_t base, uint64_t size, struct pss_store **out) {
  struct core c;
  struct pss_store *s;
  int rc;
  *out = NULL;
  if (base > (uint64_t)INT64_MAX || size > (uint64_t)INT64_MAX - base) return -EINVAL;
  memset(&c, 0, sizeof c);
  c.fd = fd;
  c.base = base;
  c.size = size;
  if ((s = pss_store_new(PSS_CAPTURE_NONE)) == NULL) return -ENOMEM;
  /* the store reads the segments through a descriptor of its own (closed
  ** with it, on failure too) */
  if ((s->mem.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) rc = -errno;
  else rc = load(&c, s);
  free(c.ph);
  free(c.notes);
  free(c.threads);
  free(c.maps);
  if (rc < 0) {
    pss_store_release(s);
    return rc;
  }
  *out = s;
  return 0;
}
