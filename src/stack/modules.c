/*
** modules.c -- the snapshot's mapped files as libdwfl modules, and the
** files behind them.
**
** Each file's regions are grouped into one module, as elfutils'
** linux-proc-maps.c groups the lines of /proc/PID/maps (a region of no file
** between two of one file, such as its .bss, does not split it). libdwfl
** asks for a module's file (find_elf) only when an unwind first needs it.
** The file is, in order: /proc/PID/map_files/START-END while the snapshot's
** process lives -- the very file mapped, even deleted or replaced since --
** then the region's path, then that path without " (deleted)". A file is
** used only if it is the one the snapshot saw: its GNU build id equals the
** one the snapshot recorded for the region, or, when none was recorded,
** its inode and device are the region's. The [vdso] has no file: this
** process's own vdso stands in for it (the same kernel's image) when its
** size is the region's.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <elfutils/libdwelf.h>

#include "stack/unwind.h"

#define DELETED " (deleted)"
#define DELETED_LEN (sizeof DELETED - 1)

/* {======================================================================
** Regions into modules
** ======================================================================= */

/* A region maps a file: a path (a live capture's regions have an inode or a device too;
** a core's have neither, and a build id at best) */
static int maps_file (PSS_LINUX_VA_SPACE_ENTRY const *r) {
  return r->PathLength > 0 && r->Path[0] == '/';
}

static int is_vdso (PSS_LINUX_VA_SPACE_ENTRY const *r) {
  return r->PathLength == 6 && memcmp(r->Path, "[vdso]", 6) == 0;
}

/* Whether region r is more of module m's file. */
static int joins (struct unwind_module const *m, PSS_LINUX_VA_SPACE_ENTRY const *r) {
  return !m->vdso && m->inode == r->Inode && m->dev_major == r->DeviceMajor &&
         m->dev_minor == r->DeviceMinor && m->path_len == r->PathLength &&
         memcmp(m->path, r->Path, r->PathLength) == 0;
}

static void take_build_id (struct unwind_module *m, PSS_LINUX_VA_SPACE_ENTRY const *r) {
  size_t n = r->BuildIdLength;
  if (m->build_id_len > 0 || n == 0) return;
  if (n > PSS_LINUX_BUILD_ID_MAX) n = PSS_LINUX_BUILD_ID_MAX;
  memcpy(m->build_id, r->BuildId, n);
  m->build_id_len = (unsigned char)n;
}

/* A new module for region r; its path still points into the walk's copy. */
static struct unwind_module *add_module (struct pss_unwinder *u,
                                         PSS_LINUX_VA_SPACE_ENTRY const *r, int vdso) {
  struct unwind_module *m = &u->modules[u->module_count++];
  UINT64 base = (UINT64)(uintptr_t)r->Region.BaseAddress;
  memset(m, 0, sizeof *m);
  m->owner = u;
  m->start = m->map_start = base;
  m->end = m->map_end = base + r->Region.RegionSize;
  m->inode = r->Inode;
  m->dev_major = r->DeviceMajor;
  m->dev_minor = r->DeviceMinor;
  m->path = r->Path;
  m->path_len = r->PathLength;
  m->vdso = (unsigned char)vdso;
  take_build_id(m, r);
  return m;
}

static int deleted (struct unwind_module const *m) {
  return m->path_len > DELETED_LEN &&
         memcmp(m->path + m->path_len - DELETED_LEN, DELETED, DELETED_LEN) == 0;
}

/* The modules' paths into one block of ours, NUL-terminated, with each
** deleted file's path without the mark beside it: the regions' walk
** marker can go. */
static int copy_paths (struct pss_unwinder *u) {
  size_t i, total = 1;
  char *p;
  for (i = 0; i < u->module_count; i++) total += 2 * (u->modules[i].path_len + 1);
  if ((u->paths = p = pss_unwind_alloc(u, total)) == NULL) return -ENOMEM;
  for (i = 0; i < u->module_count; i++) {
    struct unwind_module *m = &u->modules[i];
    int gone = deleted(m);
    memcpy(p, m->path, m->path_len);
    p[m->path_len] = '\0';
    m->path = p;
    p += m->path_len + 1;
    if (gone) {
      size_t n = m->path_len - DELETED_LEN;
      memcpy(p, m->path, n);
      p[n] = '\0';
      m->file = p;
      p += n + 1;
    }
  }
  return 0;
}

static void group (struct pss_unwinder *u, PSS_LINUX_VA_SPACE_ENTRY const *r) {
  struct unwind_module *last = u->module_count > 0 ? &u->modules[u->module_count - 1] : NULL;
  if (is_vdso(r)) add_module(u, r, 1);
  else if (!maps_file(r)) return;
  else if (last != NULL && joins(last, r)) {
    last->end = (UINT64)(uintptr_t)r->Region.BaseAddress + r->Region.RegionSize;
    take_build_id(last, r);
  } else add_module(u, r, 0);
}

