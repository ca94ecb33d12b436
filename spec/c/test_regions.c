/*
** test_regions.c -- VA-space entries against the target's report and
** /proc/PID/maps.
*/
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "suites.h"

struct regions {
  struct target *target;
  HPSS snapshot;
  size_t count;
  PSS_VA_SPACE_ENTRY *entries;
  PSS_LINUX_VA_SPACE_ENTRY *linux_entries;
  struct proc_map *maps;
  size_t map_count;
};

static struct regions capture_regions (struct fixture *f, PSS_CAPTURE_FLAGS flags) {
  struct regions r;
  size_t n;
  r.target = fixture_start(f, NULL);
  r.snapshot = fixture_capture(f, fixture_open(f, r.target->pid), flags);
  r.entries = fixture_walk(f, r.snapshot, PSS_WALK_VA_SPACE, &r.count);
  r.linux_entries = fixture_walk(f, r.snapshot, PSS_WALK_LINUX_VA_SPACE, &n);
  r.maps = fixture_keep(f, proc_maps(r.target->pid, &r.map_count));
  assert_non_null(r.maps);
  assert_int_equal(n, r.count);
  assert_int_equal(r.map_count, r.count);
  return r;
}

/* PAGE_* for the rwxp/s permissions of a mapping; a private writable
** mapping of a file is copy-on-write */
static DWORD protect_of (char const *perms, int file_backed) {
  int r = perms[0] == 'r', w = perms[1] == 'w', x = perms[2] == 'x';
  int cow = w && perms[3] == 'p' && file_backed;
  if (!r && !w && !x)
    return PAGE_NOACCESS;
  if (x) {
    if (w)
      return cow ? PAGE_EXECUTE_WRITECOPY : PAGE_EXECUTE_READWRITE;
    return r ? PAGE_EXECUTE_READ : PAGE_EXECUTE;
  }
  if (w)
    return cow ? PAGE_WRITECOPY : PAGE_READWRITE;
  return PAGE_READONLY;
}

static size_t region_index (struct regions const *r, uintptr_t start) {
  size_t i;
  for (i = 0; i < r->count; i++)
    if ((uintptr_t)r->entries[i].BaseAddress == start)
      return i;
  fail_because("no region at 0x%llx", (unsigned long long)start);
  return 0;
}

static int is_file_path (char const *path) {
  return path[0] == '/';
}

static char const *const report_map_kinds[] = {
  "anon-rw", "anon-ro", "anon-none", "anon-rx", "anon-shared", "file-private",
  "file-shared", "memfd",
};

static void target_maps_every_kind (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, NULL);
  size_t i;
  for (i = 0; i < sizeof report_map_kinds / sizeof report_map_kinds[0]; i++)
    if (target_map_by_kind(t, report_map_kinds[i]) == NULL)
      fail_because("the target reports no map of kind %s", report_map_kinds[i]);
}

static void check_report_map (struct regions const *r, struct target_map const *m) {
  size_t i = region_index(r, m->start);
  PSS_VA_SPACE_ENTRY const *e = &r->entries[i];
  int anonymous = strncmp(m->kind, "anon-", 5) == 0;
  int shared = m->perms[3] == 's';
  DWORD protect = protect_of(m->perms, !anonymous);
  assert_int_equal(e->RegionSize, m->size);
  if (e->Protect != protect)
    fail_because("%s map %s at 0x%llx: Protect 0x%x, expected 0x%x", m->kind, m->perms,
                 (unsigned long long)m->start, (unsigned)e->Protect, (unsigned)protect);
  assert_int_equal(e->State, protect == PAGE_NOACCESS ? MEM_RESERVE : MEM_COMMIT);
  if (e->Type != (anonymous && !shared ? MEM_PRIVATE : MEM_MAPPED))
    fail_because("%s map at 0x%llx: Type 0x%x", m->kind, (unsigned long long)m->start,
                 (unsigned)e->Type);
  assert_memory_equal(r->linux_entries[i].Permissions, m->perms, 4);
  if (!anonymous)
    assert_utf16_bytes(e->MappedFileName, e->MappedFileNameLength, m->path, m->path_len);
}

