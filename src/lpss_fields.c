/*
** lpss_fields.c -- pss.core: the record field tables. One static table per
** record (name, type, offset), the names of every enumeration's values,
** and the key array that interns them all once per state, so that code,
** pss.fields() and the docs list the same fields.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lpss.h"


/* {======================================================================
** Fields: one static table per record, name -> how to read it
** ======================================================================= */
typedef struct { DWORD value; const char *name; } EnumName;

#define ENUM_OBJECT_TYPE 0
#define ENUM_STATE 1
#define ENUM_MEM_TYPE 2
#define ENUM_PRIORITY_CLASS 3
#define ENUM_FD_KIND 4
#define ENUM_PROTECT 5
#define ENUM_FRAME_METHOD 6

static const EnumName object_type_names[] = {
  { PSS_OBJECT_TYPE_UNKNOWN, "unknown" }, { PSS_OBJECT_TYPE_PROCESS, "process" },
  { PSS_OBJECT_TYPE_THREAD, "thread" }, { PSS_OBJECT_TYPE_MUTANT, "mutant" },
  { PSS_OBJECT_TYPE_EVENT, "event" }, { PSS_OBJECT_TYPE_SECTION, "section" },
  { PSS_OBJECT_TYPE_SEMAPHORE, "semaphore" }, { 0, NULL }
};
static const EnumName state_names[] = {
  { MEM_COMMIT, "commit" }, { MEM_RESERVE, "reserve" }, { MEM_FREE, "free" }, { 0, NULL }
};
static const EnumName mem_type_names[] = {
  { MEM_PRIVATE, "private" }, { MEM_MAPPED, "mapped" }, { MEM_IMAGE, "image" }, { 0, NULL }
};
static const EnumName priority_class_names[] = {
  { IDLE_PRIORITY_CLASS, "idle" }, { BELOW_NORMAL_PRIORITY_CLASS, "below_normal" },
  { NORMAL_PRIORITY_CLASS, "normal" }, { ABOVE_NORMAL_PRIORITY_CLASS, "above_normal" },
  { HIGH_PRIORITY_CLASS, "high" }, { REALTIME_PRIORITY_CLASS, "realtime" }, { 0, NULL }
};
static const EnumName protect_names[] = {
  { PAGE_NOACCESS, "---" }, { PAGE_READONLY, "r--" }, { PAGE_READWRITE, "rw-" },
  { PAGE_WRITECOPY, "rw-" }, { PAGE_EXECUTE, "--x" }, { PAGE_EXECUTE_READ, "r-x" },
  { PAGE_EXECUTE_READWRITE, "rwx" }, { PAGE_EXECUTE_WRITECOPY, "rwx" }, { 0, NULL }
};
#if HAVE_LINUX_CLASSES
static const EnumName fd_kind_names[] = {
  { PSS_LINUX_FD_UNKNOWN, "unknown" }, { PSS_LINUX_FD_FILE, "file" },
  { PSS_LINUX_FD_DIRECTORY, "directory" }, { PSS_LINUX_FD_DEVICE, "device" },
  { PSS_LINUX_FD_PIPE, "pipe" }, { PSS_LINUX_FD_FIFO, "fifo" },
  { PSS_LINUX_FD_SOCKET, "socket" }, { PSS_LINUX_FD_EVENTFD, "eventfd" },
  { PSS_LINUX_FD_TIMERFD, "timerfd" }, { PSS_LINUX_FD_SIGNALFD, "signalfd" },
  { PSS_LINUX_FD_EPOLL, "epoll" }, { PSS_LINUX_FD_INOTIFY, "inotify" },
  { PSS_LINUX_FD_FANOTIFY, "fanotify" }, { PSS_LINUX_FD_PIDFD, "pidfd" },
  { PSS_LINUX_FD_MEMFD, "memfd" }, { PSS_LINUX_FD_ANON_INODE, "anon_inode" }, { 0, NULL }
};
static const EnumName frame_method_names[] = {
  { PSS_LINUX_FRAME_CONTEXT, "context" }, { PSS_LINUX_FRAME_CFI, "cfi" },
  { PSS_LINUX_FRAME_FALLBACK, "fallback" }, { 0, NULL }
};
#else
static const EnumName fd_kind_names[] = { { 0, NULL } };
static const EnumName frame_method_names[] = { { 0, NULL } };
#endif
static const EnumName *const enum_tables[] = {
  object_type_names, state_names, mem_type_names, priority_class_names, fd_kind_names,
  protect_names, frame_method_names
};

#define FLD(name, type, S, member) { name, type, offsetof(S, member), 0 }
#define STR(name, type, S, member, len) { name, type, offsetof(S, member), offsetof(S, len) }
#define ENUMF(name, S, member, table) { name, F_ENUM, offsetof(S, member), table }

