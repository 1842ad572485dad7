"""Checks a /metrics exposition of fanfare-gateway against the requests
the suite sent (test/ratelimit/run.sh), with Prometheus' own parser.

    python3 metrics.py FILE EXPECT_JSON FORBIDDEN...

EXPECT_JSON: {"requests": {"ROUTE STATUS": n, ...}, "created": n,
"replays": n, "rate_limited": n}.  FORBIDDEN: strings that must not be in
the text (organization ids, keys).  Prints "ok<TAB>name" or
"fail<TAB>name<TAB>why" lines.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def report(ok, name, why=""):
    print(("ok\t%s" % name) if ok else ("fail\t%s\t%s" % (name, why)), flush=True)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    expect = json.loads(sys.argv[2])
    forbidden = sys.argv[3:]
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser's own complaint
        report(False, "the exposition parses (prometheus_client.parser)", repr(e))
        return
    report(True, "the exposition parses (prometheus_client.parser): %d families" % len(families))

    hist = families.get("http_server_request_duration_seconds")
    counts, buckets, bounds = {}, {}, set()
    for s in hist.samples if hist else []:
        key = "%s %s" % (s.labels.get("http_route"), s.labels.get("http_response_status_code"))
        if s.name.endswith("_count"):
            counts[key] = counts.get(key, 0) + s.value
        elif s.name.endswith("_bucket"):
            series = (key, s.labels["http_request_method"])
            buckets.setdefault(series, []).append((float(s.labels["le"]), s.value))
            bounds.add(float(s.labels["le"]))
    want = expect["requests"]
    got = {k: int(v) for k, v in counts.items() if k in want}
    report(got == want, "requests by route and status (the histogram's _count) equal what was sent",
           "got %r, want %r" % (counts, want))
    monotonic = all(all(a[1] <= b[1] for a, b in zip(v, v[1:])) for v in buckets.values())
    report(monotonic and min(bounds) == 0.005 and 10.0 in bounds and float("inf") in bounds,
           "buckets from 5 ms to 10 s (and +Inf), cumulative", "bounds %r" % sorted(bounds))

    def value(name, labels=None):
        f = families.get(name)
        for s in f.samples if f else []:
            if labels is None or all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return None

    for name, family, labels in (("created", "fanfare_consumers_created", None),
                                 ("replays", "fanfare_idempotent_replays", None),
                                 ("rate_limited", "fanfare_rate_limited_requests", None)):
        got = value(family, labels)
        report(got == expect[name], "%s_total = %d" % (family, expect[name]), "got %r" % got)
    pool = [value(n) for n in ("fanfare_db_pool_max", "fanfare_db_pool_available", "fanfare_db_pool_waiting")]
    report(None not in pool and pool[0] >= 1 and value("http_server_active_requests") is not None
           and value("fanfare_unavailable_responses", {"cause": "pool_timeout"}) == 0,
           "pool gauges, active requests and 503s by cause are there", "pool %r" % pool)
    leaked = [f for f in forbidden if f and f in text]
    report(not leaked, "no organization id or key in any label", "found %r" % leaked)


if __name__ == "__main__":
    main()
