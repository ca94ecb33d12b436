/*
** core.h -- an ELF core file of a process image, as the kernel would
** write it, for gdb.
**
** The memory comes from `image`, a process holding the target's memory at
** the capture instant (in the product a stopped copy-on-write clone of the
** target; any process we may ptrace will do), while the registers and the
** identity come from the caller: they are the target's, taken at that same
** instant. So the target runs on while its core is written.
*/
#ifndef PSS_LINUX_CORE_H
#define PSS_LINUX_CORE_H

#include <stddef.h>
#include <sys/types.h>

#include "linux/ptrace/arch.h"

#pragma GCC visibility push(hidden)

/* A thread's registers in the machine's layouts (ptrace/ARCH/regs.h) */
struct pss_core_thread {
  pid_t tid;
  _Alignas(16) unsigned char gp[PSS_REGS_GP_SIZE];  /* as PTRACE_GETREGSET NT_PRSTATUS gives
                                                       (x86-64: user_regs_struct) */
  unsigned char fp[PSS_REGS_FP_SIZE];  /* NT_PRFPREG (x86-64: the FXSAVE image); valid when have_fp */
  int have_fp;
};

struct pss_core_process {
  pid_t pid, ppid, pgrp, sid;
  uid_t uid; gid_t gid;
  char state;                 /* stat letter */
  int nice;
  char fname[16];             /* comm */
  char psargs[80];            /* command line, NULs turned to spaces, truncated */
};

/*
** Writes an ELF64 core file to fd: the memory comes from process `image`
** (its /proc/IMAGE/maps, /proc/IMAGE/smaps VmFlags, /proc/IMAGE/auxv, and
** its memory through /proc/IMAGE/mem, process_vm_readv where mem will not
** open, with /proc/IMAGE/pagemap saying which pages to read),
** the threads' registers from `threads` (the first one is the main
** thread). Returns 0 or -errno (-EBADF: fd is not open for writing); a
** failed write also leaves a detail in words (pss_fail_detail). Nothing is
** written before the image has been read as far as the notes.
**
** A regular file opened without O_APPEND gets the core from its current
** offset on: what it held past that offset is cut off first, pages of
** zeros are left as holes, the file ends where the core ends and its
** offset moves there. Anything else (a pipe, a socket, a device, a file
** opened O_APPEND) gets every byte in order; a non-blocking one is waited
** on. SIGPIPE and SIGXFSZ never reach the caller: a write they would
** follow fails with EPIPE or EFBIG. After an error fd holds part of a
** core; what to do with it is the caller's business.
**
** The core holds every mapping except those the kernel would not dump
** either: VM_DONTDUMP ("dd"), VM_IO and VM_PFNMAP ("io", "pf": [vvar],
** device memory), and anonymous private memory that has no page at all
** (Rss and Swap 0 in smaps: zeros), whose segments have no bytes in the
** file (gdb reads them as zeros). In anonymous private memory, a page
** that pagemap shows neither present nor swapped out is zeros without
** being read (reading would allocate it in the image). Pages that cannot
** be read even through /proc/IMAGE/mem are written as zeros. The image
** is read by a thread of its own while fd is written (the caller's
** thread writes). -EOPNOTSUPP on a machine without a port
** (pss_core_machine() 0).
*/
int pss_core_write(int fd, pid_t image, const struct pss_core_process *proc,
                   const struct pss_core_thread *threads, size_t nthreads);

/* Why writing a core failed with errno e, in words for
** PssLinuxLastErrorDetail ("no space left on the device the core is
** written to"); NULL where strerror(e) says it all. */
const char *pss_core_write_cause(int e);

#pragma GCC visibility pop

#endif
