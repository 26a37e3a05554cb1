-- wrk script: authenticated, idempotent, individually requested transfers among the
-- customers listed in customers.txt (one "token email" per line, made by http-load.sh).
-- Each request has its own Idempotency-Key; senders and payees are picked at random.
local customers = {}
local counter = 0
local thread_id = 0
local run = "0"

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end

function init(args)
  local path = args[1] or "customers.txt"
  for line in io.lines(path) do
    local token, email = line:match("^(%S+)%s+(%S+)$")
    if token then customers[#customers + 1] = { token = token, email = email } end
  end
  -- Every wrk process and thread needs its own sequence: identical seeds would send identical
  -- requests (same sender, same key) from two processes, and the second would only be a replay.
  local urandom = io.open("/dev/urandom", "rb")
  local bytes = urandom:read(6)
  urandom:close()
  local seed = 0
  for i = 1, #bytes do seed = seed * 256 + bytes:byte(i) end
  math.randomseed(seed)
  run = string.format("%x", seed)
end

function request()
  counter = counter + 1
  local from = math.random(#customers)
  local to = math.random(#customers - 1)
  if to >= from then to = to + 1 end
  local body = string.format('{"to":{"email":"%s"},"amount":%d,"currency":"CNY"}', customers[to].email, math.random(100))
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. customers[from].token,
    ["Idempotency-Key"] = string.format("wrk-%s-%d-%d", run, id or 0, counter),
  }
  return wrk.format("POST", "/v1/transfers", headers, body)
end

-- The first few refusals are printed (to stderr), so an error count comes with its reasons.
local refusals_shown = 0
function response(status, headers, body)
  if status >= 300 and refusals_shown < 5 then
    refusals_shown = refusals_shown + 1
    io.stderr:write(string.format("HTTP %d: %s\n", status, body:sub(1, 300)))
  end
end

done = function(summary, latency, requests)
  local codes = {}
  io.write(string.format("requests %d, errors (non-2xx or socket) %d\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in ipairs({ 50, 90, 99 }) do
    io.write(string.format("p%d %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
