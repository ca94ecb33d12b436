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
#define ERROR_ACCESS_DENIED       5
#define ERROR_INVALID_HANDLE      6
#define ERROR_NOT_ENOUGH_MEMORY   8
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

#if !defined(_WIN32)
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
} PSS_LINUX_PROCESS_INFORMATION;

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
#endif /* !_WIN32 */

#if defined(_WIN32)
/* {======================================================================
** Windows extension
** ======================================================================= */
/* TRUE when kernel32 exports all ten functions (Windows 8.1 and later).
** Otherwise (Windows 7 and 8.0, wine) every Pss* function returns
** ERROR_NOT_SUPPORTED: the API is used whole or not at all. */
BOOL PssWindowsIsAvailable(void);

/* Why the last failing call of this thread failed, in words, when the code
** alone does not say (NULL otherwise); every libpss function resets it.
** The string is static. */
char const *PssWindowsLastErrorDetail(void);

/*
** Reads the VA clone's memory, as PssLinuxReadSnapshotMemory does: the
** bytes of [Address, Address+Length) as they were at the capture instant.
** ERROR_PARTIAL_COPY when the range runs into memory the clone does not
** hold, with *BytesRead the readable prefix (possibly 0); ERROR_NOT_FOUND
** without a VA clone. The clone's handle stays the snapshot's.
*/
DWORD PssWindowsReadSnapshotMemory(HPSS SnapshotHandle, UINT64 Address, void *Buffer,
                                   SIZE_T Length, SIZE_T *BytesRead);

/*
** Writes a full-memory minidump of the snapshot to Path (UTF-8; created or
** truncated) with MiniDumpWriteDump, answering IsProcessSnapshotCallback
** (pss-api.md §8). ERROR_NOT_FOUND without a VA clone or threads; on any
** failure the file is removed. DbgHelp calls are serialized.
*/
DWORD PssWindowsWriteDump(HPSS SnapshotHandle, char const *Path);
/* }====================================================================== */
#endif

#ifdef __cplusplus
}
#endif

#endif /* PSS_H */
