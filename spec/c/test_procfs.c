/*
** test_procfs.c -- the /proc parsers (src/linux/proc/procfs.c) on fixture
** text: text in, struct out, no process involved. The fixtures were read
** from this machine's /proc (Linux 6.18) by a small program that made a
** thread named "a) b (c) d", a zombie, fds of every kind and odd mappings;
** the crafted cases around them are what no kernel prints but a parser
** must survive: values past 32 and 64 bits, truncation, missing fields.
** spec/fuzz/fuzz_procfs.c feeds the same parsers random bytes.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "linux/proc/procfs.h"
#include "suites.h"

/* {======================================================================
** Fixtures read from /proc
** ======================================================================= */
/* stat of a thread named "a) b (c) d" (prctl PR_SET_NAME) */
static const char STAT_PARENS[] =
  "13738 (a) b (c) d) R 13715 13715 10599 0 -1 4194560 98 0 0 0 0 1 0 0 20 0 1 0 1275508 3489792 375 18446744073709551615 93962324910080 93962324913693 140731475689232 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 93962324921776 93962324922672 93962785570816 140731475691992 140731475691998 140731475691998 140731475693554 0\n";

/* stat of kthreadd: a kernel thread, no memory */
static const char STAT_KTHREAD[] =
  "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 17 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

/* stat of a zombie that exited with 3 */
static const char STAT_ZOMBIE[] =
  "13739 (gen) Z 13738 13715 10599 0 -1 4227148 17 0 0 0 0 0 0 0 20 0 1 0 1275509 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 768\n";

/* status of the same thread */
static const char STATUS_SELF[] =
  "Name:\ta) b (c) d\n"
  "Umask:\t0022\n"
  "State:\tR (running)\n"
  "Tgid:\t13738\n"
  "Ngid:\t0\n"
  "Pid:\t13738\n"
  "PPid:\t13715\n"
  "TracerPid:\t0\n"
  "Uid:\t0\t0\t0\t0\n"
  "Gid:\t0\t0\t0\t0\n"
  "FDSize:\t256\n"
  "Groups:\t \n"
  "NStgid:\t13738\n"
  "NSpid:\t13738\n"
  "NSpgid:\t13715\n"
  "NSsid:\t10599\n"
  "Kthread:\t0\n"
  "VmPeak:\t    3408 kB\n"
  "VmSize:\t    3408 kB\n"
  "VmLck:\t       0 kB\n"
  "VmPin:\t       0 kB\n"
  "VmHWM:\t    1612 kB\n"
  "VmRSS:\t    1612 kB\n"
  "RssAnon:\t     112 kB\n"
  "RssFile:\t    1500 kB\n"
  "RssShmem:\t       0 kB\n"
  "VmData:\t     240 kB\n"
  "VmStk:\t    1036 kB\n"
  "VmExe:\t       4 kB\n"
  "VmLib:\t    1532 kB\n"
  "VmPTE:\t      44 kB\n"
  "VmSwap:\t       0 kB\n"
  "HugetlbPages:\t       0 kB\n"
  "CoreDumping:\t0\n"
  "THP_enabled:\t1\n"
  "untag_mask:\t0xffffffffffffffff\n"
  "Threads:\t1\n"
  "SigQ:\t0/96367\n"
  "SigPnd:\t0000000000000000\n"
  "ShdPnd:\t0000000000000000\n"
  "SigBlk:\t0000000000000000\n"
  "SigIgn:\t0000000000000000\n"
  "SigCgt:\t0000000000000000\n"
  "CapInh:\t0000000000000000\n"
  "CapPrm:\t000001fffeffffff\n"
  "CapEff:\t000001fffeffffff\n"
  "CapBnd:\t000001fffeffffff\n"
  "CapAmb:\t0000000000000000\n"
  "NoNewPrivs:\t0\n"
  "Seccomp:\t0\n"
  "Seccomp_filters:\t0\n"
  "Speculation_Store_Bypass:\tvulnerable\n"
  "SpeculationIndirectBranch:\talways enabled\n"
  "Cpus_allowed:\t3\n"
  "Cpus_allowed_list:\t0-1\n"
  "Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001\n"
  "Mems_allowed_list:\t0\n"
  "voluntary_ctxt_switches:\t1\n"
  "nonvoluntary_ctxt_switches:\t0\n";

/* status of kthreadd */
static const char STATUS_KTHREAD[] =
  "Name:\tkthreadd\n"
  "Umask:\t0022\n"
  "State:\tS (sleeping)\n"
  "Tgid:\t2\n"
  "Ngid:\t0\n"
  "Pid:\t2\n"
  "PPid:\t0\n"
  "TracerPid:\t0\n"
  "Uid:\t0\t0\t0\t0\n"
  "Gid:\t0\t0\t0\t0\n"
  "FDSize:\t64\n"
  "Groups:\t \n"
  "NStgid:\t2\n"
  "NSpid:\t2\n"
  "NSpgid:\t0\n"
  "NSsid:\t0\n"
  "Kthread:\t1\n"
  "Threads:\t1\n"
  "SigQ:\t1/96367\n"
  "SigPnd:\t0000000000000000\n"
  "ShdPnd:\t0000000000000000\n"
  "SigBlk:\t0000000000000000\n"
  "SigIgn:\tffffffffffffffff\n"
  "SigCgt:\t0000000000000000\n"
  "CapInh:\t0000000000000000\n"
  "CapPrm:\t000001ffffffffff\n"
  "CapEff:\t000001ffffffffff\n"
  "CapBnd:\t000001ffffffffff\n"
  "CapAmb:\t0000000000000000\n"
  "NoNewPrivs:\t0\n"
  "Seccomp:\t0\n"
  "Seccomp_filters:\t0\n"
  "Speculation_Store_Bypass:\tvulnerable\n"
  "SpeculationIndirectBranch:\talways enabled\n"
  "Cpus_allowed:\t3\n"
  "Cpus_allowed_list:\t0-1\n"
  "Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001\n"
  "Mems_allowed_list:\t0\n"
  "voluntary_ctxt_switches:\t118\n"
  "nonvoluntary_ctxt_switches:\t0\n";

/* status of the zombie */
static const char STATUS_ZOMBIE[] =
  "Name:\tgen\n"
  "State:\tZ (zombie)\n"
  "Tgid:\t13739\n"
  "Ngid:\t0\n"
  "Pid:\t13739\n"
  "PPid:\t13738\n"
  "TracerPid:\t0\n"
  "Uid:\t0\t0\t0\t0\n"
  "Gid:\t0\t0\t0\t0\n"
  "FDSize:\t0\n"
  "Groups:\t \n"
  "NStgid:\t13739\n"
  "NSpid:\t13739\n"
  "NSpgid:\t13715\n"
  "NSsid:\t10599\n"
  "Kthread:\t0\n"
  "Threads:\t1\n"
  "SigQ:\t0/96367\n"
  "SigPnd:\t0000000000000000\n"
  "ShdPnd:\t0000000000000000\n"
  "SigBlk:\t0000000000000000\n"
  "SigIgn:\t0000000000000000\n"
  "SigCgt:\t0000000000000000\n"
  "CapInh:\t0000000000000000\n"
  "CapPrm:\t000001fffeffffff\n"
  "CapEff:\t000001fffeffffff\n"
  "CapBnd:\t000001fffeffffff\n"
  "CapAmb:\t0000000000000000\n"
  "NoNewPrivs:\t0\n"
  "Seccomp:\t0\n"
  "Seccomp_filters:\t0\n"
  "Speculation_Store_Bypass:\tvulnerable\n"
  "SpeculationIndirectBranch:\talways enabled\n"
  "Cpus_allowed:\t3\n"
  "Cpus_allowed_list:\t0-1\n"
  "Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001\n"
  "Mems_allowed_list:\t0\n"
  "voluntary_ctxt_switches:\t1\n"
  "nonvoluntary_ctxt_switches:\t0\n";

/* syscall of a thread in pause() */
static const char SYSCALL_BLOCKED[] =
  "34 0x0 0x0 0x0 0x7f7f4b2a7fa0 0x0 0x7f7f4b28b740 0x7ffe999dfab8 0x7f7f4b361dd0\n";

/* fdinfo of a pidfd of the zombie */
static const char FDINFO_PIDFD[] =
  "pos:\t0\n"
  "flags:\t02000002\n"
  "mnt_id:\t4\n"
  "ino:\t3225283\n"
  "Pid:\t13739\n"
  "NSpid:\t13739\n";

/* the same pidfd once its process was reaped */
static const char FDINFO_PIDFD_REAPED[] =
  "pos:\t0\n"
  "flags:\t02000002\n"
  "mnt_id:\t4\n"
  "ino:\t3225283\n"
  "Pid:\t-1\n"
  "NSpid:\t-1\n";

/* eventfd(5, EFD_SEMAPHORE) */
static const char FDINFO_EVENTFD[] =
  "pos:\t0\n"
  "flags:\t02\n"
  "mnt_id:\t17\n"
  "ino:\t1038\n"
  "eventfd-count:                5\n"
  "eventfd-id: 1\n"
  "eventfd-semaphore: 1\n";

/* an inotify fd watching /tmp */
static const char FDINFO_INOTIFY[] =
  "pos:\t0\n"
  "flags:\t00\n"
  "mnt_id:\t17\n"
  "ino:\t1038\n"
  "inotify wd:1 ino:3c51a sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1ac5030000000000\n";

/* an epoll fd watching the eventfd */
static const char FDINFO_EPOLL[] =
  "pos:\t0\n"
  "flags:\t02\n"
  "mnt_id:\t17\n"
  "ino:\t1038\n"
  "tfd:        3 events:       19 data:                0  pos:0 ino:40e sdev:10\n";

/* a disarmed timerfd */
static const char FDINFO_TIMERFD[] =
  "pos:\t0\n"
  "flags:\t02\n"
  "mnt_id:\t17\n"
  "ino:\t1038\n"
  "clockid: 1\n"
  "ticks: 0\n"
  "settime flags: 00\n"
  "it_value: (0, 0)\n"
  "it_interval: (0, 0)\n";

/* a signalfd of SIGUSR1 and SIGTERM */
static const char FDINFO_SIGNALFD[] =
  "pos:\t0\n"
  "flags:\t02\n"
  "mnt_id:\t17\n"
  "ino:\t1038\n"
  "sigmask:\t0000000000004200\n";

/* a memfd (O_LARGEFILE|O_RDWR) */
static const char FDINFO_MEMFD[] =
  "pos:\t0\n"
  "flags:\t0100002\n"
  "mnt_id:\t0\n"
  "ino:\t57208\n";

