/*
** test_names.c -- Linux names (arbitrary bytes) through UTF-16 without
** loss: the conversion itself, and a file whose name is not UTF-8 as a
** handle and as a mapping of a real target.
*/
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

/* bytes → UTF-16 must give exactly want, and come back byte for byte */
static void check_conversion (char const *bytes, size_t len, WCHAR const *want,
                              size_t want_units) {
  WCHAR units[64];
  char back[64];
  size_t n = PssLinuxBytesToUtf16(bytes, len, units, 64);
  size_t m;
  assert_int_equal(n, want_units);
  assert_memory_equal(units, want, want_units * sizeof(WCHAR));
  m = PssLinuxUtf16ToBytes(units, n, back, sizeof back);
  assert_bytes(back, m, bytes, len);
}

static void valid_utf8_converts_normally (void **state) {
  /* a, e-acute, euro sign, U+1F600 (a surrogate pair) */
  static WCHAR const want[] = { 'a', 0x00E9, 0x20AC, 0xD83D, 0xDE00 };
  (void)state;
  check_conversion("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10, want, 5);
}

static void invalid_bytes_become_low_surrogates (void **state) {
  static WCHAR const ff_fe[] = { 0xDCFF, 0xDCFE };
  static WCHAR const truncated[] = { 'a', 0xDCC3 };
  static WCHAR const overlong[] = { 0xDCC0, 0xDC80, 'b' };
  static WCHAR const surrogate[] = { 0xDCED, 0xDCA0, 0xDC80 };
  static WCHAR const too_big[] = { 0xDCF4, 0xDC90, 0xDC80, 0xDC80 };
  static WCHAR const cut_then_valid[] = { 0xDCE2, 0xDC82, 'x', 0x00E9 };
  (void)state;
  check_conversion("\xff\xfe", 2, ff_fe, 2);
  check_conversion("a\xc3", 2, truncated, 2);
  check_conversion("\xc0\x80" "b", 3, overlong, 3);
  check_conversion("\xed\xa0\x80", 3, surrogate, 3);
  check_conversion("\xf4\x90\x80\x80", 4, too_big, 4);
  check_conversion("\xe2\x82" "x\xc3\xa9", 5, cut_then_valid, 4);
}

static void conversions_report_the_size_they_need (void **state) {
  static char const bytes[] = "pss-\xff-\xc3\xa9";
  WCHAR units[4] = { 0x1111, 0x1111, 0x1111, 0x1111 };
  char out[4] = { 'z', 'z', 'z', 'z' };
  WCHAR full[16];
  size_t n;
  (void)state;
  /* "pss-" U+DCFF "-" U+00E9: 7 units, 8 bytes */
  assert_int_equal(PssLinuxBytesToUtf16(bytes, 8, NULL, 0), 7);
  assert_int_equal(PssLinuxBytesToUtf16(bytes, 8, units, 3), 7);
  assert_int_equal(units[3], 0x1111);   /* wrote at most 3 */
  assert_int_equal(units[0], 'p');
  n = PssLinuxBytesToUtf16(bytes, 8, full, 16);
  assert_int_equal(n, 7);
  assert_int_equal(PssLinuxUtf16ToBytes(full, n, NULL, 0), 8);
  assert_int_equal(PssLinuxUtf16ToBytes(full, n, out, 3), 8);
  assert_int_equal(out[3], 'z');
  assert_memory_equal(out, "pss", 3);
}

static void odd_file_name_round_trips_as_handle (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--odd-name", NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct target_fd const *fd = target_fd_by_kind(t, "file-odd");
  PSS_HANDLE_ENTRY *e;
  PSS_LINUX_HANDLE_ENTRY *l;
  char link[4096], rel[32];
  size_t n, nl, i;
  long len;
  assert_true(t->odd_len > 0);
  assert_true(memchr(t->odd, '\xff', t->odd_len) != NULL);
  if (fd == NULL)
    fail_because("the target reports no file-odd fd with --odd-name");
  snprintf(rel, sizeof rel, "fd/%d", fd->fd);
  len = proc_link(t->pid, rel, link, sizeof link);
  assert_bytes(link, (size_t)len, t->odd, t->odd_len);
  e = fixture_walk(f, s, PSS_WALK_HANDLES, &n);
  l = fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &nl);
  for (i = 0; i < n && (intptr_t)e[i].Handle != fd->fd; i++) {}
  assert_true(i < n && i < nl);
  assert_utf16_bytes(e[i].ObjectName, e[i].ObjectNameLength, t->odd, t->odd_len);
  assert_bytes(l[i].Target, l[i].TargetLength, t->odd, t->odd_len);
}

static void odd_file_name_round_trips_as_mapping (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t = fixture_start(f, "--odd-name", NULL);
  HPSS s = fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
  struct target_map const *m = target_map_by_kind(t, "file-odd");
  PSS_VA_SPACE_ENTRY *e;
  PSS_LINUX_VA_SPACE_ENTRY *l;
  size_t n, nl, i;
  if (m == NULL)
    fail_because("the target reports no file-odd map with --odd-name");
  assert_bytes(m->path, m->path_len, t->odd, t->odd_len);
  e = fixture_walk(f, s, PSS_WALK_VA_SPACE, &n);
  l = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &nl);
  for (i = 0; i < n && (uintptr_t)e[i].BaseAddress != m->start; i++) {}
  assert_true(i < n && i < nl);
  assert_utf16_bytes(e[i].MappedFileName, e[i].MappedFileNameLength, t->odd, t->odd_len);
  assert_bytes(l[i].Path, l[i].PathLength, t->odd, t->odd_len);
}

int run_name_suite (void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(valid_utf8_converts_normally),
    cmocka_unit_test(invalid_bytes_become_low_surrogates),
    cmocka_unit_test(conversions_report_the_size_they_need),
    fixture_test(odd_file_name_round_trips_as_handle),
    fixture_test(odd_file_name_round_trips_as_mapping),
  };
  return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
