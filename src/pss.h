/*
** pss.h -- the Process Snapshotting API (Windows processsnapshot.h).
**
** Same function names, signatures, constants and x64 struct layouts as
** Windows, so code written against processsnapshot.h compiles unchanged.
** On Windows the base types come from windows.h and the functions pass
** through to kernel32, resolved at run time (use pss.h instead of the SDK's
** processsnapshot.h, not beside it). On Linux the header declares the base
** types itself (LP64 type mapping of pss-api Appendix B) and adds a few
** clearly named Linux extensions (PssLinux*, PSS_*_LINUX_*).
**
** Every function returns a Win32 error code (ERROR_SUCCESS on success);
** out-parameters are written only on success.
*/
#ifndef PSS_H
#define PSS_H

/* The version of libpss, pss.core and the pss command, written here only:
   the Makefile reads PSS_VERSION for libpss.pc, the shared library and the
   man page; pss.core gives it to Lua as _VERSION; the rockspec repeats it
   and `make lint` checks that they agree. */
#define PSS_VERSION_MAJOR 0
#define PSS_VERSION_MINOR 9
#define PSS_VERSION_PATCH 0
#define PSS_VERSION "0.9.0"

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
/* windows.h gives the base types, CONTEXT, the error codes and the MEM_ and
   PAGE_ values. processsnapshot.h is declared below instead of included:
   mingw-w64 ships none, and the SDK's declares the functions as kernel32
   imports, which libpss never uses (src/windows/pss_win.c resolves them at
   run time, so the module loads on systems without them). */
#include <windows.h>
#ifndef CONTEXT_XSTATE
#define CONTEXT_XSTATE (CONTEXT_AMD64 | 0x40L)
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(_WIN32) /* Linux (LP64): the Windows types, declared here */

/* {======================================================================
** Windows base types, LP64 mapping (never `long`, never `wchar_t`)
** ======================================================================= */
#ifndef WINAPI
#define WINAPI
#endif
typedef uint32_t DWORD;
typedef int32_t LONG;
typedef int32_t BOOL;
typedef uint16_t WORD;
typedef uint64_t UINT64;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t SIZE_T;
typedef void *HANDLE;
typedef uint16_t WCHAR;   /* one UTF-16 code unit, as Windows' wchar_t */

#ifndef TRUE
#define TRUE 1
#define FALSE 0
#endif

/* FILETIME is 4-byte aligned: modelling it as uint64_t shifts every field */
typedef struct _FILETIME {
  DWORD dwLowDateTime;
  DWORD dwHighDateTime;
} FILETIME;

typedef union _LARGE_INTEGER {
  struct { DWORD LowPart; LONG HighPart; } u;
  int64_t QuadPart;
} LARGE_INTEGER;

typedef struct _MEMORY_BASIC_INFORMATION {
  void *BaseAddress;
  void *AllocationBase;
  DWORD AllocationProtect;
  WORD PartitionId;
  SIZE_T RegionSize;
  DWORD State;
  DWORD Protect;
  DWORD Type;
} MEMORY_BASIC_INFORMATION;

/*
** Thread register context: filled only with PSS_CAPTURE_THREAD_CONTEXT.
** On x86-64 it is the Windows x64 CONTEXT (1232 bytes, 16-aligned);
** elsewhere it is left incomplete and contexts are not captured.
*/
typedef struct _CONTEXT CONTEXT, *PCONTEXT;
#if defined(__x86_64__)
typedef struct _M128A {
  _Alignas(16) UINT64 Low;
  int64_t High;
} M128A;

/* The FXSAVE image: the same 512 bytes as Linux's user_fpregs_struct */
typedef struct _XMM_SAVE_AREA32 {
  WORD ControlWord;
  WORD StatusWord;
  uint8_t TagWord;
  uint8_t Reserved1;
  WORD ErrorOpcode;
  DWORD ErrorOffset;
  WORD ErrorSelector;
  WORD Reserved2;
  DWORD DataOffset;
  WORD DataSelector;
  WORD Reserved3;
  DWORD MxCsr;
  DWORD MxCsr_Mask;
  M128A FloatRegisters[8];
  M128A XmmRegisters[16];
  uint8_t Reserved4[96];
} XMM_SAVE_AREA32;