/* maps of the fixture process: "new\nline", "del me" deleted, a memfd */
static const char MAPS_SELF[] =
  "55754eff9000-55754effa000 r--p 00000000 fe:00 11117351                   /tmp/procfix/gen\n"
  "55754effa000-55754effb000 r-xp 00001000 fe:00 11117351                   /tmp/procfix/gen\n"
  "55754effb000-55754effc000 r--p 00002000 fe:00 11117351                   /tmp/procfix/gen\n"
  "55754effc000-55754effd000 r--p 00002000 fe:00 11117351                   /tmp/procfix/gen\n"
  "55754effd000-55754effe000 rw-p 00003000 fe:00 11117351                   /tmp/procfix/gen\n"
  "55756a74c000-55756a76d000 rw-p 00000000 00:00 0                          [heap]\n"
  "7f7f4b28b000-7f7f4b28e000 rw-p 00000000 00:00 0 \n"
  "7f7f4b28e000-7f7f4b2b4000 r--p 00000000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
  "7f7f4b2b4000-7f7f4b40a000 r-xp 00026000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
  "7f7f4b40a000-7f7f4b45d000 r--p 0017c000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
  "7f7f4b45d000-7f7f4b461000 r--p 001cf000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
  "7f7f4b461000-7f7f4b463000 rw-p 001d3000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
  "7f7f4b463000-7f7f4b470000 rw-p 00000000 00:00 0 \n"
  "7f7f4b475000-7f7f4b477000 rw-p 00000000 00:00 0 \n"
  "7f7f4b477000-7f7f4b479000 rw-p 00000000 00:00 0 \n"
  "7f7f4b479000-7f7f4b47a000 r-xp 00000000 fe:00 11117356                   /tmp/procfix/new\\012line\n"
  "7f7f4b47a000-7f7f4b47b000 r--s 00000000 fe:00 11117355                   /tmp/procfix/del me (deleted)\n"
  "7f7f4b47b000-7f7f4b47c000 r--s 00000000 00:01 57208                      /memfd:pss memfd (x) (deleted)\n"
  "7f7f4b47c000-7f7f4b47e000 rw-p 00000000 00:00 0 \n"
  "7f7f4b47e000-7f7f4b482000 r--p 00000000 00:00 0                          [vvar]\n"
  "7f7f4b482000-7f7f4b484000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
  "7f7f4b484000-7f7f4b486000 r-xp 00000000 00:00 0                          [vdso]\n"
  "7f7f4b486000-7f7f4b487000 r--p 00000000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
  "7f7f4b487000-7f7f4b4ad000 r-xp 00001000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
  "7f7f4b4ad000-7f7f4b4b7000 r--p 00027000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
  "7f7f4b4b7000-7f7f4b4b9000 r--p 00031000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
  "7f7f4b4b9000-7f7f4b4bb000 rw-p 00033000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
  "7ffe998de000-7ffe999e1000 rw-p 00000000 00:00 0                          [stack]\n"
  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

/* six records of its smaps: heap, MADV_WIPEONFORK, MADV_DONTDUMP, a shared
** deleted file, [vvar], [vsyscall] */
static const char SMAPS_SOME[] =
  "55756a74c000-55756a76d000 rw-p 00000000 00:00 0                          [heap]\n"
  "Size:                132 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   8 kB\n"
  "Pss:                   8 kB\n"
  "Pss_Dirty:             8 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         8 kB\n"
  "Referenced:            8 kB\n"
  "Anonymous:             8 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: rd wr mr mw me ac \n"
  "7f7f4b475000-7f7f4b477000 rw-p 00000000 00:00 0 \n"
  "Size:                  8 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   4 kB\n"
  "Pss:                   4 kB\n"
  "Pss_Dirty:             4 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         4 kB\n"
  "Referenced:            4 kB\n"
  "Anonymous:             4 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: rd wr mr mw me ac wf \n"
  "7f7f4b477000-7f7f4b479000 rw-p 00000000 00:00 0 \n"
  "Size:                  8 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   0 kB\n"
  "Pss:                   0 kB\n"
  "Pss_Dirty:             0 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         0 kB\n"
  "Referenced:            0 kB\n"
  "Anonymous:             0 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: rd wr mr mw me ac dd \n"
  "7f7f4b47a000-7f7f4b47b000 r--s 00000000 fe:00 11117355                   /tmp/procfix/del me (deleted)\n"
  "Size:                  4 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   0 kB\n"
  "Pss:                   0 kB\n"
  "Pss_Dirty:             0 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         0 kB\n"
  "Referenced:            0 kB\n"
  "Anonymous:             0 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: rd sh mr mw me ms \n"
  "7f7f4b47e000-7f7f4b482000 r--p 00000000 00:00 0                          [vvar]\n"
  "Size:                 16 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   0 kB\n"
  "Pss:                   0 kB\n"
  "Pss_Dirty:             0 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         0 kB\n"
  "Referenced:            0 kB\n"
  "Anonymous:             0 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: rd mr pf io de dd \n"
  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
  "Size:                  4 kB\n"
  "KernelPageSize:        4 kB\n"
  "MMUPageSize:           4 kB\n"
  "Rss:                   0 kB\n"
  "Pss:                   0 kB\n"
  "Pss_Dirty:             0 kB\n"
  "Shared_Clean:          0 kB\n"
  "Shared_Dirty:          0 kB\n"
  "Private_Clean:         0 kB\n"
  "Private_Dirty:         0 kB\n"
  "Referenced:            0 kB\n"
  "Anonymous:             0 kB\n"
  "KSM:                   0 kB\n"
  "LazyFree:              0 kB\n"
  "AnonHugePages:         0 kB\n"
  "ShmemPmdMapped:        0 kB\n"
  "FilePmdMapped:         0 kB\n"
  "Shared_Hugetlb:        0 kB\n"
  "Private_Hugetlb:       0 kB\n"
  "Swap:                  0 kB\n"
  "SwapPss:               0 kB\n"
  "Locked:                0 kB\n"
  "THPeligible:           0\n"
  "VmFlags: ex \n";

/* /proc/self/net/tcp */
static const char NET_TCP[] =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
  "   0: 0100007F:B26F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9299454 1 0000000085a8011a 100 0 0 10 0                   \n"
  "   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1185 1 00000000020da745 100 0 0 10 0                      \n";

/* /proc/self/net/tcp6: a listener on [::1]:45678 */
static const char NET_TCP6[] =
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
  "   0: 00000000000000000000000001000000:B26E 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9299453 1 000000005c0f8399 100 0 0 10 0\n";

/* /proc/self/net/udp */
static const char NET_UDP[] =
  "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n"
  " 6430: 00000000:CCA4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9299455 2 0000000095f930a2 0       \n";

/* /proc/self/net/unix: a path with a space, two unnamed sockets, an
** abstract listener */
static const char NET_UNIX[] =
  "Num       RefCount Protocol Flags    Type St Inode Path\n"
  "000000007da2e3a1: 00000002 00000000 00000000 0002 01 9299452 /tmp/procfix/sock with space\n"
  "00000000786671cc: 00000003 00000000 00000000 0001 03  1181\n"
  "000000008dbb2b82: 00000003 00000000 00000000 0001 03  1182\n"
  "00000000dab521cc: 00000002 00000000 00010000 0001 01 9299451 @pss-abstract name\n";

/* the first lines of /proc/self/net/netlink */
static const char NET_NETLINK[] =
  "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n"
  "00000000ce6ee4a3 0   0          00000000 0        0        0     2        0        4       \n"
  "000000004eba6fe1 0   13738      00000000 0        0        0     2        0        9299456 \n"
  "00000000b4476097 4   0          00000000 0        0        0     2        0        1083    \n";

/* /proc/self/net/packet: AF_PACKET, SOCK_DGRAM, ETH_P_ALL */
static const char NET_PACKET[] =
  "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n"
  "00000000a2590199 3      2    0003   0     1 0      0      9299457\n";

/* }====================================================================== */


/* The text in a heap block of exactly len bytes, so ASan sees any read
** past the length a parser was given; free() it. */
static char *exact (const char *text, size_t len) {
  char *p = malloc(len);     /* glibc and ASan give a block for 0 too */
  assert_non_null(p);
  memcpy(p, text, len);
  return p;
}

#define LEN(s) (sizeof (s) - 1)

/* {======================================================================
** stat
** ======================================================================= */

/* A stat line: "pid (comm) state" then fields 4..nfields, each "0" unless
** set[] gives its text (indexed by field number, NULL for "0"). */
static size_t stat_line (char *buf, size_t cap, const char *comm, size_t comm_len,
                         int nfields, const char *const *set) {
  size_t n = 0;
  int i;
  n += (size_t)snprintf(buf, cap, "42 (");
  memcpy(buf + n, comm, comm_len);
  n += comm_len;
  n += (size_t)snprintf(buf + n, cap - n, ") %s", set && set[3] ? set[3] : "S");
  for (i = 4; i <= nfields; i++)
    n += (size_t)snprintf(buf + n, cap - n, " %s", set && set[i] ? set[i] : "0");
  n += (size_t)snprintf(buf + n, cap - n, "\n");
  assert_true(n < cap);
  return n;
}

static void procfs_stat_of_a_thread (void **state) {
  struct pss_stat st;
  (void)state;
  assert_int_equal(pss_parse_stat(STAT_PARENS, LEN(STAT_PARENS), &st), 0);
  assert_bytes(st.comm, st.comm_len, "a) b (c) d", 10);
  assert_int_equal(st.state, 'R');
  assert_int_equal(st.ppid, 13715);
  assert_int_equal(st.pgrp, 13715);
  assert_int_equal(st.session, 10599);
  assert_int_equal(st.flags, 4194560);
  assert_int_equal(st.minflt, 98);
  assert_int_equal(st.majflt, 0);
  assert_int_equal(st.utime, 0);
  assert_int_equal(st.stime, 1);
  assert_int_equal(st.priority, 20);
  assert_int_equal(st.nice, 0);
  assert_int_equal(st.num_threads, 1);
  assert_int_equal(st.starttime, 1275508);
  assert_int_equal(st.vsize, 3489792);
  assert_int_equal(st.rss, 375);
  assert_true(st.startstack == 140731475689232ULL);   /* above 2^32 */
  assert_int_equal(st.processor, 0);
  assert_int_equal(st.policy, 0);
  assert_true(st.arg_start == 140731475691992ULL);
  assert_int_equal(st.exit_code, 0);
}

