/*
** pss_linux.h -- libpss's Linux extensions to the Process Snapshotting API:
** process handles (pidfds), reads of the VA clone, core files, the wait
** limit, byte-exact names and the PSS_WALK_LINUX_* entries. Included by
** pss.h, after the Windows declarations it extends; include pss.h.
*/
#ifndef PSS_LINUX_H
#define PSS_LINUX_H

/* {======================================================================
** Linux extensions
** ======================================================================= */

/*
** Process handles are pidfds (never numbered below 3, so never NULL), so a
** handle names one process for its whole life and PID reuse cannot redirect
** a capture. PSS_LINUX_CURRENT_PROCESS stands for the calling process, like
** Windows' GetCurrentProcess() pseudo-handle.
*/
#define PSS_LINUX_CURRENT_PROCESS ((HANDLE)(intptr_t)-1)

/* pidfd_open(ProcessId); ERROR_INVALID_PARAMETER if there is no such
** process (as OpenProcess). */
DWORD PssLinuxOpenProcess(DWORD ProcessId, HANDLE *ProcessHandle);
/* Closes a handle from PssLinuxOpenProcess; the pseudo-handle is a no-op. */
DWORD PssLinuxCloseProcess(HANDLE ProcessHandle);
/* The process id a handle names (the pseudo-handle: the caller's). */
DWORD PssLinuxGetProcessId(HANDLE ProcessHandle, DWORD *ProcessId);
/* errno behind the last failing Pss* call of this thread (0 if none). */
int PssLinuxLastErrno(void);
/* Why the last failing Pss* call of this thread failed, in words, when
** the code alone does not say (NULL otherwise): "thread 4242 is traced by
** another process (pid 77, gdb)", "the target's seccomp filter forbids
** clone", ... Valid until this thread's next failing Pss* call. */
char const *PssLinuxLastErrorDetail(void);
/* Records Code and Detail (NULL: none) as this thread's last failure, as a
** failing Pss* call does, and returns Code: for code built on the API (the
** unwinder, a wrapper) whose failures PssLinuxLastErrorDetail explains. */
DWORD PssLinuxSetLastError(DWORD Code, char const *Detail);

/*
** Reads the VA clone's memory: the bytes of [Address, Address+Length) as
** they were at the capture instant. ERROR_SUCCESS when all were read;
** ERROR_PARTIAL_COPY when the range runs into memory the clone does not
** hold (unmapped, MADV_DONTFORK, device memory): *BytesRead then says how
** many bytes from Address were read, possibly 0, and the rest of Buffer is
** untouched. ERROR_NOT_FOUND if the snapshot has no VA clone;
** ERROR_PROCESS_ABORTED if the clone is gone (killed, or the thread that
** captured it exited -- see docs/linux-mapping.md).
*/
DWORD PssLinuxReadSnapshotMemory(HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                 SIZE_T Length, SIZE_T *BytesRead);

/*
** Writes an ELF core file of the snapshot to Path: the memory of its VA
** clone and the registers of every thread captured with a context -- what
** `gdb EXECUTABLE CORE` needs. The target keeps running meanwhile.
** ERROR_NOT_FOUND without a VA clone or without thread contexts, before
** Path is touched. A device, FIFO or socket at Path, or a symbolic link to
** one or to an open descriptor (/dev/stdout, /dev/fd/N), is written
** through: opened for writing only, never created, renamed or removed.
** Otherwise the core goes into a new file beside Path (O_EXCL, mode 0600)
** renamed over Path once it is complete: a symbolic link at Path is
** replaced, never followed, and a failure leaves whatever Path named
** untouched. A directory is EISDIR. x86-64 only.
*/
DWORD PssLinuxWriteCore(HPSS SnapshotHandle, char const *Path);

