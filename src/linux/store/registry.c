/*
** registry.c -- HPSS and HPSSWALK values: slot numbers with a generation,
** so a freed, forged or wrong-kind handle is detected, never dereferenced.
**
** A handle value is ((generation << 32) | (slot << 4) | kind). Slots are
** reused with a new generation, so a stale handle never matches. Lookups
** take a store reference under the lock, so a concurrent PssFreeSnapshot
** cannot free a store that a walk is reading.
*/
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