static void regions_match_report_maps (void **state) {
  struct fixture *f = FIXTURE(state);
  struct regions r = capture_regions(f, CAPTURE_EVERYTHING);
  size_t i;
  for (i = 0; i < sizeof report_map_kinds / sizeof report_map_kinds[0]; i++) {
    struct target_map const *m = target_map_by_kind(r.target, report_map_kinds[i]);
    if (m == NULL)
      fail_because("the target reports no map of kind %s", report_map_kinds[i]);
    check_report_map(&r, m);
  }
}

/* Index of the first row of i's allocation: file rows mapping the same
** file (inode and device) back to back */
static size_t allocation_start (struct proc_map const *m, size_t i) {
  while (i > 0 && m[i].inode != 0 && m[i - 1].inode == m[i].inode &&
         m[i - 1].dev_major == m[i].dev_major && m[i - 1].dev_minor == m[i].dev_minor &&
         m[i - 1].end == m[i].start)
    i--;
  return i;
}

static size_t allocation_end (struct proc_map const *m, size_t count, size_t i) {
  size_t end = i + 1;
  while (end < count && m[i].inode != 0 && m[end].inode == m[i].inode &&
         m[end].dev_major == m[i].dev_major && m[end].dev_minor == m[i].dev_minor &&
         m[end - 1].end == m[end].start)
    end++;
  return end;
}

/* The documented Type: mapped if file or shared, image for [vdso], else
** private; a file allocation with an executable row is an image */
static DWORD type_of (struct proc_map const *m, size_t count, size_t i) {
  size_t a, k;
  if (m[i].inode == 0)
    return m[i].perms[3] == 's' ? MEM_MAPPED
         : strcmp(m[i].path, "[vdso]") == 0 ? MEM_IMAGE : MEM_PRIVATE;
  a = allocation_start(m, i);
  for (k = a; k < allocation_end(m, count, a); k++)
    if (m[k].perms[2] == 'x')
      return MEM_IMAGE;
  return MEM_MAPPED;
}

static void check_region_against_maps (struct regions const *r, size_t i) {
  PSS_LINUX_VA_SPACE_ENTRY const *e = &r->linux_entries[i];
  struct proc_map const *m = &r->maps[i];
  DWORD protect = protect_of(m->perms, m->inode != 0);
  DWORD type = type_of(r->maps, r->count, i);
  size_t first = m->inode != 0 ? allocation_start(r->maps, i) : i;
  assert_int_equal((uintptr_t)e->Region.BaseAddress, m->start);
  assert_string_equal(e->Permissions, m->perms);
  assert_int_equal(e->Offset, m->offset);
  assert_int_equal(e->Inode, m->inode);
  assert_int_equal(e->DeviceMajor, m->dev_major);
  assert_int_equal(e->DeviceMinor, m->dev_minor);
  assert_bytes(e->Path, e->PathLength, m->path, strlen(m->path));
  if (e->Region.Protect != protect)
    fail_because("%s %s at 0x%llx: Protect 0x%x, expected 0x%x", m->perms, m->path,
                 (unsigned long long)m->start, (unsigned)e->Region.Protect,
                 (unsigned)protect);
  assert_int_equal(e->Region.State, protect == PAGE_NOACCESS ? MEM_RESERVE : MEM_COMMIT);
  if (e->Region.Type != type)
    fail_because("%s %s at 0x%llx: Type 0x%x, expected 0x%x", m->perms, m->path,
                 (unsigned long long)m->start, (unsigned)e->Region.Type, (unsigned)type);
  assert_int_equal((uintptr_t)e->Region.AllocationBase, r->maps[first].start);
  assert_int_equal(e->Region.AllocationProtect,
                   protect_of(r->maps[first].perms, r->maps[first].inode != 0));
  /* file names for mapped and image rows, never for private ones */
  if (type == MEM_PRIVATE || m->path[0] == '\0') {
    assert_null(e->Region.MappedFileName);
    assert_int_equal(e->Region.MappedFileNameLength, 0);
  } else {
    assert_utf16_bytes(e->Region.MappedFileName, e->Region.MappedFileNameLength, m->path,
                       strlen(m->path));
  }
}

