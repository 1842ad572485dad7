/*
 * reply.c
 *		Building replies, and the fixed error bodies of the contract.
 */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANNED(name, status, text) \
	void name(struct reply *reply) \
	{ \
		static const char body[] = "{\"error\":\"" text "\"}"; \
		reply_static(reply, status, body, sizeof(body) - 1); \
	}

CANNED(reply_authentication_required, 401, "Authentication required")
CANNED(reply_invalid_secret_key, 401, "Invalid secret key")
CANNED(reply_secret_key_required, 401, "Secret key required")
CANNED(reply_forbidden, 403, "Forbidden")
CANNED(reply_not_found, 404, "Not found")
CANNED(reply_unsupported_media_type, 415, "Unsupported media type")
CANNED(reply_payload_too_large, 413, "Payload too large")
CANNED(reply_internal_error, 500, "Internal server error")
CANNED(reply_idempotency_key_reused, 422, "This Idempotency-Key was used with a different request body")

/* 409 with Retry-After: the first request with the key is still running. */
void
reply_idempotency_key_in_use(struct reply *reply)
{
	static const char body[] = "{\"error\":\"A request with this Idempotency-Key is still in progress\"}";

	reply_static(reply, 409, body, sizeof(body) - 1);
	reply->retry_after = true;
}

/*
 * 429 with the extension's body, {"error":"Rate limit exceeded",
 * "retryAfter":N}, and Retry-After: N.
 */
void
reply_rate_limited(struct reply *reply, const char *body)
{
	const char *at = strstr(body, "\"retryAfter\":");
	int			seconds = at ? atoi(at + strlen("\"retryAfter\":")) : 0;

	reply_copy(reply, 429, body, strlen(body));
	if (reply->status != 429)
		return;
	reply->retry_after = true;
	reply->retry_after_s = seconds > 0 ? seconds : 1;
}

/* An empty reply (status 0 = none yet). */
void
reply_init(struct reply *reply)
{
	memset(reply, 0, sizeof(*reply));
}

/* Frees an owned body and empties the reply. */
void
reply_free(struct reply *reply)
{
	if (!reply->body_static)
		free(reply->body);
	reply_init(reply);
}

void
reply_static(struct reply *reply, unsigned int status, const char *body, size_t len)
{
	reply_free(reply);
	reply->status = status;
	reply->body = (char *) body;
	reply->body_len = len;
	reply->body_static = true;
}

void
reply_take(struct reply *reply, unsigned int status, char *body, size_t len)
{
	reply_free(reply);
	reply->status = status;
	reply->body = body;
	reply->body_len = len;
}

void
reply_copy(struct reply *reply, unsigned int status, const char *body, size_t len)
{
	char	   *copy = malloc(len + 1);

	if (copy == NULL)
	{
		reply_internal_error(reply);
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	reply_take(reply, status, copy, len);
}

/* 405 with the Allow header of the path. */
void
reply_method_not_allowed(struct reply *reply, const char *allow)
{
	static const char body[] = "{\"error\":\"Method not allowed\"}";

	reply_static(reply, 405, body, sizeof(body) - 1);
	reply->allow = allow;
}

/* 503 with Retry-After. */
void
reply_service_unavailable(struct reply *reply)
{
	static const char body[] = "{\"error\":\"Service unavailable\"}";

	reply_static(reply, 503, body, sizeof(body) - 1);
	reply->retry_after = true;
}
