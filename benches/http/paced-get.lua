-- wrk script: GET at a paced rate, the same way decide.lua paces (RATE over
-- CONNECTIONS connections, exponential waits), to measure what the client,
-- loopback and machine add to any request.
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "1")
if rate > 0 then
  local interval_ms = connections * 1000 / rate
  delay = function()
    return math.floor(-math.log(1 - math.random()) * interval_ms + 0.5)
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    "requests %d in %.1f s: %.0f/s; latency p50 %d us, p90 %d us, p99 %d us, p99.9 %d us, max %d us\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
