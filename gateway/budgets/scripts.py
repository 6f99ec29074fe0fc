"""The Lua scripts the Redis store runs: each one a single atomic step on every bucket it names.

Keys (all under the store's prefix, one hash tag so a cluster keeps them on one node):

    res                 sorted set: reservation id -> expiry (ms, Redis's clock)
    r:<id>              hash: usd, tok, day, month, and the scopes it holds a slot in
                        (slots), reserved money in (money), took tpm tokens from (tpm)
    b:<scope>           hash: rate buckets; r = requests left, t = tokens left (+ `@` the
                        moment of that level, `#` the limit)
    c:<scope>           calls in flight
    u:<scope>:<period>  hash: spent, reserved (integer pico-USD)

Buckets refill continuously (the whole limit per minute). Every script first purges expired
reservations (their slots and reserved money return), so a crashed gateway leaks nothing.
Money is added with HINCRBY on integer strings, so stored sums are exact; comparisons run on
Lua's doubles (exact below about 9,000 USD per period).
"""

from __future__ import annotations

COMMON = """
local P = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local WINDOW = 60000

local function split(text)
  local out = {}
  if not text then return out end
  for part in string.gmatch(text, '[^\\n]+') do out[#out + 1] = part end
  return out
end

local function int(x)
  return string.format('%d', x)
end

local function level(bucket, field, cap)
  local v = redis.call('HMGET', bucket, field, field .. '@')
  if not v[1] then return cap end
  local left = tonumber(v[1]) + (now - tonumber(v[2])) * cap / WINDOW
  if left > cap then return cap end
  return left
end

local function set_level(bucket, field, left, cap)
  redis.call('HSET', bucket, field, tostring(left), field .. '@', now, field .. '#', cap)
  redis.call('PEXPIRE', bucket, WINDOW * 2)
end

local function money(scope, period, field, amount)
  local key = P .. 'u:' .. scope .. ':' .. period
  redis.call('HINCRBY', key, field, amount)
  if string.sub(period, 1, 1) == 'd' then
    redis.call('EXPIRE', key, 3 * 86400)
  else
    redis.call('EXPIRE', key, 40 * 86400)
  end
end

local function free_slot(scope)
  local key = P .. 'c:' .. scope
  if redis.call('DECR', key) <= 0 then redis.call('DEL', key) end
end

local function drop(id)
  local key = P .. 'r:' .. id
  local r = redis.call('HMGET', key, 'usd', 'tok', 'day', 'month', 'slots', 'money', 'tpm')
  redis.call('ZREM', P .. 'res', id)
  if not r[1] then return nil end
  redis.call('DEL', key)
  for _, scope in ipairs(split(r[5])) do free_slot(scope) end
  if r[1] ~= '0' then
    for _, scope in ipairs(split(r[6])) do
      money(scope, r[3], 'reserved', '-' .. r[1])
      money(scope, r[4], 'reserved', '-' .. r[1])
    end
  end
  return r
end

local function purge()
  local expired = redis.call('ZRANGEBYSCORE', P .. 'res', '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(expired) do drop(id) end
end

local function window(win, cap, left)
  local remaining = math.floor(left)
  if remaining < 0 then remaining = 0 end
  if win[1] == 0 or remaining < win[2] then
    return {cap, remaining, math.ceil((cap - left) * WINDOW / cap)}
  end
  return win
end
"""

