-- wrk script for GET /range/{prefix}: every request asks a random 5-hex-digit
-- prefix, as a HIBP client checking a random password would. PADDING=1 adds
-- `Add-Padding: true`.
local padding = os.getenv("PADDING") == "1"

init = function(args)
  math.randomseed(os.time())
  if padding then
    wrk.headers["Add-Padding"] = "true"
  end
end

request = function()
  return wrk.format("GET", string.format("/range/%05X", math.random(0, 0xFFFFF)))
end

done = function(summary, latency, requests)
  io.write(string.format(
    "requests %d in %.1f s: %.0f/s, %.1f MB/s; latency p50 %d us, p90 %d us, p99 %d us, max %d us; errors: status %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.bytes / summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status))
end
