/*
** expect.h -- assertions that say what was expected in the domain's words:
** Win32 codes by name, UTF-16 names compared as Linux bytes.
*/
#ifndef SPEC_EXPECT_H
#define SPEC_EXPECT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pss.h"

/* "ERROR_ACCESS_DENIED" for 5, "?" for codes the header does not name */
char const *win32_error_name (DWORD code);

/* Fails the test unless got == want, naming both codes. */
#define assert_code(got, want) \
  expect_code_((DWORD)(got), (DWORD)(want), #got, __FILE__, __LINE__)
void expect_code_ (DWORD got, DWORD want, char const *expr, char const *file, int line);

/* Fails unless the UTF-16 text (length in BYTES, as the PSS entries give
** it) converts back, through PssLinuxUtf16ToBytes, to exactly the bytes. */
#define assert_utf16_bytes(text, length_bytes, bytes, nbytes) \
  expect_utf16_bytes_((text), (length_bytes), (bytes), (nbytes), #text, \
                      __FILE__, __LINE__)
void expect_utf16_bytes_ (WCHAR const *text, size_t length_bytes,
                          char const *bytes, size_t nbytes, char const *expr,
                          char const *file, int line);

/* Fails unless the len bytes at p equal the len2 bytes at q. */
#define assert_bytes(p, len, q, len2) \
  expect_bytes_((p), (len), (q), (len2), #p, __FILE__, __LINE__)
void expect_bytes_ (char const *p, size_t len, char const *q, size_t len2,
                    char const *expr, char const *file, int line);

/* The bytes of a UTF-16 text of length_bytes bytes, NUL-terminated in
** out (truncated to cap-1); returns the full byte length. */
size_t utf16_to_bytes (WCHAR const *text, size_t length_bytes, char *out, size_t cap);

/* Units of a NUL-terminated UTF-16 string (bounded by max). */
size_t utf16_units (WCHAR const *text, size_t max);

/* Printable form of bytes for messages (non-printables as \xNN). */
char const *printable (char const *bytes, size_t len, char *buf, size_t cap);

/* Prints one line as a TAP comment ("# ..."): cmocka sends print_error
** to stderr, outside the TAP stream, so failure details go through here. */
void note (char const *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says why (a TAP comment) and skips the test. */
#define skip_because(...) do { note("SKIP: " __VA_ARGS__); skip(); } while (0)

/* Says what went wrong and fails the test at the caller's line. */
#define fail_because(...) do { note(__VA_ARGS__); _fail(__FILE__, __LINE__); } while (0)

#endif
