-- compose.lua — composition over futures and done callbacks: wait, wait_for,
-- as_completed, shield, timeout (a to-be-closed value) and TaskGroup.
local aio, priv = ...

local ensure_future, is_cancel, in_task = priv.ensure_future, priv.is_cancel, priv.in_task
local argerror, typeerror, check_self = priv.argerror, priv.typeerror, priv.check_self
local type, error, pairs, ipairs, tostring, getmetatable, setmetatable, pcall =
  type, error, pairs, ipairs, tostring, getmetatable, setmetatable, pcall
local Future, now = aio.Future, aio.time
-- the Lua layer's own timers are not the script's open resources (aio.open_resources)
local call_later, call_at, call_soon = aio._call_later, aio._call_at, aio._call_soon
priv.call_later, priv.call_at, priv.call_soon = call_later, call_at, call_soon
aio._call_later, aio._call_at, aio._call_soon = nil, nil, nil

-- opts tables: a typo never passes silently
local function check_opts(opts, allowed, fname, argn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    typeerror(argn, fname, "table", opts, 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      argerror(argn, fname, "unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  return opts
end
priv.check_opts = check_opts

local function check_list(fs, fname)
  if type(fs) ~= "table" or getmetatable(fs) then
    typeerror(1, fname, "list of awaitables", fs, 3)
  end
end

local function check_timeout(v, fname, argn)
  if v ~= nil and (type(v) ~= "number" or v ~= v) then
    typeerror(argn, fname, "number", v, 3)
  end
end

priv.check_timeout = check_timeout

local check_in_task = priv.check_in_task

-- futures for a list, without duplicates, in order
local function futures_of(fs, fname)
  local out, seen = {}, {}
  for i = 1, #fs do
    local f = ensure_future(fs[i], fname, 1)
    if not seen[f] then seen[f] = true; out[#out + 1] = f end
  end
  return out
end

local RETURN_WHEN = { ALL_COMPLETED = true, FIRST_COMPLETED = true, FIRST_EXCEPTION = true }
local WAIT_OPTS = { timeout = true, return_when = true }

function aio.wait(fs, opts)
  check_list(fs, "wait")
  opts = check_opts(opts, WAIT_OPTS, "wait", 2)
  check_timeout(opts.timeout, "wait", 2)
  local when = opts.return_when or "ALL_COMPLETED"
  if not RETURN_WHEN[when] then error(aio.ValueError("invalid return_when value: " .. tostring(when)), 2) end
  if #fs == 0 then error(aio.ValueError("set of awaitables is empty"), 2) end
  check_in_task("wait")
  local futs = futures_of(fs, "wait")
  local waiter, counter, th = Future(), #futs, nil
  local function release() if not waiter:done() then waiter:set_result() end end
  local function on_done(f)
    counter = counter - 1
    if counter <= 0 or when == "FIRST_COMPLETED"
      or (when == "FIRST_EXCEPTION" and not f:cancelled() and f:exception() ~= nil) then
      release()
    end
  end
  for _, f in ipairs(futs) do f:add_done_callback(on_done) end
  if opts.timeout then th = call_later(opts.timeout, release) end
  local ok, err = pcall(waiter.await, waiter)
  if th then th:cancel() end
  for _, f in ipairs(futs) do f:remove_done_callback(on_done) end
  if not ok then error(err, 0) end
  local done, pending = {}, {}
  for _, f in ipairs(futs) do
    if f:done() then done[#done + 1] = f else pending[#pending + 1] = f end
  end
  return done, pending
end

-- ---- timeout: a to-be-closed value that cancels its block when it expires ----
local Timeout = { __name = "luaio.Timeout" }
Timeout.__index = Timeout

local function on_timeout(tm)
  tm.handle = nil
  tm.state = "expiring"
  tm.task:cancel()
end

function Timeout:reschedule(when)
  check_self(self, Timeout, "reschedule")
  if self.state ~= "entered" then
    error(aio.RuntimeError("cannot reschedule a timeout that is " .. self.state), 2)
  end
  check_timeout(when, "reschedule", 1)
  if self.handle then self.handle:cancel() end
  self.deadline, self.handle = when, nil
  if when == nil then return end
  if when <= now() then self.handle = call_soon(on_timeout, self)
  else self.handle = call_at(when, on_timeout, self) end
end

function Timeout:when()
  check_self(self, Timeout, "when")
  return self.deadline
end
function Timeout:expired()
  check_self(self, Timeout, "expired")
  return self.state == "expiring" or self.state == "expired"
end

function Timeout:__close(err)
  if self.handle then self.handle:cancel(); self.handle = nil end
  if self.state == "expiring" then
    self.state = "expired"
    if self.task:uncancel() <= self.cancelling and is_cancel(err) then
      error(aio.TimeoutError("timed out"), 0)
    end
  elseif self.state == "entered" then
    self.state = "exited"
  end
end

local function new_timeout(when, fname)
  if not in_task() then error(("luaio.%s: must be used inside a task"):format(fname), 3) end
  local task = aio.current_task()
  local tm = setmetatable({ task = task, state = "entered", cancelling = task:cancelling() }, Timeout)
  tm:reschedule(when)
  return tm
end

function aio.timeout(delay)
  check_timeout(delay, "timeout", 1)
  return new_timeout(delay and now() + delay, "timeout")
end

function aio.timeout_at(when)
  check_timeout(when, "timeout_at", 1)
  return new_timeout(when, "timeout_at")
end

function aio.wait_for(aw, timeout)
  check_timeout(timeout, "wait_for", 2)
  check_in_task("wait_for")
  local fut = ensure_future(aw, "wait_for", 1)
  if timeout == nil then return fut:await() end
  if timeout <= 0 then -- as asyncio: no time at all, so it is cancelled before it runs
    if fut:done() then return fut:result() end
    fut:cancel()
    pcall(fut.await, fut) -- wait for the cancellation to finish
    if fut:cancelled() then error(aio.TimeoutError("timed out"), 2) end
    return fut:result()
  end
  local _ <close> = aio.timeout(timeout)
  return fut:await()
end

function aio.as_completed(fs, timeout)
  check_list(fs, "as_completed")
  check_timeout(timeout, "as_completed", 2)
  local futs = futures_of(fs, "as_completed")
  local queue, head, tail, remaining, timed_out, waiter, th = {}, 1, 0, #futs, false, nil, nil
  local function wake() if waiter and not waiter:done() then waiter:set_result() end end
  local function on_done(f) tail = tail + 1; queue[tail] = f; wake() end
  for _, f in ipairs(futs) do f:add_done_callback(on_done) end
  if timeout then th = call_later(timeout, function() timed_out = true; wake() end) end
  local function stop()
    if th then th:cancel() end
    for _, f in ipairs(futs) do f:remove_done_callback(on_done) end
  end
  return function()
    if remaining == 0 then stop(); return nil end
    while head > tail do
      if timed_out then
        stop()
        remaining = 0
        error(aio.TimeoutError("as_completed timed out"), 2)
      end
      check_in_task("as_completed") -- named as the user called it, not as await
      waiter = Future()
      waiter:await()
    end
    local f = queue[head]
    queue[head], head, remaining = nil, head + 1, remaining - 1
    if remaining == 0 then stop() end
    return f
  end
end

-- outer's results, or its error re-raised with the shielded task's traceback
local function shield_results(inner, ok, ...)
  if ok then return ... end
  local e = ...
  if inner.traceback and inner:done() and not inner:cancelled() and rawequal(inner:exception(), e) then
    priv.chain(e, inner:traceback())
  end
  error(e, 0)
end

function aio.shield(aw)
  local inner = ensure_future(aw, "shield", 1)
  if inner:done() then return inner:result() end
  check_in_task("shield")
  local outer = Future()
  priv.awaited_by(inner, outer) -- call graphs: the shield's caller awaits inner
  inner:add_done_callback(function(f)
    priv.awaited_by(f, nil)
    if outer:done() then
      if not f:cancelled() then f:exception() end -- retrieved: nobody else will
    elseif f:cancelled() then
      outer:cancel()
    else
      local e = f:exception()
      if e ~= nil then outer:set_exception(e) else outer:set_result(f:result()) end
    end
  end)
  return shield_results(inner, pcall(outer.await, outer))
end

-- ---- TaskGroup: structured concurrency, as asyncio 3.13 ----
local TaskGroup = { __name = "luaio.TaskGroup" }
TaskGroup.__index = TaskGroup

local function tg_abort(self)
  self.aborting = true
  for t in pairs(self.tasks) do
    if not t:done() then t:cancel() end
  end
end

local function tg_on_done(self, t)
  priv.awaited_by(t, nil)
  self.tasks[t] = nil
  self.count = self.count - 1
  if not t:cancelled() then
    local e = t:exception()
    if e ~= nil then
      self.errors[#self.errors + 1] = e
      self.tracebacks[#self.errors] = t:traceback() -- where each child failed, for reports
      if not self.aborting and not self.parent_cancel_requested then
        tg_abort(self)
        -- interrupt the block so it can leave; undone in __close
        self.parent_cancel_requested = true
        self.parent:cancel()
      end
    end
  end
  if self.count == 0 and self.waiter and not self.waiter:done() then self.waiter:set_result() end
end

local function tg_add(self, t)
  self.tasks[t] = true
  self.count = self.count + 1
  if self.parent then priv.awaited_by(t, self.parent) end -- call graphs: the owner awaits it
  t:add_done_callback(function(task) tg_on_done(self, task) end)
  return t
end

local function tg_check(self, fname)
  if getmetatable(self) ~= TaskGroup then
    typeerror(1, fname, "TaskGroup", self, 3)
  end
  if self.finished then error(aio.RuntimeError("TaskGroup is finished"), 3) end
  if self.aborting then error(aio.RuntimeError("TaskGroup is shutting down"), 3) end
end

function TaskGroup:spawn(fn, ...)
  tg_check(self, "spawn")
  return tg_add(self, aio.spawn(fn, ...))
end

function TaskGroup:create_task(coro, name)
  tg_check(self, "create_task")
  return tg_add(self, aio.create_task(coro, name))
end

function TaskGroup:__close(err)
  self.exiting = true
  local propagate = is_cancel(err) and err or nil
  if err ~= nil and not self.aborting then tg_abort(self) end
  while self.count > 0 do
    self.waiter = Future()
    local ok, e = pcall(self.waiter.await, self.waiter)
    if not ok then
      if not is_cancel(e) then error(e, 0) end
      if not self.aborting then propagate = e; tg_abort(self) end
    end
  end
  self.waiter, self.finished = nil, true
  -- the cancellation the group caused itself is not the caller's
  if self.parent_cancel_requested and self.parent:uncancel() == 0 then propagate = nil end
  if propagate and #self.errors == 0 then error(propagate, 0) end
  local errs, tbs = {}, {}
  for i, e in ipairs(self.errors) do errs[i], tbs[i] = e, self.tracebacks[i] end
  if err ~= nil and not is_cancel(err) then errs[#errs + 1] = err end
  if #errs == 0 then return end
  error(aio.ExceptionGroup(("unhandled errors in a TaskGroup (%d sub-exception%s)")
    :format(#errs, #errs == 1 and "" or "s"), { errors = errs, tracebacks = tbs }), 0)
end

function aio.TaskGroup()
  if not in_task() then error("luaio.TaskGroup: must be used inside a task", 2) end
  return setmetatable({ parent = aio.current_task(), tasks = {}, count = 0, errors = {}, tracebacks = {} }, TaskGroup)
end
