-- signal_handlers_spec.lua — add_signal_handler / remove_signal_handler / wait_signal: the
-- handler runs through the loop, wait_signal, the old disposition restored, errors.
-- Signals are sent to this very process (by a `kill` child); a handler is always in place
-- before one is sent (SIGUSR2's default action would end the test run).
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local with_handler = require "support.with_handler"
local fs = require "support.fs"
local proc = require "support.proc"

local function mypid() return fs.slurp("/proc/self/stat"):match("^%d+") end

local function send(sig) assert.equal(0, aio.create_subprocess_exec("kill", { "-" .. sig, mypid() }):wait()) end

-- the bit of signal `n` in a mask of /proc/self/status (SigCgt: caught, SigIgn: ignored)
local function mask_has(field, n)
  local m = fs.slurp("/proc/self/status"):match(field .. ":%s*(%x+)")
  return (tonumber(m, 16) >> (n - 1)) & 1 == 1
end

-- whether signal n is caught is checked except under valgrind (which catches them all)
local VALGRIND = os.getenv("LUAIO_VALGRIND") == "1"
local function assert_caught(n, want, what)
  if not VALGRIND then assert.equal(want, mask_has("SigCgt", n), what) end
end

local SIGHUP, SIGUSR2, SIGWINCH = 1, 12, 28

describe("add_signal_handler", function()
  it("calls the handler with its arguments through the loop, outside any task", async(function()
    local got = {}
    aio.add_signal_handler("SIGUSR2", function(...)
      got[#got + 1] = { task = aio.current_task(), n = select("#", ...), ... }
    end, "a", nil, 3)
    send("USR2")
    poll(function() return #got == 1 end, "the handler")
    assert.is_nil(got[1].task)
    assert.same({ n = 3, "a", nil, 3 }, { n = got[1].n, got[1][1], got[1][2], got[1][3] })
    send("USR2")
    poll(function() return #got == 2 end, "the handler again")
    assert.is_true(aio.remove_signal_handler("SIGUSR2"))
  end))

  it("takes a number as well as a name, and a new handler replaces the old one", async(function()
    local seen = {}
    aio.add_signal_handler(SIGUSR2, function() seen[#seen + 1] = "first" end)
    aio.add_signal_handler("SIGUSR2", function() seen[#seen + 1] = "second" end)
    send("USR2")
    poll(function() return #seen == 1 end, "the handler")
    assert.same({ "second" }, seen)
    assert.is_true(aio.remove_signal_handler(SIGUSR2))
  end))

  it("a handler that fails goes to the exception handler", async(function()
    local seen = with_handler(function(seen)
      aio.add_signal_handler("SIGUSR2", function() error("handler boom") end)
      send("USR2")
      poll(function() return #seen > 0 end, "the report")
      aio.remove_signal_handler("SIGUSR2")
    end)
    assert.matches("handler boom", tostring(seen[1].exception))
  end))

  it("never runs inside the OS handler: a busy task is not interrupted by it", async(function()
    local ran = false
    aio.add_signal_handler("SIGUSR2", function() ran = true end)
    local p = aio.create_subprocess_exec("kill", { "-USR2", mypid() })
    -- the signal arrives while this task does not yield: the handler must wait for the loop
    local t0 = os.clock()
    while os.clock() - t0 < 0.05 do end
    assert.is_false(ran)
    p:wait()
    poll(function() return ran end, "the handler")
    aio.remove_signal_handler("SIGUSR2")
  end))

  it("rejects bad arguments, SIGKILL and SIGSTOP", function()
    local f = "add_signal_handler"
    check_argerr(f, catch(aio.add_signal_handler))
    check_argerr(f, catch(aio.add_signal_handler, "SIGKILL", print))
    check_argerr(f, catch(aio.add_signal_handler, "SIGSTOP", print))
    check_argerr(f, catch(aio.add_signal_handler, 9, print))
    check_argerr(f, catch(aio.add_signal_handler, "SIGNOPE", print))
    check_argerr(f, catch(aio.add_signal_handler, "sigterm", print))
    check_argerr(f, catch(aio.add_signal_handler, 0, print))
    check_argerr(f, catch(aio.add_signal_handler, 1000, print))
    check_argerr(f, catch(aio.add_signal_handler, 1.5, print))
    check_argerr(f, catch(aio.add_signal_handler, {}, print))
    check_argerr(f, catch(aio.add_signal_handler, "SIGUSR2"))
    check_argerr(f, catch(aio.add_signal_handler, "SIGUSR2", "not a function"))
    assert_caught(SIGUSR2, false)
  end)
end)

describe("remove_signal_handler", function()
  it("returns true when a handler was removed, false otherwise", function()
    assert.is_false(aio.remove_signal_handler("SIGWINCH"))
    aio.add_signal_handler("SIGWINCH", function() end)
    assert.is_true(aio.remove_signal_handler("SIGWINCH"))
    assert.is_false(aio.remove_signal_handler("SIGWINCH"))
    assert.is_false(aio.remove_signal_handler("SIGKILL"))
  end)

  it("restores the previous disposition", function()
    assert_caught(SIGWINCH, false)
    aio.add_signal_handler("SIGWINCH", function() end)
    assert_caught(SIGWINCH, true)
    aio.remove_signal_handler("SIGWINCH")
    assert_caught(SIGWINCH, false)
  end)

  it("restores an inherited SIG_IGN (stock lua5.4 in a fresh process)", function()
    local code = [[
      local aio = require 'luaio'
      local function ign() return (tonumber(io.open('/proc/self/status'):read('a'):match('SigIgn:%s*(%x+)'), 16) >> 0) & 1 end
      io.write(ign(), ' ')
      aio.add_signal_handler('SIGHUP', function() end)
      io.write(ign(), ' ')
      aio.remove_signal_handler('SIGHUP')
      io.write(ign(), '\n')
    ]]
    local script = os.tmpname()
    fs.write(script, code)
    local dir = proc.bin:match("^(.*)/[^/]*$") or "."
    local pre = os.getenv("LUAIO_PRELOAD") and ("LD_PRELOAD=%q "):format(os.getenv("LUAIO_PRELOAD")) or ""
    local p = io.popen(("trap '' HUP; %sLUA_CPATH=%q lua5.4 %s"):format(pre, dir .. "/?.so;;", script))
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.equal("1 0 1\n", out)
  end)

  it("under the binary, SIGINT cancels the main task again once its handler is removed", function()
    local rc, out, err = proc.run { code = [[
      local aio = require 'luaio'
      local pid = io.open('/proc/self/stat'):read('a'):match('^%d+')
      local function kill() aio.create_subprocess_exec('kill', {'-INT', pid}):wait() end
      aio.run(function()
        local ev = aio.Event()
        aio.add_signal_handler('SIGINT', function() print('handled') ev:set() end)
        kill()
        ev:wait()
        print(aio.remove_signal_handler('SIGINT'))
        kill()
        aio.sleep(10)
        print('not reached')
      end)
    ]] }
    assert.equal(130, rc, err)
    assert.equal("handled\ntrue\n", out)
    assert.matches("interrupted", err)
  end)
end)

describe("wait_signal", function()
  it("suspends until one of the signals arrives and returns its name", async(function()
    local t = aio.spawn(function() return aio.wait_signal("SIGHUP", SIGUSR2) end)
    aio.sleep(0)
    assert.is_false(t:done())
    send("USR2")
    assert.equal("SIGUSR2", t:await())
    -- nobody waits any more: the watchers are gone
    assert_caught(SIGUSR2, false)
    assert_caught(SIGHUP, false)
  end))

  it("wakes every task waiting for that signal, and works beside a handler", async(function()
    local calls = 0
    aio.add_signal_handler("SIGUSR2", function() calls = calls + 1 end)
    local a = aio.spawn(aio.wait_signal, "SIGUSR2")
    local b = aio.spawn(aio.wait_signal, "SIGUSR2", "SIGHUP")
    local c = aio.spawn(aio.wait_signal, "SIGHUP")
    aio.sleep(0)
    send("USR2")
    assert.equal("SIGUSR2", a:await())
    assert.equal("SIGUSR2", b:await())
    poll(function() return calls == 1 end, "the handler")
    assert.is_false(c:done())
    c:cancel()
    assert.is_true(is_err("CancelledError", catch(c.await, c)))
    assert_caught(SIGHUP, false)
    aio.remove_signal_handler("SIGUSR2")
    assert_caught(SIGUSR2, false)
  end))

  it("cancelled: raises CancelledError and stops watching", async(function()
    local t = aio.spawn(aio.wait_signal, "SIGWINCH")
    aio.sleep(0)
    assert_caught(SIGWINCH, true)
    t:cancel()
    assert.is_true(is_err("CancelledError", catch(t.await, t)))
    assert_caught(SIGWINCH, false)
  end))

  it("shows what a task waits on in dump_tasks", async(function()
    local t = aio.spawn(aio.wait_signal, "SIGWINCH", "SIGHUP")
    aio.sleep(0)
    local buf = {}
    aio.dump_tasks({ write = function(_, ...) for _, v in ipairs { ... } do buf[#buf + 1] = v end end })
    assert.matches("signals SIGHUP SIGWINCH", table.concat(buf), 1, true)
    t:cancel()
    pcall(t.await, t)
  end))

  it("rejects bad arguments and needs a task", async(function()
    local f = "wait_signal"
    check_argerr(f, catch(aio.wait_signal))
    check_argerr(f, catch(aio.wait_signal, "SIGKILL"))
    check_argerr(f, catch(aio.wait_signal, "SIGUSR2", "SIGNOPE"))
    check_argerr(f, catch(aio.wait_signal, "SIGUSR2", {}))
    local ok, e = outside_task(aio.wait_signal, "SIGUSR2")
    assert.is_false(ok)
    assert.matches("wait_signal", tostring(e))
    assert_caught(SIGUSR2, false)
  end))
end)

describe("signals as asyncio", function()
  it("add_signal_handler replaces, remove_signal_handler says whether one was there", function()
    aio.add_signal_handler("SIGUSR2", print)
    aio.add_signal_handler("SIGUSR2", print)
    assert.is_true(aio.remove_signal_handler("SIGUSR2"))
    assert.is_false(aio.remove_signal_handler("SIGUSR2"))
  end)
end)
