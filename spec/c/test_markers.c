/*
** test_markers.c -- walk markers: rewinding, positions, NULL buffers,
** switching tables and snapshots, lifetime of entry strings, and one
** snapshot walked from several threads.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

static HPSS capture_of_new_target (struct fixture *f, struct target **out) {
  struct target *t = fixture_start(f, "--threads", "4", NULL);
  if (out != NULL)
    *out = t;
  return fixture_capture(f, fixture_open(f, t->pid), CAPTURE_EVERYTHING);
}

/* The key of an entry of a class: tid, fd or address */
static uintptr_t entry_key (PSS_WALK_INFORMATION_CLASS cls, void const *entry) {
  switch (cls) {
    case PSS_WALK_THREADS: return ((PSS_THREAD_ENTRY const *)entry)->ThreadId;
    case PSS_WALK_HANDLES: return (uintptr_t)((PSS_HANDLE_ENTRY const *)entry)->Handle;
    case PSS_WALK_VA_SPACE: return (uintptr_t)((PSS_VA_SPACE_ENTRY const *)entry)->BaseAddress;
    default: return 0;
  }
}

/* The next entry's key; fails unless the walk gives one */
static uintptr_t next_key (HPSS s, PSS_WALK_INFORMATION_CLASS cls, HPSSWALK m) {
  unsigned char entry[256];
  assert_code(PssWalkSnapshot(s, cls, m, entry, (DWORD)walk_entry_size(cls)), ERROR_SUCCESS);
  return entry_key(cls, entry);
}

static void walk_to_end (HPSS s, PSS_WALK_INFORMATION_CLASS cls, HPSSWALK m) {
  unsigned char entry[256];
  DWORD rc;
  int n = 0;
  while ((rc = PssWalkSnapshot(s, cls, m, entry, (DWORD)walk_entry_size(cls))) == ERROR_SUCCESS)
    assert_true(++n < 100000);
  assert_code(rc, ERROR_NO_MORE_ITEMS);
  /* and it stays at the end */
  assert_code(PssWalkSnapshot(s, cls, m, entry, (DWORD)walk_entry_size(cls)), ERROR_NO_MORE_ITEMS);
}

static const PSS_WALK_INFORMATION_CLASS tables[] = {
  PSS_WALK_THREADS, PSS_WALK_HANDLES, PSS_WALK_VA_SPACE,
};

static void seek_to_beginning_walks_again (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  size_t t;
  for (t = 0; t < 3; t++) {
    size_t n, i;
    unsigned char *all = fixture_walk(f, s, tables[t], &n);
    size_t size = walk_entry_size(tables[t]);
    assert_true(n >= 2);
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    walk_to_end(s, tables[t], m);
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    for (i = 0; i < n; i++)
      assert_int_equal(next_key(s, tables[t], m), entry_key(tables[t], all + i * size));
  }
}

static void set_position_resumes_at_saved_entry (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  size_t t;
  for (t = 0; t < 3; t++) {
    size_t n, i, middle;
    unsigned char *all = fixture_walk(f, s, tables[t], &n);
    size_t size = walk_entry_size(tables[t]);
    ULONG_PTR pos;
    middle = n / 2;
    assert_true(middle >= 1);
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    for (i = 0; i < middle; i++)
      next_key(s, tables[t], m);
    assert_code(PssWalkMarkerGetPosition(m, &pos), ERROR_SUCCESS);
    walk_to_end(s, tables[t], m);
    assert_code(PssWalkMarkerSetPosition(m, pos), ERROR_SUCCESS);
    for (i = middle; i < n; i++)
      assert_int_equal(next_key(s, tables[t], m), entry_key(tables[t], all + i * size));
    walk_to_end(s, tables[t], m);
  }
}

static void set_position_rejects_garbage (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  static const ULONG_PTR garbage[] = { 0xdeadbeef, ~(ULONG_PTR)0, 0x7fffffff };
  ULONG_PTR before, after;
  size_t n, i;
  PSS_THREAD_ENTRY *all = fixture_walk(f, s, PSS_WALK_THREADS, &n);
  next_key(s, PSS_WALK_THREADS, m);
  assert_code(PssWalkMarkerGetPosition(m, &before), ERROR_SUCCESS);
  for (i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    if (garbage[i] == before)
      continue;
    assert_code(PssWalkMarkerSetPosition(m, garbage[i]), ERROR_INVALID_PARAMETER);
    assert_code(PssWalkMarkerGetPosition(m, &after), ERROR_SUCCESS);
    assert_int_equal(after, before);
  }
  /* the marker did not move */
  assert_int_equal(next_key(s, PSS_WALK_THREADS, m), all[1].ThreadId);
}

