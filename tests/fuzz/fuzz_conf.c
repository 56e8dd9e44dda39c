/*
 * fuzz_conf.c - libFuzzer target for sockredir.conf(5) (cli/conf.c and the
 * option words it shares with the command line).
 *   make fuzz && build/fuzz/fuzz_conf -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct conf c;
	FILE *f;
	size_t i;
	int ret;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	ret = conf_read(f, "fuzz.conf", &c, err, sizeof(err));
	fclose(f);
	if (ret) {
		/* Every refusal names the file and a line. */
		if (ret != -ENOMEM && strncmp(err, "fuzz.conf:", 10))
			abort();
		return 0;
	}
	/* What parses is whole: services listen, rules have one action and
	 * name only services of the file. */
	for (i = 0; i < c.nsvcs; i++)
		if (!c.svcs[i].s.listen4.sin_port && !c.svcs[i].s.listen6.sin6_port)
			abort();
	for (i = 0; i < c.nrules; i++)
		if (c.rules[i].actions != 1)
			abort();
	conf_free(&c);
	return 0;
}
