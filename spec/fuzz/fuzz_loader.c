/*
** fuzz_loader.c -- libFuzzer target for PssLinuxLoadSnapshot: a saved
** snapshot (file/load.c) or an ELF core (file/coreload.c), from a memfd.
**
** The input is the file. Whatever loads is used the way a reader would:
** every query class, every walk class to its end with one marker, memory
** reads around every region, and a save of the loaded snapshot read back
** again (what loads must save and load again). The loader must answer
** every input with a code -- a crash, a hang, a leak or an allocation
** sized by an unchecked length (libFuzzer's -rss_limit_mb and
** -malloc_limit_mb) is the failure.
**
** Built and run by `make fuzz` (spec/fuzz/fuzz.mk, spec/fuzz/run.sh).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pss.h"
#include "pss_linux.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int memfd_of (const void *p, size_t n) {
  int fd = memfd_create("pss-fuzz", MFD_CLOEXEC);
  CHECK(fd >= 0);
  CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

static void query_all (HPSS s) {
  unsigned char buf[4096];
  int cls;
  for (cls = 0; cls <= 32; cls++)
    (void)PssQuerySnapshot(s, (PSS_QUERY_INFORMATION_CLASS)cls, buf, sizeof buf);
}

/* Every entry of one class, touching every byte its pointers give. */
static void walk (HPSS s, HPSSWALK m, int cls) {
  union { PSS_LINUX_VA_SPACE_ENTRY r; PSS_LINUX_HANDLE_ENTRY h; PSS_LINUX_THREAD_ENTRY t;
          PSS_AUXILIARY_PAGE_ENTRY a; unsigned char raw[1024]; } e;
  volatile unsigned char sink = 0;
  unsigned n = 0;
  while (PssWalkSnapshot(s, (PSS_WALK_INFORMATION_CLASS)cls, m, &e, sizeof e) == ERROR_SUCCESS &&
         n++ < 100000) {
    size_t i;
    if (cls == PSS_WALK_LINUX_VA_SPACE) {
      for (i = 0; i < e.r.PathLength; i++) sink ^= (unsigned char)e.r.Path[i];
      for (i = 0; i < e.r.Region.MappedFileNameLength / 2; i++)
        sink ^= (unsigned char)e.r.Region.MappedFileName[i];
      if (e.r.Usage != NULL) {   /* a whole, 8-aligned PSS_LINUX_MEMORY_USAGE */
        CHECK((uintptr_t)e.r.Usage % 8 == 0);
        for (i = 0; i < sizeof *e.r.Usage; i++) sink ^= ((const unsigned char *)e.r.Usage)[i];
      }
    } else if (cls == PSS_WALK_LINUX_THREADS && e.t.Thread.ContextRecord != NULL) {
      for (i = 0; i < e.t.Thread.SizeOfContextRecord; i++)
        sink ^= ((const unsigned char *)e.t.Thread.ContextRecord)[i];
    } else if (cls == PSS_WALK_AUXILIARY_PAGES && e.a.PageContents != NULL) {
      for (i = 0; i < e.a.PageSize; i++) sink ^= ((const unsigned char *)e.a.PageContents)[i];
    }
  }
  (void)sink;
}

static void read_memory (HPSS s, HPSSWALK m) {
  PSS_LINUX_VA_SPACE_ENTRY r;
  static unsigned char buf[8192];
  unsigned n = 0;
  SIZE_T got;
  CHECK(PssWalkMarkerSeekToBeginning(m) == ERROR_SUCCESS);
  while (PssWalkSnapshot(s, PSS_WALK_LINUX_VA_SPACE, m, &r, sizeof r) == ERROR_SUCCESS &&
         n++ < 1000) {
    UINT64 at = (UINT64)(uintptr_t)r.Region.BaseAddress;
    (void)PssLinuxReadSnapshotMemory(s, at, buf, sizeof buf, &got);
    (void)PssLinuxReadSnapshotMemory(s, at - 16, buf, 64, &got);
  }
}

static void use (HPSS s) {
  static const int classes[] = { PSS_WALK_AUXILIARY_PAGES, PSS_WALK_VA_SPACE, PSS_WALK_HANDLES,
                                 PSS_WALK_THREADS, PSS_WALK_THREAD_NAME, PSS_WALK_LINUX_VA_SPACE,
                                 PSS_WALK_LINUX_HANDLES, PSS_WALK_LINUX_THREADS };
  HPSSWALK m;
  size_t i;
  query_all(s);
  CHECK(PssWalkMarkerCreate(NULL, &m) == ERROR_SUCCESS);
  for (i = 0; i < sizeof classes / sizeof *classes; i++) {
    CHECK(PssWalkMarkerSeekToBeginning(m) == ERROR_SUCCESS);
    walk(s, m, classes[i]);
  }
  read_memory(s, m);
  CHECK(PssWalkMarkerFree(m) == ERROR_SUCCESS);
}

/* What loaded saves, and what it saves loads again. */
static void save_again (HPSS s) {
  int fd = memfd_create("pss-fuzz-save", MFD_CLOEXEC);
  HPSS again = NULL;
  CHECK(fd >= 0);
  CHECK(PssLinuxSaveSnapshot(s, fd, 0) == ERROR_SUCCESS);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  CHECK(PssLinuxLoadSnapshot(fd, &again) == ERROR_SUCCESS);
  CHECK(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, again) == ERROR_SUCCESS);
  close(fd);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  int fd = memfd_of(data, size);
  HPSS s = NULL;
  DWORD rc = PssLinuxLoadSnapshot(fd, &s);
  close(fd);                 /* a loaded snapshot keeps its own descriptor */
  if (rc != ERROR_SUCCESS) {
    CHECK(s == NULL && PssLinuxLastErrorDetail() != NULL);
    return 0;
  }
  use(s);
  save_again(s);
  CHECK(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s) == ERROR_SUCCESS);
  return 0;
}
