-- acceptance3_cli_spec.lua — independent acceptance checks of the `luaio` command line (a
-- drop-in `lua5.4` with -e -l -i -v -E -W - --, the arg table, the script as the main task,
-- exit statuses, SIGINT), of the REPL (driven through a real pseudo-terminal in a private
-- tmux server) and of aio.dump_tasks / SIGUSR1, written from the documented contract alone
-- (docs/reference/). The binary under test is $LUAIO_BIN (default build/luaio); "as lua5.4
-- does" is checked against the stock `lua5.4`.
-- Runs under stock lua5.4 (LUA_CPATH=build/?.so) and under the host binary
-- (build/luaio /usr/bin/busted --ignore-lua). Every wait polls observable output with a deadline.
local aio = require "luaio"
local async = require "support.async"

---------------------------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------------------------
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function pwd()
  local p = io.popen("pwd")
  local d = p:read("l")
  p:close()
  return d
end

local BIN = os.getenv("LUAIO_BIN") or "build/luaio"
if BIN:sub(1, 1) ~= "/" then BIN = pwd() .. "/" .. BIN end

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end
local HAVE_TMUX = have("tmux")
local HAVE_LUA = have("lua5.4")
-- `&` in a non-interactive sh starts the job with SIGINT ignored; restore the default for the
-- child (GNU env >= 8.31) so the test does not depend on how luaio treats an inherited SIG_IGN
local DEFSIG = os.execute("env --default-signal=INT true >/dev/null 2>&1") == true
  and "env --default-signal=INT " or ""

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function mktemp()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. q(d)))
  return d
end

local function rmdir(d) os.execute("rm -rf " .. q(d)) end