static const Field process_fields[] = {
  FLD("exit_status", F_U32, PSS_PROCESS_INFORMATION, ExitStatus),
  FLD("peb_base_address", F_PTR, PSS_PROCESS_INFORMATION, PebBaseAddress),
  FLD("affinity_mask", F_U64, PSS_PROCESS_INFORMATION, AffinityMask),
  FLD("base_priority", F_I32, PSS_PROCESS_INFORMATION, BasePriority),
  FLD("pid", F_U32, PSS_PROCESS_INFORMATION, ProcessId),
  FLD("parent_pid", F_U32, PSS_PROCESS_INFORMATION, ParentProcessId),
  FLD("flags", F_U32, PSS_PROCESS_INFORMATION, Flags),
  FLD("create_time", F_TIME, PSS_PROCESS_INFORMATION, CreateTime),
  FLD("exit_time", F_TIME, PSS_PROCESS_INFORMATION, ExitTime),
  FLD("kernel_time", F_SECONDS, PSS_PROCESS_INFORMATION, KernelTime),
  FLD("user_time", F_SECONDS, PSS_PROCESS_INFORMATION, UserTime),
  ENUMF("priority_class", PSS_PROCESS_INFORMATION, PriorityClass, ENUM_PRIORITY_CLASS),
  FLD("peak_virtual_size", F_U64, PSS_PROCESS_INFORMATION, PeakVirtualSize),
  FLD("virtual_size", F_U64, PSS_PROCESS_INFORMATION, VirtualSize),
  FLD("page_fault_count", F_U32, PSS_PROCESS_INFORMATION, PageFaultCount),
  FLD("peak_working_set_size", F_U64, PSS_PROCESS_INFORMATION, PeakWorkingSetSize),
  FLD("working_set_size", F_U64, PSS_PROCESS_INFORMATION, WorkingSetSize),
  FLD("quota_peak_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPeakPagedPoolUsage),
  FLD("quota_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPagedPoolUsage),
  FLD("quota_peak_non_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaPeakNonPagedPoolUsage),
  FLD("quota_non_paged_pool_usage", F_U64, PSS_PROCESS_INFORMATION, QuotaNonPagedPoolUsage),
  FLD("pagefile_usage", F_U64, PSS_PROCESS_INFORMATION, PagefileUsage),
  FLD("peak_pagefile_usage", F_U64, PSS_PROCESS_INFORMATION, PeakPagefileUsage),
  FLD("private_usage", F_U64, PSS_PROCESS_INFORMATION, PrivateUsage),
  FLD("execute_flags", F_U32, PSS_PROCESS_INFORMATION, ExecuteFlags),
  { "image_file_name", F_WARRAY, offsetof(PSS_PROCESS_INFORMATION, ImageFileName), 260 },
};

static const Field thread_fields[] = {
  FLD("exit_status", F_U32, PSS_THREAD_ENTRY, ExitStatus),
  FLD("teb_base_address", F_PTR, PSS_THREAD_ENTRY, TebBaseAddress),
  FLD("pid", F_U32, PSS_THREAD_ENTRY, ProcessId),
  FLD("tid", F_U32, PSS_THREAD_ENTRY, ThreadId),
  FLD("affinity_mask", F_U64, PSS_THREAD_ENTRY, AffinityMask),
  FLD("priority", F_I32, PSS_THREAD_ENTRY, Priority),
  FLD("base_priority", F_I32, PSS_THREAD_ENTRY, BasePriority),
  FLD("last_syscall_first_argument", F_PTR, PSS_THREAD_ENTRY, LastSyscallFirstArgument),
  FLD("last_syscall_number", F_U16, PSS_THREAD_ENTRY, LastSyscallNumber),
  FLD("create_time", F_TIME, PSS_THREAD_ENTRY, CreateTime),
  FLD("exit_time", F_TIME, PSS_THREAD_ENTRY, ExitTime),
  FLD("kernel_time", F_SECONDS, PSS_THREAD_ENTRY, KernelTime),
  FLD("user_time", F_SECONDS, PSS_THREAD_ENTRY, UserTime),
  FLD("win32_start_address", F_PTR, PSS_THREAD_ENTRY, Win32StartAddress),
  FLD("capture_time", F_TIME, PSS_THREAD_ENTRY, CaptureTime),
  FLD("flags", F_U32, PSS_THREAD_ENTRY, Flags),
  FLD("suspend_count", F_U16, PSS_THREAD_ENTRY, SuspendCount),
  FLD("size_of_context_record", F_U16, PSS_THREAD_ENTRY, SizeOfContextRecord),
};

static const Field handle_fields[] = {
  FLD("handle", F_PTR, PSS_HANDLE_ENTRY, Handle),
  FLD("flags", F_U32, PSS_HANDLE_ENTRY, Flags),
  ENUMF("object_type", PSS_HANDLE_ENTRY, ObjectType, ENUM_OBJECT_TYPE),
  FLD("capture_time", F_TIME, PSS_HANDLE_ENTRY, CaptureTime),
  STR("type_name", F_WSTR, PSS_HANDLE_ENTRY, TypeName, TypeNameLength),
  STR("object_name", F_WSTR, PSS_HANDLE_ENTRY, ObjectName, ObjectNameLength),
};

/* present only with PSS_HANDLE_HAVE_BASIC_INFORMATION */
static const Field handle_basic_fields[] = {
  FLD("attributes", F_U32, PSS_HANDLE_ENTRY, Attributes),
  FLD("granted_access", F_U32, PSS_HANDLE_ENTRY, GrantedAccess),
  FLD("handle_count", F_U32, PSS_HANDLE_ENTRY, HandleCount),
  FLD("pointer_count", F_U32, PSS_HANDLE_ENTRY, PointerCount),
  FLD("paged_pool_charge", F_U32, PSS_HANDLE_ENTRY, PagedPoolCharge),
  FLD("non_paged_pool_charge", F_U32, PSS_HANDLE_ENTRY, NonPagedPoolCharge),
  FLD("creation_time", F_TIME, PSS_HANDLE_ENTRY, CreationTime),
};

#define TSI(arm, m) TypeSpecificInformation.arm.m
static const Field process_arm_fields[] = {
  FLD("exit_status", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ExitStatus)),
  FLD("peb_base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Process, PebBaseAddress)),
  FLD("affinity_mask", F_U64, PSS_HANDLE_ENTRY, TSI(Process, AffinityMask)),
  FLD("base_priority", F_I32, PSS_HANDLE_ENTRY, TSI(Process, BasePriority)),
  FLD("pid", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ProcessId)),
  FLD("parent_pid", F_U32, PSS_HANDLE_ENTRY, TSI(Process, ParentProcessId)),
  FLD("flags", F_U32, PSS_HANDLE_ENTRY, TSI(Process, Flags)),
};
static const Field thread_arm_fields[] = {
  FLD("exit_status", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ExitStatus)),
  FLD("teb_base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Thread, TebBaseAddress)),
  FLD("pid", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ProcessId)),
  FLD("tid", F_U32, PSS_HANDLE_ENTRY, TSI(Thread, ThreadId)),
  FLD("affinity_mask", F_U64, PSS_HANDLE_ENTRY, TSI(Thread, AffinityMask)),
  FLD("priority", F_I32, PSS_HANDLE_ENTRY, TSI(Thread, Priority)),
  FLD("base_priority", F_I32, PSS_HANDLE_ENTRY, TSI(Thread, BasePriority)),
  FLD("win32_start_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Thread, Win32StartAddress)),
};
static const Field mutant_arm_fields[] = {
  FLD("current_count", F_I32, PSS_HANDLE_ENTRY, TSI(Mutant, CurrentCount)),
  FLD("abandoned", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Mutant, Abandoned)),
  FLD("owner_pid", F_U32, PSS_HANDLE_ENTRY, TSI(Mutant, OwnerProcessId)),
  FLD("owner_tid", F_U32, PSS_HANDLE_ENTRY, TSI(Mutant, OwnerThreadId)),
};
static const Field event_arm_fields[] = {
  FLD("manual_reset", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Event, ManualReset)),
  FLD("signaled", F_BOOL32, PSS_HANDLE_ENTRY, TSI(Event, Signaled)),
};
static const Field section_arm_fields[] = {
  FLD("base_address", F_PTR, PSS_HANDLE_ENTRY, TSI(Section, BaseAddress)),
  FLD("allocation_attributes", F_U32, PSS_HANDLE_ENTRY, TSI(Section, AllocationAttributes)),
  FLD("maximum_size", F_U64, PSS_HANDLE_ENTRY, TSI(Section, MaximumSize)),
};
static const Field semaphore_arm_fields[] = {
  FLD("current_count", F_I32, PSS_HANDLE_ENTRY, TSI(Semaphore, CurrentCount)),
  FLD("maximum_count", F_I32, PSS_HANDLE_ENTRY, TSI(Semaphore, MaximumCount)),
};

