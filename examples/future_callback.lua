-- future_callback.lua — a future resolved later by a plain callback; the task awaiting
-- it just suspends until then.
local aio = require "luaio"

local fut = aio.Future()
aio.call_later(0.1, function() fut:set_result("from the callback", 42) end)
fut:add_done_callback(function(f) print("done callback sees:", f:result()) end)

print("waiting...")
print("awaited:", fut:await())
aio.sleep(0) -- let the done callback run
