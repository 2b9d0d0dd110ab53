-- two_tasks.lua — two tasks sleep concurrently: the pair takes as long as the longer one
-- (about 0.2 s), not the sum. Run: build/luaio examples/two_tasks.lua
local aio = require "luaio"

local function nap(name, seconds)
  local t0 = aio.time()
  aio.sleep(seconds)
  print(("%s slept %.2f s"):format(name, aio.time() - t0))
  return seconds
end

local t0 = aio.time()
local task1 = aio.spawn(nap, "task1", 0.2)
local task2 = aio.spawn(nap, "task2", 0.1)
task1:await()
task2:await()
print(("both done in %.2f s (the longest was 0.20 s)"):format(aio.time() - t0))
