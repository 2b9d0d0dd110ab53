-- core.lua — coroutine objects (aio.async), await, create_task, run and pcall: the
-- thin Lua layer over the C runtime. Loaded first; later layers build on it.
local aio, priv = ...

local Coroutine = aio._Coroutine
aio._Coroutine = nil
local spawn, await_future, core_run = aio.spawn, aio._await_future, aio._run
aio._await_future, aio._run = nil, nil
local select, error, type, pcall, getmetatable, setmetatable, unpack =
  select, error, type, pcall, getmetatable, setmetatable, table.unpack

-- Argument errors in Lua's own format, naming the function as scripts call it, at the
-- script's line that called the library however deep in it the check is: the library's own
-- frames ("[luaio.*]" chunks) are skipped, as the C checks do (src/args.c); a C caller
-- (pcall) gives no position. A NaN names itself, as the C checks do. (The trailing `level`
-- argument many callers still pass is not needed.)
local getinfo = debug.getinfo
local function where()
  local level = 3
  while true do
    local info = getinfo(level, "Sl")
    if not info then return "" end
    if info.source:sub(1, 8) ~= "=[luaio." then
      return info.currentline > 0 and (info.short_src .. ":" .. info.currentline .. ": ") or ""
    end
    level = level + 1
  end
end
local function argerror(argn, fname, msg)
  error(where() .. ("bad argument #%d to '%s' (%s)"):format(argn, fname, msg), 0)
end
local function typeerror(argn, fname, expected, v)
  argerror(argn, fname, expected .. " expected, got " .. (v ~= v and "NaN" or type(v)))
end
priv.argerror, priv.typeerror = argerror, typeerror

-- a method called on something that is not its class's object (obj.m() for obj:m())
local function check_self(self, cls, fname)
  if getmetatable(self) ~= cls then typeerror(1, fname, cls.__name:sub(7), self, 3) end
end
priv.check_self = check_self

Coroutine.__name = "luaio.Coroutine"
Coroutine.__index = Coroutine
Coroutine.__tostring = function(c) return "coroutine object: " .. tostring(c.fn) end

local function is_coro(v) return getmetatable(v) == Coroutine end
aio.iscoroutine = is_coro

-- A coroutine object runs once: awaited in place or wrapped in a task.
local function take(c, what)
  if c.started then
    error(aio.RuntimeError("cannot reuse an already " .. c.started .. " coroutine object"), 3)
  end
  c.started = what
  return c.fn, unpack(c, 1, c.n)
end

-- async function -> its body, for callers that run it in a task of their own
local async_bodies = setmetatable({}, { __mode = "k" })
function priv.async_body(af) return async_bodies[af] end

-- Debug mode: a coroutine object carries a guard recording where it was made; the guard's
-- finalizer (run when both are collected) queues a report if the object never ran. C keeps
-- priv.debug up to date (aio._debug), so debug mode off costs one field test per object.
local debug_site, never_awaited = aio._debug_site, aio._debug_never_awaited
aio._debug_site, aio._debug_never_awaited = nil, nil
priv.debug = (aio._debug())
-- call graphs: awaited_by(f, awaiter) says who awaits f on its behalf (shield, TaskGroup,
-- Job:wait), nil to forget it
priv.awaited_by, aio._awaited_by = aio._awaited_by, nil
-- chain(err, traceback): the current task re-raises err, which failed where traceback says
priv.chain, aio._chain = aio._chain, nil
local Guard = { __gc = function(g)
  if not g.c.started then never_awaited(g.site) end
end }
local function guard(c)
  c._guard = setmetatable({ c = c, site = debug_site() }, Guard)
  return c
end

function aio.async(fn)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    typeerror(1, "async", "function", fn, 2)
  end
  local af = function(...)
    if priv.debug then
      return guard(setmetatable({ fn = fn, n = select("#", ...), ... }, Coroutine))
    end
    return setmetatable({ fn = fn, n = select("#", ...), ... }, Coroutine)
  end
  async_bodies[af] = fn
  return af
end


local function coro_task(c) return spawn(take(c, "scheduled")) end
priv.coro_task = coro_task

function aio.await(aw)
  if is_coro(aw) then return aw:await() end
  return await_future(aw)
end

