/*
** fuzz_procfs.c -- libFuzzer target for the /proc parsers (procfs.c).
**
** The first byte picks the parser ('S' stat, 's' status, 'c' syscall,
** 'f' fdinfo, 'm' maps lines, 'M' smaps lines, 'i' inet, 'u' unix,
** 'n' netlink, 'p' packet, 'e' path unescaping, 'E' an ELF image's
** headers and notes, proc/elf.c); any other byte runs them all. The rest is the text, copied into a heap block of exactly its size,
** so ASan stops any read past the length. Each parser's answer is checked
** against what its callers rely on: a line parser consumes the line it was
** given and no more, pointers stay inside it, comm fits, unescaping never
** grows. A broken promise is a crash, as a bad read is.
**
** Built and run by `make fuzz` (spec/fuzz/fuzz.mk, spec/fuzz/run.sh).
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/proc/elf.h"
#include "linux/proc/procfs.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Inside text[0..len): a pointer and length a parser handed back */
static int within (const char *p, size_t n, const char *text, size_t len) {
  return p >= text && n <= len && (size_t)(p - text) <= len - n;
}

static void one_record (int which, const char *t, size_t len) {
  struct pss_stat st;
  struct pss_status ss;
  struct pss_syscall sc;
  struct pss_fdinfo fi;
  if (which == 'S' || which == 0) {
    if (pss_parse_stat(t, len, &st) == 0) {
      CHECK(st.comm_len < sizeof st.comm && st.comm[st.comm_len] == '\0');
      CHECK(st.comm_len <= len);
    }
  }
  if (which == 's' || which == 0) {
    CHECK(pss_parse_status(t, len, &ss) == 0);
    CHECK(ss.seccomp >= -1);
  }
  if (which == 'c' || which == 0) {
    if (pss_parse_syscall(t, len, &sc) == 0)
      CHECK(sc.state >= -1 && sc.state <= 1 && (sc.state != 1 || sc.nr >= 0));
  }
  if (which == 'f' || which == 0) {
    CHECK(pss_parse_fdinfo(t, len, &fi) == 0);
    CHECK(fi.has_pid == 0 || fi.has_pid == 1);
  }
}

/* Every line through the line parser, as the callers loop: a malformed
** line is passed with pss_skip_line. */
static void lines (int which, const char *t, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    const char *line = t + pos;
    size_t rest = len - pos, skip = pss_skip_line(line, rest);
    struct pss_maps_line ml;
    struct pss_smaps_line sl;
    struct pss_inet_line il;
    struct pss_unix_line ul;
    uint64_t inode;
    int a, b;
    long used = 0;
    CHECK(skip > 0 && skip <= rest);
    switch (which) {
      case 'm':
        if ((used = pss_parse_maps_line(line, rest, &ml)) > 0)
          CHECK(within(ml.path, ml.path_len, line, skip));
        break;
      case 'M':
        if ((used = pss_parse_smaps_line(line, rest, &sl)) > 0) {
          CHECK(sl.kind >= PSS_SMAPS_MAPPING && sl.kind <= PSS_SMAPS_OTHER);
          if (sl.kind == PSS_SMAPS_MAPPING) CHECK(within(sl.map.path, sl.map.path_len, line, skip));
          if (sl.name != NULL) CHECK(within(sl.name, sl.name_len, line, skip));
          if (sl.kind == PSS_SMAPS_VMFLAGS) {
            CHECK(within(sl.flags, sl.flags_len, line, skip));
            (void)pss_vmflags_has(sl.flags, sl.flags_len, "dd");
            (void)pss_vmflags_has(sl.flags, sl.flags_len, "io");
          }
          if (sl.kind == PSS_SMAPS_FIELD && sl.kb) CHECK(sl.value % 1024 == 0);
          if (sl.kind == PSS_SMAPS_FIELD) {
            int k = pss_smaps_usage_index(sl.name, sl.name_len);
            CHECK(k >= -1 && k < PSS_SMAPS_USAGE_FIELDS);
          }
        }
        break;
      case 'i':
        if ((used = pss_parse_inet_line(line, rest, &il)) > 0)
          CHECK(il.lport <= 0xffff && il.rport <= 0xffff);
        break;
      case 'u':
        if ((used = pss_parse_unix_line(line, rest, &ul)) > 0)
          CHECK(within(ul.path, ul.path_len, line, skip));
        break;
      case 'n': used = pss_parse_netlink_line(line, rest, &inode, &a); break;
      case 'p': used = pss_parse_packet_line(line, rest, &inode, &a, &b); break;
    }
    CHECK(used == -EINVAL || used == (long)skip);
    pos += skip;
  }
}

