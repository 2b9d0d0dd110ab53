-- J1 job queue (luaio.jobs over Redis). Usage:
--   luaio.lua enqueue N URL     N no-op jobs enqueued by 50 tasks, no worker; RESULT enqueues/s
--   luaio.lua W N URL           N jobs enqueued, then W worker processes (limit 100 each)
--                               started together; RESULT jobs/s from "go" to the last completion
--   luaio.lua worker URL QUEUE LIMIT   (a worker process: "ready", waits for "go" on stdin)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local jobs = require "luaio.jobs"
local redis = require "luaio.redis"
local now = C.clock()

local mode = arg[1]
local QUEUE = "j1"

if mode == "worker" then
  local url, name, limit = arg[2], arg[3], tonumber(arg[4])
  aio.run(function()
    local w = jobs.Worker { url, name, limit = limit, functions = { noop = function() end } }
    io.stdout:write("ready\n")
    io.stdout:flush()
    io.read("l") -- nothing else to do until "go": a blocking read is fine
    aio.add_signal_handler("SIGTERM", function() aio.spawn(function() w:close() end) end)
    w:run()
  end)
  return
end

local N = tonumber(arg[2]) or 20000
local url = arg[3] or "redis://127.0.0.1:6379"

local function enqueue_all(q, n)
  local tg <close> = aio.TaskGroup()
  local per = math.ceil(n / 50)
  for k = 0, 49 do
    tg:spawn(function()
      for _ = k * per + 1, math.min(n, (k + 1) * per) do q:enqueue("noop", {}) end
    end)
  end
end

aio.run(function()
  local c = redis.connect(url)
  c:call("FLUSHDB")
  local q = jobs.Queue(url, QUEUE)
  if mode == "enqueue" then
    local t0 = now()
    do enqueue_all(q, N) end
    local dt = now() - t0
    assert(q:info().queued == N)
    C.result(N / dt, "jobs/s")
    return
  end
  local W = tonumber(mode)
  do enqueue_all(q, N) end
  local bin = os.getenv("J1_LUAIO") or arg[-1]
  local ps = {}
  for i = 1, W do
    ps[i] = aio.create_subprocess_exec(bin, { arg[0], "worker", url, QUEUE, 100 }, { stdin = "pipe", stdout = "pipe" })
    assert(ps[i].stdout:readline() == "ready\n")
  end
  local t0 = now()
  for i = 1, W do ps[i].stdin:write("go\n") end
  while true do
    local info = q:info()
    if info.complete == N then break end
    aio.sleep(0.005)
  end
  local dt = now() - t0
  for i = 1, W do ps[i]:terminate() end
  for i = 1, W do ps[i]:wait() end
  q:close()
  c:close()
  C.result(N / dt, "jobs/s")
end)
