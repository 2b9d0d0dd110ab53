-- W5 floor: N bare Lua coroutines started and suspended at a yield (lua5.4).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local N = C.n(100000)
local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield
local function body() yield() end
C.fullgc()
local rss0, heap0 = C.rss(), collectgarbage("count")
local cos = {}
for i = 1, N do local co = create(body); resume(co); cos[i] = co end
C.fullgc()
local rss1, heap1 = C.rss(), collectgarbage("count")
for i = 1, N do resume(cos[i]) end
io.stderr:write(string.format("floor: lua heap %.0f B/coroutine\n", (heap1 - heap0) * 1024 / N))
C.result((rss1 - rss0) / N, "B/task")
