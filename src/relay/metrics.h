/*
 * metrics.h
 *		fanfare-relay's Prometheus metrics (--metrics-listen).
 */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stdbool.h>

extern void metrics_outcome(const char *outcome);
extern void metrics_attempt(double seconds);
extern void metrics_gauges(int in_flight, int pending);
extern bool metrics_start(const char *listen);
extern void metrics_stop(void);

#endif