/*
** The same core written to Fd, which the caller opened for writing and
** keeps (ERROR_INVALID_HANDLE otherwise): a regular file gets the core from
** its current offset on -- what it held past that offset is cut off, pages
** of zeros are holes, its offset ends after the core; a pipe, socket,
** device or O_APPEND file gets every byte in order. Nothing is closed or
** removed on failure. SIGPIPE and SIGXFSZ never reach the caller: such a
** write fails with ERROR_BROKEN_PIPE or ERROR_FILE_TOO_LARGE.
*/
DWORD PssLinuxWriteCoreFd(HPSS SnapshotHandle, int Fd);

/*
** How long libpss waits for a target's thread to stop, for a tracee's next
** stop and for a helper it started, in milliseconds (default 5000). Past
** it, a capture undoes everything it did to the target (every thread
** detached, the clone gone) and fails with ERROR_TIMEOUT, with a detail
** naming what did not answer. Process-wide; returns the previous value.
** 0 changes nothing: it only returns the limit.
*/
DWORD PssLinuxSetWaitLimit(DWORD Milliseconds);

/*
** Strings are UTF-16 as on Windows. Linux names are bytes: valid UTF-8 is
** converted normally, and every byte that is not part of valid UTF-8 is
** stored as the lone low surrogate U+DC00+byte (U+DC80..U+DCFF), which valid
** UTF-16 from UTF-8 can never contain. PssLinuxUtf16ToBytes reverses this
** exactly, so a name comes back byte for byte. Returns the number of bytes
** the full conversion needs; writes at most Capacity of them.
*/
size_t PssLinuxUtf16ToBytes(WCHAR const *Text, size_t Units,
                            char *Out, size_t Capacity);
size_t PssLinuxBytesToUtf16(char const *Bytes, size_t Length,
                            WCHAR *Out, size_t Capacity);

/* The Windows counters plus how long the target's threads were stopped. */
typedef struct {
  PSS_PERFORMANCE_COUNTERS Counters;
  UINT64 FreezeCycleCount;
  UINT64 FreezeWallClockPeriod;   /* microseconds, as PSS_PERF_RESOLUTION */
  DWORD ThreadsFrozen;
  DWORD Reserved0;
} PSS_LINUX_PERFORMANCE_COUNTERS;

/* Bytes, as one region's smaps lines say them (kB * 1024); a field the
** kernel does not print (Pss_Dirty before Linux 6.0, KSM before 6.4) is 0. */
typedef struct {
  UINT64 Rss;                 /* resident: in memory now */
  UINT64 Pss;                 /* proportional: each resident page divided by its sharers */
  UINT64 PssDirty;            /* the dirty part of Pss (Linux 6.0) */
  UINT64 SharedClean, SharedDirty;    /* resident pages another process maps too */
  UINT64 PrivateClean, PrivateDirty;  /* resident pages only this process maps */
  UINT64 Referenced;          /* accessed since the last reset of the referenced bits */
  UINT64 Anonymous;           /* resident pages not backed by a file */
  UINT64 Ksm;                 /* of Anonymous, merged with equal pages by KSM (Linux 6.4) */
  UINT64 LazyFree;            /* MADV_FREE pages the kernel may drop */
  UINT64 AnonHugePages;       /* of Anonymous, in transparent huge pages */
  UINT64 ShmemPmdMapped, FilePmdMapped;  /* shmem and file pages mapped as huge pages */
  UINT64 SharedHugetlb, PrivateHugetlb;  /* hugetlbfs pages (not counted in Rss) */
  UINT64 Swap;                /* swapped out */
  UINT64 SwapPss;             /* proportional share of Swap */
  UINT64 Locked;              /* mlock()ed */
} PSS_LINUX_MEMORY_USAGE;

