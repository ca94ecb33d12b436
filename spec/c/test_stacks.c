/*
** test_stacks.c -- PSS_LINUX_CAPTURE_STACKS: each thread's stack copied as
** the snapshot's auxiliary pages, and the build ids of the mapped images.
**
** The target is spec/support/stack-target ($PSS_STACK_TARGET), whose
** threads block in read() under known frames; a blocked thread's stack
** does not change, so what the capture copied is compared with what
** process_vm_readv reads after it, and its mappings with /proc/PID/maps.
** Build ids are compared with `eu-unstrip -n -p PID` (elfutils), the ELF
** note reader with crafted images cut at every length.
*/
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"
#include "linux/proc/elf.h"

#define RED_ZONE 128
#define BLOCK_MS 20000
#define STACKS_FLAGS (PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_LINUX_CAPTURE_STACKS)

static uint64_t page_size (void) { return (uint64_t)sysconf(_SC_PAGESIZE); }
static uint64_t floor_page (uint64_t a) { return a & ~(page_size() - 1); }


/* {======================================================================
** The stack target, a child of the suite owned by the fixture
** ======================================================================= */

/* Every thread of the report blocked in the system call it waits in. */
static int wait_blocked (struct target *t) {
  long long end = now_ms() + BLOCK_MS;
  size_t i;
  for (i = 0; i < t->thread_count; i++) {
    struct proc_syscall sc;
    long want = strstr(t->threads[i].name, "bad-sp") ? SYS_pause : SYS_read;
    if (strstr(t->threads[i].name, " spin") || strstr(t->threads[i].name, " meter")) continue;
    while (proc_syscall(t->pid, t->threads[i].tid, &sc) != 0 || sc.state != 1 || sc.nr != want) {
      if (now_ms() > end) return -1;
      sleep_us(2000);
    }
  }
  return 0;
}

/*
** Starts $PSS_STACK_TARGET with args (NULL-terminated) as a target of the
** fixture, whose teardown stops and reaps it. target_start runs
** $PSS_TARGET: that names the stack target for the call. Its report's
** "thread TID NAME ROLE" lines give threads named "NAME ROLE".
*/
static struct target *start_stack_target (struct fixture *f, const char *const *args) {
  struct target *t = fixture_start_stack_target(f, args);
  if (wait_blocked(t) != 0) fail_because("the stack target's threads did not all block");
  return t;
}

static struct target *stack_target (struct fixture *f, const char *opt) {
  const char *args[] = { "--threads", "3", opt, NULL };
  return start_stack_target(f, args);
}

