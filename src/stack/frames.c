/*
** frames.c -- the frames of one unwind, symbolized, in the one block the
** caller gets: the PSS_LINUX_STACK, then its frames, then their strings
** (a string several frames share, such as their module's path, once).
**
** A frame is looked up at its pc when that is exact (frame 0, a signal
** frame), else at pc - 1, inside the call that returns to pc: a call that
** ends its function would otherwise name the next one. Symbols come from
** .symtab, else .dynsym (libdwfl's choice), source lines, when asked for,
** from DWARF where the file or its .debug file has them. C++ names are demangled with
** libstdc++'s __cxa_demangle, found at run time, so libpss does not link
** libstdc++; without it, or for a name it cannot read, the name stays
** mangled.
*/
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stack/unwind.h"

#define TEXT_MAX 0xFFFFu   /* the lengths are WORDs */

/* {======================================================================
** Demangling
** ======================================================================= */

typedef char *demangle_fn(char const *mangled, char *buffer, size_t *length, int *status);

static demangle_fn *demangler;
static pthread_once_t demangler_once = PTHREAD_ONCE_INIT;

/* The process's own __cxa_demangle (a C++ program has it), else
** libstdc++'s if it is installed; it stays loaded for the process. */
static void find_demangler (void) {
  void *f = dlsym(RTLD_DEFAULT, "__cxa_demangle");
  if (f == NULL) {
    void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
    if (lib != NULL) f = dlsym(lib, "__cxa_demangle");
  }
  memcpy(&demangler, &f, sizeof demangler);   /* an object pointer to a function's */
}

/* The demangled name (from __cxa_demangle's malloc), or NULL. */
static char *demangle (char const *name) {
  char *out;
  int status = -1;
  if (strncmp(name, "_Z", 2) != 0) return NULL;
  pthread_once(&demangler_once, find_demangler);
  if (demangler == NULL) return NULL;
  out = demangler(name, NULL, NULL, &status);
  if (status != 0) {
    free(out);
    return NULL;
  }
  return out;
}
/* }====================================================================== */


/* {======================================================================
** Code addresses: module, symbol, source line, CFI
** ======================================================================= */

static size_t text_length (char const *s) {
  size_t n = strlen(s);
  return n < TEXT_MAX ? n : TEXT_MAX;
}

/* The slot of address at (a multiplicative hash picks it), emptied if it
** held another address. */
static struct unwind_site *site_of (struct pss_unwinder *u, UINT64 at) {
  struct unwind_site *s = &u->sites[(at * 0x9E3779B97F4A7C15ull) >> 32 & (UNWIND_SITES - 1)];
  if (s->flags == 0 || s->at != at) {
    memset(s, 0, sizeof *s);
    s->at = at;
  }
  return s;
}

/* The module holding at, its lowest address in *start; NULL if none
** (libdwfl may answer with a module that does not hold the address). */
static Dwfl_Module *module_of (struct pss_unwinder *u, UINT64 at, Dwarf_Addr *start,
                               void ***userdata) {
  Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, at);
  Dwarf_Addr end;
  if (mod == NULL) return NULL;
  dwfl_module_info(mod, userdata, start, &end, NULL, NULL, NULL, NULL);
  return at >= *start && at < end ? mod : NULL;
}

static int fde_at (Dwarf_CFI *cfi, Dwarf_Addr address) {
  Dwarf_Frame *frame;
  if (cfi == NULL || dwarf_cfi_addrframe(cfi, address, &frame) != 0) return 0;
  free(frame);   /* libdw's, from its malloc */
  return 1;
}

static int covered (struct pss_unwinder *u, UINT64 at) {
  Dwarf_Addr start, bias = 0;
  Dwfl_Module *mod = module_of(u, at, &start, NULL);
  Dwarf_CFI *cfi;
  if (mod == NULL) return 0;
  /* each call sets bias before it is used: never both in one expression */
  cfi = dwfl_module_eh_cfi(mod, &bias);
  if (fde_at(cfi, at - bias)) return 1;
  cfi = dwfl_module_dwarf_cfi(mod, &bias);
  return fde_at(cfi, at - bias);
}

