-- SWITCH on luv: one coroutine yielding N times through the minimal ready
-- queue (bench/lib/luvsched.lua), i.e. one loop iteration per switch.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local now = C.clock()
local N = C.n(1000000)
local dt
S.spawn(function()
  local y = S.yield0
  local t0 = now()
  for _ = 1, N do y() end
  dt = now() - t0
end)
S.run()
C.result(dt / N * 1e9, "ns/switch")
