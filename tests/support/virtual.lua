-- virtual.lua — as support.async, on a virtual clock: sleeps and timeouts take no real
-- time and happen in the order real time would give them. For specs whose waits are all
-- on the loop's own timers (no real I/O: that would be overtaken by the jumps).
--   it("...", virtual(function() ... end))
local aio = require "luaio"
local async = require "support.async"

return function(fn, limit)
  local body = async(fn, limit or 86400) -- virtual seconds: a day of them takes no time
  return function()
    local _ <close> = aio.virtual_clock()
    return body()
  end
end
