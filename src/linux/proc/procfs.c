/*
** procfs.c -- pure parsers of /proc text (see procfs.h). Every parser is
** bounded by the length it is given; none reads past it or allocates.
** spec/c/test_procfs.c holds their fixtures, spec/fuzz/ fuzzes them.
*/
#include <errno.h>
#include <string.h>

#include "linux/proc/procfs.h"

/* A cursor over text[0..len). */
struct cur { const char *p, *end; };

static int at_end (const struct cur *c) { return c->p >= c->end; }

static void skip_spaces (struct cur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static void skip_word (struct cur *c) {
  skip_spaces(c);
  while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n')
    c->p++;
}

static int hexval (char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/*
** Unsigned number in `base` (10, 16 or 8) after spaces; hex may start
** with "0x". -EINVAL without a digit, or past 2^64 - 1: the kernel prints
** no wider number, so a longer one is not a field the parser knows.
*/
static int get_unum (struct cur *c, unsigned base, uint64_t *out) {
  uint64_t v = 0;
  const char *start;
  skip_spaces(c);
  if (base == 16 && c->end - c->p > 2 && c->p[0] == '0' && c->p[1] == 'x' &&
      hexval(c->p[2]) >= 0)
    c->p += 2;
  start = c->p;
  while (c->p < c->end) {
    int d = hexval(*c->p);
    if (d < 0 || (unsigned)d >= base) break;
    if (v > (UINT64_MAX - (unsigned)d) / base) return -EINVAL;
    v = v * base + (unsigned)d;
    c->p++;
  }
  if (c->p == start) return -EINVAL;
  *out = v;
  return 0;
}

/* A decimal with an optional '-' right before its digits: the magnitude
** and the sign, checked against a field's type by fits(). */
struct num { uint64_t mag; int neg; };

static int get_num (struct cur *c, struct num *n) {
  skip_spaces(c);
  n->neg = c->p < c->end && *c->p == '-';
  if (n->neg && (c->p + 1 >= c->end || c->p[1] < '0' || c->p[1] > '9'))
    return -EINVAL;
  c->p += n->neg;
  return get_unum(c, 10, &n->mag);
}

/* Whether n fits a field of `size` bytes (4 or 8), signed or not. */
static int fits (struct num n, size_t size, int sgn) {
  uint64_t max = size >= 8 ? UINT64_MAX : ((uint64_t)1 << (size * 8)) - 1;
  if (sgn) max >>= 1;
  if (n.neg) return n.mag == 0 || (sgn && n.mag - 1 <= max);
  return n.mag <= max;
}

/* Stores n, which fits, into the field at `at` (no signed overflow on the
** way: -2^63 is -(2^63 - 1) - 1). */
static void store (void *at, size_t size, int sgn, struct num n) {
  int64_t s = 0;
  int32_t w;
  uint32_t u;
  if (sgn) s = n.neg && n.mag ? -(int64_t)(n.mag - 1) - 1 : (int64_t)n.mag;
  if (size >= 8) memcpy(at, sgn ? (void *)&s : (void *)&n.mag, 8);
  else if (sgn) { w = (int32_t)s; memcpy(at, &w, 4); }
  else { u = (uint32_t)n.mag; memcpy(at, &u, 4); }
}

/* A field of a struct: where, how wide, signed or not. */
struct field { const char *key; unsigned char n, size, sgn; unsigned short off; };
#define FIELD(key, n, type, member, sgn) \
  { key, n, sizeof ((type *)0)->member, sgn, offsetof(type, member) }

static int put (void *base, const struct field *f, struct num n) {
  if (!fits(n, f->size, f->sgn)) return -EINVAL;
  store((char *)base + f->off, f->size, f->sgn, n);
  return 0;
}

static size_t line_len (const char *text, size_t len) {
  const char *nl = memchr(text, '\n', len);
  return nl ? (size_t)(nl - text) : len;
}

/* What a line parser returns for a line of n bytes in text[0..len) */
static long consumed (size_t n, size_t len) {
  return (long)(n < len ? n + 1 : n);
}

size_t pss_skip_line (const char *text, size_t len) {
  return (size_t)consumed(line_len(text, len), len);
}

/* Whether the text before a line's first colon is key */
static int key_is (const char *line, const char *colon, const char *key) {
  size_t k = strlen(key);
  return (size_t)(colon - line) == k && memcmp(line, key, k) == 0;
}

/* "4242\t1", NSpid's list: the last value, if every one parses and fits
** the field (past a bad one, the last good one is another namespace's). */
static int get_last (struct cur *c, const struct field *f, struct num *last) {
  struct num v;
  int got = 0;
  while (get_num(c, &v) == 0) {
    if (!fits(v, f->size, f->sgn)) return -EINVAL;
    *last = v;
    got = 1;
  }
  skip_spaces(c);
  return got && at_end(c) ? 0 : -EINVAL;
}

/* {======================================================================
** stat
** ======================================================================= */

#define SF(n, member, sgn) FIELD(NULL, n, struct pss_stat, member, sgn)
static const struct field stat_fields[] = {
  SF(4, ppid, 1), SF(5, pgrp, 1), SF(6, session, 1), SF(9, flags, 0),
  SF(10, minflt, 0), SF(12, majflt, 0), SF(14, utime, 0), SF(15, stime, 0),
  SF(18, priority, 1), SF(19, nice, 1), SF(20, num_threads, 1),
  SF(22, starttime, 0), SF(23, vsize, 0), SF(24, rss, 1), SF(28, startstack, 0),
  SF(39, processor, 1), SF(40, rt_priority, 0), SF(41, policy, 0),
  SF(48, arg_start, 0), SF(52, exit_code, 1),
};
#undef SF

/*
** comm may hold spaces, parentheses and newlines (stat does not escape
** it), so the fields after it start at the LAST ')' of the text (as psutil
** and procps do). Every field must be a number for its type; unsigned
** fields the kernel prints as such (rsslim: 18446744073709551615) parse.
*/
int pss_parse_stat (const char *text, size_t len, struct pss_stat *st) {
  const char *open = memchr(text, '(', len), *close = NULL, *q;
  struct cur c;
  struct num v[53];
  size_t i;
  int n;
  if (open == NULL) return -EINVAL;
  for (q = text + len; q > open; q--)
    if (q[-1] == ')') { close = q - 1; break; }
  if (close == NULL) return -EINVAL;
  memset(st, 0, sizeof *st);
  st->comm_len = (size_t)(close - open - 1);
  if (st->comm_len >= sizeof st->comm) st->comm_len = sizeof st->comm - 1;
  memcpy(st->comm, open + 1, st->comm_len);
  c.p = close + 1; c.end = text + len;
  skip_spaces(&c);
  if (at_end(&c)) return -EINVAL;
  st->state = *c.p++;
  for (n = 4; n <= 52; n++) {
    skip_spaces(&c);
    if (at_end(&c) || *c.p == '\n') break;
    if (get_num(&c, &v[n]) < 0) return -EINVAL;
  }
  if (n <= 41) return -EINVAL;   /* kernels since 2.6.24 have >= 44 fields */
  for (i = 0; i < sizeof stat_fields / sizeof stat_fields[0]; i++)
    if (stat_fields[i].n < n && put(st, &stat_fields[i], v[stat_fields[i].n]) < 0)
      return -EINVAL;
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** status
** ======================================================================= */

enum { ST_KB, ST_DEC, ST_HEX, ST_IDS, ST_LAST, ST_SECCOMP };
#define SS(key, kind, member, sgn) FIELD(key, kind, struct pss_status, member, sgn)
static const struct field status_fields[] = {
  SS("VmPeak", ST_KB, vm_peak, 0), SS("VmSize", ST_KB, vm_size, 0),
  SS("VmHWM", ST_KB, vm_hwm, 0), SS("VmRSS", ST_KB, vm_rss, 0),
  SS("RssAnon", ST_KB, rss_anon, 0), SS("RssFile", ST_KB, rss_file, 0),
  SS("RssShmem", ST_KB, rss_shmem, 0), SS("VmData", ST_KB, vm_data, 0),
  SS("VmStk", ST_KB, vm_stk, 0), SS("VmSwap", ST_KB, vm_swap, 0),
  SS("VmPTE", ST_KB, vm_pte, 0),
  SS("Uid", ST_IDS, uid, 0), SS("Gid", ST_IDS, gid, 0),
  SS("TracerPid", ST_DEC, tracer_pid, 1), SS("CapEff", ST_HEX, cap_eff, 0),
  SS("Pid", ST_DEC, pid, 1), SS("NSpid", ST_LAST, nspid, 1),
  SS("Seccomp", ST_SECCOMP, seccomp, 1), SS("Seccomp_filters", ST_DEC, seccomp_filters, 1),
};
#undef SS

/* One field's value at the cursor, into st when it parses */
static void status_value (struct pss_status *st, const struct field *f, struct cur *c) {
  struct num v = { 0, 0 };
  int i;
  switch (f->n) {
    case ST_KB:      /* "    1024 kB": bytes, if they fit */
      if (get_unum(c, 10, &v.mag) == 0 && v.mag <= UINT64_MAX / 1024) {
        v.mag *= 1024;
        put(st, f, v);
      }
      break;
    case ST_DEC:
      if (get_num(c, &v) == 0) put(st, f, v);
      break;
    case ST_HEX:
      if (get_unum(c, 16, &v.mag) == 0) put(st, f, v);
      break;
    case ST_IDS:     /* four ids, as many as parse */
      for (i = 0; i < 4 && get_num(c, &v) == 0; i++) {
        struct field one = *f;
        one.off = (unsigned short)(f->off + (unsigned)i * sizeof st->uid[0]);
        one.size = sizeof st->uid[0];
        if (put(st, &one, v) < 0) break;
      }
      break;
    case ST_LAST:
      if (get_last(c, f, &v) == 0) put(st, f, v);
      break;
    case ST_SECCOMP: /* the whole value, else -1: not the missing line's 0 */
      st->seccomp = -1;
      if (get_num(c, &v) == 0 && !(v.neg && v.mag)) {
        skip_spaces(c);
        if (at_end(c)) put(st, f, v);
      }
      break;
  }
}

int pss_parse_status (const char *text, size_t len, struct pss_status *st) {
  size_t i, pos = 0;
  memset(st, 0, sizeof *st);
  while (pos < len) {
    const char *line = text + pos;
    size_t n = line_len(line, len - pos);
    const char *colon = memchr(line, ':', n);
    for (i = 0; colon != NULL && i < sizeof status_fields / sizeof status_fields[0]; i++)
      if (key_is(line, colon, status_fields[i].key)) {
        struct cur c = { colon + 1, line + n };
        status_value(st, &status_fields[i], &c);
        break;
      }
    pos += n + 1;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** syscall, fdinfo
** ======================================================================= */

/* "nr a1 .. a6 sp pc" in a syscall, "-1 sp pc" blocked outside one,
** "running" (no registers to show); nothing may follow pc but the newline */
int pss_parse_syscall (const char *text, size_t len, struct pss_syscall *sc) {
  static const struct field nr = FIELD(NULL, 0, struct pss_syscall, nr, 1);
  struct cur c = { text, text + len };
  struct num v;
  int i;
  memset(sc, 0, sizeof *sc);
  if (len >= 7 && memcmp(text, "running", 7) == 0) {
    sc->state = -1; sc->nr = -1;
    return 0;
  }
  if (get_num(&c, &v) < 0 || put(sc, &nr, v) < 0) return -EINVAL;
  if (sc->nr >= 0) {
    sc->state = 1;
    for (i = 0; i < 6; i++)
      if (get_unum(&c, 16, &sc->args[i]) < 0) return -EINVAL;
  }
  if (get_unum(&c, 16, &sc->sp) < 0 || get_unum(&c, 16, &sc->pc) < 0)
    return -EINVAL;
  skip_spaces(&c);
  return at_end(&c) || *c.p == '\n' ? 0 : -EINVAL;
}

enum { FI_DEC, FI_OCT, FI_HEX, FI_LAST };
#define FF(key, kind, member, sgn) FIELD(key, kind, struct pss_fdinfo, member, sgn)
static const struct field fdinfo_fields[] = {
  FF("pos", FI_DEC, pos, 0), FF("flags", FI_OCT, flags, 0),
  FF("mnt_id", FI_DEC, mnt_id, 0), FF("ino", FI_DEC, ino, 0),
  FF("Pid", FI_DEC, pid, 1), FF("NSpid", FI_LAST, nspid, 1),
  FF("eventfd-count", FI_HEX, count, 0),
  FF("eventfd-semaphore", FI_DEC, semaphore, 1),
  FF("ticks", FI_DEC, count, 0),     /* timerfd: expirations */
  FF("sigmask", FI_HEX, count, 0),   /* signalfd: the mask */
};
#undef FF

/*
** "key:\tvalue" lines; the key is all before the first colon, so the
** entries of inotify ("inotify wd:1 ino:3c51a ..."), epoll ("tfd: ...")
** and fanotify never pass for the fd's own ino or pos.
*/
int pss_parse_fdinfo (const char *text, size_t len, struct pss_fdinfo *fi) {
  size_t pos = 0, i;
  memset(fi, 0, sizeof *fi);
  while (pos < len) {
    const char *line = text + pos;
    size_t n = line_len(line, len - pos);
    const char *colon = memchr(line, ':', n);
    for (i = 0; colon != NULL && i < sizeof fdinfo_fields / sizeof fdinfo_fields[0]; i++) {
      const struct field *f = &fdinfo_fields[i];
      struct cur c = { colon + 1, line + n };
      struct num v = { 0, 0 };
      int ok;
      if (!key_is(line, colon, f->key)) continue;
      if (f->n == FI_LAST) ok = get_last(&c, f, &v) == 0;
      else if (f->n == FI_DEC) ok = get_num(&c, &v) == 0;
      else ok = get_unum(&c, f->n == FI_OCT ? 8 : 16, &v.mag) == 0;
      if (ok && put(fi, f, v) == 0) {
        if (f->off == offsetof(struct pss_fdinfo, pid)) fi->has_pid = 1;
        if (f->off == offsetof(struct pss_fdinfo, count)) fi->has_count = 1;
        if (f->off == offsetof(struct pss_fdinfo, semaphore)) fi->semaphore = v.mag != 0;
      }
      break;
    }
    pos += n + 1;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** maps, smaps
** ======================================================================= */

/* "start-end perms offset major:minor inode   path" */
long pss_parse_maps_line (const char *text, size_t len, struct pss_maps_line *ml) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  memset(ml, 0, sizeof *ml);
  if (len == 0) return 0;
  if (get_unum(&c, 16, &ml->start) < 0 || at_end(&c) || *c.p++ != '-' ||
      get_unum(&c, 16, &ml->end) < 0)
    return -EINVAL;
  skip_spaces(&c);
  if (c.end - c.p < 4) return -EINVAL;
  memcpy(ml->perms, c.p, 4);
  c.p += 4;
  if (get_unum(&c, 16, &ml->offset) < 0 || get_unum(&c, 16, &v) < 0 || v > 0xffffffffu)
    return -EINVAL;
  ml->dev_major = (unsigned)v;
  if (at_end(&c) || *c.p++ != ':' || get_unum(&c, 16, &v) < 0 || v > 0xffffffffu)
    return -EINVAL;
  ml->dev_minor = (unsigned)v;
  if (get_unum(&c, 10, &ml->inode) < 0) return -EINVAL;
  skip_spaces(&c);
  ml->path = c.p;
  ml->path_len = (size_t)(c.end - c.p);
  return consumed(n, len);
}

size_t pss_unescape_maps_path (const char *in, size_t n, char *out) {
  size_t i = 0, k = 0;
  while (i < n) {
    if (in[i] == '\\' && n - i >= 4 && memcmp(in + i, "\\012", 4) == 0) {
      out[k++] = '\n';
      i += 4;
    }
    else out[k++] = in[i++];
  }
  return k;
}

/*
** A header starts with a lowercase hex digit; field names are capitalized
** ("Anonymous:" starts with a hex digit, but an uppercase one).
*/
long pss_parse_smaps_line (const char *text, size_t len, struct pss_smaps_line *sl) {
  size_t n = line_len(text, len), i;
  const char *colon;
  struct cur c;
  memset(sl, 0, sizeof *sl);
  if (len == 0) return 0;
  if ((text[0] >= '0' && text[0] <= '9') || (text[0] >= 'a' && text[0] <= 'f')) {
    long used = pss_parse_maps_line(text, len, &sl->map);
    if (used > 0) sl->kind = PSS_SMAPS_MAPPING;
    return used;
  }
  sl->kind = PSS_SMAPS_OTHER;
  colon = memchr(text, ':', n);
  if (colon == NULL || colon == text) return consumed(n, len);
  for (i = 0; text + i < colon; i++)
    if (text[i] == ' ' || text[i] == '\t') return consumed(n, len);
  sl->name = text;
  sl->name_len = (size_t)(colon - text);
  c.p = colon + 1; c.end = text + n;
  if (sl->name_len == 7 && memcmp(text, "VmFlags", 7) == 0) {
    sl->kind = PSS_SMAPS_VMFLAGS;
    skip_spaces(&c);
    sl->flags = c.p;
    sl->flags_len = (size_t)(c.end - c.p);
    return consumed(n, len);
  }
  if (get_unum(&c, 10, &sl->value) < 0) return consumed(n, len);
  skip_spaces(&c);
  if (c.end - c.p >= 2 && c.p[0] == 'k' && c.p[1] == 'B') {
    if (sl->value > UINT64_MAX / 1024) { sl->value = 0; return consumed(n, len); }
    sl->value *= 1024;
    sl->kb = 1;
    c.p += 2;
    skip_spaces(&c);
  }
  if (at_end(&c)) sl->kind = PSS_SMAPS_FIELD;
  else { sl->value = 0; sl->kb = 0; }
  return consumed(n, len);
}

/* In the order of PSS_LINUX_MEMORY_USAGE's members. */
static const char *const usage_names[PSS_SMAPS_USAGE_FIELDS] = {
  "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
  "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
  "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap",
  "SwapPss", "Locked"
};

/* Their lengths: most lines are told apart by length alone. */
static const unsigned char usage_lens[PSS_SMAPS_USAGE_FIELDS] = {
  3, 3, 9, 12, 12, 13, 13, 10, 9, 3, 8, 13, 14, 13, 14, 15, 4, 7, 6
};

int pss_smaps_usage_index (const char *name, size_t len) {
  int i;
  for (i = 0; i < PSS_SMAPS_USAGE_FIELDS; i++)
    if (usage_lens[i] == len && memcmp(usage_names[i], name, len) == 0) return i;
  return -1;
}

int pss_vmflags_has (const char *flags, size_t len, const char *flag) {
  size_t k = strlen(flag), i = 0;
  while (k > 0 && i < len) {
    size_t w = i;
    while (w < len && flags[w] != ' ') w++;
    if (w - i == k && memcmp(flags + i, flag, k) == 0) return 1;
    i = w + 1;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** /proc/PID/net tables
** ======================================================================= */

/*
** Addresses are printed as the raw bytes of the in-kernel address, four
** bytes per 32-bit word in host order ("0100007F" is 127.0.0.1 on x86).
*/
static int get_net_addr (struct cur *c, unsigned char *out, int *v6) {
  const char *start;
  size_t digits, w;
  skip_spaces(c);
  start = c->p;
  while (c->p < c->end && hexval(*c->p) >= 0) c->p++;
  digits = (size_t)(c->p - start);
  if (digits != 8 && digits != 32) return -EINVAL;
  *v6 = digits == 32;
  for (w = 0; w < digits / 8; w++) {
    uint32_t word = 0;
    size_t k;
    for (k = 0; k < 8; k++) word = word << 4 | (uint32_t)hexval(start[w * 8 + k]);
    memcpy(out + w * 4, &word, 4);   /* back to the kernel's byte order */
  }
  return 0;
}

/* ":port" after an address, in hex */
static int get_port (struct cur *c, unsigned *port) {
  uint64_t v;
  if (at_end(c) || *c->p++ != ':' || get_unum(c, 16, &v) < 0 || v > 0xffff) return -EINVAL;
  *port = (unsigned)v;
  return 0;
}

/* "sl local:port rem:port st tx:rx tr:when retr uid timeout inode ..." */
long pss_parse_inet_line (const char *text, size_t len, struct pss_inet_line *il) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  int v6b;
  int i;
  memset(il, 0, sizeof *il);
  if (len == 0) return 0;
  skip_word(&c);                                     /* "sl:" */
  if (get_net_addr(&c, il->local, &il->v6) < 0 || get_port(&c, &il->lport) < 0 ||
      get_net_addr(&c, il->remote, &v6b) < 0 || v6b != il->v6 ||
      get_port(&c, &il->rport) < 0)
    return -EINVAL;
  if (get_unum(&c, 16, &v) < 0 || v > 0xff) return -EINVAL;
  il->state = (int)v;
  for (i = 0; i < 5; i++) skip_word(&c);  /* tx:rx tr:when retr uid timeout */
  if (get_unum(&c, 10, &il->inode) < 0) return -EINVAL;
  return consumed(n, len);
}

/* "Num RefCount Protocol Flags Type St Inode Path" */
long pss_parse_unix_line (const char *text, size_t len, struct pss_unix_line *ul) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t flags, type, state;
  int i;
  memset(ul, 0, sizeof *ul);
  if (len == 0) return 0;
  for (i = 0; i < 3; i++) skip_word(&c);   /* Num: RefCount Protocol */
  if (get_unum(&c, 16, &flags) < 0 || flags > 0xffffffffu ||
      get_unum(&c, 16, &type) < 0 || type > 0xffff ||
      get_unum(&c, 16, &state) < 0 || state > 0xff ||
      get_unum(&c, 10, &ul->inode) < 0)
    return -EINVAL;
  ul->flags = (unsigned)flags;
  ul->type = (int)type;
  ul->state = (int)state;
  skip_spaces(&c);
  ul->path = c.p;
  ul->path_len = (size_t)(c.end - c.p);
  return consumed(n, len);
}

/* "sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode" */
long pss_parse_netlink_line (const char *text, size_t len, uint64_t *inode,
                             int *protocol) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t proto, ino;
  int i;
  if (len == 0) return 0;
  skip_word(&c);
  if (get_unum(&c, 10, &proto) < 0 || proto > 0xffff) return -EINVAL;
  for (i = 0; i < 7; i++) skip_word(&c);
  if (get_unum(&c, 10, &ino) < 0) return -EINVAL;
  *protocol = (int)proto;
  *inode = ino;
  return consumed(n, len);
}

/* "sk RefCnt Type Proto Iface R Rmem User Inode" */
long pss_parse_packet_line (const char *text, size_t len, uint64_t *inode,
                            int *type, int *protocol) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t ty, proto, ino;
  int i;
  if (len == 0) return 0;
  skip_word(&c); skip_word(&c);
  if (get_unum(&c, 10, &ty) < 0 || ty > 0xffff || get_unum(&c, 16, &proto) < 0 ||
      proto > 0xffff)
    return -EINVAL;
  for (i = 0; i < 4; i++) skip_word(&c);
  if (get_unum(&c, 10, &ino) < 0) return -EINVAL;
  *type = (int)ty;
  *protocol = (int)proto;
  *inode = ino;
  return consumed(n, len);
}
/* }====================================================================== */

/* {======================================================================
** Small texts: descriptor links, one-number files
** ======================================================================= */
uint64_t pss_parse_link_inode (const char *text, size_t len) {
  const char *open = memchr(text, '[', len);
  struct cur c;
  uint64_t v;
  if (open == NULL) return 0;
  c.p = open + 1;
  c.end = text + len;
  if (c.p < c.end && (*c.p == ' ' || *c.p == '\t')) return 0;   /* no spaces before */
  return get_unum(&c, 10, &v) == 0 ? v : 0;
}

int pss_parse_number (const char *text, size_t len, unsigned base, uint64_t *out) {
  struct cur c = { text, text + len };
  uint64_t v;
  if (get_unum(&c, base, &v) < 0) return -EINVAL;
  while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == '\n')) c.p++;
  if (!at_end(&c)) return -EINVAL;
  *out = v;
  return 0;
}

int pss_parse_procdir_link (const char *text, size_t len, int *pid, int *deleted) {
  static const char prefix[] = "/proc/", gone[] = " (deleted)";
  struct cur c = { text, text + len };
  uint64_t v;
  *deleted = len > sizeof gone - 1 &&
             memcmp(text + len - (sizeof gone - 1), gone, sizeof gone - 1) == 0;
  if (*deleted) c.end -= sizeof gone - 1;
  if (len < sizeof prefix - 1 || memcmp(text, prefix, sizeof prefix - 1) != 0) return -EINVAL;
  c.p += sizeof prefix - 1;
  if (at_end(&c) || *c.p < '0' || *c.p > '9' || get_unum(&c, 10, &v) < 0 ||
      !at_end(&c) || v == 0 || v > INT32_MAX)
    return -EINVAL;
  *pid = (int)v;
  return 0;
}
/* }====================================================================== */

/* {======================================================================
** auxv: the auxiliary vector, binary
** ======================================================================= */

/* Whether the bytes from i to len are all zero. */
static int zeros_from (const char *text, size_t i, size_t len) {
  for (; i < len; i++)
    if (text[i] != 0) return 0;
  return 1;
}

/*
** Whether text is a well-formed vector of width-byte words: (type, value)
** pairs with small types, ending with AT_NULL (0, 0). The kernel hands
** out its saved vector in 16-byte steps up to an 8-byte zero word, so a
** 32-bit vector's AT_NULL may be followed by 8 zero bytes: only zeros may
** follow it.
*/
static int auxv_words (const char *text, size_t len, size_t width, uint64_t *entry) {
  size_t i, pair = 2 * width;
  if (len < pair || len % pair != 0) return 0;
  *entry = 0;
  for (i = 0; i < len; i += pair) {
    uint64_t type = 0, value = 0;
    if (width == 8) { memcpy(&type, text + i, 8); memcpy(&value, text + i + 8, 8); }
    else {
      uint32_t t32, v32;
      memcpy(&t32, text + i, 4);
      memcpy(&v32, text + i + 4, 4);
      type = t32;
      value = v32;
    }
    if (type >= 256) return 0;            /* no AT_* is that large */
    if (type == 0) return value == 0 && zeros_from(text, i + pair, len);
    if (type == 9) *entry = value;        /* AT_ENTRY */
  }
  return 0;                               /* no AT_NULL */
}

int pss_parse_auxv (const char *text, size_t len, uint64_t *entry, int *is32) {
  *entry = 0;
  *is32 = 0;
  if (len == 0) return 0;                 /* a kernel thread, a zombie */
  /* 64-bit first: its AT_NULL is the last pair, and the 32-bit reading of
  ** a 64-bit vector fails at its first pair (a value's high half) */
  if (auxv_words(text, len, 8, entry)) return 0;
  if (auxv_words(text, len, 4, entry)) { *is32 = 1; return 0; }
  *entry = 0;
  return -EINVAL;
}
/* }====================================================================== */