/* Whether the .eh_frame or .debug_frame of its module covers at: libdwfl
** tries them first. */
int pss_unwind_has_cfi (struct pss_unwinder *u, UINT64 at) {
  struct unwind_site *s = site_of(u, at);
  if ((s->flags & SITE_CFI_KNOWN) == 0)
    s->flags |= SITE_CFI_KNOWN | (covered(u, at) ? SITE_CFI : 0u);
  return (s->flags & SITE_CFI) != 0;
}

/* Asked for only: the first lookup in a module reads (and inflates) its DWARF. */
static void name_source (struct pss_unwinder *u, struct unwind_site *s) {
  Dwarf_Addr start;
  Dwfl_Module *mod = module_of(u, s->at, &start, NULL);
  Dwfl_Line *line;
  char const *file;
  int lineno = 0, column = 0;
  s->flags |= SITE_SOURCE_KNOWN;
  if (mod == NULL) return;
  line = dwfl_module_getsrc(mod, s->at);
  if (line == NULL || (file = dwfl_lineinfo(line, NULL, &lineno, &column, NULL, NULL)) == NULL)
    return;
  s->source = file;
  s->line = lineno > 0 ? (DWORD)lineno : 0;
  s->column = column > 0 ? (DWORD)column : 0;
}

/* Module, symbol (.symtab, else .dynsym), source line and build id of the
** address; what cannot be found stays empty. */
static void name_site (struct pss_unwinder *u, struct unwind_site *s) {
  Dwarf_Addr start, vaddr;
  GElf_Off offset = 0;
  GElf_Sym sym;
  void **userdata;
  Dwfl_Module *mod = module_of(u, s->at, &start, &userdata);
  struct unwind_module const *m;
  unsigned char const *bits;
  int n;
  s->flags |= SITE_NAMED;
  if (mod == NULL) return;
  m = *userdata;
  s->module_start = start;
  s->module = m != NULL ? m->path : dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  s->symbol = dwfl_module_addrinfo(mod, s->at, &offset, &sym, NULL, NULL, NULL);
  s->symbol_offset = offset;
  if ((n = dwfl_module_build_id(mod, &bits, &vaddr)) > 0) {
    s->build_id = bits;
    s->build_id_len = (unsigned char)(n < PSS_LINUX_BUILD_ID_MAX ? n : PSS_LINUX_BUILD_ID_MAX);
  }
}

/* Frame f, looked up at its pc when that is exact, else at pc - 1. */
static void symbolize (struct pss_unwinder *u, struct unwind_frame *f, int lines) {
  UINT64 at = f->activation ? f->pc : f->pc - 1;
  struct unwind_site *s = site_of(u, at);
  if ((s->flags & SITE_NAMED) == 0) name_site(u, s);
  if (lines && (s->flags & SITE_SOURCE_KNOWN) == 0) name_source(u, s);
  if (s->module == NULL) return;
  f->module_start = s->module_start;
  f->module = s->module;
  f->module_len = text_length(s->module);
  if (s->symbol != NULL && s->symbol[0] != '\0') {
    f->demangled = demangle(s->symbol);
    f->symbol = f->demangled != NULL ? f->demangled : s->symbol;
    f->symbol_len = text_length(f->symbol);
    f->symbol_offset = s->symbol_offset + (f->pc - at);
  }
  if (lines && s->source != NULL) {
    f->source = s->source;
    f->source_len = text_length(s->source);
    f->line = s->line;
    f->column = s->column;
  }
  f->build_id = s->build_id;
  f->build_id_len = s->build_id_len;
}
/* }====================================================================== */


/* {======================================================================
** The block
** ======================================================================= */

enum { MODULE, SYMBOL, SOURCE, TEXTS };

static char const *text (struct unwind_frame const *f, int which, size_t *len) {
  switch (which) {
    case MODULE: *len = f->module_len; return f->module;
    case SYMBOL: *len = f->symbol_len; return f->symbol;
    default: *len = f->source_len; return f->source;
  }
}

/* The first frame up to i whose text `which` is frame i's (the same
** string of libdwfl's or ours): only that one's is copied. */
static size_t first_with (struct unwind_frame const *frames, size_t i, int which) {
  size_t j, len;
  char const *s = text(&frames[i], which, &len), *t;
  for (j = 0; j < i; j++)
    if ((t = text(&frames[j], which, &len)) == s) return j;
  return i;
}

