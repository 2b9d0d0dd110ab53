-- acceptance3_core_spec.lua — independent acceptance checks of the module's names, awaiting,
-- running the loop, tasks and futures, composition and the error objects, written from the
-- documented contract alone (docs/reference/). Runs under stock lua5.4 (LUA_CPATH=build/?.so)
-- and under the host binary (build/luaio /usr/bin/busted --ignore-lua).
local aio = require "luaio"
local async = require "support.async"

---------------------------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------------------------
local function perr(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error, got success")
  return e
end

local function assert_err(name, e)
  assert.is_table(e, "expected an error table, got " .. tostring(e))
  assert.equal(name, e.name)
  assert.equal(aio[name], getmetatable(e))
end

local function ticks(n)
  for _ = 1, n or 5 do aio.sleep(0) end
end

-- run fn from a plain loop callback (outside any task); returns table.pack(pcall(fn))
local function in_callback(fn)
  local res
  aio.call_soon(function() res = table.pack(pcall(fn)) end)
  while not res do aio.sleep(0) end
  return res
end

local function with_handler(fn)
  local seen = {}
  aio.set_exception_handler(function(ctx) seen[#seen + 1] = ctx end)
  local ok, e = pcall(fn, seen)
  aio.set_exception_handler(nil)
  if not ok then error(e, 0) end
  return seen
end

local function readall(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- run a shell command; returns exit code, stdout, stderr
local function sh(cmd)
  local out, err = os.tmpname(), os.tmpname()
  local _, how, code = os.execute(cmd .. " >" .. out .. " 2>" .. err)
  local o, e = readall(out), readall(err)
  os.remove(out)
  os.remove(err)
  return (how == "exit" and code or 128 + code), o, e
end

local function script(src)
  local p = os.tmpname()
  local f = assert(io.open(p, "wb"))
  f:write(src)
  f:close()
  return p
end

local ROOT = os.getenv("PWD") or "."
local LUAIO = ROOT .. "/build/luaio"
local LUA_ENV = "LUA_CPATH='" .. ROOT .. "/build/?.so;;' "

---------------------------------------------------------------------------------------------
describe("§0 names and artefacts", function()
  it("the build artefacts and header exist", function()
    for _, p in ipairs { "build/luaio", "build/luaio.so", "build/libluaio.a", "src/luaio.h" } do
      local f = io.open(ROOT .. "/" .. p, "rb")
      assert.is_not_nil(f, p .. " missing")
      f:close()
    end
  end)

  it("luaio.so exports luaopen_luaio and stock lua5.4 can require it", function()
    local code, out = sh("nm -D --defined-only " .. ROOT .. "/build/luaio.so")
    assert.equal(0, code)
    assert.matches("luaopen_luaio", out)
    code, out = sh(LUA_ENV .. "lua5.4 -e 'local aio = require \"luaio\" print(type(aio), type(aio.run))'")
    assert.equal(0, code)
    assert.equal("table\tfunction\n", out)
  end)

  it("the host binary preloads the module", function()
    local code, out = sh("env -u LUA_CPATH -u LUA_CPATH_5_4 LUA_CPATH=/nonexistent/?.so " .. LUAIO
      .. " -e 'local aio = require \"luaio\" print(type(aio.run), type(aio.sleep))'")
    assert.equal(0, code)
    assert.equal("function\tfunction\n", out)
  end)
end)

---------------------------------------------------------------------------------------------
describe("§1 awaiting", function()
  it("a suspending function called outside a task names itself and points to run", async(function()
    local r = in_callback(function() aio.sleep(0) end)
    assert.is_false(r[1])
    assert.matches("sleep", tostring(r[2]))
    assert.matches("must be called from inside a task", tostring(r[2]), 1, true)
  end))

  it("gather outside a task also raises a clear error naming it", async(function()
    local f = aio.Future()
    f:set_result(1)
    local r = in_callback(function() aio.gather(f) end)
    assert.is_false(r[1])
    assert.matches("gather", tostring(r[2]))
  end))

  it("other suspending functions outside a task name themselves too", async(function()
    local r = in_callback(function()
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
    end)
    assert.is_true(r[1])
    for _, row in ipairs(r[2]) do
      assert.is_false(row[2], row[1])
      assert.matches(row[1], row[3], 1, true)
    end
  end))

  it("the as_completed iterator outside a task names as_completed", async(function()
    local r = in_callback(function()
      for _ in aio.as_completed({ aio.Future() }) do end
    end)
    assert.is_false(r[1])
    assert.matches("as_completed", tostring(r[2]), 1, true)
  end))

  it("suspending across a C-call boundary (gsub callback) names the function", async(function()
    local e = perr(string.gsub, "abc", "b", function() aio.sleep(0) return "x" end)
    assert.matches("sleep", tostring(e))
  end))

  it("async(fn)(...) returns a coroutine object that has not started", async(function()
    local started = 0
    local af = aio.async(function(x) started = started + 1 return x * 2 end)
    assert.is_function(af)
    local co = af(21)
    assert.is_not_nil(co)
    ticks(3)
    assert.equal(0, started)
    assert.equal(42, aio.await(co))
    assert.equal(1, started)
  end))

  it("awaiting a coroutine object runs it inside the current task", async(function()
    local me = aio.current_task()
    local seen
    local co = aio.async(function() aio.sleep(0) seen = aio.current_task() return "done" end)()
    assert.equal("done", co:await())
    assert.equal(me, seen)
  end))

  it("await returns every result, including embedded and trailing nils", async(function()
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

  it("a failure is re-raised unchanged (table identity and string value)", async(function()
    local E = setmetatable({}, { __tostring = function() return "custom" end })
    local t = aio.spawn(function() error(E) end)
    assert.equal(E, perr(aio.await, t))
    local t2 = aio.spawn(function() error("plain", 0) end)
    assert.equal("plain", perr(t2.await, t2))
    local co = aio.async(function() aio.sleep(0) error(E) end)()
    assert.equal(E, perr(aio.await, co))
  end))

  it("a coroutine object cannot be awaited twice (RuntimeError, as asyncio)", async(function()
    local co = aio.async(function() return 1 end)()
    assert.equal(1, aio.await(co))
    assert_err("RuntimeError", perr(aio.await, co))
    assert_err("RuntimeError", perr(aio.create_task, co))
  end))

  it("awaiting a non-awaitable raises an error saying what was given", async(function()
    local e = perr(aio.await, 42)
    assert.matches("number", tostring(e))
    e = perr(aio.await, "str")
    assert.matches("string", tostring(e))
    e = perr(aio.await, {})
    assert.matches("table", tostring(e))
    e = perr(aio.await, coroutine.create(function() end))
    assert.is_not_nil(tostring(e))
  end))

  it("awaiting a done future is not a suspension point", async(function()
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

  it("a pending cancellation is delivered at the next real suspension, not at a done await", async(function()
    local f = aio.Future()
    f:set_result(7)
    local log = {}
    local t = aio.spawn(function()
      aio.current_task():cancel()
      log[#log + 1] = aio.await(f)
      local ok, e = pcall(aio.sleep, 0)
      log[#log + 1] = ok and "no-cancel" or e.name
    end)
    pcall(aio.await, t)
    assert.same({ 7, "CancelledError" }, log)
  end))
end)

---------------------------------------------------------------------------------------------
describe("§2 running", function()
  it("run calls main with its arguments and returns all its results", function()
    local r = table.pack(aio.run(function(a, b) aio.sleep(0) return b, a, nil end, 1, 2))
    assert.equal(3, r.n)
    assert.equal(2, r[1])
    assert.equal(1, r[2])
  end)

  it("run accepts a coroutine object", function()
    local co = aio.async(function(x) aio.sleep(0) return x + 1 end)(41)
    assert.equal(42, aio.run(co))
  end)

  it("run re-raises main's error unchanged", function()
    local E = {}
    local ok, e = pcall(aio.run, function() aio.sleep(0) error(E) end)
    assert.is_false(ok)
    assert.equal(E, e)
  end)

  it("run called from a plain callback while the loop runs raises RuntimeError", async(function()
    local r = in_callback(function() return aio.run(function() end) end)
    assert.is_false(r[1])
    assert_err("RuntimeError", r[2])
  end))

  it("run inside a running task awaits main in place; tasks started meanwhile keep running", async(function()
    local outer = aio.current_task()
    local seen, bg_done = nil, false
    local bg_go = aio.Future()
    local res = aio.run(function(x)
      seen = aio.current_task()
      aio.spawn(function() bg_go:await() bg_done = true end)
      return x * 3
    end, 5)
    assert.equal(15, res)
    assert.is_not_nil(seen)
    -- main ran within the calling context, and the loop is still the same loop
    assert.equal(outer, aio.current_task())
    bg_go:set_result()
    ticks(3)
    assert.is_true(bg_done)
  end))

  it("top-level run cancels and drains tasks still alive when main finishes", function()
    local p = script([[
      local aio = require "luaio"
      local log = {}
      aio.run(function()
        aio.spawn(function()
          local ok, e = pcall(aio.sleep, 100)
          log[#log+1] = ok and "woke" or e.name
          aio.sleep(0) -- a task may still run its cleanup while being drained
          log[#log+1] = "cleaned"
        end)
        aio.sleep(0)
      end)
      print(table.concat(log, ","))
    ]])
    local code, out, err = sh(LUA_ENV .. "lua5.4 " .. p)
    os.remove(p)
    assert.equal(0, code, err)
    assert.equal("CancelledError,cleaned\n", out)
  end)

  it("a deadlocked main raises RuntimeError naming the deadlock instead of hanging", function()
    local p = script([[
      local aio = require "luaio"
      local ok, e = pcall(aio.run, function() aio.Future():await() end)
      print(ok, type(e) == "table" and e.name, tostring(e):lower():find("deadlock") ~= nil)
    ]])
    local code, out, err = sh("timeout 5 env " .. LUA_ENV .. "lua5.4 " .. p)
    os.remove(p)
    assert.equal(0, code, err)
    assert.equal("false\tRuntimeError\ttrue\n", out)
  end)

  it("the host runs the chunk as the main task: top-level code may suspend", function()
    local p = script([[
      local aio = require "luaio"
      local t = aio.current_task()
      aio.sleep(0.001)
      local a, b = ...
      print(t ~= nil, select("#", ...), a, b, arg[0] ~= nil, arg[1], arg[2])
    ]])
    local code, out, err = sh(LUAIO .. " " .. p .. " one two")
    os.remove(p)
    assert.equal(0, code, err)
    assert.equal("true\t2\tone\ttwo\ttrue\tone\ttwo\n", out)
  end)

  it("the host accepts lua5.4's -e, -l, -, --, -v, -E, -W options", function()
    local code, out = sh(LUAIO .. " -e 'print(1+1)'")
    assert.equal(0, code)
    assert.equal("2\n", out)
    code, out = sh(LUAIO .. " -v")
    assert.equal(0, code)
    assert.matches("Lua 5.4", out .. "", 1, true)
    code, out = sh("echo 'print(\"stdin\", ...)' | " .. LUAIO .. " - x")
    assert.equal(0, code)
    assert.equal("stdin\tx\n", out)
    code, out = sh("cd " .. ROOT .. "/tests && " .. LUAIO .. " -l support.async -e 'print(type(package.loaded[\"support.async\"]))'")
    assert.equal(0, code)
    assert.equal("function\n", out)
    code, out = sh("LUA_INIT='print(\"init\")' " .. LUAIO .. " -E -e 'print(\"body\")'")
    assert.equal(0, code)
    assert.equal("body\n", out)
    code = sh(LUAIO .. " -W -e 'warn(\"hello\")'")
    assert.equal(0, code)
    local p = script("print(arg[1])")
    code, out = sh(LUAIO .. " -- " .. p .. " -v")
    os.remove(p)
    assert.equal(0, code)
    assert.equal("-v\n", out)
  end)

  it("a deadlocked host script exits with status 1 and names the deadlock", function()
    local p = script("local aio = require 'luaio'\naio.Future():await()\nprint('never')\n")
    local code, out, err = sh("timeout 5 " .. LUAIO .. " " .. p)
    os.remove(p)
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("RuntimeError", err, 1, true)
    assert.matches("deadlock", err:lower(), 1, true)
  end)

  it("a deadlocked host script prints the error with its traceback", function()
    local p = script("local aio = require 'luaio'\nlocal function acc3_stuck() aio.Future():await() end\nacc3_stuck()\n")
    local code, _, err = sh("timeout 5 " .. LUAIO .. " " .. p)
    os.remove(p)
    assert.equal(1, code)
    assert.matches("traceback", err, 1, true)
    assert.matches("acc3_stuck", err, 1, true) -- where the main task was stuck
  end)

  it("the host's SIGUSR1 and dump_tasks() default write the task tree to stderr", function()
    local p = script([[
      local aio = require "luaio"
      local gate = aio.Future()
      local t = aio.spawn(function() gate:await() end)
      t:set_name("acc3-usr1-target")
      aio.sleep(0)
      os.execute("kill -USR1 $PPID")
      aio.sleep(0.05)
      io.stderr:write("==SPLIT==\n")
      aio.dump_tasks()
      gate:set_result()
      print("done")
    ]])
    local code, out, err = sh("timeout 5 " .. LUAIO .. " " .. p)
    os.remove(p)
    assert.equal(0, code, err)
    assert.equal("done\n", out)
    local before, after = err:match("^(.*)==SPLIT==(.*)$")
    assert.is_not_nil(before, err)
    assert.matches("acc3-usr1-target", before, 1, true)
    assert.matches("acc3-usr1-target", after, 1, true)
  end)

  it("a script error exits with status 1 and prints the error with a traceback on stderr", function()
    local p = script([[
      local aio = require "luaio"
      local function inner() aio.sleep(0) error("kaboom_marker") end
      inner()
    ]])
    local code, _, err = sh(LUAIO .. " " .. p)
    os.remove(p)
    assert.equal(1, code)
    assert.matches("kaboom_marker", err)
    assert.matches("traceback", err)
  end)
end)

---------------------------------------------------------------------------------------------
describe("§3 tasks", function()
  it("create_task does not start the task inside the call; tasks start FIFO", async(function()
    local order = {}
    local af = aio.async(function(i) order[#order + 1] = i end)
    local t1 = aio.create_task(af(1))
    local t2 = aio.create_task(af(2))
    local t3 = aio.spawn(function(i) order[#order + 1] = i end, 3)
    assert.same({}, order)
    aio.gather(t1, t2, t3)
    assert.same({ 1, 2, 3 }, order)
  end))

  it("create_task takes a name; get_name/set_name read and change it", async(function()
    local t = aio.create_task(aio.async(function() aio.sleep(0) end)(), "worker-x")
    assert.equal("worker-x", t:get_name())
    t:set_name("renamed")
    assert.equal("renamed", t:get_name())
    local u = aio.spawn(function() end)
    assert.is_string(u:get_name())
    t:await()
    u:await()
  end))

  it("create_task rejects a non-coroutine with an argument error naming it", async(function()
    local e = perr(aio.create_task, function() end)
    assert.matches("bad argument #1 to 'create_task'", tostring(e), 1, true)
    e = perr(aio.create_task, 12)
    assert.matches("bad argument #1 to 'create_task'", tostring(e), 1, true)
  end))

  it("spawn passes its arguments and returns a Task with the results", async(function()
    local t = aio.spawn(function(a, b, c) return c, b, a end, "x", nil, "z")
    local r = table.pack(t:await())
    assert.equal(3, r.n)
    assert.same({ "z", nil, "x" }, { r[1], r[2], r[3] })
    assert.is_true(t:done())
    assert.equal("z", (t:result()))
    local e = perr(aio.spawn, "nope")
    assert.matches("bad argument #1 to 'spawn'", tostring(e), 1, true)
  end))

  it("sleep returns its extra arguments", async(function()
    local r = table.pack(aio.sleep(0, "a", nil, 3))
    assert.equal(3, r.n)
    assert.same({ "a", nil, 3 }, { r[1], r[2], r[3] })
    assert.equal(0, select("#", aio.sleep(0)))
    assert.equal("f", aio.sleep(0.001, "f"))
  end))

  it("sleep(0) yields to every other ready task exactly once", async(function()
    local log = {}
    local function worker(id)
      for i = 1, 3 do
        log[#log + 1] = id .. i
        aio.sleep(0)
      end
    end
    local a, b = aio.spawn(worker, "a"), aio.spawn(worker, "b")
    aio.gather(a, b)
    assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log)
  end))

  it("sleep with a bad argument raises the documented argument error", async(function()
    local e = perr(aio.sleep, "soon")
    assert.matches("bad argument #1 to 'sleep' (number expected, got string)", tostring(e), 1, true)
    e = perr(aio.sleep)
    assert.matches("bad argument #1 to 'sleep'", tostring(e), 1, true)
  end))

  it("current_task is nil outside tasks; all_tasks lists live tasks only", async(function()
    local r = in_callback(function() return aio.current_task() end)
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

  it("dump_tasks writes a who-started-whom tree with names, states and stacks", async(function()
    local gate = aio.Future()
    local function acc3_deep_waiter() gate:await() end
    local parent = aio.spawn(function()
      local child = aio.spawn(function() acc3_deep_waiter() end)
      child:set_name("acc3-child")
      child:await()
    end)
    parent:set_name("acc3-parent")
    ticks(3)
    local f = io.tmpfile()
    aio.dump_tasks(f)
    f:seek("set")
    local out = f:read("a")
    f:close()
    gate:set_result()
    parent:await()
    local pp = out:find("acc3-parent", 1, true)
    local cp = out:find("acc3-child", 1, true)
    assert.is_not_nil(pp, out)
    assert.is_not_nil(cp, out)
    assert.is_true(pp < cp, "parent should be listed before its child")
    assert.matches("waiting", out, 1, true)
    assert.matches("Future", out, 1, true)
    assert.matches("acc3_deep_waiter", out, 1, true)
    assert.matches("acceptance3_core_spec.lua", out, 1, true)
  end))

  it("all_tasks includes tasks that have not started yet", async(function()
    local t = aio.spawn(function() end)
    local found = false
    for _, x in ipairs(aio.all_tasks()) do if x == t then found = true end end
    assert.is_true(found)
    t:await()
  end))

  it("dump_tasks rejects something that is not a file", async(function()
    assert.matches("dump_tasks", tostring(perr(aio.dump_tasks, 42)), 1, true)
  end))

  it("time is a non-decreasing number that follows the loop clock", async(function()
    local t0 = aio.time()
    assert.is_number(t0)
    aio.sleep(0.02)
    local t1 = aio.time()
    assert.is_true(t1 >= t0 + 0.015, ("t0=%f t1=%f"):format(t0, t1))
  end))

  it("call_soon runs callbacks in FIFO order with their arguments; cancel() prevents it", async(function()
    local log = {}
    aio.call_soon(function(a, b) log[#log + 1] = a .. b end, "x", "1")
    local h = aio.call_soon(function() log[#log + 1] = "cancelled" end)
    aio.call_soon(function(a) log[#log + 1] = a end, "y")
    assert.is_not_nil(h)
    h:cancel()
    assert.same({}, log)
    ticks(3)
    assert.same({ "x1", "y" }, log)
  end))

  it("call_later and call_at schedule callbacks with arguments and can be cancelled", async(function()
    local log = {}
    local got = aio.Future()
    aio.call_later(0.002, function(v) log[#log + 1] = v end, "later")
    local h = aio.call_later(0.001, function() log[#log + 1] = "no" end)
    h:cancel()
    aio.call_at(aio.time() + 0.004, function(v) log[#log + 1] = v got:set_result() end, "at")
    got:await()
    assert.same({ "later", "at" }, log)
  end))

  it("call_soon/call_later/call_at reject bad arguments naming the function", async(function()
    assert.matches("bad argument #1 to 'call_soon'", tostring(perr(aio.call_soon, 5)), 1, true)
    assert.matches("bad argument #1 to 'call_later'", tostring(perr(aio.call_later, "x", print)), 1, true)
    assert.matches("bad argument #2 to 'call_later'", tostring(perr(aio.call_later, 1, 5)), 1, true)
    assert.matches("bad argument #1 to 'call_at'", tostring(perr(aio.call_at, {}, print)), 1, true)
  end))
end)

---------------------------------------------------------------------------------------------
describe("§3 futures", function()
  it("a new Future is pending; result() raises InvalidStateError; exception() too", async(function()
    local f = aio.Future()
    assert.is_false(f:done())
    assert.is_false(f:cancelled())
    assert_err("InvalidStateError", perr(f.result, f))
    assert_err("InvalidStateError", perr(f.exception, f))
  end))

  it("set_result stores all values; result() returns them; exception() is nil", async(function()
    local f = aio.Future()
    f:set_result(1, nil, "three", nil)
    assert.is_true(f:done())
    local r = table.pack(f:result())
    assert.equal(4, r.n)
    assert.same({ 1, nil, "three" }, { r[1], r[2], r[3] })
    assert.is_nil(f:exception())
  end))

  it("setting a done future again raises InvalidStateError", async(function()
    local f = aio.Future()
    f:set_result(1)
    assert_err("InvalidStateError", perr(f.set_result, f, 2))
    assert_err("InvalidStateError", perr(f.set_exception, f, "x"))
    assert.equal(1, f:result())
    local g = aio.Future()
    g:cancel()
    assert_err("InvalidStateError", perr(g.set_result, g, 2))
  end))

  it("set_exception makes result() raise the value unchanged and exception() return it", async(function()
    local E = { code = 7 }
    local f = aio.Future()
    f:set_exception(E)
    assert.is_true(f:done())
    assert.equal(E, perr(f.result, f))
    assert.equal(E, f:exception())
    assert.equal(E, perr(aio.await, f))
  end))

  it("cancel returns true when accepted, false when already done; result raises CancelledError", async(function()
    local f = aio.Future()
    assert.is_true(f:cancel("because"))
    assert.is_true(f:cancelled())
    assert.is_true(f:done())
    local e = perr(f.result, f)
    assert_err("CancelledError", e)
    assert.equal("because", e.message)
    assert_err("CancelledError", perr(f.exception, f))
    assert.is_false(f:cancel())
    local g = aio.Future()
    g:set_result(1)
    assert.is_false(g:cancel())
    assert.is_false(g:cancelled())
  end))

  it("done callbacks run via the loop as fn(fut), never synchronously, even when already done", async(function()
    local f = aio.Future()
    local calls = {}
    f:add_done_callback(function(x) calls[#calls + 1] = x end)
    f:set_result(1)
    assert.equal(0, #calls)
    f:add_done_callback(function(x) calls[#calls + 1] = x end)
    assert.equal(0, #calls)
    ticks(2)
    assert.equal(2, #calls)
    assert.equal(f, calls[1])
    assert.equal(f, calls[2])
  end))

  it("done callbacks run in registration order, on tasks too", async(function()
    local order = {}
    local t = aio.spawn(function() return 1 end)
    t:add_done_callback(function(x) order[#order + 1] = x == t and "a" or "?" end)
    t:add_done_callback(function() order[#order + 1] = "b" end)
    t:await()
    ticks(2)
    assert.same({ "a", "b" }, order)
    local e = tostring(perr(t.add_done_callback, t, 5))
    assert.matches("bad argument", e, 1, true)
    assert.matches("add_done_callback", e, 1, true)
  end))

  it("remove_done_callback removes a registered callback", async(function()
    local f = aio.Future()
    local n = 0
    local cb = function() n = n + 1 end
    local kept = function() n = n + 10 end
    f:add_done_callback(cb)
    f:add_done_callback(kept)
    f:remove_done_callback(cb)
    f:set_result()
    ticks(2)
    assert.equal(10, n)
  end))

  it("set_result / set_exception on a Task raise RuntimeError", async(function()
    local t = aio.spawn(function() aio.sleep(0) end)
    assert_err("RuntimeError", perr(t.set_result, t, 1))
    assert_err("RuntimeError", perr(t.set_exception, t, "x"))
    t:await()
  end))

  it("a task's traceback shows its current stack, or the failure's traceback", async(function()
    local gate = aio.Future()
    local function acc3_tb_waiter() gate:await() end
    local t = aio.spawn(function() acc3_tb_waiter() end)
    ticks(1)
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
end)

---------------------------------------------------------------------------------------------
describe("§3 cancellation", function()
  it("cancel(msg) raises CancelledError carrying msg at the suspension point; the task may catch it", async(function()
    local caught
    local t = aio.spawn(function()
      local _, e = pcall(aio.sleep, 10)
      caught = e
      return "recovered"
    end)
    ticks(1)
    assert.is_true(t:cancel("stop now"))
    assert.equal("recovered", t:await())
    assert_err("CancelledError", caught)
    assert.equal("stop now", caught.message)
    assert.is_false(t:cancelled())
  end))

  it("a task that lets CancelledError propagate ends cancelled; awaiting it raises CancelledError", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    ticks(1)
    t:cancel()
    local e = perr(aio.await, t)
    assert_err("CancelledError", e)
    assert.is_true(t:cancelled())
    assert.is_true(t:done())
    assert_err("CancelledError", perr(t.result, t))
  end))

  it("a task cancelled before it starts never runs its body", async(function()
    local ran = false
    local t = aio.spawn(function() ran = true end)
    assert.is_true(t:cancel())
    pcall(aio.await, t)
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
    ticks(1)
    assert.equal(0, t:cancelling())
    t:cancel()
    t:cancel()
    assert.equal(2, t:cancelling())
    local c, u, after = t:await()
    assert.equal(2, c)
    assert.equal(1, u)
    assert.equal(1, after)
  end))

  it("cancelling a task waiting on a future or task cancels what it waits on (asyncio)", async(function()
    local fut = aio.Future()
    local inner = aio.spawn(function() aio.sleep(10) end)
    local a = aio.spawn(function() fut:await() end)
    local b = aio.spawn(function() inner:await() end)
    ticks(1)
    assert.is_true(a:cancel())
    assert.is_true(a:cancel(), "a repeated request on a pending task is accepted too")
    b:cancel()
    pcall(aio.await, a)
    pcall(aio.await, b)
    ticks(1)
    assert.is_true(fut:cancelled())
    assert.is_true(inner:cancelled())
  end))

  it("the cancel message reaches whoever awaits the cancelled task", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    ticks(1)
    t:cancel("acc3-why")
    local e = perr(aio.await, t)
    assert_err("CancelledError", e)
    assert.equal("acc3-why", e.message)
    assert_err("CancelledError", perr(t.exception, t))
  end))

  it("cancelling a finished task returns false", async(function()
    local t = aio.spawn(function() return 1 end)
    t:await()
    assert.is_false(t:cancel())
  end))

  it("aio.pcall catches ordinary errors but re-raises CancelledError", async(function()
    assert.same({ true, 1, 2 }, { aio.pcall(function(a) return a, 2 end, 1) })
    local ok, e = aio.pcall(error, "plain", 0)
    assert.is_false(ok)
    assert.equal("plain", e)
    local reached = false
    local t = aio.spawn(function()
      aio.pcall(aio.sleep, 10)
      reached = true
    end)
    ticks(1)
    t:cancel()
    assert_err("CancelledError", perr(aio.await, t))
    assert.is_false(reached)
    assert.is_true(t:cancelled())
  end))
end)

---------------------------------------------------------------------------------------------
describe("§3 unretrieved errors and lifetime", function()
  it("get_exception_handler is nil by default, returns the handler, and nil restores", function()
    assert.is_nil(aio.get_exception_handler())
    local h = function() end
    aio.set_exception_handler(h)
    assert.equal(h, aio.get_exception_handler())
    aio.set_exception_handler(nil)
    assert.is_nil(aio.get_exception_handler())
    local e = perr(aio.set_exception_handler, 42)
    assert.matches("set_exception_handler", tostring(e))
  end)

  it("an unretrieved task failure reaches the handler by the time run returns", function()
    local E = { acc3 = true }
    local seen = with_handler(function()
      aio.run(function()
        local t = aio.spawn(function() error(E) end)
        t:set_name("acc3-lost")
        ticks(2)
      end)
    end)
    assert.equal(1, #seen)
    local ctx = seen[1]
    assert.equal(E, ctx.exception)
    assert.is_string(ctx.message)
    assert.equal("acc3-lost", ctx.task:get_name())
    assert.is_string(ctx.traceback)
  end)

  it("an unretrieved failure of a dropped task is reported at the latest on collection", async(function()
    local seen = with_handler(function(seen)
      do aio.spawn(function() error("acc3 dropped") end) end
      ticks(2)
      collectgarbage()
      collectgarbage()
      aio.sleep(0.001) -- one full loop iteration after collection
      assert.equal(1, #seen)
    end)
    assert.matches("acc3 dropped", tostring(seen[1].exception))
  end))

  it("errors retrieved via await, result() or exception() are not reported", function()
    local seen = with_handler(function()
      aio.run(function()
        local a = aio.spawn(function() error("a") end)
        local b = aio.spawn(function() error("b") end)
        local c = aio.spawn(function() error("c") end)
        ticks(2)
        pcall(aio.await, a)
        pcall(b.result, b)
        c:exception()
      end)
      collectgarbage()
      collectgarbage()
    end)
    assert.equal(0, #seen)
  end)

  it("a failing callback and a failing done-callback go to the handler and do not end the process", async(function()
    local seen = with_handler(function()
      aio.call_soon(function() error("acc3 cb") end)
      local f = aio.Future()
      f:add_done_callback(function() error("acc3 done-cb") end)
      f:set_result()
      ticks(3)
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

  it("the default handler prints an unretrieved error to stderr and the script still succeeds", function()
    local p = script([[
      local aio = require "luaio"
      aio.run(function()
        local t = aio.spawn(function() error("acc3_unseen_error") end)
        t:set_name("acc3-task-name")
        aio.sleep(0) aio.sleep(0)
      end)
      print("after")
    ]])
    local code, out, err = sh(LUA_ENV .. "lua5.4 " .. p)
    os.remove(p)
    assert.equal(0, code)
    assert.equal("after\n", out)
    assert.matches("acc3_unseen_error", err)
    assert.matches("acc3-task-name", err, 1, true)
  end)

  it("a pending task with no references is not collected", async(function()
    local gate = aio.Future()
    local finished = false
    do aio.spawn(function() gate:await() finished = true end) end
    ticks(1)
    collectgarbage()
    collectgarbage()
    gate:set_result()
    ticks(3)
    assert.is_true(finished)
  end))

  it("a finished task nobody references is collectable", async(function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local t = aio.spawn(function() return 1 end)
      weak[1] = t
      t:await()
    end
    ticks(2)
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 gather", function()
  it("gathers tasks, futures, coroutine objects and functions in argument order", async(function()
    local f = aio.Future()
    aio.call_soon(function() f:set_result("fut", "ignored") end)
    local t = aio.spawn(function() aio.sleep(0.002) return "task" end)
    local co = aio.async(function() return "co", "extra" end)()
    local r = aio.gather(t, f, co, function() aio.sleep(0) return "fn" end)
    assert.same({ "task", "fut", "co", "fn", n = 4 }, r)
  end))

  it("runs its children concurrently", async(function()
    local log = {}
    local function w(id) log[#log + 1] = id .. "1" aio.sleep(0) log[#log + 1] = id .. "2" end
    aio.gather(function() w("a") end, function() w("b") end)
    assert.same({ "a1", "b1", "a2", "b2" }, log)
  end))

  it("nil results keep their slots and n counts them", async(function()
    local r = aio.gather(function() return nil end, function() return 2 end, function() end)
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal(2, r[2])
    assert.is_nil(r[3])
    local empty = aio.gather()
    assert.equal(0, empty.n)
    assert.is_nil(empty[1])
  end))

  it("the list form takes any number of awaitables", async(function()
    local list = {}
    for i = 1, 300 do list[i] = function() aio.sleep(0) return i * 2 end end
    local r = aio.gather(list)
    assert.equal(300, r.n)
    assert.equal(2, r[1])
    assert.equal(600, r[300])
    assert.equal(0, aio.gather({}).n)
  end))

  it("the first error is re-raised while the others keep running", async(function()
    local E = {}
    local other_done = false
    local gate = aio.Future()
    local other = aio.spawn(function() gate:await() other_done = true return "ok" end)
    local e = perr(aio.gather, other, function() error(E) end)
    assert.equal(E, e)
    assert.is_false(other:done())
    gate:set_result()
    assert.equal("ok", other:await())
    assert.is_true(other_done)
  end))

  it("function children keep running after the first error, and their later errors are not reported", function()
    local finished = false
    local seen = with_handler(function()
      aio.run(function()
        local e = perr(aio.gather,
          function() error("acc3-first", 0) end,
          function() aio.sleep(0) aio.sleep(0) finished = true end,
          function() aio.sleep(0) error("acc3-second", 0) end)
        assert.equal("acc3-first", e)
        ticks(4)
      end)
    end)
    assert.is_true(finished)
    assert.same({}, seen)
  end)

  it("a cancelled child (without return_exceptions) makes gather raise CancelledError", async(function()
    local v = aio.spawn(function() aio.sleep(10) end)
    aio.call_soon(function() v:cancel() end)
    assert_err("CancelledError", perr(aio.gather, v, function() return 1 end))
  end))

  it("the same awaitable twice fills both slots", async(function()
    local t = aio.spawn(function() return 5 end)
    assert.same({ 5, 5, n = 2 }, aio.gather(t, t))
  end))

  it("return_exceptions puts error values (and CancelledError) in the slots", async(function()
    local E = {}
    local victim = aio.spawn(function() aio.sleep(10) end)
    aio.call_soon(function() victim:cancel() end)
    local r = aio.gather({ function() return 1 end, function() error(E) end, victim },
      { return_exceptions = true })
    assert.equal(3, r.n)
    assert.equal(1, r[1])
    assert.equal(E, r[2])
    assert_err("CancelledError", r[3])
  end))

  it("an unknown opts key raises an argument error naming the key", async(function()
    local e = perr(aio.gather, { function() end }, { return_exception = true })
    assert.matches("return_exception", tostring(e), 1, true)
    assert.matches("gather", tostring(e))
  end))

  it("a non-awaitable argument raises an error", async(function()
    local e = perr(aio.gather, 42)
    assert.matches("gather", tostring(e))
    e = perr(aio.gather, { "str" })
    assert.matches("gather", tostring(e))
  end))

  it("cancelling the gather cancels its children", async(function()
    local c1 = aio.spawn(function() aio.sleep(10) end)
    local c2 = aio.Future()
    local g = aio.spawn(function() return aio.gather(c1, c2) end)
    ticks(2)
    g:cancel()
    assert_err("CancelledError", perr(aio.await, g))
    ticks(2)
    assert.is_true(c1:cancelled())
    assert.is_true(c2:cancelled())
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 wait", function()
  it("an empty list raises ValueError", async(function()
    assert_err("ValueError", perr(aio.wait, {}))
  end))

  it("ALL_COMPLETED (default) returns every awaitable done and none pending", async(function()
    local a = aio.spawn(function() aio.sleep(0) return 1 end)
    local b = aio.spawn(function() return 2 end)
    local done, pending = aio.wait({ a, b })
    assert.equal(2, #done)
    assert.equal(0, #pending)
    assert.is_true(a:done() and b:done())
  end))

  it("FIRST_COMPLETED returns as soon as one finishes", async(function()
    local gate = aio.Future()
    local slow = aio.spawn(function() gate:await() end)
    local fast = aio.spawn(function() return "fast" end)
    local done, pending = aio.wait({ slow, fast }, { return_when = "FIRST_COMPLETED" })
    assert.same({ fast }, done)
    assert.same({ slow }, pending)
    assert.is_false(slow:done())
    gate:set_result()
    slow:await()
  end))

  it("FIRST_EXCEPTION returns at the first failure, or waits for all without one", async(function()
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

  it("timeout returns what is done so far and does not cancel the rest", async(function()
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

  it("bad return_when and unknown opts keys are rejected", async(function()
    local f = aio.Future()
    f:set_result()
    local e = perr(aio.wait, { f }, { return_when = "WHENEVER" })
    assert.is_not_nil(e)
    e = perr(aio.wait, { f }, { timout = 1 })
    assert.matches("timout", tostring(e), 1, true)
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 wait_for", function()
  it("returns all results of the awaitable when it is in time", async(function()
    local r = table.pack(aio.wait_for(aio.spawn(function() return 1, nil, 3 end), 1))
    assert.equal(3, r.n)
    assert.same({ 1, nil, 3 }, { r[1], r[2], r[3] })
    local co = aio.async(function() aio.sleep(0) return "co" end)()
    assert.equal("co", aio.wait_for(co, 1))
  end))

  it("on timeout cancels the awaitable and raises TimeoutError", async(function()
    local saw_cancel = false
    local t = aio.spawn(function()
      local ok, e = pcall(aio.sleep, 10)
      saw_cancel = not ok and e.name == "CancelledError"
      error(e, 0)
    end)
    local e = perr(aio.wait_for, t, 0.005)
    assert_err("TimeoutError", e)
    assert.is_string(e.message)
    assert.is_true(saw_cancel)
    assert.is_true(t:cancelled())
  end))

  it("re-raises the awaitable's error unchanged", async(function()
    local E = {}
    assert.equal(E, perr(aio.wait_for, aio.spawn(function() error(E) end), 1))
  end))

  it("rejects a non-number timeout naming wait_for", async(function()
    local f = aio.Future()
    f:set_result()
    local e = perr(aio.wait_for, f, "1")
    assert.matches("wait_for", tostring(e))
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 as_completed", function()
  it("yields each awaitable as it finishes, in finishing order", async(function()
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

  it("with a timeout raises TimeoutError when not everything finishes", async(function()
    local gate = aio.Future()
    local quick = aio.spawn(function() return 1 end)
    local slow = aio.spawn(function() gate:await() end)
    local got = {}
    local e = perr(function()
      for aw in aio.as_completed({ quick, slow }, 0.005) do got[#got + 1] = aw:await() end
    end)
    assert_err("TimeoutError", e)
    assert.same({ 1 }, got)
    gate:set_result()
    slow:await()
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 shield", function()
  it("returns the results of the awaitable", async(function()
    local r = table.pack(aio.shield(aio.spawn(function() aio.sleep(0) return "s", nil end)))
    assert.equal(2, r.n)
    assert.equal("s", r[1])
  end))

  it("cancelling the caller raises CancelledError in it but does not cancel the inner task", async(function()
    local gate = aio.Future()
    local inner = aio.spawn(function() gate:await() return "inner-done" end)
    local caller = aio.spawn(function() return aio.shield(inner) end)
    ticks(2)
    caller:cancel()
    assert_err("CancelledError", perr(aio.await, caller))
    assert.is_false(inner:cancelled())
    assert.is_false(inner:done())
    gate:set_result()
    assert.equal("inner-done", inner:await())
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 timeout", function()
  it("a block that finishes in time is unaffected", async(function()
    local function block()
      local _ <close> = aio.timeout(1)
      aio.sleep(0)
      return "fine"
    end
    assert.equal("fine", block())
    -- and the deadline does not fire later
    aio.sleep(0.002)
  end))

  it("a block still running after the delay is cancelled and TimeoutError is raised from it", async(function()
    local inner
    local function block()
      local _ <close> = aio.timeout(0.005)
      local ok, e = pcall(aio.sleep, 10)
      inner = e
      if not ok then error(e, 0) end
    end
    local e = perr(block)
    assert_err("TimeoutError", e)
    assert_err("CancelledError", inner)
    -- the task itself is not left cancelled
    assert.equal(0, aio.current_task():cancelling())
    aio.sleep(0)
  end))

  it("rejects a non-number delay with an argument error naming timeout", async(function()
    local e = perr(aio.timeout, "soon")
    assert.matches("bad argument #1 to 'timeout'", tostring(e), 1, true)
  end))
end)

---------------------------------------------------------------------------------------------
describe("§4 TaskGroup", function()
  it("leaving the block waits for every child; spawn and create_task return tasks", async(function()
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

  it("the first failure cancels the rest and an ExceptionGroup lists failures in order", async(function()
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
    local e = perr(block)
    assert_err("ExceptionGroup", e)
    assert.is_table(e.errors)
    assert.equal(2, #e.errors)
    assert.equal(E1, e.errors[1])
    assert.equal(E2, e.errors[2])
    assert.is_true(sibling:cancelled())
  end))

  it("a child failure also cancels the body of the block (asyncio semantics)", async(function()
    local E = {}
    local body_saw
    local function block()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error(E) end)
      local ok, ce = pcall(aio.sleep, 10)
      body_saw = ce
      if not ok then error(ce, 0) end
    end
    local e = perr(block)
    assert_err("CancelledError", body_saw)
    assert_err("ExceptionGroup", e)
    assert.equal(1, #e.errors)
    assert.equal(E, e.errors[1])
    assert.equal(0, aio.current_task():cancelling())
  end))

  it("errors lists the failures in the order they happened, not spawn order", async(function()
    local E_late, E_early = { "late" }, { "early" }
    local e = perr(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function()
        pcall(aio.sleep, 10) -- cancelled by the sibling's failure, then fails itself
        error(E_late)
      end)
      tg:spawn(function() aio.sleep(0) error(E_early) end)
    end)
    assert_err("ExceptionGroup", e)
    assert.equal(2, #e.errors)
    assert.equal(E_early, e.errors[1])
    assert.equal(E_late, e.errors[2])
  end))

  it("children may add more children while the block is exiting", async(function()
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

  it("cancellations of children are not failures", async(function()
    local function block()
      local tg <close> = aio.TaskGroup()
      local t = tg:spawn(function() aio.sleep(10) end)
      tg:spawn(function() aio.sleep(0) t:cancel() return 1 end)
    end
    block() -- no error
  end))

  it("the block's own error cancels the children and comes last in errors", async(function()
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
    local e = perr(block)
    assert_err("ExceptionGroup", e)
    assert.equal(2, #e.errors)
    assert.equal(E_child, e.errors[1])
    assert.equal(E_block, e.errors[2])
    assert.is_true(victim:cancelled())
  end))

  it("a block error alone (no child failures) still cancels the children", async(function()
    local E = { "only" }
    local victim
    local function block()
      local tg <close> = aio.TaskGroup()
      victim = tg:spawn(function() aio.sleep(10) end)
      aio.sleep(0)
      error(E)
    end
    local e = perr(block)
    assert.is_true(victim:cancelled())
    -- as asyncio 3.13: the block's own error is listed in an ExceptionGroup
    assert_err("ExceptionGroup", e)
    assert.equal(1, #e.errors)
    assert.equal(E, e.errors[1])
  end))

  it("a CancelledError of the enclosing task propagates unwrapped and cancels the children", async(function()
    local child
    local outer = aio.spawn(function()
      local tg <close> = aio.TaskGroup()
      child = tg:spawn(function() aio.sleep(10) end)
      aio.sleep(10)
    end)
    ticks(2)
    outer:cancel()
    local e = perr(aio.await, outer)
    assert_err("CancelledError", e)
    assert.is_true(outer:cancelled())
    assert.is_true(child:cancelled())
  end))

  it("spawning on a finished group raises RuntimeError", async(function()
    local saved
    do
      local tg <close> = aio.TaskGroup()
      saved = tg
    end
    assert_err("RuntimeError", perr(saved.spawn, saved, function() end))
  end))
end)

---------------------------------------------------------------------------------------------
describe("§10 errors", function()
  it("every listed error class is exported as aio.<name>", function()
    for _, name in ipairs { "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty",
      "QueueFull", "QueueShutDown", "IncompleteReadError", "LimitOverrunError",
      "BrokenBarrierError", "ExceptionGroup", "RuntimeError", "ValueError", "OSError" } do
      assert.is_table(aio[name], name)
    end
  end)

  it("library errors are tables with name and message, metatable aio.<name>, tostring '<name>: <message>'", async(function()
    local samples = {}
    local f = aio.Future()
    samples[#samples + 1] = perr(f.result, f)                       -- InvalidStateError
    samples[#samples + 1] = perr(aio.wait, {})                      -- ValueError
    samples[#samples + 1] = perr(aio.wait_for, aio.Future(), 0.001) -- TimeoutError
    local g = aio.Future()
    g:cancel("m")
    samples[#samples + 1] = perr(g.result, g)                       -- CancelledError
    local t = aio.spawn(function() end)
    samples[#samples + 1] = perr(t.set_result, t, 1)                -- RuntimeError
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

  it("an ExceptionGroup is a proper library error too", async(function()
    local e = perr(function()
      local tg <close> = aio.TaskGroup()
      tg:spawn(function() error("x", 0) end)
    end)
    assert_err("ExceptionGroup", e)
    assert.is_string(e.message)
    assert.equal("ExceptionGroup: " .. e.message, tostring(e))
    assert.same({ "x" }, e.errors)
  end))

  it("wrong argument types give ordinary argument errors naming the function", async(function()
    local cases = {
      { "spawn", function() aio.spawn(nil) end },
      { "wait_for", function() aio.wait_for(aio.Future(), {}) end },
      { "set_exception_handler", function() aio.set_exception_handler("x") end },
      { "async", function() aio.async(3) end },
    }
    for _, c in ipairs(cases) do
      local e = perr(c[2])
      assert.matches("bad argument", tostring(e), 1, true)
      assert.matches(c[1], tostring(e), 1, true)
    end
  end))

  it("bad input from a script does not crash the process", function()
    local p = script([[
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
    ]])
    local code, out = sh("timeout 20 env " .. LUA_ENV .. "lua5.4 " .. p)
    os.remove(p)
    assert.matches("survived\n$", out)
    assert.equal(0, code)
  end)
end)
