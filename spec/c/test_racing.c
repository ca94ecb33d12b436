/*
** test_racing.c -- captures that race the target: threads, fds and
** mappings that come and go as fast as the target can make them
** (pss-target --churn and --thread-churn, --fd-churn, --map-churn).
**
** A capture freezes the target, so whatever it was doing, each capture
** must succeed: a target that is alive and ours is never an error. Each
** snapshot must agree with itself (the counts PssQuerySnapshot gives are
** the entries the walks give, in their order, the main thread among them)
** and the target must be left running: after every capture no thread is
** stopped or traced. The churn must go on through it all, and the
** captures must have seen it (the churned table's size varies).
**
** 300 captures per target (30 under valgrind), every third one with
** thread contexts. A capture that never returns would hang the suite: a
** watchdog (SIGALRM) fails the test instead, and the teardown detaches
** any thread left traced by this process before the fixture reaps the
** target.
**
** Thread ids are not in creation order once the kernel's pid counter
** wraps around pid_max (to 300): from then on a new thread's id is lower
** than those of the threads made before the wrap. A capture must not
** care. So that the captures meet that case, the thread test makes
** threads of its own (created and joined, nothing else) until the counter
** is a few hundred ids short of pid_max, starts the target (which gets the
** last high ids), then makes more until the counter wraps: every thread
** the target churns from then on has a lower id than its main thread and
** workers. Only where pid_max is at most 65536 and this is fast enough
** (not under valgrind, nor a sanitizer's slow threads), and at most 30 s:
** else the test says so and races without it. That changes nothing but
** when the next wrap happens, which the churn would bring about anyway.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "observe.h"
#include "suites.h"

#define UNTOUCHED_SNAPSHOT ((HPSS)(uintptr_t)0x5eed5eedu)

/* {======================================================================
** Watchdog and teardown
** ======================================================================= */

static int racing_setup (void **state) {
  if (fixture_setup(state) != 0)
    return -1;
  watchdog_arm(180, "the test");
  return 0;
}

static int racing_teardown (void **state) {
  struct fixture *f = FIXTURE(state);
  alarm(0);
  fixture_release_tracees(f);
  return fixture_teardown(state);
}

#define racing_test(fn) cmocka_unit_test_setup_teardown(fn, racing_setup, racing_teardown)
/* }====================================================================== */


/* {======================================================================
** One capture, checked against itself
** ======================================================================= */

/* The lowest and highest count of a table over the captures. */
struct spread {
  DWORD low, high;
};

static void spread_add (struct spread *s, DWORD n) {
  if (n < s->low) s->low = n;
  if (n > s->high) s->high = n;
}

/* Threads in tid order, the main thread among them, with a context when
** contexts were asked for; the number walked. *below is set when a thread
** has a lower id than the main thread (made after a pid wrap). */
static DWORD walk_threads (HPSS s, pid_t pid, int contexts, char const *when, int *below) {
  HPSSWALK m = NULL;
  PSS_THREAD_ENTRY e;
  DWORD n = 0, last = 0, rc;
  int main_seen = 0;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  while ((rc = PssWalkSnapshot(s, PSS_WALK_THREADS, m, &e, sizeof e)) == ERROR_SUCCESS) {
    if (n > 0 && e.ThreadId <= last) {
      PssWalkMarkerFree(m);
      fail_because("%s: thread %u walked after thread %u", when, (unsigned)e.ThreadId,
                   (unsigned)last);
    }
    if (e.ThreadId == (DWORD)pid) {
      main_seen = 1;
      if (contexts && e.ContextRecord == NULL) {
        PssWalkMarkerFree(m);
        fail_because("%s: the main thread has no ContextRecord", when);
      }
    }
    if (e.ThreadId < (DWORD)pid)
      *below = 1;
    last = e.ThreadId;
    n++;
  }
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  if (rc != ERROR_NO_MORE_ITEMS)
    fail_because("%s: the thread walk stopped after %u entries: %s (%u)", when, (unsigned)n,
                 win32_error_name(rc), (unsigned)rc);
  if (!main_seen)
    fail_because("%s: the main thread %d is not in the snapshot", when, (int)pid);
  return n;
}

