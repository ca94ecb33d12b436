/*
** buildid.c -- the GNU build id of every ELF image the region table maps,
** so that whoever reads the snapshot later (the unwinder, a debugger) can
** tell whether a file on disk is the one that was mapped.
**
** It is read from the target's memory, as the loader mapped the image:
** the ELF header and program headers at the start of the file's mapping
** at offset 0, then its PT_NOTE segments (elf.c parses them). snapshot.c
** calls it after the thaw: image pages are read-only, so the target may
** run on meanwhile, and the freeze is not made longer by it.
*/
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "linux/proc/elf.h"
#include "linux/proc/proc.h"

#define PROBE 4096u          /* the headers, and mostly the notes, are in the first page */
#define MORE 2048u           /* program headers or notes found past the probe */

static PSS_LINUX_VA_SPACE_ENTRY *row_at (struct pss_table *tab, size_t i) {
  return pss_table_row(tab, i);
}

static int same_file (const PSS_LINUX_VA_SPACE_ENTRY *a, const PSS_LINUX_VA_SPACE_ENTRY *b) {
  return a->Inode != 0 && a->Inode == b->Inode && a->DeviceMajor == b->DeviceMajor &&
         a->DeviceMinor == b->DeviceMinor;
}

/* Where an image starts: the readable mapping at file offset 0 of a file
** mapped as an image (MEM_IMAGE: some mapping of it is executable), or
** the vDSO. Files mapped as data are not read: a first page that is not
** resident would be read from disk into the target's memory for nothing. */
static int image_start (const PSS_LINUX_VA_SPACE_ENTRY *e) {
  return e->Offset == 0 && e->Permissions[0] == 'r' && e->Region.Type == MEM_IMAGE;
}

/*
** Bytes [off, off + n) of the image that starts at row first: from the
** first of its mappings (the loader maps them in ascending order) whose
** part of the file holds off. The bytes read, 0 if none maps it, -errno.
*/
static ssize_t read_image (const struct pss_image_reader *t, struct pss_table *tab, size_t first,
                           uint64_t off, void *buf, size_t n) {
  const PSS_LINUX_VA_SPACE_ENTRY *a = row_at(tab, first);
  /* no inode (a core's rows): the image is its first row alone, and a
  ** scan of every row per image would be quadratic in a hostile core */
  size_t k, end = a->Inode != 0 ? tab->count : first + 1;
  for (k = first; k < end; k++) {
    const PSS_LINUX_VA_SPACE_ENTRY *e = row_at(tab, k);
    uint64_t into;
    if (k != first && !same_file(a, e)) continue;
    if (off < e->Offset || (into = off - e->Offset) >= e->Region.RegionSize) continue;
    if (n > e->Region.RegionSize - into) n = (size_t)(e->Region.RegionSize - into);
    return t->read(t->ctx, (uintptr_t)e->Region.BaseAddress + into, buf, n);
  }
  return 0;
}

/* File bytes [off, off + size) from the probe if it holds them, else read
** into more (at most MORE of them). *got: how many; NULL if unreadable. */
static const unsigned char *image_bytes (const struct pss_image_reader *t, struct pss_table *tab,
                                         size_t first, const unsigned char *probe,
                                         size_t probe_len, uint64_t off, uint64_t size,
                                         unsigned char *more, size_t *got, int *err) {
  ssize_t n;
  if (off <= probe_len && size <= probe_len - off) { *got = (size_t)size; return probe + off; }
  n = read_image(t, tab, first, off, more, size < MORE ? (size_t)size : MORE);
  if (n < 0) *err = (int)n;
  if (n <= 0) return NULL;
  *got = (size_t)n;
  return more;
}

/* The image's build id into id: its length, 0 if it has none we could
** read, or -errno if the target cannot be read at all. */
static int image_build_id (const struct pss_image_reader *t, struct pss_table *tab, size_t first,
                           unsigned char *id) {
  unsigned char probe[PROBE], table[MORE], notes[MORE];
  const unsigned char *ph, *seg;
  struct pss_elf e;
  size_t n, tn, k, len;
  int err = 0;
  ssize_t got = read_image(t, tab, first, 0, probe, sizeof probe);
  if (got <= 0) return (int)got;
  n = (size_t)got;
  if (pss_elf_parse_header(probe, n, &e) < 0) return 0;
  ph = image_bytes(t, tab, first, probe, n, e.phoff, pss_elf_phdrs_size(&e), table, &tn, &err);
  if (ph == NULL) return err;
  for (k = 0; k < e.phnum; k++) {
    struct pss_elf_phdr h;
    if (pss_elf_parse_phdr(&e, ph, tn, k, &h) < 0) break;   /* the rest was not read */
    if (h.type != PT_NOTE) continue;
    seg = image_bytes(t, tab, first, probe, n, h.offset, h.filesz, notes, &len, &err);
    if (seg == NULL && err < 0) return err;
    if (seg != NULL && (len = pss_elf_build_id(seg, len, h.align, id, PSS_LINUX_BUILD_ID_MAX)) > 0)
      return (int)len;
  }
  return 0;
}

/* On every region of the file (or the vDSO's one region). */
static void set_build_id (struct pss_table *tab, size_t first, const unsigned char *id,
                          size_t len) {
  const PSS_LINUX_VA_SPACE_ENTRY *a = row_at(tab, first);
  PSS_LINUX_VA_SPACE_ENTRY copy = *a;
  size_t k, end = a->Inode != 0 ? tab->count : first + 1;   /* as read_image */
  for (k = a->Inode != 0 ? 0 : first; k < end; k++) {
    PSS_LINUX_VA_SPACE_ENTRY *e = row_at(tab, k);
    if (k != first && !same_file(&copy, e)) continue;
    memcpy(e->BuildId, id, len);
    e->BuildIdLength = (unsigned char)len;
  }
}

static void clear_build_ids (struct pss_table *tab) {
  size_t k;
  for (k = 0; k < tab->count; k++) {
    PSS_LINUX_VA_SPACE_ENTRY *e = row_at(tab, k);
    memset(e->BuildId, 0, sizeof e->BuildId);
    e->BuildIdLength = 0;
  }
}

void pss_build_ids (struct pss_table *tab, const struct pss_image_reader *r) {
  size_t i;
  for (i = 0; i < tab->count; i++) {
    unsigned char id[PSS_LINUX_BUILD_ID_MAX];
    const PSS_LINUX_VA_SPACE_ENTRY *e = row_at(tab, i);
    int len;
    if (e->BuildIdLength != 0 || !image_start(e)) continue;
    len = image_build_id(r, tab, i, id);
    /* not ours to read (an unfrozen capture without the right to trace),
    ** or gone: no image will answer */
    if (len == -EPERM || len == -EACCES || len == -ESRCH) break;
    if (len > 0) set_build_id(tab, i, id, (size_t)len);
  }
}

static ssize_t target_read (void *t, uint64_t address, void *buf, size_t n) {
  return pss_read_memory(t, (uintptr_t)address, buf, n);
}

void pss_capture_build_ids (struct pss_target *t, struct pss_store *s) {
  struct pss_image_reader r = { target_read, t };
  pss_build_ids(&s->tables[PSS_TABLE_REGIONS], &r);
  /* the target runs on: once reaped, its pid may have named another
  ** process while we read */
  if (!pss_target_alive(t)) clear_build_ids(&s->tables[PSS_TABLE_REGIONS]);
}