/* The tid of the nth thread of a role ("chain", "bad-sp", "main"). */
static pid_t role_tid (const struct target *t, const char *role, size_t nth) {
  size_t i, len = strlen(role);
  for (i = 0; i < t->thread_count; i++) {
    const char *sp = strrchr(t->threads[i].name, ' ');
    if (sp != NULL && strncmp(sp + 1, role, len + 1) == 0 && nth-- == 0) return t->threads[i].tid;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** A capture with stacks, walked
** ======================================================================= */
struct stacks {
  HPSS snap;
  PSS_AUXILIARY_PAGE_ENTRY *pages;
  size_t page_count;
  PSS_LINUX_THREAD_ENTRY *threads;
  size_t thread_count;
};

static void capture (struct fixture *f, HANDLE h, PSS_CAPTURE_FLAGS flags, DWORD context,
                     struct stacks *out) {
  DWORD rc = PssCaptureSnapshot(h, flags, context, &out->snap);
  if (rc != ERROR_SUCCESS)
    fail_because("PssCaptureSnapshot(0x%08x): %s (%u), errno %d, %s", (unsigned)flags,
                 win32_error_name(rc), (unsigned)rc, PssLinuxLastErrno(),
                 PssLinuxLastErrorDetail() ? PssLinuxLastErrorDetail() : "");
  fixture_keep_snapshot(f, out->snap);
  out->pages = fixture_walk(f, out->snap, PSS_WALK_AUXILIARY_PAGES, &out->page_count);
  out->threads = fixture_walk(f, out->snap, PSS_WALK_LINUX_THREADS, &out->thread_count);
}

static uint64_t sp_of (const struct stacks *s, pid_t tid) {
  size_t i;
  for (i = 0; i < s->thread_count; i++)
    if (s->threads[i].Thread.ThreadId == (DWORD)tid && s->threads[i].Thread.ContextRecord != NULL)
      return s->threads[i].Thread.ContextRecord->Rsp;
  fail_because("thread %d has no context", (int)tid);
  return 0;
}

/* The page holding address, NULL if none was copied. */
static const PSS_AUXILIARY_PAGE_ENTRY *page_at (const struct stacks *s, uint64_t address) {
  size_t lo = 0, hi = s->page_count;
  address = floor_page(address);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t a = (uintptr_t)s->pages[mid].Address;
    if (a == address) return &s->pages[mid];
    if (a < address) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

static const struct proc_map *map_at (const struct proc_map *maps, size_t n, uint64_t address) {
  size_t i;
  for (i = 0; i < n; i++)
    if (address >= maps[i].start && address < maps[i].end) return &maps[i];
  return NULL;
}

/* What a copy from sp holds: [lo, hi) as the capture's limit allows. */
static void expected_span (uint64_t sp, const struct proc_map *m, uint64_t limit, uint64_t *lo,
                           uint64_t *hi) {
  uint64_t start = sp - m->start >= RED_ZONE ? sp - RED_ZONE : m->start;
  *lo = floor_page(start);
  *hi = m->end - start <= limit ? m->end : floor_page(start + limit + page_size() - 1);
  if (*hi > m->end) *hi = m->end;
}

/* Where a blocked thread's bytes stop being still: at its TCB (TebBaseAddress,
** atop a thread's stack mapping), whose rseq cpu_id the kernel rewrites as
** the thread, let go by a freeze, returns to user space to restart read(). */
static uint64_t still_end (const struct stacks *s, pid_t tid, uint64_t sp, uint64_t hi) {
  size_t i;
  for (i = 0; i < s->thread_count; i++)
    if (s->threads[i].Thread.ThreadId == (DWORD)tid) {
      uint64_t teb = (uintptr_t)s->threads[i].Thread.TebBaseAddress;
      return teb > sp && teb < hi ? teb : hi;
    }
  return hi;
}

/* Whether pid has the page at address in memory or in swap, as its
** /proc/PID/pagemap says (an oracle read apart from libpss's). */
static int page_resident (pid_t pid, uint64_t address) {
  char path[64];
  uint64_t entry = 0;
  int fd;
  snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
  assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
  assert_int_equal(pread(fd, &entry, sizeof entry, (off_t)(address / page_size() * sizeof entry)),
                   (ssize_t)sizeof entry);
  close(fd);
  return (entry >> 62) != 0;    /* present (63) or swapped (62) */
}

/* Every page of [lo, hi) that pid has in memory copied (one it never
** touched is neither copied nor faulted in); its bytes [from, to) as pid
** has them now. */
static void expect_copied (const struct stacks *s, pid_t pid, uint64_t lo, uint64_t hi,
                           uint64_t from, uint64_t to) {
  uint64_t a;
  for (a = lo; a < hi; a += page_size()) {
    const PSS_AUXILIARY_PAGE_ENTRY *p = page_at(s, a);
    unsigned char now[65536];
    uint64_t first = from > a ? from - a : 0, last = to < a + page_size() ? to - a : page_size();
    struct iovec local = { now, page_size() }, remote = { (void *)(uintptr_t)a, page_size() };
    if (p == NULL && !page_resident(pid, a)) continue;
    if (p == NULL) fail_because("page 0x%llx of [0x%llx, 0x%llx) was not copied",
                                (unsigned long long)a, (unsigned long long)lo,
                                (unsigned long long)hi);
    if (a >= to || first >= page_size()) continue;
    assert_int_equal(process_vm_readv(pid, &local, 1, &remote, 1, 0), (ssize_t)page_size());
    if (memcmp((const char *)p->PageContents + first, now + first, last - first) != 0)
      fail_because("page 0x%llx: the copy differs from the memory of the blocked thread",
                   (unsigned long long)a);
  }
}
/* }====================================================================== */


static void pages_are_counted_walked_and_described (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  struct stacks s;
  PSS_AUXILIARY_PAGES_INFORMATION ai;
  PSS_PERFORMANCE_COUNTERS pc;
  PSS_VA_SPACE_ENTRY *regions;
  MEMORY_BASIC_INFORMATION want;
  size_t nmaps, nregions, i, k;
  struct proc_map *maps;
  long long before = (long long)time(NULL) * 1000000000LL, after;
  capture(f, fixture_open(f, t->pid), STACKS_FLAGS | PSS_CAPTURE_VA_SPACE |
          PSS_CREATE_MEASURE_PERFORMANCE, CONTEXT_ALL, &s);
  after = ((long long)time(NULL) + 1) * 1000000000LL;
  assert_code(PssQuerySnapshot(s.snap, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, &ai, sizeof ai),
              ERROR_SUCCESS);
  assert_int_equal(ai.AuxPagesCaptured, s.page_count);
  assert_true(s.page_count >= t->thread_count);
  assert_code(PssQuerySnapshot(s.snap, PSS_QUERY_PERFORMANCE_COUNTERS, &pc, sizeof pc), ERROR_SUCCESS);
  assert_true(pc.AuxPagesCycleCount > 0);
  regions = fixture_walk(f, s.snap, PSS_WALK_VA_SPACE, &nregions);
  maps = fixture_keep(f, proc_maps(t->pid, &nmaps));
  assert_non_null(maps);
  for (i = 0; i < s.page_count; i++) {
    const PSS_AUXILIARY_PAGE_ENTRY *p = &s.pages[i];
    const MEMORY_BASIC_INFORMATION *b = &p->BasicInformation;
    uint64_t a = (uintptr_t)p->Address;
    const struct proc_map *m = map_at(maps, nmaps, a);
    assert_int_equal(a % page_size(), 0);
    assert_int_equal(p->PageSize, page_size());
    if (i > 0) assert_true(a > (uintptr_t)s.pages[i - 1].Address);   /* sorted, each once */
    assert_non_null(m);
    assert_int_equal((uintptr_t)b->BaseAddress, m->start);
    assert_int_equal(b->RegionSize, m->end - m->start);
    assert_true(filetime_unix_ns(p->CaptureTime) >= before && filetime_unix_ns(p->CaptureTime) <= after);
    /* the region walk describes the same mapping alike */
    for (k = 0; k < nregions && regions[k].BaseAddress != b->BaseAddress; k++) {}
    assert_true(k < nregions);
    memset(&want, 0, sizeof want);
    want.BaseAddress = regions[k].BaseAddress;
    want.AllocationBase = regions[k].AllocationBase;
    want.AllocationProtect = regions[k].AllocationProtect;
    want.RegionSize = regions[k].RegionSize;
    want.State = regions[k].State, want.Protect = regions[k].Protect, want.Type = regions[k].Type;
    assert_memory_equal(b, &want, sizeof want);
  }
}

/* Every blocked thread: its copy runs from below its stack pointer to the
** end of its mapping, and holds what its memory holds. */
static void each_stack_is_copied_to_the_end_of_its_mapping (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  struct stacks s;
  size_t nmaps, i;
  struct proc_map *maps;
  capture(f, fixture_open(f, t->pid), STACKS_FLAGS, CONTEXT_ALL, &s);
  maps = fixture_keep(f, proc_maps(t->pid, &nmaps));
  assert_non_null(maps);
  for (i = 0; i < t->thread_count; i++) {
    uint64_t sp = sp_of(&s, t->threads[i].tid), lo, hi;
    const struct proc_map *m = map_at(maps, nmaps, sp);
    assert_non_null(m);
    expected_span(sp, m, PSS_LINUX_STACK_LIMIT_DEFAULT, &lo, &hi);
    assert_int_equal(hi, m->end);          /* these stacks are shallower than the limit */
    assert_non_null(page_at(&s, sp));
    expect_copied(&s, t->pid, lo, hi, sp, still_end(&s, t->threads[i].tid, sp, hi));
  }
}

static void *read_limit (void *arg) {
  *(DWORD *)arg = PssLinuxSetStackLimit(0);
  return NULL;
}

static void stack_limit_bounds_each_thread (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  struct stacks s;
  size_t nmaps, i, pages = 0;
  struct proc_map *maps;
  pthread_t other;
  DWORD seen = 0;
  assert_int_equal(PssLinuxSetStackLimit(8192), PSS_LINUX_STACK_LIMIT_DEFAULT);
  assert_int_equal(PssLinuxSetStackLimit(0), 8192);          /* 0 only reads */
  /* per thread: another thread of the caller keeps the default */
  assert_int_equal(pthread_create(&other, NULL, read_limit, &seen), 0);
  pthread_join(other, NULL);
  assert_int_equal(seen, PSS_LINUX_STACK_LIMIT_DEFAULT);
  capture(f, h, STACKS_FLAGS, CONTEXT_ALL, &s);
  assert_int_equal(PssLinuxSetStackLimit(PSS_LINUX_STACK_LIMIT_DEFAULT), 8192);
  maps = fixture_keep(f, proc_maps(t->pid, &nmaps));
  assert_non_null(maps);
  for (i = 0; i < t->thread_count; i++) {
    uint64_t sp = sp_of(&s, t->threads[i].tid), lo, hi, a;
    const struct proc_map *m = map_at(maps, nmaps, sp);
    assert_non_null(m);
    expected_span(sp, m, 8192, &lo, &hi);
    assert_true(hi - lo <= 8192 + 2 * page_size());
    expect_copied(&s, t->pid, lo, hi, sp, still_end(&s, t->threads[i].tid, sp, hi));
    if (hi < m->end && page_at(&s, hi) != NULL)
      fail_because("thread %d: page 0x%llx past the limit was copied", (int)t->threads[i].tid,
                   (unsigned long long)hi);
    for (a = lo; a < hi; a += page_size()) pages += page_resident(t->pid, a) != 0;
  }
  /* the threads' stacks are apart; a page never touched is not copied */
  assert_int_equal(s.page_count, pages);
}

/* A stack pointer in no mapping: no pages for it, and no failure. */
static void a_stack_pointer_in_no_mapping_gives_no_pages (void **state) {
  struct fixture *f = FIXTURE(state);
  const char *args[] = { "--threads", "1", "--bad-sp", "--corrupt", NULL };
  struct target *t = start_stack_target(f, args);
  struct stacks s;
  pid_t bad = role_tid(t, "bad-sp", 0), chain = role_tid(t, "chain", 0);
  assert_true(bad > 0 && chain > 0 && role_tid(t, "corrupt", 0) > 0);
  capture(f, fixture_open(f, t->pid), STACKS_FLAGS | PSS_CAPTURE_VA_SPACE, CONTEXT_ALL, &s);
  assert_int_equal(sp_of(&s, bad), 0x1000);
  assert_null(page_at(&s, 0x1000));
  assert_null(page_at(&s, 0x1000 - RED_ZONE));
  assert_non_null(page_at(&s, sp_of(&s, chain)));
  assert_non_null(page_at(&s, sp_of(&s, role_tid(t, "corrupt", 0))));
}

/* Without the region table (maps read apart), with contexts that do not
** hold rsp, from VM allocations, with everything: the same pages, and the
** same bytes where a blocked thread's stack is still. */
static void the_pages_do_not_depend_on_other_flags (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  HANDLE h = fixture_open(f, t->pid);
  static const struct { PSS_CAPTURE_FLAGS flags; DWORD context; } kinds[] = {
    { STACKS_FLAGS, CONTEXT_INTEGER },
    { STACKS_FLAGS | PSS_CREATE_USE_VM_ALLOCATIONS | PSS_CAPTURE_VA_SPACE, CONTEXT_ALL },
    { STACKS_FLAGS | CAPTURE_EVERYTHING | PSS_CAPTURE_VA_CLONE, CONTEXT_ALL },
  };
  struct stacks ref, s;
  size_t k, i;
  capture(f, h, STACKS_FLAGS | PSS_CAPTURE_VA_SPACE, CONTEXT_ALL, &ref);
  for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    capture(f, h, kinds[k].flags, kinds[k].context, &s);
    assert_int_equal(s.page_count, ref.page_count);
    for (i = 0; i < s.page_count; i++) {
      assert_ptr_equal(s.pages[i].Address, ref.pages[i].Address);
      assert_memory_equal(&s.pages[i].BasicInformation, &ref.pages[i].BasicInformation,
                          sizeof ref.pages[i].BasicInformation);
    }
    for (i = 0; i < t->thread_count; i++) {
      uint64_t sp = sp_of(&ref, t->threads[i].tid), a, to;
      const MEMORY_BASIC_INFORMATION *b = &page_at(&ref, sp)->BasicInformation;
      uint64_t end = still_end(&ref, t->threads[i].tid, sp,
                               (uintptr_t)b->BaseAddress + b->RegionSize);
      for (a = sp; a < end; a = to) {
        const PSS_AUXILIARY_PAGE_ENTRY *x = page_at(&s, a), *y = page_at(&ref, a);
        to = floor_page(a) + page_size() < end ? floor_page(a) + page_size() : end;
        /* a page the blocked thread never touched is in neither */
        assert_int_equal(x == NULL, y == NULL);
        if (x == NULL) continue;
        assert_memory_equal((const char *)x->PageContents + (a - floor_page(a)),
                            (const char *)y->PageContents + (a - floor_page(a)), to - a);
      }
    }
  }
}

static void check_refused (HANDLE h, PSS_CAPTURE_FLAGS flags, DWORD want) {
  HPSS s = (HPSS)(uintptr_t)0x5A5A;
  DWORD rc = PssCaptureSnapshot(h, flags, CONTEXT_ALL, &s);
  if (rc != want) {
    if (rc == ERROR_SUCCESS) PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s);
    fail_because("flags 0x%08x: %s, expected %s", (unsigned)flags, win32_error_name(rc),
                 win32_error_name(want));
  }
  assert_ptr_equal(s, (HPSS)(uintptr_t)0x5A5A);
}

static void the_flag_needs_contexts_and_a_freeze (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  HANDLE targets[] = { fixture_open(f, t->pid), PSS_LINUX_CURRENT_PROCESS };
  PSS_AUXILIARY_PAGES_INFORMATION ai;
  PSS_AUXILIARY_PAGE_ENTRY e;
  HPSS s;
  size_t i;
  for (i = 0; i < 2; i++) {
    HANDLE h = targets[i];
    check_refused(h, PSS_LINUX_CAPTURE_STACKS, ERROR_INVALID_PARAMETER);
    check_refused(h, PSS_LINUX_CAPTURE_STACKS | PSS_CAPTURE_THREADS, ERROR_INVALID_PARAMETER);
    check_refused(h, PSS_LINUX_CAPTURE_STACKS | PSS_CAPTURE_THREADS |
                  PSS_CAPTURE_THREAD_CONTEXT_EXTENDED, ERROR_INVALID_PARAMETER);
    check_refused(h, PSS_LINUX_CAPTURE_STACKS | PSS_CAPTURE_VA_SPACE, ERROR_INVALID_PARAMETER);
    check_refused(h, STACKS_FLAGS | PSS_LINUX_CAPTURE_UNFROZEN, ERROR_INVALID_PARAMETER);
    /* allowed to read it running, it is frozen all the same */
    s = fixture_capture(f, h, STACKS_FLAGS | PSS_LINUX_CAPTURE_FREEZE_OPTIONAL);
    assert_int_equal(query_linux_process(s).CaptureMode, PSS_LINUX_CAPTURE_MODE_FROZEN);
  }
  /* a snapshot without stacks has no auxiliary pages */
  s = fixture_capture(f, targets[0], PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT);
  assert_code(PssQuerySnapshot(s, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, &ai, sizeof ai),
              ERROR_NOT_FOUND);
  assert_code(PssWalkSnapshot(s, PSS_WALK_AUXILIARY_PAGES, fixture_marker(f), &e, sizeof e),
              ERROR_NOT_FOUND);
  s = fixture_capture(f, targets[0], STACKS_FLAGS);
  assert_code(PssWalkSnapshot(s, PSS_WALK_AUXILIARY_PAGES, fixture_marker(f), &e, sizeof e - 1),
              ERROR_BAD_LENGTH);
}

/* PageContents is the marker's: it outlives the snapshot. */
static void page_contents_live_until_the_marker_is_freed (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  struct stacks s;
  HPSSWALK m;
  PSS_AUXILIARY_PAGE_ENTRY e[4];
  size_t i;
  capture(f, fixture_open(f, t->pid), STACKS_FLAGS, CONTEXT_ALL, &s);
  assert_true(s.page_count >= 4);
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  for (i = 0; i < 4; i++)
    assert_code(PssWalkSnapshot(s.snap, PSS_WALK_AUXILIARY_PAGES, m, &e[i], sizeof e[i]),
                ERROR_SUCCESS);
  fixture_forget_snapshot(f, s.snap);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s.snap), ERROR_SUCCESS);
  for (i = 0; i < 4; i++) {       /* s.pages came through another marker, alive too */
    assert_ptr_equal(e[i].Address, s.pages[i].Address);
    assert_memory_equal(e[i].PageContents, s.pages[i].PageContents, page_size());
  }
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
}