function aio.create_task(coro, name)
  if not is_coro(coro) then
    if type(coro) == "function" then
      argerror(1, "create_task", "coroutine object expected, got function; use aio.spawn for functions", 2)
    end
    typeerror(1, "create_task", "coroutine object", coro, 2)
  end
  if name ~= nil and type(name) ~= "string" then
    typeerror(2, "create_task", "string", name, 2)
  end
  local t = coro_task(coro)
  if name then t:set_name(name) end
  return t
end

-- A future for any awaitable (tasks for coroutine objects and functions).
function priv.ensure_future(aw, fname, argn)
  if is_coro(aw) then return coro_task(aw) end
  local tp = type(aw)
  if tp == "function" then return spawn(aw) end
  local mt = getmetatable(aw)
  if tp == "userdata" and mt and (mt.__name == "luaio.Future" or mt.__name == "luaio.Task") then
    return aw
  end
  typeerror(argn or 1, fname, "Future, Task, coroutine object or function", aw, 3)
end

local in_task, report_unretrieved = aio._in_task, aio._report_unretrieved
aio._in_task, aio._report_unretrieved = nil, nil
priv.in_task = in_task
priv.main_task, aio._main_task = aio._main_task, nil -- the main task of aio.run, or nil

-- raised by a suspending Lua-side function outside a task or across a C-call boundary,
-- as luaio_check_task does in C; level 3 is the caller of the API function
local isyieldable = coroutine.isyieldable
local function check_in_task(fname)
  if not in_task() then
    error(("luaio.%s: must be called from inside a task (see luaio.run)"):format(fname), 3)
  elseif not isyieldable() then
    error(("luaio.%s: cannot suspend here (attempt to yield across a C-call boundary, "
      .. "e.g. inside a metamethod or a table.sort comparator)"):format(fname), 3)
  end
end
priv.check_in_task = check_in_task

-- awaiting a coroutine object runs it in place: it needs a task like every await
function Coroutine:await()
  check_self(self, Coroutine, "await")
  check_in_task("await")
  return (function(f, ...) return f(...) end)(take(self, "awaited"))
end

-- Inside a task, run awaits main in place and then reports what failed unseen meanwhile.
local function reported(...)
  report_unretrieved()
  return ...
end

function aio.run(main, ...)
  if is_coro(main) then
    if in_task() then return reported(main:await()) end
    if priv.take_loop then priv.take_loop() end -- a Runner left open (runner.lua)
    return core_run(true, function() return main:await() end)
  end
  if type(main) ~= "function" and not (getmetatable(main) or {}).__call then
    typeerror(1, "run", "function or coroutine object", main, 2)
  end
  if in_task() then return reported(main(...)) end
  if priv.take_loop then priv.take_loop() end -- a Runner left open (runner.lua)
  return core_run(true, main, ...)
end
priv.core_run = core_run

local CancelledError = aio.CancelledError
local function is_cancel(e) return getmetatable(e) == CancelledError end
priv.is_cancel = is_cancel

local function repcall(ok, ...)
  if not ok and is_cancel((...)) then error((...), 0) end
  return ok, ...
end
function aio.pcall(f, ...) return repcall(pcall(f, ...)) end

-- aio.print_call_graph([task [, file]]): aio.call_graph's chain, one line per task, to
-- file (anything with a write method; default io.stdout, as asyncio's)
local call_graph = aio.call_graph
function aio.print_call_graph(task, file)
  local mt = getmetatable(task)
  if task ~= nil and not (type(task) == "userdata" and mt and mt.__name == "luaio.Task") then
    typeerror(1, "print_call_graph", "Task", task, 2)
  end
  if file ~= nil and not ((type(file) == "table" or type(file) == "userdata") and file.write) then
    argerror(2, "print_call_graph", "expected a file or an object with a write method", 2)
  end
  if io.type(file) == "closed file" then argerror(2, "print_call_graph", "the file is closed", 2) end
  local graph = call_graph(task)
  if not graph then return end
  local out = {}
  for i, e in ipairs(graph) do
    local at = e.file and (" at %s:%d"):format(e.file, e.line) or ""
    out[i] = ("%s%s%s"):format(i == 1 and "* " or "  awaited by ", e.task:get_name(), at)
  end
  if #out == 0 then out[1] = "* " .. tostring(task) .. " (done: not awaited by anyone)" end
  file = file or io.stdout
  file:write(table.concat(out, "\n"), "\n")
  if io.type(file) == "file" then file:flush() end
end
