/*
** registry.c -- HPSS and HPSSWALK values: slot numbers with a generation,
** so a freed, forged or wrong-kind handle is detected, never dereferenced.
**
** A handle value is ((generation << 32) | (slot << 4) | kind). Slots are
** reused with a new generation, so a stale handle never matches. Lookups
** take a store reference under the lock, so a concurrent PssFreeSnapshot
** cannot free a store that a walk is reading.
**
** A snapshot handed over by another process (store.h: PSS_HANDOFF_NAME) is
** no slot: its value names a sealed memfd of this process, which is checked
** and loaded on the value's first lookup and kept until it is freed here,
** or until its descriptor is closed (a PssFreeSnapshot from another
** process does that, and nothing else, to us).
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/store/store.h"

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

static struct pss_store *handoff_get(uintptr_t h);

void *pss_registry_get (uintptr_t h, enum pss_kind kind) {
  struct slot *sl;
  void *obj = NULL;
  if (pss_handoff_fd(h) >= 0) return kind == PSS_KIND_SNAPSHOT ? handoff_get(h) : NULL;
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
  if (pss_handoff_fd(h) >= 0) return NULL;     /* pss_handoff_free's */
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


/* {======================================================================
** Snapshots handed over by another process
** ======================================================================= */
#define HANDOFF_BIT ((uintptr_t)1 << 63)
#define HANDOFF_INODE_MASK 0x7FFFFFFu          /* the 27 bits above the fd's 32 */
#define HANDOFF_INODE_SHIFT 36

/* A loaded one: its value, the file its descriptor held, the store. */
struct handed { uintptr_t h; dev_t dev; ino_t ino; struct pss_store *s; };

/* Held while one is checked and loaded, so that it is loaded once. */
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handed *handed;
static size_t nhanded, handed_cap;
static int (*loader)(int fd, struct pss_store **out);

/*
** A fork while another thread holds a lock -- a load of a handed-over
** snapshot holds handoff_lock for its whole read -- would leave the
** child's copy locked for good, and its first use of a handle would hang.
** So fork() waits for both locks (handoff_lock first: its holder may go
** on to take registry_lock, never the other way round), and each side
** lets go of its copy. libpss itself never
** calls fork() (its children are bare clone() calls), so no thread of ours
** forks with one held.
*/
static void fork_prepare (void) {
  pthread_mutex_lock(&handoff_lock);
  pthread_mutex_lock(&registry_lock);
}

static void fork_done (void) {
  pthread_mutex_unlock(&registry_lock);
  pthread_mutex_unlock(&handoff_lock);
}

__attribute__((constructor)) static void registry_install (void) {
  pthread_atfork(fork_prepare, fork_done, fork_done);
}

void pss_handoff_set_loader (int (*load)(int fd, struct pss_store **out)) {
  loader = load;
}

uintptr_t pss_handoff_value (int fd, uint64_t inode) {
  return HANDOFF_BIT | ((uintptr_t)(inode & HANDOFF_INODE_MASK) << HANDOFF_INODE_SHIFT) |
         ((uintptr_t)(unsigned)fd << 4) | (uintptr_t)PSS_KIND_SNAPSHOT;
}

int pss_handoff_fd (uintptr_t h) {
  uintptr_t fd = (h >> 4) & 0xFFFFFFFFu;
  if (!(h & HANDOFF_BIT) || (h & 0xF) != (uintptr_t)PSS_KIND_SNAPSHOT || fd > INT_MAX) return -1;
  return (int)fd;
}

static int not_handed (int fd, const char *why) {
  pss_fail_detailf("descriptor %d, which the snapshot handle names, %s", fd, why);
  return -EBADF;
}

