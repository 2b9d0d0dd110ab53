-- SWITCH: one task doing N aio.sleep(0); ns per switch.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(1000000)
local sleep = aio.sleep

local t = aio.spawn(function()
  local t0 = now()
  for _ = 1, N do sleep(0) end
  return now() - t0
end)
local dt = aio.gather({ t })[1]
C.result(dt / N * 1e9, "ns/switch")
