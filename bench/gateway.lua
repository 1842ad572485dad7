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

-- FANFARE_BENCH_IDEMPOTENCY=RUN: every request carries its own
-- Idempotency-Key, RUN-thread-n, so each is a first request (stored), never
-- a replay.  Without it wrk sends its one pre-built request.
local run = os.getenv("FANFARE_BENCH_IDEMPOTENCY")
if run and run ~= "" then
   local threads = 0
   function setup(thread)
      threads = threads + 1
      thread:set("thread_number", threads)
   end
   local n = 0
   function request()
      n = n + 1
      wrk.headers["Idempotency-Key"] = run .. "-" .. thread_number .. "-" .. n
      return wrk.format()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT\t%d\t%.3f\t%.3f\t%.3f\t%d\n",
      summary.requests, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      e.status + e.connect + e.read + e.write + e.timeout))
end
