-- SWITCH floor: bare coroutine.resume/yield round trip in plain lua5.4.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local now = C.clock()
local N = C.n(1000000)
local resume, yield = coroutine.resume, coroutine.yield
local co = coroutine.create(function() while true do yield() end end)
local t0 = now()
for _ = 1, N do resume(co) end
local dt = now() - t0
C.result(dt / N * 1e9, "ns/switch")
