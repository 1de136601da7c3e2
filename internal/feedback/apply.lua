-- apply.lua: the per-address health state machine, run atomically inside
-- Redis. It is the twin of record.go: same fields, same expressions in the
-- same order (integer milliseconds; the float jitter and veto arithmetic
-- evaluated identically), checked by the conformance suite. Change both.
--
-- KEYS[1] state hash, KEYS[2] reporters hash, KEYS[3] counters hash; all
-- carry the address's hash tag, so Cluster runs the script on one node.
--
-- ARGV[1] op: "apply" | "drain" | "undrain"
-- ARGV[2] now (ms)          ARGV[3] "1" if the budget allows a demotion
-- ARGV[4] jitter draw u in [-1, 1)
-- ARGV[5..15] policy: vote failures, vote TTL, quorum, healthy veto,
--   base demotion, max demotion, decay, recovery reporters, jitter,
--   counter bucket width, key margin
-- ARGV[16..] op arguments:
--   apply:  origin ("" : no watermark), latest event time of the events
--           with a seq; then 9 per event, sorted by time: t, reporter,
--           "f"|"s", host, domain, stage, smtp code, enhanced code, seq
--           (0: none, always applied)
--   drain:  until, reason, by
--
-- Returns {state, until, confirmed, transition...}; confirmed is 1 when
-- apply left a quorum of reporters signalling within the window (the
-- address then counts for the budget; record.go signalled), else 0; a
-- transition is {kind, from, at, until, {reporters...}, reason}.
--
-- State hash fields: da demoted at, du demoted until, m multiplier,
-- ma multiplier decay start, xa drained at, xu drained until, xr reason,
-- xb drained by, lt latest event time, f* last failure, w:<origin> the
-- watermark "seq,latest event time" (record.go has no twin: the memory
-- store never applies an observation twice).
-- Reporters hash: reporter -> "fails,lastFail,lastSucc,lastSignal".
-- Counters hash: bucket index -> "failures,successes".

local op = ARGV[1]
local now = tonumber(ARGV[2])
local canDemote = ARGV[3] == '1'
local u = tonumber(ARGV[4])
local vf, ttl, quorum, veto = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local base, maxd, decay, recovery = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local jitter, bucket, margin = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])

local function int(x) return string.format('%d', x) end

local s = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do s[raw[i]] = raw[i + 1] end
local function num(k) return tonumber(s[k]) or 0 end
local r = { da = num('da'), du = num('du'), m = num('m'), ma = num('ma'), xa = num('xa'), xu = num('xu'), lt = num('lt') }

local reps, repsChanged = {}, {}
raw = redis.call('HGETALL', KEYS[2])
for i = 1, #raw, 2 do
  local f, a, b, c = string.match(raw[i + 1], '^(%d+),(%d+),(%d+),(%d+)$')
  if f then
    reps[raw[i]] = { fails = tonumber(f), lastFail = tonumber(a), lastSucc = tonumber(b), lastSignal = tonumber(c) }
  end
end

local counts, countsChanged = {}, {}
raw = redis.call('HGETALL', KEYS[3])
for i = 1, #raw, 2 do
  local f, sc = string.match(raw[i + 1], '^(%d+),(%d+)$')
  if f then counts[tonumber(raw[i])] = { tonumber(f), tonumber(sc) } end
end

local out = {}
local dirty = false
local lastFailure = nil

local function stateAt(t)
  if r.xu > t then return 'drained', r.xu end
  if r.du > t then return 'demoted', r.du end
  return 'healthy', 0
end

local function multiplierAt(t)
  if r.m == 0 or t < r.ma then return r.m end
  return math.max(r.m - math.floor((t - r.ma) / decay), 0)
end

