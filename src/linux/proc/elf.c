/*
** elf.c -- pure readers of ELF headers, program headers and notes (elf.h).
** The bytes come from another process's memory, so nothing in them is
** trusted: every offset and size is checked against n before it is used,
** and fields are copied out with memcpy (no alignment is assumed).
*/
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "linux/proc/elf.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

int pss_elf_parse_header (const void *p, size_t n, struct pss_elf *e) {
  const unsigned char *b = p;
  if (n < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG) != 0 || b[EI_DATA] != NATIVE_DATA)
    return -EINVAL;
  memset(e, 0, sizeof *e);
  if (b[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr h;
    if (n < sizeof h) return -EINVAL;
    memcpy(&h, b, sizeof h);
    e->is64 = 1;
    e->type = h.e_type;
    e->phoff = h.e_phoff;
    e->phnum = h.e_phnum;
    e->phentsize = h.e_phentsize;
  }
  else if (b[EI_CLASS] == ELFCLASS32) {
    Elf32_Ehdr h;
    if (n < sizeof h) return -EINVAL;
    memcpy(&h, b, sizeof h);
    e->type = h.e_type;
    e->phoff = h.e_phoff;
    e->phnum = h.e_phnum;
    e->phentsize = h.e_phentsize;
  }
  else return -EINVAL;
  /* PN_XNUM: the real count is in section 0, which no image maps */
  if (e->phnum == PN_XNUM) return -EINVAL;
  if (e->phnum > 0 && e->phentsize < (e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
    return -EINVAL;
  return 0;
}

size_t pss_elf_phdrs_size (const struct pss_elf *e) {
  return e->phnum * e->phentsize;     /* both at most 0xFFFF */
}

int pss_elf_parse_phdr (const struct pss_elf *e, const void *p, size_t n, size_t k,
                        struct pss_elf_phdr *ph) {
  const unsigned char *b = p;
  /* k < phnum and phentsize are 16-bit counts: the product cannot wrap */
  if (k >= e->phnum || (k + 1) * e->phentsize > n) return -EINVAL;
  b += k * e->phentsize;
  if (e->is64) {
    Elf64_Phdr h;
    memcpy(&h, b, sizeof h);
    ph->type = h.p_type; ph->flags = h.p_flags;
    ph->offset = h.p_offset; ph->vaddr = h.p_vaddr;
    ph->filesz = h.p_filesz; ph->memsz = h.p_memsz; ph->align = h.p_align;
  }
  else {
    Elf32_Phdr h;
    memcpy(&h, b, sizeof h);
    ph->type = h.p_type; ph->flags = h.p_flags;
    ph->offset = h.p_offset; ph->vaddr = h.p_vaddr;
    ph->filesz = h.p_filesz; ph->memsz = h.p_memsz; ph->align = h.p_align;
  }
  return 0;
}

/* n rounded up to a multiple of align (4 or 8); SIZE_MAX past the top. */
static size_t padded (uint64_t n, size_t align) {
  if (n > SIZE_MAX - align) return SIZE_MAX;
  return (size_t)((n + align - 1) & ~(uint64_t)(align - 1));
}

/*
** Notes are { namesz, descsz, type } words (Elf32_Nhdr and Elf64_Nhdr are
** the same), then the name, then the descriptor at the next multiple of
** the segment's alignment (4 or 8) from the segment's start, and the next
** note at the multiple after the descriptor -- offsets aligned, as libelf
** reads them, not lengths padded (12 + namesz 4 is 16 with 8, not 20).
** The build id is the one whose name is "GNU" with its NUL (namesz 4).
*/
size_t pss_elf_build_id (const void *p, size_t n, uint64_t align, unsigned char *id,
                         size_t cap) {
  const unsigned char *b = p;
  size_t pad = align == 8 ? 8 : 4, pos = 0;
  while (n - pos >= sizeof(Elf32_Nhdr)) {
    Elf32_Nhdr h;
    size_t name_at = pos + sizeof h, desc_at;
    memcpy(&h, b + pos, sizeof h);
    if (h.n_namesz > n - name_at) return 0;
    desc_at = padded(name_at + h.n_namesz, pad);
    if (desc_at > n || h.n_descsz > n - desc_at) return 0;
    if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(b + name_at, "GNU", 4) == 0 &&
        h.n_descsz > 0) {
      if (h.n_descsz > cap) return 0;
      memcpy(id, b + desc_at, h.n_descsz);
      return h.n_descsz;
    }
    /* the last note's padding may be cut by the segment's end */
    pos = padded(desc_at + h.n_descsz, pad);
    if (pos >= n) return 0;
  }
  return 0;
}
