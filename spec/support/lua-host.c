/*
** lua-host.c -- the PSS_ALLOCATOR bridge, checked from outside Lua.
**
** Runs pss in Lua states whose lua_Alloc counts every block and remembers
** its size, so that after lua_close it can tell whether every byte came
** back and whether every free passed the right osize. Also closes states
** with live snapshots and markers, and fails allocations: each one in
** turn once, and every one from the n-th on (then Lua cannot even call a
** finalizer, and only pss.core's ledger frees the handles at lua_close).
** The descriptors of the process must come back too: a snapshot with a VA
** clone holds some, so a snapshot never freed shows there.
** Prints TAP. Usage: lua-host SCRIPT_DIR (pss.lua) MODULE_DIR (pss/core.so);
** the test target is $PSS_TARGET, else MODULE_DIR/../pss-target.
*/
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

typedef struct {
  size_t blocks, bytes_in, bytes_out;
  size_t bad_osize;        /* frees or reallocs whose osize was wrong */
  long fail_after;         /* fail the n-th allocation from now; -1: never */
  int fail_on;             /* and every allocation after it */
  size_t failures;
} Counter;

/* Each block starts with its size and a mark, so a wrong osize or a
** foreign pointer is seen at once. */
typedef union { struct { size_t size; size_t mark; } h; max_align_t align; } Header;
#define MARK 0x7073735f6c756121ULL

static void *counting_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  Counter *c = ud;
  Header *h = ptr ? (Header *)ptr - 1 : NULL;
  if (h != NULL && (h->h.mark != MARK || h->h.size != osize)) c->bad_osize++;
  if (nsize == 0) {
    if (h != NULL) {
      c->blocks--;
      c->bytes_out += h->h.size;
      h->h.mark = 0;
      free(h);
    }
    return NULL;
  }
  if (c->fail_after == 0) {
    c->failures++;
    if (!c->fail_on) c->fail_after = -1;
    return NULL;
  }
  if (c->fail_after > 0) c->fail_after--;
  {
    size_t old = h ? h->h.size : 0;
    Header *n = realloc(h, sizeof *n + nsize);
    if (n == NULL) return NULL;
    if (h == NULL) c->blocks++;
    c->bytes_out += old;
    c->bytes_in += nsize;
    n->h.size = nsize;
    n->h.mark = MARK;
    return n + 1;
  }
}

static int tests_run, tests_failed;

static void report (int ok, const char *name, const char *detail) {
  tests_run++;
  if (!ok) tests_failed++;
  printf("%s %d - %s\n", ok ? "ok" : "not ok", tests_run, name);
  if (!ok && detail) printf("# %s\n", detail);
}

static lua_State *new_state (Counter *c, const char *lpath, const char *cpath) {
  lua_State *L = lua_newstate(counting_alloc, c);
  if (L == NULL) return NULL;
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua", lpath);
  lua_setfield(L, -2, "path");
  lua_pushfstring(L, "%s/?.so", cpath);
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  return L;
}

/* Runs `chunk`; returns NULL on success or the error message (static). */
static const char *run (lua_State *L, const char *chunk) {
  static char msg[512];
  if (luaL_dostring(L, chunk) == LUA_OK) return NULL;
  snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error)");
  return msg;
}

static void check_balance (const char *name, const Counter *c, const char *err) {
  char detail[600];
  int ok = err == NULL && c->blocks == 0 && c->bytes_in == c->bytes_out && c->bad_osize == 0;
  snprintf(detail, sizeof detail, "error=%s blocks=%zu in=%zu out=%zu bad_osize=%zu",
           err ? err : "none", c->blocks, c->bytes_in, c->bytes_out, c->bad_osize);
  report(ok, name, detail);
}

/* Captures and walks everything, several times, then closes the state. */
static const char *const walk_all =
  "local pss = require 'pss'\n"
  "for _ = 1, 20 do\n"
  "  local s <close> = assert(pss.capture(pss.self))\n"
  "  for _ in s:threads() do end\n"
  "  for _ in s:handles() do end\n"
  "  for _ in s:regions() do end\n"
  "  for _ in s:thread_names() do end\n"
  "  local m <close> = s:marker()\n"
  "  while s:walk('regions', m) do end\n"
  "  local d = s:duplicate(); d:free()\n"
  "end\n"
  "local b = pss.allocations()\n"
  "assert(b == 0, 'live marker blocks: ' .. b)\n";

