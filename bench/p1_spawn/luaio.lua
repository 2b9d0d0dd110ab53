-- P1 spawn: N runs of /bin/true, at most 16 at a time, each awaited; spawns/s.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(2000)
local CONC = 16

local started = 0
local function worker()
  while started < N do
    started = started + 1
    local p = aio.create_subprocess_exec("/bin/true", {})
    assert(p:wait() == 0)
  end
end

local t0 = now()
local ts = {}
for i = 1, CONC do ts[i] = aio.spawn(worker) end
aio.gather(ts)
local t1 = now()
C.result(N / (t1 - t0), "spawns/s")
