/*
** core.c -- an ELF core file of a process image, laid out as the kernel
** lays out its own (fs/binfmt_elf.c), so gdb reads it as one:
**
**   ELF header | program headers: PT_NOTE, then one PT_LOAD per mapping |
**   the notes | (from a page boundary) the segments' bytes, in maps order |
**   [one section header, only with PN_XNUM or more segments]
**
** Everything before the segments' bytes is built in memory first (its size
** says where the bytes go), then the memory is copied in large chunks, read
** by a thread of its own while the caller's thread writes (Copying the
** memory, below). The mappings come from one read of smaps (its
** header lines are the maps lines; maps itself where smaps is missing),
** so the list, the flags and the page counts agree with each other.
**
** The image is a copy-on-write clone of the target, so nearly all its
** pages are shared with the running target, and the way they are read
** decides what a core costs. process_vm_readv pins each page it reads,
** and pinning a shared anonymous page "unshares" it: the kernel copies the
** page into the clone first, so the clone's memory doubles and a 4 GiB
** core took 7 to 23 s here; a pread of /proc/IMAGE/mem takes a plain
** reference and copies nothing into the clone (about 0.3 s per GiB). So
** mem is the way; process_vm_readv only reads what mem will not
** ([vsyscall]) or where mem will not open. Reading a page the image never
** had allocates it, so in anonymous private memory /proc/IMAGE/pagemap is
** asked first: a page neither present nor swapped out is zeros, and is
** left as a hole in a file (the kernel's own core dumper skips such pages
** alike) unread.
*/
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <elf.h>
#include <sys/procfs.h>

#include "linux/file/core.h"
#include "linux/file/coreimage.h"
#include "linux/ptrace/arch.h"
#include "linux/store/store.h"
#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

#define CORE_PAGE PSS_CORE_PAGE       /* the machine's page; NT_FILE counts in it */
#define CHUNK (1u << 20)              /* bytes copied per read and write */

/* The machine's sizes (gdb checks them) are asserted by ptrace/ARCH/core.c;
** a thread's gp is at most pr_reg (all of it where there is a port). */
_Static_assert(sizeof(elf_gregset_t) >= sizeof ((struct pss_core_thread *)0)->gp,
               "gp fits pr_reg");
_Static_assert(sizeof(siginfo_t) == 128, "NT_SIGINFO is a 128-byte siginfo");

/* {======================================================================
** Writing the file
**
** The core goes to a descriptor the caller owns, so the writer changes no
** more of it than the core needs: a regular file gets the core from its
** offset on (pwrite, zero pages left as holes), and its offset ends after
** the core; anything else gets every byte in order through write(). Two
** signals a write can raise would kill a caller that never asked for
** them: SIGPIPE (a pipe or socket without a reader) and SIGXFSZ (past
** RLIMIT_FSIZE). The kernel sends both to the writing thread, so they are
** blocked in it while the core is written, and one that the writer's own
** failure raised is taken back before the mask is restored; the caller
** sees EPIPE or EFBIG instead.
** ======================================================================= */
struct core_out {
  int fd;
  int holes;                 /* a regular file: pwrite at offsets, zero pages skipped */
  int nonblock;              /* O_NONBLOCK: wait for room instead of failing with EAGAIN */
  off_t base;                /* a regular file: where the core begins in it */
  uint64_t off;              /* bytes of the core so far */
  int signo;                 /* a signal the writer's own failure raised, 0 if none */
  int masked;                /* SIGPIPE and SIGXFSZ blocked; `mask` to restore */
  sigset_t mask, pending;    /* the caller's mask; what was pending before */
};

/* Why a write failed, in words, where the errno alone says too little to
** act on; NULL where strerror says it all. */
const char *pss_core_write_cause (int e) {
  switch (e) {
    case ENOSPC: return "no space left on the device the core is written to";
    case EDQUOT: return "the disk quota of the user is used up";
    case EFBIG:
      return "the core is larger than the file size limit (RLIMIT_FSIZE) or than the file "
             "system allows";
    case EPIPE: return "the reader of the pipe or socket went away before the core was complete";
    case EIO: return "the device the core is written to reported an I/O error";
    case EAGAIN: return "the descriptor's send timeout expired (SO_SNDTIMEO)";
    default: return NULL;
  }
}

