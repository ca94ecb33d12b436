/*
** self.c -- built by spec/install/run.sh against an installed libpss
** (pkg-config's flags, the static and the shared library): captures the
** calling process and prints "VERSION PID TID", the version it was
** compiled with and the process id and first thread id the snapshot holds.
*/
#include <stdio.h>
#include <string.h>

#include <pss.h>

int main (void) {
  char numbers[64];
  HPSS snap;
  HPSSWALK walk;
  PSS_PROCESS_INFORMATION process;
  PSS_THREAD_ENTRY thread;
  DWORD rc;
  snprintf(numbers, sizeof numbers, "%d.%d.%d", PSS_VERSION_MAJOR, PSS_VERSION_MINOR,
           PSS_VERSION_PATCH);
  if (strcmp(numbers, PSS_VERSION) != 0) {
    fprintf(stderr, "PSS_VERSION is %s, its numbers say %s\n", PSS_VERSION, numbers);
    return 1;
  }
  rc = PssCaptureSnapshot(PSS_LINUX_CURRENT_PROCESS, PSS_CAPTURE_THREADS, 0, &snap);
  if (rc != ERROR_SUCCESS) {
    fprintf(stderr, "PssCaptureSnapshot: error %u\n", rc);
    return 1;
  }
  rc = PssQuerySnapshot(snap, PSS_QUERY_PROCESS_INFORMATION, &process, sizeof process);
  if (rc == ERROR_SUCCESS) rc = PssWalkMarkerCreate(NULL, &walk);
  if (rc == ERROR_SUCCESS) {
    rc = PssWalkSnapshot(snap, PSS_WALK_THREADS, walk, &thread, sizeof thread);
    PssWalkMarkerFree(walk);
  }
  PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, snap);
  if (rc != ERROR_SUCCESS) {
    fprintf(stderr, "query or walk: error %u\n", rc);
    return 1;
  }
  printf("%s %u %u\n", PSS_VERSION, process.ProcessId, thread.ThreadId);
  return 0;
}