static const Field region_fields[] = {
  FLD("base_address", F_PTR, PSS_VA_SPACE_ENTRY, BaseAddress),
  FLD("allocation_base", F_PTR, PSS_VA_SPACE_ENTRY, AllocationBase),
  ENUMF("allocation_protect", PSS_VA_SPACE_ENTRY, AllocationProtect, ENUM_PROTECT),
  FLD("region_size", F_U64, PSS_VA_SPACE_ENTRY, RegionSize),
  ENUMF("state", PSS_VA_SPACE_ENTRY, State, ENUM_STATE),
  ENUMF("protect", PSS_VA_SPACE_ENTRY, Protect, ENUM_PROTECT),
  ENUMF("type", PSS_VA_SPACE_ENTRY, Type, ENUM_MEM_TYPE),
  STR("mapped_file_name", F_WSTR, PSS_VA_SPACE_ENTRY, MappedFileName, MappedFileNameLength),
};

/* the PE header fields: defined for MEM_IMAGE regions only */
static const Field region_image_fields[] = {
  FLD("time_date_stamp", F_U32, PSS_VA_SPACE_ENTRY, TimeDateStamp),
  FLD("size_of_image", F_U32, PSS_VA_SPACE_ENTRY, SizeOfImage),
  FLD("image_base", F_PTR, PSS_VA_SPACE_ENTRY, ImageBase),
  FLD("check_sum", F_U32, PSS_VA_SPACE_ENTRY, CheckSum),
};

/* an auxiliary page and the region it belongs to (its BasicInformation) */
#define MBI(m) BasicInformation.m
static const Field aux_page_fields[] = {
  FLD("address", F_PTR, PSS_AUXILIARY_PAGE_ENTRY, Address),
  FLD("page_size", F_U32, PSS_AUXILIARY_PAGE_ENTRY, PageSize),
  FLD("capture_time", F_TIME, PSS_AUXILIARY_PAGE_ENTRY, CaptureTime),
  FLD("base_address", F_PTR, PSS_AUXILIARY_PAGE_ENTRY, MBI(BaseAddress)),
  FLD("allocation_base", F_PTR, PSS_AUXILIARY_PAGE_ENTRY, MBI(AllocationBase)),
  ENUMF("allocation_protect", PSS_AUXILIARY_PAGE_ENTRY, MBI(AllocationProtect), ENUM_PROTECT),
  FLD("region_size", F_U64, PSS_AUXILIARY_PAGE_ENTRY, MBI(RegionSize)),
  ENUMF("state", PSS_AUXILIARY_PAGE_ENTRY, MBI(State), ENUM_STATE),
  ENUMF("protect", PSS_AUXILIARY_PAGE_ENTRY, MBI(Protect), ENUM_PROTECT),
  ENUMF("type", PSS_AUXILIARY_PAGE_ENTRY, MBI(Type), ENUM_MEM_TYPE),
};
#undef MBI

static const Field thread_name_fields[] = {
  STR("thread_name", F_WSTR, PSS_THREAD_NAME, ThreadName, ThreadNameSize),
};

