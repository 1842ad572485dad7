/*
 * reply.h
 *		What a route answers: status, JSON body and the few headers that
 *		depend on the outcome.  server.c turns it into an HTTP response.
 */
#ifndef GATEWAY_REPLY_H
#define GATEWAY_REPLY_H

#include <stdbool.h>
#include <stddef.h>

struct reply
{
	unsigned int status;
	char	   *body;			/* owned (malloc) unless body_static */
	size_t		body_len;
	bool		body_static;	/* body points to constant data */
	const char *allow;			/* Allow header for 405, else NULL */
	const char *content_type;	/* NULL: application/json */
	bool		retry_after;	/* send Retry-After (503, 409, 429) */
	int			retry_after_s;	/* its seconds; 0: --retry-after's */
	bool		replayed;		/* send Idempotent-Replayed: true */
	bool		tx_rollback;	/* send Preference-Applied: tx=rollback */
};

extern void reply_init(struct reply *reply);
extern void reply_free(struct reply *reply);

/* constant body (not copied, never freed) */
extern void reply_static(struct reply *reply, unsigned int status,
						 const char *body, size_t len);

/* body that the reply now owns; it must come from malloc */
extern void reply_take(struct reply *reply, unsigned int status,
					   char *body, size_t len);

/* copies len bytes; on allocation failure the reply becomes a 500 */
extern void reply_copy(struct reply *reply, unsigned int status,
					   const char *body, size_t len);

/* the canned error bodies of the contract */
extern void reply_authentication_required(struct reply *reply);
extern void reply_invalid_secret_key(struct reply *reply);
extern void reply_secret_key_required(struct reply *reply);
extern void reply_forbidden(struct reply *reply);
extern void reply_not_found(struct reply *reply);
extern void reply_method_not_allowed(struct reply *reply, const char *allow);
extern void reply_unsupported_media_type(struct reply *reply);
extern void reply_payload_too_large(struct reply *reply);
extern void reply_service_unavailable(struct reply *reply);
extern void reply_internal_error(struct reply *reply);
extern void reply_idempotency_key_in_use(struct reply *reply);
extern void reply_idempotency_key_reused(struct reply *reply);

/* 429: the database's body, with Retry-After of its retryAfter */
extern void reply_rate_limited(struct reply *reply, const char *body);

#endif
