/*
** test_unwind.c -- PssLinuxUnwinderCreate, PssLinuxUnwindThread and
** PssLinuxUnwinderFree against the stack target (spec/support/stack-target.c,
** built -O2 -fomit-frame-pointer: only CFI unwinds it), whose threads wait
** under known chains of functions. The oracles: the chain the target was
** written with, the target file's own build id, and elfutils' eu-stack run
** on the same process right after the capture.
**
** The stack memory comes from the VA clone, from the stack pages
** (PSS_LINUX_CAPTURE_STACKS) where this libpss takes them, and from both.
*/
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"

/* Why the last unwinder call of this thread failed. */
static char const *unwind_detail (void) {
  char const *d = PssLinuxLastErrorDetail();
  return d != NULL ? d : "";
}

#define CAPTURE_FOR_STACKS \
  (PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_SPACE)
#define MAX_UNWINDERS 8
#define TARGET_ARGS "--threads", "3", "--depth", "4", "--corrupt", "--bad-sp", "--spin", "--cxx"

/* {======================================================================
** The stack target, its captures and unwinders
** ======================================================================= */

/* Unwinders of the running test, freed by its teardown (a failed
** assertion leaves the test by longjmp). */
static HPSSUNWIND unwinders[MAX_UNWINDERS];
static size_t unwinder_count;

static void remove_copy(void);

static int unwind_teardown (void **state) {
  int rc;
  while (unwinder_count > 0) PssLinuxUnwinderFree(unwinders[--unwinder_count]);
  rc = fixture_teardown(state);   /* the targets first: then their files */
  remove_copy();
  return rc;
}

#define unwind_test(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, unwind_teardown)

static char const *stack_target (void) {
  char const *p = getenv("PSS_STACK_TARGET");
  if (p == NULL || *p == '\0') skip_because("PSS_STACK_TARGET is not set (run through make check)");
  return p;
}

/* The role a report line gave a thread: the last word of its name. */
static char const *role_of (struct target_thread const *th) {
  char const *space = strrchr(th->name, ' ');
  return space != NULL ? space + 1 : th->name;
}

static pid_t tid_of (struct target const *t, char const *role) {
  size_t i;
  for (i = 0; i < t->thread_count; i++)
    if (strcmp(role_of(&t->threads[i]), role) == 0) return t->threads[i].tid;
  fail_because("the stack target reported no %s thread", role);
  return 0;
}

/* Waits until every thread but the spinning one sleeps in its wait. */
static void wait_blocked (struct target const *t) {
  long long deadline = now_ms() + 10000;
  size_t i;
  for (i = 0; i < t->thread_count; i++) {
    char const *role = role_of(&t->threads[i]);
    if (strcmp(role, "spin") == 0 || strcmp(role, "bad-sp") == 0) continue;
    while (thread_state(t->pid, t->threads[i].tid) != 'S') {
      if (now_ms() > deadline) fail_because("thread %s did not block", t->threads[i].name);
      sleep_us(1000);
    }
  }
}

/* Starts program (the stack target, or a copy of it) through the fixture,
** which stops and reaps it at teardown: deep, one chain of more frames than
** a stack holds; else the threads of every role. */
static struct target *start_program (struct fixture *f, char const *program, int deep) {
  char const *saved = getenv("PSS_TARGET");
  char *keep = saved != NULL ? strdup(saved) : NULL;
  struct target *t;
  /* the fixture starts $PSS_TARGET: point it at the program for the call;
  ** it does not wait for every thread to sleep (one spins) */
  setenv("PSS_TARGET", program, 1);
  if (deep) t = fixture_start_running(f, "--threads", "1", "--depth", "300", NULL);
  else t = fixture_start_running(f, TARGET_ARGS, NULL);
  if (keep != NULL) setenv("PSS_TARGET", keep, 1);
  else unsetenv("PSS_TARGET");
  free(keep);
  wait_blocked(t);
  return t;
}

static struct target *start_stack_target (struct fixture *f) {
  return start_program(f, stack_target(), 0);
}

/* PssCaptureSnapshot with full contexts; the code, *s kept by the fixture. */
static DWORD capture (struct fixture *f, HANDLE h, PSS_CAPTURE_FLAGS flags, HPSS *s) {
  DWORD rc = PssCaptureSnapshot(h, flags, CONTEXT_ALL, s);
  if (rc == ERROR_SUCCESS) fixture_keep_snapshot(f, *s);
  return rc;
}

