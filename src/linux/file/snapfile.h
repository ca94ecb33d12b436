/*
** snapfile.h -- the saved snapshot's file format, shared by save.c and
** load.c (docs/snapshot-format.md describes it byte by byte).
**
** A file is a header, then sections, each with its own header, until an
** END section. Every number is little-endian; rows are the store's rows as
** they are in memory, their pointers offsets+1 into their table's pool, so
** the file holds no address of the process that wrote it.
*/
#ifndef PSS_LINUX_FILE_SNAPFILE_H
#define PSS_LINUX_FILE_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "linux/common.h"

#pragma GCC visibility push(hidden)

#define PSS_SNAP_MAGIC "\x7fPSSNAP\n"
#define PSS_SNAP_MAGIC_LEN 8
/* Major: a reader refuses a file of a newer major (the layout of the
** rows, record or header changed). Minor: new section types only, which
** an older reader skips. */
#define PSS_SNAP_MAJOR 2      /* 2: the memory usage at the end of the record
                                 and of the region row (a reader of 2 reads 1) */
#define PSS_SNAP_MINOR 0      /* (in format 1, minor 1 added MEMORY and MEMRANGES) */

/* The file header: magic, major, minor, reserved, CRC-32 of bytes 0-19. */
#define PSS_SNAP_HEADER_LEN 24
/* A section header: type, table id, payload length (u64), CRC-32 of the
** payload, CRC-32 of bytes 0-19 of this header. */
#define PSS_SNAP_SECTION_LEN 24

enum pss_snap_section {
  PSS_SNAP_STORE = 1,      /* struct pss_snap_store, then the process record */
  PSS_SNAP_PSTRINGS = 2,   /* the process record's string pool */
  PSS_SNAP_ROWS = 3,       /* a table's rows (id in the header) */
  PSS_SNAP_STRINGS = 4,    /* a table's string pool (id in the header) */
  PSS_SNAP_MEMORY = 5,     /* u64 address, then bytes of memory from it */
  PSS_SNAP_MEMRANGES = 6,  /* u64 start, u64 end pairs: the memory saved; what
                              no MEMORY section holds inside them is zeros */
  PSS_SNAP_END = 0x7fffffff
};

/* The STORE section's fixed part; PSS_LINUX_PROCESS_INFORMATION follows,
** its pointers offsets+1 into PSTRINGS. */
struct pss_snap_store {
  uint32_t capture_flags;
  uint32_t context_length;
  uint32_t threads_frozen;
  uint32_t record_size;      /* sizeof(PSS_LINUX_PROCESS_INFORMATION) */
  uint64_t freeze_cycles, freeze_us;
  PSS_PERFORMANCE_COUNTERS perf;
};

/* The ROWS section's fixed part; count rows of row_size bytes follow. */
struct pss_snap_rows {
  uint64_t count;
  uint32_t row_size;
  uint32_t reserved;
};

struct pss_store;

/*
** The store s in this format to fd, from fd's current position, in order
** (a pipe or socket works); flags: PSS_LINUX_SAVE_MEMORY. Returns 0 or
** -errno, with a detail in words (pss_fail_detail) where errno says too
** little. SIGPIPE and SIGXFSZ never reach the caller.
*/
int pss_snapshot_save(const struct pss_store *s, int fd, unsigned flags);
/*
** A saved snapshot, or an ELF core (file/coreload.h), read from fd's
** current position into a new store in *out. Returns 0; -EBADMSG for a
** file that is neither or is damaged, -EPROTONOSUPPORT for a newer major
** version (both with a detail); -ENOMEM; -errno of a read.
*/
int pss_snapshot_load(int fd, struct pss_store **out);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of n bytes, continuing from crc. */
uint32_t pss_snap_crc32(uint32_t crc, const void *p, size_t n);

static inline void pss_snap_put32 (unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8);
  b[2] = (unsigned char)(v >> 16); b[3] = (unsigned char)(v >> 24);
}
static inline uint32_t pss_snap_get32 (const unsigned char *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#pragma GCC visibility pop

#endif
