-- task_spec.lua — tasks (spawn, create_task, names, current_task / all_tasks, traceback,
-- lifetime), awaiting (await, aio.async coroutine objects), errors in tasks, cancellation
-- (cancel, cancelling / uncancel, aio.pcall) and where a task may suspend.
local aio = require "luaio"
local virtual = require "support.virtual"
local proc = require "support.proc"
local catch = require "support.catch"
local is_err = require "support.is_err"
local settle = require "support.settle"
local outside_task = require "support.outside_task"

describe("Task", function()
  it("runs a spawned function and returns all its results", virtual(function()
    local t = aio.spawn(function(a, b) aio.sleep(0) return a + b, "x", nil, 4 end, 1, 2)
    local s, x, n, four = t:await()
    assert.equal(3, s)
    assert.equal("x", x)
    assert.is_nil(n)
    assert.equal(4, four)
    assert.is_true(t:done())
    assert.is_false(t:cancelled())
    assert.same({ 3, "x", nil, 4 }, { t:result() })
  end))

  it("passes spawn's arguments, nils included, and spawn rejects a non-function", virtual(function()
    local t = aio.spawn(function(a, b, c) return c, b, a end, "x", nil, "z")
    local r = table.pack(t:await())
    assert.equal(3, r.n)
    assert.same({ "z", nil, "x" }, { r[1], r[2], r[3] })
    assert.is_true(t:done())
    assert.equal("z", (t:result()))
    local e = catch(aio.spawn, "nope")
    assert.matches("bad argument #1 to 'spawn'", tostring(e), 1, true)
  end))

  it("does not start inside spawn or create_task, and starts in FIFO order", virtual(function()
    local order = {}
    local a = aio.spawn(function() order[#order + 1] = "a" end)
    local b = aio.create_task(aio.async(function() order[#order + 1] = "b" end)())
    local c = aio.spawn(function() order[#order + 1] = "c" end)
    assert.same({}, order)
    aio.gather(a, b, c)
    assert.same({ "a", "b", "c" }, order)
  end))

  it("create_task takes a name; the task starts later, in FIFO order", virtual(function()
    local order = {}
    local t1 = aio.create_task(aio.async(function() order[#order + 1] = 1 end)(), "first")
    local t2 = aio.spawn(function(a) order[#order + 1] = a end, 2)
    assert.same({}, order)
    assert.equal("first", t1:get_name())
    t1:set_name("renamed")
    assert.equal("renamed", t1:get_name())
    aio.gather(t1, t2)
    assert.same({ 1, 2 }, order)
  end))

  it("has a default name Task-N and a settable one", virtual(function()
    local t = aio.spawn(function() end)
    assert.matches("^Task%-%d+$", t:get_name())
    t:set_name("worker")
    assert.equal("worker", t:get_name())
    assert.matches("worker", tostring(t))
    local n = aio.create_task(aio.async(function() end)(), "named")
    assert.equal("named", n:get_name())
    aio.gather(t, n)
  end))

  it("current_task and all_tasks see the running tasks", virtual(function()
    local me = aio.current_task()
    assert.is_not_nil(me)
    local inner
    local t = aio.spawn(function() inner = aio.current_task() aio.sleep(0) end)
    aio.sleep(0)
    assert.equal(t, inner)
    local found = {}
    for _, x in ipairs(aio.all_tasks()) do found[x] = true end
    assert.is_true(found[t])
    assert.is_true(found[me])
    t:await()
    found = {}
    for _, x in ipairs(aio.all_tasks()) do
      assert.is_nil(found[x], "listed twice: " .. tostring(x))
      found[x] = true
    end
    assert.is_nil(found[t])
  end))

  it("current_task is nil outside a task; all_tasks lists only live tasks", virtual(function()
    local r = table.pack(outside_task(function() return aio.current_task() end))
    assert.is_true(r[1])
    assert.is_nil(r[2])
    local me = aio.current_task()
    local gate = aio.Future()
    local t = aio.spawn(function() gate:await() end)
    local done_t = aio.spawn(function() end)
    done_t:await()
    local function has(list, x)
      for _, v in ipairs(list) do if v == x then return true end end
      return false
    end
    local all = aio.all_tasks()
    assert.is_table(all)
    assert.is_true(has(all, me))
    assert.is_true(has(all, t))
    assert.is_false(has(all, done_t))
    gate:set_result()
    t:await()
    assert.is_false(has(aio.all_tasks(), t))
  end))

  it("all_tasks includes tasks that have not started yet", virtual(function()
    local t = aio.spawn(function() end)
    local found = false
    for _, x in ipairs(aio.all_tasks()) do if x == t then found = true end end
    assert.is_true(found)
    t:await()
  end))

  it("a plain coroutine.yield() inside a task acts as sleep(0)", virtual(function()
    local order = {}
    local a = aio.spawn(function() order[#order + 1] = 1; coroutine.yield(); order[#order + 1] = 3 end)
    local b = aio.spawn(function() order[#order + 1] = 2 end)
    aio.gather(a, b)
    assert.same({ 1, 2, 3 }, order)
  end))

  it("set_result and set_exception raise RuntimeError on a task", virtual(function()
    local t = aio.spawn(function() aio.sleep(0) end)
    is_err("RuntimeError", catch(t.set_result, t, 1))
    is_err("RuntimeError", catch(t.set_exception, t, "x"))
    t:await()
  end))

  it("a task cannot await itself", virtual(function()
    local t
    t = aio.spawn(function() aio.sleep(0) return t:await() end)
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
  end))

  it("traceback() shows a suspended task's stack and a failure's traceback", virtual(function()
    local function deep() aio.sleep(10) end
    local t = aio.spawn(function() deep() end)
    aio.sleep(0)
    assert.matches("deep", t:traceback())
    t:cancel()
    local f = aio.spawn(function() error("boom") end)
    pcall(aio.await, f)
    assert.matches("stack traceback", f:traceback())
  end))

  it("traceback() names the functions of a suspended stack and of a failure", virtual(function()
    local gate = aio.Future()
    local function acc3_tb_waiter() gate:await() end
    local t = aio.spawn(function() acc3_tb_waiter() end)
    settle(1)
    local tb = t:traceback()
    assert.is_string(tb)
    assert.matches("acc3_tb_waiter", tb, 1, true)
    gate:set_result()
    t:await()
    local function acc3_tb_failer() error("acc3 failure") end
    local u = aio.spawn(function() acc3_tb_failer() end)
    pcall(aio.await, u)
    tb = u:traceback()
    assert.is_string(tb)
    assert.matches("acc3_tb_failer", tb, 1, true)
  end))

  it("traceback() of a failed task names the file and line", virtual(function()
    local t = aio.spawn(function() aio.sleep(0) error("tb-fail") end)
    pcall(aio.await, t)
    assert.is_string(t:traceback())
    assert.matches("task_spec%.lua:%d+", t:traceback())
  end))

  it("a pending task is never collected; a finished unreferenced one is", virtual(function()
    local weak = setmetatable({}, { __mode = "v" })
    local ev = aio.Event()
    local done = false
    weak[1] = aio.spawn(function() ev:wait() done = true end)
    aio.sleep(0)
    collectgarbage()
    collectgarbage()
    assert.is_not_nil(weak[1])
    ev:set()
    settle(3)
    assert.is_true(done)
    settle(3)
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end))
end)

describe("await", function()
  it("aio.async(fn)(...) returns a coroutine object that has not started", virtual(function()
    local started = 0
    local af = aio.async(function(x) started = started + 1 return x * 2 end)
    assert.is_function(af)
    local co = af(21)
    assert.is_not_nil(co)
    settle(3)
    assert.equal(0, started)
    assert.equal(42, aio.await(co))
    assert.equal(1, started)
  end))

  it("runs a coroutine object inside the current task", virtual(function()
    local me = aio.current_task()
    local seen
    local co = aio.async(function() aio.sleep(0) seen = aio.current_task() return "done" end)()
    assert.equal("done", co:await())
    assert.equal(me, seen)
  end))

  it("a coroutine object cannot be awaited twice, nor made a task after it ran", virtual(function()
    local co = aio.async(function() return 1 end)()
    assert.equal(1, aio.await(co))
    is_err("RuntimeError", catch(aio.await, co))
    is_err("RuntimeError", catch(aio.create_task, co))
  end))

  it("returns all results of futures, tasks and coroutine objects", virtual(function()
    local f = aio.Future()
    aio.call_soon(function() f:set_result(1, nil, 3) end)
    assert.same({ 1, nil, 3 }, { aio.await(f) })
    assert.equal(3, select("#", aio.await(f)))
    local t = aio.spawn(function() return "a", nil, "c" end)
    local r = table.pack(t:await())
    assert.equal(3, r.n)
    assert.same({ "a", nil, "c" }, { r[1], r[2], r[3] })
    local co = aio.async(function() aio.sleep(0) return 1, 2 end)()
    r = table.pack(aio.await(co))
    assert.equal(2, r.n)
    assert.same({ 1, 2 }, { r[1], r[2] })
  end))

  it("returns every result, embedded and trailing nils included", virtual(function()
    local fut = aio.Future()
    aio.call_soon(function() fut:set_result(nil, "b", nil) end)
    local r = table.pack(aio.await(fut))
    assert.equal(3, r.n)
    assert.equal("b", r[2])
    local t = aio.spawn(function() return 1, nil end)
    r = table.pack(t:await())
    assert.equal(2, r.n)
    assert.equal(1, r[1])
    local co = aio.async(function() return end)()
    assert.equal(0, select("#", aio.await(co)))
  end))

  it("re-raises the error value of a task, future or coroutine object unchanged", virtual(function()
    local E = { custom = true }
    local t = aio.spawn(function() aio.sleep(0) error(E) end)
    local e = catch(aio.await, t)
    assert.equal(E, e)
    local f = aio.Future()
    f:set_exception(E)
    assert.equal(E, catch(function() return f:await() end))
    local co = aio.async(function() error(E) end)()
    assert.equal(E, catch(aio.await, co))
  end))

  it("re-raises table and string errors unchanged", virtual(function()
    local E = setmetatable({}, { __tostring = function() return "custom" end })
    local t = aio.spawn(function() error(E) end)
    assert.equal(E, catch(aio.await, t))
    local t2 = aio.spawn(function() error("plain", 0) end)
    assert.equal("plain", catch(t2.await, t2))
    local co = aio.async(function() aio.sleep(0) error(E) end)()
    assert.equal(E, catch(aio.await, co))
  end))

  it("a done future is not a suspension point", virtual(function()
    local f = aio.Future()
    f:set_result("v")
    local other_ran = false
    aio.spawn(function() other_ran = true end)
    assert.equal("v", f:await())
    assert.equal("v", aio.await(f))
    assert.is_false(other_ran)
    aio.sleep(0)
    assert.is_true(other_ran)
  end))

  it("a cancellation requested before awaiting a done future arrives at the next suspension", virtual(function()
    local f = aio.Future()
    f:set_result(7)
    local other_ran = false
    local t = aio.spawn(function() other_ran = true end)
    assert.equal(7, aio.await(f))
    assert.is_false(other_ran)
    t:await()
    local victim = aio.spawn(function()
      aio.current_task():cancel()
      local v = aio.await(f) -- done: returns at once, no CancelledError
      local ok, e = pcall(aio.sleep, 0)
      return v, ok, e
    end)
    local v, ok, e = victim:await()
    assert.equal(7, v)
    assert.is_false(ok)
    is_err("CancelledError", e)
  end))

  it("a non-awaitable raises an error saying what was given", virtual(function()
    local e = catch(aio.await, 42)
    assert.matches("number", tostring(e))
    e = catch(aio.await, "str")
    assert.matches("string", tostring(e))
    e = catch(aio.await, {})
    assert.matches("table", tostring(e))
    e = catch(aio.await, coroutine.create(function() end))
    assert.is_not_nil(tostring(e))
  end))
end)

describe("errors in tasks", function()
  it("traceback() of a failed task ends with each task awaiting it and where it was suspended", virtual(function()
    local child = aio.spawn(function() aio.sleep(0) error("child failed") end)
    local a = aio.spawn(function() return pcall(child.await, child) end)
    a:set_name("awaiter-a")
    local b = aio.spawn(function() return pcall(child.await, child) end)
    b:set_name("awaiter-b")
    assert.is_false((a:await()))
    local tb = child:traceback()
    assert.matches("child failed", tostring(child:exception()))
    local ia = tb:find('awaited by Task%-%d+ "awaiter%-a"\nstack traceback:\n')
    local ib = tb:find('awaited by Task%-%d+ "awaiter%-b"\nstack traceback:\n')
    assert.truthy(ia and ib and ia < ib, tb)
    assert.truthy(tb:find("error", 1, true) < ia, "the failing stack comes first")
    b:await()
  end))

  it("reach the awaiting task unchanged, through several awaits", virtual(function()
    local err = { custom = true }
    local function level1() error(err) end
    local t1 = aio.spawn(level1)
    local t2 = aio.spawn(function() return t1:await() end)
    local t3 = aio.spawn(function() return aio.await(t2) end)
    local ok, e = pcall(aio.await, t3)
    assert.is_false(ok)
    assert.equal(err, e)
    assert.equal(err, t1:exception())
    assert.equal(err, t3:exception())
  end))

  it("string errors keep their position", virtual(function()
    local t = aio.spawn(function() error("boom") end)
    local ok, e = pcall(t.await, t)
    assert.is_false(ok)
    assert.matches("task_spec.lua:%d+: boom", e)
  end))

  it("a re-raised error's traceback shows the awaited task's stack too", virtual(function()
    local function inner_fn() aio.sleep(0) error("deep failure") end
    local child = aio.spawn(inner_fn)
    local parent = aio.spawn(function() return child:await() end)
    pcall(aio.await, parent)
    local tb = parent:traceback()
    assert.matches("awaited task.*in function 'error'", tb)
  end))

  it("result() before done raises InvalidStateError", virtual(function()
    local t = aio.spawn(function() aio.sleep(0) end)
    local ok, e = pcall(t.result, t)
    assert.is_false(ok)
    assert.equal("InvalidStateError", e.name)
    e = select(2, pcall(t.exception, t))
    assert.equal("InvalidStateError", e.name)
    t:await()
  end))
end)

describe("cancellation", function()
  it("cancels a sleeping task, which ends cancelled", virtual(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    assert.is_true(t:cancel())
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("CancelledError", e.name)
    assert.is_true(t:cancelled())
    assert.is_true(t:done())
    e = select(2, pcall(t.result, t))
    assert.equal("CancelledError", e.name)
  end))

  it("a task that lets CancelledError propagate ends cancelled", virtual(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel()
    local e = catch(aio.await, t)
    is_err("CancelledError", e)
    assert.is_true(t:cancelled())
    assert.is_true(t:done())
    is_err("CancelledError", catch(t.result, t))
  end))

  it("cancelling before the task starts means its body never runs", virtual(function()
    local ran = false
    local t = aio.spawn(function() ran = true end)
    assert.is_true(t:cancel("early"))
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("CancelledError", e.name)
    assert.equal("early", e.message)
    assert.is_false(ran)
  end))

  it("a task cancelled before it started ends cancelled without running", virtual(function()
    local ran = false
    local t = aio.spawn(function() ran = true end)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_false(ran)
    assert.is_true(t:cancelled())
  end))

  it("cancel after done returns false", virtual(function()
    local t = aio.spawn(function() return 1 end)
    t:await()
    assert.is_false(t:cancel())
    assert.is_false(t:cancelled())
  end))

  it("the cancel message reaches whoever awaits the cancelled task", virtual(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    settle(1)
    t:cancel("acc3-why")
    local e = catch(aio.await, t)
    is_err("CancelledError", e)
    assert.equal("acc3-why", e.message)
    is_err("CancelledError", catch(t.exception, t))
  end))

  it("can be caught with pcall; the task then goes on", virtual(function()
    local t = aio.spawn(function()
      local ok, e = pcall(aio.sleep, 10)
      assert(not ok and e.name == "CancelledError")
      aio.sleep(0)
      return "survived"
    end)
    aio.sleep(0)
    t:cancel()
    assert.equal("survived", t:await())
    assert.is_false(t:cancelled())
    assert.equal(1, t:cancelling())
  end))

  it("cancel(msg) raises CancelledError with msg at the suspension point; the task may catch it", virtual(function()
    local t = aio.spawn(function()
      local ok, e = pcall(aio.sleep, 10)
      return ok, e
    end)
    aio.sleep(0)
    assert.is_true(t:cancel("stop"))
    local ok, e = t:await()
    assert.is_false(ok)
    is_err("CancelledError", e)
    assert.equal("stop", e.message)
    assert.is_false(t:cancelled())
  end))

  it("aio.pcall catches ordinary errors but never CancelledError", virtual(function()
    assert.same({ true, 1, 2 }, { aio.pcall(function(a) return a, 2 end, 1) })
    local ok, e = aio.pcall(error, "plain", 0)
    assert.is_false(ok)
    assert.equal("plain", e)
    local reached = false
    local t = aio.spawn(function()
      aio.pcall(aio.sleep, 10)
      reached = true
    end)
    settle(1)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_false(reached)
    assert.is_true(t:cancelled())
  end))

  it("counts requests with cancelling() and uncancel()", virtual(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel()
    t:cancel()
    assert.equal(2, t:cancelling())
    assert.equal(1, t:uncancel())
    pcall(aio.await, t)
  end))

  it("cancelling() and uncancel() seen from inside the task", virtual(function()
    local t = aio.spawn(function()
      pcall(aio.sleep, 10)
      local me = aio.current_task()
      local c = me:cancelling()
      local u = me:uncancel()
      return c, u, me:cancelling()
    end)
    settle(1)
    assert.equal(0, t:cancelling())
    t:cancel()
    t:cancel()
    assert.equal(2, t:cancelling())
    local c, u, after = t:await()
    assert.equal(2, c)
    assert.equal(1, u)
    assert.equal(1, after)
  end))

  it("a running task that cancels itself gets it at its next suspension", virtual(function()
    local steps = {}
    local t = aio.spawn(function()
      aio.current_task():cancel()
      steps[#steps + 1] = "still running"
      aio.sleep(0)
      steps[#steps + 1] = "never"
    end)
    pcall(aio.await, t)
    assert.same({ "still running" }, steps)
    assert.is_true(t:cancelled())
  end))

  it("cancelling a task that awaits another cancels the awaited one", virtual(function()
    local inner = aio.spawn(function() aio.sleep(10) end)
    local outer = aio.spawn(function() return inner:await() end)
    aio.sleep(0)
    outer:cancel()
    pcall(aio.await, outer)
    assert.is_true(outer:cancelled())
    assert.is_true(inner:cancelled())
  end))

  it("cancelling a task waiting on a future or a task cancels what it waits on", virtual(function()
    local fut = aio.Future()
    local inner = aio.spawn(function() aio.sleep(10) end)
    local a = aio.spawn(function() fut:await() end)
    local b = aio.spawn(function() inner:await() end)
    settle(1)
    assert.is_true(a:cancel())
    assert.is_true(a:cancel(), "a repeated request on a pending task is accepted too")
    b:cancel()
    pcall(aio.await, a)
    pcall(aio.await, b)
    settle(1)
    assert.is_true(fut:cancelled())
    assert.is_true(inner:cancelled())
  end))

  it("closes <close> variables when a task fails or is cancelled, even if closing suspends", virtual(function()
    local log = {}
    local function closer(name)
      return setmetatable({}, { __close = function(_, e)
        aio.sleep(0) -- suspending while closing
        log[#log + 1] = name .. ":" .. (e and (type(e) == "table" and e.name or "err") or "ok")
      end })
    end
    local a = aio.spawn(function()
      local _ <close> = closer("a")
      error("fail")
    end)
    local b = aio.spawn(function()
      local _ <close> = closer("b")
      aio.sleep(10)
    end)
    aio.sleep(0)
    b:cancel()
    pcall(aio.await, a)
    pcall(aio.await, b)
    table.sort(log)
    assert.same({ "a:err", "b:CancelledError" }, log)
  end))
end)

describe("suspension points", function()
  it("suspending outside any task raises a clear error", function()
    local ok, e = pcall(aio.sleep, 0)
    if aio.current_task() then return end -- under the luaio binary this is the main task
    assert.is_false(ok)
    assert.matches("luaio.sleep: must be called from inside a task", e)
  end)

  it("a suspending function called from a callback names itself", virtual(function()
    local r = table.pack(outside_task(function() aio.sleep(0) end))
    assert.is_false(r[1])
    assert.matches("sleep", tostring(r[2]))
    assert.matches("must be called from inside a task", tostring(r[2]), 1, true)
  end))

  it("gather called from a callback names gather", virtual(function()
    local f = aio.Future()
    f:set_result(1)
    local r = table.pack(outside_task(function() aio.gather(f) end))
    assert.is_false(r[1])
    assert.matches("gather", tostring(r[2]))
  end))

  it("await, wait_for, wait, shield, TaskGroup and timeout called from a callback name themselves", virtual(function()
    local r = table.pack(outside_task(function()
      local out = {}
      local pending = aio.Future()
      for _, c in ipairs {
        { "await", function() aio.await(pending) end },
        { "await", function() pending:await() end },
        { "wait_for", function() aio.wait_for(pending, 1) end },
        { "wait", function() aio.wait({ pending }) end },
        { "shield", function() aio.shield(pending) end },
        { "TaskGroup", function() local _ <close> = aio.TaskGroup() end },
        { "timeout", function() local _ <close> = aio.timeout(1) aio.sleep(0) end },
      } do
        local ok, e = pcall(c[2])
        out[#out + 1] = { c[1], ok, tostring(e) }
      end
      return out
    end))
    assert.is_true(r[1])
    for _, row in ipairs(r[2]) do
      assert.is_false(row[2], row[1])
      assert.matches(row[1], row[3], 1, true)
    end
  end))

  it("the as_completed iterator called from a callback names as_completed", virtual(function()
    local r = table.pack(outside_task(function()
      for _ in aio.as_completed({ aio.Future() }) do end
    end))
    assert.is_false(r[1])
    assert.matches("as_completed", tostring(r[2]), 1, true)
  end))

  it("suspending across a C-call boundary raises instead of crashing", virtual(function()
    local ok, e = pcall(table.sort, { 3, 1, 2 }, function(a, b) aio.sleep(0) return a < b end)
    assert.is_false(ok)
    assert.matches("cannot suspend here", e)
  end))

  it("the C-call boundary error names the suspending function", virtual(function()
    local e = catch(table.sort, { 3, 2, 1 }, function(a, b) aio.sleep(0) return a < b end)
    assert.matches("sleep", tostring(e))
  end))

  it("suspending inside a string.gsub callback names the function", virtual(function()
    local e = catch(string.gsub, "abc", "b", function() aio.sleep(0) return "x" end)
    assert.matches("sleep", tostring(e))
  end))

  it("suspending from a plain coroutine inside a task raises", virtual(function()
    local co = coroutine.wrap(function() return pcall(aio.sleep, 0) end)
    local ok, e = co()
    assert.is_false(ok)
    assert.matches("not a task", e)
  end))
end)

describe("bad input", function()
  it("spawn, create_task, async, await and set_name check their arguments", virtual(function()
    assert.matches("bad argument #1 to 'spawn'", select(2, pcall(function() aio.spawn(42) end)))
    assert.matches("bad argument #1 to 'create_task'", select(2, pcall(aio.create_task, function() end)))
    assert.matches("bad argument #1 to 'async'", select(2, pcall(aio.async, "x")))
    assert.matches("bad argument #1 to 'await'", select(2, pcall(aio.await, 12)))
    assert.matches("got number", select(2, pcall(aio.await, 12)))
    assert.matches("bad argument #2 to 'create_task'", select(2, pcall(aio.create_task, aio.async(print)(), 5)))
  end))

  it("task methods reject a non-task self", virtual(function()
    local t = aio.spawn(function() end)
    assert.matches("Task expected", select(2, pcall(t.get_name, {})))
    assert.matches("Future expected", select(2, pcall(t.done, 1)))
    t:await()
  end))
end)

describe("Task as asyncio", function()
  -- Python:
  --   t = create_task(sleeper()); await asyncio.sleep(0)
  --   t.cancel("a"); t.cancel("b"); await t   -> CancelledError('a') (inside and outside)
  -- The first cancel cancels the sleep future with "a"; the second only sets _must_cancel,
  -- and __step keeps the CancelledError that is already being thrown. luaio delivers "b".
  it("a second cancel() does not replace the message of the first", virtual(function()
    local inner
    local t = aio.spawn(function()
      local _, e = pcall(aio.sleep, 1)
      inner = e
      error(e, 0)
    end)
    aio.sleep(0)
    assert.is_true(t:cancel("a"))
    assert.is_true(t:cancel("b"))
    local ok, err = pcall(t.await, t)
    assert.is_false(ok)
    assert.equal("a", inner.message)
    assert.equal("a", err.message)
  end))
end)

describe("Task regressions", function()
  -- task.c: cancelling a task whose wait cancels what it waits on looped forever when the
  -- waits formed a cycle (A awaits B awaits A; a gather of the task itself)
  it("cancelling a cycle of awaits ends every task in it", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        local a, b
        a = aio.spawn(function() aio.sleep(0) return b:await() end)
        b = aio.spawn(function() aio.sleep(0) return a:await() end)
        aio.sleep(0) aio.sleep(0)
        a:cancel()
        print(select(2, pcall(aio.await, a)).name, select(2, pcall(aio.await, b)).name)
        local g = aio.spawn(function() return aio.gather(aio.current_task()) end)
        aio.sleep(0)
        g:cancel()
        print(select(2, pcall(aio.await, g)).name)
      end)
    ]] }
    assert.equal(0, st)
    assert.equal("CancelledError\tCancelledError\nCancelledError\n", out)
  end)

  it("awaiting a done future or a coroutine object outside a task raises", virtual(function()
    -- a done future was returned from at once, as if a callback could await
    local f = aio.Future()
    f:set_result(1)
    for _, call in ipairs { function() return f:await() end, function() return aio.await(f) end,
                            function() return aio.async(function() return 1 end)():await() end } do
      local ok, err = outside_task(call)
      assert.is_false(ok)
      assert.matches("luaio.await: must be called from inside a task", err)
    end
  end))

  it("cancelling the head of a long chain of awaits ends every task of it", virtual(function()
    -- each awaiting task cancelled the one it awaited from inside the cancel, one Lua
    -- stack slot per level and no room checked: past a few dozen levels it wrote beyond
    -- the stack (valgrind saw it), and a long enough chain would exhaust the C stack
    local n, f, tasks = 400, aio.Future(), {}
    tasks[n] = aio.spawn(function() return f:await() end)
    for i = n - 1, 1, -1 do
      local nxt = tasks[i + 1]
      tasks[i] = aio.spawn(function() return nxt:await() end)
    end
    settle(2)
    assert.is_true(tasks[1]:cancel())
    aio.wait(tasks)
    for i = 1, n do assert.is_true(tasks[i]:cancelled(), "task " .. i) end
  end))
end)
