-- errors_spec.lua — the error objects, argument errors in general (bad input never crashes
-- the process), the loop's exception handler and the reporting of errors nobody retrieved.
local aio = require "luaio"
local virtual = require "support.virtual"
local proc = require "support.proc"
local catch = require "support.catch"
local is_err = require "support.is_err"
local settle = require "support.settle"
local with_handler = require "support.with_handler"
local lua_script = require "support.run_lua"

describe("error classes", function()
  local names = { "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty", "QueueFull",
    "QueueShutDown", "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError",
    "ExceptionGroup", "RuntimeError", "ValueError", "OSError" }

  it("exist as aio.<name> and build instances whose metatable is the class", function()
    for _, name in ipairs(names) do
      local cls = aio[name]
      assert.is_table(cls, name)
      local e = cls("went wrong")
      assert.equal(cls, getmetatable(e))
      assert.equal(name, e.name)
      assert.equal("went wrong", e.message)
      assert.equal(name .. ": went wrong", tostring(e))
    end
  end)

  it("copy extra fields and print without a message", function()
    local e = aio.OSError("refused", { code = "ECONNREFUSED" })
    assert.equal("ECONNREFUSED", e.code)
    assert.equal("TimeoutError: ", tostring(aio.TimeoutError()))
    assert.equal("", aio.TimeoutError().message)
  end)
end)

