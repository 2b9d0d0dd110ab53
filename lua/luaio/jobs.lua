-- jobs.lua — luaio.jobs, a job queue shared through Redis (as Python's arq): producers
-- enqueue named calls, workers on any machine take them under a lease, run them as jobs of
-- an aio.Scheduler and record the outcome. Every state change is one Lua script run by
-- Redis (atomic), timed by the Redis server's clock. docs/jobs.md states the guarantees;
-- docs/reference/jobs.md every name.
--
-- Keys, for a queue named Q (default "luaio:queue"):
--   Q               sorted set: queued job ids, scored by when they may run (ms, server clock)
--   Q:inprogress    sorted set: taken job ids, scored by when their lease expires
--   Q:job:<id>      hash: fn, args, timeout, retries, tries, failures, lease, enq
--   Q:result:<id>   string with a TTL: "c" or "f" then the serialised outcome
--   Q:seq           counter for generated job ids and worker ids
--   Q:stats         hash: complete, failed, retried, recovered
local aio, priv = ...

-- argument errors point at the script's line that called the library (core.lua)
local check_opts, argerror, typeerror, is_cancel, check_in_task =
  priv.check_opts, priv.argerror, priv.typeerror, priv.is_cancel,
  priv.check_in_task
local type, error, pcall, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable,
  rawget, next =
  type, error, pcall, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable,
  rawget, next
local concat, unpack, pack = table.concat, table.unpack, table.pack
local spack, sunpack, byte, mtype, floor, huge =
  string.pack, string.unpack, string.byte, math.type, math.floor, math.huge
local Future = aio.Future
local call_later = priv.call_later

local DEFAULT_QUEUE = "luaio:queue"
-- a cancelled run() gives its jobs back within close_timeout + this many seconds
local CANCEL_BOUND = 2
-- jobs taken and outcomes recorded per step, leases renewed per heartbeat script
local MAX_BATCH = 1000

-- ---- the serialiser ----------------------------------------------------------------------
-- A tagged binary form: "_" nil, "t"/"f" booleans, "i" + 8-byte integer, "d" + 8-byte
-- double, "s" + 4-byte length + bytes, "{" + the values 1..#t + "|" + key/value pairs + "}".
-- Nothing in it is ever run: decoding builds values, it never calls load.
local MAX_DEPTH = 100

local function path_of(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  if type(k) == "string" then return ("%s[%q]"):format(path, k) end
  return ("%s[%s]"):format(path, tostring(k))
end

-- returns nil on success, or the keys leading to the first value it cannot hold (innermost
-- first) and why; the path is only spelled out on failure
local function encode_into(out, v, seen, depth)
  local tv = type(v)
  if tv == "nil" then out[#out + 1] = "_"
  elseif tv == "boolean" then out[#out + 1] = v and "t" or "f"
  elseif tv == "number" then
    if mtype(v) == "integer" then out[#out + 1] = spack("<Bj", 105, v)
    else out[#out + 1] = spack("<Bd", 100, v) end
  elseif tv == "string" then out[#out + 1] = spack("<Bs4", 115, v)
  elseif tv == "table" then
    if getmetatable(v) ~= nil then return {}, "a table with a metatable" end
    if seen[v] then return {}, "a cycle" end
    if depth >= MAX_DEPTH then return {}, "nested too deeply" end
    seen[v] = true
    out[#out + 1] = "{"
    local n = #v
    for i = 1, n do
      local keys, why = encode_into(out, rawget(v, i), seen, depth + 1)
      if keys then keys[#keys + 1] = i; return keys, why end
    end
    out[#out + 1] = "|"
    for k, x in next, v do
      local tk = type(k)
      if not (tk == "number" and mtype(k) == "integer" and k >= 1 and k <= n) then
        if tk ~= "string" and tk ~= "number" and tk ~= "boolean" then
          return { tk }, "a table key"
        end
        encode_into(out, k, seen, depth + 1)
        local keys, why = encode_into(out, x, seen, depth + 1)
        if keys then keys[#keys + 1] = k; return keys, why end
      end
    end
    out[#out + 1] = "}"
    seen[v] = nil
  else
    return {}, "a " .. tv
  end
end

-- the encoded form of v, or nil, the path of what it cannot hold, why
local function encode(v, path)
  local out = {}
  local keys, why = encode_into(out, v, {}, 0)
  if keys then
    if why == "a table key" then
      why = "a " .. keys[1] .. " key"
      table.remove(keys, 1)
    end
    for i = #keys, 1, -1 do path = path_of(path, keys[i]) end
    return nil, path, why
  end
  return concat(out)
end

local function bad_data() error(aio.ValueError("corrupt job data"), 0) end

local decode_at
function decode_at(s, i, depth)
  local tag = byte(s, i)
  if tag == 95 then return nil, i + 1             -- _
  elseif tag == 116 then return true, i + 1       -- t
  elseif tag == 102 then return false, i + 1      -- f
  elseif tag == 105 then return sunpack("<j", s, i + 1)
  elseif tag == 100 then return sunpack("<d", s, i + 1)
  elseif tag == 115 then return sunpack("<s4", s, i + 1)
  elseif tag == 123 then                          -- {
    if depth >= MAX_DEPTH then bad_data() end
    local t, n = {}, 0
    i = i + 1
    while byte(s, i) ~= 124 do                    -- |
      if not byte(s, i) then bad_data() end
      n = n + 1
      t[n], i = decode_at(s, i, depth + 1)
    end
    i = i + 1
    while byte(s, i) ~= 125 do                    -- }
      if not byte(s, i) then bad_data() end
      local k
      k, i = decode_at(s, i, depth + 1)
      if k == nil or k ~= k then bad_data() end
      t[k], i = decode_at(s, i, depth + 1)
    end
    return t, i + 1
  end
  bad_data()
end

local function decode(s)
  local ok, v, i = pcall(decode_at, s, 1, 0)
  if not ok or i ~= #s + 1 then bad_data() end
  return v
end

-- error values travel as {__error = class name, message = ..., fields...} when they are
-- luaio error objects, otherwise as themselves (or their tostring when not serialisable)
local function encode_error(e)
  local mt = getmetatable(e)
  if type(e) == "table" and mt and rawget(mt, "name") and aio[mt.name] == mt then
    local t = { __error = mt.name }
    for k, v in next, e do
      if k ~= "name" and type(v) ~= "function" and type(v) ~= "userdata" and type(v) ~= "thread" then
        t[k] = v
      end
    end
    local s = encode(t, "error")
    if s then return s end
    return encode({ __error = mt.name, message = tostring(e.message) }, "error")
  end
  return encode(e, "error") or encode(tostring(e), "error")
end

local function decode_error(s)
  local e = decode(s)
  if type(e) == "table" and type(e.__error) == "string" then
    local cls = aio[e.__error]
    if type(cls) == "table" and getmetatable(cls) and rawget(cls, "name") == e.__error then
      local msg = e.message
      e.__error, e.message = nil, nil
      return cls(type(msg) == "string" and msg or "", e)
    end
  end
  return e
end

-- ---- Redis scripts -----------------------------------------------------------------------
-- each runs atomically in Redis; "now" is always the server's clock (ms). Redis does not
-- roll a script back when it fails half-way, so every script reads and checks everything
-- first and only then writes, in an order where a failure between two writes leaves the
-- job recoverable (in Q:inprogress with a lease, or in Q). No script unpacks a list whose
-- length it does not bound (Redis's Lua 5.1 unpacks about 8000 values at most).
local NOW = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function count(s)
  local v = tonumber(s)
  if v and v >= 0 and v < 9007199254740992 and v == math.floor(v) then return v end
end
]]

-- KEYS: queue, seq. ARGV: id ("" = generate), fn, args, defer ms, timeout ms, retries
local ENQUEUE = NOW .. [[
local Q = KEYS[1]
local defer, timeout, retries = count(ARGV[4]), count(ARGV[5]), count(ARGV[6])
if not (defer and timeout and retries) then
  return redis.error_reply('ERR luaio.jobs enqueue: bad defer, timeout or retries')
end
local id = ARGV[1]
if id == '' then id = tostring(redis.call('INCR', KEYS[2])) end
local jk = Q .. ':job:' .. id
if redis.call('EXISTS', jk) == 1 or redis.call('EXISTS', Q .. ':result:' .. id) == 1 then
  return {id, 0}
end
redis.call('HSET', jk, 'fn', ARGV[2], 'args', ARGV[3], 'timeout', timeout, 'retries', retries,
  'tries', 0, 'failures', 0, 'lease', '', 'enq', now)
redis.call('ZADD', Q, now + defer, id)
return {id, 1}
]]

-- The worker's one round trip: record outcomes, then take up to `want` (at most 1000)
-- runnable jobs. KEYS: queue, inprogress, stats. ARGV: worker id, want, keep ms, n
-- outcomes, then per outcome: id, lease token, kind ("c" complete, "f" failed, "r"
-- released), payload, retry delay ms. An outcome counts only from the holder of the job's
-- current lease, and never for a job already finished: a late finisher whose lease was
-- taken over is ignored. Returns {statuses, taken, ms until the next queued job is due or
-- -1}; a status is 0 ignored, 1 finished, 2 queued again for a retry, 3 released, 4
-- refused (a malformed outcome: nothing written); taken holds, per job: id, fn, args,
-- lease token, timeout ms, failures.
local STEP = NOW .. [[
local Q, IP, ST = KEYS[1], KEYS[2], KEYS[3]
local want, keep, n = count(ARGV[2]), count(ARGV[3]), count(ARGV[4])
if not (want and keep and n) or want > 1000 or n > 1000 or #ARGV ~= 4 + 5 * n then
  return redis.error_reply('ERR luaio.jobs step: bad arguments')
end
-- outcomes: decide from what is stored, then write
local st, seen = {}, {}
local a = 5
for i = 1, n do
  local id, token, kind, delay = ARGV[a], ARGV[a + 1], ARGV[a + 2], count(ARGV[a + 4])
  a = a + 5
  local s = 0
  if not delay or (kind ~= 'c' and kind ~= 'f' and kind ~= 'r') then
    s = 4
  elseif not seen[id] then
    seen[id] = true
    local h = redis.call('HMGET', Q .. ':job:' .. id, 'lease', 'failures', 'retries')
    if h[1] == token and redis.call('EXISTS', Q .. ':result:' .. id) == 0 then
      if kind == 'r' then s = 3
      elseif kind == 'f' and (tonumber(h[2]) or 0) < (tonumber(h[3]) or 0) then s = 2
      else s = 1 end
    end
  end
  st[i] = s
end
-- (ZREM from IP last, for all of them at once: n <= 1000 ids, well within unpack's limit)
local done, stats = {}, { complete = 0, failed = 0, retried = 0 }
a = 5
for i = 1, n do
  local id, kind, payload, delay = ARGV[a], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  a = a + 5
  local s = st[i]
  local jk = Q .. ':job:' .. id
  if s == 3 then
    redis.call('ZADD', Q, now, id)
    redis.call('HSET', jk, 'lease', '')
  elseif s == 2 then
    redis.call('ZADD', Q, now + count(delay), id)
    redis.call('HINCRBY', jk, 'failures', 1)
    redis.call('HSET', jk, 'lease', '')
    stats.retried = stats.retried + 1
  elseif s == 1 then
    if keep > 0 then redis.call('SET', Q .. ':result:' .. id, kind .. payload, 'PX', keep) end
    redis.call('DEL', jk)
    if kind == 'c' then stats.complete = stats.complete + 1 else stats.failed = stats.failed + 1 end
  end
  if s >= 1 and s <= 3 then done[#done + 1] = id end
end
if #done > 0 then redis.call('ZREM', IP, unpack(done)) end
for k, v in pairs(stats) do
  if v > 0 then redis.call('HINCRBY', ST, k, v) end
end
-- taking: expired leases first, then due queued jobs; read every hash, then write
local taken = {}
if want > 0 then
  local ids = redis.call('ZRANGEBYSCORE', IP, '-inf', now, 'LIMIT', 0, want)
  local nexp = #ids
  if nexp < want then
    local more = redis.call('ZRANGEBYSCORE', Q, '-inf', now, 'LIMIT', 0, want - nexp)
    for _, id in ipairs(more) do ids[#ids + 1] = id end
  end
  local hs = {}
  for i, id in ipairs(ids) do
    hs[i] = redis.call('HMGET', Q .. ':job:' .. id, 'fn', 'args', 'timeout', 'failures')
  end
  -- leases first (all at once: want <= 1000 ids, 2000 values), then the tokens, then out
  -- of Q: a failure half-way leaves a job leased (and maybe still queued), never lost
  local leases, live, qrem, iprem, recovered = {}, {}, {}, {}, 0
  for i, id in ipairs(ids) do
    local h = hs[i]
    if h[1] then
      local timeout = count(h[3]) or 300000
      leases[#leases + 1] = now + timeout
      leases[#leases + 1] = id
      live[#live + 1] = i
      h[3] = timeout
      if i > nexp then qrem[#qrem + 1] = id else recovered = recovered + 1 end
    elseif i > nexp then
      qrem[#qrem + 1] = id -- an id without its hash: nothing to run
    else
      iprem[#iprem + 1] = id
    end
  end
  if #leases > 0 then redis.call('ZADD', IP, unpack(leases)) end
  for _, i in ipairs(live) do
    local id, h = ids[i], hs[i]
    local jk = Q .. ':job:' .. id
    local token = ARGV[1] .. ':' .. redis.call('HINCRBY', jk, 'tries', 1)
    redis.call('HSET', jk, 'lease', token)
    local b = #taken
    taken[b + 1], taken[b + 2], taken[b + 3], taken[b + 4], taken[b + 5], taken[b + 6] =
      id, h[1], h[2], token, h[3], h[4]
  end
  if #qrem > 0 then redis.call('ZREM', Q, unpack(qrem)) end
  if #iprem > 0 then redis.call('ZREM', IP, unpack(iprem)) end
  if recovered > 0 then redis.call('HINCRBY', ST, 'recovered', recovered) end
end
local due = -1
local first = redis.call('ZRANGE', Q, 0, 0, 'WITHSCORES')
if first[2] then due = math.max(0, tonumber(first[2]) - now) end
local lease = redis.call('ZRANGE', IP, 0, 0, 'WITHSCORES')
if lease[2] then
  local d = math.max(0, tonumber(lease[2]) - now)
  if due < 0 or d < due then due = d end
end
return {st, taken, due}
]]

-- KEYS: queue, inprogress. ARGV: id, token pairs. Extends the leases still held; returns
-- the ids whose lease was lost.
local HEARTBEAT = NOW .. [[
local Q, IP = KEYS[1], KEYS[2]
local lost, renew = {}, {}
for i = 1, #ARGV - 1, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', Q .. ':job:' .. id, 'lease', 'timeout')
  if h[1] == token then
    renew[#renew + 1] = { now + (count(h[2]) or 300000), id }
  else
    lost[#lost + 1] = id
  end
end
for _, r in ipairs(renew) do redis.call('ZADD', IP, r[1], r[2]) end
return lost
]]

-- KEYS: queue, inprogress. ARGV: id. Returns {"r", result} when finished and kept, else
-- {"s", status}.
local LOOKUP = [[
local Q, id = KEYS[1], ARGV[1]
local r = redis.call('GET', Q .. ':result:' .. id)
if r then return {'r', r} end
if redis.call('ZSCORE', KEYS[2], id) then return {'s', 'in_progress'} end
if redis.call('ZSCORE', Q, id) then return {'s', 'queued'} end
return {'s', 'not_found'}
]]

local SCRIPTS = {
  enqueue = { src = ENQUEUE }, step = { src = STEP }, heartbeat = { src = HEARTBEAT },
  lookup = { src = LOOKUP },
}

-- ---- connections -------------------------------------------------------------------------
local redis_mod
local function redis()
  if not redis_mod then redis_mod = require "luaio.redis" end
  return redis_mod
end

local function is_oserror(e) return getmetatable(e) == aio.OSError end

-- Redis errors that mean "not now" rather than "never": outcomes are kept and sent again,
-- and a worker waits and tries again (LOADING: a restarted server reading its data)
local TRANSIENT = {
  LOADING = true, BUSY = true, OOM = true, TRYAGAIN = true, MASTERDOWN = true, READONLY = true,
  NOREPLICAS = true, CLUSTERDOWN = true, MISCONF = true, NOSCRIPT = true,
}
local function is_transient(e)
  return getmetatable(e) == aio.RedisError and TRANSIENT[e.code] == true
end

-- a connection with the scripts loaded (their SHA1 is what EVALSHA names)
local function connect(url)
  local c = redis().connect(url)
  local ok, err = pcall(function()
    local replies = c:pipeline(function(p)
      for _, name in ipairs({ "enqueue", "step", "heartbeat", "lookup" }) do
        p:call("SCRIPT", "LOAD", SCRIPTS[name].src)
      end
    end)
    for i, name in ipairs({ "enqueue", "step", "heartbeat", "lookup" }) do
      local sha = replies[i]
      if type(sha) ~= "string" then error(sha, 0) end
      SCRIPTS[name].sha = sha
    end
  end)
  if not ok then
    pcall(c.close, c)
    error(err, 0)
  end
  return c
end

-- EVALSHA, falling back to EVAL when the server forgot the script (SCRIPT FLUSH)
local function run_script(c, name, nkeys, ...)
  local s = SCRIPTS[name]
  local ok, r = pcall(c.call, c, "EVALSHA", s.sha, nkeys, ...)
  if ok then return r end
  if type(r) == "table" and type(r.message) == "string" and r.message:find("NOSCRIPT", 1, true) then
    return c:call("EVAL", s.src, nkeys, ...)
  end
  error(r, 0)
end

-- ---- options -----------------------------------------------------------------------------
-- the longest time any option may give: 1e12 s (about 31,700 years) is 1e15 ms, which
-- Redis's scripts still add to "now" exactly (doubles are exact below 2^53)
local MAX_SECONDS = 1e12

local function check_positive(v, what, fname, argn, allow_zero)
  if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or (v == 0 and not allow_zero) or v == huge) then
    argerror(argn, fname, ("%s must be a %s number, got %s"):format(what,
      allow_zero and "non-negative finite" or "positive finite", type(v) == "number" and tostring(v) or type(v)), 3)
  end
  if v ~= nil and v > MAX_SECONDS then
    argerror(argn, fname, ("%s must be at most 1e12 seconds, got %s"):format(what, tostring(v)), 3)
  end
  return v
end

local function check_count(v, what, fname, argn)
  if v ~= nil and mtype(v) ~= "integer" then
    if type(v) == "number" and v == floor(v) and v >= 0 and v < 2^53 then return floor(v) end
    argerror(argn, fname, ("%s must be a non-negative integer, got %s"):format(what,
      type(v) == "number" and tostring(v) or type(v)), 3)
  end
  if v and (v < 0 or v >= 2^53) then
    argerror(argn, fname, ("%s must be a non-negative integer below 2^53, got %d"):format(what, v), 3)
  end
  return v
end

-- seconds (checked: 0 .. MAX_SECONDS) as whole milliseconds, an integer; a positive time
-- below a millisecond is 1 ms, not 0
local function ms(seconds)
  if seconds > MAX_SECONDS then seconds = MAX_SECONDS end
  local m = floor(seconds * 1000 + 0.5)
  if m == 0 and seconds > 0 then m = 1 end
  return math.tointeger(m)
end

-- ---- Queue and JobRef --------------------------------------------------------------------
local Queue = { __name = "luaio.JobQueue" }
Queue.__index = Queue
local JobRef = { __name = "luaio.JobRef" }
JobRef.__index = JobRef

local function check_self(self, cls, fname)
  if getmetatable(self) ~= cls then typeerror(1, fname, cls.__name:sub(7), self, 3) end
end

local QUEUE_OPTS = { poll_interval = true, timeout = true }

local function new_queue(url, name, opts)
  if type(url) ~= "string" then typeerror(1, "Queue", "string", url, 2) end
  priv.redis._parse_url(url, "Queue", 1) -- a bad URL is refused now, not at the first call
  if name ~= nil and type(name) ~= "string" then typeerror(2, "Queue", "string", name, 2) end
  if name == "" then argerror(2, "Queue", "queue name must not be empty", 2) end
  opts = check_opts(opts, QUEUE_OPTS, "Queue", 3)
  return setmetatable({
    url = url, name = name or DEFAULT_QUEUE,
    poll_interval = check_positive(opts.poll_interval, "poll_interval", "Queue", 3) or 0.05,
    timeout = check_positive(opts.timeout, "timeout", "Queue", 3) or 300,
    _conn = nil, _connecting = nil, _closed = false,
  }, Queue)
end

-- the queue's connection, opened on first use and again after a connection failure (the
-- call that saw it raised OSError); concurrent first users share one attempt
local function conn_of(q)
  if q._closed then error(aio.RuntimeError("Queue is closed"), 0) end
  local cur = q._conn
  if cur and not cur:is_closed() then return cur end
  q._conn = nil
  local pending = q._connecting
  if pending then
    pending:await()
    if q._conn then return q._conn end
    return conn_of(q)
  end
  pending = Future()
  q._connecting = pending
  local ok, c = pcall(connect, q.url)
  q._connecting = nil
  pending:set_result(true)
  if not ok then error(c, 0) end
  if q._closed then pcall(c.close, c); error(aio.RuntimeError("Queue is closed"), 0) end
  q._conn = c
  return c
end

-- a connection that died (OSError, a protocol error ...) is replaced on the next call
local function forget_conn(q, c, err)
  if (is_oserror(err) or c:is_closed()) and q._conn == c then
    q._conn = nil
    pcall(c.close, c)
  end
end

local function q_script(q, name, nkeys, ...)
  local c = conn_of(q)
  local ok, r = pcall(run_script, c, name, nkeys, ...)
  if not ok then
    forget_conn(q, c, r)
    error(r, 0)
  end
  return r
end

local ENQUEUE_OPTS = { job_id = true, defer = true, timeout = true, retries = true }

function Queue:enqueue(fn_name, args, opts)
  check_self(self, Queue, "enqueue")
  if type(fn_name) ~= "string" then typeerror(1, "enqueue", "string", fn_name, 2) end
  if fn_name == "" then argerror(1, "enqueue", "function name must not be empty", 2) end
  if args ~= nil and type(args) ~= "table" then typeerror(2, "enqueue", "table", args, 2) end
  opts = check_opts(opts, ENQUEUE_OPTS, "enqueue", 3)
  local id = opts.job_id
  if mtype(id) == "integer" then id = tostring(id) end
  if id ~= nil and (type(id) ~= "string" or id == "") then
    argerror(3, "enqueue", "job_id must be a non-empty string, got " .. (id == "" and "\"\"" or type(id)), 2)
  end
  local defer = check_positive(opts.defer, "defer", "enqueue", 3, true) or 0
  local timeout = check_positive(opts.timeout, "timeout", "enqueue", 3) or self.timeout
  local retries = check_count(opts.retries, "retries", "enqueue", 3) or 0
  local s, path, why = encode(args or {}, "args")
  if not s then argerror(2, "enqueue", ("%s is %s: cannot be serialised"):format(path, why), 2) end
  check_in_task("JobQueue:enqueue")
  local r = q_script(self, "enqueue", 2, self.name, self.name .. ":seq", id or "", fn_name, s,
    ms(defer), ms(timeout), retries)
  return setmetatable({ id = r[1], queue = self }, JobRef)
end

function Queue:job(id)
  check_self(self, Queue, "job")
  if mtype(id) == "integer" then id = tostring(id) end
  if type(id) ~= "string" then typeerror(1, "job", "string", id, 2) end
  return setmetatable({ id = id, queue = self }, JobRef)
end

function Queue:info()
  check_self(self, Queue, "info")
  check_in_task("JobQueue:info")
  local c = conn_of(self)
  local ok, r = pcall(c.pipeline, c, function(p)
    p:call("ZCARD", self.name)
    p:call("ZCARD", self.name .. ":inprogress")
    p:call("HGETALL", self.name .. ":stats")
  end)
  if not ok then forget_conn(self, c, r); error(r, 0) end
  local info = { queued = r[1], in_progress = r[2], complete = 0, failed = 0, retried = 0, recovered = 0 }
  local h = r[3]
  if type(h) == "table" then
    for i = 1, #h, 2 do info[h[i]] = tonumber(h[i + 1]) end
  end
  return info
end

function Queue:close()
  check_self(self, Queue, "close")
  self._closed = true
  local c = self._conn
  self._conn = nil
  if c then c:close() end
end
Queue.__close = Queue.close

function Queue:__tostring()
  return ("JobQueue<%s>"):format(self.name)
end

local function lookup(ref)
  local q = ref.queue
  return q_script(q, "lookup", 2, q.name, q.name .. ":inprogress", ref.id)
end

function JobRef:status()
  check_self(self, JobRef, "status")
  check_in_task("JobRef:status")
  local r = lookup(self)
  if r[1] == "r" then return r[2]:sub(1, 1) == "c" and "complete" or "failed" end
  return r[2]
end

function JobRef:result(timeout)
  check_self(self, JobRef, "result")
  if timeout ~= nil then check_positive(timeout, "timeout", "result", 1, true) end
  check_in_task("JobRef:result")
  local deadline = timeout and aio.time() + timeout
  while true do
    local r = lookup(self)
    if r[1] == "r" then
      local kind, payload = r[2]:sub(1, 1), r[2]:sub(2)
      if kind == "c" then
        local v = decode(payload)
        return unpack(v, 1, v.n)
      end
      error(decode_error(payload), 0)
    end
    if r[2] == "not_found" then
      error(aio.RuntimeError(("job '%s' not found (never enqueued, or its result has expired)"):format(self.id)), 0)
    end
    local wait = self.queue.poll_interval
    if deadline then
      local left = deadline - aio.time()
      if left <= 0 then error(aio.TimeoutError(("job '%s' did not finish in time"):format(self.id)), 0) end
      if left < wait then wait = left end
    end
    aio.sleep(wait)
  end
end

function JobRef:__tostring()
  return ("JobRef<%s>"):format(self.id)
end

-- ---- Worker ------------------------------------------------------------------------------
local Worker = { __name = "luaio.JobWorker" }
Worker.__index = Worker

local WORKER_OPTS = {
  [1] = true, [2] = true, url = true, name = true, functions = true, limit = true,
  heartbeat = true, poll_interval = true, keep_result = true, retry_backoff = true,
  close_timeout = true, wait_timeout = true, batch = true, handle_signals = true,
}

local function new_worker(opts)
  if type(opts) ~= "table" then typeerror(1, "Worker", "table", opts, 2) end
  check_opts(opts, WORKER_OPTS, "Worker", 1)
  local url = opts.url or opts[1]
  if type(url) ~= "string" then argerror(1, "Worker", "url must be a string, got " .. type(url), 3) end
  priv.redis._parse_url(url, "Worker", 1, "url: ")
  local name = opts.name or opts[2] or DEFAULT_QUEUE
  if type(name) ~= "string" or name == "" then
    argerror(1, "Worker", "name must be a non-empty string, got " .. (name == "" and "\"\"" or type(name)), 2)
  end
  local fns = opts.functions
  if type(fns) ~= "table" then argerror(1, "Worker", "functions must be a table, got " .. type(fns), 3) end
  for k, f in pairs(fns) do
    if type(k) ~= "string" then
      argerror(1, "Worker", "functions must be keyed by name, got a " .. type(k) .. " key", 2)
    end
    if type(f) ~= "function" and not (getmetatable(f) or {}).__call then
      argerror(1, "Worker", ("functions.%s must be callable, got %s"):format(k, type(f)), 2)
    end
  end
  local limit = opts.limit
  if limit == nil then limit = 100 end
  if mtype(limit) ~= "integer" or limit < 1 then
    argerror(1, "Worker", "limit must be a positive integer, got " .. tostring(limit), 2)
  end
  local batch = opts.batch
  if batch ~= nil and (mtype(batch) ~= "integer" or batch < 1) then
    argerror(1, "Worker", "batch must be a positive integer, got " .. tostring(batch), 2)
  end
  local hb = opts.heartbeat
  if hb ~= false then hb = check_positive(hb, "heartbeat", "Worker", 1) or 5 end
  local backoff = opts.retry_backoff
  if backoff ~= nil and type(backoff) ~= "function" then
    check_positive(backoff, "retry_backoff", "Worker", 1, true)
  end
  local keep = check_positive(opts.keep_result, "keep_result", "Worker", 1, true) or 3600
  local close_timeout = check_positive(opts.close_timeout, "close_timeout", "Worker", 1, true) or 0.1
  local sched = aio.Scheduler { limit = limit, pending_limit = false, close_timeout = close_timeout }
  local handle_signals = opts.handle_signals
  if handle_signals == nil then handle_signals = true end
  if type(handle_signals) ~= "boolean" then
    argerror(1, "Worker", "handle_signals must be a boolean, got " .. type(handle_signals))
  end
  return setmetatable({
    url = url, name = name, functions = fns, limit = limit,
    batch = math.min(batch or limit, MAX_BATCH),
    heartbeat = hb, poll_interval = check_positive(opts.poll_interval, "poll_interval", "Worker", 1) or 0.05,
    keep_result = keep, retry_backoff = backoff == nil and 1 or backoff,
    wait_timeout = check_positive(opts.wait_timeout, "wait_timeout", "Worker", 1, true) or 60,
    id = nil,
    handle_signals = handle_signals, _sched_close_timeout = close_timeout,
    _sched = sched, _conn = nil, _running = {}, _nrunning = 0, _outbox = {},
    _waker = nil, _run_task = nil, _hb_task = nil, _hb_error = nil, _hb_waker = nil,
    _hb_deadline = nil, _closing = nil,
    _stopping = false, _closed = false, _run_done = nil,
  }, Worker)
end

local function wake(w)
  local f = w._waker
  if f then
    w._waker = nil
    if not f:done() then f:set_result(true) end
  end
end

-- waits until something changes (a job finished, close, a heartbeat error) or `timeout`
local function sleep_until_woken(w, timeout)
  local f = Future()
  w._waker = f
  local h
  if timeout then
    h = call_later(timeout, function() if not f:done() then f:set_result(false) end end)
  end
  f:await()
  if h then h:cancel() end
  if w._waker == f then w._waker = nil end
end

local function retry_delay(w, failures)
  local b = w.retry_backoff
  if type(b) == "function" then
    local ok, d = pcall(b, failures)
    if ok and type(d) == "number" and d == d and d >= 0 and d < huge then return ms(d) end
    return ms(1)
  end
  if b == 0 then return 0 end
  return ms(b * 2 ^ (failures - 1)) -- ms caps it at MAX_SECONDS
end

local function outcome_of(ok, ...)
  if not ok then return false, (...) end
  local s, path, why = encode(pack(...), "result")
  if s then return "c", s end
  return "f", encode_error(aio.ValueError(("%s is %s: cannot be serialised"):format(path, why)))
end

-- a CancelledError is the worker's own cancellation (a lost lease, close) only when the
-- job's task was asked to cancel; one that merely came out of the function (an awaited
-- helper task somebody cancelled) is an ordinary failure
local function cancelled_by_worker(v)
  if not is_cancel(v) then return false end
  local t = aio.current_task()
  return t ~= nil and t:cancelling() > 0
end

local function call_job(w, e)
  local fn = w.functions[e.fn]
  if not fn then
    return "f", encode_error(aio.ValueError(("no function '%s' in this worker"):format(e.fn)))
  end
  local ok, args = pcall(decode, e.args)
  if not ok then return "f", encode_error(args) end
  local n = args.n
  if mtype(n) ~= "integer" or n < 0 then n = #args end
  local kind, v = outcome_of(pcall(fn, unpack(args, 1, n)))
  if kind then return kind, v end
  if cancelled_by_worker(v) then return "x", v end
  if is_cancel(v) then
    -- stored as CancelledError, it would look to result()'s caller like its own cancellation
    v = aio.RuntimeError("the job function raised CancelledError (the worker did not cancel it)")
  end
  return "f", encode_error(v)
end

local function job_body(w, e)
  local ok, kind, payload = pcall(call_job, w, e)
  if not ok then
    if cancelled_by_worker(kind) then kind, payload = "x", kind
    else kind, payload = "f", encode_error(kind) end
  end
  -- a lost copy still finishing must not remove the entry of the copy that replaced it
  if w._running[e.id] == e then w._running[e.id] = nil end
  w._nrunning = w._nrunning - 1
  if kind == "x" then
    -- cancelled: a lost lease (nothing to record) or the worker closing (give it back)
    if not e.lost then w._outbox[#w._outbox + 1] = { e.id, e.token, "r", "", 0 } end
    wake(w)
    error(payload, 0)
  end
  if not e.lost then
    w._outbox[#w._outbox + 1] = { e.id, e.token, kind, payload,
      kind == "f" and retry_delay(w, e.failures + 1) or 0 }
  end
  wake(w)
end

-- seconds between renewals of e's lease: three per timeout, at most `heartbeat`
local function renew_period(w, e)
  local p = e.timeout / 3
  if p > w.heartbeat then p = w.heartbeat end
  return p
end

local function wake_heartbeat(w)
  local f = w._hb_waker
  if f then
    w._hb_waker = nil
    if not f:done() then f:set_result(true) end
  end
end

-- sleeps until w._hb_deadline, which spawn_jobs may move earlier (then it wakes us)
local function heartbeat_sleep(w)
  while true do
    local left = w._hb_deadline - aio.time()
    if left <= 0 then return end
    local f = Future()
    w._hb_waker = f
    local h = call_later(left, function() if not f:done() then f:set_result(false) end end)
    local ok, err = pcall(f.await, f)
    h:cancel()
    if w._hb_waker == f then w._hb_waker = nil end
    if not ok then error(err, 0) end
  end
end

local function heartbeat_loop(w)
  while true do
    local interval = w.heartbeat
    for _, e in pairs(w._running) do
      if not e.lost then
        local p = renew_period(w, e)
        if p < interval then interval = p end
      end
    end
    w._hb_deadline = aio.time() + interval
    heartbeat_sleep(w)
    -- the tokens this heartbeat renews: a job re-taken meanwhile (new token) is not lost
    -- because this heartbeat's old token no longer matches
    local sent, args, n = {}, {}, 0
    for id, e in pairs(w._running) do
      if not e.lost then
        sent[id] = e.token
        args[n + 1], args[n + 2] = id, e.token
        n = n + 2
      end
    end
    for i = 1, n, 2 * MAX_BATCH do
      local j = i + 2 * MAX_BATCH - 1
      if j > n then j = n end
      local ok, lost = pcall(run_script, w._conn, "heartbeat", 2, w.name, w.name .. ":inprogress",
        unpack(args, i, j))
      if not ok and is_transient(lost) then
        break -- the server is busy or loading: the next round tries again
      end
      if not ok then
        if is_cancel(lost) then error(lost, 0) end
        w._hb_error = lost
        wake(w)
        return
      end
      for _, id in ipairs(lost) do
        local e = w._running[id]
        if e and not e.lost and e.token == sent[id] then
          e.lost = true
          local job = e.job
          aio.spawn(function() pcall(job.close, job) end)
        end
      end
    end
  end
end

local function spawn_jobs(w, taken)
  for i = 1, #taken, 6 do
    local mine = w._running[taken[i]]
    if mine and not mine.lost then
      -- our own lease had expired (no heartbeat in time) and we took the job again: the
      -- copy already running here carries on under the new lease
      mine.token = taken[i + 3]
      goto continue
    end
    do
      local e = {
        id = taken[i], fn = taken[i + 1], args = taken[i + 2], token = taken[i + 3],
        timeout = tonumber(taken[i + 4]) / 1000, failures = tonumber(taken[i + 5]) or 0,
      }
      w._running[e.id] = e
      w._nrunning = w._nrunning + 1
      e.job = w._sched:spawn(job_body, w, e)
      -- the heartbeat may be asleep for longer than this job's lease allows: wake it
      if w._hb_deadline then
        local due = aio.time() + renew_period(w, e)
        if due < w._hb_deadline then
          w._hb_deadline = due
          wake_heartbeat(w)
        end
      end
    end
    ::continue::
  end
end


local function flush_and_take(w, want)
  local outs = w._outbox
  local nout = #outs
  if nout > MAX_BATCH then
    -- at most MAX_BATCH per step; the rest waits for the next one
    w._outbox = table.move(outs, MAX_BATCH + 1, nout, 1, {})
    for i = nout, MAX_BATCH + 1, -1 do outs[i] = nil end
    nout = MAX_BATCH
  else
    w._outbox = {}
  end
  local argv, n = {}, 0
  for i = 1, nout do
    local o = outs[i]
    argv[n + 1], argv[n + 2], argv[n + 3], argv[n + 4], argv[n + 5] = o[1], o[2], o[3], o[4], o[5]
    n = n + 5
  end
  local c = w._conn
  local ok, r = pcall(run_script, c, "step", 3, w.name, w.name .. ":inprogress", w.name .. ":stats",
    w.id, want, ms(w.keep_result), nout, unpack(argv, 1, n))
  if not ok then
    if nout > 0 and getmetatable(r) == aio.RedisError and not c:is_closed() and not TRANSIENT[r.code] then
      -- Redis refused the step itself, and would refuse it again: sending these outcomes
      -- forever would wedge the worker. Their jobs run again when their lease expires.
      aio.call_exception_handler({
        message = ("jobs.Worker: Redis refused to record %d outcome(s); dropped (the jobs run again)"):format(nout),
        exception = r,
      })
    else
      -- not recorded: keep them for the next attempt, before anything that finished since
      local later = w._outbox
      for i = 1, #later do outs[#outs + 1] = later[i] end
      w._outbox = outs
    end
    error(r, 0)
  end
  local st = r[1]
  for i = 1, nout do
    if st[i] == 4 then
      aio.call_exception_handler({
        message = ("jobs.Worker: Redis refused the outcome of job '%s' (malformed); dropped"):format(outs[i][1]),
      })
    end
  end
  return r[2], r[3]
end

local function drop_conn(w)
  local c = w._conn
  w._conn = nil
  if c then pcall(c.close, c) end
end

local function connect_worker(w)
  if w._conn and w._conn:is_closed() then drop_conn(w) end
  if not w._conn then w._conn = connect(w.url) end
  if not w.id then w.id = "w" .. w._conn:call("INCR", w.name .. ":seq") end
end

-- a temporary state of the server (LOADING after a restart, BUSY ...): run() waits and
-- tries again, from TRANSIENT_FIRST seconds doubling up to TRANSIENT_MAX
local TRANSIENT_FIRST, TRANSIENT_MAX = 0.05, 1
local function next_delay(d)
  d = d * 2
  if d > TRANSIENT_MAX then d = TRANSIENT_MAX end
  return d
end

local function run_loop(w)
  local delay = TRANSIENT_FIRST
  while true do
    local ok, err = pcall(connect_worker, w)
    if ok then break end
    if not is_transient(err) then error(err, 0) end
    sleep_until_woken(w, delay)
    delay = next_delay(delay)
  end
  delay = TRANSIENT_FIRST
  w._hb_error = nil
  if w.heartbeat then w._hb_task = aio.spawn(heartbeat_loop, w) end
  while true do
    if w._hb_error then error(w._hb_error, 0) end
    if w._stopping and w._nrunning == 0 and #w._outbox == 0 then return end
    local want = 0
    if not w._stopping then
      want = w.limit - w._nrunning
      if want > w.batch then want = w.batch end
    end
    if want == 0 and #w._outbox == 0 then
      sleep_until_woken(w)
    else
      local ok, taken, due = pcall(flush_and_take, w, want)
      if not ok then
        if not is_transient(taken) then error(taken, 0) end
        sleep_until_woken(w, delay)
        delay = next_delay(delay)
        goto continue
      end
      delay = TRANSIENT_FIRST
      if #taken > 0 then spawn_jobs(w, taken) end
      if #taken == 0 and want > 0 and #w._outbox == 0 then
        local t = w.poll_interval
        if due >= 0 and due / 1000 < t then t = due / 1000 end
        if t > 0 then sleep_until_woken(w, t) end
      end
    end
    ::continue::
  end
end

local function close_worker(self, wait_timeout)
  self._stopping = true
  wake(self)
  self._sched:wait_and_close(wait_timeout or self.wait_timeout)
  wake(self)
  if self._run_done then
    pcall(function() self._run_done:await() end)
  end
  if #self._outbox > 0 then
    -- nobody is running the loop: record what finished ourselves
    local ok, err = pcall(function()
      if self._conn and self._conn:is_closed() then drop_conn(self) end
      if not self._conn then self._conn = connect(self.url) end
      if not self.id then self.id = "w0" end
      while #self._outbox > 0 do flush_and_take(self, 0) end
    end)
    if not ok then
      aio.call_exception_handler({
        message = "jobs.Worker: could not record the outcome of finished jobs (they will run again)",
        exception = err,
      })
    end
  end
  self._closed = true
  drop_conn(self)
end

function Worker:run()
  check_self(self, Worker, "run")
  check_in_task("JobWorker:run")
  if self._closed or self._stopping then error(aio.RuntimeError("Worker is closed"), 2) end
  if self._run_task then error(aio.RuntimeError("Worker is already running"), 2) end
  self._run_task = true
  local done = Future()
  self._run_done = done
  -- SIGTERM (a service manager, aio.workers forwarding it) cancels run() as Ctrl-C does
  local me, sigwatch = aio.current_task(), nil
  if self.handle_signals then
    sigwatch = aio.spawn(function()
      aio.wait_signal("SIGTERM")
      if me and not me:done() then
        self._sigterm = true
        me:cancel("SIGTERM")
      end
    end)
  end
  local ok, err = pcall(run_loop, self)
  if sigwatch then sigwatch:cancel() end
  self._run_task = nil
  self._run_done = nil
  self._hb_deadline = nil
  if self._hb_task then
    self._hb_task:cancel()
    self._hb_task = nil
  end
  if not ok and is_cancel(err) and not self._closing then
    -- cancelled (Ctrl-C, SIGTERM, the caller): close at once as close() past wait_timeout
    -- does, so the running jobs are back in the queue now, not when their leases expire;
    -- shielded (a second cancellation does not cut it short) and bounded
    local closing = Future()
    self._closing = closing
    local cleanup = aio.spawn(function()
      pcall(aio.wait_for, aio.spawn(close_worker, self, 0), self._sched_close_timeout + CANCEL_BOUND)
      self._closed = true
      drop_conn(self)
      if not closing:done() then closing:set_result(true) end
    end)
    pcall(aio.shield, cleanup)
    if self._sigterm and me and me:cancelling() == 1 then
      -- stopped by SIGTERM alone: run() returns as after close() (the process can end
      -- with status 0, which aio.workers takes for a clean stop)
      me:uncancel()
      ok = true
    end
  end
  done:set_result(ok)
  if not ok then
    -- a connection that died (OSError, a protocol error ...) is replaced by the next run()
    if is_oserror(err) or self._stopping or (self._conn and self._conn:is_closed()) then drop_conn(self) end
    error(err, 0)
  end
end


-- stops taking jobs, waits up to wait_timeout for the running ones (then cancels them as
-- Scheduler:close does, giving each close_timeout; a cancelled job is put back in the
-- queue at once), records every outcome and closes the connection. A second call waits
-- until the first has finished.
function Worker:close()
  check_self(self, Worker, "close")
  if self._closed then return end
  if self._closing then
    self._closing:await()
    return
  end
  local done = Future()
  self._closing = done
  local ok, err = pcall(close_worker, self)
  done:set_result(true)
  if not ok then error(err, 0) end
end

function Worker:__close() self:close() end

function Worker:__tostring()
  return ("JobWorker<%s %s>"):format(self.name, self.id or "-")
end

-- ---- the module --------------------------------------------------------------------------
local M = {
  Queue = new_queue,
  Worker = new_worker,
  -- the serialiser, for tests and for tools that read the keys
  encode = function(v)
    local s, path, why = encode(v, "value")
    if not s then argerror(1, "encode", ("%s is %s: cannot be serialised"):format(path, why), 2) end
    return s
  end,
  decode = function(s)
    if type(s) ~= "string" then typeerror(1, "decode", "string", s, 2) end
    return decode(s)
  end,
  DEFAULT_QUEUE = DEFAULT_QUEUE,
}

priv.jobs = M
if package and package.preload then
  package.preload["luaio.jobs"] = function() return M end
end
