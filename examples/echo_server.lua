-- echo_server.lua — a line echo server: each connection runs in its own task.
-- usage: luaio examples/echo_server.lua [port [host]]   (default 8888 on 127.0.0.1)
local aio = require "luaio"

local port = tonumber(arg and arg[1]) or 8888
local host = arg and arg[2] or "127.0.0.1"

local function handle(reader, writer)
  local peer, pport = writer:get_extra_info("peername")
  io.stderr:write(("connection from %s:%s\n"):format(peer, pport))
  while true do
    local line = reader:readline()
    if line == "" then break end      -- EOF
    writer:write(line)
    writer:drain()                     -- backpressure: waits only if the peer is slow
  end
end

aio.run(function()
  local server = aio.start_server(handle, host, port)
  local h, p = server.sockets[1]:getsockname()
  io.stderr:write(("echo server on %s:%d\n"):format(h, p))
  server:serve_forever()
end)