static void positions_find_pages_again (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = stack_target(f, NULL);
  struct stacks s;
  HPSSWALK m;
  ULONG_PTR at;
  PSS_AUXILIARY_PAGE_ENTRY e, again;
  PSS_THREAD_ENTRY te;
  size_t i;
  capture(f, fixture_open(f, t->pid), STACKS_FLAGS, CONTEXT_ALL, &s);
  m = fixture_marker(f);
  assert_true(s.page_count > 3);
  for (i = 0; i < 2; i++)
    assert_code(PssWalkSnapshot(s.snap, PSS_WALK_AUXILIARY_PAGES, m, &e, sizeof e), ERROR_SUCCESS);
  assert_code(PssWalkMarkerGetPosition(m, &at), ERROR_SUCCESS);
  assert_code(PssWalkSnapshot(s.snap, PSS_WALK_AUXILIARY_PAGES, m, &e, sizeof e), ERROR_SUCCESS);
  assert_ptr_equal(e.Address, s.pages[2].Address);
  /* another class moves the marker away; the position brings it back */
  assert_code(PssWalkSnapshot(s.snap, PSS_WALK_THREADS, m, &te, sizeof te), ERROR_SUCCESS);
  assert_code(PssWalkMarkerSetPosition(m, at), ERROR_SUCCESS);
  assert_code(PssWalkSnapshot(s.snap, PSS_WALK_AUXILIARY_PAGES, m, &again, sizeof again),
              ERROR_SUCCESS);
  assert_memory_equal(&again, &e, sizeof e);
  while (PssWalkSnapshot(s.snap, PSS_WALK_AUXILIARY_PAGES, m, &e, sizeof e) == ERROR_SUCCESS) {}
  assert_code(PssWalkMarkerGetPosition(m, &at), ERROR_SUCCESS);
  assert_code(PssWalkMarkerSetPosition(m, at), ERROR_SUCCESS);        /* the end */
  assert_code(PssWalkMarkerSetPosition(m, at + 1), ERROR_INVALID_PARAMETER);
}


