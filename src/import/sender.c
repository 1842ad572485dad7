/*
 * sender.c
 *	  Batches over HTTP: libcurl's multi interface, up to --concurrency
 *	  requests in flight on kept-alive connections.
 *
 * Each request is POST url with the secret key as a bearer token, the body
 * as application/json and the batch's Idempotency-Key.  The answer's
 * status and body go back into the batch, with the headers the import
 * paces itself by: Retry-After and X-RateLimit-Limit, -Remaining and
 * -Reset.  A transport error (refused, reset, timed out) is status 0.
 * With --dry-run each request has Prefer: tx=rollback and no
 * Idempotency-Key, and whether its answer says Preference-Applied:
 * tx=rollback is kept.
 */
#include "import.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct sender
{
	CURLM	   *multi;
	struct sender_options opts;
	char	   *auth_header;
	int			in_flight;
	CURL	  **idle;			/* easy handles to reuse */
	int			nidle;
};

/*
 * The answer's body, appended to the batch.  A 2xx body is read only when
 * the import needs it (--output, --dry-run's probe): a 200 for 500 rows is
 * the 500 consumers, several times the request, and copying it into a
 * growing buffer was most of the importer's CPU.  The buffer is sized by
 * Content-Length when the answer has one, and kept for the batch's next
 * request.
 */
static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct batch *b = data;
	size_t		n = size * nmemb;

	if (!b->keep_2xx_body)
	{
		long		status = 0;

		curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			return n;
	}
	if (b->resp_len + n + 1 > b->resp_cap)
	{
		size_t		cap = b->resp_cap ? b->resp_cap : 16 * 1024;
		curl_off_t	length = -1;

		curl_easy_getinfo(b->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
		if (length > 0 && (size_t) length + 1 > cap)
			cap = (size_t) length + 1;
		while (cap < b->resp_len + n + 1)
			cap *= 2;
		b->resp = realloc(b->resp, cap);
		if (b->resp == NULL)
			return 0;
		b->resp_cap = cap;
	}
	memcpy(b->resp + b->resp_len, ptr, n);
	b->resp_len += n;
	b->resp[b->resp_len] = '\0';
	return n;
}

/* a header's value as a number, if line is that header */
static bool
header_number(const char *line, size_t len, const char *name, double *value)
{
	size_t		nlen = strlen(name);
	char		text[64];

	if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return false;
	len -= nlen + 1;
	if (len >= sizeof(text))
		return false;
	memcpy(text, line + nlen + 1, len);
	text[len] = '\0';
	*value = strtod(text, NULL);
	return true;
}

/* whether line is a Preference-Applied header that lists tx=rollback */
static bool
is_tx_rollback_applied(const char *line, size_t len)
{
	static const char name[] = "Preference-Applied:";
	const size_t nlen = sizeof(name) - 1;
	char		text[256];
	char	   *p;
	char	   *save = NULL;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0)
		return false;
	len -= nlen;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, line + nlen, len);
	text[len] = '\0';
	/* a list of preferences: tx=rollback as one of them */
	for (p = strtok_r(text, ", \t\r\n", &save); p != NULL; p = strtok_r(NULL, ", \t\r\n", &save))
		if (strcasecmp(p, "tx=rollback") == 0 || strcasecmp(p, "tx=\"rollback\"") == 0)
			return true;
	return false;
}

/* the headers the import paces itself by, and Preference-Applied */
static size_t
on_header(char *line, size_t size, size_t nmemb, void *data)
{
	struct batch *b = data;
	size_t		n = size * nmemb;
	double		v;

	if (header_number(line, n, "Retry-After", &v))
		b->retry_after = v;
	else if (header_number(line, n, "X-RateLimit-Limit", &v))
		b->rl_limit = (long) v;
	else if (header_number(line, n, "X-RateLimit-Remaining", &v))
		b->rl_remaining = (long) v;
	else if (header_number(line, n, "X-RateLimit-Reset", &v))
		b->rl_reset = v;
	else if (is_tx_rollback_applied(line, n))
		b->tx_rollback = true;
	return n;
}

/* A sender for opts (the strings must outlive it). */
struct sender *
sender_new(const struct sender_options *opts)
{
	struct sender *s = calloc(1, sizeof(*s));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	s->opts = *opts;
	s->multi = curl_multi_init();
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) opts->concurrency);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long) opts->concurrency);
	if (asprintf(&s->auth_header, "Authorization: Bearer %s", opts->key) < 0)
		s->auth_header = NULL;
	s->idle = calloc(opts->concurrency + 1, sizeof(CURL *));
	return s;
}

/* Sends b's body (batch_build made it). */
void
sender_start(struct sender *s, struct batch *b)
{
	CURL	   *easy = s->nidle > 0 ? s->idle[--s->nidle] : curl_easy_init();
	struct curl_slist *h = NULL;
	char		idem[160];

	h = curl_slist_append(h, s->auth_header);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (s->opts.dry_run)
		h = curl_slist_append(h, "Prefer: tx=rollback");
	if (s->opts.idempotency)
	{
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", b->key);
		h = curl_slist_append(h, idem);
	}
	b->resp_len = 0;
	b->status = 0;
	b->retry_after = -1;
	b->rl_limit = b->rl_remaining = -1;
	b->rl_reset = -1;
	b->tx_rollback = false;
	b->keep_2xx_body = s->opts.want_2xx_body;
	curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_URL, s->opts.url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, b->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) b->body_len);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, b);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, s->opts.timeout);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	/* a 200 is the batch's consumers: read it in few recv calls */
	curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "fanfare-import/" IMPORT_VERSION);
	b->easy = easy;
	b->headers = h;
	b->state = B_IN_FLIGHT;
	curl_multi_add_handle(s->multi, easy);
	s->in_flight++;
}

/* Lets the requests just started leave now, without waiting. */
void
sender_kick(struct sender *s)
{
	int			running;

	curl_multi_perform(s->multi, &running);
}

/* Waits up to ms for answers; fills answered, returns how many. */
int
sender_wait(struct sender *s, int ms, struct batch **answered, int max)
{
	int			running;
	int			n = 0;
	CURLMsg    *msg;
	int			left;

	curl_multi_perform(s->multi, &running);
	/* waits ms even with nothing in flight: a pause for a backoff or a rate limit */
	curl_multi_poll(s->multi, NULL, 0, ms, NULL);
	curl_multi_perform(s->multi, &running);
	while (n < max && (msg = curl_multi_info_read(s->multi, &left)) != NULL)
	{
		struct batch *b = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &b);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &b->status);
		else
		{
			b->status = 0;
			b->resp_len = 0;
		}
		curl_multi_remove_handle(s->multi, msg->easy_handle);
		curl_slist_free_all(b->headers);
		b->headers = NULL;
		s->idle[s->nidle++] = msg->easy_handle;
		b->easy = NULL;
		s->in_flight--;
		answered[n++] = b;
	}
	return n;
}

/* Requests sent and not yet answered. */
int
sender_in_flight(const struct sender *s)
{
	return s->in_flight;
}

/* Frees the sender and its connections. */
void
sender_free(struct sender *s)
{
	while (s->nidle > 0)
		curl_easy_cleanup(s->idle[--s->nidle]);
	curl_multi_cleanup(s->multi);
	free(s->auth_header);
	free(s->idle);
	free(s);
	curl_global_cleanup();
}