struct _CONTEXT {
  UINT64 P1Home, P2Home, P3Home, P4Home, P5Home, P6Home;
  DWORD ContextFlags;
  DWORD MxCsr;
  WORD SegCs, SegDs, SegEs, SegFs, SegGs, SegSs;
  DWORD EFlags;
  UINT64 Dr0, Dr1, Dr2, Dr3, Dr6, Dr7;
  UINT64 Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi;
  UINT64 R8, R9, R10, R11, R12, R13, R14, R15;
  UINT64 Rip;
  XMM_SAVE_AREA32 FltSave;
  M128A VectorRegister[26];
  UINT64 VectorControl;
  UINT64 DebugControl;
  UINT64 LastBranchToRip, LastBranchFromRip;
  UINT64 LastExceptionToRip, LastExceptionFromRip;
};
#endif

/* CONTEXT_* flags of x64 Windows (ThreadContextFlags, ContextFlags) */
#define CONTEXT_AMD64            0x00100000u
#define CONTEXT_CONTROL          (CONTEXT_AMD64 | 0x01u)  /* SegSs, Rsp, SegCs, Rip, EFlags */
#define CONTEXT_INTEGER          (CONTEXT_AMD64 | 0x02u)  /* Rax .. R15 except Rsp */
#define CONTEXT_SEGMENTS         (CONTEXT_AMD64 | 0x04u)  /* SegDs, SegEs, SegFs, SegGs */
#define CONTEXT_FLOATING_POINT   (CONTEXT_AMD64 | 0x08u)  /* FltSave, MxCsr */
#define CONTEXT_DEBUG_REGISTERS  (CONTEXT_AMD64 | 0x10u)  /* Dr0 .. Dr3, Dr6, Dr7 */
#define CONTEXT_FULL             (CONTEXT_CONTROL | CONTEXT_INTEGER | CONTEXT_FLOATING_POINT)
#define CONTEXT_ALL              (CONTEXT_CONTROL | CONTEXT_INTEGER | CONTEXT_SEGMENTS | \
                                  CONTEXT_FLOATING_POINT | CONTEXT_DEBUG_REGISTERS)
#define CONTEXT_XSTATE           (CONTEXT_AMD64 | 0x40u)  /* the XSAVE area, after the CONTEXT */

#define STILL_ACTIVE 259

/* Win32 error codes (winerror.h values) */
#define ERROR_SUCCESS             0
#define ERROR_INVALID_FUNCTION    1
#define ERROR_FILE_NOT_FOUND      2
#define ERROR_ACCESS_DENIED       5
#define ERROR_INVALID_HANDLE      6
#define ERROR_NOT_ENOUGH_MEMORY   8
#define ERROR_BAD_FORMAT          11   /* not a saved snapshot, or a damaged one */
#define ERROR_BAD_LENGTH          24
#define ERROR_NO_PROC_SLOTS       89
#define ERROR_GEN_FAILURE         31
#define ERROR_NOT_SUPPORTED       50
#define ERROR_BUSY                170
#define ERROR_INVALID_PARAMETER   87
#define ERROR_BROKEN_PIPE         109
#define ERROR_DISK_FULL           112
#define ERROR_FILE_TOO_LARGE      223
#define ERROR_BUFFER_OVERFLOW     111
#define ERROR_MORE_DATA           234
#define ERROR_NO_MORE_ITEMS       259
#define ERROR_PARTIAL_COPY        299
#define ERROR_INVALID_ADDRESS     487
#define ERROR_ARITHMETIC_OVERFLOW 534
#define ERROR_PROCESS_ABORTED     1067
#define ERROR_NOT_FOUND           1168
#define ERROR_TIMEOUT             1460
#define ERROR_UNIDENTIFIED_ERROR  1287

/* Memory protection, state and type (winnt.h values) */
#define PAGE_NOACCESS          0x01
#define PAGE_READONLY          0x02
#define PAGE_READWRITE         0x04
#define PAGE_WRITECOPY         0x08
#define PAGE_EXECUTE           0x10
#define PAGE_EXECUTE_READ      0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define PAGE_EXECUTE_WRITECOPY 0x80
#define PAGE_GUARD             0x100
#define MEM_COMMIT   0x00001000
#define MEM_RESERVE  0x00002000
#define MEM_FREE     0x00010000
#define MEM_PRIVATE  0x00020000
#define MEM_MAPPED   0x00040000
#define MEM_IMAGE    0x01000000

