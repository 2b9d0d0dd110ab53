-- F2 big file: read FILE (512 MiB) in 64 KiB chunks with File:read(65536); MiB/s.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local FILE = arg[1]

aio.run(function()
  local t0 = now()
  local f <close> = aio.open(FILE)
  local total = 0
  while true do
    local chunk = f:read(65536)
    if not chunk then break end
    total = total + #chunk
  end
  local dt = now() - t0
  C.result(total / 1048576 / dt, "MiB/s")
end)
