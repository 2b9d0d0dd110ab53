-- async.lua — wraps a spec body so it runs inside the loop (aio.run), with a deadline so
-- a hang fails fast instead of stalling the suite: it("...", async(function() ... end))
local aio = require "luaio"

return function(fn, limit)
  return function()
    aio.run(function()
      local _ <close> = aio.timeout(limit or 5)
      return fn()
    end)
  end
end