/* Whether this libpss captures stack pages (the capture helper's part). */
static int takes_stack_pages (struct fixture *f, HANDLE h) {
  PSS_AUXILIARY_PAGES_INFORMATION info;
  HPSS s = NULL;
  if (capture(f, h, CAPTURE_FOR_STACKS | PSS_LINUX_CAPTURE_STACKS, &s) != ERROR_SUCCESS)
    return 0;
  return PssQuerySnapshot(s, PSS_QUERY_AUXILIARY_PAGES_INFORMATION, &info, sizeof info) ==
         ERROR_SUCCESS && info.AuxPagesCaptured > 0;
}

/* The memory a test unwinds from: the stack pages where there are any,
** else the clone. */
static PSS_CAPTURE_FLAGS stack_memory (struct fixture *f, HANDLE h) {
  return takes_stack_pages(f, h) ? PSS_LINUX_CAPTURE_STACKS : PSS_CAPTURE_VA_CLONE;
}

static HPSS capture_ok (struct fixture *f, HANDLE h, PSS_CAPTURE_FLAGS flags) {
  HPSS s = NULL;
  DWORD rc = capture(f, h, flags, &s);
  if (rc != ERROR_SUCCESS)
    fail_because("capture (flags 0x%x): %s, %s", (unsigned)flags, win32_error_name(rc),
                 PssLinuxLastErrorDetail() != NULL ? PssLinuxLastErrorDetail() : "");
  return s;
}

static HPSSUNWIND unwinder_for (HPSS s, PSS_ALLOCATOR const *a) {
  HPSSUNWIND u = NULL;
  DWORD rc = PssLinuxUnwinderCreate(s, a, &u);
  if (rc == ERROR_NOT_SUPPORTED) skip_because("this libpss unwinds nothing (PSS_UNWIND=none)");
  if (rc != ERROR_SUCCESS)
    fail_because("PssLinuxUnwinderCreate: %s: %s", win32_error_name(rc), unwind_detail());
  assert_true(unwinder_count < MAX_UNWINDERS);
  unwinders[unwinder_count++] = u;
  return u;
}

static void unwinder_done (HPSSUNWIND u) {
  size_t i;
  assert_code(PssLinuxUnwinderFree(u), ERROR_SUCCESS);
  for (i = 0; i < unwinder_count; i++)
    if (unwinders[i] == u) unwinders[i] = unwinders[--unwinder_count];
}

static PSS_LINUX_STACK *stack_of (struct fixture *f, HPSSUNWIND u, pid_t tid) {
  PSS_LINUX_STACK *st = NULL;
  DWORD rc = PssLinuxUnwindThread(u, (DWORD)tid, PSS_LINUX_UNWIND_SOURCE_LINES, &st);
  if (rc != ERROR_SUCCESS)
    fail_because("PssLinuxUnwindThread(%d): %s: %s", (int)tid, win32_error_name(rc),
                 unwind_detail());
  assert_non_null(st);
  assert_int_equal(st->ThreadId, (DWORD)tid);
  return fixture_keep(f, st);   /* one block from malloc (no allocator given) */
}

static void print_stack (PSS_LINUX_STACK const *st) {
  DWORD i;
  note("thread %u: %u frames, end %u (%s)", (unsigned)st->ThreadId, (unsigned)st->FrameCount,
       (unsigned)st->EndReason, st->EndDetail);
  for (i = 0; i < st->FrameCount; i++)
    note("  #%u 0x%llx %s+0x%llx (%s) %s:%u method %u", (unsigned)i,
         (unsigned long long)st->Frames[i].ProgramCounter, st->Frames[i].Symbol,
         (unsigned long long)st->Frames[i].SymbolOffset, st->Frames[i].ModulePath,
         st->Frames[i].SourceFile, (unsigned)st->Frames[i].Line, st->Frames[i].Method);
}

/* The first frame named symbol, or -1. */
static long frame_named (PSS_LINUX_STACK const *st, char const *symbol) {
  DWORD i;
  for (i = 0; i < st->FrameCount; i++)
    if (strcmp(st->Frames[i].Symbol, symbol) == 0) return (long)i;
  return -1;
}
/* }====================================================================== */


/* {======================================================================
** What each thread of the target shows
** ======================================================================= */