/* Thread state letters of /proc/PID/task/TID/stat */
typedef struct {
  PSS_PROCESS_INFORMATION Process;
  char State;                 /* R S D T t Z X I ... */
  unsigned char Truncated;    /* PSS_LINUX_TRUNCATED_*: what the record holds only in part */
  char Reserved0[2];
  LONG Nice;                  /* -20..19 */
  DWORD Policy;               /* SCHED_OTHER, SCHED_FIFO, ... */
  DWORD RealtimePriority;     /* 0 unless SCHED_FIFO/RR */
  DWORD ThreadCount;          /* num_threads of stat */
  DWORD ProcessGroupId;
  DWORD SessionId;
  DWORD RealUserId, EffectiveUserId;
  DWORD RealGroupId, EffectiveGroupId;
  DWORD ExitCode;             /* raw wait status of a zombie, else 0 */
  DWORD Personality;
  UINT64 StartTimeTicks;      /* starttime of stat, clock ticks after boot */
  UINT64 MinorFaults, MajorFaults;
  UINT64 ResidentAnon, ResidentFile, ResidentShmem; /* bytes */
  UINT64 EntryPoint;          /* AT_ENTRY */
  DWORD CommandLineLength;    /* bytes, NULs between arguments */
  WORD CommLength;
  WORD Reserved1;
  char const *CommandLine;    /* exact bytes; valid until the snapshot is freed */
  char const *Comm;
  unsigned char CaptureMode;  /* PSS_LINUX_CAPTURE_MODE_*: how the snapshot was taken */
  unsigned char HasMemoryUsage;  /* 1: MemoryUsage holds the figures */
  WORD NotFrozenLength;       /* bytes */
  DWORD Reserved3;
  char const *NotFrozen;      /* why the target was not stopped, in words ("" when it
                                 was); valid until the snapshot is freed */
  /* PSS_LINUX_CAPTURE_MEMORY_USAGE (HasMemoryUsage): every region's Usage
  ** added up -- smaps_rollup's figures, but for rounding: the kernel rounds
  ** Pss and SwapPss down to a kB per region in smaps, once in smaps_rollup */
  PSS_LINUX_MEMORY_USAGE MemoryUsage;
} PSS_LINUX_PROCESS_INFORMATION;

/*
** CaptureMode. FROZEN: every thread of the target was stopped while the
** snapshot was read, so its parts describe one instant. RUNNING: read
** while the target ran, as ps and psutil read it: each /proc file is
** consistent in itself, but the tables may disagree with each other and
** with the record (a thread or fd that came or went between two reads);
** TebBaseAddress is 0 (it needs the thread stopped).
*/
#define PSS_LINUX_CAPTURE_MODE_FROZEN  1
#define PSS_LINUX_CAPTURE_MODE_RUNNING 2
#define PSS_LINUX_CAPTURE_MODE_CORE    3  /* read from an ELF core file (PssLinuxLoadSnapshot):
                                             every thread was stopped while it was written */

/*
** Capture flags of libpss on Linux, outside the Windows values.
** UNFROZEN: read everything without stopping the target (refused with
** thread contexts or the VA clone, which need its threads stopped).
** FREEZE_OPTIONAL: stop the target as usual, but where the kernel refuses
** to let it be traced (Yama's ptrace_scope, no CAP_SYS_PTRACE, a seccomp
** filter, a kernel thread) read it while running instead of failing with
** ERROR_ACCESS_DENIED; NotFrozen then says why. Another tracer is no
** refusal: that stays ERROR_BUSY. Without
** either flag a capture keeps Windows' contract: taken as asked, or not.
*/
#define PSS_LINUX_CAPTURE_UNFROZEN        0x00020000u
#define PSS_LINUX_CAPTURE_FREEZE_OPTIONAL 0x00040000u

