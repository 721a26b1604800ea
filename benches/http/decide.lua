-- wrk script for POST /v1/decide: every request is a sign-in attempt of one of
-- a million simulated users (user0@example.com .. user999999@example.com, the
-- names `palisade simulate` gives), from a random address and device, so the
-- engine looks up a warmed profile and scores every feature.
--
-- Environment: PALISADE_KEY (API key), RATE (requests/s over all connections;
-- unset = as fast as possible), CONNECTIONS (must equal wrk's -c when RATE is set).

local key = os.getenv("PALISADE_KEY") or ""
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "1")
local counter = 0
local thread_id = 0

setup = function(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

init = function(args)
  math.randomseed(os.time() + thread_id * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- With RATE set, each connection waits a random time between its requests,
-- exponentially distributed with its share of the interval as the mean, so
-- arrivals over all connections are close to a Poisson stream at RATE (a fixed
-- wait would send the connections in synchronised bursts). wrk measures
-- latency from when a request is sent, and its timers count whole
-- milliseconds, so the rate reached is printed, not assumed.
if rate > 0 then
  local interval_ms = connections * 1000 / rate
  delay = function()
    return math.floor(-math.log(1 - math.random()) * interval_ms + 0.5)
  end
end

local agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

request = function()
  counter = counter + 1
  local user = math.random(0, 999999)
  local body = string.format(
    '{"event_id":"load-%d-%d","kind":"sign_in","user":"user%d@example.com","user_exists":true,' ..
    '"ip":"%d.%d.%d.%d","outcome":"attempt","user_agent":"%s","device_id":"%08x%08x",' ..
    '"password_sha1":"%08X%08X%08X%08X%08X"}',
    thread_id, counter, user,
    math.random(1, 223), math.random(0, 255), math.random(0, 255), math.random(1, 254),
    agent, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    "requests %d in %.1f s: %.0f/s; latency p50 %d us, p90 %d us, p99 %d us, p99.9 %d us, max %d us; errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