/* A kernel thread has no memory: vsize, rss, startstack and the
** addresses are 0, and PF_KTHREAD is in its flags. */
static void procfs_stat_of_a_kernel_thread (void **state) {
  struct pss_stat st;
  (void)state;
  assert_int_equal(pss_parse_stat(STAT_KTHREAD, LEN(STAT_KTHREAD), &st), 0);
  assert_bytes(st.comm, st.comm_len, "kthreadd", 8);
  assert_int_equal(st.state, 'S');
  assert_int_equal(st.ppid, 0);
  assert_true(st.flags & 0x00200000u);
  assert_int_equal(st.vsize, 0);
  assert_int_equal(st.rss, 0);
  assert_int_equal(st.startstack, 0);
  assert_int_equal(st.arg_start, 0);
  assert_int_equal(st.starttime, 17);
  assert_int_equal(st.processor, 1);
}

/* A zombie: state Z, no memory, and its wait status in field 52 */
static void procfs_stat_of_a_zombie (void **state) {
  struct pss_stat st;
  (void)state;
  assert_int_equal(pss_parse_stat(STAT_ZOMBIE, LEN(STAT_ZOMBIE), &st), 0);
  assert_int_equal(st.state, 'Z');
  assert_int_equal(st.ppid, 13738);
  assert_int_equal(st.vsize, 0);
  assert_int_equal(st.exit_code, 768);        /* exit(3): 3 << 8 */
  assert_int_equal((st.exit_code >> 8) & 0xff, 3);
}

/* comm is whatever prctl(PR_SET_NAME) was given, unescaped in stat: the
** fields start after the LAST ')'. */
static void procfs_stat_odd_comms (void **state) {
#define C(s) { s, sizeof s - 1 }
  static const struct { const char *comm; size_t len; } cases[] = {
    C(""), C(" "), C(")"), C("("), C("()"), C(") R 7 ("), C("x) S 99 99 99"),
    C("new\nline"), C("\n"), C("tab\there"), C("fifteen bytes!!"), C("nul\0inside"),
    C("\xff\xfe not utf-8"), C("kworker/u8:2-events_power_efficient"),
  };
#undef C
  const char *set[53] = { 0 };
  char buf[512];
  size_t i;
  (void)state;
  set[4] = "4242";
  set[22] = "777";
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct pss_stat st;
    size_t n = stat_line(buf, sizeof buf, cases[i].comm, cases[i].len, 52, set);
    char *text = exact(buf, n);
    assert_int_equal(pss_parse_stat(text, n, &st), 0);
    assert_bytes(st.comm, st.comm_len, cases[i].comm, cases[i].len);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.ppid, 4242);
    assert_int_equal(st.starttime, 777);
    free(text);
  }
}

/* A comm longer than the 63 bytes kept (workqueue names of kworkers may
** reach 63) is cut; the fields after it still parse. */
static void procfs_stat_long_comm_is_cut (void **state) {
  char comm[100], buf[512];
  const char *set[53] = { 0 };
  struct pss_stat st;
  size_t n;
  (void)state;
  memset(comm, 'c', sizeof comm);
  set[4] = "5";
  n = stat_line(buf, sizeof buf, comm, sizeof comm, 52, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), 0);
  assert_int_equal(st.comm_len, 63);
  assert_bytes(st.comm, st.comm_len, comm, 63);
  assert_int_equal(st.comm[63], '\0');
  assert_int_equal(st.ppid, 5);
}

/* 64-bit fields keep values past 2^32 and up to 2^64 - 1; signed ones
** take their full range. */
static void procfs_stat_64_bit_values (void **state) {
  const char *set[53] = { 0 };
  char buf[1024];
  struct pss_stat st;
  size_t n;
  (void)state;
  set[4] = "2147483647";                 /* INT_MAX */
  set[5] = "-1";
  set[9] = "4294967295";                 /* UINT_MAX */
  set[10] = "4294967296";                /* 2^32 */
  set[12] = "18446744073709551615";      /* 2^64 - 1 */
  set[14] = "4294967297";
  set[15] = "9223372036854775808";
  set[18] = "-100";
  set[19] = "-20";
  set[20] = "9223372036854775807";       /* LONG_MAX */
  set[22] = "18446744073709551615";
  set[23] = "140737488351232";           /* 128 TiB */
  set[24] = "-9223372036854775808";      /* INT64_MIN */
  set[28] = "18446744073699065856";      /* 0xffffffffff600000 */
  set[39] = "-2147483648";               /* INT_MIN */
  set[48] = "140737488355327";
  set[52] = "2147483647";
  n = stat_line(buf, sizeof buf, "big", 3, 52, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), 0);
  assert_int_equal(st.ppid, 2147483647);
  assert_int_equal(st.pgrp, -1);
  assert_true(st.flags == 4294967295u);
  assert_true(st.minflt == 4294967296ULL);
  assert_true(st.majflt == UINT64_MAX);
  assert_true(st.utime == 4294967297ULL);
  assert_true(st.stime == 9223372036854775808ULL);
  assert_int_equal(st.priority, -100);
  assert_int_equal(st.nice, -20);
  assert_true(st.num_threads == 9223372036854775807L);
  assert_true(st.starttime == UINT64_MAX);
  assert_true(st.vsize == 140737488351232ULL);
  assert_true(st.rss == INT64_MIN);
  assert_true(st.startstack == 0xffffffffff600000ULL);
  assert_int_equal(st.processor, -2147483647 - 1);
  assert_true(st.arg_start == 140737488355327ULL);
  assert_int_equal(st.exit_code, 2147483647);
}

/* A value that does not fit its field is malformed, never wrapped: a pid
** of 2^32 + 1 is not pid 1. */
static void procfs_stat_rejects_values_that_do_not_fit (void **state) {
  static const struct { int field; const char *text; } bad[] = {
    { 4, "2147483648" }, { 4, "4294967297" }, { 5, "-2147483649" },
    { 9, "4294967296" }, { 9, "-1" }, { 10, "-1" }, { 12, "18446744073709551616" },
    { 22, "99999999999999999999" }, { 24, "9223372036854775808" },
    { 24, "-9223372036854775809" }, { 20, "-18446744073709551616" },
    { 25, "18446744073709551616" },      /* rsslim: kept by no one, still a number */
    { 41, "4294967296" }, { 52, "2147483648" },
    { 7, "x" }, { 7, "--1" }, { 7, "- 1" }, { 7, "-" }, { 7, "0x10" }, { 7, "1e3" },
  };
  const char *set[53] = { 0 };
  char buf[1024];
  struct pss_stat st;
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(set, 0, sizeof set);
    set[bad[i].field] = bad[i].text;
    n = stat_line(buf, sizeof buf, "v", 1, 52, set);
    if (pss_parse_stat(buf, n, &st) != -EINVAL)
      fail_because("field %d = \"%s\" was accepted", bad[i].field, bad[i].text);
  }
  /* the kernel's own unsigned 2^64 - 1 in a field kept by no one */
  memset(set, 0, sizeof set);
  set[25] = "18446744073709551615";
  n = stat_line(buf, sizeof buf, "v", 1, 52, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), 0);
}

/* Fields 4..41 are required; those after, absent on old kernels, are 0;
** those after 52 (newer kernels) are ignored. */
static void procfs_stat_field_counts (void **state) {
  const char *set[53] = { 0 };
  char buf[1024];
  struct pss_stat st;
  size_t n;
  (void)state;
  set[41] = "1";
  n = stat_line(buf, sizeof buf, "f", 1, 40, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), -EINVAL);
  n = stat_line(buf, sizeof buf, "f", 1, 41, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), 0);
  assert_int_equal(st.policy, 1);
  assert_int_equal(st.arg_start, 0);
  assert_int_equal(st.exit_code, 0);
  n = stat_line(buf, sizeof buf, "f", 1, 44, set);
  assert_int_equal(pss_parse_stat(buf, n, &st), 0);
  /* 52 fields and more */
  memcpy(buf, STAT_ZOMBIE, LEN(STAT_ZOMBIE) - 1);
  memcpy(buf + LEN(STAT_ZOMBIE) - 1, " 1 2 3 x y\n", 11);
  assert_int_equal(pss_parse_stat(buf, LEN(STAT_ZOMBIE) + 10, &st), 0);
  assert_int_equal(st.exit_code, 768);
}

/* Cut texts: no parentheses, nothing after them, and len is the end even
** where more text follows in memory. */
static void procfs_stat_truncated (void **state) {
  static const char *const bad[] = {
    "", "42", "42 (comm", "42 comm) S 1", "42 (comm)", "42 (comm) ", "42 (comm)\n",
    ")(", "42 (comm) S 1 2 3\n",
  };
  struct pss_stat st;
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *text = exact(bad[i], strlen(bad[i]));
    if (pss_parse_stat(text, strlen(bad[i]), &st) != -EINVAL)
      fail_because("\"%s\" was accepted", bad[i]);
    free(text);
  }
  /* the zombie's text cut inside its last field: "768" read as "76" */
  n = LEN(STAT_ZOMBIE) - 2;
  assert_int_equal(pss_parse_stat(STAT_ZOMBIE, n, &st), 0);
  assert_int_equal(st.exit_code, 76);
  /* cut after field 9: the rest of the buffer is not read */
  n = (size_t)(strstr(STAT_ZOMBIE, " 4227148") - STAT_ZOMBIE) + 8;
  assert_int_equal(pss_parse_stat(STAT_ZOMBIE, n, &st), -EINVAL);
}
/* }====================================================================== */


/* {======================================================================
** status
** ======================================================================= */

static void procfs_status_of_a_thread (void **state) {
  struct pss_status st;
  (void)state;
  assert_int_equal(pss_parse_status(STATUS_SELF, LEN(STATUS_SELF), &st), 0);
  assert_int_equal(st.vm_peak, 3408 * 1024);
  assert_int_equal(st.vm_size, 3408 * 1024);
  assert_int_equal(st.vm_hwm, 1612 * 1024);
  assert_int_equal(st.vm_rss, 1612 * 1024);
  assert_int_equal(st.rss_anon, 112 * 1024);
  assert_int_equal(st.rss_file, 1500 * 1024);
  assert_int_equal(st.rss_shmem, 0);
  assert_int_equal(st.vm_data, 240 * 1024);
  assert_int_equal(st.vm_stk, 1036 * 1024);
  assert_int_equal(st.vm_pte, 44 * 1024);
  assert_int_equal(st.vm_swap, 0);
  assert_int_equal(st.uid[0], 0);
  assert_int_equal(st.gid[3], 0);
  assert_int_equal(st.tracer_pid, 0);
  assert_true(st.cap_eff == 0x1fffeffffffULL);
  assert_int_equal(st.pid, 13738);
  assert_int_equal(st.nspid, 13738);
  assert_int_equal(st.seccomp, 0);
  assert_int_equal(st.seccomp_filters, 0);
}