/* {======================================================================
** The calling process
** ======================================================================= */
#define SHARED_STACK (256u << 10)

/* Two threads of the suite on stacks in one mapping (between two
** PROT_NONE pages, so that no neighbour merges into it), blocked in read. */
struct sharers {
  unsigned char *raw, *map;
  pthread_t thread[2];
  int pipe[2];
  pid_t tid[2];
  int started;
};

static void *sharer_main (void *arg) {
  struct sharers *sh = arg;
  char c;
  __atomic_store_n(&sh->tid[__atomic_fetch_add(&sh->started, 1, __ATOMIC_SEQ_CST)], gettid(),
                   __ATOMIC_SEQ_CST);
  while (read(sh->pipe[0], &c, 1) < 0) {}
  return NULL;
}

static void sharers_start (struct sharers *sh) {
  long long end = now_ms() + BLOCK_MS;
  size_t i;
  memset(sh, 0, sizeof *sh);
  sh->raw = mmap(NULL, SHARED_STACK + 2 * page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  assert_true(sh->raw != MAP_FAILED);
  sh->map = sh->raw + page_size();
  assert_int_equal(mprotect(sh->map, SHARED_STACK, PROT_READ | PROT_WRITE), 0);
  assert_int_equal(pipe2(sh->pipe, O_CLOEXEC), 0);
  for (i = 0; i < 2; i++) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, sh->map + i * (SHARED_STACK / 2), SHARED_STACK / 2);
    assert_int_equal(pthread_create(&sh->thread[i], &a, sharer_main, sh), 0);
    pthread_attr_destroy(&a);
  }
  for (i = 0; i < 2; i++)   /* each reported its tid and sleeps in read */
    while (__atomic_load_n(&sh->tid[i], __ATOMIC_SEQ_CST) == 0 ||
           thread_state(getpid(), sh->tid[i]) != 'S')
      if (now_ms() > end) fail_because("a thread of the suite did not block");
      else sleep_us(1000);
}

