/*
 * signature.c
 *		HMAC-SHA256 signatures, as Fanfare's webhook documentation gives them.
 *
 * The key is the endpoint's secret string as it is (whsec_ included); the
 * message is the X-Fanfare-Timestamp value, a period and the raw body.
 */
#include "signature.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* Writes "sha256=<hex>" of timestamp "." body under secret into out. */
void
signature_compute(const char *secret, const char *timestamp,
				  const char *body, size_t body_len, char out[SIGNATURE_LEN])
{
	static const char hex[] = "0123456789abcdef";
	static EVP_MAC *hmac;		/* fetched once, kept */
	char		digest[] = "SHA256";
	OSSL_PARAM	params[2];
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t		mac_len = 0;
	EVP_MAC_CTX *ctx = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (hmac == NULL)
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	/* streamed, so that the message is never copied whole */
	if (hmac == NULL || (ctx = EVP_MAC_CTX_new(hmac)) == NULL ||
		!EVP_MAC_init(ctx, (const unsigned char *) secret, strlen(secret), params) ||
		!EVP_MAC_update(ctx, (const unsigned char *) timestamp, strlen(timestamp)) ||
		!EVP_MAC_update(ctx, (const unsigned char *) ".", 1) ||
		!EVP_MAC_update(ctx, (const unsigned char *) body, body_len) ||
		!EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) || mac_len != 32)
		mac_len = 0;
	EVP_MAC_CTX_free(ctx);

	memcpy(out, "sha256=", 7);
	for (unsigned int i = 0; i < 32; i++)
	{
		/* a failed HMAC yields a signature no receiver accepts */
		out[7 + 2 * i] = mac_len ? hex[mac[i] >> 4] : '0';
		out[8 + 2 * i] = mac_len ? hex[mac[i] & 15] : '0';
	}
	out[SIGNATURE_LEN - 1] = '\0';
}
