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
/* Looks a handle up; for snapshots takes a store reference. */
void *pss_registry_get(uintptr_t handle, enum pss_kind kind);
void *pss_registry_remove(uintptr_t handle, enum pss_kind kind);

#pragma GCC visibility pop

#endif