/* Handles in fd order; the number walked. */
static DWORD walk_handles (HPSS s, char const *when) {
  HPSSWALK m = NULL;
  PSS_HANDLE_ENTRY e;
  DWORD n = 0, rc;
  uintptr_t last = 0;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  while ((rc = PssWalkSnapshot(s, PSS_WALK_HANDLES, m, &e, sizeof e)) == ERROR_SUCCESS) {
    if (n > 0 && (uintptr_t)e.Handle <= last) {
      PssWalkMarkerFree(m);
      fail_because("%s: handle %ju walked after handle %ju", when, (uintmax_t)(uintptr_t)e.Handle,
                   (uintmax_t)last);
    }
    last = (uintptr_t)e.Handle;
    n++;
  }
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  if (rc != ERROR_NO_MORE_ITEMS)
    fail_because("%s: the handle walk stopped after %u entries: %s (%u)", when, (unsigned)n,
                 win32_error_name(rc), (unsigned)rc);
  return n;
}

/* Regions in address order, none overlapping the one before; the number
** walked. */
static DWORD walk_regions (HPSS s, char const *when) {
  HPSSWALK m = NULL;
  PSS_VA_SPACE_ENTRY e;
  DWORD n = 0, rc;
  uintptr_t end = 0;
  assert_code(PssWalkMarkerCreate(NULL, &m), ERROR_SUCCESS);
  while ((rc = PssWalkSnapshot(s, PSS_WALK_VA_SPACE, m, &e, sizeof e)) == ERROR_SUCCESS) {
    uintptr_t base = (uintptr_t)e.BaseAddress;
    if (e.RegionSize == 0 || (n > 0 && base < end)) {
      PssWalkMarkerFree(m);
      fail_because("%s: region %#jx (%ju bytes) walked after one that ends at %#jx", when,
                   (uintmax_t)base, (uintmax_t)e.RegionSize, (uintmax_t)end);
    }
    end = base + e.RegionSize;
    n++;
  }
  assert_code(PssWalkMarkerFree(m), ERROR_SUCCESS);
  if (rc != ERROR_NO_MORE_ITEMS)
    fail_because("%s: the region walk stopped after %u entries: %s (%u)", when, (unsigned)n,
                 win32_error_name(rc), (unsigned)rc);
  return n;
}

#define expect_count(what, queried, walked, when)                                    \
  do {                                                                               \
    if ((queried) != (walked))                                                       \
      fail_because("%s: PssQuerySnapshot says %u %s, the walk gave %u", (when),      \
                   (unsigned)(queried), (what), (unsigned)(walked));                 \
  } while (0)

/* What the captures saw: how many failed, and the first one's story; how
** many held a thread with a lower id than the main thread. */
struct tally {
  int failed;
  char first[512];
  int wrapped;
};

/*
** One capture of everything (with contexts if asked): checked, freed, and
** the target looked at. A failed capture is counted, not fatal at once, so
** the test can say how many of the rounds failed.
*/
static void capture_once (struct fixture *f, HANDLE h, pid_t pid, int round, int contexts,
                          struct spread sp[3], struct tally *tally) {
  PSS_CAPTURE_FLAGS flags = CAPTURE_EVERYTHING | (contexts ? PSS_CAPTURE_THREAD_CONTEXT : 0);
  HPSS s = UNTOUCHED_SNAPSHOT;
  DWORD rc = PssCaptureSnapshot(h, flags, CONTEXT_ALL, &s), threads, handles, regions;
  int below = 0;
  char when[96];
  snprintf(when, sizeof when, "capture %d%s", round, contexts ? " (with contexts)" : "");
  if (rc != ERROR_SUCCESS) {
    char const *detail = PssLinuxLastErrorDetail();
    int err = PssLinuxLastErrno();
    if (s != UNTOUCHED_SNAPSHOT)
      fail_because("%s failed (%s) but wrote *SnapshotHandle", when, win32_error_name(rc));
    if (tally->failed++ == 0)
      snprintf(tally->first, sizeof tally->first, "%s: %s (%u), errno %d (%s)%s%s", when,
               win32_error_name(rc), (unsigned)rc, err, strerror(err),
               detail != NULL ? ": " : "", detail != NULL ? detail : "");
    expect_untouched(pid, when);
    return;
  }
  fixture_keep_snapshot(f, s);
  threads = query_thread_count(s);
  handles = query_handle_count(s);
  regions = query_region_count(s);
  expect_count("threads", threads, walk_threads(s, pid, contexts, when, &below), when);
  tally->wrapped += below;
  expect_count("handles", handles, walk_handles(s, when), when);
  expect_count("regions", regions, walk_regions(s, when), when);
  spread_add(&sp[0], threads);
  spread_add(&sp[1], handles);
  spread_add(&sp[2], regions);
  fixture_forget_snapshot(f, s);
  assert_code(PssFreeSnapshot(PSS_LINUX_CURRENT_PROCESS, s), ERROR_SUCCESS);
  expect_untouched(pid, when);
}
/* }====================================================================== */


