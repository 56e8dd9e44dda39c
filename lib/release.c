/*
 * release.c - where sr_sock_release runs.
 *
 * The kernel runs a cgroup/sock_release program at the end of every socket
 * of the cgroup, TCP ones too (twice per local TCP connection: the client
 * and the accepted socket), and the program is needed only to end a
 * connected UDP flow with its socket (bpf/udp.h).  So it is attached to the
 * attached cgroup only while a UDP flow can exist:
 *
 *  - a redirect rule that matches UDP (proto udp, or any) exists: it is
 *    attached before such a rule is written, in that rule's transaction
 *    (undone if the transaction is), so no connected flow is ever made
 *    without it;
 *  - no such rule, but UDP flows are still live (made before, they keep
 *    their decision): it stays, so each still ends with its socket;
 *  - neither: the transaction that leaves it so detaches it, or, while
 *    flows made before are still live, the first change of rules after the
 *    last of them has ended.  Detaching is best effort: a program left
 *    attached costs runs, never a flow.
 *
 * Where flows are counted, any UDP flow counts (the flows map holds both
 * kinds and connected ones cannot be told apart from here); unconnected
 * ones end on their own when idle.  A connect that read the rules just
 * before they were removed may still be making a flow when it is detached:
 * the flows are counted again after the detach, and it is put back if one
 * appeared.
 *
 * The program is pinned as prog_sr_sock_release (the loader pins it and
 * does not attach it); its attachment is the pinned link
 * link_sr_sock_release, the name every earlier build used, so an earlier
 * layer, which kept it attached always, is taken over as it is, and an
 * upgrade swaps the link's program as any other's.  Before a detach the
 * link's own program is pinned again, so a later attach uses the program
 * that ran last (after an upgrade, the new build's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "internal.h"

#define PROG_PIN SOCKREDIR_PIN_DIR "/prog_sr_sock_release"
#define LINK_PIN SOCKREDIR_PIN_DIR "/link_sr_sock_release"
#define FLOWS_PIN SOCKREDIR_PIN_DIR "/sr_udp_flows"

int sr_release_is_prog(const char *name)
{
	return !strcmp(name, "sr_sock_release");
}

int sr_release_attached(void)
{
	return access(LINK_PIN, F_OK) == 0;
}

/* Can rule @r make a UDP flow? */
static int makes_udp(const struct sr_rule *r)
{
	return r->id && r->action == SR_ACT_REDIRECT &&
	       (r->protocol == 0 || r->protocol == IPPROTO_UDP);
}

/* Is any UDP flow live?  1, 0, or -errno. */
static int udp_flows_live(void)
{
	uint32_t key;
	int fd = bpf_obj_get(FLOWS_PIN), err;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;	/* a layer without UDP */
	err = 1;
	if (bpf_map_get_next_key(fd, NULL, &key))
		err = errno == ENOENT ? 0 : -errno;	/* ENOENT: empty */
	close(fd);
	return err;
}

static int attach(const struct sr_txn *t)
{
	int prog, cg, link, err = 0;

	prog = bpf_obj_get(PROG_PIN);
	if (prog < 0)
		return -errno;
	cg = open(t->cfg.cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		err = -errno;
		close(prog);
		return err;
	}
	link = bpf_link_create(prog, cg, BPF_CGROUP_INET_SOCK_RELEASE, NULL);
	if (link < 0)
		err = -errno;
	else if (bpf_obj_pin(link, LINK_PIN))
		err = -errno;
	if (link >= 0)
		close(link);	/* the pin holds it now */
	close(cg);
	close(prog);
	return err;
}

/* Pin the link's program as PROG_PIN, then unpin the link: detached. */
static int detach(void)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);
	int link, prog, err = 0;

	link = bpf_obj_get(LINK_PIN);
	if (link < 0)
		return errno == ENOENT ? 0 : -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link, &info, &len)) {
		err = -errno;
		goto out;
	}
	prog = bpf_prog_get_fd_by_id(info.prog_id);
	if (prog < 0) {
		err = -errno;
		goto out;
	}
	unlink(PROG_PIN);
	if (bpf_obj_pin(prog, PROG_PIN))
		err = -errno;
	close(prog);
	if (!err && unlink(LINK_PIN))
		err = -errno;
out:
	close(link);
	return err;
}

int sr_release_rules(struct sr_txn *t, const struct sr_rule_slot *keep,
		     size_t nkeep, const struct sr_rule *add, size_t nadd)
{
	size_t i;
	int err;

	t->rules_changed = 1;
	t->udp_rules = 0;
	for (i = 0; i < nkeep && !t->udp_rules; i++)
		t->udp_rules = makes_udp(&keep[i].rule);
	for (i = 0; i < nadd && !t->udp_rules; i++)
		t->udp_rules = makes_udp(&add[i]);
	if (!t->udp_rules || sr_release_attached())
		return 0;
	err = attach(t);
	if (!err)
		t->release_attached = 1;
	return err;
}

int sr_release_sync(struct sr_txn *t)
{
	int live;

	if (!t->rules_changed || t->udp_rules || !sr_release_attached())
		return 0;
	live = udp_flows_live();
	if (live)
		return live < 0 ? live : 0;
	live = detach();
	if (live)
		return live;
	/* A connect that read the old rules may have made one meanwhile. */
	live = udp_flows_live();
	return live ? (live < 0 ? live : attach(t)) : 0;
}

void sr_release_undo(struct sr_txn *t)
{
	/* Its rules are undone; a flow one made meanwhile keeps it. */
	if (t->release_attached) {
		t->udp_rules = 0;
		sr_release_sync(t);
	}
	t->release_attached = 0;
}

int sr_release_resync(struct sr_txn *t)
{
	struct sr_rule_slot *rules = NULL;
	int n = sr_rules_read(&t->m, &rules), err;

	if (n < 0)
		return n;
	err = sr_release_rules(t, rules, n, NULL, 0);
	t->release_attached = 0;	/* nothing to undo: no transaction */
	free(rules);
	if (!err)
		sr_release_sync(t);
	return err;
}
