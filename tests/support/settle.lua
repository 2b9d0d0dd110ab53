-- settle.lua — lets every ready task run `n` rounds (default 3) by stepping the loop with
-- aio.sleep(0), so interleavings stay deterministic.
local aio = require "luaio"

return function(n)
  for _ = 1, n or 3 do aio.sleep(0) end
end
