-- W6 jobs: N jobs, each aio.sleep(0), under aio.Scheduler{limit=100}
-- (aiojobs defaults otherwise), then sched:wait_and_close(); jobs/s.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local now = C.clock()
local N = C.n(100000)

local done = 0
local function job() aio.sleep(0); done = done + 1 end
local t0 = now()
local sched = aio.Scheduler{ limit = 100 }
for _ = 1, N do sched:spawn(job) end
sched:wait_and_close()
local dt = now() - t0
assert(done == N, "done " .. done)
C.result(N / dt, "jobs/s")