/* A kernel thread and a zombie have no Vm lines: 0 */
static void procfs_status_without_memory (void **state) {
  struct pss_status st;
  (void)state;
  assert_int_equal(pss_parse_status(STATUS_KTHREAD, LEN(STATUS_KTHREAD), &st), 0);
  assert_int_equal(st.pid, 2);
  assert_int_equal(st.nspid, 2);
  assert_int_equal(st.vm_size, 0);
  assert_int_equal(st.vm_rss, 0);
  assert_true(st.cap_eff == 0x1ffffffffffULL);
  assert_int_equal(pss_parse_status(STATUS_ZOMBIE, LEN(STATUS_ZOMBIE), &st), 0);
  assert_int_equal(st.pid, 13739);
  assert_int_equal(st.vm_rss, 0);
  assert_true(st.cap_eff == 0x1fffeffffffULL);
}

/* Crafted status texts: each {text, what to check} */
static struct pss_status status_of (const char *text) {
  struct pss_status st;
  char *copy = exact(text, strlen(text));
  assert_int_equal(pss_parse_status(copy, strlen(text), &st), 0);
  free(copy);
  return st;
}

/* NSpid lists the pid from the /proc mount's namespace down to the
** process's own: the last value, if the whole list parses. */
static void procfs_status_nested_pid_namespaces (void **state) {
  (void)state;
  assert_int_equal(status_of("Pid:\t4242\nNSpid:\t4242\t17\t1\n").nspid, 1);
  assert_int_equal(status_of("Pid:\t4242\nNSpid:\t4242\t17\t1\n").pid, 4242);
  assert_int_equal(status_of("NSpid:\t4242\t17   \n").nspid, 17);
  assert_int_equal(status_of("NSpid:\t4242\t17").nspid, 17);           /* no newline */
  assert_int_equal(status_of("NSpid:\t4242\t2147483648\n").nspid, 0);  /* past INT_MAX */
  assert_int_equal(status_of("NSpid:\t4242\t99999999999999999999\n").nspid, 0);
  assert_int_equal(status_of("NSpid:\t4242\tx\n").nspid, 0);
  assert_int_equal(status_of("NSpid:\n").nspid, 0);
  assert_int_equal(status_of("NSpid:").nspid, 0);
  /* PPid, TracerPid, NStgid are other keys */
  assert_int_equal(status_of("PPid:\t1\nNStgid:\t5\nTracerPid:\t9\n").pid, 0);
  assert_int_equal(status_of("PPid:\t1\nNStgid:\t5\nTracerPid:\t9\n").nspid, 0);
  assert_int_equal(status_of("PPid:\t1\nNStgid:\t5\nTracerPid:\t9\n").tracer_pid, 9);
  assert_int_equal(status_of("Pid:\t4294967297\n").pid, 0);
}

/* Seccomp: 0 when the line is absent (no CONFIG_SECCOMP), -1 when it
** holds no mode; any number is passed on (the caller judges 0, 1, 2). */
static void procfs_status_seccomp (void **state) {
  (void)state;
  assert_int_equal(status_of("Seccomp:\t2\nSeccomp_filters:\t3\n").seccomp, 2);
  assert_int_equal(status_of("Seccomp:\t2\nSeccomp_filters:\t3\n").seccomp_filters, 3);
  assert_int_equal(status_of("Seccomp_filters:\t3\n").seccomp, 0);
  assert_int_equal(status_of("Name:\tx\n").seccomp, 0);
  assert_int_equal(status_of("Seccomp:\t1").seccomp, 1);
  assert_int_equal(status_of("Seccomp:\t7\n").seccomp, 7);
  assert_int_equal(status_of("Seccomp:\tx\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\t-1\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\t2147483648\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\t99999999999999999999\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\t2x\n").seccomp, -1);
  assert_int_equal(status_of("Seccomp:\t2 1\n").seccomp, -1);
  /* one line, as seccomp.c reads status line by line */
  assert_int_equal(status_of("Seccomp:\t2").seccomp, 2);
  assert_int_equal(status_of("Seccomp :\t2\n").seccomp, 0);
}

/* kB counts are bytes when they fit in 64 bits, else absent (0) */
static void procfs_status_kb_values (void **state) {
  (void)state;
  assert_true(status_of("VmSize:\t4294967296 kB\n").vm_size == 4398046511104ULL);
  assert_true(status_of("VmRSS:\t18014398509481983 kB\n").vm_rss == UINT64_MAX - 1023);
  assert_int_equal(status_of("VmRSS:\t18014398509481984 kB\n").vm_rss, 0);
  assert_int_equal(status_of("VmRSS:\t99999999999999999999 kB\n").vm_rss, 0);
  assert_int_equal(status_of("VmRSS:\t-1 kB\n").vm_rss, 0);
  assert_int_equal(status_of("VmRSS:\t   12").vm_rss, 12 * 1024);  /* cut: no unit */
  assert_int_equal(status_of("VmRS").vm_rss, 0);
  assert_int_equal(status_of("VmRSSS:\t5 kB\nVmRSS\t5 kB\n").vm_rss, 0);
  /* a comm that looks like a field is escaped in status: one line */
  assert_int_equal(status_of("Name:\tx\\nVmRSS: 5 kB\n").vm_rss, 0);
  assert_true(status_of("CapEff:\tffffffffffffffff\n").cap_eff == UINT64_MAX);
  assert_true(status_of("CapEff:\t1ffffffffffffffff\n").cap_eff == 0);
}

/* Uid and Gid: four ids, as many as parse, each up to UINT_MAX */
static void procfs_status_ids (void **state) {
  struct pss_status st;
  (void)state;
  st = status_of("Uid:\t1000\t1001\t1002\t1003\nGid:\t4294967295\t6\t7\t8\n");
  assert_int_equal(st.uid[0], 1000);
  assert_int_equal(st.uid[3], 1003);
  assert_true(st.gid[0] == 4294967295u);
  assert_int_equal(st.gid[3], 8);
  st = status_of("Uid:\t1000\n");
  assert_int_equal(st.uid[0], 1000);
  assert_int_equal(st.uid[1], 0);
  st = status_of("Uid:\t1000\t4294967296\t7\t7\n");
  assert_int_equal(st.uid[0], 1000);
  assert_int_equal(st.uid[1], 0);
  assert_int_equal(st.uid[2], 0);
  st = status_of("");
  assert_int_equal(st.uid[0], 0);
  assert_int_equal(st.pid, 0);
}
/* }====================================================================== */


/* {======================================================================
** syscall
** ======================================================================= */

static void procfs_syscall_in_a_call (void **state) {
  struct pss_syscall sc;
  (void)state;
  assert_int_equal(pss_parse_syscall(SYSCALL_BLOCKED, LEN(SYSCALL_BLOCKED), &sc), 0);
  assert_int_equal(sc.state, 1);
  assert_int_equal(sc.nr, 34);                   /* pause */
  assert_true(sc.args[3] == 0x7f7f4b2a7fa0ULL);
  assert_true(sc.args[5] == 0x7f7f4b28b740ULL);
  assert_true(sc.sp == 0x7ffe999dfab8ULL);
  assert_true(sc.pc == 0x7f7f4b361dd0ULL);
}

/* "running": the thread is on a CPU, there are no registers to show;
** "-1 sp pc": stopped outside a system call. */
static void procfs_syscall_running_and_outside (void **state) {
  static const char running[] = "running\n", outside[] = "-1 0x7ffe999dfab8 0x7f7f4b361dd0\n";
  struct pss_syscall sc;
  (void)state;
  assert_int_equal(pss_parse_syscall(running, LEN(running), &sc), 0);
  assert_int_equal(sc.state, -1);
  assert_int_equal(sc.nr, -1);
  assert_int_equal(sc.sp, 0);
  assert_int_equal(pss_parse_syscall(running, 7, &sc), 0);
  assert_int_equal(pss_parse_syscall(outside, LEN(outside), &sc), 0);
  assert_int_equal(sc.state, 0);
  assert_int_equal(sc.nr, -1);
  assert_true(sc.sp == 0x7ffe999dfab8ULL);
  assert_true(sc.pc == 0x7f7f4b361dd0ULL);
}

static void procfs_syscall_malformed (void **state) {
  static const char *const bad[] = {
    "", "\n", "runnin", "x 0x0", "34", "34 0x0 0x0 0x0 0x0 0x0 0x0 0x7ff", "-1 0x1",
    "-1 0x1 0xg", "34 0x10000000000000000 0 0 0 0 0 0 0",
    "99999999999999999999 0x1 0x2", "- 1 0x1 0x2",
  };
  static const char wide[] = "0 0xffffffffffffffff 0x0 0x0 0x0 0x0 0x0 0x1 0x2\n";
  struct pss_syscall sc;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *text = exact(bad[i], strlen(bad[i]));
    if (pss_parse_syscall(text, strlen(bad[i]), &sc) != -EINVAL)
      fail_because("\"%s\" was accepted", bad[i]);
    free(text);
  }
  assert_int_equal(pss_parse_syscall(wide, LEN(wide), &sc), 0);
  assert_true(sc.args[0] == UINT64_MAX);
  /* cut before pc: -EINVAL, though the bytes after len would complete it */
  assert_int_equal(pss_parse_syscall(SYSCALL_BLOCKED, LEN(SYSCALL_BLOCKED) - 16, &sc), -EINVAL);
}
/* }====================================================================== */


/* {======================================================================
** fdinfo
** ======================================================================= */

static struct pss_fdinfo fdinfo_of (const char *text, size_t len) {
  struct pss_fdinfo fi;
  char *copy = exact(text, len);
  assert_int_equal(pss_parse_fdinfo(copy, len, &fi), 0);
  free(copy);
  return fi;
}

static struct pss_fdinfo fdinfo_text (const char *text) {
  return fdinfo_of(text, strlen(text));
}