static void regions_match_proc_maps (void **state) {
  struct fixture *f = FIXTURE(state);
  struct regions r = capture_regions(f, CAPTURE_EVERYTHING);
  size_t i;
  for (i = 0; i < r.count; i++)
    check_region_against_maps(&r, i);
}

/* Every mapping of the file path (from /proc/PID/maps) */
static size_t image_regions (struct regions const *r, char const *path, size_t *first) {
  size_t i, n = 0;
  for (i = 0; i < r->count; i++)
    if (strcmp(r->maps[i].path, path) == 0) {
      if (n == 0)
        *first = i;
      n++;
    }
  return n;
}

static void executable_and_libc_are_images (void **state) {
  struct fixture *f = FIXTURE(state);
  struct regions r = capture_regions(f, CAPTURE_EVERYTHING);
  char exe[1024], libc[1024] = "";
  long len = proc_link(r.target->pid, "exe", exe, sizeof exe);
  size_t i, first = 0, libc_first = 0;
  assert_true(len > 0);
  assert_true(image_regions(&r, exe, &first) >= 2);
  for (i = 0; i < r.count; i++) {
    char const *base = strrchr(r.maps[i].path, '/');
    if (base != NULL && (strncmp(base, "/libc.so", 8) == 0 || strncmp(base, "/libc-", 6) == 0)) {
      snprintf(libc, sizeof libc, "%s", r.maps[i].path);
      break;
    }
  }
  assert_true(libc[0] != '\0');
  assert_true(image_regions(&r, libc, &libc_first) >= 2);
  for (i = 0; i < r.count; i++) {
    PSS_VA_SPACE_ENTRY const *e = &r.entries[i];
    if (strcmp(r.maps[i].path, exe) != 0 && strcmp(r.maps[i].path, libc) != 0)
      continue;
    if (e->Type != MEM_IMAGE)
      fail_because("%s at 0x%llx: Type 0x%x, expected MEM_IMAGE", r.maps[i].path,
                   (unsigned long long)r.maps[i].start, (unsigned)e->Type);
    assert_true(e->SizeOfImage > 0);
    assert_non_null(e->ImageBase);
    assert_utf16_bytes(e->MappedFileName, e->MappedFileNameLength, r.maps[i].path,
                       strlen(r.maps[i].path));
  }
  /* one image, one base: every mapping of the executable names the same */
  for (i = first; i < r.count; i++)
    if (strcmp(r.maps[i].path, exe) == 0) {
      assert_ptr_equal(r.entries[i].ImageBase, r.entries[first].ImageBase);
      assert_int_equal(r.entries[i].SizeOfImage, r.entries[first].SizeOfImage);
    }
}

/* What the ELF file says: the PT_LOAD span and the build id's first
** word, read from the file itself (not the target's memory) */
struct elf_facts {
  DWORD size_of_image, build_id_word;
};

