-- V1 virtual clock: N tasks, task i sleeps a pseudo-random time within one hour, on a
-- virtual clock (aio.virtual_clock: the binary's main task is already in the loop).
-- Figure: real seconds for the whole virtual hour.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(100000)

local t0 = now()
local clock <close> = aio.virtual_clock()
local seed, fired = 12345, 0
local function body(d) aio.sleep(d) fired = fired + 1 end
for _ = 1, N do
  seed = (seed * 1103515245 + 12345) % 2147483648 -- the same delays in every peer
  aio.spawn(body, seed % 3600000 / 1000)
end
while fired < N do aio.sleep(60) end
local dt = now() - t0
assert(aio.time() >= 3599 and aio.time() <= 3660, aio.time())
clock:close()
C.result(dt, "s")
