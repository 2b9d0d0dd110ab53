-- acceptance_spec.lua — black-box checks of awaiting, running the loop, tasks and futures,
-- composition and the error objects, written from the documented contract alone
-- (docs/reference/), as an outside acceptance suite would. Queues, synchronisation, streams,
-- the scheduler and the CLI are in acceptance2_spec.lua.
local aio = require "luaio"
local async = require "support.async"

local function catch(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end

local function is_err(name, e)
  assert.is_table(e, "expected an error table, got " .. tostring(e))
  assert.equal(name, e.name)
  assert.equal(aio[name], getmetatable(e))
  -- a CancelledError without a message has message == nil (see acceptance_bugs.lua)
  if e.message ~= nil or name ~= "CancelledError" then
    assert.is_string(e.message)
    assert.equal(name .. ": " .. e.message, tostring(e))
  end
end

local function steps(n)
  for _ = 1, n or 5 do aio.sleep(0) end
end

-- run `fn` from a plain loop callback (outside every task) and return pcall's results
local function from_callback(fn)
  local res
  aio.call_soon(function() res = table.pack(pcall(fn)) end)
  while not res do aio.sleep(0) end
  return table.unpack(res, 1, res.n)
end

describe("acceptance §1 awaiting", function()
  it("suspending functions raise a clear error naming the function outside a task", async(function()
    local ok, e = from_callback(function() aio.sleep(0) end)
    assert.is_false(ok)
    assert.matches("sleep", tostring(e))
    assert.matches("inside a task", tostring(e))
  end))

  it("suspending across a C-call boundary raises an error naming the function", async(function()
    local e = catch(table.sort, { 3, 2, 1 }, function(a, b) aio.sleep(0) return a < b end)
    assert.matches("sleep", tostring(e))
  end))

  it("aio.async returns a function whose call gives an unstarted coroutine object", async(function()
    local ran = false
    local af = aio.async(function(a, b) ran = true return a + b end)
    assert.is_function(af)
    local co = af(1, 2)
    steps(3)
    assert.is_false(ran)
    assert.equal(3, aio.await(co))
    assert.is_true(ran)
  end))

  it("await returns all results of futures, tasks and coroutine objects", async(function()
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

  it("await re-raises the error value unchanged", async(function()
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

  it("awaiting a coroutine object runs it inside the current task", async(function()
    local me = aio.current_task()
    local inner
    aio.await(aio.async(function() aio.sleep(0) inner = aio.current_task() end)())
    assert.equal(me, inner)
  end))

  it("awaiting anything else raises an error saying what was given", async(function()
    local e = catch(aio.await, 42)
    assert.matches("number", tostring(e))
    e = catch(aio.await, "str")
    assert.matches("string", tostring(e))
  end))

  it("awaiting a done future is not a suspension point; a pending cancel arrives at the next one", async(function()
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
end)

describe("acceptance §2 aio.run", function()
  local proc = require "support.proc"

  it("runs a function with its arguments and returns all its results (fresh lua5.4)", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      local r = table.pack(aio.run(function(a, b) aio.sleep(0) return a + b, nil, "x" end, 1, 2))
      print(r.n, r[1], r[2], r[3])
    ]] }
    assert.equal(0, st)
    assert.equal("3\t3\tnil\tx\n", out)
  end)

  it("accepts a coroutine object as main", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      print(aio.run(aio.async(function(x) aio.sleep(0) return x * 2 end)(21)))
    ]] }
    assert.equal(0, st)
    assert.equal("42\n", out)
  end)

  it("cancels and drains the tasks still alive when main finishes", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        aio.spawn(function()
          local ok, e = pcall(aio.sleep, 10)
          aio.sleep(0) -- cleanup may still suspend while draining
          print("bg", ok, e.name)
        end)
        aio.sleep(0)
        return
      end)
      print("after")
    ]] }
    assert.equal(0, st)
    assert.equal("bg\tfalse\tCancelledError\nafter\n", out)
  end)

  it("re-raises main's error", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      local E = {}
      local ok, e = pcall(aio.run, function() aio.sleep(0) error(E) end)
      print(ok, e == E)
    ]] }
    assert.equal(0, st)
    assert.equal("false\ttrue\n", out)
  end)

  it("can be called again after it returned", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      print(aio.run(function() aio.sleep(0) return 1 end))
      print(aio.run(function() aio.sleep(0) return 2 end))
    ]] }
    assert.equal(0, st)
    assert.equal("1\n2\n", out)
  end)

  it("inside a running task awaits main in place; tasks started meanwhile keep running", async(function()
    local bg
    local r = table.pack(aio.run(function(x)
      bg = aio.spawn(function() aio.sleep(0) aio.sleep(0) return "bg" end)
      aio.sleep(0)
      return x, "y"
    end, "x"))
    assert.same({ "x", "y", n = 2 }, r)
    assert.is_false(bg:cancelled())
    assert.equal("bg", bg:await())
  end))

  it("raises RuntimeError when called from a plain callback while the loop runs", async(function()
    local ok, e = from_callback(function() return aio.run(function() end) end)
    assert.is_false(ok)
    is_err("RuntimeError", e)
  end))

  it("raises RuntimeError naming the deadlock instead of hanging", function()
    local st, out = proc.run { lua = true, timeout = 10, code = [[
      local aio = require "luaio"
      local ok, e = pcall(aio.run, function() aio.Future():await() end)
      print(ok, type(e) == "table" and e.name, tostring(e):lower():find("deadlock") ~= nil)
    ]] }
    assert.equal(0, st)
    assert.equal("false\tRuntimeError\ttrue\n", out)
  end)

  it("under the luaio binary, aio.run inside the main chunk awaits in place", function()
    local st, out = proc.run { code = [[
      local aio = require "luaio"
      print(aio.run(function()
        aio.spawn(function() aio.sleep(0.01) print("bg done") end)
        return 7
      end))
      aio.sleep(0.05)
      print("end")
    ]] }
    assert.equal(0, st)
    assert.equal("7\nbg done\nend\n", out)
  end)
