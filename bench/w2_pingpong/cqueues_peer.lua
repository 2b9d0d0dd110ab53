-- W2 ping-pong on cqueues: two coroutines, two one-slot mailboxes guarded by
-- condition variables (put waits while full, get waits while empty).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local now = cqueues.monotime
local N = C.n(500000)

local function box()
  local b = { notempty = condition.new(), notfull = condition.new() }
  function b:put(v)
    while self.v ~= nil do self.notfull:wait() end
    self.v = v
    self.notempty:signal(1)
  end
  function b:get()
    while self.v == nil do self.notempty:wait() end
    local v = self.v
    self.v = nil
    self.notfull:signal(1)
    return v
  end
  return b
end

local q1, q2 = box(), box()
local cq = cqueues.new()
local s = 0
local t0 = now()
cq:wrap(function() for i = 1, N do q1:put(i); s = s + q2:get() end end)
cq:wrap(function() for _ = 1, N do q2:put(q1:get()) end end)
assert(cq:loop())
local dt = now() - t0
assert(s == N * (N + 1) // 2)
C.result(2 * N / dt, "msgs/s")