/* Every frame: its lengths, offsets and build id hold together. */
static void expect_frames_consistent (PSS_LINUX_STACK const *st) {
  DWORD i;
  assert_true(st->FrameCount <= PSS_LINUX_STACK_FRAMES_MAX);
  assert_int_equal(strlen(st->EndDetail), st->EndDetailLength);
  for (i = 0; i < st->FrameCount; i++) {
    PSS_LINUX_STACK_FRAME const *fr = &st->Frames[i];
    assert_int_equal(strlen(fr->ModulePath), fr->ModulePathLength);
    assert_int_equal(strlen(fr->Symbol), fr->SymbolLength);
    assert_int_equal(strlen(fr->SourceFile), fr->SourceFileLength);
    if (i == 0) {
      assert_int_equal(fr->Method, PSS_LINUX_FRAME_CONTEXT);
      assert_int_equal(fr->Activation, 1);
    } else {
      assert_true(fr->Method == PSS_LINUX_FRAME_CFI || fr->Method == PSS_LINUX_FRAME_FALLBACK);
    }
    if (fr->ModuleStart != 0)
      assert_true(fr->ModuleOffset == fr->ProgramCounter - fr->ModuleStart);
    else
      assert_true(fr->ModulePathLength == 0 && fr->SymbolLength == 0);
    assert_true(fr->BuildIdLength <= PSS_LINUX_BUILD_ID_MAX);
  }
}

/* The GNU build id of an ELF file, read here from its section headers
** (an oracle apart from libdwfl); its length, 0 if none. */
static size_t file_build_id (char const *path, unsigned char *out) {
  static char image[4 << 20];
  Elf64_Ehdr const *eh = (Elf64_Ehdr const *)image;
  size_t i, n = 0;
  int fd = open(path, O_RDONLY);
  ssize_t len = fd >= 0 ? read(fd, image, sizeof image) : -1;
  if (fd >= 0) close(fd);
  if (len < (ssize_t)sizeof *eh ||
      eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > (size_t)len)
    return 0;
  for (i = 0; i < eh->e_shnum && n == 0; i++) {
    Elf64_Shdr const *sh = (Elf64_Shdr const *)(image + eh->e_shoff) + i;
    Elf64_Nhdr const *note = (Elf64_Nhdr const *)(image + sh->sh_offset);
    if (sh->sh_type != SHT_NOTE || sh->sh_offset + sh->sh_size > (size_t)len) continue;
    if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && note->n_descsz <= 32) {
      n = note->n_descsz;
      memcpy(out, (char const *)(note + 1) + 4, n);
    }
  }
  return n;
}

/* A chain thread: read, then stack_block, stack_chain_leaf, depth x
** stack_chain_depth, stack_chain_middle, stack_chain_top, chain_thread,
** each in the target (module path exe; its build id that of file) with
** its source line, found by CFI. */
static void expect_chain (PSS_LINUX_STACK const *st, char const *exe, char const *file,
                          int depth) {
  char const *chain[16];
  unsigned char id[32];
  size_t n = 0, i, id_len = file_build_id(file, id);
  long at = frame_named(st, "stack_block");
  chain[n++] = "stack_block";
  chain[n++] = "stack_chain_leaf";
  for (i = 0; i < (size_t)depth; i++) chain[n++] = "stack_chain_depth";
  chain[n++] = "stack_chain_middle";
  chain[n++] = "stack_chain_top";
  chain[n++] = "chain_thread";
  expect_frames_consistent(st);
  assert_true(id_len > 0);   /* Debian's gcc links every program with one */
  if (at < 1 || at + n > st->FrameCount) { print_stack(st); fail_because("no chain in the stack"); }
  for (i = 0; i < n; i++) {
    PSS_LINUX_STACK_FRAME const *fr = &st->Frames[at + (long)i];
    char const *base = strrchr(fr->SourceFile, '/');
    if (strcmp(fr->Symbol, chain[i]) != 0) { print_stack(st); fail_because("frame %zu", at + i); }
    assert_string_equal(base != NULL ? base + 1 : fr->SourceFile, "stack-target.c");
    assert_true(fr->Line > 0);
    assert_string_equal(fr->ModulePath, exe);
    assert_int_equal(fr->Method, PSS_LINUX_FRAME_CFI);
    assert_int_equal(fr->Activation, 0);
    assert_true(fr->SymbolOffset > 0 && fr->SymbolOffset < 4096);
    assert_int_equal(fr->BuildIdLength, id_len);
    assert_memory_equal(fr->BuildId, id, id_len);
  }
  assert_int_equal(st->EndReason, PSS_LINUX_STACK_END_OUTERMOST);
  assert_int_equal(st->EndDetailLength, 0);
}

