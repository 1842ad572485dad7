/*
 * clock.h
 *		Milliseconds on CLOCK_MONOTONIC, for deadlines.
 */
#ifndef GATEWAY_CLOCK_H
#define GATEWAY_CLOCK_H

#include <time.h>

static inline double
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

#endif
