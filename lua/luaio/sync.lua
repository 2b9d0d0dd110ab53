-- sync.lua — synchronisation primitives: Lock, Event, Condition, Semaphore,
-- BoundedSemaphore, Barrier, as asyncio 3.12/3.13 builds them: each waiter is a Future in a
-- FIFO list, and the bookkeeping after a wait (granted, cancelled, or both) runs in the
-- waiter's own task, so a cancelled waiter never keeps what it was granted nor blocks
-- those behind it. acquire() returns a to-be-closed guard.
local aio, priv = ...

local is_cancel, argerror, typeerror = priv.is_cancel, priv.argerror, priv.typeerror
local Future, current_task = aio.Future, aio.current_task
local RuntimeError, ValueError, BrokenBarrierError = aio.RuntimeError, aio.ValueError, aio.BrokenBarrierError
local error, type, setmetatable, getmetatable, pcall, tostring =
  error, type, setmetatable, getmetatable, pcall, tostring
local math_type, tointeger, huge = math.type, math.tointeger, math.huge

local check_in_task = priv.check_in_task

local check_self = priv.check_self

-- a count argument: nil gives `default`; integral numbers only
local function check_count(v, default, fname)
  if v == nil then return default end
  local n = math_type(v) == "integer" and v or (type(v) == "number" and tointeger(v))
  if not n then
    if type(v) == "number" and v == v then argerror(1, fname, "number has no integer representation", 3) end
    typeerror(1, fname, "number", v, 3)
  end
  return n
end

-- ---- waiter lists: FIFO of futures; a removed entry becomes false, so removal is O(1) ----
local function new_fifo() return { head = 1, tail = 0 } end

local function push(w, fut)
  local i = w.tail + 1
  w.tail, w[i] = i, fut
  return i
end

local function remove(w, i)
  w[i] = false
  local h, t = w.head, w.tail
  while h <= t and not w[h] do w[h] = nil; h = h + 1 end
  if h > t then h, t = 1, 0 end
  w.head, w.tail = h, t
end

local function count_live(w)
  local n = 0
  for i = w.head, w.tail do
    local f = w[i]
    if f and not f:done() then n = n + 1 end
  end
  return n
end

-- true when some waiter still counts (not cancelled): asyncio's "all(w.cancelled() ...)"
local function has_live_waiter(w)
  for i = w.head, w.tail do
    local f = w[i]
    if f and not f:cancelled() then return true end
  end
  return false
end

-- Suspends on a fresh future queued in `w`; returns ok, err (from pcall) and the future.
-- The entry is removed whatever happened, before the caller's bookkeeping.
local function wait_on(w)
  local fut = Future()
  local i = push(w, fut)
  local ok, err = pcall(fut.await, fut)
  remove(w, i)
  return ok, err, fut
end

-- ---- guards: acquire() returns one; closing it releases, unless it was released already ----
local Guard = { __name = "luaio.Guard" }
Guard.__index = Guard

local function guard_release(g)
  if g.spent then return false end
  g.spent = true
  g.owner:_release_guard(g)
  return true
end

function Guard:release()
  check_self(self, Guard, "release")
  if not guard_release(self) then error(RuntimeError("guard already released"), 2) end
end

function Guard:released()
  check_self(self, Guard, "released")
  return self.spent
end

Guard.__close = guard_release
Guard.__tostring = function(g)
  return ("Guard(%s%s)"):format(tostring(g.owner):match("^[^(]*"), g.spent and ", released" or "")
end

-- ---- Lock ----
local Lock = { __name = "luaio.Lock" }
Lock.__index = Lock

function aio.Lock()
  return setmetatable({ _locked = false, _waiters = new_fifo(), _guard = false }, Lock)
end

local function lock_wake_first(self)
  local w = self._waiters
  local f = w[w.head]
  -- the head is the next owner; if it is done it is already on its way (granted or
  -- cancelled) and will pass the lock on itself
  if f and not f:done() then f:set_result(true) end
