/*
** store.h -- the snapshot store and the handle registry.
**
** The store is immutable once captured and shared by duplicates. Rows are
** the Linux extension entries (the Windows entry first); their pointer
** fields hold offsets+1 into the table's string pool until a walk
** relocates them into the marker's copy of that pool.
*/
#ifndef PSS_LINUX_STORE_STORE_H
#define PSS_LINUX_STORE_STORE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux/common.h"
#include "linux/store/buf.h"
#include "linux/store/error.h"

#pragma GCC visibility push(hidden)

enum pss_table_id { PSS_TABLE_NONE = 0, PSS_TABLE_REGIONS = 1,
                    PSS_TABLE_HANDLES = 2, PSS_TABLE_THREADS = 3,
                    PSS_TABLE_AUX_PAGES = 4,   /* PSS_AUXILIARY_PAGE_ENTRY rows;
                                                  the pool holds the pages */
                    PSS_TABLE_COUNT = 5 };

struct pss_table {
  struct pss_buf rows;     /* array of row_size records */
  struct pss_buf strings;  /* UTF-16 and byte strings of those rows */
  size_t row_size;
  size_t count;
};

/* A thread row: the public Linux entry plus its UTF-16 name for
** PSS_WALK_THREAD_NAME. */
struct pss_thread_row {
  PSS_LINUX_THREAD_ENTRY e;
  uintptr_t name16;        /* offset+1 into strings, 0 if none */
  WORD name16_len;         /* bytes */
  uint64_t stack_pointer;  /* STACKS: the frozen thread's, whatever the CONTEXT
                              holds; 0 if its registers were not taken */
};

/* The VA clone: a process holding the target's memory as it was at the
** capture instant. The store only holds it; ptrace/vaclone.c makes it and
** sets `release`, which the store calls when its last handle goes. */
struct pss_clone {
  pid_t pid;               /* in our pid namespace; 0 if the snapshot has none */
  int self;                /* our own child: a clone of the calling process */
  int hold;                /* self: the write end of the pipe whose EOF ends it */
  int pidfd;               /* PSS_VA_CLONE_INFORMATION.VaCloneHandle */
  int procdir;             /* that handle is a /proc/PID directory, not a pidfd */
  int memfd;               /* /proc/CLONE/mem, for what process_vm_readv cannot read */
  uint64_t site, parking;  /* another process's clone: where its stub is, and a
                              syscall instruction to park it on */
  struct pss_tracer *keeper;  /* another process's clone: the thread tracing it */
  pid_t owner;             /* the process that made it (a fork of it does not own it) */
  void (*release)(struct pss_clone *c);  /* kills and reaps it; NULL: no clone */
};

/*
** Memory held in a file rather than by a live clone: a loaded snapshot's
** saved memory, or a core's PT_LOAD segments. Segments are sorted by
** address and disjoint; a segment whose offset is PSS_FILEMEM_ZEROS reads
** as zeros (a page the saver or the kernel left out because it held none).
** The file is read with pread only, so its offset is never used.
*/
#define PSS_FILEMEM_ZEROS UINT64_MAX
struct pss_fileseg { uint64_t address, length, offset; };
struct pss_filemem {
  int fd;                  /* -1: none */
  struct pss_fileseg *segs;
  size_t count, cap;
};
/* Adds a segment after the last one (addresses ascending, no overlap:
** -EINVAL otherwise, -ENOMEM). */
int pss_filemem_add(struct pss_filemem *m, uint64_t address, uint64_t length, uint64_t offset);
/* The bytes from address up to the first the memory does not hold, as
** pss_clone_read counts them; -ENOENT without memory, -errno of pread. */
ssize_t pss_filemem_read(const struct pss_filemem *m, uint64_t address, void *buf, size_t n);
void pss_filemem_free(struct pss_filemem *m);

struct pss_store {
  atomic_int refs;
  uint64_t serial;         /* unique per store: keys a marker's pool copies */
  PSS_CAPTURE_FLAGS flags;
  int vm;
  PSS_LINUX_PROCESS_INFORMATION process; /* pointers absolute into pstrings */
  struct pss_buf pstrings;
  PSS_PERFORMANCE_COUNTERS perf;
  UINT64 freeze_cycles, freeze_us;  /* how long the target was stopped */
  DWORD threads_frozen;
  DWORD context_length;             /* bytes of each ContextRecord, 0 without */
  struct pss_table tables[PSS_TABLE_COUNT];
  struct pss_clone clone;
  struct pss_filemem mem;  /* a loaded snapshot's memory (it has no clone) */
};

struct pss_store *pss_store_new(PSS_CAPTURE_FLAGS flags);
void pss_store_release(struct pss_store *s);
/* Stores a string in a table's pool as UTF-16 (with a NUL unit); returns
** offset+1 and the length in bytes (without the NUL), or -ENOMEM. */
int64_t pss_table_utf16(struct pss_table *t, const char *bytes, size_t n,
                        WORD *len_bytes);
int64_t pss_table_bytes(struct pss_table *t, const char *bytes, size_t n);
void *pss_table_add_row(struct pss_table *t);   /* zeroed; NULL on ENOMEM */
static inline void *pss_table_row(struct pss_table *t, size_t i) {
  return t->rows.data + i * t->row_size;
}

/* Handle registry: HPSS / HPSSWALK are slot numbers with a generation, so a
** freed or forged handle is detected instead of dereferenced. */
enum pss_kind { PSS_KIND_SNAPSHOT = 1, PSS_KIND_MARKER = 2 };
uintptr_t pss_registry_add(enum pss_kind kind, void *object);  /* 0: ENOMEM */
/* Looks a handle up; for snapshots takes a store reference. A snapshot
** handed over by another process is loaded on its first lookup. */
void *pss_registry_get(uintptr_t handle, enum pss_kind kind);
/* Takes a handle out; NULL for a handed-over snapshot (pss_handoff_free). */
void *pss_registry_remove(uintptr_t handle, enum pss_kind kind);

/*
** A snapshot another process handed to this one (PssDuplicateSnapshot into
** it, file/handoff.c) is a sealed memfd named PSS_HANDOFF_NAME in this
** process's descriptor table. Its HPSS value names the descriptor and the
** low 27 bits of the file's inode, with bit 63 set, which no registry
** handle has (their generation is at most 0x7FFFFFFF):
**   (1 << 63) | (inode bits << 36) | (fd << 4) | PSS_KIND_SNAPSHOT
** The store loaded from it is kept, keyed by that value, for as long as
** the descriptor is open and is that file.
*/
#define PSS_HANDOFF_NAME "pss-snapshot"
#define PSS_HANDOFF_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
uintptr_t pss_handoff_value(int fd, uint64_t inode);
/* The descriptor a handed-over snapshot's value names; -1 if h is none. */
int pss_handoff_fd(uintptr_t h);
/* 0 if fd is the sealed memfd h names; -EBADF with a detail if not. */
int pss_handoff_check(int fd, uintptr_t h);
/* The store in the handed-over file fd (checked against h first). */
int pss_handoff_load(int fd, uintptr_t h, struct pss_store **out);
/* PssFreeSnapshot of a handed-over snapshot in this process: its store
** let go of, its descriptor closed. 0, or -EBADF with a detail. */
int pss_handoff_free(uintptr_t h);
/* How a handed-over file is read (file/: pss_snapshot_load); set once at
** start-up by the layer that has the loader. */
void pss_handoff_set_loader(int (*load)(int fd, struct pss_store **out));

#pragma GCC visibility pop

#endif
