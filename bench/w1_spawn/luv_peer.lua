-- W1 spawn on luv: coroutines driven by a minimal ready queue drained from a
-- uv check handle (bench/lib/luvsched.lua); each task yields once (sleep(0)).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local now = C.clock()
local N = C.n(200000)

local t0 = now()
local res, left = {}, N
local done = S.future()
for i = 1, N do
  S.spawn(function(i)
    S.yield0()
    res[i] = i
    left = left - 1
    if left == 0 then done:set(true) end
  end, i)
end
local t1
S.spawn(function() done:wait(); t1 = now() end)
S.run()

local s = 0
for i = 1, N do s = s + res[i] end
assert(s == N * (N + 1) // 2)
C.result(N / (t1 - t0), "tasks/s")