-- runs `prog args...` (args: a list, each quoted; raw: a string appended unquoted) in `dir`
-- with stdin from `stdin` (a string) or /dev/null and `env` (a string of VAR=value words,
-- already quoted); returns status, stdout, stderr
local function run(prog, args, opts)
  opts = opts or {}
  local dir = opts.dir or mktemp()
  local parts = { "cd " .. q(dir) .. " && timeout -s KILL 10 env" }
  if opts.env then parts[#parts + 1] = opts.env end
  parts[#parts + 1] = q(prog)
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  local out, err, inp = dir .. "/.out", dir .. "/.err", dir .. "/.in"
  write(inp, opts.stdin or "")
  local cmd = table.concat(parts, " ") .. " <" .. q(inp) .. " >" .. q(out) .. " 2>" .. q(err)
  local _, how, code = os.execute(cmd)
  local status = how == "exit" and code or 128 + code
  local o, e = slurp(out), slurp(err)
  os.remove(out) os.remove(err) os.remove(inp)
  if not opts.dir then rmdir(dir) end
  return status, o, e
end

local function luaio(args, opts) return run(BIN, args, opts) end

-- the same command under luaio and lua5.4, with the program name in messages made neutral
local function norm(s, prog)
  s = s:gsub(prog:gsub("%p", "%%%0"), "PROG")
  return (s:gsub("luaio", "PROG"):gsub("lua5%.4", "PROG"))
end

local function both(args, opts)
  local a = table.pack(luaio(args, opts))
  local b = table.pack(run("lua5.4", args, opts))
  return { status = a[1], out = norm(a[2], BIN), err = norm(a[3], BIN) },
         { status = b[1], out = norm(b[2], "lua5.4"), err = norm(b[3], "lua5.4") }
end

local function lua_it(name, fn)
  if HAVE_LUA then it(name, fn) else pending("lua5.4 not installed: " .. name) end
end

local function first_line(s) return (s:match("^[^\n]*")) end

-- polls pred() (inside a task) until it returns a true value, at most `limit` seconds
local function wait_for(pred, what, limit)
  local deadline = aio.time() + (limit or 5)
  while true do
    local r = pred()
    if r then return r end
    if aio.time() > deadline then error("timed out waiting for " .. what, 2) end
    aio.sleep(0.02)
  end
end

-- a luaio process in the background: pid, exit status and output captured in files
local Bg = {}
Bg.__index = Bg

local function spawn_bg(script_text, args)
  local self = setmetatable({ dir = mktemp() }, Bg)
  write(self.dir .. "/s.lua", script_text)
  local inner = ("echo $$ > pid; exec %s%s s.lua %s"):format(DEFSIG, q(BIN), args or "")
  local cmd = ("cd %s && ( sh -c %s <%s >out 2>err; echo $? > status ) >/dev/null 2>&1 &"):format(
    q(self.dir), q(inner), "/dev/null")
  assert(os.execute(cmd))
  return self
end

function Bg:file(name) return slurp(self.dir .. "/" .. name) or "" end
function Bg:pid() return tonumber(self:file("pid"):match("%d+")) end
function Bg:status() return tonumber(self:file("status"):match("%d+")) end
function Bg:wait_out(pat, what)
  return wait_for(function() return self:file("out"):find(pat) end, what or ("stdout " .. pat))
end
function Bg:wait_err(pat, what)
  return wait_for(function() return self:file("err"):find(pat) end, what or ("stderr " .. pat))
end
function Bg:kill(sig)
  local pid = wait_for(function() return self:pid() end, "the pid file")
  assert(os.execute(("kill -%s %d"):format(sig, pid)))
end
function Bg:wait_exit() return wait_for(function() return self:status() end, "the process to exit") end
function Bg:close()
  if not self:status() and self:pid() then os.execute(("kill -KILL %d 2>/dev/null"):format(self:pid())) end
  rmdir(self.dir)
end

local function with_bg(script_text, fn, args)
  return async(function()
    local p = spawn_bg(script_text, args)
    local ok, err = pcall(fn, p)
    p:close()
    if not ok then error(err, 0) end
  end, 8)
end

---------------------------------------------------------------------------------------------
-- §2: the command line, compared with lua5.4
---------------------------------------------------------------------------------------------
describe("luaio command line, as lua5.4", function()
  lua_it("passes the arg table and ... exactly as lua5.4 (options, --, script, args)", function()
    local d = mktemp()
    write(d .. "/a.lua", [[
      print("...", select("#", ...), ...)
      print("#arg", #arg)
      for i = -3, #arg do print(i, arg[i]) end
    ]])
    for _, args in ipairs {
      { "a.lua" },
      { "a.lua", "x", "y z", "" },
      { "-e", "x=1", "a.lua", "-e", "--", "-" },
      { "--", "a.lua", "-i" },
      { "-W", "a.lua", "one" },
    } do
      local a, b = both(args, { dir = d })
      assert.equal(b.status, a.status)
      assert.equal(0, a.status)
      assert.equal(b.out, a.out, "args: " .. table.concat(args, " "))
    end
    rmdir(d)
  end)

  lua_it("runs -e chunks and -l modules in command-line order, before the script", function()
    local d = mktemp()
    write(d .. "/mymod.lua", 'print("loading mymod", x) return { v = 42 }')
    write(d .. "/s.lua", 'print("script", x, mymod.v, g and g.v)')
    local a, b = both({ "-e", "x = 1", "-l", "mymod", "-e", "x = x + 1", "-l", "g=mymod", "s.lua" },
      { dir = d, env = "LUA_PATH='./?.lua;;'" })
    assert.equal(0, a.status)
    assert.equal("loading mymod\t1\nscript\t2\t42\t42\n", a.out)
    assert.equal(b.out, a.out)
    rmdir(d)
  end)

  lua_it("-l of a missing module fails with status 1 like lua5.4", function()
    local a, b = both({ "-l", "no_such_module_xyz", "-e", "print('not reached')" })
    assert.equal(1, a.status)
    assert.equal(b.status, a.status)
    assert.equal("", a.out)
    assert.equal(first_line(b.err), first_line(a.err))
  end)

  lua_it("-v prints version information to stdout, exits 0, and still runs what follows", function()
    local st, out = luaio({ "-v" })
    assert.equal(0, st)
    assert.truthy(out:find("%S"), "no version text")
    local a, b = both({ "-v", "-e", "print('after v')" })
    assert.equal(0, a.status)
    assert.equal(b.status, a.status)
    assert.truthy(a.out:find("\nafter v\n$"), a.out)
  end)

  lua_it("honours LUA_INIT, LUA_INIT_5_4 and LUA_PATH, and -E ignores them", function()
    local d = mktemp()
    write(d .. "/init.lua", 'print("init file")')
    local cases = {
      { env = "LUA_INIT='print(\"init\")'", args = { "-e", "print(1)" } },
      { env = "LUA_INIT='print(\"init\")'", args = { "-E", "-e", "print(1)" } },
      { env = "LUA_INIT_5_4='print(\"init54\")' LUA_INIT='print(\"init\")'", args = { "-e", "print(2)" } },
      { env = "LUA_INIT=@init.lua", args = { "-e", "print(3)" } },
      { env = "LUA_INIT=@init.lua", args = { "-E", "-e", "print(3)" } },
      { env = "LUA_PATH='/nonexistent/?.lua'", args = { "-e", "print(package.path)" } },
      { env = "LUA_PATH='/nonexistent/?.lua'", args = { "-E", "-e", "print(package.path)" } },
      { env = "LUA_INIT='error(\"in init\")'", args = { "-e", "print(4)" } },
      { env = "LUA_CPATH='/nonexistent/?.so'", args = { "-e", "print(package.cpath)" } },
      { env = "LUA_CPATH='/nonexistent/?.so'", args = { "-E", "-e", "print(package.cpath)" } },
    }
    for _, c in ipairs(cases) do
      local a, b = both(c.args, { dir = d, env = c.env })
      local what = c.env .. " " .. table.concat(c.args, " ")
      assert.equal(b.status, a.status, what)
      assert.equal(b.out, a.out, what)
      assert.equal(first_line(b.err), first_line(a.err), what)
    end
    rmdir(d)
  end)

  lua_it("-W turns warnings on (off by default), as lua5.4", function()
    for _, args in ipairs {
      { "-W", "-e", "warn('hello', ' there')" },
      { "-e", "warn('hidden')" },
      { "-e", "warn('@on') warn('shown')" },
    } do
      local a, b = both(args)
      assert.equal(0, a.status)
      assert.equal(b.err, a.err, table.concat(args, " "))
    end
    local st, _, err = luaio({ "-W", "-e", "warn('hello')" })
    assert.equal(0, st)
    assert.truthy(err:find("hello"), err)
  end)

  lua_it("'-' runs stdin as the script (args after it), and so does no script with a piped stdin", function()
    local a, b = both({ "-", "x", "y" }, { stdin = 'print("stdin", arg[0], #arg, ...)\n' })
    assert.equal(0, a.status)
    assert.equal("stdin\t-\t2\tx\ty\n", a.out)
    assert.equal(b.out, a.out)
    -- no script and stdin not a terminal: not the REPL, stdin is the program
    a, b = both({}, { stdin = 'print(1 + 1)\n' })
    assert.equal(0, a.status)
    assert.equal("2\n", a.out)
    assert.equal(b.out, a.out)
  end)

  lua_it("reports usage errors like lua5.4 (unknown option, -e without argument)", function()
    for _, args in ipairs { { "-x" }, { "-e" }, { "-l" }, { "--bogus" } } do
      local a, b = both(args)
      assert.equal(1, a.status, table.concat(args, " "))
      assert.equal(b.status, a.status)
      assert.equal(first_line(b.err), first_line(a.err))
      assert.truthy(a.err:find("usage:"), a.err)
    end
  end)

  lua_it("exit statuses follow lua5.4: os.exit(n|true|false), errors, syntax errors, missing file", function()
    local d = mktemp()
    write(d .. "/syntax.lua", "x = = 1\n")
    for _, args in ipairs {
      { "-e", "os.exit(7)" },
      { "-e", "os.exit(true)" },
      { "-e", "os.exit(false)" },
      { "-e", "os.exit(0, true)" },
      { "-e", "error('x')" },
      { "-e", "error({})" },
      { "-e", "error(nil)" },
      { "-e", "x = = 1" },
      { "syntax.lua" },
      { "no_such_file.lua" },
      { "-e", "print('ok')" },
      { "-", stdin = "x = = 1\n" },
      { "-", stdin = "error('from stdin')\n" },
    } do
      local a, b = both(args, { dir = d, stdin = args.stdin })
      local what = table.concat(args, " ")
      assert.equal(b.status, a.status, what)
      assert.equal(b.out, a.out, what)
      assert.equal(first_line(b.err), first_line(a.err), what)
    end
    rmdir(d)
  end)
end)

---------------------------------------------------------------------------------------------
-- §2: the script is the main task
---------------------------------------------------------------------------------------------
describe("luaio script.lua: the chunk is the main task", function()
  it("top-level code may suspend, and runs inside a task", function()
    local d = mktemp()
    write(d .. "/s.lua", [[
      local aio = require "luaio"
      local t = aio.current_task()
      print("in a task", t ~= nil)
      local t0 = aio.time()
      print("sleep returns", aio.sleep(0.05, "a", "b"))
      print("slept long enough", aio.time() - t0 >= 0.045)
      local q = aio.Queue()
      aio.spawn(function() aio.sleep(0.01) q:put("from a child") end)
      print(q:get())
      print("same task", aio.current_task() == t)
    ]])
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(0, st, err)
    assert.equal("in a task\ttrue\nsleep returns\ta\tb\nslept long enough\ttrue\nfrom a child\nsame task\ttrue\n", out)
    rmdir(d)
  end)

  it("stdin via '-' and -e chunks may suspend at top level too", function()
    local st, out, err = luaio({ "-", "p" }, { stdin = [[
      local aio = require "luaio"
      aio.sleep(0.01)
      print("stdin after sleep", ...)
    ]] })
    assert.equal(0, st, err)
    assert.equal("stdin after sleep\tp\n", out)
    st, out, err = luaio({ "-e", "local aio = require 'luaio' aio.sleep(0.01) print('e after sleep')" })
    assert.equal(0, st, err)
    assert.equal("e after sleep\n", out)
  end)

  it("an error (also after a suspension) exits 1 with the error and its traceback on stderr", function()
    local d = mktemp()
    write(d .. "/s.lua", [[
      local aio = require "luaio"
      aio.sleep(0.01)
      local function deep() error("late failure") end
      deep()
      print("not reached")
    ]])
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(1, st)
    assert.equal("", out)
    assert.truthy(err:find("s.lua:3: late failure", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
    assert.truthy(err:find("s.lua:4", 1, true), "traceback should name the calling line: " .. err)
    rmdir(d)
  end)

  it("a library error escaping the script is printed as '<name>: <message>' and exits 1", function()
    local st, _, err = luaio({ "-e", "local aio = require 'luaio' aio.wait_for(aio.Future(), 0.01)" })
    assert.equal(1, st)
    assert.truthy(err:find("TimeoutError", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
  end)

  it("when the script ends, tasks still alive are cancelled and drained; status 0", function()
    local d = mktemp()
    write(d .. "/s.lua", [[
      local aio = require "luaio"
      aio.spawn(function()
        local ok, e = pcall(aio.sleep, 100)
        print("child saw", e.name)
        aio.sleep(0.01) -- cleanup may still suspend while draining
        print("child cleaned up")
      end)
      aio.sleep(0)
      print("main done")
    ]])
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(0, st, err)
    assert.equal("main done\nchild saw\tCancelledError\nchild cleaned up\n", out)
    rmdir(d)
  end)

  it("a failing background task does not end the process; its error is reported on stderr", function()
    local d = mktemp()
    write(d .. "/s.lua", [[
      local aio = require "luaio"
      local t = aio.spawn(function() aio.sleep(0.01) error("background boom") end)
      t:set_name("doomed-worker")
      aio.sleep(0.05)
      print("main still running")
    ]])
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(0, st, err)
    assert.equal("main still running\n", out)
    assert.truthy(err:find("background boom", 1, true), err)
    assert.truthy(err:find("doomed-worker", 1, true), "the report names the task: " .. err)
    rmdir(d)
  end)

  it("os.exit(n) after a suspension exits with n", function()
    local st = luaio({ "-e", "local aio = require 'luaio' aio.sleep(0.01) os.exit(5)" })
    assert.equal(5, st)
    st = luaio({ "-e", "local aio = require 'luaio' aio.spawn(function() os.exit(6) end) aio.sleep(1)" })
    assert.equal(6, st)
  end)

  it("a main task waiting on what nothing can complete exits 1 naming the deadlock, not a hang", function()
    local st, _, err = luaio({ "-e", "local aio = require 'luaio' aio.Future():await()" })
    assert.equal(1, st)
    assert.truthy(err:find("RuntimeError", 1, true), err)
    assert.truthy(err:lower():find("deadlock", 1, true), err)
  end)

  it("a script using aio.run works the same under luaio and under lua5.4 + require", function()
    local d = mktemp()
    local code = [[
      local aio = require "luaio"
      print(aio.run(function(a, b) aio.sleep(0.01) return "ran", a, b end, 1, 2))
    ]]
    write(d .. "/s.lua", code)
    local st, out, err = luaio({ "s.lua" }, { dir = d })
    assert.equal(0, st, err)
    assert.equal("ran\t1\t2\n", out)
    if HAVE_LUA then
      local dir = BIN:match("^(.*)/[^/]*$")
      local env = "LUA_CPATH=" .. q(dir .. "/?.so;;")
      local pre = os.getenv("LUAIO_PRELOAD") -- a sanitized build's .so needs its runtime first
      if pre then env = env .. " LD_PRELOAD=" .. q(pre) .. " ASAN_OPTIONS=detect_leaks=0" end
      local st2, out2, err2 = run("lua5.4", { "s.lua" }, { dir = d, env = env })
      assert.equal(0, st2, err2)
      assert.equal(out, out2)
    end
    rmdir(d)
  end)

  lua_it("-i after a failing script exits 1 without a REPL, as lua5.4", function()
    local d = mktemp()
    write(d .. "/bad.lua", "error('script fails')\n")
    local a, b = both({ "-i", "bad.lua" }, { dir = d, stdin = "print('repl ran')\n" })
    assert.equal(1, a.status)
    assert.equal(b.status, a.status)
    assert.falsy(a.out:find("repl ran", 1, true), a.out)
    assert.truthy(a.err:find("bad.lua:1: script fails", 1, true), a.err)
    rmdir(d)
  end)

  it("-i with a piped stdin runs the script, then reads statements from stdin", function()
    local d = mktemp()
    write(d .. "/s.lua", "x = 20\n")
    local st, out, err = luaio({ "-i", "s.lua" }, { dir = d, stdin = "x * 2 + 2\nprint('bye')\n" })
    assert.equal(0, st, err)
    assert.truthy(out:find("42", 1, true), out)
    assert.truthy(out:find("bye", 1, true), out)
    rmdir(d)
  end)
end)

---------------------------------------------------------------------------------------------
-- §2: SIGINT, §3: SIGUSR1 → dump_tasks
---------------------------------------------------------------------------------------------
describe("luaio signals", function()
  it("SIGINT cancels the main task (catchable CancelledError), drains the rest, exits normally if caught",
    with_bg([[
      local aio = require "luaio"
      aio.spawn(function() local ok, e = pcall(aio.sleep, 100) print("child", e.name) io.stdout:flush() end)
      print("ready") io.stdout:flush()
      local ok, e = pcall(aio.sleep, 100)
      print("main caught", e.name) io.stdout:flush()
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("INT")
      assert.equal(0, p:wait_exit())
      assert.equal("ready\nmain caught\tCancelledError\nchild\tCancelledError\n", p:file("out"))
    end))

  it("SIGINT on a suspended script that does not catch it exits with status 130",
    with_bg([[
      local aio = require "luaio"
      aio.spawn(function() local ok, e = pcall(aio.sleep, 100) print("child", e.name) io.stdout:flush() end)
      print("ready") io.stdout:flush()
      aio.sleep(100)
      print("not reached")
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("INT")
      assert.equal(130, p:wait_exit())
      assert.equal("ready\nchild\tCancelledError\n", p:file("out"))
    end))

  it("SIGINT interrupts a script busy in a loop that never suspends (status 130)",
    with_bg([[
      print("ready") io.stdout:flush()
      local n = 0
      while true do n = n + 1 end
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("INT")
      assert.equal(130, p:wait_exit())
      assert.truthy(p:file("err"):find("interrupted", 1, true), p:file("err"))
    end))

  it("SIGUSR1 prints the task tree (names, what each waits on, stacks) and the script goes on",
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
end)

describe("luaio signals (busy)", function()
  local busy_dump = with_bg([[
      print("ready") io.stdout:flush()
      local function spin() local n = 0 while true do n = n + 1 end end
      spin()
    ]], function(p)
      p:wait_out("ready\n")
      p:kill("USR1")
      p:wait_err("spin", "the dump with the busy task's stack")
    end)
  it("SIGUSR1 prints the task dump even while a task is busy in a loop that never suspends", function()
    return busy_dump()
  end)
end)

describe("aio.dump_tasks prints the tree of live tasks", function()
  it("writes the tree to a given file, or to stderr by default", function()
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

---------------------------------------------------------------------------------------------
-- §9: the REPL in a pseudo-terminal
---------------------------------------------------------------------------------------------
local Term = {}
Term.__index = Term

local function start(args)
  local self = setmetatable({ dir = mktemp() }, Term)
  self.sock = self.dir .. "/tmux.sock"
  write(self.dir .. "/tmux.conf", "set -g remain-on-exit on\nset -g history-limit 5000\n")
  -- the shell survives the Ctrl-C the tests type (its trap is reset to the default in luaio),
  -- records luaio's pid and exit status; HOME is private so history stays in the test
  local inner = ("echo $$ > %s; exec env HOME=%s %s %s"):format(
    q(self.dir .. "/pid"), q(self.dir), q(BIN), args or "")
  local cmd = ("trap : INT; sh -c %s; echo $? > %s"):format(q(inner), q(self.dir .. "/status"))
  assert(os.execute(("env -u TMUX tmux -S %s -f %s new-session -d -s acc -x 150 -y 50 %s"):format(
    q(self.sock), q(self.dir .. "/tmux.conf"), q("sh -c " .. q(cmd)))), "cannot start tmux")
  return self
end

function Term:tmux(args)
  return os.execute(("env -u TMUX tmux -S %s %s >/dev/null 2>&1"):format(q(self.sock), args))
end

function Term:screen()
  local p = io.popen(("env -u TMUX tmux -S %s capture-pane -p -J -S -5000 -t acc 2>/dev/null"):format(q(self.sock)))
  local s = p:read("a")
  p:close()
  return s
end

function Term:lines()
  local t = {}
  for l in (self:screen() .. "\n"):gmatch("(.-)\n") do t[#t + 1] = (l:gsub("%s+$", "")) end
  while #t > 0 and t[#t] == "" do t[#t] = nil end
  return t
end

function Term:last() local t = self:lines() return t[#t] or "" end
function Term:type(s) assert(self:tmux("send-keys -t acc -l " .. q(s))) end
function Term:key(k) assert(self:tmux("send-keys -t acc " .. k)) end
function Term:line(s) self:type(s) self:key("Enter") end

function Term:wait(pred, what, limit)
  local deadline = aio.time() + (limit or 5)
  while true do
    local r = pred(self)
    if r then return r end
    if aio.time() > deadline then
      error(("timed out waiting for %s; screen:\n%s"):format(what, self:screen()), 2)
    end
    aio.sleep(0.02)
  end
end

function Term:count(pat)
  local n = 0
  for _, l in ipairs(self:lines()) do if l:find(pat) then n = n + 1 end end
  return n
end

function Term:expect(pat, n)
  return self:wait(function(t) return t:count(pat) >= (n or 1) end, ("%q (x%d)"):format(pat, n or 1))
end

function Term:prompt(p)
  p = p or ">"
  return self:wait(function(t) return t:last() == p end, ("the prompt %q"):format(p))
end

function Term:cursor_x()
  local p = io.popen(("env -u TMUX tmux -S %s display -p -t acc '#{cursor_x}' 2>/dev/null"):format(q(self.sock)))
  local s = p:read("a")
  p:close()
  return tonumber(s:match("%d+"))
end

function Term:status()
  return tonumber((slurp(self.dir .. "/status") or ""):match("%d+"))
end

function Term:wait_exit() return self:wait(function(t) return t:status() end, "luaio to exit") end

function Term:pid()
  return self:wait(function(t) return tonumber((slurp(t.dir .. "/pid") or ""):match("%d+")) end, "the pid")
end

function Term:close()
  self:tmux("kill-server")
  rmdir(self.dir)
end

local function repl_it(name, fn, args)
  if not HAVE_TMUX then
    pending("tmux is not installed: REPL test skipped: " .. name)
    return
  end
  local body = async(function()
    local t = start(args)
    local ok, err = pcall(fn, t)
    t:close()
    if not ok then error(err, 0) end
  end, 15)
  it(name, body)
end


describe("the luaio REPL on a terminal", function()
  repl_it("opens on a terminal with '> ' and prints expression values as lua5.4 does", function(t)
    t:prompt()
    t:line('1, "two", nil, false, 2^53')
    -- (the terminal shows the tab separators as spaces)
    t:expect("^1%s+two%s+nil%s+false%s+9%.007199254741e%+15$")
    t:line("return 3, 4")
    t:expect("^3%s+4$")
    t:line("nil")
    t:expect("^nil$")
    t:line("y = 5") -- a statement prints nothing
    t:line("(function() end)()") -- nor does a call returning no values
    t:line("y * 2")
    t:expect("^10$")
    t:prompt()
    local ls = t:lines()
    -- nothing printed between 'y = 5' and 'y * 2' except the echoed inputs
    local i
    for k, l in ipairs(ls) do if l == "> y = 5" then i = k end end
    assert.truthy(i, t:screen())
    assert.equal("> (function() end)()", ls[i + 1])
    assert.equal("> y * 2", ls[i + 2])
  end)

  repl_it("the prompts are exactly '> ' and '>> ' (the cursor after the space)", function(t)
    t:prompt()
    t:wait(function(s) return s:cursor_x() == 2 end, "the cursor at column 2 after '> '")
    t:line("do")
    t:prompt(">>")
    t:wait(function(s) return s:cursor_x() == 3 end, "the cursor at column 3 after '>> '")
    t:line("end")
    t:prompt()
  end)

  repl_it("honours _PROMPT and _PROMPT2 as lua5.4 does", function(t)
    t:prompt()
    t:line("_PROMPT = 'P1> ' _PROMPT2 = 'P2>> '")
    t:prompt("P1>")
    t:line("do")
    t:prompt("P2>>")
    t:line("end")
    t:prompt("P1>")
  end)

  repl_it("Ctrl-D on a non-empty line does not exit", function(t)
    t:prompt()
    t:type("1 + 4")
    t:wait(function(s) return s:last() == "> 1 + 4" end, "the typed text")
    t:key("C-d")
    t:type("1")
    t:key("Enter")
    t:expect("^42$")
    t:prompt()
    assert.is_nil(t:status())
  end)

  repl_it("each input is a task: top-level suspension and waiting on background tasks work", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("q = aio.Queue() aio.spawn(function() aio.sleep(0.05) q:put('delivered') end)")
    t:prompt()
    t:line("q:get(), aio.current_task() ~= nil")
    t:expect("^delivered%s+true$")
    t:line("local t0 = aio.time() aio.sleep(0.1) return aio.time() - t0 >= 0.095")
    t:expect("^true$")
  end)

  repl_it("continues incomplete statements on '>> ' and runs them when complete", function(t)
    t:prompt()
    t:line("for i = 1, 3 do")
    t:prompt(">>")
    t:line("  io.write(i, ';')")
    t:prompt(">>")
    t:line("end print()")
    t:expect("^1;2;3;$")
    t:prompt()
    t:line("s = [[first")
    t:prompt(">>")
    t:line("second]]")
    t:prompt()
    t:line("#s")
    t:expect("^12$")
    t:line("function f(")
    t:prompt(">>")
    t:line("a) return a + 1 end")
    t:prompt()
    t:line("f(41)")
    t:expect("^42$")
  end)

  repl_it("a server started at the prompt keeps serving while the prompt waits", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("srv = aio.start_server(function(r, w) local l = r:readline() w:write('echo:' .. l) " ..
      "w:close() end, '127.0.0.1', 0) print('PORT', select(2, srv.sockets[1]:getsockname()))")
    local port = t:wait(function(s)
      for _, l in ipairs(s:lines()) do
        local p = l:match("^PORT%s+(%d+)$")
        if p then return tonumber(p) end
      end
    end, "the port")
    t:prompt() -- idle at the prompt: no key pressed from now on
    for i = 1, 2 do
      local r, w = aio.open_connection("127.0.0.1", port)
      w:write("hello " .. i .. "\n")
      assert.equal("echo:hello " .. i .. "\n", r:read())
      w:close()
    end
  end)

  repl_it("reader:readline() at the prompt suspends the input until the peer writes", function(t)
    local release = aio.Event()
    local server = aio.start_server(function(_, w)
      release:wait()
      w:write("hello from the test\n")
      w:close()
    end, "127.0.0.1", 0)
    local _, port = server.sockets[1]:getsockname()
    local ok, err = pcall(function()
      t:prompt()
      t:line("aio = require 'luaio'")
      t:prompt()
      t:line(("r, w = aio.open_connection('127.0.0.1', %d) print('connected') return r:readline()"):format(port))
      t:expect("^connected$")
      assert.equal(0, t:count("^hello from the test$"))
      release:set()
      t:expect("^hello from the test$")
      t:prompt()
    end)
    server:close()
    if not ok then error(err, 0) end
  end)

  repl_it("background output appears above the prompt; the half-typed line is redrawn below", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("ev = aio.Event() aio.spawn(function() ev:wait() for i = 1, 3 do print('bg-out', i) aio.sleep(0.01) end end)")
    t:prompt()
    t:line("aio.call_later(0.3, function() ev:set() end)")
    t:prompt()
    t:type("6 *") -- typed before the background output starts
    t:wait(function(s) return s:last() == "> 6 *" end, "the typed text")
    t:expect("^bg%-out%s+3$")
    t:wait(function(s) return s:last() == "> 6 *" end, "the typed line redrawn below the output")
    assert.equal(0, t:count("^> 6 %*.*bg%-out")) -- never glued onto the typed line
    t:line(" 7")
    t:expect("^42$")
  end)

  repl_it("a failing background task is reported at once (error and task name) while the prompt waits", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("aio.spawn(function() aio.sleep(0.1) error('bg-kaboom') end):set_name('repl-bg-job')")
    t:prompt()
    t:expect("bg%-kaboom")
    t:expect("repl%-bg%-job")
    t:prompt()
    -- also when the task is still referenced (held in a global)
    t:line("held = aio.spawn(function() aio.sleep(0.1) error('held-kaboom') end)")
    t:prompt()
    t:expect("held%-kaboom")
    t:prompt()
    t:line("1 + 1")
    t:expect("^2$")
  end)

  repl_it("Ctrl-C cancels the running input's task (a CancelledError it can see), not the process", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("bgq = aio.Queue() aio.spawn(function() print('bg got', bgq:get()) end)")
    t:prompt()
    t:line("print('sleeping') local ok, e = pcall(aio.sleep, 60) print('input saw', e.name)")
    t:expect("^sleeping$") -- the input runs; interrupt it
    t:key("C-c")
    t:expect("input saw%s+CancelledError$") -- (the terminal may echo ^C in front)
    t:prompt()
    -- the background task was not cancelled with it
    t:line("bgq:put('still alive')")
    t:expect("^bg got%s+still alive$")
    t:prompt()
    assert.is_nil(t:status())
  end)

  repl_it("Ctrl-C interrupts an input that never suspends and returns to the prompt", function(t)
    t:prompt()
    t:line("print('busy') local n = 0 repeat n = n + 1 until false")
    t:expect("^busy$")
    t:key("C-c")
    t:prompt()
    t:line("'alive'")
    t:expect("^alive$")
    assert.is_nil(t:status())
  end)

  repl_it("Ctrl-C at the prompt discards the typed line or the pending '>>' statement", function(t)
    t:prompt()
    t:type("error('must not run')")
    t:wait(function(s) return s:last() == "> error('must not run')" end, "the typed text")
    t:key("C-c")
    t:prompt()
    t:line("if true then print('must not run either')")
    t:prompt(">>")
    t:key("C-c")
    t:prompt()
    t:line("end_value = 9")
    t:prompt()
    t:line("end_value")
    t:expect("^9$")
    assert.equal(0, t:count("must not run$"))
    assert.equal(0, t:count("^must not run either$"))
  end)

  repl_it("shows runtime errors with a traceback and syntax errors, and stays in the REPL", function(t)
    t:prompt()
    t:line("function thrower() error('repl-fail') end thrower()")
    t:expect("^stdin:1: repl%-fail$")
    t:expect("^stack traceback:")
    t:prompt()
    t:line("error({})")
    t:expect("%(error object is a table value%)")
    t:prompt()
    t:line("local = 1")
    t:expect("^stdin:1: .*near '='$")
    t:prompt()
    t:line("'still here'")
    t:expect("^still here$")
  end)

  repl_it("a library error at the prompt is shown as '<name>: <message>'", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("aio.wait_for(aio.Future(), 0.01)")
    t:expect("TimeoutError")
    t:prompt()
  end)

  repl_it("line editing and history: cursor keys edit the line, Up recalls earlier inputs", function(t)
    t:prompt()
    t:line("100 + 1")
    t:expect("^101$")
    t:prompt()
    t:line("200 + 2")
    t:expect("^202$")
    t:prompt()
    t:type("2*3")
    t:wait(function(s) return s:last() == "> 2*3" end, "the typed text")
    t:key("Left Left")
    t:type("0")
    t:wait(function(s) return s:last() == "> 20*3" end, "the edited line")
    t:key("Enter")
    t:expect("^60$")
    t:prompt()
    t:key("Up")
    t:wait(function(s) return s:last() == "> 20*3" end, "the last input recalled")
    t:key("Up")
    t:wait(function(s) return s:last() == "> 200 + 2" end, "the input before it")
    t:key("Up")
    t:wait(function(s) return s:last() == "> 100 + 1" end, "the first input")
    t:key("Down")
    t:wait(function(s) return s:last() == "> 200 + 2" end, "Down goes forward again")
    t:key("Enter")
    t:expect("^202$", 2)
  end)

  repl_it("Ctrl-D on an empty line exits 0, cancelling and draining the remaining tasks", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    local mark = t.dir .. "/drained"
    t:line(("aio.spawn(function() local ok, e = pcall(aio.sleep, 100) aio.sleep(0.01) " ..
      "local f = io.open(%q, 'w') f:write(e.name) f:close() end)"):format(mark))
    t:prompt()
    t:key("C-d")
    assert.equal(0, t:wait_exit())
    assert.equal("CancelledError", slurp(mark))
  end)

  repl_it("SIGUSR1 at an idle prompt prints the task tree; the REPL carries on", function(t)
    t:prompt()
    t:line("aio = require 'luaio'")
    t:prompt()
    t:line("aio.spawn(function() aio.Event():wait() end):set_name('idle-waiter')")
    t:prompt()
    assert(os.execute(("kill -USR1 %d"):format(t:pid())))
    t:expect("idle%-waiter.*waiting on") -- name, state, what it waits on
    t:expect("stdin:1") -- its suspended stack
    t:line("'after dump'")
    t:expect("^after dump$")
    assert.is_nil(t:status())
  end)

  repl_it("-i runs the script first (its globals are visible), then the REPL; Ctrl-D exits 0", function(t)
    t:prompt()
    t:line("from_script")
    t:expect("^set by the script$")
    t:prompt()
    t:key("C-d")
    assert.equal(0, t:wait_exit())
  end, "-i -e " .. q("from_script = 'set by the script'"))

  repl_it("-v alone on a terminal prints the version and exits 0 without a REPL", function(t)
    assert.equal(0, t:wait_exit())
    assert.equal(0, t:count("^>$"))
  end, "-v")

  repl_it("-e on a terminal runs the chunk and does not enter the REPL (as lua5.4)", function(t)
    assert.equal(3, t:wait_exit())
    t:expect("^script ran$")
  end, "-e " .. q("print('script ran') os.exit(3)"))
end)
