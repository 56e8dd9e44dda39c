/* SPDX-License-Identifier: MIT */
/*
 * share.h - how many live flows each application has, so that one cannot
 * take more than its share of the relay.  An application is a uid in a
 * cgroup, as the redirect context names them.
 */
#ifndef RELAY_SHARE_H
#define RELAY_SHARE_H

#include <stdint.h>

struct share;

/* At most @cap flows per application.  NULL and errno on failure. */
struct share *share_new(unsigned int cap);
void share_free(struct share *s);

/* Count one more flow for the app: 0, -EUSERS at its cap, or -ENOMEM. */
int share_take(struct share *s, uint32_t uid, uint64_t cgroup);
/* That flow ended. */
void share_put(struct share *s, uint32_t uid, uint64_t cgroup);

#endif
