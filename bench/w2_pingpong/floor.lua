-- W2 floor: two bare Lua coroutines passing N messages each way by
-- resume/yield (plain lua5.4). One-way messages per second = 2N / time.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local now = C.clock()
local N = C.n(500000)
local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield

local pong = create(function(v) while true do v = yield(v) end end)
local ping = create(function()
  local s = 0
  for i = 1, N do local _, v = resume(pong, i); s = s + v end
  return s
end)
local t0 = now()
local _, s = resume(ping)
local dt = now() - t0
assert(s == N * (N + 1) // 2)
C.result(2 * N / dt, "msgs/s")