/* A thread that cannot be unwound to its start ends for a reason, within
** the frame limit, and says why. */
static void expect_broken (PSS_LINUX_STACK const *st, char const *first) {
  expect_frames_consistent(st);
  if (st->EndReason == PSS_LINUX_STACK_END_OUTERMOST || st->FrameCount < 1 ||
      frame_named(st, first) < 0) {
    print_stack(st);
    fail_because("a broken stack unwound as a whole one");
  }
  assert_true(st->EndReason >= PSS_LINUX_STACK_END_LIMIT &&
              st->EndReason <= PSS_LINUX_STACK_END_UNWIND);
  assert_true(st->EndDetailLength > 0);
}

static void expect_in_order (PSS_LINUX_STACK const *st, char const *const *names) {
  long at = frame_named(st, names[0]);
  size_t i;
  expect_frames_consistent(st);
  for (i = 0; names[i] != NULL; i++)
    if (at < 0 || at + (long)i >= (long)st->FrameCount ||
        strcmp(st->Frames[at + (long)i].Symbol, names[i]) != 0) {
      print_stack(st);
      fail_because("no %s where expected", names[i]);
    }
  assert_int_equal(st->EndReason, PSS_LINUX_STACK_END_OUTERMOST);
}

static void check_target_stacks (struct fixture *f, PSS_CAPTURE_FLAGS memory) {
  struct target *t = start_stack_target(f);
  char exe[PATH_MAX];
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | memory);
  HPSSUNWIND u = unwinder_for(s, NULL);
  char const *spin[] = { "stack_spin_leaf", "stack_spin_top", "spin_thread", NULL };
  char const *main_thread[] = { "stack_main_wait", "main", NULL };
  PSS_LINUX_STACK const *st;
  size_t i;
  assert_non_null(realpath(stack_target(), exe));
  for (i = 0; i < t->thread_count; i++)
    if (strcmp(role_of(&t->threads[i]), "chain") == 0)
      expect_chain(stack_of(f, u, t->threads[i].tid), exe, exe, 4);
  expect_broken(stack_of(f, u, tid_of(t, "corrupt")), "stack_corrupt_leaf");
  st = stack_of(f, u, tid_of(t, "bad-sp"));
  expect_broken(st, "bad_sp_thread");
  assert_int_equal(st->FrameCount, 1);
  st = stack_of(f, u, tid_of(t, "spin"));
  expect_in_order(st, spin);
  assert_int_equal(frame_named(st, "stack_spin_leaf"), 0);
  expect_in_order(stack_of(f, u, tid_of(t, "main")), main_thread);
  /* a C++ symbol (_ZN3pss6target9cxx_frameEi) named as people read it */
  st = stack_of(f, u, tid_of(t, "cxx"));
  if (frame_named(st, "pss::target::cxx_frame(int)") < 0) {
    print_stack(st);
    fail_because("no frame named pss::target::cxx_frame(int)");
  }
  unwinder_done(u);
}
/* }====================================================================== */


/* {======================================================================
** Tests
** ======================================================================= */

static void stacks_from_the_clone (void **state) {
  check_target_stacks(FIXTURE(state), PSS_CAPTURE_VA_CLONE);
}

static void stacks_from_the_stack_pages (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  int pages = takes_stack_pages(f, fixture_open(f, t->pid));
  fixture_release_target(f, t);
  if (!pages) skip_because("this libpss takes no stack pages (PSS_LINUX_CAPTURE_STACKS)");
  check_target_stacks(f, PSS_LINUX_CAPTURE_STACKS);
  check_target_stacks(f, PSS_LINUX_CAPTURE_STACKS | PSS_CAPTURE_VA_CLONE);
}

