/*
** test_win.c -- libpss's Windows side, run under wine by spec/windows/run.sh.
**
** It includes src/windows/pss_win.c to reach the parts that need no
** snapshot (wine has no Pss* function, so none can be captured): the
** run-time resolution, the readable-prefix read of another address
** space, the minidump plumbing against the system's dbghelp, the
** IsProcessSnapshotCallback answer, the HRESULT mapping and the path
** conversion. Prints TAP, numbered after argv[1] tests.
*/
#include "../../src/windows/pss_win.c"

#include <wchar.h>

static int number, first, failures, skipped;

static void result (int ok, const char *name, const char *why) {
  printf("%s %d - %s\n", ok ? "ok" : "not ok", ++number, name);
  if (!ok) {
    printf("# %s\n", why);
    failures++;
  }
}

static void skip (const char *name, const char *why) {
  printf("ok %d - %s # SKIP %s\n", ++number, name, why);
  skipped++;
}

#define CHECK(cond) do { if (!(cond)) return #cond; } while (0)

static const char *const names[] = {
  "PssCaptureSnapshot", "PssDuplicateSnapshot", "PssFreeSnapshot", "PssQuerySnapshot",
  "PssWalkSnapshot", "PssWalkMarkerCreate", "PssWalkMarkerFree", "PssWalkMarkerGetPosition",
  "PssWalkMarkerSetPosition", "PssWalkMarkerSeekToBeginning",
};

/* the module's answer agrees with kernel32's exports, looked up here */
static const char *availability (void) {
  HMODULE k = GetModuleHandleW(L"kernel32.dll");
  BOOL all = TRUE;
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    all = all && GetProcAddress(k, names[i]) != NULL;
  CHECK(PssWindowsIsAvailable() == all);
  return NULL;
}

/* without the API every function answers ERROR_NOT_SUPPORTED */
static const char *not_supported (void) {
  HPSS snap = NULL;
  HPSSWALK walk = NULL;
  ULONG_PTR pos = 0;
  SIZE_T got = 0;
  char buf[8];
  PSS_PROCESS_INFORMATION pi;
  CHECK(PssCaptureSnapshot(GetCurrentProcess(), PSS_CAPTURE_THREADS, 0, &snap) ==
        ERROR_NOT_SUPPORTED && snap == NULL);
  CHECK(PssDuplicateSnapshot(GetCurrentProcess(), snap, GetCurrentProcess(), &snap, 0) ==
        ERROR_NOT_SUPPORTED);
  CHECK(PssFreeSnapshot(GetCurrentProcess(), snap) == ERROR_NOT_SUPPORTED);
  CHECK(PssQuerySnapshot(snap, PSS_QUERY_PROCESS_INFORMATION, &pi, sizeof pi) ==
        ERROR_NOT_SUPPORTED);
  CHECK(PssWalkSnapshot(snap, PSS_WALK_THREADS, walk, NULL, 0) == ERROR_NOT_SUPPORTED);
  CHECK(PssWalkMarkerCreate(NULL, &walk) == ERROR_NOT_SUPPORTED && walk == NULL);
  CHECK(PssWalkMarkerFree(walk) == ERROR_NOT_SUPPORTED);
  CHECK(PssWalkMarkerGetPosition(walk, &pos) == ERROR_NOT_SUPPORTED);
  CHECK(PssWalkMarkerSetPosition(walk, pos) == ERROR_NOT_SUPPORTED);
  CHECK(PssWalkMarkerSeekToBeginning(walk) == ERROR_NOT_SUPPORTED);
  CHECK(PssWindowsReadSnapshotMemory(snap, 0, buf, sizeof buf, &got) == ERROR_NOT_SUPPORTED);
  CHECK(PssWindowsWriteDump(snap, "never.dmp") == ERROR_NOT_SUPPORTED);
  CHECK(GetFileAttributesW(L"never.dmp") == INVALID_FILE_ATTRIBUTES);
  return NULL;
}

/* A child process with three pages reserved at a known address, the first
** two committed and filled: read_prefix must return exactly those. The
** child is this program started again with "hold"; it prints the address
** and waits on stdin. */
typedef struct { HANDLE process, in; char *base; SIZE_T page; } Child;

static int child_hold (void) {
  SYSTEM_INFO si;
  char *p;
  SIZE_T i;
  GetSystemInfo(&si);
  /* three free pages; the first two taken again, the third left free */
  p = VirtualAlloc(NULL, 3 * si.dwPageSize, MEM_RESERVE, PAGE_NOACCESS);
  if (p == NULL || !VirtualFree(p, 0, MEM_RELEASE) ||
      VirtualAlloc(p, 2 * si.dwPageSize, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) != p)
    return 1;
  for (i = 0; i < 2 * si.dwPageSize; i++) p[i] = (char)(i * 7 + 3);
  printf("%p\n", (void *)p);
  fflush(stdout);
  getchar();   /* until the parent is done */
  return 0;
}

