-- queue_workers.lua — a pool of workers draining a queue, as in asyncio's Queue example:
-- the main task fills the queue, waits with join() until every item was marked done with
-- task_done(), then cancels the workers. Run: build/luaio examples/queue_workers.lua
local aio = require "luaio"

local function worker(name, queue, done)
  while true do
    local job = queue:get()            -- suspends while the queue is empty
    aio.sleep(job.seconds)             -- the "work"
    done[#done + 1] = ("%s slept %.3f s for job %d"):format(name, job.seconds, job.id)
    queue:task_done()                  -- one item fully processed
  end
end

aio.run(function()
  local queue = aio.Queue()
  math.randomseed(1)
  local total = 0
  for id = 1, 20 do
    local seconds = math.random(1, 50) / 1000
    total = total + seconds
    queue:put_nowait { id = id, seconds = seconds }
  end

  local done, workers = {}, {}
  for i = 1, 3 do workers[i] = aio.spawn(worker, "worker-" .. i, queue, done) end

  local started = aio.time()
  queue:join()                         -- until every job was task_done()
  local elapsed = aio.time() - started

  for _, w in ipairs(workers) do w:cancel() end
  aio.gather(workers, { return_exceptions = true }) -- wait until they are cancelled

  for _, line in ipairs(done) do print(line) end
  print(("3 workers slept in parallel for %.2f s; total expected sleep time: %.2f s")
    :format(elapsed, total))
end)
