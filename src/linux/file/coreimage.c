/*
** coreimage.c -- what core.c writes a core of: the image's mappings (one
** read of its smaps), its memory read without unsharing a page, and which
** pages of its anonymous memory it never had (pagemap). See core.c's top
** comment for why the memory is read as it is.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <elf.h>

#include "linux/file/core.h"
#include "linux/file/coreimage.h"
#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

#define CORE_PAGE PSS_CORE_PAGE
/* the longest smaps line kept whole: a 4096-byte path escaped; a longer
** one (a path nested deeper than PATH_MAX) is cut, its path with it */
#define LINE_CAP (64u * 1024)

/* {======================================================================
** The mappings of the image
** ======================================================================= */
void pss_core_maps_free (struct core_maps *m) {
  free(m->v);
  pss_buf_free(&m->paths);
}

/* Appends a maps path, unescaped, to the pool. */
static int add_path (struct core_maps *m, const char *in, size_t n, struct core_map *to) {
  int64_t at = pss_buf_append(&m->paths, NULL, 0, 1);
  if (at < 0 || pss_buf_reserve(&m->paths, n) < 0) return -ENOMEM;
  m->paths.len += pss_unescape_maps_path(in, n, m->paths.data + m->paths.len);
  to->path = (size_t)at;
  to->path_len = m->paths.len - (size_t)at;
  return 0;
}

static int add_map (struct core_maps *m, const struct pss_maps_line *ml) {
  struct core_map *c;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 256;
    struct core_map *grown = realloc(m->v, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    m->v = grown;
    m->cap = cap;
  }
  c = &m->v[m->n];
  memset(c, 0, sizeof *c);
  c->start = ml->start;
  c->end = ml->end;
  c->offset = ml->offset;
  c->pflags = (ml->perms[0] == 'r' ? PF_R : 0) | (ml->perms[1] == 'w' ? PF_W : 0) |
              (ml->perms[2] == 'x' ? PF_X : 0);
  c->shared = ml->perms[3] == 's';
  c->file = ml->inode != 0;
  c->rss_kb = c->swap_kb = -1;
  if (ml->end < ml->start || add_path(m, ml->path, ml->path_len, c) < 0)
    return ml->end < ml->start ? -EINVAL : -ENOMEM;
  m->n++;
  return 0;
}

/*
** One line of smaps (or maps): a mapping, or a field of the last one.
** "dd" (VM_DONTDUMP), "io" (VM_IO), "pf" (VM_PFNMAP): the kernel does not
** dump them, and reading them fails or has side effects.
*/
static int map_line (struct core_maps *m, const char *line, size_t len) {
  struct pss_smaps_line sl;
  struct core_map *c = m->n > 0 ? &m->v[m->n - 1] : NULL;
  if (pss_parse_smaps_line(line, len, &sl) < 0) return -EINVAL;
  if (sl.kind == PSS_SMAPS_MAPPING) return add_map(m, &sl.map);
  if (c == NULL) return 0;
  if (sl.kind == PSS_SMAPS_VMFLAGS)
    c->no_dump = pss_vmflags_has(sl.flags, sl.flags_len, "dd") ||
                 pss_vmflags_has(sl.flags, sl.flags_len, "io") ||
                 pss_vmflags_has(sl.flags, sl.flags_len, "pf");
  else if (sl.kind == PSS_SMAPS_FIELD && sl.name_len == 3 && memcmp(sl.name, "Rss", 3) == 0)
    c->rss_kb = (int64_t)(sl.kb ? sl.value >> 10 : sl.value);
  else if (sl.kind == PSS_SMAPS_FIELD && sl.name_len == 4 && memcmp(sl.name, "Swap", 4) == 0)
    c->swap_kb = (int64_t)(sl.kb ? sl.value >> 10 : sl.value);
  return 0;
}

/* Whether a mapping's bytes go into the file: not when the kernel would
** leave them out (dd, io, pf), nor for anonymous private memory without a
** single page (Rss and Swap 0): all zeros, which reading would fault in,
** and which an ASan process has terabytes of. [vdso] always: gdb reads
** its symbols from the core. */
static int worth_dumping (const struct core_maps *m, const struct core_map *c) {
  static const char vdso[] = "[vdso]";
  int is_vdso = c->path_len == sizeof vdso - 1 &&
                memcmp(m->paths.data + c->path, vdso, sizeof vdso - 1) == 0;
  if (c->no_dump) return 0;
  return is_vdso || c->file || c->shared || c->rss_kb != 0 || c->swap_kb != 0;
}