/* "#3  0x000055d4c8a01a9e stack_chain_depth" lines of eu-stack -p, per
** "TID n:"; the names of tid's frames into names (at most max). */
static size_t eu_stack_names (char const *text, pid_t tid, char names[][128], size_t max) {
  char header[32];
  char const *p;
  size_t n = 0;
  snprintf(header, sizeof header, "TID %d:\n", (int)tid);
  if ((p = strstr(text, header)) == NULL) return 0;
  for (p += strlen(header); *p == '#' && n < max; p = strchr(p, '\n') + 1) {
    unsigned long long pc;
    unsigned index;
    names[n][0] = '\0';
    if (sscanf(p, "#%u %llx %127[^\n]", &index, &pc, names[n]) < 2) break;
    n++;
    if (strchr(p, '\n') == NULL) break;
  }
  return n;
}

static void agrees_with_eu_stack (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  HPSSUNWIND u = unwinder_for(s, NULL);
  static char text[1 << 16];
  char command[64], names[16][128];
  size_t len, i, compared = 0;
  FILE *p;
  snprintf(command, sizeof command, "timeout 30 eu-stack -p %d 2>/dev/null", (int)t->pid);
  if ((p = popen(command, "r")) == NULL) skip_because("cannot run eu-stack");
  len = fread(text, 1, sizeof text - 1, p);
  text[len] = '\0';
  if (pclose(p) != 0 && strstr(text, "TID ") == NULL) skip_because("eu-stack failed (installed?)");
  for (i = 0; i < t->thread_count; i++) {
    char const *role = role_of(&t->threads[i]);
    PSS_LINUX_STACK const *st;
    size_t n, k, top;
    if (strcmp(role, "spin") == 0) continue;   /* it moved on since the capture */
    st = stack_of(f, u, t->threads[i].tid);
    n = eu_stack_names(text, t->threads[i].tid, names, 16);
    top = strcmp(role, "bad-sp") == 0 ? 1 : strcmp(role, "corrupt") == 0 ? 3 : 5;
    if (n < top || st->FrameCount < top) {
      print_stack(st);
      fail_because("thread %s: %zu frames from eu-stack, %u here", t->threads[i].name, n,
                   (unsigned)st->FrameCount);
    }
    for (k = 0; k < top; k++) {
      if (strcmp(names[k], st->Frames[k].Symbol) != 0) {
        print_stack(st);
        fail_because("thread %s frame %zu: eu-stack says %s", t->threads[i].name, k, names[k]);
      }
      compared++;
    }
  }
  note("%zu frames named as eu-stack names them", compared);
}

static void without_what_it_needs (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  HANDLE h = fixture_open(f, t->pid);
  const struct { PSS_CAPTURE_FLAGS flags; char const *names; } lacking[] = {
    { PSS_CAPTURE_THREADS | PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_VA_CLONE,
      "PSS_CAPTURE_THREAD_CONTEXT" },
    { PSS_CAPTURE_VA_SPACE | PSS_CAPTURE_VA_CLONE, "PSS_CAPTURE_THREADS" },
    { PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT | PSS_CAPTURE_VA_CLONE,
      "PSS_CAPTURE_VA_SPACE" },
    { CAPTURE_FOR_STACKS, "PSS_LINUX_CAPTURE_STACKS or PSS_CAPTURE_VA_CLONE" },
  };
  size_t i;
  for (i = 0; i < sizeof lacking / sizeof lacking[0]; i++) {
    HPSSUNWIND u = (HPSSUNWIND)(void *)&i;   /* untouched on failure */
    HPSS s = capture_ok(f, h, lacking[i].flags);
    DWORD rc = PssLinuxUnwinderCreate(s, NULL, &u);
    if (rc == ERROR_NOT_SUPPORTED) skip_because("this libpss unwinds nothing (PSS_UNWIND=none)");
    assert_code(rc, ERROR_NOT_FOUND);
    assert_ptr_equal(u, (HPSSUNWIND)(void *)&i);
    note("flags 0x%x: %s", (unsigned)lacking[i].flags, unwind_detail());
    assert_non_null(strstr(unwind_detail(), lacking[i].names));
  }
}

