-- W2 ping-pong on luv: two coroutines, two bounded queues of size 1
-- (bench/lib/luvsched.lua; wake-ups go through the ready queue).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local now = C.clock()
local N = C.n(500000)
local q1, q2 = S.queue(1), S.queue(1)
local s, t1 = 0, nil
local t0 = now()
S.spawn(function()
  for i = 1, N do q1:put(i); s = s + q2:get() end
  t1 = now()
end)
S.spawn(function()
  for _ = 1, N do q2:put(q1:get()) end
end)
S.run()
assert(s == N * (N + 1) // 2)
C.result(2 * N / (t1 - t0), "msgs/s")
