-- W2 ping-pong: two tasks exchange N messages through two aio.Queue(1).
-- Figure: one-way messages per second = 2N / time.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(500000)

local q1, q2 = aio.Queue(1), aio.Queue(1)
local t0 = now()
local ping = aio.spawn(function()
  local s = 0
  for i = 1, N do q1:put(i); s = s + q2:get() end
  return s
end)
local pong = aio.spawn(function()
  for _ = 1, N do q2:put(q1:get()) end
end)
local r = aio.gather({ ping, pong })
local dt = now() - t0
assert(r[1] == N * (N + 1) // 2, "bad sum")
C.result(2 * N / dt, "msgs/s")
