/*
 * metrics_page.c
 *		A libmicrohttpd daemon, on a thread of its own, that answers
 *		GET (or HEAD) /metrics with what a render function makes, and 404 to
 *		anything else.  The gateway and the relay serve their --metrics-listen
 *		with it; neither touches the database for it.
 */
#include "metrics_page.h"

#include <stdlib.h>
#include <string.h>

const char	metrics_page_content_type[] = "text/plain; version=0.0.4; charset=utf-8";

/* what the one daemon of a process serves */
static struct
{
	metrics_page_render render;
	void	   *arg;
}			page;

/* One answer: the page, 404 for another path or method, 500 without memory. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *connection, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **req_cls)
{
	struct MHD_Response *response;
	enum MHD_Result queued;
	unsigned int status = 200;
	size_t		len = 0;
	char	   *text = NULL;

	(void) cls;
	(void) version;
	(void) upload_data;
	if (*req_cls == NULL)
	{
		*req_cls = (void *) 1;	/* headers only: answer on the next call */
		return MHD_YES;
	}
	if (*upload_data_size != 0)
	{
		*upload_data_size = 0;	/* a body is ignored */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0 || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		status = 404;
	else if ((text = page.render(page.arg, &len)) == NULL)
		status = 500;
	if (status == 200)
		response = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	else
		response = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
	if (response == NULL)
	{
		free(text);
		return MHD_NO;
	}
	if (status == 200)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, metrics_page_content_type);
	queued = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return queued;
}

/*
 * Starts serving the page on addr (16 connections, 10 s idle timeout);
 * NULL if the daemon cannot start.  logger gets libmicrohttpd's messages.
 * One such daemon per process.
 */
struct MHD_Daemon *
metrics_page_start(const struct sockaddr_storage *addr, metrics_page_render render, void *arg,
				   MHD_LogCallback logger)
{
	page.render = render;
	page.arg = arg;
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
							(addr->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
							0, NULL, NULL, on_request, NULL,
							MHD_OPTION_EXTERNAL_LOGGER, logger, NULL,
							MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) addr,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 16,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
							MHD_OPTION_END);
}
