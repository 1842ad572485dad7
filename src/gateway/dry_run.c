/*
 * dry_run.c
 *		Prefer: tx=rollback on POST /consumers/batch.
 *
 * The request runs fanfare.api_import_consumers_dry_run instead of
 * api_import_consumers: the extension runs the real call and rolls it
 * back, so the answer (200 and its rows, or the 400 body, 401, ...) is the
 * real call's and nothing is stored.  The Idempotency-Key header is
 * ignored (a dry run neither records nor replays a key).  The statement is
 * prepared by the pool only when a dry run comes (db_pool.c prepares a
 * named statement on a connection's first job that runs it), so a gateway
 * in front of an extension without the function starts and serves the
 * real calls; a dry run there is a 501.
 */
#include "dry_run.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * The columns are those of the real statement (consumers_batch.c); the
 * tenant and the idempotency outcome were rolled back with the rest, so
 * they are empty.  The rate limit's charge is not rolled back: the dry run
 * reports it again after its rollback (fanfare.rate_limit_status).
 */
static const char dry_run_sql[] =
"SELECT fanfare.api_import_consumers_dry_run($1, $2), NULL::pg_catalog.text, NULL::pg_catalog.text,"
" pg_catalog.current_setting('fanfare.rate_limit_status', true)";

#define BYTEA_OID 17

static const Oid dry_run_types[2] = {0, BYTEA_OID};

/* id: unique among the gateway's named statements (db_pool.h), kept clear of 0 and 1 */
const struct db_statement dry_run_statement = {
	.id = 8,
	.name = "fanfare_gateway_dry_run",
	.sql = dry_run_sql,
	.nparams = 2,
	.types = dry_run_types,
};

/* Optional whitespace (RFC 9110): space or tab. */
static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Skips a quoted-string starting at p (on the quote); returns the char after it. */
static const char *
skip_quoted(const char *p)
{
	for (p++; *p != '\0' && *p != '"'; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return *p == '"' ? p + 1 : p;
}

/*
 * Whether one Prefer header value lists tx=rollback: preferences are
 * separated by commas, each a token, optionally "=" and a token or a
 * quoted-string, then ";" parameters, which are ignored.  The name is
 * case-insensitive; the value is compared as sent (RFC 7240, section 2).
 */
static bool
value_has_tx_rollback(const char *p)
{
	while (*p != '\0')
	{
		const char *name;
		size_t		name_len;
		const char *value = NULL;
		size_t		value_len = 0;

		while (is_ows(*p) || *p == ',')
			p++;
		name = p;
		while (*p != '\0' && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
			p++;
		name_len = (size_t) (p - name);
		while (is_ows(*p))
			p++;
		if (*p == '=')
		{
			p++;
			while (is_ows(*p))
				p++;
			if (*p == '"')
			{
				value = p + 1;
				p = skip_quoted(p);
				value_len = (size_t) (p - value) - (p[-1] == '"' ? 1 : 0);
			}
			else
			{
				value = p;
				while (*p != '\0' && *p != ';' && *p != ',' && !is_ows(*p))
					p++;
				value_len = (size_t) (p - value);
			}
		}
		if (name_len == 2 && strncasecmp(name, "tx", 2) == 0 &&
			value != NULL && value_len == 8 && strncmp(value, "rollback", 8) == 0)
			return true;
		/* the parameters, up to the next preference */
		while (*p != '\0' && *p != ',')
			p = *p == '"' ? skip_quoted(p) : p + 1;
	}
	return false;
}

/* MHD_get_connection_values callback: every Prefer header, until one has tx=rollback. */
static enum MHD_Result
look_at_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	bool	   *found = cls;

	(void) kind;
	if (key != NULL && value != NULL && strcasecmp(key, "Prefer") == 0 &&
		value_has_tx_rollback(value))
	{
		*found = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Whether the request asks for tx=rollback, in any of its Prefer headers. */
bool
dry_run_requested(struct MHD_Connection *connection)
{
	bool		found = false;

	MHD_get_connection_values(connection, MHD_HEADER_KIND, look_at_header, &found);
	return found;
}

/* A dry run the extension cannot do (42883: no such function) is a 501. */
bool
dry_run_missing(const PGresult *error, const char *request_id, struct reply *reply)
{
	static const char body[] =
		"{\"error\":\"Prefer: tx=rollback is not supported by this database (fanfare 0.3.0 or later is needed)\"}";
	const char *state = error ? PQresultErrorField(error, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL || strcmp(state, "42883") != 0)
		return false;
	fprintf(stderr, "fanfare-gateway: request_id=%s dry run: fanfare.api_import_consumers_dry_run does not exist\n",
			request_id);
	reply_static(reply, 501, body, sizeof(body) - 1);
	return true;
}
