"""HTTP side of test/ratelimit/run.sh: requests fast enough to fill a short
window, and the checks on their answers.

    python3 client.py sequence PORT,PORT KEY LIMIT WINDOW
    python3 client.py retry PORT,PORT KEY LIMIT WINDOW
    python3 client.py concurrent PORT,PORT KEY CLIENTS PER_CLIENT

Prints one line per check, "ok<TAB>name" or "fail<TAB>name<TAB>why", and
facts the shell needs as "fact<TAB>name<TAB>value".
"""
import http.client
import json
import sys
import threading
import time

ONE = b'{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}'
INVALID = b'{"consumers":[{}]}'


def post(port, key, body, headers=None):
    """One POST /consumers/batch on a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", "/consumers/batch", body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, data


def report(ok, name, why=""):
    print(("ok\t%s" % name) if ok else ("fail\t%s\t%s" % (name, why)), flush=True)


def fresh_window(window):
    """Waits until a window has just begun."""
    while int(time.time()) % window != 0:
        time.sleep(0.02)


def sequence(ports, key, limit, window):
    """Exactly the limit per window over both gateways, then 429s."""
    fresh_window(window)
    start = int(time.time())
    reset = start - start % window + window
    bad = None
    for i in range(1, limit + 1):
        invalid = i % 10 == 0  # a 400 counts as well
        st, h, _ = post(ports[i % 2], key, INVALID if invalid else ONE,
                        {"Idempotency-Key": "a-%d" % i})
        want = 400 if invalid else 200
        got = (st, h.get("x-ratelimit-limit"), h.get("x-ratelimit-remaining"),
               h.get("x-ratelimit-reset"))
        if got != (want, str(limit), str(limit - i), str(reset)):
            bad = "request %d: got %r, want %r" % (i, got, (want, str(limit), str(limit - i), str(reset)))
            break
    report(bad is None and int(time.time()) < reset,
           "%d requests (200s and 400s), Remaining %d down to 0, Reset %d" % (limit, limit - 1, reset),
           bad or "the requests took longer than the window")
    why = None
    for i in range(4):
        st, h, body = post(ports[i % 2], key, ONE, {"Idempotency-Key": "over-%d" % i})
        now = int(time.time())
        retry = h.get("retry-after")
        want_body = b'{"error":"Rate limit exceeded","retryAfter":%s}' % (retry or "").encode()
        if (st != 429 or h.get("x-ratelimit-remaining") != "0" or h.get("x-ratelimit-limit") != str(limit)
                or h.get("x-ratelimit-reset") != str(reset) or retry is None
                or not (reset - now <= int(retry) <= reset - now + 1) or body != want_body):
            why = "status %d, headers %r, now %d, body %r" % (st, h, now, body[:200])
            break
    report(why is None, "past the limit: 429, Remaining 0, Retry-After = Reset - now, the contract's body", why)
    print("fact\tresponses\t%d" % (limit - limit // 10), flush=True)


def retry(ports, key, limit, window):
    """A client that waits Retry-After out gets a 200 in the next window."""
    st, h, _ = post(ports[1], key, ONE)
    if st != 429:
        report(False, "still limited before waiting", "status %d" % st)
        return
    wait = int(h["retry-after"])
    reset = int(h["x-ratelimit-reset"])
    time.sleep(wait)
    st, h, _ = post(ports[0], key, ONE)
    report(st == 200 and h.get("x-ratelimit-remaining") == str(limit - 1)
           and h.get("x-ratelimit-reset") == str(reset + window),
           "waiting Retry-After (%d s) gives a 200 in the next window" % wait,
           "status %d, headers %r" % (st, h))


def concurrent(ports, key, clients, per_client, window):
    """clients threads, per_client requests each; 200s counted per window."""
    fresh_window(window)
    answers = []
    lock = threading.Lock()

    def client(n):
        for i in range(per_client):
            st, h, _ = post(ports[(n + i) % 2], key, ONE)
            with lock:
                answers.append((st, h.get("x-ratelimit-reset")))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_window = {}
    for st, reset in answers:
        if st == 200:
            per_window[reset] = per_window.get(reset, 0) + 1
    others = [st for st, _ in answers if st not in (200, 429)]
    print("fact\tcreated\t%d" % sum(per_window.values()), flush=True)
    print("fact\tmost\t%d" % max(per_window.values() or [0]), flush=True)
    print("fact\tothers\t%d" % len(others), flush=True)


def main():
    mode, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
    key = sys.argv[3]
    if mode == "sequence":
        sequence(ports, key, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "retry":
        retry(ports, key, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "concurrent":
        concurrent(ports, key, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))


if __name__ == "__main__":
    main()
