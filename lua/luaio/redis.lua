-- redis.lua — luaio.redis: an asynchronous Redis client over luaio's streams. The RESP
-- parsing (hiredis's redisReader) and the command encoder are C (redis.c); here is the
-- policy: the URL, the connection, one reader task per client matching replies to calls in
-- FIFO order (several tasks share one client: their commands are pipelined, written
-- together once per loop round), pipelines, pub/sub, errors and close.
local aio, priv = ...

local new_reader, encode = aio._redis_reader, aio._redis_encode
aio._redis_reader, aio._redis_encode = nil, nil

local is_cancel, check_in_task = priv.is_cancel, priv.check_in_task
local call_soon = priv.call_soon
local Future, RedisError, OSError, RuntimeError = aio.Future, aio.RedisError, aio.OSError, aio.RuntimeError
local FutureMT = getmetatable(Future())
local type, error, pcall, select, setmetatable, getmetatable, tonumber, tostring, pairs, ipairs =
  type, error, pcall, select, setmetatable, getmetatable, tonumber, tostring, pairs, ipairs
local concat, unpack = table.concat, table.unpack
local math_type = math.type

local M = {}
M.RedisError = RedisError

-- argument errors point at the script's line however deep in the library the check is
local argerror, typeerror, check_opts, check_self =
  priv.argerror, priv.typeerror, priv.check_opts, priv.check_self

-- a nil inside an array reply (Lua lists cannot hold nil)
local null = setmetatable({}, {
  __name = "luaio.redis.null",
  __tostring = function() return "redis.null" end,
  __newindex = function() error("redis.null is read-only", 2) end,
})
M.null = null

local Client = { __name = "luaio.RedisClient" }
Client.__index = Client
local Pipeline = { __name = "luaio.RedisPipeline" }
Pipeline.__index = Pipeline

-- an entry of the FIFO of calls awaiting replies: a Future (one reply), or a table of
-- PipeEntry (n replies collected into a list) or SubEntry (n subscribe confirmations)
local PipeEntry, SubEntry = {}, {}

local READ_SIZE = 65536
-- flow control: a caller waits for the socket to take the written data (drain) before it
-- queues its command while more than this many bytes wait in the write buffer
local WRITE_HIGH = 1024 * 1024

---------------------------------------------------------------------------------------------
-- URL

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- redis://[[user]:password@]host[:port][/db] | unix://path[?db=N[&password=P]]
-- A bad URL is an argument error of `fname` (argument `argn`; "connect", 1 by default):
-- jobs.Queue and jobs.Worker check theirs when they are made. An empty password is none.
local function parse_url(url, fname, argn, what)
  fname, argn, what = fname or "connect", argn or 1, what or ""
  local function bad(msg) argerror(argn, fname, what .. msg) end
  if type(url) ~= "string" then
    if what ~= "" then bad("string expected, got " .. type(url)) end
    typeerror(argn, fname, "string", url)
  end
  local cfg = { db = 0 }
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if scheme == "unix" then
    local path, query = rest:match("^([^?]*)%??(.*)$")
    if path == "" then bad("unix:// URL without a path") end
    cfg.path = unescape(path)
    for k, v in query:gmatch("([^&=]+)=([^&]*)") do
      if k == "db" then cfg.db = tonumber(v)
      elseif k == "password" then cfg.password = unescape(v)
      elseif k == "username" or k == "user" then cfg.user = unescape(v)
      else bad("unknown URL parameter '" .. k .. "'") end
    end
  elseif scheme == "redis" then
    local authority, db = rest:match("^([^/]*)/?(.*)$")
    local auth, hostport = authority:match("^(.*)@(.*)$")
    if not auth then auth, hostport = "", authority end
    if auth ~= "" then
      local user, pass = auth:match("^([^:]*):(.*)$")
      if not user then user, pass = "", auth end
      if user ~= "" then cfg.user = unescape(user) end
      cfg.password = unescape(pass)
    end
    local host, port = hostport:match("^%[(.*)%]:?(%d*)$")
    if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
    if not host then bad("bad host in URL '" .. url .. "'") end
    cfg.host = host ~= "" and host or "127.0.0.1"
    cfg.port = port ~= "" and tonumber(port) or 6379
    if cfg.port < 1 or cfg.port > 65535 then
      bad("port must be from 1 to 65535 in URL '" .. url .. "'")
    end
    if db ~= "" then cfg.db = tonumber(db) end
  else
    bad("URL must start with redis:// or unix://, got '" .. url .. "'")
  end
  if not cfg.db or math_type(cfg.db) ~= "integer" or cfg.db < 0 then
    bad("bad database number in URL '" .. url .. "'")
  end
  -- redis://:@host, ?password= : no password, so no AUTH (a user with an empty password
  -- still sends AUTH user "", as redis-py does: an ACL user may be "nopass")
  if cfg.password == "" and not cfg.user then cfg.password = nil end
  return cfg
