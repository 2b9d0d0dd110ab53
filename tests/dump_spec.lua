-- dump_spec.lua — aio.dump_tasks: the live task tree with names, states, what each task
-- waits on and its full suspended stack; and the dump a running luaio prints on SIGUSR1.
local aio = require "luaio"
local async = require "support.async"
local virtual = require "support.virtual"
local proc = require "support.proc"
local catch = require "support.catch"
local settle = require "support.settle"
local fs = require "support.fs"
local poll = require "support.poll"
local command = require "support.command"
local bin = require "support.bin"

local mktemp, write, slurp, rmdir = fs.mktemp, fs.write, fs.slurp, fs.rmdir
local luaio = command.luaio
local with_bg = require("support.background").with_bg

-- a writer collecting what dump_tasks writes
local function collector()
  local buf = {}
  local w = {}
  function w:write(...)
    for _, s in ipairs { ... } do buf[#buf + 1] = s end
    return self
  end
  return w, function() return table.concat(buf) end
end

local function dump()
  local w, text = collector()
  aio.dump_tasks(w)
  local lines = {}
  for l in text():gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines, text()
end

-- index and indentation of the header line of the task named `name`
local function find_task(lines, name)
  for i, l in ipairs(lines) do
    local sp = l:match('^( *)Task%-%d+ "' .. name:gsub("%p", "%%%0") .. '"')
    if sp then return i, #sp, l end
  end
  error("no task named " .. name .. " in:\n" .. table.concat(lines, "\n"), 2)
end

-- the frame lines under the task header at index i (deeper indentation, not a task)
local function frames(lines, i, ind)
  local out = {}
  for j = i + 1, #lines do
    local sp, rest = lines[j]:match("^( *)(.*)$")
    if #sp <= ind or rest:match("^Task%-%d+ ") then break end
    out[#out + 1] = rest
  end
  return out
end

describe("aio.dump_tasks", function()
  it("writes the live tasks as a tree, each child under the task that started it", virtual(function()
    local fut = aio.Future()
    local parent = aio.spawn(function()
      local a = aio.spawn(function() aio.sleep(10) end)
      a:set_name("dump-sleeper")
      local b = aio.spawn(function() fut:await() end)
      b:set_name("dump-waiter")
      aio.gather(a, b)
    end)
    parent:set_name("dump-parent")
    settle(3)
    local lines, text = dump()
    assert.matches("^luaio: %d+ live tasks?\n", text)
    local ip, dp = find_task(lines, "dump-parent")
    local is, ds = find_task(lines, "dump-sleeper")
    local iw, dw = find_task(lines, "dump-waiter")
    assert.equal(dp + 2, ds)
    assert.equal(dp + 2, dw)
    assert.is_true(ip < is and is < iw, "parent first, then its children in start order")
    -- the children sit inside the parent's subtree: no line between them is shallower
    for j = ip + 1, iw do assert.is_true(#lines[j]:match("^ *") > dp) end
    fut:set_result(true)
    parent:cancel()
    pcall(parent.await, parent)
  end))

  it("gives each task's state and what it waits on", virtual(function()
    local fut = aio.Future()
    local sleeper = aio.spawn(function() aio.sleep(10) end)
    sleeper:set_name("st-sleeper")
    local waiter = aio.spawn(function() fut:await() end)
    waiter:set_name("st-waiter")
    local awaiter = aio.spawn(function() sleeper:await() end)
    awaiter:set_name("st-awaiter")
    local gatherer = aio.spawn(function() aio.gather(sleeper, waiter) end)
    gatherer:set_name("st-gatherer")
    settle(2)
    local fresh = aio.spawn(function() end)
    fresh:set_name("st-fresh")
    local lines = dump()
    local _, _, l = find_task(lines, "st-sleeper")
    local left = tonumber(l:match("waiting on a sleep, ([%d.]+) s left$"))
    assert.is_truthy(left, l)
    assert.is_true(left > 9 and left <= 10, l)
    _, _, l = find_task(lines, "st-waiter")
    assert.matches("waiting on a Future$", l)
    _, _, l = find_task(lines, "st-awaiter")
    assert.matches('waiting on Task%-%d+ "st%-sleeper"$', l)
    _, _, l = find_task(lines, "st-gatherer")
    assert.matches("waiting on a gather of 2 %(2 pending: Task%-%d+, Task%-%d+%)$", l)
    local i, ind
    i, ind, l = find_task(lines, "st-fresh")
    assert.matches("not started$", l)
    assert.matches("^will run function <.*dump_spec%.lua:%d+>$", frames(lines, i, ind)[1])
    i, ind, l = find_task(lines, aio.current_task():get_name())
    assert.matches("running$", l)
    assert.equal("[C]: in function 'aio.dump_tasks'", frames(lines, i, ind)[1])
    for _, t in ipairs { sleeper, waiter, awaiter, gatherer } do t:cancel() end
    fut:cancel()
    aio.gather({ sleeper, waiter, awaiter, gatherer }, { return_exceptions = true })
  end))

  it("shows the whole suspended stack with file:line per frame", virtual(function()
    local function inner() aio.sleep(10) end local L1 = debug.getinfo(1, "l").currentline
    local function middle() inner() end local L2 = debug.getinfo(1, "l").currentline
    local function outer() middle() end local L3 = debug.getinfo(1, "l").currentline
    local t = aio.spawn(function() outer() end) local L4 = debug.getinfo(1, "l").currentline
    t:set_name("deep")
    settle(1)
    local lines = dump()
    local i, ind = find_task(lines, "deep")
    local f = frames(lines, i, ind)
    assert.equal("[C]: in function 'aio.sleep'", f[1])
    assert.matches("dump_spec%.lua:" .. L1 .. ": in upvalue 'inner'$", f[2])
    assert.matches("dump_spec%.lua:" .. L2 .. ": in upvalue 'middle'$", f[3])
    assert.matches("dump_spec%.lua:" .. L3 .. ": in upvalue 'outer'$", f[4])
    assert.matches("dump_spec%.lua:" .. L4 .. ": in function <.*dump_spec%.lua:" .. L4 .. ">$", f[5])
    assert.equal(5, #f, "no runtime-internal frame at the bottom")
    t:cancel()
    pcall(t.await, t)
  end))

  it("lists a task whose parent has finished as a root, naming the parent", virtual(function()
    local child
    local parent = aio.spawn(function()
      child = aio.spawn(function() aio.sleep(10) end)
      child:set_name("orphan")
    end)
    parent:await()
    local lines = dump()
    local _, ind, l = find_task(lines, "orphan")
    assert.equal(0, ind)
    assert.matches("%(started by Task%-%d+, which has finished%)$", l)
    child:cancel()
    pcall(child.await, child)
  end))

  it("names each task's state, what it waits on and its functions, parent before child", virtual(function()
    local gate = aio.Future()
    local function acc3_deep_waiter() gate:await() end
    local parent = aio.spawn(function()
      local child = aio.spawn(function() acc3_deep_waiter() end)
      child:set_name("acc3-child")
      child:await()
    end)
    parent:set_name("acc3-parent")
    settle(3)
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
    assert.matches("dump_spec.lua", out, 1, true)
  end))

  it("writes to io.stderr by default and accepts any object with a write method", virtual(function()
    local w, text = collector()
    local saved = io.stderr
    io.stderr = w
    local ok, err = pcall(aio.dump_tasks)
    io.stderr = saved
    assert.is_true(ok, err)
    assert.matches("^luaio: %d+ live tasks?\n", text())
    local f = io.tmpfile()
    aio.dump_tasks(f)
    f:seek("set")
    assert.matches("^luaio: %d+ live tasks?\n", f:read("a"))
    f:close()
    assert.error_matches(function() aio.dump_tasks(42) end, "bad argument #1")
  end))

  it("rejects something that is not a file, naming dump_tasks", virtual(function()
    assert.matches("dump_tasks", tostring(catch(aio.dump_tasks, 42)), 1, true)
  end))

  it("in a script, writes the tree to a given file or to stderr by default", function()
    local d = mktemp()
    write(d .. "/s.lua", [[
      local aio = require "luaio"
      local ev = aio.Event()
      aio.create_task(aio.async(function()
        aio.create_task(aio.async(function() ev:wait() end)(), "dump-child")
        ev:wait()
      end)(), "dump-parent")
      aio.sleep(0.01)
      local f = assert(io.open("dump.txt", "w"))
      aio.dump_tasks(f)
      f:close()
      aio.dump_tasks()
      ev:set()
    ]])
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(0, st, err)
    assert.equal("", out)
    local file = slurp(d .. "/dump.txt")
    for _, s in ipairs { file, err } do
      assert.truthy(s:find("dump-parent", 1, true), s)
      assert.truthy(s:find("dump-child", 1, true), s)
      assert.truthy(s:find("dump-parent", 1, true) < s:find("dump-child", 1, true), s)
      -- what they wait on: Event:wait, like asyncio's, waits on a future; accept either name
      assert.truthy(s:find("dump%-child[^\n]*waiting on [^\n]*%a") , "names what they wait on: " .. s)
      assert.truthy(s:find("s.lua:4", 1, true), "the child's stack: " .. s)
      assert.truthy(s:find("s.lua:5", 1, true), "the parent's stack: " .. s)
    end
    rmdir(d)
  end)
end)

describe("aio.dump_tasks: call graph and creation sites", function()
  it("lists under each task the tasks awaiting it, directly or through a gather", async(function()
    local fut = aio.Future()
    local child = aio.spawn(function() fut:await() end)
    child:set_name("graph-child")
    local direct = aio.spawn(function() child:await() end)
    direct:set_name("graph-direct")
    local gatherer = aio.spawn(function() aio.gather(child) end)
    gatherer:set_name("graph-gatherer")
    settle()
    local lines = dump()
    local i, ind = find_task(lines, "graph-child")
    local f = frames(lines, i, ind)
    assert.matches('^awaited by Task%-%d+ "graph%-direct"$', f[1])
    assert.matches('^awaited by Task%-%d+ "graph%-gatherer"$', f[2])
    i, ind = find_task(lines, "graph-direct")
    assert.not_matches("awaited by", table.concat(frames(lines, i, ind), "\n"))
    fut:set_result(1)
    direct:await()
    gatherer:await()
  end))

  it("prints no creation site with debug mode off", async(function()
    local t = aio.spawn(function() aio.sleep(10) end)
    t:set_name("no-site")
    settle()
    local lines = dump()
    local i, ind = find_task(lines, "no-site")
    assert.not_matches("created at", table.concat(frames(lines, i, ind), "\n"))
    t:cancel()
  end))
end)

describe("SIGUSR1", function()
  it("makes luaio print the task dump to stderr; the script carries on", async(function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local script = dir .. "/s.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local aio = require "luaio"
local function exists(p) local f = io.open(p) if f then f:close() end return f ~= nil end
local w = aio.spawn(function() aio.sleep(30) end)
w:set_name("usr1-worker") aio.spawn(function() pcall(w.await, w) end):set_name("usr1-waiter")
aio.sleep(0) aio.sleep(0) io.open(%q, "w"):close()
while not exists(%q) do aio.sleep(0.02) end
w:cancel()
print("done")
]]):format(dir .. "/ready", dir .. "/go"))
    f:close()
    local cmd = ("(sh -c 'echo $$ > %s/pid; exec %s %s > %s/out 2> %s/err'; echo $? > %s/rc) >/dev/null 2>&1 &")
      :format(dir, bin, script, dir, dir, dir)
    assert(os.execute(cmd))
    -- whatever happens, the script is told to go (or killed): no process outlives the test
    finally(function()
      local go = io.open(dir .. "/go", "w")
      if go then go:close() end
      local p = (slurp(dir .. "/pid") or ""):match("%d+")
      if p and not fs.exists(dir .. "/rc") then os.execute("kill " .. p .. " 2>/dev/null") end
    end)
    poll(function() return fs.exists(dir .. "/ready") end, "the script to start", 10)
    local pid = (slurp(dir .. "/pid") or ""):match("%d+")
    assert(os.execute("kill -USR1 " .. pid))
    poll(function() return (slurp(dir .. "/err") or ""):find("usr1-worker", 1, true) end, "the dump", 10)
    io.open(dir .. "/go", "w"):close()
    poll(function() return fs.exists(dir .. "/rc") and (slurp(dir .. "/rc") or ""):match("%d") end, "the exit", 10)
    local err = slurp(dir .. "/err")
    assert.matches("luaio: 3 live tasks\n", err)
    assert.matches('Task%-%d+ "usr1%-worker" waiting on a sleep, [%d.]+ s left', err)
    -- the call graph: who awaits whom
    assert.matches('Task%-%d+ "usr1%-waiter" waiting on Task%-%d+ "usr1%-worker"', err)
    assert.matches('"usr1%-worker" waiting on a sleep[^\n]*\n +awaited by Task%-%d+ "usr1%-waiter"\n', err)
    assert.matches("s%.lua:6: in main chunk", err)
    assert.equal("done\n", slurp(dir .. "/out"))
    assert.equal("0", (slurp(dir .. "/rc") or ""):match("%d+"))
    os.execute("rm -rf " .. dir)
  end, 20))

  it("prints the task tree with names, what each waits on and stacks; the script goes on",
    with_bg([[
      local aio = require "luaio"
      local q = aio.Queue()
      local function child_body() return q:get() end
      aio.create_task(aio.async(function()
        aio.create_task(aio.async(function() child_body() end)(), "usr1-child")
        aio.sleep(100)
      end)(), "usr1-parent")
      aio.sleep(0.01)
      print("ready") io.stdout:flush()
      local v = q:get()
      print("got", v)
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("USR1")
      p:wait_err("usr1%-child", "the dump on stderr")
      -- the dump is written in one go; wait until it has the child's stack too
      local err = p:wait_err("child_body", "the child's stack in the dump") and p:file("err")
      assert.truthy(err:find("usr1-parent", 1, true), err)
      local ip, ic = err:find("usr1-parent", 1, true), err:find("usr1-child", 1, true)
      assert.truthy(ip < ic, "the parent is listed before its child: " .. err)
      assert.truthy(err:find("Queue", 1, true), "what the tasks wait on: " .. err)
      assert.truthy(err:find("sleep", 1, true), "what the tasks wait on: " .. err)
      assert.truthy(err:find("s.lua:3", 1, true), "the child's suspended stack: " .. err)
      assert.is_nil(p:status(), "SIGUSR1 must not end the process")
      p:kill("INT")
      p:wait_exit()
    end))

  it("prints the task dump even while a task is busy in a loop that never suspends", with_bg([[
      print("ready") io.stdout:flush()
      local function spin() local n = 0 while true do n = n + 1 end end
      spin()
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("USR1")
      p:wait_err("spin", "the dump with the busy task's stack")
    end))
end)

describe("dump regressions", function()
  -- dump.c: the task list was a C array of raw pointers while get_name / __tostring ran
  -- Lua code; that code could run the loop, finish the listed tasks and collect them.
  it("dump_tasks keeps the tasks it lists alive while it calls Lua code", function()
    local st, out, err = proc.run { lua = true, code = [[
      local aio = require "luaio"
      local t0 = aio.spawn(function() end)
      local mt = getmetatable(t0)
      local orig, done = mt.get_name, false
      mt.get_name = function(t)
        if not done then
          done = true
          aio.run(function() aio.sleep(0) end) -- finishes every listed task
          collectgarbage() collectgarbage()
          local junk = {} -- reuse the freed blocks with bytes that make bad pointers
          for i = 1, 4000 do junk[i] = string.rep("\255", 160 + i % 24) .. i end
        end
        return orig(t)
      end
      for i = 1, 50 do aio.spawn(function() end) end
      t0 = nil
      local parts = {}
      aio.dump_tasks({ write = function(_, s) parts[#parts + 1] = s end })
      mt.get_name = orig
      local s = table.concat(parts)
      assert(s:match("^luaio: 51 live tasks\n"), s)
      local n = 0
      for _ in s:gmatch("\nTask%-%d+ \"Task%-%d+\" ") do n = n + 1 end
      assert(n == 51, s)
      print("ok")
    ]] }
    assert.equal(0, st, err)
    assert.equal("ok\n", out)
  end)
end)