describe("library errors", function()
  it("are tables with name and message, metatable aio.<name>, tostring '<name>: <message>'", virtual(function()
    local samples = {}
    local f = aio.Future()
    samples[#samples + 1] = catch(f.result, f)                       -- InvalidStateError
    samples[#samples + 1] = catch(aio.wait, {})                      -- ValueError
    samples[#samples + 1] = catch(aio.wait_for, aio.Future(), 0.001) -- TimeoutError
    local g = aio.Future()
    g:cancel("m")
    samples[#samples + 1] = catch(g.result, g)                       -- CancelledError
    local t = aio.spawn(function() end)
    samples[#samples + 1] = catch(t.set_result, t, 1)                -- RuntimeError
    t:await()
    for _, e in ipairs(samples) do
      assert.is_table(e)
      assert.is_string(e.name)
      assert.is_string(e.message, e.name)
      assert.equal(aio[e.name], getmetatable(e))
      assert.equal(e.name .. ": " .. e.message, tostring(e))
    end
    local names = {}
    for _, e in ipairs(samples) do names[#names + 1] = e.name end
    assert.same({ "InvalidStateError", "ValueError", "TimeoutError", "CancelledError", "RuntimeError" }, names)
  end))

  it("an ExceptionGroup is a library error too, listing its errors", virtual(function()
    local e = catch(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error("x", 0) end)
    end)
    is_err("ExceptionGroup", e)
    assert.is_string(e.message)
    assert.equal("ExceptionGroup: " .. e.message, tostring(e))
    assert.same({ "x" }, e.errors)
  end))

  it("misuse raises RuntimeError and ValueError objects", virtual(function()
    local l = aio.Lock()
    is_err("RuntimeError", catch(l.release, l))
    is_err("ValueError", catch(aio.Semaphore, -1))
    local b = aio.BoundedSemaphore(1)
    is_err("ValueError", catch(b.release, b))
    local c = aio.Condition()
    is_err("RuntimeError", catch(c.wait, c))
  end))
end)

describe("bad input", function()
  it("wrong argument types raise ordinary Lua argument errors", virtual(function()
    assert.matches("bad argument", tostring(catch(aio.call_later, "x", function() end)))
    assert.matches("bad argument", tostring(catch(aio.spawn, 42)))
    assert.matches("bad argument", tostring(catch(aio.Queue, "big")))
    assert.matches("bad argument", tostring(catch(aio.wait_for, aio.Future(), "soon")))
  end))

  it("argument errors name the function", virtual(function()
    local cases = {
      { "spawn", function() aio.spawn(nil) end },
      { "wait_for", function() aio.wait_for(aio.Future(), {}) end },
      { "set_exception_handler", function() aio.set_exception_handler("x") end },
      { "async", function() aio.async(3) end },
    }
    for _, c in ipairs(cases) do
      local e = catch(c[2])
      assert.matches("bad argument", tostring(e), 1, true)
      assert.matches(c[1], tostring(e), 1, true)
    end
  end))

  it("from a script never crashes the process", function()
    local code, out = proc.run { lua = true, timeout = 20, code = [[
      local aio = require "luaio"
      local vals = { nil, true, 0, -1, 1/0, 0/0, "", {}, print, coroutine.create(print), io.stdout }
      local fns = { "sleep", "spawn", "create_task", "gather", "wait", "wait_for", "as_completed",
        "shield", "timeout", "await", "call_soon", "call_later", "call_at", "run", "TaskGroup" }
      aio.run(function()
        for _, fname in ipairs(fns) do
          for i = 1, 11 do
            pcall(aio.wait_for, aio.spawn(function() return aio[fname](vals[i], vals[(i % 11) + 1]) end), 0.01)
          end
        end
      end)
      print("survived")
    ]] }
    assert.matches("survived\n$", out)
    assert.equal(0, code)
  end)

  -- every public function and method, called with random arguments inside tasks that are
  -- then cancelled (tests/support/api_fuzz.lua)
  for _, seed in ipairs { 11, 22, 33 } do
    it("never crashes the process: random calls to every function and method (seed " .. seed .. ")", function()
      local f = assert(io.open("tests/support/api_fuzz.lua"))
      local code = f:read("a")
      f:close()
      local rc, out, err = proc.run { code = code, args = { "2", tostring(seed) } }
      assert.equal(0, rc, err)
      assert.matches("^calls\t%d+\n$", out)
    end)
  end
end)

describe("exception handler", function()
  it("ctx.traceback of a failed task shows the task that awaited it (awaited by)", virtual(function()
    local seen = with_handler(function()
      local child = aio.spawn(function() aio.sleep(0) error("inner boom") end)
      child:set_name("inner")
      local parent = aio.spawn(function() child:await() end)
      parent:set_name("outer-unawaited")
      settle(4)
      assert.is_true(parent:done())
      parent = nil -- luacheck: ignore
      collectgarbage() collectgarbage()
      settle()
    end)
    local tb
    for _, ctx in ipairs(seen) do
      if tostring(ctx.message):find("outer-unawaited", 1, true) then tb = ctx.traceback end
    end
    assert.truthy(tb, "the parent's failure was reported")
    assert.matches("%(raised in an awaited task%)", tb)
    assert.matches('awaited by Task%-%d+ "outer%-unawaited"\nstack traceback:', tb)
  end))

  it("get_exception_handler is nil by default, returns the handler, and nil restores it", function()
    assert.is_nil(aio.get_exception_handler())
    local h = function() end
    aio.set_exception_handler(h)
    assert.equal(h, aio.get_exception_handler())
    aio.set_exception_handler(nil)
    assert.is_nil(aio.get_exception_handler())
    local e = catch(aio.set_exception_handler, 42)
    assert.matches("set_exception_handler", tostring(e))
  end)

  it("gets an error raised in a callback, with handle, message and traceback; the loop goes on", virtual(function()
    local ctxs = {}
    local old = aio.get_exception_handler()
    aio.set_exception_handler(function(ctx) ctxs[#ctxs + 1] = ctx end)
    local h = aio.call_soon(function() error("cb failed") end)
    local after = false
    aio.call_soon(function() after = true end)
    aio.sleep(0)
    aio.set_exception_handler(old)
    assert.is_true(after)
    assert.equal(1, #ctxs)
    assert.matches("cb failed", ctxs[1].exception)
    assert.equal(h, ctxs[1].handle)
    assert.is_string(ctxs[1].message)
    assert.matches("stack traceback", ctxs[1].traceback)
  end))

  it("gets errors of callbacks and done callbacks, in order, and the process goes on", virtual(function()
    local reports = {}
    aio.set_exception_handler(function(ctx) reports[#reports + 1] = ctx end)
    aio.call_soon(function() error("cb-err", 0) end)
    local f = aio.Future()
    f:add_done_callback(function() error("done-cb-err", 0) end)
    f:set_result()
    settle(3)
    aio.set_exception_handler(nil)
    assert.equal(2, #reports)
    assert.equal("cb-err", reports[1].exception)
    assert.is_string(reports[1].message)
    assert.equal("done-cb-err", reports[2].exception)
  end))

  it("the context of a failing callback or done callback names its task or handle", virtual(function()
    local seen = with_handler(function()
      aio.call_soon(function() error("acc3 cb") end)
      local f = aio.Future()
      f:add_done_callback(function() error("acc3 done-cb") end)
      f:set_result()
      settle(3)
    end)
    assert.equal(2, #seen)
    local msgs = {}
    for _, ctx in ipairs(seen) do
      msgs[#msgs + 1] = tostring(ctx.exception)
      assert.is_string(ctx.message)
      assert.is_true(ctx.task ~= nil or ctx.handle ~= nil)
    end
    table.sort(msgs)
    assert.matches("acc3 cb", msgs[1])
    assert.matches("acc3 done%-cb", msgs[2])
  end))
end)

describe("unretrieved errors", function()
  it("a failed task nobody awaited is reported with its name and traceback", function()
    local rc, out = lua_script [[
      aio.set_exception_handler(function(ctx)
        print(ctx.message, ctx.exception, ctx.task:get_name(), ctx.traceback ~= nil)
      end)
      aio.run(function()
        local t = aio.spawn(function() error("lost", 0) end)
        t:set_name("orphan")
        aio.sleep(0.001)
      end)
      print("end")
    ]]
    assert.equal(0, rc)
    assert.matches("never retrieved.*\tlost\torphan\ttrue\nend\n", out)
  end)

  it("an unretrieved task failure reaches the handler by the time run returns", function()
    local E = { acc3 = true }
    local seen = with_handler(function()
      aio.run(function()
        local t = aio.spawn(function() error(E) end)
        t:set_name("acc3-lost")
        settle(2)
      end)
    end)
    assert.equal(1, #seen)
    local ctx = seen[1]
    assert.equal(E, ctx.exception)
    assert.is_string(ctx.message)
    assert.equal("acc3-lost", ctx.task:get_name())
    assert.is_string(ctx.traceback)
  end)

  it("the default handler prints unretrieved errors to stderr and the process goes on", function()
    local rc, out, err = lua_script [[
      aio.run(function() aio.spawn(function() error("background boom") end) aio.sleep(0.001) end)
      print("still here")
    ]]
    assert.equal(0, rc)
    assert.equal("still here\n", out)
    assert.matches("never retrieved", err)
    assert.matches("background boom", err)
    assert.matches("stack traceback", err)
  end)

  it("the default report names the task", function()
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

  it("a failed task is reported as soon as it is collected, while the loop runs", function()
    local rc, out = lua_script [[
      local seen
      aio.set_exception_handler(function(ctx) seen = ctx.exception end)
      aio.run(function()
        do aio.spawn(function() error("collected boom", 0) end) end
        aio.sleep(0)
        aio.sleep(0)
        collectgarbage()
        collectgarbage()
        aio.sleep(0.001) -- the loop goes idle: collected failures are reported
        print("during run:", seen)
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("during run:\tcollected boom\n", out)
  end)

  it("a dropped task's failure is reported at the latest on collection", virtual(function()
    local seen = with_handler(function(seen)
      do aio.spawn(function() error("acc3 dropped") end) end
      settle(2)
      collectgarbage()
      collectgarbage()
      aio.sleep(0.001) -- one full loop iteration after collection
      assert.equal(1, #seen)
    end)
    assert.matches("acc3 dropped", tostring(seen[1].exception))
  end))

  it("retrieved errors are not reported by the default handler", function()
    local rc, _, err = lua_script [[
      aio.run(function()
        local t = aio.spawn(function() error("seen") end)
        pcall(aio.await, t)
        local u = aio.spawn(function() error("seen2") end)
        aio.sleep(0.001)
        u:exception()
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("", err)
  end)

  it("errors retrieved via await, result() or exception() are not reported", function()
    local seen = with_handler(function()
      aio.run(function()
        local a = aio.spawn(function() error("a") end)
        local b = aio.spawn(function() error("b") end)
        local c = aio.spawn(function() error("c") end)
        settle(2)
        pcall(aio.await, a)
        pcall(b.result, b)
        c:exception()
      end)
      collectgarbage()
      collectgarbage()
    end)
    assert.equal(0, #seen)
  end)
end)

describe("errors regressions", function()
  -- The rule: every error the library raises is a table with `name` (...) and `message`,
  -- whose metatable is its class `aio.<name>`; `tostring(err)` gives `"<name>: <message>"`.
  -- We: a CancelledError from cancel() without a msg has no `message` field (nil) and
  -- tostring gives "CancelledError" (asyncio's str(CancelledError()) is "", so "" would do).
  it("a CancelledError without a cancel message still has a string message", virtual(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    t:cancel()
    local ok, e = pcall(aio.await, t)
    assert.is_false(ok)
    assert.equal("CancelledError", e.name)
    assert.is_string(e.message)
    assert.equal("CancelledError: " .. e.message, tostring(e))
    local f = aio.Future()
    f:cancel()
    e = select(2, pcall(f.result, f))
    assert.is_string(e.message)
  end))

  -- runtime.c: the default report converted the error outside any protected call, so an
  -- error value whose __tostring fails escaped the loop and left aio.run unusable
  it("an error value whose __tostring fails is reported and the loop goes on", function()
    local st, out, err = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        aio.call_soon(function() error(setmetatable({}, { __tostring = function() return {} end })) end)
        aio.sleep(0.001)
        print("survived")
      end)
      print(pcall(aio.run, function() return "again" end))
    ]] }
    assert.equal(0, st)
    assert.equal("survived\ntrue\tagain\n", out)
    assert.matches("could not be reported", err)
  end)

  it("reports a collected failed task within a few rounds of a loop that never goes idle", function()
    -- collected failures were reported only when the loop went idle, so a busy loop (a
    -- server under load, a loop of sleep(0)) could hide them for hours
    local rc, out = lua_script [[
      local seen
      aio.set_exception_handler(function(ctx) seen = ctx.exception end)
      aio.run(function()
        local busy = aio.spawn(function() while true do aio.sleep(0) end end)
        do aio.spawn(function() error("dropped boom", 0) end) end
        aio.sleep(0)
        aio.sleep(0)
        collectgarbage()
        collectgarbage()
        local rounds = 0
        while not seen and rounds < 100 do aio.sleep(0); rounds = rounds + 1 end
        print(seen, rounds <= 3)
        busy:cancel()
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("dropped boom\ttrue\n", out)
  end)

  it("name a NaN argument alike everywhere", virtual(function()
    -- wait_for said "number expected, got number"
    local nan = 0 / 0
    local cases = {
      { aio.wait_for, aio.Future(), nan, "#2 to 'wait_for'" },
      { aio.sleep, nan, "#1 to 'sleep'" },
      { aio.call_later, nan, print, "#1 to 'call_later'" },
      { aio.Semaphore, nan, "#1 to 'Semaphore'" },
      { aio.timeout, nan, "#1 to 'timeout'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(table.unpack(c, 1, #c - 1))
      assert.is_false(ok)
      assert.matches("bad argument " .. c[#c]:gsub("%p", "%%%0") .. " %(number expected, got NaN%)", err)
    end
  end))

  it("every method called on something that is not its object names itself and its class", function()
    -- Event:clear, Lock:locked, Job:active, Server:close, Timeout:when ... said "attempt to
    -- index a number value"; a queue's methods said "bad argument #1 to '?'"
    local names = require "support.public_names"
    local bad = {}
    for _, obj in ipairs(names.samples()) do
      local mt = getmetatable(obj)
      -- methods: the class table, a __methods table behind an __index function, or fields
      local index = type(mt.__index) == "table" and mt.__index or rawget(mt, "__methods") or obj
      for k, f in pairs(index) do
        if type(k) == "string" and type(f) == "function" and not k:match("^_") then
          local ok, e = pcall(f, 42)
          local msg = tostring(type(e) == "table" and e.message or e)
          if ok or not msg:find("bad argument #1 to '" .. k .. "' (", 1, true)
             or not msg:find("expected, got number", 1, true) then
            bad[#bad + 1] = (mt.__name or "?") .. ":" .. k .. " -> " .. (ok and "no error" or msg)
          end
        end
      end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)

  it("an argument error raised for a Lua-layer wrapper points at the caller's line", virtual(function()
    -- aio.await(5) said "[luaio.core]:66: bad argument ..." (the wrapper's own line)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function() aio.await(5) end)
    assert.is_false(ok)
    assert.matches("^[^:]*errors_spec%.lua:" .. line .. ": bad argument #1 to 'await'", e)
    local tg = aio.TaskGroup()
    e = select(2, pcall(function() tg:spawn(5) end))
    assert.matches("errors_spec%.lua:%d+: bad argument #1 to 'spawn'", e)
    assert.is_nil(e:find("[luaio.", 1, true))
  end))
end)