/* Whether pagemap tells which of a mapping's pages are zeros: anonymous
** private memory, the heap, the stack and named anonymous memory, where a
** page that is neither present nor swapped out has never been written.
** Not the kernel's special mappings ([vdso], [vsyscall], ...): their pages
** are put in place on the first touch, which a fresh clone never made. */
static int is_sparse (const struct core_maps *m, const struct core_map *c) {
  const char *path = m->paths.data + c->path;
  if (c->file || c->shared) return 0;
  return c->path_len == 0 || (c->path_len == 6 && memcmp(path, "[heap]", 6) == 0) ||
         (c->path_len == 7 && memcmp(path, "[stack]", 7) == 0) ||
         (c->path_len > 6 && memcmp(path, "[anon:", 6) == 0);
}

/* The mappings of the image: from smaps, or from maps without smaps. */
int pss_core_maps_read (int dirfd, struct core_maps *m) {
  struct pss_lines l;
  const char *line = NULL;
  size_t len = 0, i;
  int rc = pss_lines_open(&l, dirfd, "smaps", LINE_CAP, PSS_LINES_CUT);
  if (rc == -ESRCH) rc = pss_lines_open(&l, dirfd, "maps", LINE_CAP, PSS_LINES_CUT);
  if (rc < 0) return rc;
  while ((rc = pss_lines_next(&l, &line, &len)) > 0)
    if ((rc = map_line(m, line, len)) < 0) break;
  pss_lines_close(&l);
  if (rc < 0) return rc;
  if (m->n == 0) return -ESRCH;     /* an exited process (a zombie) has no memory */
  for (i = 0; i < m->n; i++) {
    m->v[i].dump = worth_dumping(m, &m->v[i]);
    m->v[i].sparse = is_sparse(m, &m->v[i]);
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** Reading the image's memory
** ======================================================================= */
int pss_core_image_open (struct core_image *im, pid_t pid) {
  im->pid = pid;
  im->vm_readv = 1;
  im->memfd = im->pagemapfd = -1;
  im->page = (uint64_t)sysconf(_SC_PAGESIZE);
  im->dirfd = pid > 0 ? pss_proc_open(pid, NULL, 0) : -ESRCH;
  if (im->dirfd < 0) {
    int rc = im->dirfd;
    im->dirfd = -1;
    return rc;
  }
  im->memfd = openat(im->dirfd, "mem", O_RDONLY | O_CLOEXEC);
  im->mem_error = im->memfd < 0 ? -errno : 0;
  im->pagemapfd = openat(im->dirfd, "pagemap", O_RDONLY | O_CLOEXEC);
  return 0;
}

void pss_core_image_close (struct core_image *im) {
  if (im->pagemapfd >= 0) close(im->pagemapfd);
  if (im->memfd >= 0) close(im->memfd);
  if (im->dirfd >= 0) close(im->dirfd);
}

/* Bytes read at addr (a prefix: reading stops at the first bad page), or
** -errno: -EFAULT where the page cannot be read this way. It unshares
** what it reads (see the top): only for what mem cannot read. */
static ssize_t read_vm (struct core_image *im, uint64_t addr, unsigned char *buf, size_t len) {
  struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
  ssize_t n;
  if (!im->vm_readv) return -EFAULT;
  while ((n = process_vm_readv(im->pid, &local, 1, &remote, 1, 0)) < 0 && errno == EINTR) ;
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
    im->vm_readv = 0;           /* seccomp, or a kernel without it: mem only */
    return -EFAULT;
  }
  return n < 0 ? -errno : n > 0 ? n : -EFAULT;
}

/* The same through /proc/IMAGE/mem, which also reads what the image may
** not (PROT_NONE): -EIO where a page cannot be read at all. */
static ssize_t read_mem (const struct core_image *im, uint64_t addr, unsigned char *buf,
                         size_t len) {
  ssize_t n;
  if (addr > (uint64_t)INT64_MAX) return -EIO;  /* [vsyscall]: pread takes no such offset */
  while ((n = pread(im->memfd, buf, len, (off_t)addr)) < 0 && errno == EINTR) ;
  if (n == 0) return -ESRCH;    /* the image's memory is gone: it exited */
  return n < 0 ? -errno : n;
}

/* Bytes read at addr: through mem, else process_vm_readv; where neither
** reads the page at addr, -EIO or -EFAULT. */
static ssize_t read_some (struct core_image *im, uint64_t addr, unsigned char *buf, size_t len) {
  size_t page = CORE_PAGE - addr % CORE_PAGE;
  ssize_t n;
  if (im->memfd < 0) {
    n = read_vm(im, addr, buf, len);
    /* without mem, what process_vm_readv cannot read is unreadable */
    return n == -EFAULT && !im->vm_readv ? im->mem_error : n;
  }
  n = read_mem(im, addr, buf, len);
  /* the one page mem cannot read ([vsyscall]): none that it can is unshared */
  return n == -EIO ? read_vm(im, addr, buf, len < page ? len : page) : n;
}

/* Fills buf with len bytes of the image at addr; pages no way can read
** are zeros. Fails only when the image is gone or out of reach. */
int pss_core_image_read (struct core_image *im, uint64_t addr, unsigned char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = read_some(im, addr + done, buf + done, len - done);
    if (n == -EIO || n == -EFAULT) {
      n = (ssize_t)(CORE_PAGE - (addr + done) % CORE_PAGE);
      if ((size_t)n > len - done) n = (ssize_t)(len - done);
      memset(buf + done, 0, (size_t)n);
    }
    if (n < 0) return (int)n;
    done += (size_t)n;
  }
  return 0;
}

