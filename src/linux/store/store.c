/*
** store.c -- the snapshot store: immutable once captured, reference
** counted, shared by duplicates. It knows nothing of how a clone is made:
** whoever makes one gives it the hook that releases it.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "linux/store/store.h"



static atomic_uint_fast64_t store_serial = 1;

static const size_t row_sizes[PSS_TABLE_COUNT] = {
  0, sizeof(PSS_LINUX_VA_SPACE_ENTRY), sizeof(PSS_LINUX_HANDLE_ENTRY),
  sizeof(struct pss_thread_row), sizeof(PSS_AUXILIARY_PAGE_ENTRY)
};

struct pss_store *pss_store_new (PSS_CAPTURE_FLAGS flags) {
  int vm = (flags & PSS_CREATE_USE_VM_ALLOCATIONS) != 0;
  struct pss_store *s;
  int i;
  if (vm) {
    s = mmap(NULL, pss_page_round(sizeof *s), PROT_READ | PROT_WRITE,
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
  s->mem.fd = -1;
  for (i = 0; i < PSS_TABLE_COUNT; i++) {
    s->tables[i].rows.vm = s->tables[i].strings.vm = vm;
    s->tables[i].row_size = row_sizes[i];
  }
  return s;
}

void pss_store_release (struct pss_store *s) {
  int i;
  if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) return;
  if (s->clone.release != NULL) s->clone.release(&s->clone);
  pss_filemem_free(&s->mem);
  for (i = 0; i < PSS_TABLE_COUNT; i++) {
    pss_buf_free(&s->tables[i].rows);
    pss_buf_free(&s->tables[i].strings);
  }
  pss_buf_free(&s->pstrings);
  if (s->vm) munmap(s, pss_page_round(sizeof *s));
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
