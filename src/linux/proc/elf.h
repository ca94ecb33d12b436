/*
** elf.h -- pure readers of an ELF image's headers and notes: bytes in,
** fields out. Like procfs.c's parsers they take bytes, never a process or
** a path, read p[0..n) and nothing else, and never allocate, so they are
** fixture-tested (spec/c/test_stacks.c) and fuzzed (spec/fuzz/).
**
** Both classes (ELFCLASS32 and ELFCLASS64) are read, in this machine's
** byte order; an image of the other order, or any value a field cannot
** hold, is -EINVAL.
*/
#ifndef PSS_LINUX_PROC_ELF_H
#define PSS_LINUX_PROC_ELF_H

#pragma GCC visibility push(hidden)

#include <stddef.h>
#include <stdint.h>

/* The ELF header: where the program header table is. */
struct pss_elf {
  int is64;                 /* ELFCLASS64 */
  unsigned type;            /* e_type: ET_EXEC, ET_DYN, ... */
  uint64_t phoff;           /* e_phoff: file offset of the table */
  size_t phnum;             /* e_phnum (an extended count, PN_XNUM, is -EINVAL) */
  size_t phentsize;         /* e_phentsize, at least the class's Phdr */
};
int pss_elf_parse_header(const void *p, size_t n, struct pss_elf *e);
/* The bytes of the program header table (phnum * phentsize). */
size_t pss_elf_phdrs_size(const struct pss_elf *e);

/* Program header k of the table in p[0..n) (p is the table, not the file). */
struct pss_elf_phdr {
  uint32_t type, flags;     /* p_type (PT_LOAD, PT_NOTE, ...), p_flags */
  uint64_t offset, vaddr;   /* p_offset, p_vaddr */
  uint64_t filesz, memsz;   /* p_filesz, p_memsz */
  uint64_t align;           /* p_align */
};
int pss_elf_parse_phdr(const struct pss_elf *e, const void *p, size_t n, size_t k,
                       struct pss_elf_phdr *ph);

/*
** The GNU build id (NT_GNU_BUILD_ID, name "GNU") among the notes of one
** PT_NOTE segment, p[0..n), whose entries are padded to align (its p_align:
** 8 for a segment of 8-aligned notes, else 4). Returns its length, copied
** into id; 0 if the segment has none, or one longer than cap (it cannot be
** held whole), or the notes are malformed before one is found.
*/
size_t pss_elf_build_id(const void *p, size_t n, uint64_t align, unsigned char *id,
                        size_t cap);

#pragma GCC visibility pop

#endif
