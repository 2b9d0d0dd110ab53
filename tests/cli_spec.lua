-- cli_spec.lua — the luaio binary, each case in a fresh process: its options (a drop-in
-- lua5.4: -e -l -i -v -E -W - --, LUA_INIT, the arg table), --help and the man page, the
-- script as the main task, aio.run, exit statuses and SIGINT. The REPL is in repl_spec.lua,
-- the task dump (SIGUSR1) in dump_spec.lua. "As lua5.4" cases compare with the stock lua5.4.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"
local is_err = require "support.is_err"
local settle = require "support.settle"
local outside_task = require "support.outside_task"
local sh = require "support.sh"
local fs = require "support.fs"
local q = require "support.quote"
local command = require "support.command"
local lua_script = require "support.run_lua"
local script = require "support.run_luaio"
local bin = require "support.bin"

local mktemp, write, rmdir = fs.mktemp, fs.write, fs.rmdir
local luaio, run = command.luaio, command.run
local with_bg = require("support.background").with_bg

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end
local HAVE_LUA = have("lua5.4")

-- the same command under luaio and lua5.4, with the program name in messages made neutral
local function norm(s, prog)
  s = s:gsub(prog:gsub("%p", "%%%0"), "PROG")
  return (s:gsub("luaio", "PROG"):gsub("lua5%.4", "PROG"))
end

local function both(args, opts)
  local a = table.pack(luaio(args, opts))
  local b = table.pack(run("lua5.4", args, opts))
  return { status = a[1], out = norm(a[2], bin), err = norm(a[3], bin) },
         { status = b[1], out = norm(b[2], "lua5.4"), err = norm(b[3], "lua5.4") }
end

local function lua_it(name, fn)
  if HAVE_LUA then it(name, fn) else pending("lua5.4 not installed: " .. name) end
end

local function first_line(s) return (s:match("^[^\n]*")) end

describe("the luaio binary", function()
  it("is built with the module, the static library and the header", function()
    local dir = proc.bin:match("^(.*)/[^/]*$") or "."
    for _, p in ipairs { dir .. "/luaio", dir .. "/luaio.so", dir .. "/libluaio.a", "src/luaio.h" } do
      local f = io.open(p, "rb")
      assert.is_not_nil(f, p .. " missing")
      f:close()
    end
  end)

  it("has a luaio.so that exports luaopen_luaio for stock lua5.4", function()
    local dir = proc.bin:match("^(.*)/[^/]*$") or "."
    local code, out = sh("nm -D --defined-only " .. dir .. "/luaio.so")
    assert.equal(0, code)
    assert.matches("luaopen_luaio", out)
    code, out = proc.run { lua = true, no_script = true, flags = { "-e", 'local aio = require "luaio" print(type(aio), type(aio.run))' } }
    assert.equal(0, code)
    assert.equal("table\tfunction\n", out)
  end)

  it("preloads the module", function()
    local code, out = sh("env -u LUA_CPATH -u LUA_CPATH_5_4 LUA_CPATH=/nonexistent/?.so " .. proc.bin
      .. " -e 'local aio = require \"luaio\" print(type(aio.run), type(aio.sleep))'")
    assert.equal(0, code)
    assert.equal("function\tfunction\n", out)
  end)

  it("accepts -e, -v, -l and - like lua5.4", function()
    local rc, out = proc.run { no_script = true, flags = { "-e", "print(1 + 1)" } }
    assert.equal(0, rc)
    assert.equal("2\n", out)
    rc, out = proc.run { no_script = true, flags = { "-v" } }
    assert.equal(0, rc)
    assert.matches("^luaio", out)
    out = select(2, proc.run { no_script = true, flags = { "-l", "string", "-e", "print(string ~= nil)" } })
    assert.equal("true\n", out)
    out = select(2, proc.run { no_script = true, flags = { "-" }, stdin = "print('from stdin', ...)" })
    assert.equal("from stdin\n", out)
    out = select(2, proc.run { no_script = true, flags = { "-e", "require('luaio').sleep(0.001) print('ok')" } })
    assert.equal("ok\n", out)
  end)

  it("accepts every lua5.4 option: -e, -l, -, --, -v, -E, -W", function()
    local code, out = sh(bin .. " -e 'print(1+1)'")
    assert.equal(0, code)
    assert.equal("2\n", out)
    code, out = sh(bin .. " -v")
    assert.equal(0, code)
    assert.matches("Lua 5.4", out .. "", 1, true)
    code, out = sh("echo 'print(\"stdin\", ...)' | " .. bin .. " - x")
    assert.equal(0, code)
    assert.equal("stdin\tx\n", out)
    code, out = sh("cd tests && " .. bin .. " -l support.async -e 'print(type(package.loaded[\"support.async\"]))'")
    assert.equal(0, code)
    assert.equal("function\n", out)
    code, out = sh("LUA_INIT='print(\"init\")' " .. bin .. " -E -e 'print(\"body\")'")
    assert.equal(0, code)
    assert.equal("body\n", out)
    code = sh(bin .. " -W -e 'warn(\"hello\")'")
    assert.equal(0, code)
    local p = os.tmpname()
    write(p, "print(arg[1])")
    code, out = sh(bin .. " -- " .. p .. " -v")
    os.remove(p)
    assert.equal(0, code)
    assert.equal("-v\n", out)
  end)

  it("-l loads a module into a global; several -e run in order", function()
    local st, out = sh(proc.bin .. " -l luaio -e 'print(type(luaio), type(luaio.sleep))'")
    assert.equal(0, st)
    assert.equal("table\tfunction\n", out)
    st, out = sh(proc.bin .. " -e 'x = 1' -e 'print(x + 1)'")
    assert.equal(0, st)
    assert.equal("2\n", out)
  end)

  it("warns like lua5.4: off by default, on with -W, with the Lua warning prefix", function()
    local rc, _, err = proc.run { no_script = true, flags = { "-e", "warn('careful')" } }
    assert.equal(0, rc)
    assert.equal("", err)
    rc, _, err = proc.run { no_script = true, flags = { "-W", "-e", "warn('a', 'b') warn('@off') warn('x') warn('@on') warn('c')" } }
    assert.equal(0, rc)
    assert.equal("Lua warning: ab\nLua warning: c\n", err)
  end)

  it("names an error value that has no string form as lua5.4 does", function()
    local rc, _, err = proc.run { no_script = true, flags = { "-e", "error({})" } }
    assert.equal(1, rc)
    assert.matches("^luaio: %(error object is a table value%)\n", err)
  end)
end)

