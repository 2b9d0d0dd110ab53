-- debug_spec.lua — debug mode (aio.Runner{debug = true}, LUAIO_DEBUG=1): slow steps and
-- callbacks reported with their sites, coroutine objects never awaited reported with
-- where they were made, tasks' creation sites in dump_tasks; and call graphs:
-- aio.call_graph, aio.print_call_graph, "awaited by" in the error reports.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"
local catch = require "support.catch"
local settle = require "support.settle"
local with_handler = require "support.with_handler"
local outside_task = require "support.outside_task"
local arg_error = require "support.arg_error"

-- Debug mode is a loop's: each case runs a script in a fresh process, under stock lua5.4
-- with aio.Runner{debug = true} (`runner`), or under the binary with LUAIO_DEBUG=1.
local function run_runner(body, opts)
  local code = ("local aio = require 'luaio'\nlocal r <close> = aio.Runner{%s}\nr:run(function()\n%s\nend)\n")
    :format(opts or "debug = true, slow_callback_duration = 0.01", body)
  return proc.run { code = code, lua = true }
end

local function run_env(code, value)
  local saved = proc.bin
  proc.bin = ("env LUAIO_DEBUG=%s %s"):format(value or "1", saved)
  local ok, rc, out, err = pcall(proc.run, { code = "local aio = require 'luaio'\n" .. code })
  proc.bin = saved
  assert(ok, rc)
  return rc, out, err
end

