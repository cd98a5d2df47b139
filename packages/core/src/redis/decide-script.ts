/**
 * The one Lua script behind every Redis and Upstash decision: all policies of a request, evaluated
 * atomically and all-or-nothing. It is a line-by-line port of `policies/*.ts` and
 * `evaluatePolicies`: Lua 5.1 numbers are IEEE doubles like JavaScript's, so the same operations in
 * the same order give the same integers (every policy keeps its products below 2^53).
 *
 * It is written for speed, since Redis runs it on every request: EVALSHA re-runs the whole chunk,
 * so it defines no functions (each would be a closure allocated per call) and inlines `floorDiv` /
 * `ceilDiv`; a fixed window's counter is one HGET and one HINCRBY, the others' one GET and one
 * SET … PX.
 *
 * One call decides a batch of requests, one after the other, each all-or-nothing on its own: the
 * store sends the decisions started in the same tick together (one command, one reply), and a
 * request later in a batch sees the writes of those before it, exactly as if each were sent alone.
 *
 * KEYS     the counters of every request in order, one per policy (a Cluster client sends one
 *          request per call, so all keys of a call share one slot).
 * ARGV     nowMs and ttlSlackMs, both '' for the Redis server's TIME and no slack (an injected
 *          clock sends them); the batch's deadline, epoch ms on the Redis server's clock (TIME,
 *          whatever the clock of the decisions), 0 for none; then one argument per request:
 *          `<cost>[p][:<policies>]`, `p` for a
 *          peek, and its policies as `kind limit period rate;` per policy (kind 1 fixed,
 *          2 sliding, 3 bucket; limit or capacity; windowMs or intervalMs; refillRate, 0 for
 *          windows), left out when they are the previous request's (the first always has them).
 *          The usual request is the single character `1`: cost 1, no peek, the same policies.
 * Returns  { nowMs, then per request and policy: allowed, remaining, resetAtMs - nowMs,
 *          retryAfterMs, then (an injected clock only) the server's TIME in ms }, booleans as
 *          1 / 0 and an infinite retryAfterMs as -1; on the server's clock nowMs is its TIME. A
 *          batch that runs at or past its deadline reads and writes nothing and returns
 *          { -1, TIME in ms }: the store has answered its requests as failures already (a Redis
 *          that hung, then ran the commands waiting on its sockets), so they must not count.
 *
 * State (written by this script only; a key of another type reads as no state):
 *   fixed window   a hash: field `<window index>` → units used in that window, so a write is one
 *                  HINCRBY (the key's TTL is set at its first write in a window, and it expires
 *                  with the window)
 *   sliding window `s<window index>:<used in it>:<used in the previous window>`
 *   token bucket   `b<tokens × intervalMs>:<epoch ms of the last charge>:<epoch ms of its expiry>`
 *                  (past which it reads as a full bucket: when it is full under the capacities that
 *                  charged it, see keptUntil). On the server's clock the key expires then; under
 *                  an injected clock it outlives it by the slack. A value without the third field
 *                  (an earlier version's) expires with its key.
 * and one string per key for the others. Every key gets a TTL (the transition's expiresAtMs)
 * when written (a fixed window's, at its first write in a window); a denial heals a key found
 * without one. A fixed window that lost its TTL still counts each window afresh.
 */
