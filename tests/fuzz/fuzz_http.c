/* fuzz_http.c - libFuzzer target for the relay's HTTP/1.x request framing.
 * make fuzz && build/fuzz/fuzz_http -max_total_time=60
 *
 * The stream is scanned whole and in two pieces cut at every offset the
 * first byte picks: the bytes it lets pass must not depend on how they
 * arrived, and never exceed what was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../relay/sniff.c"
#include "../../relay/http.c"

static int allow(void *arg, const char *host)
{
	size_t i;

	for (i = 0; host[i]; i++)
		if (host[i] <= ' ' || host[i] >= 0x7f)
			abort();
	return host[0] == 'x' ? -EACCES : 0;
}

/* Pass what the scanner allows, feeding @data in two pieces at @cut. */
static ssize_t run(const uint8_t *data, size_t size, size_t cut)
{
	struct http_stream s = { 0 };
	size_t passed = 0, have = cut;
	ssize_t n;

	for (;;) {
		n = http_stream_scan(&s, data + passed, have - passed, 4096, allow, NULL);
		if (n < 0)
			return n;
		if ((size_t)n > have - passed)
			abort();
		passed += n;
		if (have == size)
			return passed;
		have = size;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request r;
	ssize_t whole, split;

	if (http_request_parse(data, size, &r) == 1 && r.head > size)
		abort();
	if (!size)
		return 0;
	whole = run(data, size, size);
	split = run(data, size, data[0] % size);
	/* A cut may only hold back a head the whole input completes, or
	 * end the same way. */
	if (whole >= 0 && split >= 0 && split != whole)
		abort();
	return 0;
}
