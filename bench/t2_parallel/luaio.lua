-- T2 to_thread parallelism: K CPU-bound calls (each about SECS seconds of Lua arithmetic
-- on a worker) run at once (gathered) and then in a row; prints both times and, as the
-- RESULT, the speed-up (time in a row / time at once). Usage: luaio.lua [K] [SECS]
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local K = math.tointeger(tonumber(arg[1])) or 4
local SECS = tonumber(arg[2]) or 0.5

local function burn(n)
  local x = 0
  for i = 1, n do x = (x + i * i) % 1000003 end
  return x
end

aio.run(function()
  -- calibrate on a worker: iterations for SECS seconds of one call
  local n, dt = 1000000, 0
  while true do
    local t0 = now()
    aio.to_thread(burn, n)
    dt = now() - t0
    if dt >= 0.1 then break end
    n = n * 2
  end
  n = math.floor(n * SECS / dt)
  local calls = {}
  local t0 = now()
  for i = 1, K do calls[i] = aio.spawn(aio.to_thread, burn, n) end
  local at_once = aio.gather(table.unpack(calls))
  local parallel = now() - t0
  t0 = now()
  for i = 1, K do assert(aio.to_thread(burn, n) == at_once[i]) end
  local serial = now() - t0
  io.write(("%d calls of %.2f s: at once %.3f s, in a row %.3f s\n"):format(K, serial / K, parallel, serial))
  C.result(serial / parallel, "x")
end)
