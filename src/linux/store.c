/*
** store.c -- the snapshot store, the handle registry, growable buffers and
** the errno -> Win32 mapping.
*/
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* {======================================================================
** Buffers
** ======================================================================= */
static size_t page_round (size_t n) { return (n + 4095) & ~(size_t)4095; }

static int buf_grow (struct pss_buf *b, size_t need) {
  size_t cap = b->cap ? b->cap : 256;
  void *p;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return -ENOMEM;
    cap *= 2;
  }
  if (b->vm) {
    cap = page_round(cap);
    p = b->data ? mremap(b->data, b->cap, cap, MREMAP_MAYMOVE)
                : mmap(NULL, cap, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -ENOMEM;
  }
  else if ((p = realloc(b->data, cap)) == NULL) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pss_buf_reserve (struct pss_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return -ENOMEM;
  return b->len + extra <= b->cap ? 0 : buf_grow(b, b->len + extra);
}

int64_t pss_buf_append (struct pss_buf *b, const void *p, size_t n, size_t align) {
  size_t at = (b->len + align - 1) & ~(align - 1);
  int rc = pss_buf_reserve(b, at - b->len + n);
  if (rc < 0) return rc;
  if (at > b->len) memset(b->data + b->len, 0, at - b->len);
  if (n > 0) memcpy(b->data + at, p, n);
  b->len = at + n;
  return (int64_t)at;
}

void pss_buf_free (struct pss_buf *b) {
  if (b->data == NULL) return;
  if (b->vm) munmap(b->data, b->cap);
  else free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
/* }====================================================================== */


/* {======================================================================
** Store
** ======================================================================= */
static atomic_uint_fast64_t store_serial = 1;

static const size_t row_sizes[PSS_TABLE_COUNT] = {
  0, sizeof(PSS_LINUX_VA_SPACE_ENTRY), sizeof(PSS_LINUX_HANDLE_ENTRY),
  sizeof(struct pss_thread_row)
};

struct pss_store *pss_store_new (PSS_CAPTURE_FLAGS flags) {
  int vm = (flags & PSS_CREATE_USE_VM_ALLOCATIONS) != 0;
  struct pss_store *s;
  int i;
  if (vm) {
    s = mmap(NULL, page_round(sizeof *s), PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return NULL;
  }
  else if ((s = malloc(sizeof *s)) == NULL) return NULL;
  memset(s, 0, sizeof *s);
  atomic_init(&s->refs, 1);
  s->serial = atomic_fetch_add(&store_serial, 1);
  s->flags = flags;
  s->vm = vm;
  s->pstrings.vm = vm;
  s->clone.hold = s->clone.pidfd = s->clone.memfd = -1;
  s->clone.owner = getpid();
  for (i = 0; i < PSS_TABLE_COUNT; i++) {
    s->tables[i].rows.vm = s->tables[i].strings.vm = vm;
    s->tables[i].row_size = row_sizes[i];
  }
  return s;
}

void pss_store_release (struct pss_store *s) {
  int i;
  if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) return;
  pss_clone_release(&s->clone);
  for (i = 0; i < PSS_TABLE_COUNT; i++) {
    pss_buf_free(&s->tables[i].rows);
    pss_buf_free(&s->tables[i].strings);
  }
  pss_buf_free(&s->pstrings);
  if (s->vm) munmap(s, page_round(sizeof *s));
  else free(s);
}

void *pss_table_add_row (struct pss_table *t) {
  int64_t at = pss_buf_append(&t->rows, NULL, 0, 8);
  if (at < 0 || pss_buf_reserve(&t->rows, t->row_size) < 0) return NULL;
  memset(t->rows.data + t->rows.len, 0, t->row_size);
  t->rows.len += t->row_size;
  t->count++;
  return t->rows.data + t->rows.len - t->row_size;
}

int64_t pss_table_bytes (struct pss_table *t, const char *bytes, size_t n) {
  int64_t at = pss_buf_append(&t->strings, bytes, n, 1);
  if (at < 0) return at;
  if (pss_buf_append(&t->strings, "", 1, 1) < 0) return -ENOMEM;
  return at + 1;
}

/*
** UTF-16 strings are converted straight into the pool: measure, reserve,
** convert. The length fields are WORDs, so names are cut at 32766 bytes.
*/
int64_t pss_table_utf16 (struct pss_table *t, const char *bytes, size_t n,
                         WORD *len_bytes) {
  size_t units = PssLinuxBytesToUtf16(bytes, n, NULL, 0);
  static const WCHAR nul = 0;
  int64_t at;
  if (units > 16383) units = 16383;
  at = pss_buf_append(&t->strings, NULL, 0, 2);
  if (at < 0 || pss_buf_reserve(&t->strings, (units + 1) * 2) < 0)
    return -ENOMEM;
  /* zeroed first: a cut inside a surrogate pair leaves its unit unwritten */
  memset(t->strings.data + at, 0, units * 2);
  PssLinuxBytesToUtf16(bytes, n, (WCHAR *)(void *)(t->strings.data + at), units);
  t->strings.len += units * 2;
  if (pss_buf_append(&t->strings, &nul, 2, 2) < 0) return -ENOMEM;
  *len_bytes = (WORD)(units * 2);
  return at + 1;
}
/* }====================================================================== */


/* {======================================================================
** Registry
**
** A handle value is ((generation << 32) | (slot << 4) | kind). Slots are
** reused with a new generation, so a stale handle never matches. Lookups
** take a store reference under the lock, so a concurrent PssFreeSnapshot
** cannot free a store that a walk is reading.
** ======================================================================= */
struct slot { uint32_t generation; uint32_t kind; void *object; };

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t nslots, nlive, free_hint;
/* Generations survive the slot array: a handle freed before the array was
** released must not match a slot of the next array. */
static uint32_t generation_base;

static int find_free_slot (size_t *out) {
  size_t i, n;
  struct slot *grown;
  for (i = 0; i < nslots; i++) {
    size_t k = (free_hint + i) % nslots;
    if (slots[k].kind == 0) { *out = k; return 0; }
  }
  n = nslots ? nslots * 2 : 64;
  if (n > (1u << 27)) return -ENOMEM;
  if ((grown = realloc(slots, n * sizeof *slots)) == NULL) return -ENOMEM;
  memset(grown + nslots, 0, (n - nslots) * sizeof *slots);
  slots = grown;
  *out = nslots;
  nslots = n;
  return 0;
}

uintptr_t pss_registry_add (enum pss_kind kind, void *object) {
  size_t k;
  uintptr_t h = 0;
  pthread_mutex_lock(&registry_lock);
  if (find_free_slot(&k) == 0) {
    struct slot *sl = &slots[k];
    if (sl->generation == 0) sl->generation = generation_base;
    sl->generation = (sl->generation + 1) & 0x7FFFFFFF;
    if (sl->generation == 0) sl->generation = 1;
    if (sl->generation > generation_base) generation_base = sl->generation;
    nlive++;
    sl->kind = (uint32_t)kind;
    sl->object = object;
    free_hint = k + 1;
    h = ((uintptr_t)sl->generation << 32) | ((uintptr_t)k << 4) | (uintptr_t)kind;
  }
  pthread_mutex_unlock(&registry_lock);
  return h;
}

static struct slot *lookup (uintptr_t h, enum pss_kind kind) {
  size_t k = (size_t)((h & 0xFFFFFFFFu) >> 4);
  if ((h & 0xF) != (uintptr_t)kind || k >= nslots) return NULL;
  if (slots[k].kind != (uint32_t)kind || slots[k].generation != (uint32_t)(h >> 32))
    return NULL;
  return &slots[k];
}

void *pss_registry_get (uintptr_t h, enum pss_kind kind) {
  struct slot *sl;
  void *obj = NULL;
  pthread_mutex_lock(&registry_lock);
  if ((sl = lookup(h, kind)) != NULL) {
    obj = sl->object;
    if (kind == PSS_KIND_SNAPSHOT)
      atomic_fetch_add(&((struct pss_store *)obj)->refs, 1);
  }
  pthread_mutex_unlock(&registry_lock);
  return obj;
}

void *pss_registry_remove (uintptr_t h, enum pss_kind kind) {
  struct slot *sl;
  void *obj = NULL;
  pthread_mutex_lock(&registry_lock);
  if ((sl = lookup(h, kind)) != NULL) {
    obj = sl->object;
    sl->kind = 0;
    sl->object = NULL;
    free_hint = (size_t)(sl - slots);
    /* no handle left: give the array back, so that a library that is
       unloaded afterwards (a Lua state closing pss.core) leaves nothing */
    if (--nlive == 0) {
      free(slots);
      slots = NULL;
      nslots = free_hint = 0;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return obj;
}
/* }====================================================================== */


/* {======================================================================
** Errors
** ======================================================================= */
static _Thread_local int last_errno;
/* A detail is noted where a failure is found and published with the code
** at the API boundary; a call that fails without one publishes none. The
** text is copied, so that it may name what was found (a pid, a thread). */
static _Thread_local char pending_detail[PSS_DETAIL_MAX], last_detail[PSS_DETAIL_MAX];

void pss_fail_detail (const char *detail) {
  if (detail == NULL) pending_detail[0] = '\0';
  else snprintf(pending_detail, sizeof pending_detail, "%s", detail);
}

void pss_fail_detailf (const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(pending_detail, sizeof pending_detail, format, ap);
  va_end(ap);
}

/* Moves the pending detail into out (to hand it to another thread). */
void pss_take_detail (char *out, size_t size) {
  snprintf(out, size, "%s", pending_detail);
  pending_detail[0] = '\0';
}

static void publish_detail (void) {
  memcpy(last_detail, pending_detail, sizeof last_detail);
  pending_detail[0] = '\0';
}

DWORD pss_win32_error (int neg_errno) {
  int e = -neg_errno;
  if (e == 0) {
    pending_detail[0] = '\0';
    return ERROR_SUCCESS;
  }
  last_errno = e;
  publish_detail();
  switch (e) {
    case EACCES: case EPERM: return ERROR_ACCESS_DENIED;
    case ENOMEM: return ERROR_NOT_ENOUGH_MEMORY;
    case ESRCH: return ERROR_PROCESS_ABORTED;
    case EBADF: return ERROR_INVALID_HANDLE;
    case EBUSY: return ERROR_BUSY;
    case EINVAL: return ERROR_INVALID_PARAMETER;
    case EAGAIN: return ERROR_NO_PROC_SLOTS;   /* fork limits: pids.max, RLIMIT_NPROC */
    case ETIMEDOUT: return ERROR_TIMEOUT;      /* past the wait limit */
    case ENOSPC: case EDQUOT: return ERROR_DISK_FULL;
    case EFBIG: return ERROR_FILE_TOO_LARGE;
    case EPIPE: return ERROR_BROKEN_PIPE;
    case ENOSYS: case EOPNOTSUPP: return ERROR_NOT_SUPPORTED;
    default: return ERROR_GEN_FAILURE;
  }
}

DWORD pss_fail (DWORD code) {
  last_errno = 0;
  publish_detail();
  return code;
}

PSS_EXPORT const char *PssLinuxLastErrorDetail (void) {
  return last_detail[0] != '\0' ? last_detail : NULL;
}

PSS_EXPORT int PssLinuxLastErrno (void) {
  return last_errno;
}
/* }====================================================================== */