static void position_of_new_marker_is_accepted (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  ULONG_PTR start;
  size_t n;
  PSS_THREAD_ENTRY *all = fixture_walk(f, s, PSS_WALK_THREADS, &n);
  assert_code(PssWalkMarkerGetPosition(m, &start), ERROR_SUCCESS);
  next_key(s, PSS_WALK_THREADS, m);
  next_key(s, PSS_WALK_THREADS, m);
  assert_code(PssWalkMarkerSetPosition(m, start), ERROR_SUCCESS);
  assert_int_equal(next_key(s, PSS_WALK_THREADS, m), all[0].ThreadId);
}

static void position_beyond_what_marker_has_seen_is_rejected (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK walked = fixture_marker(f);
  HPSSWALK fresh = fixture_marker(f);
  ULONG_PTR far, start;
  size_t n;
  PSS_THREAD_ENTRY *all = fixture_walk(f, s, PSS_WALK_THREADS, &n);
  assert_true(n >= 4);
  next_key(s, PSS_WALK_THREADS, walked);
  next_key(s, PSS_WALK_THREADS, walked);
  next_key(s, PSS_WALK_THREADS, walked);
  assert_code(PssWalkMarkerGetPosition(walked, &far), ERROR_SUCCESS);
  assert_code(PssWalkMarkerGetPosition(fresh, &start), ERROR_SUCCESS);
  /* a new marker has seen no table: index 3 is past its end */
  assert_code(PssWalkMarkerSetPosition(fresh, far), ERROR_INVALID_PARAMETER);
  assert_code(PssWalkMarkerGetPosition(fresh, &far), ERROR_SUCCESS);
  assert_int_equal(far, start);
  assert_int_equal(next_key(s, PSS_WALK_THREADS, fresh), all[0].ThreadId);
}

static void null_buffer_is_more_data_without_moving (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  size_t t;
  for (t = 0; t < 3; t++) {
    size_t n, i, size = walk_entry_size(tables[t]);
    unsigned char *all = fixture_walk(f, s, tables[t], &n);
    assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
    for (i = 0; i < n; i++) {
      assert_code(PssWalkSnapshot(s, tables[t], m, NULL, (DWORD)size), ERROR_MORE_DATA);
      assert_code(PssWalkSnapshot(s, tables[t], m, NULL, (DWORD)size), ERROR_MORE_DATA);
      assert_int_equal(next_key(s, tables[t], m), entry_key(tables[t], all + i * size));
    }
    assert_code(PssWalkSnapshot(s, tables[t], m, NULL, (DWORD)size), ERROR_NO_MORE_ITEMS);
  }
}

static void another_table_starts_from_its_beginning (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  size_t nt, nh;
  PSS_THREAD_ENTRY *threads = fixture_walk(f, s, PSS_WALK_THREADS, &nt);
  PSS_HANDLE_ENTRY *handles = fixture_walk(f, s, PSS_WALK_HANDLES, &nh);
  PSS_THREAD_NAME name;
  next_key(s, PSS_WALK_THREADS, m);
  next_key(s, PSS_WALK_THREADS, m);
  assert_int_equal(next_key(s, PSS_WALK_HANDLES, m), (uintptr_t)handles[0].Handle);
  assert_int_equal(next_key(s, PSS_WALK_HANDLES, m), (uintptr_t)handles[1].Handle);
  assert_int_equal(next_key(s, PSS_WALK_THREADS, m), threads[0].ThreadId);
  /* the thread classes share one table: the walk goes on */
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREAD_NAME, m, &name, sizeof name), ERROR_SUCCESS);
  assert_int_equal(next_key(s, PSS_WALK_THREADS, m), threads[2].ThreadId);
}

static void one_marker_walks_several_snapshots (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *ta, *tb;
  HPSS a = capture_of_new_target(f, &ta);
  HPSS b = capture_of_new_target(f, &tb);
  HPSSWALK m = fixture_marker(f);
  pid_t tids_a[64], tids_b[64];
  long na = proc_tids(ta->pid, tids_a, 64), nb = proc_tids(tb->pid, tids_b, 64);
  long i;
  assert_true(na > 1 && nb > 1);
  for (i = 0; i < na; i++)
    assert_int_equal(next_key(a, PSS_WALK_THREADS, m), (uintptr_t)tids_a[i]);
  walk_to_end(a, PSS_WALK_THREADS, m);
  assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
  for (i = 0; i < nb; i++)
    assert_int_equal(next_key(b, PSS_WALK_THREADS, m), (uintptr_t)tids_b[i]);
  walk_to_end(b, PSS_WALK_THREADS, m);
}

/* {======================================================================
** Strings of entries belong to the marker, not to the snapshot
** ======================================================================= */

/* The bytes of every string of the walks, as one text to compare */
struct strings {
  char *text;
  size_t len, cap;
};

