-- W5 idle tasks on luv: N coroutines (minimal scheduler) waiting on one future.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local N = C.n(100000)
local f = S.future()
local left = N
S.spawn(function()
  S.yield0()
  C.fullgc()
  local rss0 = C.rss()
  for _ = 1, N do S.spawn(function() f:wait(); left = left - 1 end) end
  S.yield0()                      -- all started, all waiting on f
  C.fullgc()
  local rss1 = C.rss()
  f:set(1)
  S.yield0()
  assert(left == 0)
  C.result((rss1 - rss0) / N, "B/task")
end)
S.run()
