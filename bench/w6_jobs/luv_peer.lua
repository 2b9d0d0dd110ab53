-- W6 jobs on luv: N coroutine jobs (each yields once), at most 100 running,
-- the rest in a FIFO pending list (minimal scheduler in bench/lib).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local S = require "luvsched"
local now = C.clock()
local N = C.n(100000)
local LIMIT = 100

local active, pending, ph, pt, done = 0, {}, 1, 0, 0
local t1
local start
local function finished()
  active = active - 1
  done = done + 1
  if ph <= pt then
    local fn = pending[ph]; pending[ph] = nil; ph = ph + 1
    start(fn)
  elseif active == 0 and done == N then
    t1 = now()
  end
end
start = function(fn)
  active = active + 1
  S.spawn(function() fn(); finished() end)
end
local function spawn(fn)
  if active < LIMIT then start(fn) else pt = pt + 1; pending[pt] = fn end
end

local t0 = now()
local function job() S.yield0() end
for _ = 1, N do spawn(job) end
S.run()
assert(done == N)
C.result(N / (t1 - t0), "jobs/s")
