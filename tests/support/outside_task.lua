-- outside_task.lua — runs fn(...) in a plain loop callback, outside every task (under the
-- luaio binary a spec body already runs inside the main task), and returns pcall's results.
local aio = require "luaio"

return function(fn, ...)
  local args = table.pack(...)
  local res
  aio.call_soon(function() res = table.pack(pcall(fn, table.unpack(args, 1, args.n))) end)
  while not res do aio.sleep(0) end
  return table.unpack(res, 1, res.n)
end
