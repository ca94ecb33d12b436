/*
** procfs.c -- pure parsers of /proc text (see procfs.h). Every parser is
** bounded by the length it is given; none reads past it or allocates.
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

/* Unsigned number in `base` (10, 16 or 8); -EINVAL if there is no digit. */
static int get_unum (struct cur *c, unsigned base, uint64_t *out) {
  uint64_t v = 0;
  const char *start;
  skip_spaces(c);
  if (base == 16 && c->end - c->p > 2 && c->p[0] == '0' && c->p[1] == 'x')
    c->p += 2;
  start = c->p;
  while (c->p < c->end) {
    int d = hexval(*c->p);
    if (d < 0 || (unsigned)d >= base) break;
    v = v * base + (unsigned)d;
    c->p++;
  }
  if (c->p == start) return -EINVAL;
  *out = v;
  return 0;
}

static int get_snum (struct cur *c, int64_t *out) {
  int neg = 0;
  uint64_t v;
  skip_spaces(c);
  if (c->p < c->end && *c->p == '-') { neg = 1; c->p++; }
  if (get_unum(c, 10, &v) < 0) return -EINVAL;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

static size_t line_len (const char *text, size_t len) {
  const char *nl = memchr(text, '\n', len);
  return nl ? (size_t)(nl - text) : len;
}

size_t pss_skip_line (const char *text, size_t len) {
  size_t n = line_len(text, len);
  return n < len ? n + 1 : n;
}

/* {======================================================================
** stat
** ======================================================================= */

/*
** comm may hold spaces and parentheses, so the fields after it start at
** the LAST ')' of the text (as psutil and procps do).
*/
int pss_parse_stat (const char *text, size_t len, struct pss_stat *st) {
  const char *open = memchr(text, '(', len), *close = NULL, *q;
  struct cur c;
  uint64_t u[52];
  int64_t v;
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
  /* fields 4..52 (signed ones are parsed as such below) */
  memset(u, 0, sizeof u);
  for (n = 4; n <= 52; n++) {
    skip_spaces(&c);
    if (at_end(&c) || *c.p == '\n') break;
    if (get_snum(&c, &v) < 0) return -EINVAL;
    u[n - 1] = (uint64_t)v;
  }
  if (n <= 41) return -EINVAL;   /* kernels since 2.6.24 have >= 44 fields */
  st->ppid = (int)u[3]; st->pgrp = (int)u[4]; st->session = (int)u[5];
  st->flags = (unsigned)u[8];
  st->minflt = u[9]; st->majflt = u[11];
  st->utime = u[13]; st->stime = u[14];
  st->priority = (long)(int64_t)u[17]; st->nice = (long)(int64_t)u[18];
  st->num_threads = (long)u[19];
  st->starttime = u[21]; st->vsize = u[22]; st->rss = (int64_t)u[23];
  st->startstack = u[27];
  st->processor = (int)u[38]; st->rt_priority = (unsigned)u[39];
  st->policy = (unsigned)u[40];
  st->arg_start = u[47];
  st->exit_code = (int)u[51];
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** status
** ======================================================================= */

/* "Name:\tvalue kB" */
static int field_is (const char *line, size_t n, const char *key, size_t klen) {
  return n > klen && memcmp(line, key, klen) == 0;
}

static void status_kb (const char *line, size_t n, size_t klen, uint64_t *out) {
  struct cur c = { line + klen, line + n };
  uint64_t v;
  if (get_unum(&c, 10, &v) == 0) *out = v * 1024;
}

static void status_ids (const char *line, size_t n, size_t klen, unsigned ids[4]) {
  struct cur c = { line + klen, line + n };
  uint64_t v;
  int i;
  for (i = 0; i < 4 && get_unum(&c, 10, &v) == 0; i++) ids[i] = (unsigned)v;
}

static void status_number (const char *line, size_t n, size_t klen, int base, uint64_t *out) {
  struct cur c = { line + klen, line + n };
  uint64_t v;
  if (get_unum(&c, base, &v) == 0) *out = v;
}

int pss_parse_status (const char *text, size_t len, struct pss_status *st) {
  static const struct { const char *key; size_t off; } kb[] = {
    { "VmPeak:", offsetof(struct pss_status, vm_peak) },
    { "VmSize:", offsetof(struct pss_status, vm_size) },
    { "VmHWM:", offsetof(struct pss_status, vm_hwm) },
    { "VmRSS:", offsetof(struct pss_status, vm_rss) },
    { "RssAnon:", offsetof(struct pss_status, rss_anon) },
    { "RssFile:", offsetof(struct pss_status, rss_file) },
    { "RssShmem:", offsetof(struct pss_status, rss_shmem) },
    { "VmData:", offsetof(struct pss_status, vm_data) },
    { "VmStk:", offsetof(struct pss_status, vm_stk) },
    { "VmSwap:", offsetof(struct pss_status, vm_swap) },
    { "VmPTE:", offsetof(struct pss_status, vm_pte) },
  };
  size_t i, pos = 0;
  memset(st, 0, sizeof *st);
  while (pos < len) {
    const char *line = text + pos;
    size_t n = line_len(line, len - pos);
    if (field_is(line, n, "Uid:", 4)) status_ids(line, n, 4, st->uid);
    else if (field_is(line, n, "Gid:", 4)) status_ids(line, n, 4, st->gid);
    else if (field_is(line, n, "TracerPid:", 10)) {
      uint64_t v = 0;
      status_number(line, n, 10, 10, &v);
      st->tracer_pid = (long)v;
    }
    else if (field_is(line, n, "CapEff:", 7)) status_number(line, n, 7, 16, &st->cap_eff);
    else if (line[0] == 'V' || line[0] == 'R') {
      for (i = 0; i < sizeof kb / sizeof kb[0]; i++) {
        size_t klen = strlen(kb[i].key);
        if (field_is(line, n, kb[i].key, klen)) {
          status_kb(line, n, klen, (uint64_t *)((char *)st + kb[i].off));
          break;
        }
      }
    }
    pos += n + 1;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** syscall, fdinfo
** ======================================================================= */
int pss_parse_syscall (const char *text, size_t len, struct pss_syscall *sc) {
  struct cur c = { text, text + len };
  int64_t nr;
  int i;
  memset(sc, 0, sizeof *sc);
  if (len >= 7 && memcmp(text, "running", 7) == 0) {
    sc->state = -1; sc->nr = -1;
    return 0;
  }
  if (get_snum(&c, &nr) < 0) return -EINVAL;
  sc->nr = (long)nr;
  if (nr >= 0) {
    sc->state = 1;
    for (i = 0; i < 6; i++)
      if (get_unum(&c, 16, &sc->args[i]) < 0) return -EINVAL;
  }
  if (get_unum(&c, 16, &sc->sp) < 0 || get_unum(&c, 16, &sc->pc) < 0)
    return -EINVAL;
  return 0;
}

int pss_parse_fdinfo (const char *text, size_t len, struct pss_fdinfo *fi) {
  size_t pos = 0;
  memset(fi, 0, sizeof *fi);
  while (pos < len) {
    const char *line = text + pos;
    size_t n = line_len(line, len - pos);
    struct cur c = { line, line + n };
    const char *colon = memchr(line, ':', n);
    uint64_t v;
    int64_t sv;
    if (colon != NULL) {
      size_t klen = (size_t)(colon - line);
      c.p = colon + 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
      if (KEY("pos") && get_unum(&c, 10, &v) == 0) fi->pos = v;
      else if (KEY("flags") && get_unum(&c, 8, &v) == 0) fi->flags = (unsigned)v;
      else if (KEY("mnt_id") && get_unum(&c, 10, &v) == 0) fi->mnt_id = (unsigned)v;
      else if (KEY("ino") && get_unum(&c, 10, &v) == 0) fi->ino = v;
      else if (KEY("Pid") && get_snum(&c, &sv) == 0) {
        fi->pid = (int)sv; fi->has_pid = 1;
      }
      else if (KEY("eventfd-count") && get_unum(&c, 16, &v) == 0) {
        fi->count = v; fi->has_count = 1;
      }
      else if (KEY("eventfd-semaphore") && get_unum(&c, 10, &v) == 0)
        fi->semaphore = v != 0;
      else if (KEY("ticks") && get_unum(&c, 10, &v) == 0) {
        fi->count = v; fi->has_count = 1;   /* timerfd expirations */
      }
      else if (KEY("sigmask") && get_unum(&c, 16, &v) == 0) {
        fi->count = v; fi->has_count = 1;   /* signalfd mask */
      }
#undef KEY
    }
    pos += n + 1;
  }
  return 0;
}
/* }====================================================================== */


/* {======================================================================
** maps
** ======================================================================= */

/* "start-end perms offset major:minor inode   path" */
long pss_parse_maps_line (const char *text, size_t len, struct pss_maps_line *ml) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  if (len == 0) return 0;
  memset(ml, 0, sizeof *ml);
  if (get_unum(&c, 16, &ml->start) < 0 || at_end(&c) || *c.p++ != '-' ||
      get_unum(&c, 16, &ml->end) < 0)
    return -EINVAL;
  skip_spaces(&c);
  if (c.end - c.p < 4) return -EINVAL;
  memcpy(ml->perms, c.p, 4);
  c.p += 4;
  if (get_unum(&c, 16, &ml->offset) < 0 || get_unum(&c, 16, &v) < 0)
    return -EINVAL;
  ml->dev_major = (unsigned)v;
  if (at_end(&c) || *c.p++ != ':' || get_unum(&c, 16, &v) < 0) return -EINVAL;
  ml->dev_minor = (unsigned)v;
  if (get_unum(&c, 10, &ml->inode) < 0) return -EINVAL;
  skip_spaces(&c);
  ml->path = c.p;
  ml->path_len = (size_t)(c.end - c.p);
  return (long)(n < len ? n + 1 : n);
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

/* "sl local:port rem:port st tx:rx tr:when retr uid timeout inode ..." */
long pss_parse_inet_line (const char *text, size_t len, struct pss_inet_line *il) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  int v6b;
  int i;
  if (len == 0) return 0;
  memset(il, 0, sizeof *il);
  skip_word(&c);                                     /* "sl:" */
  if (get_net_addr(&c, il->local, &il->v6) < 0 || at_end(&c) || *c.p++ != ':' ||
      get_unum(&c, 16, &v) < 0)
    return -EINVAL;
  il->lport = (unsigned)v;
  if (get_net_addr(&c, il->remote, &v6b) < 0 || at_end(&c) || *c.p++ != ':' ||
      get_unum(&c, 16, &v) < 0)
    return -EINVAL;
  il->rport = (unsigned)v;
  if (get_unum(&c, 16, &v) < 0) return -EINVAL;
  il->state = (int)v;
  for (i = 0; i < 5; i++) skip_word(&c);  /* tx:rx tr:when retr uid timeout */
  if (get_unum(&c, 10, &il->inode) < 0) return -EINVAL;
  return (long)(n < len ? n + 1 : n);
}

/* "Num RefCount Protocol Flags Type St Inode Path" */
long pss_parse_unix_line (const char *text, size_t len, struct pss_unix_line *ul) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  int i;
  if (len == 0) return 0;
  memset(ul, 0, sizeof *ul);
  for (i = 0; i < 3; i++) skip_word(&c);   /* Num: RefCount Protocol */
  if (get_unum(&c, 16, &v) < 0) return -EINVAL;
  ul->flags = (unsigned)v;
  if (get_unum(&c, 16, &v) < 0) return -EINVAL;
  ul->type = (int)v;
  if (get_unum(&c, 16, &v) < 0) return -EINVAL;
  ul->state = (int)v;
  if (get_unum(&c, 10, &ul->inode) < 0) return -EINVAL;
  skip_spaces(&c);
  ul->path = c.p;
  ul->path_len = (size_t)(c.end - c.p);
  return (long)(n < len ? n + 1 : n);
}

/* "sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode" */
long pss_parse_netlink_line (const char *text, size_t len, uint64_t *inode,
                             int *protocol) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  int i;
  if (len == 0) return 0;
  skip_word(&c);
  if (get_unum(&c, 10, &v) < 0) return -EINVAL;
  *protocol = (int)v;
  for (i = 0; i < 7; i++) skip_word(&c);
  if (get_unum(&c, 10, inode) < 0) return -EINVAL;
  return (long)(n < len ? n + 1 : n);
}

/* "sk RefCnt Type Proto Iface R Rmem User Inode" */
long pss_parse_packet_line (const char *text, size_t len, uint64_t *inode,
                            int *type, int *protocol) {
  size_t n = line_len(text, len);
  struct cur c = { text, text + n };
  uint64_t v;
  int i;
  if (len == 0) return 0;
  skip_word(&c); skip_word(&c);
  if (get_unum(&c, 10, &v) < 0) return -EINVAL;
  *type = (int)v;
  if (get_unum(&c, 16, &v) < 0) return -EINVAL;
  *protocol = (int)v;
  for (i = 0; i < 4; i++) skip_word(&c);
  if (get_unum(&c, 10, inode) < 0) return -EINVAL;
  return (long)(n < len ? n + 1 : n);
}
/* }====================================================================== */
