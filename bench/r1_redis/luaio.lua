-- R1 Redis client: N SET+GET pairs from C concurrent tasks sharing one client, each
-- pair one SET and one GET awaited in turn (mode "tasks"), or sent in pipelines of P
-- pairs (mode "pipe"), against the redis-server on 127.0.0.1:PORT.
-- usage: luaio luaio.lua PORT N C MODE [P]     Figure: SET+GET pairs per second.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local C = require "common"
local aio = require "luaio"
local redis = require "luaio.redis"
local now = C.clock()
local PORT = tonumber(arg[1]) or 6379
local N = tonumber(arg[2]) or 100000
local CONC = tonumber(arg[3]) or 50
local MODE = arg[4] or "tasks"
local P = tonumber(arg[5]) or 100
local VALUE = ("v"):rep(16)

aio.run(function()
  local c <close> = redis.connect("redis://127.0.0.1:" .. PORT)
  c:flushdb()
  local per = N // CONC
  local tasks = {}
  local t0 = now()
  for i = 1, CONC do
    local key = "r1:" .. i
    if MODE == "pipe" then
      tasks[i] = aio.spawn(function()
        for _ = 1, per // P do
          local r = c:pipeline(function(p)
            for _ = 1, P do p:set(key, VALUE) p:get(key) end
          end)
          if r[2] ~= VALUE then error("bad reply") end
        end
      end)
    else
      tasks[i] = aio.spawn(function()
        for _ = 1, per do
          c:set(key, VALUE)
          if c:get(key) ~= VALUE then error("bad reply") end
        end
      end)
    end
  end
  aio.gather(table.unpack(tasks))
  local dt = now() - t0
  print(("RESULT %.0f pairs/s"):format(per * CONC / dt))
end)
