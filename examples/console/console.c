/*
** console.c -- pss in a game's Lua console.
**
** Embeds Lua 5.4 the way a game or tool does: its own lua_Alloc (the
** "game allocator", which counts outstanding blocks and bytes and checks
** every osize Lua passes back), luaL_openlibs, package.path/cpath pointed
** at the repository's lua/ and build/lua/, then a frame loop that calls the
** script's global frame(n) once per frame until it returns false. The
** script, console.lua, captures this process and another one and walks
** both snapshots a few entries per frame. After lua_close the allocator
** must be back at zero. Prints TAP (see README.md).
**
** Usage: console [options] (--spawn PROGRAM | PID)
**   --spawn PROGRAM  start PROGRAM (build/pss-target), capture it, stop it
**   --lua-dir DIR    where pss.lua is        (default: found from the binary)
**   --module-dir DIR where pss/core.so is    (default: BINDIR/lua)
**   --script FILE    the console script      (default: examples/console/console.lua)
**   --frames N       at most N frames        (default 2000)
**   --per-frame K    entries per snapshot per frame (default 5)
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

/* {======================================================================
** The game allocator
**
** Every block carries a header with its size and a tag: Lua passes the
** size back as osize on every realloc and free, and pss's walk markers
** (PSS_ALLOCATOR over lua_Alloc) must pass it too. A wrong osize, or a
** pointer this allocator never returned, is counted, not trusted.
** ======================================================================= */
typedef struct {
  size_t blocks;           /* outstanding */
  size_t bytes;            /* outstanding */
  size_t peak_bytes;
  size_t calls;            /* allocations and reallocations */
  size_t bad_osize;        /* frees or reallocs with a wrong osize or a foreign block */
} GameAlloc;

typedef union {
  struct { size_t size, tag; } h;
  max_align_t align;       /* keeps the block after it aligned */
} BlockHeader;

#define BLOCK_TAG ((size_t)0x67616d65616c6c63ULL)  /* "gameallc" */

static void *game_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  GameAlloc *g = ud;
  BlockHeader *old = ptr != NULL ? (BlockHeader *)ptr - 1 : NULL;
  BlockHeader *nb;
  size_t old_size = 0;
  if (old != NULL) {       /* when ptr is NULL, osize is a type tag, not a size */
    if (old->h.tag != BLOCK_TAG || old->h.size != osize) g->bad_osize++;
    old_size = old->h.size;
  }
  if (nsize == 0) {
    if (old != NULL) {
      g->blocks--;
      g->bytes -= old_size;
      old->h.tag = 0;      /* a second free of this block is then seen */
      free(old);
    }
    return NULL;
  }
  if (nsize > SIZE_MAX - sizeof *nb) return NULL;
  nb = realloc(old, sizeof *nb + nsize);
  if (nb == NULL) return NULL;               /* the old block stays valid */
  g->calls++;
  if (old == NULL) g->blocks++;
  g->bytes = g->bytes - old_size + nsize;
  if (g->bytes > g->peak_bytes) g->peak_bytes = g->bytes;
  nb->h.size = nsize;
  nb->h.tag = BLOCK_TAG;
  return nb + 1;
}
/* }====================================================================== */


/* {======================================================================
** TAP
** ======================================================================= */
#define PLAN 5             /* 3 checks from console.lua, then 2 from here */
static int tests_run, tests_failed;

static void report (int ok, const char *name, const char *detail) {
  tests_run++;
  if (!ok) tests_failed++;
  printf("%s %d - %s\n", ok ? "ok" : "not ok", tests_run, name);
  while (!ok && detail != NULL && *detail != '\0') {   /* each line a TAP comment */
    int len = (int)strcspn(detail, "\n");
    printf("# %.*s\n", len, detail);
    detail += len + (detail[len] == '\n');
  }
  fflush(stdout);
}
/* }====================================================================== */


/* {======================================================================
** What the game gives its console scripts: the table `console`
** ======================================================================= */

/* console.check(ok, name [, detail]): one TAP test */
static int console_check (lua_State *L) {
  int ok = lua_toboolean(L, 1);
  report(ok, luaL_checkstring(L, 2), luaL_optstring(L, 3, NULL));
  return 0;
}

/* A directory stream in a userdata, so that a Lua error (out of memory)
** while it is open cannot leak it: __gc closes what is still open. */
static int dir_gc (lua_State *L) {
  DIR **d = lua_touserdata(L, 1);
  if (*d != NULL) closedir(*d);
  *d = NULL;
  return 0;
}