/* A failed write: its detail, the signal it raised (EFBIG: SIGXFSZ,
** EPIPE: SIGPIPE), and -errno. */
static int write_failed (struct core_out *o, int e) {
  pss_fail_detail(pss_core_write_cause(e));
  if (e == EFBIG) o->signo = SIGXFSZ;
  if (e == EPIPE) o->signo = SIGPIPE;
  return -e;
}

static void guard_signals (struct core_out *o) {
  sigset_t both;
  sigemptyset(&both);
  sigaddset(&both, SIGPIPE);
  sigaddset(&both, SIGXFSZ);
  o->masked = pthread_sigmask(SIG_BLOCK, &both, &o->mask) == 0 && sigpending(&o->pending) == 0;
}

/* Takes back the signal the writer raised unless one was pending before
** (that one is the caller's), then restores the caller's mask. */
static void unguard_signals (struct core_out *o) {
  if (!o->masked) return;
  if (o->signo != 0 && !sigismember(&o->pending, o->signo)) {
    static const struct timespec now = { 0, 0 };
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, o->signo);
    while (sigtimedwait(&one, NULL, &now) < 0 && errno == EINTR) ;
  }
  pthread_sigmask(SIG_SETMASK, &o->mask, NULL);
  o->masked = 0;
}

/*
** A descriptor open for writing (else -EBADF). A regular file opened
** without O_APPEND (pwrite ignores the offset under O_APPEND on Linux)
** gets the core at its offset: what it held past that offset goes first,
** so the holes read as zeros.
*/
static int out_open (struct core_out *o, int fd) {
  struct stat st;
  int fl;
  memset(o, 0, sizeof *o);
  o->fd = fd;
  if ((fl = fcntl(fd, F_GETFL)) < 0 || fstat(fd, &st) < 0) return -errno;
  if ((fl & O_ACCMODE) == O_RDONLY) return -EBADF;      /* O_PATH too */
  o->holes = S_ISREG(st.st_mode) && !(fl & O_APPEND);
  o->nonblock = (fl & O_NONBLOCK) != 0;
  if (o->holes) {
    if ((o->base = lseek(fd, 0, SEEK_CUR)) < 0) return -errno;
    if (st.st_size > o->base && ftruncate(fd, o->base) < 0) return write_failed(o, errno);
  }
  guard_signals(o);
  return 0;
}

/* Writes n bytes at the core's offset `at` (a stream ignores it: it is
** always there), retrying short writes and interrupted ones. */
static int put (struct core_out *o, const void *p, size_t n, uint64_t at) {
  const char *c = p;
  while (n > 0) {
    ssize_t w;
    if (o->holes && at + n > (uint64_t)(INT64_MAX - o->base)) return write_failed(o, EFBIG);
    w = o->holes ? pwrite(o->fd, c, n, o->base + (off_t)at) : write(o->fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN && o->nonblock) {
      /* the caller's non-blocking pipe or socket is full: wait for room,
      ** as a blocking one would, rather than change its flags */
      struct pollfd pf = { o->fd, POLLOUT, 0 };
      if (poll(&pf, 1, -1) < 0 && errno != EINTR) return write_failed(o, errno);
      continue;
    }
    if (w <= 0) return write_failed(o, w < 0 ? errno : EIO);
    c += w;
    n -= (size_t)w;
    at += (uint64_t)w;
  }
  return 0;
}

static int out_bytes (struct core_out *o, const void *p, size_t n) {
  int rc = put(o, p, n, o->off);
  if (rc == 0) o->off += n;
  return rc;
}

/* n bytes of zeros: a hole in a file, written out to a stream. */
static int out_zeros (struct core_out *o, size_t n) {
  static const unsigned char zeros[CORE_PAGE];
  while (!o->holes && n > 0) {
    size_t k = n < sizeof zeros ? n : sizeof zeros;
    int rc = out_bytes(o, zeros, k);
    if (rc < 0) return rc;
    n -= k;
  }
  if (o->holes) o->off += n;
  return 0;
}

