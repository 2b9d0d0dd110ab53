-- W5 idle tasks: N tasks each waiting on one shared future; figure = RSS
-- delta per task (bytes), measured after a full GC with all tasks suspended.
-- The Lua heap delta (collectgarbage "count") is printed on stderr too.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local N = C.n(100000)

local f = aio.Future()
local function waiter() f:await() end
aio.sleep(0)
C.fullgc()
local rss0, heap0 = C.rss(), collectgarbage("count")
local ts = {}
for i = 1, N do ts[i] = aio.spawn(waiter) end
aio.sleep(0)                      -- every task has now run up to f:await()
C.fullgc()
local rss1, heap1 = C.rss(), collectgarbage("count")
f:set_result(1)
aio.gather(ts)
io.stderr:write(string.format("luaio: lua heap %.0f B/task, rss %.0f B/task\n",
  (heap1 - heap0) * 1024 / N, (rss1 - rss0) / N))
C.result((rss1 - rss0) / N, "B/task")
