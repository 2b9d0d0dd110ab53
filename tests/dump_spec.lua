-- dump_spec.lua — aio.dump_tasks: the live task tree with names, states, what each task
-- waits on and its full suspended stack; and the SIGUSR1 dump of a running luaio.
local aio = require "luaio"
local async = require "support.async"

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

local function rounds(n) for _ = 1, n do aio.sleep(0) end end

describe("aio.dump_tasks", function()
  it("writes the live tasks as a tree, each child under the task that started it", async(function()
    local fut = aio.Future()
    local parent = aio.spawn(function()
      local a = aio.spawn(function() aio.sleep(10) end)
      a:set_name("dump-sleeper")
      local b = aio.spawn(function() fut:await() end)
      b:set_name("dump-waiter")
      aio.gather(a, b)
    end)
    parent:set_name("dump-parent")
    rounds(3)
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

  it("gives each task's state and what it waits on", async(function()
    local fut = aio.Future()
    local sleeper = aio.spawn(function() aio.sleep(10) end)
    sleeper:set_name("st-sleeper")
    local waiter = aio.spawn(function() fut:await() end)
    waiter:set_name("st-waiter")
    local awaiter = aio.spawn(function() sleeper:await() end)
    awaiter:set_name("st-awaiter")
    local gatherer = aio.spawn(function() aio.gather(sleeper, waiter) end)
    gatherer:set_name("st-gatherer")
    rounds(2)
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

  it("shows the whole suspended stack with file:line per frame", async(function()
    local function inner() aio.sleep(10) end local L1 = debug.getinfo(1, "l").currentline
    local function middle() inner() end local L2 = debug.getinfo(1, "l").currentline
    local function outer() middle() end local L3 = debug.getinfo(1, "l").currentline
    local t = aio.spawn(function() outer() end) local L4 = debug.getinfo(1, "l").currentline
    t:set_name("deep")
    rounds(1)
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

  it("lists a task whose parent has finished as a root, naming the parent", async(function()
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

  it("writes to io.stderr by default and accepts any object with a write method", async(function()
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
end)

describe("luaio on SIGUSR1", function()
  local bin = os.getenv("LUAIO_BIN") or "build/luaio"

  local function exists(p)
    local f = io.open(p)
    if f then f:close() end
    return f ~= nil
  end
  local function slurp(p)
    local f = io.open(p)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
  end
  local function wait_for(pred, what)
    local deadline = aio.time() + 10
    while not pred() do
      if aio.time() > deadline then error("timed out waiting for " .. what, 2) end
      aio.sleep(0.02)
    end
  end

  it("prints the task dump to stderr and the script carries on", async(function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local script = dir .. "/s.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
local aio = require "luaio"
local function exists(p) local f = io.open(p) if f then f:close() end return f ~= nil end
local w = aio.spawn(function() aio.sleep(30) end)
w:set_name("usr1-worker")
io.open(%q, "w"):close()
while not exists(%q) do aio.sleep(0.02) end
w:cancel()
print("done")
]]):format(dir .. "/ready", dir .. "/go"))
    f:close()
    local cmd = ("(sh -c 'echo $$ > %s/pid; exec %s %s > %s/out 2> %s/err'; echo $? > %s/rc) >/dev/null 2>&1 &")
      :format(dir, bin, script, dir, dir, dir)
    assert(os.execute(cmd))
    wait_for(function() return exists(dir .. "/ready") end, "the script to start")
    local pid = slurp(dir .. "/pid"):match("%d+")
    assert(os.execute("kill -USR1 " .. pid))
    wait_for(function() return slurp(dir .. "/err"):find("usr1-worker", 1, true) end, "the dump")
    io.open(dir .. "/go", "w"):close()
    wait_for(function() return exists(dir .. "/rc") and slurp(dir .. "/rc"):match("%d") end, "the exit")
    local err = slurp(dir .. "/err")
    assert.matches("luaio: 2 live tasks\n", err)
    assert.matches('Task%-%d+ "usr1%-worker" waiting on a sleep, [%d.]+ s left', err)
    assert.matches("s%.lua:6: in main chunk", err)
    assert.equal("done\n", slurp(dir .. "/out"))
    assert.equal("0", slurp(dir .. "/rc"):match("%d+"))
    os.execute("rm -rf " .. dir)
  end, 20))
end)
