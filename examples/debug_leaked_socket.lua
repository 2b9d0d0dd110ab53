-- debug_leaked_socket.lua — a socket nobody closes, and how debug mode finds it.
-- Run it with debug mode on:
--   LUAIO_DEBUG=1 luaio examples/debug_leaked_socket.lua
-- When the script ends (the loop closes) luaio reports on stderr, as asyncio's
-- "unclosed transport" warning does:
--   luaio: unclosed stream StreamWriter: 0x... created at examples/debug_leaked_socket.lua:20
-- Without debug mode it reports nothing, but aio.open_resources() still lists the socket
-- (its site is recorded only in debug mode), so a test can assert it left nothing open.
local aio = require "luaio"

-- a server that answers one line per connection
local server = aio.start_server(function(reader, writer)
  local line = reader:readline()
  writer:write("echo: " .. line)
  writer:close()
end, "127.0.0.1", 0)
local _, port = server.sockets[1]:getsockname()

local function ask(question)
  local reader, writer = aio.open_connection("127.0.0.1", port) -- the leak: never closed
  writer:write(question .. "\n")
  return reader:readline()
end

io.write(ask("hello"))
for _, r in ipairs(aio.open_resources()) do
  print("still open:", r.kind, r.site or "(site recorded in debug mode only)")
end
server:close()
