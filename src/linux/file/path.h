/*
** path.h -- a file written to a path, in a new file renamed over it or
** through what the path names (path.c says which, and why).
*/
#ifndef PSS_LINUX_FILE_PATH_H
#define PSS_LINUX_FILE_PATH_H

#pragma GCC visibility push(hidden)

/* What writes the file's bytes to an open descriptor: 0 or -errno. */
struct pss_writer {
  int (*put)(const void *ctx, int fd);
  const void *ctx;
};

/* Writes the file to path through w; 0 or -errno, with a detail in words
** (pss_fail_detail) where errno says too little. */
int pss_write_path(const char *path, const struct pss_writer *w);

#pragma GCC visibility pop

#endif
