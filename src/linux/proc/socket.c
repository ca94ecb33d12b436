/*
** socket.c -- what /proc/PID/net says about a process's sockets: family,
** type, protocol, state and addresses, found by inode. /proc/PID/net is the
** target's network namespace, not ours.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "linux/proc/proc.h"
#include "linux/proc/procfs.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#define UNIX_LISTENING 0x10000   /* __SO_ACCEPTCON in the Flags column */
#define STATE_LISTEN 10          /* TCP_LISTEN */

struct lookup { struct pss_socket_info **by_inode; size_t n, missing; };

static int cmp_inode (const void *a, const void *b) {
  uint64_t x = (*(struct pss_socket_info *const *)a)->inode;
  uint64_t y = (*(struct pss_socket_info *const *)b)->inode;
  return (x > y) - (x < y);
}

/* The entry that stands for all fds of this inode. */
static struct pss_socket_info *lk_first (struct lookup *lk, uint64_t inode) {
  size_t lo = 0, hi = lk->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    uint64_t v = lk->by_inode[mid]->inode;
    if (v == inode) return lk->by_inode[mid];
    if (v < inode) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

/* The entry with this inode if it is still unfound, else NULL. */
static struct pss_socket_info *find (struct lookup *lk, uint64_t inode) {
  struct pss_socket_info *si = lk_first(lk, inode);
  return si != NULL && !si->found ? si : NULL;
}

static void copy_result (struct pss_socket_info *to, const struct pss_socket_info *from) {
  if (from != NULL && from->found) *to = *from;
}

static void found (struct lookup *lk, struct pss_socket_info *si, int family,
                   int type, int protocol, int state) {
  si->family = family; si->type = type; si->protocol = protocol; si->state = state;
  si->found = 1;
  lk->missing--;
}

static const char *tcp_state_name (int st) {
  static const char *const names[] = { "", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
    "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
    "LISTEN", "CLOSING", "NEW_SYN_RECV" };
  return st > 0 && st < (int)(sizeof names / sizeof names[0]) ? names[st] : "UNKNOWN";
}

static void format_endpoint (char *out, size_t cap, const unsigned char *addr,
                             unsigned port, int v6) {
  char ip[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr, ip, sizeof ip);
  snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* {======================================================================
** Tables
** ======================================================================= */
struct inet_table { const char *file, *name; int type, protocol; };

static const struct inet_table inet_tables[] = {
  { "net/tcp", "tcp", SOCK_STREAM, IPPROTO_TCP },
  { "net/tcp6", "tcp6", SOCK_STREAM, IPPROTO_TCP },
  { "net/udp", "udp", SOCK_DGRAM, IPPROTO_UDP },
  { "net/udp6", "udp6", SOCK_DGRAM, IPPROTO_UDP },
  { "net/raw", "raw", SOCK_RAW, -1 },
  { "net/raw6", "raw6", SOCK_RAW, -1 },
  { "net/udplite", "udplite", SOCK_DGRAM, IPPROTO_UDPLITE },
  { "net/udplite6", "udplite6", SOCK_DGRAM, IPPROTO_UDPLITE },
  { "net/icmp", "icmp", SOCK_DGRAM, IPPROTO_ICMP },
  { "net/icmp6", "icmp6", SOCK_DGRAM, IPPROTO_ICMPV6 },
};

static void describe_inet (struct lookup *lk, const struct inet_table *tb,
                           const struct pss_inet_line *il, struct pss_socket_info *si) {
  char local[64], remote[64];
  int tcp = tb->type == SOCK_STREAM;
  /* raw sockets print their protocol number where a port would be */
  int protocol = tb->protocol >= 0 ? tb->protocol : (int)il->lport;
  found(lk, si, il->v6 ? AF_INET6 : AF_INET, tb->type, protocol, il->state);
  format_endpoint(local, sizeof local, il->local, il->lport, il->v6);
  format_endpoint(remote, sizeof remote, il->remote, il->rport, il->v6);
  if (tcp && il->state == STATE_LISTEN)
    snprintf(si->desc, sizeof si->desc, "%s %s LISTEN", tb->name, local);
  else if (tcp)
    snprintf(si->desc, sizeof si->desc, "%s %s -> %s %s", tb->name, local, remote,
             tcp_state_name(il->state));
  else if (il->rport != 0)
    snprintf(si->desc, sizeof si->desc, "%s %s -> %s", tb->name, local, remote);
  else snprintf(si->desc, sizeof si->desc, "%s %s", tb->name, local);
}

static void scan_inet (struct pss_target *t, struct lookup *lk, const struct inet_table *tb) {
  ssize_t n = pss_read_at(t, t->livefd, tb->file);
  size_t pos;
  if (n <= 0) return;      /* no such protocol in this kernel or namespace */
  pos = pss_skip_line(t->scratch, (size_t)n);
  while (pos < (size_t)n && lk->missing > 0) {
    struct pss_inet_line il;
    long used = pss_parse_inet_line(t->scratch + pos, (size_t)n - pos, &il);
    struct pss_socket_info *si;
    if (used <= 0) break;
    if ((si = find(lk, il.inode)) != NULL) describe_inet(lk, tb, &il, si);
    pos += (size_t)used;
  }
}

static void describe_unix (struct lookup *lk, const struct pss_unix_line *ul,
                           struct pss_socket_info *si) {
  const char *type = ul->type == SOCK_STREAM ? "stream"
                   : ul->type == SOCK_DGRAM ? "dgram" : "seqpacket";
  int state = (ul->flags & UNIX_LISTENING) ? STATE_LISTEN : ul->state;
  found(lk, si, AF_UNIX, ul->type, 0, state);
  if (ul->path_len > 0)
    snprintf(si->desc, sizeof si->desc, "unix %s %.*s", type, (int)ul->path_len, ul->path);
  else snprintf(si->desc, sizeof si->desc, "unix %s", type);
}

static void scan_unix (struct pss_target *t, struct lookup *lk) {
  ssize_t n = pss_read_at(t, t->livefd, "net/unix");
  size_t pos;
  if (n <= 0) return;
  pos = pss_skip_line(t->scratch, (size_t)n);
  while (pos < (size_t)n && lk->missing > 0) {
    struct pss_unix_line ul;
    long used = pss_parse_unix_line(t->scratch + pos, (size_t)n - pos, &ul);
    struct pss_socket_info *si;
    if (used <= 0) break;
    if ((si = find(lk, ul.inode)) != NULL) describe_unix(lk, &ul, si);
    pos += (size_t)used;
  }
}

static const char *netlink_name (int protocol) {
  switch (protocol) {
    case 0: return "route";
    case 4: return "sock_diag";
    case 9: return "audit";
    case 15: return "kobject_uevent";
    case 16: return "generic";
    default: return NULL;
  }
}

static void scan_netlink (struct pss_target *t, struct lookup *lk) {
  ssize_t n = pss_read_at(t, t->livefd, "net/netlink");
  size_t pos;
  if (n <= 0) return;
  pos = pss_skip_line(t->scratch, (size_t)n);
  while (pos < (size_t)n && lk->missing > 0) {
    uint64_t inode;
    int protocol;
    long used = pss_parse_netlink_line(t->scratch + pos, (size_t)n - pos, &inode, &protocol);
    struct pss_socket_info *si;
    if (used <= 0) break;
    if ((si = find(lk, inode)) != NULL) {
      const char *name = netlink_name(protocol);
      found(lk, si, AF_NETLINK, -1, protocol, -1);
      if (name) snprintf(si->desc, sizeof si->desc, "netlink %s", name);
      else snprintf(si->desc, sizeof si->desc, "netlink %d", protocol);
    }
    pos += (size_t)used;
  }
}

static void scan_packet (struct pss_target *t, struct lookup *lk) {
  ssize_t n = pss_read_at(t, t->livefd, "net/packet");
  size_t pos;
  if (n <= 0) return;
  pos = pss_skip_line(t->scratch, (size_t)n);
  while (pos < (size_t)n && lk->missing > 0) {
    uint64_t inode;
    int type, protocol;
    long used = pss_parse_packet_line(t->scratch + pos, (size_t)n - pos, &inode,
                                      &type, &protocol);
    struct pss_socket_info *si;
    if (used <= 0) break;
    if ((si = find(lk, inode)) != NULL) {
      found(lk, si, AF_PACKET, type, protocol, -1);
      snprintf(si->desc, sizeof si->desc, "packet 0x%04x", (unsigned)protocol);
    }
    pos += (size_t)used;
  }
}
/* }====================================================================== */

/* One pass over the tables, the ones most sockets live in first, until
** every inode is found: a process with only unix sockets never reads tcp. */
static void scan_tables (struct pss_target *t, struct lookup *lk) {
  size_t i;
  scan_unix(t, lk);
  for (i = 0; i < sizeof inet_tables / sizeof inet_tables[0] && lk->missing > 0; i++)
    scan_inet(t, lk, &inet_tables[i]);
  if (lk->missing > 0) scan_netlink(t, lk);
  if (lk->missing > 0) scan_packet(t, lk);
}

/*
** A table larger than one read is read in several, and a socket that
** other processes' sockets move in the kernel's table between two reads
** can be missed: what the first pass did not find gets a second one.
*/
int pss_sockets_describe (struct pss_target *t, struct pss_socket_info *socks,
                          size_t n) {
  struct lookup lk;
  size_t i;
  if ((lk.by_inode = malloc(n * sizeof *lk.by_inode)) == NULL) return -ENOMEM;
  for (i = 0; i < n; i++) lk.by_inode[i] = &socks[i];
  qsort(lk.by_inode, n, sizeof *lk.by_inode, cmp_inode);
  /* dup'ed fds share a socket: look each inode up once */
  for (i = 0, lk.n = 0; i < n; i++)
    if (lk.n == 0 || lk.by_inode[lk.n - 1]->inode != lk.by_inode[i]->inode)
      lk.by_inode[lk.n++] = lk.by_inode[i];
  lk.missing = lk.n;
  scan_tables(t, &lk);
  if (lk.missing > 0) scan_tables(t, &lk);
  for (i = 0; i < n; i++) {
    struct pss_socket_info *first = lk_first(&lk, socks[i].inode);
    if (first != &socks[i]) copy_result(&socks[i], first);
  }
  free(lk.by_inode);
  return 0;
}
