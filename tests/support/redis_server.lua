-- redis_server.lua — a real redis-server for specs: started on a free loopback port (and a
-- Unix socket) in a temporary directory, without persistence unless asked, ready when it
-- answers PING; stopped with kill + wait so none is ever left behind. Works inside a task
-- or outside any loop (setup / teardown), since each step that needs the loop runs under
-- aio.run, which runs in place inside a task.
--
--   local redis_server = require "support.redis_server"
--   if not redis_server.available() then pending(redis_server.MISSING) return end
--   it("...", redis_server.with_server({}, function(srv) ... srv.url ... end))
--   local srv = redis_server.start{requirepass = "pw", persist = true, args = {...}}
--   srv.url / srv:url_for(db) / srv.unix_url / srv.port / srv.dir / srv:pid()
--   srv:kill("KILL") / srv:stop() / srv:restart()   -- restart: same port, same dir
local aio = require "luaio"
local async = require "support.async"
local fs = require "support.fs"
local q = require "support.quote"
local poll = require "support.poll"
local free_port = require "support.free_port"

local M = {}
M.MISSING = "redis-server not installed (make deps installs it)"

-- how long a lost server may outlive its test run at most (it is normally stopped at once)
M.LIFETIME = 900

function M.available()
  return os.execute("command -v redis-server >/dev/null 2>&1") == true
end

local Server = {}
Server.__index = Server

local function in_loop(fn)
  return aio.run(fn)
end

-- opts: requirepass (string), persist (true: RDB snapshot + append-only file in srv.dir),
-- args (list of extra "--name value" words), port (a fixed one), dir (reuse a directory)
function M.start(opts)
  opts = opts or {}
  local self = setmetatable({ opts = opts, dir = opts.dir or fs.mktemp() }, Server)
  self.port = opts.port or in_loop(free_port)
  self.host = "127.0.0.1"
  self.socket = self.dir .. "/redis.sock"
  self:_launch()
  return self
end

function Server:_launch()
  local opts = self.opts
  local words = {
    "redis-server", "--port", self.port, "--bind", "127.0.0.1", "--dir", self.dir,
    "--unixsocket", self.socket, "--unixsocketperm", "700",
    "--pidfile", self.dir .. "/redis.pid", "--daemonize", "no", "--logfile", self.dir .. "/redis.log",
    "--protected-mode", "no",
  }
  local function add(...) for _, w in ipairs({ ... }) do words[#words + 1] = w end end
  if opts.persist then
    add("--appendonly", "yes", "--appendfsync", "always", "--dbfilename", "dump.rdb")
  else
    add("--save", "", "--appendonly", "no")
  end
  if opts.requirepass then add("--requirepass", opts.requirepass) end
  for _, w in ipairs(opts.args or {}) do add(w) end
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = q(w) end
  os.remove(self.dir .. "/status")
  os.remove(self.dir .. "/redis.pid")
  -- the wrapper shell waits for the server and records its exit in `status`; `timeout`
  -- ends a server its test forgot after M.LIFETIME seconds
  local inner = ("timeout -s KILL %d %s; echo $? > %s"):format(M.LIFETIME, table.concat(quoted, " "),
    q(self.dir .. "/status"))
  assert(os.execute(("( sh -c %s </dev/null >/dev/null 2>&1 & ) </dev/null >/dev/null 2>&1"):format(q(inner))))
  local ok, err = pcall(in_loop, function() self:_wait_ready() end)
  if not ok and not opts.port and not self.url and (self.attempts or 0) < 3 and self:status() then
    self.attempts = (self.attempts or 0) + 1 -- the port was taken meanwhile: another one
    self.port = in_loop(free_port)
    return self:_launch()
  end
  if not ok then
    self:stop()
    error(("redis-server did not start: %s\n%s"):format(tostring(err), fs.slurp(self.dir .. "/redis.log") or ""), 0)
  end
  local auth = self.opts.requirepass and (":" .. self.opts.requirepass .. "@") or ""
  self.url = ("redis://%s%s:%d"):format(auth, self.host, self.port)
  self.unix_url = "unix://" .. self.socket .. (self.opts.requirepass and ("?password=" .. self.opts.requirepass) or "")
end

function Server:url_for(db)
  return ("%s/%d"):format(self.url, db)
end

-- inside a task: polls until the server answers a PING (any reply: +PONG or -NOAUTH) on
-- its own unix socket, in its own directory: a PONG on the TCP port could come from another
-- server that holds the port (then this one fails to bind it and exits before it makes the
-- socket, and start picks another port).
function Server:_wait_ready()
  poll(function()
    if self:status() then error("redis-server exited with status " .. self:status()) end
    local ok, r, w = pcall(aio.open_unix_connection, self.socket)
    if not ok then return false end
    w:write("PING\r\n")
    local ok2, line = pcall(r.readline, r)
    w:close()
    return ok2 and (line:match("^%+PONG") or line:match("^%-NOAUTH")) and true
  end, "redis-server to answer PING", 10)
end

function Server:pid()
  local s = fs.slurp(self.dir .. "/redis.pid")
  return s and tonumber(s:match("%d+"))
end

-- the server's exit status once it has exited, else nil
function Server:status()
  local s = fs.slurp(self.dir .. "/status")
  return s and tonumber(s:match("%d+"))
end

-- sends a signal ("KILL", "TERM", "STOP", "CONT") to the server
function Server:kill(sig)
  local pid = self:pid()
  if pid then os.execute(("kill -%s %d 2>/dev/null"):format(sig or "KILL", pid)) end
end

-- waits until the server has exited (after kill / a SHUTDOWN command)
function Server:wait()
  in_loop(function() poll(function() return self:status() end, "redis-server to exit", 10) end)
end

-- stops the server (SIGKILL unless it has exited) and waits for it; keeps the directory
function Server:halt()
  if not self:status() then
    self:kill("KILL")
    if self:pid() then self:wait() end
  end
end

-- the same server again on the same port and directory (its data back when persist)
function Server:restart()
  self:halt()
  self:_launch()
end

-- stops the server and removes its directory (idempotent)
function Server:stop()
  if self.stopped then return end
  self.stopped = true
  self:halt()
  if not self.opts.dir then fs.rmdir(self.dir) end
end
Server.__close = Server.stop

-- a spec body (async) that runs fn(srv) with a fresh server, stopped in every case
function M.with_server(opts, fn, limit)
  return async(function()
    local srv = M.start(opts)
    local ok, err = pcall(fn, srv)
    srv:stop()
    if not ok then error(err, 0) end
  end, limit or 10)
end

return M