static void add_bytes (struct strings *s, char const *p, size_t n) {
  if (s->len + n + 1 > s->cap) {
    s->cap = (s->len + n + 1) * 2;
    s->text = realloc(s->text, s->cap);
    assert_non_null(s->text);
  }
  if (n > 0)
    memcpy(s->text + s->len, p, n);
  s->len += n;
  s->text[s->len++] = '|';
}

static void add_utf16 (struct strings *s, WCHAR const *text, size_t bytes) {
  char buf[4200];
  size_t n = text != NULL ? utf16_to_bytes(text, bytes, buf, sizeof buf) : 0;
  add_bytes(s, buf, n < sizeof buf ? n : sizeof buf - 1);
}

struct walked {
  PSS_THREAD_NAME *names;
  PSS_LINUX_HANDLE_ENTRY *handles;
  PSS_LINUX_VA_SPACE_ENTRY *regions;
  PSS_LINUX_THREAD_ENTRY *threads;
  size_t name_count, handle_count, region_count, thread_count;
};

static void collect_strings (struct walked const *w, struct strings *s) {
  size_t i;
  for (i = 0; i < w->name_count; i++)
    add_utf16(s, w->names[i].ThreadName, w->names[i].ThreadNameSize);
  for (i = 0; i < w->thread_count; i++)
    add_bytes(s, w->threads[i].Name, w->threads[i].NameLength);
  for (i = 0; i < w->handle_count; i++) {
    add_utf16(s, w->handles[i].Handle.TypeName, w->handles[i].Handle.TypeNameLength);
    add_utf16(s, w->handles[i].Handle.ObjectName, w->handles[i].Handle.ObjectNameLength);
    add_bytes(s, w->handles[i].Target, w->handles[i].TargetLength);
  }
  for (i = 0; i < w->region_count; i++) {
    add_utf16(s, w->regions[i].Region.MappedFileName, w->regions[i].Region.MappedFileNameLength);
    add_bytes(s, w->regions[i].Path, w->regions[i].PathLength);
  }
}

static void check_nul_utf16 (WCHAR const *text, size_t bytes) {
  if (text != NULL)
    assert_int_equal(text[bytes / 2], 0);
}

static void check_nul_bytes (char const *text, size_t len) {
  if (text != NULL)
    assert_int_equal(text[len], '\0');
}

static void every_string_ends_with_nul (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  struct walked w;
  size_t i;
  w.names = fixture_walk(f, s, PSS_WALK_THREAD_NAME, &w.name_count);
  w.threads = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &w.thread_count);
  w.handles = fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &w.handle_count);
  w.regions = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &w.region_count);
  for (i = 0; i < w.name_count; i++)
    check_nul_utf16(w.names[i].ThreadName, w.names[i].ThreadNameSize);
  for (i = 0; i < w.thread_count; i++)
    check_nul_bytes(w.threads[i].Name, w.threads[i].NameLength);
  for (i = 0; i < w.handle_count; i++) {
    check_nul_utf16(w.handles[i].Handle.TypeName, w.handles[i].Handle.TypeNameLength);
    check_nul_utf16(w.handles[i].Handle.ObjectName, w.handles[i].Handle.ObjectNameLength);
    check_nul_bytes(w.handles[i].Target, w.handles[i].TargetLength);
  }
  for (i = 0; i < w.region_count; i++) {
    check_nul_utf16(w.regions[i].Region.MappedFileName,
                    w.regions[i].Region.MappedFileNameLength);
    check_nul_bytes(w.regions[i].Path, w.regions[i].PathLength);
  }
}

static void entry_strings_outlive_the_snapshot (void **state) {
  struct fixture *f = FIXTURE(state);
  struct target *t;
  HPSS s = capture_of_new_target(f, &t);
  struct walked w;
  struct strings before = { NULL, 0, 0 }, after = { NULL, 0, 0 };
  w.names = fixture_walk(f, s, PSS_WALK_THREAD_NAME, &w.name_count);
  w.threads = fixture_walk(f, s, PSS_WALK_LINUX_THREADS, &w.thread_count);
  w.handles = fixture_walk(f, s, PSS_WALK_LINUX_HANDLES, &w.handle_count);
  w.regions = fixture_walk(f, s, PSS_WALK_LINUX_VA_SPACE, &w.region_count);
  collect_strings(&w, &before);
  fixture_keep(f, before.text);
  assert_true(before.len > 100);
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  /* the markers of fixture_walk are still alive, so every string still
  ** reads the same (ASan and valgrind see any read of freed memory) */
  collect_strings(&w, &after);
  fixture_keep(f, after.text);
  assert_bytes(after.text, after.len, before.text, before.len);
}