/*
** The snapshot's mapped files: -ENOENT if it has no VA space. Regions
** come in address order, so one file's regions are next to each other.
*/
int pss_unwind_load_modules (struct pss_unwinder *u) {
  PSS_VA_SPACE_INFORMATION info;
  PSS_LINUX_VA_SPACE_ENTRY r;
  HPSSWALK marker;
  size_t seen = 0;
  DWORD code;
  int rc;
  if (PssQuerySnapshot(u->snapshot, PSS_QUERY_VA_SPACE_INFORMATION, &info,
                       sizeof info) != ERROR_SUCCESS)
    return -ENOENT;
  if (info.RegionCount == 0) return 0;
  u->modules = pss_unwind_alloc(u, (size_t)info.RegionCount * sizeof *u->modules);
  if (u->modules == NULL) return -ENOMEM;
  if (PssWalkMarkerCreate(&u->alloc, &marker) != ERROR_SUCCESS) return -ENOMEM;
  while ((code = PssWalkSnapshot(u->snapshot, PSS_WALK_LINUX_VA_SPACE, marker, &r,
                                 sizeof r)) == ERROR_SUCCESS)
    if (seen++ < info.RegionCount) group(u, &r);
  rc = pss_unwind_walk_end(code);
  if (rc == 0) rc = copy_paths(u);   /* while the walk's strings are there */
  PssWalkMarkerFree(marker);
  return rc;
}

int pss_unwind_report_modules (struct pss_unwinder *u) {
  size_t i;
  dwfl_report_begin(u->dwfl);
  for (i = 0; i < u->module_count; i++) {
    struct unwind_module *m = &u->modules[i];
    Dwfl_Module *mod = dwfl_report_module(u->dwfl, m->path, m->start, m->end);
    void **userdata;
    if (mod == NULL) continue;   /* overlaps another: its frames get no module */
    dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    *userdata = m;
    if (m->build_id_len > 0)
      dwfl_module_report_build_id(mod, m->build_id, m->build_id_len, 0);
  }
  return dwfl_report_end(u->dwfl, NULL, NULL) == 0 ? 0 : -ENOMEM;
}
/* }====================================================================== */


/* {======================================================================
** The process, while it lives
** ======================================================================= */

/* starttime (field 22 of /proc/PID/stat, man 5 proc) of the process whose
** /proc directory dirfd is; 0 if unreadable. The fields are counted after
** the command name's last ')', which any name may contain. */
static UINT64 start_ticks (int dirfd) {
  char buf[2048], *p;
  int fd = openat(dirfd, "stat", O_RDONLY | O_CLOEXEC), field;
  ssize_t n;
  if (fd < 0) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if ((p = strrchr(buf, ')')) == NULL) return 0;
  for (field = 2; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (p == NULL) return 0;
  }
  return strtoull(p + 1, NULL, 10);
}

/*
** /proc/PID of the snapshot's process if it still lives: its start time is
** the one the snapshot recorded, so the pid was not reused. The directory
** stays bound to that process (its entries vanish once it is reaped), so
** a map_files entry read through it is always that process's.
*/
void pss_unwind_open_process (struct pss_unwinder *u) {
  char path[32];
  int fd;
  u->proc_fd = -1;
  if (u->start_ticks == 0 || u->pid == 0) return;
  snprintf(path, sizeof path, "/proc/%u", (unsigned)u->pid);
  if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) return;
  if (start_ticks(fd) == u->start_ticks) u->proc_fd = fd;
  else close(fd);
}
/* }====================================================================== */


/* {======================================================================
** find_elf: the file behind a module
** ======================================================================= */

static int build_id_matches (struct unwind_module const *m, Elf *elf) {
  const void *bits;
  ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
  return n == (ssize_t)m->build_id_len && memcmp(bits, m->build_id, m->build_id_len) == 0;
}

/* Whether the file is the one the snapshot saw mapped. */
static int is_the_file (struct unwind_module const *m, Elf *elf, struct stat const *st) {
  if (m->build_id_len > 0) return build_id_matches(m, elf);
  /* a core's file without a build id: named by its path alone, as gdb
     takes it (NT_FILE holds no inode) */
  if (m->inode == 0 && m->dev_major == 0 && m->dev_minor == 0) return 1;
  return st->st_ino == m->inode && major(st->st_dev) == m->dev_major &&
         minor(st->st_dev) == m->dev_minor;
}

