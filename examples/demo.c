/*
** demo.c -- a triage of a live process with libpss, in C:
**   pss-demo [PID]      (no PID: the demo itself)
** Prints the process record, its threads, its handles counted by type,
** and its largest memory regions.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pss.h"

#define CAPTURE (PSS_CAPTURE_THREADS | PSS_CAPTURE_HANDLES |                   \
                 PSS_CAPTURE_HANDLE_NAME_INFORMATION |                          \
                 PSS_CAPTURE_HANDLE_BASIC_INFORMATION |                         \
                 PSS_CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION |                 \
                 PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION | \
                 PSS_CREATE_MEASURE_PERFORMANCE)

static const char *utf8 (const WCHAR *s, size_t bytes, char *buf, size_t cap) {
  size_t n = s ? PssLinuxUtf16ToBytes(s, bytes / 2, buf, cap - 1) : 0;
  buf[n < cap - 1 ? n : cap - 1] = '\0';
  return buf;
}

static uint64_t filetime (FILETIME ft) {
  return (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
}

static void show_process (HPSS snap) {
  PSS_LINUX_PROCESS_INFORMATION p;
  char name[1024];
  if (PssQuerySnapshot(snap, PSS_QUERY_LINUX_PROCESS_INFORMATION, &p, sizeof p)) return;
  printf("process %u (parent %u) %s\n", p.Process.ProcessId, p.Process.ParentProcessId,
         utf8(p.Process.ImageFileName, sizeof p.Process.ImageFileName, name, sizeof name));
  printf("  state %c  nice %d  threads %u  rss %.1f MiB  virtual %.1f MiB\n", p.State,
         p.Nice, p.ThreadCount, p.Process.WorkingSetSize / 1048576.0,
         p.Process.VirtualSize / 1048576.0);
  printf("  cpu user %.2f s  kernel %.2f s\n", filetime(p.Process.UserTime) / 1e7,
         filetime(p.Process.KernelTime) / 1e7);
}

static void show_threads (HPSS snap, HPSSWALK m) {
  PSS_LINUX_THREAD_ENTRY t;
  printf("threads:\n");
  while (PssWalkSnapshot(snap, PSS_WALK_LINUX_THREADS, m, &t, sizeof t) == ERROR_SUCCESS) {
    printf("  %-7u %-16.*s %c  ", t.Thread.ThreadId, (int)t.NameLength, t.Name, t.State);
    if (t.Thread.LastSyscallNumber == PSS_LINUX_SYSCALL_RUNNING) printf("running\n");
    else if (t.Thread.LastSyscallNumber == PSS_LINUX_SYSCALL_NONE) printf("-\n");
    else printf("in syscall %u\n", t.Thread.LastSyscallNumber);
  }
}

static void show_handles (HPSS snap, HPSSWALK m) {
  static const char *kinds[PSS_LINUX_FD_KIND_COUNT] = { "unknown", "file", "directory",
    "device", "pipe", "fifo", "socket", "eventfd", "timerfd", "signalfd", "epoll",
    "inotify", "fanotify", "pidfd", "memfd", "anon inode" };
  unsigned count[PSS_LINUX_FD_KIND_COUNT] = { 0 };
  PSS_LINUX_HANDLE_ENTRY h;
  char name[1024];
  int k;
  printf("handles:\n");
  while (PssWalkSnapshot(snap, PSS_WALK_LINUX_HANDLES, m, &h, sizeof h) == ERROR_SUCCESS) {
    count[h.Kind < PSS_LINUX_FD_KIND_COUNT ? h.Kind : 0]++;
    if (h.Kind == PSS_LINUX_FD_SOCKET)
      printf("  fd %-4lu %s\n", (unsigned long)(uintptr_t)h.Handle.Handle,
             utf8(h.Handle.ObjectName, h.Handle.ObjectNameLength, name, sizeof name));
  }
  for (k = 0; k < PSS_LINUX_FD_KIND_COUNT; k++)
    if (count[k]) printf("  %-10s %u\n", kinds[k], count[k]);
}

static void show_regions (HPSS snap, HPSSWALK m) {
  PSS_LINUX_VA_SPACE_ENTRY top[5], r;
  int n = 0, i, j;
  while (PssWalkSnapshot(snap, PSS_WALK_LINUX_VA_SPACE, m, &r, sizeof r) == ERROR_SUCCESS) {
    for (i = 0; i < n && top[i].Region.RegionSize >= r.Region.RegionSize; i++) ;
    if (i >= 5) continue;
    for (j = (n < 5 ? n : 4); j > i; j--) top[j] = top[j - 1];
    top[i] = r;
    if (n < 5) n++;
  }
  printf("largest regions:\n");
  for (i = 0; i < n; i++)
    printf("  %012lx %10.1f MiB %s %.*s\n", (unsigned long)(uintptr_t)top[i].Region.BaseAddress,
           top[i].Region.RegionSize / 1048576.0, top[i].Permissions,
           (int)top[i].PathLength, top[i].Path ? top[i].Path : "");
}

int main (int argc, char **argv) {
  HANDLE proc = PSS_LINUX_CURRENT_PROCESS;
  PSS_PERFORMANCE_COUNTERS pc;
  HPSS snap;
  HPSSWALK m;
  DWORD rc;
  if (argc > 1 && (rc = PssLinuxOpenProcess((DWORD)strtoul(argv[1], NULL, 10), &proc))) {
    fprintf(stderr, "pss-demo: no process %s (error %u)\n", argv[1], rc);
    return 1;
  }
  if ((rc = PssCaptureSnapshot(proc, CAPTURE, 0, &snap)) != ERROR_SUCCESS) {
    fprintf(stderr, "pss-demo: PssCaptureSnapshot failed: error %u\n", rc);
    return 1;
  }
  if (PssWalkMarkerCreate(NULL, &m) == ERROR_SUCCESS) {
    show_process(snap);
    show_threads(snap, m);
    show_handles(snap, m);
    show_regions(snap, m);
    PssWalkMarkerFree(m);
  }
  if (PssQuerySnapshot(snap, PSS_QUERY_PERFORMANCE_COUNTERS, &pc, sizeof pc) == 0)
    printf("captured in %.2f ms\n", pc.TotalWallClockPeriod / 1000.0);
  PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, snap);
  PssLinuxCloseProcess(proc);
  return 0;
}
