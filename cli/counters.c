/* counters.c - names, labels and meanings of the layer's counters. */
#include "counters.h"

#define C(f, label, help) { #f, label, help, offsetof(struct sockredir_counters, f) }
const struct counter_desc counter_descs[] = {
	C(redirected, "redirected", "Connects sent to a service."),
	C(unrecorded_egress, "unrecorded-egress",
	  "Connects by a service's owner without records (its own traffic)."),
	C(hop_limit, "hop-limit", "Connects failed with ELOOP: the chain reached the hop limit."),
	C(bad_records, "bad-records", "Records refused by setsockopt with EINVAL."),
	C(denied, "denied", "Records refused by setsockopt with EACCES."),
	C(pending_lost, "pending-lost", "Redirected flows whose proxy never accepted them."),
	C(blocked, "blocked", "Connects refused by a block rule."),
	C(listener_gone, "listener-gone",
	  "Fail-open skips: the service's listener was not claimed."),
	C(refused, "refused", "Fail-closed refusals: the service's listener was not claimed."),
	C(pending_busy, "pending-busy", "Flows not tracked: their 4-tuple was already pending."),
	C(overloaded, "overloaded",
	  "Listener accept queue full: skipped (fail open) or refused (fail closed)."),
};
#undef C
const size_t ncounter_descs = sizeof(counter_descs) / sizeof(counter_descs[0]);