/* Process priority classes (winbase.h values) */
#define IDLE_PRIORITY_CLASS         0x00000040
#define BELOW_NORMAL_PRIORITY_CLASS 0x00004000
#define NORMAL_PRIORITY_CLASS       0x00000020
#define ABOVE_NORMAL_PRIORITY_CLASS 0x00008000
#define HIGH_PRIORITY_CLASS         0x00000080
#define REALTIME_PRIORITY_CLASS     0x00000100

/* Handle attributes and access rights used in PSS_HANDLE_ENTRY */
#define OBJ_INHERIT   0x00000002
#define GENERIC_READ  0x80000000u
#define GENERIC_WRITE 0x40000000u
/* }====================================================================== */
#endif /* !_WIN32 */


/* {======================================================================
** processsnapshot.h
** ======================================================================= */
typedef struct HPSS__ { int unused; } *HPSS;
typedef struct HPSSWALK__ { int unused; } *HPSSWALK;

typedef DWORD PSS_CAPTURE_FLAGS;   /* 0x80000000 needs an unsigned type */
#define PSS_CAPTURE_NONE                             0x00000000u
#define PSS_CAPTURE_VA_CLONE                         0x00000001u
#define PSS_CAPTURE_RESERVED_00000002                0x00000002u
#define PSS_CAPTURE_HANDLES                          0x00000004u
#define PSS_CAPTURE_HANDLE_NAME_INFORMATION          0x00000008u
#define PSS_CAPTURE_HANDLE_BASIC_INFORMATION         0x00000010u
#define PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION 0x00000020u
#define PSS_CAPTURE_HANDLE_TRACE                     0x00000040u
#define PSS_CAPTURE_THREADS                          0x00000080u
#define PSS_CAPTURE_THREAD_CONTEXT                   0x00000100u
#define PSS_CAPTURE_THREAD_CONTEXT_EXTENDED          0x00000200u
#define PSS_CAPTURE_RESERVED_00000400                0x00000400u
#define PSS_CAPTURE_VA_SPACE                         0x00000800u
#define PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION     0x00001000u
#define PSS_CAPTURE_IPT_TRACE                        0x00002000u
#define PSS_CAPTURE_RESERVED_00004000                0x00004000u
#define PSS_CREATE_BREAKAWAY_OPTIONAL                0x04000000u
#define PSS_CREATE_BREAKAWAY                         0x08000000u
#define PSS_CREATE_FORCE_BREAKAWAY                   0x10000000u
#define PSS_CREATE_USE_VM_ALLOCATIONS                0x20000000u
#define PSS_CREATE_MEASURE_PERFORMANCE               0x40000000u
#define PSS_CREATE_RELEASE_SECTION                   0x80000000u

typedef enum {
  PSS_QUERY_PROCESS_INFORMATION = 0,
  PSS_QUERY_VA_CLONE_INFORMATION = 1,
  PSS_QUERY_AUXILIARY_PAGES_INFORMATION = 2,
  PSS_QUERY_VA_SPACE_INFORMATION = 3,
  PSS_QUERY_HANDLE_INFORMATION = 4,
  PSS_QUERY_THREAD_INFORMATION = 5,
  PSS_QUERY_HANDLE_TRACE_INFORMATION = 6,
  PSS_QUERY_PERFORMANCE_COUNTERS = 7,
#if !defined(_WIN32)
  /* Linux extensions: PSS_LINUX_PROCESS_INFORMATION,
     PSS_LINUX_PERFORMANCE_COUNTERS */
  PSS_QUERY_LINUX_PROCESS_INFORMATION = 0x100,
  PSS_QUERY_LINUX_PERFORMANCE_COUNTERS = 0x101
#endif
} PSS_QUERY_INFORMATION_CLASS;

typedef enum {
  PSS_WALK_AUXILIARY_PAGES = 0,
  PSS_WALK_VA_SPACE = 1,
  PSS_WALK_HANDLES = 2,
  PSS_WALK_THREADS = 3,
  PSS_WALK_THREAD_NAME = 4,
#if !defined(_WIN32)
  /* Linux extensions: the Windows entry followed by Linux-only fields */
  PSS_WALK_LINUX_VA_SPACE = 0x101,
  PSS_WALK_LINUX_HANDLES = 0x102,
  PSS_WALK_LINUX_THREADS = 0x103
#endif
} PSS_WALK_INFORMATION_CLASS;

