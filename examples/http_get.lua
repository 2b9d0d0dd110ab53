-- http_get.lua — a minimal HTTP/1.1 GET over open_connection: prints the status line and
-- the headers, then the body's size.
-- usage: luaio examples/http_get.lua host [port [path]]   e.g. 127.0.0.1 8080 /
local aio = require "luaio"

local host = arg and arg[1] or "127.0.0.1"
local port = tonumber(arg and arg[2]) or 80
local path = arg and arg[3] or "/"

aio.run(function()
  local reader, writer = aio.open_connection(host, port)
  writer:write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: luaio\r\n\r\n")
    :format(path, host))
  local head = reader:readuntil("\r\n\r\n")
  local status, rest = head:match("^(.-)\r\n(.*)$")
  print(status)
  local length
  for name, value in rest:gmatch("([^:\r\n]+):%s*([^\r\n]*)\r\n") do
    print(name .. ": " .. value)
    if name:lower() == "content-length" then length = tonumber(value) end
  end
  local body = length and reader:readexactly(length) or reader:read()
  print(("\n(%d bytes of body)"):format(#body))
  writer:close()
  writer:wait_closed()
end)
