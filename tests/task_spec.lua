local aio = require "luaio"
local async = require "support.async"

describe("Task", function()
  it("runs a spawned function and returns all its results", async(function()
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

  it("does not start inside spawn or create_task, and starts in FIFO order", async(function()
    local order = {}
    local a = aio.spawn(function() order[#order + 1] = "a" end)
    local b = aio.create_task(aio.async(function() order[#order + 1] = "b" end)())
    local c = aio.spawn(function() order[#order + 1] = "c" end)
    assert.same({}, order)
    aio.gather(a, b, c)
    assert.same({ "a", "b", "c" }, order)
  end))

  it("round-robins tasks that sleep(0)", async(function()
    local order = {}
    local function worker(name)
      for i = 1, 3 do
        order[#order + 1] = name .. i
        aio.sleep(0)
      end
    end
    aio.gather(function() worker("a") end, function() worker("b") end)
    assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, order)
  end))

  it("sleep returns its extra arguments", async(function()
    assert.same({ 1, nil, "z" }, { aio.sleep(0, 1, nil, "z") })
    assert.same({ "x" }, { aio.sleep(0.001, "x") })
  end))

  it("sleeps at least the requested time on the loop clock", async(function()
    local t0 = aio.time()
    aio.sleep(0.02)
    assert.is_true(aio.time() - t0 >= 0.02)
  end))

  it("wakes sleepers in deadline order, equal deadlines in arming order", async(function()
    local order = {}
    local ts = {}
    for i, d in ipairs({ 0.03, 0.01, 0.02, 0.01 }) do
      ts[i] = aio.spawn(function() aio.sleep(d) order[#order + 1] = i end)
    end
    aio.gather(ts)
    assert.same({ 2, 4, 3, 1 }, order)
  end))

  it("current_task and all_tasks see the running tasks", async(function()
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

  it("has a default name Task-N and a settable one", async(function()
    local t = aio.spawn(function() end)
    assert.matches("^Task%-%d+$", t:get_name())
    t:set_name("worker")
    assert.equal("worker", t:get_name())
    assert.matches("worker", tostring(t))
    local n = aio.create_task(aio.async(function() end)(), "named")
    assert.equal("named", n:get_name())
    aio.gather(t, n)
  end))

  it("a plain coroutine.yield() inside a task acts as sleep(0)", async(function()
    local order = {}
    local a = aio.spawn(function() order[#order + 1] = 1; coroutine.yield(); order[#order + 1] = 3 end)
    local b = aio.spawn(function() order[#order + 1] = 2 end)
    aio.gather(a, b)
    assert.same({ 1, 2, 3 }, order)
  end))

  it("set_result and set_exception raise RuntimeError on a task", async(function()
    local t = aio.spawn(function() end)
    local ok, e = pcall(t.set_result, t, 1)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
    e = select(2, pcall(t.set_exception, t, "x"))
    assert.equal("RuntimeError", e.name)
    t:await()
  end))

  it("a task cannot await itself", async(function()
    local t
    t = aio.spawn(function() aio.sleep(0) return t:await() end)
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
  end))

  it("traceback() shows a suspended task's stack and a failure's traceback", async(function()
    local function deep() aio.sleep(10) end
    local t = aio.spawn(function() deep() end)
    aio.sleep(0)
    assert.matches("deep", t:traceback())
    t:cancel()
    local f = aio.spawn(function() error("boom") end)
    pcall(aio.await, f)
    assert.matches("stack traceback", f:traceback())
  end))
end)

describe("errors in tasks", function()
  it("reach the awaiting task unchanged, through several awaits", async(function()
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

  it("string errors keep their position", async(function()
    local t = aio.spawn(function() error("boom") end)
    local ok, e = pcall(t.await, t)
    assert.is_false(ok)
    assert.matches("task_spec.lua:%d+: boom", e)
  end))

  it("a re-raised error's traceback shows the awaited task's stack too", async(function()
    local function inner_fn() aio.sleep(0) error("deep failure") end
    local child = aio.spawn(inner_fn)
    local parent = aio.spawn(function() return child:await() end)
    pcall(aio.await, parent)
    local tb = parent:traceback()
    assert.matches("awaited task.*in function 'error'", tb)
  end))

  it("result() before done raises InvalidStateError", async(function()
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
  it("cancels a sleeping task, which ends cancelled", async(function()
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

  it("cancelling before the task starts means its body never runs", async(function()
    local ran = false
    local t = aio.spawn(function() ran = true end)
    assert.is_true(t:cancel("early"))
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("CancelledError", e.name)
    assert.equal("early", e.message)
    assert.is_false(ran)
  end))

  it("cancel after done returns false", async(function()
    local t = aio.spawn(function() return 1 end)
    t:await()
    assert.is_false(t:cancel())
    assert.is_false(t:cancelled())
  end))

  it("carries the cancel message", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel("stop now")
    local _, e = pcall(aio.await, t)
    assert.equal("stop now", e.message)
    assert.equal("CancelledError: stop now", tostring(e))
  end))

  it("can be caught with pcall; the task then goes on", async(function()
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

  it("aio.pcall never catches CancelledError", async(function()
    local caught = "no"
    local t = aio.spawn(function()
      local ok = aio.pcall(aio.sleep, 10)
      caught = ok and "yes" or "caught"
    end)
    aio.sleep(0)
    t:cancel()
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("CancelledError", e.name)
    assert.equal("no", caught)
    assert.same({ false, "x" }, { aio.pcall(error, "x", 0) })
    assert.same({ true, 1, 2 }, { aio.pcall(function() return 1, 2 end) })
  end))

  it("a running task that cancels itself gets it at its next suspension", async(function()
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

  it("counts requests with cancelling() and uncancel()", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel()
    t:cancel()
    assert.equal(2, t:cancelling())
    assert.equal(1, t:uncancel())
    pcall(aio.await, t)
  end))

  it("cancelling a task that awaits another cancels the awaited one", async(function()
    local inner = aio.spawn(function() aio.sleep(10) end)
    local outer = aio.spawn(function() return inner:await() end)
    aio.sleep(0)
    outer:cancel()
    pcall(aio.await, outer)
    assert.is_true(outer:cancelled())
    assert.is_true(inner:cancelled())
  end))

  it("closes <close> variables when a task fails or is cancelled, even if closing suspends", async(function()
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

describe("bad input", function()
  it("sleep rejects non-numbers with a standard argument error", async(function()
    local ok, e = pcall(function() aio.sleep("x") end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'sleep' %(number expected, got string%)", e)
    e = select(2, pcall(aio.sleep, 0 / 0))
    assert.matches("NaN", e)
    -- passed to pcall directly, the error still names the function as registered
    e = select(2, pcall(aio.sleep, "x"))
    assert.equal("bad argument #1 to 'sleep' (number expected, got string)", e)
    local f = aio.Future()
    assert.equal("bad argument #2 to 'add_done_callback' (function expected, got number)",
      select(2, pcall(f.add_done_callback, f, 1)))
  end))

  it("suspending outside a task raises a clear error", function()
    local ok, e = pcall(aio.sleep, 0)
    if aio.current_task() then return end -- under the luaio binary this is the main task
    assert.is_false(ok)
    assert.matches("luaio.sleep: must be called from inside a task", e)
  end)

  it("suspending across a C-call boundary raises instead of crashing", async(function()
    local ok, e = pcall(table.sort, { 3, 1, 2 }, function(a, b) aio.sleep(0) return a < b end)
    assert.is_false(ok)
    assert.matches("cannot suspend here", e)
  end))

  it("suspending from a plain coroutine inside a task raises", async(function()
    local co = coroutine.wrap(function() return pcall(aio.sleep, 0) end)
    local ok, e = co()
    assert.is_false(ok)
    assert.matches("not a task", e)
  end))

  it("spawn, create_task, async, await and set_name check their arguments", async(function()
    assert.matches("bad argument #1 to 'spawn'", select(2, pcall(function() aio.spawn(42) end)))
    assert.matches("bad argument #1 to 'create_task'", select(2, pcall(aio.create_task, function() end)))
    assert.matches("bad argument #1 to 'async'", select(2, pcall(aio.async, "x")))
    assert.matches("bad argument #1 to 'await'", select(2, pcall(aio.await, 12)))
    assert.matches("got number", select(2, pcall(aio.await, 12)))
    assert.matches("bad argument #2 to 'create_task'", select(2, pcall(aio.create_task, aio.async(print)(), 5)))
  end))

  it("task methods reject a non-task self", async(function()
    local t = aio.spawn(function() end)
    assert.matches("Task expected", select(2, pcall(t.get_name, {})))
    assert.matches("Future expected", select(2, pcall(t.done, 1)))
    t:await()
  end))
end)