/* Unescaping in place, and into a block of exactly the path's size */
static void unescape (const char *t, size_t len) {
  char *out = malloc(len);
  size_t n;
  if (out == NULL) return;
  n = pss_unescape_maps_path(t, len, out);
  CHECK(n <= len);
  memcpy(out, t, len);
  CHECK(pss_unescape_maps_path(out, len, out) == n);
  free(out);
}

/* The small texts: descriptor links, one-number files, /proc/PID links */
static void small (const char *t, size_t len) {
  uint64_t v;
  int pid, deleted;
  (void)pss_parse_link_inode(t, len);
  (void)pss_parse_number(t, len, 16, &v);
  (void)pss_parse_number(t, len, 10, &v);
  if (pss_parse_procdir_link(t, len, &pid, &deleted) == 0) CHECK(pid > 0);
  if (pss_parse_auxv(t, len, &v, &pid) == 0) CHECK(pid == 0 || pid == 1);
}

/* An ELF image as buildid.c reads one: the header, each program header
** inside the bytes, the build id of each PT_NOTE segment in them (also as
** a segment of the whole rest, at both paddings). An id fits its buffer. */
static void elf (const char *t, size_t len) {
  const unsigned char *b = (const unsigned char *)t;
  unsigned char id[32];
  struct pss_elf e;
  size_t k, n;
  for (k = 0; k < len && k < 64; k += 4) {
    CHECK(pss_elf_build_id(b + k, len - k, 4, id, sizeof id) <= sizeof id);
    CHECK(pss_elf_build_id(b + k, len - k, 8, id, sizeof id) <= sizeof id);
  }
  if (pss_elf_parse_header(t, len, &e) < 0) return;
  CHECK(e.phnum == 0 || e.phentsize >= (e.is64 ? 56u : 32u));
  if (e.phoff > len) return;
  for (k = 0; k < e.phnum; k++) {
    struct pss_elf_phdr ph;
    if (pss_elf_parse_phdr(&e, b + e.phoff, len - e.phoff, k, &ph) < 0) {
      CHECK((k + 1) * e.phentsize > len - e.phoff);
      break;
    }
    if (ph.type != 4 /* PT_NOTE */ || ph.offset > len) continue;
    n = ph.filesz < len - ph.offset ? (size_t)ph.filesz : len - ph.offset;
    CHECK(pss_elf_build_id(b + ph.offset, n, ph.align, id, sizeof id) <= sizeof id);
  }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  static const char line_kinds[] = "mMiunp";
  int which = size > 0 ? data[0] : 0;
  size_t len = size > 0 ? size - 1 : 0, i;
  char *text = malloc(len);   /* malloc(0) too: ASan flags any read of it */
  if (text == NULL) return 0;
  memcpy(text, data + (size > 0), len);
  if (which && strchr("Sscf", which)) one_record(which, text, len);
  else if (which && strchr(line_kinds, which)) lines(which, text, len);
  else if (which == 'e') unescape(text, len);
  else if (which == 'l') small(text, len);
  else if (which == 'E') elf(text, len);
  else {
    one_record(0, text, len);
    for (i = 0; line_kinds[i]; i++) lines(line_kinds[i], text, len);
    unescape(text, len);
    small(text, len);
    elf(text, len);
  }
  free(text);
  return 0;
}
