-- process_spec.lua — child processes: create_subprocess_exec / create_subprocess_shell, the
-- options, the Process object (wait, communicate, send_signal, terminate, kill, <close>),
-- pipes as ordinary streams, reaping (no zombies), errors and bad input.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local fs = require "support.fs"

local exec, shell = aio.create_subprocess_exec, aio.create_subprocess_shell

-- the state letter of /proc/<pid>/stat ("R", "S", "Z" ...), or nil when the pid is gone
local function pstate(pid)
  local s = fs.slurp("/proc/" .. pid .. "/stat")
  return s and s:match("^%d+ %b() (%a)")
end

local function reaped(pid) local s = pstate(pid) return s == nil or s ~= "Z" end

local function lines_of(r)
  local out = {}
  for l in r:lines() do out[#out + 1] = l end
  return out
end

describe("create_subprocess_exec", function()
  it("starts a program found in PATH and returns a Process", async(function()
    local p = exec("echo", { "hello", "world" }, { stdout = "pipe" })
    assert.is_true(math.type(p.pid) == "integer" and p.pid > 0)
    assert.is_nil(p.stdin)
    assert.is_nil(p.stderr)
    assert.equal("hello world\n", p.stdout:read())
    assert.equal(0, p:wait())
    assert.equal(0, p.returncode)
    assert.matches("^Process<pid %d+ returncode 0>$", tostring(p))
  end))

  it("passes every argument as is (no shell), numbers as strings", async(function()
    local args = { "a b", "$HOME", "*", "", "'q'", 42, 1.5, "ü\n" }
    local p = exec("/usr/bin/printf", { "[%s]", table.unpack(args) }, { stdout = "pipe" })
    local out = p:communicate()
    assert.equal("[a b][$HOME][*][]['q'][42][1.5][ü\n]", out)
    assert.equal(0, p.returncode)
  end))

  it("args may be nil or empty", async(function()
    assert.equal(0, exec("true"):wait())
    assert.equal(1, exec("false", {}):wait())
  end))

  it("returncode is nil while the child runs, then the exit status", async(function()
    local p = exec("sh", { "-c", "read x; exit $x" }, { stdin = "pipe" })
    assert.is_nil(p.returncode)
    assert.matches("running", tostring(p))
    p.stdin:write("7\n")
    assert.equal(7, p:wait())
    assert.equal(7, p.returncode)
  end))

  it("a program that is not found raises OSError ENOENT naming it", async(function()
    local e = catch(exec, "luaio-no-such-program", {})
    assert.is_true(is_err("OSError", e))
    assert.equal("ENOENT", e.code)
    assert.matches("luaio-no-such-program", e.message, 1, true)
    e = catch(exec, "/nonexistent/dir/prog", {}, { stdout = "pipe", stdin = "pipe" })
    assert.equal("ENOENT", e.code)
  end))

  it("a file that is not executable raises OSError EACCES", async(function()
    local dir = fs.mktemp()
    fs.write(dir .. "/f", "#!/bin/sh\n")
    local e = catch(exec, dir .. "/f", {})
    fs.rmdir(dir)
    assert.is_true(is_err("OSError", e))
    assert.equal("EACCES", e.code)
  end))

  it("cwd runs it in that directory; a missing one raises OSError", async(function()
    local dir = fs.mktemp()
    local p = exec("pwd", {}, { cwd = dir, stdout = "pipe" })
    local out = p:communicate()
    assert.equal(dir, (out:gsub("\n$", "")))
    local e = catch(exec, "pwd", {}, { cwd = dir .. "/missing" })
    assert.is_true(is_err("OSError", e))
    assert.equal("ENOENT", e.code)
    fs.rmdir(dir)
  end))

  it("env replaces the whole environment", async(function()
    local p = exec("/usr/bin/env", {}, { env = { A = "1", B = "x y", N = 5 }, stdout = "pipe" })
    local out = p:communicate()
    local got = {}
    for l in out:gmatch("[^\n]+") do got[#got + 1] = l end
    table.sort(got)
    assert.same({ "A=1", "B=x y", "N=5" }, got)
  end))

  it("stdin, stdout, stderr = 'null' is /dev/null", async(function()
    local p = exec("sh", { "-c", "cat; echo out; echo err >&2" },
      { stdin = "null", stdout = "null", stderr = "pipe" })
    local out, err = p:communicate()
    assert.is_nil(out)
    assert.equal("err\n", err)
    assert.equal(0, p.returncode)
  end))

  it("an io file or a file descriptor as stdin / stdout", async(function()
    local dir = fs.mktemp()
    fs.write(dir .. "/in", "from a file\n")
    local fin = assert(io.open(dir .. "/in", "rb"))
    local fout = assert(io.open(dir .. "/out", "wb"))
    fout:write("first\n") -- buffered: flushed before the child writes
    local p = exec("cat", {}, { stdin = fin, stdout = fout })
    assert.equal(0, p:wait())
    fin:close()
    fout:close()
    assert.equal("first\nfrom a file\n", fs.slurp(dir .. "/out"))
    -- an integer descriptor: one child writes into another's stdin pipe
    local reader = exec("cat", {}, { stdin = "pipe", stdout = "pipe" })
    local fd = reader.stdin:get_extra_info("socket")
    assert.equal("integer", math.type(fd))
    local writer = exec("sh", { "-c", "echo via fd" }, { stdout = fd })
    assert.equal(0, writer:wait())
    reader.stdin:close()
    assert.equal("via fd\n", reader.stdout:read())
    assert.equal(0, reader:wait())
    fs.rmdir(dir)
  end))

  it("stderr = 'stdout' merges both into the stdout pipe", async(function()
    local p = exec("sh", { "-c", "echo one; echo two >&2; echo three" },
      { stdout = "pipe", stderr = "stdout" })
    local out, err = p:communicate()
    assert.equal("one\ntwo\nthree\n", out)
    assert.is_nil(err)
    assert.is_nil(p.stderr)
  end))

  it("rejects bad arguments, naming the function and the argument", async(function()
    local f = "create_subprocess_exec"
    check_argerr(f, catch(exec))
    check_argerr(f, catch(exec, true, {}))
    check_argerr(f, catch(exec, "", {}))
    check_argerr(f, catch(exec, "a\0b", {}))
    check_argerr(f, catch(exec, "true", "not a table"))
    check_argerr(f, catch(exec, "true", { {} }))
    check_argerr(f, catch(exec, "true", { "x\0y" }))
    check_argerr(f, catch(exec, "true", {}, 5))
    local e = catch(exec, "true", {}, { bogus = 1 })
    check_argerr(f, e)
    assert.matches("bogus", tostring(e))
    for _, o in ipairs {
      { stdin = "bogus" }, { stdout = "stdout" }, { stdin = "stdout" }, { stdin = -1 },
      { stdout = 987654 }, { stdout = {} }, { stderr = 1.5 }, { cwd = 5 }, { env = "x" },
      { env = { [1] = "x" } }, { env = { ["A=B"] = "x" } }, { env = { A = {} } },
      { limit = 0 }, { limit = "x" }, { limit = 1.5 },
    } do
      check_argerr(f, catch(exec, "true", {}, o))
    end
    local closed = assert(io.open("/dev/null"))
    closed:close()
    check_argerr(f, catch(exec, "true", {}, { stdin = closed }))
    check_argerr("create_subprocess_shell", catch(shell))
    check_argerr("create_subprocess_shell", catch(shell, {}))
    check_argerr("create_subprocess_shell", catch(shell, "true", { stdout = "x" }))
  end))

  it("needs a task", async(function()
    local ok, e = outside_task(exec, "true", {})
    assert.is_false(ok)
    assert.matches("create_subprocess_exec", tostring(e))
  end))
end)

describe("create_subprocess_shell", function()
  it("runs the command through /bin/sh -c", async(function()
    local p = shell("echo $((6 * 7)) | tr 4 X; exit 3", { stdout = "pipe" })
    assert.equal("X2\n", p:communicate())
    assert.equal(3, p.returncode)
  end))
end)

describe("pipes", function()
  it("are ordinary StreamReader / StreamWriter objects: readline, lines, drain", async(function()
    local p = exec("cat", {}, { stdin = "pipe", stdout = "pipe" })
    assert.equal(getmetatable(aio.StreamReader()), getmetatable(p.stdout))
    assert.matches("^StreamWriter", tostring(p.stdin))
    assert.matches("^StreamReader", tostring(p.stdout))
    p.stdin:write("line 1\n")
    p.stdin:drain()
    assert.equal("line 1\n", p.stdout:readline())
    p.stdin:writelines { "a\n", "b\r\n", "c" }
    p.stdin:close()
    assert.same({ "a", "b", "c" }, lines_of(p.stdout))
    assert.is_true(p.stdout:at_eof())
    assert.equal(0, p:wait())
  end))

  it("drain waits while a slow child has not read what was written", async(function()
    local p = exec("sh", { "-c", "read x; echo got; cat >/dev/null" }, { stdin = "pipe", stdout = "pipe" })
    p.stdin:write("go\n" .. string.rep("x", 4 * 1024 * 1024))
    assert.is_true(p.stdin:get_write_buffer_size() > 0)
    p.stdin:drain()
    assert.is_true(p.stdin:get_write_buffer_size() <= 65536)
    assert.equal("got\n", p.stdout:readline())
    p.stdin:close()
    assert.equal(0, p:wait())
  end))

  it("the reader limit applies (opts.limit)", async(function()
    local p = exec("sh", { "-c", "printf '%0100d\\nshort\\n' 0" }, { stdout = "pipe", limit = 16 })
    local e = catch(p.stdout.readline, p.stdout)
    assert.is_true(is_err("LimitOverrunError", e))
    assert.equal("short\n", p.stdout:readline())
    p:wait()
  end))

  it("write_eof ends the child's input", async(function()
    local p = exec("wc", { "-c" }, { stdin = "pipe", stdout = "pipe" })
    p.stdin:write("12345")
    p.stdin:write_eof()
    assert.equal("5", p.stdout:read():match("%d+"))
    p:wait()
  end))

  it("a pipe the child closes early raises OSError on write or drain, never SIGPIPE", async(function()
    local p = exec("head", { "-c", "1" }, { stdin = "pipe", stdout = "pipe" })
    local big = string.rep("y", 1024 * 1024)
    local e
    for _ = 1, 64 do
      local ok, err = pcall(function() p.stdin:write(big) p.stdin:drain() end)
      if not ok then e = err break end
    end
    assert.is_true(is_err("OSError", e))
    assert.equal("EPIPE", e.code)
    assert.equal("y", p.stdout:read())
    assert.equal(0, p:wait())
    e = catch(p.stdin.write, p.stdin, "more")
    assert.is_true(is_err("OSError", e))
  end))
end)

describe("Process:communicate", function()
  it("moves 10 MiB in and 10 MiB out on both stdout and stderr without deadlock", async(function()
    local chunk = {}
    for i = 1, 1024 do chunk[i] = string.format("%07d\n", i) end
    local input = string.rep(table.concat(chunk), 1280) -- 8 bytes * 1024 * 1280 = 10 MiB
    assert.equal(10 * 1024 * 1024, #input)
    local p = exec("tee", { "/dev/stderr" }, { stdin = "pipe", stdout = "pipe", stderr = "pipe" })
    local out, err = p:communicate(input)
    assert.equal(#input, #out)
    assert.is_true(out == input)
    assert.is_true(err == input)
    assert.equal(0, p.returncode)
  end, 30))

  it("returns nil for a stream that is not a pipe and ignores input without a stdin pipe", async(function()
    local p = exec("sh", { "-c", "echo hi" }, { stdout = "pipe", stdin = "null" })
    local out, err = p:communicate("ignored")
    assert.equal("hi\n", out)
    assert.is_nil(err)
    local p2 = exec("true")
    assert.same({ n = 0 }, table.pack(select(3, p2:communicate())))
    assert.is_nil((p2:communicate()))
  end))

  it("a child that does not read its input is not an error", async(function()
    local p = exec("true", {}, { stdin = "pipe", stdout = "pipe" })
    local out = p:communicate(string.rep("z", 4 * 1024 * 1024))
    assert.equal("", out)
    assert.equal(0, p.returncode)
  end))

  it("rejects a non-string input", async(function()
    local p = exec("true", {}, { stdin = "pipe" })
    check_argerr("communicate", catch(p.communicate, p, 5))
    p:wait()
  end))

  it("cancelled: raises CancelledError there and leaves the child running", async(function()
    local p = exec("sh", { "-c", "echo started; exec sleep 30" }, { stdout = "pipe", stderr = "pipe" })
    assert.equal("started\n", p.stdout:readline())
    local t = aio.spawn(function() return p:communicate() end)
    aio.sleep(0.05)
    t:cancel()
    local ok, e = pcall(t.await, t)
    assert.is_false(ok)
    assert.is_true(is_err("CancelledError", e))
    assert.is_nil(p.returncode)
    assert.equal("S", pstate(p.pid))
    p:kill()
    assert.equal(-9, p:wait())
  end))
end)

describe("Process:wait", function()
  it("can be awaited by many tasks, and returns at once after the exit", async(function()
    local p = exec("cat", {}, { stdin = "pipe" })
    local ts = {}
    for i = 1, 5 do ts[i] = aio.spawn(function() return p:wait() end) end
    aio.sleep(0.02)
    for i = 1, 5 do assert.is_false(ts[i]:done()) end
    p.stdin:close()
    for i = 1, 5 do assert.equal(0, ts[i]:await()) end
    assert.equal(0, p:wait())
    assert.equal(0, p:wait())
  end))

  it("cancelled: raises CancelledError and leaves the child running", async(function()
    local p = exec("sleep", { "30" })
    local t = aio.spawn(function() return p:wait() end)
    aio.sleep(0.02)
    t:cancel()
    assert.is_true(is_err("CancelledError", catch(t.await, t)))
    assert.is_nil(p.returncode)
    assert.is_truthy(pstate(p.pid))
    p:terminate()
    assert.equal(-15, p:wait())
  end))

  it("needs a task", async(function()
    local p = exec("true")
    local ok, e = outside_task(p.wait, p)
    assert.is_false(ok)
    assert.matches("wait", tostring(e))
    p:wait()
  end))
end)

describe("signalling a child", function()
  it("a child killed by a signal reports -signum", async(function()
    local p = exec("sleep", { "30" })
    p:send_signal("SIGUSR1")
    assert.equal(-10, p:wait())
    p = exec("sleep", { "30" })
    p:send_signal(2)
    assert.equal(-2, p:wait())
    p = exec("sleep", { "30" })
    p:terminate()
    assert.equal(-15, p:wait())
    p = exec("sleep", { "30" })
    p:kill()
    assert.equal(-9, p:wait())
    p = shell("kill -TERM $$")
    assert.equal(-15, p:wait())
  end))

  it("signalling a process that has exited does nothing", async(function()
    local p = exec("true")
    p:wait()
    p:kill()
    p:terminate()
    p:send_signal("SIGTERM")
    assert.equal(0, p.returncode)
  end))

  it("rejects unknown signals", async(function()
    local p = exec("sleep", { "30" })
    check_argerr("send_signal", catch(p.send_signal, p, "SIGNOPE"))
    check_argerr("send_signal", catch(p.send_signal, p, 999))
    check_argerr("send_signal", catch(p.send_signal, p, -1))
    check_argerr("send_signal", catch(p.send_signal, p, {}))
    check_argerr("send_signal", catch(p.send_signal, p))
    p:kill()
    p:wait()
  end))
end)

describe("reaping", function()
  it("leaves no zombie after wait", async(function()
    local p = exec("true")
    local pid = p.pid
    p:wait()
    assert.is_true(reaped(pid))
  end))

  it("reaps a child nobody waits for, even when its Process is collected", async(function()
    local pid = exec("true").pid
    collectgarbage()
    collectgarbage()
    poll(function() return pstate(pid) == nil end, "the child to be reaped")
  end))

  it("<close> kills a running child and waits for it", async(function()
    local p0, pid
    do
      local p <close> = exec("sleep", { "30" })
      p0, pid = p, p.pid
      assert.is_nil(p.returncode)
    end
    assert.equal(-9, p0.returncode)
    assert.is_true(reaped(pid))
    do local _ <close> = p0 end -- a finished one: nothing to do
    assert.equal(-9, p0.returncode)
  end))

  it("runs 200 children at once", async(function()
    local procs, outs = {}, {}
    for i = 1, 200 do
      procs[i] = exec("sh", { "-c", "read x; echo $x; exit $((x % 7))" }, { stdin = "pipe", stdout = "pipe" })
    end
    local ts = {}
    for i = 1, 200 do
      ts[i] = aio.spawn(function() outs[i] = procs[i]:communicate(i .. "\n") return procs[i].returncode end)
    end
    for i = 1, 200 do
      assert.equal(i % 7, ts[i]:await())
      assert.equal(i .. "\n", outs[i])
    end
    for i = 1, 200 do assert.is_true(reaped(procs[i].pid)) end
  end, 30))
end)

describe("processes as asyncio", function()
  it("returncode is the exit status, or -signum", async(function()
    assert.equal(3, shell("exit 3"):wait())
    local p = exec("sleep", { "10" })
    p:terminate()
    assert.equal(-15, p:wait())
  end))

  it("communicate() returns (stdout, stderr), nil for what is not a pipe", async(function()
    local p = shell("echo o; echo e >&2", { stdout = "pipe", stderr = "pipe" })
    local out, err = p:communicate()
    assert.equal("o\n", out)
    assert.equal("e\n", err)
    p = shell("echo o", { stdout = "pipe" })
    out, err = p:communicate()
    assert.equal("o\n", out)
    assert.is_nil(err)
  end))

  it("the pipes are closed by communicate: reading again gives EOF", async(function()
    local p = shell("echo x", { stdout = "pipe" })
    p:communicate()
    assert.equal("", p.stdout:read())
  end))
end)

describe("processes regressions", function()
  it("works under stock lua5.4 and the binary the same (run in a fresh process)", function()
    local run_lua = require "support.run_lua"
    local rc, out, err = run_lua([[
      aio.run(function()
        local p = aio.create_subprocess_exec("sh", {"-c", "cat; exit 4"}, {stdin = "pipe", stdout = "pipe"})
        local o = p:communicate("ok")
        print(o, p.returncode)
      end)
    ]])
    assert.equal(0, rc, err)
    assert.equal("ok\t4\n", out)
  end)

  it("closing the runtime with a child still running does not hang or crash", function()
    local run_lua = require "support.run_lua"
    local rc, out, err = run_lua([[
      aio.run(function()
        KEEP = aio.create_subprocess_exec("sleep", {"30"}, {stdout = "pipe"})
        aio.create_subprocess_exec("sleep", {"2"})
        print(KEEP.pid > 0)
      end)
      KEEP:kill()
    ]])
    assert.equal(0, rc, err)
    assert.equal("true\n", out)
  end)
end)