/* {======================================================================
** The races
** ======================================================================= */

static long read_number (char const *path) {
  char text[64] = "";
  FILE *file = fopen(path, "r");
  long v = -1;
  if (file == NULL)
    return -1;
  if (fgets(text, sizeof text, file) != NULL)
    v = strtol(text, NULL, 10);
  fclose(file);
  return v;
}

static void *do_nothing (void *arg) {
  return arg;
}

/* How many more pids the counter gives out from last until it is in
** [low, high): it counts up to max - 1, then starts again at 300. */
static long pids_until (long last, long low, long high, long max) {
  if (last >= low && last < high) return 0;
  if (last < low) return low - last;
  return (max - 1 - last) + (low > 300 ? low - 300 : 0) + 1;
}

/*
** Makes threads of our own, created and joined one at a time, until the
** pid counter (ns_last_pid, read only) is in [low, high): at most 65536 of
** them and 30 s, and none at all once the pace here says the 30 s will not
** do (a sanitizer's slow threads). 1 if it got there, else 0 with the
** reason noted.
*/
static int move_pid_counter (long low, long high, long max) {
  long long start = now_ms();
  long made = 0, last = read_number("/proc/sys/kernel/ns_last_pid");
  while (pids_until(last, low, high, max) > 0) {
    pthread_t th;
    long long spent = now_ms() - start;
    if (made == 2048 && spent * pids_until(last, low, high, max) / made + spent > 30000) {
      note("the pid counter is at %ld, %ld short of [%ld, %ld): too far at %ld threads/s here, "
           "no wrap arranged", last, pids_until(last, low, high, max), low, high,
           (long)(made * 1000 / (spent > 0 ? spent : 1)));
      return 0;
    }
    if (made >= 65536 || spent > 30000) {
      note("the pid counter is at %ld after %ld threads, not in [%ld, %ld): no wrap arranged",
           last, made, low, high);
      return 0;
    }
    if (pthread_create(&th, NULL, do_nothing, NULL) != 0 || pthread_join(th, NULL) != 0)
      fail_because("a thread to move the pid counter on: %s", strerror(errno));
    made++;
    last = read_number("/proc/sys/kernel/ns_last_pid");
  }
  return 1;
}

/* Whether the pid counter can be brought to its wrap here: pid_max small
** enough, ns_last_pid readable, not under valgrind (threads are slow
** there). pid_max in *max. */
static int pid_wrap_possible (long *max) {
  *max = read_number("/proc/sys/kernel/pid_max");
  if (under_valgrind()) {
    note("under valgrind: not bringing the pid counter to its wrap");
    return 0;
  }
  if (*max <= 0 || read_number("/proc/sys/kernel/ns_last_pid") < 0) {
    note("pid_max or ns_last_pid cannot be read: not bringing the pid counter to its wrap");
    return 0;
  }
  if (*max > 65536) {
    note("pid_max is %ld: not bringing the pid counter to its wrap", *max);
    return 0;
  }
  return 1;
}