end

local function lock_take(self)
  self._locked = true
  local g = setmetatable({ owner = self, spent = false }, Guard)
  self._guard = g
  return g
end

local function lock_acquire(self)
  if not self._locked and not has_live_waiter(self._waiters) then return lock_take(self) end
  local ok, err = wait_on(self._waiters)
  if not ok then
    -- granted and cancelled at once: the grant is not kept, the next waiter gets it
    if is_cancel(err) and not self._locked then lock_wake_first(self) end
    error(err, 0)
  end
  return lock_take(self)
end

function Lock:acquire()
  check_self(self, Lock, "acquire")
  check_in_task("Lock:acquire")
  return lock_acquire(self)
end

local function lock_release(self)
  self._locked = false
  self._guard = false
  lock_wake_first(self)
end

function Lock:release()
  check_self(self, Lock, "release")
  if not self._locked then error(RuntimeError("Lock is not acquired"), 2) end
  if self._guard then self._guard.spent = true end -- released: its scope exit does nothing
  lock_release(self)
end

function Lock:_release_guard(g)
  if self._guard == g then lock_release(self) end
end

function Lock:locked()
  check_self(self, Lock, "locked")
  return self._locked
end

function Lock:__tostring()
  return ("Lock(%s, waiters=%d)"):format(self._locked and "locked" or "unlocked", count_live(self._waiters))
end

-- ---- Event ----
local Event = { __name = "luaio.Event" }
Event.__index = Event

function aio.Event() return setmetatable({ _value = false, _waiters = new_fifo() }, Event) end

function Event:is_set()
  check_self(self, Event, "is_set")
  return self._value
end

function Event:set()
  check_self(self, Event, "set")
  if self._value then return end
  self._value = true
  local w = self._waiters
  for i = w.head, w.tail do
    local f = w[i]
    if f and not f:done() then f:set_result(true) end
  end
end

function Event:clear()
  check_self(self, Event, "clear")
  self._value = false
end

function Event:wait()
  check_self(self, Event, "wait")
  check_in_task("Event:wait")
  if self._value then return true end
  local ok, err = wait_on(self._waiters)
  if not ok then error(err, 0) end
  return true
end

function Event:__tostring()
  return ("Event(%s, waiters=%d)"):format(self._value and "set" or "unset", count_live(self._waiters))
end

-- ---- Condition ----
local Condition = { __name = "luaio.Condition" }
Condition.__index = Condition

function aio.Condition(lock)
  if lock == nil then lock = aio.Lock()
  elseif getmetatable(lock) ~= Lock then
    typeerror(1, "Condition", "Lock", lock, 2)
  end
  return setmetatable({ _lock = lock, _waiters = new_fifo() }, Condition)
end

function Condition:acquire()
  check_self(self, Condition, "acquire")
  check_in_task("Condition:acquire")
  return lock_acquire(self._lock)
end

function Condition:release()
  check_self(self, Condition, "release")
  if not self._lock._locked then error(RuntimeError("Lock is not acquired"), 2) end
  if self._lock._guard then self._lock._guard.spent = true end
  lock_release(self._lock)
end

function Condition:locked()
  check_self(self, Condition, "locked")
  return self._lock._locked
end

local function notify_n(self, n)
  local w, k = self._waiters, 0
  for i = w.head, w.tail do
    if k >= n then break end
    local f = w[i]
    if f and not f:done() then
      k = k + 1
      f:set_result(false)
    end
  end
end

