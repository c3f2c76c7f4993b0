-- Shared by the wrk scripts (loaded with require from this folder): keeps each thread so that
-- done() can add up per-thread counters, and prints one machine-readable RESULT line.

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

local function thread_sum(name)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + (thread:get(name) or 0)
   end
   return total
end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local errors = summary.errors
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f status_errors=%d socket_errors=%d p50_ms=%.3f p99_ms=%.3f created=%d\n",
      summary.requests, seconds, summary.requests / seconds, errors.status,
      errors.connect + errors.read + errors.write + errors.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      thread_sum("created")))
end
