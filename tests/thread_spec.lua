-- thread_spec.lua — aio.to_thread: results and errors, the copy of arguments and results
-- (what is copied exactly, what is refused and where), cancellation (at once, the work
-- running on), parallel calls proved by the workers themselves, worker states reused
-- (LIFO), the runtime closing with work in flight, bad input.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local fs = require "support.fs"
local run_lua = require "support.run_lua"
local run_luaio = require "support.run_luaio"

-- the slow paths get more time under valgrind / sanitizers
local SLOW = os.getenv("LUAIO_VALGRIND") or os.getenv("LUAIO_SANITIZED")
local LIMIT = SLOW and 60 or 10

local function refused(pos, what, ...)
  local e = catch(aio.to_thread, ...)
  check_argerr("to_thread", e)
  assert.matches("bad argument #" .. pos .. " to 'to_thread'", tostring(e), 1, true)
  if what then assert.matches(what, tostring(e), 1, true) end
  return e
end

-- Runs on a worker: announces itself with the file `me` in `dir`, then waits (spinning) for
-- `other`, which only a call running at the same time can create. False after `secs`.
local function meet(dir, me, other, secs)
  local f = assert(io.open(dir .. "/" .. me, "w"))
  f:close()
  local deadline = os.time() + secs
  while os.time() <= deadline do
    local g = io.open(dir .. "/" .. other)
    if g then g:close(); return true end
  end
  return false
end

