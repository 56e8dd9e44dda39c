/* clienthello.h - a TLS ClientHello for tests. */
#ifndef TEST_CLIENTHELLO_H
#define TEST_CLIENTHELLO_H
#include <stddef.h>
#include <string.h>

/* A ClientHello with @sni (NULL: no server_name), after another extension. */
static inline size_t make_hello(unsigned char *out, const char *sni, size_t split)
{
	unsigned char hs[1024], *p = hs + 4, *ext;
	size_t n, hl, nl = sni ? strlen(sni) : 0, i, rec, off = 0;

	*p++ = 3; *p++ = 3;
	memset(p, 0xab, 32); p += 32;
	*p++ = 32; memset(p, 0xcd, 32); p += 32;
	*p++ = 0; *p++ = 4; *p++ = 0x13; *p++ = 1; *p++ = 0x13; *p++ = 2;
	*p++ = 1; *p++ = 0;
	ext = p; p += 2;
	*p++ = 0; *p++ = 0x2b; *p++ = 0; *p++ = 3; *p++ = 2; *p++ = 3; *p++ = 4;
	if (sni) {
		*p++ = 0; *p++ = 0;
		*p++ = 0; *p++ = nl + 5;
		*p++ = 0; *p++ = nl + 3;
		*p++ = 0; *p++ = 0; *p++ = nl;
		memcpy(p, sni, nl); p += nl;
	}
	*p++ = 0; *p++ = 0x0a; *p++ = 0; *p++ = 4; *p++ = 0; *p++ = 2; *p++ = 0; *p++ = 0x1d;
	n = p - ext - 2;
	ext[0] = n >> 8; ext[1] = n;
	hl = p - hs;
	hs[0] = 1; hs[1] = 0; hs[2] = (hl - 4) >> 8; hs[3] = hl - 4;
	/* Records of at most @split bytes. */
	for (i = 0; i < hl; i += rec) {
		rec = hl - i < split ? hl - i : split;
		out[off++] = 0x16; out[off++] = 3; out[off++] = 1;
		out[off++] = rec >> 8; out[off++] = rec;
		memcpy(out + off, hs + i, rec);
		off += rec;
	}
	return off;
}

#endif
