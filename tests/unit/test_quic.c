/* test_quic.c - the relay's QUIC v1 Initial reader (relay/quic.c). */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../relay/sniff.c"
#include "../../relay/quic.c"
#include "quic_a2.h"

int main(void)
{
	unsigned char pkt[sizeof(quic_a2)];
	char h[SNIFF_HOST_MAX];
	size_t i, cut;
	int all = 1, named = 0;

	ok(quic_initial_sni(quic_a2, sizeof(quic_a2), h) && !strcmp(h, "example.com"),
	   "RFC 9001 A.2 client Initial: a QUIC Initial naming example.com (got '%s')", h);

	/* Every cut of it: still an Initial (once the header is there), no name. */
	for (cut = 0; cut < sizeof(quic_a2); cut++)
		if (quic_initial_sni(quic_a2, cut, h), h[0])
			named++;
	ok(named == 0, "no cut of it names a host (%d did)", named);

	/* One bit flipped anywhere in the protected part: it does not open. */
	for (i = 18; i < sizeof(quic_a2); i += 7) {
		memcpy(pkt, quic_a2, sizeof(pkt));
		pkt[i] ^= 0x10;
		if (!quic_initial_sni(pkt, sizeof(pkt), h) || h[0])
			all = 0;
	}
	ok(all, "a corrupted copy is an Initial that names no host");

	/* Another version, a short header, a Handshake packet: not Initials. */
	memcpy(pkt, quic_a2, sizeof(pkt));
	pkt[4] = 2;
	ok(!quic_initial_sni(pkt, sizeof(pkt), h) && !h[0], "version 2: not read");
	memcpy(pkt, quic_a2, sizeof(pkt));
	pkt[0] = 0x40;
	ok(!quic_initial_sni(pkt, sizeof(pkt), h), "short header: not an Initial");
	pkt[0] = 0xe0;
	ok(!quic_initial_sni(pkt, sizeof(pkt), h), "Handshake packet: not an Initial");

	/* Lengths the sender lies about: a DCID, token or length past the end. */
	memcpy(pkt, quic_a2, sizeof(pkt));
	pkt[5] = 21;
	ok(!quic_initial_sni(pkt, sizeof(pkt), h), "a 21-byte DCID: not QUIC v1");
	memcpy(pkt, quic_a2, sizeof(pkt));
	pkt[15] = 0xbf;		/* token length: an 8-byte varint, huge */
	ok(quic_initial_sni(pkt, sizeof(pkt), h) && !h[0], "a token past the end: no name");
	memcpy(pkt, quic_a2, sizeof(pkt));
	pkt[16] = 0x7f; pkt[17] = 0xff;	/* length 16383 > what is there */
	ok(quic_initial_sni(pkt, sizeof(pkt), h) && !h[0], "a length past the end: no name");

	/* Not QUIC at all: a DNS query, zeros, nothing. */
	memset(pkt, 0, sizeof(pkt));
	ok(!quic_initial_sni(pkt, sizeof(pkt), h) && !quic_initial_sni(pkt, 0, h),
	   "zeros and nothing: not QUIC");
	return done();
}