function Condition:wait()
  check_self(self, Condition, "wait")
  check_in_task("Condition:wait")
  local lock = self._lock
  if not lock._locked then error(RuntimeError("cannot wait on un-acquired lock"), 2) end
  local guard = lock._guard -- the caller's guard stays the live one across the wait
  lock_release(lock)
  local ok, err, fut = wait_on(self._waiters)
  -- the lock is taken again even if the wait was cancelled (as asyncio)
  local cerr
  while true do
    local ok2, e2 = pcall(lock_acquire, lock)
    if ok2 then break end
    if not is_cancel(e2) then error(e2, 0) end
    cerr = e2
  end
  lock._guard = guard
  if ok and not cerr then return true end
  -- leaving with an error after being notified: the notification goes to another waiter
  -- (a spurious wake-up, which the condition variable protocol allows)
  if cerr or (fut:done() and not fut:cancelled()) then notify_n(self, 1) end
  error(cerr or err, 0)
end

function Condition:wait_for(pred)
  check_self(self, Condition, "wait_for")
  if type(pred) ~= "function" and not (getmetatable(pred) or {}).__call then
    typeerror(1, "wait_for", "function", pred, 2)
  end
  check_in_task("Condition:wait_for")
  local r = pred()
  while not r do
    self:wait()
    r = pred()
  end
  return r
end

function Condition:notify(n)
  check_self(self, Condition, "notify")
  n = check_count(n, 1, "notify")
  if not self._lock._locked then error(RuntimeError("cannot notify on un-acquired lock"), 2) end
  notify_n(self, n)
end

function Condition:notify_all()
  check_self(self, Condition, "notify_all")
  if not self._lock._locked then error(RuntimeError("cannot notify on un-acquired lock"), 2) end
  notify_n(self, huge)
end

function Condition:__tostring()
  return ("Condition(%s, waiters=%d)"):format(self._lock._locked and "locked" or "unlocked",
    count_live(self._waiters))
end

-- ---- Semaphore / BoundedSemaphore ----
local Semaphore = { __name = "luaio.Semaphore" }
Semaphore.__index = Semaphore
local BoundedSemaphore = setmetatable({ __name = "luaio.BoundedSemaphore" }, { __index = Semaphore })
BoundedSemaphore.__index = BoundedSemaphore

local function is_sem(s)
  local mt = getmetatable(s)
  return mt == Semaphore or mt == BoundedSemaphore
end

local function check_sem(self, fname)
  if not is_sem(self) then
    typeerror(1, fname, "Semaphore", self, 3)
  end
end

local function new_sem(cls, value, fname)
  value = check_count(value, 1, fname)
  if value < 0 then error(ValueError("Semaphore initial value must be >= 0"), 3) end
  -- _held: per task, the guard it took last (guards chain through .prev), so that an
  -- explicit release() spends the caller's own guard
  return setmetatable({ _value = value, _bound = value, _waiters = new_fifo(),
    _held = setmetatable({}, { __mode = "k" }) }, cls)
end

function aio.Semaphore(value) return new_sem(Semaphore, value, "Semaphore") end
function aio.BoundedSemaphore(value) return new_sem(BoundedSemaphore, value, "BoundedSemaphore") end

local function sem_locked(self)
  return self._value == 0 or has_live_waiter(self._waiters)
end

function Semaphore:locked()
  check_sem(self, "locked")
  return sem_locked(self)
end

local function sem_wake_next(self)
  local w = self._waiters
  for i = w.head, w.tail do
    local f = w[i]
    if f and not f:done() then
      self._value = self._value - 1
      f:set_result(true)
      return true
    end
  end
  return false
end

local function sem_guard(self)
  local task = current_task()
  local g = setmetatable({ owner = self, spent = false, task = task, prev = self._held[task] }, Guard)
  self._held[task] = g
  return g
end

function Semaphore:acquire()
  check_sem(self, "acquire")
  check_in_task("Semaphore:acquire")
  if not sem_locked(self) then
    self._value = self._value - 1
    return sem_guard(self)
  end
  local ok, err, fut = wait_on(self._waiters)
  -- granted (the count was taken for us) but cancelled: give the count back
  if not ok and fut:done() and not fut:cancelled() then self._value = self._value + 1 end
  -- waiters that came meanwhile had to queue behind us: wake as many as there is room for
  while self._value > 0 and sem_wake_next(self) do end
  if not ok then error(err, 0) end
  return sem_guard(self)