typedef DWORD PSS_DUPLICATE_FLAGS;
#define PSS_DUPLICATE_NONE         0x00u
#define PSS_DUPLICATE_CLOSE_SOURCE 0x01u

typedef DWORD PSS_PROCESS_FLAGS;
#define PSS_PROCESS_FLAGS_NONE        0x00000000u
#define PSS_PROCESS_FLAGS_PROTECTED   0x00000001u
#define PSS_PROCESS_FLAGS_WOW64       0x00000002u
#define PSS_PROCESS_FLAGS_RESERVED_03 0x00000004u
#define PSS_PROCESS_FLAGS_RESERVED_04 0x00000008u
#define PSS_PROCESS_FLAGS_FROZEN      0x00000010u

typedef DWORD PSS_THREAD_FLAGS;
#define PSS_THREAD_FLAGS_NONE       0x0000u
#define PSS_THREAD_FLAGS_TERMINATED 0x0001u

typedef DWORD PSS_HANDLE_FLAGS;
#define PSS_HANDLE_NONE                          0x00u
#define PSS_HANDLE_HAVE_TYPE                     0x01u
#define PSS_HANDLE_HAVE_NAME                     0x02u
#define PSS_HANDLE_HAVE_BASIC_INFORMATION        0x04u
#define PSS_HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION 0x08u

typedef enum {
  PSS_OBJECT_TYPE_UNKNOWN = 0,
  PSS_OBJECT_TYPE_PROCESS = 1,
  PSS_OBJECT_TYPE_THREAD = 2,
  PSS_OBJECT_TYPE_MUTANT = 3,
  PSS_OBJECT_TYPE_EVENT = 4,
  PSS_OBJECT_TYPE_SECTION = 5,
  PSS_OBJECT_TYPE_SEMAPHORE = 6
} PSS_OBJECT_TYPE;

#define PSS_PERF_RESOLUTION 1000000

typedef struct {
  void *Context;
  void *(WINAPI *AllocRoutine)(void *Context, DWORD Size);
  void (WINAPI *FreeRoutine)(void *Context, void *Address);
} PSS_ALLOCATOR;

typedef struct {
  DWORD ExitStatus;
  void *PebBaseAddress;
  ULONG_PTR AffinityMask;
  LONG BasePriority;
  DWORD ProcessId;
  DWORD ParentProcessId;
  PSS_PROCESS_FLAGS Flags;
  FILETIME CreateTime;
  FILETIME ExitTime;
  FILETIME KernelTime;
  FILETIME UserTime;
  DWORD PriorityClass;
  ULONG_PTR PeakVirtualSize;
  ULONG_PTR VirtualSize;
  DWORD PageFaultCount;
  ULONG_PTR PeakWorkingSetSize;
  ULONG_PTR WorkingSetSize;
  ULONG_PTR QuotaPeakPagedPoolUsage;
  ULONG_PTR QuotaPagedPoolUsage;
  ULONG_PTR QuotaPeakNonPagedPoolUsage;
  ULONG_PTR QuotaNonPagedPoolUsage;
  ULONG_PTR PagefileUsage;
  ULONG_PTR PeakPagefileUsage;
  ULONG_PTR PrivateUsage;
  DWORD ExecuteFlags;
  WCHAR ImageFileName[260];
} PSS_PROCESS_INFORMATION;

typedef struct { HANDLE VaCloneHandle; } PSS_VA_CLONE_INFORMATION;
typedef struct { DWORD AuxPagesCaptured; } PSS_AUXILIARY_PAGES_INFORMATION;
typedef struct { DWORD RegionCount; } PSS_VA_SPACE_INFORMATION;
typedef struct { DWORD HandlesCaptured; } PSS_HANDLE_INFORMATION;
typedef struct { DWORD ThreadsCaptured; DWORD ContextLength; } PSS_THREAD_INFORMATION;
typedef struct { HANDLE SectionHandle; DWORD Size; } PSS_HANDLE_TRACE_INFORMATION;