static void bad_handles_and_arguments (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | PSS_CAPTURE_VA_CLONE), freed = NULL;
  PSS_ALLOCATOR half = { NULL, NULL, NULL };
  PSS_LINUX_STACK *st = NULL;
  char exe[PATH_MAX];
  HPSSUNWIND u, gone;
  DWORD i;
  assert_code(PssLinuxUnwinderCreate(s, NULL, NULL), ERROR_INVALID_PARAMETER);
  assert_code(PssLinuxUnwinderCreate(s, &half, &u), ERROR_INVALID_PARAMETER);
  assert_code(PssLinuxUnwinderCreate(NULL, NULL, &u), ERROR_INVALID_HANDLE);
  assert_code(PssCaptureSnapshot(h, PSS_CAPTURE_THREADS, 0, &freed), ERROR_SUCCESS);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, freed), ERROR_SUCCESS);
  assert_code(PssLinuxUnwinderCreate(freed, NULL, &u), ERROR_INVALID_HANDLE);
  u = unwinder_for(s, NULL);
  /* the unwinder holds its own duplicate: the caller's may go */
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  assert_non_null(realpath(stack_target(), exe));
  expect_chain(stack_of(f, u, tid_of(t, "chain")), exe, exe, 4);
  assert_code(PssLinuxUnwindThread(u, 1, 0, &st), ERROR_NOT_FOUND);
  assert_code(PssLinuxUnwindThread(u, (DWORD)t->pid, 0, NULL), ERROR_INVALID_PARAMETER);
  assert_code(PssLinuxUnwindThread(u, (DWORD)t->pid, 0x2, &st), ERROR_INVALID_PARAMETER);
  assert_null(st);
  /* without PSS_LINUX_UNWIND_SOURCE_LINES: the same frames, no source */
  assert_code(PssLinuxUnwindThread(u, (DWORD)tid_of(t, "chain"), 0, &st), ERROR_SUCCESS);
  assert_true(frame_named(st, "stack_chain_leaf") >= 0);
  for (i = 0; i < st->FrameCount; i++) {
    assert_string_equal(st->Frames[i].SourceFile, "");
    assert_int_equal(st->Frames[i].Line, 0);
  }
  free(st);
  st = NULL;
  assert_code(PssLinuxUnwindThread(NULL, (DWORD)t->pid, 0, &st), ERROR_INVALID_HANDLE);
  gone = u;
  unwinder_done(u);
  assert_code(PssLinuxUnwindThread(gone, (DWORD)t->pid, 0, &st), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxUnwinderFree(gone), ERROR_INVALID_HANDLE);
  assert_code(PssLinuxUnwinderFree(NULL), ERROR_INVALID_HANDLE);
  assert_null(st);
}
/* }====================================================================== */


/* {======================================================================
** A replaced binary, a counting allocator, the calling process, the limit
** ======================================================================= */

/* The directory of a test's copy of the target, removed at teardown. */
static char copy_dir[PATH_MAX];

static void remove_copy (void) {
  char path[PATH_MAX + 32];
  if (copy_dir[0] == '\0') return;
  snprintf(path, sizeof path, "%s/stack-target", copy_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/other", copy_dir);
  unlink(path);
  rmdir(copy_dir);
  copy_dir[0] = '\0';
}

static void copy_file (char const *from, char const *to) {
  static char buf[1 << 16];
  int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0755);
  ssize_t n;
  assert_true(in >= 0 && out >= 0);
  while ((n = read(in, buf, sizeof buf)) > 0) assert_int_equal(write(out, buf, (size_t)n), n);
  close(in);
  close(out);
}

/*
** Starts a copy of the target from a new directory, then renames another
** program over the copy's path: the process runs a file no path names any
** more, and its path now names a file of another build id.
*/
static struct target *start_replaced (struct fixture *f, char *path, size_t cap) {
  char other[PATH_MAX + 32];
  struct target *t;
  snprintf(copy_dir, sizeof copy_dir, "/tmp/pss-unwind-XXXXXX");
  assert_non_null(mkdtemp(copy_dir));
  assert_true(strlen(copy_dir) + 16 < cap);
  memcpy(path, copy_dir, strlen(copy_dir));
  strcpy(path + strlen(copy_dir), "/stack-target");
  snprintf(other, sizeof other, "%s/other", copy_dir);
  copy_file(stack_target(), path);
  copy_file("/bin/true", other);
  t = start_program(f, path, 0);
  assert_int_equal(rename(other, path), 0);
  return t;
}

static void replaced_binary_through_map_files (void **state) {
  struct fixture *f = FIXTURE(state);
  char path[PATH_MAX], deleted[PATH_MAX + 16];
  struct target *t = start_replaced(f, path, sizeof path);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  HPSSUNWIND u = unwinder_for(s, NULL);
  snprintf(deleted, sizeof deleted, "%s (deleted)", path);
  /* its path names /bin/true now: only /proc/PID/map_files has the file */
  expect_chain(stack_of(f, u, tid_of(t, "chain")), deleted, stack_target(), 4);
}

