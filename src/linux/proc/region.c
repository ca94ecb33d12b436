/*
** region.c -- PSS_CAPTURE_VA_SPACE: one row per line of /proc/PID/maps;
** with PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION also file names and, for
** ELF images, what the PE fields stand for (load base, image size, ...).
*/
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux/proc/elf.h"
#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

#define PAGE 4096u
#define ELF_PROBE 4096u          /* the ELF and program headers sit in page 0 */

static int is_file_backed (const PSS_LINUX_VA_SPACE_ENTRY *e) {
  return e->Inode != 0;
}

/* Copy-on-write file pages are PAGE_WRITECOPY, as for Windows views. */
DWORD pss_region_protect (const char *perms, int file_backed) {
  int r = perms[0] == 'r', w = perms[1] == 'w', x = perms[2] == 'x';
  int cow = w && perms[3] == 'p' && file_backed;
  if (!r && !w && !x) return PAGE_NOACCESS;
  if (x) {
    if (w) return cow ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READWRITE;
    return r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
  }
  if (w) return cow ? PAGE_WRITECOPY : PAGE_READWRITE;
  return PAGE_READONLY;
}

static int add_region (struct pss_table *tab, const struct pss_maps_line *ml) {
  char path[4096 + 1];
  size_t plen = pss_unescape_maps_path(ml->path, ml->path_len < 4096 ? ml->path_len : 4096, path);
  PSS_LINUX_VA_SPACE_ENTRY *e;
  int64_t off;
  if ((off = pss_table_bytes(tab, path, plen)) < 0) return -ENOMEM;
  if ((e = pss_table_add_row(tab)) == NULL) return -ENOMEM;
  e->Path = (const char *)(uintptr_t)off;
  e->PathLength = (WORD)plen;
  e->Region.BaseAddress = (void *)(uintptr_t)ml->start;
  e->Region.AllocationBase = e->Region.BaseAddress;
  e->Region.RegionSize = ml->end - ml->start;
  e->Offset = ml->offset;
  e->Inode = ml->inode;
  e->DeviceMajor = ml->dev_major;
  e->DeviceMinor = ml->dev_minor;
  memcpy(e->Permissions, ml->perms, 4);
  e->Region.Protect = pss_region_protect(ml->perms, ml->inode != 0);
  e->Region.AllocationProtect = e->Region.Protect;
  e->Region.State = e->Region.Protect == PAGE_NOACCESS ? MEM_RESERVE : MEM_COMMIT;
  if (ml->inode != 0 || ml->perms[3] == 's') e->Region.Type = MEM_MAPPED;
  else if (plen == 6 && memcmp(path, "[vdso]", 6) == 0) e->Region.Type = MEM_IMAGE;
  else e->Region.Type = MEM_PRIVATE;
  return 0;
}

/* Rows [first, end) are one allocation (one file mapped back to back):
** its base and protection are the first row's; image: all are MEM_IMAGE. */
void pss_region_group (struct pss_table *tab, size_t first, size_t end, int image) {
  const PSS_LINUX_VA_SPACE_ENTRY *head = pss_table_row(tab, first);
  size_t k;
  for (k = first; k < end; k++) {
    PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, k);
    e->Region.AllocationBase = head->Region.BaseAddress;
    e->Region.AllocationProtect = head->Region.Protect;
    if (image) e->Region.Type = MEM_IMAGE;
  }
}

/* Rows [first, end) map one file back to back. */
static size_t group_end (struct pss_table *tab, size_t first) {
  const PSS_LINUX_VA_SPACE_ENTRY *a = pss_table_row(tab, first);
  size_t i = first + 1;
  for (; i < tab->count; i++) {
    const PSS_LINUX_VA_SPACE_ENTRY *b = pss_table_row(tab, i);
    const PSS_LINUX_VA_SPACE_ENTRY *prev = pss_table_row(tab, i - 1);
    if (b->Inode != a->Inode || b->DeviceMajor != a->DeviceMajor ||
        b->DeviceMinor != a->DeviceMinor ||
        (uintptr_t)b->Region.BaseAddress != (uintptr_t)prev->Region.BaseAddress + prev->Region.RegionSize)
      break;
  }
  return i;
}

/*
** One allocation per file mapped back to back: its first mapping is the
** AllocationBase. A file any of whose mappings is executable is an image
** (an ELF program or library), otherwise a mapped view.
*/
static void group_allocations (struct pss_table *tab) {
  size_t i = 0, k, end;
  while (i < tab->count) {
    PSS_LINUX_VA_SPACE_ENTRY *first = pss_table_row(tab, i);
    int image = 0;
    if (!is_file_backed(first)) { i++; continue; }
    end = group_end(tab, i);
    for (k = i; k < end; k++)
      image |= ((PSS_LINUX_VA_SPACE_ENTRY *)pss_table_row(tab, k))->Permissions[2] == 'x';
    pss_region_group(tab, i, end, image);
    i = end;
  }
}


/* {======================================================================
** ELF images
** ======================================================================= */
struct image_info { DWORD size, checksum, stamp; };

