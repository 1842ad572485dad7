/*
 * shard_error.c
 *	  A shard's error, raised on the router as the shard raised it.
 *
 * PL/Proxy re-raises an error of the remote database with the remote
 * SQLSTATE but rewritten text:
 *
 *		message  "<function>(<nargs>): [<dbname>] REMOTE <severity>: <message>"
 *		detail   "Remote detail: <detail>"
 *		hint     "Remote hint: <hint>"
 *
 * and its own failures to reach a partition (connection refused, a
 * connection lost mid-query, its timeouts) as XX000 "PL/Proxy function
 * <function>(<nargs>): ...".  fanfare's clients tell errors apart by
 * SQLSTATE and forward the DETAIL of a 400 byte for byte, so the router's
 * functions catch what PL/Proxy raises and call
 * fanfare_router.raise_shard_error() with it: the shard's own message,
 * detail and hint come back unchanged, and a shard that cannot be reached
 * is 08006 (connection_failure), which the gateway answers with 503.
 *
 * What PL/Proxy and libpq say about an unreachable shard names it: host,
 * address, port, database.  That is for the router's operator, not for an
 * API client (PostgREST hands DETAIL to HTTP clients): the client gets
 * "shard unavailable" and nothing else, the server log gets the original
 * text as the error's errdetail_log.
 *
 * Telling PL/Proxy's wrapping from the remote text is done on text, since
 * PL/Proxy keeps no other trace of it: the prefixes above are PL/Proxy
 * 2.10's (src/main.c, plproxy_remote_error and plproxy_error_with_state),
 * and the connection-loss messages are libpq's.  The router's tests check
 * them against the PL/Proxy that is installed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

#define REMOTE_MARK		"] REMOTE "
#define REMOTE_DETAIL	"Remote detail: "
#define REMOTE_HINT		"Remote hint: "
#define PLPROXY_MARK	"PL/Proxy function "
#define UNAVAILABLE		"shard unavailable"

/*
 * What a partition that cannot be reached looks like: PL/Proxy's own
 * messages, and libpq's for a connection that broke (these reach PL/Proxy
 * as a remote error without a SQLSTATE, which it reports as XX000).
 */
static const char *const unreachable[] = {
	"PQconnectPoll",
	"PQconnectStart",
	"connect timeout",
	"query timeout",
	"Lost result",
	"Unfinished connection",
	"detected unstable connection",
	"server closed the connection unexpectedly",
	"could not receive data from server",
	"could not send data to server",
	"no connection to the server",
	"connection to server",
	"terminating connection",
	NULL
};

/* The text after prefix when s starts with it, else s. */
static const char *
strip_prefix(const char *s, const char *prefix)
{
	size_t		len = strlen(prefix);

	return strncmp(s, prefix, len) == 0 ? s + len : s;
}

/*
 * The remote message in a PL/Proxy remote error, or NULL when message is
 * not one: what follows "] REMOTE <severity>: ".  The severity is the
 * remote server's word in its own language, so it is skipped up to ": ".
 */
static const char *
remote_message(const char *message)
{
	const char *mark = strstr(message, REMOTE_MARK);
	const char *colon;

	if (mark == NULL)
		return NULL;
	colon = strstr(mark + strlen(REMOTE_MARK), ": ");
	return colon == NULL ? NULL : colon + 2;
}

static bool
is_unreachable(const char *message)
{
	for (int i = 0; unreachable[i] != NULL; i++)
		if (strstr(message, unreachable[i]) != NULL)
			return true;
	return false;
}

/* A text argument; NULL for SQL NULL and for '' (GET STACKED DIAGNOSTICS' "none"). */
static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *s = PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

PG_FUNCTION_INFO_V1(fanfare_router_raise_shard_error);

/*
 * fanfare_router.raise_shard_error(sqlstate text, message text, detail
 * text, hint text): raises the error these describe (what a PL/pgSQL
 * handler read with GET STACKED DIAGNOSTICS), unwrapped as above.  An
 * error that PL/Proxy did not wrap is raised as it is.
 *
 * The DETAIL of fanfare's 22xxx errors is a client's 400 body: as on a
 * shard, it goes to the client only, and the server log gets a note
 * instead.  The context of the caller (the router's PL/pgSQL) is left out,
 * as a single node's C functions add none.
 */
Datum
fanfare_router_raise_shard_error(PG_FUNCTION_ARGS)
{
	char	   *state = text_arg(fcinfo, 0);
	char	   *message = text_arg(fcinfo, 1);
	char	   *detail = text_arg(fcinfo, 2);
	char	   *hint = text_arg(fcinfo, 3);
	const char *remote;
	int			sqlstate;
	bool		client_body;
	char	   *unreachable_text = NULL;

	if (state == NULL || strlen(state) != 5 || message == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("raise_shard_error needs a SQLSTATE of five characters and a message")));
	sqlstate = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);

	remote = remote_message(message);
	if (remote != NULL)
	{
		message = (char *) remote;
		if (detail != NULL)
			detail = (char *) strip_prefix(detail, REMOTE_DETAIL);
		if (hint != NULL)
			hint = (char *) strip_prefix(hint, REMOTE_HINT);
		if (sqlstate == ERRCODE_INTERNAL_ERROR && is_unreachable(message))
			unreachable_text = text_arg(fcinfo, 1);
	}
	else if (sqlstate == ERRCODE_INTERNAL_ERROR &&
			 strncmp(message, PLPROXY_MARK, strlen(PLPROXY_MARK)) == 0 &&
			 is_unreachable(message))
		unreachable_text = message;

	if (unreachable_text != NULL)
	{
		/* the shard's whereabouts go to the server log only */
		error_context_stack = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg(UNAVAILABLE),
				 errdetail_log("PL/Proxy: %s%s%s", unreachable_text,
							   detail ? " " : "", detail ? detail : "")));
	}

	client_body = ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_DATA_EXCEPTION && detail != NULL;
	error_context_stack = NULL;
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 client_body ? errdetail_log("The client got the shard's 400 body (%zu bytes); the shard's log has its summary.",
										 strlen(detail)) : 0,
			 hint ? errhint("%s", hint) : 0));
	PG_RETURN_VOID();
}
