-- public_names.lua — every public name the module exports, found by walking the module
-- table and the metatables (and method fields) of one object of each type, so the
-- reference and the editor stubs cannot fall behind the code. Names are qualified as
-- `aio.name`, `Type:method` and `Type.field`; `parent` names the type whose entry also
-- covers a method (a Task's `done` is documented once, under Future).
local aio = require "luaio"

local M = {}

-- types whose methods may be documented under another type's name
M.parents = {
  Task = "Future", LifoQueue = "Queue", PriorityQueue = "Queue",
  BoundedSemaphore = "Semaphore", RedisPipeline = "RedisClient",
}

-- submodules loaded by name (require "luaio.redis"), walked as `redis.name`
M.submodules = { redis = "luaio.redis", jobs = "luaio.jobs" }

-- public data fields (instances carry private state too: those start with `_` or are
-- not listed here)
M.fields = {
  "Queue.maxsize", "Barrier.parties", "Server.sockets",
  "Scheduler.limit", "Scheduler.pending_limit", "Scheduler.close_timeout", "Scheduler.wait_timeout",
  "Error.name", "Error.message", "Error.traceback", "OSError.code", "IncompleteReadError.partial",
  "IncompleteReadError.expected", "LimitOverrunError.consumed", "ExceptionGroup.errors", "ExceptionGroup.tracebacks",
  "Process.pid", "Process.stdin", "Process.stdout", "Process.stderr", "Process.returncode",
  "SSLError.reason", "SSLError.verify_code", "SSLError.verify_message", "RedisError.code",
  "JobQueue.name", "JobQueue.url", "JobRef.id", "JobRef.queue", "JobWorker.id", "JobWorker.name",
  "JobWorker.url", "JobWorker.limit",
}

local function type_name(obj)
  local mt = getmetatable(obj)
  local n = type(mt) == "table" and rawget(mt, "__name")
  return n and (n:gsub("^luaio%.", ""))
end

local function methods(obj, into)
  local name = type_name(obj)
  local function add(k, v)
    if type(k) == "string" and type(v) == "function" and not k:match("^_") then
      into[name .. ":" .. k] = M.parents[name] and (M.parents[name] .. ":" .. k) or true
    end
  end
  local index = getmetatable(obj).__index
  -- userdata whose fields come from an __index function keep their methods in __methods
  if type(index) == "function" then index = rawget(getmetatable(obj), "__methods") end
  -- objects without a class table (queues) carry their methods as fields
  if type(obj) == "table" and index == nil then for k, v in pairs(obj) do add(k, v) end end
  while type(index) == "table" do -- follow inheritance chains of class tables
    for k, v in pairs(index) do add(k, v) end
    local mt = getmetatable(index)
    index = mt and mt.__index
  end
end

-- a sample of each object type, made inside a task (some need a loop or a connection)
function M.samples()
  local list = {}
  if not aio.current_task() then -- a Runner is made outside any running loop only
    local r = aio.Runner()
    list[#list + 1] = r
    r:close()
  end
  aio.run(function()
    local add = function(v) list[#list + 1] = v; return v end
    add(aio.Future())
    local task = add(aio.spawn(function() end))
    local co = add(aio.async(function() end)())
    add(aio.call_soon(function() end))
    do local _ <close> = add(aio.timeout(1)) end
    do local _ <close> = add(aio.TaskGroup()) end
    add(aio.Queue()); add(aio.LifoQueue()); add(aio.PriorityQueue())
    local lock = add(aio.Lock())
    add(lock:acquire()):release()
    add(aio.Event()); add(aio.Condition()); add(aio.Semaphore()); add(aio.BoundedSemaphore())
    add(aio.Barrier(2))
    local srv = add(aio.start_server(function(_, w) w:close() end, "127.0.0.1", 0))
    add(srv.sockets[1])
    local r, w = aio.open_connection(srv.sockets[1]:getsockname())
    add(r); add(w)
    w:close(); srv:close()
    local sched = add(aio.Scheduler())
    add(sched:spawn(function() end))
    sched:close()
    local p = add(aio.create_subprocess_exec("true", {}))
    p:wait()
    local file = add(aio.open("/dev/null"))
    file:close()
    add(aio.ssl_context({ verify = false }))
    local watcher = add(aio.fs.watch("/dev/null"))
    watcher:close()
    add(aio.open_datagram_endpoint { local_host = "127.0.0.1" }):close()
    add(aio.virtual_clock()):close()
    -- a Redis client needs only a listener (connecting sends nothing without AUTH/SELECT)
    local fake = aio.start_server(function(_, w2) w2:close() end, "127.0.0.1", 0)
    local _, fport = fake.sockets[1]:getsockname()
    local rc = add(require("luaio.redis").connect("redis://127.0.0.1:" .. fport))
    rc:pipeline(function(pipe) add(pipe) end)
    rc:close(); fake:close()
    -- luaio.jobs objects connect lazily: none needs a server to exist
    local jobs = require "luaio.jobs"
    local jq = add(jobs.Queue("redis://127.0.0.1:" .. fport))
    add(jq:job("sample"))
    add(jobs.Worker { "redis://127.0.0.1:" .. fport, functions = {} }):close()
    jq:close()
    aio.await(co); task:await()
  end)
  return list
end

-- the sorted list of {name = "Type:method", parent = "Parent:method" or nil}
function M.list()
  local set = {}
  for k, v in pairs(aio) do
    if type(k) == "string" and not k:match("^_") then set["aio." .. k] = true end
    -- a namespace (a plain table under a lower-case name, such as aio.fs): its functions
    if type(k) == "string" and k:match("^%l") and type(v) == "table" and getmetatable(v) == nil then
      for name, f in pairs(v) do
        if type(name) == "string" and type(f) == "function" and not name:match("^_") then
          set["aio." .. k .. "." .. name] = true
        end
      end
    end
  end
  for short, modname in pairs(M.submodules) do
    for k in pairs(require(modname)) do
      if type(k) == "string" and not k:match("^_") then set[short .. "." .. k] = true end
    end
  end
  for _, obj in ipairs(M.samples()) do methods(obj, set) end
  for _, f in ipairs(M.fields) do set[f] = true end
  local out = {}
  for name, parent in pairs(set) do
    out[#out + 1] = { name = name, parent = parent ~= true and parent or nil }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- the public names luaio.h declares: its functions, and its macros and enum constants
function M.c_names(header)
  local f = assert(io.open(header or "src/luaio.h"))
  local text = f:read("a")
  f:close()
  text = text:gsub("/%*.-%*/", "") -- comments mention names that are not declared
  local set, out = {}, {}
  for name in text:gmatch("[%w_%*%s]%f[%w_](luaio_[%w_]+)%s*%(") do set[name] = true end
  for name in text:gmatch("#define%s+(LUAIO_[%w_]+)") do set[name] = true end
  for name in text:gmatch("(LUAIO_[%w_]+)%s*=") do set[name] = true end
  for name in text:gmatch("typedef%s+struct%s+[%w_]+%s+(luaio_[%w_]+)") do set[name] = true end
  set.LUAIO_H = nil -- the include guard
  for name in pairs(set) do out[#out + 1] = name end
  table.sort(out)
  return out
end

return M
