-- redis_counter.lua — 20 tasks share one Redis client: each counts its visits with INCR,
-- then one pipeline reads every counter back, and a subscriber hears a "done" message.
-- usage: luaio examples/redis_counter.lua [URL]   (default redis://127.0.0.1:6379/15;
-- the example empties that database first)
local aio = require "luaio"
local redis = require "luaio.redis"

local url = arg and arg[1] or "redis://127.0.0.1:6379/15"

aio.run(function()
  local r <close> = redis.connect(url)
  r:flushdb()

  -- a second connection listens (a subscribed client runs no other command)
  local sub <close> = redis.connect(url)
  local messages = sub:subscribe("counter-events")
  local listener = aio.spawn(function()
    for msg in messages do
      print("heard on " .. msg.channel .. ": " .. msg.data)
      if msg.data == "done" then sub:unsubscribe() end
    end
  end)

  -- 20 tasks, 50 increments each, all on one client: their commands are pipelined
  local tasks = {}
  for i = 1, 20 do
    tasks[i] = aio.spawn(function()
      for _ = 1, 50 do r:incr("visits:" .. (i % 4)) end
    end)
  end
  aio.gather(table.unpack(tasks))

  local counts = r:pipeline(function(p)
    for k = 0, 3 do p:get("visits:" .. k) end
  end)
  for k = 0, 3 do print(("visits:%d = %s"):format(k, counts[k + 1])) end

  local ok, err = pcall(r.incr, r, "visits") -- fine: a new counter
  print("incr visits:", ok, err)
  r:rpush("a-list", "x")
  ok, err = pcall(r.incr, r, "a-list")
  print("incr a-list:", ok, err.name, err.code)

  r:publish("counter-events", "done")
  listener:await()
end)
