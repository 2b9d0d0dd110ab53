-- compose_spec.lua — gather, wait, wait_for, as_completed, shield, timeout and TaskGroup.
local aio = require "luaio"
local virtual = require "support.virtual"
local catch = require "support.catch"
local is_err = require "support.is_err"
local settle = require "support.settle"
local with_handler = require "support.with_handler"

local function later(v, d) return function() aio.sleep(d or 0) return v end end
local function failing(e, d) return function() aio.sleep(d or 0) error(e, 0) end end

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

describe("gather", function()
  it("returns first results in argument order, with n", virtual(function()
    local co = aio.async(function(x) aio.sleep(0.01) return x * 2, "ignored" end)
    local r = aio.gather(later("a", 0.02), co(21), aio.spawn(later("c")))
    assert.same({ "a", 42, "c", n = 3 }, r)
  end))

  it("takes tasks, coroutine objects, functions and futures", virtual(function()
    local f = aio.Future()
    aio.call_soon(function() f:set_result("fut", "ignored") end)
    local t = aio.spawn(function() aio.sleep(0.01) return "task" end)
    local r = aio.gather(t, aio.async(function() return "co", 2 end)(), function() return nil end, f)
    assert.same({ "task", "co", nil, "fut", n = 4 }, r)
  end))

  it("of nothing returns an empty list", virtual(function()
    assert.same({ n = 0 }, aio.gather())
    assert.same({ n = 0 }, aio.gather({}))
  end))

  it("takes a plain list of any length; an empty list gives n = 0", virtual(function()
    local list = {}
    for i = 1, 300 do list[i] = function() aio.sleep(0) return i end end
    local r = aio.gather(list)
    assert.equal(300, r.n)
    for i = 1, 300 do assert.equal(i, r[i]) end
    assert.same({ n = 0 }, aio.gather({}))
  end))

  it("keeps nil results in their slots and counts them in n", virtual(function()
    local r = aio.gather(function() return nil end, function() return 2 end, function() end)
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal(2, r[2])
    assert.is_nil(r[3])
    local empty = aio.gather()
    assert.equal(0, empty.n)
    assert.is_nil(empty[1])
  end))

  it("fills both slots when given the same awaitable twice", virtual(function()
    local t = aio.spawn(function() return 5 end)
    assert.same({ 5, 5, n = 2 }, aio.gather(t, t))
  end))

  it("runs its children concurrently", virtual(function()
    local log = {}
    local function w(id) log[#log + 1] = id .. "1" aio.sleep(0) log[#log + 1] = id .. "2" end
    aio.gather(function() w("a") end, function() w("b") end)
    assert.same({ "a1", "b1", "a2", "b2" }, log)
  end))

  it("re-raises the first error in time while the others keep running", virtual(function()
    local slow_done = false
    local slow = aio.spawn(function() aio.sleep(0.02) slow_done = true end)
    local ok, e = pcall(aio.gather, slow, failing("second", 0.01), failing("first", 0))
    assert.is_false(ok)
    assert.equal("first", e)
    assert.is_false(slow:done())
    slow:await()
    assert.is_true(slow_done)
  end))

  it("re-raises a failing child's error unchanged while a waiting child keeps running", virtual(function()
    local E = {}
    local other_done = false
    local gate = aio.Future()
    local other = aio.spawn(function() gate:await() other_done = true return "ok" end)
    local e = catch(aio.gather, other, function() error(E) end)
    assert.equal(E, e)
    assert.is_false(other:done())
    gate:set_result()
    assert.equal("ok", other:await())
    assert.is_true(other_done)
  end))

  it("lets function children run on after the first error and does not report their later errors", function()
    local finished = false
    local seen = with_handler(function()
      aio.run(function()
        local e = catch(aio.gather,
          function() error("acc3-first", 0) end,
          function() aio.sleep(0) aio.sleep(0) finished = true end,
          function() aio.sleep(0) error("acc3-second", 0) end)
        assert.equal("acc3-first", e)
        settle(4)
      end)
    end)
    assert.is_true(finished)
    assert.same({}, seen)
  end)

  it("return_exceptions puts error values, CancelledError included, in their slots", virtual(function()
    local E = {}
    local c = aio.spawn(function() aio.sleep(10) end)
    aio.call_soon(function() c:cancel() end)
    local r = aio.gather({ function() return 1 end, function() error(E) end, c }, { return_exceptions = true })
    assert.equal(3, r.n)
    assert.equal(1, r[1])
    assert.equal(E, r[2])
    is_err("CancelledError", r[3])
  end))

  it("raises CancelledError when a child is cancelled", virtual(function()
    local v = aio.spawn(function() aio.sleep(10) end)
    aio.call_soon(function() v:cancel() end)
    is_err("CancelledError", catch(aio.gather, v, function() return 1 end))
  end))

  it("cancelling the gathering task cancels its children", virtual(function()
    local c1 = aio.spawn(function() aio.sleep(10) end)
    local c2 = aio.spawn(function() aio.sleep(10) end)
    local g = aio.spawn(function() return aio.gather(c1, c2) end)
    aio.sleep(0)
    aio.sleep(0)
    g:cancel()
    is_err("CancelledError", catch(aio.await, g))
    settle(2)
    assert.is_true(c1:cancelled())
    assert.is_true(c2:cancelled())
  end))

  it("cancelling the gathering task cancels a child future too", virtual(function()
    local c1 = aio.spawn(function() aio.sleep(10) end)
    local c2 = aio.Future()
    local g = aio.spawn(function() return aio.gather(c1, c2) end)
    settle(2)
    g:cancel()
    is_err("CancelledError", catch(aio.await, g))
    settle(2)
    assert.is_true(c1:cancelled())
    assert.is_true(c2:cancelled())
  end))

  it("checks its arguments", virtual(function()
    assert.matches("bad argument #2 to 'gather'", select(2, pcall(aio.gather, later(1), 42)))
    assert.matches("unknown option 'return_exception'",
      select(2, pcall(aio.gather, {}, { return_exception = true })))
  end))

  it("names an unknown option and itself in the error", virtual(function()
    local e = catch(aio.gather, { function() end }, { return_exception = true })
    assert.matches("return_exception", tostring(e), 1, true)
    assert.matches("gather", tostring(e))
  end))

  it("rejects a non-awaitable argument naming gather", virtual(function()
    local e = catch(aio.gather, 42)
    assert.matches("gather", tostring(e))
    e = catch(aio.gather, { "str" })
    assert.matches("gather", tostring(e))
  end))
end)

describe("wait", function()
  it("waits for all by default and returns done and pending", virtual(function()
    local a = aio.spawn(function() aio.sleep(0) return 1 end)
    local b = aio.spawn(function() return 2 end)
    local done, pending = aio.wait({ a, b })
    assert.equal(2, #done)
    assert.equal(0, #pending)
    assert.is_true(contains(done, a) and contains(done, b))
  end))

  it("FIRST_COMPLETED and a timeout leave the rest pending and running", virtual(function()
    local ev = aio.Event()
    local a = aio.spawn(function() return 1 end)
    local b = aio.spawn(function() ev:wait() return 2 end)
    local done, pending = aio.wait({ a, b }, { return_when = "FIRST_COMPLETED" })
    assert.same({ a }, done)
    assert.same({ b }, pending)
    done, pending = aio.wait({ b }, { timeout = 0.01 })
    assert.same({}, done)
    assert.same({ b }, pending)
    assert.is_false(b:done())
    ev:set()
    assert.equal(2, b:await())
  end))

  it("FIRST_EXCEPTION returns the finished and the failed awaitables at the first failure", virtual(function()
    local a, b, c = aio.spawn(later(1)), aio.spawn(failing("x", 0.01)), aio.spawn(later(3, 10))
    local done, pending = aio.wait({ a, b, c }, { return_when = "FIRST_EXCEPTION" })
    assert.equal(2, #done)
    assert.same({ c }, pending)
    c:cancel()
  end))

  it("FIRST_EXCEPTION returns at the first failure, or waits for all without one", virtual(function()
    local gate = aio.Future()
    local slow = aio.spawn(function() gate:await() end)
    local bad = aio.spawn(function() aio.sleep(0) error("x") end)
    local done, pending = aio.wait({ slow, bad }, { return_when = "FIRST_EXCEPTION" })
    assert.same({ bad }, done)
    assert.same({ slow }, pending)
    bad:exception()
    gate:set_result()
    local a = aio.spawn(function() return 1 end)
    local b = aio.spawn(function() aio.sleep(0) return 2 end)
    done, pending = aio.wait({ a, b, slow }, { return_when = "FIRST_EXCEPTION" })
    assert.equal(3, #done)
    assert.equal(0, #pending)
  end))

  it("returns what is done when the timeout passes, without cancelling the rest", virtual(function()
    local gate = aio.Future()
    local slow = aio.spawn(function() gate:await() end)
    local done, pending = aio.wait({ slow }, { timeout = 0.005 })
    assert.same({}, done)
    assert.same({ slow }, pending)
    assert.is_false(slow:cancelled())
    assert.is_false(slow:done())
    gate:set_result()
    slow:await()
  end))

  it("raises ValueError for an empty list", virtual(function()
    is_err("ValueError", catch(aio.wait, {}))
  end))

  it("rejects an empty list, bad options and bad return_when", virtual(function()
    local ok, e = pcall(aio.wait, {})
    assert.is_false(ok)
    assert.equal("ValueError", e.name)
    assert.matches("unknown option 'timout'", select(2, pcall(aio.wait, { later(1) }, { timout = 1 })))
    assert.equal("ValueError", select(2, pcall(aio.wait, { later(1) }, { return_when = "SOMETIMES" })).name)
    assert.matches("bad argument #1 to 'wait'", select(2, pcall(aio.wait, 5)))
  end))
end)

describe("wait_for", function()
  it("returns all results of the awaitable when it is in time", virtual(function()
    local r = table.pack(aio.wait_for(aio.spawn(function() return 1, nil, 3 end), 1))
    assert.equal(3, r.n)
    assert.same({ 1, nil, 3 }, { r[1], r[2], r[3] })
    local co = aio.async(function() aio.sleep(0) return "co" end)()
    assert.equal("co", aio.wait_for(co, 1))
  end))

  it("cancels the awaitable and raises TimeoutError when late", virtual(function()
    local saw_cancel = false
    local t = aio.spawn(function()
      local ok, e = pcall(aio.sleep, 10)
      saw_cancel = not ok and e.name == "CancelledError"
      error(e, 0)
    end)
    local e = catch(aio.wait_for, t, 0.005)
    is_err("TimeoutError", e)
    assert.is_string(e.message)
    assert.is_true(saw_cancel)
    assert.is_true(t:cancelled())
  end))

  it("re-raises the awaitable's error unchanged", virtual(function()
    local E = {}
    assert.equal(E, catch(aio.wait_for, aio.spawn(function() error(E) end), 1))
  end))

  it("without a timeout just awaits", virtual(function()
    assert.equal(5, aio.wait_for(aio.spawn(later(5, 0.01))))
  end))

  it("with a nil timeout waits without a limit", virtual(function()
    local t = aio.spawn(function() aio.sleep(0.01) return "ok" end)
    assert.equal("ok", aio.wait_for(t, nil))
  end))

  it("rejects a non-number timeout naming wait_for", virtual(function()
    local f = aio.Future()
    f:set_result()
    local e = catch(aio.wait_for, f, "1")
    assert.matches("wait_for", tostring(e))
  end))
end)

describe("as_completed", function()
  it("yields each awaitable as it finishes, in finishing order", virtual(function()
    local g1, g2 = aio.Future(), aio.Future()
    local a = aio.spawn(function() g1:await() return "a" end)
    local b = aio.spawn(function() g2:await() return "b" end)
    local c = aio.spawn(function() return "c" end)
    aio.call_soon(function() g2:set_result() end)
    local order = {}
    local n = 0
    for aw in aio.as_completed({ a, b, c }) do
      n = n + 1
      if n == 2 then g1:set_result() end
      order[#order + 1] = aw:await()
    end
    assert.same({ "c", "b", "a" }, order)
  end))

  it("yields the awaitables themselves", virtual(function()
    local f1, f2, f3 = aio.Future(), aio.Future(), aio.Future()
    aio.spawn(function()
      aio.sleep(0) f2:set_result("two")
      aio.sleep(0) f3:set_result("three")
      aio.sleep(0) f1:set_result("one")
    end)
    local got, ids = {}, {}
    for aw in aio.as_completed({ f1, f2, f3 }) do
      got[#got + 1] = aio.await(aw)
      ids[#ids + 1] = aw
    end
    assert.same({ "two", "three", "one" }, got)
    assert.equal(f2, ids[1])
    assert.equal(f3, ids[2])
    assert.equal(f1, ids[3])
  end))

  it("raises TimeoutError when the rest are late", virtual(function()
    local gate = aio.Future()
    local quick = aio.spawn(function() return 1 end)
    local slow = aio.spawn(function() gate:await() end)
    local got = {}
    local e = catch(function()
      for aw in aio.as_completed({ quick, slow }, 0.005) do got[#got + 1] = aw:await() end
    end)
    is_err("TimeoutError", e)
    assert.same({ 1 }, got)
    gate:set_result()
    slow:await()
  end))

  it("raises TimeoutError when nothing finishes in time", virtual(function()
    local f = aio.Future()
    local e = catch(function()
      for aw in aio.as_completed({ f }, 0.01) do aio.await(aw) end
    end)
    is_err("TimeoutError", e)
  end))
end)

describe("shield", function()
  it("re-raises the shielded task's error with the stack where it failed", virtual(function()
    local function shielded_body() aio.sleep(0) error("shielded-boom") end
    local inner = aio.spawn(shielded_body)
    local outer = aio.spawn(function() aio.shield(inner) end)
    assert.is_false(pcall(outer.await, outer))
    assert.is_false(pcall(inner.await, inner))
    local tb = outer:traceback()
    assert.matches("shielded%-boom", tostring(outer:exception()))
    assert.truthy(tb:find("(raised in an awaited task)", 1, true), tb)
    assert.truthy(tb:find("shielded_body", 1, true) or tb:find(debug.getinfo(shielded_body, "S").short_src .. ":"
      .. debug.getinfo(shielded_body, "S").linedefined, 1, true), tb)
  end))

  it("returns all results of the awaitable", virtual(function()
    local r = table.pack(aio.shield(aio.spawn(function() aio.sleep(0) return "s", nil end)))
    assert.equal(2, r.n)
    assert.equal("s", r[1])
  end))

  it("returns a coroutine object's results and keeps a task from the caller's cancellation", virtual(function()
    assert.same({ 1, 2 }, { aio.shield(aio.async(function() return 1, 2 end)()) })
    local ev = aio.Event()
    local inner = aio.spawn(function() ev:wait() return "inner" end)
    local caller = aio.spawn(function() return aio.shield(inner) end)
    aio.sleep(0)
    caller:cancel()
    is_err("CancelledError", catch(aio.await, caller))
    assert.is_false(inner:cancelled())
    ev:set()
    assert.equal("inner", inner:await())
  end))

  it("cancelling the caller raises CancelledError in it but does not cancel the inner task", virtual(function()
    local gate = aio.Future()
    local inner = aio.spawn(function() gate:await() return "inner-done" end)
    local caller = aio.spawn(function() return aio.shield(inner) end)
    settle(2)
    caller:cancel()
    is_err("CancelledError", catch(aio.await, caller))
    assert.is_false(inner:cancelled())
    assert.is_false(inner:done())
    gate:set_result()
    assert.equal("inner-done", inner:await())
  end))
end)

describe("timeout", function()
  it("raises TimeoutError from a block that runs too long", virtual(function()
    local after = false
    local ok, e = pcall(function()
      local _ <close> = aio.timeout(0.01)
      aio.sleep(10)
      after = true
    end)
    assert.is_false(ok)
    assert.equal("TimeoutError", e.name)
    assert.is_false(after)
    assert.equal(0, aio.current_task():cancelling())
  end))

  it("raises TimeoutError once the delay has passed and leaves the task uncancelled", virtual(function()
    local t0 = aio.time()
    local e = catch(function()
      local _ <close> = aio.timeout(0.02)
      aio.sleep(10)
    end)
    is_err("TimeoutError", e)
    assert.is_true(aio.time() - t0 >= 0.019)
    assert.equal(0, aio.current_task():cancelling())
    aio.sleep(0) -- the task is not left cancelled
  end))

  it("cancels the block with CancelledError and raises TimeoutError from it", virtual(function()
    local inner
    local function block()
      local _ <close> = aio.timeout(0.005)
      local ok, e = pcall(aio.sleep, 10)
      inner = e
      if not ok then error(e, 0) end
    end
    local e = catch(block)
    is_err("TimeoutError", e)
    is_err("CancelledError", inner)
    -- the task itself is not left cancelled
    assert.equal(0, aio.current_task():cancelling())
    aio.sleep(0)
  end))

  it("expired() is false after a block that finished in time", virtual(function()
    local t <close> = aio.timeout(1)
    aio.sleep(0.001)
    assert.is_false(t:expired())
  end))

  it("a block that finishes in time returns its value, and nothing fires later", virtual(function()
    local function f()
      local _ <close> = aio.timeout(1)
      aio.sleep(0)
      return "done"
    end
    assert.equal("done", f())
    aio.sleep(0.01)
  end))

  it("can be rescheduled and read", virtual(function()
    local _, e = pcall(function()
      local t <close> = aio.timeout(nil)
      assert.is_nil(t:when())
      t:reschedule(aio.time() + 0.01)
      assert.is_number(t:when())
      aio.sleep(10)
    end)
    assert.equal("TimeoutError", e.name)
  end))

  it("lets an outer cancellation through as CancelledError", virtual(function()
    local t = aio.spawn(function()
      local _ <close> = aio.timeout(5)
      aio.sleep(10)
    end)
    aio.sleep(0)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_true(t:cancelled())
  end))

  it("rejects a non-number delay with an argument error naming timeout", virtual(function()
    local e = catch(aio.timeout, "soon")
    assert.matches("bad argument #1 to 'timeout'", tostring(e), 1, true)
  end))
end)

describe("TaskGroup", function()
  it("waits for every child when the block ends", virtual(function()
    local done = {}
    do
      local tg <close> = aio.TaskGroup()
      for i = 1, 3 do tg:spawn(function() aio.sleep(0.001 * i) done[#done + 1] = i end) end
      tg:create_task(aio.async(function() done[#done + 1] = "c" end)())
    end
    assert.same({ "c", 1, 2, 3 }, done)
  end))

  it("spawn and create_task return the child tasks", virtual(function()
    local log = {}
    local t1, t2
    do
      local tg <close> = aio.TaskGroup()
      t1 = tg:spawn(function(x) aio.sleep(0.002) log[#log + 1] = x return x end, "a")
      t2 = tg:create_task(aio.async(function() aio.sleep(0) log[#log + 1] = "b" return "b" end)())
      assert.same({}, log)
    end
    table.sort(log)
    assert.same({ "a", "b" }, log)
    assert.equal("a", t1:result())
    assert.equal("b", t2:result())
  end))

  it("children may add more children while the block is exiting", virtual(function()
    local log = {}
    do
      local tg <close> = aio.TaskGroup()
      tg:spawn(function()
        aio.sleep(0)
        tg:spawn(function() aio.sleep(0) log[#log + 1] = "grandchild" end)
        log[#log + 1] = "child"
      end)
    end
    assert.same({ "child", "grandchild" }, log)
  end))

  it("the first failure cancels the rest and raises an ExceptionGroup", virtual(function()
    local cancelled = false
    local ok, e = pcall(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function()
        local ok2, err = pcall(aio.sleep, 10)
        cancelled = not ok2 and err.name == "CancelledError"
        error(err, 0)
      end)
      tg:spawn(failing("boom", 0.001))
      aio.sleep(10) -- the block itself is interrupted
    end)
    assert.is_false(ok)
    assert.equal("ExceptionGroup", e.name)
    assert.same({ "boom" }, e.errors)
    assert.is_true(cancelled)
    assert.equal(0, aio.current_task():cancelling())
  end))

  it("lists failures in the order they happened; a re-raised CancelledError is not a failure", virtual(function()
    local EA, EB = { "a" }, { "b" }
    local c_cancelled = false
    local e = catch(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() -- spawned first, fails second (while being cancelled)
        local ok, err = pcall(aio.sleep, 10)
        assert(not ok and err.name == "CancelledError")
        error(EB)
      end)
      tg:spawn(function() aio.sleep(0) error(EA) end)
      tg:spawn(function()
        local ok, err = pcall(aio.sleep, 10)
        c_cancelled = not ok
        error(err) -- re-raised CancelledError: a cancellation, not a failure
      end)
    end)
    is_err("ExceptionGroup", e)
    assert.is_true(c_cancelled)
    assert.equal(2, #e.errors)
    assert.equal(EA, e.errors[1])
    assert.equal(EB, e.errors[2])
  end))

  it("a child failing while being cancelled counts as a failure, listed after the first", virtual(function()
    local E1, E2 = { "first" }, { "second" }
    local sibling
    local function block()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() aio.sleep(0) error(E1) end)
      tg:spawn(function()
        -- fails in its cleanup after being cancelled: that is a failure too
        pcall(aio.sleep, 10)
        error(E2)
      end)
      sibling = tg:spawn(function() aio.sleep(10) end)
    end
    local e = catch(block)
    is_err("ExceptionGroup", e)
    assert.is_table(e.errors)
    assert.equal(2, #e.errors)
    assert.equal(E1, e.errors[1])
    assert.equal(E2, e.errors[2])
    assert.is_true(sibling:cancelled())
  end))

  it("a child failure also cancels the body of the block", virtual(function()
    local E = {}
    local body_saw
    local function block()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error(E) end)
      local ok, ce = pcall(aio.sleep, 10)
      body_saw = ce
      if not ok then error(ce, 0) end
    end
    local e = catch(block)
    is_err("CancelledError", body_saw)
    is_err("ExceptionGroup", e)
    assert.equal(1, #e.errors)
    assert.equal(E, e.errors[1])
    assert.equal(0, aio.current_task():cancelling())
  end))

  it("cancellations of children are not failures", virtual(function()
    local function block()
      local tg <close> = aio.TaskGroup()
      local t = tg:spawn(function() aio.sleep(10) end)
      tg:spawn(function() aio.sleep(0) t:cancel() return 1 end)
    end
    block() -- no error
  end))

  it("the block's own error cancels the children and comes last", virtual(function()
    local E_child, E_block = { "child" }, { "block" }
    local victim
    local function block()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error(E_child) end)
      victim = tg:spawn(function() aio.sleep(10) end)
      -- the child's failure cancels the rest, the body included (as asyncio); catch that
      local ok, ce = pcall(aio.sleep, 10)
      assert(not ok and ce.name == "CancelledError")
      error(E_block)
    end
    local e = catch(block)
    is_err("ExceptionGroup", e)
    assert.equal(2, #e.errors)
    assert.equal(E_child, e.errors[1])
    assert.equal(E_block, e.errors[2])
    assert.is_true(victim:cancelled())
  end))

  it("a block error alone cancels the children and is wrapped", virtual(function()
    local BODY = {}
    local child
    local e = catch(function()
      local tg <close> = aio.TaskGroup()
      child = tg:spawn(function() aio.sleep(10) end)
      aio.sleep(0)
      error(BODY)
    end)
    is_err("ExceptionGroup", e)
    assert.same({ BODY }, e.errors)
    assert.is_true(child:cancelled())
  end))

  it("a cancellation of the enclosing task propagates unwrapped", virtual(function()
    local child
    local t = aio.spawn(function()
      local tg <close> = aio.TaskGroup()
      child = tg:spawn(function() aio.sleep(10) end)
      aio.sleep(10)
    end)
    aio.sleep(0)
    t:cancel()
    local e = catch(aio.await, t)
    is_err("CancelledError", e)
    assert.is_true(child:cancelled())
    assert.is_true(t:cancelled())
  end))

  it("refuses new tasks once finished", virtual(function()
    local saved
    do
      local tg <close> = aio.TaskGroup()
      saved = tg
    end
    is_err("RuntimeError", catch(saved.spawn, saved, function() end))
  end))
end)

describe("compose as asyncio", function()
  -- Python (3.11 and 3.12 alike; gather's _done_callback sets the child's exception on the
  -- outer future even while the gather is being cancelled):
  --   async def raiser():
  --       try: await asyncio.sleep(1)
  --       except asyncio.CancelledError: raise KeyError("k")
  --   t = asyncio.create_task(caller())   # caller: return await asyncio.gather(raiser())
  --   await asyncio.sleep(0.01); t.cancel()
  --   await t  -> raises KeyError; t.cancelled() == False
  -- (plain `await task` behaves the same way in both: KeyError.) luaio: CancelledError, cancelled.
  it("gather whose caller is cancelled re-raises a child's error raised in response", virtual(function()
    local t = aio.spawn(function()
      return aio.gather(function()
        pcall(aio.sleep, 1)
        error({ name = "KeyError" })
      end)
    end)
    aio.sleep(0.01)
    t:cancel()
    local ok, err = pcall(t.await, t)
    assert.is_false(ok)
    assert.equal("KeyError", type(err) == "table" and err.name or tostring(err))
    assert.is_false(t:cancelled())
  end))

  -- Python (3.11 and 3.12: wait_for special-cases timeout <= 0: ensure_future, and if not
  -- already done, cancel it and wait, then raise TimeoutError — the coroutine never runs):
  --   async def quick(): print("quick ran"); return 1
  --   await asyncio.wait_for(quick(), 0)   -> TimeoutError, nothing printed
  -- luaio prints "quick ran" (the body runs, with its side effects) then raises TimeoutError.
  it("wait_for with timeout <= 0 cancels a not-yet-started awaitable without running it", virtual(function()
    for _, timeout in ipairs({ 0, -1 }) do
      local ran = false
      local ok, err = pcall(aio.wait_for, aio.async(function() ran = true return 1 end)(), timeout)
      assert.is_false(ok)
      assert.equal("TimeoutError", type(err) == "table" and err.name or tostring(err))
      assert.is_false(ran)
    end
  end))
end)
