-- wrk script for the gateway part of bench/run.sh: every request POSTs the
-- same body (the file named by FANFARE_BENCH_BODY) to /consumers/batch with
-- the secret key FANFARE_BENCH_KEY.  The bodies carry no email, so repeated
-- requests never collide on the one-live-email-per-organization index.
-- At the end it prints one tab-separated line for run.sh:
--   RESULT requests duration_s p50_ms p99_ms errors
-- where errors counts non-2xx answers and socket errors.

local file = assert(io.open(os.getenv("FANFARE_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FANFARE_BENCH_KEY")

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT\t%d\t%.3f\t%.3f\t%.3f\t%d\n",
      summary.requests, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      e.status + e.connect + e.read + e.write + e.timeout))
end
