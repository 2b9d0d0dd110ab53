-- Memory of N open Files (aio.open on one file): RSS growth per File, in bytes, and the
-- Lua heap's share. argv: FILE N
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local FILE, N = arg[1], tonumber(arg[2]) or 1000

aio.run(function()
  aio.open(FILE):close() -- the first open allocates what every later one shares
  C.fullgc()
  local r0, h0 = C.rss(), collectgarbage("count")
  local files = {}
  for i = 1, N do files[i] = aio.open(FILE) end
  C.fullgc()
  local per, heap = (C.rss() - r0) / N, (collectgarbage("count") - h0) * 1024 / N
  io.stderr:write(("%d open Files: %.0f B RSS, %.0f B Lua heap each\n"):format(N, per, heap))
  for _, f in ipairs(files) do f:close() end
  C.result(per, "B/File")
end)
