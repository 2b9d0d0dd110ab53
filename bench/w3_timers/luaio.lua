-- W3 timers: N concurrent tasks, task i sleeps (i % 100) ms.
-- Figure: (elapsed - 0.099 s) / N in microseconds per timer.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(100000)

local function body(i) aio.sleep((i % 100) / 1000) return 1 end

local t0 = now()
local ts = {}
for i = 1, N do ts[i] = aio.spawn(body, i) end
local r = aio.gather(ts)
local dt = now() - t0
assert(r.n == N)
C.result((dt - 0.099) / N * 1e6, "us/timer")