static void elf_facts_of (pid_t pid, struct elf_facts *out) {
  char path[64];
  Elf64_Ehdr eh;
  uint64_t lo = UINT64_MAX, hi = 0;
  int fd, k;
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  memset(out, 0, sizeof *out);
  assert_int_equal(pread(fd, &eh, sizeof eh, 0), (ssize_t)sizeof eh);
  assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
  for (k = 0; k < eh.e_phnum; k++) {
    Elf64_Phdr ph;
    assert_int_equal(pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)k * sizeof ph)),
                     (ssize_t)sizeof ph);
    if (ph.p_type == PT_LOAD) {
      if (ph.p_vaddr < lo)
        lo = ph.p_vaddr;
      if (ph.p_vaddr + ph.p_memsz > hi)
        hi = ph.p_vaddr + ph.p_memsz;
    } else if (ph.p_type == PT_NOTE && out->build_id_word == 0) {
      unsigned char note[512];
      size_t pos = 0, len = ph.p_filesz < sizeof note ? ph.p_filesz : sizeof note;
      assert_int_equal(pread(fd, note, len, (off_t)ph.p_offset), (ssize_t)len);
      while (pos + 12 <= len) {
        uint32_t namesz, descsz, type;
        memcpy(&namesz, note + pos, 4);
        memcpy(&descsz, note + pos + 4, 4);
        memcpy(&type, note + pos + 8, 4);
        if (type == NT_GNU_BUILD_ID && namesz == 4 && descsz >= 4 &&
            pos + 16 + 4 <= len && memcmp(note + pos + 12, "GNU", 4) == 0) {
          memcpy(&out->build_id_word, note + pos + 16, 4);
          break;
        }
        pos += 12 + ((namesz + 3u) & ~3u) + ((descsz + 3u) & ~3u);
      }
    }
  }
  close(fd);
  out->size_of_image = (DWORD)(((hi + 4095) & ~(uint64_t)4095) - (lo & ~(uint64_t)4095));
}

static void executable_image_fields_match_elf_file (void **state) {
  struct fixture *f = FIXTURE(state);
  struct regions r = capture_regions(f, CAPTURE_EVERYTHING);
  char exe[1024], root[1100];
  long len = proc_link(r.target->pid, "exe", exe, sizeof exe);
  struct elf_facts facts;
  struct stat sb;
  size_t i, first = 0, seen = 0;
  assert_true(len > 0);
  elf_facts_of(r.target->pid, &facts);
  assert_true(facts.size_of_image > 0);
  snprintf(root, sizeof root, "/proc/%d/root%s", (int)r.target->pid, exe);
  assert_int_equal(stat(root, &sb), 0);
  assert_true(image_regions(&r, exe, &first) >= 2);
  assert_int_equal(r.maps[first].offset, 0);
  for (i = 0; i < r.count; i++) {
    PSS_VA_SPACE_ENTRY const *e = &r.entries[i];
    if (strcmp(r.maps[i].path, exe) != 0)
      continue;
    seen++;
    assert_int_equal((uintptr_t)e->ImageBase, r.maps[first].start);
    assert_int_equal(e->SizeOfImage, facts.size_of_image);
    assert_int_equal(e->CheckSum, facts.build_id_word);
    assert_int_equal(e->TimeDateStamp, (DWORD)sb.st_mtime);
  }
  assert_true(seen >= 2);
}

static void file_names_need_section_information (void **state) {
  struct fixture *f = FIXTURE(state);
  struct regions r = capture_regions(f, PSS_CAPTURE_VA_SPACE);
  size_t i, files = 0;
  for (i = 0; i < r.count; i++) {
    assert_int_equal(r.entries[i].MappedFileNameLength, 0);
    assert_null(r.entries[i].MappedFileName);
    assert_int_equal(r.entries[i].SizeOfImage, 0);
    assert_null(r.entries[i].ImageBase);
    if (is_file_path(r.maps[i].path))
      files++;
  }
  /* there were names to leave out */
  assert_true(files > 0);
}

int run_region_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(target_maps_every_kind),
    fixture_test(regions_match_report_maps),
    fixture_test(regions_match_proc_maps),
    fixture_test(executable_and_libc_are_images),
    fixture_test(executable_image_fields_match_elf_file),
    fixture_test(file_names_need_section_information),
  };
  return cmocka_run_group_tests_name("regions", tests, NULL, NULL);
}
