-- W1 floor: N bare Lua 5.4 coroutines, each created and resumed twice
-- (once to start and reach its yield, once to finish); plain lua5.4.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local now = C.clock()
local N = C.n(200000)
local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield

local function body(i) yield() return i end

local t0 = now()
local cos = {}
for i = 1, N do cos[i] = create(body) end
for i = 1, N do resume(cos[i], i) end          -- start: runs to the yield
local res = {}
for i = 1, N do local _, v = resume(cos[i]); res[i] = v end  -- finish
local t1 = now()

local s = 0
for i = 1, N do s = s + res[i] end
assert(s == N * (N + 1) // 2)
C.result(N / (t1 - t0), "tasks/s")
