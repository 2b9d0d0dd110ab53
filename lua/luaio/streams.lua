-- streams.lua — the policy over net.c's mechanism: open_connection tries each
-- resolved address in turn, start_server builds a Server over listening sockets and runs each
-- connection's callback in its own task, reporting its failures; getaddrinfo; Unix sockets.
local aio, priv = ...

local resolve, connect, listen, addr_info = aio._resolve, aio._connect, aio._listen, aio._addr_info
aio._resolve, aio._connect, aio._listen, aio._addr_info = nil, nil, nil, nil
local resource_owner = aio._resource_owner
aio._resource_owner = nil

local check_opts, is_cancel = priv.check_opts, priv.is_cancel
local type, error, pcall, ipairs, tostring, tonumber, setmetatable, getmetatable =
  type, error, pcall, ipairs, tostring, tonumber, setmetatable, getmetatable
local mtype = math.type
local Future, call_exception_handler = aio.Future, aio.call_exception_handler

local DEFAULT_LIMIT = 65536

-- raised from a check_* helper: level 4 is the caller of the API function
local function argerror(argn, fname, msg) priv.argerror(argn, fname, msg, 4) end

local function check_port(port, fname, argn)
  local p = port
  if type(p) == "string" then p = tonumber(p:match("^%s*(%d+)%s*$")) end
  if mtype(p) == "float" and p == p // 1 then p = math.tointeger(p) end
  if mtype(p) ~= "integer" or p < 0 or p > 65535 then
    argerror(argn, fname, "port must be an integer from 0 to 65535, got "
      .. (type(port) == "string" and ("'" .. port .. "'") or tostring(port)))
  end
  return p
end

local function check_host(host, fname, argn, required)
  if (host ~= nil or required) and type(host) ~= "string" then
    argerror(argn, fname, "string expected, got " .. type(host))
  end
end

local function check_limit(opts, fname, argn)
  local limit = opts.limit
  if limit == nil then return DEFAULT_LIMIT end
  if mtype(limit) ~= "integer" or limit <= 0 then
    argerror(argn, fname, "limit must be a positive integer")
  end
  return limit
end

local function check_family(opts, fname, argn)
  local f = opts.family
  if f ~= nil and f ~= "inet" and f ~= "inet6" then
    argerror(argn, fname, "family must be 'inet' or 'inet6'")
  end
  return f
end

local function check_path(path, fname, argn)
  if type(path) ~= "string" or path == "" then
    argerror(argn, fname, "path expected, got " .. (path == "" and "empty string" or type(path)))
  end
end

-- ---- name resolution ----
local GAI_OPTS = { family = true }
function aio.getaddrinfo(host, port, opts)
  check_host(host, "getaddrinfo", 1)
  port = port == nil and 0 or check_port(port, "getaddrinfo", 2)
  opts = check_opts(opts, GAI_OPTS, "getaddrinfo", 3)
  local family = check_family(opts, "getaddrinfo", 3)
  local list = resolve(host, port, family, false)
  local out = {}
  for i, a in ipairs(list) do
    local fam, addr, p = addr_info(a)
    out[i] = { family = fam, addr = addr, port = p }
  end
  return out
end

-- ---- clients ----
local CONNECT_OPTS = { limit = true, family = true, ssl = true, server_hostname = true,
  ssl_handshake_timeout = true }
-- TLS (tls.lua): the handshake completes before the reader and writer are returned
local function secure(r, w, ctx, hostname, opts)
  if ctx then priv.tls_client(w, ctx, hostname, opts.ssl_handshake_timeout) end
  return r, w
end

function aio.open_connection(host, port, opts)
  check_host(host, "open_connection", 1, true)
  port = check_port(port, "open_connection", 2)
  opts = check_opts(opts, CONNECT_OPTS, "open_connection", 3)
  local limit = check_limit(opts, "open_connection", 3)
  local ctx = priv.check_ssl(opts, "open_connection", 3, false)
  local addrs = resolve(host, port, check_family(opts, "open_connection", 3), false)
  if #addrs == 0 then
    error(aio.OSError("getaddrinfo " .. host .. ": no address", { code = "EAI_NONAME" }), 2)
  end
  local last
  for _, a in ipairs(addrs) do
    local ok, r, w = pcall(connect, "tcp", a, limit)
    if ok then return secure(r, w, ctx, opts.server_hostname or host, opts) end
    if is_cancel(r) or getmetatable(r) ~= aio.OSError then error(r, 0) end
    last = r
  end
  error(last, 0)
end

local UNIX_CONNECT_OPTS = { limit = true, ssl = true, server_hostname = true, ssl_handshake_timeout = true }
function aio.open_unix_connection(path, opts)
  check_path(path, "open_unix_connection", 1)
  opts = check_opts(opts, UNIX_CONNECT_OPTS, "open_unix_connection", 2)
  local limit = check_limit(opts, "open_unix_connection", 2)
  local ctx = priv.check_ssl(opts, "open_unix_connection", 2, false)
  local r, w = connect("unix", path, limit)
  return secure(r, w, ctx, opts.server_hostname, opts)
end

-- ---- servers ----
local Server = { __name = "luaio.Server" }
Server.__index = Server

local check_self = priv.check_self

function Server:is_serving()
  check_self(self, Server, "is_serving")
  return not self._closed
end

-- Stops listening; open connections carry on (asyncio).
function Server:close()
  check_self(self, Server, "close")
  if self._closed then return end
  self._closed = true
  self._listening = self.sockets
  self.sockets = {} -- as asyncio: a closed server lists no sockets
  for _, s in ipairs(self._listening) do s:close() end
  local f = self._forever
  if f and not f:done() then f:cancel() end