/* A pidfd names its process by Pid (-1 once reaped) and NSpid */
static void procfs_fdinfo_of_pidfds (void **state) {
  struct pss_fdinfo fi = fdinfo_of(FDINFO_PIDFD, LEN(FDINFO_PIDFD));
  (void)state;
  assert_true(fi.has_pid);
  assert_int_equal(fi.pid, 13739);
  assert_int_equal(fi.nspid, 13739);
  assert_int_equal(fi.flags, 02000002);          /* O_CLOEXEC | O_RDWR */
  assert_int_equal(fi.mnt_id, 4);
  assert_int_equal(fi.ino, 3225283);
  assert_false(fi.has_count);
  fi = fdinfo_of(FDINFO_PIDFD_REAPED, LEN(FDINFO_PIDFD_REAPED));
  assert_true(fi.has_pid);
  assert_int_equal(fi.pid, -1);
  assert_int_equal(fi.nspid, -1);
  /* a pidfd of a process outside our pid namespace: Pid 0, no NSpid */
  fi = fdinfo_text("pos:\t0\nflags:\t02000002\nPid:\t0\n");
  assert_true(fi.has_pid);
  assert_int_equal(fi.pid, 0);
  assert_int_equal(fi.nspid, 0);
}

/* eventfd: its count in hex, and the semaphore flag */
static void procfs_fdinfo_of_eventfds (void **state) {
  static const char hex[] = "eventfd-count: 1f\neventfd-semaphore: 0\n",
                    wide[] = "eventfd-count: fffffffffffffffe\n";
  struct pss_fdinfo fi = fdinfo_of(FDINFO_EVENTFD, LEN(FDINFO_EVENTFD));
  (void)state;
  assert_true(fi.has_count);
  assert_int_equal(fi.count, 5);
  assert_true(fi.semaphore);
  assert_int_equal(fi.ino, 1038);
  assert_false(fi.has_pid);
  fi = fdinfo_of(hex, LEN(hex));
  assert_int_equal(fi.count, 31);
  assert_false(fi.semaphore);
  fi = fdinfo_of(wide, LEN(wide));
  assert_true(fi.count == 0xfffffffffffffffeULL);
}

/* The entries of inotify and epoll carry "ino:" and "pos:" of their own:
** never taken for the fd's. */
static void procfs_fdinfo_of_watchers (void **state) {
  struct pss_fdinfo fi = fdinfo_of(FDINFO_INOTIFY, LEN(FDINFO_INOTIFY));
  (void)state;
  assert_int_equal(fi.ino, 1038);
  assert_int_equal(fi.flags, 0);
  assert_int_equal(fi.mnt_id, 17);
  assert_false(fi.has_count);
  fi = fdinfo_of(FDINFO_EPOLL, LEN(FDINFO_EPOLL));
  assert_int_equal(fi.ino, 1038);
  assert_int_equal(fi.pos, 0);
  assert_int_equal(fi.flags, 02);
  fi = fdinfo_text("pos:\t7\nfanotify ino:40e sdev:10\n");
  assert_int_equal(fi.pos, 7);
  assert_int_equal(fi.ino, 0);
}

/* timerfd: expirations (ticks, decimal); signalfd: the mask (hex) */
static void procfs_fdinfo_of_timers_and_signals (void **state) {
  struct pss_fdinfo fi = fdinfo_of(FDINFO_TIMERFD, LEN(FDINFO_TIMERFD));
  (void)state;
  assert_true(fi.has_count);
  assert_int_equal(fi.count, 0);
  fi = fdinfo_text("ticks: 4294967296\n");
  assert_true(fi.count == 4294967296ULL);
  fi = fdinfo_of(FDINFO_SIGNALFD, LEN(FDINFO_SIGNALFD));
  assert_true(fi.has_count);
  assert_int_equal(fi.count, 0x4200);            /* SIGUSR1 (10), SIGTERM (15) */
  fi = fdinfo_of(FDINFO_MEMFD, LEN(FDINFO_MEMFD));
  assert_int_equal(fi.flags, 0100002);           /* O_LARGEFILE | O_RDWR */
  assert_int_equal(fi.mnt_id, 0);
  assert_int_equal(fi.ino, 57208);
  assert_false(fi.has_count);
}

/* Values that do not fit leave the field absent; cut lines count as far
** as they go. */
static void procfs_fdinfo_malformed (void **state) {
  struct pss_fdinfo fi;
  (void)state;
  fi = fdinfo_text("pos:\t99999999999999999999\nino:\t18446744073709551615\n");
  assert_int_equal(fi.pos, 0);
  assert_true(fi.ino == UINT64_MAX);
  fi = fdinfo_text("Pid:\t2147483648\nflags:\t040000000000\nmnt_id:\t-1\n");
  assert_false(fi.has_pid);
  assert_int_equal(fi.flags, 0);
  assert_int_equal(fi.mnt_id, 0);
  fi = fdinfo_text("flags:\t09\n");             /* not octal: the 0 */
  assert_int_equal(fi.flags, 0);
  fi = fdinfo_text("Pid:\t-\nNSpid:\t5 x\n");
  assert_false(fi.has_pid);
  assert_int_equal(fi.nspid, 0);
  fi = fdinfo_of(FDINFO_PIDFD, LEN(FDINFO_PIDFD) - 8);   /* cut inside NSpid's key */
  assert_int_equal(fi.pid, 13739);
  assert_int_equal(fi.nspid, 0);
  fi = fdinfo_of(FDINFO_PIDFD, 2);
  assert_int_equal(fi.pos, 0);
  fi = fdinfo_text("");
  assert_false(fi.has_pid);
}
/* }====================================================================== */


/* {======================================================================
** maps
** ======================================================================= */

static void procfs_maps_of_a_process (void **state) {
  struct pss_maps_line ml;
  size_t pos = 0, lines = 0, len = LEN(MAPS_SELF);
  char path[256];
  int seen = 0;
  (void)state;
  while (pos < len) {
    long used = pss_parse_maps_line(MAPS_SELF + pos, len - pos, &ml);
    assert_true(used > 0 && (size_t)used <= len - pos);
    assert_true(ml.path >= MAPS_SELF + pos && ml.path + ml.path_len <= MAPS_SELF + pos + used);
    pos += (size_t)used;
    lines++;
    assert_true(ml.path_len < sizeof path);
    path[pss_unescape_maps_path(ml.path, ml.path_len, path)] = '\0';
    if (lines == 1) {
      assert_true(ml.start == 0x55754eff9000ULL && ml.end == 0x55754effa000ULL);
      assert_string_equal(ml.perms, "r--p");
      assert_int_equal(ml.offset, 0);
      assert_int_equal(ml.dev_major, 0xfe);
      assert_int_equal(ml.dev_minor, 0);
      assert_int_equal(ml.inode, 11117351);
      assert_string_equal(path, "/tmp/procfix/gen");
      seen |= 1;
    }
    if (ml.start == 0x7f7f4b28b000ULL) {          /* anonymous: no path at all */
      assert_int_equal(ml.path_len, 0);
      assert_int_equal(ml.inode, 0);
      seen |= 2;
    }
    if (ml.start == 0x7f7f4b479000ULL) {          /* a file named "new\nline" */
      assert_bytes(ml.path, ml.path_len, "/tmp/procfix/new\\012line", 24);
      assert_string_equal(path, "/tmp/procfix/new\nline");
      assert_string_equal(ml.perms, "r-xp");
      seen |= 4;
    }
    if (ml.start == 0x7f7f4b47a000ULL) {          /* unlinked while mapped */
      assert_string_equal(path, "/tmp/procfix/del me (deleted)");
      assert_string_equal(ml.perms, "r--s");
      seen |= 8;
    }
    if (ml.start == 0x7f7f4b47b000ULL) {          /* memfd: a name with spaces */
      assert_string_equal(path, "/memfd:pss memfd (x) (deleted)");
      assert_int_equal(ml.dev_minor, 1);
      seen |= 16;
    }
    if (ml.start == 0xffffffffff600000ULL) {      /* 64-bit addresses */
      assert_true(ml.end == 0xffffffffff601000ULL);
      assert_string_equal(path, "[vsyscall]");
      assert_string_equal(ml.perms, "--xp");
      seen |= 32;
    }
  }
  assert_int_equal(lines, 29);
  assert_int_equal(seen, 63);
  assert_int_equal(pss_parse_maps_line(MAPS_SELF + len, 0, &ml), 0);
}

/* Only "\012" is an escape; anything else is the name's bytes. */
static void procfs_maps_path_unescape (void **state) {
  static const struct { const char *in, *out; } cases[] = {
    { "", "" }, { "/a b", "/a b" }, { "\\012", "\n" }, { "/x\\012\\012y", "/x\n\ny" },
    { "\\01", "\\01" }, { "\\0122", "\n2" }, { "\\\\012", "\\\n" }, { "\\n", "\\n" },
    { "/x\\012 (deleted)", "/x\n (deleted)" },
  };
  char out[64];
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = pss_unescape_maps_path(cases[i].in, strlen(cases[i].in), out);
    assert_bytes(out, n, cases[i].out, strlen(cases[i].out));
  }
  /* in place */
  strcpy(out, "a\\012b");
  assert_int_equal(pss_unescape_maps_path(out, 6, out), 3);
  assert_bytes(out, 3, "a\nb", 3);
}

static void procfs_maps_malformed (void **state) {
  static const char *const bad[] = {
    "\n", "7f", "7f-", "7f-80", "7f-80 r-", "7f-80 r--p", "7f-80 r--p 0 fe", "7f-80 r--p 0 fe:",
    "7f-80 r--p 0 fe:00", "7f 80 r--p 0 fe:00 1", "x-80 r--p 0 fe:00 1",
    "10000000000000000-10000000000000001 r--p 0 0:0 0 /x",
    "7f-80 r--p 0 100000000:0 1", "7f-80 r--p 0 0:0 99999999999999999999",
  };
  static const char cut[] = "7f-80 rw-p 00000000 00:00 0";
  struct pss_maps_line ml;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *text = exact(bad[i], strlen(bad[i]));
    if (pss_parse_maps_line(text, strlen(bad[i]), &ml) != -EINVAL)
      fail_because("\"%s\" was accepted", bad[i]);
    free(text);
  }
  /* the last line without a newline: all of it, no more */
  assert_int_equal(pss_parse_maps_line(cut, LEN(cut), &ml), (long)LEN(cut));
  assert_int_equal(ml.end, 0x80);
  assert_int_equal(ml.path_len, 0);
  /* a 64-bit offset (a device mapped high) */
  {
    static const char high[] = "0-1000 r--s ffffffff00000000 00:05 7 /dev/mem\n";
    assert_int_equal(pss_parse_maps_line(high, LEN(high), &ml), (long)LEN(high));
  }
  assert_true(ml.offset == 0xffffffff00000000ULL);
  assert_bytes(ml.path, ml.path_len, "/dev/mem", 8);
}
/* }====================================================================== */


