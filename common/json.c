/* SPDX-License-Identifier: MIT */
/* json.c - JSON strings from bytes that may not be UTF-8. */
#include <stdint.h>

#include "json.h"

/*
 * Length of the valid UTF-8 sequence at @s, or 0: no overlong forms, no
 * surrogates, nothing past U+10FFFF.  Stops at the first byte that is not
 * a continuation byte, so it never reads past the terminating NUL.
 */
static int utf8_len(const unsigned char *s)
{
	uint32_t c;
	int n, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	c = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	if (!s) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\') {
			putc('\\', f);
			putc(*p, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else if (*p < 0x80) {
			putc(*p, f);
		} else if ((n = utf8_len(p))) {
			fwrite(p, 1, n, f);
			p += n - 1;
		} else {
			fprintf(f, "\\u%04x", *p);
		}
	}
	putc('"', f);
}