end)

describe("acceptance §3 tasks and futures", function()
  it("create_task takes a name and starts later, FIFO", async(function()
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

  it("sleep(0) yields to every other ready task once", async(function()
    local order = {}
    aio.spawn(function() order[#order + 1] = "a" aio.sleep(0) order[#order + 1] = "a2" end)
    aio.spawn(function() order[#order + 1] = "b" end)
    aio.sleep(0)
    order[#order + 1] = "main"
    aio.sleep(0)
    assert.same({ "a", "b", "main", "a2" }, order)
  end))

  it("sleep accepts fractional seconds and returns the extra arguments", async(function()
    local t0 = aio.time()
    local r = table.pack(aio.sleep(0.015, "a", nil, 3))
    assert.is_true(aio.time() - t0 >= 0.014)
    assert.same({ "a", nil, 3, n = 3 }, r)
  end))

  it("sleep with a wrong type raises an ordinary argument error", async(function()
    local e = catch(function() return aio.sleep("x") end)
    assert.matches("bad argument #1 to 'sleep' (number expected, got string)", tostring(e), 1, true)
    e = catch(aio.sleep, "x")
    assert.matches("bad argument #1 to '[%w%.]*sleep' %(number expected, got string%)", tostring(e))
  end))

  it("current_task is nil outside a task; all_tasks lists live tasks", async(function()
    local ok, t = from_callback(aio.current_task)
    assert.is_true(ok)
    assert.is_nil(t)
    local ev = aio.Event()
    local w = aio.spawn(function() ev:wait() end)
    aio.sleep(0)
    local seen = {}
    for _, x in ipairs(aio.all_tasks()) do seen[x] = true end
    assert.is_true(seen[w])
    assert.is_true(seen[aio.current_task()])
    ev:set()
    w:await()
    seen = {}
    for _, x in ipairs(aio.all_tasks()) do seen[x] = true end
    assert.is_nil(seen[w])
  end))

  it("dump_tasks writes every live task with its name and stack", async(function()
    local ev = aio.Event()
    local function waiter_fn_xyz() ev:wait() end
    local t = aio.create_task(aio.async(waiter_fn_xyz)(), "dumped-task-name")
    aio.sleep(0)
    local f = io.tmpfile()
    aio.dump_tasks(f)
    f:seek("set")
    local s = f:read("a")
    f:close()
    assert.matches("dumped-task-name", s, 1, true)
    assert.matches('"dumped%-task%-name" waiting[^\n]*\n.*acceptance_spec%.lua:%d+', s)
    ev:set()
    t:await()
  end))

  it("aio.time is a monotonic clock in seconds", async(function()
    local a = aio.time()
    assert.is_number(a)
    aio.sleep(0.01)
    local b = aio.time()
    assert.is_true(b >= a + 0.009 and b < a + 5)
  end))

  it("call_soon runs callbacks FIFO with arguments; handles cancel", async(function()
    local got = {}
    aio.call_soon(function(x, y) got[#got + 1] = x .. y end, "a", "b")
    local h = aio.call_soon(function() got[#got + 1] = "cancelled" end)
    aio.call_soon(function(x) got[#got + 1] = x end, "c")
    h:cancel()
    assert.same({}, got)
    steps(2)
    assert.same({ "ab", "c" }, got)
  end))

  it("call_later and call_at run after their delay; cancel stops them", async(function()
    local got = {}
    local f = aio.Future()
    aio.call_later(0.02, function(x) got[#got + 1] = x f:set_result() end, "later")
    aio.call_at(aio.time() + 0.01, function(x) got[#got + 1] = x end, "at")
    local h = aio.call_later(0.005, function() got[#got + 1] = "no" end)
    h:cancel()
    f:await()
    assert.same({ "at", "later" }, got)
  end))
end)

describe("acceptance §3 Future methods", function()
  it("a new Future is pending; result/exception raise InvalidStateError", async(function()
    local f = aio.Future()
    assert.is_false(f:done())
    assert.is_false(f:cancelled())
    is_err("InvalidStateError", catch(f.result, f))
    is_err("InvalidStateError", catch(f.exception, f))
  end))

  it("result returns all values; exception is nil on success", async(function()
    local f = aio.Future()
    f:set_result(1, nil, 3)
    assert.is_true(f:done())
    local r = table.pack(f:result())
    assert.equal(3, r.n)
    assert.same({ 1, nil, 3 }, { r[1], r[2], r[3] })
    assert.is_nil(f:exception())
  end))

  it("set_exception: result raises it, exception returns it", async(function()
    local f = aio.Future()
    local E = { "boom" }
    f:set_exception(E)
    assert.is_true(f:done())
    assert.equal(E, catch(f.result, f))
    assert.equal(E, f:exception())
  end))

  it("setting a done future raises InvalidStateError", async(function()
    local f = aio.Future()
    f:set_result(1)
    is_err("InvalidStateError", catch(f.set_result, f, 2))
    is_err("InvalidStateError", catch(f.set_exception, f, "x"))
    assert.equal(1, f:result())
  end))

  it("cancel returns true once; result then raises CancelledError with the message", async(function()
    local f = aio.Future()
    assert.is_true(f:cancel("why"))
    assert.is_true(f:cancelled())
    assert.is_true(f:done())
    local e = catch(f.result, f)
    is_err("CancelledError", e)
    assert.equal("why", e.message)
    assert.is_false(f:cancel())
    local g = aio.Future()
    g:set_result(1)
    assert.is_false(g:cancel())
  end))

  it("add_done_callback calls fn(fut) via the loop, never synchronously", async(function()
    local f = aio.Future()
    local calls = {}
    f:add_done_callback(function(x) calls[#calls + 1] = x end)
    f:set_result(1)
    assert.same({}, calls)
    aio.sleep(0)
    assert.equal(1, #calls)
    assert.equal(f, calls[1])
    f:add_done_callback(function() calls[#calls + 1] = "late" end)
    assert.equal(1, #calls)
    aio.sleep(0)
    assert.equal("late", calls[2])
  end))

  it("remove_done_callback removes it", async(function()
    local f = aio.Future()
    local called = false
    local cb = function() called = true end
    f:add_done_callback(cb)
    assert.equal(1, f:remove_done_callback(cb))
    f:set_result()
    steps(2)
    assert.is_false(called)
  end))

  it("set_result / set_exception on a Task raise RuntimeError", async(function()
    local t = aio.spawn(function() aio.sleep(0) end)
    is_err("RuntimeError", catch(t.set_result, t, 1))
    is_err("RuntimeError", catch(t.set_exception, t, "x"))
    t:await()
  end))

  it("traceback returns a string", async(function()
    local t = aio.spawn(function() aio.sleep(0) error("tb-fail") end)
    pcall(aio.await, t)
    assert.is_string(t:traceback())
    assert.matches("acceptance_spec%.lua:%d+", t:traceback())
  end))
end)

describe("acceptance §3 cancellation", function()
  it("cancel(msg) raises CancelledError at the suspension point; the task may catch it", async(function()
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

  it("a task that lets it propagate ends cancelled; awaiting raises CancelledError", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel()
    local e = catch(aio.await, t)
    is_err("CancelledError", e)
    assert.is_true(t:cancelled())
    assert.is_true(t:done())
    is_err("CancelledError", catch(t.result, t))
  end))

  it("a task cancelled before it started never runs its body", async(function()
    local ran = false
    local t = aio.spawn(function() ran = true end)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_false(ran)
    assert.is_true(t:cancelled())
  end))

  it("cancelling() counts requests and uncancel() decrements", async(function()
    local t = aio.spawn(function()
      pcall(aio.sleep, 10)
      local me = aio.current_task()
      local c = me:cancelling()
      local u = me:uncancel()
      return c, u, me:cancelling()
    end)
    aio.sleep(0)
    t:cancel()
    t:cancel()
    local c, u, after = t:await()
    assert.equal(2, c)
    assert.equal(1, u)
    assert.equal(1, after)
  end))

  it("aio.pcall catches errors but re-raises CancelledError", async(function()
    assert.same({ true, 1, 2 }, { aio.pcall(function(a) return a, 2 end, 1) })
    local ok, e = aio.pcall(error, "plain", 0)
    assert.is_false(ok)
    assert.equal("plain", e)
    local t = aio.spawn(function()
      local r = table.pack(aio.pcall(aio.sleep, 10))
      return "not reached", r
    end)
    aio.sleep(0)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_true(t:cancelled())
  end))
end)

describe("acceptance §3 unretrieved errors and the exception handler", function()
  local proc = require "support.proc"

  it("get_exception_handler is nil by default, returns the set one, nil restores", async(function()
    assert.is_nil(aio.get_exception_handler())
    local h = function() end
    aio.set_exception_handler(h)
    assert.equal(h, aio.get_exception_handler())
    aio.set_exception_handler(nil)
    assert.is_nil(aio.get_exception_handler())
  end))

  it("a failed task nobody awaits goes to the handler with message, exception, task, traceback", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.set_exception_handler(function(ctx)
        print("H", ctx.exception, ctx.task and ctx.task:get_name(), type(ctx.message), type(ctx.traceback))
      end)
      aio.run(function()
        aio.create_task(aio.async(function() error("bg-err", 0) end)(), "bgname")
        aio.sleep(0)
        aio.sleep(0)
      end)
      print("after")
    ]] }
    assert.equal(0, st)
    assert.equal("H\tbg-err\tbgname\tstring\tstring\nafter\n", out)
  end)

  it("by default the error, traceback and task name go to stderr; the process survives", function()
    local st, out, err = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        aio.create_task(aio.async(function() aio.sleep(0) error("bg-default-err") end)(), "named-bg")
        aio.sleep(0.01)
      end)
      print("alive")
    ]] }
    assert.equal(0, st)
    assert.equal("alive\n", out)
    assert.matches("bg%-default%-err", err)
    assert.matches("named%-bg", err)
    assert.matches("traceback", err)
  end)

  it("a retrieved error is not reported", async(function()
    local reports = {}
    aio.set_exception_handler(function(ctx) reports[#reports + 1] = ctx end)
    local t = aio.spawn(function() error("seen") end)
    pcall(aio.await, t)
    local t2 = aio.spawn(function() error("seen2") end)
    steps(2)
    assert.is_not_nil(t2:exception())
    t, t2 = nil, nil -- luacheck: ignore 311 (dropped so that the tasks can be collected)
    collectgarbage()
    collectgarbage()
    steps(2)
    aio.set_exception_handler(nil)
    assert.equal(0, #reports)
  end))

  it("failed callbacks and done-callbacks go to the handler; the process never ends", async(function()
    local reports = {}
    aio.set_exception_handler(function(ctx) reports[#reports + 1] = ctx end)
    aio.call_soon(function() error("cb-err", 0) end)
    local f = aio.Future()
    f:add_done_callback(function() error("done-cb-err", 0) end)
    f:set_result()
    steps(3)
    aio.set_exception_handler(nil)
    assert.equal(2, #reports)
    assert.equal("cb-err", reports[1].exception)
    assert.is_string(reports[1].message)
    assert.equal("done-cb-err", reports[2].exception)
  end))

  it("a pending task is never garbage-collected; a finished unreferenced one is", async(function()
    local weak = setmetatable({}, { __mode = "v" })
    local ev = aio.Event()
    local done = false
    weak[1] = aio.spawn(function() ev:wait() done = true end)
    aio.sleep(0)
    collectgarbage()
    collectgarbage()
    assert.is_not_nil(weak[1])
    ev:set()
    steps(3)
    assert.is_true(done)
    steps(3)
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end))
end)

describe("acceptance §4 gather", function()
  it("returns first results in argument order with n, from tasks, coroutines, functions, futures", async(function()
    local f = aio.Future()
    aio.call_soon(function() f:set_result("fut", "ignored") end)
    local t = aio.spawn(function() aio.sleep(0.01) return "task" end)
    local r = aio.gather(t, aio.async(function() return "co", 2 end)(), function() return nil end, f)
    assert.same({ "task", "co", nil, "fut", n = 4 }, r)
  end))

  it("list form takes any number; empty list gives n = 0", async(function()
    local list = {}
    for i = 1, 300 do list[i] = function() aio.sleep(0) return i end end
    local r = aio.gather(list)
    assert.equal(300, r.n)
    for i = 1, 300 do assert.equal(i, r[i]) end
    assert.same({ n = 0 }, aio.gather({}))
  end))

  it("re-raises the first error; the others keep running", async(function()
    local E = {}
    local slow_done = false
    local slow = aio.spawn(function() aio.sleep(0) aio.sleep(0) slow_done = true end)
    local e = catch(aio.gather, function() error(E) end, slow)
    assert.equal(E, e)
    slow:await()
    assert.is_true(slow_done)
    assert.is_false(slow:cancelled())
  end))

  it("return_exceptions puts errors (and CancelledError) in their slots", async(function()
    local E = {}
    local c = aio.spawn(function() aio.sleep(10) end)
    aio.call_soon(function() c:cancel() end)
    local r = aio.gather({ function() return 1 end, function() error(E) end, c }, { return_exceptions = true })
    assert.equal(3, r.n)
    assert.equal(1, r[1])
    assert.equal(E, r[2])
    is_err("CancelledError", r[3])
  end))

  it("an unknown opts key raises an argument error naming it", async(function()
    local e = catch(aio.gather, { function() end }, { return_exception = true })
    assert.matches("return_exception", tostring(e))
  end))

  it("cancelling the gather cancels its children", async(function()
    local c1 = aio.spawn(function() aio.sleep(10) end)
    local c2 = aio.spawn(function() aio.sleep(10) end)
    local g = aio.spawn(function() return aio.gather(c1, c2) end)
    aio.sleep(0)
    aio.sleep(0)
    g:cancel()
    is_err("CancelledError", catch(aio.await, g))
    steps(2)
    assert.is_true(c1:cancelled())
    assert.is_true(c2:cancelled())
  end))
end)

describe("acceptance §4 wait, wait_for, as_completed, shield", function()
  local function contains(list, x)
    for _, v in ipairs(list) do if v == x then return true end end
    return false
  end

  it("wait on an empty list raises ValueError", async(function()
    is_err("ValueError", catch(aio.wait, {}))
  end))

  it("wait ALL_COMPLETED returns done and pending lists", async(function()
    local a = aio.spawn(function() aio.sleep(0) return 1 end)
    local b = aio.spawn(function() return 2 end)
    local done, pending = aio.wait({ a, b })
    assert.equal(2, #done)
    assert.equal(0, #pending)
    assert.is_true(contains(done, a) and contains(done, b))
  end))

  it("wait FIRST_COMPLETED and timeout leave the rest pending and running", async(function()
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

  it("wait FIRST_EXCEPTION returns when one fails", async(function()
    local ev = aio.Event()
    local a = aio.spawn(function() aio.sleep(0) error("x") end)
    local b = aio.spawn(function() ev:wait() end)
    local done, pending = aio.wait({ a, b }, { return_when = "FIRST_EXCEPTION" })
    assert.same({ a }, done)
    assert.same({ b }, pending)
    ev:set()
    b:await()
    assert.is_not_nil(a:exception())
  end))

  it("wait_for returns all results, or cancels and raises TimeoutError", async(function()
    assert.same({ 1, 2 }, { aio.wait_for(aio.async(function() aio.sleep(0) return 1, 2 end)(), 1) })
    local t = aio.spawn(function() aio.sleep(10) end)
    is_err("TimeoutError", catch(aio.wait_for, t, 0.01))
    steps(2)
    assert.is_true(t:cancelled())
  end))

  it("wait_for with a nil timeout waits without a limit", async(function()
    local t = aio.spawn(function() aio.sleep(0.01) return "ok" end)
    assert.equal("ok", aio.wait_for(t, nil))
  end))

  it("as_completed yields each awaitable as it finishes", async(function()
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

  it("as_completed with a timeout raises TimeoutError", async(function()
    local f = aio.Future()
    local e = catch(function()
      for aw in aio.as_completed({ f }, 0.01) do aio.await(aw) end
    end)
    is_err("TimeoutError", e)
  end))

  it("shield returns the results; cancelling the caller does not cancel aw", async(function()
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
end)

describe("acceptance §4 timeout", function()
  it("raises TimeoutError from the block once delay has passed", async(function()
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

  it("does nothing when the block finishes in time", async(function()
    local function f()
      local _ <close> = aio.timeout(1)
      aio.sleep(0)
      return "done"
    end
    assert.equal("done", f())
    aio.sleep(0.01)
  end))

  it("an outer cancellation inside a timeout block stays a CancelledError", async(function()
    local t = aio.spawn(function()
      local _ <close> = aio.timeout(5)
      aio.sleep(10)
    end)
    aio.sleep(0)
    t:cancel()
    is_err("CancelledError", catch(aio.await, t))
    assert.is_true(t:cancelled())
  end))
end)

describe("acceptance §4 TaskGroup", function()
  it("leaving the block waits for every child", async(function()
    local finished = {}
    local t1, t2
    do
      local tg <close> = aio.TaskGroup()
      t1 = tg:spawn(function(x) aio.sleep(0) aio.sleep(0) finished[#finished + 1] = x return x end, "a")
      t2 = tg:create_task(aio.async(function() aio.sleep(0.01) finished[#finished + 1] = "b" end)())
    end
    assert.same({ "a", "b" }, finished)
    assert.equal("a", t1:result())
    assert.is_true(t2:done())
  end))

  it("the first failure cancels the rest; errors list failures in the order they happened", async(function()
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

  it("a failing child cancels the block body while it waits", async(function()
    local E = {}
    local e = catch(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error(E) end)
      aio.sleep(10)
    end)
    is_err("ExceptionGroup", e)
    assert.same({ E }, e.errors)
  end))

  it("the block's own error comes last and cancels the children", async(function()
    local EA, BODY = { "a" }, { "body" }
    local child
    local e = catch(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error(EA) end)
      child = tg:spawn(function() aio.sleep(10) end)
      pcall(aio.sleep, 0)
      pcall(aio.sleep, 0)
      -- EA has happened; the block is being cancelled, but it catches that and raises its own
      error(BODY)
    end)
    is_err("ExceptionGroup", e)
    assert.is_true(child:cancelled())
    assert.equal(BODY, e.errors[#e.errors])
    assert.equal(EA, e.errors[1])
  end))

  it("a block error alone cancels the children and is wrapped", async(function()
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

  it("a CancelledError of the enclosing task propagates unwrapped", async(function()
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
end)

describe("acceptance §10 errors", function()
  it("every class exists as aio.<name>", function()
    for _, n in ipairs { "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty", "QueueFull",
      "QueueShutDown", "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError", "ExceptionGroup",
      "RuntimeError", "ValueError", "OSError" } do
      assert.is_table(aio[n], n)
    end
  end)

  it("misuse raises RuntimeError / ValueError tables", async(function()
    local l = aio.Lock()
    is_err("RuntimeError", catch(l.release, l))
    is_err("ValueError", catch(aio.Semaphore, -1))
    local b = aio.BoundedSemaphore(1)
    is_err("ValueError", catch(b.release, b))
    local c = aio.Condition()
    is_err("RuntimeError", catch(c.wait, c))
  end))

  it("wrong argument types raise ordinary Lua argument errors", async(function()
    assert.matches("bad argument", tostring(catch(aio.call_later, "x", function() end)))
    assert.matches("bad argument", tostring(catch(aio.spawn, 42)))
    assert.matches("bad argument", tostring(catch(aio.Queue, "big")))
    assert.matches("bad argument", tostring(catch(aio.wait_for, aio.Future(), "soon")))
  end))
end)