static size_t block_size (struct pss_unwinder const *u, size_t detail_len) {
  size_t size = sizeof(PSS_LINUX_STACK) + u->frame_count * sizeof(PSS_LINUX_STACK_FRAME) +
                1 + detail_len + 1, i, len;
  int w;
  for (i = 0; i < u->frame_count; i++)
    for (w = 0; w < TEXTS; w++)
      if (text(&u->frames[i], w, &len) != NULL && len > 0 && first_with(u->frames, i, w) == i)
        size += len + 1;
  return size;
}

/* Frame i's text `which` in the block: "" if none, else its own copy or
** the copy an earlier frame made. */
static char const *place (struct pss_unwinder const *u, PSS_LINUX_STACK_FRAME const *out,
                          size_t i, int which, char **next, char const *empty, WORD *length) {
  size_t len, j;
  char const *s = text(&u->frames[i], which, &len);
  *length = (WORD)len;
  if (s == NULL || len == 0) { *length = 0; return empty; }
  if ((j = first_with(u->frames, i, which)) < i)
    return which == MODULE ? out[j].ModulePath
         : which == SYMBOL ? out[j].Symbol : out[j].SourceFile;
  memcpy(*next, s, len);
  (*next)[len] = '\0';
  s = *next;
  *next += len + 1;
  return s;
}

static void fill_frame (struct pss_unwinder const *u, PSS_LINUX_STACK_FRAME *out, size_t i,
                        char **next, char const *empty) {
  struct unwind_frame const *f = &u->frames[i];
  PSS_LINUX_STACK_FRAME *o = &out[i];
  memset(o, 0, sizeof *o);
  o->ProgramCounter = f->pc;
  o->ModuleStart = f->module_start;
  o->ModuleOffset = f->module_start != 0 ? f->pc - f->module_start : 0;
  o->SymbolOffset = f->symbol_len > 0 ? f->symbol_offset : 0;
  o->Line = f->line;
  o->Column = f->column;
  o->Method = f->method;
  o->Activation = f->activation;
  o->BuildIdLength = f->build_id_len;
  if (f->build_id_len > 0) memcpy(o->BuildId, f->build_id, f->build_id_len);
  o->ModulePath = place(u, out, i, MODULE, next, empty, &o->ModulePathLength);
  o->Symbol = place(u, out, i, SYMBOL, next, empty, &o->SymbolLength);
  o->SourceFile = place(u, out, i, SOURCE, next, empty, &o->SourceFileLength);
}

static void forget_names (struct pss_unwinder *u) {
  size_t i;
  for (i = 0; i < u->frame_count; i++) {
    free(u->frames[i].demangled);   /* __cxa_demangle's malloc */
    u->frames[i].demangled = NULL;
  }
}

/*
** Symbolizes the unwind's frames and packs them, with the end reason, into
** one block from the unwinder's allocator: *stack, or -ENOMEM (and *stack
** untouched).
*/
int pss_unwind_pack (struct pss_unwinder *u, DWORD tid, int lines, PSS_LINUX_STACK **stack) {
  size_t i, detail_len = strlen(u->end_detail);
  PSS_LINUX_STACK *s;
  PSS_LINUX_STACK_FRAME *frames;
  char *next, *empty;
  for (i = 0; i < u->frame_count; i++) symbolize(u, &u->frames[i], lines);
  if ((s = pss_unwind_alloc(u, block_size(u, detail_len))) == NULL) {
    forget_names(u);
    return -ENOMEM;
  }
  memset(s, 0, sizeof *s);
  frames = (PSS_LINUX_STACK_FRAME *)(s + 1);
  empty = (char *)(frames + u->frame_count);
  *empty = '\0';
  next = empty + 1;
  for (i = 0; i < u->frame_count; i++) fill_frame(u, frames, i, &next, empty);
  memcpy(next, u->end_detail, detail_len + 1);
  s->ThreadId = tid;
  s->FrameCount = (DWORD)u->frame_count;
  s->EndReason = u->end_reason;
  s->EndDetailLength = (WORD)detail_len;
  s->EndDetail = next;
  s->Frames = frames;
  forget_names(u);
  *stack = s;
  return 0;
}
/* }====================================================================== */
