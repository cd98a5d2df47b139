/**
 * The one Lua script behind every Redis and Upstash decision: all policies of a request, evaluated
 * atomically and all-or-nothing. It is a line-by-line port of `policies/*.ts` and
 * `evaluatePolicies`: Lua 5.1 numbers are IEEE doubles like JavaScript's, so the same operations in
 * the same order give the same integers (every policy keeps its products below 2^53).
 *
 * KEYS[i]  the counter of policy i (all in one Cluster slot).
 * ARGV     cost, peek ('1' | '0'), nowMs ('' = the Redis server's TIME), ttlSlackMs,
 *          then four per policy: kind ('1' fixed, '2' sliding, '3' bucket),
 *          limit or capacity, windowMs or intervalMs, refillRate (0 for windows).
 * Returns  { nowMs, allowed, then per policy: allowed, remaining, resetAtMs, retryAfterMs },
 *          booleans as 1 / 0 and an infinite retryAfterMs as -1.
 *
 * State (one hash per key, decimal integers written by this script only):
 *   fixed window   w = window index, u = used
 *   sliding window w = window index, u = used in it, p = used in the previous window
 *   token bucket   t = tokens × intervalMs, at = epoch ms of the last charge
 * Every write sets a TTL (the transition's expiresAtMs); a denial heals a key found without one.
 */
export const DECIDE_SCRIPT = `local function floorDiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function ceilDiv(a, b)
  local q = floorDiv(a, b)
  if q * b == a then return q end
  return q + 1
end
local function int(x) return string.format('%.0f', x) end

local cost = tonumber(ARGV[1])
local peek = ARGV[2] == '1'
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local slack = tonumber(ARGV[4])
local INF = -1

local function fixed(limit, w, s, k)
  local window = math.floor(now / w)
  local used = 0
  local sw, su = tonumber(s[1]), tonumber(s[2])
  if sw ~= nil and su ~= nil and sw == window then used = su end
  local resetAt = (window + 1) * w
  if used + k <= limit then
    return { 1, limit - (used + k), resetAt, 0, { 'w', int(window), 'u', int(used + k) }, resetAt }
  end
  local retry = resetAt - now
  if k > limit then retry = INF end
  -- A tier downgrade can leave more used than this limit: never a negative remaining.
  return { 0, math.max(0, limit - used), resetAt, retry, nil, resetAt }
end

local function sliding(limit, w, s, k)
  local window = math.floor(now / w)
  local elapsed = now - window * w
  local used, prev = 0, 0
  local sw, su, sp = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
  if sw ~= nil and su ~= nil and sp ~= nil then
    if sw == window then
      used = su
      prev = sp
    elseif sw == window - 1 then
      prev = su
    end
  end
  local weighted = prev * (w - elapsed)
  local allowed = weighted + (used + k) * w <= limit * w
  local usedAfter = used
  if allowed then usedAfter = used + k end
  local remaining = math.min(limit, math.max(0, floorDiv(math.max(0, limit * w - weighted - usedAfter * w), w)))
  local resetAt = now
  if usedAfter > 0 then resetAt = (window + 2) * w elseif prev > 0 then resetAt = (window + 1) * w end
  local retry = 0
  if not allowed then
    if k > limit then
      retry = INF
    elseif used + k <= limit then
      local earliest = w - floorDiv((limit - used - k) * w, prev)
      retry = window * w + earliest - now
    else
      local earliest = math.max(0, w - floorDiv((limit - k) * w, used))
      retry = (window + 1) * w + earliest - now
    end
  end
  local a = 0
  if allowed then a = 1 end
  return { a, remaining, resetAt, retry, { 'w', int(window), 'u', int(usedAfter), 'p', int(prev) }, (window + 2) * w }
end

local function bucket(capacity, rate, iv, s, k)
  local full = capacity * iv
  local available = full
  local st, sat = tonumber(s[1]), tonumber(s[2])
  if st ~= nil and sat ~= nil then
    local elapsed = math.min(math.max(0, now - sat), ceilDiv(full, rate))
    available = math.min(full, st + elapsed * rate)
  end
  local need = k * iv
  local allowed = available >= need
  local after = available
  if allowed then after = available - need end
  local resetAt = now + ceilDiv(full - after, rate)
  local retry = 0
  if not allowed then
    if k > capacity then retry = INF else retry = ceilDiv(need - available, rate) end
  end
  local a = 0
  if allowed then a = 1 end
  return { a, floorDiv(after, iv), resetAt, retry, { 't', int(after), 'at', int(now) }, resetAt }
end

local n = #KEYS
local kinds, states, results = {}, {}, {}
local function decide(i, k)
  local b = 4 + (i - 1) * 4
  local kind, q, period, rate = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if kind == '1' then return fixed(q, period, states[i], k) end
  if kind == '2' then return sliding(q, period, states[i], k) end
  return bucket(q, rate, period, states[i], k)
end
local allowed = true
for i = 1, n do
  if ARGV[4 + (i - 1) * 4 + 1] == '3' then
    states[i] = redis.call('HMGET', KEYS[i], 't', 'at')
  else
    states[i] = redis.call('HMGET', KEYS[i], 'w', 'u', 'p')
  end
  results[i] = decide(i, cost)
  if results[i][1] == 0 then allowed = false end
end

local function ttl(expiresAt)
  return int(math.max(1, expiresAt - now) + slack)
end
if allowed then
  if not peek then
    for i = 1, n do
      redis.call('HSET', KEYS[i], unpack(results[i][5]))
      redis.call('PEXPIRE', KEYS[i], ttl(results[i][6]))
    end
  end
else
  -- All-or-nothing: the policies that would admit report their quota uncharged.
  for i = 1, n do
    if results[i][1] == 1 then results[i] = decide(i, 0) end
    if not peek and states[i][1] ~= false and redis.call('PTTL', KEYS[i]) == -1 then
      redis.call('PEXPIRE', KEYS[i], ttl(results[i][6]))
    end
  end
end

local reply = { now, 0 }
if allowed then reply[2] = 1 end
for i = 1, n do
  local r = results[i]
  reply[#reply + 1] = r[1]
  reply[#reply + 1] = r[2]
  reply[#reply + 1] = r[3]
  reply[#reply + 1] = r[4]
end
return reply
`

/** SHA1 of `DECIDE_SCRIPT`, the name EVALSHA runs it by (a test recomputes it). */
export const DECIDE_SHA1 = '92404ccf2fa52218e19fe49708ac8ed5b3035488'
