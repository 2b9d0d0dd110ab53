-- scheduler.lua — the job scheduler (aiojobs 1.x): Scheduler (concurrency limit, FIFO
-- pending queue with back-pressure, graceful close, shield) and Job.
local aio, priv = ...

local ensure_future, in_task, check_opts, argerror, typeerror =
  priv.ensure_future, priv.in_task, priv.check_opts, priv.argerror, priv.typeerror
local type, error, pairs, select, tostring, getmetatable, setmetatable, pcall, xpcall =
  type, error, pairs, select, tostring, getmetatable, setmetatable, pcall, xpcall
local unpack, pack, sort, traceback, huge, mtype, max =
  table.unpack, table.pack, table.sort, debug.traceback, math.huge, math.type, math.max
local Future, spawn_task, current_task, call_soon, call_at, now, is_coro, shield =
  aio.Future, aio.spawn, aio.current_task, priv.call_soon, priv.call_at, aio.time, aio.iscoroutine, aio.shield
local RuntimeError, TimeoutError, CancelledError = aio.RuntimeError, aio.TimeoutError, aio.CancelledError

--[[ How jobs run.
A job's body runs inside a pooled *worker* task: starting a job while fewer than `limit` are
active spawns a worker for it; when a body returns, its worker does the bookkeeping inline
(outcome, waiters, counters) and goes straight on with the next pending job, so a busy
scheduler creates no task, coroutine or callback per job. Errors never escape a worker (the
body runs under xpcall), so the runtime's "Task exception was never retrieved" never sees
them: they go to the scheduler's handler, one loop iteration later, unless job:wait() or
job:close() retrieved them first (as aiojobs' done callback does).
A cancellation of the worker while it runs a body is a cancellation of that job; once the body
has ended the worker clears every request (uncancel) so the next job starts clean.

Invariants (open scheduler): _running maps each live worker task to the job it runs; _nactive
counts those jobs, less the ones close() gave up on (_ab); a pending job exists only while
_nactive == _limit; _npending counts jobs with s == "pending" (the queue may also hold closed
ones, skipped when popped); _reserved counts blocked spawners already woken with a pending
slot kept for them. ]]

local Scheduler = { __name = "luaio.Scheduler" }
Scheduler.__index = Scheduler
local Job = { __name = "luaio.Job" }
Job.__index = Job

local CLOSED_MSG = "Scheduling a new job after closing"

-- ---- small helpers ----
local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

local check_timeout = priv.check_timeout

local check_self = priv.check_self

local need_task = priv.check_in_task

-- Wakes every future of a list (waiters re-check their condition) and empties it.
local function notify(list)
  for i = #list, 1, -1 do
    local f = list[i]
    list[i] = nil
    if not f:done() then f:set_result(true) end
  end
end

local function expire(f) if not f:done() then f:set_result(false) end end

-- Awaits a private future until it is set (true) or the deadline passes (false).
local function await_until(f, deadline)
  local h = deadline and call_at(deadline, expire, f)
  local ok, r = pcall(f.await, f)
  if h then h:cancel() end
  if not ok then error(r, 0) end
  return r
end

local function deadline_of(timeout)
  if timeout == nil or timeout == huge then return nil end
  return now() + max(timeout, 0)
end

-- ---- error reporting ----
function Scheduler:call_exception_handler(ctx)
  check_self(self, Scheduler, "call_exception_handler")
  if type(ctx) ~= "table" then
    typeerror(1, "call_exception_handler", "table", ctx, 2)
  end
  local h = self.exception_handler
  if h then return h(self, ctx) end
  return aio.call_exception_handler(ctx)
end

-- Internal reports: a failing handler is itself reported to the loop's handler, never raised
-- into whatever closes the scheduler.
local function report(self, ctx)
  local ok, e = pcall(self.call_exception_handler, self, ctx)
  if not ok then
    aio.call_exception_handler({ message = "the scheduler's exception handler failed", exception = e,
      traceback = traceback(), job = ctx.job })
  end
end

local function report_failed(self, job)
  if self._unreported[job] == nil then return end
  self._unreported[job] = nil
  if job._explicit or job._retrieved then return end
  report(self, { message = "Job processing failed", job = job, exception = job._err,
    traceback = job._tb })
end

local function flush_unreported(self)
  local list = {}
  for job in pairs(self._unreported) do list[#list + 1] = job end
  sort(list, function(a, b) return a._id < b._id end)
  for i = 1, #list do report_failed(self, list[i]) end
end

-- ---- pending queue (array with head index) and blocked spawners ----
local function wake_spawners(self)
  local q, lim = self._wq, self._pending_limit
  while self._wh <= self._wt and (lim == 0 or self._npending + self._reserved < lim) do
    local f = q[self._wh]
    q[self._wh] = nil
    self._wh = self._wh + 1
    if not f:done() then
      self._nputters = self._nputters - 1
      self._reserved = self._reserved + 1
      f:set_result(true)
    end
  end
end

local function pop_pending(self)
  local q, h, t = self._pq, self._ph, self._pt
  while h <= t do
    local job = q[h]
    q[h] = nil
    h = h + 1
    if job.s == "pending" then
      self._ph = h
      self._npending = self._npending - 1
      if self._nputters > 0 then wake_spawners(self) end
      return job
    end
  end
  self._ph, self._pt = 1, 0
end

local function finish_unstarted(job)
  job.s, job._out, job._fn = "closed", "cancelled", nil
  job._err = CancelledError("job closed before it started")
  for i = 1, job._n do job[i] = nil end
  if job._waiters then notify(job._waiters); job._waiters = nil end
end

-- Closes every pending job without starting it.
local function drop_pending(self)
  local job = pop_pending(self)
  while job do
    finish_unstarted(job)
    job = pop_pending(self)
  end
  if self._idle[1] then notify(self._idle) end
end

-- ---- workers ----
local worker
local cancelling, uncancel

local function start(self, job)
  job.s = "active"
  self._nactive = self._nactive + 1
  local task = spawn_task(worker, self, job)
  job._task = task
  self._running[task] = job
end

-- Records how a body ended and returns the next job for the same worker, if any.
local function finish(self, job, task, ok, ...)
  if ok then
    if select("#", ...) > 0 then job._r = pack(...) end
    job._out = "ok"
  else
    local e = ...
    job._err = e
    if getmetatable(e) == CancelledError then
      job._out = "cancelled"
    else
      job._out = "failed"
      if not job._explicit then
        -- reported one iteration later unless someone retrieves it first
        self._unreported[job] = true
        call_soon(report_failed, self, job)
      end
    end
  end
  job.s, job._fn, job._task = "closed", nil, false
  local n = job._n
  if n > 0 then for i = 1, n do job[i] = nil end end
  if job._waiters then notify(job._waiters); job._waiters = nil end
  local shutting = false
  local c = cancelling(task)
  if c > 0 then
    -- a request we did not make while the main task has ended: the run is shutting down,
    -- so pending jobs must not start
    if c > (job._ncreq or 0) then
      local mt = priv.main_task()
      shutting = mt ~= nil and mt:done()
    end
    repeat until uncancel(task) == 0
  end
  if not job._ab then self._nactive = self._nactive - 1 end
  local nxt
  if self._npending > 0 then
    if shutting then
      drop_pending(self)
    elseif not self._closed and self._nactive < self._limit then
      nxt = pop_pending(self)
      if nxt then
        nxt.s, nxt._task = "active", task
        self._nactive = self._nactive + 1
      end
    end
  end
  self._running[task] = nxt
  if self._nputters > 0 then wake_spawners(self) end
  if self._idle[1] and self._nactive + self._npending <= 1 then notify(self._idle) end
  return nxt
end

function worker(self, job)
  local task = current_task()
  if not cancelling then cancelling, uncancel = task.cancelling, task.uncancel end
  local cur = job
  local function msgh(e)
    if getmetatable(e) ~= CancelledError then cur._tb = traceback(nil, 2) end
    return e
  end
  while job do
    cur = job
    job._begun = true
    job = finish(self, job, task, xpcall(job._fn, msgh, unpack(job, 1, job._n)))
  end
end

-- Cancels an active job. A worker task cancelled before it started never runs, so a job
-- whose body has not begun is settled here, as its worker would have done.
local function cancel_active(self, job)
  job._ncreq = (job._ncreq or 0) + 1
  local task = job._task
  task:cancel()
  if job._begun then return end
  self._running[task] = nil
  if not job._ab then self._nactive = self._nactive - 1 end
  finish_unstarted(job)
  job._task = false
  if self._nputters > 0 then wake_spawners(self) end
  if self._idle[1] then notify(self._idle) end
end

-- ---- Scheduler ----
local SCHED_OPTS = { limit = true, pending_limit = true, close_timeout = true, wait_timeout = true,
  exception_handler = true }

local function bad_opt(fname, what)
  argerror(1, fname, what, 3)
end

local function new_scheduler(opts, fname)
  opts = check_opts(opts, SCHED_OPTS, fname, 1)
  local limit, plimit = opts.limit, opts.pending_limit
  if limit == nil then limit = 100
  elseif limit == false or limit == huge then limit = huge
  elseif mtype(limit) == nil or limit ~= limit // 1 or limit < 1 then
    bad_opt(fname, "limit must be a positive integer, false or math.huge, got " .. tostring(limit))
  end
  if plimit == nil then plimit = 10000
  elseif plimit == false or plimit == huge then plimit = 0
  elseif mtype(plimit) == nil or plimit ~= plimit // 1 or plimit < 0 then
    bad_opt(fname, "pending_limit must be a non-negative integer (0 = unlimited), got " .. tostring(plimit))
  end
  plimit = plimit // 1
  local ct, wt = opts.close_timeout, opts.wait_timeout
  if ct == nil then ct = 0.1
  elseif type(ct) ~= "number" or not (ct >= 0) then
    bad_opt(fname, "close_timeout must be a non-negative number, got " .. tostring(ct))
  end
  if wt == nil then wt = 60
  elseif type(wt) ~= "number" or not (wt >= 0) then
    bad_opt(fname, "wait_timeout must be a non-negative number, got " .. tostring(wt))
  end
  local h = opts.exception_handler
  if h ~= nil and not callable(h) then
    bad_opt(fname, "exception_handler must be callable, got " .. type(h))
  end
  return setmetatable({
    limit = limit, pending_limit = plimit, close_timeout = ct, wait_timeout = wt,
    exception_handler = h,
    _limit = limit, _pending_limit = plimit, _close_timeout = ct, _wait_timeout = wt,
    _closed = false, _nactive = 0, _npending = 0, _running = {}, _seq = 0,
    _pq = {}, _ph = 1, _pt = 0,                           -- pending jobs
    _wq = {}, _wh = 1, _wt = 0, _nputters = 0, _reserved = 0, -- spawners blocked by pending_limit
    _idle = {},                                           -- futures of wait_and_close / close
    _shields = {}, _nshields = 0, _unreported = {},
  }, Scheduler)
end

function aio.Scheduler(opts) return new_scheduler(opts, "Scheduler") end
function aio.create_scheduler(opts) return new_scheduler(opts, "create_scheduler") end

-- Suspends a spawner until the pending queue has room for it (FIFO among spawners).
local function wait_room(self)
  if not in_task() then
    error("luaio.Scheduler:spawn: the pending queue is full, and waiting for room must be done "
      .. "from inside a task (see luaio.run)", 3)
  end
  local f = Future()
  self._wt = self._wt + 1
  self._wq[self._wt] = f
  self._nputters = self._nputters + 1
  local ok, r = pcall(f.await, f)
  if not ok then
    if f:done() and not f:cancelled() then
      if f:result() then -- woken with a reserved slot: hand it on
        self._reserved = self._reserved - 1
        wake_spawners(self)
      end
    else
      self._nputters = self._nputters - 1
    end
    error(r, 0)
  end
  if r then self._reserved = self._reserved - 1 end
  if self._closed then error(RuntimeError(CLOSED_MSG), 3) end
end

function Scheduler:spawn(fn, ...)
  if getmetatable(self) ~= Scheduler then check_self(self, Scheduler, "spawn") end
  if self._closed then error(RuntimeError(CLOSED_MSG), 2) end
  local n = select("#", ...)
  local coro
  if type(fn) ~= "function" then
    if is_coro(fn) then
      if n > 0 then argerror(2, "spawn", "no arguments expected after a coroutine object", 2) end
      if fn.started then
        error(RuntimeError("cannot reuse an already " .. fn.started .. " coroutine object"), 2)
      end
      coro = fn
    elseif not callable(fn) then
      typeerror(1, "spawn", "function or coroutine object", fn, 2)
    end
  end
  local full = self._nactive >= self._limit
  if full then
    local lim = self._pending_limit
    if lim > 0 and (self._nputters > 0 or self._npending + self._reserved >= lim) then
      wait_room(self)
      full = self._nactive >= self._limit
    end
  end
  local seq = self._seq + 1
  self._seq = seq
  local job
  if coro then
    coro.started = "scheduled"
    job = setmetatable({ s = "pending", _sched = self, _fn = coro.fn, _n = coro.n, _id = seq,
      _task = false, _out = false, unpack(coro, 1, coro.n) }, Job)
  else
    -- every field a job gets on the hot path, so its table never grows
    job = setmetatable({ s = "pending", _sched = self, _fn = fn, _n = n, _id = seq,
      _task = false, _out = false, ... }, Job)
  end
  if full then
    local t = self._pt + 1
    self._pt = t
    self._pq[t] = job
    self._npending = self._npending + 1
  else
    start(self, job)
  end
  -- a spawner woken for a pending slot may have started its job directly instead
  if self._nputters > 0 then wake_spawners(self) end
  return job
end

function Scheduler:active_count()
  check_self(self, Scheduler, "active_count")
  return self._nactive
end
function Scheduler:pending_count()
  check_self(self, Scheduler, "pending_count")
  return self._npending
end
function Scheduler:closed()
  check_self(self, Scheduler, "closed")
  return self._closed
end
function Scheduler:__len() return self._nactive + self._npending end


-- An iterator over the jobs not yet finished: active ones, then pending ones in order.
function Scheduler:jobs()
  check_self(self, Scheduler, "jobs")
  local list = {}
  for _, job in pairs(self._running) do
    if not job._ab then list[#list + 1] = job end
  end
  sort(list, function(a, b) return a._id < b._id end)
  local q = self._pq
  for i = self._ph, self._pt do
    if q[i].s == "pending" then list[#list + 1] = q[i] end
  end
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

function Scheduler:__tostring()
  return ("Scheduler<%s active=%d pending=%d limit=%s>"):format(self._closed and "closed" or "open",
    self._nactive, self._npending, self._limit == huge and "none" or tostring(self._limit))
end

function Scheduler:shield(aw)
  check_self(self, Scheduler, "shield")
  local inner = ensure_future(aw, "shield", 1)
  if inner:done() then return inner:result() end
  need_task("Scheduler:shield")
  if not self._shields[inner] then
    self._shields[inner] = true
    self._nshields = self._nshields + 1
    inner:add_done_callback(function(f)
      if self._shields[f] then
        self._shields[f] = nil
        self._nshields = self._nshields - 1
        notify(self._idle)
      end
    end)
  end
  return shield(inner)
end

-- Waits until nothing but `floor` active jobs (and no shield) remain, or the deadline.
local function wait_idle(self, floor, deadline)
  while self._nactive + self._npending > floor or self._nshields > 0 do
    local f = Future()
    self._idle[#self._idle + 1] = f
    if not await_until(f, deadline) then return false end
  end
  return true
end

function Scheduler:close()
  check_self(self, Scheduler, "close")
  if self._closed then return end
  self._closed = true
  -- spawners blocked by pending_limit: they raise RuntimeError
  local q = self._wq
  for i = self._wh, self._wt do
    local f = q[i]
    q[i] = nil
    if not f:done() then f:set_result(false) end
  end
  self._wh, self._wt, self._nputters = 1, 0, 0
  drop_pending(self)
  -- the caller may be one of our jobs: it is cancelled last, once close returns
  local me = current_task()
  local own
  local closing = {}
  for _, job in pairs(self._running) do
    if not job._ab then
      if me and job._task == me then own = job else closing[#closing + 1] = job end
    end
  end
  sort(closing, function(a, b) return a._id < b._id end)
  for i = 1, #closing do
    local job = closing[i]
    job.s = "closed"
    cancel_active(self, job)
  end
  for f in pairs(self._shields) do f:cancel() end
  -- outside a task close() cannot wait: it only requests the cancellations
  local waited = in_task() and (#closing > 0 or self._nshields > 0)
  if waited then wait_idle(self, own and 1 or 0, deadline_of(self._close_timeout)) end
  -- whatever has not finished in time is given up: reported (unless someone waits on it
  -- explicitly), cancelled once more, no longer counted
  for i = 1, waited and #closing or 0 do
    local job = closing[i]
    if not job._out then
      job._ab = true
      self._nactive = self._nactive - 1
      job._ncreq = job._ncreq + 1
      job._task:cancel()
      if not job._explicit then
        report(self, { message = "Job closing timed out", job = job,
          exception = TimeoutError("job did not finish within close_timeout") })
      end
    end
  end
  flush_unreported(self)
  if own then
    own.s = "closed"
    own._ncreq = (own._ncreq or 0) + 1
    own._task:cancel()
  end
end

function Scheduler:wait_and_close(timeout)
  check_self(self, Scheduler, "wait_and_close")
  check_timeout(timeout, "wait_and_close", 1)
  if timeout == nil then timeout = self._wait_timeout end
  if self._nactive + self._npending > 0 or self._nshields > 0 then
    need_task("Scheduler:wait_and_close")
    wait_idle(self, 0, deadline_of(timeout))
  end
  return self:close()
end

-- the same as wait_and_close, under its own name in errors
function Scheduler:wait(timeout)
  check_self(self, Scheduler, "wait")
  check_timeout(timeout, "wait", 1)
  return self:wait_and_close(timeout)
end

-- `local s <close> = aio.Scheduler{}`: as aiojobs' `async with`; the block's error, if any,
-- continues unchanged once the jobs are done.
function Scheduler:__close()
  self:wait_and_close()
end

-- ---- Job ----
function Job:active()
  check_self(self, Job, "active")
  return self.s == "active"
end
function Job:pending()
  check_self(self, Job, "pending")
  return self.s == "pending"
end
function Job:closed()
  check_self(self, Job, "closed")
  return self.s == "closed"
end

function Job:__tostring()
  return ("Job<%d %s>"):format(self._id, self.s)
end

-- The results of a finished job, or its error (then retrieved).
local function outcome(job)
  local o = job._out
  if o == "ok" then
    local r = job._r
    if r then return unpack(r, 1, r.n) end
    return
  end
  if o == "failed" then
    job._retrieved = true
    priv.chain(job._err, job._tb) -- the report shows where the job failed
  end
  error(job._err, 0)
end

-- aiojobs' Job._close: cancel, wait up to `timeout`; explicit closers see errors.
local function job_close(job, timeout)
  local self = job._sched
  if job.s == "pending" then
    job.s = "closed"
    self._npending = self._npending - 1
    if self._nputters > 0 then wake_spawners(self) end
    finish_unstarted(job)
    if self._idle[1] then notify(self._idle) end
    return
  end
  job.s = "closed"
  if job._out then return end
  cancel_active(self, job)
  if job._out or job._task == current_task() or not in_task() then return end
  local f = Future()
  local w = job._waiters
  if not w then w = {}; job._waiters = w end
  w[#w + 1] = f
  if not await_until(f, deadline_of(timeout)) then
    job._ncreq = job._ncreq + 1
    job._task:cancel()
    if job._explicit then error(TimeoutError("job did not finish within the close timeout"), 0) end
    report(self, { message = "Job closing timed out", job = job,
      exception = TimeoutError("job did not finish within the close timeout") })
    return
  end
  if job._out == "failed" and job._explicit then return outcome(job) end
end

function Job:close(timeout)
  check_self(self, Job, "close")
  check_timeout(timeout, "close", 1)
  if self.s == "closed" then
    -- finished with an error nobody has seen yet: closing it explicitly retrieves it
    if self._out == "failed" and self._sched._unreported[self] then
      self._explicit = true
      self._sched._unreported[self] = nil
      return outcome(self)
    end
    return
  end
  self._explicit = true
  job_close(self, timeout or self._sched._close_timeout)
end

function Job:wait(timeout)
  check_self(self, Job, "wait")
  check_timeout(timeout, "wait", 1)
  if self._out then return outcome(self) end
  if self._task and self._task == current_task() then
    error(RuntimeError("a job cannot wait for itself"), 2)
  end
  need_task("Job:wait")
  self._explicit = true
  local f = Future()
  local w = self._waiters
  if not w then w = {}; self._waiters = w end
  w[#w + 1] = f
  if self._task then priv.awaited_by(self._task, f) end -- call graphs: the caller awaits it
  -- a private future: cancelling the caller does not cancel the job
  if not await_until(f, deadline_of(timeout)) then
    job_close(self, self._sched._close_timeout)
    error(TimeoutError("job did not finish within the timeout"), 2)
  end
  return outcome(self)
end
