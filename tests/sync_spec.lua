-- sync_spec.lua — Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier: guards,
-- FIFO service, every cancellation race, asyncio's errors, bad input. The loop is stepped
-- with aio.sleep(0) so every interleaving below is deterministic.
local aio = require "luaio"
local virtual = require "support.virtual"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local settle = require "support.settle"
local outside_task = require "support.outside_task"

local function raises(name, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.is_true(is_err(name, err), "expected " .. name .. ", got " .. tostring(err))
  return err
end

describe("Lock", function()
  it("acquire returns a guard that releases at scope exit", virtual(function()
    local lock = aio.Lock()
    assert.is_false(lock:locked())
    do
      local g <close> = lock:acquire()
      assert.is_true(lock:locked())
      assert.is_truthy(g)
    end
    assert.is_false(lock:locked())
  end))

  it("releases at scope exit when the block raises", virtual(function()
    local lock = aio.Lock()
    local ok, e = pcall(function()
      local _ <close> = lock:acquire()
      error("boom", 0)
    end)
    assert.is_false(ok)
    assert.equal("boom", e)
    assert.is_false(lock:locked())
  end))

  it("is released when the task holding it is cancelled", virtual(function()
    local lock = aio.Lock()
    local t = aio.spawn(function()
      local _ <close> = lock:acquire()
      aio.sleep(100)
    end)
    settle()
    assert.is_true(lock:locked())
    t:cancel()
    settle()
    assert.is_true(t:cancelled())
    assert.is_false(lock:locked())
  end))

  it("is released when the task holding it fails", virtual(function()
    local lock = aio.Lock()
    local t = aio.spawn(function()
      local _ <close> = lock:acquire()
      aio.sleep(0)
      error("task failed")
    end)
    assert.is_false(pcall(t.await, t))
    assert.is_false(lock:locked())
  end))

  it("serves waiters in FIFO order", virtual(function()
    local lock = aio.Lock()
    local order = {}
    local tasks = {}
    local hold <close> = lock:acquire()
    for i = 1, 5 do
      tasks[i] = aio.spawn(function()
        local _ <close> = lock:acquire()
        order[#order + 1] = i
        aio.sleep(0)
      end)
    end
    settle()
    hold:release()
    aio.gather(tasks)
    assert.same({ 1, 2, 3, 4, 5 }, order)
    assert.is_false(lock:locked())
  end))

  it("serves waiters in FIFO order, skipping one cancelled while it waited", virtual(function()
    local l = aio.Lock()
    local order = {}
    local _ = l:acquire()
    local ts = {}
    for i = 1, 4 do
      ts[i] = aio.spawn(function()
        local _ <close> = l:acquire()
        order[#order + 1] = i
        aio.sleep(0)
      end)
    end
    aio.sleep(0)
    ts[2]:cancel()
    l:release()
    for i = 1, 4 do pcall(aio.await, ts[i]) end
    assert.same({ 1, 3, 4 }, order)
    assert.is_true(ts[2]:cancelled())
    assert.is_false(l:locked())
  end))

  it("does not let a newcomer overtake a waiter that was woken", virtual(function()
    local lock = aio.Lock()
    local g = lock:acquire()
    local order = {}
    local w = aio.spawn(function() local _ <close> = lock:acquire(); order[#order + 1] = "waiter" end)
    settle()
    g:release() -- w is woken but has not run yet
    local n = aio.spawn(function() local _ <close> = lock:acquire(); order[#order + 1] = "newcomer" end)
    aio.gather { w, n }
    assert.same({ "waiter", "newcomer" }, order)
  end))

  it("raises RuntimeError when releasing an unlocked lock", virtual(function()
    local lock = aio.Lock()
    local err = raises("RuntimeError", lock.release, lock)
    assert.matches("not acquired", err.message)
  end))

  it("a guard released early by release() does not release again at scope exit", virtual(function()
    local lock = aio.Lock()
    local other
    do
      local _ <close> = lock:acquire()
      lock:release()
      other = aio.spawn(function()
        local _ <close> = lock:acquire()
        aio.sleep(100)
      end)
      settle()
      assert.is_true(lock:locked()) -- held by `other` now
    end
    assert.is_true(lock:locked()) -- our scope exit did not release other's hold
    other:cancel()
    settle()
    assert.is_false(lock:locked())
  end))

  it("a guard released with guard:release() does not release again", virtual(function()
    local lock = aio.Lock()
    local holder
    do
      local g <close> = lock:acquire()
      g:release()
      assert.is_true(g:released())
      assert.is_false(lock:locked())
      raises("RuntimeError", g.release, g)
      holder = aio.spawn(function() local _ <close> = lock:acquire(); aio.sleep(100) end)
      settle()
    end
    assert.is_true(lock:locked())
    holder:cancel()
    settle()
  end))

  it("a cancelled waiter loses its turn and never holds the lock", virtual(function()
    local lock = aio.Lock()
    local g = lock:acquire()
    local got = {}
    local b = aio.spawn(function() local _ <close> = lock:acquire(); got[#got + 1] = "b" end)
    local c = aio.spawn(function() local _ <close> = lock:acquire(); got[#got + 1] = "c"; return "c" end)
    settle()
    b:cancel()
    settle()
    assert.is_true(b:cancelled())
    g:release()
    assert.equal("c", c:await())
    assert.same({ "c" }, got)
    assert.is_false(lock:locked())
  end))

  it("a waiter cancelled after it was granted the lock never holds it and passes it on", virtual(function()
    local lock = aio.Lock()
    local _ = lock:acquire()
    local held_by_a = false
    local a = aio.spawn(function() lock:acquire(); held_by_a = true end)
    local b = aio.spawn(function() local _ <close> = lock:acquire(); return "b got it" end)
    settle(2)
    lock:release() -- hands it to a ...
    a:cancel()     -- ... which is cancelled before it runs
    assert.equal("b got it", b:await())
    assert.is_true(a:cancelled())
    assert.is_false(held_by_a)
    assert.is_false(lock:locked())
  end))

  it("a granted-then-cancelled waiter with nobody behind leaves the lock free", virtual(function()
    local lock = aio.Lock()
    local g = lock:acquire()
    local b = aio.spawn(function() local _ <close> = lock:acquire(); aio.sleep(100) end)
    settle()
    g:release()
    b:cancel()
    settle()
    assert.is_true(b:cancelled())
    assert.is_false(lock:locked())
    local _ <close> = lock:acquire()
  end))

  it("acquire raises outside a task even when the lock is free", virtual(function()
    local lock = aio.Lock()
    local ok, err = outside_task(function() return lock:acquire() end)
    assert.is_false(ok)
    assert.equal("luaio.Lock:acquire: must be called from inside a task (see luaio.run)", err)
    assert.is_false(lock:locked())
  end))

  it("rejects a bad self clearly", virtual(function()
    local lock = aio.Lock()
    assert.has_error(function() lock.acquire({}) end, "bad argument #1 to 'acquire' (Lock expected, got table)")
    assert.has_error(function() lock.release() end, "bad argument #1 to 'release' (Lock expected, got nil)")
  end))
end)

describe("Event", function()
  it("set, clear, is_set and wait", virtual(function()
    local ev = aio.Event()
    assert.is_false(ev:is_set())
    local woke = {}
    local tasks = {}
    for i = 1, 3 do tasks[i] = aio.spawn(function() assert.is_true(ev:wait()); woke[#woke + 1] = i end) end
    settle()
    assert.same({}, woke)
    ev:set()
    assert.is_true(ev:is_set())
    aio.gather(tasks)
    assert.same({ 1, 2, 3 }, woke)
    assert.is_true(ev:wait()) -- set: returns at once
    ev:clear()
    assert.is_false(ev:is_set())
    local t = aio.spawn(function() return ev:wait() end)
    settle()
    assert.is_false(t:done())
    ev:set()
    assert.is_true(t:await())
  end))

  it("a cancelled waiter does not disturb the others", virtual(function()
    local ev = aio.Event()
    local a = aio.spawn(function() return ev:wait() end)
    local b = aio.spawn(function() return ev:wait() end)
    settle()
    a:cancel()
    settle()
    ev:set()
    assert.is_true(b:await())
    assert.is_true(a:cancelled())
  end))

  it("wait raises outside a task even when set", virtual(function()
    local ev = aio.Event()
    ev:set()
    local ok, err = outside_task(function() return ev:wait() end)
    assert.is_false(ok)
    assert.equal("luaio.Event:wait: must be called from inside a task (see luaio.run)", err)
  end))
end)

describe("Condition", function()
  it("wait releases the lock, and holds it again when woken by notify", virtual(function()
    local cond = aio.Condition()
    local items = {}
    local consumer = aio.spawn(function()
      local _ <close> = cond:acquire()
      cond:wait_for(function() return #items > 0 end)
      assert.is_true(cond:locked())
      return table.remove(items, 1)
    end)
    settle()
    assert.is_false(cond:locked()) -- the consumer waits without the lock
    do
      local _ <close> = cond:acquire()
      items[1] = "x"
      cond:notify()
    end
    assert.equal("x", consumer:await())
    assert.is_false(cond:locked())
  end))

  it("notify(n) wakes n waiters in FIFO order; notify_all wakes the rest", virtual(function()
    local cond = aio.Condition()
    local order = {}
    local tasks = {}
    for i = 1, 5 do
      tasks[i] = aio.spawn(function()
        local _ <close> = cond:acquire()
        assert.is_true(cond:wait())
        order[#order + 1] = i
      end)
    end
    settle()
    do local _ <close> = cond:acquire(); cond:notify(2) end
    settle()
    assert.same({ 1, 2 }, order)
    do local _ <close> = cond:acquire(); cond:notify_all() end
    aio.gather(tasks)
    assert.same({ 1, 2, 3, 4, 5 }, order)
  end))

  it("notify() wakes one waiter, which holds the lock when wait returns", virtual(function()
    local c = aio.Condition()
    local woken = {}
    local ts = {}
    for i = 1, 4 do
      ts[i] = aio.spawn(function()
        local _ <close> = c:acquire()
        c:wait()
        assert(c:locked(), "wait must return with the lock held")
        woken[#woken + 1] = i
      end)
      settle(1)
    end
    settle(2)
    do
      local _ <close> = c:acquire()
      c:notify(2)
    end
    settle(5)
    assert.same({ 1, 2 }, woken)
    do
      local _ <close> = c:acquire()
      c:notify() -- default 1
    end
    settle(5)
    assert.same({ 1, 2, 3 }, woken)
    do
      local _ <close> = c:acquire()
      c:notify_all()
    end
    for i = 1, 4 do ts[i]:await() end
    assert.same({ 1, 2, 3, 4 }, woken)
    assert.is_false(c:locked())
  end))

  it("wait_for waits until the predicate is true and returns its value", virtual(function()
    local c = aio.Condition()
    local value
    local w = aio.spawn(function()
      local _ <close> = c:acquire()
      return c:wait_for(function() return value end)
    end)
    settle(3)
    do
      local _ <close> = c:acquire()
      c:notify_all() -- predicate still false: keeps waiting
    end
    settle(3)
    assert.is_false(w:done())
    do
      local _ <close> = c:acquire()
      value = "ready"
      c:notify_all()
    end
    assert.equal("ready", w:await())
    -- already true: returns without waiting
    local _ <close> = c:acquire()
    assert.equal(42, c:wait_for(function() return 42 end))
  end))

  it("raises RuntimeError for wait and notify without the lock", virtual(function()
    local cond = aio.Condition()
    assert.matches("un%-acquired lock", raises("RuntimeError", cond.wait, cond).message)
    assert.matches("un%-acquired lock", raises("RuntimeError", cond.notify, cond).message)
    raises("RuntimeError", cond.notify_all, cond)
    raises("RuntimeError", cond.release, cond)
  end))

  it("shares a Lock given at construction", virtual(function()
    local lock = aio.Lock()
    local cond = aio.Condition(lock)
    local _ <close> = lock:acquire()
    assert.is_true(cond:locked())
    assert.has_error(function() aio.Condition("x") end, "bad argument #1 to 'Condition' (Lock expected, got string)")
  end))

  it("shares a given Lock both ways", virtual(function()
    local lock = aio.Lock()
    local c = aio.Condition(lock)
    do
      local _ <close> = c:acquire()
      assert.is_true(lock:locked())
    end
    assert.is_false(lock:locked())
    do
      local _ <close> = lock:acquire()
      assert.is_true(c:locked())
      c:notify() -- holding the shared lock is enough
    end
  end))

  it("a waiter cancelled while waiting holds the lock again before it raises", virtual(function()
    local cond = aio.Condition()
    local held_at_raise
    local t = aio.spawn(function()
      local _ <close> = cond:acquire()
      local _, err = pcall(cond.wait, cond)
      held_at_raise = cond:locked()
      error(err, 0)
    end)
    settle()
    -- another task holds the lock when the cancellation arrives: the waiter must queue for it
    local g = cond:acquire()
    t:cancel()
    settle()
    assert.is_false(t:done())
    g:release()
    local ok, err = pcall(t.await, t)
    assert.is_true(not ok and is_err("CancelledError", err))
    assert.is_true(held_at_raise)
    assert.is_false(cond:locked()) -- and its guard released it
  end))

  it("a waiter notified then cancelled passes the notification on", virtual(function()
    local cond = aio.Condition()
    local woke = {}
    local a = aio.spawn(function() local _ <close> = cond:acquire(); cond:wait(); woke[#woke + 1] = "a" end)
    local b = aio.spawn(function() local _ <close> = cond:acquire(); cond:wait(); woke[#woke + 1] = "b" end)
    settle()
    do
      local _ <close> = cond:acquire()
      cond:notify(1) -- a is notified ...
    end
    a:cancel()       -- ... and cancelled before it runs
    b:await()
    assert.same({ "b" }, woke)
    assert.is_true(a:cancelled())
  end))

  it("wait and acquire raise outside a task", virtual(function()
    local cond = aio.Condition()
    local ok, err = outside_task(function() return cond:acquire() end)
    assert.is_false(ok)
    assert.equal("luaio.Condition:acquire: must be called from inside a task (see luaio.run)", err)
    ok, err = outside_task(function() return cond:wait() end)
    assert.is_false(ok)
    assert.equal("luaio.Condition:wait: must be called from inside a task (see luaio.run)", err)
  end))

  it("rejects a non-Lock and bad notify / wait_for arguments", virtual(function()
    check_argerr("Condition", catch(aio.Condition, 5))
    local c = aio.Condition()
    local _ <close> = c:acquire()
    check_argerr("notify", catch(c.notify, c, "x"))
    check_argerr("wait_for", catch(c.wait_for, c, 5))
  end))
end)

describe("Semaphore", function()
  it("counts, blocks at zero and wakes in FIFO order", virtual(function()
    local sem = aio.Semaphore(2)
    local a = sem:acquire()
    local _ = sem:acquire()
    assert.is_true(sem:locked())
    local order = {}
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = aio.spawn(function() local _ <close> = sem:acquire(); order[#order + 1] = i; aio.sleep(0) end)
    end
    settle()
    assert.same({}, order)
    a:release()
    aio.gather(tasks)
    assert.same({ 1, 2, 3 }, order)
  end))

  it("lets at most its value of holders in at once, FIFO", virtual(function()
    local s1 = aio.Semaphore()
    assert.is_false(s1:locked())
    local _ = s1:acquire()
    assert.is_true(s1:locked())
    s1:release()
    assert.is_false(s1:locked())

    local s = aio.Semaphore(2)
    local inside, max_inside, order = 0, 0, {}
    local ts = {}
    for i = 1, 5 do
      ts[i] = aio.spawn(function()
        local _ <close> = s:acquire()
        order[#order + 1] = i
        inside = inside + 1
        max_inside = math.max(max_inside, inside)
        aio.sleep(0); aio.sleep(0)
        inside = inside - 1
      end)
    end
    for i = 1, 5 do ts[i]:await() end
    assert.equal(2, max_inside)
    assert.same({ 1, 2, 3, 4, 5 }, order)
    assert.is_false(s:locked())
  end))

  it("defaults to 1 and raises ValueError for a negative value", virtual(function()
    local sem = aio.Semaphore()
    local g = sem:acquire()
    assert.is_true(sem:locked())
    g:release()
    assert.is_false(sem:locked())
    local err = raises("ValueError", aio.Semaphore, -1)
    assert.matches(">= 0", err.message)
    assert.has_error(function() aio.Semaphore("x") end, "bad argument #1 to 'Semaphore' (number expected, got string)")
    assert.has_error(function() aio.Semaphore(1.5) end, "bad argument #1 to 'Semaphore' (number has no integer representation)")
    assert.is_true(aio.Semaphore(0):locked())
  end))

  it("raises ValueError for a negative value, bounded or not; a plain one may grow past its start", virtual(function()
    is_err("ValueError", catch(aio.Semaphore, -1))
    is_err("ValueError", catch(aio.BoundedSemaphore, -1))
    local s = aio.Semaphore(0)
    assert.is_true(s:locked())
    s:release()
    s:release()
    local _ = s:acquire()
    local _ = s:acquire()
    assert.is_true(s:locked())
    s:release(); s:release()
  end))

  it("releases with the guard at scope exit, error or not", virtual(function()
    local sem = aio.BoundedSemaphore(1)
    pcall(function() local _ <close> = sem:acquire(); error("x") end)
    assert.is_false(sem:locked())
    do local _ <close> = sem:acquire() end
    assert.is_false(sem:locked())
  end))

  it("an explicit release() spends the caller's guard", virtual(function()
    local sem = aio.BoundedSemaphore(1)
    do
      local _ <close> = sem:acquire()
      sem:release()
      assert.is_false(sem:locked())
    end -- no second release: a BoundedSemaphore would raise ValueError here
    assert.is_false(sem:locked())
    local g = sem:acquire()
    assert.is_true(sem:locked())
    g:release()
  end))

  it("a BoundedSemaphore guard released early is not released again", virtual(function()
    local b = aio.BoundedSemaphore(1)
    is_err("ValueError", catch(b.release, b))
    do
      local _ <close> = b:acquire()
      b:release()
    end -- the guard must not release a second time (that would be an over-release)
    assert.is_false(b:locked())
    is_err("ValueError", catch(b.release, b))
  end))

  it("a plain Semaphore guard released early is not released again", virtual(function()
    local s = aio.Semaphore(1)
    do
      local _ <close> = s:acquire()
      s:release()
    end
    local _ <close> = s:acquire()
    assert.is_true(s:locked()) -- the value is back to 0, not 1
  end))

  it("BoundedSemaphore raises ValueError when released too many times", virtual(function()
    local sem = aio.BoundedSemaphore(2)
    local err = raises("ValueError", sem.release, sem)
    assert.matches("released too many times", err.message)
    local plain = aio.Semaphore(1)
    plain:release() -- a plain Semaphore may grow
    local _ = plain:acquire()
    local _ = plain:acquire()
    assert.is_true(plain:locked())
  end))

  it("a cancelled waiter never blocks those behind it", virtual(function()
    local sem = aio.Semaphore(1)
    local g = sem:acquire()
    local b = aio.spawn(function() local _ <close> = sem:acquire(); return "b" end)
    local c = aio.spawn(function() local _ <close> = sem:acquire(); return "c" end)
    settle()
    b:cancel()
    settle()
    g:release()
    assert.equal("c", c:await())
    assert.is_false(sem:locked())
  end))

  it("a cancelled waiter never holds a slot", virtual(function()
    local s = aio.Semaphore(1)
    local _ = s:acquire()
    local got = false
    local t = aio.spawn(function() s:acquire(); got = true end)
    settle(2)
    t:cancel()
    settle(2)
    s:release()
    settle(2)
    assert.is_false(got)
    assert.is_false(s:locked())
  end))

  it("a waiter cancelled after it was granted gives the count back to the next", virtual(function()
    local sem = aio.Semaphore(1)
    local g = sem:acquire()
    local b = aio.spawn(function() local _ <close> = sem:acquire(); return "b" end)
    local c = aio.spawn(function() local _ <close> = sem:acquire(); return "c" end)
    settle()
    g:release() -- b granted
    b:cancel()
    assert.equal("c", c:await())
    assert.is_true(b:cancelled())
    assert.is_false(sem:locked())
    -- the count is whole again: exactly one acquire succeeds without waiting
    local _ = sem:acquire()
    assert.is_true(sem:locked())
  end))

  it("acquire raises outside a task even when free", virtual(function()
    local sem = aio.Semaphore(3)
    local ok, err = outside_task(function() return sem:acquire() end)
    assert.is_false(ok)
    assert.equal("luaio.Semaphore:acquire: must be called from inside a task (see luaio.run)", err)
  end))

  it("bounds concurrency under load", virtual(function()
    local sem, active, peak, done = aio.Semaphore(3), 0, 0, 0
    local tasks = {}
    for i = 1, 30 do
      tasks[i] = aio.spawn(function()
        local _ <close> = sem:acquire()
        active = active + 1
        if active > peak then peak = active end
        for _ = 1, i % 4 do aio.sleep(0) end
        active = active - 1
        done = done + 1
      end)
    end
    aio.gather(tasks)
    assert.equal(3, peak)
    assert.equal(30, done)
    assert.is_false(sem:locked())
  end))
end)

describe("Barrier", function()
  it("returns a distinct index 0..parties-1 to each party", virtual(function()
    local b = aio.Barrier(3)
    assert.equal(3, b.parties)
    local tasks = {}
    for i = 1, 3 do tasks[i] = aio.spawn(function() return b:wait() end) end
    settle()
    local idx = {}
    for i = 1, 3 do idx[i] = tasks[i]:await() end
    table.sort(idx)
    assert.same({ 0, 1, 2 }, idx)
    assert.equal(0, b:n_waiting())
    assert.is_false(b:broken())
  end))

  it("returns indices 0..parties-1 in arrival order and counts waiting parties", virtual(function()
    local b = aio.Barrier(3)
    assert.equal(3, b.parties)
    assert.equal(0, b:n_waiting())
    assert.is_false(b:broken())
    local ts = {}
    for i = 1, 2 do ts[i] = aio.spawn(function() return b:wait() end) end
    aio.sleep(0)
    assert.equal(2, b:n_waiting())
    ts[3] = aio.spawn(function() return b:wait() end)
    local got = {}
    for i = 1, 3 do got[i] = ts[i]:await() end
    assert.same({ 0, 1, 2 }, got)
    -- reusable
    ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() return b:wait() end) end
    local seen = {}
    for i = 1, 3 do seen[ts[i]:await()] = true end
    assert.same({ [0] = true, [1] = true, [2] = true }, seen)
  end))

  it("counts waiting parties and is reusable", virtual(function()
    local b = aio.Barrier(2)
    for round = 1, 3 do
      local t = aio.spawn(function() return b:wait() end)
      settle()
      assert.equal(1, b:n_waiting(), "round " .. round)
      local mine = b:wait()
      local theirs = t:await()
      assert.same({ 0, 1 }, { math.min(mine, theirs), math.max(mine, theirs) })
    end
  end))

  it("abort breaks it: waiting and later parties raise BrokenBarrierError", virtual(function()
    local b = aio.Barrier(3)
    local t = aio.spawn(function() return b:wait() end)
    settle()
    b:abort()
    assert.is_true(b:broken())
    local ok, err = pcall(t.await, t)
    assert.is_true(not ok and is_err("BrokenBarrierError", err))
    raises("BrokenBarrierError", b.wait, b)
  end))

  it("reset breaks the current round and makes it usable again", virtual(function()
    local b = aio.Barrier(2)
    local t = aio.spawn(function() return b:wait() end)
    settle()
    b:reset()
    local ok, err = pcall(t.await, t)
    assert.is_true(not ok and is_err("BrokenBarrierError", err))
    assert.is_false(b:broken())
    local t2 = aio.spawn(function() return b:wait() end)
    local mine = b:wait()
    assert.equal(1, mine + t2:await())
    b:abort()
    b:reset()
    assert.is_false(b:broken())
  end))

  it("a cancelled party leaves the count", virtual(function()
    local b = aio.Barrier(2)
    local t = aio.spawn(function() return b:wait() end)
    settle()
    assert.equal(1, b:n_waiting())
    t:cancel()
    settle()
    assert.is_true(t:cancelled())
    assert.equal(0, b:n_waiting())
    local t2 = aio.spawn(function() return b:wait() end)
    local mine = b:wait()
    assert.equal(1, mine + t2:await())
  end))

  it("rejects bad parties and waits only inside a task", virtual(function()
    raises("ValueError", aio.Barrier, 0)
    assert.has_error(function() aio.Barrier() end, "bad argument #1 to 'Barrier' (number expected, got no value)")
    assert.has_error(function() aio.Barrier("x") end, "bad argument #1 to 'Barrier' (number expected, got string)")
    local b = aio.Barrier(1)
    local ok, err = outside_task(function() return b:wait() end)
    assert.is_false(ok)
    assert.equal("luaio.Barrier:wait: must be called from inside a task (see luaio.run)", err)
    assert.equal(0, b:wait()) -- one party: passes at once
  end))
end)

describe("suspension", function()
  it("Lock:acquire, Event:wait and Semaphore:acquire raise across a C-call boundary even when they need not wait", virtual(function()
    local function in_sort(f)
      return pcall(table.sort, { 3, 2, 1 }, function(a, b) f(); return a < b end)
    end
    local lock = aio.Lock()
    local ok, e = in_sort(function() lock:acquire(); lock:release() end)
    assert.is_false(ok, "Lock:acquire succeeded across a C-call boundary")
    assert.matches("acquire", tostring(e))
    local ev = aio.Event()
    ev:set()
    ok, e = in_sort(function() ev:wait() end)
    assert.is_false(ok, "Event:wait succeeded across a C-call boundary")
    assert.matches("wait", tostring(e))
    local sem = aio.Semaphore(10)
    ok = in_sort(function() sem:acquire() end)
    assert.is_false(ok, "Semaphore:acquire succeeded across a C-call boundary")
  end))

  it("a guard whose lock was released by lock:release() reads released and refuses a second release", virtual(function()
    -- guard:released() stayed false and guard:release() did nothing silently
    local lock = aio.Lock()
    local g = lock:acquire()
    lock:release()
    assert.is_true(g:released())
    local ok, e = pcall(g.release, g)
    assert.is_false(ok)
    is_err("RuntimeError", e)
    assert.is_false(lock:locked())
  end))
end)
