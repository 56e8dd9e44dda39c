/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sockmaps.h - the layer's per-socket state maps, one per role
 * (sockredir_abi.h), declared once for both objects that use them: the
 * layer (its accessors are in sock.h, an earlier build's in legacy.h) and
 * the `flow list` iterator (flows.bpf.c), which the library points at the
 * layer's pinned maps.
 */
#ifndef SOCKREDIR_SOCKMAPS_H
#define SOCKREDIR_SOCKMAPS_H

#include "sockredir_abi.h"

/* A redirected socket's connection: small (kmalloc-192). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_conn);
} sr_conns SEC(".maps");

/* A proxy's accepted socket, with its flow. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_acc);
} sr_accepted SEC(".maps");

/* Records a proxy gave its onward socket (sockopt.h, forward.h). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_records);
} sr_given SEC(".maps");

/* The earlier builds' per-socket state (read only: legacy.h). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_sock);
} sr_socks SEC(".maps");

#endif