/* {======================================================================
** smaps
** ======================================================================= */

/* Every line of the six records, as a dump or a clone would read them */
/* The usage figures of smaps: each of its 19 lines in the fixture lands
** on its own index, in PSS_LINUX_MEMORY_USAGE's order; Size, the page
** sizes, THPeligible and a longer or cut name do not. */
static void procfs_smaps_usage_fields (void **state) {
  static const char *const in_order[] = {
    "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
    "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
    "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap",
    "SwapPss", "Locked",
  };
  static const char *const others[] = {
    "Size", "KernelPageSize", "MMUPageSize", "THPeligible", "VmFlags", "Rs", "Rss ",
    "rss", "Swap_", "ProtectionKey", "",
  };
  struct pss_smaps_line sl;
  size_t pos = 0, len = LEN(SMAPS_SOME), i, seen = 0;
  (void)state;
  assert_int_equal(sizeof in_order / sizeof in_order[0], PSS_SMAPS_USAGE_FIELDS);
  for (i = 0; i < PSS_SMAPS_USAGE_FIELDS; i++)
    assert_int_equal(pss_smaps_usage_index(in_order[i], strlen(in_order[i])), (int)i);
  for (i = 0; i < sizeof others / sizeof others[0]; i++)
    assert_int_equal(pss_smaps_usage_index(others[i], strlen(others[i])), -1);
  /* the first record of the fixture: every usage line once, in kB */
  while (pos < len) {
    long used = pss_parse_smaps_line(SMAPS_SOME + pos, len - pos, &sl);
    int k;
    assert_true(used > 0);
    pos += (size_t)used;
    if (sl.kind == PSS_SMAPS_MAPPING && pos > (size_t)used) break;
    if (sl.kind != PSS_SMAPS_FIELD) continue;
    k = pss_smaps_usage_index(sl.name, sl.name_len);
    if (k < 0) continue;
    assert_int_equal(k, (int)seen);
    assert_true(sl.kb);
    seen++;
  }
  assert_int_equal(seen, PSS_SMAPS_USAGE_FIELDS);
}

static void procfs_smaps_of_a_process (void **state) {
  struct pss_smaps_line sl;
  size_t pos = 0, len = LEN(SMAPS_SOME), maps = 0, fields = 0, flags = 0;
  (void)state;
  while (pos < len) {
    long used = pss_parse_smaps_line(SMAPS_SOME + pos, len - pos, &sl);
    assert_true(used > 0 && (size_t)used <= len - pos);
    pos += (size_t)used;
    switch (sl.kind) {
      case PSS_SMAPS_MAPPING: maps++; break;
      case PSS_SMAPS_FIELD: fields++; break;
      case PSS_SMAPS_VMFLAGS: flags++; break;
      default:
        fail_because("an OTHER line in real smaps: %.*s", (int)used, SMAPS_SOME + pos - used);
    }
    if (sl.kind == PSS_SMAPS_MAPPING && maps == 1) {
      assert_true(sl.map.start == 0x55756a74c000ULL);
      assert_bytes(sl.map.path, sl.map.path_len, "[heap]", 6);
    }
    if (maps == 1 && sl.kind == PSS_SMAPS_FIELD && sl.name_len == 4 &&
        !memcmp(sl.name, "Size", 4)) {
      assert_true(sl.kb);
      assert_int_equal(sl.value, 132 * 1024);
    }
    if (maps == 1 && sl.kind == PSS_SMAPS_FIELD && sl.name_len == 3 && !memcmp(sl.name, "Rss", 3))
      assert_int_equal(sl.value, 8 * 1024);
    if (sl.kind == PSS_SMAPS_FIELD && sl.name_len == 11 && !memcmp(sl.name, "THPeligible", 11)) {
      assert_false(sl.kb);                       /* a number without a unit */
      assert_int_equal(sl.value, 0);
    }
    if (sl.kind == PSS_SMAPS_VMFLAGS) {
      int dd = pss_vmflags_has(sl.flags, sl.flags_len, "dd");
      int io = pss_vmflags_has(sl.flags, sl.flags_len, "io");
      int wf = pss_vmflags_has(sl.flags, sl.flags_len, "wf");
      int sh = pss_vmflags_has(sl.flags, sl.flags_len, "sh");
      static const int want[6][4] = {   /* dd io wf sh of each record */
        { 0, 0, 0, 0 }, { 0, 0, 1, 0 }, { 1, 0, 0, 0 },
        { 0, 0, 0, 1 }, { 1, 1, 0, 0 }, { 0, 0, 0, 0 },
      };
      assert_bytes(sl.name, sl.name_len, "VmFlags", 7);
      assert_int_equal(dd, want[maps - 1][0]);
      assert_int_equal(io, want[maps - 1][1]);
      assert_int_equal(wf, want[maps - 1][2]);
      assert_int_equal(sh, want[maps - 1][3]);
      assert_int_equal(pss_vmflags_has(sl.flags, sl.flags_len, maps == 6 ? "ex" : "rd"), 1);
    }
  }
  assert_int_equal(maps, 6);
  assert_int_equal(flags, 6);
  assert_int_equal(fields, 6 * 23);
}

static void procfs_smaps_vmflags_words (void **state) {
  static const char list[] = "rd wr mr mw me ac dd";
  (void)state;
  assert_true(pss_vmflags_has(list, LEN(list), "rd"));
  assert_true(pss_vmflags_has(list, LEN(list), "dd"));        /* last, no space after */
  assert_false(pss_vmflags_has(list, LEN(list) - 1, "dd"));   /* cut: "d" */
  assert_false(pss_vmflags_has(list, LEN(list), "d"));
  assert_false(pss_vmflags_has(list, LEN(list), "ddd"));
  assert_false(pss_vmflags_has(list, LEN(list), "wr mr"));
  assert_false(pss_vmflags_has(list, LEN(list), ""));
  assert_false(pss_vmflags_has("", 0, "rd"));
  assert_false(pss_vmflags_has("  ", 2, "rd"));
  assert_false(pss_vmflags_has("ddx io", 6, "dd"));
  assert_true(pss_vmflags_has("ddx  io ", 8, "io"));
}

/* The kind of one smaps line (or -EINVAL), which must be consumed whole */
static int smaps_kind (const char *text, struct pss_smaps_line *sl) {
  long used = pss_parse_smaps_line(text, strlen(text), sl);
  if (used < 0) return (int)used;
  assert_int_equal(used, strlen(text));
  return sl->kind;
}