describe("luaio --help", function()
  -- the options the usage text lists: "  -e stat   ...", "  --help    ...", "  -    ..."
  local function options_of(usage)
    local opts, seen = {}, {}
    for opt in usage:gmatch("\n  (%-[%-%w]*)%s") do
      if not seen[opt] then seen[opt] = true; opts[#opts + 1] = opt end
    end
    return opts
  end

  it("prints the usage to stdout and exits 0, naming every option", function()
    local rc, out, err = proc.run { flags = { "--help" }, no_script = true }
    assert.equal(0, rc)
    assert.equal("", err)
    assert.matches("^usage: luaio %[options%] %[script %[args%]%]\n", out)
    assert.same({ "-e", "-i", "-l", "-v", "-E", "-W", "--help", "--", "-" }, options_of(out))
    assert.matches("\n  %-l g=mod ", out)
    assert.matches("REPL", out)
  end)

  it("acts at once: nothing runs, and options after it are not looked at", function()
    local rc, out, err = proc.run { flags = { "-e", "print('ran')", "--help", "-Z" }, no_script = true }
    assert.equal(0, rc)
    assert.equal("", err)
    assert.matches("^usage: ", out)
    assert.falsy(out:find("ran", 1, true))
  end)

  it("is an ordinary script argument after the script or after --", function()
    local rc, out = proc.run { code = "print(...)", args = { "--help" } }
    assert.equal(0, rc)
    assert.equal("--help\n", out)
    local rc2, _, err = proc.run { flags = { "--", "--help" }, no_script = true }
    assert.equal(1, rc2)
    assert.matches("cannot open %-%-help", err)
  end)

  it("an unknown option exits 1 with the error and the same usage on stderr", function()
    local _, help = proc.run { flags = { "--help" }, no_script = true }
    for _, bad in ipairs { "-Z", "--helpme", "-h" } do
      local rc, out, err = proc.run { flags = { bad }, no_script = true }
      assert.equal(1, rc, bad)
      assert.equal("", out, bad)
      assert.equal("luaio: unrecognized option '" .. bad .. "'\n" .. help, err, bad)
    end
    local rc, out, err = proc.run { flags = { "-e" }, no_script = true }
    assert.equal(1, rc)
    assert.equal("", out)
    assert.equal("luaio: '-e' needs argument\n" .. help, err)
  end)

  it("the man page docs/luaio.1 documents every option the usage lists", function()
    local man = fs.slurp("docs/luaio.1")
    assert.is_string(man, "docs/luaio.1 is missing")
    for _, section in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT",
                               "EXIT STATUS", "SIGNALS", "FILES", "EXAMPLES", "SEE ALSO" } do
      assert.truthy(man:find("\n.SH " .. section .. "\n", 1, true), "section " .. section)
    end
    local _, help = proc.run { flags = { "--help" }, no_script = true }
    local opts = options_of(help)
    assert.is_true(#opts >= 9)
    for _, opt in ipairs(opts) do
      -- an item of its own: `.B \-e` or `.BI \-e " stat"` (roff spells the dash \-)
      local pat = "\n%.BI? " .. opt:gsub("%-", "\\%%-") .. "[ \n]"
      assert.truthy(man:find(pat), "docs/luaio.1 does not document " .. opt)
    end
    for _, name in ipairs { "LUA_INIT", "LUA_PATH", "LUAIO_ALLOC", "SIGINT", "SIGUSR1",
                            "SIGPIPE", "~/.luaio_history", "lua5.4" } do
      assert.truthy(man:find(name, 1, true), "docs/luaio.1 does not mention " .. name)
    end
  end)

  it("the man page renders without warnings", function()
    -- groff-base is one of the packages tools/deps.sh installs; LD_PRELOAD (the sanitized
    -- run's) must not reach it
    local p = assert(io.popen("env -u LD_PRELOAD groff -man -ww -z docs/luaio.1 2>&1"))
    local out = p:read("a")
    p:close()
    assert.equal("", out)
  end)
end)

describe("the script as the main task", function()
  it("may suspend at top level, inside a task", function()
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

  it("sees its arguments in ... and arg", function()
    local code, out, err = proc.run { args = { "one", "two" }, code = [[
      local aio = require "luaio"
      local t = aio.current_task()
      aio.sleep(0.001)
      local a, b = ...
      print(t ~= nil, select("#", ...), a, b, arg[0] ~= nil, arg[1], arg[2])
    ]] }
    assert.equal(0, code, err)
    assert.equal("true\t2\tone\ttwo\ttrue\tone\ttwo\n", out)
  end)

  it("gets the arg table and ... like lua5.4", function()
    local st, out = proc.run { code = [[
      print(select("#", ...), ...)
      print(arg[1], arg[2], #arg, arg[0]:match("[^/]*$") ~= nil, arg[-1] ~= nil)
    ]], args = { "a", "b c" } }
    assert.equal(0, st)
    assert.equal("2\ta\tb c\na\tb c\t2\ttrue\ttrue\n", out)
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

  it("an error exits 1 with the error and its traceback on stderr, also from -e", function()
    local st, _, err = proc.run { code = [[
      local aio = require "luaio"
      aio.sleep(0)
      local function deep_fn() error("kaboom-here") end
      deep_fn()
    ]] }
    assert.equal(1, st)
    assert.matches("kaboom%-here", err)
    assert.matches("stack traceback", err)
    assert.matches("deep_fn", err)
    st, _, err = sh(proc.bin .. " -e 'error(\"e-fail\")'")
    assert.equal(1, st)
    assert.matches("e%-fail", err)
    assert.matches("stack traceback", err)
  end)

  it("an ExceptionGroup's report lists each sub-exception with the stack where it was raised", function()
    local st, _, err = proc.run { code = [[
      local aio = require "luaio"
      local function first_child() aio.sleep(0) error("first-failed") end
      local function second_child() aio.sleep(0) error("second-failed") end
      do
        local tg <close> = aio.TaskGroup()
        tg:spawn(first_child)
        tg:spawn(second_child)
      end
    ]] }
    assert.equal(1, st)
    assert.matches("ExceptionGroup: unhandled errors in a TaskGroup %(2 sub%-exceptions%)", err)
    local i1 = err:find("sub%-exception 1 of 2: [^\n]*first%-failed\nstack traceback:")
    local i2 = err:find("sub%-exception 2 of 2: [^\n]*second%-failed\nstack traceback:")
    assert.truthy(i1 and i2 and i1 < i2, err)
    assert.truthy(err:find("in function 'first_child'", i1, true) or err:find(":2:", i1, true), err)
  end)

  it("an error after a suspension names the file and the calling line", function()
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

  it("an error raised in an awaited task is printed with the awaiting chain", function()
    local rc, _, err = script [[
      local function child() aio.sleep(0) error("child failed") end
      aio.spawn(child):await()
    ]]
    assert.equal(1, rc)
    assert.matches("child failed", err)
    assert.matches("awaited task", err)
  end)

  it("a library error escaping the script is printed as '<name>: <message>' and exits 1", function()
    local st, _, err = luaio({ "-e", "local aio = require 'luaio' aio.wait_for(aio.Future(), 0.01)" })
    assert.equal(1, st)
    assert.truthy(err:find("TimeoutError", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
  end)

  it("os.exit(n) after a suspension exits with n", function()
    local st = luaio({ "-e", "local aio = require 'luaio' aio.sleep(0.01) os.exit(5)" })
    assert.equal(5, st)
    st = luaio({ "-e", "local aio = require 'luaio' aio.spawn(function() os.exit(6) end) aio.sleep(1)" })
    assert.equal(6, st)
  end)

  it("a deadlocked script exits 1 naming the deadlock", function()
    local code, out, err = proc.run { timeout = 5, code = "local aio = require 'luaio'\naio.Future():await()\nprint('never')\n" }
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("RuntimeError", err, 1, true)
    assert.matches("deadlock", err:lower(), 1, true)
  end)

  it("a deadlocked script's traceback shows where the main task is stuck", function()
    local code, _, err = proc.run { timeout = 5, code = "local aio = require 'luaio'\nlocal function acc3_stuck() aio.Future():await() end\nacc3_stuck()\n" }
    assert.equal(1, code)
    assert.matches("traceback", err, 1, true)
    assert.matches("acc3_stuck", err, 1, true) -- where the main task was stuck
  end)

  it("aio.run inside the main chunk awaits in place", function()
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

describe("aio.run", function()
  it("runs main with its arguments and returns all its results", function()
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

  it("returns all of main's results, trailing nils included, in this process", function()
    local r = table.pack(aio.run(function(a, b) aio.sleep(0) return b, a, nil end, 1, 2))
    assert.equal(3, r.n)
    assert.equal(2, r[1])
    assert.equal(1, r[2])
  end)

  it("accepts a coroutine object, in this process", function()
    local co = aio.async(function(x) aio.sleep(0) return x + 1 end)(41)
    assert.equal(42, aio.run(co))
  end)

  it("re-raises main's error unchanged", function()
    local rc, out = lua_script [[
      local err = {}
      local ok, e = pcall(aio.run, function() aio.sleep(0) error(err) end)
      print(ok, e == err)
    ]]
    assert.equal(0, rc)
    assert.equal("false\ttrue\n", out)
  end)

  it("re-raises main's error unchanged, in this process", function()
    local E = {}
    local ok, e = pcall(aio.run, function() aio.sleep(0) error(E) end)
    assert.is_false(ok)
    assert.equal(E, e)
  end)

  it("cancels and drains the tasks left when main returns, closing their <close> variables", function()
    local rc, out = lua_script [[
      aio.run(function()
        aio.spawn(function()
          local _ <close> = setmetatable({}, { __close = function(_, e) aio.sleep(0) print("closed", e.name) end })
          aio.sleep(100)
        end)
        aio.sleep(0)
      end)
      print("after", #aio.all_tasks())
    ]]
    assert.equal(0, rc)
    assert.equal("closed\tCancelledError\nafter\t0\n", out)
  end)

  it("lets the drained tasks suspend in their cleanup", function()
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

  it("can be called again after it returned", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      print(aio.run(function() aio.sleep(0) return 1 end))
      print(aio.run(function() aio.sleep(0) return 2 end))
    ]] }
    assert.equal(0, st)
    assert.equal("1\n2\n", out)
  end)

  it("raises RuntimeError naming a deadlock instead of hanging", function()
    local rc, out = lua_script [[
      local ok, e = pcall(aio.run, function() aio.Future():await() end)
      print(ok, e.name, e.message)
    ]]
    assert.equal(0, rc)
    assert.matches("false\tRuntimeError\tdeadlock", out)
  end)

  it("raises RuntimeError when called from a callback while the loop runs", async(function()
    local ok, e = outside_task(function() return aio.run(function() end) end)
    assert.is_false(ok)
    is_err("RuntimeError", e)
  end))

  it("inside a task awaits main in place and leaves other tasks running", async(function()
    local bg = aio.spawn(function() aio.sleep(0.01) return "bg" end)
    assert.equal(7, aio.run(function() aio.sleep(0) return 7 end))
    assert.is_false(bg:done())
    assert.equal("bg", bg:await())
  end))

  it("inside a task returns all of main's results; tasks main started keep running", async(function()
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

  it("inside a task runs main in place; the caller is the current task again afterwards", async(function()
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
    settle(3)
    assert.is_true(bg_done)
  end))
end)

describe("signals", function()
  it("SIGINT cancels the main task; exit status 130 when unhandled", function()
    local rc, out, err = script [[
      local pid = io.open("/proc/self/stat"):read("n")
      aio.call_soon(function() io.popen("kill -INT " .. pid):close() end)
      aio.sleep(10)
      print("not reached")
    ]]
    assert.equal(130, rc)
    assert.equal("", out)
    assert.matches("interrupted", err)
  end)

  it("SIGINT on a suspended script drains the other tasks and exits 130",
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

  it("SIGINT is a CancelledError the script may catch; the rest is drained and it exits 0",
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
end)

describe("luaio as lua5.4", function()
  lua_it("passes the arg table and ... the same (options, --, script, args)", function()
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

  lua_it("-l of a missing module fails with status 1", function()
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

  lua_it("-W turns warnings on (off by default)", function()
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

  lua_it("reports usage errors the same (unknown option, -e without argument)", function()
    for _, args in ipairs { { "-x" }, { "-e" }, { "-l" }, { "--bogus" } } do
      local a, b = both(args)
      assert.equal(1, a.status, table.concat(args, " "))
      assert.equal(b.status, a.status)
      assert.equal(first_line(b.err), first_line(a.err))
      assert.truthy(a.err:find("usage:"), a.err)
    end
  end)

  lua_it("exits with the same statuses: os.exit(n|true|false), errors, syntax errors, missing file", function()
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

  lua_it("-i after a failing script exits 1 without a REPL", function()
    local d = mktemp()
    write(d .. "/bad.lua", "error('script fails')\n")
    local a, b = both({ "-i", "bad.lua" }, { dir = d, stdin = "print('repl ran')\n" })
    assert.equal(1, a.status)
    assert.equal(b.status, a.status)
    assert.falsy(a.out:find("repl ran", 1, true), a.out)
    assert.truthy(a.err:find("bad.lua:1: script fails", 1, true), a.err)
    rmdir(d)
  end)

  it("runs a script using aio.run like lua5.4 + require", function()
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
      local dir = bin:match("^(.*)/[^/]*$")
      local env = "LUA_CPATH=" .. q(dir .. "/?.so;;")
      local pre = os.getenv("LUAIO_PRELOAD") -- a sanitized build's .so needs its runtime first
      if pre then env = env .. " LD_PRELOAD=" .. q(pre) .. " ASAN_OPTIONS=detect_leaks=0" end
      local st2, out2, err2 = run("lua5.4", { "s.lua" }, { dir = d, env = env })
      assert.equal(0, st2, err2)
      assert.equal(out, out2)
    end
    rmdir(d)
  end)
end)

describe("cli regressions", function()
  -- The rule: the CLI accepts what `lua5.4` accepts (`-e stat`, `-l mod`, `-i`, `-v`, `-E`,
  -- `-W`, ...), so it is a drop-in `lua`.
  -- We: the binary's warning function (src/main.c warnf, installed with the pool allocator)
  -- prints every warn() message raw: warnings are on even without -W, there is no
  -- "Lua warning: " prefix, and control messages ("@on", "@off") are printed as text.
  it("-W turns warnings on, as lua5.4 does", function()
    local st, _, err = sh(bin .. " -W -e 'warn(\"careful\")'")
    assert.equal(0, st)
    assert.equal("Lua warning: careful\n", err)
    st, _, err = sh(bin .. " -e 'warn(\"careful\")'")
    assert.equal(0, st)
    assert.equal("", err) -- off by default
    st, _, err = sh(bin .. " -e 'warn(\"@on\") warn(\"a\", \"b\") warn(\"@off\") warn(\"c\")'")
    assert.equal(0, st)
    assert.equal("Lua warning: ab\n", err)
  end)
end)
