/*
** coreimage.h -- the process image a core is written of (coreimage.c):
** its mappings, its memory and the pages it never had. Internal to
** file/core.c.
*/
#ifndef PSS_LINUX_FILE_COREIMAGE_H
#define PSS_LINUX_FILE_COREIMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux/store/buf.h"

#pragma GCC visibility push(hidden)

#define SCAN_PAGES 4096u                 /* pagemap entries read at once: 32 KiB */

/* One mapping of the image (a line of smaps, with its flags and counts). */
struct core_map {
  uint64_t start, end, offset;
  uint32_t pflags;           /* PF_R | PF_W | PF_X */
  int shared, file;          /* 's'; backed by a file (listed in NT_FILE) */
  int no_dump;               /* VmFlags dd, io or pf */
  int64_t rss_kb, swap_kb;   /* -1: unknown (no smaps) */
  size_t path, path_len;     /* unescaped, in the maps' path pool */
  int dump;                  /* decided: its bytes go into the file */
  int sparse;                /* anonymous private memory: a page never had is zeros */
};

struct core_maps {
  struct core_map *v;
  size_t n, cap;
  struct pss_buf paths;
};

/* The image: /proc/IMAGE and how its memory is read. */
struct core_image {
  pid_t pid;
  int dirfd;                 /* /proc/IMAGE */
  int memfd;                 /* /proc/IMAGE/mem, -1 if it would not open */
  int mem_error;             /* why not */
  int vm_readv;              /* process_vm_readv works here */
  int pagemapfd;             /* /proc/IMAGE/pagemap, -1: every page counts as populated */
  uint64_t page;             /* the kernel's page: pagemap has one entry per page */
};

/* A window of the image's pagemap: the entries of the pages [from, to). */
struct core_pagemap {
  uint64_t from, to;
  uint64_t e[SCAN_PAGES];
};

/* The mappings of the image in /proc/IMAGE (dirfd): from smaps, or from
** maps without smaps; -ESRCH when it has none (it exited). */
int pss_core_maps_read(int dirfd, struct core_maps *m);
void pss_core_maps_free(struct core_maps *m);

/* Opens /proc/IMAGE and its mem and pagemap; 0 or -errno. */
int pss_core_image_open(struct core_image *im, pid_t pid);
void pss_core_image_close(struct core_image *im);
/* Fills buf with len bytes of the image at addr; pages no way can read
** are zeros. Fails only when the image is gone or out of reach. */
int pss_core_image_read(struct core_image *im, uint64_t addr, unsigned char *buf, size_t len);
/* A whole small /proc file of the image, appended to b. */
int pss_core_image_file(const struct core_image *im, const char *name, struct pss_buf *b);
/* The next run of mapping c's pages that may hold data, from addr on and
** at most max bytes long: [*from, *to); *from is c->end if none is left. */
void pss_core_next_run(struct core_image *im, struct core_pagemap *pm, const struct core_map *c,
                       uint64_t addr, uint64_t max, uint64_t *from, uint64_t *to);

#pragma GCC visibility pop

#endif