/*
** STACKS: while the target's threads are stopped for their contexts, copy
** each thread's stack, from just below its stack pointer (the 128-byte red
** zone) up to the end of the mapping holding it, at most the calling
** thread's stack limit (PssLinuxSetStackLimit) per thread -- one
** process_vm_readv per thread, of the pages in memory or in swap (none is
** faulted in or waited for). The copies are the snapshot's auxiliary
** pages (PSS_QUERY_AUXILIARY_PAGES_INFORMATION, PSS_WALK_AUXILIARY_PAGES):
** whole pages, in address order, a page two threads share stored once.
** Needs PSS_CAPTURE_THREAD_CONTEXT (ERROR_INVALID_PARAMETER otherwise);
** refused with PSS_LINUX_CAPTURE_UNFROZEN, as contexts are.
*/
#define PSS_LINUX_CAPTURE_STACKS          0x00080000u

/* The most bytes of one thread's stack a STACKS capture made by the
** calling thread copies, rounded up to whole pages; per calling thread,
** default PSS_LINUX_STACK_LIMIT_DEFAULT. Returns the previous value; 0
** changes nothing (it only returns the limit). */
DWORD PssLinuxSetStackLimit(DWORD Bytes);
#define PSS_LINUX_STACK_LIMIT_DEFAULT (256u << 10)

/*
** MEMORY_USAGE: with PSS_CAPTURE_VA_SPACE (ERROR_INVALID_PARAMETER
** without), the regions are read from /proc/PID/smaps instead of maps, in
** the same freeze: each region's Usage says how much of it is in memory,
** swapped, shared and dirty as the kernel accounts it there, and the
** process record's MemoryUsage holds the sums. smaps walks the target's
** page tables, so this costs more than maps: nothing of it is read
** without the flag (Usage is NULL). docs/linux-mapping.md names the smaps
** line behind each field.
*/
#define PSS_LINUX_CAPTURE_MEMORY_USAGE    0x00100000u

/* Truncated: the command line is longer than PSS_LINUX_COMMAND_LINE_MAX
** bytes and CommandLine holds its first PSS_LINUX_COMMAND_LINE_MAX. */
#define PSS_LINUX_TRUNCATED_COMMAND_LINE 0x01
#define PSS_LINUX_COMMAND_LINE_MAX (16u << 20)

typedef struct {
  PSS_THREAD_ENTRY Thread;
  char State;                 /* R S D T t Z X I ... */
  char Reserved0[1];
  WORD NameLength;            /* bytes */
  LONG Nice;
  DWORD Policy;
  DWORD RealtimePriority;
  LONG Processor;             /* CPU it last ran on */
  LONG SyscallNumber;         /* full number (x32 bit kept), -1 if in none or unknown */
  UINT64 LastSyscallArguments[6];
  UINT64 LastSyscallStackPointer;
  UINT64 LastSyscallProgramCounter;
  UINT64 MinorFaults, MajorFaults;
  DWORD ContextRegisters;     /* PSS_LINUX_REGISTER_*: what the CONTEXT holds for real */
  DWORD Reserved1;
  char const *Name;           /* comm, exact bytes; valid until the marker is freed */
} PSS_LINUX_THREAD_ENTRY;

