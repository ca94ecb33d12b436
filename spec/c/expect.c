/*
** expect.c -- domain assertions.
*/
#include "expect.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void note (char const *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  print_message("# %s\n", line);
}

char const *win32_error_name (DWORD code) {
  switch (code) {
    case ERROR_SUCCESS: return "ERROR_SUCCESS";
    case ERROR_INVALID_FUNCTION: return "ERROR_INVALID_FUNCTION";
    case ERROR_ACCESS_DENIED: return "ERROR_ACCESS_DENIED";
    case ERROR_INVALID_HANDLE: return "ERROR_INVALID_HANDLE";
    case ERROR_NOT_ENOUGH_MEMORY: return "ERROR_NOT_ENOUGH_MEMORY";
    case ERROR_BAD_LENGTH: return "ERROR_BAD_LENGTH";
    case ERROR_GEN_FAILURE: return "ERROR_GEN_FAILURE";
    case ERROR_NOT_SUPPORTED: return "ERROR_NOT_SUPPORTED";
    case ERROR_INVALID_PARAMETER: return "ERROR_INVALID_PARAMETER";
    case ERROR_BUFFER_OVERFLOW: return "ERROR_BUFFER_OVERFLOW";
    case ERROR_MORE_DATA: return "ERROR_MORE_DATA";
    case ERROR_NO_MORE_ITEMS: return "ERROR_NO_MORE_ITEMS";
    case ERROR_PARTIAL_COPY: return "ERROR_PARTIAL_COPY";
    case ERROR_BAD_FORMAT: return "ERROR_BAD_FORMAT";
    case ERROR_FILE_NOT_FOUND: return "ERROR_FILE_NOT_FOUND";
    case ERROR_INVALID_ADDRESS: return "ERROR_INVALID_ADDRESS";
    case ERROR_ARITHMETIC_OVERFLOW: return "ERROR_ARITHMETIC_OVERFLOW";
    case ERROR_PROCESS_ABORTED: return "ERROR_PROCESS_ABORTED";
    case ERROR_NOT_FOUND: return "ERROR_NOT_FOUND";
    case ERROR_UNIDENTIFIED_ERROR: return "ERROR_UNIDENTIFIED_ERROR";
    case ERROR_TIMEOUT: return "ERROR_TIMEOUT";
    case ERROR_BROKEN_PIPE: return "ERROR_BROKEN_PIPE";
    case ERROR_DISK_FULL: return "ERROR_DISK_FULL";
    case ERROR_FILE_TOO_LARGE: return "ERROR_FILE_TOO_LARGE";
    default: return "?";
  }
}

void expect_code_ (DWORD got, DWORD want, char const *expr, char const *file, int line) {
  if (got == want)
    return;
  note("%s: expected %s (%u), got %s (%u); PssLinuxLastErrno %d", expr,
              win32_error_name(want), (unsigned)want, win32_error_name(got),
              (unsigned)got, PssLinuxLastErrno());
  _fail(file, line);
}

char const *printable (char const *bytes, size_t len, char *buf, size_t cap) {
  size_t i, n = 0;
  for (i = 0; i < len && n + 5 < cap; i++) {
    unsigned char c = (unsigned char)bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[n++] = (char)c;
    else
      n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
  }
  if (i < len && n + 4 < cap)
    n += (size_t)snprintf(buf + n, cap - n, "...");
  buf[n < cap ? n : cap - 1] = '\0';
  return buf;
}

void expect_bytes_ (char const *p, size_t len, char const *q, size_t len2,
                    char const *expr, char const *file, int line) {
  char a[600], b[600];
  if (len == len2 && (len == 0 || (p != NULL && memcmp(p, q, len) == 0)))
    return;
  if (p == NULL && len > 0) {
    note("%s: NULL with length %zu, expected \"%s\"", expr, len,
                printable(q, len2, b, sizeof b));
  } else {
    note("%s: got \"%s\" (%zu bytes), expected \"%s\" (%zu bytes)", expr,
                printable(p, p ? len : 0, a, sizeof a), len,
                printable(q, len2, b, sizeof b), len2);
  }
  _fail(file, line);
}

size_t utf16_to_bytes (WCHAR const *text, size_t length_bytes, char *out, size_t cap) {
  size_t n = PssLinuxUtf16ToBytes(text, length_bytes / 2, out, cap > 0 ? cap - 1 : 0);
  if (cap > 0)
    out[n < cap - 1 ? n : cap - 1] = '\0';
  return n;
}

size_t utf16_units (WCHAR const *text, size_t max) {
  size_t n = 0;
  while (n < max && text[n] != 0)
    n++;
  return n;
}

void expect_utf16_bytes_ (WCHAR const *text, size_t length_bytes,
                          char const *bytes, size_t nbytes, char const *expr,
                          char const *file, int line) {
  char got[4200];
  size_t n;
  if (text == NULL) {
    if (nbytes == 0 && length_bytes == 0)
      return;
    note("%s: NULL (length %zu bytes), expected %zu bytes", expr,
                length_bytes, nbytes);
    _fail(file, line);
    return;
  }
  if (length_bytes % 2 != 0) {
    note("%s: odd length %zu bytes for UTF-16", expr, length_bytes);
    _fail(file, line);
  }
  n = utf16_to_bytes(text, length_bytes, got, sizeof got);
  if (n >= sizeof got) {
    note("%s: %zu bytes, too long to compare", expr, n);
    _fail(file, line);
  }
  expect_bytes_(got, n, bytes, nbytes, expr, file, line);
}