# ARGV: prefix, id, ttl_ms, usd, tokens, slot (1|0), day, month, n, then per rule: scope, rpm,
# tpm, concurrency, usd_per_day, usd_per_month (0 / -1: not set).
# -> {admitted (1|0), limit, scope, retry_ms (-1: when the period ends), requests window (limit,
#    remaining, reset_ms), tokens window}
ADMIT = COMMON + """
purge()
local id, ttl, usd, tok = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local cost, slot, day, month = tonumber(usd), ARGV[6] == '1', ARGV[7], ARGV[8]
local worst = nil
local function refuse(rank, retry, limit, scope)
  if worst == nil or rank > worst[1] or (rank == worst[1] and retry > worst[2]) then
    worst = {rank, retry, limit, scope}
  end
end
local rules = {}
for i = 0, tonumber(ARGV[9]) - 1 do
  local b = 10 + i * 6
  local scope = ARGV[b]
  local rpm, tpm, conc = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local budgets = {{day, tonumber(ARGV[b + 4]), 'usd_per_day', 1},
                   {month, tonumber(ARGV[b + 5]), 'usd_per_month', 2}}
  local bucket = P .. 'b:' .. scope
  local rule = {scope = scope}
  if rpm > 0 then
    local left = level(bucket, 'r', rpm)
    if left < 1 then refuse(0, math.ceil((1 - left) * WINDOW / rpm), 'rpm', scope) end
    rule.r = {left, rpm}
  end
  if tpm > 0 and tok > 0 then
    local need = math.min(tok, tpm)
    local left = level(bucket, 't', tpm)
    if left < need then refuse(0, math.ceil((need - left) * WINDOW / tpm), 'tpm', scope) end
    rule.t = {left, tpm, need}
  end
  if conc > 0 and slot then
    if tonumber(redis.call('GET', P .. 'c:' .. scope) or '0') >= conc then
      refuse(0, 1000, 'concurrency', scope)
    end
    rule.c = true
  end
  for _, budget in ipairs(budgets) do
    if budget[2] >= 0 then
      rule.u = true
      local v = redis.call('HMGET', P .. 'u:' .. scope .. ':' .. budget[1], 'spent', 'reserved')
      local spent, reserved = tonumber(v[1] or '0'), tonumber(v[2] or '0')
      if spent + reserved + cost > budget[2] then
        if spent + cost > budget[2] then
          refuse(budget[4], -1, budget[3], scope)
        else
          refuse(0, 1000, budget[3], scope)
        end
      end
    end
  end
  rules[#rules + 1] = rule
end
local requests, tokens = {0, 0, 0}, {0, 0, 0}
if worst then
  for _, rule in ipairs(rules) do
    if rule.r then requests = window(requests, rule.r[2], rule.r[1]) end
    if rule.t then tokens = window(tokens, rule.t[2], rule.t[1]) end
  end
  return {0, worst[3], worst[4], worst[2], requests[1], requests[2], requests[3],
          tokens[1], tokens[2], tokens[3]}
end
local slots, moneys, tpms = {}, {}, {}
for _, rule in ipairs(rules) do
  local bucket = P .. 'b:' .. rule.scope
  if rule.r then
    set_level(bucket, 'r', rule.r[1] - 1, rule.r[2])
    requests = window(requests, rule.r[2], rule.r[1] - 1)
  end
  if rule.t then
    set_level(bucket, 't', rule.t[1] - rule.t[3], rule.t[2])
    tokens = window(tokens, rule.t[2], rule.t[1] - rule.t[3])
    tpms[#tpms + 1] = rule.scope
  end
  if rule.c then
    redis.call('INCR', P .. 'c:' .. rule.scope)
    slots[#slots + 1] = rule.scope
  end
  if rule.u and cost > 0 then
    money(rule.scope, day, 'reserved', usd)
    money(rule.scope, month, 'reserved', usd)
    moneys[#moneys + 1] = rule.scope
  end
end
redis.call('HSET', P .. 'r:' .. id, 'usd', usd, 'tok', int(tok), 'day', day, 'month', month,
           'slots', table.concat(slots, '\\n'), 'money', table.concat(moneys, '\\n'),
           'tpm', table.concat(tpms, '\\n'))
redis.call('ZADD', P .. 'res', now + ttl, id)
return {1, '', '', 0, requests[1], requests[2], requests[3], tokens[1], tokens[2], tokens[3]}
"""