/*
** ContextRegisters: one bit per register of the CONTEXT record that holds
** what the thread held; the others are zero. A thread stopped by the
** capture has every register it was captured with. The thread that calls
** PssCaptureSnapshot on its own process is described at the call: the
** registers a function call preserves (Rbx, Rbp, R12-R15), its arguments
** (Rdi, Rsi, Rdx, Rcx, R8, R9), Rsp, Rip, EFlags, the segment selectors and
** the floating-point state; Rax, R10 and R11 are not known there. 0 when
** the thread has no context.
*/
#define PSS_LINUX_REGISTER_RAX      0x00000001u  /* bits 0-15: Rax Rcx Rdx Rbx Rsp */
#define PSS_LINUX_REGISTER_RCX      0x00000002u  /* Rbp Rsi Rdi R8 ... R15, the   */
#define PSS_LINUX_REGISTER_RDX      0x00000004u  /* order of CONTEXT and of the   */
#define PSS_LINUX_REGISTER_RBX      0x00000008u  /* x86-64 register numbers      */
#define PSS_LINUX_REGISTER_RSP      0x00000010u
#define PSS_LINUX_REGISTER_RBP      0x00000020u
#define PSS_LINUX_REGISTER_RSI      0x00000040u
#define PSS_LINUX_REGISTER_RDI      0x00000080u
#define PSS_LINUX_REGISTER_R8       0x00000100u
#define PSS_LINUX_REGISTER_R9       0x00000200u
#define PSS_LINUX_REGISTER_R10      0x00000400u
#define PSS_LINUX_REGISTER_R11      0x00000800u
#define PSS_LINUX_REGISTER_R12      0x00001000u
#define PSS_LINUX_REGISTER_R13      0x00002000u
#define PSS_LINUX_REGISTER_R14      0x00004000u
#define PSS_LINUX_REGISTER_R15      0x00008000u
#define PSS_LINUX_REGISTER_RIP      0x00010000u
#define PSS_LINUX_REGISTER_EFLAGS   0x00020000u
#define PSS_LINUX_REGISTER_SEGMENTS 0x00040000u  /* SegCs SegDs SegEs SegFs SegGs SegSs */
#define PSS_LINUX_REGISTER_FLOATING 0x00080000u  /* FltSave and MxCsr */
#define PSS_LINUX_REGISTER_DEBUG    0x00100000u  /* Dr0-Dr3, Dr6, Dr7 */
#define PSS_LINUX_REGISTER_XSTATE   0x00200000u  /* the XSAVE area after the record */

/* LastSyscallNumber when the thread is in no system call */
#define PSS_LINUX_SYSCALL_NONE    0xFFFFu  /* blocked, not in a syscall */
#define PSS_LINUX_SYSCALL_RUNNING 0xFFFEu  /* running on a CPU */
#define PSS_LINUX_SYSCALL_UNKNOWN 0xFFFDu  /* syscall file unreadable (no ptrace attach right) */

typedef enum {
  PSS_LINUX_FD_UNKNOWN = 0,
  PSS_LINUX_FD_FILE,
  PSS_LINUX_FD_DIRECTORY,
  PSS_LINUX_FD_DEVICE,         /* character or block device */
  PSS_LINUX_FD_PIPE,
  PSS_LINUX_FD_FIFO,           /* named pipe */
  PSS_LINUX_FD_SOCKET,
  PSS_LINUX_FD_EVENTFD,
  PSS_LINUX_FD_TIMERFD,
  PSS_LINUX_FD_SIGNALFD,
  PSS_LINUX_FD_EPOLL,
  PSS_LINUX_FD_INOTIFY,
  PSS_LINUX_FD_FANOTIFY,
  PSS_LINUX_FD_PIDFD,
  PSS_LINUX_FD_MEMFD,
  PSS_LINUX_FD_ANON_INODE,     /* any other anon_inode:[...] */
  PSS_LINUX_FD_KIND_COUNT
} PSS_LINUX_FD_KIND;

typedef struct {
  PSS_HANDLE_ENTRY Handle;
  DWORD Kind;                 /* PSS_LINUX_FD_KIND */
  /* OpenFlags, Position, MountId, Count and (for kinds other than files,
     pipes and sockets) Inode come from fdinfo: they are filled only with
     _HANDLE_BASIC_ or _HANDLE_TYPE_SPECIFIC_INFORMATION, else 0 */
  DWORD OpenFlags;            /* O_* flags of fdinfo */
  UINT64 Position;            /* pos of fdinfo */
  UINT64 Inode;
  DWORD MountId;
  LONG SocketFamily;          /* AF_* for sockets, else -1 */
  LONG SocketType;            /* SOCK_* where /proc/net tells, else -1 */
  LONG SocketProtocol;        /* IPPROTO_* where known, else -1 */
  LONG SocketState;           /* inet: TCP state (1 ESTABLISHED ... 10 LISTEN);
                                 unix: SS_* (1 unconnected .. 4 disconnecting),
                                 10 when listening; else -1 */
  DWORD Reserved0;
  UINT64 Count;               /* eventfd counter; timerfd ticks; signalfd mask */
  WORD TargetLength;          /* bytes */
  char const *Target;         /* readlink of /proc/PID/fd/N, exact bytes */
} PSS_LINUX_HANDLE_ENTRY;

