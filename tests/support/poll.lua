-- poll.lua — inside a task, polls pred() every 20 ms until it returns a true value (which
-- is returned); fails naming `what` after `limit` seconds (default 5).
local aio = require "luaio"

return function(pred, what, limit)
  local deadline = aio.time() + (limit or 5)
  while true do
    local r = pred()
    if r then return r end
    if aio.time() > deadline then error("timed out waiting for " .. what, 2) end
    aio.sleep(0.02)
  end
end