typedef struct {
  UINT64 TotalCycleCount;
  UINT64 TotalWallClockPeriod;
  UINT64 VaCloneCycleCount;
  UINT64 VaCloneWallClockPeriod;
  UINT64 VaSpaceCycleCount;
  UINT64 VaSpaceWallClockPeriod;
  UINT64 AuxPagesCycleCount;
  UINT64 AuxPagesWallClockPeriod;
  UINT64 HandlesCycleCount;
  UINT64 HandlesWallClockPeriod;
  UINT64 ThreadsCycleCount;
  UINT64 ThreadsWallClockPeriod;
} PSS_PERFORMANCE_COUNTERS;

typedef struct {
  void *Address;
  MEMORY_BASIC_INFORMATION BasicInformation;
  FILETIME CaptureTime;
  void *PageContents;
  DWORD PageSize;
} PSS_AUXILIARY_PAGE_ENTRY;

typedef struct {
  void *BaseAddress;
  void *AllocationBase;
  DWORD AllocationProtect;
  ULONG_PTR RegionSize;
  DWORD State;
  DWORD Protect;
  DWORD Type;
  DWORD TimeDateStamp;
  DWORD SizeOfImage;
  void *ImageBase;
  DWORD CheckSum;
  WORD MappedFileNameLength;
  WCHAR const *MappedFileName;
} PSS_VA_SPACE_ENTRY;

typedef struct {
  HANDLE Handle;
  PSS_HANDLE_FLAGS Flags;
  PSS_OBJECT_TYPE ObjectType;
  FILETIME CaptureTime;
  DWORD Attributes;
  DWORD GrantedAccess;
  DWORD HandleCount;
  DWORD PointerCount;
  DWORD PagedPoolCharge;
  DWORD NonPagedPoolCharge;
  FILETIME CreationTime;
  WORD TypeNameLength;
  WCHAR const *TypeName;
  WORD ObjectNameLength;
  WCHAR const *ObjectName;
  union {
    struct {
      DWORD ExitStatus;
      void *PebBaseAddress;
      ULONG_PTR AffinityMask;
      LONG BasePriority;
      DWORD ProcessId;
      DWORD ParentProcessId;
      DWORD Flags;
    } Process;
    struct {
      DWORD ExitStatus;
      void *TebBaseAddress;
      DWORD ProcessId;
      DWORD ThreadId;
      ULONG_PTR AffinityMask;
      int Priority;
      int BasePriority;
      void *Win32StartAddress;
    } Thread;
    struct {
      LONG CurrentCount;
      BOOL Abandoned;
      DWORD OwnerProcessId;
      DWORD OwnerThreadId;
    } Mutant;
    struct {
      BOOL ManualReset;
      BOOL Signaled;
    } Event;
    struct {
      void *BaseAddress;
      DWORD AllocationAttributes;
      LARGE_INTEGER MaximumSize;
    } Section;
    struct {
      LONG CurrentCount;
      LONG MaximumCount;
    } Semaphore;
  } TypeSpecificInformation;
} PSS_HANDLE_ENTRY;

typedef struct {
  DWORD ExitStatus;
  void *TebBaseAddress;
  DWORD ProcessId;
  DWORD ThreadId;
  ULONG_PTR AffinityMask;
  int Priority;
  int BasePriority;
  void *LastSyscallFirstArgument;
  WORD LastSyscallNumber;
  FILETIME CreateTime;
  FILETIME ExitTime;
  FILETIME KernelTime;
  FILETIME UserTime;
  void *Win32StartAddress;
  FILETIME CaptureTime;
  PSS_THREAD_FLAGS Flags;
  WORD SuspendCount;
  WORD SizeOfContextRecord;
  PCONTEXT ContextRecord;
} PSS_THREAD_ENTRY;

typedef struct {
  WORD ThreadNameSize;
  WCHAR const *ThreadName;
} PSS_THREAD_NAME;

DWORD WINAPI PssCaptureSnapshot(HANDLE ProcessHandle,
                                PSS_CAPTURE_FLAGS CaptureFlags,
                                DWORD ThreadContextFlags,
                                HPSS *SnapshotHandle);
