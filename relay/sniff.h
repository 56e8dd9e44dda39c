/* SPDX-License-Identifier: MIT */
/*
 * sniff.h - learn the server name a client asked for from the first bytes
 * of its flow: the HTTP/1 Host (or absolute request target), or the TLS
 * ClientHello's server_name.  Pure functions over a byte buffer, no I/O.
 */
#ifndef RELAY_SNIFF_H
#define RELAY_SNIFF_H

#include <stdbool.h>
#include <stddef.h>

#define SNIFF_HOST_MAX	256	/* a DNS name (253) with room to spare, + NUL */

enum sniff_result {
	SNIFF_MORE,	/* more bytes could still name a host */
	SNIFF_DONE,	/* final: host[] is the name, or "" for none */
};

/*
 * sniff - look for a server name in @buf, the first @len bytes of a flow.
 * @host: receives the name, lower-cased, without port or trailing dot;
 *        "" when there is none (or it is not printable ASCII).
 * Returns SNIFF_MORE while the bytes are a plausible but incomplete
 * request or ClientHello, SNIFF_DONE otherwise.
 */
enum sniff_result sniff(const void *buf, size_t len, char host[SNIFF_HOST_MAX]);

/* The two halves of sniff(), same contract. */
enum sniff_result sniff_http(const unsigned char *p, size_t len,
			     char host[SNIFF_HOST_MAX]);
enum sniff_result sniff_tls(const unsigned char *p, size_t len,
			    char host[SNIFF_HOST_MAX]);
/*
 * sniff_hello - the server_name of a bare ClientHello handshake message
 * (no record header: QUIC carries it so), @len bytes, all there will be.
 */
void sniff_hello(const unsigned char *hs, size_t len, char host[SNIFF_HOST_MAX]);

#endif