#define PSS_LINUX_BUILD_ID_MAX 32

typedef struct {
  PSS_VA_SPACE_ENTRY Region;
  UINT64 Offset;              /* file offset of the mapping */
  UINT64 Inode;
  DWORD DeviceMajor, DeviceMinor;
  char Permissions[5];        /* "rw-p" as in /proc/PID/maps */
  unsigned char CloneCoverage;  /* PSS_LINUX_CLONE_*: what the VA clone holds */
  WORD PathLength;            /* bytes */
  char const *Path;           /* pathname column, exact bytes ("" if none) */
  unsigned char BuildIdLength;  /* bytes of BuildId; 0 if none was read */
  unsigned char Reserved0[7];
  /* The GNU build id of the ELF image the region maps (NT_GNU_BUILD_ID,
  ** read from the target's memory, the image's first page), on every
  ** region of that file; read after the thaw, while the target runs on. */
  unsigned char BuildId[PSS_LINUX_BUILD_ID_MAX];
  /* PSS_LINUX_CAPTURE_MEMORY_USAGE: the region's smaps figures, else NULL;
  ** valid until the walk marker is freed, as Path */
  PSS_LINUX_MEMORY_USAGE const *Usage;
} PSS_LINUX_VA_SPACE_ENTRY;

/* CloneCoverage: what PssLinuxReadSnapshotMemory returns for a region */
#define PSS_LINUX_CLONE_NONE       0  /* the snapshot has no VA clone */
#define PSS_LINUX_CLONE_COPY       1  /* private memory: frozen at the capture instant */
#define PSS_LINUX_CLONE_SHARED     2  /* MAP_SHARED: the clone sees it live, not frozen */
#define PSS_LINUX_CLONE_ABSENT     3  /* MADV_DONTFORK (VM_DONTCOPY): not in the clone */
#define PSS_LINUX_CLONE_ZEROED     4  /* MADV_WIPEONFORK: zeros in the clone */
#define PSS_LINUX_CLONE_UNREADABLE 5  /* device memory (VM_IO, VM_PFNMAP) such as [vvar] */
/* }====================================================================== */


/* {======================================================================
** Stacks: each thread of a snapshot unwound into symbolized frames
** ======================================================================= */

/*
** An unwinder walks the stacks of one snapshot with elfutils' libdwfl:
** from each thread's captured context, reading the stack from the
** snapshot's auxiliary pages (else its VA clone), and code and CFI from the
** mapped ELF files -- /proc/PID/map_files/ while the process lives, so a
** deleted or replaced binary still unwinds, else the region's path; a file
** whose build id differs from the one the snapshot recorded is not used.
** The snapshot needs thread contexts, its VA space and either
** PSS_LINUX_CAPTURE_STACKS or a VA clone (ERROR_NOT_FOUND, with a detail
** naming what is missing). The unwinder holds its own duplicate of the
** snapshot until it is freed. Not for two threads at once.
**
** The unwinder and every stack it returns are allocated through Allocator
** (NULL: the C heap), as walk markers are; libdwfl's own caches are
** its own heap's, freed with the unwinder.
*/
typedef struct HPSSUNWIND__ { int unused; } *HPSSUNWIND;

DWORD PssLinuxUnwinderCreate(HPSS SnapshotHandle, PSS_ALLOCATOR const *Allocator,
                             HPSSUNWIND *Unwinder);
DWORD PssLinuxUnwinderFree(HPSSUNWIND Unwinder);

