/*
 * events_probe - look at the layer's event plumbing from outside.
 *
 *   events_probe          print "watchers N lost L": monitors registered
 *                         (sr_watch.count) and events dropped
 *   events_probe sink     put a ring buffer of its own in a free monitor
 *                         slot *without* counting itself as a watcher,
 *                         print "ready", wait for end of input, then print
 *                         "producer P": the bytes the programs wrote into
 *                         it meanwhile, and take it out again
 *
 * A sink sees exactly what a monitor would: the programs copy each event
 * into every ring buffer in sr_events, but only while the count is not 0.
 * So with nobody watching, P stays 0 unless a program does ring buffer
 * work it should not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "sockredir.h"
#include "../../bpf/observe_abi.h"

static int die(const char *what)
{
	fprintf(stderr, "events_probe: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	int events = bpf_obj_get(SOCKREDIR_PIN_DIR "/sr_events");
	int wm = bpf_obj_get(SOCKREDIR_PIN_DIR "/sr_watch");
	struct sr_watch *w;
	unsigned long *prod;
	__u32 slot;
	char buf[256];
	int ring;

	if (events < 0 || wm < 0)
		return die("pinned maps");
	w = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, wm, 0);
	if (w == MAP_FAILED)
		return die("mmap sr_watch");
	if (argc < 2) {
		printf("watchers %u lost %u\n", w->count, w->lost);
		return 0;
	}
	if (strcmp(argv[1], "sink")) {
		fprintf(stderr, "usage: events_probe [sink]\n");
		return 2;
	}
	ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sr_probe", 0, 0,
			      SR_EVENTS_SIZE, NULL);
	if (ring < 0)
		return die("ring buffer");
	for (slot = 0; slot < SR_MAX_WATCHERS; slot++) {
		__u32 free_slot = 0;

		if (__atomic_compare_exchange_n(&w->pid[slot], &free_slot,
						(__u32)getpid(), 0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			break;
	}
	if (slot == SR_MAX_WATCHERS || bpf_map_update_elem(events, &slot, &ring, 0))
		return die("slot");
	/* The producer position is the page after the consumer's; read-only. */
	prod = mmap(NULL, page, PROT_READ, MAP_SHARED, ring, page);
	if (prod == MAP_FAILED)
		return die("mmap ring");
	printf("ready\n");
	fflush(stdout);
	while (fgets(buf, sizeof(buf), stdin))
		;
	printf("producer %lu\n", __atomic_load_n(prod, __ATOMIC_SEQ_CST));
	bpf_map_delete_elem(events, &slot);
	__atomic_store_n(&w->pid[slot], 0, __ATOMIC_SEQ_CST);
	return 0;
}