/* Leaves snapshots, markers and a loop half done for lua_close. */
static const char *const leave_alive =
  "local pss = require 'pss'\n"
  "keep = {}\n"
  "for i = 1, 10 do\n"
  "  local s = assert(pss.capture(pss.self))\n"
  "  local m = s:marker(); s:walk('handles', m)\n"
  "  keep[#keep + 1] = m\n"
  "  if i % 2 == 0 then keep[#keep + 1] = s end\n"
  "  local step, _, _, marker = s:regions(); step()\n"
  "  keep[#keep + 1] = step; keep[#keep + 1] = marker\n"
  "end\n"
  "local s = assert(pss.capture(pss.self)); s:free()\n"
  "keep[#keep + 1] = s\n";

static void test_balance (const char *lpath, const char *cpath) {
  Counter c = { 0, 0, 0, 0, -1, 0, 0 };
  lua_State *L = new_state(&c, lpath, cpath);
  const char *err = run(L, walk_all);
  lua_close(L);
  check_balance("captures and walks return every byte with the right osize", &c, err);
}

static void test_close_with_live_objects (const char *lpath, const char *cpath) {
  Counter c = { 0, 0, 0, 0, -1, 0, 0 };
  lua_State *L = new_state(&c, lpath, cpath);
  const char *err = run(L, leave_alive);
  lua_close(L);
  check_balance("lua_close with live snapshots, markers and loops frees all", &c, err);
}

/* {======================================================================
** The test target and the process's descriptors
** ======================================================================= */
typedef struct { pid_t pid; FILE *out; } Target;

/* $PSS_TARGET, else pss-target two levels above the module directory
** (BUILD/lua -> BUILD/pss-target). */
static void target_path (const char *cpath, char *out, size_t size) {
  const char *env = getenv("PSS_TARGET");
  if (env != NULL && *env != '\0') snprintf(out, size, "%s", env);
  else snprintf(out, size, "%s/../pss-target", cpath);
}

