/*
** coreload.h -- an ELF core file that the kernel or gdb's gcore wrote (or
** pss core), read into a store: PssLinuxLoadSnapshot's second format.
*/
#ifndef PSS_LINUX_FILE_CORELOAD_H
#define PSS_LINUX_FILE_CORELOAD_H

#include <stdint.h>

#include "linux/store/store.h"

#pragma GCC visibility push(hidden)

/*
** Reads the core that occupies bytes [base, base + size) of fd (a regular
** file or a memfd; read with pread only, so fd's offset is unused) into a
** new store in *out. The store's memory (s->mem) reads the PT_LOAD
** segments from its own duplicate of fd. Returns 0, -EBADMSG for a file
** that is not a core of this machine or is damaged (with a detail in
** words: pss_fail_detail), -ENOMEM, or -errno of a read.
*/
int pss_core_load(int fd, uint64_t base, uint64_t size, struct pss_store **out);

#pragma GCC visibility pop

#endif
