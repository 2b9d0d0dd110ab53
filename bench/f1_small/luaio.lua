-- F1 small files: read the N files of DIR (f0 .. f<N-1>, 4 KiB each), 64 at a time,
-- with aio.fs.read_file; files/s.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local DIR, N = arg[1], tonumber(arg[2]) or 2000
local CONC = 64

local bytes, next_i = 0, 0
local function worker()
  while next_i < N do
    local i = next_i
    next_i = i + 1
    local data = aio.fs.read_file(DIR .. "/f" .. i)
    bytes = bytes + #data
  end
end

aio.run(function()
  local t0 = now()
  local ws = {}
  for i = 1, CONC do ws[i] = worker end
  aio.gather(table.unpack(ws))
  local dt = now() - t0
  assert(bytes == N * 4096, "read " .. bytes)
  C.result(N / dt, "files/s")
end)