-- the line of the script (as run_runner lays it out) holding `marker`
local function line_of(body, marker, header)
  local n = header or 3
  for l in (body .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if l:find(marker, 1, true) then return n end
  end
  error("no " .. marker)
end

-- a busy loop of real CPU time, not a sleep: the step does not suspend
local BUSY = "local t0 = os.clock() while os.clock() - t0 < 0.05 do end"

describe("debug mode: slow steps and callbacks", function()
  it("reports a task step longer than slow_callback_duration, with where it resumed and stopped", function()
    local body = ([[
local seen = {}
aio.set_exception_handler(function(ctx) seen[#seen + 1] = ctx end)
local t = aio.spawn(function()
  aio.sleep(0) -- RESUME
  %s
  aio.sleep(0) -- STOP
end)
t:set_name("busy")
t:await()
for _, ctx in ipairs(seen) do
  print(ctx.message, ctx.task == t, ctx.resumed_at, ctx.stopped_at, ctx.duration >= 0.04)
end]]):format(BUSY)
    local rc, out, err = run_runner(body)
    assert.equal(0, rc, err)
    local resume, stop = line_of(body, "RESUME"), line_of(body, "STOP")
    assert.matches('Executing Task%-%d+ "busy" took 0%.%d%d%d seconds %(resumed at [^\n]-:'
      .. resume .. ', suspended at [^\n]-:' .. stop .. '%)\ttrue\t[^\t]-:' .. resume
      .. '\t[^\t]-:' .. stop .. '\ttrue', out)
  end)

  it("says when the slow step ran the task to its end", function()
    local body = ([[
aio.spawn(function()
  aio.sleep(0) -- RESUME
  %s
end):await()]]):format(BUSY)
    local rc, _, err = run_runner(body)
    assert.equal(0, rc, err)
    assert.matches("luaio: Executing Task%-%d+ \"Task%-%d+\" took [%d.]+ seconds %(resumed at [^\n]-:"
      .. line_of(body, "RESUME") .. ", ran to its end%)", err)
  end)

  it("names a task's function for its first step", function()
    local body = ([[
aio.spawn(function() -- DEF
  %s
  aio.sleep(0)
end):await()]]):format(BUSY)
    local _, _, err = run_runner(body)
    assert.matches("resumed at [^\n]-:" .. line_of(body, "DEF") .. ", suspended at", err)
  end)

  it("reports a slow callback with its function", function()
    local body = ([[
local done = aio.Future()
aio.call_soon(function() -- CB
  %s
  done:set_result(true)
end)
done:await()]]):format(BUSY)
    local rc, _, err = run_runner(body)
    assert.equal(0, rc, err)
    assert.matches("luaio: Executing callback function <[^\n]-:" .. line_of(body, "CB")
      .. "> took [%d.]+ seconds", err)
  end)

  it("reports nothing when the steps are fast, or when debug mode is off", function()
    local body = ("for _ = 1, 3 do aio.sleep(0) end\naio.spawn(function() %s end):await()"):format(BUSY)
    -- a threshold far above a sleep(0) step, so a loaded machine cannot make one slow
    local _, _, err = run_runner("for _ = 1, 100 do aio.sleep(0) end", "debug = true, slow_callback_duration = 2")
    assert.equal("", err)
    _, _, err = run_runner(body, "slow_callback_duration = 0.01")
    assert.equal("", err)
    _, _, err = run_runner(body, "debug = false")
    assert.equal("", err)
  end)

  it("is on under the binary with LUAIO_DEBUG=1 (default threshold 0.1 s), off with 0", function()
    local code = [[
aio.spawn(function()
  local t0 = os.clock() while os.clock() - t0 < 0.15 do end
end):await()]]
    local rc, _, err = run_env(code)
    assert.equal(0, rc, err)
    assert.matches("luaio: Executing Task%-%d+ \"Task%-%d+\" took [%d.]+ seconds", err)
    rc, _, err = run_env(code, "0")
    assert.equal(0, rc, err)
    assert.equal("", err)
  end)
end)

describe("debug mode: coroutine objects never awaited", function()
  it("reports one collected without having run, with the line that made it", function()
    local body = [[
local seen = {}
aio.set_exception_handler(function(ctx) seen[#seen + 1] = ctx end)
local work = aio.async(function() end)
do local _ = work() end -- FORGOTTEN
work():await()
aio.create_task(work()):await()
collectgarbage() collectgarbage()
aio.sleep(0)
for _, ctx in ipairs(seen) do print(ctx.message, ctx.site) end]]
    local rc, out, err = run_runner(body)
    assert.equal(0, rc, err)
    local line = line_of(body, "FORGOTTEN")
    assert.matches("^coroutine object created at [^\n]-:" .. line .. " was never awaited\t[^\n]-:"
      .. line .. "\n$", out)
  end)

  it("reports what is still forgotten when the run ends; nothing with debug mode off", function()
    local code = "local work = aio.async(function() end)\nwork()\nprint('end')\n"
    local rc, out, err = run_env(code)
    assert.equal(0, rc, err)
    assert.equal("end\n", out)
    assert.matches("^luaio: coroutine object created at [^\n]-:3 was never awaited\n$", err)
    local rc2, _, err2 = run_env(code, "0")
    assert.equal(0, rc2, err2)
    assert.equal("", err2)
  end)
end)

describe("debug mode: creation sites", function()
  it("dump_tasks prints where each task was created", function()
    local body = [[
local t = aio.spawn(function() aio.sleep(10) end) -- CREATED
t:set_name("sleeper")
aio.sleep(0)
aio.dump_tasks(io.stdout)
t:cancel()]]
    local rc, out, err = run_runner(body)
    assert.equal(0, rc, err)
    assert.matches('Task%-%d+ "sleeper" waiting on a sleep[^\n]*\n +created at [^\n]-:'
      .. line_of(body, "CREATED") .. "\n", out)
    rc, out = run_runner(body, "debug = false")
    assert.equal(0, rc)
    assert.not_matches("created at", out)
  end)

  it("gives a task made by create_task the script's line, not the Lua layer's", function()
    local body = [[
local c = aio.async(function() aio.sleep(10) end)
local t = aio.create_task(c(), "made") -- CREATED
aio.sleep(0)
aio.dump_tasks(io.stdout)
t:cancel()]]
    local _, out = run_runner(body)
    assert.matches('"made"[^\n]*\n +created at [^\n]-:' .. line_of(body, "CREATED") .. "\n", out)
  end)
end)

-- the line of the caller
local function here() return debug.getinfo(2, "l").currentline end
local SRC = debug.getinfo(1, "S").short_src

describe("aio.call_graph", function()
  it("follows a chain of three tasks awaiting each other, innermost first", async(function()
    local fut = aio.Future()
    local l3, l2, l1
    local t3 = aio.spawn(function() l3 = here() + 1
      fut:await()
    end)
    local t2 = aio.spawn(function() l2 = here() + 1
      t3:await()
    end)
    local t1 = aio.spawn(function() l1 = here() + 1
      t2:await()
    end)
    settle()
    local g = aio.call_graph(t3)
    assert.equal(3, #g)
    assert.equal(t3, g[1].task)
    assert.equal(t2, g[2].task)
    assert.equal(t1, g[3].task)
    assert.same({ SRC, l3, SRC, l2, SRC, l1 }, { g[1].file, g[1].line, g[2].file, g[2].line, g[3].file, g[3].line })
    assert.equal(2, #aio.call_graph(t2))
    fut:set_result(1)
    t1:await()
  end))

  it("follows a gather to the gathering task", async(function()
    local fut = aio.Future()
    local lg
    local c1 = aio.spawn(function() fut:await() end)
    local c2 = aio.spawn(function() fut:await() end)
    local parent = aio.spawn(function() lg = here() + 1
      aio.gather(c1, c2)
    end)
    settle()
    local g = aio.call_graph(c2)
    assert.equal(2, #g)
    assert.equal(c2, g[1].task)
    assert.equal(parent, g[2].task)
    assert.equal(lg, g[2].line)
    fut:set_result(1)
    parent:await()
    assert.same({}, aio.call_graph(c2)) -- done: in no graph
  end))

  it("follows shield, a TaskGroup's owner and Job:wait to the task that awaits", async(function()
    local fut = aio.Future()
    local names = function(t)
      local out = {}
      for _, e in ipairs(aio.call_graph(t)) do out[#out + 1] = e.task end
      return out
    end
    local leaf = aio.spawn(function() fut:await() end)
    local shielder = aio.spawn(function() aio.shield(leaf) end)
    local child
    local owner = aio.spawn(function()
      local tg <close> = aio.TaskGroup()
      child = tg:spawn(function() fut:await() end)
    end)
    local s = aio.Scheduler()
    local job = s:spawn(function() fut:await() end)
    local waiter = aio.spawn(function() job:wait() end)
    settle()
    assert.same({ leaf, shielder }, names(leaf))
    assert.same({ child, owner }, names(child))
    local job_task
    for _, t in ipairs(aio.all_tasks()) do
      if t ~= leaf and t ~= shielder and t ~= owner and t ~= child and t ~= waiter and t ~= aio.current_task() then job_task = t end
    end
    assert.same({ job_task, waiter }, names(job_task))
    fut:set_result(1)
    shielder:await(); owner:await(); waiter:await()
    s:close()
    assert.same({}, names(leaf))
  end))

  it("starts from the current task by default, at the line that asks", async(function()
    local g, line
    local inner = aio.spawn(function()
      settle() line = here() + 1
      g = aio.call_graph()
    end)
    local outer = aio.spawn(function() inner:await() end)
    outer:await()
    assert.equal(inner, g[1].task)
    assert.equal(line, g[1].line)
    assert.equal(outer, g[2].task)
  end))

  it("gives a task not started yet its function's line", async(function()
    local line = here() + 1
    local t = aio.spawn(function() end)
    local g = aio.call_graph(t)
    assert.equal(1, #g)
    assert.equal(line, g[1].line)
    t:await()
  end))

  it("is nil outside a task when no task is given", async(function()
    local ok, g = outside_task(aio.call_graph)
    assert.is_true(ok)
    assert.is_nil(g)
  end))

  it("rejects what is not a Task", function()
    arg_error("call_graph", catch(aio.call_graph, 42))
    assert.matches("bad argument #1 to 'call_graph' %(Task expected, got number%)", catch(aio.call_graph, 42))
    assert.matches("bad argument #1 to 'call_graph' %(Task expected", catch(aio.call_graph, aio.Future()))
    assert.matches("bad argument #1 to 'print_call_graph' %(Task expected, got number%)",
      catch(aio.print_call_graph, 42))
    assert.matches("bad argument #2 to 'print_call_graph'", catch(aio.print_call_graph, nil, 42))
    local closed = io.tmpfile()
    closed:close()
    assert.matches("bad argument #2 to 'print_call_graph' %(the file is closed%)",
      catch(aio.print_call_graph, nil, closed))
  end)
end)

describe("aio.print_call_graph", function()
  local function collector()
    local buf, w = {}, {}
    function w:write(...) for _, s in ipairs { ... } do buf[#buf + 1] = s end return self end
    return w, function() return table.concat(buf) end
  end

  it("prints the chain, one task a line, to the file given", async(function()
    local fut = aio.Future()
    local inner = aio.spawn(function() fut:await() end)
    inner:set_name("inner")
    local outer = aio.spawn(function() inner:await() end)
    outer:set_name("outer")
    settle()
    local w, text = collector()
    aio.print_call_graph(inner, w)
    assert.matches("^%* inner at " .. SRC:gsub("%p", "%%%0") .. ":%d+\n  awaited by outer at [^\n]+:%d+\n$", text())
    fut:set_result(1)
    outer:await()
    w, text = collector()
    aio.print_call_graph(inner, w)
    assert.matches("done", text())
  end))

  it("prints to io.stdout by default", function()
    local rc, out = proc.run { code = [[
local aio = require 'luaio'
aio.run(function()
  local t = aio.spawn(function() aio.print_call_graph() end)
  t:set_name("printer")
  t:await()
end)]], lua = true }
    assert.equal(0, rc)
    assert.matches("^%* printer at [^\n]+:3\n  awaited by Task%-1 at [^\n]+:5\n$", out)
  end)
end)

describe("awaited by, in error reports", function()
  it("task:traceback() of a failed task names each task awaiting it and where it was suspended", async(function()
    local lw
    local child = aio.spawn(function() aio.sleep(0) error("deep") end)
    child:set_name("child")
    local waiter = aio.spawn(function() lw = here() + 1
      child:await()
    end)
    waiter:set_name("waiter")
    local ok = pcall(waiter.await, waiter)
    assert.is_false(ok)
    local tb = child:traceback()
    assert.matches("deep", catch(child.result, child))
    assert.matches('awaited by Task%-%d+ "waiter"\nstack traceback:\n[^\n]*\n\t[^\n]-:' .. lw .. ":", tb)
    -- the awaiter re-raises it: its own traceback carries the chain
    assert.matches("%(raised in an awaited task%)", waiter:traceback())
    assert.matches('awaited by Task%-%d+ "waiter"', waiter:traceback())
  end))

  it("a failed task nobody awaited has no such part", async(function()
    local t = aio.spawn(function() error("alone") end)
    settle()
    assert.not_matches("awaited by", t:traceback())
    catch(t.result, t)
  end))

  it("the exception handler's ctx.traceback shows it", async(function()
    local seen = with_handler(function()
      local child = aio.spawn(function() aio.sleep(0) error("deep") end)
      local parent = aio.spawn(function() child:await() end)
      parent:set_name("lost-parent")
      settle(4)
      parent = nil -- luacheck: ignore
      collectgarbage() collectgarbage()
      settle()
    end)
    local found
    for _, ctx in ipairs(seen) do
      if ctx.traceback and ctx.traceback:find('awaited by Task%-%d+ "lost%-parent"') then found = ctx end
    end
    assert.truthy(found, "no report with awaited by")
  end))

  it("the binary's report shows the failing stack, then the task that awaited it", function()
    local rc, _, err = proc.run { code = [[
local aio = require 'luaio'
local child = aio.spawn(function()
  aio.sleep(0)
  error("deep failure")
end)
child:set_name("child")
child:await()
]] }
    assert.equal(1, rc)
    assert.matches("deep failure", err)
    assert.matches("%(raised in an awaited task%)\nstack traceback:\n[^\n]*error[^\n]*\n\t[^\n]-:4:", err)
    assert.matches('awaited by Task%-1 "Task%-1"\nstack traceback:\n[^\n]*\n\t[^\n]-:7:', err)
  end)
end)

describe("call graphs as asyncio", function()
  it("capture_call_graph: the awaited task first, its awaiters after", async(function()
    local fut = aio.Future()
    local a = aio.spawn(function() return fut:await() end)
    local b = aio.spawn(function() return a:await() end)
    settle()
    local g = aio.call_graph(a)
    assert.same({ a, b }, { g[1].task, g[2].task })
    fut:set_result(7)
    assert.equal(7, b:await())
  end))
end)