DWORD WINAPI PssFreeSnapshot(HANDLE ProcessHandle, HPSS SnapshotHandle);
DWORD WINAPI PssQuerySnapshot(HPSS SnapshotHandle,
                              PSS_QUERY_INFORMATION_CLASS InformationClass,
                              void *Buffer, DWORD BufferLength);
DWORD WINAPI PssWalkSnapshot(HPSS SnapshotHandle,
                             PSS_WALK_INFORMATION_CLASS InformationClass,
                             HPSSWALK WalkMarkerHandle,
                             void *Buffer, DWORD BufferLength);
DWORD WINAPI PssDuplicateSnapshot(HANDLE SourceProcessHandle,
                                  HPSS SnapshotHandle,
                                  HANDLE TargetProcessHandle,
                                  HPSS *TargetSnapshotHandle,
                                  PSS_DUPLICATE_FLAGS Flags);
DWORD WINAPI PssWalkMarkerCreate(PSS_ALLOCATOR const *Allocator,
                                 HPSSWALK *WalkMarkerHandle);
DWORD WINAPI PssWalkMarkerFree(HPSSWALK WalkMarkerHandle);
DWORD WINAPI PssWalkMarkerGetPosition(HPSSWALK WalkMarkerHandle,
                                      ULONG_PTR *Position);
DWORD WINAPI PssWalkMarkerSetPosition(HPSSWALK WalkMarkerHandle,
                                      ULONG_PTR Position);
DWORD WINAPI PssWalkMarkerSeekToBeginning(HPSSWALK WalkMarkerHandle);
/* }====================================================================== */