static void sharers_stop (struct sharers *sh) {
  close(sh->pipe[1]);
  pthread_join(sh->thread[0], NULL);
  pthread_join(sh->thread[1], NULL);
  close(sh->pipe[0]);
  munmap(sh->raw, SHARED_STACK + 2 * page_size());
}

/* The pages of [lo, hi) of this process in memory, as mincore says. */
static size_t resident_pages (uint64_t lo, uint64_t hi) {
  unsigned char vec[4096];
  size_t n = (size_t)((hi - lo) / page_size()), i, count = 0;
  assert_true(n <= sizeof vec);
  assert_int_equal(mincore((void *)(uintptr_t)lo, hi - lo, vec), 0);
  for (i = 0; i < n; i++) count += vec[i] & 1;
  return count;
}

static void the_calling_process_stacks (void **state) {
  struct fixture *f = FIXTURE(state);
  struct sharers sh;
  struct stacks s;
  uint64_t end, low_sp, sp[2];
  size_t i, in_map = 0, resident;
  sharers_start(&sh);
  capture(f, PSS_LINUX_CURRENT_PROCESS, STACKS_FLAGS | PSS_CAPTURE_VA_SPACE, CONTEXT_ALL, &s);
  assert_non_null(page_at(&s, sp_of(&s, gettid())));
  /* under valgrind, ptrace sees the registers of valgrind's own code */
  if (under_valgrind()) { sharers_stop(&sh); return; }
  for (i = 0; i < 2; i++) sp[i] = sp_of(&s, sh.tid[i]);
  end = (uintptr_t)sh.map + SHARED_STACK;
  low_sp = sp[0] < sp[1] ? sp[0] : sp[1];
  /* each thread's stack, up to the top of its half of the mapping */
  for (i = 0; i < 2; i++) {
    uint64_t top = (uintptr_t)sh.map + (i + 1) * (SHARED_STACK / 2);
    expect_copied(&s, getpid(), floor_page(sp[i] - RED_ZONE), top, sp[i],
                  still_end(&s, sh.tid[i], sp[i], top));
  }
  /* the lower thread's span holds the upper one's: each page once; the
  ** pages between the two stacks, never touched, are neither copied nor
  ** faulted in (the capture reads only what pagemap says is there) */
  for (i = 0; i < s.page_count; i++)
    in_map += s.pages[i].BasicInformation.BaseAddress == sh.map;
  resident = resident_pages(floor_page(low_sp - RED_ZONE), end);
  assert_int_equal(in_map, resident);
  assert_true(resident < (end - floor_page(low_sp - RED_ZONE)) / page_size());
  sharers_stop(&sh);
}
/* }====================================================================== */


