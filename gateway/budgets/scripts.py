"""The Lua scripts the Redis store runs: each one a single atomic step on every bucket it names.

Keys (all under the store's prefix, one hash tag so a cluster keeps them on one node):

    res         sorted set: reservation id -> expiry (ms, Redis's clock)
    r:<id>      hash: usd, tok, day, month, and the scopes it holds a slot in (slots),
                reserved money in (money), took tpm tokens from (tpm); a replica's lease
                (`lease` 1) also holds `n` slots in each of its slot scopes
    s:<scope>   hash: the scope's rate buckets, `r` requests and `t` tokens left (`r@`, `t@`
                the moment of that level, `t#` the tpm limit); `c` calls in flight; per
                budget period `s:<period>` spent and `v:<period>` reserved (pico-USD)

One hash per scope keeps a step to one read and a few writes per scope (each Redis call inside
a script costs a microsecond or two).

Buckets refill continuously (the whole limit per minute). Every script first purges expired
reservations (their slots and reserved money return), so a crashed gateway leaks nothing.
Spend is added with HINCRBY on integer strings, so it is exact; comparisons, and the reserved
sums written by admission, run on Lua's doubles (exact below 2^53 pico-USD, about 9,000 USD).
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

local function level(left, at, cap)
  if not left then return cap end
  left = tonumber(left) + (now - tonumber(at)) * cap / WINDOW
  if left > cap then return cap end
  return left
end

local function drop(id)
  local key = P .. 'r:' .. id
  local r = redis.call('HMGET', key, 'usd', 'tok', 'day', 'month', 'slots', 'money', 'tpm',
                       'n')
  redis.call('ZREM', P .. 'res', id)
  if not r[1] then return nil end
  redis.call('DEL', key)
  local n = tonumber(r[8] or '1')
  if n > 0 then
    for _, scope in ipairs(split(r[5])) do redis.call('HINCRBY', P .. 's:' .. scope, 'c', -n) end
  end
  if r[1] ~= '0' then
    for _, scope in ipairs(split(r[6])) do
      redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. r[3], '-' .. r[1])
      redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. r[4], '-' .. r[1])
    end
  end
  return r
end

local function release(id)
  local key = P .. 'r:' .. id
  local held = redis.call('HGET', key, 'slots')
  if held and held ~= '' then
    for _, scope in ipairs(split(held)) do redis.call('HINCRBY', P .. 's:' .. scope, 'c', -1) end
    redis.call('HSET', key, 'slots', '')
  end
end

local function purge()
  local expired = redis.call('ZRANGEBYSCORE', P .. 'res', '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(expired) do drop(id) end
end

-- a scope's buckets: r, r@, t, t@, c, then spent and reserved in the day and in the month
local function figures(scope, day, month)
  return redis.call('HMGET', P .. 's:' .. scope, 'r', 'r@', 't', 't@', 'c',
                    's:' .. day, 'v:' .. day, 's:' .. month, 'v:' .. month)
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
# tpm, concurrency, usd_per_day, usd_per_month (0 / -1: not set), then the ids of calls that
# ended (their slots are freed first, as RELEASE does).
# -> {admitted (1|0), limit, scope, retry_ms (-1: when the period ends), requests window (limit,
#    remaining, reset_ms), tokens window}
ADMIT = COMMON + """
purge()
for i = 10 + tonumber(ARGV[9]) * 6, #ARGV do release(ARGV[i]) end
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
  local v = figures(scope, day, month)
  local rule = {scope = scope, c = tonumber(v[5] or '0'), vd = tonumber(v[7] or '0'),
                vm = tonumber(v[9] or '0')}
  if rpm > 0 then
    local left = level(v[1], v[2], rpm)
    if left < 1 then refuse(0, math.ceil((1 - left) * WINDOW / rpm), 'rpm', scope) end
    rule.r = {left, rpm}
  end
  if tpm > 0 and tok > 0 then
    local need = math.min(tok, tpm)
    local left = level(v[3], v[4], tpm)
    if left < need then refuse(0, math.ceil((need - left) * WINDOW / tpm), 'tpm', scope) end
    rule.t = {left, tpm, need}
  end
  if conc > 0 and slot then
    if rule.c >= conc then refuse(0, 1000, 'concurrency', scope) end
    rule.slot = true
  end
  local budgets = {{tonumber(ARGV[b + 4]), v[6], v[7], 'usd_per_day', 1},
                   {tonumber(ARGV[b + 5]), v[8], v[9], 'usd_per_month', 2}}
  for _, budget in ipairs(budgets) do
    if budget[1] >= 0 then
      rule.u = true
      local spent, reserved = tonumber(budget[2] or '0'), tonumber(budget[3] or '0')
      if spent + reserved + cost > budget[1] then
        if spent + cost > budget[1] then
          refuse(budget[5], -1, budget[4], scope)
        else
          refuse(0, 1000, budget[4], scope)
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
  local key = P .. 's:' .. rule.scope
  local fields = {}
  if rule.r then
    local left = rule.r[1] - 1
    fields[#fields + 1] = 'r'; fields[#fields + 1] = tostring(left)
    fields[#fields + 1] = 'r@'; fields[#fields + 1] = now
    requests = window(requests, rule.r[2], left)
  end
  if rule.t then
    local left = rule.t[1] - rule.t[3]
    fields[#fields + 1] = 't'; fields[#fields + 1] = tostring(left)
    fields[#fields + 1] = 't@'; fields[#fields + 1] = now
    fields[#fields + 1] = 't#'; fields[#fields + 1] = rule.t[2]
    tokens = window(tokens, rule.t[2], left)
    tpms[#tpms + 1] = rule.scope
  end
  if rule.slot then
    fields[#fields + 1] = 'c'; fields[#fields + 1] = rule.c + 1
    slots[#slots + 1] = rule.scope
  end
  if rule.u and cost > 0 then  -- in the same write (sums exact below 2^53 pico-USD)
    fields[#fields + 1] = 'v:' .. day; fields[#fields + 1] = int(rule.vd + cost)
    fields[#fields + 1] = 'v:' .. month; fields[#fields + 1] = int(rule.vm + cost)
    moneys[#moneys + 1] = rule.scope
  end
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
end
redis.call('HSET', P .. 'r:' .. id, 'usd', usd, 'tok', int(tok), 'day', day, 'month', month,
           'slots', table.concat(slots, '\\n'), 'money', table.concat(moneys, '\\n'),
           'tpm', table.concat(tpms, '\\n'))
redis.call('ZADD', P .. 'res', now + ttl, id)
return {1, '', '', 0, requests[1], requests[2], requests[3], tokens[1], tokens[2], tokens[3]}
"""

# ARGV: prefix, ids...
RELEASE = COMMON + """
for i = 2, #ARGV do release(ARGV[i]) end
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
        local key = P .. 's:' .. scope
        local v = redis.call('HMGET', key, 't', 't@', 't#')
        local cap = tonumber(v[3] or '0')
        if cap > 0 then
          local left = math.min(cap, level(v[1], v[2], cap) + unused)
          redis.call('HSET', key, 't', tostring(left), 't@', now)
        end
      end
    end
  elseif parent ~= '' and share > 0 then
    local key = P .. 'r:' .. parent
    local p = redis.call('HMGET', key, 'usd', 'day', 'month', 'money', 'lease')
    if p[1] then
      local amount = int(math.min(share, tonumber(p[1])))
      local rest = redis.call('HINCRBY', key, 'usd', '-' .. amount)
      for _, scope in ipairs(split(p[4])) do
        redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. p[2], '-' .. amount)
        redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. p[3], '-' .. amount)
      end
      if rest <= 0 and not p[5] then drop(parent) end  -- a lease is closed by its holder
    end
  end
  if usd ~= '0' then
    for _, scope in ipairs(split(ARGV[b + 5])) do
      redis.call('HINCRBY', P .. 's:' .. scope, 's:' .. day, usd)
      redis.call('HINCRBY', P .. 's:' .. scope, 's:' .. month, usd)
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
  local v = figures(scope, ARGV[2], ARGV[3])
  local requests, tokens = {0, 0, 0}, {0, 0, 0}
  if rpm > 0 then requests = window(requests, rpm, level(v[1], v[2], rpm)) end
  if tpm > 0 then tokens = window(tokens, tpm, level(v[3], v[4], tpm)) end
  local row = {v[6] or '0', v[7] or '0', v[8] or '0', v[9] or '0', tonumber(v[5] or '0')}
  for _, x in ipairs(requests) do row[#row + 1] = x end
  for _, x in ipairs(tokens) do row[#row + 1] = x end
  out[#out + 1] = row
end
return out
"""

# ARGV: prefix, then per entry: scope, period, spent (pico-USD)
SEED = COMMON + """
for b = 2, #ARGV, 3 do
  redis.call('HSETNX', P .. 's:' .. ARGV[b], 's:' .. ARGV[b + 1], ARGV[b + 2])
end
return 1
"""

# A replica's lease: headroom taken ahead of its calls (gateway/budgets/leases.py).
# ARGV: prefix, id, ttl_ms, day, month, requests, tokens, slots, usd wanted, usd at least, n,
# then per rule: scope, rpm, tpm, concurrency, usd_per_day, usd_per_month (as ADMIT).
# Requests, tokens and slots are taken from every rule that limits them, all or none; money up
# to `wanted`, within 1/SHARE of every budget's headroom, and at least `at least`.
# -> {0} refused, or {1, usd granted, requests window, tokens window}
LEASE_TAKE = COMMON + """
local SHARE = 16
purge()
local id, ttl, day, month = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local dr, dt, ds = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local grant, least = tonumber(ARGV[9]), tonumber(ARGV[10])
local rules = {}
for i = 0, tonumber(ARGV[11]) - 1 do
  local b = 12 + i * 6
  local scope = ARGV[b]
  local rpm, tpm, conc = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local v = figures(scope, day, month)
  local rule = {scope = scope, c = tonumber(v[5] or '0'), vd = tonumber(v[7] or '0'),
                vm = tonumber(v[9] or '0'), rpm = rpm, tpm = tpm, conc = conc}
  if rpm > 0 then
    rule.r = level(v[1], v[2], rpm)
    if rule.r < dr then return {0} end
  end
  if tpm > 0 then
    rule.t = level(v[3], v[4], tpm)
    if rule.t < dt then return {0} end
  end
  if conc > 0 and rule.c + ds > conc then return {0} end
  for _, budget in ipairs({{tonumber(ARGV[b + 4]), v[6], v[7]},
                           {tonumber(ARGV[b + 5]), v[8], v[9]}}) do
    if budget[1] >= 0 then
      rule.u = true
      local room = math.floor((budget[1] - tonumber(budget[2] or '0')
                               - tonumber(budget[3] or '0')) / SHARE)
      if room < grant then grant = room end
    end
  end
  rules[#rules + 1] = rule
end
if grant < least then return {0} end
local key = P .. 'r:' .. id
local fresh = redis.call('EXISTS', key) == 0
local slots, moneys, tpms = {}, {}, {}
local requests, tokens = {0, 0, 0}, {0, 0, 0}
for _, rule in ipairs(rules) do
  local fields = {}
  if rule.r then
    local left = rule.r - dr
    fields[#fields + 1] = 'r'; fields[#fields + 1] = tostring(left)
    fields[#fields + 1] = 'r@'; fields[#fields + 1] = now
    requests = window(requests, rule.rpm, left)
  end
  if rule.t then
    local left = rule.t - dt
    fields[#fields + 1] = 't'; fields[#fields + 1] = tostring(left)
    fields[#fields + 1] = 't@'; fields[#fields + 1] = now
    fields[#fields + 1] = 't#'; fields[#fields + 1] = rule.tpm
    tokens = window(tokens, rule.tpm, left)
    tpms[#tpms + 1] = rule.scope
  end
  if rule.conc > 0 then
    fields[#fields + 1] = 'c'; fields[#fields + 1] = rule.c + ds
    slots[#slots + 1] = rule.scope
  end
  if rule.u then
    fields[#fields + 1] = 'v:' .. day; fields[#fields + 1] = int(rule.vd + grant)
    fields[#fields + 1] = 'v:' .. month; fields[#fields + 1] = int(rule.vm + grant)
    moneys[#moneys + 1] = rule.scope
  end
  if #fields > 0 then redis.call('HSET', P .. 's:' .. rule.scope, unpack(fields)) end
end
if fresh then
  redis.call('HSET', key, 'usd', 0, 'tok', 0, 'n', 0, 'day', day, 'month', month, 'lease', 1,
             'slots', table.concat(slots, '\\n'), 'money', table.concat(moneys, '\\n'),
             'tpm', table.concat(tpms, '\\n'))
end
redis.call('HINCRBY', key, 'usd', int(grant))
redis.call('HINCRBY', key, 'n', ds)
redis.call('ZADD', P .. 'res', now + ttl, id)
return {1, int(grant), requests[1], requests[2], requests[3], tokens[1], tokens[2], tokens[3]}
"""

# A lease gives back what its replica did not use: requests and tokens to their buckets (up to
# each limit), slots, and money from its reservation; `close` 1 ends the lease (its remaining
# slots and money return too).
# ARGV: prefix, id, requests, tokens, slots, usd, close (1|0), then the rpm rules: scope, rpm...
# -> 1, or 0 when the lease had lapsed
LEASE_GIVE = COMMON + """
local id = ARGV[2]
local key = P .. 'r:' .. id
local r = redis.call('HMGET', key, 'usd', 'n', 'day', 'month', 'slots', 'money', 'tpm')
if not r[1] then return 0 end
local dr, dt = tonumber(ARGV[3]), tonumber(ARGV[4])
local ds = math.min(tonumber(ARGV[5]), tonumber(r[2]))
local usd = math.min(tonumber(ARGV[6]), tonumber(r[1]))
if dr > 0 then
  for b = 8, #ARGV, 2 do
    local scope, rpm = ARGV[b], tonumber(ARGV[b + 1])
    local v = redis.call('HMGET', P .. 's:' .. scope, 'r', 'r@')
    local left = math.min(rpm, level(v[1], v[2], rpm) + dr)
    redis.call('HSET', P .. 's:' .. scope, 'r', tostring(left), 'r@', now)
  end
end
if dt > 0 then
  for _, scope in ipairs(split(r[7])) do
    local v = redis.call('HMGET', P .. 's:' .. scope, 't', 't@', 't#')
    local cap = tonumber(v[3] or '0')
    if cap > 0 then
      local left = math.min(cap, level(v[1], v[2], cap) + dt)
      redis.call('HSET', P .. 's:' .. scope, 't', tostring(left), 't@', now)
    end
  end
end
if ds > 0 then
  for _, scope in ipairs(split(r[5])) do redis.call('HINCRBY', P .. 's:' .. scope, 'c', -ds) end
  redis.call('HINCRBY', key, 'n', -ds)
end
if usd > 0 then
  for _, scope in ipairs(split(r[6])) do
    redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. r[3], '-' .. int(usd))
    redis.call('HINCRBY', P .. 's:' .. scope, 'v:' .. r[4], '-' .. int(usd))
  end
  redis.call('HINCRBY', key, 'usd', '-' .. int(usd))
end
if ARGV[7] == '1' then drop(id) end
return 1
"""
