-- udp.lua — aio.open_datagram_endpoint: the policy over udp.c's DatagramSocket. Checks the
-- options, resolves the local and remote names asynchronously (aio.getaddrinfo) and tries
-- each usable pair of addresses in turn, as asyncio's create_datagram_endpoint does.
local aio, priv = ...

local udp_open, check_task = aio._udp_open, aio._udp_check_task
aio._udp_open, aio._udp_check_task = nil, nil

local check_opts, argerror = priv.check_opts, priv.argerror
local type, error, pcall, ipairs, tostring, tonumber, getmetatable = type, error, pcall, ipairs,
  tostring, tonumber, getmetatable
local mtype, tointeger = math.type, math.tointeger
local getaddrinfo, OSError = aio.getaddrinfo, aio.OSError

local FNAME = "open_datagram_endpoint"
local OPTS = {
  local_host = true, local_port = true, remote_host = true, remote_port = true,
  family = true, reuse_port = true, allow_broadcast = true, queue = true,
}

local function bad(msg) argerror(1, FNAME, msg, 3) end

local function check_port(v, key)
  local p = v
  if type(p) == "string" then p = tonumber(p:match("^%s*(%d+)%s*$")) end
  if mtype(p) == "float" and p == p // 1 then p = tointeger(p) end
  if mtype(p) ~= "integer" or p < 0 or p > 65535 then
    bad(key .. " must be an integer from 0 to 65535, got "
      .. (type(v) == "string" and ("'" .. v .. "'") or tostring(v)))
  end
  return p
end

local function check_host(v, key)
  if v ~= nil and type(v) ~= "string" then bad(key .. " must be a string, got " .. type(v)) end
  if v == "" then bad(key .. " must not be empty") end
  return v
end

local function check_flag(v, key)
  if v ~= nil and type(v) ~= "boolean" then bad(key .. " must be a boolean, got " .. type(v)) end
  return v or false
end

local function no_address(what, host)
  return OSError(("%s %s: no usable address"):format(what, host), { code = "EADDRNOTAVAIL" })
end

function aio.open_datagram_endpoint(opts)
  check_task()
  opts = check_opts(opts, OPTS, FNAME, 1)
  local lhost, rhost = check_host(opts.local_host, "local_host"), check_host(opts.remote_host, "remote_host")
  local lport = opts.local_port ~= nil and check_port(opts.local_port, "local_port") or 0
  local rport = opts.remote_port
  if rhost then
    if rport == nil then bad("remote_port is required with remote_host") end
    rport = check_port(rport, "remote_port")
  elseif rport ~= nil then
    bad("remote_port given without remote_host")
  end
  local family = opts.family
  if family ~= nil and family ~= "inet" and family ~= "inet6" then
    bad("family must be 'inet' or 'inet6', got " .. (type(family) == "string" and ("'" .. family .. "'")
      or tostring(family)))
  end
  local reuse_port = check_flag(opts.reuse_port, "reuse_port")
  local broadcast = check_flag(opts.allow_broadcast, "allow_broadcast")
  local queue = opts.queue
  if queue == nil then queue = 1024
  elseif mtype(queue) ~= "integer" or queue < 0 then
    bad("queue must be an integer >= 0, got " .. tostring(queue))
  end

  -- resolve (suspends for names; numeric addresses are answered at once)
  local fopts = family and { family = family } or nil
  local locals = lhost and getaddrinfo(lhost, lport, fopts)
  local remotes = rhost and getaddrinfo(rhost, rport, fopts)
  if locals and #locals == 0 then error(no_address("bind", lhost), 2) end
  if remotes and #remotes == 0 then error(no_address("connect", rhost), 2) end

  -- the pairs to try: (family, local address or nil, remote address or nil)
  local tries = {}
  if remotes then
    for _, r in ipairs(remotes) do
      local l
      if locals then
        for _, a in ipairs(locals) do
          if a.family == r.family then l = a; break end
        end
      end
      if l or not locals then tries[#tries + 1] = { r.family, l and l.addr, r.addr, r.port } end
    end
    if #tries == 0 then
      error(OSError(("bind %s: no address of the family of %s"):format(lhost, rhost),
        { code = "EAFNOSUPPORT" }), 2)
    end
  elseif locals then
    for _, l in ipairs(locals) do tries[#tries + 1] = { l.family, l.addr } end
  else
    tries[1] = { family or "inet" }
  end

  local last
  for _, t in ipairs(tries) do
    local ok, s = pcall(udp_open, t[1], t[2], lport, t[3], t[4], reuse_port, broadcast, queue)
    if ok then return s end
    if getmetatable(s) ~= OSError then error(s, 0) end
    last = s
  end
  error(last, 0)
end
