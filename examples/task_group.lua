-- task_group.lua — structured concurrency: the block waits for every child; the first
-- failure cancels the others and surfaces as an ExceptionGroup.
local aio = require "luaio"

do
  local tg <close> = aio.TaskGroup()
  for i = 1, 3 do
    tg:spawn(function()
      aio.sleep(0.01 * i)
      print("child " .. i .. " done")
    end)
  end
end
print("all children finished")

local ok, err = pcall(function()
  local tg <close> = aio.TaskGroup()
  tg:spawn(function() aio.sleep(10) print("never printed") end)
  tg:spawn(function() aio.sleep(0.01) error("child failed", 0) end)
end)
print(ok, err.name, err.errors[1])
