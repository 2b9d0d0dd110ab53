-- queue_spec.lua — Queue, LifoQueue, PriorityQueue: ordering, bounds, task_done / join,
-- shutdown, FIFO waiters, every cancellation race, bad input. The loop is stepped with
-- aio.sleep(0) so every interleaving below is deterministic.
local aio = require "luaio"
local virtual = require "support.virtual"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local settle = require "support.settle"
local outside_task = require "support.outside_task"

local function drain(q)
  local out = {}
  while not q:empty() do out[#out + 1] = q:get_nowait() end
  return out
end

describe("Queue", function()
  it("is FIFO, with qsize/empty/full and the maxsize field", virtual(function()
    local q = aio.Queue(3)
    assert.equal(3, q.maxsize)
    assert.is_true(q:empty())
    q:put(1); q:put_nowait(2); q:put("three")
    assert.equal(3, q:qsize())
    assert.is_true(q:full())
    assert.is_false(q:empty())
    assert.equal(1, q:get())
    assert.equal(2, q:get_nowait())
    assert.equal("three", q:get())
    assert.equal(0, q:qsize())
    assert.equal(0, aio.Queue().maxsize)
    assert.is_false(aio.Queue():full())
  end))

  it("has the maxsize field on every kind; 0 or absent means unbounded", virtual(function()
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

  it("is unbounded with maxsize 0 or absent and grows past its first slots", virtual(function()
    for _, q in ipairs { aio.Queue(), aio.Queue(0) } do
      for i = 1, 1000 do q:put_nowait(i) end
      assert.is_false(q:full())
      assert.equal(1000, q:qsize())
      for i = 1, 500 do assert.equal(i, q:get_nowait()) end
      for i = 1001, 1700 do q:put_nowait(i) end -- wraps around the ring, then grows it
      for i = 501, 1700 do assert.equal(i, q:get_nowait()) end
      assert.is_true(q:empty())
    end
  end))

  it("keeps FIFO order when the ring wraps and grows with a bounded queue", virtual(function()
    local q = aio.Queue(5)
    local nxt, want = 1, 1
    for _ = 1, 50 do
      while not q:full() do q:put_nowait(nxt); nxt = nxt + 1 end
      for _ = 1, 3 do assert.equal(want, q:get_nowait()); want = want + 1 end
    end
  end))

  it("tracks qsize, empty and full as a bounded queue fills and drains", virtual(function()
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

  it("raises QueueFull and QueueEmpty error objects from the _nowait forms of every kind", virtual(function()
    local q = aio.Queue(1)
    is_err("QueueEmpty", catch(q.get_nowait, q))
    q:put_nowait(1)
    is_err("QueueFull", catch(q.put_nowait, q, 2))
    assert.equal(1, q:qsize())
    assert.equal(1, q:get_nowait())
    local l = aio.LifoQueue(1)
    l:put_nowait(1)
    is_err("QueueFull", catch(l.put_nowait, l, 2))
    local p = aio.PriorityQueue(1)
    is_err("QueueEmpty", catch(p.get_nowait, p))
  end))

  it("orders the same items FIFO, LIFO or smallest first by kind", virtual(function()
    local q, l, p = aio.Queue(), aio.LifoQueue(), aio.PriorityQueue()
    for _, v in ipairs { 3, 1, 2 } do q:put_nowait(v) l:put_nowait(v) p:put_nowait(v) end
    local a, b, c = {}, {}, {}
    for i = 1, 3 do a[i] = q:get_nowait() b[i] = l:get_nowait() c[i] = p:get() end
    assert.same({ 3, 1, 2 }, a)
    assert.same({ 2, 1, 3 }, b)
    assert.same({ 1, 2, 3 }, c)
  end))

  it("suspends put while full and get while empty", virtual(function()
    local q = aio.Queue(1)
    local log = {}
    local producer = aio.spawn(function()
      for i = 1, 3 do q:put(i); log[#log + 1] = "put " .. i end
    end)
    settle()
    assert.same({ "put 1" }, log) -- the second put waits for room
    assert.equal(1, q:get())
    settle()
    assert.same({ "put 1", "put 2" }, log)
    local consumer = aio.spawn(function() return q:get(), q:get() end)
    settle()
    local a, b = consumer:await()
    assert.same({ 2, 3 }, { a, b })
    producer:await()
    local waiter = aio.spawn(function() return q:get() end)
    settle()
    assert.is_false(waiter:done())
    q:put("late")
    assert.equal("late", waiter:await())
  end))

  it("wakes getters in FIFO order", virtual(function()
    local q = aio.Queue()
    local tasks = {}
    for i = 1, 5 do tasks[i] = aio.spawn(function() return q:get() end) end
    settle()
    for i = 1, 5 do q:put_nowait("item" .. i) end
    for i = 1, 5 do assert.equal("item" .. i, tasks[i]:await()) end
  end))

  it("wakes putters in FIFO order and keeps a freed slot for the first of them", virtual(function()
    local q = aio.Queue(1)
    q:put_nowait(0)
    for i = 1, 5 do aio.spawn(function() q:put(i) end) end
    settle()
    assert.equal(0, q:get_nowait())
    -- the slot belongs to the first waiting putter until it runs: no overtaking
    assert.is_true(q:full())
    local ok, err = pcall(q.put_nowait, q, "intruder")
    assert.is_false(ok)
    assert.is_true(is_err("QueueFull", err))
    local got = {}
    for _ = 1, 5 do got[#got + 1] = q:get() end
    assert.same({ 1, 2, 3, 4, 5 }, got)
  end))

  it("a getter cancelled before an item arrives takes nothing; the next getter gets it", virtual(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    settle(2)
    g1:cancel()
    q:put_nowait("only")
    assert.equal("only", g2:await())
    assert.is_true(g1:cancelled())
    assert.is_true(q:empty())
  end))

  it("refuses nil items with an argument error", virtual(function()
    local q = aio.Queue()
    local ok, err = pcall(q.put_nowait, q, nil)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'put_nowait' %(queue items cannot be nil%)", err)
    ok, err = pcall(function() q:put(nil) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'put' %(queue items cannot be nil%)", err)
    ok, err = pcall(function() q:put() end)
    assert.is_false(ok)
    assert.matches("queue items cannot be nil", err)
    assert.equal(0, q:qsize())
  end))

  it("refuses nil items with an argument error naming the method, PriorityQueue too", virtual(function()
    local q = aio.Queue()
    check_argerr("put_nowait", catch(q.put_nowait, q, nil))
    check_argerr("put", catch(q.put, q, nil))
    check_argerr("put", catch(q.put, q))
    local p = aio.PriorityQueue()
    check_argerr("put_nowait", catch(p.put_nowait, p, nil))
    assert.equal(0, q:qsize())
    assert.equal(0, p:qsize())
  end))

  it("refuses nil items given explicitly or left out", virtual(function()
    local q = aio.Queue()
    assert.matches("bad argument", tostring(catch(q.put_nowait, q, nil)))
    assert.matches("bad argument", tostring(catch(q.put, q, nil)))
    assert.matches("bad argument", tostring(catch(q.put_nowait, q)))
    assert.equal(0, q:qsize())
  end))

  it("accepts false, tables and functions as items", virtual(function()
    local q = aio.Queue()
    local t, f = {}, function() end
    q:put(false); q:put(t); q:put(f)
    assert.equal(false, q:get())
    assert.equal(t, q:get())
    assert.equal(f, q:get())
  end))

  it("rejects bad constructor arguments and a bad self clearly", virtual(function()
    assert.has_error(function() aio.Queue("x") end,
      "bad argument #1 to 'Queue' (number expected, got string)")
    assert.has_error(function() aio.Queue(1.5) end,
      "bad argument #1 to 'Queue' (number has no integer representation)")
    assert.has_error(function() aio.LifoQueue(1, 2) end,
      "bad argument #2 to 'LifoQueue' (no value expected)")
    assert.has_error(function() aio.PriorityQueue(0, 5) end,
      "bad argument #2 to 'PriorityQueue' (function expected, got number)")
    local q = aio.Queue()
    local ok, err = pcall(q.get_nowait, {})
    assert.is_false(ok)
    assert.matches("Queue expected, got table", err)
    ok, err = pcall(q.qsize, io.stdout)
    assert.is_false(ok)
    assert.matches("Queue expected, got", err)
    ok, err = pcall(function() return q.put(nil, 1) end)
    assert.is_false(ok)
    assert.matches("Queue expected, got nil", err)
    ok, err = pcall(q.get_nowait, aio.Queue())
    assert.is_false(ok)
    assert.matches("Queue method called on another queue", err)
    -- a state taken out of one object and planted in another is refused
    local fake = setmetatable({ rawget(q, 1) }, getmetatable(q))
    ok, err = pcall(q.qsize, fake)
    assert.is_false(ok)
    assert.matches("Queue expected", err)
  end))

  it("rejects bad constructor arguments naming the constructor", virtual(function()
    check_argerr("Queue", catch(aio.Queue, "big"))
    check_argerr("LifoQueue", catch(aio.LifoQueue, {}))
    check_argerr("PriorityQueue", catch(aio.PriorityQueue, 0, "not a function"))
  end))

  it("names the type and state in tostring", virtual(function()
    local q = aio.LifoQueue(2)
    q:put_nowait(1)
    assert.matches("^LifoQueue%(maxsize=2, qsize=1", tostring(q))
  end))
end)

describe("Queue outside a task", function()
  it("raises from put, get and join even when they would not wait", virtual(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local errs
    -- a plain callback runs outside any task (under the luaio binary, specs run in one)
    aio.call_soon(function()
      errs = {}
      for _, m in ipairs { "get", "put", "join" } do
        local ok, err = pcall(q[m], q, 2)
        errs[m] = not ok and err
      end
    end)
    settle()
    assert.equal("luaio.Queue:get: must be called from inside a task (see luaio.run)", errs.get)
    assert.equal("luaio.Queue:put: must be called from inside a task (see luaio.run)", errs.put)
    assert.equal("luaio.Queue:join: must be called from inside a task (see luaio.run)", errs.join)
    assert.equal(1, q:qsize())
  end))

  it("put, get and join raise even when they need not wait, join of an empty queue too; the _nowait forms work", virtual(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local ok, e = outside_task(function() return q:get() end)
    assert.is_false(ok)
    assert.matches("get", tostring(e))
    ok, e = outside_task(function() return q:put(2) end)
    assert.is_false(ok)
    assert.matches("put", tostring(e))
    local empty = aio.Queue()
    ok, e = outside_task(function() return empty:join() end)
    assert.is_false(ok)
    assert.matches("join", tostring(e))
    -- nothing was consumed nor added by the failed calls; the _nowait forms work there
    assert.equal(1, q:qsize())
    ok = outside_task(function() q:put_nowait(5); return q:get_nowait() end)
    assert.is_true(ok)
  end))

  it("lets callbacks use the _nowait forms", virtual(function()
    local q = aio.Queue()
    local waiter = aio.spawn(function() return q:get() end)
    aio.call_soon(function() q:put_nowait("from a callback") end)
    assert.equal("from a callback", waiter:await())
  end))

  it("get_nowait from a callback wakes a blocked putter", virtual(function()
    local q = aio.Queue(1)
    q:put_nowait("a")
    local p = aio.spawn(function() q:put("b"); return "put" end)
    settle(2)
    assert.is_true(outside_task(function() return q:get_nowait() end))
    assert.equal("put", aio.wait_for(p, 1))
    assert.equal("b", q:get_nowait())
  end))

  it("raises when a coroutine that is not a task calls get", virtual(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local co = coroutine.wrap(function() return q:get() end)
    assert.has_error(co, "luaio.Queue:get: called from a coroutine that is not a task (run it with aio.spawn)")
  end))

  it("reports a deadlock when the main task waits on a queue nobody fills", function()
    if aio.current_task() then return end -- under the luaio binary, run() awaits in place
    local ok, err = pcall(aio.run, function() aio.Queue():get() end)
    assert.is_false(ok)
    assert.is_true(is_err("RuntimeError", err))
    assert.matches("deadlock: the main task waits on a Queue", err.message)
  end)

  it("put, get and join raise across a C-call boundary even when they need not wait", virtual(function()
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
end)

describe("LifoQueue", function()
  it("bounds and wakes like Queue", virtual(function()
    local q = aio.LifoQueue(2)
    q:put(1); q:put(2)
    local p = aio.spawn(function() q:put(3) end)
    settle()
    assert.is_false(p:done())
    assert.equal(2, q:get())
    p:await()
    assert.same({ 3, 1 }, drain(q))
  end))
end)

describe("PriorityQueue", function()
  it("gives the smallest item first by <", virtual(function()
    local q = aio.PriorityQueue()
    for _, v in ipairs { 5, 1, 4, 1, 3, 9, 2, 6, 5, 3, 5 } do q:put(v) end
    assert.same({ 1, 1, 2, 3, 3, 4, 5, 5, 5, 6, 9 }, drain(q))
    for _, v in ipairs { "pear", "apple", "fig" } do q:put(v) end
    assert.same({ "apple", "fig", "pear" }, drain(q))
  end))

  it("gives negative and fractional numbers, and strings, smallest first", virtual(function()
    local p = aio.PriorityQueue()
    for _, v in ipairs { 5, -2, 9, 0, 3.5, 7 } do p:put_nowait(v) end
    local got = {}
    while not p:empty() do got[#got + 1] = p:get_nowait() end
    assert.same({ -2, 0, 3.5, 5, 7, 9 }, got)
    local s = aio.PriorityQueue()
    for _, v in ipairs { "pear", "apple", "fig" } do s:put_nowait(v) end
    assert.same({ "apple", "fig", "pear" }, { s:get_nowait(), s:get_nowait(), s:get_nowait() })
  end))

  it("orders by less(a, b) given at construction and is stable among equals", virtual(function()
    local q = aio.PriorityQueue(0, function(a, b) return a.prio < b.prio end)
    local names = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l" }
    for i, n in ipairs(names) do q:put { prio = i % 3, name = n } end
    local got = {}
    for _, e in ipairs(drain(q)) do got[#got + 1] = e.prio .. e.name end
    assert.same({ "0c", "0f", "0i", "0l", "1a", "1d", "1g", "1j", "2b", "2e", "2h", "2k" }, got)
  end))

  it("is stable among equal items under a long random mix of puts and gets", virtual(function()
    local q = aio.PriorityQueue(function(a, b) return a[1] < b[1] end)
    local seq, last = 0, {}
    math.randomseed(42)
    for _ = 1, 2000 do
      if math.random() < 0.6 then
        seq = seq + 1
        q:put_nowait { math.random(1, 5), seq }
      elseif not q:empty() then
        local e = q:get_nowait()
        -- FIFO among equal priorities: sequence numbers of one priority only grow
        assert.is_true(e[2] > (last[e[1]] or 0))
        last[e[1]] = e[2]
      end
    end
    local prev = -math.huge
    for _, e in ipairs(drain(q)) do
      assert.is_true(e[1] >= prev)
      prev = e[1]
    end
  end))

  it("accepts less as the only argument and bounds with maxsize", virtual(function()
    local q = aio.PriorityQueue(function(a, b) return a > b end)
    for i = 1, 5 do q:put(i) end
    assert.same({ 5, 4, 3, 2, 1 }, drain(q))
    local b = aio.PriorityQueue(2)
    assert.equal(2, b.maxsize)
    b:put(2); b:put(1)
    assert.is_true(b:full())
    assert.has_error(function() b:put_nowait(0) end)
    assert.equal(1, b:get())
  end))

  it("uses __lt of items", virtual(function()
    local mt = { __lt = function(a, b) return a.v < b.v end }
    local q = aio.PriorityQueue()
    for _, v in ipairs { 3, 1, 2 } do q:put(setmetatable({ v = v }, mt)) end
    assert.equal(1, q:get().v)
    assert.equal(2, q:get().v)
  end))

  it("leaves the queue intact when a comparison fails", virtual(function()
    local q = aio.PriorityQueue()
    q:put(1); q:put(3); q:put(2)
    local ok, err = pcall(q.put, q, "x")
    assert.is_false(ok)
    assert.matches("attempt to compare", err)
    ok = pcall(q.put, q, {})
    assert.is_false(ok)
    assert.equal(3, q:qsize())
    assert.same({ 1, 2, 3 }, drain(q))
    local boom = aio.PriorityQueue(function(a, b)
      if a == 99 or b == 99 then error("boom") end
      return a < b
    end)
    for _, v in ipairs { 5, 4, 3 } do boom:put(v) end
    assert.has_error(function() boom:put(99) end)
    assert.same({ 3, 4, 5 }, drain(boom))
  end))

  it("refuses to be used from inside its own comparison", virtual(function()
    local q
    q = aio.PriorityQueue(function(a, b)
      if a == "evil" or b == "evil" then q:put_nowait(0) end
      return tostring(a) < tostring(b)
    end)
    q:put("a")
    local ok, err = pcall(q.put, q, "evil")
    assert.is_false(ok)
    assert.is_true(is_err("RuntimeError", err))
    assert.same({ "a" }, drain(q))
  end))

  it("cannot suspend inside less", virtual(function()
    local q = aio.PriorityQueue(function(a, b) aio.sleep(0); return a < b end)
    q:put(1)
    local ok, err = pcall(q.put, q, 2)
    assert.is_false(ok)
    assert.matches("cannot suspend here", err)
    assert.equal(1, q:qsize())
  end))
end)

describe("Queue task_done and join", function()
  it("join returns at once when nothing is unfinished", virtual(function()
    local q = aio.Queue()
    q:join()
    q:put(1)
    assert.equal(1, q:get())
    q:task_done()
    q:join()
  end))

  it("join waits until every item put was marked done", virtual(function()
    local q = aio.Queue()
    for i = 1, 3 do q:put(i) end
    local joined = false
    local j = aio.spawn(function() q:join(); joined = true end)
    for _ = 1, 3 do
      settle()
      assert.is_false(joined)
      q:get()
      q:task_done()
    end
    j:await()
    assert.is_true(joined)
  end))

  it("raises ValueError when task_done is called too many times", virtual(function()
    local q = aio.Queue()
    local ok, err = pcall(q.task_done, q)
    assert.is_false(ok)
    assert.is_true(is_err("ValueError", err))
    assert.matches("too many times", err.message)
  end))

  it("raises ValueError when task_done outnumbers the items put", virtual(function()
    local q = aio.Queue()
    q:put_nowait(1)
    q:get_nowait()
    q:task_done()
    is_err("ValueError", catch(q.task_done, q))
  end))

  it("a cancelled joiner does not disturb the others", virtual(function()
    local q = aio.Queue()
    q:put(1)
    local j1 = aio.spawn(function() q:join() end)
    local j2 = aio.spawn(function() q:join(); return "joined" end)
    settle()
    j1:cancel()
    settle()
    assert.is_true(j1:cancelled())
    q:get(); q:task_done()
    assert.equal("joined", j2:await())
  end))
end)

describe("Queue shutdown", function()
  it("makes put raise QueueShutDown and get raise once drained", virtual(function()
    local q = aio.Queue()
    q:put(1); q:put(2)
    q:shutdown()
    assert.is_true(q:is_shutdown())
    local ok, err = pcall(q.put, q, 3)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    ok, err = pcall(q.put_nowait, q, 3)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    assert.equal(1, q:get())
    assert.equal(2, q:get_nowait())
    ok, err = pcall(q.get, q)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    ok, err = pcall(q.get_nowait, q)
    assert.is_true(not ok and is_err("QueueShutDown", err))
  end))

  it("wakes waiting getters and putters with QueueShutDown", virtual(function()
    local empty, full = aio.Queue(), aio.Queue(1)
    full:put(0)
    local g = aio.spawn(function() return empty:get() end)
    local p = aio.spawn(function() full:put(1) end)
    settle()
    empty:shutdown()
    full:shutdown()
    local ok, err = pcall(g.await, g)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    ok, err = pcall(p.await, p)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    assert.equal(0, full:get()) -- what was queued before the shutdown can still be had
  end))

  it("immediate=true drops the items so get and get_nowait raise at once and join returns", virtual(function()
    local q = aio.Queue()
    for i = 1, 3 do q:put_nowait(i) end
    local j = aio.spawn(function() q:join(); return "joined" end)
    settle(2)
    q:shutdown(true)
    is_err("QueueShutDown", catch(q.get_nowait, q))
    is_err("QueueShutDown", catch(q.get, q))
    assert.equal(0, q:qsize())
    assert.equal("joined", aio.wait_for(j, 1))
  end))

  it("a putter granted a slot before the shutdown still raises QueueShutDown", virtual(function()
    local q = aio.Queue(1)
    q:put(0)
    local p = aio.spawn(function() q:put(1) end)
    settle()
    assert.equal(0, q:get_nowait()) -- p is woken with the slot kept for it
    q:shutdown()
    local ok, err = pcall(p.await, p)
    assert.is_true(not ok and is_err("QueueShutDown", err))
    assert.is_true(q:empty())
  end))
end)

describe("Queue cancellation", function()
  it("a cancelled getter leaves the line and the next one gets the item", virtual(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    settle()
    g1:cancel()
    settle()
    assert.is_true(g1:cancelled())
    q:put("x")
    assert.equal("x", g2:await())
  end))

  it("a getter cancelled after it was handed an item passes it to the next getter", virtual(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    settle()
    q:put_nowait("a") -- handed to g1, which has not run yet
    g1:cancel()
    assert.equal("a", g2:await())
    assert.is_true(g1:cancelled())
    assert.equal(0, q:qsize())
  end))

  it("a getter cancelled after it was woken for an item leaves the item queued", virtual(function()
    for _, kind in ipairs { "Queue", "LifoQueue" } do
      local q = aio[kind]()
      local g = aio.spawn(function() return q:get() end)
      settle()
      q:put_nowait("first")
      q:put_nowait("second")
      g:cancel()
      settle()
      assert.is_true(g:cancelled())
      assert.equal(2, q:qsize())
      -- the cancelled getter took nothing: both items are where they were put
      assert.same(kind == "Queue" and { "first", "second" } or { "second", "first" }, drain(q))
    end
  end))

  it("a PriorityQueue getter cancelled with an item keeps its place among equals", virtual(function()
    local q = aio.PriorityQueue(function(a, b) return a[1] < b[1] end)
    local g = aio.spawn(function() return q:get() end)
    settle()
    q:put_nowait { 1, "first" } -- handed to g
    q:put_nowait { 1, "second" }
    q:put_nowait { 0, "urgent" }
    g:cancel()
    settle()
    local got = {}
    for _, e in ipairs(drain(q)) do got[#got + 1] = e[2] end
    assert.same({ "urgent", "first", "second" }, got)
  end))

  it("a getter handed an item in a queue shut down with immediate=true drops it", virtual(function()
    local q = aio.Queue()
    local g = aio.spawn(function() return q:get() end)
    settle()
    q:put_nowait("x") -- unfinished = 1, handed to g
    q:shutdown(true)
    g:cancel()
    settle()
    assert.is_true(g:cancelled())
    assert.equal(0, q:qsize())
    q:join() -- the dropped item counts as done
  end))

  it("a getter that catches the cancellation can get again and keeps its turn order", virtual(function()
    local q = aio.Queue()
    local got = {}
    local g = aio.spawn(function()
      local ok, err = pcall(q.get, q)
      got[#got + 1] = ok and "item" or err.name
      got[#got + 1] = q:get()
    end)
    settle()
    q:put_nowait("a")
    g:cancel()
    settle()
    q:put_nowait("b")
    g:await()
    assert.same({ "CancelledError", "a" }, got)
    assert.equal("b", q:get())
  end))

  it("a cancelled putter does not put its item", virtual(function()
    local q = aio.Queue(1)
    q:put(0)
    local p1 = aio.spawn(function() q:put(1) end)
    local p2 = aio.spawn(function() q:put(2) end)
    settle()
    p1:cancel()
    settle()
    assert.is_true(p1:cancelled())
    assert.equal(0, q:get())
    p2:await()
    assert.same({ 2 }, drain(q))
  end))

  it("a putter cancelled after it was granted a slot passes the slot on", virtual(function()
    local q = aio.Queue(1)
    q:put(0)
    local p1 = aio.spawn(function() q:put(1) end)
    local p2 = aio.spawn(function() q:put(2) end)
    settle()
    assert.equal(0, q:get_nowait()) -- p1 is granted the slot
    p1:cancel()
    settle()
    assert.is_true(p1:cancelled())
    assert.is_true(p2:done())
    assert.same({ 2 }, drain(q))
  end))

  it("cancellation before a get that need not wait is delivered at the next suspension", virtual(function()
    local q = aio.Queue()
    q:put(1)
    local reached
    local t = aio.spawn(function()
      aio.current_task():cancel()
      local v = q:get() -- does not suspend: not a suspension point
      reached = v
      aio.sleep(0)
    end)
    local ok, err = pcall(t.await, t)
    assert.is_true(not ok and is_err("CancelledError", err))
    assert.equal(1, reached)
  end))

  it("a cancelled get that would wait raises at once and leaves no waiter behind", virtual(function()
    local q = aio.Queue()
    local t = aio.spawn(function()
      aio.current_task():cancel()
      return q:get()
    end)
    local ok, err = pcall(t.await, t)
    assert.is_true(not ok and is_err("CancelledError", err))
    q:put_nowait("kept")
    assert.equal(1, q:qsize())
  end))
end)

describe("Queue under load", function()
  it("loses and duplicates nothing with many producers and consumers on a bounded queue", virtual(function()
    local q = aio.Queue(4)
    local P, C, N = 7, 5, 300
    local seen, count, sum = {}, 0, 0
    local producers, consumers = {}, {}
    for p = 1, P do
      producers[p] = aio.spawn(function()
        for i = 1, N do
          q:put(p * 100000 + i)
          if i % 7 == 0 then aio.sleep(0) end
        end
      end)
    end
    for c = 1, C do
      consumers[c] = aio.spawn(function()
        while true do
          local ok, v = pcall(q.get, q)
          if not ok then
            assert.is_true(is_err("QueueShutDown", v))
            return
          end
          assert.is_nil(seen[v])
          seen[v] = true
          count, sum = count + 1, sum + v
          q:task_done()
          if v % 5 == c then aio.sleep(0) end
        end
      end)
    end
    aio.gather(producers)
    q:join()
    q:shutdown()
    aio.gather(consumers)
    local want = 0
    for p = 1, P do want = want + N * p * 100000 + N * (N + 1) // 2 end
    assert.equal(P * N, count)
    assert.equal(want, sum)
  end))

  it("cancelling consumers at random loses no item", virtual(function()
    local q = aio.Queue(3)
    local N, got = 400, {}
    local consumers = {}
    local function consumer()
      while true do
        local v = q:get()
        got[#got + 1] = v
        q:task_done()
      end
    end
    for i = 1, 4 do consumers[i] = aio.spawn(consumer) end
    local producer = aio.spawn(function() for i = 1, N do q:put(i) end end)
    math.randomseed(7)
    while not producer:done() do
      settle(1)
      local k = math.random(1, #consumers)
      if math.random() < 0.3 then
        consumers[k]:cancel()
        consumers[k] = aio.spawn(consumer)
      end
    end
    q:join()
    for _, c in ipairs(consumers) do c:cancel() end
    table.sort(got)
    assert.equal(N, #got)
    for i = 1, N do assert.equal(i, got[i]) end
  end))
end)

describe("Queue memory", function()
  it("allocates nothing for put/get pairs that do not wait", virtual(function()
    local q, p = aio.Queue(4), aio.PriorityQueue()
    for i = 1, 8 do q:put(i); q:get(); p:put(i); p:get() end -- warm up the slots
    collectgarbage("collect")
    collectgarbage("stop")
    local before = collectgarbage("count")
    for i = 1, 2000 do
      q:put(i); q:put_nowait(i)
      q:get(); q:get_nowait()
      p:put_nowait(i); p:put(-i)
      p:get(); p:get_nowait()
    end
    local after = collectgarbage("count")
    collectgarbage("restart")
    assert.equal(before, after)
  end))

  it("lets an unreachable queue and its items be collected", virtual(function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local q = aio.PriorityQueue(function(a, b) return a.n < b.n end)
      local item = { n = 1 }
      q:put(item)
      weak.q, weak.item = q, item
    end
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_nil(weak.q)
    assert.is_nil(weak.item)
  end))
end)

describe("Queue as asyncio", function()
  -- Python:
  --   q = asyncio.Queue(); t = asyncio.create_task(q.get()); await asyncio.sleep(0)
  --   q.put_nowait("a"); print(q.qsize(), q.empty())          -> 1 False
  --   q2 = asyncio.Queue(1); (getter waiting) q2.put_nowait(1); q2.put_nowait(2) -> QueueFull
  -- asyncio's put_nowait always stores the item and only wakes a getter; the item leaves
  -- the queue when the getter runs. luaio hands it to the waiting getter at once:
  -- qsize() is 0, empty() true, and a bounded queue accepts more than maxsize puts.
  it("put_nowait with a waiting getter keeps the item in the queue until the getter runs", virtual(function()
    local q = aio.Queue()
    local t = aio.spawn(function() return q:get() end)
    aio.sleep(0)
    q:put_nowait("a")
    assert.equal(1, q:qsize())
    assert.is_false(q:empty())
    assert.equal("a", t:await())
    assert.equal(0, q:qsize())

    local q2 = aio.Queue(1)
    local t2 = aio.spawn(function() return q2:get() end)
    aio.sleep(0)
    q2:put_nowait(1)
    assert.is_true(q2:full())
    local ok, err = pcall(q2.put_nowait, q2, 2)
    assert.is_false(ok)
    assert.equal("QueueFull", type(err) == "table" and err.name or err)
    assert.equal(1, t2:await())
  end))

  -- Python (same root cause as above):
  --   q = asyncio.Queue(); t = create_task(g()) (g: print("g got", await q.get())); await sleep(0)
  --   q.put_nowait("x"); print("main steals", q.get_nowait()); q.put_nowait("y"); await sleep(0)
  --   -> main steals x / g got y / qsize 0
  -- luaio: get_nowait raised QueueEmpty ("x" already went to the waiting getter), g got "x",
  -- and "y" stayed in the queue (qsize 1).
  it("get_nowait may take an item put for a waiting getter, which then gets the next one", virtual(function()
    local q = aio.Queue(1)
    local waiter = aio.spawn(function() return q:get() end)
    settle()
    q:put_nowait("first")
    -- as asyncio: the item is in the queue (it counts against maxsize) until the getter runs
    assert.equal(1, q:qsize())
    assert.is_true(q:full())
    assert.equal("QueueFull", select(2, pcall(q.put_nowait, q, "extra")).name)
    -- another task may take it first; the woken getter then waits for the next item
    assert.equal("first", q:get_nowait())
    q:put_nowait("second")
    assert.equal("second", waiter:await())
    assert.is_true(q:empty())
  end))
end)

describe("Queue regressions", function()
  -- queue.c: get_nowait() from inside less() popped a one- or two-entry heap while a put
  -- was comparing, so the put then wrote past the new count and an item came out nil.
  it("PriorityQueue refuses get_nowait from inside its comparison and loses nothing", virtual(function()
    local q, inner
    q = aio.PriorityQueue(function(a, b)
      if q:qsize() == 1 and inner == nil then
        local ok, e = pcall(q.get_nowait, q)
        inner = { ok = ok, e = e }
      end
      return a < b
    end)
    q:put_nowait(1)
    q:put_nowait(5)
    assert.is_false(inner.ok)
    assert.equal("RuntimeError", inner.e.name)
    assert.equal(2, q:qsize())
    assert.equal(1, q:get_nowait())
    assert.equal(5, q:get_nowait())
    assert.equal(0, q:qsize())
  end))
end)
