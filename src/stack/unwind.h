/*
** unwind.h -- the unwinder's parts: what unwind.c (the API, the thread
** callbacks, the frames), modules.c (mapped files as libdwfl modules),
** memory.c (the stack memory of a snapshot) and frames.c (symbols and the
** returned block) share.
**
** The unwinder sees libpss only through its public API: contexts, memory
** and image regions of a snapshot, so a live, saved or loaded snapshot
** unwinds alike (`make lint` keeps it so). Its helpers return 0 or -errno;
** Win32 codes at the API boundary, as in libpss.
*/
#ifndef PSS_STACK_UNWIND_H
#define PSS_STACK_UNWIND_H

#include <elf.h>
#include <errno.h>
#include <elfutils/libdwfl.h>

#include "pss.h"

#define PSS_EXPORT __attribute__((visibility("default")))

#pragma GCC visibility push(hidden)

/* x86-64 DWARF register numbers: rax rdx rcx rbx rsi rdi rbp rsp, r8-r15,
** then 16, the return address column, which holds rip. */
#define UNWIND_REGISTERS 17
#define UNWIND_SP 7
#define UNWIND_PC 16

struct unwind_thread {
  DWORD tid;
  DWORD known;                    /* bit n: DWARF register n is what the thread held */
  Dwarf_Word regs[UNWIND_REGISTERS];
};

/* One mapped file: its regions grouped, as elfutils' linux-proc-maps.c
** groups the lines of /proc/PID/maps. */
struct unwind_module {
  struct pss_unwinder *owner;
  UINT64 start, end;              /* from its first region to its last */
  UINT64 map_start, map_end;      /* its first region: its name in map_files */
  UINT64 inode;
  DWORD dev_major, dev_minor;
  char const *path;               /* the pathname column, NUL-terminated */
  char const *file;               /* path without " (deleted)", or NULL */
  size_t path_len;
  unsigned char build_id[PSS_LINUX_BUILD_ID_MAX];
  unsigned char build_id_len;     /* 0: none recorded */
  unsigned char vdso;
};

/* One auxiliary page (a piece of a thread's stack). */
struct unwind_page {
  UINT64 address;
  DWORD size;
  unsigned char const *contents;  /* the pages marker's, valid until it is freed */
};

/* Pages of the VA clone read once and kept: an unwind reads the same few
** stack pages word by word. */
#define UNWIND_CACHE_PAGES 8
#define UNWIND_CACHE_PAGE 4096u
struct unwind_cached {
  UINT64 page;
  DWORD valid;                    /* bytes from page that the clone holds */
  int used;
  unsigned char data[UNWIND_CACHE_PAGE];
};

/* What one code address is: libdwfl's symbol lookup is a walk over the
** whole symbol table, so what each address looked up gave is kept, and a
** frame the stacks share (the threads of a pool) is looked up once. */
#define UNWIND_SITES 1024   /* a power of two */
#define SITE_NAMED 1u       /* module, symbol and build id are known */
#define SITE_SOURCE_KNOWN 8u  /* source file and line are known */
#define SITE_CFI_KNOWN 2u   /* whether CFI covers it is known ... */
#define SITE_CFI 4u         /* ... and it does */
struct unwind_site {
  UINT64 at;                      /* the address looked up */
  unsigned flags;                 /* SITE_*; 0: an empty slot */
  unsigned char build_id_len;
  DWORD line, column;
  UINT64 module_start, symbol_offset;   /* the symbol's offset from at */
  unsigned char const *build_id;  /* libdwfl's */
  char const *module, *symbol, *source;   /* ours or libdwfl's, for the Dwfl's life */
};

/* One frame, as the unwind finds it and then as it is symbolized. */
struct unwind_frame {
  UINT64 pc, sp;
  UINT64 module_start, symbol_offset;
  DWORD line, column;
  unsigned char activation, method, has_sp, build_id_len;
  unsigned char const *build_id;  /* libdwfl's */
  char const *module, *symbol, *source;
  size_t module_len, symbol_len, source_len;
  char *demangled;                /* __cxa_demangle's (its heap), freed after packing */
};

struct pss_unwinder {
  struct pss_unwinder *next;      /* the live unwinders, for handle checks */
  uintptr_t serial;               /* its handle */
  PSS_ALLOCATOR alloc;
  HPSS snapshot;                  /* our duplicate */
  HPSSWALK pages_marker;          /* holds the auxiliary pages' contents */
  DWORD pid;
  UINT64 start_ticks;             /* of the process, as the snapshot recorded it */
  int proc_fd;                    /* /proc/PID of that same process, or -1 */
  int has_clone;
  struct unwind_thread *threads;  /* sorted by tid */
  size_t thread_count;
  struct unwind_module *modules;
  size_t module_count;
  char *paths;                    /* the modules' path strings */
  struct unwind_page *pages;      /* sorted by address */
  size_t page_count;
  Dwfl *dwfl;
  Elf *arch_elf;                  /* names the machine to dwfl_attach_state */
  Elf64_Ehdr arch_ehdr;
  void *vdso_copy;
  /* the unwind under way */
  struct unwind_frame frames[PSS_LINUX_STACK_FRAMES_MAX];
  size_t frame_count;
  DWORD end_reason;
  int read_failed;                /* a read of this step failed, at failed_address */
  UINT64 failed_address;
  char end_detail[200];
  struct unwind_cached cache[UNWIND_CACHE_PAGES];
  unsigned cache_next;
  struct unwind_site sites[UNWIND_SITES];
};

/* Memory of the unwinder and its stacks: the caller's allocator. */
static inline void *pss_unwind_alloc (struct pss_unwinder *u, size_t size) {
  if (size == 0 || size > 0xFFFFFFFFu) return NULL;
  return u->alloc.AllocRoutine(u->alloc.Context, (DWORD)size);
}

static inline void pss_unwind_free (struct pss_unwinder *u, void *p) {
  if (p != NULL) u->alloc.FreeRoutine(u->alloc.Context, p);
}

/* How a walk ended: 0 at its end, else -ENOMEM (the allocator refused)
** or -EIO. */
static inline int pss_unwind_walk_end (DWORD code) {
  return code == ERROR_NO_MORE_ITEMS ? 0 : code == ERROR_NOT_ENOUGH_MEMORY ? -ENOMEM : -EIO;
}

/* modules.c */
int pss_unwind_load_modules(struct pss_unwinder *u);   /* the snapshot's files */
void pss_unwind_open_process(struct pss_unwinder *u);  /* proc_fd, if still the same */
int pss_unwind_report_modules(struct pss_unwinder *u); /* into u->dwfl */
extern const Dwfl_Callbacks pss_unwind_dwfl_callbacks;

/* memory.c */
int pss_unwind_load_pages(struct pss_unwinder *u);
int pss_unwind_read(struct pss_unwinder *u, UINT64 address, void *out, size_t length);

/* frames.c: whether CFI covers a code address (libdwfl then unwinds the
** frame of that address by it, else by its fallback, frame pointers) */
int pss_unwind_has_cfi(struct pss_unwinder *u, UINT64 address);
/* symbolizes u->frames and packs them into one block: 0, or -ENOMEM
** (*stack untouched) */
int pss_unwind_pack(struct pss_unwinder *u, DWORD tid, int lines, PSS_LINUX_STACK **stack);

#pragma GCC visibility pop

#endif
