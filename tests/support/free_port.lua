-- free_port.lua — a TCP port on 127.0.0.1 that was free a moment ago (for a server started
-- in another process).
local aio = require "luaio"

return function()
  local srv = aio.start_server(function() end, "127.0.0.1", 0)
  local _, port = srv.sockets[1]:getsockname()
  srv:close()
  srv:wait_closed()
  return port
end