static const Field performance_fields[] = {
  FLD("total_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, TotalCycleCount),
  FLD("total_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, TotalWallClockPeriod),
  FLD("va_clone_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, VaCloneCycleCount),
  FLD("va_clone_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, VaCloneWallClockPeriod),
  FLD("va_space_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, VaSpaceCycleCount),
  FLD("va_space_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, VaSpaceWallClockPeriod),
  FLD("aux_pages_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, AuxPagesCycleCount),
  FLD("aux_pages_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, AuxPagesWallClockPeriod),
  FLD("handles_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, HandlesCycleCount),
  FLD("handles_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, HandlesWallClockPeriod),
  FLD("threads_cycle_count", F_U64, PSS_PERFORMANCE_COUNTERS, ThreadsCycleCount),
  FLD("threads_wall_clock_period", F_MICROS, PSS_PERFORMANCE_COUNTERS, ThreadsWallClockPeriod),
};

#if HAVE_LINUX_CLASSES
static const Field linux_process_fields[] = {
  FLD("state", F_CHAR, PSS_LINUX_PROCESS_INFORMATION, State),
  FLD("nice", F_I32, PSS_LINUX_PROCESS_INFORMATION, Nice),
  FLD("policy", F_U32, PSS_LINUX_PROCESS_INFORMATION, Policy),
  FLD("realtime_priority", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealtimePriority),
  FLD("thread_count", F_U32, PSS_LINUX_PROCESS_INFORMATION, ThreadCount),
  FLD("process_group_id", F_U32, PSS_LINUX_PROCESS_INFORMATION, ProcessGroupId),
  FLD("session_id", F_U32, PSS_LINUX_PROCESS_INFORMATION, SessionId),
  FLD("uid", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealUserId),
  FLD("euid", F_U32, PSS_LINUX_PROCESS_INFORMATION, EffectiveUserId),
  FLD("gid", F_U32, PSS_LINUX_PROCESS_INFORMATION, RealGroupId),
  FLD("egid", F_U32, PSS_LINUX_PROCESS_INFORMATION, EffectiveGroupId),
  FLD("exit_code", F_U32, PSS_LINUX_PROCESS_INFORMATION, ExitCode),
  FLD("personality", F_U32, PSS_LINUX_PROCESS_INFORMATION, Personality),
  FLD("start_time_ticks", F_U64, PSS_LINUX_PROCESS_INFORMATION, StartTimeTicks),
  FLD("minor_faults", F_U64, PSS_LINUX_PROCESS_INFORMATION, MinorFaults),
  FLD("major_faults", F_U64, PSS_LINUX_PROCESS_INFORMATION, MajorFaults),
  FLD("resident_anon", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentAnon),
  FLD("resident_file", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentFile),
  FLD("resident_shmem", F_U64, PSS_LINUX_PROCESS_INFORMATION, ResidentShmem),
  FLD("entry_point", F_U64, PSS_LINUX_PROCESS_INFORMATION, EntryPoint),
  STR("comm", F_BYTES, PSS_LINUX_PROCESS_INFORMATION, Comm, CommLength),
};

static const Field linux_thread_fields[] = {
  FLD("state", F_CHAR, PSS_LINUX_THREAD_ENTRY, State),
  FLD("nice", F_I32, PSS_LINUX_THREAD_ENTRY, Nice),
  FLD("policy", F_U32, PSS_LINUX_THREAD_ENTRY, Policy),
  FLD("realtime_priority", F_U32, PSS_LINUX_THREAD_ENTRY, RealtimePriority),
  FLD("processor", F_I32, PSS_LINUX_THREAD_ENTRY, Processor),
  FLD("syscall_number", F_I32, PSS_LINUX_THREAD_ENTRY, SyscallNumber),
  FLD("last_syscall_stack_pointer", F_U64, PSS_LINUX_THREAD_ENTRY, LastSyscallStackPointer),
  FLD("last_syscall_program_counter", F_U64, PSS_LINUX_THREAD_ENTRY, LastSyscallProgramCounter),
  FLD("minor_faults", F_U64, PSS_LINUX_THREAD_ENTRY, MinorFaults),
  FLD("major_faults", F_U64, PSS_LINUX_THREAD_ENTRY, MajorFaults),
  FLD("context_registers", F_U32, PSS_LINUX_THREAD_ENTRY, ContextRegisters),
  STR("name", F_BYTES, PSS_LINUX_THREAD_ENTRY, Name, NameLength),
};

static const Field linux_handle_fields[] = {
  ENUMF("kind", PSS_LINUX_HANDLE_ENTRY, Kind, ENUM_FD_KIND),
  STR("target", F_BYTES, PSS_LINUX_HANDLE_ENTRY, Target, TargetLength),
};

/* present with PSS_HANDLE_HAVE_BASIC_INFORMATION (they come from fdinfo) */
static const Field linux_handle_basic_fields[] = {
  FLD("open_flags", F_U32, PSS_LINUX_HANDLE_ENTRY, OpenFlags),
  FLD("position", F_U64, PSS_LINUX_HANDLE_ENTRY, Position),
  FLD("inode", F_U64, PSS_LINUX_HANDLE_ENTRY, Inode),
  FLD("mount_id", F_U32, PSS_LINUX_HANDLE_ENTRY, MountId),
  FLD("count", F_U64, PSS_LINUX_HANDLE_ENTRY, Count),
};

static const Field linux_region_fields[] = {
  FLD("offset", F_U64, PSS_LINUX_VA_SPACE_ENTRY, Offset),
  FLD("inode", F_U64, PSS_LINUX_VA_SPACE_ENTRY, Inode),
  FLD("device_major", F_U32, PSS_LINUX_VA_SPACE_ENTRY, DeviceMajor),
  FLD("device_minor", F_U32, PSS_LINUX_VA_SPACE_ENTRY, DeviceMinor),
  STR("path", F_BYTES, PSS_LINUX_VA_SPACE_ENTRY, Path, PathLength),
};

/* PSS_LINUX_MEMORY_USAGE: a region's Usage, the process record's totals
** (both present only with the memory_usage option); bytes, named as the
** smaps lines they come from */
#define USAGE(name, member) FLD(name, F_U64, PSS_LINUX_MEMORY_USAGE, member)
static const Field usage_fields[] = {
  USAGE("rss", Rss), USAGE("pss", Pss), USAGE("pss_dirty", PssDirty),
  USAGE("shared_clean", SharedClean), USAGE("shared_dirty", SharedDirty),
  USAGE("private_clean", PrivateClean), USAGE("private_dirty", PrivateDirty),
  USAGE("referenced", Referenced), USAGE("anonymous", Anonymous), USAGE("ksm", Ksm),
  USAGE("lazy_free", LazyFree), USAGE("anon_huge_pages", AnonHugePages),
  USAGE("shmem_pmd_mapped", ShmemPmdMapped), USAGE("file_pmd_mapped", FilePmdMapped),
  USAGE("shared_hugetlb", SharedHugetlb), USAGE("private_hugetlb", PrivateHugetlb),
  USAGE("swap", Swap), USAGE("swap_pss", SwapPss), USAGE("locked", Locked),
};
#undef USAGE

/* a frame of snap:stack; what is not known is absent (lpss_stack.c adds
** module_offset, offset, build_id and activation) */
static const Field frame_fields[] = {
  FLD("pc", F_U64, PSS_LINUX_STACK_FRAME, ProgramCounter),
  STR("module", F_TEXT, PSS_LINUX_STACK_FRAME, ModulePath, ModulePathLength),
  FLD("module_start", F_NZ64, PSS_LINUX_STACK_FRAME, ModuleStart),
  STR("symbol", F_TEXT, PSS_LINUX_STACK_FRAME, Symbol, SymbolLength),
  STR("file", F_TEXT, PSS_LINUX_STACK_FRAME, SourceFile, SourceFileLength),
  FLD("line", F_NZ32, PSS_LINUX_STACK_FRAME, Line),
  FLD("column", F_NZ32, PSS_LINUX_STACK_FRAME, Column),
  { "method", F_ENUM8, offsetof(PSS_LINUX_STACK_FRAME, Method), ENUM_FRAME_METHOD },
};
#endif

#if defined(__x86_64__)
#if HAVE_LINUX_CLASSES
_Static_assert(PSS_LINUX_REGISTER_RAX == 1u << RB_RAX && PSS_LINUX_REGISTER_RSP == 1u << RB_RSP
               && PSS_LINUX_REGISTER_R15 == 1u << RB_R15 && PSS_LINUX_REGISTER_RIP == 1u << RB_RIP
               && PSS_LINUX_REGISTER_EFLAGS == 1u << RB_EFLAGS
               && PSS_LINUX_REGISTER_SEGMENTS == 1u << RB_SEGMENTS
               && PSS_LINUX_REGISTER_FLOATING == 1u << RB_FLOATING
               && PSS_LINUX_REGISTER_DEBUG == 1u << RB_DEBUG
               && PSS_LINUX_REGISTER_XSTATE == 1u << RB_XSTATE, "PSS_LINUX_REGISTER_* bits");
#endif

/* CONTEXT registers, named as the Linux/x86-64 registers are; aux is 1 +
** the register's bit (0: always there) */
#define REG(name, type, member, bit) { name, type, offsetof(CONTEXT, member), (bit) + 1 }
static const Field context_fields[] = {
  FLD("context_flags", F_U32, CONTEXT, ContextFlags),
  REG("mxcsr", F_U32, MxCsr, RB_FLOATING),
  REG("cs", F_U16, SegCs, RB_SEGMENTS), REG("ds", F_U16, SegDs, RB_SEGMENTS),
  REG("es", F_U16, SegEs, RB_SEGMENTS), REG("fs", F_U16, SegFs, RB_SEGMENTS),
  REG("gs", F_U16, SegGs, RB_SEGMENTS), REG("ss", F_U16, SegSs, RB_SEGMENTS),
  REG("eflags", F_U32, EFlags, RB_EFLAGS),
  REG("dr0", F_U64, Dr0, RB_DEBUG), REG("dr1", F_U64, Dr1, RB_DEBUG),
  REG("dr2", F_U64, Dr2, RB_DEBUG), REG("dr3", F_U64, Dr3, RB_DEBUG),
  REG("dr6", F_U64, Dr6, RB_DEBUG), REG("dr7", F_U64, Dr7, RB_DEBUG),
  REG("rax", F_U64, Rax, RB_RAX), REG("rcx", F_U64, Rcx, RB_RCX),
  REG("rdx", F_U64, Rdx, RB_RDX), REG("rbx", F_U64, Rbx, RB_RBX),
  REG("rsp", F_U64, Rsp, RB_RSP), REG("rbp", F_U64, Rbp, RB_RBP),
  REG("rsi", F_U64, Rsi, RB_RSI), REG("rdi", F_U64, Rdi, RB_RDI),
  REG("r8", F_U64, R8, RB_R8), REG("r9", F_U64, R9, RB_R9),
  REG("r10", F_U64, R10, RB_R10), REG("r11", F_U64, R11, RB_R11),
  REG("r12", F_U64, R12, RB_R12), REG("r13", F_U64, R13, RB_R13),
  REG("r14", F_U64, R14, RB_R14), REG("r15", F_U64, R15, RB_R15),
  REG("rip", F_U64, Rip, RB_RIP),
};
#undef REG
#endif

#if HAVE_LINUX_CLASSES
/* how long the target was stopped (PSS_QUERY_LINUX_PERFORMANCE_COUNTERS) */
static const Field freeze_fields[] = {
  FLD("freeze_cycle_count", F_U64, PSS_LINUX_PERFORMANCE_COUNTERS, FreezeCycleCount),
  FLD("freeze_wall_clock_period", F_MICROS, PSS_LINUX_PERFORMANCE_COUNTERS, FreezeWallClockPeriod),
  FLD("threads_frozen", F_U32, PSS_LINUX_PERFORMANCE_COUNTERS, ThreadsFrozen),
};
#endif
/* }====================================================================== */


/* {======================================================================
** Keys
**
** Every field name -- and NAME_flags for each enumeration -- is interned
** once per state in an array in the registry, at fixed positions known at
** compile time, so filling an entry is rawgeti + rawset and never hashes
** or compares a C string (which took a quarter of a walk).
** ======================================================================= */

/* the names of the keys no field table has (enum extra_key, lpss.h) */
static const char *const extra_names[K_EXTRAS] = {
  "", "terminated", "syscall_state", "last_syscall_arguments", "access", "cloexec",
  "nonblock", "append", "socket_family", "socket_type", "socket_protocol", "socket_state",
  "protect", "protected", "wow64", "frozen", "argv", "command_line_truncated", "capture_mode",
  "not_frozen", "process",
  "thread", "mutant", "event", "section", "semaphore", "context", "fs_base", "fltsave",
  "xstate", "clone", "build_id", "contents", "module_offset", "offset", "activation"
};

#define AFTER(prev, arr) ((prev) + 2 * NFIELDS(arr))
#define B_PROCESS K_EXTRAS
#define B_THREAD AFTER(B_PROCESS, process_fields)
#define B_HANDLE AFTER(B_THREAD, thread_fields)
#define B_HANDLE_BASIC AFTER(B_HANDLE, handle_fields)
#define B_PROCESS_ARM AFTER(B_HANDLE_BASIC, handle_basic_fields)
#define B_THREAD_ARM AFTER(B_PROCESS_ARM, process_arm_fields)
#define B_MUTANT_ARM AFTER(B_THREAD_ARM, thread_arm_fields)
#define B_EVENT_ARM AFTER(B_MUTANT_ARM, mutant_arm_fields)
#define B_SECTION_ARM AFTER(B_EVENT_ARM, event_arm_fields)
#define B_SEMAPHORE_ARM AFTER(B_SECTION_ARM, section_arm_fields)
#define B_REGION AFTER(B_SEMAPHORE_ARM, semaphore_arm_fields)
#define B_REGION_IMAGE AFTER(B_REGION, region_fields)
#define B_THREAD_NAME AFTER(B_REGION_IMAGE, region_image_fields)
#define B_PERFORMANCE AFTER(B_THREAD_NAME, thread_name_fields)
#define B_AUX_PAGE AFTER(B_PERFORMANCE, performance_fields)
#define B_COMMON_END AFTER(B_AUX_PAGE, aux_page_fields)
/* then the names of every enumeration's values, table after table */
#if defined(__x86_64__)
#define B_CONTEXT B_COMMON_END
#define B_CONTEXT_END AFTER(B_CONTEXT, context_fields)
#else
#define B_CONTEXT_END B_COMMON_END
#endif
#if HAVE_LINUX_CLASSES
#define B_LINUX_PROCESS B_CONTEXT_END
#define B_LINUX_THREAD AFTER(B_LINUX_PROCESS, linux_process_fields)
#define B_LINUX_HANDLE AFTER(B_LINUX_THREAD, linux_thread_fields)
#define B_LINUX_HANDLE_BASIC AFTER(B_LINUX_HANDLE, linux_handle_fields)
#define B_LINUX_REGION AFTER(B_LINUX_HANDLE_BASIC, linux_handle_basic_fields)
#define B_FREEZE AFTER(B_LINUX_REGION, linux_region_fields)
#define B_FRAME AFTER(B_FREEZE, freeze_fields)
#define B_USAGE AFTER(B_FRAME, frame_fields)
#define B_END AFTER(B_USAGE, usage_fields)
#else
#define B_END B_CONTEXT_END
#endif
#define E_OBJECT_TYPE B_END
#define E_STATE (E_OBJECT_TYPE + NFIELDS(object_type_names))
#define E_MEM_TYPE (E_STATE + NFIELDS(state_names))
#define E_PRIORITY_CLASS (E_MEM_TYPE + NFIELDS(mem_type_names))
#define E_FD_KIND (E_PRIORITY_CLASS + NFIELDS(priority_class_names))
#define E_PROTECT (E_FD_KIND + NFIELDS(fd_kind_names))
#define E_FRAME_METHOD (E_PROTECT + NFIELDS(protect_names))
#define KEYS_END (E_FRAME_METHOD + NFIELDS(frame_method_names))
/* in the order of enum_tables */
static const int enum_bases[] = { E_OBJECT_TYPE, E_STATE, E_MEM_TYPE, E_PRIORITY_CLASS,
                                  E_FD_KIND, E_PROTECT, E_FRAME_METHOD };

#define SET(record, arr, base) { record, arr, (unsigned short)NFIELDS(arr), (unsigned short)(base) }
const FieldSet lpss_fs_process = SET("process", process_fields, B_PROCESS);
const FieldSet lpss_fs_thread = SET("thread", thread_fields, B_THREAD);
const FieldSet lpss_fs_handle = SET("handle", handle_fields, B_HANDLE);
const FieldSet lpss_fs_handle_basic = SET("handle", handle_basic_fields, B_HANDLE_BASIC);
const FieldSet lpss_fs_process_arm = SET("process_arm", process_arm_fields, B_PROCESS_ARM);
const FieldSet lpss_fs_thread_arm = SET("thread_arm", thread_arm_fields, B_THREAD_ARM);
const FieldSet lpss_fs_mutant_arm = SET("mutant_arm", mutant_arm_fields, B_MUTANT_ARM);
const FieldSet lpss_fs_event_arm = SET("event_arm", event_arm_fields, B_EVENT_ARM);
const FieldSet lpss_fs_section_arm = SET("section_arm", section_arm_fields, B_SECTION_ARM);
const FieldSet lpss_fs_semaphore_arm = SET("semaphore_arm", semaphore_arm_fields, B_SEMAPHORE_ARM);
const FieldSet lpss_fs_region = SET("region", region_fields, B_REGION);
const FieldSet lpss_fs_region_image = SET("region", region_image_fields, B_REGION_IMAGE);
const FieldSet lpss_fs_thread_name = SET("thread_name", thread_name_fields, B_THREAD_NAME);
const FieldSet lpss_fs_performance = SET("performance", performance_fields, B_PERFORMANCE);
const FieldSet lpss_fs_aux_page = SET("auxiliary_page", aux_page_fields, B_AUX_PAGE);
#if defined(__x86_64__)
const FieldSet lpss_fs_context = SET("context", context_fields, B_CONTEXT);
#endif
#if HAVE_LINUX_CLASSES
const FieldSet lpss_fs_linux_process = SET("process", linux_process_fields, B_LINUX_PROCESS);
const FieldSet lpss_fs_linux_thread = SET("thread", linux_thread_fields, B_LINUX_THREAD);
const FieldSet lpss_fs_linux_handle = SET("handle", linux_handle_fields, B_LINUX_HANDLE);
const FieldSet lpss_fs_linux_handle_basic =
  SET("handle", linux_handle_basic_fields, B_LINUX_HANDLE_BASIC);
const FieldSet lpss_fs_linux_region = SET("region", linux_region_fields, B_LINUX_REGION);
const FieldSet lpss_fs_freeze = SET("performance", freeze_fields, B_FREEZE);
const FieldSet lpss_fs_frame = SET("frame", frame_fields, B_FRAME);
/* one array of keys for both records */
const FieldSet lpss_fs_region_usage = SET("region", usage_fields, B_USAGE);
const FieldSet lpss_fs_process_usage = SET("process", usage_fields, B_USAGE);
#endif

static const FieldSet *const field_sets[] = {
  &lpss_fs_process, &lpss_fs_thread, &lpss_fs_handle, &lpss_fs_handle_basic,
  &lpss_fs_process_arm, &lpss_fs_thread_arm, &lpss_fs_mutant_arm, &lpss_fs_event_arm,
  &lpss_fs_section_arm, &lpss_fs_semaphore_arm, &lpss_fs_region, &lpss_fs_region_image,
  &lpss_fs_thread_name, &lpss_fs_performance, &lpss_fs_aux_page,
#if defined(__x86_64__)
  &lpss_fs_context,
#endif
#if HAVE_LINUX_CLASSES
  &lpss_fs_linux_process, &lpss_fs_linux_thread, &lpss_fs_linux_handle,
  &lpss_fs_linux_handle_basic, &lpss_fs_linux_region, &lpss_fs_freeze, &lpss_fs_frame,
  &lpss_fs_region_usage, &lpss_fs_process_usage,
#endif
  NULL
};

static const char keys_key = 0;   /* the registry slot of the key array */

void lpss_build_keys (lua_State *L) {
  const FieldSet *const *fs;
  const EnumName *e;
  size_t k;
  int i;
  lua_createtable(L, KEYS_END, 0);
  for (i = 1; i < K_EXTRAS; i++) {
    lua_pushstring(L, extra_names[i]);
    lua_rawseti(L, -2, i);
  }
  for (fs = field_sets; *fs != NULL; fs++)
    for (i = 0; i < (*fs)->n; i++) {
      lua_pushstring(L, (*fs)->fields[i].name);
      lua_rawseti(L, -2, (*fs)->base + 2 * i);
      lua_pushfstring(L, "%s_flags", (*fs)->fields[i].name);
      lua_rawseti(L, -2, (*fs)->base + 2 * i + 1);
    }
  for (k = 0; k < NFIELDS(enum_tables); k++)
    for (e = enum_tables[k], i = 0; e[i].name != NULL; i++) {
      lua_pushstring(L, e[i].name);
      lua_rawseti(L, -2, enum_bases[k] + i);
    }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &keys_key);
}

/* Pushes the key array; returns its index. */
int lpss_push_keys (lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &keys_key);
  return lua_gettop(L);
}

/* t[keys[k]] = the value on top of the stack (which is popped) */
void lpss_set_key (lua_State *L, int keys, int t, int k) {
  lua_rawgeti(L, keys, k);
  lua_insert(L, -2);
  lua_rawset(L, t);
}

/* Sets t.NAME_flags to the raw value; pushes the decoded name. */
static void push_enum (lua_State *L, int keys, int t, int flags_key, const Field *f, DWORD v) {
  const EnumName *e = enum_tables[f->aux];
  int i;
  for (i = 0; e[i].name != NULL; i++)
    if (e[i].value == v) break;
  lua_rawgeti(L, keys, flags_key);
  lua_pushinteger(L, v);
  lua_rawset(L, t);
  if (e[i].name != NULL) lua_rawgeti(L, keys, enum_bases[f->aux] + i);
  else lua_pushfstring(L, "0x%p", (void *)(uintptr_t)v);
}

static double filetime_value (const void *p) {
  FILETIME ft;
  memcpy(&ft, p, sizeof ft);
  return (double)((uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime);
}

/* Pushes the value of one field; returns 0 when it is absent (nil). */
int lpss_push_field (lua_State *L, int keys, int t, int flags_key, const Field *f,
                     const char *base) {
  const char *p = base + f->off;
  uint16_t u16; uint32_t u32; int32_t i32; uint64_t u64; uintptr_t ptr;
  WORD len;
  switch (f->type) {
    case F_U16: memcpy(&u16, p, 2); lua_pushinteger(L, u16); return 1;
    case F_U32: memcpy(&u32, p, 4); lua_pushinteger(L, u32); return 1;
    case F_I32: memcpy(&i32, p, 4); lua_pushinteger(L, i32); return 1;
    case F_U64: memcpy(&u64, p, 8); lua_pushinteger(L, (lua_Integer)u64); return 1;
    case F_PTR: memcpy(&ptr, p, sizeof ptr); lua_pushinteger(L, (lua_Integer)ptr); return 1;
    case F_CHAR: if (*p == 0) return 0; lua_pushlstring(L, p, 1); return 1;
    case F_BOOL32: memcpy(&i32, p, 4); lua_pushboolean(L, i32 != 0); return 1;
    case F_NZ32:
      memcpy(&u32, p, 4); if (u32 == 0) return 0; lua_pushinteger(L, u32); return 1;
    case F_NZ64:
      memcpy(&u64, p, 8); if (u64 == 0) return 0; lua_pushinteger(L, (lua_Integer)u64); return 1;
    case F_MICROS:
      memcpy(&u64, p, 8); lua_pushnumber(L, (double)u64 / PSS_PERF_RESOLUTION); return 1;
    case F_SECONDS: lua_pushnumber(L, filetime_value(p) / 1e7); return 1;
    case F_TIME: {
      double ft = filetime_value(p);
      if (ft == 0) return 0;
      lua_pushnumber(L, (ft - 116444736000000000.0) / 1e7);
      return 1;
    }
    case F_ENUM: memcpy(&u32, p, 4); push_enum(L, keys, t, flags_key, f, u32); return 1;
    case F_ENUM8: push_enum(L, keys, t, flags_key, f, (unsigned char)*p); return 1;
    case F_WARRAY: {
      const WCHAR *w = (const WCHAR *)(const void *)p;
      size_t n = 0;
      while (n < f->aux && w[n] != 0) n++;
      lpss_push_wide(L, w, n);
      return 1;
    }
    case F_WSTR: case F_BYTES: case F_TEXT: {
      const void *s;
      memcpy(&s, p, sizeof s);
      memcpy(&len, base + f->aux, sizeof len);
      if (s == NULL || (f->type == F_TEXT && len == 0)) return 0;
      if (f->type == F_WSTR) lpss_push_wide(L, s, len / 2);
      else lua_pushlstring(L, s, len);
      return 1;
    }
    default: return 0;
  }
}

/* Sets every field of the set into table t. */
void lpss_set_fields (lua_State *L, int keys, int t, const FieldSet *fs, const void *record) {
  int i;
  for (i = 0; i < fs->n; i++) {
    lua_rawgeti(L, keys, fs->base + 2 * i);
    if (lpss_push_field(L, keys, t, fs->base + 2 * i + 1, &fs->fields[i], record))
      lua_rawset(L, t);
    else lua_pop(L, 1);
  }
}
/* }====================================================================== */


/* {======================================================================
** pss.fields
** ======================================================================= */

/*
** core.fields(record) -> the list of field names a record may have
** ("process", "thread", "handle", "region", "thread_name", "performance",
** "process_arm", "event_arm", ...), straight from the tables that fill
** them, so specs can check that the docs list every one.
*/
int lpss_fields (lua_State *L) {
  static const struct { const char *record; int from, to; } extras[] = {
    { "process", K_PROTECTED, K_FROZEN }, { "thread", K_TERMINATED, K_TERMINATED },
    { "thread", K_CONTEXT, K_CONTEXT }, { "context", K_FS_BASE, K_XSTATE },
    { "handle", K_ARM_PROCESS, K_ARM_SEMAPHORE }, { "auxiliary_page", K_CONTENTS, K_CONTENTS },
#if HAVE_LINUX_CLASSES
    { "region", K_BUILD_ID, K_BUILD_ID }, { "frame", K_BUILD_ID, K_BUILD_ID },
    { "frame", K_MODULE_OFFSET, K_ACTIVATION },
    { "process", K_ARGV, K_NOT_FROZEN },
    { "thread", K_SYSCALL_STATE, K_LAST_SYSCALL_ARGUMENTS },
    { "handle", K_ACCESS, K_SOCKET_STATE },
#endif
  };
  const char *record = luaL_checkstring(L, 1);
  const FieldSet *const *fs;
  lua_Integer k = 0;
  size_t i;
  int j;
  lua_newtable(L);
  for (fs = field_sets; *fs != NULL; fs++) {
    if (strcmp((*fs)->record, record) != 0) continue;
    for (j = 0; j < (*fs)->n; j++) {
      lua_pushstring(L, (*fs)->fields[j].name);
      lua_rawseti(L, -2, ++k);
      if ((*fs)->fields[j].type != F_ENUM && (*fs)->fields[j].type != F_ENUM8) continue;
      lua_pushfstring(L, "%s_flags", (*fs)->fields[j].name);
      lua_rawseti(L, -2, ++k);
    }
  }
  for (i = 0; i < sizeof extras / sizeof extras[0]; i++)
    if (strcmp(extras[i].record, record) == 0)
      for (j = extras[i].from; j <= extras[i].to; j++) {
        lua_pushstring(L, extra_names[j]);
        lua_rawseti(L, -2, ++k);
      }
  return k > 0 ? 1 : luaL_argerror(L, 1, lua_pushfstring(L, "unknown record '%s'", record));
}
/* }====================================================================== */
