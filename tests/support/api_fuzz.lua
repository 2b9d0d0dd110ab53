-- api_fuzz.lua — calls every function of the module and every method of its objects with
-- random arguments (seeded), each in its own task that is then cancelled. Run by
-- errors_spec.lua in a fresh process: the process must survive and end normally.
local aio = require "luaio"
local values = { nil, 0, -1, 1.5, 0/0, math.huge, -math.huge, "", "x", "127.0.0.1", {}, { 1, 2 },
  function() end, true, false, io.stdout, coroutine.create(function() end), aio.Future(), setmetatable({}, {__index = function() error("boom") end}) }
local NV = 19
local rng = tonumber(arg[2] or 12345)
local function rand(n) rng = (rng * 1103515245 + 12345) % 2147483648; return rng % n + 1 end
local old = aio.get_exception_handler()
aio.set_exception_handler(function() end)
local objects = {}
local function collect_methods(name, obj)
  local mt = getmetatable(obj)
  local idx = mt and (type(mt.__index) == "table" and mt.__index or mt) or {}
  for k, v in pairs(idx) do
    if type(v) == "function" and not k:match("^__") then objects[#objects + 1] = { name .. ":" .. k, v, obj } end
  end
end
collect_methods("Future", aio.Future())
collect_methods("Task", aio.spawn(function() aio.sleep(0) end))
for _, c in ipairs { "Queue", "LifoQueue", "PriorityQueue", "Lock", "Event", "Condition", "Semaphore", "BoundedSemaphore" } do
  if aio[c] then collect_methods(c, aio[c]()) end
end
if aio.Barrier then collect_methods("Barrier", aio.Barrier(2)) end
if aio.Scheduler then collect_methods("Scheduler", aio.Scheduler()) end
local skip = { run = true, set_exception_handler = true, dump_tasks = true, serve_forever = true }
local funcs = {}
for k, v in pairs(aio) do if type(v) == "function" and not skip[k] then funcs[#funcs + 1] = { k, v } end end
table.sort(funcs, function(a, b) return a[1] < b[1] end)
local calls = 0
for _ = 1, tonumber(arg[1] or 3) do
  for _, f in ipairs(funcs) do
    for _ = 1, 6 do
      local args, n = {}, rand(4) - 1
      for i = 1, n do args[i] = values[rand(NV)] end
      local t = aio.spawn(function() return pcall(f[2], table.unpack(args, 1, n)) end)
      aio.sleep(0)
      t:cancel()
      calls = calls + 1
    end
  end
  for _, m in ipairs(objects) do
    for _ = 1, 6 do
      local args, n = { m[3] }, rand(4) - 1
      for i = 1, n do args[i + 1] = values[rand(NV)] end
      local t = aio.spawn(function() return pcall(m[2], table.unpack(args, 1, n + 1)) end)
      aio.sleep(0)
      t:cancel()
      calls = calls + 1
    end
  end
end
for _ = 1, 5 do aio.sleep(0) end
aio.set_exception_handler(old)
print("calls", calls)
