/* SPDX-License-Identifier: MIT */
/*
 * quic.h - the server name in a QUIC v1 client Initial packet (RFC 9000,
 * RFC 9001): its keys come from its Destination Connection ID, so anyone
 * on the path can open it and read the TLS ClientHello it carries.
 */
#ifndef RELAY_QUIC_H
#define RELAY_QUIC_H

#include <stdbool.h>
#include <stddef.h>

#include "sniff.h"

/*
 * quic_initial_sni - is datagram @p (@len bytes) a QUIC v1 Initial, and if
 * so which name does the ClientHello in its first packet ask for?
 * @host: receives the name (see sniff()), or "" when the packet cannot be
 *        opened or its CRYPTO frames from offset 0 name none.
 * Returns true for a QUIC v1 long-header Initial (whatever @host says),
 * false for any other datagram (@host is then "").
 */
bool quic_initial_sni(const unsigned char *p, size_t len,
		      char host[SNIFF_HOST_MAX]);

#endif
