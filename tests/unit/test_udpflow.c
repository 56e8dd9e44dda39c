/*
 * test_udpflow - the relay's UDP flow table (relay/udpflow.c): each
 * datagram finds its flow by (env, application address and port,
 * endpoint) in a few key comparisons, however many flows are live.
 * Counted, not timed: flowtab.probes is every key comparison made.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../relay/diag.c"
#include "../../relay/loop.c"
#include "../../relay/flowlog.c"
#include "../../relay/sniff.c"
#include "../../relay/policy.c"
#include "../../relay/quic.c"
#include "../../relay/udpflow.c"

#define N 100000		/* flows live at once: 50,000 in each env */

/* Flow i: application ::ffff:127.0.x.y port p, endpoint 127.83.a.b, as
 * the layer hands them out; many flows share an address, or a port. */
static void key_of(unsigned int i, struct sockaddr_in6 *app, struct in6_addr *ep)
{
	char a[64], e[64];

	snprintf(a, sizeof(a), "::ffff:127.0.%u.%u", (i >> 8) & 15, i & 255);
	snprintf(e, sizeof(e), "::ffff:127.83.%u.%u", (i >> 16) & 255, (i >> 8) & 255);
	memset(app, 0, sizeof(*app));
	app->sin6_family = AF_INET6;
	app->sin6_port = htons(10000 + (i >> 12));
	inet_pton(AF_INET6, a, &app->sin6_addr);
	inet_pton(AF_INET6, e, ep);
}

int main(void)
{
	static struct udp_env env[2];
	struct uflow **f = calloc(N, sizeof(*f));
	struct sockaddr_in6 app;
	struct in6_addr ep;
	unsigned long probes, found = 0, wrong = 0, i;
	int fail = 0;

	for (i = 0; i < N && f; i++) {
		f[i] = calloc(1, sizeof(*f[i]));
		if (!f[i])
			break;
		f[i]->env = &env[i & 1];
		key_of(i >> 1, &f[i]->app, &f[i]->endpoint); /* both envs: same keys */
		fail |= uflow_index(f[i]);
	}
	if (!ok(f && i == N && !fail && flowtab.n == N,
		"%d flows entered (%zu buckets)", N, flowtab.nb))
		return done();

	flowtab.probes = 0;
	for (i = 0; i < N; i++) {
		struct uflow *g;

		key_of(i >> 1, &app, &ep);
		g = uflow_find(&env[i & 1], &app, &ep);
		found += g != NULL;
		wrong += g != f[i];
	}
	probes = flowtab.probes;
	ok(found == N && wrong == 0,
	   "each flow is found, in its own env (the same key in the other env is another flow)");
	/* A linear search makes N/2 comparisons a lookup on average: 50,000. */
	ok(probes <= 2 * N, "%lu key comparisons for %d lookups: %.2f each (a list: %d)",
	   probes, N, (double)probes / N, N / 2);

	flowtab.probes = 0;
	key_of(N, &app, &ep);				/* no such flow */
	for (i = 0; i < 1000; i++) {
		app.sin6_port = htons(60000 + i);
		found += uflow_find(&env[0], &app, &ep) != NULL;
	}
	ok(found == N && flowtab.probes <= 2 * 1000,
	   "1,000 datagrams of no flow: none found, %lu comparisons", flowtab.probes);

	for (i = 0; i < N; i += 2)
		uflow_unindex(f[i]);
	found = wrong = 0;
	for (i = 0; i < N; i++) {
		struct uflow *g;

		key_of(i >> 1, &app, &ep);
		g = uflow_find(&env[i & 1], &app, &ep);
		found += g != NULL;
		wrong += (i & 1) ? g != f[i] : g != NULL;
	}
	ok(found == N / 2 && wrong == 0 && flowtab.n == N / 2,
	   "after env 0's flows end, env 1's are all found and env 0's none");
	for (i = 1; i < N; i += 2)
		uflow_unindex(f[i]);
	ok(flowtab.n == 0 && flowtab.nb == 0 && !flowtab.b,
	   "the last flow's end gives the table back");
	key_of(0, &app, &ep);
	ok(uflow_find(&env[1], &app, &ep) == NULL, "an empty table finds nothing");
	for (i = 0; i < N; i++)
		free(f[i]);
	free(f);
	return done();
}