/* {======================================================================
** Build ids
** ======================================================================= */

/* "START+SIZE BUILDID@ADDR FILE DEBUGFILE NAME" lines of eu-unstrip -n:
** each module's build id must be on the region at its start. */
static size_t expect_unstrip_ids (pid_t pid, const PSS_LINUX_VA_SPACE_ENTRY *r, size_t n) {
  char cmd[128], line[4096];
  size_t checked = 0;
  FILE *p;
  snprintf(cmd, sizeof cmd, "timeout 20 eu-unstrip -n -p %d 2>/dev/null", (int)pid);
  assert_non_null(p = popen(cmd, "r"));
  while (fgets(line, sizeof line, p) != NULL) {
    unsigned long long start, size;
    char id[256], hex[2 * PSS_LINUX_BUILD_ID_MAX + 1];
    size_t i, k;
    if (sscanf(line, "%llx+%llx %255[0-9a-f-]@", &start, &size, id) != 3 || id[0] == '-') continue;
    for (i = 0; i < n && (uintptr_t)r[i].Region.BaseAddress != start; i++) {}
    if (i == n) fail_because("eu-unstrip's module at 0x%llx is no region", start);
    for (k = 0; k < r[i].BuildIdLength; k++) sprintf(hex + 2 * k, "%02x", r[i].BuildId[k]);
    hex[2 * k] = '\0';
    if (strcmp(hex, id) != 0)
      fail_because("module at 0x%llx (%.*s): build id %s, eu-unstrip says %s", start,
                   (int)r[i].PathLength, r[i].Path, hex, id);
    checked++;
  }
  pclose(p);
  return checked;
}

/* Every region of one file carries the same id. */
static void expect_ids_per_file (const PSS_LINUX_VA_SPACE_ENTRY *r, size_t n) {
  size_t i, k;
  for (i = 0; i < n; i++)
    for (k = i + 1; k < n; k++)
      if (r[i].Inode != 0 && r[i].Inode == r[k].Inode && r[i].DeviceMajor == r[k].DeviceMajor &&
          r[i].DeviceMinor == r[k].DeviceMinor &&
          (r[i].BuildIdLength != r[k].BuildIdLength ||
           memcmp(r[i].BuildId, r[k].BuildId, r[i].BuildIdLength) != 0))
        fail_because("two regions of %.*s differ in build id", (int)r[i].PathLength, r[i].Path);
}

static void check_build_ids (struct fixture *f, HANDLE h, pid_t pid, PSS_CAPTURE_FLAGS flags) {
  size_t n, checked;
  HPSS s = fixture_capture(f, h, flags | PSS_CAPTURE_VA_SPACE);
  PSS_LINUX_VA_SPACE_ENTRY *r = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &n);
  expect_ids_per_file(r, n);
  checked = expect_unstrip_ids(pid, r, n);
  if (checked < 3) fail_because("flags 0x%08x: only %zu modules with a build id", (unsigned)flags, checked);
  note("pid %d, flags 0x%08x: %zu build ids as eu-unstrip reads them", (int)pid, (unsigned)flags,
       checked);
}

