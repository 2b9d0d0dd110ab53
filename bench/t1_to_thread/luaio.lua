-- T1 to_thread overhead: N calls of aio.to_thread(echo, i), echo returning its argument,
-- made by W tasks each awaiting one call after the other (W calls in flight; W = 1 is
-- one call at a time, the round-trip latency); calls/s. Usage: luaio.lua [N] [W]
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(20000)
local W = math.tointeger(tonumber(arg[2])) or 64

local function echo(x) return x end

aio.run(function()
  aio.to_thread(echo, 0) -- the worker threads and a worker state exist before the clock starts
  local issued = 0
  local function caller()
    while issued < N do
      issued = issued + 1
      local i = issued
      assert(aio.to_thread(echo, i) == i)
    end
  end
  local t0 = now()
  local callers = {}
  for w = 1, W do callers[w] = aio.spawn(caller) end
  aio.gather(table.unpack(callers))
  local dt = now() - t0
  C.result(N / dt, "calls/s")
end)