end
M._parse_url = parse_url

---------------------------------------------------------------------------------------------
-- the connection: writing, the reader task, failure

local function closed_error()
  return OSError("Redis client is closed", { code = "ENOTCONN" })
end

local function wake_drain_waiters(self)
  local ws = self._drain_waiters
  if not ws then return end
  self._drain_waiters = nil
  for i = 1, #ws do
    if not ws[i]:done() then ws[i]:set_result(true) end
  end
end

-- waits until the socket has taken the buffered data, then wakes the throttled callers
local function drainer(self)
  local ok, e = pcall(self._w.drain, self._w)
  if self._drainer == aio.current_task() then self._drainer = nil end
  wake_drain_waiters(self)
  if not ok and is_cancel(e) then error(e, 0) end
end

-- every pending call fails with err; the connection is closed; a subscription ends with err
local function fail(self, err)
  if self._err then return end
  self._err = err
  local d = self._drainer
  if d then
    self._drainer = nil
    d:cancel()
  end
  wake_drain_waiters(self)
  local fifo = self._fifo
  for i = self._head, self._tail do
    local e = fifo[i]
    fifo[i] = nil
    if e ~= nil then
      local fut = getmetatable(e) == FutureMT and e or e.fut
      if not fut:done() then
        fut:set_exception(err)
        -- marked retrieved: its caller may have been cancelled meanwhile (a shutdown), and
        -- a caller that awaits it still gets err
        fut:exception()
      end
    end
  end
  self._head, self._tail = 1, 0
  self._out, self._nout, self._outbytes = {}, 0, 0
  local sub = self._sub
  if sub then
    self._sub = nil
    -- close() ends the iterator; a lost connection raises in it
    sub.queue:put_nowait(not self._closed and err)
  end
  pcall(self._w.close, self._w)
end

local function flush(self)
  self._flushing = false
  local n = self._nout
  if n == 0 or self._err then return end
  local data = n == 1 and self._out[1] or concat(self._out, "", 1, n)
  for i = 1, n do self._out[i] = nil end
  self._nout, self._outbytes = 0, 0
  local ok, e = pcall(self._w.write, self._w, data)
  if not ok then fail(self, e) return end
  self._wbuf = self._w:get_write_buffer_size()
end

-- queues encoded commands to go out with the next flush (one write a loop round)
local function send(self, data)
  local n = self._nout + 1
  self._nout = n
  self._out[n] = data
  self._outbytes = self._outbytes + #data
  if not self._flushing then
    self._flushing = true
    call_soon(flush, self) -- the library's own: not a resource the script left open
  end
end

-- queues one encoded command (or several) and its FIFO entry
local function push(self, data, entry)
  local t = self._tail + 1
  self._tail = t
  self._fifo[t] = entry
  send(self, data)
end

local function pop(self)
  local h = self._head
  local e = self._fifo[h]
  self._fifo[h] = nil
  self._head = h + 1
  return e