static const char *start_child (Child *c) {
  SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  HANDLE out_r, out_w, in_r, in_w;
  WCHAR cmd[MAX_PATH + 16], exe[MAX_PATH];
  char line[64];
  DWORD n = 0, got;
  SYSTEM_INFO sys;
  void *base = NULL;
  CHECK(GetModuleFileNameW(NULL, exe, MAX_PATH) > 0);
  _snwprintf(cmd, MAX_PATH + 16, L"\"%ls\" hold", exe);
  CHECK(CreatePipe(&out_r, &out_w, &sa, 0) && CreatePipe(&in_r, &in_w, &sa, 0));
  SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = in_r;
  si.hStdOutput = out_w;
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  CHECK(CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi));
  CloseHandle(pi.hThread);
  CloseHandle(out_w);
  CloseHandle(in_r);
  while (n < sizeof line - 1 && ReadFile(out_r, line + n, 1, &got, NULL) && got == 1 &&
         line[n] != '\n')
    n++;
  line[n] = 0;
  CloseHandle(out_r);
  CHECK(sscanf(line, "%p", &base) == 1 && base != NULL);
  GetSystemInfo(&sys);
  c->process = pi.hProcess;
  c->in = in_w;
  c->base = base;
  c->page = sys.dwPageSize;
  return NULL;
}

static void stop_child (Child *c) {
  CloseHandle(c->in);   /* getchar() sees the end */
  WaitForSingleObject(c->process, 10000);
  CloseHandle(c->process);
}

/* The bytes of the two committed pages, whole and across their boundary */
static const char *prefix_reads (Child *c) {
  SIZE_T page = c->page, got = 99, i;
  UINT64 base = (UINT64)(uintptr_t)c->base;
  char buf[100];
  char *all = malloc(2 * page);
  int bad = all == NULL;
  if (!bad && (read_prefix(c->process, base, all, 2 * page, &got) != ERROR_SUCCESS ||
               got != 2 * page))
    bad = 1;
  for (i = 0; !bad && i < 2 * page; i++) bad = all[i] != (char)(i * 7 + 3);
  free(all);
  CHECK(!bad);
  CHECK(read_prefix(c->process, base + page - 50, buf, 100, &got) == ERROR_SUCCESS &&
        got == 100 && buf[0] == (char)((page - 50) * 7 + 3) && buf[99] == (char)((page + 49) * 7 + 3));
  CHECK(read_prefix(c->process, base, buf, 0, &got) == ERROR_SUCCESS && got == 0);
  return NULL;
}

/* Past the committed pages the address is free: the read stops there with
** the bytes before. Returns "free pages are readable" when the system
** reads the free page anyway (wine keeps its free address space mapped). */
static const char *prefix_stops (Child *c, char *buf) {
  SIZE_T page = c->page, got = 99, i;
  UINT64 base = (UINT64)(uintptr_t)c->base;
  DWORD rc;
  memset(buf, 0x55, 3 * page);
  rc = read_prefix(c->process, base, buf, 3 * page, &got);
  if (rc == ERROR_SUCCESS && got == 3 * page) return "free pages are readable";
  CHECK(rc == ERROR_PARTIAL_COPY && got == 2 * page);
  for (i = 0; i < 2 * page; i++) CHECK(buf[i] == (char)(i * 7 + 3));
  CHECK((unsigned char)buf[2 * page] == 0x55);
  CHECK(read_prefix(c->process, base + 2 * page, buf, 10, &got) == ERROR_PARTIAL_COPY &&
        got == 0);
  return NULL;
}

static Child child;

static const char *readable_prefix (void) {
  return prefix_reads(&child);
}

static const char *partial_prefix (void) {
  char *buf = malloc(3 * child.page);
  const char *why = buf ? prefix_stops(&child, buf) : "malloc";
  free(buf);
  return why;
}

/* the answer dbghelp needs to take the handle as a snapshot, at offset 0 */
static const char *snapshot_callback (void) {
  MINIDUMP_CALLBACK_INPUT in;
  union { MINIDUMP_CALLBACK_OUTPUT out; HRESULT first; unsigned char bytes[64]; } o;
  memset(&in, 0, sizeof in);
  memset(&o, 0, sizeof o);
  in.CallbackType = 16;   /* IsProcessSnapshotCallback in the SDK's enum */
  CHECK(IsProcessSnapshotCallback == 16);
  CHECK(dump_callback(NULL, &in, &o.out) == TRUE);
  CHECK(o.first == S_FALSE);
  memset(&o, 0, sizeof o);
  in.CallbackType = ModuleCallback;
  CHECK(dump_callback(NULL, &in, &o.out) == TRUE && o.first == 0);
  return NULL;
}

