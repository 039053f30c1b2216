-- wrk script of the benchmark's load test (tests/benchmarks/load.py).
-- Counts answers other than 200 (a redirect to the login page would otherwise look like a
-- success to wrk), and prints the run's summary as one JSON line with exact percentiles in
-- microseconds.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("not_ok") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50": %.1f, "p95": %.1f, '
    .. '"p99": %.1f, "max": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d, "not_200": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, bad))
end