end

-- Waits until the server is closed and every connection it accepted has closed.
function Server:wait_closed()
  check_self(self, Server, "wait_closed")
  for _, s in ipairs(self._listening or self.sockets) do s:wait_closed() end
end

function Server:start_serving() check_self(self, Server, "start_serving") end

function Server:serve_forever()
  check_self(self, Server, "serve_forever")
  if self._forever then
    error(aio.RuntimeError("server is already being awaited on serve_forever()"), 2)
  end
  if self._closed then error(aio.RuntimeError("server is closed"), 2) end
  local f = Future()
  self._forever = f
  local ok, err = pcall(f.await, f)
  self._forever = nil
  if not ok and is_cancel(err) then
    self:close()
    self:wait_closed()
  end
  error(err, 0)
end

function Server:__close()
  self:close()
  self:wait_closed()
end

function Server:__tostring()
  return ("Server<%d socket(s), %s>"):format(#self.sockets, self._closed and "closed" or "serving")
end

-- Each connection's task runs client_cb(reader, writer) itself (no wrapper frame: an idle
-- connection's coroutine stays small). When it ends, conn_done closes the writer (after
-- flushing) and reports an error that escaped client_cb (nobody awaits these tasks); the
-- server keeps serving. One exception, for a connection handed on: when
-- client_cb returned normally and another task has already used the reader or writer,
-- the connection stays open for that task (asyncio closes a writer once nothing refers to
-- it; Lua has no reference counts, so use by another task stands for "still referred to").
-- net.c calls priv.conn_done(task, writer) from the loop when a connection's task has
-- ended (a watch on the task, not a done callback: an idle connection costs no more than
-- its task and the writer's anchor).
function priv.conn_done(t, w)
  local e = not t:cancelled() and t:exception() -- retrieved: reported here, not again
  if e or t:cancelled() or not w:_shared() then pcall(w.close, w) end
  if e then
    call_exception_handler({
      message = "Unhandled exception in client_connected_cb",
      exception = e, traceback = t:traceback(), task = t, writer = w,
    })
  end
end

local function check_cb(cb, fname)
  if type(cb) ~= "function" and not (getmetatable(cb) or {}).__call then
    argerror(1, fname, "function expected, got " .. type(cb))
  end
end

local function check_backlog(opts, fname, argn)
  local b = opts.backlog
  if b == nil then return 100 end
  if mtype(b) ~= "integer" or b < 0 then argerror(argn, fname, "backlog must be an integer >= 0") end
  return b
end

local function check_flags(opts, fname, argn)
  for _, k in ipairs { "reuse_address", "reuse_port" } do
    local v = opts[k]
    if v ~= nil and type(v) ~= "boolean" then argerror(argn, fname, k .. " must be a boolean, got " .. type(v)) end
  end
end

local SERVER_OPTS = { limit = true, backlog = true, reuse_address = true, reuse_port = true, family = true,
  ssl = true, ssl_handshake_timeout = true }

-- a TLS server's connections run the handshake before client_cb (tls.lua)
local function server_body(cb, opts, fname, argn)
  local body = priv.async_body(cb) or cb
  local ctx = priv.check_ssl(opts, fname, argn, true)
  if ctx then return priv.tls_server_body(body, ctx, opts.ssl_handshake_timeout) end
  return body
end
function aio.start_server(cb, host, port, opts)
  check_cb(cb, "start_server")
  check_host(host, "start_server", 2)
  port = check_port(port == nil and 0 or port, "start_server", 3)
  opts = check_opts(opts, SERVER_OPTS, "start_server", 4)
  local limit = check_limit(opts, "start_server", 4)
  local backlog = check_backlog(opts, "start_server", 4)
  check_flags(opts, "start_server", 4)
  local main = server_body(cb, opts, "start_server", 4)
  local addrs = resolve(host, port, check_family(opts, "start_server", 4), true)
  local server = setmetatable({ sockets = {}, _closed = false }, Server)
  for _, a in ipairs(addrs) do
    local ok, s = pcall(listen, main, "tcp", a, backlog, limit, opts.reuse_port)
    if not ok then
      local e = s
      -- every interface: an address family the host lacks is skipped
      if not (host == nil and type(e) == "table" and e.code == "EAFNOSUPPORT") then
        for _, x in ipairs(server.sockets) do x:close() end
        error(e, 2)
      end
    else
      server.sockets[#server.sockets + 1] = s
      resource_owner(s, server) -- aio.open_resources lists the Server
    end
  end
  if #server.sockets == 0 then error(aio.OSError("no address to listen on", { code = "EADDRNOTAVAIL" }), 2) end
  return server
end

local UNIX_SERVER_OPTS = { limit = true, backlog = true, ssl = true, ssl_handshake_timeout = true }
function aio.start_unix_server(cb, path, opts)
  check_cb(cb, "start_unix_server")
  check_path(path, "start_unix_server", 2)
  opts = check_opts(opts, UNIX_SERVER_OPTS, "start_unix_server", 3)
  local limit = check_limit(opts, "start_unix_server", 3)
  local backlog = check_backlog(opts, "start_unix_server", 3)
  local s = listen(server_body(cb, opts, "start_unix_server", 3), "unix", path, backlog, limit)
  local server = setmetatable({ sockets = { s }, _closed = false, path = path }, Server)
  resource_owner(s, server)
  return server
end

aio.Server = Server
