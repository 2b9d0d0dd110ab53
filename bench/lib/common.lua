-- Shared helpers for the Lua benchmark scripts (luaio, floor, luv, cqueues).
-- Loaded by each script through package.path set from arg[0].
local M = {}

-- A fresh (not loop-cached) monotonic clock in seconds.
-- Preference: luv's uv.hrtime (stateless, ns), luasystem's monotime,
-- then luaio's aio.time if luaio is loaded, then os.clock (CPU time,
-- fine only for single-threaded CPU-bound floors).
function M.clock()
  local ok, uv = pcall(require, "luv")
  if ok and type(uv) == "table" and uv.hrtime then
    local hr = uv.hrtime
    return function() return hr() * 1e-9 end, "luv.hrtime"
  end
  local ok2, sys = pcall(require, "system")
  if ok2 and type(sys) == "table" and sys.monotime then
    return sys.monotime, "system.monotime"
  end
  local ok3, aio = pcall(require, "luaio")
  if ok3 and type(aio) == "table" and aio.time then
    return aio.time, "aio.time"
  end
  return os.clock, "os.clock"
end

-- Current resident set size of this process in bytes (from /proc).
function M.rss()
  local f = io.open("/proc/self/status", "r")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  local kb = s:match("VmRSS:%s*(%d+)")
  return (tonumber(kb) or 0) * 1024
end

function M.fullgc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- N from arg[1] (or the default).
function M.n(default)
  return math.tointeger(tonumber(arg and arg[1])) or default
end

function M.result(value, unit)
  io.stdout:write(string.format("RESULT %.6g %s\n", value, unit))
  io.stdout:flush()
end

return M