/* Starts the target and reads its report up to "ready", 20 s at most;
** pid 0 on failure. It ends by itself after five minutes at the latest. */
static Target start_target (const char *path) {
  Target t = { 0, NULL };
  char line[4096];
  int fds[2];
  struct pollfd pfd;
  if (pipe(fds) != 0) return t;
  if ((t.pid = fork()) == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (freopen("/dev/null", "r", stdin) == NULL) _exit(127);
    execl(path, path, "--threads", "2", "--exit-after", "300000", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  t.out = fdopen(fds[0], "r");
  if (t.out != NULL) setvbuf(t.out, NULL, _IONBF, 0);   /* poll sees every byte not read */
  pfd.fd = fds[0];
  pfd.events = POLLIN;
  while (t.pid > 0 && t.out != NULL && poll(&pfd, 1, 20000) == 1 &&
         fgets(line, sizeof line, t.out) != NULL)
    if (strcmp(line, "ready\n") == 0) return t;
  if (t.pid > 0) kill(t.pid, SIGKILL), waitpid(t.pid, NULL, 0);
  if (t.out != NULL) fclose(t.out);
  else close(fds[0]);
  t.pid = 0;
  return t;
}

/* SIGTERM, then SIGKILL if it has not ended within 10 s; reaps it. */
static void stop_target (Target *t) {
  int i;
  if (t->pid <= 0) return;
  kill(t->pid, SIGTERM);
  for (i = 0; i < 1000 && waitpid(t->pid, NULL, WNOHANG) == 0; i++) {
    struct timespec ts = { 0, 10000000L };
    nanosleep(&ts, NULL);
  }
  if (i == 1000) kill(t->pid, SIGKILL), waitpid(t->pid, NULL, 0);
  fclose(t->out);
  t->pid = 0;
}

/* Open descriptors of this process (the directory's own included). */
static int fd_count (void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}
/* }====================================================================== */


/* {======================================================================
** Allocation failures
** ======================================================================= */

/*
** What each state of the sweeps runs: captures of this process (with a VA
** clone, which holds descriptors and a child) and of the target; every
** walk, markers, a duplicate, loops cut short, a marker and a half-done
** loop left to the collector, a snapshot and markers left to lua_close.
*/
static const char *const capture_walk_free =
  "local pss = require 'pss'\n"
  "local function visit (s)\n"
  "  for _ in s:threads() do end\n"
  "  for _ in s:thread_names() do end\n"
  "  local n = 0\n"
  "  for _ in s:handles() do n = n + 1; if n == 3 then break end end\n"
  "  n = 0\n"
  "  for _ in s:regions() do n = n + 1; if n == 3 then break end end\n"
  "  local m <close> = assert(s:marker())\n"
  "  s:walk('threads', m); s:walk('handles', m); m:rewind()\n"
  "  local d = assert(s:duplicate())\n"
  "  local dm = assert(d:marker()); d:walk('regions', dm)\n"
  "  d:free()\n"
  "  return s:query('process')\n"
  "end\n"
  "local me <close> = assert(pss.capture(pss.self, {'threads', 'handles', 'va_space', 'va_clone'}))\n"
  "visit(me)\n"
  "local it = assert(pss.capture(TARGET, {'threads', 'handles', 'va_space'}))\n"
  "visit(it)\n"
  "it:free()\n"
  "keep = { assert(pss.capture(TARGET, {'threads'})) }\n"
  "keep[2] = assert(keep[1]:marker()); keep[1]:walk('threads', keep[2])\n"
  "local step = keep[1]:threads(); step(); keep[3] = step\n";

typedef struct {
  const char *lpath, *cpath;
  pid_t target;
  int persistent;          /* fail from the n-th allocation on, not once */
  long stride;             /* every n-th point of the sweep (valgrind: more) */
} Sweep;

/* One state failing at allocation n; 1 if it failed at all. Counts a bad
** run (an error other than out of memory, bytes, osize or fds lost). */
static int run_failing_at (const Sweep *w, long n, int fds, size_t *bad) {
  Counter c = { 0, 0, 0, 0, -1, 0, 0 };
  lua_State *L = new_state(&c, w->lpath, w->cpath);
  const char *err;
  char setup[96];
  int now;
  if (L == NULL) return 1;
  /* load first: the module itself is not under test */
  snprintf(setup, sizeof setup, "require 'pss'; TARGET = %d", (int)w->target);
  err = run(L, setup);
  if (err == NULL) {
    c.fail_after = n;
    c.fail_on = w->persistent;
    err = run(L, capture_walk_free);
  }
  lua_close(L);          /* a persistent failure stays on: closing allocates nothing */
  now = fd_count();
  if (err != NULL && strstr(err, "memory") == NULL) { (*bad)++; printf("# at %ld: %s\n", n, err); }
  if (c.blocks != 0 || c.bytes_in != c.bytes_out || c.bad_osize != 0 || now != fds) {
    (*bad)++;
    printf("# at %ld: %zu blocks and %zu bytes left, %zu bad osize, %d fds (%d before)\n",
           n, c.blocks, c.bytes_in - c.bytes_out, c.bad_osize, now, fds);
  }
  return c.failures > 0;
}

/* Fails allocation n = 0, stride, 2 stride, ... until the whole script
** runs without reaching it: each run must end in success or an out of
** memory error, and give back every byte and descriptor. */
static void sweep (const Sweep *w, const char *name) {
  size_t bad = 0, failed_runs = 0;
  int fds = fd_count();
  long n;
  char detail[200];
  if (w->target <= 0) {
    report(0, name, "the target did not start");
    return;
  }
  for (n = 0; n < 100000; n += w->stride) {
    if (!run_failing_at(w, n, fds, &bad)) break;   /* every point was tried */
    failed_runs++;
  }
  snprintf(detail, sizeof detail, "%zu bad runs of %ld (%zu with a failure), every %ld",
           bad, n / w->stride + 1, failed_runs, w->stride);
  report(bad == 0 && failed_runs > 0 && n < 100000, name, detail);
  if (bad == 0) printf("# %s\n", detail);
}

/* Valgrind is 20 to 50 times slower: there every 7th point is tried. */
static long sweep_stride (void) {
  const char *preload = getenv("LD_PRELOAD");
  return preload != NULL && strstr(preload, "vgpreload") != NULL ? 7 : 1;
}

/* Counts the finalizers Lua could not run: it warns "error in __gc (...)"
** in pieces, one of them "__gc". */
static void count_gc_warning (void *ud, const char *piece, int tocont) {
  (void)tocont;
  if (strcmp(piece, "__gc") == 0) (*(int *)ud)++;
}

/* lua_gc from a new frame: the finalizers it calls need the CallInfo after
** this one, which the collections before freed */
static int collect_here (lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}

/*
** The case the ledger is for, made on purpose: snapshots and markers
** become garbage while every allocation fails, and the collection runs in
** a frame whose next CallInfo does not exist. Lua cannot call their
** finalizers (it reports the memory error as a warning) and frees the
** userdata all the same; lua_close, with allocation still failing, must
** free their handles, blocks and descriptors.
*/
static void test_finalizers_not_called (const char *lpath, const char *cpath, pid_t target) {
  static const char *const garbage =
    "local pss = require 'pss'\n"
    "keep = {}\n"
    "for i = 1, 4 do\n"
    "  local s = assert(pss.capture(i % 2 == 0 and TARGET or pss.self, {'threads', 'handles', 'va_space', i == 1 and 'va_clone' or nil}))\n"
    "  local m = assert(s:marker()); s:walk('handles', m); s:walk('regions', m)\n"
    "  local step = s:threads(); step()\n"
    "  keep[#keep + 1] = s; keep[#keep + 1] = m; keep[#keep + 1] = step\n"
    "  keep[#keep + 1] = assert(s:duplicate())\n"
    "end\n";
  Counter c = { 0, 0, 0, 0, -1, 0, 0 };
  int fds = fd_count(), now, i, blocks_in_use, not_run = 0;
  lua_State *L = new_state(&c, lpath, cpath);
  const char *err;
  char setup[64], detail[600];
  snprintf(setup, sizeof setup, "TARGET = %d", (int)target);
  err = target > 0 ? run(L, setup) : "the target did not start";
  if (err == NULL) err = run(L, garbage);
  for (i = 0; i < 8; i++) lua_gc(L, LUA_GCCOLLECT, 0);   /* shrinks the CallInfo list */
  blocks_in_use = (int)c.blocks;
  lua_pushnil(L);
  lua_setglobal(L, "keep");                              /* an existing key: no allocation */
  c.fail_on = 1;
  c.fail_after = 0;
  lua_setwarnf(L, count_gc_warning, &not_run);
  lua_pushcfunction(L, collect_here);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) lua_pop(L, 1);
  lua_setwarnf(L, NULL, NULL);
  lua_close(L);
  now = fd_count();
  snprintf(detail, sizeof detail,
           "error=%s blocks=%zu (of %d) in=%zu out=%zu bad_osize=%zu fds=%d (%d before) "
           "finalizers not run=%d", err ? err : "none", c.blocks, blocks_in_use, c.bytes_in,
           c.bytes_out, c.bad_osize, now, fds, not_run);
  report(err == NULL && not_run > 0 && c.blocks == 0 && c.bytes_in == c.bytes_out &&
         c.bad_osize == 0 && now == fds,
         "finalizers Lua cannot call leave nothing behind: lua_close frees it all", detail);
}

static void test_allocation_failures (const char *lpath, const char *cpath) {
  char path[4096];
  Target t;
  Sweep w;
  target_path(cpath, path, sizeof path);
  t = start_target(path);
  w.lpath = lpath;
  w.cpath = cpath;
  w.target = t.pid;
  w.stride = sweep_stride();
  w.persistent = 0;
  sweep(&w, "an allocation failed once, at each point in turn, ends in an error and leaks nothing");
  w.persistent = 1;
  sweep(&w, "every allocation failed from some point on, to lua_close, leaks nothing");
  test_finalizers_not_called(lpath, cpath, t.pid);
  stop_target(&t);
}
/* }====================================================================== */

int main (int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s LUA_DIR MODULE_DIR\n", argv[0]);
    return 2;
  }
  printf("1..5\n");
  test_balance(argv[1], argv[2]);
  test_close_with_live_objects(argv[1], argv[2]);
  test_allocation_failures(argv[1], argv[2]);
  return tests_failed ? 1 : 0;
}