end

-- leaves subscribe mode when nothing is subscribed and no subscribe is on its way
local function maybe_leave_sub(self)
  local sub = self._sub
  if not sub or (sub.count or 0) > 0 then return end
  for i = self._head, self._tail do
    if getmetatable(self._fifo[i]) == SubEntry then return end
  end
  self._sub = nil
  sub.queue:put_nowait(false) -- ends the iterator
end

-- a pub/sub push in subscribe mode; returns true when it was one. RESP2 sends pushes only
-- after the replies to every command sent before: while a command's reply is awaited at
-- the FIFO's head, a reply that looks like a push ({"message", ...} from LRANGE) is that
-- command's reply.
local function on_push(self, v)
  local sub = self._sub
  if type(v) ~= "table" then return false end
  local head = self._fifo[self._head]
  if head ~= nil and getmetatable(head) ~= SubEntry then return false end
  local kind = v[1]
  if kind == "message" then
    sub.queue:put_nowait({ type = "message", channel = v[2], data = v[3] })
  elseif kind == "pmessage" then
    sub.queue:put_nowait({ type = "pmessage", pattern = v[2], channel = v[3], data = v[4] })
  elseif kind == "subscribe" or kind == "psubscribe" then
    if math_type(v[3]) == "integer" then sub.count = v[3] end
    if head ~= nil then
      head.got = head.got + 1
      if head.got == head.n then
        pop(self)
        if not head.fut:done() then head.fut:set_result(true) end
      end
    end
  elseif kind == "unsubscribe" or kind == "punsubscribe" then
    if math_type(v[3]) == "integer" then sub.count = v[3] end
    if v[3] == 0 then maybe_leave_sub(self) end
  elseif getmetatable(v) == RedisError and head ~= nil then
    -- SUBSCRIBE refused as a whole (NOPERM, NOAUTH, OOM ...): one error reply, no push
    pop(self)
    if not head.fut:done() then head.fut:set_exception(v) end
    maybe_leave_sub(self)
  else
    return false
  end
  return true
end

local function dispatch(self, v)
  if v == null then v = nil end
  if self._sub and on_push(self, v) then return end
  local e = pop(self)
  if getmetatable(e) == FutureMT then
    if not e:done() then e:set_result(v) end
  elseif getmetatable(e) == PipeEntry then
    local got = e.got + 1
    e.got = got
    e.out[got] = v
    if got < e.n then
      self._head = self._head - 1 -- not complete yet: back at the head
      self._fifo[self._head] = e
    elseif not e.fut:done() then
      e.fut:set_result(e.out)
    end
  elseif e == nil then
    fail(self, RedisError("protocol error: a reply nobody asked for"))
  end
end

local function reader_loop(self)
  local r, parser, out = self._r, self._parser, {}
  while true do
    local ok, data = pcall(r.read, r, READ_SIZE)
    if not ok then
      if is_cancel(data) then
        fail(self, closed_error())
        error(data, 0)
      end
      fail(self, data)
      return
    end
    if data == "" then
      fail(self, OSError("connection closed by the Redis server", { code = "ECONNRESET" }))
      return
    end
    local fok, n, perr = pcall(parser.feed, parser, data, out)
    if not fok or not n then
      fail(self, fok and RedisError("protocol error: " .. tostring(perr)) or n)
      return
    end
    for i = 1, n do
      local v = out[i]
      out[i] = nil
      local dok, derr = pcall(dispatch, self, v)
      if not dok then
        fail(self, derr)
        return
      end
    end
  end
end

local function check_usable(self, fname)
  if self._err then error(self._err, 3) end
  if self._sub then
    error(RuntimeError("Redis client is in subscribe mode: '" .. fname ..
      "' refused (only subscribe, psubscribe, unsubscribe, punsubscribe and close)"), 3)
  end
end

