"""Checks a /metrics exposition of fanfare-relay against what the suite saw
(test/webhooks/run.sh, t_metrics), with Prometheus' own parser.

    python3 metrics.py FILE EXPECT_JSON FORBIDDEN...

EXPECT_JSON: {"delivered": n, "retry": n, "failed": n, "gone": n,
"attempts": n}: the receiver's and the database's counts.  FORBIDDEN:
strings that must not be in the text (organization and endpoint ids, the
receiver's URL).  Prints "ok<TAB>name" or "fail<TAB>name<TAB>why" lines.
"""
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

# what a label value must never look like: a uuid, a fanfare id, a URL
LEAKY = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|^(whe|whk|whsec)_|://|^/", re.I)


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

    deliveries = families.get("fanfare_relay_deliveries")
    got = {s.labels.get("outcome"): s.value for s in deliveries.samples
           if s.name == "fanfare_relay_deliveries_total"} if deliveries else {}
    want = {k: expect[k] for k in ("delivered", "retry", "failed", "gone")}
    want["stale"] = 0
    report(deliveries is not None and deliveries.type == "counter" and got == want,
           "fanfare_relay_deliveries_total by outcome equals the receiver's answers (%s)"
           % ", ".join("%s %d" % (k, v) for k, v in want.items()),
           "got %r" % got)

    hist = families.get("fanfare_relay_attempt_duration_seconds")
    count, inf, bounds, prev, monotone = None, None, [], -1, True
    for s in hist.samples if hist else []:
        if s.name.endswith("_count"):
            count = s.value
        elif s.name.endswith("_bucket"):
            le = float(s.labels["le"])
            if le == math.inf:
                inf = s.value
            else:
                bounds.append(le)
            monotone = monotone and s.value >= prev
            prev = s.value
    report(hist is not None and hist.type == "histogram" and count == expect["attempts"] and inf == count,
           "the attempt histogram's _count equals the attempts recorded (%d)" % expect["attempts"],
           "count %r, +Inf %r" % (count, inf))
    report(monotone and bounds and min(bounds) == 0.005 and max(bounds) == 30,
           "its buckets are cumulative, from 5 ms to 30 s", "bounds %r" % bounds)

    gauges = {name: families.get(name) for name in
              ("fanfare_relay_requests_in_flight", "fanfare_relay_deliveries_pending")}
    values = {n: (f.samples[0].value if f and f.type == "gauge" and f.samples else None) for n, f in gauges.items()}
    report(all(v == 0 for v in values.values()),
           "the in-flight and pending gauges are there, and 0 once all is settled", "got %r" % values)

    leaks = sorted({v for f in families.values() for s in f.samples for k, v in s.labels.items()
                    if k != "le" and LEAKY.search(v)} | {x for x in forbidden if x and x in text})
    report(not leaks, "no label value is a uuid, an id or a URL; no tenant, endpoint or URL in the text",
           "found %r" % leaks)


main()
