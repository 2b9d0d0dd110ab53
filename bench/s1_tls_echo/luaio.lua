-- S1-S3 TLS echo server on luaio: the W4 line echo (readline/write/drain) over TLS.
-- usage: luaio luaio.lua PORT CERTFILE KEYFILE   (127.0.0.1 only)
-- A failed handshake or a reset peer goes to the exception handler, which stays quiet here.
local aio = require "luaio"
local port = math.tointeger(tonumber(arg[1])) or 8443
local ctx = aio.ssl_context({ server = true, certfile = arg[2], keyfile = arg[3] })

local function handle(r, w)
  while true do
    local line = r:readline()
    if line == "" then break end
    w:write(line)
    w:drain()
  end
end

aio.set_exception_handler(function() end)
local server = aio.start_server(handle, "127.0.0.1", port, { ssl = ctx, backlog = 1024 })
server:serve_forever()