/* {======================================================================
** Layout: the Windows x64 sizes and offsets (pss-api Appendix A)
** ======================================================================= */
#if defined(__cplusplus)
#define PSS_LAYOUT_(cond, msg) static_assert(cond, msg)
#else
#define PSS_LAYOUT_(cond, msg) _Static_assert(cond, msg)
#endif
#if defined(_WIN64) || defined(__x86_64__) || defined(__aarch64__)
PSS_LAYOUT_(sizeof(FILETIME) == 8 && _Alignof(FILETIME) == 4, "FILETIME");
PSS_LAYOUT_(sizeof(MEMORY_BASIC_INFORMATION) == 48, "MEMORY_BASIC_INFORMATION");
PSS_LAYOUT_(offsetof(MEMORY_BASIC_INFORMATION, RegionSize) == 24, "MBI.RegionSize");
PSS_LAYOUT_(sizeof(PSS_ALLOCATOR) == 24, "PSS_ALLOCATOR");
PSS_LAYOUT_(sizeof(PSS_PROCESS_INFORMATION) == 704, "PSS_PROCESS_INFORMATION");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, PebBaseAddress) == 8, "PebBaseAddress");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, ParentProcessId) == 32, "ParentProcessId");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, CreateTime) == 40, "CreateTime");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, PriorityClass) == 72, "PriorityClass");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, PeakVirtualSize) == 80, "PeakVirtualSize");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, PageFaultCount) == 96, "PageFaultCount");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, PeakWorkingSetSize) == 104, "PeakWorkingSetSize");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, ExecuteFlags) == 176, "ExecuteFlags");
PSS_LAYOUT_(offsetof(PSS_PROCESS_INFORMATION, ImageFileName) == 180, "ImageFileName");
PSS_LAYOUT_(sizeof(PSS_VA_CLONE_INFORMATION) == 8, "PSS_VA_CLONE_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_AUXILIARY_PAGES_INFORMATION) == 4, "PSS_AUXILIARY_PAGES_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_VA_SPACE_INFORMATION) == 4, "PSS_VA_SPACE_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_HANDLE_INFORMATION) == 4, "PSS_HANDLE_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_THREAD_INFORMATION) == 8, "PSS_THREAD_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_HANDLE_TRACE_INFORMATION) == 16, "PSS_HANDLE_TRACE_INFORMATION");
PSS_LAYOUT_(sizeof(PSS_PERFORMANCE_COUNTERS) == 96, "PSS_PERFORMANCE_COUNTERS");
PSS_LAYOUT_(sizeof(PSS_AUXILIARY_PAGE_ENTRY) == 80, "PSS_AUXILIARY_PAGE_ENTRY");
PSS_LAYOUT_(offsetof(PSS_AUXILIARY_PAGE_ENTRY, CaptureTime) == 56, "Aux.CaptureTime");
PSS_LAYOUT_(offsetof(PSS_AUXILIARY_PAGE_ENTRY, PageSize) == 72, "Aux.PageSize");
PSS_LAYOUT_(sizeof(PSS_VA_SPACE_ENTRY) == 80, "PSS_VA_SPACE_ENTRY");
PSS_LAYOUT_(offsetof(PSS_VA_SPACE_ENTRY, RegionSize) == 24, "Va.RegionSize");
PSS_LAYOUT_(offsetof(PSS_VA_SPACE_ENTRY, ImageBase) == 56, "Va.ImageBase");
PSS_LAYOUT_(offsetof(PSS_VA_SPACE_ENTRY, MappedFileNameLength) == 68, "Va.MappedFileNameLength");
PSS_LAYOUT_(offsetof(PSS_VA_SPACE_ENTRY, MappedFileName) == 72, "Va.MappedFileName");
PSS_LAYOUT_(sizeof(PSS_HANDLE_ENTRY) == 136, "PSS_HANDLE_ENTRY");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, CaptureTime) == 16, "Handle.CaptureTime");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, CreationTime) == 48, "Handle.CreationTime");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, TypeName) == 64, "Handle.TypeName");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, ObjectName) == 80, "Handle.ObjectName");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, TypeSpecificInformation) == 88, "Handle.TypeSpecificInformation");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, TypeSpecificInformation.Thread.Win32StartAddress) == 128, "Handle.Thread.Win32StartAddress");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, TypeSpecificInformation.Section.MaximumSize) == 104, "Handle.Section.MaximumSize");
PSS_LAYOUT_(offsetof(PSS_HANDLE_ENTRY, TypeSpecificInformation.Process.Flags) == 124, "Handle.Process.Flags");
PSS_LAYOUT_(sizeof(PSS_THREAD_ENTRY) == 120, "PSS_THREAD_ENTRY");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, AffinityMask) == 24, "Thread.AffinityMask");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, LastSyscallNumber) == 48, "Thread.LastSyscallNumber");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, CreateTime) == 52, "Thread.CreateTime");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, UserTime) == 76, "Thread.UserTime");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, Win32StartAddress) == 88, "Thread.Win32StartAddress");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, CaptureTime) == 96, "Thread.CaptureTime");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, Flags) == 104, "Thread.Flags");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, SuspendCount) == 108, "Thread.SuspendCount");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, SizeOfContextRecord) == 110, "Thread.SizeOfContextRecord");
PSS_LAYOUT_(offsetof(PSS_THREAD_ENTRY, ContextRecord) == 112, "Thread.ContextRecord");
PSS_LAYOUT_(sizeof(PSS_THREAD_NAME) == 16, "PSS_THREAD_NAME");
#endif
#if defined(__x86_64__) || defined(_M_X64)
PSS_LAYOUT_(sizeof(XMM_SAVE_AREA32) == 512, "XMM_SAVE_AREA32");
PSS_LAYOUT_(sizeof(CONTEXT) == 1232 && _Alignof(CONTEXT) == 16, "CONTEXT");
PSS_LAYOUT_(offsetof(CONTEXT, ContextFlags) == 0x30, "CONTEXT.ContextFlags");
PSS_LAYOUT_(offsetof(CONTEXT, EFlags) == 0x44, "CONTEXT.EFlags");
PSS_LAYOUT_(offsetof(CONTEXT, Rax) == 0x78, "CONTEXT.Rax");
PSS_LAYOUT_(offsetof(CONTEXT, Rip) == 0xF8, "CONTEXT.Rip");
PSS_LAYOUT_(offsetof(CONTEXT, FltSave) == 0x100, "CONTEXT.FltSave");
PSS_LAYOUT_(offsetof(CONTEXT, VectorRegister) == 0x300, "CONTEXT.VectorRegister");
PSS_LAYOUT_(offsetof(CONTEXT, LastExceptionFromRip) == 0x4C8, "CONTEXT.LastExceptionFromRip");
#endif
/* }====================================================================== */

/* The functions of each system beyond the Windows API */
#if defined(_WIN32)
#include "pss_windows.h"
#else
#include "pss_linux.h"
#endif

#ifdef __cplusplus
}
#endif

#endif /* PSS_H */