static void replaced_binary_after_exit (void **state) {
  struct fixture *f = FIXTURE(state);
  char path[PATH_MAX];
  struct target *t = start_replaced(f, path, sizeof path);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  pid_t chain = tid_of(t, "chain");
  PSS_LINUX_STACK const *st;
  HPSSUNWIND u;
  DWORD i, in_target = 0;
  fixture_close(f, h);
  fixture_release_target(f, t);       /* exits and is reaped: no map_files */
  u = unwinder_for(s, NULL);
  st = stack_of(f, u, chain);
  expect_frames_consistent(st);
  assert_string_equal(st->Frames[0].Symbol, "read");   /* libc is still there */
  for (i = 0; i < st->FrameCount; i++) {
    PSS_LINUX_STACK_FRAME const *fr = &st->Frames[i];
    if (strncmp(fr->ModulePath, path, strlen(path)) != 0) continue;
    /* the file at the path is another one: module and offset only, and
    ** no CFI to find the caller by (libdwfl falls back on rbp) */
    in_target++;
    assert_int_equal(fr->SymbolLength, 0);
    assert_int_equal(fr->SourceFileLength, 0);
    assert_true(fr->ModuleStart != 0 && fr->ModuleOffset < (1u << 20));
    if (i + 1 < st->FrameCount) assert_int_equal(st->Frames[i + 1].Method, PSS_LINUX_FRAME_FALLBACK);
  }
  if (in_target == 0) { print_stack(st); fail_because("no frame in the replaced binary"); }
}

struct counting {
  size_t allocations, frees;
  long long live_bytes;
  long budget;                /* allocations left before it refuses; -1: no end */
};

/* Each block starts with its size, so a stack can be checked to be one. */
static void *WINAPI counting_alloc (void *context, DWORD size) {
  struct counting *c = context;
  size_t *block;
  if (c->budget == 0) return NULL;
  if (c->budget > 0) c->budget--;
  if ((block = malloc(16 + (size_t)size)) == NULL) return NULL;
  block[0] = size;
  c->allocations++;
  c->live_bytes += size;
  return (char *)block + 16;
}

static void WINAPI counting_free (void *context, void *address) {
  struct counting *c = context;
  size_t *block;
  if (address == NULL) return;
  block = (size_t *)((char *)address - 16);
  c->frees++;
  c->live_bytes -= (long long)block[0];
  free(block);
}

static int inside (void const *p, size_t len, char const *block, size_t size) {
  char const *q = p;
  return q >= block && q + len < block + size && q[len] == '\0';
}

/* Everything a stack points to is in its one block. */
static void expect_one_block (PSS_LINUX_STACK const *st) {
  char const *block = (char const *)st;
  size_t size = ((size_t const *)(block - 16))[0], i;
  assert_true(inside(st->EndDetail, st->EndDetailLength, block, size));
  assert_true((char const *)st->Frames >= block &&
              (char const *)(st->Frames + st->FrameCount) <= block + size);
  for (i = 0; i < st->FrameCount; i++) {
    assert_true(inside(st->Frames[i].ModulePath, st->Frames[i].ModulePathLength, block, size));
    assert_true(inside(st->Frames[i].Symbol, st->Frames[i].SymbolLength, block, size));
    assert_true(inside(st->Frames[i].SourceFile, st->Frames[i].SourceFileLength, block, size));
  }
}

static void allocations_balance (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  struct counting c = { 0, 0, 0, -1 };
  PSS_ALLOCATOR a = { &c, counting_alloc, counting_free };
  HPSSUNWIND u = unwinder_for(s, &a);
  size_t i, before;
  for (i = 0; i < t->thread_count; i++) {
    PSS_LINUX_STACK *st = NULL;
    before = c.allocations;
    assert_code(PssLinuxUnwindThread(u, (DWORD)t->threads[i].tid, 0, &st), ERROR_SUCCESS);
    assert_int_equal(c.allocations, before + 1);   /* one block per stack */
    expect_frames_consistent(st);
    expect_one_block(st);
    a.FreeRoutine(a.Context, st);
  }
  unwinder_done(u);
  note("%zu allocations, %zu frees", c.allocations, c.frees);
  assert_true(c.allocations > t->thread_count);
  assert_int_equal(c.allocations, c.frees);
  assert_true(c.live_bytes == 0);
}