static void strings_survive_a_later_walk_of_the_same_marker (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  HPSSWALK m = fixture_marker(f);
  PSS_THREAD_NAME first;
  unsigned char entry[256];
  char before[256], after[256];
  size_t n1, n2;
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREAD_NAME, m, &first, sizeof first), ERROR_SUCCESS);
  n1 = utf16_to_bytes(first.ThreadName, first.ThreadNameSize, before, sizeof before);
  /* other tables, a rewind, the same table again: the first entry's
  ** string stays valid until the marker is freed */
  while (PssWalkSnapshot(s, PSS_WALK_LINUX_HANDLES, m, entry,
                         sizeof(PSS_LINUX_HANDLE_ENTRY)) == ERROR_SUCCESS) {}
  while (PssWalkSnapshot(s, PSS_WALK_VA_SPACE, m, entry,
                         sizeof(PSS_VA_SPACE_ENTRY)) == ERROR_SUCCESS) {}
  assert_code(PssWalkMarkerSeekToBeginning(m), ERROR_SUCCESS);
  assert_code(PssWalkSnapshot(s, PSS_WALK_THREADS, m, entry, sizeof(PSS_THREAD_ENTRY)),
              ERROR_SUCCESS);
  n2 = utf16_to_bytes(first.ThreadName, first.ThreadNameSize, after, sizeof after);
  assert_bytes(after, n2, before, n1);
}
/* }====================================================================== */

/* {======================================================================
** One snapshot, several threads, one marker each
** ======================================================================= */

#define WALKERS 4

struct walker {
  HPSS snapshot;
  pthread_t thread;
  DWORD rc;
  size_t threads, handles, regions;
};

static size_t count_walk (HPSS s, HPSSWALK m, PSS_WALK_INFORMATION_CLASS cls, DWORD *rc) {
  unsigned char entry[256];
  size_t n = 0;
  while ((*rc = PssWalkSnapshot(s, cls, m, entry, (DWORD)walk_entry_size(cls))) == ERROR_SUCCESS)
    n++;
  if (*rc == ERROR_NO_MORE_ITEMS)
    *rc = ERROR_SUCCESS;
  return n;
}

static void *walk_everything (void *arg) {
  struct walker *w = arg;
  HPSSWALK m = NULL;
  int round;
  w->rc = PssWalkMarkerCreate(NULL, &m);
  for (round = 0; round < 20 && w->rc == ERROR_SUCCESS; round++) {
    w->threads = count_walk(w->snapshot, m, PSS_WALK_LINUX_THREADS, &w->rc);
    if (w->rc == ERROR_SUCCESS)
      w->handles = count_walk(w->snapshot, m, PSS_WALK_LINUX_HANDLES, &w->rc);
    if (w->rc == ERROR_SUCCESS)
      w->regions = count_walk(w->snapshot, m, PSS_WALK_LINUX_VA_SPACE, &w->rc);
  }
  if (m != NULL)
    PssWalkMarkerFree(m);
  return NULL;
}

static void threads_walk_one_snapshot_at_once (void **state) {
  struct fixture *f = FIXTURE(state);
  HPSS s = capture_of_new_target(f, NULL);
  struct walker w[WALKERS];
  int i;
  memset(w, 0, sizeof w);
  for (i = 0; i < WALKERS; i++) {
    w[i].snapshot = s;
    assert_int_equal(pthread_create(&w[i].thread, NULL, walk_everything, &w[i]), 0);
  }
  for (i = 0; i < WALKERS; i++)
    pthread_join(w[i].thread, NULL);
  for (i = 0; i < WALKERS; i++) {
    assert_code(w[i].rc, ERROR_SUCCESS);
    assert_int_equal(w[i].threads, query_thread_count(s));
    assert_int_equal(w[i].handles, query_handle_count(s));
    assert_int_equal(w[i].regions, query_region_count(s));
  }
}
/* }====================================================================== */

int run_marker_suite (void) {
  const struct CMUnitTest tests[] = {
    fixture_test(seek_to_beginning_walks_again),
    fixture_test(set_position_resumes_at_saved_entry),
    fixture_test(set_position_rejects_garbage),
    fixture_test(position_of_new_marker_is_accepted),
    fixture_test(position_beyond_what_marker_has_seen_is_rejected),
    fixture_test(null_buffer_is_more_data_without_moving),
    fixture_test(another_table_starts_from_its_beginning),
    fixture_test(one_marker_walks_several_snapshots),
    fixture_test(every_string_ends_with_nul),
    fixture_test(entry_strings_outlive_the_snapshot),
    fixture_test(strings_survive_a_later_walk_of_the_same_marker),
    fixture_test(threads_walk_one_snapshot_at_once),
  };
  return cmocka_run_group_tests_name("markers", tests, NULL, NULL);
}