static int page_is_zero (const unsigned char *p, size_t n) {
  return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* Memory contents: in a file, runs of pages with data; zero pages are
** holes. n is a multiple of the page size. */
static int out_memory (struct core_out *o, const unsigned char *p, size_t n) {
  size_t i = 0, run;
  int rc;
  if (!o->holes) return out_bytes(o, p, n);
  while (i < n) {
    for (; i < n && page_is_zero(p + i, CORE_PAGE); i += CORE_PAGE) ;
    for (run = i; run < n && !page_is_zero(p + run, CORE_PAGE); run += CORE_PAGE) ;
    if (run > i && (rc = put(o, p + i, run - i, o->off + i)) < 0) return rc;
    i = run;
  }
  o->off += n;
  return 0;
}

/* A file ending in a hole gets its length, and its offset moves past the
** core as write() would have moved it. */
static int out_finish (struct core_out *o) {
  off_t end = o->base + (off_t)o->off;
  if (!o->holes) return 0;
  if (ftruncate(o->fd, end) < 0) return write_failed(o, errno);
  return lseek(o->fd, end, SEEK_SET) < 0 ? -errno : 0;
}

static void out_close (struct core_out *o) {
  unguard_signals(o);
}
/* }====================================================================== */


/* {======================================================================
** Notes, in the kernel's order: NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO,
** NT_AUXV, NT_FILE, NT_FPREGSET for the first thread; NT_PRSTATUS and
** NT_FPREGSET for each other thread. All named "CORE"; name and desc are
** padded to 4 bytes.
** ======================================================================= */
static int note_begin (struct pss_buf *b, uint32_t type, size_t size) {
  Elf64_Nhdr h;
  h.n_namesz = sizeof "CORE";
  h.n_descsz = (Elf64_Word)size;
  h.n_type = type;
  if (size > UINT32_MAX) return -E2BIG;
  if (pss_buf_append(b, &h, sizeof h, 4) < 0 || pss_buf_append(b, "CORE", sizeof "CORE", 4) < 0 ||
      pss_buf_append(b, NULL, 0, 4) < 0)
    return -ENOMEM;
  return 0;
}

static int note_end (struct pss_buf *b) {
  return pss_buf_append(b, NULL, 0, 4) < 0 ? -ENOMEM : 0;
}

static int add_note (struct pss_buf *b, uint32_t type, const void *desc, size_t size) {
  int rc = note_begin(b, type, size);
  if (rc == 0 && pss_buf_append(b, desc, size, 1) < 0) rc = -ENOMEM;
  return rc < 0 ? rc : note_end(b);
}

static int add_prstatus (struct pss_buf *b, const struct pss_core_process *p,
                         const struct pss_core_thread *t) {
  struct elf_prstatus st;
  memset(&st, 0, sizeof st);
  st.pr_pid = t->tid;
  st.pr_ppid = p->ppid;
  st.pr_pgrp = p->pgrp;
  st.pr_sid = p->sid;
  memcpy(&st.pr_reg, t->gp, sizeof t->gp);
  st.pr_fpvalid = t->have_fp != 0;
  return add_note(b, NT_PRSTATUS, &st, sizeof st);
}

/* pr_state is the letter's place in "RSDTZW", as the kernel numbers it. */
static int add_prpsinfo (struct pss_buf *b, const struct pss_core_process *p) {
  static const char states[] = "RSDTZW";
  char letter = p->state == 't' ? 'T' : p->state;
  const char *at = letter != '\0' ? strchr(states, letter) : NULL;
  struct elf_prpsinfo ps;
  memset(&ps, 0, sizeof ps);
  ps.pr_state = (char)(at != NULL ? at - states : (int)sizeof states - 1);
  ps.pr_sname = at != NULL ? letter : '.';
  ps.pr_zomb = letter == 'Z';
  ps.pr_nice = (char)p->nice;
  ps.pr_uid = p->uid;
  ps.pr_gid = p->gid;
  ps.pr_pid = p->pid;
  ps.pr_ppid = p->ppid;
  ps.pr_pgrp = p->pgrp;
  ps.pr_sid = p->sid;
  memcpy(ps.pr_fname, p->fname, strnlen(p->fname, sizeof ps.pr_fname));
  memcpy(ps.pr_psargs, p->psargs, strnlen(p->psargs, sizeof ps.pr_psargs - 1));
  return add_note(b, NT_PRPSINFO, &ps, sizeof ps);
}

/* NT_AUXV: /proc/IMAGE/auxv as it is (gdb relocates a PIE by AT_ENTRY). */
static int add_auxv (struct pss_buf *b, const struct core_image *im) {
  struct pss_buf auxv = { NULL, 0, 0, 0 };
  int rc = pss_core_image_file(im, "auxv", &auxv);
  if (rc == 0 && auxv.len == 0) rc = -ESRCH;    /* exited meanwhile */
  if (rc == 0) rc = add_note(b, NT_AUXV, auxv.data, auxv.len);
  pss_buf_free(&auxv);
  return rc;
}

/* NT_FILE: count, page size, then (start, end, offset in pages) of every
** file mapping, then their paths, each NUL-terminated. */
static int add_files (struct pss_buf *b, const struct core_maps *m) {
  uint64_t head[2] = { 0, CORE_PAGE };
  size_t i, size = sizeof head;
  int rc;
  for (i = 0; i < m->n; i++)
    if (m->v[i].file) {
      head[0]++;
      size += 3 * sizeof(uint64_t) + m->v[i].path_len + 1;
    }
  if ((rc = note_begin(b, NT_FILE, size)) < 0) return rc;
  if (pss_buf_reserve(b, size) < 0) return -ENOMEM;
  pss_buf_append(b, head, sizeof head, 1);
  for (i = 0; i < m->n; i++)
    if (m->v[i].file) {
      uint64_t e[3] = { m->v[i].start, m->v[i].end, m->v[i].offset / CORE_PAGE };
      pss_buf_append(b, e, sizeof e, 1);
    }
  for (i = 0; i < m->n; i++)
    if (m->v[i].file) {
      pss_buf_append(b, m->paths.data + m->v[i].path, m->v[i].path_len, 1);
      pss_buf_append(b, "", 1, 1);
    }
  return note_end(b);
}

static int add_fpregset (struct pss_buf *b, const struct pss_core_thread *t) {
  return t->have_fp ? add_note(b, NT_FPREGSET, t->fp, sizeof t->fp) : 0;
}

static int add_notes (struct pss_buf *b, const struct core_image *im, const struct core_maps *m,
                      const struct pss_core_process *p, const struct pss_core_thread *threads,
                      size_t nthreads) {
  static const siginfo_t no_signal;
  size_t i;
  int rc = add_prstatus(b, p, &threads[0]);
  if (rc == 0) rc = add_prpsinfo(b, p);
  if (rc == 0) rc = add_note(b, NT_SIGINFO, &no_signal, sizeof no_signal);
  if (rc == 0) rc = add_auxv(b, im);
  if (rc == 0) rc = add_files(b, m);
  if (rc == 0) rc = add_fpregset(b, &threads[0]);
  for (i = 1; rc == 0 && i < nthreads; i++)
    if ((rc = add_prstatus(b, p, &threads[i])) == 0) rc = add_fpregset(b, &threads[i]);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Headers
** ======================================================================= */
static uint64_t round_page (uint64_t n) {
  return (n + CORE_PAGE - 1) & ~(uint64_t)(CORE_PAGE - 1);
}

static void fill_ehdr (Elf64_Ehdr *e, size_t phnum) {
  memset(e, 0, sizeof *e);
  memcpy(e->e_ident, ELFMAG, SELFMAG);
  e->e_ident[EI_CLASS] = ELFCLASS64;
  e->e_ident[EI_DATA] = ELFDATA2LSB;
  e->e_ident[EI_VERSION] = EV_CURRENT;
  e->e_ident[EI_OSABI] = ELFOSABI_NONE;
  e->e_type = ET_CORE;
  e->e_machine = (Elf64_Half)pss_core_machine();
  e->e_version = EV_CURRENT;
  e->e_phoff = sizeof *e;
  e->e_ehsize = sizeof *e;
  e->e_phentsize = sizeof(Elf64_Phdr);
  e->e_phnum = (Elf64_Half)(phnum < PN_XNUM ? phnum : PN_XNUM);
}

/* The program headers; returns where the segments' bytes end. */
static uint64_t fill_phdrs (Elf64_Phdr *ph, const struct core_maps *m, uint64_t notes_off,
                            uint64_t notes_len, uint64_t data_off) {
  size_t i;
  memset(ph, 0, (m->n + 1) * sizeof *ph);
  ph[0].p_type = PT_NOTE;
  ph[0].p_offset = notes_off;
  ph[0].p_filesz = notes_len;
  ph[0].p_align = 4;
  for (i = 0; i < m->n; i++) {
    Elf64_Phdr *p = &ph[i + 1];
    p->p_type = PT_LOAD;
    p->p_flags = m->v[i].pflags;
    p->p_offset = data_off;
    p->p_vaddr = m->v[i].start;
    p->p_memsz = m->v[i].end - m->v[i].start;
    p->p_filesz = m->v[i].dump ? p->p_memsz : 0;
    p->p_align = CORE_PAGE;
    data_off += p->p_filesz;
  }
  return data_off;
}

/* With PN_XNUM or more segments, e_phnum says PN_XNUM and the count is in
** the sh_info of a single section header, at the end of the file. */
static void fill_extnum (Elf64_Ehdr *e, Elf64_Shdr *sh, size_t phnum, uint64_t at) {
  memset(sh, 0, sizeof *sh);
  if (phnum < PN_XNUM) return;
  e->e_shoff = at;
  e->e_shentsize = sizeof *sh;
  e->e_shnum = 1;
  sh->sh_size = 1;
  sh->sh_info = (Elf64_Word)phnum;
}

/*
** Everything up to the segments' bytes: ELF header, program headers and
** notes, in b; *data_off is where the bytes begin, *sh the section header
** to write after them (sh_info 0: none).
*/
static int build_head (struct pss_buf *b, Elf64_Shdr *sh, uint64_t *data_off,
                       const struct core_image *im, const struct core_maps *m,
                       const struct pss_core_process *p, const struct pss_core_thread *threads,
                       size_t nthreads) {
  size_t phnum = m->n + 1, head = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  uint64_t end;
  int rc;
  if (phnum > UINT32_MAX) return -E2BIG;
  if (pss_buf_reserve(b, head) < 0) return -ENOMEM;
  memset(b->data, 0, head);
  b->len = head;
  if ((rc = add_notes(b, im, m, p, threads, nthreads)) < 0) return rc;
  *data_off = round_page(b->len);
  end = fill_phdrs((Elf64_Phdr *)(void *)(b->data + sizeof(Elf64_Ehdr)), m, head, b->len - head,
                   *data_off);
  fill_ehdr((Elf64_Ehdr *)(void *)b->data, phnum);
  fill_extnum((Elf64_Ehdr *)(void *)b->data, sh, phnum, end);
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Copying the memory
**
** Reading the image and writing the file each cost about as much (a copy
** of every byte in the kernel, and for mem a second one), so a reader
** thread reads the next pieces while the caller's thread writes the last
** ones, through SLOTS buffers of a CHUNK each: the copy takes about as
** long as the slower of the two instead of their sum. The writing stays
** in the caller's thread (the signals a write raises are sent to the
** writing thread, and are blocked in this one; the progress routine is
** called in it). The reader blocks every signal, so the caller's signals
** never land in it. Where no thread can be made, one thread does both in
** turn.
** ======================================================================= */
#define SLOTS 4

/* What the reader hands the writer: gap bytes without data (a hole, or
** zeros to a stream), then len bytes of data in buf. */
struct core_piece {
  uint64_t gap, len;
  unsigned char *buf;
  int rc;                    /* reading failed: -errno, and nothing follows */
  int end;                   /* the memory is complete: nothing follows */
};

struct core_copy {
  struct core_image *im;
  const struct core_maps *m;
  size_t map;                /* the reader's place: the mapping, */
  uint64_t addr;             /* and the address in it */
  struct core_piece slot[SLOTS];
  unsigned read, written;    /* pieces so far; piece k is in slot k % SLOTS */
  int stop;                  /* the writer failed: the reader ends */
  pthread_mutex_t lock;
  pthread_cond_t moved;      /* read, written or stop changed */
  unsigned char *zeros;      /* CHUNK zeros for a stream's gaps */
  struct core_pagemap pm;
};

/* Reads the next piece: the next run of pages that may hold data, a
** CHUNK at most, and the pages without data before it. */
static void read_piece (struct core_copy *cp, struct core_piece *pc) {
  const struct core_maps *m = cp->m;
  uint64_t from, to;
  pc->gap = pc->len = 0;
  pc->rc = pc->end = 0;
  while (cp->map < m->n && (!m->v[cp->map].dump || cp->addr >= m->v[cp->map].end))
    if (++cp->map < m->n) cp->addr = m->v[cp->map].start;
  if (cp->map == m->n) {
    pc->end = 1;
    return;
  }
  pss_core_next_run(cp->im, &cp->pm, &m->v[cp->map], cp->addr, CHUNK, &from, &to);
  if (to < from) to = from;
  pc->gap = from - cp->addr;
  pc->len = to - from;
  if (pc->len > 0) pc->rc = pss_core_image_read(cp->im, from, pc->buf, (size_t)pc->len);
  cp->addr = to;
}

/* How far the copy of the memory is, for the caller's progress routine
** (pss_progress): bytes of the dumped mappings copied, of `total`; told
** about once per CHUNK. */
struct core_progress {
  uint64_t done, told, total;
};

static void advance (struct core_progress *p, uint64_t n) {
  p->done += n;
  if (p->done - p->told < CHUNK && p->done != p->total) return;
  p->told = p->done;
  pss_progress(p->done, p->total);
}

/* Writes a piece: its gap as a hole in a file, as zeros to a stream. */
static int write_piece (struct core_out *o, const struct core_copy *cp,
                        const struct core_piece *pc, struct core_progress *p) {
  uint64_t gap = pc->gap;
  int rc = pc->rc;
  if (rc == 0 && o->holes) rc = out_zeros(o, (size_t)gap);
  while (rc == 0 && !o->holes && gap > 0) {
    size_t k = gap < CHUNK ? (size_t)gap : CHUNK;
    rc = out_bytes(o, cp->zeros, k);
    gap -= k;
  }
  if (rc == 0 && pc->len > 0) rc = out_memory(o, pc->buf, (size_t)pc->len);
  if (rc == 0) advance(p, pc->gap + pc->len);
  return rc;
}

static void *reader (void *arg) {
  struct core_copy *cp = arg;
  struct core_piece *pc;
  int done = 0;
  pthread_mutex_lock(&cp->lock);
  while (!done) {
    while (!cp->stop && cp->read - cp->written == SLOTS) pthread_cond_wait(&cp->moved, &cp->lock);
    if (cp->stop) break;
    pc = &cp->slot[cp->read % SLOTS];
    pthread_mutex_unlock(&cp->lock);
    read_piece(cp, pc);
    done = pc->end || pc->rc < 0;
    pthread_mutex_lock(&cp->lock);
    cp->read++;
    pthread_cond_broadcast(&cp->moved);
  }
  pthread_mutex_unlock(&cp->lock);
  return NULL;
}

/* The reader, its signals blocked; 0 where none could be made. */
static int start_reader (struct core_copy *cp, pthread_t *t) {
  sigset_t all, old;
  int made;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  made = pthread_create(t, NULL, reader, cp) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return made;
}

/* The writer's side, while the reader runs: every piece in order, until
** the end, a failed read or a failed write (then the reader is told to
** stop). */
static int write_pieces (struct core_out *o, struct core_copy *cp, struct core_progress *p) {
  int rc = 0;
  for (;;) {
    struct core_piece *pc;
    pthread_mutex_lock(&cp->lock);
    while (cp->written == cp->read) pthread_cond_wait(&cp->moved, &cp->lock);
    pc = &cp->slot[cp->written % SLOTS];
    pthread_mutex_unlock(&cp->lock);
    if (pc->end) return 0;
    rc = write_piece(o, cp, pc, p);
    pthread_mutex_lock(&cp->lock);
    cp->written++;
    cp->stop = rc < 0;
    pthread_cond_broadcast(&cp->moved);
    pthread_mutex_unlock(&cp->lock);
    if (rc < 0) return rc;
  }
}

/* One thread reading and writing in turn. */
static int copy_in_turn (struct core_out *o, struct core_copy *cp, struct core_progress *p) {
  for (;;) {
    int rc;
    read_piece(cp, &cp->slot[0]);
    if (cp->slot[0].end) return 0;
    if ((rc = write_piece(o, cp, &cp->slot[0], p)) < 0) return rc;
  }
}

/* The bytes of every mapping to dump, in order; pages without data are
** never read. A cancellation would leave the reader behind: none is
** taken meanwhile. */
static int copy_memory (struct core_out *o, struct core_image *im, const struct core_maps *m) {
  struct core_progress progress = { 0, 0, 0 };
  struct core_copy *cp = calloc(1, sizeof *cp);
  unsigned char *bufs = malloc((size_t)SLOTS * CHUNK);
  pthread_t t;
  size_t i;
  int rc = -ENOMEM, cancel;
  for (i = 0; i < m->n; i++)
    if (m->v[i].dump) progress.total += m->v[i].end - m->v[i].start;
  if (cp != NULL && bufs != NULL && (o->holes || (cp->zeros = calloc(1, CHUNK)) != NULL)) {
    cp->im = im;
    cp->m = m;
    cp->addr = m->n > 0 ? m->v[0].start : 0;
    for (i = 0; i < SLOTS; i++) cp->slot[i].buf = bufs + i * CHUNK;
    pthread_mutex_init(&cp->lock, NULL);
    pthread_cond_init(&cp->moved, NULL);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    if (start_reader(cp, &t)) {
      rc = write_pieces(o, cp, &progress);
      pthread_join(t, NULL);
    } else {
      rc = copy_in_turn(o, cp, &progress);
    }
    pthread_setcancelstate(cancel, NULL);
    pthread_cond_destroy(&cp->moved);
    pthread_mutex_destroy(&cp->lock);
  }
  if (cp != NULL) free(cp->zeros);
  free(cp);
  free(bufs);
  return rc;
}
/* }====================================================================== */


static int write_core (struct core_out *o, struct core_image *im, const struct core_maps *m,
                       const struct pss_buf *head, const Elf64_Shdr *sh, uint64_t data_off) {
  int rc = out_bytes(o, head->data, head->len);
  if (rc == 0) rc = out_zeros(o, (size_t)(data_off - head->len));
  if (rc == 0) rc = copy_memory(o, im, m);
  if (rc == 0 && sh->sh_info != 0) rc = out_bytes(o, sh, sizeof *sh);
  if (rc == 0) rc = out_finish(o);
  return rc;
}

int pss_core_write (int fd, pid_t image, const struct pss_core_process *proc,
                    const struct pss_core_thread *threads, size_t nthreads) {
  struct core_out out;
  struct core_image im = { 0, -1, -1, 0, 0, -1, 0 };
  struct core_maps maps = { NULL, 0, 0, { NULL, 0, 0, 0 } };
  struct pss_buf head = { NULL, 0, 0, 0 };
  Elf64_Shdr sh;
  uint64_t data_off = 0;
  int rc;
  if (pss_core_machine() == 0) return -EOPNOTSUPP;      /* no port: no registers to write */
  if (proc == NULL || threads == NULL || nthreads == 0) return -EINVAL;
  /* everything that can fail without writing is done before the first byte */
  if ((rc = pss_core_image_open(&im, image)) == 0 && (rc = pss_core_maps_read(im.dirfd, &maps)) == 0 &&
      (rc = build_head(&head, &sh, &data_off, &im, &maps, proc, threads, nthreads)) == 0 &&
      (rc = out_open(&out, fd)) == 0) {
    rc = write_core(&out, &im, &maps, &head, &sh, data_off);
    out_close(&out);
  }
  pss_buf_free(&head);
  pss_core_maps_free(&maps);
  pss_core_image_close(&im);
  return rc;
}
