/*
 * signature.h
 *		The X-Fanfare-Signature of a webhook request.
 */
#ifndef RELAY_SIGNATURE_H
#define RELAY_SIGNATURE_H

#include <stddef.h>

/* "sha256=" and 64 hex digits, and the terminating zero */
#define SIGNATURE_LEN (7 + 64 + 1)

extern void signature_compute(const char *secret, const char *timestamp,
							  const char *body, size_t body_len,
							  char out[SIGNATURE_LEN]);

#endif
