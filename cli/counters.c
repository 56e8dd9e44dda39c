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
	C(untracked, "untracked",
	  "Connects refused because their flow state could not be made (option memory full)."),
	C(pending_full, "pending-full",
	  "Connects refused because their uid (or the layer) had too many flows pending."),
	C(onward_recorded, "onward-recorded",
	  "Owner connects without records that the layer gave a flow's records."),
	C(onward_ambiguous, "onward-ambiguous",
	  "Owner connects refused: the flows they could carry are judged differently."),
	C(udp_expired, "udp-expired", "UDP flows ended after their idle timeout."),
	C(udp_no_endpoint, "udp-no-endpoint",
	  "New UDP flows refused with ENOBUFS: the uid's share or the pool used up."),
	C(mptcp_join_refused, "mptcp-join-refused",
	  "MPTCP subflows added by the path manager (joins) refused: a rule covers their destination."),
};
#undef C
const size_t ncounter_descs = sizeof(counter_descs) / sizeof(counter_descs[0]);
