-- tool.lua — the script examples/embed/uv_tool.c runs inside its own libuv program.
-- `tool.stat(path)` is a host call answered by libuv's thread pool through a host future.
local aio = require "luaio"
local tool = ...

local function worker(name, n, delay)
  for i = 1, n do
    aio.sleep(delay)
    print(("  %s: step %d/%d"):format(name, i, n))
  end
  return name
end

local size = aio.await(tool.stat(tool.script))
print(("script: %s is %d bytes (stat by the host)"):format(tool.script, size))

local _, err = pcall(aio.await, tool.stat("/no/such/file"))
print("stat of a missing file fails in the script: " .. tostring(err))

local done = aio.gather(
  function() return worker("fetch", 3, 0.03) end,
  function() return worker("parse", 2, 0.05) end)
print(("all done: %s, %s"):format(done[1], done[2]))
return "ok"