/* console.tasks(pid) -> list of the tids in /proc/PID/task (in directory
** order), or nil, message */
static int console_tasks (lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1), n = 0;
  char path[64];
  struct dirent *e;
  DIR **d = lua_newuserdatauv(L, sizeof *d, 0);
  *d = NULL;
  if (luaL_newmetatable(L, "console.dir")) {
    lua_pushcfunction(L, dir_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  snprintf(path, sizeof path, "/proc/%lld/task", (long long)pid);
  if ((*d = opendir(path)) == NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  while ((e = readdir(*d)) != NULL) {
    char *end;
    long long tid = strtoll(e->d_name, &end, 10);
    if (*end != '\0' || end == e->d_name) continue;     /* "." and ".." */
    lua_pushinteger(L, (lua_Integer)tid);
    lua_rawseti(L, -2, ++n);
  }
  closedir(*d);
  *d = NULL;
  return 1;
}

static void push_console (lua_State *L, lua_Integer target, lua_Integer per_frame) {
  static const luaL_Reg funcs[] = {
    { "check", console_check }, { "tasks", console_tasks }, { NULL, NULL } };
  luaL_newlib(L, funcs);
  lua_pushinteger(L, target);
  lua_setfield(L, -2, "target");
  lua_pushinteger(L, (lua_Integer)getpid());
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, per_frame);
  lua_setfield(L, -2, "per_frame");
}
/* }====================================================================== */


/* {======================================================================
** Running the script
** ======================================================================= */
static int traceback (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

/* lua_pcall with a traceback; on error copies the message to err. */
static int call (lua_State *L, int nargs, int nresults, char *err, size_t errlen) {
  int base = lua_gettop(L) - nargs, status;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (status != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error)");
    lua_pop(L, 1);
  }
  return status;
}

typedef struct {
  const char *lua_dir, *module_dir, *script;
  lua_Integer target, per_frame;
  long max_frames;
} Options;

/*
** The console's life: a state on the game allocator, the script loaded,
** then frame(1), frame(2), ... until frame returns false or max_frames.
** Returns the number of frames run; *finished says whether frame ended
** the loop itself; err holds the first error.
*/
static long run_console (GameAlloc *g, const Options *o, int *finished, char *err, size_t errlen) {
  lua_State *L = lua_newstate(game_alloc, g);
  long n = 0;
  *finished = 0;
  if (L == NULL) { snprintf(err, errlen, "lua_newstate: out of memory"); return 0; }
  luaL_openlibs(L);
  lua_getglobal(L, "package");               /* require "pss" from the repository */
  lua_pushfstring(L, "%s/?.lua", o->lua_dir);
  lua_setfield(L, -2, "path");
  lua_pushfstring(L, "%s/?.so", o->module_dir);
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  push_console(L, o->target, o->per_frame);
  lua_setglobal(L, "console");

  if (luaL_loadfile(L, o->script) != LUA_OK) {
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
  } else if (call(L, 0, 0, err, errlen) == LUA_OK) {
    for (n = 1; n <= o->max_frames; n++) {   /* the game's frame loop */
      int more;
      if (lua_getglobal(L, "frame") != LUA_TFUNCTION) {
        snprintf(err, errlen, "%s", lua_pushfstring(L, "%s defines no function frame(n)",
                                                    o->script));
        lua_pop(L, 2);
        break;
      }
      lua_pushinteger(L, (lua_Integer)n);
      if (call(L, 1, 1, err, errlen) != LUA_OK) break;
      more = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_gc(L, LUA_GCSTEP, 0);              /* a little collection per frame */
      if (!more) { *finished = 1; break; }
    }
    if (n > o->max_frames) n = o->max_frames;
  }
  lua_close(L);
  return n;
}
/* }====================================================================== */


/* {======================================================================
** The other process: --spawn starts it with a pipe on its stdin, waits
** for its "ready" line; closing the pipe (EOF) makes it exit.
** ======================================================================= */
typedef struct {
  pid_t pid;
  int in;                  /* write end of its stdin, -1 if none */
  FILE *out;               /* read end of its stdout */
} Child;

static int spawn_target (const char *program, Child *c) {
  int in[2], out[2];
  char line[512];
  c->pid = -1; c->in = -1; c->out = NULL;
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) { close(in[0]); close(in[1]); return -1; }
  fflush(stdout);
  c->pid = fork();
  if (c->pid == 0) {
    char *const argv[] = { (char *)program, NULL };
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(127);
    execv(program, argv);
    fprintf(stderr, "console: cannot run %s: %s\n", program, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  c->in = in[1];
  c->out = c->pid > 0 ? fdopen(out[0], "r") : NULL;
  if (c->out == NULL) { close(out[0]); return -1; }
  while (fgets(line, sizeof line, c->out) != NULL)
    if (strcmp(line, "ready\n") == 0) return 0;
  return -1;                                 /* it exited or failed before "ready" */
}

/* Stops the child; returns its exit status, or -1. */
static int stop_target (Child *c) {
  int status = 0;
  if (c->in >= 0) close(c->in);
  if (c->out != NULL) fclose(c->out);
  c->in = -1; c->out = NULL;
  if (c->pid <= 0) return -1;
  while (waitpid(c->pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  c->pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
/* }====================================================================== */


/* {======================================================================
** Paths from where the binary is: BUILD/console finds pss/core.so in
** BUILD/lua and the repository (lua/pss.lua) in a parent directory.
** ======================================================================= */
static char bin_dir[PATH_MAX], repo_dir[PATH_MAX];
static char default_lua[PATH_MAX + 8], default_module[PATH_MAX + 8];
static char default_script[PATH_MAX + 32];

static int exists (const char *dir, const char *file) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return access(path, R_OK) == 0;
}

static void find_defaults (void) {
  ssize_t n = readlink("/proc/self/exe", bin_dir, sizeof bin_dir - 1);
  int up;
  char *slash;
  if (n <= 0) return;
  bin_dir[n] = '\0';
  if ((slash = strrchr(bin_dir, '/')) == NULL) return;
  *slash = '\0';
  snprintf(default_module, sizeof default_module, "%s/lua", bin_dir);
  snprintf(repo_dir, sizeof repo_dir, "%s", bin_dir);
  for (up = 0; up < 4 && repo_dir[0] != '\0'; up++) {  /* build/, build/asan/, ... */
    if (exists(repo_dir, "lua/pss.lua")) {
      snprintf(default_lua, sizeof default_lua, "%s/lua", repo_dir);
      snprintf(default_script, sizeof default_script, "%s/examples/console/console.lua",
               repo_dir);
      return;
    }
    if ((slash = strrchr(repo_dir, '/')) == NULL) break;
    *slash = '\0';
  }
}
/* }====================================================================== */


static void usage (const char *prog) {
  fprintf(stderr, "usage: %s [--lua-dir DIR] [--module-dir DIR] [--script FILE]\n"
          "       [--frames N] [--per-frame K] (--spawn PROGRAM | PID)\n", prog);
  exit(2);
}

static long number (const char *s, const char *prog, long lo, long hi) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) usage(prog);
  return v;
}

int main (int argc, char **argv) {
  Options o;
  GameAlloc g;
  Child child = { -1, -1, NULL };
  const char *spawn = NULL;
  char err[4096] = "", detail[4200];
  int i, finished, target_status = 0;
  long frames;

  find_defaults();
  o.lua_dir = default_lua; o.module_dir = default_module; o.script = default_script;
  o.target = 0; o.per_frame = 5; o.max_frames = 2000;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--spawn") == 0 && has_value) spawn = argv[++i];
    else if (strcmp(a, "--lua-dir") == 0 && has_value) o.lua_dir = argv[++i];
    else if (strcmp(a, "--module-dir") == 0 && has_value) o.module_dir = argv[++i];
    else if (strcmp(a, "--script") == 0 && has_value) o.script = argv[++i];
    else if (strcmp(a, "--frames") == 0 && has_value) o.max_frames = number(argv[++i], argv[0], 1, 1000000);
    else if (strcmp(a, "--per-frame") == 0 && has_value) o.per_frame = number(argv[++i], argv[0], 1, 1000000);
    else if (a[0] != '-' && o.target == 0) o.target = number(a, argv[0], 1, INT_MAX);
    else usage(argv[0]);
  }
  if ((spawn == NULL) == (o.target == 0)) usage(argv[0]);
  if (o.lua_dir[0] == '\0' || o.script[0] == '\0') {
    fprintf(stderr, "console: lua/pss.lua not found above %s; give --lua-dir and --script\n",
            bin_dir);
    return 2;
  }

  printf("1..%d\n", PLAN);
  fflush(stdout);
  if (spawn != NULL) {
    if (spawn_target(spawn, &child) != 0) {
      printf("Bail out! %s did not start (no \"ready\" line)\n", spawn);
      stop_target(&child);
      return 1;
    }
    o.target = child.pid;
    printf("# started %s, pid %d\n", spawn, (int)child.pid);
  }

  memset(&g, 0, sizeof g);
  frames = run_console(&g, &o, &finished, err, sizeof err);
  if (spawn != NULL) target_status = stop_target(&child);

  snprintf(detail, sizeof detail, "%s", err[0] ? err : "frame(n) still asked for more frames");
  {
    char name[128];
    snprintf(name, sizeof name, "console.lua finished in %ld frames (of at most %ld) without an error",
             frames, o.max_frames);
    report(finished && err[0] == '\0', name, detail);
  }
  {
    char name[160];
    snprintf(name, sizeof name, "zero bytes outstanding after lua_close (peak %zu bytes, "
             "%zu allocations)", g.peak_bytes, g.calls);
    snprintf(detail, sizeof detail, "blocks %zu, bytes %zu, frees with a wrong osize %zu",
             g.blocks, g.bytes, g.bad_osize);
    report(g.blocks == 0 && g.bytes == 0 && g.bad_osize == 0 && g.calls > 0, name, detail);
  }
  if (spawn != NULL && target_status != 0)
    printf("# %s exited with status %d\n", spawn, target_status);
  return tests_failed == 0 && tests_run == PLAN && target_status == 0 ? 0 : 1;
}
