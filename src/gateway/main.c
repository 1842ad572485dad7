/*
 * main.c
 *		fanfare-gateway: settings, HTTP server and event loops, and waiting
 *		for SIGINT/SIGTERM to stop gracefully.
 *
 * The signals are blocked before any thread starts, so that every thread
 * inherits the mask and only sigtimedwait() below sees them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gateway.h"
#include "server.h"

int
main(int argc, char **argv)
{
	struct gateway_config config;
	struct gateway gw;
	sigset_t	stop_signals;
	unsigned int port = 0;
	int			sig = 0;

	switch (config_load(&config, argc, argv))
	{
		case CONFIG_OK:
			break;
		case CONFIG_EXIT_OK:
			return 0;
		case CONFIG_ERROR:
			return 2;
	}
	/*
	 * The access log is buffered: server.c flushes it whenever no request
	 * is in flight, and the loop below once a second, so a busy gateway
	 * writes lines in batches instead of one write() per request.
	 */
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	gw.config = &config;
	atomic_init(&gw.in_flight, 0);
	atomic_init(&gw.draining, false);
	if (!server_start(&gw, &port))
		return 1;
	fprintf(stderr, "fanfare-gateway: listening on %s (port %u), %d threads, %d database connections\n",
			config.listen, port, config.threads, config.pool_size);

	for (;;)
	{
		struct timespec second = {1, 0};

		sig = sigtimedwait(&stop_signals, NULL, &second);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		fflush(stdout);
	}
	fprintf(stderr, "fanfare-gateway: %s, finishing in-flight requests\n",
			sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_stop(&gw);
	fflush(stdout);
	fprintf(stderr, "fanfare-gateway: stopped\n");
	return 0;
}
