-- W3 timers on cqueues: N wrapped coroutines, each cqueues.sleep((i%100)/1000).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local cqueues = require "cqueues"
local now = cqueues.monotime
local N = C.n(100000)
local t0 = now()
local cq = cqueues.new()
local left = N
for i = 1, N do
  cq:wrap(function() cqueues.sleep((i % 100) / 1000); left = left - 1 end)
end
assert(cq:loop())
local dt = now() - t0
assert(left == 0)
C.result((dt - 0.099) / N * 1e6, "us/timer")