/* The target's "churned" counts: threads made, fd rounds, map rounds. */
static void churned (struct target *t, long out[3]) {
  char line[256];
  if (target_send(t, "churned") != 0)
    fail_because("cannot send \"churned\" to the target");
  if (target_read_line(t, line, sizeof line, 10000) != 0)
    fail_because("no answer to \"churned\" from the target");
  if (sscanf(line, "churned %ld %ld %ld", &out[0], &out[1], &out[2]) != 3)
    fail_because("unexpected answer to \"churned\": %s", line);
}

/*
** ROUNDS captures of a target started with option and more (churns; more
** may be NULL); churn is the index of the count of "churned" they make go
** up, and of the table they change (0 threads, 1 handles, 2 regions).
*/
static void race (struct fixture *f, int churn, char const *option, char const *more) {
  static char const *const tables[] = { "threads", "handles", "regions" };
  long max = 0;
  /* the thread race: a target with the last ids before the wrap */
  int wrap = churn == 0 && pid_wrap_possible(&max) && move_pid_counter(max - 400, max - 100, max);
  struct target *t = fixture_start_running(f, "--threads", "2", option, more, NULL);
  HANDLE h = fixture_open(f, t->pid);
  int rounds = under_valgrind() ? 30 : 300, i;
  struct spread sp[3] = { { (DWORD)-1, 0 }, { (DWORD)-1, 0 }, { (DWORD)-1, 0 } };
  struct tally tally = { 0, "", 0 };
  long before[3], after[3];
  if (wrap) {
    /* then the wrap itself: the threads the target makes from now on have
    ** lower ids than the ones it started with */
    wrap = t->pid > max - 1000 && move_pid_counter(0, t->pid - 1000, max);
    note("target %d, pid counter now at %ld: %s", (int)t->pid,
         read_number("/proc/sys/kernel/ns_last_pid"), wrap ? "wrapped" : "not wrapped");
  }
  churned(t, before);
  for (i = 0; i < rounds; i++)
    capture_once(f, h, t->pid, i, i % 3 == 0, sp, &tally);
  churned(t, after);
  note("%s: %d captures, %d failed; threads %u..%u, handles %u..%u, regions %u..%u; "
       "the churn made %ld rounds meanwhile", option, rounds, tally.failed,
       (unsigned)sp[0].low, (unsigned)sp[0].high, (unsigned)sp[1].low,
       (unsigned)sp[1].high, (unsigned)sp[2].low, (unsigned)sp[2].high,
       after[churn] - before[churn]);
  if (wrap)
    note("target %d: %d captures held a thread made after the pid wrap (a lower id)",
         (int)t->pid, tally.wrapped);
  if (tally.failed > 0)
    fail_because("%d of %d captures of a live target failed; the first: %s", tally.failed,
                 rounds, tally.first);
  /* the target went on churning through the captures, and they saw it */
  if (after[churn] <= before[churn])
    fail_because("%s: the target did not churn during the captures (%ld, then %ld)", option,
                 before[churn], after[churn]);
  if (sp[churn].low == sp[churn].high)
    fail_because("%s: every capture saw %u %s: the captures never raced the churn", option,
                 (unsigned)sp[churn].low, tables[churn]);
  expect_untouched(t->pid, "after the captures");
}

/* The main thread makes and joins a thread, again and again (--churn),
** while another keeps up to four short-lived threads going: new threads
** appear while others run, even while the capture stops the first ones. */
static void captures_race_threads_that_come_and_go (void **state) {
  race(FIXTURE(state), 0, "--churn", "--thread-churn");
}

/* A thread opens six fds of four kinds and closes them, again and again. */
static void captures_race_fds_that_come_and_go (void **state) {
  race(FIXTURE(state), 1, "--fd-churn", NULL);
}

/* A thread maps, reprotects and unmaps regions, again and again. */
static void captures_race_mappings_that_come_and_go (void **state) {
  race(FIXTURE(state), 2, "--map-churn", NULL);
}
/* }====================================================================== */


int run_racing_suite (void) {
  const struct CMUnitTest tests[] = {
    racing_test(captures_race_threads_that_come_and_go),
    racing_test(captures_race_fds_that_come_and_go),
    racing_test(captures_race_mappings_that_come_and_go),
  };
  return cmocka_run_group_tests_name("racing", tests, NULL, NULL);
}
