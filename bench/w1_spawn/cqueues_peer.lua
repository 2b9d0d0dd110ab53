-- W1 spawn on cqueues: N wrapped coroutines, each cqueues.sleep(0) once.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local cqueues = require "cqueues"
local now = cqueues.monotime
local N = C.n(200000)

local t0 = now()
local cq = cqueues.new()
local res = {}
for i = 1, N do
  cq:wrap(function() cqueues.sleep(0); res[i] = i end)
end
assert(cq:loop())
local t1 = now()

local s = 0
for i = 1, N do s = s + res[i] end
assert(s == N * (N + 1) // 2)
C.result(N / (t1 - t0), "tasks/s")