/* The build id of a PT_NOTE segment, if the probe holds it whole. */
static void probe_build_id (const unsigned char *p, size_t n, const struct pss_elf_phdr *ph,
                            struct image_info *ii) {
  unsigned char id[PSS_LINUX_BUILD_ID_MAX];
  size_t len;
  if (ii->checksum != 0 || ph->offset >= n || ph->filesz > n - ph->offset) return;
  len = pss_elf_build_id(p + ph->offset, (size_t)ph->filesz, ph->align, id, sizeof id);
  if (len >= 4) memcpy(&ii->checksum, id, 4);
}

/* Image size from the PT_LOAD span, check sum from the build id's first
** four bytes (the probe is the image's first page). */
static int parse_elf (const unsigned char *p, size_t n, struct image_info *ii) {
  struct pss_elf e;
  uint64_t lo = UINT64_MAX, hi = 0;
  size_t k;
  if (pss_elf_parse_header(p, n, &e) < 0 || e.phoff > n) return -EINVAL;
  for (k = 0; k < e.phnum; k++) {
    struct pss_elf_phdr ph;
    if (pss_elf_parse_phdr(&e, p + e.phoff, n - e.phoff, k, &ph) < 0) return -EINVAL;
    if (ph.type == PT_LOAD) {
      if (ph.vaddr < lo) lo = ph.vaddr;
      if (ph.memsz <= UINT64_MAX - ph.vaddr && ph.vaddr + ph.memsz > hi) hi = ph.vaddr + ph.memsz;
    }
    else if (ph.type == PT_NOTE) probe_build_id(p, n, &ph, ii);
  }
  if (hi > lo && hi <= UINT64_MAX - PAGE)
    ii->size = (DWORD)(((hi + PAGE - 1) & ~(uint64_t)(PAGE - 1)) - (lo & ~(uint64_t)(PAGE - 1)));
  return 0;
}

/* The file's modification time stands for the PE link time stamp. */
static DWORD file_stamp (struct pss_target *t, const PSS_LINUX_VA_SPACE_ENTRY *e,
                         const char *path) {
  char rooted[4096 + 8];
  struct stat sb;
  if (e->PathLength == 0 || path[0] != '/' || e->PathLength > 4096) return 0;
  memcpy(rooted, "root", 4);
  memcpy(rooted + 4, path, e->PathLength);
  rooted[4 + e->PathLength] = '\0';
  if (fstatat(t->livefd, rooted, &sb, 0) < 0 || sb.st_ino != e->Inode ||
      major(sb.st_dev) != e->DeviceMajor || minor(sb.st_dev) != e->DeviceMinor)
    return 0;
  return (DWORD)sb.st_mtime;
}

static void describe_image (struct pss_target *t, struct pss_table *tab, size_t first,
                            size_t end) {
  PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, first);
  unsigned char probe[ELF_PROBE];
  struct image_info ii = { 0, 0, 0 };
  size_t k;
  ssize_t n;
  if (e->Offset != 0 || e->Permissions[0] != 'r') return;
  n = pss_read_memory(t, (uintptr_t)e->Region.BaseAddress,
                      probe, e->Region.RegionSize < ELF_PROBE ? e->Region.RegionSize : ELF_PROBE);
  if (n <= 0 || parse_elf(probe, (size_t)n, &ii) < 0) return;
  ii.stamp = file_stamp(t, e, tab->strings.data + (uintptr_t)e->Path - 1);
  for (k = first; k < end; k++) {
    PSS_LINUX_VA_SPACE_ENTRY *r = pss_table_row(tab, k);
    r->Region.ImageBase = e->Region.BaseAddress;
    r->Region.SizeOfImage = ii.size;
    r->Region.CheckSum = ii.checksum;
    r->Region.TimeDateStamp = ii.stamp;
  }
}
/* }====================================================================== */


static int name_mapped_files (struct pss_target *t, struct pss_table *tab) {
  size_t i, end;
  for (i = 0; i < tab->count; i = end) {
    PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, i);
    end = is_file_backed(e) ? group_end(tab, i) : i + 1;
    if (e->Region.Type == MEM_IMAGE) describe_image(t, tab, i, end);
    for (; i < end; i++) {
      char path[4096];
      int64_t off;
      e = pss_table_row(tab, i);
      if (e->Region.Type == MEM_PRIVATE || e->PathLength == 0) continue;
      /* copied out first: the pool may move while the UTF-16 form grows it */
      memcpy(path, tab->strings.data + (uintptr_t)e->Path - 1, e->PathLength);
      off = pss_table_utf16(tab, path, e->PathLength, &e->Region.MappedFileNameLength);
      if (off < 0) return -ENOMEM;
      e->Region.MappedFileName = (const WCHAR *)(uintptr_t)off;
    }
  }
  return 0;
}

int pss_read_regions (struct pss_target *t, struct pss_table *tab) {
  ssize_t n = pss_read_at(t, t->livefd, "maps");
  size_t pos = 0;
  if (n < 0) return (int)n;
  while (pos < (size_t)n) {
    struct pss_maps_line ml;
    long used = pss_parse_maps_line(t->scratch + pos, (size_t)n - pos, &ml);
    int rc;
    if (used < 0) return (int)used;
    if (used == 0) break;
    if ((rc = add_region(tab, &ml)) < 0) return rc;
    pos += (size_t)used;
  }
  group_allocations(tab);
  return 0;
}