/* A whole small /proc file of the image, appended to b. */
int pss_core_image_file (const struct core_image *im, const char *name, struct pss_buf *b) {
  int fd = openat(im->dirfd, name, O_RDONLY | O_CLOEXEC), rc = 0;
  if (fd < 0) return errno == ENOENT ? -ESRCH : -errno;
  for (;;) {
    ssize_t n;
    if ((rc = pss_buf_reserve(b, 4096)) < 0) break;
    while ((n = read(fd, b->data + b->len, b->cap - b->len)) < 0 && errno == EINTR) ;
    if (n <= 0) {
      rc = n < 0 ? -errno : 0;
      break;
    }
    b->len += (size_t)n;
  }
  close(fd);
  return rc;
}
/* }====================================================================== */


/* {======================================================================
** Which pages of a sparse mapping may hold data
** ======================================================================= */
#define PM_POPULATED (UINT64_C(3) << 62) /* present (bit 63) or swapped out (62) */

/* Whether the page at addr (below end) may hold data: present or swapped
** out. Where pagemap cannot tell (it would not open or read), every page
** may: it is read, as without pagemap. */
static int populated (struct core_image *im, struct core_pagemap *pm, uint64_t addr,
                      uint64_t end) {
  if (im->pagemapfd < 0) return 1;
  if (addr < pm->from || addr >= pm->to) {
    uint64_t pages = (end - addr) / im->page;
    ssize_t n;
    if (pages > SCAN_PAGES) pages = SCAN_PAGES;
    while ((n = pread(im->pagemapfd, pm->e, pages * sizeof pm->e[0],
                      (off_t)(addr / im->page * sizeof pm->e[0]))) < 0 && errno == EINTR) ;
    if (n < (ssize_t)sizeof pm->e[0]) {
      close(im->pagemapfd);
      im->pagemapfd = -1;
      return 1;
    }
    pm->from = addr;
    pm->to = addr + (uint64_t)n / sizeof pm->e[0] * im->page;
  }
  return (pm->e[(addr - pm->from) / im->page] & PM_POPULATED) != 0;
}

/* The next run of mapping c's pages that may hold data, from addr on and
** at most max bytes long: [*from, *to); *from is c->end if none is left.
** Only a sparse mapping has pages without data. */
void pss_core_next_run (struct core_image *im, struct core_pagemap *pm, const struct core_map *c,
                      uint64_t addr, uint64_t max, uint64_t *from, uint64_t *to) {
  uint64_t a = addr, b;
  if (!c->sparse) {
    *from = addr;
    *to = c->end - addr < max ? c->end : addr + max;
    return;
  }
  while (a < c->end && !populated(im, pm, a, c->end)) a += im->page;
  for (b = a; b < c->end && b - a < max && populated(im, pm, b, c->end); b += im->page) ;
  *from = a;
  *to = b;
}
/* }====================================================================== */
