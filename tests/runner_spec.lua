-- runner_spec.lua — aio.Runner (one loop for several runs, closed once) and the virtual
-- clock (aio.Runner{clock = "virtual"}, aio.virtual_clock): time jumps to the next deadline
-- when nothing else can happen, in the order real time would give; bad input.
-- A Runner lives outside any running loop, and under the luaio binary a spec body runs in
-- the main task: those cases run in a fresh lua5.4 process (run_lua), as a script would.
local aio = require "luaio"
local async = require "support.async"
local virtual = require "support.virtual"
local catch = require "support.catch"
local is_err = require "support.is_err"
local arg_error = require "support.arg_error"
local outside_task = require "support.outside_task"
local run_lua = require "support.run_lua"
local proc = require "support.proc"

-- runs `code` in a fresh lua5.4 with luaio loaded; it must succeed; returns its stdout
local function script(code)
  local status, out, err = run_lua(code)
  assert.equal(0, status, err)
  return out
end

describe("Runner", function()
  it("runs main several times on one loop and returns its results", function()
    local out = script [[
      local r <close> = aio.Runner()
      print(r:run(function(a, b) aio.sleep(0) return a + b, "x" end, 1, 2))
      print(r:run(aio.async(function(s) aio.sleep(0) return s .. "!" end)("co")))
    ]]
    assert.equal("3\tx\nco!\n", out)
  end)

  it("keeps tasks alive between runs and cancels them on close", function()
    local out = script [[
      local r = aio.Runner()
      local bg
      r:run(function()
        bg = aio.spawn(function() for i = 1, 1e9 do aio.sleep(0) end end)
        aio.sleep(0)
      end)
      print(bg:done())
      r:run(function() aio.sleep(0) end)
      print(bg:done())
      r:close()
      print(bg:cancelled())
      r:close() -- idempotent
    ]]
    assert.equal("false\nfalse\ntrue\n", out)
  end)

  it("re-raises main's error unchanged and stays usable", function()
    local out = script [[
      local r <close> = aio.Runner()
      local ok, e = pcall(r.run, r, function() aio.sleep(0) error({ tag = 7 }) end)
      print(ok, e.tag)
      print(r:run(function() return "again" end))
    ]]
    assert.equal("false\t7\nagain\n", out)
  end)

  it("raises RuntimeError naming a deadlock instead of hanging", function()
    local out = script [[
      local r <close> = aio.Runner()
      local ok, e = pcall(r.run, r, function() aio.Future():await() end)
      print(ok, e.name, e.message:match("deadlock") ~= nil)
    ]]
    assert.equal("false\tRuntimeError\ttrue\n", out)
  end)

  it("refuses to run once closed", function()
    local out = script [[
      local r = aio.Runner()
      r:close()
      local ok, e = pcall(r.run, r, function() end)
      print(ok, e.name, e.message)
    ]]
    assert.equal("false\tRuntimeError\tluaio.Runner.run: the Runner is closed\n", out)
  end)

  it("closes on leaving a <close> scope", function()
    local out = script [[
      local bg
      do
        local r <close> = aio.Runner()
        r:run(function() bg = aio.spawn(aio.sleep, 100) aio.sleep(0) end)
      end
      print(bg:cancelled())
    ]]
    assert.equal("true\n", out)
  end)

  it("raises RuntimeError inside a task and inside a callback", async(function()
    assert.is_true(is_err("RuntimeError", catch(aio.Runner)))
    assert.is_true(is_err("RuntimeError", catch(aio.Runner, { clock = "virtual" })))
    local ok, e = outside_task(aio.Runner)
    assert.is_false(ok)
    assert.is_true(is_err("RuntimeError", e))
    assert.matches("while an event loop is running", e.message, 1, true)
    -- the clock stayed as it was
    local t0 = aio.time()
    aio.sleep(0.001)
    assert.is_true(aio.time() > t0)
  end))

  it("refuses run and close from inside the loop", function()
    local out = script [[
      local r <close> = aio.Runner()
      r:run(function()
        print(select(2, pcall(r.run, r, function() end)).name)
        print(select(2, pcall(r.close, r)).name)
      end)
    ]]
    assert.equal("RuntimeError\nRuntimeError\n", out)
  end)

  it("is one at a time: a new one closes the one left open, as its close would", function()
    local out = script [[
      -- the real clock moves while code runs; a virtual one stands still
      local function real() local t0 = aio.time() os.execute("sleep 0.01") return aio.time() > t0 end
      local r1 = aio.Runner { clock = "virtual" }
      local bg
      r1:run(function() bg = aio.spawn(aio.sleep, 100) aio.sleep(0) end)
      local r2 <close> = aio.Runner()
      print(bg:cancelled(), real()) -- r1's task cancelled, the real clock back
      print(select(2, pcall(r1.run, r1, function() end)).name) -- r1 is closed
      print(r2:run(function() return "r2" end))
      -- the one-liner: aio.run after it runs on the real clock
      print(aio.Runner { clock = "virtual" }:run(aio.time))
      print(aio.run(real))
    ]]
    assert.equal("true\ttrue\nRuntimeError\nr2\n0.0\ntrue\n", out)
  end)

  it("leaves LUAIO_DEBUG's debug mode on unless told (slow_callback_duration alone)", function()
    local status, out, err = proc.run { lua = true, env = { LUAIO_DEBUG = "1" }, code = [[
      local aio = require "luaio"
      local r <close> = aio.Runner { slow_callback_duration = 0.5 }
      r:run(function()
        local h = aio.call_later(60, print)
        print(aio.open_resources()[1].site ~= nil)
        h:cancel()
      end)
    ]] }
    assert.equal(0, status, err)
    assert.equal("true\n", out)
  end)

  it("rejects bad options and bad arguments", function()
    local out = script [[
      local function msg(f, ...) return tostring(select(2, pcall(f, ...))) end
      print(msg(aio.Runner, 5))
      print(msg(aio.Runner, { clok = "virtual" }))
      print(msg(aio.Runner, { clock = "fake" }))
      print(msg(aio.Runner, { autojump = -1 }))
      print(msg(aio.Runner, { autojump = "1" }))
      print(msg(aio.Runner, { debug = "yes" }))
      print(msg(aio.Runner, { slow_callback_duration = 0 }))
      print(msg(aio.Runner, { autojump = 1 }))
      local r <close> = aio.Runner()
      print(msg(r.run, r, 42))
      print(msg(r.run, {}, function() end))
    ]]
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(10, #lines)
    for _, l in ipairs(lines) do assert.matches("bad argument #1 to '", l, 1, true) end
    assert.matches("table expected, got number", lines[1], 1, true)
    assert.matches("unknown option 'clok'", lines[2], 1, true)
    assert.matches("'clock' must be", lines[3], 1, true)
    assert.matches("'autojump' must be non-negative", lines[4], 1, true)
    assert.matches("number for 'autojump' expected", lines[5], 1, true)
    assert.matches("boolean for 'debug' expected", lines[6], 1, true)
    assert.matches("'slow_callback_duration' must be positive", lines[7], 1, true)
    assert.matches("'autojump' needs clock = \"virtual\"", lines[8], 1, true)
    assert.matches("function or coroutine object expected, got number", lines[9], 1, true)
    assert.matches("Runner expected", lines[10], 1, true)
  end)

  it("aio.run outside a loop is a Runner's run followed by close", function()
    local out = script [[
      local bg
      print(aio.run(function() bg = aio.spawn(aio.sleep, 100) aio.sleep(0) return "main" end))
      print(bg:cancelled())
    ]]
    assert.equal("main\ntrue\n", out)
  end)
end)

describe("Runner{clock = 'virtual'}", function()
  it("starts at 0 and jumps straight to each deadline", function()
    local out = script [[
      local r <close> = aio.Runner { clock = "virtual" }
      print(r:run(function()
        local t0 = aio.time()
        aio.sleep(30)
        local t1 = aio.time()
        aio.sleep(3600)
        return t0, t1, aio.time()
      end))
    ]]
    assert.equal("0.0\t30.0\t3630.0\n", out)
  end)

  it("keeps its time across runs and gives the real clock back on close", function()
    local out = script [[
      local real0 = aio.run(aio.time)
      local r = aio.Runner { clock = "virtual" }
      r:run(aio.sleep, 10)
      print(r:run(aio.time))
      r:close()
      print(aio.time() >= real0)
    ]]
    assert.equal("10.0\ntrue\n", out)
  end)

  it("waits autojump seconds of real time for I/O before jumping", function()
    local out = script [[
      -- a process's output is real I/O, which the clock cannot know will come
      local function slow_io()
        local p = aio.create_subprocess_exec("sh", { "-c", "sleep 0.2; echo io" }, { stdout = "pipe" })
        local ok, line = pcall(p.stdout.readline, p.stdout) -- "io\n"
        if not ok then p:kill() end
        p:wait()
        if not ok then error(line, 0) end
        return (line:gsub("\n$", ""))
      end
      for _, aj in ipairs { 0, 30 } do
        local r <close> = aio.Runner { clock = "virtual", autojump = aj }
        print(r:run(function()
          local ok, e = pcall(aio.wait_for, aio.spawn(slow_io), 10)
          return ok and e or e.name
        end))
      end
    ]]
    assert.equal("TimeoutError\nio\n", out)
  end)
end)

describe("aio.virtual_clock", function()
  it("makes a spec's sleeps and timeouts take no real time, in order", virtual(function()
    local t0 = aio.time()
    local log = {}
    for _, d in ipairs { 3, 1, 2, 1 } do
      aio.spawn(function() aio.sleep(d) log[#log + 1] = d .. "@" .. (aio.time() - t0) end)
    end
    aio.sleep(600)
    assert.same({ "1@1.0", "1@1.0", "2@2.0", "3@3.0" }, log)
    assert.equal(t0 + 600, aio.time())
    local e = catch(aio.wait_for, aio.Future(), 30)
    assert.is_true(is_err("TimeoutError", e))
    assert.equal(t0 + 630, aio.time())
  end))

  it("starts at 0, stands still while code runs and moves by advance", async(function()
    local clock <close> = aio.virtual_clock()
    assert.equal(0, aio.time())
    for _ = 1, 1e5 do end
    assert.equal(0, aio.time())
    local h = aio.call_later(5, function() end)
    assert.equal(5, h:when())
    clock:advance(2)
    assert.equal(2, aio.time())
    aio.sleep(0)
    assert.is_false(h:cancelled())
    aio.sleep(3)
    assert.equal(5, aio.time())
    local at = aio.call_at(7, function() end)
    assert.equal(7, at:when())
    aio.sleep(2)
    assert.equal(7, aio.time())
  end, 100)) -- the guard timeout, armed before, falls at virtual 100

  it("gives armed deadlines the time they had left, both ways", async(function()
    local h = aio.call_later(10, function() end)
    local left = h:when() - aio.time()
    do
      local _ <close> = aio.virtual_clock()
      assert.is_true(math.abs(h:when() - left) < 0.5) -- it now falls at virtual ~10
      local h2 = aio.call_later(20, function() end)
      aio.sleep(1)
      h2:cancel()
    end
    -- real again: ~9 s of real time left (the virtual second went by)
    assert.is_true(math.abs((h:when() - aio.time()) - (left - 1)) < 0.5)
    h:cancel()
  end))

  it("restores the clock it replaced, nested (time never goes back)", async(function()
    local outer <close> = aio.virtual_clock()
    aio.sleep(5)
    do
      local _ <close> = aio.virtual_clock()
      aio.sleep(1)
      assert.equal(6, aio.time()) -- one virtual clock goes on
    end
    aio.sleep(1)
    assert.equal(7, aio.time()) -- still virtual
    outer:close()
    outer:close() -- idempotent
    assert.is_true(aio.time() > 5 or aio.time() < 5) -- the real clock
  end, 100))

  it("waits for file system calls and worker threads instead of jumping past them", virtual(function()
    local t0 = aio.time()
    local sleeper = aio.spawn(aio.sleep, 3600)
    for _ = 1, 20 do
      local _ <close> = aio.timeout(5)
      assert.matches("waits for file system calls", aio.fs.read_file("tests/runner_spec.lua"), 1, true)
      local f = aio.open(os.tmpname(), "w")
      f:write("x")
      f:close()
      assert.equal(42, aio.to_thread(function() return 42 end))
    end
    assert.equal(t0, aio.time()) -- none of it made the clock jump
    sleeper:cancel()
  end))

  it("still reports a deadlock instead of jumping forever", function()
    local out = script [[
      local r <close> = aio.Runner { clock = "virtual" }
      local ok, e = pcall(r.run, r, function() aio.Event():wait() end)
      print(ok, e.name)
    ]]
    assert.equal("false\tRuntimeError\n", out)
  end)

  it("rejects bad input", async(function()
    arg_error("virtual_clock", catch(aio.virtual_clock, 5))
    arg_error("virtual_clock", catch(aio.virtual_clock, { jump = 1 }))
    arg_error("virtual_clock", catch(aio.virtual_clock, { autojump = -1 }))
    local c = aio.virtual_clock()
    arg_error("advance", catch(c.advance, c, "1"))
    arg_error("advance", catch(c.advance, c, -1))
    arg_error("advance", catch(c.advance, c, 0 / 0))
    arg_error("advance", catch(c.advance, {}, 1))
    c:close()
    assert.is_true(is_err("RuntimeError", catch(c.advance, c, 1)))
  end))
end)
