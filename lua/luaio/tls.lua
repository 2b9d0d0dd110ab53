-- tls.lua — the policy over tls.c and the stream's TLS engine: aio.ssl_context's options
-- and defaults, the default client context (ssl = true), the handshake with its timeout for
-- open_connection / start_server (their ssl options, checked in streams.lua) and
-- StreamWriter:start_tls.
local aio, priv = ...

local new_context, W = aio._ssl_context, aio._writer_methods
aio._ssl_context, aio._writer_methods = nil, nil

local check_opts, is_cancel, argerror, typeerror = priv.check_opts, priv.is_cancel, priv.argerror, priv.typeerror
local type, error, pcall, ipairs, setmetatable, getmetatable = type, error, pcall, ipairs, setmetatable, getmetatable
local call_exception_handler = aio.call_exception_handler

local DEFAULT_HANDSHAKE_TIMEOUT = 60

-- what each context was made with: {server =, check_hostname =} (weak: contexts are
-- collected as usual)
local info = setmetatable({}, { __mode = "k" })

local function opt_type(opts, key, want, fname, argn)
  local v = opts[key]
  if v ~= nil and type(v) ~= want then
    argerror(argn, fname, ("%s must be a %s, got %s"):format(key, want, type(v)), 4)
  end
  return v
end

local CTX_OPTS = {
  server = true, certfile = true, keyfile = true, cafile = true, capath = true, verify = true,
  check_hostname = true, alpn = true, min_version = true, ciphers = true,
}
function aio.ssl_context(opts)
  opts = check_opts(opts, CTX_OPTS, "ssl_context", 1)
  local server = opt_type(opts, "server", "boolean", "ssl_context", 1) or false
  for _, k in ipairs({ "certfile", "keyfile", "cafile", "capath", "ciphers", "min_version" }) do
    opt_type(opts, k, "string", "ssl_context", 1)
  end
  local verify = opt_type(opts, "verify", "boolean", "ssl_context", 1)
  if verify == nil then verify = not server end
  local check = opt_type(opts, "check_hostname", "boolean", "ssl_context", 1)
  if check == nil then check = not server end
  local mv = opts.min_version
  if mv ~= nil and mv ~= "TLSv1.2" and mv ~= "TLSv1.3" then
    argerror(1, "ssl_context", "min_version must be 'TLSv1.2' or 'TLSv1.3', got '" .. mv .. "'", 3)
  end
  local alpn = opt_type(opts, "alpn", "table", "ssl_context", 1)
  if alpn then
    for i, p in ipairs(alpn) do
      if type(p) ~= "string" or #p == 0 or #p > 255 then
        argerror(1, "ssl_context", ("alpn[%d] must be a protocol name of 1 to 255 bytes"):format(i), 3)
      end
    end
  end
  if server and not opts.certfile then
    argerror(1, "ssl_context", "a server context needs certfile", 3)
  end
  if opts.keyfile and not opts.certfile then
    argerror(1, "ssl_context", "keyfile needs certfile", 3)
  end
  local ctx = new_context({
    server = server, verify = verify, check_hostname = check and verify and not server,
    certfile = opts.certfile, keyfile = opts.keyfile, cafile = opts.cafile, capath = opts.capath,
    alpn = alpn, min_version = mv, ciphers = opts.ciphers,
  })
  info[ctx] = { server = server, check_hostname = check and verify and not server }
  return ctx
end

local default_client
local function client_context(ssl)
  if ssl == true then
    default_client = default_client or aio.ssl_context()
    return default_client
  end
  return ssl
end

-- checks the ssl options of a connecting or serving call; returns the context or nil
function priv.check_ssl(opts, fname, argn, server_side)
  local ssl = opts.ssl
  if ssl == nil or ssl == false then
    if opts.server_hostname ~= nil then
      error(aio.ValueError("server_hostname is only meaningful with ssl"), 3)
    end
    if opts.ssl_handshake_timeout ~= nil then
      error(aio.ValueError("ssl_handshake_timeout is only meaningful with ssl"), 3)
    end
    return nil
  end
  if ssl == true and server_side then
    argerror(argn, fname, "ssl must be a server SSLContext", 3)
  end
  if ssl ~= true and not info[ssl] then
    argerror(argn, fname, "ssl must be true or an SSLContext, got " .. type(ssl), 3)
  end
  if ssl ~= true and info[ssl].server ~= server_side then
    argerror(argn, fname, server_side and "ssl must be a server SSLContext (server = true)"
      or "ssl must be a client SSLContext", 3)
  end
  local h = opts.server_hostname
  if h ~= nil and (server_side or type(h) ~= "string") then
    argerror(argn, fname, server_side and "server_hostname is for clients"
      or "server_hostname must be a string", 3)
  end
  local t = opts.ssl_handshake_timeout
  if t ~= nil and (type(t) ~= "number" or not (t > 0)) then
    argerror(argn, fname, "ssl_handshake_timeout must be a number > 0", 3)
  end
  return client_context(ssl)
end

local function handshake(w, ctx, server, hostname, timeout)
  w:_start_tls(ctx, server, hostname)
  local _ <close> = aio.timeout(timeout or DEFAULT_HANDSHAKE_TIMEOUT)
  w:_handshake()
end

-- a client connection: the handshake completes before it is handed over; a failure
-- closes the connection
function priv.tls_client(w, ctx, hostname, timeout)
  if hostname == nil and info[ctx].check_hostname then
    w:close()
    error(aio.ValueError("server_hostname is required when the context checks host names"), 0)
  end
  local ok, e = pcall(handshake, w, ctx, false, hostname, timeout)
  if not ok then
    w:close()
    error(e, 0)
  end
end

-- a server's connection body: the handshake, then client_cb; a failed handshake goes to
-- the exception handler, closes that connection only and never reaches client_cb
function priv.tls_server_body(body, ctx, timeout)
  return function(r, w)
    local ok, e = pcall(handshake, w, ctx, true, nil, timeout)
    if not ok then
      w:close()
      if is_cancel(e) then error(e, 0) end
      call_exception_handler({ message = "SSL handshake failed", exception = e, writer = w })
      return
    end
    return body(r, w)
  end
end

local START_TLS_OPTS = { server_hostname = true, ssl_handshake_timeout = true }
function W:start_tls(ctx, opts)
  if getmetatable(self) ~= W then typeerror(1, "start_tls", "luaio.StreamWriter", self, 2) end
  if not info[ctx] then argerror(2, "start_tls", "SSLContext expected, got " .. type(ctx), 2) end
  opts = check_opts(opts, START_TLS_OPTS, "start_tls", 3)
  local server = info[ctx].server
  local h = opts.server_hostname
  if h ~= nil and (server or type(h) ~= "string") then
    argerror(3, "start_tls", server and "server_hostname is for clients"
      or "server_hostname must be a string", 2)
  end
  local t = opts.ssl_handshake_timeout
  if t ~= nil and (type(t) ~= "number" or not (t > 0)) then
    argerror(3, "start_tls", "ssl_handshake_timeout must be a number > 0", 2)
  end
  if server then
    local ok, e = pcall(handshake, self, ctx, true, nil, t)
    if not ok then self:close(); error(e, 0) end
  else
    priv.tls_client(self, ctx, h, t)
  end
end
