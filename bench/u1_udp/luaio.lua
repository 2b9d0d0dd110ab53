-- U1 UDP ping-pong: P pairs of sockets on 127.0.0.1 in one process; in each pair a client
-- sends a 64-byte datagram, the server echoes it, the client waits for it, N/P times.
-- usage: luaio luaio.lua N P     Figure: round trips per second (all pairs).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = tonumber(arg[1]) or 200000
local P = tonumber(arg[2]) or 1
local per = N // P
local MSG = ("x"):rep(64)

aio.run(function()
  local servers, tasks = {}, {}
  for i = 1, P do
    local srv = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    servers[i] = srv
    local _, port = srv:getsockname()
    aio.spawn(function()
      while true do
        local d, h, p = srv:recvfrom()
        srv:sendto(d, h, p)
      end
    end)
    local cli = aio.open_datagram_endpoint { remote_host = "127.0.0.1", remote_port = port }
    tasks[i] = function()
      for _ = 1, per do
        cli:send(MSG)
        local r = cli:recv()
        if #r ~= 64 then error("short echo") end
      end
    end
  end
  local t0 = now()
  for i = 1, P do tasks[i] = aio.spawn(tasks[i]) end
  aio.gather(tasks)
  local dt = now() - t0
  for _, s in ipairs(servers) do s:close() end
  C.result(per * P / dt, "rt/s")
end)