# ARGV: prefix, ids...
RELEASE = COMMON + """
for i = 2, #ARGV do
  local key = P .. 'r:' .. ARGV[i]
  local held = redis.call('HGET', key, 'slots')
  if held and held ~= '' then
    for _, scope in ipairs(split(held)) do free_slot(scope) end
    redis.call('HSET', key, 'slots', '')
  end
end
return 1
"""

# ARGV: prefix, then per bill: id, usd, tokens, day, month, scopes (joined by newlines),
# parent ('' for none), share.
SETTLE = COMMON + """
purge()
for b = 2, #ARGV, 8 do
  local id, usd, tok, day, month = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3],
                                   ARGV[b + 4]
  local parent, share = ARGV[b + 6], tonumber(ARGV[b + 7])
  local r = drop(id)
  if r then
    local unused = tonumber(r[2]) - tok
    if unused > 0 then
      for _, scope in ipairs(split(r[7])) do
        local bucket = P .. 'b:' .. scope
        local cap = tonumber(redis.call('HGET', bucket, 't#') or '0')
        if cap > 0 then
          set_level(bucket, 't', math.min(cap, level(bucket, 't', cap) + unused), cap)
        end
      end
    end
  elseif parent ~= '' and share > 0 then
    local key = P .. 'r:' .. parent
    local p = redis.call('HMGET', key, 'usd', 'day', 'month', 'money')
    if p[1] then
      local amount = int(math.min(share, tonumber(p[1])))
      local rest = redis.call('HINCRBY', key, 'usd', '-' .. amount)
      for _, scope in ipairs(split(p[4])) do
        money(scope, p[2], 'reserved', '-' .. amount)
        money(scope, p[3], 'reserved', '-' .. amount)
      end
      if rest <= 0 then drop(parent) end
    end
  end
  if usd ~= '0' then
    for _, scope in ipairs(split(ARGV[b + 5])) do
      money(scope, day, 'spent', usd)
      money(scope, month, 'spent', usd)
    end
  end
end
return 1
"""

# ARGV: prefix, ttl_ms, ids...
RENEW = COMMON + """
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV do redis.call('ZADD', P .. 'res', 'XX', now + ttl, ARGV[i]) end
return 1
"""

# ARGV: prefix, day, month, n, then per rule: scope, rpm, tpm.
# -> per rule: spent_day, reserved_day, spent_month, reserved_month (strings), in flight,
#    requests (limit, remaining, reset_ms), tokens (limit, remaining, reset_ms)
USAGE = COMMON + """
purge()
local out = {}
for i = 0, tonumber(ARGV[4]) - 1 do
  local b = 5 + i * 3
  local scope, rpm, tpm = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local d = redis.call('HMGET', P .. 'u:' .. scope .. ':' .. ARGV[2], 'spent', 'reserved')
  local m = redis.call('HMGET', P .. 'u:' .. scope .. ':' .. ARGV[3], 'spent', 'reserved')
  local bucket = P .. 'b:' .. scope
  local requests, tokens = {0, 0, 0}, {0, 0, 0}
  if rpm > 0 then requests = window(requests, rpm, level(bucket, 'r', rpm)) end
  if tpm > 0 then tokens = window(tokens, tpm, level(bucket, 't', tpm)) end
  local row = {d[1] or '0', d[2] or '0', m[1] or '0', m[2] or '0',
               tonumber(redis.call('GET', P .. 'c:' .. scope) or '0')}
  for _, x in ipairs(requests) do row[#row + 1] = x end
  for _, x in ipairs(tokens) do row[#row + 1] = x end
  out[#out + 1] = row
end
return out
"""

# ARGV: prefix, then per entry: scope, period, spent (pico-USD)
SEED = COMMON + """
for b = 2, #ARGV, 3 do
  local key = P .. 'u:' .. ARGV[b] .. ':' .. ARGV[b + 1]
  if redis.call('HSETNX', key, 'spent', ARGV[b + 2]) == 1 then
    money(ARGV[b], ARGV[b + 1], 'spent', 0)
  end
end
return 1
"""
