-- tcp_server.lua — starts a server on 127.0.0.1, port 0; returns server, port, host.
local aio = require "luaio"

return function(cb, opts)
  local srv = aio.start_server(cb, "127.0.0.1", 0, opts)
  local host, port = srv.sockets[1]:getsockname()
  return srv, port, host
end