/* An allocator that refuses at any point: the call fails with
** ERROR_NOT_ENOUGH_MEMORY, keeps nothing, and writes no out-parameter. */
static void allocator_refusals (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_stack_target(f);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  struct counting c = { 0, 0, 0, 0 };
  PSS_ALLOCATOR a = { &c, counting_alloc, counting_free };
  HPSSUNWIND u = NULL;
  PSS_LINUX_STACK *st = NULL;
  DWORD rc;
  long budget;
  for (budget = 0;; budget++) {
    c.budget = budget;
    rc = PssLinuxUnwinderCreate(s, &a, &u);
    if (rc == ERROR_SUCCESS) break;
    assert_code(rc, ERROR_NOT_ENOUGH_MEMORY);
    assert_null(u);
    assert_true(c.live_bytes == 0 && c.allocations == c.frees);
    assert_true(budget < 1000);
  }
  assert_true(unwinder_count < MAX_UNWINDERS);
  unwinders[unwinder_count++] = u;
  note("PssLinuxUnwinderCreate needs %ld allocations", budget);
  c.budget = 0;
  assert_code(PssLinuxUnwindThread(u, (DWORD)tid_of(t, "chain"), 0, &st), ERROR_NOT_ENOUGH_MEMORY);
  assert_null(st);
  c.budget = -1;
  assert_code(PssLinuxUnwindThread(u, (DWORD)tid_of(t, "chain"), 0, &st), ERROR_SUCCESS);
  assert_true(st->FrameCount > 8);
  a.FreeRoutine(a.Context, st);
  unwinder_done(u);
  assert_true(c.live_bytes == 0 && c.allocations == c.frees);
}

static __attribute__((noinline)) void unwinds_the_calling_process (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_ok(f, PSS_LINUX_CURRENT_PROCESS,
                      CAPTURE_FOR_STACKS | stack_memory(f, PSS_LINUX_CURRENT_PROCESS));
  HPSSUNWIND u = unwinder_for(s, NULL);
  PSS_LINUX_STACK const *st = stack_of(f, u, (pid_t)gettid());
  expect_frames_consistent(st);
  if (under_valgrind()) {
    /* ptrace sees valgrind's registers, not the program's */
    note("under valgrind: %u frames, not compared", (unsigned)st->FrameCount);
    return;
  }
  if (frame_named(st, "unwinds_the_calling_process") < 0) {
    print_stack(st);
    fail_because("the calling thread's stack does not show the test");
  }
}

static void stops_at_the_frame_limit (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = start_program(f, stack_target(), 1);
  HANDLE h = fixture_open(f, t->pid);
  HPSS s = capture_ok(f, h, CAPTURE_FOR_STACKS | stack_memory(f, h));
  HPSSUNWIND u = unwinder_for(s, NULL);
  PSS_LINUX_STACK const *st = stack_of(f, u, tid_of(t, "chain"));
  expect_frames_consistent(st);
  assert_int_equal(st->FrameCount, PSS_LINUX_STACK_FRAMES_MAX);
  assert_int_equal(st->EndReason, PSS_LINUX_STACK_END_LIMIT);
  assert_string_equal(st->Frames[PSS_LINUX_STACK_FRAMES_MAX - 1].Symbol, "stack_chain_depth");
}
/* }====================================================================== */


#if defined(__x86_64__)

int run_unwind_suite (void) {
  const struct CMUnitTest tests[] = {
    unwind_test(stacks_from_the_clone),
    unwind_test(stacks_from_the_stack_pages),
    unwind_test(agrees_with_eu_stack),
    unwind_test(without_what_it_needs),
    unwind_test(bad_handles_and_arguments),
    unwind_test(replaced_binary_through_map_files),
    unwind_test(replaced_binary_after_exit),
    unwind_test(allocations_balance),
    unwind_test(allocator_refusals),
    unwind_test(unwinds_the_calling_process),
    unwind_test(stops_at_the_frame_limit),
  };
  return cmocka_run_group_tests_name("unwind", tests, NULL, NULL);
}

#else

/* Contexts, and so stacks, are x86-64's: nothing to unwind elsewhere. */
int run_unwind_suite (void) {
  return 0;
}

#endif
