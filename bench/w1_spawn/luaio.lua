-- W1 spawn: N tasks, each sleep(0) once then returns i; gather all; check sum.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(200000)

local function body(i) aio.sleep(0) return i end

local t0 = now()
local ts = {}
for i = 1, N do ts[i] = aio.spawn(body, i) end
local r = aio.gather(ts)
local t1 = now()

assert(r.n == N, "gather returned n=" .. tostring(r.n))
local s = 0
for i = 1, N do s = s + r[i] end
assert(s == N * (N + 1) // 2, "bad sum " .. s)
C.result(N / (t1 - t0), "tasks/s")