-- waits while the write buffer is above WRITE_HIGH (before anything is queued, so a
-- cancellation here leaves the FIFO as it was)
local function throttle(self, fname)
  -- _wbuf is the write buffer's size after the last flush (it only shrinks until the next
  -- one): callers test it first, so only a full buffer costs a look at the writer
  local w = self._w
  while true do
    self._wbuf = w:get_write_buffer_size()
    if self._outbytes + self._wbuf <= WRITE_HIGH then return end
    if self._outbytes > 0 then
      aio.sleep(0) -- the queued commands go out first (flush runs this round)
    else
      -- one drainer task per client; each caller waits on its own future, which fail()
      -- also resolves (a drain can outlive a closed connection whose peer stopped reading)
      local f = Future()
      local ws = self._drain_waiters
      if not ws then ws = {}; self._drain_waiters = ws end
      ws[#ws + 1] = f
      if not self._drainer then self._drainer = aio.spawn(drainer, self) end
      f:await()
    end
    check_usable(self, fname)
  end
end

-- sends one command and returns its reply; an error reply raises
local function command(self, fname, base, ...)
  local data = encode(fname, base, ...)
  check_in_task(fname)
  check_usable(self, fname)
  if self._outbytes + self._wbuf > WRITE_HIGH then throttle(self, fname) end
  local fut = Future()
  push(self, data, fut)
  local v = fut:await()
  if getmetatable(v) == RedisError then error(v) end
  return v
end

---------------------------------------------------------------------------------------------
-- connecting

local function new_client(r, w)
  local self = setmetatable({
    _r = r, _w = w, _parser = new_reader(null),
    _fifo = {}, _head = 1, _tail = 0, _out = {}, _nout = 0, _outbytes = 0, _wbuf = 0, _flushing = false,
  }, Client)
  self._task = aio.spawn(reader_loop, self)
  return self
end

function M.connect(url)
  local cfg = parse_url(url)
  check_in_task("connect")
  local r, w
  if cfg.path then
    r, w = aio.open_unix_connection(cfg.path)
  else
    r, w = aio.open_connection(cfg.host, cfg.port)
  end
  local self = new_client(r, w)
  local ok, e = pcall(function()
    if cfg.password then
      if cfg.user then command(self, "connect", 1, "AUTH", cfg.user, cfg.password)
      else command(self, "connect", 1, "AUTH", cfg.password) end
    end
    if cfg.db ~= 0 then command(self, "connect", 1, "SELECT", cfg.db) end
  end)
  if not ok then
    self:close()
    error(e, 0)
  end
  return self
end

---------------------------------------------------------------------------------------------
-- Client

-- commands whose replies do not come one per command (pushes, a stream, none at all, RESP3):
-- they would break the matching of replies to calls, so call and pipeline refuse them
local REFUSED = {
  SUBSCRIBE = "use subscribe()", PSUBSCRIBE = "use psubscribe()",
  SSUBSCRIBE = "sharded pub/sub is not supported", UNSUBSCRIBE = "use unsubscribe()",
  PUNSUBSCRIBE = "use punsubscribe()", SUNSUBSCRIBE = "sharded pub/sub is not supported",
  MONITOR = "it streams replies", SYNC = "it streams replies", PSYNC = "it streams replies",
}

-- argerror level: `level` is the level of the method calling check_raw
local function check_raw(fname, level, cmd, arg2, arg3)
  if type(cmd) ~= "string" or #cmd > 12 then return end
  local u = cmd:upper()
  local why = REFUSED[u]
  if u == "CLIENT" and type(arg2) == "string" and arg2:upper() == "REPLY"
      and not (type(arg3) == "string" and arg3:upper() == "ON") then
    why = "every call needs its reply (CLIENT REPLY OFF|SKIP)"
  elseif u == "HELLO" and arg2 ~= nil and tostring(arg2) ~= "2" then
    why = "the client speaks RESP2 only"
  end
  if why then argerror(1, fname, ("'%s' is refused: %s"):format(cmd, why), level + 1) end
end

function Client:call(...)
  check_self(self, Client, "call")
  check_raw("call", 2, ...)
  return command(self, "call", 1, ...)
end

function Client:close()
  check_self(self, Client, "close")
  if self._closed then return end
  self._closed = true
  fail(self, closed_error())
  if self._task and not self._task:done() and self._task ~= aio.current_task() then
    self._task:cancel()
  end
end
Client.__close = Client.close

function Client:is_closed()
  check_self(self, Client, "is_closed")
  return self._err ~= nil
end

function Client:__tostring()
  return ("RedisClient (%s)"):format(self._err and "closed" or "open")
end

-- pipeline(fn): fn(p) queues commands on p; they are sent at once and the replies come
-- back as one list (an error reply stays in it as a RedisError object)
function Client:pipeline(fn)
  check_self(self, Client, "pipeline")
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    typeerror(1, "pipeline", "function", fn, 2)
  end
  local p = setmetatable({ _cmds = {}, _n = 0 }, Pipeline)
  fn(p)
  p._done = true
  check_in_task("pipeline")
  check_usable(self, "pipeline")
  local n = p._n
  if n == 0 then return { n = 0 } end
  throttle(self, "pipeline")
  local e = setmetatable({ fut = Future(), n = n, got = 0, out = { n = n } }, PipeEntry)
  push(self, concat(p._cmds, "", 1, n), e)
  return e.fut:await()
end

local function pipe_add(p, fname, base, ...)
  if p._done then error(RuntimeError("pipeline is already sent"), 3) end
  local n = p._n + 1
  p._cmds[n] = encode(fname, base, ...)
  p._n = n
  return p
end

function Pipeline:call(...)
  check_self(self, Pipeline, "call")
  check_raw("call", 2, ...)
  return pipe_add(self, "call", 1, ...)
end

---------------------------------------------------------------------------------------------
-- pub/sub

local function sub_iterator(sub)
  return function()
    if sub.ended then return nil end
    local m = sub.queue:get()
    if m == false then sub.ended = true; return nil end
    if getmetatable(m) ~= nil then sub.ended = true; error(m) end -- the connection failed
    return m
  end
end

local function subscribe(self, fname, cmd, ...)
  check_self(self, Client, fname)
  local n = select("#", ...)
  if n == 0 then argerror(1, fname, "channel expected", 3) end
  local data = encode(fname, 0, cmd, ...)
  check_in_task(fname)
  if self._err then error(self._err, 2) end
  local sub = self._sub
  if not sub then
    sub = { queue = aio.Queue() }
    sub.iter = sub_iterator(sub)
    self._sub = sub
  end
  local e = setmetatable({ fut = Future(), n = n, got = 0 }, SubEntry)
  push(self, data, e)
  e.fut:await()
  return sub.iter
end

function Client:subscribe(...) return subscribe(self, "subscribe", "SUBSCRIBE", ...) end
function Client:psubscribe(...) return subscribe(self, "psubscribe", "PSUBSCRIBE", ...) end

local function unsubscribe(self, fname, cmd, ...)
  check_self(self, Client, fname)
  local data = encode(fname, 0, cmd, ...)
  if self._err then error(self._err, 2) end
  if not self._sub then return end
  send(self, data)
end

function Client:unsubscribe(...) return unsubscribe(self, "unsubscribe", "UNSUBSCRIBE", ...) end
function Client:punsubscribe(...) return unsubscribe(self, "punsubscribe", "PUNSUBSCRIBE", ...) end

---------------------------------------------------------------------------------------------
-- command methods, for Client (send and return the reply) and Pipeline (queue)

-- name = words of the command (the arguments follow them)
local SIMPLE = {
  get = "GET", getset = "GETSET", getdel = "GETDEL", append = "APPEND", strlen = "STRLEN",
  setnx = "SETNX", setex = "SETEX", psetex = "PSETEX",
  del = "DEL", unlink = "UNLINK", exists = "EXISTS", expire = "EXPIRE", pexpire = "PEXPIRE",
  expireat = "EXPIREAT", ttl = "TTL", pttl = "PTTL", persist = "PERSIST", type = "TYPE",
  rename = "RENAME", keys = "KEYS", scan = "SCAN", dbsize = "DBSIZE",
  incr = "INCR", incrby = "INCRBY", incrbyfloat = "INCRBYFLOAT", decr = "DECR", decrby = "DECRBY",
  mget = "MGET",
  hget = "HGET", hmget = "HMGET", hdel = "HDEL", hexists = "HEXISTS", hincrby = "HINCRBY",
  hkeys = "HKEYS", hvals = "HVALS", hlen = "HLEN", hsetnx = "HSETNX",
  lpush = "LPUSH", rpush = "RPUSH", lpop = "LPOP", rpop = "RPOP", lrange = "LRANGE",
  llen = "LLEN", lrem = "LREM", lindex = "LINDEX", lset = "LSET", ltrim = "LTRIM",
  lmove = "LMOVE", blmove = "BLMOVE", brpop = "BRPOP", blpop = "BLPOP",
  rpoplpush = "RPOPLPUSH", brpoplpush = "BRPOPLPUSH", lpos = "LPOS",
  sadd = "SADD", srem = "SREM", smembers = "SMEMBERS", sismember = "SISMEMBER", scard = "SCARD",
  spop = "SPOP", srandmember = "SRANDMEMBER",
  zadd = "ZADD", zrem = "ZREM", zrange = "ZRANGE", zrangebyscore = "ZRANGEBYSCORE",
  zrevrange = "ZREVRANGE", zscore = "ZSCORE", zcard = "ZCARD", zincrby = "ZINCRBY",
  zcount = "ZCOUNT", zrank = "ZRANK", zpopmin = "ZPOPMIN", zpopmax = "ZPOPMAX",
  zremrangebyscore = "ZREMRANGEBYSCORE",
  publish = "PUBLISH", ping = "PING", echo = "ECHO", eval = "EVAL", evalsha = "EVALSHA",
  script_load = "SCRIPT LOAD", script_exists = "SCRIPT EXISTS", script_flush = "SCRIPT FLUSH",
  flushdb = "FLUSHDB", flushall = "FLUSHALL", info = "INFO", time = "TIME",
  watch = "WATCH", unwatch = "UNWATCH", multi = "MULTI", exec = "EXEC", discard = "DISCARD",
}
M.commands = {}

local function words(spec)
  local w = {}
  for s in spec:gmatch("%S+") do w[#w + 1] = s end
  return w
end

for name, spec in pairs(SIMPLE) do
  M.commands[#M.commands + 1] = name
  local w = words(spec)
  local base = 1 - #w
  if #w == 1 then
    local c = w[1]
    Client[name] = function(self, ...)
      check_self(self, Client, name)
      return command(self, name, base, c, ...)
    end
    Pipeline[name] = function(self, ...)
      check_self(self, Pipeline, name)
      return pipe_add(self, name, base, c, ...)
    end
  else
    local c1, c2 = w[1], w[2]
    Client[name] = function(self, ...)
      check_self(self, Client, name)
      return command(self, name, base, c1, c2, ...)
    end
    Pipeline[name] = function(self, ...)
      check_self(self, Pipeline, name)
      return pipe_add(self, name, base, c1, c2, ...)
    end
  end
end
table.sort(M.commands)

-- set(key, value [, {ex, px, exat, pxat, nx, xx, keepttl, get}])
local SET_OPTS = { ex = true, px = true, exat = true, pxat = true, nx = true, xx = true,
                   keepttl = true, get = true }
local function set_args(opts)
  opts = check_opts(opts, SET_OPTS, "set", 3)
  local a, n = {}, 0
  for _, k in ipairs({ "ex", "px", "exat", "pxat" }) do
    local v = opts[k]
    if v ~= nil then
      if math_type(v) ~= "integer" or v <= 0 then
        argerror(3, "set", k .. " must be a positive integer", 4)
      end
      a[n + 1], a[n + 2] = k:upper(), v
      n = n + 2
    end
  end
  for _, k in ipairs({ "nx", "xx", "keepttl", "get" }) do
    local v = opts[k]
    if v ~= nil and type(v) ~= "boolean" then argerror(3, "set", k .. " must be a boolean", 4) end
    if v then n = n + 1; a[n] = k:upper() end
  end
  return a, n
end
function Client:set(key, value, opts)
  check_self(self, Client, "set")
  if opts == nil then return command(self, "set", 0, "SET", key, value) end
  local a, n = set_args(opts)
  return command(self, "set", 0, "SET", key, value, unpack(a, 1, n))
end
function Pipeline:set(key, value, opts)
  check_self(self, Pipeline, "set")
  if opts == nil then return pipe_add(self, "set", 0, "SET", key, value) end
  local a, n = set_args(opts)
  return pipe_add(self, "set", 0, "SET", key, value, unpack(a, 1, n))
end

-- a {k = v} table spread into k, v, ... (for mset, hset); keys in sorted order when
-- they sort, so the command is the same every time
local function spread(t, fname, argn)
  local keys, a, n = {}, {}, 0
  for k in pairs(t) do keys[#keys + 1] = k end
  pcall(table.sort, keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    local tk, tv = type(k), type(v)
    if (tk ~= "string" and tk ~= "number") or (tv ~= "string" and tv ~= "number") then
      argerror(argn, fname, "table of string or number keys and values expected", 4)
    end
    a[n + 1], a[n + 2] = k, v
    n = n + 2
  end
  if n == 0 then argerror(argn, fname, "empty table", 4) end
  return a, n
end

-- mset({k = v, ...}) or mset(k, v, ...)
local function mset_args(...)
  if type((...)) == "table" then return spread((...), "mset", 1) end
  return { ... }, select("#", ...)
end
function Client:mset(...)
  check_self(self, Client, "mset")
  local a, n = mset_args(...)
  return command(self, "mset", 0, "MSET", unpack(a, 1, n))
end
function Pipeline:mset(...)
  check_self(self, Pipeline, "mset")
  local a, n = mset_args(...)
  return pipe_add(self, "mset", 0, "MSET", unpack(a, 1, n))
end

-- hset(key, field, value, ...) or hset(key, {field = value, ...})
local function hset_args(key, ...)
  if type((...)) == "table" then
    local a, n = spread((...), "hset", 2)
    return key, a, n
  end
  return key, { ... }, select("#", ...)
end
function Client:hset(...)
  check_self(self, Client, "hset")
  local key, a, n = hset_args(...)
  return command(self, "hset", 0, "HSET", key, unpack(a, 1, n))
end
function Pipeline:hset(...)
  check_self(self, Pipeline, "hset")
  local key, a, n = hset_args(...)
  return pipe_add(self, "hset", 0, "HSET", key, unpack(a, 1, n))
end

-- hgetall(key) -> {field = value}
function Client:hgetall(key)
  check_self(self, Client, "hgetall")
  local l = command(self, "hgetall", 0, "HGETALL", key)
  local t = {}
  for i = 1, l.n, 2 do t[l[i]] = l[i + 1] end
  return t
end
function Pipeline:hgetall(key)
  check_self(self, Pipeline, "hgetall")
  return pipe_add(self, "hgetall", 0, "HGETALL", key)
end

for _, name in ipairs({ "set", "mset", "hset", "hgetall" }) do M.commands[#M.commands + 1] = name end
table.sort(M.commands)

priv.redis = M
if package and package.preload then
  package.preload["luaio.redis"] = function() return M end
end
