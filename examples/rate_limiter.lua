-- rate_limiter.lua — limiting concurrency with a semaphore: 12 "requests" start at once but
-- at most 3 run at any moment. `local _ <close> = sem:acquire()` gives the slot back when the
-- block ends, also when it fails. A second limiter paces starts: at most `rate` per second.
-- Run: build/luaio examples/rate_limiter.lua
local aio = require "luaio"

-- Concurrency limit: at most `n` holders at a time.
local function fetch(sem, id, stats)
  local _ <close> = sem:acquire()
  stats.active = stats.active + 1
  stats.peak = math.max(stats.peak, stats.active)
  aio.sleep(0.02)                      -- the request itself
  stats.active = stats.active - 1
  if id % 5 == 0 then error("request " .. id .. " failed") end -- the slot is still released
  return id
end

-- Rate limit: a token bucket refilled by a timer; each start takes one token.
local function RateLimiter(rate)
  local tokens = aio.BoundedSemaphore(rate)
  local refill = aio.spawn(function()
    while true do
      aio.sleep(1 / rate)
      pcall(tokens.release, tokens)    -- ValueError when the bucket is full: drop the token
    end
  end)
  return {
    take = function() tokens:acquire() end, -- the token is consumed, never given back
    close = function() refill:cancel() end,
  }
end

aio.run(function()
  local sem, stats = aio.Semaphore(3), { active = 0, peak = 0 }
  local tasks = {}
  for id = 1, 12 do tasks[id] = aio.spawn(fetch, sem, id, stats) end
  local results = aio.gather(tasks, { return_exceptions = true })
  local ok, failed = 0, 0
  for i = 1, results.n do
    if type(results[i]) == "number" then ok = ok + 1 else failed = failed + 1 end
  end
  print(("12 requests, at most %d at once: %d ok, %d failed, semaphore free again: %s")
    :format(stats.peak, ok, failed, tostring(not sem:locked())))

  local limiter = RateLimiter(50)
  local t0, starts = aio.time(), {}
  for i = 1, 75 do
    limiter.take()
    starts[i] = aio.time() - t0
  end
  limiter.close()
  print(("75 starts at 50/s (a burst of 50, then paced): last start after %.2f s"):format(starts[75]))
end)
