/*
 * metrics_render.c
 *		bench/ratelimit.sh's timing of GET /metrics: every series the
 *		gateway can have (route x method x status) filled, then the
 *		exposition rendered N times.  Prints samples and ms per render.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "metrics.h"

/* no pools here: the gateway's own is in db_pool.c */
void
db_pool_stats(struct db_pool *pool, struct db_pool_stats *stats)
{
	(void) pool;
	(void) stats;
}

int
main(int argc, char **argv)
{
	static const char *const routes[] = {"/consumers/batch", "/healthz", "/ready", "/live",
	"/openapi.json", "/metrics", NULL};
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT"};
	static const unsigned int statuses[] = {200, 400, 401, 403, 404, 405, 408, 409, 413, 414,
	415, 422, 429, 431, 500, 503, 599};
	int			n = argc > 1 ? atoi(argv[1]) : 1000;
	struct gateway_config config;
	struct gateway gw;
	struct timespec a, b;
	size_t		len = 0;
	long		samples = 0;

	memset(&config, 0, sizeof(config));
	memset(&gw, 0, sizeof(gw));
	gw.config = &config;
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++)
		for (size_t m = 0; m < 4; m++)
			for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++)
				metrics_request(routes[r], methods[m], statuses[s], 0.001 * (double) (r + m + s));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
	{
		char	   *text = metrics_render(&gw, &len);

		if (i == 0)
			for (size_t j = 0; j < len; j++)
				samples += text[j] == '\n' && j + 1 < len && text[j + 1] != '#';
		free(text);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# /metrics: %ld samples (%zu bytes) rendered in %.3f ms each (%.3f ms per 10000 samples; target < 5 ms)\n",
		   samples, len, ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n,
		   ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n * 10000.0 / (double) samples);
	return 0;
}