export const DECIDE_SCRIPT = `local now, slack, deadline = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Past its deadline the store has answered the batch's requests as failures: count none of them.
if deadline ~= nil and deadline > 0 and server >= deadline then return { -1, server } end
-- An injected clock's keys outlive their expiry by the slack, so a bucket's value carries it.
local stamped = now ~= nil
-- Whole quotients of exact integers (doubles below 2^53): a float division's floor can be one off.
local function floordiv(x, y)
  local d = math.floor(x / y)
  if d * y > x then d = d - 1 elseif (d + 1) * y <= x then d = d + 1 end
  return d
end
local function ceildiv(x, y)
  local d = floordiv(x, y)
  if d * y ~= x then d = d + 1 end
  return d
end
if not stamped then
  now, slack = server, 0
end

-- fld, win: a fixed window's field name and window index, per policy of the request.
local pol, raw, fld, win, out, put = {}, {}, {}, {}, { now }, {}
-- k0: keys of the requests before this one; o: their last result's index in out (1: nowMs).
-- A request names its policy list only when it differs from the one before, and the list is
-- parsed again only then.
local k0, o, n, parsed = 0, 1, 0, nil
for d0 = 4, #ARGV do
  local r = ARGV[d0]
  local cost, peek, spec = 1, false, ''
  if r ~= '1' then
    local c, p
    c, p, spec = string.match(r, '^(%d+)(p?):?(.*)$')
    if c == nil then return redis.error_reply('ERR Floodgate: malformed request ' .. r) end
    cost, peek = tonumber(c), p == 'p'
  end
  if spec ~= '' and spec ~= parsed then
    local pos = 1
    n = 0
    while pos <= #spec do
      local _, e, kind, q, period, rate = string.find(spec, '^(%d) (%d+) (%d+) (%d+);', pos)
      if e == nil then return redis.error_reply('ERR Floodgate: malformed policy list ' .. spec) end
      pos = e + 1
      n = n + 1
      local b = 4 * n
      pol[b - 3], pol[b - 2], pol[b - 1], pol[b] = kind, tonumber(q), tonumber(period), tonumber(rate)
    end
    parsed = spec
  elseif parsed == nil then
    return redis.error_reply('ERR Floodgate: the first request of a batch carries no policy list')
  end
  for i = 1, n do
    -- pcall: a key of another type (an older Floodgate's state) reads as no state and is overwritten.
    -- Any other error (NOPERM from an ACL, say) fails the call: read as no state, it would admit all.
    local b = 4 * i
    if pol[b - 3] == '1' then
      -- A fixed window reads only its current window's field.
      win[i] = math.floor(now / pol[b - 1])
      fld[i] = string.format('%.0f', win[i])
      raw[i] = redis.pcall('HGET', KEYS[k0 + i], fld[i])
    else
      raw[i] = redis.pcall('GET', KEYS[k0 + i])
    end
    local e = type(raw[i]) == 'table' and raw[i].err
    if e and string.sub(e, 1, 9) ~= 'WRONGTYPE' then return redis.error_reply(e) end
  end

  local allowed = true
  for pass = 1, 2 do
    for i = 1, n do
      local b = 4 * i
      if pass == 1 or out[o + b - 3] == 1 then
        local k = cost
        if pass == 2 then k = 0 end
        local kind, q, w, s = pol[b - 3], pol[b - 2], pol[b - 1], raw[i]
        if type(s) ~= 'string' then s = '' end
        local a, remaining, resetAt, retry, expiresAt, value = 0, 0, 0, 0, 0, nil
        if kind == '1' then
          local window = win[i]
          local used = tonumber(s) or 0
          resetAt = (window + 1) * w
          expiresAt = resetAt
          if used + k <= q then
            a, remaining = 1, q - (used + k)
          else
            -- A tier downgrade can leave more used than this limit: never a negative remaining.
            remaining = math.max(0, q - used)
            retry = resetAt - now
            if k > q then retry = -1 end
          end
        elseif kind == '2' then
          local window = math.floor(now / w)
          local elapsed = now - window * w
          local used, prev = 0, 0
          local sw, su, sp = string.match(s, '^s(%d+):(%d+):(%d+)$')
          if sw ~= nil then
            sw = tonumber(sw)
            if sw == window then
              used, prev = tonumber(su), tonumber(sp)
            elseif sw == window - 1 then
              prev = tonumber(su)
            end
          end
          local weighted = prev * (w - elapsed)
          local usedAfter = used
          if weighted + (used + k) * w <= q * w then
            a = 1
            usedAfter = used + k
          end
          local x = math.max(0, q * w - weighted - usedAfter * w)
          remaining = math.min(q, math.max(0, floordiv(x, w)))
          resetAt = now
          if usedAfter > 0 then resetAt = (window + 2) * w elseif prev > 0 then resetAt = (window + 1) * w end
          expiresAt = (window + 2) * w
          if a == 0 then
            if k > q then
              retry = -1
            elseif used + k <= q then
              retry = window * w + (w - floordiv((q - used - k) * w, prev)) - now
            else
              retry = (window + 1) * w + math.max(0, w - floordiv((q - k) * w, used)) - now
            end
          elseif pass == 1 and not peek then
            value = string.format('s%.0f:%.0f:%.0f', window, usedAfter, prev)
          end
        else
          -- Token bucket: q = capacity, w = intervalMs; tokens are kept × intervalMs.
          local rate = pol[b]
          local full = q * w
          local available = full
          -- The third field, the bucket's expiry: after it, a full bucket (an earlier version's value
          -- without it expires with its key).
          local st, sat, sx = string.match(s, '^b(%d+):(%d+):?(%d*)$')
          if st ~= nil and sx ~= '' and tonumber(sx) < now then st = nil end
          if st ~= nil then
            local cap = ceildiv(full, rate)
            available = math.min(full, tonumber(st) + math.min(math.max(0, now - tonumber(sat)), cap) * rate)
          end
          local need = k * w
          local after = available
          if available >= need then
            a = 1
            after = available - need
          end
          resetAt = now + ceildiv(full - after, rate)
          expiresAt = resetAt
          -- Kept until full under the capacity its expiry was set for, when larger than this one
          -- (keptUntil in token-bucket.ts): later by the refill time of what this charge takes and
          -- of what this smaller capacity cut off the refill since.
          if a == 1 and st ~= nil and sx ~= '' then
            local prev, tp, t0 = tonumber(sx), tonumber(st), tonumber(sat)
            if prev > t0 + ceildiv(math.max(0, full - tp), rate) then
              local refilled = math.min(2251799813685248, tp + math.max(0, now - t0) * rate)
              local kept = prev + ceildiv(math.max(0, refilled - after), rate)
              if kept > expiresAt then expiresAt = kept end
            end
          end
          remaining = floordiv(after, w)
          if a == 0 then
            if k > q then
              retry = -1
            else
              retry = ceildiv(need - available, rate)
            end
            -- A denial leaves the state as it is, and past its expiry it reads as a full bucket
            -- (the key is gone, or its third field says so): no later than that instant + 1 ms.
            if st ~= nil then
              local ex = nil
              if sx ~= '' then
                ex = tonumber(sx)
              elseif not stamped then
                -- The key's own expiry instant (Redis 7); before that, from its TTL.
                ex = redis.pcall('PEXPIRETIME', KEYS[k0 + i])
                if type(ex) ~= 'number' then
                  local ttl = redis.call('PTTL', KEYS[k0 + i])
                  ex = now + ttl
                  if ttl < 0 then ex = -1 end
                end
                if ex < 0 then ex = nil end
              end
              if ex ~= nil then
                if resetAt > ex + 1 then resetAt = ex + 1 end
                if retry ~= -1 and now + retry > ex + 1 then retry = ex + 1 - now end
              end
            end
          elseif pass == 1 and not peek then
            value = string.format('b%.0f:%.0f:%.0f', after, now, expiresAt)
          end
        end
        out[o + b - 3], out[o + b - 2], out[o + b - 1], out[o + b] = a, remaining, resetAt - now, retry
        put[i], put[n + i] = value, expiresAt
        if a == 0 then allowed = false end
      end
    end
    if allowed then break end
  end

  if peek then
    -- Peeking writes nothing.
  elseif allowed then
    for i = 1, n do
      local key, ttl = KEYS[k0 + i], math.max(1, put[n + i] - now) + slack
      if pol[4 * i - 3] == '1' then
        -- One HINCRBY of the window's field; its first write in a window also sets the TTL, and
        -- the key expires with the window. A key can outlive its window: an injected clock's slack,
        -- or on the server's clock a write in the next window's first ms (Redis expires a key only
        -- after its time), which a busy key gets in every window. So a window's first write drops
        -- the fields older than the window before: a key holds at most three.
        if type(raw[i]) == 'table' then redis.call('DEL', key) end
        redis.call('HINCRBY', key, fld[i], string.format('%.0f', cost))
        if not raw[i] or type(raw[i]) == 'table' then
          redis.call('PEXPIRE', key, string.format('%.0f', ttl))
          if redis.call('HLEN', key) > 2 then
            local keep = win[i] - 1
            for _, f in ipairs(redis.call('HKEYS', key)) do
              if tonumber(f) < keep then redis.call('HDEL', key, f) end
            end
          end
        end
      else
        redis.call('SET', key, put[i], 'PX', string.format('%.0f', ttl))
      end
    end
  else
    -- A denial writes nothing, but heals a key it finds without a TTL (a restore, a PERSIST).
    for i = 1, n do
      if raw[i] and redis.call('PTTL', KEYS[k0 + i]) == -1 then
        redis.call('PEXPIRE', KEYS[k0 + i], string.format('%.0f', math.max(1, put[n + i] - now) + slack))
      end
    end
  end
  k0, o = k0 + n, o + 4 * n
end
-- Under an injected clock, the server's time too: the store learns its clock from every reply.
if stamped then out[o + 1] = server end
return out
`

/** SHA1 of `DECIDE_SCRIPT`, the name EVALSHA runs it by (a test recomputes it). */
export const DECIDE_SHA1 = 'eac7a464e913f6e696947312724318e6e66f0ac1'
