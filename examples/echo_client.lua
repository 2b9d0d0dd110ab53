-- echo_client.lua — sends lines to an echo server and prints what comes back.
-- usage: luaio examples/echo_client.lua [port [host [message...]]]
local aio = require "luaio"

local port = tonumber(arg and arg[1]) or 8888
local host = arg and arg[2] or "127.0.0.1"
local messages = { table.unpack(arg or {}, 3) }
if #messages == 0 then messages = { "hello", "world" } end

aio.run(function()
  local reader, writer = aio.open_connection(host, port)
  for _, m in ipairs(messages) do
    writer:write(m .. "\n")
    io.write("< ", reader:readline())
  end
  writer:close()
  writer:wait_closed()
end)
