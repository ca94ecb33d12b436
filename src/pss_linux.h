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
  unsigned char Reserved2;
  WORD NotFrozenLength;       /* bytes */
  DWORD Reserved3;
  char const *NotFrozen;      /* why the target was not stopped, in words ("" when it
                                 was); valid until the snapshot is freed */
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

typedef struct {
  PSS_VA_SPACE_ENTRY Region;
  UINT64 Offset;              /* file offset of the mapping */
  UINT64 Inode;
  DWORD DeviceMajor, DeviceMinor;
  char Permissions[5];        /* "rw-p" as in /proc/PID/maps */
  unsigned char CloneCoverage;  /* PSS_LINUX_CLONE_*: what the VA clone holds */
  WORD PathLength;            /* bytes */
  char const *Path;           /* pathname column, exact bytes ("" if none) */
} PSS_LINUX_VA_SPACE_ENTRY;

/* CloneCoverage: what PssLinuxReadSnapshotMemory returns for a region */
#define PSS_LINUX_CLONE_NONE       0  /* the snapshot has no VA clone */
#define PSS_LINUX_CLONE_COPY       1  /* private memory: frozen at the capture instant */
#define PSS_LINUX_CLONE_SHARED     2  /* MAP_SHARED: the clone sees it live, not frozen */
#define PSS_LINUX_CLONE_ABSENT     3  /* MADV_DONTFORK (VM_DONTCOPY): not in the clone */
#define PSS_LINUX_CLONE_ZEROED     4  /* MADV_WIPEONFORK: zeros in the clone */
#define PSS_LINUX_CLONE_UNREADABLE 5  /* device memory (VM_IO, VM_PFNMAP) such as [vvar] */
/* }====================================================================== */

#endif /* PSS_LINUX_H */