/*
** Only a file one of us made is read: a memfd of our name, sealed against
** any change (so what was checked is what is read), and the very file the
** value was made for, as far as its inode's low bits tell (a descriptor
** closed and opened again for another file is a stale handle).
*/
int pss_handoff_check (int fd, uintptr_t h) {
  static const char want[] = "/memfd:" PSS_HANDOFF_NAME " (deleted)";
  char path[48], link[sizeof want + 1];
  struct stat st;
  ssize_t n;
  int seals;
  if (fd < 0 || fstat(fd, &st) < 0) return not_handed(fd, "is not open");
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  n = readlink(path, link, sizeof link);
  if (!S_ISREG(st.st_mode) || n != (ssize_t)sizeof want - 1 || memcmp(link, want, (size_t)n) != 0)
    return not_handed(fd, "is not a snapshot PssDuplicateSnapshot handed over");
  seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & PSS_HANDOFF_SEALS) != PSS_HANDOFF_SEALS)
    return not_handed(fd, "is not sealed against changes");
  if ((st.st_ino & HANDOFF_INODE_MASK) != ((h >> HANDOFF_INODE_SHIFT) & HANDOFF_INODE_MASK))
    return not_handed(fd, "holds another snapshot than the handle's (a stale handle)");
  return 0;
}

int pss_handoff_load (int fd, uintptr_t h, struct pss_store **out) {
  char path[48];
  int rc, own;
  *out = NULL;
  if ((rc = pss_handoff_check(fd, h)) < 0) return rc;
  if (loader == NULL) {
    pss_fail_detail("this program's libpss has no snapshot loader");
    return -EOPNOTSUPP;
  }
  /* a description of our own: the descriptor's offset, which it shares
  ** with whatever duplicates it, is neither used nor moved */
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if ((own = open(path, O_RDONLY | O_CLOEXEC)) < 0) return -errno;
  rc = loader(own, out);
  close(own);
  return rc;
}

/* No snapshot handed over left: the array goes, as the slots' do. */
static void forget_empty (void) {
  if (nhanded > 0) return;
  free(handed);
  handed = NULL;
  handed_cap = 0;
}

/* Lets go of the stores whose descriptor was closed or reused since: a
** PssFreeSnapshot from another process closes it without a word to us. */
static void sweep (void) {
  size_t i = 0;
  while (i < nhanded) {
    struct handed *e = &handed[i];
    struct stat st;
    if (fstat(pss_handoff_fd(e->h), &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino) {
      i++;
      continue;
    }
    pss_store_release(e->s);
    *e = handed[--nhanded];
  }
  forget_empty();
}

static int find_handed (uintptr_t h) {
  size_t i;
  for (i = 0; i < nhanded; i++)
    if (handed[i].h == h) return (int)i;
  return -1;
}

static int keep_handed (uintptr_t h, struct pss_store *s) {
  int fd = pss_handoff_fd(h);
  struct stat st;
  if (nhanded == handed_cap) {
    size_t cap = handed_cap ? handed_cap * 2 : 8;
    struct handed *grown = realloc(handed, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    handed = grown;
    handed_cap = cap;
  }
  if (fstat(fd, &st) < 0) return not_handed(fd, "was closed while it was read");
  handed[nhanded++] = (struct handed){ h, st.st_dev, st.st_ino, s };
  return 0;
}

static struct pss_store *handoff_get (uintptr_t h) {
  struct pss_store *s = NULL;
  int i;
  pthread_mutex_lock(&handoff_lock);
  sweep();
  if ((i = find_handed(h)) >= 0) s = handed[i].s;
  else if (pss_handoff_load(pss_handoff_fd(h), h, &s) < 0) s = NULL;
  else if (keep_handed(h, s) < 0) {
    pss_store_release(s);
    s = NULL;
  }
  if (s != NULL) atomic_fetch_add(&s->refs, 1);     /* the caller's */
  pthread_mutex_unlock(&handoff_lock);
  return s;
}

int pss_handoff_free (uintptr_t h) {
  struct pss_store *s = NULL;
  int fd = pss_handoff_fd(h), i, rc = 0;
  if (fd < 0) return -EBADF;
  pthread_mutex_lock(&handoff_lock);
  sweep();
  if ((i = find_handed(h)) >= 0) {     /* the sweep found its file still there */
    s = handed[i].s;
    handed[i] = handed[--nhanded];
    forget_empty();
  }
  else rc = pss_handoff_check(fd, h);
  if (rc == 0) close(fd);
  pthread_mutex_unlock(&handoff_lock);
  pss_store_release(s);
  return rc;
}
/* }====================================================================== */
