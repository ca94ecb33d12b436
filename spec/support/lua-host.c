/*
** lua-host.c -- the PSS_ALLOCATOR bridge, checked from outside Lua.
**
** Runs pss in Lua states whose lua_Alloc counts every block and remembers
** its size, so that after lua_close it can tell whether every byte came
** back and whether every free passed the right osize. Also closes states
** with live snapshots and markers, and fails allocations one by one.
** Prints TAP. Usage: lua-host SCRIPT_DIR (pss.lua) MODULE_DIR (pss/core.so)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

typedef struct {
  size_t blocks, bytes_in, bytes_out;
  size_t bad_osize;        /* frees or reallocs whose osize was wrong */
  long fail_after;         /* fail the n-th allocation from now; -1: never */
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
  if (c->fail_after >= 0 && c->fail_after-- == 0) { c->failures++; return NULL; }
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
  Counter c = { 0, 0, 0, 0, -1, 0 };
  lua_State *L = new_state(&c, lpath, cpath);
  const char *err = run(L, walk_all);
  lua_close(L);
  check_balance("captures and walks return every byte with the right osize", &c, err);
}

static void test_close_with_live_objects (const char *lpath, const char *cpath) {
  Counter c = { 0, 0, 0, 0, -1, 0 };
  lua_State *L = new_state(&c, lpath, cpath);
  const char *err = run(L, leave_alive);
  lua_close(L);
  check_balance("lua_close with live snapshots, markers and loops frees all", &c, err);
}

/*
** Every allocation of a capture-and-walk, failed in turn: each run must end
** in a Lua error or success, and the state must still give back everything.
*/
static void test_allocation_failures (const char *lpath, const char *cpath) {
  static const char *const chunk =
    "local pss = require 'pss'\n"
    "local s = assert(pss.capture(pss.self, {'threads', 'handles', 'va_space'}))\n"
    "for _ in s:regions() do end\n"
    "for _ in s:handles() do end\n"
    "local m = assert(s:marker()); s:walk('threads', m); m:free(); s:free()\n";
  size_t bad = 0, failed_runs = 0;
  long n;
  char detail[200];
  for (n = 0; n < 3000; n++) {
    Counter c = { 0, 0, 0, 0, -1, 0 };
    lua_State *L = new_state(&c, lpath, cpath);
    const char *err;
    if (L == NULL) continue;
    run(L, "require 'pss'");     /* load first: the module itself is not under test */
    c.fail_after = n;
    err = run(L, chunk);
    c.fail_after = -1;
    lua_close(L);
    if (c.failures > 0) failed_runs++;
    if (err != NULL && strstr(err, "memory") == NULL) { bad++; printf("# at %ld: %s\n", n, err); }
    if (c.blocks != 0 || c.bytes_in != c.bytes_out || c.bad_osize != 0) { bad++; printf("# at %ld: blocks %zu osize %zu\n", n, c.blocks, c.bad_osize); }
    if (c.failures == 0) break;  /* the whole chunk ran: every point was tried */
  }
  snprintf(detail, sizeof detail, "%zu bad runs of %ld (%zu with a failure)", bad, n, failed_runs);
  report(bad == 0 && failed_runs > 0, "every failed allocation ends in an error and leaks nothing",
         detail);
}

int main (int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s LUA_DIR MODULE_DIR\n", argv[0]);
    return 2;
  }
  printf("1..3\n");
  test_balance(argv[1], argv[2]);
  test_close_with_live_objects(argv[1], argv[2]);
  test_allocation_failures(argv[1], argv[2]);
  return tests_failed ? 1 : 0;
}