local function maybeRecover(t)
  local seen = {}
  for name, rs in pairs(reps) do
    if rs.lastSucc >= r.da and rs.lastSucc > 0 then seen[#seen + 1] = name end
  end
  if #seen < recovery then return end
  r.du, r.ma = t, t
  out[#out + 1] = { 'recovered', 'demoted', t, 0, seen, '' }
end

local function maybeDemote(t)
  local voters, window, healthy = {}, 0, 0
  for name, rs in pairs(reps) do
    if rs.fails >= vf and t - rs.lastFail < ttl and rs.lastFail > r.da then voters[#voters + 1] = name end
    if t - rs.lastSignal < ttl then
      window = window + 1
      if rs.lastSucc > rs.lastFail then healthy = healthy + 1 end
    end
  end
  if #voters < quorum then return end
  if window > 0 and healthy > veto * window then return end
  if not canDemote then return end
  local m = multiplierAt(t) + 1
  local limit = math.floor((maxd + base - 1) / base)
  if m > limit then m = limit end
  local d = math.min(base * m, maxd)
  d = math.floor(d + d * jitter * u)
  d = math.max(math.min(d, maxd), 1)
  r.da, r.du, r.m, r.ma = t, t + d, m, t + d
  out[#out + 1] = { 'demoted', 'healthy', t, t + d, voters, '' }
end

local function observe(t, name, failure, i)
  t = math.max(t, r.lt)
  r.lt = t
  local rs = reps[name]
  if rs == nil or (rs.lastSignal ~= 0 and t - rs.lastSignal >= ttl) then
    rs = { fails = 0, lastFail = 0, lastSucc = 0, lastSignal = 0 }
  end
  local b = math.floor(t / bucket)
  local c = counts[b] or { 0, 0 }
  if failure then
    rs.fails = rs.fails + 1
    rs.lastFail = t
    c[1] = c[1] + 1
    lastFailure = { name, ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], t }
  else
    rs.fails = 0
    rs.lastSucc = t
    c[2] = c[2] + 1
  end
  rs.lastSignal = t
  reps[name] = rs
  repsChanged[name] = true
  counts[b] = c
  countsChanged[b] = true

  if r.xu > t then return end
  if r.du > t then
    if not failure then maybeRecover(t) end
    return
  end
  if failure then maybeDemote(t) end
end

local watermark = nil -- {field, seq, latest} to write back

if op == 'apply' then
  -- An event at or below its origin's watermark was applied by an earlier
  -- call whose reply was lost (a timeout after the command was sent): an
  -- origin sends an address its events in seq order, without gaps. The
  -- watermark is forgotten once every event it covers is older than the
  -- vote window, plus the key margin for replicas' clock skew: a replay
  -- then drops those events before they get here (groupByAddress).
  local origin = ARGV[16]
  local wm, top, latest = 0, 0, tonumber(ARGV[17])
  if origin ~= '' then
    local w, l = string.match(s['w:' .. origin] or '', '^(%d+),(%d+)$')
    wm = tonumber(w) or 0
    top = wm
    latest = math.max(latest, tonumber(l) or 0)
  end
  for i = 18, #ARGV, 9 do
    local q = tonumber(ARGV[i + 8])
    if q == 0 or q > wm then
      observe(tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2] == 'f', i)
      dirty = true
      if q > top then top = q end
    end
  end
  if top > wm then watermark = { 'w:' .. origin, top, latest } end
elseif op == 'drain' then
  local untilT = tonumber(ARGV[16])
  local from = stateAt(now)
  if r.du > now then r.du, r.ma = now, now end
  r.lt = math.max(r.lt, now)
  r.xa, r.xu = now, untilT
  s.xr, s.xb = ARGV[17], ARGV[18]
  out[#out + 1] = { 'drained', from, now, untilT, { ARGV[18] }, ARGV[17] }
  dirty = true
elseif op == 'undrain' then
  if r.xu > now then
    r.xu = now
    r.lt = math.max(r.lt, now)
    out[#out + 1] = { 'undrained', 'drained', now, 0, {}, '' }
    maybeDemote(r.lt)
    dirty = true
  end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end

local state, untilT = stateAt(now)
local confirmed = 0
if op == 'apply' then
  local n = 0
  for _, rs in pairs(reps) do
    if now - rs.lastSignal < ttl then n = n + 1 end
  end
  if n >= quorum then confirmed = 1 end
end
if not dirty then return { state, untilT, confirmed } end

-- Prune what is out of the window, then write back.
for name, rs in pairs(reps) do
  if now - rs.lastSignal >= ttl then
    redis.call('HDEL', KEYS[2], name)
    reps[name] = nil
    repsChanged[name] = nil
  end
end
local oldest = math.floor((now - ttl) / bucket)
for b in pairs(counts) do
  if b < oldest then
    redis.call('HDEL', KEYS[3], int(b))
    counts[b] = nil
    countsChanged[b] = nil
  end
end

for k, v in pairs(s) do
  local l = string.match(k, '^w:') and string.match(v, ',(%d+)$')
  if l and tonumber(l) < now - ttl - margin then redis.call('HDEL', KEYS[1], k) end
end
local fields = { 'da', int(r.da), 'du', int(r.du), 'm', int(r.m), 'ma', int(r.ma),
  'xa', int(r.xa), 'xu', int(r.xu), 'lt', int(r.lt), 'xr', s.xr or '', 'xb', s.xb or '' }
if watermark then
  fields[#fields + 1] = watermark[1]
  fields[#fields + 1] = int(watermark[2]) .. ',' .. int(watermark[3])
end
if lastFailure then
  local lf = lastFailure
  for _, kv in ipairs({ { 'fr', lf[1] }, { 'fh', lf[2] }, { 'fd', lf[3] }, { 'fs', lf[4] },
    { 'fc', lf[5] }, { 'fe', lf[6] }, { 'ft', int(lf[7]) } }) do
    fields[#fields + 1] = kv[1]
    fields[#fields + 1] = kv[2]
  end
end
redis.call('HSET', KEYS[1], unpack(fields))

local rf = {}
for name in pairs(repsChanged) do
  local rs = reps[name]
  rf[#rf + 1] = name
  rf[#rf + 1] = int(rs.fails) .. ',' .. int(rs.lastFail) .. ',' .. int(rs.lastSucc) .. ',' .. int(rs.lastSignal)
end
if #rf > 0 then redis.call('HSET', KEYS[2], unpack(rf)) end

local cf = {}
for b in pairs(countsChanged) do
  cf[#cf + 1] = int(b)
  cf[#cf + 1] = int(counts[b][1]) .. ',' .. int(counts[b][2])
end
if #cf > 0 then redis.call('HSET', KEYS[3], unpack(cf)) end

-- Every key lives until nothing in it can matter (record.go expiresAt).
local endT = math.max(now + ttl, r.du, r.xu)
if r.m > 0 then endT = math.max(endT, r.ma + r.m * decay) end
local pttl = int(endT + margin - now)
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], pttl) end

local reply = { state, untilT, confirmed }
for _, t in ipairs(out) do reply[#reply + 1] = t end
return reply
