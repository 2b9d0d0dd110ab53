-- P2 pipe throughput: N MiB through `cat` (64 KiB writes with drain into its stdin while
-- its stdout is read at the same time); MiB/s.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local MIB = C.n(256)
local CHUNK = 65536
local chunk = string.rep("x", CHUNK)

local t0 = now()
local p = aio.create_subprocess_exec("cat", {}, { stdin = "pipe", stdout = "pipe" })
local writer = aio.spawn(function()
  local w = p.stdin
  for _ = 1, MIB * 1048576 // CHUNK do
    w:write(chunk)
    w:drain()
  end
  w:close()
end)
local got, r = 0, p.stdout
while true do
  local s = r:read(1048576)
  if s == "" then break end
  got = got + #s
end
writer:await()
assert(p:wait() == 0)
local t1 = now()
assert(got == MIB * 1048576, "got " .. got)
C.result(MIB / (t1 - t0), "MiB/s")
