-- SWITCH on cqueues: one wrapped coroutine doing N cqueues.sleep(0).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local cqueues = require "cqueues"
local now = cqueues.monotime
local N = C.n(1000000)
local cq = cqueues.new()
local dt
cq:wrap(function()
  local sleep = cqueues.sleep
  local t0 = now()
  for _ = 1, N do sleep(0) end
  dt = now() - t0
end)
assert(cq:loop())
C.result(dt / N * 1e9, "ns/switch")
