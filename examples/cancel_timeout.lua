-- cancel_timeout.lua — cancelling a task, timing out a block and an awaitable, and
-- cleanup with <close> that runs even when the task is cancelled.
local aio = require "luaio"

local worker = aio.spawn(function()
  local _ <close> = setmetatable({}, { __close = function() print("worker: cleaned up") end })
  aio.sleep(60)
end)
aio.sleep(0)
worker:cancel("shutting down")
local ok, err = pcall(aio.await, worker)
print("worker ended:", ok, err)

ok, err = pcall(function()
  local _ <close> = aio.timeout(0.05)
  aio.sleep(1)
end)
print("timeout block:", ok, err)

ok, err = pcall(aio.wait_for, aio.spawn(aio.sleep, 1), 0.05)
print("wait_for:", ok, err)