/* Lines that are neither: OTHER (skipped), and a header that does not
** parse: -EINVAL. */
static void procfs_smaps_odd_lines (void **state) {
  static const char rollup[] =
    "00400000-ffffffffff601000 ---p 00000000 00:00 0                          [rollup]\n";
  struct pss_smaps_line sl;
  (void)state;
  /* "Anonymous" starts with a hex digit, an uppercase one: a field */
  assert_int_equal(smaps_kind("Anonymous:   8 kB\n", &sl), PSS_SMAPS_FIELD);
  assert_int_equal(sl.value, 8192);
  assert_int_equal(smaps_kind("ProtectionKey:         0", &sl), PSS_SMAPS_FIELD);
  /* kB counts up to and past 64 bits of bytes */
  assert_int_equal(smaps_kind("Rss: 4294967296 kB\n", &sl), PSS_SMAPS_FIELD);
  assert_true(sl.value == 4398046511104ULL);
  assert_int_equal(smaps_kind("Rss: 18014398509481983 kB\n", &sl), PSS_SMAPS_FIELD);
  assert_true(sl.value == UINT64_MAX - 1023);
  assert_int_equal(smaps_kind("Rss: 18014398509481984 kB\n", &sl), PSS_SMAPS_OTHER);
  assert_bytes(sl.name, sl.name_len, "Rss", 3);
  assert_int_equal(sl.value, 0);
  assert_int_equal(smaps_kind("Rss: 99999999999999999999 kB\n", &sl), PSS_SMAPS_OTHER);
  /* junk after the unit, another unit, no number, cut lines */
  assert_int_equal(smaps_kind("Rss: 8 kB junk\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Rss: 8 MB\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Rss:\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Rss: -8 kB\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Rss: 8 k", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Rss: 8", &sl), PSS_SMAPS_FIELD);
  assert_int_equal(sl.value, 8);
  assert_false(sl.kb);
  /* no key */
  assert_int_equal(smaps_kind("Has space: 1\n", &sl), PSS_SMAPS_OTHER);
  assert_null(sl.name);
  assert_int_equal(smaps_kind(": 1\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("\n", &sl), PSS_SMAPS_OTHER);
  assert_int_equal(smaps_kind("Garbage\n", &sl), PSS_SMAPS_OTHER);
  /* VmFlags, empty and cut */
  assert_int_equal(smaps_kind("VmFlags:\n", &sl), PSS_SMAPS_VMFLAGS);
  assert_int_equal(sl.flags_len, 0);
  assert_int_equal(smaps_kind("VmFlags: rd d", &sl), PSS_SMAPS_VMFLAGS);
  assert_false(pss_vmflags_has(sl.flags, sl.flags_len, "dd"));
  /* headers: smaps_rollup's, and broken ones */
  assert_int_equal(smaps_kind(rollup, &sl), PSS_SMAPS_MAPPING);
  assert_bytes(sl.map.path, sl.map.path_len, "[rollup]", 8);
  assert_int_equal(smaps_kind("7f0-", &sl), -EINVAL);
  assert_int_equal(smaps_kind("deadbeef\n", &sl), -EINVAL);
  assert_int_equal(pss_parse_smaps_line("", 0, &sl), 0);
  assert_int_equal(sl.kind, 0);                  /* zeroed at the end too */
}
/* }====================================================================== */


/* {======================================================================
** /proc/PID/net
** ======================================================================= */

static void procfs_inet_v4 (void **state) {
  static const unsigned char loopback[4] = { 127, 0, 0, 1 }, any[4] = { 0 };
  struct pss_inet_line il;
  size_t len = LEN(NET_TCP), pos = pss_skip_line(NET_TCP, len);
  long used;
  (void)state;
  /* the header is not a line of the table */
  assert_int_equal(pss_parse_inet_line(NET_TCP, len, &il), -EINVAL);
  used = pss_parse_inet_line(NET_TCP + pos, len - pos, &il);
  assert_true(used > 0);
  assert_false(il.v6);
  assert_memory_equal(il.local, loopback, 4);
  assert_int_equal(il.lport, 45679);
  assert_memory_equal(il.remote, any, 4);
  assert_int_equal(il.rport, 0);
  assert_int_equal(il.state, 0x0A);             /* TCP_LISTEN */
  assert_int_equal(il.inode, 9299454);
  pos += (size_t)used;
  used = pss_parse_inet_line(NET_TCP + pos, len - pos, &il);
  assert_int_equal(pos + (size_t)used, len);
  assert_int_equal(il.lport, 2024);
  assert_int_equal(il.inode, 1185);
  /* udp: a wide "sl", an unbound port, state 07 (TCP_CLOSE) */
  pos = pss_skip_line(NET_UDP, LEN(NET_UDP));
  assert_int_equal(pss_parse_inet_line(NET_UDP + pos, LEN(NET_UDP) - pos, &il),
                   (long)(LEN(NET_UDP) - pos));
  assert_int_equal(il.lport, 0xCCA4);
  assert_int_equal(il.state, 7);
  assert_int_equal(il.inode, 9299455);
}

static void procfs_inet_v6 (void **state) {
  static const unsigned char loopback[16] = { [15] = 1 }, any[16] = { 0 };
  struct pss_inet_line il;
  size_t len = LEN(NET_TCP6), pos = pss_skip_line(NET_TCP6, len);
  (void)state;
  assert_int_equal(pss_parse_inet_line(NET_TCP6 + pos, len - pos, &il), (long)(len - pos));
  assert_true(il.v6);
  assert_memory_equal(il.local, loopback, 16);
  assert_memory_equal(il.remote, any, 16);
  assert_int_equal(il.lport, 45678);
  assert_int_equal(il.inode, 9299453);
  /* a v4-mapped peer: ::ffff:10.0.0.2 */
  {
    static const char mapped[] =
      "   1: 0000000000000000FFFF00000200000A:0016 0000000000000000FFFF00000100000A:C350 01 "
      "00000000:00000000 00:00000000 00000000  1000        0 77 1 0 20 4 30 10 -1\n";
    static const unsigned char peer[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
    assert_int_equal(pss_parse_inet_line(mapped, LEN(mapped), &il), (long)LEN(mapped));
    assert_memory_equal(il.remote, peer, 16);
    assert_int_equal(il.rport, 50000);
    assert_int_equal(il.state, 1);              /* TCP_ESTABLISHED */
    assert_int_equal(il.inode, 77);
  }
}

static void procfs_inet_malformed (void **state) {
  static const char *const bad[] = {
    "", "   0:", "   0: 0100007:B26F 00000000:0000 0A 0:0 0:0 0 0 0 1",
    "   0: 0100007F:B26F 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 1",
    "   0: 0100007F:10000 00000000:0000 0A 0:0 0:0 0 0 0 1",
    "   0: 0100007F B26F 00000000:0000 0A 0:0 0:0 0 0 0 1",
    "   0: 0100007F:B26F 00000000:0000 100 0:0 0:0 0 0 0 1",
    "   0: 0100007F:B26F 00000000:0000 0A 0:0 0:0 0 0 0",
    "   0: 0100007F:B26F 00000000:0000 0A 0:0 0:0 0 0 0 99999999999999999999",
  };
  struct pss_inet_line il;
  size_t i;
  (void)state;
  assert_int_equal(pss_parse_inet_line("", 0, &il), 0);
  for (i = 1; i < sizeof bad / sizeof bad[0]; i++) {
    char *text = exact(bad[i], strlen(bad[i]));
    if (pss_parse_inet_line(text, strlen(bad[i]), &il) != -EINVAL)
      fail_because("\"%s\" was accepted", bad[i]);
    free(text);
  }
}

static void procfs_unix_lines (void **state) {
  struct pss_unix_line ul;
  size_t len = LEN(NET_UNIX), pos = pss_skip_line(NET_UNIX, len);
  long used;
  (void)state;
  used = pss_parse_unix_line(NET_UNIX + pos, len - pos, &ul);   /* bound, path with a space */
  assert_true(used > 0);
  assert_int_equal(ul.type, 2);                                  /* SOCK_DGRAM */
  assert_int_equal(ul.state, 1);
  assert_int_equal(ul.flags, 0);
  assert_int_equal(ul.inode, 9299452);
  assert_bytes(ul.path, ul.path_len, "/tmp/procfix/sock with space", 28);
  pos += (size_t)used;
  used = pss_parse_unix_line(NET_UNIX + pos, len - pos, &ul);   /* unnamed */
  assert_int_equal(ul.type, 1);
  assert_int_equal(ul.state, 3);                                 /* SS_CONNECTED */
  assert_int_equal(ul.inode, 1181);
  assert_int_equal(ul.path_len, 0);
  pos += (size_t)used;
  pos += pss_skip_line(NET_UNIX + pos, len - pos);
  used = pss_parse_unix_line(NET_UNIX + pos, len - pos, &ul);   /* abstract, listening */
  assert_int_equal(pos + (size_t)used, len);
  assert_int_equal(ul.flags, 0x10000);
  assert_int_equal(ul.inode, 9299451);
  assert_bytes(ul.path, ul.path_len, "@pss-abstract name", 18);
  /* malformed */
  assert_int_equal(pss_parse_unix_line(NET_UNIX, len, &ul), -EINVAL);
  assert_int_equal(pss_parse_unix_line("0: 2 0 0 1 01", 13, &ul), -EINVAL);
  assert_int_equal(pss_parse_unix_line("0: 2 0 100000000 1 01 5", 23, &ul), -EINVAL);
  assert_int_equal(pss_parse_unix_line("0: 2 0 0 1 01 5", 15, &ul), 15);
  assert_int_equal(ul.inode, 5);
}

static void procfs_netlink_and_packet_lines (void **state) {
  uint64_t inode = 0;
  int protocol = -7, type = -7;
  size_t len = LEN(NET_NETLINK), pos = pss_skip_line(NET_NETLINK, len);
  long used;
  (void)state;
  assert_int_equal(pss_parse_netlink_line(NET_NETLINK, len, &inode, &protocol), -EINVAL);
  assert_int_equal(protocol, -7);               /* written only on success */
  used = pss_parse_netlink_line(NET_NETLINK + pos, len - pos, &inode, &protocol);
  assert_true(used > 0);
  assert_int_equal(protocol, 0);                /* NETLINK_ROUTE */
  assert_int_equal(inode, 4);
  pos += (size_t)used;
  used = pss_parse_netlink_line(NET_NETLINK + pos, len - pos, &inode, &protocol);
  assert_int_equal(inode, 9299456);
  pos += (size_t)used;
  used = pss_parse_netlink_line(NET_NETLINK + pos, len - pos, &inode, &protocol);
  assert_int_equal(pos + (size_t)used, len);
  assert_int_equal(protocol, 4);                /* NETLINK_SOCK_DIAG */
  assert_int_equal(inode, 1083);
  assert_int_equal(pss_parse_netlink_line("0 65536 0 0 0 0 0 0 0 1", 23, &inode, &protocol),
                   -EINVAL);
  len = LEN(NET_PACKET);
  pos = pss_skip_line(NET_PACKET, len);
  assert_int_equal(pss_parse_packet_line(NET_PACKET, len, &inode, &type, &protocol), -EINVAL);
  assert_int_equal(pss_parse_packet_line(NET_PACKET + pos, len - pos, &inode, &type, &protocol),
                   (long)(len - pos));
  assert_int_equal(type, 2);                    /* SOCK_DGRAM */
  assert_int_equal(protocol, 3);                /* ETH_P_ALL */
  assert_int_equal(inode, 9299457);
  assert_int_equal(pss_parse_packet_line("0 3 2 10000 0 1 0 0 5", 21, &inode, &type, &protocol),
                   -EINVAL);
  assert_int_equal(pss_parse_packet_line("0 3 2 0003 0 1 0 0", 18, &inode, &type, &protocol),
                   -EINVAL);
}

static void procfs_skip_line (void **state) {
  (void)state;
  assert_int_equal(pss_skip_line("", 0), 0);
  assert_int_equal(pss_skip_line("abc", 3), 3);
  assert_int_equal(pss_skip_line("abc\n", 4), 4);
  assert_int_equal(pss_skip_line("abc\ndef", 7), 4);
  assert_int_equal(pss_skip_line("\n\n", 2), 1);
  assert_int_equal(pss_skip_line("abc\n", 2), 2);    /* len is the end */
  assert_int_equal(pss_skip_line("a\0b\nc", 5), 4);  /* NUL is a byte */
}
/* }====================================================================== */


/* {======================================================================
** Every parser on every cut of every fixture
** ======================================================================= */

/* Runs every parser over text[0..len) held in an exact heap block, as the
** callers loop over lines, checking what each says it consumed. */
static void parse_everything (const char *text, size_t len) {
  char *p = exact(text, len);
  size_t pos;
  struct pss_stat st;
  struct pss_status ss;
  struct pss_syscall sc;
  struct pss_fdinfo fi;
  if (pss_parse_stat(p, len, &st) == 0) assert_true(st.comm_len < sizeof st.comm);
  (void)pss_parse_status(p, len, &ss);
  (void)pss_parse_syscall(p, len, &sc);
  (void)pss_parse_fdinfo(p, len, &fi);
  for (pos = 0; pos < len; ) {
    struct pss_maps_line ml;
    struct pss_smaps_line sl;
    struct pss_inet_line il;
    struct pss_unix_line ul;
    uint64_t inode;
    int a, b;
    size_t skip = pss_skip_line(p + pos, len - pos);
    long used;
    assert_true(skip > 0 && skip <= len - pos);
    if ((used = pss_parse_maps_line(p + pos, len - pos, &ml)) > 0) {
      assert_int_equal(used, skip);
      assert_true(ml.path >= p + pos && ml.path + ml.path_len <= p + pos + skip);
    }
    if ((used = pss_parse_smaps_line(p + pos, len - pos, &sl)) > 0) {
      assert_int_equal(used, skip);
      if (sl.kind == PSS_SMAPS_VMFLAGS)
        assert_true(sl.flags >= p + pos && sl.flags + sl.flags_len <= p + pos + skip);
    }
    if ((used = pss_parse_inet_line(p + pos, len - pos, &il)) > 0) assert_int_equal(used, skip);
    if ((used = pss_parse_unix_line(p + pos, len - pos, &ul)) > 0) {
      assert_int_equal(used, skip);
      assert_true(ul.path >= p + pos && ul.path + ul.path_len <= p + pos + skip);
    }
    if ((used = pss_parse_netlink_line(p + pos, len - pos, &inode, &a)) > 0)
      assert_int_equal(used, skip);
    if ((used = pss_parse_packet_line(p + pos, len - pos, &inode, &a, &b)) > 0)
      assert_int_equal(used, skip);
    pos += skip;
  }
  free(p);
}

/* Each fixture cut at every length (large ones at every line's end and
** the bytes around it), in an exact block: ASan builds of the suite see
** any read past the length. */
static void procfs_every_parser_stays_within_len (void **state) {
  static const struct { const char *text; size_t len; } all[] = {
#define F(x) { x, LEN(x) }
    F(STAT_PARENS), F(STAT_KTHREAD), F(STAT_ZOMBIE), F(STATUS_SELF), F(STATUS_KTHREAD),
    F(STATUS_ZOMBIE), F(SYSCALL_BLOCKED), F(FDINFO_PIDFD), F(FDINFO_PIDFD_REAPED),
    F(FDINFO_EVENTFD), F(FDINFO_INOTIFY), F(FDINFO_EPOLL), F(FDINFO_TIMERFD),
    F(FDINFO_SIGNALFD), F(FDINFO_MEMFD), F(MAPS_SELF), F(SMAPS_SOME), F(NET_TCP),
    F(NET_TCP6), F(NET_UDP), F(NET_UNIX), F(NET_NETLINK), F(NET_PACKET),
#undef F
  };
  size_t i, n;
  (void)state;
  for (i = 0; i < sizeof all / sizeof all[0]; i++)
    for (n = 0; n <= all[i].len; n++) {
      const char *nl = memchr(all[i].text + n, '\n', all[i].len - n);
      size_t to_nl = nl ? (size_t)(nl - all[i].text) - n : all[i].len - n;
      if (all[i].len <= 512 || n % 97 == 0 || to_nl <= 2 || n == all[i].len)
        parse_everything(all[i].text, n);
    }
}
/* }====================================================================== */

/* {======================================================================
** Small texts: descriptor links, one-number files, /proc/PID links
** ======================================================================= */
static void procfs_descriptor_link_inodes (void **state) {
  static const char big[] = "socket:[18446744073709551615]", over[] = "pipe:[18446744073709551616]";
  (void)state;
  assert_int_equal(pss_parse_link_inode("socket:[4183017]", 16), 4183017);
  assert_int_equal(pss_parse_link_inode("pipe:[12]", 9), 12);
  assert_true(pss_parse_link_inode(big, LEN(big)) == UINT64_MAX);
  assert_int_equal(pss_parse_link_inode(over, LEN(over)), 0);        /* past 64 bits */
  assert_int_equal(pss_parse_link_inode("anon_inode:[eventfd]", 20), 0);
  assert_int_equal(pss_parse_link_inode("/tmp/x [1]", 10), 1);  /* a path is not asked */
  assert_int_equal(pss_parse_link_inode("socket:[", 8), 0);
  assert_int_equal(pss_parse_link_inode("socket:[ 5]", 11), 0);
  assert_int_equal(pss_parse_link_inode("socket:[42]", 9), 4);        /* cut by len */
  assert_int_equal(pss_parse_link_inode("", 0), 0);
}

static void procfs_one_number_files (void **state) {
  uint64_t v = 7;
  (void)state;
  assert_int_equal(pss_parse_number("00000000\n", 9, 16, &v), 0);     /* personality */
  assert_true(v == 0);
  assert_int_equal(pss_parse_number("00400000\n", 9, 16, &v), 0);     /* READ_IMPLIES_EXEC */
  assert_true(v == 0x400000);
  assert_int_equal(pss_parse_number("ffffffffffffffff", 16, 16, &v), 0);
  assert_true(v == UINT64_MAX);
  v = 7;
  assert_int_equal(pss_parse_number("1ffffffffffffffff", 17, 16, &v), -EINVAL);
  assert_int_equal(pss_parse_number("12x\n", 4, 10, &v), -EINVAL);
  assert_int_equal(pss_parse_number("", 0, 10, &v), -EINVAL);
  assert_int_equal(pss_parse_number("\n", 1, 10, &v), -EINVAL);
  assert_true(v == 7);                                  /* untouched on failure */
  assert_int_equal(pss_parse_number("  42 \n", 6, 10, &v), 0);
  assert_true(v == 42);
}

static void procfs_procdir_links (void **state) {
  static const char reaped[] = "/proc/4242 (deleted)";
  int pid = 0, deleted = 1;
  (void)state;
  assert_int_equal(pss_parse_procdir_link("/proc/4242", 10, &pid, &deleted), 0);
  assert_int_equal(pid, 4242);
  assert_int_equal(deleted, 0);
  assert_int_equal(pss_parse_procdir_link(reaped, LEN(reaped), &pid, &deleted), 0);
  assert_int_equal(pid, 4242);
  assert_int_equal(deleted, 1);
  assert_int_equal(pss_parse_procdir_link("/proc/self", 10, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link("/proc/", 6, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link("/proc/0", 7, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link("/proc/2147483648", 16, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link("/proc/12/task", 13, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link("/tmp/12", 7, &pid, &deleted), -EINVAL);
  assert_int_equal(pss_parse_procdir_link(" (deleted)", 10, &pid, &deleted), -EINVAL);
}
/* }====================================================================== */

/* auxv: a 64-bit vector, the 32-bit layout, empty, and what is neither */
static void procfs_auxv_layouts (void **state) {
  static const uint64_t v64[] = { 33, 0x7ffd1000, 6, 4096, 9, 0x401040, 0, 0 };
  static const uint32_t v32[] = { 32, 0xf7f1a560, 33, 0xf7f1a000, 6, 4096, 9, 0x8049000, 0, 0 };
  static const uint64_t no_end[] = { 6, 4096, 9, 0x401040 };
  /* as the kernel hands it out: up to a 16-byte step, 8 zero bytes more */
  static const uint32_t v32_padded[] = { 32, 0xf7f1a560, 6, 4096, 9, 0x8049000, 0, 0, 0, 0 };
  static const uint32_t v32_junk[] = { 32, 0xf7f1a560, 9, 0x8049000, 0, 0, 5, 0 };
  uint64_t entry = 7;
  int is32 = 7;
  char *p;
  (void)state;
  assert_int_equal(pss_parse_auxv((const char *)v64, sizeof v64, &entry, &is32), 0);
  assert_true(entry == 0x401040);
  assert_int_equal(is32, 0);
  assert_int_equal(pss_parse_auxv((const char *)v32, sizeof v32, &entry, &is32), 0);
  assert_true(entry == 0x8049000);
  assert_int_equal(is32, 1);
  assert_int_equal(pss_parse_auxv((const char *)v32_padded, sizeof v32_padded, &entry, &is32), 0);
  assert_true(entry == 0x8049000);
  assert_int_equal(is32, 1);
  assert_int_equal(pss_parse_auxv((const char *)v32_junk, sizeof v32_junk, &entry, &is32),
                   -EINVAL);
  assert_int_equal(pss_parse_auxv("", 0, &entry, &is32), 0);
  assert_true(entry == 0 && is32 == 0);
  assert_int_equal(pss_parse_auxv((const char *)no_end, sizeof no_end, &entry, &is32), -EINVAL);
  assert_true(entry == 0 && is32 == 0);
  assert_int_equal(pss_parse_auxv((const char *)v64, sizeof v64 - 1, &entry, &is32), -EINVAL);
  /* unaligned, and in an exact block: no read past len */
  p = malloc(sizeof v64 + 1);
  assert_non_null(p);
  memcpy(p + 1, v64, sizeof v64);
  assert_int_equal(pss_parse_auxv(p + 1, sizeof v64, &entry, &is32), 0);
  assert_true(entry == 0x401040);
  free(p);
}

int run_procfs_suite (void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(procfs_stat_of_a_thread),
    cmocka_unit_test(procfs_stat_of_a_kernel_thread),
    cmocka_unit_test(procfs_stat_of_a_zombie),
    cmocka_unit_test(procfs_stat_odd_comms),
    cmocka_unit_test(procfs_stat_long_comm_is_cut),
    cmocka_unit_test(procfs_stat_64_bit_values),
    cmocka_unit_test(procfs_stat_rejects_values_that_do_not_fit),
    cmocka_unit_test(procfs_stat_field_counts),
    cmocka_unit_test(procfs_stat_truncated),
    cmocka_unit_test(procfs_status_of_a_thread),
    cmocka_unit_test(procfs_status_without_memory),
    cmocka_unit_test(procfs_status_nested_pid_namespaces),
    cmocka_unit_test(procfs_status_seccomp),
    cmocka_unit_test(procfs_status_kb_values),
    cmocka_unit_test(procfs_status_ids),
    cmocka_unit_test(procfs_syscall_in_a_call),
    cmocka_unit_test(procfs_syscall_running_and_outside),
    cmocka_unit_test(procfs_syscall_malformed),
    cmocka_unit_test(procfs_fdinfo_of_pidfds),
    cmocka_unit_test(procfs_fdinfo_of_eventfds),
    cmocka_unit_test(procfs_fdinfo_of_watchers),
    cmocka_unit_test(procfs_fdinfo_of_timers_and_signals),
    cmocka_unit_test(procfs_fdinfo_malformed),
    cmocka_unit_test(procfs_maps_of_a_process),
    cmocka_unit_test(procfs_maps_path_unescape),
    cmocka_unit_test(procfs_maps_malformed),
    cmocka_unit_test(procfs_smaps_of_a_process),
    cmocka_unit_test(procfs_smaps_usage_fields),
    cmocka_unit_test(procfs_smaps_vmflags_words),
    cmocka_unit_test(procfs_smaps_odd_lines),
    cmocka_unit_test(procfs_inet_v4),
    cmocka_unit_test(procfs_inet_v6),
    cmocka_unit_test(procfs_inet_malformed),
    cmocka_unit_test(procfs_unix_lines),
    cmocka_unit_test(procfs_netlink_and_packet_lines),
    cmocka_unit_test(procfs_skip_line),
    cmocka_unit_test(procfs_descriptor_link_inodes),
    cmocka_unit_test(procfs_one_number_files),
    cmocka_unit_test(procfs_procdir_links),
    cmocka_unit_test(procfs_auxv_layouts),
    cmocka_unit_test(procfs_every_parser_stays_within_len),
  };
  return cmocka_run_group_tests_name("procfs", tests, NULL, NULL);
}
