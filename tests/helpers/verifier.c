/*
 * verifier - load the redirect layer's object and the flow iterator's
 * without attaching or pinning them, and print one line per program: its name, the instructions the
 * verifier processed (bpf_prog_info.verified_insns) and its stack depth
 * (from the verifier's statistics line).  Needs CAP_BPF; leaves nothing
 * behind.  Exit 1 if the object does not load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sockredir.skel.h"
#include "flows.skel.h"

#define LOG_SIZE (1 << 20)
#define MAX_PROGS 32

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* "stack depth 24+0" or "stack depth 40": the sum over subprograms. */
static int stack_depth(const char *log)
{
	const char *p = strstr(log, "stack depth ");
	int sum = 0;

	if (!p)
		return -1;
	p += strlen("stack depth ");
	while (*p >= '0' && *p <= '9') {
		sum += (int)strtol(p, (char **)&p, 10);
		if (*p != '+')
			break;
		p++;
	}
	return sum;
}

/* Load @obj with statistics on, print its programs; 0 or 1. */
static int measure(struct bpf_object *obj)
{
	struct bpf_program *prog;
	static char logs[MAX_PROGS][4096];
	int i = 0, err;

	/* Level 4 (BPF_LOG_STATS): only the totals, including stack depth. */
	bpf_object__for_each_program(prog, obj) {
		if (i == MAX_PROGS)
			break;
		bpf_program__set_log_level(prog, 4);
		bpf_program__set_log_buf(prog, logs[i++], sizeof(logs[0]));
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "verifier: load %s: %s\n", bpf_object__name(obj),
			strerror(-err));
		return 1;
	}
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			fprintf(stderr, "verifier: info: %s\n", strerror(errno));
			return 1;
		}
		if (getenv("VERIFIER_LOG") && i < MAX_PROGS)
			fputs(logs[i], stderr);
		printf("%s %u %d\n", bpf_program__name(prog),
		       info.verified_insns,
		       i < MAX_PROGS ? stack_depth(logs[i]) : -1);
		i++;
	}
	return 0;
}

/* The layer, then the flow iterator that `sockredir flow list` loads. */
int main(void)
{
	struct sockredir_bpf *layer;
	struct sockredir_flows *flows;
	int err;

	libbpf_set_print(quiet);
	layer = sockredir_bpf__open();
	flows = sockredir_flows__open();
	if (!layer || !flows) {
		fprintf(stderr, "verifier: open: %s\n", strerror(errno));
		return 1;
	}
	err = measure(layer->obj) || measure(flows->obj);
	sockredir_bpf__destroy(layer);
	sockredir_flows__destroy(flows);
	return err ? 1 : 0;
}