/* Opens name (relative to dirfd) if it is the module's file: its fd, the
** ELF in *elfp; -1 if not. Never blocks on a FIFO or a device. */
/* name opened for reading only if it is a regular file: a path the target
** chose may name a device or a FIFO, whose mere open can wait or act. It
** is looked at first through an O_PATH descriptor, which opens nothing. */
static int open_regular (int dirfd, char const *name) {
  char self[64];
  struct stat st;
  int fd, probe = openat(dirfd, name, O_PATH | O_CLOEXEC);
  if (probe < 0) return -1;
  if (fstat(probe, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(probe);
    return -1;
  }
  snprintf(self, sizeof self, "/proc/self/fd/%d", probe);
  fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  close(probe);
  return fd;
}

static int open_file (struct unwind_module const *m, int dirfd, char const *name, Elf **elfp) {
  struct stat st;
  Elf *elf = NULL;
  int fd = open_regular(dirfd, name);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) goto not_it;
  elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  if (elf == NULL || elf_kind(elf) != ELF_K_ELF || !is_the_file(m, elf, &st)) goto not_it;
  *elfp = elf;
  return fd;
not_it:
  elf_end(elf);
  close(fd);
  return -1;
}

static int open_mapped (struct unwind_module const *m, Elf **elfp) {
  char name[64];
  int proc_fd = m->owner->proc_fd;
  if (proc_fd < 0) return -1;
  snprintf(name, sizeof name, "map_files/%llx-%llx", (unsigned long long)m->map_start,
           (unsigned long long)m->map_end);
  return open_file(m, proc_fd, name, elfp);
}

/* The size of a vdso image: up to its section headers or the end of its
** last segment, in whole pages; 0 if it is not an x86-64 ELF image. */
static size_t vdso_size (Elf64_Ehdr const *eh) {
  size_t end, page = (size_t)sysconf(_SC_PAGESIZE), i;
  Elf64_Phdr const *ph;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof *ph || eh->e_phnum > 64)
    return 0;
  end = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
  ph = (Elf64_Phdr const *)((char const *)eh + eh->e_phoff);
  for (i = 0; i < eh->e_phnum; i++)
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
      end = ph[i].p_offset + ph[i].p_filesz;
  return (end + page - 1) / page * page;
}

/* This process's vdso, copied (libelf then never touches the mapping), as
** the snapshot's when its size is the region's; NULL if not. */
static Elf *own_vdso (struct unwind_module const *m) {
  struct pss_unwinder *u = m->owner;
  Elf64_Ehdr const *own = (Elf64_Ehdr const *)(uintptr_t)getauxval(AT_SYSINFO_EHDR);
  size_t size;
  Elf *elf;
  if (own == NULL || u->vdso_copy != NULL) return NULL;
  size = vdso_size(own);
  if (size == 0 || size != m->end - m->start) return NULL;
  if ((u->vdso_copy = pss_unwind_alloc(u, size)) == NULL) return NULL;
  memcpy(u->vdso_copy, own, size);
  elf = elf_memory(u->vdso_copy, size);
  if (elf != NULL && (elf_kind(elf) != ELF_K_ELF ||
                      (m->build_id_len > 0 && !build_id_matches(m, elf)))) {
    elf_end(elf);
    elf = NULL;
  }
  return elf;
}

/*
** Dwfl_Callbacks.find_elf: an fd libdwfl keeps (and closes) with the ELF
** in *elfp, or -1 and *elfp NULL: the module then has no file, and its
** frames show the module and offset only. *file_name (libdwfl frees it)
** lets the standard find_debuginfo look for a .debug file beside it.
*/
static int find_elf (Dwfl_Module *mod, void **userdata, char const *modname,
                     Dwarf_Addr base, char **file_name, Elf **elfp) {
  struct unwind_module const *m = *userdata;
  int fd;
  (void)mod; (void)modname; (void)base;
  if (m == NULL) return -1;
  if (m->vdso) {
    *elfp = own_vdso(m);
    return -1;
  }
  fd = open_mapped(m, elfp);
  if (fd < 0) fd = open_file(m, AT_FDCWD, m->path, elfp);
  if (fd < 0 && m->file != NULL) fd = open_file(m, AT_FDCWD, m->file, elfp);
  if (fd >= 0) *file_name = strdup(m->file != NULL ? m->file : m->path);
  return fd;
}

/* Debug files by build id only (/usr/lib/debug/.build-id/): the standard
** search would also ask debuginfod over the network when DEBUGINFOD_URLS
** is set, for as long as its timeout, from inside a library call. */
const Dwfl_Callbacks pss_unwind_dwfl_callbacks = {
  .find_elf = find_elf,
  .find_debuginfo = dwfl_build_id_find_debuginfo,
  .section_address = dwfl_offline_section_address,
  .debuginfo_path = NULL,
};
/* }====================================================================== */