end

local function unlink_guard(self, g)
  local held, t = self._held, g.task
  local cur = held[t]
  if cur == g then held[t] = g.prev; return end
  while cur and cur.prev ~= g do cur = cur.prev end
  if cur then cur.prev = g.prev end
end

local function sem_release(self, level)
  if getmetatable(self) == BoundedSemaphore and self._value >= self._bound then
    error(ValueError("BoundedSemaphore released too many times"), level)
  end
  self._value = self._value + 1
  sem_wake_next(self)
end

function Semaphore:release()
  check_sem(self, "release")
  sem_release(self, 3)
  -- the caller's latest guard is spent, so its scope exit does not release again
  local t = current_task()
  local g = t and self._held[t]
  if g then
    g.spent = true
    self._held[t] = g.prev
  end
end

function Semaphore:_release_guard(g)
  unlink_guard(self, g)
  sem_release(self, 3)
end

function Semaphore:__tostring()
  local name = getmetatable(self) == BoundedSemaphore and "BoundedSemaphore" or "Semaphore"
  return ("%s(value=%d, waiters=%d)"):format(name, self._value, count_live(self._waiters))
end
BoundedSemaphore.__tostring = Semaphore.__tostring

-- ---- Barrier (asyncio 3.11+: filling -> draining -> filling; resetting; broken) ----
local Barrier = { __name = "luaio.Barrier" }
Barrier.__index = Barrier
local FILLING, DRAINING, RESETTING, BROKEN = "filling", "draining", "resetting", "broken"

function aio.Barrier(parties)
  if parties == nil then argerror(1, "Barrier", "number expected, got no value", 2) end
  parties = check_count(parties, nil, "Barrier")
  if parties < 1 then error(ValueError("parties must be > 0"), 2) end
  return setmetatable({ parties = parties, _cond = aio.Condition(), _state = FILLING, _count = 0 }, Barrier)
end

local function barrier_exit(self)
  if self._count == 0 then
    if self._state == RESETTING or self._state == DRAINING then self._state = FILLING end
    notify_n(self._cond, huge)
  end
end

function Barrier:wait()
  check_self(self, Barrier, "wait")
  check_in_task("Barrier:wait")
  local cond = self._cond
  local _ <close> = cond:acquire()
  -- block while the barrier drains or resets
  cond:wait_for(function() return self._state ~= DRAINING and self._state ~= RESETTING end)
  if self._state == BROKEN then error(BrokenBarrierError("Barrier aborted"), 2) end
  local index = self._count
  self._count = index + 1
  local ok, err = pcall(function()
    if index + 1 == self.parties then
      self._state = DRAINING
      notify_n(cond, huge)
    else
      cond:wait_for(function() return self._state ~= FILLING end)
      if self._state == BROKEN or self._state == RESETTING then
        error(BrokenBarrierError("Abort or reset of barrier"), 0)
      end
    end
  end)
  self._count = self._count - 1
  barrier_exit(self)
  if not ok then error(err, 0) end
  return index
end

-- reset() and abort() need not suspend (asyncio's take the condition's lock, which is never
-- held across a suspension here), so they are plain calls, usable from callbacks too.
function Barrier:reset()
  check_self(self, Barrier, "reset")
  if self._count > 0 then
    if self._state ~= RESETTING then self._state = RESETTING end
  else
    self._state = FILLING
  end
  notify_n(self._cond, huge)
end

function Barrier:abort()
  check_self(self, Barrier, "abort")
  self._state = BROKEN
  notify_n(self._cond, huge)
end

function Barrier:n_waiting()
  check_self(self, Barrier, "n_waiting")
  return self._state == FILLING and self._count or 0
end

function Barrier:broken()
  check_self(self, Barrier, "broken")
  return self._state == BROKEN
end

function Barrier:__tostring()
  return ("Barrier(%s, waiters=%d/%d)"):format(self._state, self:n_waiting(), self.parties)
end

