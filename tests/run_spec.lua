local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"

-- aio.run's own semantics are checked in a fresh stock lua5.4 process (under the binary
-- a script is already the main task, where run awaits in place)
local function lua_script(code, ...)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, args = { ... }, lua = true }
end

local function script(code, ...)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, args = { ... } }
end

describe("aio.run", function()
  it("returns main's results, and accepts a coroutine object", function()
    local rc, out = lua_script [[
      print(aio.run(function(a, b) aio.sleep(0.001) return a + b, "x" end, 1, 2))
      print(aio.run(aio.async(function(v) return v end)("co")))
    ]]
    assert.equal(0, rc)
    assert.equal("3\tx\nco\n", out)
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

  it("raises RuntimeError naming a deadlock instead of hanging", function()
    local rc, out = lua_script [[
      local ok, e = pcall(aio.run, function() aio.Future():await() end)
      print(ok, e.name, e.message)
    ]]
    assert.equal(0, rc)
    assert.matches("false\tRuntimeError\tdeadlock", out)
  end)

  it("raises RuntimeError when called from a callback while the loop runs", function()
    local rc, out = lua_script [[
      aio.run(function()
        local f = aio.Future()
        aio.call_soon(function()
          local ok, e = pcall(aio.run, function() end)
          f:set_result(e.name)
        end)
        print(f:await())
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("RuntimeError\n", out)
  end)

  it("inside a task awaits main in place and leaves other tasks running", async(function()
    local bg = aio.spawn(function() aio.sleep(0.01) return "bg" end)
    assert.equal(7, aio.run(function() aio.sleep(0) return 7 end))
    assert.is_false(bg:done())
    assert.equal("bg", bg:await())
  end))

  it("reports a failed task nobody awaited, with its name and traceback", function()
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

  it("prints unretrieved errors to stderr by default and the process goes on", function()
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

  it("reports a failed task as soon as it is collected, while the loop runs", function()
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

  it("does not report errors that were retrieved", function()
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
end)

describe("the luaio binary", function()
  it("runs the script as the main task: top-level code may suspend", function()
    local rc, out = script [[
      local t0 = aio.time()
      aio.sleep(0.01)
      print(aio.current_task() ~= nil, aio.time() - t0 >= 0.01, ...)
    ]]
    assert.equal(0, rc)
    assert.equal("true\ttrue\n", out)
  end)

  it("passes arguments in ... and the arg table", function()
    local rc, out = script([[print(select("#", ...), arg[1], arg[2], arg[0] ~= nil, ...)]], "a", "b")
    assert.equal(0, rc)
    assert.equal("2\ta\tb\ttrue\ta\tb\n", out)
  end)

  it("exits 1 and prints the error with a traceback on an uncaught error", function()
    local rc, _, err = script [[
      local function inner() aio.sleep(0) error("top level failure") end
      inner()
    ]]
    assert.equal(1, rc)
    assert.matches("top level failure", err)
    assert.matches("stack traceback", err)
  end)

  it("names an error value that has no string form as lua5.4 does", function()
    local rc, _, err = proc.run { no_script = true, flags = { "-e", "error({})" } }
    assert.equal(1, rc)
    assert.matches("^luaio: %(error object is a table value%)\n", err)
  end)

  it("prints an error raised in an awaited task with the awaiting chain", function()
    local rc, _, err = script [[
      local function child() aio.sleep(0) error("child failed") end
      aio.spawn(child):await()
    ]]
    assert.equal(1, rc)
    assert.matches("child failed", err)
    assert.matches("awaited task", err)
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

  it("warns like lua5.4: off by default, on with -W, with the Lua warning prefix", function()
    local rc, _, err = proc.run { no_script = true, flags = { "-e", "warn('careful')" } }
    assert.equal(0, rc)
    assert.equal("", err)
    rc, _, err = proc.run { no_script = true, flags = { "-W", "-e", "warn('a', 'b') warn('@off') warn('x') warn('@on') warn('c')" } }
    assert.equal(0, rc)
    assert.equal("Lua warning: ab\nLua warning: c\n", err)
  end)

  it("reads a script from stdin when it is not a terminal", function()
    local rc, out = proc.run { no_script = true, stdin = "print('piped')" }
    assert.equal(0, rc)
    assert.equal("piped\n", out)
  end)

  it("rejects unknown options with the usage text", function()
    local rc, _, err = proc.run { no_script = true, flags = { "-Z" } }
    assert.equal(1, rc)
    assert.matches("unrecognized option '%-Z'", err)
    assert.matches("usage", err)
  end)

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

  it("SIGINT interrupts a main task that never suspends", function()
    local rc = script [[
      local pid = io.open("/proc/self/stat"):read("n")
      io.popen("kill -INT " .. pid):close()
      while true do end
    ]]
    assert.equal(130, rc)
  end)

  it("a script may catch the interrupt and finish normally", function()
    local rc, out = script [[
      local pid = io.open("/proc/self/stat"):read("n")
      aio.call_soon(function() io.popen("kill -INT " .. pid):close() end)
      local ok, e = pcall(aio.sleep, 10)
      print(ok, e.name)
    ]]
    assert.equal(0, rc)
    assert.equal("false\tCancelledError\n", out)
  end)
end)

describe("luaio --help", function()
  local function read(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
  end

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
    local man = read("docs/luaio.1")
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

  it("the man page renders without warnings (where groff is installed)", function()
    if not os.execute("command -v groff >/dev/null 2>&1") then return end
    local p = assert(io.popen("groff -man -ww -z docs/luaio.1 2>&1"))
    local out = p:read("a")
    p:close()
    assert.equal("", out)
  end)
end)
