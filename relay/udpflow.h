/* SPDX-License-Identifier: MIT */
/*
 * udpflow.h - redirected UDP flows (sockredir-relay --udp): one claimed
 * dual-stack socket on [::]:PORT receives every flow's datagrams, each flow
 * told apart by its endpoint (the address it was sent to, see
 * include/sockredir.h); per flow, an upstream socket carrying its records
 * to the original destination, answers sent back from the endpoint, and a
 * flow-log line when it has been idle for idle_ms.
 */
#ifndef RELAY_UDPFLOW_H
#define RELAY_UDPFLOW_H

#include <netinet/in.h>
#include <stdint.h>

#include "flow.h"
#include "loop.h"

struct udp_env {
	struct loop *loop;
	struct flowlog *log;
	const struct flow_config *cfg;
	const struct policy *policy;
	unsigned int idle_ms;
	unsigned int max_flows;
	/* --udp-upstream (IPv4), or NULL: where datagrams the layer did not
	 * redirect go (iptables REDIRECT or TPROXY sent them; bench/udp.sh). */
	const struct sockaddr_in *upstream;
	/* Owned by udpflow.c. */
	int fd;
	uint16_t port;
	struct link flows;
	unsigned long n_flows;
	struct timer sweep;
};

/*
 * udp_env_open - bind [::]:@port, claim it for the service, and serve.
 * The rest of @env is filled in by the caller.  Returns 0 or -errno
 * (-ENOENT: no such service; -EINVAL: the port is not the service's).
 */
int udp_env_open(struct udp_env *env, uint16_t port);
/* End every flow (logged as "drained") and close the socket. */
void udp_env_close(struct udp_env *env);

/*
 * dns_qname - the first question's name of DNS message @p (@len bytes),
 * lower-case, dotted, into @out.  Returns 0, or -EINVAL if it is not a
 * query with a readable name.
 */
int dns_qname(const unsigned char *p, size_t len, char *out, size_t outlen);

#endif
