-- debug_forgotten_await.lua — a forgotten await, and how debug mode points at it.
-- `save("draft")` below makes a coroutine object and drops it: the body never runs, and
-- nothing says so. Run it with debug mode on:
--   LUAIO_DEBUG=1 luaio examples/debug_forgotten_await.lua
-- and luaio reports, when the object is collected (at the latest when the run ends):
--   luaio: coroutine object created at examples/debug_forgotten_await.lua:19 was never awaited
local aio = require "luaio"

local saved = {}
local save = aio.async(function(name)
  aio.sleep(0.01)
  saved[#saved + 1] = name
end)

local function edit()
  save("first"):await()     -- awaited: runs
  aio.create_task(save("copy")):await() -- scheduled as a task: runs
  -- the bug: an await forgotten, so this one never runs
  save("draft")
end

aio.run(edit)
print("saved: " .. table.concat(saved, ", "))