/* How a frame was found. */
#define PSS_LINUX_FRAME_CONTEXT       1  /* the captured registers: frame 0 */
#define PSS_LINUX_FRAME_CFI           2  /* the caller's CFI (.eh_frame, .debug_frame) */
#define PSS_LINUX_FRAME_FALLBACK      3  /* no CFI: the frame-pointer chain */

typedef struct {
  UINT64 ProgramCounter;      /* frame 0: the exact pc; others: the return address */
  UINT64 ModuleStart;         /* lowest address of its module; 0 if in none */
  UINT64 ModuleOffset;        /* ProgramCounter - ModuleStart */
  UINT64 SymbolOffset;        /* from the start of Symbol */
  DWORD Line, Column;         /* of SourceFile; 0 if unknown */
  unsigned char Method;       /* PSS_LINUX_FRAME_* */
  unsigned char Activation;   /* 1: ProgramCounter is exact (frame 0, a signal frame) */
  unsigned char BuildIdLength;
  unsigned char Reserved0;
  WORD ModulePathLength, SymbolLength, SourceFileLength; /* bytes */
  WORD Reserved1;
  char const *ModulePath;     /* the mapped file ("" if none) */
  char const *Symbol;         /* .symtab, else .dynsym; C++ names demangled ("" if none) */
  char const *SourceFile;     /* "" without debug information or SOURCE_LINES */
  unsigned char BuildId[PSS_LINUX_BUILD_ID_MAX];
} PSS_LINUX_STACK_FRAME;

/* Why a stack ends. */
#define PSS_LINUX_STACK_END_OUTERMOST 1  /* the outermost frame: the stack is whole */
#define PSS_LINUX_STACK_END_LIMIT     2  /* PSS_LINUX_STACK_FRAMES_MAX frames */
#define PSS_LINUX_STACK_END_REPEATED  3  /* a frame repeated the one before it (a loop) */
#define PSS_LINUX_STACK_END_MEMORY    4  /* needed memory the snapshot does not hold */
#define PSS_LINUX_STACK_END_UNWIND    5  /* no way to the caller (no CFI, no frame pointer) */
#define PSS_LINUX_STACK_END_NO_CONTEXT 6 /* the thread has no captured context: no frames */
#define PSS_LINUX_STACK_FRAMES_MAX 256

typedef struct {
  DWORD ThreadId;
  DWORD FrameCount;
  DWORD EndReason;            /* PSS_LINUX_STACK_END_* */
  WORD EndDetailLength;       /* bytes */
  WORD Reserved0;
  char const *EndDetail;      /* in words ("" at the outermost frame) */
  PSS_LINUX_STACK_FRAME *Frames;  /* FrameCount frames, innermost first */
} PSS_LINUX_STACK;

/*
** Unwinds one thread of the snapshot into *Stack: one block from the
** unwinder's allocator holding the frames and their strings, which the
** caller frees with that allocator's FreeRoutine. ERROR_NOT_FOUND if the
** snapshot has no such thread; ERROR_INVALID_PARAMETER for an unknown
** Flags bit. A frame that cannot be symbolized or a stack that cannot be
** unwound further is no error: the frames end there, with the reason.
*/
DWORD PssLinuxUnwindThread(HPSSUNWIND Unwinder, DWORD ThreadId, DWORD Flags,
                           PSS_LINUX_STACK **Stack);

/* Flags: also the source file, line and column of each frame, from the
** DWARF of its file or of the file's .debug file (found by build id).
** Without it they are ""/0: reading (and inflating) a library's DWARF the
** first time, libc's from libc6-dbg, costs tens of milliseconds. */
#define PSS_LINUX_UNWIND_SOURCE_LINES 0x00000001u
/* }====================================================================== */

/* {======================================================================
** Saved snapshots: a snapshot written to a descriptor and read back
** ======================================================================= */

