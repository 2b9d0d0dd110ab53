-- https_get.lua — an HTTPS GET: TLS over open_connection with the server's certificate
-- checked (chain and host name), then the status line, the headers and the body's size.
-- usage: luaio examples/https_get.lua URL [CAFILE]
--   URL     https://host[:port][/path]
--   CAFILE  PEM file of the CA(s) to trust instead of the system's CA store
-- Against the internet, where there is one:
--   build/luaio examples/https_get.lua https://example.com/
-- A certificate that does not verify (self-signed, unknown CA, wrong name, expired) ends it
-- with "https_get: SSLError: ..." on stderr and exit status 1.
local aio = require "luaio"

local url, cafile = arg and arg[1], arg and arg[2]
local host, port, path = (url or ""):match("^https://([^/:]+):?(%d*)(/?.*)$")
if not host then
  io.stderr:write("usage: https_get.lua https://host[:port][/path] [CAFILE]\n")
  os.exit(2)
end
port = tonumber(port) or 443
if path == "" then path = "/" end

local ok, err = pcall(aio.run, function()
  -- no cafile: the system store; either way the host name is checked
  local ctx = aio.ssl_context({ cafile = cafile, alpn = { "http/1.1" } })
  local reader, writer = aio.open_connection(host, port, { ssl = ctx, ssl_handshake_timeout = 10 })
  io.stderr:write(("connected with %s, %s\n"):format(writer:get_extra_info("tls_version"),
    writer:get_extra_info("cipher").name))
  writer:write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: luaio\r\n\r\n")
    :format(path, host))
  local head = reader:readuntil("\r\n\r\n")
  local status, rest = head:match("^(.-)\r\n(.*)$")
  print(status)
  local length, chunked
  for name, value in rest:gmatch("([^:\r\n]+):%s*([^\r\n]*)\r\n") do
    print(name .. ": " .. value)
    if name:lower() == "content-length" then length = tonumber(value) end
    if name:lower() == "transfer-encoding" and value:lower():find("chunked") then chunked = true end
  end
  local size = 0
  if chunked then -- size lines, data, CRLF ... until a 0 size
    while true do
      local n = tonumber(reader:readline():match("^%x+"), 16)
      if not n or n == 0 then break end
      size = size + #reader:readexactly(n)
      reader:readexactly(2)
    end
  elseif length then
    size = #reader:readexactly(length)
  else
    size = #reader:read()
  end
  print(("\n(%d bytes of body)"):format(size))
  writer:close()
  writer:wait_closed()
end)
if not ok then
  io.stderr:write("https_get: " .. tostring(err) .. "\n")
  os.exit(1)
end
