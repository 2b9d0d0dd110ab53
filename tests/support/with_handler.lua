-- with_handler.lua — runs fn(seen) with a loop exception handler that appends every context
-- it gets to `seen`; the previous handler is put back afterwards. Returns `seen`.
local aio = require "luaio"

return function(fn)
  local seen = {}
  local prev = aio.get_exception_handler()
  aio.set_exception_handler(function(ctx) seen[#seen + 1] = ctx end)
  local ok, err = pcall(fn, seen)
  aio.set_exception_handler(prev)
  if not ok then error(err, 0) end
  return seen
end
