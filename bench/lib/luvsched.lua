-- A deliberately small cooperative scheduler on top of luv, used by the luv
-- peers: coroutines are "tasks"; a FIFO ready queue is drained once per loop
-- iteration from a uv check handle (with an idle handle keeping the poll
-- non-blocking while work is ready), which is the fair equivalent of
-- asyncio's call_soon queue / luaio's ready queue.
local uv = require "luv"
local S = {}

local readyc, readyv, rn = {}, {}, 0   -- current ready queue (parallel arrays)
local sparec, sparev = {}, {}           -- the other buffer (double-buffered)
local running = false
local check = uv.new_check()
local idle = uv.new_idle()
local active = false

local resume = coroutine.resume

local function run_ready()
  local qc, qv, n = readyc, readyv, rn
  readyc, readyv, rn = sparec, sparev, 0
  for i = 1, n do
    local ok, err = resume(qc[i], qv[i])
    if not ok then error(err) end
    qc[i] = nil; qv[i] = nil
  end
  sparec, sparev = qc, qv
  if rn == 0 and active then
    active = false
    check:stop(); idle:stop()
  end
end

local function activate()
  if not active then
    active = true
    check:start(run_ready)
    idle:start(function() end)
  end
end

-- schedule coroutine co to be resumed with value v on the next iteration
function S.wake(co, v)
  rn = rn + 1
  readyc[rn] = co
  readyv[rn] = v
  activate()
end

function S.spawn(fn, ...)
  local args = table.pack(...)
  local co = coroutine.create(function() return fn(table.unpack(args, 1, args.n)) end)
  S.wake(co)
  return co
end

-- yield to every other ready task once (sleep(0))
function S.yield0()
  S.wake(coroutine.running())
  return coroutine.yield()
end

-- sleep ms using a uv timer per call
function S.sleep_ms(ms)
  local co = coroutine.running()
  local t = uv.new_timer()
  t:start(ms, 0, function()
    t:close()
    S.wake(co)
  end)
  return coroutine.yield()
end

-- a one-shot future: wait() suspends until set(v)
function S.future()
  local f = { done = false, waiters = {}, nw = 0 }
  function f:wait()
    if self.done then return self.value end
    self.nw = self.nw + 1
    self.waiters[self.nw] = coroutine.running()
    return coroutine.yield()
  end
  function f:set(v)
    self.done, self.value = true, v
    local w = self.waiters
    for i = 1, self.nw do S.wake(w[i], v) end
    self.waiters, self.nw = {}, 0
  end
  return f
end

-- bounded FIFO queue with blocking put/get
function S.queue(maxsize)
  local q = { items = {}, head = 1, tail = 0, max = maxsize,
              getters = {}, gh = 1, gt = 0, putters = {}, ph = 1, pt = 0 }
  function q:put(v)
    while self.tail - self.head + 1 >= self.max do
      self.pt = self.pt + 1; self.putters[self.pt] = coroutine.running()
      coroutine.yield()
    end
    self.tail = self.tail + 1; self.items[self.tail] = v
    if self.gh <= self.gt then
      local co = self.getters[self.gh]; self.getters[self.gh] = nil; self.gh = self.gh + 1
      S.wake(co)
    end
  end
  function q:get()
    while self.tail < self.head do
      self.gt = self.gt + 1; self.getters[self.gt] = coroutine.running()
      coroutine.yield()
    end
    local v = self.items[self.head]; self.items[self.head] = nil; self.head = self.head + 1
    if self.ph <= self.pt then
      local co = self.putters[self.ph]; self.putters[self.ph] = nil; self.ph = self.ph + 1
      S.wake(co)
    end
    return v
  end
  return q
end

function S.run() uv.run() end
S.uv = uv
return S
