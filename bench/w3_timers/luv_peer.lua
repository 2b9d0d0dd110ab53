-- W3 timers on luv: N coroutines, each sleeps (i % 100) ms on its own uv
-- timer and is resumed through the minimal ready queue.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local now = C.clock()
local N = C.n(100000)

local t0 = now()
local left, t1 = N, nil
for i = 1, N do
  S.spawn(function()
    S.sleep_ms(i % 100)
    left = left - 1
    if left == 0 then t1 = now() end
  end)
end
S.run()
C.result(((t1 - t0) - 0.099) / N * 1e6, "us/timer")
