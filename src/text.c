/*
** text.c -- names as UTF-16 without loss.
**
** Linux names are bytes; Windows structures carry UTF-16. Valid UTF-8 maps
** to UTF-16 as usual. A byte that does not start a valid UTF-8 sequence
** (overlong forms, surrogates, values past U+10FFFF and truncated sequences
** included) becomes the lone surrogate U+DC00+byte. Valid UTF-8 never
** yields a lone surrogate, so the way back is exact: U+DC80..U+DCFF alone
** turn back into their byte, everything else into UTF-8.
*/
#include <stddef.h>
#include <stdint.h>

#include "pss.h"

#define PSS_EXPORT __attribute__((visibility("default")))

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_sequence (const unsigned char *s, size_t n, uint32_t *cp) {
  uint32_t c = s[0], min;
  size_t len, i;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; min = 0x10000; }
  else return 0;
  if (n < len) return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = c << 6 | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return len;
}

PSS_EXPORT size_t PssLinuxBytesToUtf16 (char const *Bytes, size_t Length,
                                        WCHAR *Out, size_t Capacity) {
  const unsigned char *s = (const unsigned char *)Bytes;
  size_t i = 0, units = 0;
  while (i < Length) {
    uint32_t cp;
    size_t len = utf8_sequence(s + i, Length - i, &cp);
    if (len == 0) { cp = 0xDC00 + s[i]; len = 1; }
    if (cp >= 0x10000) {
      if (units + 1 < Capacity) {
        Out[units] = (WCHAR)(0xD800 + ((cp - 0x10000) >> 10));
        Out[units + 1] = (WCHAR)(0xDC00 + ((cp - 0x10000) & 0x3FF));
      }
      units += 2;
    }
    else {
      if (units < Capacity) Out[units] = (WCHAR)cp;
      units++;
    }
    i += len;
  }
  return units;
}

static size_t put_utf8 (uint32_t cp, char *out, size_t at, size_t cap) {
  unsigned char b[4];
  size_t n, i;
  if (cp < 0x80) { b[0] = (unsigned char)cp; n = 1; }
  else if (cp < 0x800) {
    b[0] = (unsigned char)(0xC0 | cp >> 6); b[1] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 2;
  }
  else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xE0 | cp >> 12);
    b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 3;
  }
  else {
    b[0] = (unsigned char)(0xF0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  for (i = 0; i < n; i++)
    if (at + i < cap) out[at + i] = (char)b[i];
  return n;
}

/*
** Lone surrogates other than the escaped bytes (possible only in UTF-16
** from Windows) are written as their 3-byte WTF-8 form, so nothing is
** dropped there either.
*/
PSS_EXPORT size_t PssLinuxUtf16ToBytes (WCHAR const *Text, size_t Units,
                                        char *Out, size_t Capacity) {
  size_t i = 0, n = 0;
  while (i < Units) {
    uint32_t u = Text[i];
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < Units &&
        Text[i + 1] >= 0xDC00 && Text[i + 1] <= 0xDFFF) {
      uint32_t cp = 0x10000 + ((u - 0xD800) << 10) + (Text[i + 1] - 0xDC00u);
      n += put_utf8(cp, Out, n, Capacity);
      i += 2;
      continue;
    }
    if (u >= 0xDC80 && u <= 0xDCFF) {
      if (n < Capacity) Out[n] = (char)(u - 0xDC00);
      n++;
    }
    else n += put_utf8(u, Out, n, Capacity);
    i++;
  }
  return n;
}
