-- W5 idle tasks on cqueues: N wrapped coroutines waiting on one condition.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = C.n(100000)
local cq = cqueues.new()
local cond = condition.new()
local left, started = N, 0
local rss0, rss1
cq:wrap(function()
  C.fullgc()
  rss0 = C.rss()
  for _ = 1, N do
    cq:wrap(function() started = started + 1; cond:wait(); left = left - 1 end)
  end
  local spins = 0
  while started < N and spins < 1000 do cqueues.sleep(0); spins = spins + 1 end
  assert(started == N, "not all started")
  C.fullgc()
  rss1 = C.rss()
  cond:signal()
end)
assert(cq:loop())
assert(left == 0, "left " .. left)
C.result((rss1 - rss0) / N, "B/task")
