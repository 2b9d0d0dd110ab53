-- udp_echo.lua — a UDP echo server and a client talking to it.
-- usage: luaio examples/udp_echo.lua               (server and client in one process)
--        luaio examples/udp_echo.lua server [port]  (a server only; default port 9999)
local aio = require "luaio"

-- answers every datagram with the same bytes, to whoever sent it
local function serve(sock)
  while true do
    local data, host, port = sock:recvfrom()
    sock:sendto(data, host, port)
  end
end

aio.run(function()
  if arg and arg[1] == "server" then
    local sock <close> = aio.open_datagram_endpoint {
      local_host = "127.0.0.1", local_port = tonumber(arg[2]) or 9999 }
    io.stderr:write(("udp echo server on %s:%d\n"):format(sock:getsockname()))
    serve(sock)
    return
  end

  local server <close> = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
  local _, port = server:getsockname()
  local task = aio.spawn(serve, server)

  -- a connected client: send needs no address, recv only hears the server
  local client <close> = aio.open_datagram_endpoint { remote_host = "127.0.0.1", remote_port = port }
  for _, msg in ipairs { "hello", "datagram", "world" } do
    client:send(msg)
    local reply = aio.wait_for(aio.spawn(client.recv, client), 2) -- UDP may lose: don't wait forever
    print(("sent %q, got back %q"):format(msg, reply))
  end
  task:cancel()
end)
