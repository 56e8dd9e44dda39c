/* fuzz_sniff.c - libFuzzer target for the relay's Host/SNI sniffers and
 * host patterns.  make fuzz && build/fuzz/fuzz_sniff -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../relay/sniff.c"
#include "../../relay/policy.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[SNIFF_HOST_MAX], pat[SNIFF_HOST_MAX + 2];
	size_t i, n;

	sniff(data, size, host);
	for (i = 0; host[i]; i++)
		if (host[i] <= ' ' || host[i] >= 0x7f)
			abort();
	/* Every prefix must parse too: the relay sniffs as bytes arrive. */
	if (size < 512)
		for (n = 0; n < size; n++)
			sniff(data, n, host);
	n = size < sizeof(pat) - 1 ? size : sizeof(pat) - 1;
	memcpy(pat, data, n);
	pat[n] = '\0';
	if (!host_pattern_norm(pat))
		host_match(pat, host);
	return 0;
}