static const char *hresults (void) {
  CHECK(dump_error(0x80070005u) == ERROR_ACCESS_DENIED);
  CHECK(dump_error(ERROR_DISK_FULL) == ERROR_DISK_FULL);
  CHECK(dump_error(0x80004005u) == ERROR_GEN_FAILURE);
  CHECK(strstr(PssWindowsLastErrorDetail(), "HRESULT 0x80004005") != NULL);
  CHECK(dump_error(0x80070000u) == ERROR_GEN_FAILURE);   /* failed, never success */
  CHECK(dump_error(0) == ERROR_GEN_FAILURE);
  (void)PssWindowsIsAvailable();
  CHECK(PssWindowsLastErrorDetail() == NULL);             /* every call resets it */
  return NULL;
}

static const char *paths (void) {
  WCHAR *w = NULL;
  CHECK(utf8_to_wide("C:\\d\xc3\xa9j\xc3\xa0.dmp", &w) == ERROR_SUCCESS);
  CHECK(wcscmp(w, L"C:\\d\u00e9j\u00e0.dmp") == 0);
  free(w);
  CHECK(utf8_to_wide("bad\xff.dmp", &w) == ERROR_INVALID_PARAMETER);
  CHECK(strcmp(PssWindowsLastErrorDetail(), "the path is not valid UTF-8") == 0);
  return NULL;
}

/* dbghelp comes from the system directory, and the dump plumbing (flags,
** file, removal on failure) works with it on a process handle */
static const char *dump_plumbing (void) {
  WCHAR sys[MAX_PATH], loaded[MAX_PATH];
  char temp[MAX_PATH], path[MAX_PATH + 32], head[4] = { 0 };
  UINT n = GetSystemDirectoryW(sys, MAX_PATH);
  FILE *f;
  InitOnceExecuteOnce(&dbghelp_loaded, load_dbghelp, NULL, NULL);
  CHECK(dbghelp != NULL && write_dump != NULL);
  CHECK(GetModuleFileNameW(dbghelp, loaded, MAX_PATH) > n);
  CHECK(_wcsnicmp(loaded, sys, n) == 0 && loaded[n] == L'\\');
  CHECK(GetTempPathA(MAX_PATH, temp) > 0);
  snprintf(path, sizeof path, "%spss-test.dmp", temp);
  CHECK(write_dump_file(GetCurrentProcess(), FALSE, GetCurrentProcessId(), path) ==
        ERROR_SUCCESS);
  CHECK((f = fopen(path, "rb")) != NULL);
  CHECK(fread(head, 1, 4, f) == 4);
  fclose(f);
  remove(path);
  CHECK(memcmp(head, "MDMP", 4) == 0);
  snprintf(path, sizeof path, "%sno-such-folder\\pss-test.dmp", temp);
  CHECK(write_dump_file(GetCurrentProcess(), FALSE, GetCurrentProcessId(), path) ==
        ERROR_PATH_NOT_FOUND);
  return NULL;
}

static void run (const char *name, const char *(*test)(void)) {
  const char *why = test();
  result(why == NULL, name, why ? why : "");
}

int main (int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "hold") == 0) return child_hold();
  number = first = argc > 1 ? atoi(argv[1]) : 0;
  printf("1..8\n");
  run("PssWindowsIsAvailable agrees with kernel32's exports", availability);
  if (PssWindowsIsAvailable())
    skip("every function answers ERROR_NOT_SUPPORTED without the API",
         "this system has the API");
  else
    run("every function answers ERROR_NOT_SUPPORTED without the API", not_supported);
  {
    const char *why = start_child(&child);
    if (why != NULL) {
      result(0, "a helper process with known pages starts", why);
      result(0, "a read of another process stops at its first free page", "no helper");
    } else {
      run("a read of another process returns its bytes, whole and across pages",
          readable_prefix);
      why = partial_prefix();
      if (why != NULL && strcmp(why, "free pages are readable") == 0)
        skip("a read of another process stops at its first free page, with the bytes before",
             "this system reads free pages of another process (wine keeps them mapped)");
      else
        result(why == NULL, "a read of another process stops at its first free page, with "
               "the bytes before", why ? why : "");
      stop_child(&child);
    }
  }
  run("IsProcessSnapshotCallback is answered S_FALSE at offset 0, nothing else is touched",
      snapshot_callback);
  run("MiniDumpWriteDump's last error maps to a Win32 code, never to success", hresults);
  run("dump paths are UTF-8; invalid UTF-8 is refused with a reason", paths);
  run("dbghelp comes from the system directory and writes an MDMP file; a bad path "
      "leaves none", dump_plumbing);
  printf("# %d passed, %d failed, %d skipped\n", number - first - failures - skipped, failures,
         skipped);
  return failures != 0;
}