/* In a child that a seccomp filter denies process_vm_readv (EPERM, as a
** container's default profile does), an unfrozen capture of pid: its
** regions in v[0], those with a build id in v[1]; -1 if it failed. */
static void ids_without_the_right (pid_t pid, long v[2]) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof code / sizeof code[0], code };
  int fd[2], st;
  pid_t child;
  v[0] = v[1] = -1;
  assert_int_equal(pipe2(fd, O_CLOEXEC), 0);
  if ((child = fork()) == 0) {
    HANDLE h;
    HPSS s;
    HPSSWALK m;
    PSS_LINUX_VA_SPACE_ENTRY e;
    long n[2] = { 0, 0 };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0 ||
        PssLinuxOpenProcess((DWORD)pid, &h) != 0 ||
        PssCaptureSnapshot(h, PSS_CAPTURE_VA_SPACE | PSS_LINUX_CAPTURE_UNFROZEN, 0, &s) != 0 ||
        PssWalkMarkerCreate(NULL, &m) != 0)
      _exit(1);
    for (; PssWalkSnapshot(s, PSS_WALK_LINUX_VA_SPACE, m, &e, sizeof e) == 0; n[0]++)
      n[1] += e.BuildIdLength != 0;
    _exit(write(fd[1], n, sizeof n) == sizeof n ? 0 : 1);
  }
  close(fd[1]);
  watchdog_arm(20, "a capture denied process_vm_readv");
  if (read(fd[0], v, 2 * sizeof *v) != 2 * sizeof *v) v[0] = v[1] = -1;
  waitpid(child, &st, 0);
  alarm(0);
  close(fd[0]);
}

static void build_ids_are_those_elfutils_reads (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HANDLE h;
  long denied[2];
  if (system("command -v eu-unstrip >/dev/null 2>&1") != 0)
    skip_because("eu-unstrip (elfutils) is not installed");
  t = stack_target(f, NULL);
  h = fixture_open(f, t->pid);
  check_build_ids(f, h, t->pid, STACKS_FLAGS);
  check_build_ids(f, h, t->pid, PSS_CAPTURE_VA_SPACE_SECTION_INFORMATION);
  check_build_ids(f, h, t->pid, PSS_LINUX_CAPTURE_UNFROZEN);
  check_build_ids(f, PSS_LINUX_CURRENT_PROCESS, getpid(), 0);
  check_build_ids(f, PSS_LINUX_CURRENT_PROCESS, getpid(), STACKS_FLAGS);
  /* where the memory may not be read: no ids, and the capture succeeds */
  ids_without_the_right(t->pid, denied);
  assert_true(denied[0] > 10);
  assert_int_equal(denied[1], 0);
}
/* }====================================================================== */


/* {======================================================================
** The ELF note reader (proc/elf.c), on crafted images
** ======================================================================= */
struct image { unsigned char b[512]; size_t len; };

/* A note as linkers lay it out and libelf reads it: the descriptor and the
** next note at offsets aligned to pad (the notes start pad-aligned). */
static void put_note (struct image *im, size_t at, uint32_t type, const char *name,
                      const unsigned char *desc, uint32_t descsz, size_t pad, size_t *end) {
  Elf32_Nhdr h = { (uint32_t)strlen(name) + 1, descsz, type };
  size_t desc_at = (at + sizeof h + h.n_namesz + pad - 1) & ~(pad - 1);
  memcpy(im->b + at, &h, sizeof h);
  memcpy(im->b + at + sizeof h, name, h.n_namesz);
  memcpy(im->b + desc_at, desc, descsz);
  *end = (desc_at + descsz + pad - 1) & ~(pad - 1);
}

/* The headers of an image of one class: a PT_LOAD, then the PT_NOTE. */
#define PUT_HEADERS(Ehdr, Phdr, cls, im, notes, end, pad)                               \
  do {                                                                                  \
    Ehdr e = { .e_type = ET_DYN, .e_phoff = sizeof e, .e_phentsize = sizeof(Phdr), .e_phnum = 2 }; \
    Phdr p[2] = { { .p_type = PT_LOAD, .p_memsz = 0x3000 },                             \
                  { .p_type = PT_NOTE, .p_offset = notes, .p_filesz = end - notes, .p_align = pad } }; \
    memcpy(e.e_ident, ELFMAG, SELFMAG);                                                 \
    e.e_ident[EI_CLASS] = cls;                                                          \
    e.e_ident[EI_DATA] = ELFDATA2LSB;                                                   \
    memcpy(im->b, &e, sizeof e);                                                        \
    memcpy(im->b + sizeof e, p, sizeof p);                                              \
  } while (0)

/* An image of either class: an ABI-tag note, then the build id (id_len
** bytes), in one PT_NOTE segment of alignment pad. */
static void make_image (struct image *im, int is64, uint32_t pad, uint32_t id_len) {
  static const unsigned char tag[16] = { 0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0 };
  unsigned char id[64];
  size_t end, i;
  uint32_t notes = 256;
  memset(im, 0, sizeof *im);
  for (i = 0; i < sizeof id; i++) id[i] = (unsigned char)(0xA0 + i);
  put_note(im, notes, NT_GNU_ABI_TAG, "GNU", tag, sizeof tag, pad, &end);
  put_note(im, end, NT_GNU_BUILD_ID, "GNU", id, id_len, pad, &end);
  im->len = end;
  if (is64) PUT_HEADERS(Elf64_Ehdr, Elf64_Phdr, ELFCLASS64, im, notes, (uint32_t)end, pad);
  else PUT_HEADERS(Elf32_Ehdr, Elf32_Phdr, ELFCLASS32, im, notes, (uint32_t)end, pad);
}