describe("aio.to_thread", function()
  it("returns fn's results, every one, nils included", async(function()
    assert.equal(3, aio.to_thread(function(a, b) return a + b end, 1, 2))
    local r = table.pack(aio.to_thread(function(...) return ... end, nil, 1, nil, "x", nil))
    assert.equal(5, r.n)
    assert.same({ n = 5, nil, 1, nil, "x", nil }, r)
    assert.equal(0, select("#", aio.to_thread(function() end)))
    local many = table.pack(aio.to_thread(function() return table.unpack({}, 1, 300) end))
    assert.equal(300, many.n)
  end))

  it("runs fn in a state of its own with the standard libraries", async(function()
    local libs = aio.to_thread(function()
      local names = {}
      for _, n in ipairs { "string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package" } do
        names[#names + 1] = type(_G[n]) == "table" and n or nil
      end
      return table.concat(names, " "), rawget(_G, "aio") == nil and rawget(_G, "describe") == nil
    end)
    assert.equal("string table math io os coroutine utf8 debug package", libs)
    assert.is_true(select(2, aio.to_thread(function() return 1, rawget(_G, "describe") == nil end)))
  end))

  it("gives the worker the caller's package.path and package.cpath", async(function()
    local path, cpath = aio.to_thread(function() return package.path, package.cpath end)
    assert.equal(package.path, path)
    assert.equal(package.cpath, cpath)
    local dir = fs.mktemp()
    fs.write(dir .. "/thread_mod_a.lua", "return { answer = 42 }")
    local saved = package.path
    package.path = dir .. "/?.lua;" .. saved
    local ok, v = pcall(aio.to_thread, function() return require("thread_mod_a").answer end)
    package.path = saved
    fs.rmdir(dir)
    assert.is_true(ok, tostring(v))
    assert.equal(42, v)
  end))

  it("raises fn's error as a RuntimeError carrying the error and the worker's traceback", async(function()
    local e = catch(aio.to_thread, function() local function deep() error("boom on the worker") end deep() end)
    assert.is_true(is_err("RuntimeError", e))
    assert.matches("thread_spec.lua:%d+: boom on the worker", e.message)
    assert.matches("stack traceback:", e.message, 1, true)
    assert.matches("in local 'deep'", e.message, 1, true) -- the worker's frames, named
    -- any error value: a table with __tostring, a table without, nil
    e = catch(aio.to_thread, function() error(setmetatable({}, { __tostring = function() return "custom" end })) end)
    assert.matches("^custom\nstack traceback:", e.message)
    e = catch(aio.to_thread, function() error({ code = 1 }) end)
    assert.matches("^%(error object is a table value%)", e.message)
    e = catch(aio.to_thread, function() error() end)
    assert.matches("^%(error object is a nil value%)", e.message)
    e = catch(aio.to_thread, function() error("no position", 0) end)
    assert.matches("^no position\nstack traceback:", e.message)
  end))

  it("is caught by pcall in the caller and the worker stays usable", async(function()
    for i = 1, 5 do
      assert.is_false(pcall(aio.to_thread, function() error("x") end))
      assert.equal(i, aio.to_thread(function(n) return n end, i))
    end
  end))
end)

describe("aio.to_thread copies", function()
  local function echo(...) return ... end

  it("numbers exactly, keeping integers and floats apart", async(function()
    local vals = { 0, 1, -1, math.maxinteger, math.mininteger, 0.0, -0.0, 1.5, 1e308, 2^53,
      math.huge, -math.huge, 1 / 3, 3.0 }
    local back = { aio.to_thread(echo, table.unpack(vals)) }
    for i, v in ipairs(vals) do
      assert.equal(math.type(v), math.type(back[i]), "value " .. i)
      assert.is_true(v == back[i], "value " .. i)
    end
    assert.equal(1 / -0.0, 1 / back[7]) -- -0.0 keeps its sign
    local nan = aio.to_thread(echo, 0 / 0)
    assert.is_true(nan ~= nan)
    assert.equal("float", math.type(nan))
    local i, f = aio.to_thread(function() return 7, 7.0 end)
    assert.equal("integer", math.type(i))
    assert.equal("float", math.type(f))
  end))

  it("booleans, strings with embedded zeros, empty and large strings", async(function()
    local big = string.rep("0123456789abcdef\0", 1 << 19) -- 8.5 MiB
    local t, f, z, e, b = aio.to_thread(echo, true, false, "a\0b\0", "", big)
    assert.is_true(t)
    assert.is_false(f)
    assert.equal("a\0b\0", z)
    assert.equal("", e)
    assert.equal(#big, #b)
    assert.is_true(big == b)
    assert.equal(#big, aio.to_thread(function(s) return #s end, big))
    assert.equal(1 << 24, #aio.to_thread(function(n) return string.rep("x", n) end, 1 << 24))
  end))

  it("nested tables, with every kind of key, as new tables", async(function()
    local arg = { 1, 2.0, "three", { 4, { 5, { 6 } } }, x = { y = { z = "deep" } },
      [true] = "t", [false] = "f", [1.5] = "float key", ["with space"] = 1, [-7] = "neg",
      [{ "table", "key" }] = "tk" }
    local back = aio.to_thread(echo, arg)
    assert.are_not.equal(arg, back)
    assert.equal(1, back[1]); assert.equal("integer", math.type(back[1]))
    assert.equal(2.0, back[2]); assert.equal("float", math.type(back[2]))
    assert.equal("three", back[3])
    assert.equal(6, back[4][2][2][1])
    assert.equal("deep", back.x.y.z)
    assert.equal("t", back[true]); assert.equal("f", back[false])
    assert.equal("float key", back[1.5]); assert.equal(1, back["with space"]); assert.equal("neg", back[-7])
    local tk
    for k, v in pairs(back) do if type(k) == "table" then tk = { k, v } end end
    assert.same({ { "table", "key" }, "tk" }, tk)
    assert.equal(4, #back)
    -- the worker works on its copy: the caller's table is untouched
    local mine = { n = 1, list = { 1 } }
    local changed = aio.to_thread(function(t) t.n = 2; t.list[2] = 2; t.added = true; return t end, mine)
    assert.same({ n = 1, list = { 1 } }, mine)
    assert.same({ n = 2, list = { 1, 2 }, added = true }, changed)
    -- a table shared twice (no cycle) is copied twice
    local shared = { 1 }
    local two = aio.to_thread(echo, { a = shared, b = shared })
    assert.same({ 1 }, two.a)
    assert.same({ 1 }, two.b)
    assert.are_not.equal(two.a, two.b)
    -- big arrays and maps
    local arr, map = {}, {}
    for k = 1, 100000 do arr[k] = k; map["k" .. k] = k * 0.5 end
    local arr2, map2 = aio.to_thread(echo, arr, map)
    assert.same(arr, arr2)
    assert.same(map, map2)
  end))

  it("tables nested 200 deep, refusing 201", async(function()
    local function nest(n) local t = {} for _ = 1, n - 1 do t = { t } end return t end
    local back = aio.to_thread(echo, nest(200))
    local d = 1
    while back[1] do back = back[1]; d = d + 1 end
    assert.equal(200, d)
    refused(2, "nested more than 200 deep", echo, nest(201))
  end))
end)

describe("aio.to_thread refuses", function()
  local function noop() end

  it("functions, C functions, coroutines and userdata as arguments, naming the position", async(function()
    refused(2, "cannot copy a function", noop, function() end)
    refused(3, "cannot copy a C function", noop, 1, print)
    refused(4, "cannot copy a coroutine", noop, 1, 2, coroutine.create(noop))
    refused(2, "cannot copy a userdata (FILE*)", noop, io.stdout)
    refused(2, "cannot copy a userdata", noop, aio.current_task())
    refused(5, "cannot copy a function", noop, nil, nil, nil, noop)
  end))

  it("what sits inside a table, saying where", async(function()
    refused(2, "cannot copy a function at .x[2]", noop, { x = { 1, noop } })
    refused(2, "cannot copy a coroutine at [3].co", noop, { 1, 2, { co = coroutine.running() } })
    refused(2, 'cannot copy a C function at ["a b"]', noop, { ["a b"] = print })
    refused(2, "cannot copy a function used as a table key at .k", noop, { k = { [noop] = 1 } })
    refused(3, "cannot copy a table with a metatable at .m", noop, 1, { m = setmetatable({}, {}) })
    refused(2, "cannot copy a table with a metatable", noop, setmetatable({}, { __index = {} }))
    refused(2, "cannot copy a table with a metatable", noop, aio.Queue())
    refused(2, "cannot copy a table with a metatable", noop, aio.RuntimeError("an error object"))
  end))

  it("cycles", async(function()
    local a = {}
    a.self = a
    refused(2, "cannot copy a table that contains itself (a cycle) at .self", noop, a)
    local b = { c = { d = {} } }
    b.c.d.back = b.c
    refused(3, "(a cycle) at .c.d.back", noop, 1, b)
    local k = {}
    k[k] = 1
    refused(2, "a cycle", noop, k)
  end))

  it("a function with an upvalue other than _ENV, and a C function as fn", async(function()
    local up = 1
    local e = refused(1, "upvalue 'up'", function() return up end)
    assert.matches("only its arguments and globals", tostring(e), 1, true)
    refused(1, "cannot copy a C function", print)
    refused(1, "cannot copy a C function", aio.sleep)
    -- globals are fine: _ENV is the worker's own
    assert.equal("function", aio.to_thread(function() return type(string.rep) end))
  end))

  it("results it cannot copy back, as a RuntimeError naming the result", async(function()
    local e = catch(aio.to_thread, function() return 1, print end)
    assert.is_true(is_err("RuntimeError", e))
    assert.matches("cannot copy result #2 of the function back: cannot copy a C function", e.message, 1, true)
    e = catch(aio.to_thread, function() local t = {} t.t = t return t end)
    assert.matches("result #1 .*a cycle%) at %.t", e.message)
    e = catch(aio.to_thread, function() return { f = function() end } end)
    assert.matches("cannot copy a function at .f", e.message, 1, true)
    e = catch(aio.to_thread, function() return io.stdout end)
    assert.matches("cannot copy a userdata (FILE*)", e.message, 1, true)
    assert.equal(1, aio.to_thread(function() return 1 end)) -- and the worker goes on
  end))

  it("bad fn: not a function, missing, a callable table", async(function()
    local e = catch(aio.to_thread)
    check_argerr("to_thread", e)
    assert.matches("#1.*function expected, got no value", tostring(e))
    e = catch(aio.to_thread, 42)
    assert.matches("#1.*function expected, got number", tostring(e))
    e = catch(aio.to_thread, setmetatable({}, { __call = function() end }))
    assert.matches("#1.*function expected, got table", tostring(e))
  end))

  it("to be called outside a task", async(function()
    local ok, e = outside_task(aio.to_thread, function() end)
    assert.is_false(ok)
    assert.matches("to_thread: must be called from inside a task", tostring(e), 1, true)
    ok, e = pcall(coroutine.wrap(function() return aio.to_thread(function() end) end))
    assert.is_false(ok)
    assert.matches("not a task", tostring(e), 1, true)
  end))
end)

describe("aio.to_thread cancelled", function()
  it("raises CancelledError in the caller at once while fn runs on, its results dropped", async(function()
    local dir = fs.mktemp()
    local started = aio.time()
    local task = aio.spawn(aio.to_thread, function(flag)
      os.execute("sleep 0.5")
      local f = io.open(flag, "w")
      f:write("finished")
      f:close()
      return "dropped"
    end, dir .. "/done")
    aio.sleep(0.05)
    local t0 = aio.time()
    task:cancel("stop")
    local ok, e = pcall(aio.await, task)
    local took = aio.time() - t0
    assert.is_false(ok)
    assert.is_true(is_err("CancelledError", e))
    assert.is_true(task:cancelled())
    assert.is_true(took < 0.1, "the cancellation took " .. took .. " s")
    assert.is_nil(fs.slurp(dir .. "/done")) -- fn is still running
    -- it finishes on its own
    poll(function() return fs.slurp(dir .. "/done") end, "the worker to finish", LIMIT)
    assert.is_true(aio.time() - started >= 0.45)
    fs.rmdir(dir)
  end, LIMIT + 5))

  it("by a timeout around the call", async(function()
    local t0 = aio.time()
    local ok, e = pcall(aio.wait_for, aio.async(function()
      return aio.to_thread(function() os.execute("sleep 0.3") end)
    end)(), 0.05)
    assert.is_false(ok)
    assert.is_true(is_err("TimeoutError", e))
    assert.is_true(aio.time() - t0 < 0.25)
  end, LIMIT))

  it("before the work started: the work never runs", async(function()
    -- every worker thread of the pool busy: the next call waits in libuv's queue
    local n = tonumber(os.getenv("UV_THREADPOOL_SIZE") or "4")
    local dir = fs.mktemp()
    local busy = {}
    for i = 1, n do
      busy[i] = aio.spawn(aio.to_thread, function() os.execute("sleep 0.3") return true end)
    end
    aio.sleep(0)
    local queued = aio.spawn(aio.to_thread, function(flag)
      local f = io.open(flag, "w")
      f:close()
    end, dir .. "/ran")
    aio.sleep(0)
    queued:cancel()
    assert.is_false(pcall(aio.await, queued))
    assert.is_true(queued:cancelled())
    for i = 1, n do assert.is_true(busy[i]:await()) end
    -- one more call after them all: had the queued one run, it would have run by now
    aio.to_thread(function() end)
    assert.is_false(fs.exists(dir .. "/ran"))
    fs.rmdir(dir)
  end, LIMIT))

  it("with a cancellation pending: raises before queueing any work", async(function()
    local dir = fs.mktemp()
    local task = aio.spawn(function(flag)
      aio.current_task():cancel()
      return aio.to_thread(function(f) io.open(f, "w"):close() end, flag)
    end, dir .. "/ran")
    assert.is_false(pcall(aio.await, task))
    assert.is_true(task:cancelled())
    aio.to_thread(function() end)
    assert.is_false(fs.exists(dir .. "/ran"))
    fs.rmdir(dir)
  end))
end)

describe("aio.to_thread workers", function()
  it("run calls in parallel: two calls meet, which only overlapping calls can", async(function()
    local dir = fs.mktemp()
    local secs = SLOW and 30 or 5
    local a = aio.spawn(aio.to_thread, meet, dir, "a", "b", secs)
    local b = aio.spawn(aio.to_thread, meet, dir, "b", "a", secs)
    assert.is_true(a:await(), "call a never saw call b running")
    assert.is_true(b:await(), "call b never saw call a running")
    fs.rmdir(dir)
  end, 60))

  it("keep their state between calls: a module required once stays loaded (LIFO reuse)", async(function()
    local dir = fs.mktemp()
    fs.write(dir .. "/thread_mod_b.lua", "LOADS = (LOADS or 0) + 1 return { loads = function() return LOADS end }")
    local saved = package.path
    package.path = dir .. "/?.lua;" .. saved
    -- sequential calls land on the same worker state (the last one given back)
    local function use() return require("thread_mod_b").loads(), package.loaded.thread_mod_b ~= nil end
    local ok, first = pcall(aio.to_thread, use)
    local ok2, second, loaded = pcall(aio.to_thread, use)
    local counter = aio.to_thread(function() rawset(_G, "COUNT", (rawget(_G, "COUNT") or 0) + 1) return rawget(_G, "COUNT") end)
    local counter2 = aio.to_thread(function() rawset(_G, "COUNT", (rawget(_G, "COUNT") or 0) + 1) return rawget(_G, "COUNT") end)
    package.path = saved
    fs.rmdir(dir)
    assert.is_true(ok, tostring(first))
    assert.is_true(ok2, tostring(second))
    assert.equal(1, first)
    assert.equal(1, second) -- not loaded again
    assert.is_true(loaded)
    assert.equal(counter + 1, counter2)
    assert.is_nil(rawget(_G, "COUNT")) -- the caller's globals are not the worker's
  end))

  it("take many calls at once, the extra ones waiting their turn", async(function()
    local tasks = {}
    for i = 1, 200 do tasks[i] = aio.spawn(aio.to_thread, function(n) return n * 2, { n } end, i) end
    local res = aio.gather(table.unpack(tasks))
    for i = 1, 200 do assert.equal(i * 2, res[i]) end
  end, LIMIT))

  it("show in dump_tasks as waiting on a worker thread", async(function()
    local task = aio.spawn(aio.to_thread, function() os.execute("sleep 0.2") end)
    aio.sleep(0.02)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    aio.dump_tasks(f)
    f:close()
    local dump = fs.slurp(path)
    os.remove(path)
    assert.matches("a worker thread (aio.to_thread)", dump, 1, true)
    task:await()
  end))
end)

describe("aio.to_thread as asyncio", function()
  it("to_thread(func, *args) returns func's result; its exception propagates", async(function()
    assert.equal("HELLO", aio.to_thread(function(s) return s:upper() end, "hello"))
    local ok, e = pcall(aio.to_thread, function() error("ValueError: bad") end)
    assert.is_false(ok)
    assert.matches("ValueError: bad", e.message, 1, true)
  end))

  it("lets the loop run other tasks while it waits", async(function()
    local ticks = 0
    local ticker = aio.spawn(function() while true do ticks = ticks + 1 aio.sleep(0.01) end end)
    aio.to_thread(function() os.execute("sleep 0.2") end)
    ticker:cancel()
    assert.is_true(ticks >= 5, "the loop ran " .. ticks .. " ticks")
  end, LIMIT))

  it("gathers concurrent calls, results in order", async(function()
    local r = aio.gather(
      aio.spawn(aio.to_thread, function() os.execute("sleep 0.1") return "slow" end),
      aio.spawn(aio.to_thread, function() return "fast" end))
    assert.equal("slow", r[1])
    assert.equal("fast", r[2])
  end, LIMIT))
end)

describe("aio.to_thread regressions", function()
  local script = [[
    aio.run(function()
      aio.spawn(aio.to_thread, function() os.execute("sleep 0.3") io.stderr:write("slept\n") end)
      for _ = 1, 8 do aio.spawn(aio.to_thread, function() local x = 0 for i = 1, 1e5 do x = x + i end return x end) end
      aio.sleep(0.05)
    end)
    print("run returned")
  ]]

  it("the runtime closing with work in flight waits for it, nothing leaks (binary)", function()
    local rc, out, err = run_luaio(script)
    assert.equal(0, rc, err)
    assert.equal("run returned\n", out)
    assert.equal("slept\n", err)
  end)

  it("the runtime closing with work in flight waits for it, nothing leaks (lua5.4)", function()
    local rc, out, err = run_lua(script)
    assert.equal(0, rc, err)
    assert.equal("run returned\n", out)
    assert.equal("slept\n", err)
  end)

  it("an error leaving aio.run while a call runs: the process exits cleanly", function()
    local rc, _, err = run_lua([[
      aio.run(function()
        aio.spawn(aio.to_thread, function() os.execute("sleep 0.2") end)
        aio.sleep(0.01)
        error("main failed")
      end)
    ]])
    assert.equal(1, rc)
    assert.matches("main failed", err, 1, true)
  end)

  it("works from the REPL", function()
    local rc, out = require("support.proc").run { flags = { "-i" }, no_script = true,
      stdin = "aio.to_thread(function(a) return a * 2, 'x' end, 21)\n" }
    assert.equal(0, rc)
    assert.matches("42\tx", out, 1, true)
  end)

  it("a worker's require of a module that fails is that call's error only", async(function()
    local e = catch(aio.to_thread, function() return require("no_such_module_for_thread_spec") end)
    assert.is_true(is_err("RuntimeError", e))
    assert.matches("module 'no_such_module_for_thread_spec' not found", e.message, 1, true)
    assert.equal(2, aio.to_thread(function() return 2 end))
  end))
end)
