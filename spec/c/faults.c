/*
** faults.c -- the allocation wrappers behind faults.h. Several threads
** may allocate at once (a capture's tracer thread among them), so the
** countdown is atomic.
*/
#include <stdatomic.h>
#include <stddef.h>

#include "faults.h"

void *__real_malloc (size_t size);
void *__real_calloc (size_t count, size_t size);
void *__real_realloc (void *p, size_t size);
void *__wrap_malloc (size_t size);
void *__wrap_calloc (size_t count, size_t size);
void *__wrap_realloc (void *p, size_t size);

static atomic_long countdown = -1;    /* allocations to let through; -1: disarmed */
static atomic_int persistent;
static atomic_long failures;

static int refuse (void) {
  long left = atomic_load(&countdown);
  while (left > 0)
    if (atomic_compare_exchange_weak(&countdown, &left, left - 1))
      return 0;
  if (left < 0)
    return 0;
  if (!atomic_load(&persistent))
    atomic_store(&countdown, -1);
  atomic_fetch_add(&failures, 1);
  return 1;
}

void faults_arm (long n, int from_then_on) {
  atomic_store(&failures, 0);
  atomic_store(&persistent, from_then_on);
  atomic_store(&countdown, n);
}

long faults_disarm (void) {
  atomic_store(&countdown, -1);
  return atomic_load(&failures);
}

void *__wrap_malloc (size_t size) {
  return refuse() ? NULL : __real_malloc(size);
}

void *__wrap_calloc (size_t count, size_t size) {
  return refuse() ? NULL : __real_calloc(count, size);
}

void *__wrap_realloc (void *p, size_t size) {
  return refuse() ? NULL : __real_realloc(p, size);
}
