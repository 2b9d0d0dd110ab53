-- jobs_worker.lua — a luaio.jobs worker and its producer in one script: the worker runs the
-- functions `square` and `flaky` (which fails once and is retried), the producer enqueues
-- jobs and prints their results; then the worker closes (as it would on SIGTERM).
-- usage: luaio examples/jobs_worker.lua [URL] [QUEUE]   (default redis://127.0.0.1:6379/15
-- and queue "example:jobs")
-- In production run the worker part in several processes (or machines) with
--   aio.add_signal_handler("SIGTERM", function() aio.spawn(function() w:close() end) end)
local aio = require "luaio"
local jobs = require "luaio.jobs"

local url = arg and arg[1] or "redis://127.0.0.1:6379/15"
local name = arg and arg[2] or "example:jobs"

local tries = 0
local functions = {
  square = function(x) aio.sleep(0.01) return x * x end,
  flaky = function(msg)
    tries = tries + 1
    if tries == 1 then error("transient failure", 0) end
    return msg .. " after " .. tries .. " tries"
  end,
}

aio.run(function()
  local w = jobs.Worker { url, name, limit = 10, retry_backoff = 0.05, functions = functions }
  local running = aio.spawn(function() w:run() end)

  local q <close> = jobs.Queue(url, name)
  local refs = {}
  for i = 1, 5 do refs[i] = q:enqueue("square", { i }) end
  local flaky = q:enqueue("flaky", { "done" }, { retries = 2 })
  for i, ref in ipairs(refs) do print(("square(%d) = %d"):format(i, ref:result(10))) end
  print("flaky: " .. flaky:result(10))
  print("status: " .. flaky:status())

  w:close()          -- waits for running jobs; run() returns
  running:await()
end)