/* The build id of bytes[0..n) as a reader of the image finds it; -1 if
** the headers are refused. Every read goes through exact heap blocks. */
static long read_id (const unsigned char *bytes, size_t n, unsigned char *id) {
  unsigned char *copy = malloc(n ? n : 1);
  struct pss_elf e;
  long got = -1;
  size_t k;
  assert_non_null(copy);
  memcpy(copy, bytes, n);
  if (pss_elf_parse_header(copy, n, &e) == 0 && e.phoff <= n) {
    got = 0;
    for (k = 0; k < e.phnum && got == 0; k++) {
      struct pss_elf_phdr ph;
      unsigned char *seg;
      size_t len;
      if (pss_elf_parse_phdr(&e, copy + e.phoff, n - e.phoff, k, &ph) < 0) break;
      if (ph.type != PT_NOTE || ph.offset > n) continue;
      len = ph.filesz < n - ph.offset ? (size_t)ph.filesz : n - ph.offset;
      assert_non_null(seg = malloc(len ? len : 1));
      memcpy(seg, copy + ph.offset, len);
      got = (long)pss_elf_build_id(seg, len, ph.align, id, PSS_LINUX_BUILD_ID_MAX);
      free(seg);
    }
  }
  free(copy);
  return got;
}

static void elf_notes_are_read_within_their_bytes (void **state) {
  static const struct { int is64; uint32_t pad, id_len; long want; } cases[] = {
    { 1, 4, 20, 20 }, { 0, 4, 20, 20 }, { 1, 8, 20, 20 }, { 0, 4, 16, 16 },
    { 1, 4, 32, 32 }, { 1, 4, 33, 0 },   /* longer than an entry holds: none */
  };
  size_t c, n;
  (void)state;
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    struct image im;
    unsigned char id[PSS_LINUX_BUILD_ID_MAX];
    size_t i;
    make_image(&im, cases[c].is64, cases[c].pad, cases[c].id_len);
    assert_int_equal(read_id(im.b, im.len, id), cases[c].want);
    for (i = 0; i < (size_t)cases[c].want; i++) assert_int_equal(id[i], 0xA0 + i);
    /* cut at every length: the id whole (its padding may be cut), or none */
    for (n = 0; n < im.len; n++) {
      long got = read_id(im.b, n, id);
      assert_true(got == -1 || got == 0 || got == cases[c].want);
      for (i = 0; got > 0 && i < (size_t)got; i++) assert_int_equal(id[i], 0xA0 + i);
    }
  }
}

static void elf_headers_out_of_reach_are_refused (void **state) {
  /* a note whose name runs past its segment */
  static const unsigned char long_name[20] = { 0xFF, 0xFF, 0xFF, 0xF0, 20, 0, 0, 0, 3 };
  unsigned char id[PSS_LINUX_BUILD_ID_MAX];
  struct image im;
  struct pss_elf e;
  struct pss_elf_phdr ph;
  Elf64_Ehdr h;
  int k;
  (void)state;
  make_image(&im, 1, 4, 20);
  assert_int_equal(pss_elf_parse_header(im.b, im.len, &e), 0);
  assert_int_equal(pss_elf_parse_phdr(&e, im.b + e.phoff, 2 * sizeof(Elf64_Phdr), 2, &ph), -EINVAL);
  assert_int_equal(pss_elf_parse_phdr(&e, im.b + e.phoff, 2 * sizeof(Elf64_Phdr) - 1, 1, &ph), -EINVAL);
  assert_int_equal(pss_elf_parse_header("\177ELF", 4, &e), -EINVAL);
  assert_int_equal(pss_elf_build_id(long_name, sizeof long_name, 4, id, sizeof id), 0);
  /* the other byte order, no class, a count kept in section 0, short entries */
  for (k = 0; k < 4; k++) {
    struct image bad = im;
    memcpy(&h, im.b, sizeof h);
    if (k == 0) h.e_ident[EI_DATA] = ELFDATA2MSB;
    if (k == 1) h.e_ident[EI_CLASS] = ELFCLASSNONE;
    if (k == 2) h.e_phnum = PN_XNUM;
    if (k == 3) h.e_phentsize = sizeof(Elf64_Phdr) - 1;
    memcpy(bad.b, &h, sizeof h);
    assert_int_equal(pss_elf_parse_header(bad.b, bad.len, &e), -EINVAL);
  }
}
/* }====================================================================== */


int run_stack_capture_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(pages_are_counted_walked_and_described),
    fixture_test(each_stack_is_copied_to_the_end_of_its_mapping),
    fixture_test(stack_limit_bounds_each_thread),
    fixture_test(a_stack_pointer_in_no_mapping_gives_no_pages),
    fixture_test(the_pages_do_not_depend_on_other_flags),
    fixture_test(the_flag_needs_contexts_and_a_freeze),
    fixture_test(page_contents_live_until_the_marker_is_freed),
    fixture_test(positions_find_pages_again),
    fixture_test(the_calling_process_stacks),
    fixture_test(build_ids_are_those_elfutils_reads),
    cmocka_unit_test(elf_notes_are_read_within_their_bytes),
    cmocka_unit_test(elf_headers_out_of_reach_are_refused),
  };
  return cmocka_run_group_tests_name("stacks", tests, NULL, NULL);
}
