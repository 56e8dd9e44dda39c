/* SPDX-License-Identifier: MIT */
/*
 * quic.c - open a QUIC v1 client Initial (RFC 9001 §5) and read the SNI of
 * its ClientHello.  Every length in the packet is the sender's word, so
 * each is checked against what is left before it is used; a packet that
 * fails any check, or does not open, names no host.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "quic.h"

#define QUIC_V1		0x00000001u
#define CID_MAX		20
#define TAG_LEN		16
#define HELLO_MAX	4096	/* CRYPTO bytes from offset 0 we look at */

/* RFC 9001 §5.2 */
static const unsigned char initial_salt[20] = {
	0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};

/* A variable-length integer (RFC 9000 §16) at *@off, or -1 if cut short. */
static int varint(const unsigned char *p, size_t len, size_t *off, uint64_t *v)
{
	size_t n, i;

	if (*off >= len)
		return -1;
	n = (size_t)1 << (p[*off] >> 6);
	if (len - *off < n)
		return -1;
	*v = p[*off] & 0x3f;
	for (i = 1; i < n; i++)
		*v = *v << 8 | p[*off + i];
	*off += n;
	return 0;
}

/* HKDF (RFC 5869) with SHA-256: extract when @info is NULL, else expand. */
static int hkdf(const unsigned char *key, size_t keylen,
		const unsigned char *salt, size_t saltlen,
		const unsigned char *info, size_t infolen,
		unsigned char *out, size_t outlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok = c && EVP_PKEY_derive_init(c) > 0 &&
		 EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_key(c, key, keylen) > 0;

	if (ok && !info)
		ok = EVP_PKEY_CTX_hkdf_mode(c, EVP_PKEY_HKDEF_MODE_EXTRACT_ONLY) > 0 &&
		     EVP_PKEY_CTX_set1_hkdf_salt(c, salt, saltlen) > 0;
	else if (ok)
		ok = EVP_PKEY_CTX_hkdf_mode(c, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) > 0 &&
		     EVP_PKEY_CTX_add1_hkdf_info(c, info, infolen) > 0;
	ok = ok && EVP_PKEY_derive(c, out, &outlen) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* HKDF-Expand-Label (RFC 8446 §7.1) with an empty context. */
static int expand_label(const unsigned char secret[32], const char *label,
			unsigned char *out, size_t outlen)
{
	unsigned char info[64];
	size_t n = strlen(label);

	info[0] = outlen >> 8;
	info[1] = outlen;
	info[2] = 6 + n;
	memcpy(info + 3, "tls13 ", 6);
	memcpy(info + 9, label, n);
	info[9 + n] = 0;
	return hkdf(secret, 32, NULL, 0, info, 10 + n, out, outlen);
}

struct keys {
	unsigned char key[16], iv[12], hp[16];
};

static int client_keys(const unsigned char *dcid, size_t n, struct keys *k)
{
	unsigned char initial[32], client[32];

	return hkdf(dcid, n, initial_salt, sizeof(initial_salt), NULL, 0,
		    initial, sizeof(initial)) ||
	       expand_label(initial, "client in", client, sizeof(client)) ||
	       expand_label(client, "quic key", k->key, sizeof(k->key)) ||
	       expand_label(client, "quic iv", k->iv, sizeof(k->iv)) ||
	       expand_label(client, "quic hp", k->hp, sizeof(k->hp)) ? -1 : 0;
}

/* The header protection mask (RFC 9001 §5.4.3): AES-128-ECB of @sample. */
static int hp_mask(const unsigned char hp[16], const unsigned char *sample,
		   unsigned char mask[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok = c &&
		EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, hp, NULL) > 0 &&
		EVP_CIPHER_CTX_set_padding(c, 0) > 0 &&
		EVP_EncryptUpdate(c, mask, &n, sample, 16) > 0 && n == 16;

	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/*
 * Open the payload: AES-128-GCM, the header (first byte and packet number
 * unmasked, @first and @pn[]) as associated data.  @out gets @ctlen bytes.
 */
static int open_payload(const struct keys *k, const unsigned char *p,
			size_t pn_off, unsigned char first,
			const unsigned char *pn, size_t pn_len, uint64_t pnum,
			const unsigned char *ct, size_t ctlen, unsigned char *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char nonce[12];
	int n, ok, i;

	memcpy(nonce, k->iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= pnum >> (8 * i);
	ok = c && EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL) > 0 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) > 0 &&
	     EVP_DecryptInit_ex(c, NULL, NULL, k->key, nonce) > 0 &&
	     EVP_DecryptUpdate(c, NULL, &n, &first, 1) > 0 &&
	     EVP_DecryptUpdate(c, NULL, &n, p + 1, pn_off - 1) > 0 &&
	     EVP_DecryptUpdate(c, NULL, &n, pn, pn_len) > 0 &&
	     EVP_DecryptUpdate(c, out, &n, ct, ctlen) > 0 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				 (void *)(ct + ctlen)) > 0 &&
	     EVP_DecryptFinal_ex(c, out + n, &n) > 0;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/*
 * The CRYPTO frames of payload @f (@len bytes) laid out by offset in
 * @hello: returns how many bytes from offset 0 are there without a gap.
 * Frames a client's first Initial may carry besides (PADDING, PING, ACK)
 * are stepped over; any other type ends the walk.
 */
static size_t crypto_prefix(const unsigned char *f, size_t len,
			    unsigned char hello[HELLO_MAX])
{
	unsigned char have[HELLO_MAX] = {};
	size_t off = 0, n = 0;
	uint64_t type, a, b, i;

	while (off < len) {
		if (varint(f, len, &off, &type))
			break;
		if (type == 0x00 || type == 0x01)	/* PADDING, PING */
			continue;
		if (type == 0x02 || type == 0x03) {	/* ACK */
			uint64_t ranges, v;

			if (varint(f, len, &off, &v) || varint(f, len, &off, &v) ||
			    varint(f, len, &off, &ranges) || varint(f, len, &off, &v) ||
			    ranges > len)
				break;
			for (i = 0; i < 2 * ranges; i++)
				if (varint(f, len, &off, &v))
					return 0;
			for (i = 0; type == 0x03 && i < 3; i++)
				if (varint(f, len, &off, &v))
					return 0;
			continue;
		}
		if (type != 0x06)			/* CRYPTO */
			break;
		if (varint(f, len, &off, &a) || varint(f, len, &off, &b) ||
		    b > len - off)
			break;
		for (i = 0; i < b && a + i < HELLO_MAX; i++) {
			hello[a + i] = f[off + i];
			have[a + i] = 1;
		}
		off += b;
	}
	while (n < HELLO_MAX && have[n])
		n++;
	return n;
}

bool quic_initial_sni(const unsigned char *p, size_t len,
		      char host[SNIFF_HOST_MAX])
{
	unsigned char mask[16], first, pn[4], hello[HELLO_MAX], *out;
	size_t off, pn_off, pn_len, end, i, n;
	uint64_t token, plen, pnum = 0;
	struct keys k;

	host[0] = '\0';
	/* long header, fixed bit, type Initial (RFC 9000 §17.2.2), v1 */
	if (len < 7 || (p[0] & 0xf0) != 0xc0 ||
	    ((uint32_t)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4]) != QUIC_V1)
		return false;
	off = 5;
	if (p[off] > CID_MAX || len - off - 1 < p[off])
		return false;
	off += 1 + p[off];				/* DCID */
	if (off >= len || p[off] > CID_MAX || len - off - 1 < p[off])
		return false;
	off += 1 + p[off];				/* SCID */
	if (varint(p, len, &off, &token) || token > len - off)
		return true;
	off += token;
	if (varint(p, len, &off, &plen) || plen > len - off)
		return true;
	pn_off = off;
	end = off + plen;	/* coalesced packets after it are not read */
	/* The sample starts 4 bytes past the packet number's first. */
	if (end - pn_off < 4 + 16 || client_keys(p + 6, p[5], &k) ||
	    hp_mask(k.hp, p + pn_off + 4, mask))
		return true;
	first = p[0] ^ (mask[0] & 0x0f);
	pn_len = (first & 3) + 1;
	for (i = 0; i < pn_len; i++) {
		pn[i] = p[pn_off + i] ^ mask[1 + i];
		pnum = pnum << 8 | pn[i];
	}
	n = end - pn_off - pn_len - TAG_LEN;	/* >= 0: sample check above */
	out = malloc(n ? n : 1);
	if (!out)
		return true;
	if (!open_payload(&k, p, pn_off, first, pn, pn_len, pnum,
			  p + pn_off + pn_len, n, out)) {
		size_t hl = crypto_prefix(out, n, hello);

		if (hl)
			sniff_hello(hello, hl, host);
	}
	free(out);
	return true;
}
