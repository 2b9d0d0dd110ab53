-- P3 process memory: N live Process objects (each a `sleep` child), RSS delta per object
-- of this process; bytes/process.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local N = C.n(1000)

local procs = {}
aio.create_subprocess_exec("/bin/true", {}):wait() -- warm up (libuv's child watcher)
C.fullgc()
local before = C.rss()
for i = 1, N do procs[i] = aio.create_subprocess_exec("sleep", { "60" }) end
C.fullgc()
local after = C.rss()
for i = 1, N do procs[i]:kill() end
for i = 1, N do assert(procs[i]:wait() == -9) end
C.result((after - before) / N, "bytes/process")