/*
** Writes the snapshot to Fd, which the caller opened for writing and keeps
** (ERROR_INVALID_HANDLE otherwise, as for a bad SnapshotHandle), from its
** current offset on, every byte in order with write(): a file, pipe,
** socket or memfd. What is saved is everything the snapshot holds but its
** VA clone: the capture flags, the process record and its strings, the
** performance counters and freeze figures, and every table (regions,
** handles, threads with their names and contexts, the auxiliary pages
** that hold the threads' stacks) -- docs/snapshot-format.md. Nothing is
** closed or removed on failure. SIGPIPE and SIGXFSZ never reach the
** caller: such a write fails with ERROR_BROKEN_PIPE or ERROR_FILE_TOO_LARGE.
** Flags: 0 for the tables, or PSS_LINUX_SAVE_MEMORY for the snapshot's
** memory too (its VA clone's, or a loaded snapshot's): pages of zeros are
** left out, and the rest read as the clone read them. ERROR_NOT_FOUND,
** before anything is written, when the snapshot holds no memory; any other
** bit is ERROR_INVALID_PARAMETER.
*/
#define PSS_LINUX_SAVE_MEMORY 0x00000001u
DWORD PssLinuxSaveSnapshot(HPSS SnapshotHandle, int Fd, DWORD Flags);

/*
** The same file written to Path as PssLinuxWriteCore writes a core: into
** a new file beside Path (mode 0600) renamed over it once complete, or
** through a device, FIFO or socket (/dev/stdout); a failure leaves what
** Path named untouched.
*/
DWORD PssLinuxSaveSnapshotFile(HPSS SnapshotHandle, char const *Path, DWORD Flags);

/*
** A routine told how far a long write of the calling thread is: saving a
** snapshot's memory calls it after every MiB read with the bytes done and
** the bytes it may read in all (the memory's size; untouched pages count
** as done when they are skipped); writing a core (PssLinuxWriteCore,
** PssLinuxWriteCoreFd) after every MiB of memory written, with the bytes
** of the mappings the core holds in all. It runs on the calling thread, inside
** the write: it must not call libpss. NULL (the default) reports nothing.
** Per calling thread; returns ERROR_SUCCESS.
*/
typedef void (*PSS_LINUX_PROGRESS_ROUTINE)(void *Context, UINT64 Done, UINT64 Total);
DWORD PssLinuxSetProgressRoutine(PSS_LINUX_PROGRESS_ROUTINE Routine, void *Context);

/*
** Reads a snapshot that PssLinuxSaveSnapshot wrote, or an x86-64 ELF core
** file (the kernel's, gdb's gcore's, PssLinuxWriteCore's), from Fd's
** current offset into a new HPSS that the caller frees with
** PssFreeSnapshot. A saved snapshot is read in one pass (a pipe or socket
** works); a core is read where it lies in a regular file, or first copied
** into memory from a pipe. The result answers every query and walk as the
** saved snapshot did, and works with markers, positions,
** PssDuplicateSnapshot and the unwinder. It has no VA clone
** (PSS_QUERY_VA_CLONE_INFORMATION answers ERROR_NOT_FOUND; the regions'
** CloneCoverage still says what the clone held); PssLinuxReadSnapshotMemory
** reads the saved memory or the core's segments, ERROR_NOT_FOUND when the
** file holds none. A core's snapshot holds what a core holds: threads with
** their registers, regions with their files, the process record from its
** notes; no handles, thread names or times.
** ERROR_INVALID_HANDLE: Fd is not open for reading. ERROR_BAD_FORMAT: the
** file is neither, is truncated or damaged (a checksum, a length or a
** reference that does not hold), was saved by a build whose rows differ, or
** is a core of another machine. ERROR_NOT_SUPPORTED: a newer major version
** of the format. PssLinuxLastErrorDetail says which, in words.
*/
DWORD PssLinuxLoadSnapshot(int Fd, HPSS *SnapshotHandle);
/* }====================================================================== */

#endif /* PSS_LINUX_H */