/* {======================================================================
** Memory usage: the regions from smaps, each with its figures
** ======================================================================= */
#define SMAPS_LINE_CAP (64u * 1024)   /* longest line: a 4096-byte path escaped */

_Static_assert(sizeof(PSS_LINUX_MEMORY_USAGE) == PSS_SMAPS_USAGE_FIELDS * sizeof(UINT64),
               "PSS_LINUX_MEMORY_USAGE is the smaps figures in pss_smaps_usage_index order");

/* The last row's figures into the pool, 8-aligned, and into the totals. */
static int put_usage (struct pss_table *tab, const UINT64 *u, UINT64 *totals) {
  PSS_LINUX_VA_SPACE_ENTRY *e = pss_table_row(tab, tab->count - 1);
  int64_t at = pss_buf_append(&tab->strings, u, sizeof(PSS_LINUX_MEMORY_USAGE), 8);
  int i;
  if (at < 0) return -ENOMEM;
  e->Usage = (const PSS_LINUX_MEMORY_USAGE *)(uintptr_t)(at + 1);
  for (i = 0; i < PSS_SMAPS_USAGE_FIELDS; i++) totals[i] += u[i];
  return 0;
}

/* The target's scratch buffer, at least n bytes (mmap'ed with
** PSS_CREATE_USE_VM_ALLOCATIONS, as every read of the capture is). */
static char *scratch_of (struct pss_target *t, size_t n) {
  struct pss_buf b = { t->scratch, 0, t->scratch_cap, t->scratch_vm };
  if (b.cap < n && pss_buf_reserve(&b, n) < 0) return NULL;
  t->scratch = b.data;
  t->scratch_cap = b.cap;
  return b.data;
}

/*
** smaps is maps with each mapping's figures below its line: one read
** gives the regions and their memory at one instant. It is read through a
** fixed buffer (a big process's smaps is about 1 KiB per mapping). A
** mapping line longer than the buffer (a path nested deeper than
** PATH_MAX) is cut: add_region keeps 4096 bytes of a path anyway.
*/
static int read_smaps_regions (struct pss_target *t, struct pss_table *tab, UINT64 *totals) {
  UINT64 u[PSS_SMAPS_USAGE_FIELDS];
  struct pss_lines l;
  const char *line = NULL;
  char *buf = scratch_of(t, SMAPS_LINE_CAP);
  size_t len = 0;
  int rc;
  if (buf == NULL) return -ENOMEM;
  rc = pss_lines_open_in(&l, t->livefd, "smaps", buf, SMAPS_LINE_CAP, PSS_LINES_CUT);
  if (rc < 0) return rc;
  while ((rc = pss_lines_next(&l, &line, &len)) > 0) {
    struct pss_smaps_line sl;
    int k;
    if (pss_parse_smaps_line(line, len, &sl) < 0) { rc = -EINVAL; break; }
    if (sl.kind == PSS_SMAPS_MAPPING) {
      if (tab->count > 0 && (rc = put_usage(tab, u, totals)) < 0) break;
      if ((rc = add_region(tab, &sl.map)) < 0) break;
      memset(u, 0, sizeof u);
    }
    else if (sl.kind == PSS_SMAPS_FIELD && tab->count > 0 && sl.kb &&
             (k = pss_smaps_usage_index(sl.name, sl.name_len)) >= 0)
      u[k] = sl.value;
  }
  pss_lines_close(&l);
  if (rc == 0 && tab->count > 0) rc = put_usage(tab, u, totals);
  if (rc < 0) return rc;
  group_allocations(tab);
  return 0;
}
/* }====================================================================== */


/* maps lists the mappings in address order, without overlaps. */
const PSS_LINUX_VA_SPACE_ENTRY *pss_region_at (const struct pss_table *tab, uint64_t address) {
  size_t lo = 0, hi = tab->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const PSS_LINUX_VA_SPACE_ENTRY *e = (const void *)(tab->rows.data + mid * tab->row_size);
    uint64_t base = (uintptr_t)e->Region.BaseAddress;
    if (address < base) hi = mid;
    else if (address - base >= e->Region.RegionSize) lo = mid + 1;
    else return e;
  }
  return NULL;
}

int pss_capture_regions (struct pss_target *t, struct pss_store *s) {
  struct pss_table *tab = &s->tables[PSS_TABLE_REGIONS];
  int usage = (s->flags & PSS_LINUX_CAPTURE_MEMORY_USAGE) != 0;
  int rc = usage ? read_smaps_regions(t, tab, (UINT64 *)(void *)&s->process.MemoryUsage)
                 : pss_read_regions(t, tab);
  s->process.HasMemoryUsage = (unsigned char)(usage && rc == 0);
  if (rc == 0 && (s->flags & PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION))
    rc = name_mapped_files(t, tab);
  return rc;
}
