-- acceptance3_io_spec.lua — independent black-box acceptance checks of queues,
-- synchronisation, streams and networking and the job scheduler, written from the documented
-- contract alone (docs/reference/; also the rules on tasks and errors these rely on).
local aio = require "luaio"
local async = require "support.async"

---------------------------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------------------------

-- pcall that must fail; returns the error value
local function fails(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error, call succeeded")
  return e
end

-- asserts that `e` is a luaio error of class `name` (a table with name and message)
local function check_err(name, e)
  assert.is_table(e, "expected a luaio error table, got " .. tostring(e))
  assert.equal(name, e.name)
  assert.equal(aio[name], getmetatable(e))
  if e.message ~= nil then
    assert.is_string(e.message)
    assert.equal(name .. ": " .. e.message, tostring(e))
  end
end

-- asserts that `e` is an ordinary Lua argument error mentioning `fname`
local function check_argerr(fname, e)
  local s = tostring(e)
  assert.matches("bad argument", s, 1, true)
  assert.matches(fname, s, 1, true)
end

-- let every other ready task run n times
local function yield(n)
  for _ = 1, n or 5 do aio.sleep(0) end
end

-- runs fn from a plain loop callback (outside any task), returns pcall's results
local function in_callback(fn, ...)
  local args = table.pack(...)
  local res
  aio.call_soon(function() res = table.pack(pcall(fn, table.unpack(args, 1, args.n))) end)
  while not res do aio.sleep(0) end
  return table.unpack(res, 1, res.n)
end

-- installs a loop exception handler for the duration of the current test; returns the list of
-- contexts it receives and a restore function
local function capture_loop_errors()
  local seen = {}
  local old = aio.get_exception_handler()
  aio.set_exception_handler(function(ctx) seen[#seen + 1] = ctx end)
  return seen, function() aio.set_exception_handler(old) end
end

-- a started TCP server on 127.0.0.1, port 0; returns server, port
local function tcp_server(cb, opts)
  local srv = aio.start_server(cb, "127.0.0.1", 0, opts)
  local host, port = srv.sockets[1]:getsockname()
  return srv, port, host
end

local function tmp_sock_path()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".sock"
end

---------------------------------------------------------------------------------------------
-- §5 Queues
---------------------------------------------------------------------------------------------

describe("§5 queues", function()
  it("maxsize absent or 0 means unbounded; the maxsize field reflects the argument", async(function()
    local a, b, c = aio.Queue(), aio.Queue(0), aio.Queue(3)
    assert.equal(0, a.maxsize)
    assert.equal(0, b.maxsize)
    assert.equal(3, c.maxsize)
    for i = 1, 500 do a:put_nowait(i); b:put_nowait(i) end
    assert.is_false(a:full())
    assert.is_false(b:full())
    assert.equal(500, a:qsize())
    assert.equal(3, aio.LifoQueue(3).maxsize)
    assert.equal(3, aio.PriorityQueue(3).maxsize)
    assert.equal(0, aio.PriorityQueue().maxsize)
  end))

  it("qsize, empty and full track the contents of a bounded queue", async(function()
    local q = aio.Queue(2)
    assert.is_true(q:empty())
    assert.is_false(q:full())
    assert.equal(0, q:qsize())
    q:put_nowait("a")
    assert.is_false(q:empty())
    assert.is_false(q:full())
    q:put_nowait("b")
    assert.is_true(q:full())
    assert.equal(2, q:qsize())
    q:get_nowait()
    assert.is_false(q:full())
    assert.equal(1, q:qsize())
  end))

  it("put_nowait on a full queue raises QueueFull; get_nowait on an empty one QueueEmpty", async(function()
    local q = aio.Queue(1)
    check_err("QueueEmpty", fails(q.get_nowait, q))
    q:put_nowait(1)
    check_err("QueueFull", fails(q.put_nowait, q, 2))
    assert.equal(1, q:qsize())
    assert.equal(1, q:get_nowait())
    local l = aio.LifoQueue(1)
    l:put_nowait(1)
    check_err("QueueFull", fails(l.put_nowait, l, 2))
    local p = aio.PriorityQueue(1)
    check_err("QueueEmpty", fails(p.get_nowait, p))
  end))

  it("Queue is FIFO, LifoQueue is LIFO", async(function()
    local q, l = aio.Queue(), aio.LifoQueue()
    for _, v in ipairs { "x", "y", "z" } do q:put(v); l:put(v) end
    assert.same({ "x", "y", "z" }, { q:get(), q:get(), q:get() })
    assert.same({ "z", "y", "x" }, { l:get(), l:get(), l:get() })
  end))

  it("PriorityQueue gives the smallest first by <", async(function()
    local p = aio.PriorityQueue()
    for _, v in ipairs { 5, -2, 9, 0, 3.5, 7 } do p:put_nowait(v) end
    local got = {}
    while not p:empty() do got[#got + 1] = p:get_nowait() end
    assert.same({ -2, 0, 3.5, 5, 7, 9 }, got)
    local s = aio.PriorityQueue()
    for _, v in ipairs { "pear", "apple", "fig" } do s:put_nowait(v) end
    assert.same({ "apple", "fig", "pear" }, { s:get_nowait(), s:get_nowait(), s:get_nowait() })
  end))

  it("PriorityQueue takes less(a, b) and is FIFO among equal priorities", async(function()
    local p = aio.PriorityQueue(0, function(a, b) return a.pri > b.pri end) -- largest first
    local items = {
      { pri = 1, id = "a" }, { pri = 3, id = "b" }, { pri = 1, id = "c" },
      { pri = 3, id = "d" }, { pri = 2, id = "e" }, { pri = 3, id = "f" }, { pri = 1, id = "g" },
    }
    for _, it in ipairs(items) do p:put_nowait(it) end
    local got = {}
    while not p:empty() do got[#got + 1] = p:get_nowait().id end
    assert.same({ "b", "d", "f", "e", "a", "c", "g" }, got)
  end))

  it("put suspends while full and resumes when an item is taken", async(function()
    local q = aio.Queue(1)
    q:put("first")
    local state = "start"
    local putter = aio.spawn(function() q:put("second"); state = "put done"; return "ok" end)
    yield(5)
    assert.equal("start", state)
    assert.is_false(putter:done())
    assert.equal("first", q:get())
    assert.equal("ok", putter:await())
    assert.equal("put done", state)
    assert.equal("second", q:get_nowait())
  end))

  it("get suspends while empty and returns the item put later", async(function()
    local q = aio.Queue()
    local getter = aio.spawn(function() return q:get() end)
    yield(5)
    assert.is_false(getter:done())
    q:put_nowait({ tag = "late" })
    assert.equal("late", getter:await().tag)
  end))

  it("waiting getters are woken FIFO", async(function()
    local q = aio.Queue()
    local order = {}
    local ts = {}
    for i = 1, 4 do
      ts[i] = aio.spawn(function() local v = q:get(); order[#order + 1] = i .. "=" .. v end)
      yield(1)
    end
    for _, v in ipairs { "a", "b", "c", "d" } do q:put_nowait(v) end
    for i = 1, 4 do ts[i]:await() end
    assert.same({ "1=a", "2=b", "3=c", "4=d" }, order)
  end))

  it("waiting putters are woken FIFO", async(function()
    local q = aio.Queue(1)
    q:put_nowait(0)
    for i = 1, 3 do
      aio.spawn(function() q:put(i) end)
      yield(1)
    end
    local got = {}
    for _ = 1, 4 do got[#got + 1] = q:get() end
    assert.same({ 0, 1, 2, 3 }, got)
  end))

  it("a cancelled getter loses nothing: the item goes to the next getter", async(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    yield(2)
    g1:cancel()
    q:put_nowait("only")
    assert.equal("only", g2:await())
    assert.is_true(g1:cancelled())
    assert.is_true(q:empty())
  end))

  it("join returns at once with no unfinished items and waits for every task_done", async(function()
    local q = aio.Queue()
    q:join() -- nothing unfinished
    q:put_nowait("a")
    q:put_nowait("b")
    local joined = false
    local j = aio.spawn(function() q:join(); joined = true end)
    yield(3)
    assert.is_false(joined)
    q:get_nowait(); q:task_done()
    yield(3)
    assert.is_false(joined)
    q:get_nowait(); q:task_done()
    j:await()
    assert.is_true(joined)
  end))

  it("task_done called more often than items were put raises ValueError", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    q:get_nowait()
    q:task_done()
    check_err("ValueError", fails(q.task_done, q))
  end))

  it("shutdown(): put raises QueueShutDown, get drains then raises QueueShutDown", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    q:put_nowait(2)
    q:shutdown()
    check_err("QueueShutDown", fails(q.put, q, 3))
    check_err("QueueShutDown", fails(q.put_nowait, q, 3))
    assert.equal(1, q:get())
    assert.equal(2, q:get_nowait())
    check_err("QueueShutDown", fails(q.get, q))
    check_err("QueueShutDown", fails(q.get_nowait, q))
  end))

  it("shutdown() wakes blocked getters and putters with QueueShutDown", async(function()
    local empty, full = aio.Queue(), aio.Queue(1)
    full:put_nowait("x")
    local g = aio.spawn(function() return pcall(empty.get, empty) end)
    local p = aio.spawn(function() return pcall(full.put, full, "y") end)
    yield(3)
    empty:shutdown()
    full:shutdown()
    local ok1, e1 = g:await()
    local ok2, e2 = p:await()
    assert.is_false(ok1)
    check_err("QueueShutDown", e1)
    assert.is_false(ok2)
    check_err("QueueShutDown", e2)
    assert.equal("x", full:get_nowait())
  end))

  it("shutdown(true) drops the remaining items so get raises at once and join returns", async(function()
    local q = aio.Queue()
    for i = 1, 3 do q:put_nowait(i) end
    local j = aio.spawn(function() q:join(); return "joined" end)
    yield(2)
    q:shutdown(true)
    check_err("QueueShutDown", fails(q.get_nowait, q))
    check_err("QueueShutDown", fails(q.get, q))
    assert.equal(0, q:qsize())
    assert.equal("joined", aio.wait_for(j, 1))
  end))

  it("nil is not a valid item: an argument error naming the method", async(function()
    local q = aio.Queue()
    check_argerr("put_nowait", fails(q.put_nowait, q, nil))
    check_argerr("put", fails(q.put, q, nil))
    check_argerr("put", fails(q.put, q))
    local p = aio.PriorityQueue()
    check_argerr("put_nowait", fails(p.put_nowait, p, nil))
    assert.equal(0, q:qsize())
    assert.equal(0, p:qsize())
  end))

  it("false is a valid item", async(function()
    local q = aio.Queue()
    q:put(false)
    assert.equal(false, q:get())
  end))

  it("put, get and join raise outside a task even when they need not wait", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local ok, e = in_callback(function() return q:get() end)
    assert.is_false(ok)
    assert.matches("get", tostring(e))
    ok, e = in_callback(function() return q:put(2) end)
    assert.is_false(ok)
    assert.matches("put", tostring(e))
    local empty = aio.Queue()
    ok, e = in_callback(function() return empty:join() end)
    assert.is_false(ok)
    assert.matches("join", tostring(e))
    -- nothing was consumed nor added by the failed calls; the _nowait forms work there
    assert.equal(1, q:qsize())
    ok = in_callback(function() q:put_nowait(5); return q:get_nowait() end)
    assert.is_true(ok)
  end))

  it("a getter cancelled after an item was handed to it does not lose the item", async(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    yield(2)
    q:put_nowait("precious")
    g1:cancel() -- before g1 gets to run
    assert.equal("precious", aio.wait_for(g2, 1))
    assert.is_true(g1:cancelled())
  end))

  it("put, get and join raise across a C-call boundary even when they need not wait", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local ok, e = pcall(table.sort, { 3, 2, 1 }, function(a, b) q:get(); return a < b end)
    assert.is_false(ok)
    assert.matches("get", tostring(e))
    assert.equal(1, q:qsize())
    ok, e = pcall(table.sort, { 3, 2, 1 }, function(a, b) q:put(2); return a < b end)
    assert.is_false(ok)
    assert.matches("put", tostring(e))
    assert.equal(1, q:qsize())
  end))

  it("get_nowait from a plain callback wakes a blocked putter", async(function()
    local q = aio.Queue(1)
    q:put_nowait("a")
    local p = aio.spawn(function() q:put("b"); return "put" end)
    yield(2)
    assert.is_true(in_callback(function() return q:get_nowait() end))
    assert.equal("put", aio.wait_for(p, 1))
    assert.equal("b", q:get_nowait())
  end))

  it("bad constructor arguments raise argument errors", async(function()
    check_argerr("Queue", fails(aio.Queue, "big"))
    check_argerr("LifoQueue", fails(aio.LifoQueue, {}))
    check_argerr("PriorityQueue", fails(aio.PriorityQueue, 0, "not a function"))
  end))
end)

---------------------------------------------------------------------------------------------
-- §6 Synchronisation
---------------------------------------------------------------------------------------------

describe("§6 synchronisation", function()
  it("Lock: acquire returns a <close> guard that releases at scope exit", async(function()
    local lock = aio.Lock()
    assert.is_false(lock:locked())
    do
      local _ <close> = lock:acquire()
      assert.is_true(lock:locked())
    end
    assert.is_false(lock:locked())
  end))

  it("Lock guard releases when the scope exits by error", async(function()
    local lock = aio.Lock()
    local ok, e = pcall(function()
      local _ <close> = lock:acquire()
      error("boom", 0)
    end)
    assert.is_false(ok)
    assert.equal("boom", e)
    assert.is_false(lock:locked())
  end))

  it("a guard released early by release() does not release again at scope exit", async(function()
    local lock = aio.Lock()
    local other
    do
      local _ <close> = lock:acquire()
      lock:release()
      other = aio.spawn(function()
        local _ <close> = lock:acquire()
        aio.sleep(0.02)
      end)
      yield(3) -- the other task now holds the lock
      assert.is_true(lock:locked())
    end -- must not release the other task's hold
    assert.is_true(lock:locked())
    other:await()
    assert.is_false(lock:locked())
  end))

  it("releasing an unlocked Lock raises RuntimeError", async(function()
    local lock = aio.Lock()
    check_err("RuntimeError", fails(lock.release, lock))
  end))

  it("Lock waiters are served FIFO and a cancelled waiter loses its turn", async(function()
    local lock = aio.Lock()
    local order = {}
    local _ = lock:acquire()
    local ts = {}
    for i = 1, 4 do
      ts[i] = aio.spawn(function()
        local _ <close> = lock:acquire()
        order[#order + 1] = i
        aio.sleep(0)
      end)
      yield(1)
    end
    ts[2]:cancel()
    yield(1)
    lock:release()
    for i = 1, 4 do pcall(ts[i].await, ts[i]) end
    assert.same({ 1, 3, 4 }, order)
    assert.is_true(ts[2]:cancelled())
    assert.is_false(lock:locked())
  end))

  it("a waiter cancelled just as the lock is handed to it never holds it", async(function()
    local lock = aio.Lock()
    local _ = lock:acquire()
    local held_by_a = false
    local a = aio.spawn(function() lock:acquire(); held_by_a = true end)
    local b = aio.spawn(function() local _ <close> = lock:acquire(); return "b got it" end)
    yield(2)
    lock:release() -- hands it to a ...
    a:cancel()     -- ... which is cancelled before it runs
    assert.equal("b got it", b:await())
    assert.is_true(a:cancelled())
    assert.is_false(held_by_a)
    assert.is_false(lock:locked())
  end))

  it("acquire raises outside a task even when the lock is free", async(function()
    local lock = aio.Lock()
    local ok, e = in_callback(function() return lock:acquire() end)
    assert.is_false(ok)
    assert.matches("acquire", tostring(e))
    assert.is_false(lock:locked())
  end))

  it("Event: is_set/set/clear and wait wakes every waiter", async(function()
    local ev = aio.Event()
    assert.is_false(ev:is_set())
    local woke = 0
    local ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() local r = ev:wait(); woke = woke + 1; return r end) end
    yield(3)
    assert.equal(0, woke)
    ev:set()
    assert.is_true(ev:is_set())
    for i = 1, 3 do assert.is_true(ts[i]:await()) end
    assert.equal(3, woke)
    assert.is_true(ev:wait()) -- already set: returns at once
    ev:clear()
    assert.is_false(ev:is_set())
    local t = aio.spawn(function() return ev:wait() end)
    yield(3)
    assert.is_false(t:done())
    ev:set()
    assert.is_true(t:await())
  end))

  it("Event:wait raises outside a task even when set", async(function()
    local ev = aio.Event()
    ev:set()
    local ok, e = in_callback(function() return ev:wait() end)
    assert.is_false(ok)
    assert.matches("wait", tostring(e))
  end))

  it("Condition: wait and notify without the lock raise RuntimeError", async(function()
    local c = aio.Condition()
    check_err("RuntimeError", fails(c.wait, c))
    check_err("RuntimeError", fails(c.notify, c))
    check_err("RuntimeError", fails(c.notify_all, c))
  end))

  it("Condition: notify(n) wakes n waiters in FIFO order, notify_all the rest", async(function()
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
      yield(1)
    end
    yield(2)
    do
      local _ <close> = c:acquire()
      c:notify(2)
    end
    yield(5)
    assert.same({ 1, 2 }, woken)
    do
      local _ <close> = c:acquire()
      c:notify() -- default 1
    end
    yield(5)
    assert.same({ 1, 2, 3 }, woken)
    do
      local _ <close> = c:acquire()
      c:notify_all()
    end
    for i = 1, 4 do ts[i]:await() end
    assert.same({ 1, 2, 3, 4 }, woken)
    assert.is_false(c:locked())
  end))

  it("Condition: wait_for(pred) returns the predicate's value once true", async(function()
    local c = aio.Condition()
    local value
    local w = aio.spawn(function()
      local _ <close> = c:acquire()
      return c:wait_for(function() return value end)
    end)
    yield(3)
    do
      local _ <close> = c:acquire()
      c:notify_all() -- predicate still false: keeps waiting
    end
    yield(3)
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

  it("Condition(lock) uses the given lock", async(function()
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

  it("Semaphore: default value 1; n concurrent holders; locked(); FIFO waiters", async(function()
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

  it("Semaphore(-1) raises ValueError; a plain Semaphore may be released above its start", async(function()
    check_err("ValueError", fails(aio.Semaphore, -1))
    check_err("ValueError", fails(aio.BoundedSemaphore, -1))
    local s = aio.Semaphore(0)
    assert.is_true(s:locked())
    s:release()
    s:release()
    local _ = s:acquire()
    local _ = s:acquire()
    assert.is_true(s:locked())
    s:release(); s:release()
  end))

  it("BoundedSemaphore: over-release raises ValueError; early-released guard is not re-released", async(function()
    local b = aio.BoundedSemaphore(1)
    check_err("ValueError", fails(b.release, b))
    do
      local _ <close> = b:acquire()
      b:release()
    end -- the guard must not release a second time (that would be an over-release)
    assert.is_false(b:locked())
    check_err("ValueError", fails(b.release, b))
  end))

  it("a Semaphore waiter that is cancelled never holds a slot", async(function()
    local s = aio.Semaphore(1)
    local _ = s:acquire()
    local got = false
    local t = aio.spawn(function() s:acquire(); got = true end)
    yield(2)
    t:cancel()
    yield(2)
    s:release()
    yield(2)
    assert.is_false(got)
    assert.is_false(s:locked())
  end))

  it("Barrier: wait returns distinct indices 0..parties-1; parties, n_waiting, broken", async(function()
    local b = aio.Barrier(3)
    assert.equal(3, b.parties)
    assert.equal(0, b:n_waiting())
    assert.is_false(b:broken())
    local ts = {}
    for i = 1, 2 do ts[i] = aio.spawn(function() return b:wait() end) end
    yield(3)
    assert.equal(2, b:n_waiting())
    assert.is_false(ts[1]:done())
    local mine = b:wait()
    local seen = { [mine] = true }
    for i = 1, 2 do seen[ts[i]:await()] = true end
    assert.same({ [0] = true, [1] = true, [2] = true }, seen)
    assert.equal(0, b:n_waiting())
    -- the barrier is reusable for a second round
    for i = 1, 2 do ts[i] = aio.spawn(function() return b:wait() end) end
    local idx = { [b:wait()] = true }
    for i = 1, 2 do idx[ts[i]:await()] = true end
    assert.same({ [0] = true, [1] = true, [2] = true }, idx)
  end))

  it("Barrier: abort() breaks current and future waiters; reset() repairs it", async(function()
    local b = aio.Barrier(2)
    local t = aio.spawn(function() return pcall(b.wait, b) end)
    yield(2)
    b:abort()
    local ok, e = t:await()
    assert.is_false(ok)
    check_err("BrokenBarrierError", e)
    assert.is_true(b:broken())
    check_err("BrokenBarrierError", fails(b.wait, b))
    b:reset()
    assert.is_false(b:broken())
    local t2 = aio.spawn(function() return b:wait() end)
    local a = b:wait()
    local c = t2:await()
    assert.same({ 0, 1 }, a < c and { a, c } or { c, a })
  end))

  it("Barrier: reset() while parties wait raises BrokenBarrierError in them", async(function()
    local b = aio.Barrier(3)
    local t = aio.spawn(function() return pcall(b.wait, b) end)
    yield(2)
    b:reset()
    local ok, e = t:await()
    assert.is_false(ok)
    check_err("BrokenBarrierError", e)
  end))

  it("a plain Semaphore guard released early does not add a second release at scope exit", async(function()
    local s = aio.Semaphore(1)
    do
      local _ <close> = s:acquire()
      s:release()
    end
    local _ <close> = s:acquire()
    assert.is_true(s:locked()) -- the value is back to 0, not 1
  end))

  it("a Semaphore waiter cancelled as a slot is handed to it passes the slot on", async(function()
    local s = aio.Semaphore(0)
    local a = aio.spawn(function() s:acquire(); return "a" end)
    local b = aio.spawn(function() s:acquire(); return "b" end)
    yield(2)
    s:release()
    a:cancel()
    assert.equal("b", aio.wait_for(b, 1))
    assert.is_true(a:cancelled())
  end))

  it("a cancelled Condition:wait re-acquires the lock before CancelledError propagates", async(function()
    local c = aio.Condition()
    local held_in_handler
    local t = aio.spawn(function()
      local _ <close> = c:acquire()
      local _, e = pcall(c.wait, c)
      held_in_handler = c:locked()
      error(e, 0)
    end)
    yield(2)
    local other = aio.spawn(function() local _ <close> = c:acquire(); aio.sleep(0.005) end)
    yield(1)
    t:cancel()
    check_err("CancelledError", fails(aio.wait_for, t, 1))
    assert.is_true(held_in_handler)
    other:await()
    assert.is_false(c:locked())
  end))

  it("Condition rejects a non-Lock and bad notify/wait_for arguments", async(function()
    check_argerr("Condition", fails(aio.Condition, 5))
    local c = aio.Condition()
    local _ <close> = c:acquire()
    check_argerr("notify", fails(c.notify, c, "x"))
    check_argerr("wait_for", fails(c.wait_for, c, 5))
  end))

  it("a Barrier waiter cancelled while filling leaves n_waiting and does not break it", async(function()
    local b = aio.Barrier(2)
    local t = aio.spawn(function() return b:wait() end)
    yield(2)
    assert.equal(1, b:n_waiting())
    t:cancel()
    yield(2)
    assert.equal(0, b:n_waiting())
    assert.is_false(b:broken())
  end))

  it("§6 acquire/wait across a C-call boundary raise even when they need not wait (§1)", async(function()
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

  it("Barrier(0) raises ValueError; wrong argument types are argument errors", async(function()
    check_err("ValueError", fails(aio.Barrier, 0))
    check_argerr("Barrier", fails(aio.Barrier, "three"))
    check_argerr("Semaphore", fails(aio.Semaphore, "two"))
  end))
end)

---------------------------------------------------------------------------------------------
-- §7 Streams and networking
---------------------------------------------------------------------------------------------

describe("§7 streams and networking", function()
  it("start_server on port 0 listens before returning; getsockname gives host, port", async(function()
    local srv, port, host = tcp_server(function(_, w)
      w:write("hello\n")
      w:close()
    end)
    assert.equal("127.0.0.1", host)
    assert.is_number(port)
    assert.is_true(port > 0)
    assert.is_true(srv:is_serving())
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("hello\n", r:readline())
    w:close()
    srv:close()
    srv:wait_closed()
    assert.is_false(srv:is_serving())
  end))

  it("each connection runs client_cb(reader, writer) as its own task; echo round trip", async(function()
    local cb_tasks = {}
    local srv, port = tcp_server(function(r, w)
      cb_tasks[#cb_tasks + 1] = aio.current_task()
      local line = r:readline()
      w:write("echo:" .. line)
      w:drain()
      w:close()
      w:wait_closed()
    end)
    local function client(msg)
      local r, w = aio.open_connection("127.0.0.1", port)
      w:write(msg .. "\n")
      w:drain()
      local got = r:read()
      w:close()
      return got
    end
    local res = aio.gather(aio.async(client)("a"), aio.async(client)("b"))
    assert.same({ "echo:a\n", "echo:b\n", n = 2 }, res)
    assert.equal(2, #cb_tasks)
    assert.is_truthy(cb_tasks[1])
    assert.are_not.equal(cb_tasks[1], cb_tasks[2])
    srv:close()
  end))

  it("IPv6 ::1 works", async(function()
    local srv = aio.start_server(function(r, w) w:write(r:readline()); w:close() end, "::1", 0)
    local host, port = srv.sockets[1]:getsockname()
    assert.equal("::1", host)
    local r, w = aio.open_connection("::1", port)
    w:write("six\n")
    assert.equal("six\n", r:read())
    local phost, pport = w:get_extra_info("peername")
    assert.equal("::1", phost)
    assert.equal(port, pport)
    w:close()
    srv:close()
  end))

  it("host names are resolved (localhost)", async(function()
    local srv, port = tcp_server(function(_, w) w:write("hi"); w:close() end)
    local r, w = aio.open_connection("localhost", port)
    assert.equal("hi", r:read())
    w:close()
    srv:close()
  end))

  it("get_extra_info peername and sockname return host, port on both ends", async(function()
    local server_peer = {}
    local server_sock = {}
    local srv, port = tcp_server(function(r, w)
      server_peer = { w:get_extra_info("peername") }
      server_sock = { w:get_extra_info("sockname") }
      r:read()
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local ph, pp = w:get_extra_info("peername")
    local sh, sp = w:get_extra_info("sockname")
    assert.equal("127.0.0.1", ph)
    assert.equal(port, pp)
    assert.equal("127.0.0.1", sh)
    assert.is_number(sp)
    w:write_eof()
    assert.equal("", r:read())
    assert.same({ "127.0.0.1", sp }, server_peer)
    assert.same({ "127.0.0.1", port }, server_sock)
    w:close()
    srv:close()
  end))

  it("read(n), read(), read(-1), readexactly, readuntil on one stream", async(function()
    local srv, port = tcp_server(function(r, w)
      w:write("abcdefghij")
      w:write("KEY=value;rest")
      w:write_eof()
      r:read()
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local first = r:read(3)
    assert.is_true(#first >= 1 and #first <= 3)
    assert.equal(first, ("abc"):sub(1, #first))
    local rest_of_abc = r:readexactly(10 - #first)
    assert.equal("abcdefghij", first .. rest_of_abc)
    assert.equal("KEY=", r:readuntil("="))
    assert.equal("value;", r:readuntil(";"))
    assert.equal("rest", r:read(-1))
    assert.equal("", r:read())
    assert.equal("", r:read(5))
    assert.is_true(r:at_eof())
    w:close()
    srv:close()
  end))

  it("read() with no n reads until EOF", async(function()
    local chunk = ("0123456789"):rep(20000) -- 200 kB, several packets
    local srv, port = tcp_server(function(_, w)
      w:write(chunk)
      w:drain()
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local got = r:read()
    assert.equal(#chunk, #got)
    assert.equal(chunk, got)
    assert.is_true(r:at_eof())
    w:close()
    srv:close()
  end))

  it("readexactly past EOF raises IncompleteReadError with .partial and .expected", async(function()
    local srv, port = tcp_server(function(_, w) w:write("xyz"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local e = fails(r.readexactly, r, 10)
    check_err("IncompleteReadError", e)
    assert.equal("xyz", e.partial)
    assert.equal(10, e.expected)
    w:close()
    srv:close()
  end))

  it("readuntil hitting EOF before the separator raises IncompleteReadError", async(function()
    local srv, port = tcp_server(function(_, w) w:write("no separator"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local e = fails(r.readuntil, r, "\n")
    check_err("IncompleteReadError", e)
    assert.equal("no separator", e.partial)
    w:close()
    srv:close()
  end))

  it("readline keeps \\n; at EOF it returns the partial last line, then \"\"", async(function()
    local srv, port = tcp_server(function(_, w) w:write("one\ntwo\r\nthree"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("one\n", r:readline())
    assert.equal("two\r\n", r:readline())
    assert.equal("three", r:readline())
    assert.equal("", r:readline())
    assert.equal("", r:readline())
    w:close()
    srv:close()
  end))

  it("lines() yields each line without \\n or \\r\\n, including a partial last line", async(function()
    local srv, port = tcp_server(function(_, w) w:write("a\nb\r\n\nlast"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local got = {}
    for line in r:lines() do got[#got + 1] = line end
    assert.same({ "a", "b", "", "last" }, got)
    w:close()
    srv:close()
  end))

  it("opts.limit: readuntil past the limit raises LimitOverrunError with .consumed", async(function()
    local srv, port = tcp_server(function(_, w)
      w:write(("x"):rep(100) .. "\n")
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port, { limit = 16 })
    local e = fails(r.readuntil, r, "\n")
    check_err("LimitOverrunError", e)
    assert.is_number(e.consumed)
    w:close()
    srv:close()
  end))

  it("readline past the limit raises LimitOverrunError", async(function()
    local srv, port = tcp_server(function(_, w)
      w:write(("y"):rep(200) .. "\nok\n")
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port, { limit = 32 })
    check_err("LimitOverrunError", fails(r.readline, r))
    w:close()
    srv:close()
  end))

  it("the server's opts.limit applies to the readers handed to client_cb", async(function()
    local result = aio.Future()
    local srv, port = tcp_server(function(r, w)
      result:set_result(pcall(r.readline, r))
      w:close()
    end, { limit = 8 })
    local _, w = aio.open_connection("127.0.0.1", port)
    w:write(("z"):rep(64) .. "\n")
    local ok, e = result:await()
    assert.is_false(ok)
    check_err("LimitOverrunError", e)
    w:close()
    srv:close()
  end))

  it("writelines writes every string in order", async(function()
    local srv, port = tcp_server(function(r, w) w:write(r:read()); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    w:writelines { "alpha ", "beta ", "gamma" }
    w:write_eof()
    assert.equal("alpha beta gamma", r:read())
    w:close()
    srv:close()
  end))

  it("write never suspends; drain suspends above the high-water mark until the peer reads", async(function()
    local go = aio.Event()
    local srv, port = tcp_server(function(r, w)
      go:wait()
      local n = #r:read()
      w:write(tostring(n))
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port)
    w:set_write_buffer_limits(1024)
    local big = ("b"):rep(1024 * 1024)
    local total
    local wrote = in_callback(function() -- write from a plain callback: it must not suspend
      for _ = 1, 8 do w:write(big) end
      return true
    end)
    assert.is_true(wrote)
    total = 8 * #big
    local drained = false
    local d = aio.spawn(function() w:drain(); drained = true end)
    yield(10)
    assert.is_false(drained) -- 8 MiB cannot all be in flight while the peer does not read
    go:set()
    d:await()
    assert.is_true(drained)
    w:write_eof()
    assert.equal(tostring(total), r:read())
    w:close()
    srv:close()
  end))

  it("close, is_closing, wait_closed and can_write_eof on a TCP writer", async(function()
    local srv, port = tcp_server(function(r, w) r:read(); w:close() end)
    local _, w = aio.open_connection("127.0.0.1", port)
    assert.is_true(w:can_write_eof())
    assert.is_false(w:is_closing())
    w:close()
    assert.is_true(w:is_closing())
    w:wait_closed()
    assert.is_true(w:is_closing())
    srv:close()
  end))

  it("write_eof half-closes: the peer sees EOF and can still answer", async(function()
    local srv, port = tcp_server(function(r, w)
      local all = r:read()
      w:write("got " .. #all)
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port)
    w:write("12345")
    w:write_eof()
    assert.equal("got 5", r:read())
    w:close()
    srv:close()
  end))

  it("connection refused raises OSError with code ECONNREFUSED", async(function()
    local srv, port = tcp_server(function() end)
    srv:close()
    srv:wait_closed()
    local e = fails(aio.open_connection, "127.0.0.1", port)
    check_err("OSError", e)
    assert.equal("ECONNREFUSED", e.code)
  end))

  it("listening on a port in use raises OSError with code EADDRINUSE", async(function()
    local srv, port = tcp_server(function() end)
    local e = fails(aio.start_server, function() end, "127.0.0.1", port)
    check_err("OSError", e)
    assert.equal("EADDRINUSE", e.code)
    srv:close()
  end))

  it("a peer that closes mid-readexactly makes the call raise, not crash", async(function()
    local srv, port = tcp_server(function(_, w) w:write("ab"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local ok, e = pcall(r.readexactly, r, 1000)
    assert.is_false(ok)
    check_err("IncompleteReadError", e)
    w:close()
    srv:close()
  end))

  it("writing to a peer that has gone raises OSError from write or drain", async(function()
    local gone = aio.Event()
    local srv, port = tcp_server(function(_, w) w:close(); w:wait_closed(); gone:set() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    gone:wait()
    assert.equal("", r:read()) -- peer closed
    local err
    for _ = 1, 200 do
      local ok, e = pcall(function()
        w:write(("p"):rep(65536))
        w:drain()
      end)
      if not ok then err = e; break end
      aio.sleep(0.001)
    end
    assert.is_not_nil(err, "writing to a closed peer never raised")
    check_err("OSError", err)
    assert.is_string(err.code)
    w:close()
    srv:close()
  end))

  it("an error escaping client_cb goes to the exception handler; the server keeps serving", async(function()
    local seen, restore = capture_loop_errors()
    local n = 0
    local srv, port = tcp_server(function(_, w)
      n = n + 1
      if n == 1 then
        w:close()
        error("client_cb failure", 0)
      end
      w:write("second ok")
      w:close()
    end)
    local r1, w1 = aio.open_connection("127.0.0.1", port)
    r1:read()
    w1:close()
    local r2, w2 = aio.open_connection("127.0.0.1", port)
    assert.equal("second ok", r2:read())
    w2:close()
    for _ = 1, 20 do
      if #seen > 0 then break end
      collectgarbage()
      aio.sleep(0.005)
    end
    restore()
    assert.is_true(srv:is_serving())
    srv:close()
    assert.is_true(#seen >= 1)
    local found = false
    for _, ctx in ipairs(seen) do
      if tostring(ctx.exception):find("client_cb failure", 1, true) then found = true end
    end
    assert.is_true(found)
  end))

  it("server:close stops listening but leaves open connections alone; wait_closed waits for them",
    async(function()
      local release = aio.Event()
      local srv, port = tcp_server(function(r, w)
        release:wait()
        w:write(r:readline())
        w:close()
      end)
      local r, w = aio.open_connection("127.0.0.1", port)
      yield(5)
      srv:close()
      assert.is_false(srv:is_serving())
      local e = fails(aio.open_connection, "127.0.0.1", port)
      check_err("OSError", e)
      local waited = false
      local wc = aio.spawn(function() srv:wait_closed(); waited = true end)
      yield(5)
      assert.is_false(waited)
      -- the existing connection still works
      w:write("still here\n")
      release:set()
      assert.equal("still here\n", r:readline())
      w:close()
      aio.wait_for(wc, 1)
      assert.is_true(waited)
    end))

  it("serve_forever in another task raises CancelledError once the server is closed", async(function()
    local srv = tcp_server(function(_, w) w:close() end)
    local sf = aio.spawn(function() return pcall(srv.serve_forever, srv) end)
    yield(3)
    assert.is_false(sf:done())
    assert.is_true(srv:is_serving())
    srv:close()
    srv:wait_closed()
    local ok, res = pcall(aio.wait_for, sf, 1)
    -- the task either ended cancelled, or caught CancelledError from serve_forever
    if ok then
      local inner_ok, e = res, select(2, sf:result())
      assert.is_false(inner_ok)
      check_err("CancelledError", e)
    else
      check_err("CancelledError", res)
    end
  end))

  it("Unix sockets: start_unix_server / open_unix_connection; names are the path", async(function()
    local path = tmp_sock_path()
    local server_sockname
    local srv = aio.start_unix_server(function(r, w)
      server_sockname = w:get_extra_info("sockname")
      w:write("unix:" .. r:readline())
      w:close()
    end, path)
    assert.equal(path, srv.sockets[1]:getsockname())
    local r, w = aio.open_unix_connection(path)
    assert.equal(path, w:get_extra_info("peername"))
    w:write("hey\n")
    assert.equal("unix:hey\n", r:read())
    assert.equal(path, server_sockname)
    w:close()
    srv:close()
    srv:wait_closed()
    os.remove(path)
  end))

  it("open_unix_connection to a missing path raises OSError", async(function()
    local e = fails(aio.open_unix_connection, tmp_sock_path())
    check_err("OSError", e)
    assert.is_string(e.code)
  end))

  it("networking calls raise outside a task, naming the function", async(function()
    local ok, e = in_callback(aio.open_connection, "127.0.0.1", 1)
    assert.is_false(ok)
    assert.matches("open_connection", tostring(e))
  end))

  it("reader:readline raises outside a task, naming the method", async(function()
    local srv, port = tcp_server(function(r, w) aio.sleep(0.01); w:write("line\n"); r:read(); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local ok, e = in_callback(r.readline, r)
    assert.is_false(ok)
    assert.matches("readline", tostring(e))
    assert.equal("line\n", r:readline())
    w:close()
    srv:close()
  end))

  it("readline / read / drain raise outside a task even when they need not wait (§1)", async(function()
    local srv, port = tcp_server(function(r, w) w:write("line\nmore\n"); r:read(); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("line\n", r:readline())
    aio.sleep(0.01) -- let "more\n" arrive in the buffer
    local ok, e = in_callback(r.readline, r)
    assert.is_false(ok, "readline succeeded outside a task")
    assert.matches("readline", tostring(e))
    ok, e = in_callback(w.drain, w)
    assert.is_false(ok, "drain succeeded outside a task")
    assert.matches("drain", tostring(e))
    w:close()
    srv:close()
  end))

  it("after readline's LimitOverrunError the next readline returns the following line", async(function()
    local srv, port = tcp_server(function(_, w)
      w:write(("y"):rep(200) .. "\nok\n")
      w:close()
    end)
    local r, w = aio.open_connection("127.0.0.1", port, { limit = 32 })
    aio.sleep(0.01)
    check_err("LimitOverrunError", fails(r.readline, r))
    assert.equal("ok\n", r:readline())
    w:close()
    srv:close()
  end))

  it("write after write_eof raises RuntimeError; bad write arguments are argument errors", async(function()
    local srv, port = tcp_server(function(r, w) r:read(); w:close() end)
    local _, w = aio.open_connection("127.0.0.1", port)
    w:write_eof()
    check_err("RuntimeError", fails(w.write, w, "late"))
    check_argerr("writelines", fails(w.writelines, w, "not a list"))
    check_argerr("set_write_buffer_limits", fails(w.set_write_buffer_limits, w, "high"))
    w:close()
    srv:close()
  end))

  it("serve_forever on a closed server raises RuntimeError", async(function()
    local srv = tcp_server(function() end)
    srv:close()
    check_err("RuntimeError", fails(srv.serve_forever, srv))
  end))

  it("an unresolvable host name raises OSError", async(function()
    local e = fails(aio.open_connection, "no-such-host.invalid", 80)
    check_err("OSError", e)
    assert.is_string(e.code)
  end))

  it("opts.limit must be a positive integer", async(function()
    check_argerr("open_connection", fails(aio.open_connection, "127.0.0.1", 1, { limit = "big" }))
    check_argerr("open_connection", fails(aio.open_connection, "127.0.0.1", 1, { limit = 0 }))
  end))

  it("start_server also works from a plain loop callback (a luaio extension, docs/reference/README.md)", async(function()
    local srv
    local ok, e = in_callback(function()
      srv = aio.start_server(function() end, "127.0.0.1", 0)
    end)
    assert.is_true(ok, tostring(e))
    assert.is_true(srv:is_serving())
    srv:close()
  end))

  it("a peer reset makes read and write/drain raise OSError, never crash", async(function()
    local closed = aio.Event()
    -- the server never reads (a tiny limit pauses its reader), so closing it resets the connection
    local srv, port = tcp_server(function(_, w)
      aio.sleep(0.02)
      w:close()
      w:wait_closed()
      closed:set()
    end, { limit = 16 })
    local r, w = aio.open_connection("127.0.0.1", port)
    w:write(("d"):rep(1000000))
    closed:wait()
    aio.sleep(0.01)
    local e = fails(r.read, r)
    check_err("OSError", e)
    assert.equal("ECONNRESET", e.code)
    local e2 = fails(function() w:write("more"); w:drain() end)
    check_err("OSError", e2)
    assert.is_string(e2.code)
    w:close()
    srv:close()
  end))

  it("readuntil() defaults to a newline; multi-byte separators; at_eof false before EOF", async(function()
    local srv, port = tcp_server(function(_, w) w:write("ab\ncd||ef"); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.is_false(r:at_eof())
    assert.equal("ab\n", r:readuntil())
    assert.equal("cd||", r:readuntil("||"))
    assert.equal("ef", r:read())
    assert.is_true(r:at_eof())
    local e = fails(r.readexactly, r, 3)
    check_err("IncompleteReadError", e)
    assert.equal("", e.partial)
    assert.equal(3, e.expected)
    w:close()
    srv:close()
  end))

  it("the client_cb error context carries message, exception and task", async(function()
    local seen, restore = capture_loop_errors()
    local srv, port = tcp_server(function(_, w) w:close(); error("cb ctx", 0) end)
    local r, w = aio.open_connection("127.0.0.1", port)
    r:read()
    w:close()
    for _ = 1, 20 do
      if #seen > 0 then break end
      aio.sleep(0.005)
    end
    restore()
    srv:close()
    srv:wait_closed() -- no open connections: returns
    assert.equal(1, #seen)
    assert.is_string(seen[1].message)
    assert.equal("cb ctx", seen[1].exception)
    assert.is_truthy(seen[1].task)
  end))

  it("an unknown opts key raises an argument error naming the key", async(function()
    local e = fails(aio.open_connection, "127.0.0.1", 1, { limt = 10 })
    check_argerr("open_connection", e)
    assert.matches("limt", tostring(e))
    e = fails(aio.start_server, function() end, "127.0.0.1", 0, { lmit = 10 })
    check_argerr("start_server", e)
    assert.matches("lmit", tostring(e))
  end))

  it("wrong argument types raise argument errors naming the function", async(function()
    check_argerr("start_server", fails(aio.start_server, "not a function", "127.0.0.1", 0))
    check_argerr("open_connection", fails(aio.open_connection, {}, 80))
    check_argerr("open_unix_connection", fails(aio.open_unix_connection, 42 == 42 and {} or nil))
    local srv, port = tcp_server(function(r, w) r:read(); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    check_argerr("write", fails(w.write, w, {}))
    check_argerr("readuntil", fails(r.readuntil, r, {}))
    check_argerr("readexactly", fails(r.readexactly, r, "many"))
    w:close()
    srv:close()
  end))

  it("readexactly(-1) and readuntil(\"\") are rejected with ValueError as in asyncio", async(function()
    local srv, port = tcp_server(function(r, w) r:read(); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    local e1 = fails(r.readexactly, r, -1)
    check_err("ValueError", e1)
    local e2 = fails(r.readuntil, r, "")
    check_err("ValueError", e2)
    assert.equal("", r:readexactly(0))
    w:close()
    srv:close()
  end))
end)

---------------------------------------------------------------------------------------------
-- §8 Job scheduler
---------------------------------------------------------------------------------------------

describe("§8 job scheduler", function()
  it("defaults: limit 100, pending_limit 10000, close_timeout 0.1", async(function()
    local s = aio.Scheduler()
    assert.equal(100, s.limit)
    assert.equal(10000, s.pending_limit)
    assert.equal(0.1, s.close_timeout)
    assert.is_false(s:closed())
    assert.equal(0, #s)
    assert.equal(0, s:active_count())
    assert.equal(0, s:pending_count())
    s:close()
    local c = aio.create_scheduler({ limit = 3, pending_limit = 7, close_timeout = 0.5 })
    assert.equal(3, c.limit)
    assert.equal(7, c.pending_limit)
    assert.equal(0.5, c.close_timeout)
    c:close()
  end))

  it("limit = false or math.huge means unlimited, and reads math.huge", async(function()
    local a = aio.Scheduler({ limit = false })
    local b = aio.Scheduler({ limit = math.huge })
    assert.equal(math.huge, a.limit)
    assert.equal(math.huge, b.limit)
    local hold = aio.Event()
    for _ = 1, 150 do a:spawn(function() hold:wait() end) end
    assert.equal(150, a:active_count())
    assert.equal(0, a:pending_count())
    hold:set()
    a:wait_and_close()
    b:close()
  end))

  it("spawn returns a Job that starts at once; job:wait returns all results", async(function()
    local s = aio.Scheduler()
    local job = s:spawn(function(a, b) aio.sleep(0); return a + b, "two" end, 3, 4)
    assert.is_true(job:active())
    assert.is_false(job:pending())
    assert.is_false(job:closed())
    local x, y = job:wait()
    assert.equal(7, x)
    assert.equal("two", y)
    assert.is_true(job:closed())
    assert.is_false(job:active())
    -- a coroutine object works too
    local co_job = s:spawn(aio.async(function(v) return v * 2 end)(21))
    assert.equal(42, co_job:wait())
    s:close()
  end))

  it("job:wait re-raises the job's error unchanged", async(function()
    local s = aio.Scheduler({ exception_handler = function() end })
    local errv = { custom = true }
    local job = s:spawn(function() aio.sleep(0); error(errv) end)
    local ok, e = pcall(job.wait, job)
    assert.is_false(ok)
    assert.equal(errv, e)
    s:close()
  end))

  it("limit: extra jobs wait pending and start as active ones finish", async(function()
    local s = aio.Scheduler({ limit = 2 })
    local gates = { aio.Event(), aio.Event(), aio.Event() }
    local started = {}
    local jobs = {}
    for i = 1, 3 do
      jobs[i] = s:spawn(function() started[#started + 1] = i; gates[i]:wait(); return i end)
    end
    yield(3)
    assert.equal(2, s:active_count())
    assert.equal(1, s:pending_count())
    assert.equal(3, #s)
    assert.is_true(jobs[3]:pending())
    assert.is_false(jobs[3]:active())
    assert.same({ 1, 2 }, started)
    gates[1]:set()
    assert.equal(1, jobs[1]:wait())
    yield(3)
    assert.is_true(jobs[3]:active())
    assert.same({ 1, 2, 3 }, started)
    assert.equal(2, s:active_count())
    assert.equal(0, s:pending_count())
    gates[2]:set(); gates[3]:set()
    s:wait_and_close()
    assert.is_true(s:closed())
    assert.equal(0, #s)
  end))

  it("jobs() iterates over the scheduler's jobs", async(function()
    local s = aio.Scheduler({ limit = 1 })
    local hold = aio.Event()
    local j1 = s:spawn(function() hold:wait() end)
    local j2 = s:spawn(function() hold:wait() end)
    local seen = {}
    local count = 0
    for j in s:jobs() do seen[j] = true; count = count + 1 end
    assert.equal(2, count)
    assert.is_true(seen[j1])
    assert.is_true(seen[j2])
    hold:set()
    s:wait_and_close()
  end))

  it("pending_limit: spawn suspends the caller while the pending queue is full", async(function()
    local s = aio.Scheduler({ limit = 1, pending_limit = 1 })
    local hold = aio.Event()
    s:spawn(function() hold:wait() end) -- active
    s:spawn(function() hold:wait() end) -- pending (queue now full)
    local spawned = false
    local spawner = aio.spawn(function() s:spawn(function() return "third" end); spawned = true end)
    yield(5)
    assert.is_false(spawned)
    assert.equal(1, s:pending_count())
    hold:set()
    spawner:await()
    assert.is_true(spawned)
    s:wait_and_close()
  end))

  it("pending_limit = 0 means unlimited", async(function()
    local s = aio.Scheduler({ limit = 1, pending_limit = 0 })
    local hold = aio.Event()
    for _ = 1, 50 do s:spawn(function() hold:wait() end) end
    assert.equal(49, s:pending_count())
    hold:set()
    s:wait_and_close()
  end))

  it("close cancels every job; spawning on a closed scheduler raises RuntimeError", async(function()
    local s = aio.Scheduler({ limit = 1 })
    local cancelled = 0
    local function body()
      local ok, e = pcall(aio.sleep, 10)
      if not ok and getmetatable(e) == aio.CancelledError then cancelled = cancelled + 1 end
      error(e, 0)
    end
    local j1 = s:spawn(body)
    local j2 = s:spawn(body) -- pending
    yield(2)
    s:close()
    assert.is_true(s:closed())
    assert.is_true(j1:closed())
    assert.is_true(j2:closed())
    assert.equal(1, cancelled) -- the pending one never started
    assert.equal(0, #s)
    check_err("RuntimeError", fails(s.spawn, s, function() end))
  end))

  it("close: a spawner suspended by pending_limit gets RuntimeError", async(function()
    local s = aio.Scheduler({ limit = 1, pending_limit = 1 })
    s:spawn(function() aio.sleep(10) end)
    s:spawn(function() aio.sleep(10) end)
    local spawner = aio.spawn(function() return pcall(s.spawn, s, function() end) end)
    yield(3)
    s:close()
    local ok, e = spawner:await()
    assert.is_false(ok)
    check_err("RuntimeError", e)
  end))

  it("close: a job that does not finish within close_timeout is reported to the handler", async(function()
    local ctxs = {}
    local s = aio.Scheduler({
      close_timeout = 0.02,
      exception_handler = function(sched, ctx) ctxs[#ctxs + 1] = { sched = sched, ctx = ctx } end,
    })
    local stubborn = s:spawn(function()
      pcall(aio.sleep, 10)   -- swallows the cancellation
      pcall(aio.sleep, 0.2) -- and keeps going past close_timeout
    end)
    yield(2)
    s:close()
    assert.is_true(s:closed())
    assert.is_true(#ctxs >= 1)
    assert.equal(s, ctxs[1].sched)
    assert.is_string(ctxs[1].ctx.message)
    assert.equal(stubborn, ctxs[1].ctx.job)
  end))

  it("wait_and_close waits for every job, then closes", async(function()
    local s = aio.Scheduler()
    local finished = 0
    for i = 1, 5 do s:spawn(function() aio.sleep(0.001 * i); finished = finished + 1 end) end
    s:wait_and_close()
    assert.equal(5, finished)
    assert.is_true(s:closed())
    check_err("RuntimeError", fails(s.spawn, s, function() end))
  end))

  it("wait_and_close(timeout) stops waiting after timeout and cancels the rest", async(function()
    local s = aio.Scheduler()
    local slow_cancelled = false
    local slow = s:spawn(function()
      local ok, e = pcall(aio.sleep, 10)
      if not ok then slow_cancelled = true; error(e, 0) end
    end)
    local fast = s:spawn(function() return "fast" end)
    local t0 = aio.time()
    s:wait_and_close(0.02)
    assert.is_true(aio.time() - t0 < 1)
    assert.is_true(s:closed())
    assert.is_true(slow_cancelled)
    assert.is_true(slow:closed())
    assert.equal("fast", fast:wait())
  end))

  it("sched:wait(n) is the same as wait_and_close(n)", async(function()
    local s = aio.Scheduler()
    local done = false
    s:spawn(function() aio.sleep(0); done = true end)
    s:wait(1)
    assert.is_true(done)
    assert.is_true(s:closed())
  end))

  it("job:close cancels one job; job:wait(timeout) raises TimeoutError", async(function()
    local s = aio.Scheduler()
    local j = s:spawn(function() aio.sleep(10) end)
    yield(1)
    j:close()
    assert.is_true(j:closed())
    assert.is_false(j:active())
    local j2 = s:spawn(function() aio.sleep(10) end)
    check_err("TimeoutError", fails(j2.wait, j2, 0.01))
    s:close()
  end))

  it("a job's unretrieved error goes to the scheduler's exception handler with message, job, exception",
    async(function()
      local ctxs = {}
      local s = aio.Scheduler({
        exception_handler = function(sched, ctx) ctxs[#ctxs + 1] = { sched = sched, ctx = ctx } end,
      })
      local errv = setmetatable({}, { __tostring = function() return "job failure" end })
      local job = s:spawn(function() aio.sleep(0); error(errv) end)
      for _ = 1, 10 do
        if #ctxs > 0 then break end
        aio.sleep(0)
      end
      assert.equal(1, #ctxs)
      assert.equal(s, ctxs[1].sched)
      assert.is_string(ctxs[1].ctx.message)
      assert.equal(job, ctxs[1].ctx.job)
      assert.equal(errv, ctxs[1].ctx.exception)
      s:close()
    end))

  it("without opts.exception_handler, job errors go to the loop's handler", async(function()
    local seen, restore = capture_loop_errors()
    local s = aio.Scheduler()
    local job = s:spawn(function() error("to the loop", 0) end)
    for _ = 1, 10 do
      if #seen > 0 then break end
      aio.sleep(0)
    end
    restore()
    s:close()
    assert.equal(1, #seen)
    assert.equal("to the loop", seen[1].exception)
    assert.equal(job, seen[1].job)
  end))

  it("call_exception_handler calls opts.exception_handler(sched, ctx) or the loop's handler",
    async(function()
      local got
      local s = aio.Scheduler({ exception_handler = function(sched, ctx) got = { sched, ctx } end })
      local ctx = { message = "hello" }
      s:call_exception_handler(ctx)
      assert.equal(s, got[1])
      assert.equal("hello", got[2].message)
      s:close()
      local seen, restore = capture_loop_errors()
      local s2 = aio.Scheduler()
      s2:call_exception_handler({ message = "to loop" })
      restore()
      s2:close()
      assert.equal(1, #seen)
      assert.equal("to loop", seen[1].message)
    end))

  it("sched:shield returns aw's results and cancelling the caller does not cancel aw", async(function()
    local s = aio.Scheduler()
    assert.same({ 1, 2 }, { s:shield(aio.async(function() return 1, 2 end)()) })
    local inner_done = false
    local inner = aio.spawn(function() aio.sleep(0.02); inner_done = true; return "inner" end)
    local caller = aio.spawn(function() return s:shield(inner) end)
    yield(2)
    caller:cancel()
    local ok, e = pcall(caller.await, caller)
    assert.is_false(ok)
    check_err("CancelledError", e)
    assert.equal("inner", inner:await())
    assert.is_true(inner_done)
    s:close()
  end))

  it("wait_and_close waits for shielded awaitables", async(function()
    local s = aio.Scheduler()
    local finished = false
    local inner = aio.spawn(function() aio.sleep(0.02); finished = true end)
    local caller = aio.spawn(function() s:shield(inner) end)
    yield(2)
    caller:cancel()
    s:wait_and_close()
    assert.is_true(finished)
  end))

  it("close cancels shielded awaitables without reporting them", async(function()
    local reports = 0
    local s = aio.Scheduler({ exception_handler = function() reports = reports + 1 end })
    local inner = aio.spawn(function() aio.sleep(10) end)
    local caller = aio.spawn(function() return pcall(s.shield, s, inner) end)
    yield(2)
    s:close()
    yield(3)
    assert.is_true(inner:cancelled())
    assert.equal(0, reports)
    caller:cancel()
    pcall(caller.await, caller)
  end))

  it("<close> runs wait_and_close at block exit", async(function()
    local s
    local finished = false
    do
      local sch <close> = aio.Scheduler()
      s = sch
      sch:spawn(function() aio.sleep(0.005); finished = true end)
    end
    assert.is_true(finished)
    assert.is_true(s:closed())
  end))

  it("<close> also runs wait_and_close when the block raised; the error continues unchanged",
    async(function()
      local s
      local finished = false
      local errv = { "block error" }
      local ok, e = pcall(function()
        local sch <close> = aio.Scheduler()
        s = sch
        sch:spawn(function() aio.sleep(0.005); finished = true end)
        error(errv)
      end)
      assert.is_false(ok)
      assert.equal(errv, e)
      assert.is_true(finished)
      assert.is_true(s:closed())
    end))

  it("a job error retrieved through job:wait is not reported to the handler", async(function()
    local reports = 0
    local s = aio.Scheduler({ exception_handler = function() reports = reports + 1 end })
    local j = s:spawn(function() aio.sleep(0); error("seen", 0) end)
    local ok, e = pcall(j.wait, j)
    assert.is_false(ok)
    assert.equal("seen", e)
    yield(3)
    assert.equal(0, reports)
    s:close()
  end))

  it("job:wait(timeout) closes the job on timeout; a pending job can be closed", async(function()
    local s = aio.Scheduler({ limit = 1 })
    local hold = aio.Event()
    local j = s:spawn(function() hold:wait() end)
    local p = s:spawn(function() return "never" end)
    assert.is_true(p:pending())
    p:close()
    assert.is_true(p:closed())
    assert.is_false(p:pending())
    assert.equal(0, s:pending_count())
    check_err("TimeoutError", fails(j.wait, j, 0.01))
    assert.is_true(j:closed())
    assert.equal(0, #s)
    s:close()
  end))

  it("limit must be positive; option types are checked", async(function()
    check_argerr("Scheduler", fails(aio.Scheduler, { limit = -3 }))
    local s = aio.Scheduler()
    check_argerr("wait_and_close", fails(s.wait_and_close, s, "soon"))
    s:close()
  end))

  it("Job:wait and Scheduler:shield raise outside a task", async(function()
    local s = aio.Scheduler()
    local hold = aio.Event()
    local j = s:spawn(function() hold:wait(); return 1 end) -- still running: wait must suspend
    local ok, e = in_callback(function() return j:wait() end)
    assert.is_false(ok)
    assert.matches("wait", tostring(e))
    ok, e = in_callback(function() return s:shield(aio.async(function() return 1 end)()) end)
    assert.is_false(ok)
    assert.matches("shield", tostring(e))
    s:close()
  end))

  it("Scheduler spawn / close / wait_and_close work from a plain callback when they need not wait",
    async(function()
      -- a luaio extension (docs/reference/README.md); spawn that must wait for room still raises
      local s = aio.Scheduler()
      local ran = false
      local ok, job = in_callback(function() return s:spawn(function() ran = true end) end)
      assert.is_true(ok, tostring(job))
      job:wait()
      assert.is_true(ran)
      ok = in_callback(function() return aio.Scheduler():wait_and_close() end)
      assert.is_true(ok)
      local s2 = aio.Scheduler({ limit = 1, pending_limit = 1 })
      s2:spawn(function() aio.sleep(1) end)
      s2:spawn(function() end)
      local ok2, e2 = in_callback(function() return s2:spawn(function() end) end)
      assert.is_false(ok2)
      assert.matches("spawn", tostring(e2))
      s2:close()
      s:close()
    end))

  it("unknown opts keys and bad option values raise argument errors", async(function()
    local e = fails(aio.Scheduler, { limits = 3 })
    check_argerr("Scheduler", e)
    assert.matches("limits", tostring(e))
    e = fails(aio.create_scheduler, { close_timout = 1 })
    assert.matches("bad argument", tostring(e), 1, true)
    assert.matches("close_timout", tostring(e))
    assert.matches("bad argument", tostring(fails(aio.Scheduler, { limit = "ten" })), 1, true)
    assert.matches("bad argument", tostring(fails(aio.Scheduler, "opts")), 1, true)
    local s = aio.Scheduler()
    assert.matches("bad argument", tostring(fails(s.spawn, s, 42)), 1, true)
    s:close()
  end))
end)
