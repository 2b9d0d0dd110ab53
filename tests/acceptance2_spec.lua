-- acceptance2_spec.lua — black-box checks of the command line, queues, synchronisation
-- primitives, streams and the job scheduler, written from the documented contract alone
-- (docs/reference/).
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"

local function catch(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end

local function is_err(name, e)
  assert.is_table(e, "expected an error table, got " .. tostring(e))
  assert.equal(name, e.name)
  assert.equal(aio[name], getmetatable(e))
  if e.message ~= nil or name ~= "CancelledError" then
    assert.is_string(e.message)
    assert.equal(name .. ": " .. e.message, tostring(e))
  end
end

local function steps(n)
  for _ = 1, n or 5 do aio.sleep(0) end
end

local function from_callback(fn)
  local res
  aio.call_soon(function() res = table.pack(pcall(fn)) end)
  while not res do aio.sleep(0) end
  return table.unpack(res, 1, res.n)
end

-- runs a shell command line, returns status, stdout, stderr
local function sh(cmd, stdin)
  local out, err, inp = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(stdin or "")
  f:close()
  local _, how, code = os.execute("timeout -s KILL 30 " .. cmd .. " <" .. inp .. " >" .. out .. " 2>" .. err)
  local function slurp(p) local h = io.open(p, "rb") local s = h:read("a") h:close() os.remove(p) return s end
  os.remove(inp)
  return (how == "exit") and code or 128 + code, slurp(out), slurp(err)
end

describe("acceptance §2 luaio CLI", function()
  local bin = proc.bin

  it("runs the script as the main task: top-level code may suspend", function()
    local st, out = proc.run { code = [[
      local aio = require "luaio"
      local t0 = aio.time()
      aio.sleep(0.02)
      print(aio.current_task() ~= nil, aio.time() - t0 >= 0.019)
    ]] }
    assert.equal(0, st)
    assert.equal("true\ttrue\n", out)
  end)

  it("passes the arg table and ... like lua5.4", function()
    local st, out = proc.run { code = [[
      print(select("#", ...), ...)
      print(arg[1], arg[2], #arg, arg[0]:match("[^/]*$") ~= nil, arg[-1] ~= nil)
    ]], args = { "a", "b c" } }
    assert.equal(0, st)
    assert.equal("2\ta\tb c\na\tb c\t2\ttrue\ttrue\n", out)
  end)

  it("-e runs a statement; -l loads a module into a global", function()
    local st, out = sh(bin .. " -l luaio -e 'print(type(luaio), type(luaio.sleep))'")
    assert.equal(0, st)
    assert.equal("table\tfunction\n", out)
    st, out = sh(bin .. " -e 'x = 1' -e 'print(x + 1)'")
    assert.equal(0, st)
    assert.equal("2\n", out)
  end)

  it("-e code also runs as a task that may suspend", function()
    local st, out = sh(bin .. [[ -e 'local aio = require "luaio"; aio.sleep(0.01); print("slept")']])
    assert.equal(0, st)
    assert.equal("slept\n", out)
  end)

  it("-v prints the version", function()
    local st, out = sh(bin .. " -v")
    assert.equal(0, st)
    assert.matches("Lua 5%.4", out)
  end)

  it("LUA_INIT runs first; -E ignores it", function()
    local st, out = sh("env LUA_INIT='print(\"init\")' " .. bin .. " -e 'print(\"body\")'")
    assert.equal(0, st)
    assert.equal("init\nbody\n", out)
    st, out = sh("env LUA_INIT='print(\"init\")' " .. bin .. " -E -e 'print(\"body\")'")
    assert.equal(0, st)
    assert.equal("body\n", out)
  end)

  it("- runs stdin; -- ends the options", function()
    local st, out = sh(bin .. " - x y", "print(select('#', ...), arg[1], arg[2], arg[0])")
    assert.equal(0, st)
    assert.equal("2\tx\ty\t-\n", out)
    local script = os.tmpname()
    local f = io.open(script, "w") f:write("print(...)") f:close()
    st, out = sh(bin .. " -- " .. script .. " -e")
    os.remove(script)
    assert.equal(0, st)
    assert.equal("-e\n", out)
  end)

  it("an error exits with status 1 and prints the error with its traceback to stderr", function()
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
    st, _, err = sh(bin .. " -e 'error(\"e-fail\")'")
    assert.equal(1, st)
    assert.matches("e%-fail", err)
    assert.matches("stack traceback", err)
  end)
end)

describe("acceptance §5 queues", function()
  it("maxsize field; 0 or absent = unbounded", async(function()
    assert.equal(0, aio.Queue().maxsize)
    assert.equal(3, aio.Queue(3).maxsize)
    assert.equal(2, aio.LifoQueue(2).maxsize)
    assert.equal(0, aio.PriorityQueue().maxsize)
    local q = aio.Queue(0)
    for i = 1, 1000 do q:put_nowait(i) end
    assert.is_false(q:full())
    assert.equal(1000, q:qsize())
  end))

  it("Queue is FIFO, LifoQueue LIFO, PriorityQueue smallest first", async(function()
    local q, l, p = aio.Queue(), aio.LifoQueue(), aio.PriorityQueue()
    for _, v in ipairs { 3, 1, 2 } do q:put_nowait(v) l:put_nowait(v) p:put_nowait(v) end
    local a, b, c = {}, {}, {}
    for i = 1, 3 do a[i] = q:get_nowait() b[i] = l:get_nowait() c[i] = p:get() end
    assert.same({ 3, 1, 2 }, a)
    assert.same({ 2, 1, 3 }, b)
    assert.same({ 1, 2, 3 }, c)
  end))

  it("PriorityQueue takes less(a, b) and is stable among equal priorities", async(function()
    local p = aio.PriorityQueue(0, function(x, y) return x.p < y.p end)
    local items = { { p = 1, id = "a" }, { p = 0, id = "b" }, { p = 1, id = "c" }, { p = 0, id = "d" }, { p = 1, id = "e" } }
    for _, it in ipairs(items) do p:put_nowait(it) end
    local got = {}
    while not p:empty() do got[#got + 1] = p:get_nowait().id end
    assert.same({ "b", "d", "a", "c", "e" }, got)
    local q = aio.PriorityQueue()
    local order = {}
    for i = 1, 5 do q:put_nowait(i % 2) end
    for i = 1, 5 do order[i] = q:get_nowait() end
    assert.same({ 0, 0, 1, 1, 1 }, order)
  end))

  it("_nowait raise QueueFull / QueueEmpty; qsize, empty, full", async(function()
    local q = aio.Queue(1)
    assert.is_true(q:empty())
    is_err("QueueEmpty", catch(q.get_nowait, q))
    q:put_nowait("x")
    assert.is_true(q:full())
    assert.equal(1, q:qsize())
    is_err("QueueFull", catch(q.put_nowait, q, "y"))
  end))

  it("put suspends while full, get while empty", async(function()
    local q = aio.Queue(1)
    q:put("a")
    local putter = aio.spawn(function() q:put("b") return "put" end)
    steps(2)
    assert.is_false(putter:done())
    assert.equal("a", q:get())
    assert.equal("put", putter:await())
    assert.equal("b", q:get())
    local getter = aio.spawn(function() return q:get() end)
    steps(2)
    assert.is_false(getter:done())
    q:put("c")
    assert.equal("c", getter:await())
  end))

  it("waiters are woken FIFO", async(function()
    local q = aio.Queue()
    local got = {}
    local ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() local v = q:get() got[#got + 1] = i .. v end) end
    aio.sleep(0)
    q:put("x") q:put("y") q:put("z")
    aio.gather(ts)
    assert.same({ "1x", "2y", "3z" }, got)
    local full = aio.Queue(1)
    full:put_nowait(0)
    local order = {}
    for i = 1, 3 do aio.spawn(function() full:put(i) end) end
    aio.sleep(0)
    for _ = 1, 4 do order[#order + 1] = full:get() end
    assert.same({ 0, 1, 2, 3 }, order)
  end))

  it("task_done / join", async(function()
    local q = aio.Queue()
    q:join() -- nothing unfinished
    q:put_nowait(1) q:put_nowait(2)
    local joined = false
    local j = aio.spawn(function() q:join() joined = true end)
    q:get() q:task_done()
    steps(2)
    assert.is_false(joined)
    q:get() q:task_done()
    j:await()
    assert.is_true(joined)
    is_err("ValueError", catch(q.task_done, q))
  end))

  it("shutdown: put raises QueueShutDown, get does once drained", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local waiting_putter_q = aio.Queue(1)
    waiting_putter_q:put_nowait(0)
    local putter = aio.spawn(function() return pcall(waiting_putter_q.put, waiting_putter_q, 1) end)
    aio.sleep(0)
    q:shutdown()
    is_err("QueueShutDown", catch(q.put, q, 2))
    is_err("QueueShutDown", catch(q.put_nowait, q, 2))
    assert.equal(1, q:get())
    is_err("QueueShutDown", catch(q.get, q))
    is_err("QueueShutDown", catch(q.get_nowait, q))
    waiting_putter_q:shutdown()
    local ok, e = putter:await()
    assert.is_false(ok)
    is_err("QueueShutDown", e)
  end))

  it("shutdown wakes blocked getters; shutdown(true) drops the items", async(function()
    local q = aio.Queue()
    local g = aio.spawn(function() return pcall(q.get, q) end)
    aio.sleep(0)
    q:shutdown()
    local ok, e = g:await()
    assert.is_false(ok)
    is_err("QueueShutDown", e)
    local q2 = aio.Queue()
    q2:put_nowait(1)
    q2:shutdown(true)
    is_err("QueueShutDown", catch(q2.get, q2))
    q2:join() -- immediate shutdown releases join
  end))

  it("a cancelled getter does not lose the item", async(function()
    local q = aio.Queue()
    local g1 = aio.spawn(function() return q:get() end)
    local g2 = aio.spawn(function() return q:get() end)
    aio.sleep(0)
    q:put_nowait("item")
    g1:cancel()
    is_err("CancelledError", catch(aio.await, g1))
    assert.equal("item", g2:await())
  end))

  it("outside a task the error names the method", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    local ok, e = from_callback(function() return q:get() end)
    assert.is_false(ok)
    assert.matches("get", tostring(e))
    assert.matches("inside a task", tostring(e))
    assert.equal(1, q:qsize())
  end))

  it("nil is not a valid item", async(function()
    local q = aio.Queue()
    assert.matches("bad argument", tostring(catch(q.put_nowait, q, nil)))
    assert.matches("bad argument", tostring(catch(q.put, q, nil)))
    assert.matches("bad argument", tostring(catch(q.put_nowait, q)))
    assert.equal(0, q:qsize())
  end))

  it("suspending methods raise outside a task even when they need not wait", async(function()
    local q = aio.Queue()
    q:put_nowait(1)
    assert.is_false((from_callback(function() q:put(2) end)))
    assert.is_false((from_callback(function() return q:get() end)))
    local q2 = aio.Queue()
    assert.is_false((from_callback(function() q2:join() end)))
    local l = aio.Lock()
    assert.is_false((from_callback(function() return l:acquire() end)))
    assert.is_false(l:locked())
    local ev = aio.Event()
    ev:set()
    assert.is_false((from_callback(function() return ev:wait() end)))
    local s = aio.Semaphore(2)
    assert.is_false((from_callback(function() return s:acquire() end)))
    assert.equal(2, q:qsize() + 1) -- only the first item is queued: get/put did nothing
  end))
end)

describe("acceptance §6 synchronisation", function()
  it("Lock: acquire returns a <close> guard released on scope exit, error or not", async(function()
    local l = aio.Lock()
    do
      local _ <close> = l:acquire()
      assert.is_true(l:locked())
    end
    assert.is_false(l:locked())
    pcall(function()
      local _ <close> = l:acquire()
      error("x")
    end)
    assert.is_false(l:locked())
  end))

  it("a guard released early by release() does not release again at scope exit", async(function()
    local l = aio.Lock()
    local other
    do
      local _ <close> = l:acquire()
      l:release()
      other = aio.spawn(function() local _ <close> = l:acquire() aio.sleep(0) aio.sleep(0) end)
      aio.sleep(0)
      assert.is_true(l:locked())
    end
    assert.is_true(l:locked()) -- still held by `other`
    other:await()
    assert.is_false(l:locked())
  end))

  it("Lock waiters are served FIFO; a cancelled waiter loses its turn", async(function()
    local l = aio.Lock()
    local order = {}
    local _ = l:acquire()
    local ts = {}
    for i = 1, 4 do
      ts[i] = aio.spawn(function()
        local _ <close> = l:acquire()
        order[#order + 1] = i
        aio.sleep(0)
      end)
    end
    aio.sleep(0)
    ts[2]:cancel()
    l:release()
    for i = 1, 4 do pcall(aio.await, ts[i]) end
    assert.same({ 1, 3, 4 }, order)
    assert.is_true(ts[2]:cancelled())
    assert.is_false(l:locked())
  end))

  it("a waiter cancelled right after the lock was handed to it never holds it", async(function()
    local l = aio.Lock()
    l:acquire()
    local held = false
    local b = aio.spawn(function() local _ <close> = l:acquire() held = true aio.sleep(0) end)
    local c = aio.spawn(function() local _ <close> = l:acquire() return "c" end)
    aio.sleep(0)
    l:release()
    b:cancel()
    is_err("CancelledError", catch(aio.await, b))
    assert.is_false(held)
    assert.equal("c", c:await())
    assert.is_false(l:locked())
  end))

  it("a BoundedSemaphore guard released early does not release again", async(function()
    local b = aio.BoundedSemaphore(1)
    do
      local _ <close> = b:acquire()
      b:release()
    end -- a second release would raise ValueError here
    assert.is_false(b:locked())
  end))

  it("Event: set, clear, is_set, wait wakes every waiter", async(function()
    local ev = aio.Event()
    assert.is_false(ev:is_set())
    local ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() return ev:wait() end) end
    aio.sleep(0)
    ev:set()
    assert.is_true(ev:is_set())
    for i = 1, 3 do assert.is_true(ts[i]:await()) end
    ev:clear()
    assert.is_false(ev:is_set())
  end))

  it("Condition: wait/notify need the lock; notify(n), notify_all, wait_for", async(function()
    local c = aio.Condition()
    is_err("RuntimeError", catch(c.wait, c))
    is_err("RuntimeError", catch(c.notify, c))
    local woke = {}
    local ts = {}
    for i = 1, 3 do
      ts[i] = aio.spawn(function()
        local _ <close> = c:acquire()
        c:wait()
        woke[#woke + 1] = i
      end)
    end
    aio.sleep(0)
    do
      local _ <close> = c:acquire()
      c:notify(2)
    end
    steps(3)
    assert.same({ 1, 2 }, woke)
    do
      local _ <close> = c:acquire()
      c:notify_all()
    end
    aio.gather(ts)
    assert.same({ 1, 2, 3 }, woke)
    local x = 0
    local w = aio.spawn(function()
      local _ <close> = c:acquire()
      return c:wait_for(function() return x >= 2 and "ready" end)
    end)
    for _ = 1, 2 do
      aio.sleep(0)
      local _ <close> = c:acquire()
      x = x + 1
      c:notify_all()
    end
    assert.equal("ready", w:await())
  end))

  it("Condition shares a given lock", async(function()
    local l = aio.Lock()
    local c = aio.Condition(l)
    local _ <close> = c:acquire()
    assert.is_true(l:locked())
    assert.is_true(c:locked())
  end))

  it("Semaphore: default 1, acquire/release/locked, FIFO; BoundedSemaphore over-release", async(function()
    local s = aio.Semaphore()
    do
      local _ <close> = s:acquire()
      assert.is_true(s:locked())
    end
    assert.is_false(s:locked())
    local s2 = aio.Semaphore(2)
    s2:acquire() s2:acquire()
    assert.is_true(s2:locked())
    local order = {}
    local ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() s2:acquire() order[#order + 1] = i end) end
    aio.sleep(0)
    s2:release() s2:release() s2:release()
    aio.gather(ts)
    assert.same({ 1, 2, 3 }, order)
    local b = aio.BoundedSemaphore(2)
    b:acquire()
    b:release()
    is_err("ValueError", catch(b.release, b))
    is_err("ValueError", catch(aio.Semaphore, -1))
  end))

  it("Barrier: wait returns distinct indices 0..parties-1 in arrival order; fields and methods", async(function()
    local b = aio.Barrier(3)
    assert.equal(3, b.parties)
    assert.equal(0, b:n_waiting())
    assert.is_false(b:broken())
    local ts = {}
    for i = 1, 2 do ts[i] = aio.spawn(function() return b:wait() end) end
    aio.sleep(0)
    assert.equal(2, b:n_waiting())
    ts[3] = aio.spawn(function() return b:wait() end)
    local got = {}
    for i = 1, 3 do got[i] = ts[i]:await() end
    assert.same({ 0, 1, 2 }, got)
    -- reusable
    ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() return b:wait() end) end
    local seen = {}
    for i = 1, 3 do seen[ts[i]:await()] = true end
    assert.same({ [0] = true, [1] = true, [2] = true }, seen)
  end))

  it("Barrier abort breaks waiters with BrokenBarrierError; reset repairs it", async(function()
    local b = aio.Barrier(2)
    local t = aio.spawn(function() return pcall(b.wait, b) end)
    aio.sleep(0)
    b:abort()
    local ok, e = t:await()
    assert.is_false(ok)
    is_err("BrokenBarrierError", e)
    assert.is_true(b:broken())
    is_err("BrokenBarrierError", catch(b.wait, b))
    b:reset()
    assert.is_false(b:broken())
    local t2 = aio.spawn(function() return b:wait() end)
    local mine = b:wait()
    local theirs = t2:await()
    assert.same({ 0, 1 }, { math.min(mine, theirs), math.max(mine, theirs) })
  end))
end)

describe("acceptance §7 streams", function()
  local function echo_server(host)
    return aio.start_server(function(r, w)
      while true do
        local line = r:readline()
        if line == "" then break end
        w:write(line)
        w:drain()
      end
      w:close()
    end, host or "127.0.0.1", 0)
  end

  -- a server that sends `payload` then closes
  local function sender(payload, opts)
    return aio.start_server(function(_, w)
      w:write(payload)
      w:drain()
      w:close()
      w:wait_closed()
    end, "127.0.0.1", 0, opts)
  end

  it("start_server on port 0: sockets[1]:getsockname() returns host, port; echo works", async(function()
    local srv = echo_server()
    assert.is_true(srv:is_serving())
    local host, port = srv.sockets[1]:getsockname()
    assert.equal("127.0.0.1", host)
    assert.is_true(math.type(port) == "integer" and port > 0)
    local r, w = aio.open_connection("127.0.0.1", port)
    w:write("hello\n")
    w:writelines({ "a", "b\n" })
    w:drain()
    assert.equal("hello\n", r:readline())
    assert.equal("ab\n", r:readline())
    local ph, pp = w:get_extra_info("peername")
    assert.equal("127.0.0.1", ph)
    assert.equal(port, pp)
    local sh_, sp = w:get_extra_info("sockname")
    assert.equal("127.0.0.1", sh_)
    assert.is_true(sp > 0 and sp ~= port)
    assert.is_true(w:can_write_eof())
    w:write_eof()
    assert.equal("", r:read())
    assert.is_true(r:at_eof())
    assert.is_false(w:is_closing())
    w:close()
    assert.is_true(w:is_closing())
    w:wait_closed()
    srv:close()
    srv:wait_closed()
    assert.is_false(srv:is_serving())
  end))

  it("IPv6 ::1 works", async(function()
    local ok, srv = pcall(echo_server, "::1")
    if not ok then return end -- no IPv6 on this host
    local host, port = srv.sockets[1]:getsockname()
    assert.equal("::1", host)
    local r, w = aio.open_connection("::1", port)
    w:write("v6\n")
    assert.equal("v6\n", r:readline())
    local ph = w:get_extra_info("peername")
    assert.equal("::1", ph)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("resolves names", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("localhost", port)
    w:write("name\n")
    assert.equal("name\n", r:readline())
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("read(n), read(), read(-1), readexactly, readuntil", async(function()
    local srv = sender("abcdefXYZ--rest of it")
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("abc", r:readexactly(3))
    local s = r:read(3)
    assert.is_true(#s >= 1 and #s <= 3 and ("def"):sub(1, #s) == s)
    if #s < 3 then assert.equal(("def"):sub(#s + 1), r:readexactly(3 - #s)) end
    assert.equal("XYZ--", r:readuntil("--"))
    assert.equal("rest of it", r:read(-1))
    assert.equal("", r:read())
    assert.equal("", r:read(5))
    assert.equal("", r:read(0))
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("readexactly past EOF raises IncompleteReadError with partial and expected", async(function()
    local srv = sender("short")
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    local e = catch(r.readexactly, r, 10)
    is_err("IncompleteReadError", e)
    assert.equal("short", e.partial)
    assert.equal(10, e.expected)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("readline at EOF returns the partial last line, then \"\"", async(function()
    local srv = sender("one\ntwo\r\nthree")
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("one\n", r:readline())
    assert.equal("two\r\n", r:readline())
    assert.equal("three", r:readline())
    assert.equal("", r:readline())
    assert.equal("", r:readline())
    assert.is_true(r:at_eof())
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("lines() yields each line without \\n or \\r\\n, like io.lines", async(function()
    local srv = sender("one\ntwo\r\n\nlast")
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    local got = {}
    for line in r:lines() do got[#got + 1] = line end
    assert.same({ "one", "two", "", "last" }, got)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("opts.limit: readuntil and readline past the limit raise LimitOverrunError", async(function()
    local srv = sender(("x"):rep(100) .. "\n" .. ("y"):rep(100) .. "|")
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port, { limit = 16 })
    local e = catch(r.readline, r)
    is_err("LimitOverrunError", e)
    w:close()
    r, w = aio.open_connection("127.0.0.1", port, { limit = 16 })
    e = catch(r.readuntil, r, "|")
    is_err("LimitOverrunError", e)
    assert.is_number(e.consumed)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("an unknown opts key raises an argument error naming it", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    assert.matches("limt", tostring(catch(aio.open_connection, "127.0.0.1", port, { limt = 5 })))
    assert.matches("bogus_key", tostring(catch(aio.start_server, function() end, "127.0.0.1", 0, { bogus_key = 1 })))
    srv:close()
    srv:wait_closed()
  end))

  it("connection refused raises OSError with code ECONNREFUSED", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    srv:close()
    srv:wait_closed()
    local e = catch(aio.open_connection, "127.0.0.1", port)
    is_err("OSError", e)
    assert.equal("ECONNREFUSED", e.code)
  end))

  it("a busy port raises OSError EADDRINUSE", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local e = catch(aio.start_server, function() end, "127.0.0.1", port)
    is_err("OSError", e)
    assert.equal("EADDRINUSE", e.code)
    srv:close()
    srv:wait_closed()
  end))

  it("writing to a peer that has gone raises OSError from write or drain (process survives)", async(function()
    local srv = aio.start_server(function(_, w) w:close() end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    assert.equal("", r:read())
    local chunk = ("z"):rep(65536)
    local err
    for _ = 1, 200 do
      local ok, e = pcall(function() w:write(chunk) w:drain() end)
      if not ok then err = e break end
      aio.sleep(0.005)
    end
    is_err("OSError", err)
    assert.is_string(err.code)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("drain suspends while the buffer is above the high-water mark", async(function()
    local go = aio.Event()
    local total = 0
    local srv = aio.start_server(function(r, w)
      go:wait()
      while true do
        local s = r:read(65536)
        if s == "" then break end
        total = total + #s
      end
      w:close()
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local _, w = aio.open_connection("127.0.0.1", port)
    w:set_write_buffer_limits(1024)
    local big = ("b"):rep(32 * 1024 * 1024)
    w:write(big) -- never suspends
    local drainer = aio.spawn(function() w:drain() return "drained" end)
    steps(5)
    assert.is_false(drainer:done())
    go:set()
    assert.equal("drained", drainer:await())
    w:close()
    w:wait_closed()
    srv:close()
    srv:wait_closed()
    assert.equal(#big, total)
  end))

  it("server:close leaves connections alone; wait_closed waits for them; serve_forever raises CancelledError", async(function()
    local release = aio.Event()
    local handler_done = false
    local srv = aio.start_server(function(_, w)
      release:wait()
      w:write("bye\n")
      w:drain()
      w:close()
      handler_done = true
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local forever = aio.spawn(function() return pcall(srv.serve_forever, srv) end)
    local r, w = aio.open_connection("127.0.0.1", port)
    steps(3)
    srv:close()
    assert.is_false(srv:is_serving())
    is_err("OSError", catch(aio.open_connection, "127.0.0.1", port))
    local waiter = aio.spawn(function() srv:wait_closed() return handler_done end)
    steps(3)
    assert.is_false(waiter:done())
    release:set()
    assert.equal("bye\n", r:readline())
    assert.is_true(waiter:await())
    local ok, e = forever:await()
    assert.is_false(ok)
    is_err("CancelledError", e)
    w:close()
  end))

  it("an error escaping client_cb goes to the exception handler and the server keeps serving", async(function()
    local reports = {}
    aio.set_exception_handler(function(ctx) reports[#reports + 1] = ctx end)
    local n = 0
    local srv = aio.start_server(function(_, w)
      n = n + 1
      if n == 1 then error("cb-boom", 0) end
      w:write("ok\n")
      w:close()
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local _, w1 = aio.open_connection("127.0.0.1", port)
    local r2, w2 = aio.open_connection("127.0.0.1", port)
    assert.equal("ok\n", r2:readline())
    for _ = 1, 20 do
      if #reports > 0 then break end
      aio.sleep(0.005)
      collectgarbage()
    end
    aio.set_exception_handler(nil)
    assert.equal(1, #reports)
    assert.equal("cb-boom", reports[1].exception)
    w1:close() w2:close()
    srv:close()
    srv:wait_closed()
  end))

  it("Unix sockets: open_unix_connection, start_unix_server, names are the path", async(function()
    local path = os.tmpname()
    os.remove(path)
    local srv = aio.start_unix_server(function(r, w)
      w:write("u:" .. r:readline())
      w:drain()
      w:close()
    end, path)
    assert.equal(path, srv.sockets[1]:getsockname())
    local r, w = aio.open_unix_connection(path)
    w:write("hi\n")
    assert.equal("u:hi\n", r:readline())
    assert.equal(path, w:get_extra_info("peername"))
    w:close()
    srv:close()
    srv:wait_closed()
    os.remove(path)
  end))

  -- the rule: for Unix sockets `getsockname()` and `get_extra_info("peername"|"sockname")`
  -- return the path.
  it("server-side get_extra_info('sockname') on a Unix connection returns the path", async(function()
    local path = os.tmpname()
    os.remove(path)
    local got = aio.Future()
    local srv = aio.start_unix_server(function(_, w)
      got:set_result(w:get_extra_info("sockname"))
      w:close()
    end, path)
    local _, w = aio.open_unix_connection(path)
    local name = got:await()
    w:close()
    srv:close()
    srv:wait_closed()
    os.remove(path)
    assert.equal(path, name)
  end))
end)

describe("acceptance §8 scheduler", function()
  it("defaults and fields; limit=false or math.huge read math.huge", async(function()
    local s = aio.Scheduler({})
    assert.equal(100, s.limit)
    assert.equal(10000, s.pending_limit)
    assert.equal(0.1, s.close_timeout)
    assert.equal(math.huge, aio.Scheduler({ limit = false }).limit)
    assert.equal(math.huge, aio.create_scheduler({ limit = math.huge }).limit)
    local d = aio.Scheduler()
    assert.equal(100, d.limit)
    assert.is_false(s:closed())
    s:close()
    assert.is_true(s:closed())
  end))

  it("unknown opts key raises an argument error naming it", async(function()
    assert.matches("limt", tostring(catch(aio.Scheduler, { limt = 3 })))
  end))

  it("spawn returns a Job; limit puts extra jobs in the pending queue", async(function()
    local s = aio.Scheduler({ limit = 1 })
    local ev = aio.Event()
    local j1 = s:spawn(function() ev:wait() return "one" end)
    local j2 = s:spawn(function(x) return x end, "two")
    assert.is_true(j1:active())
    assert.is_false(j1:pending())
    assert.is_true(j2:pending())
    assert.is_false(j2:active())
    assert.equal(1, s:active_count())
    assert.equal(1, s:pending_count())
    assert.equal(2, #s)
    local seen = 0
    for j in s:jobs() do
      assert.is_true(j == j1 or j == j2)
      seen = seen + 1
    end
    assert.equal(2, seen)
    ev:set()
    assert.equal("one", j1:wait())
    assert.equal("two", j2:wait())
    assert.is_true(j1:closed())
    assert.equal(0, #s)
    s:close()
  end))

  it("spawn accepts coroutine objects", async(function()
    local s = aio.Scheduler()
    local j = s:spawn(aio.async(function(a) aio.sleep(0) return a, 2 end)(1))
    assert.same({ 1, 2 }, { j:wait() })
    s:close()
  end))

  it("spawn suspends the caller while the pending queue is full; close gives it RuntimeError", async(function()
    local s = aio.Scheduler({ limit = 1, pending_limit = 1 })
    local ev = aio.Event()
    s:spawn(function() ev:wait() end)
    s:spawn(function() end)
    local spawner = aio.spawn(function() return s:spawn(function() return "third" end) end)
    steps(3)
    assert.is_false(spawner:done())
    ev:set()
    local j3 = spawner:await()
    assert.equal("third", j3:wait())
    s:close()
    local s2 = aio.Scheduler({ limit = 1, pending_limit = 1 })
    s2:spawn(function() aio.sleep(10) end)
    s2:spawn(function() end)
    local blocked = aio.spawn(function() return pcall(s2.spawn, s2, function() end) end)
    steps(2)
    s2:close()
    local ok, e = blocked:await()
    assert.is_false(ok)
    is_err("RuntimeError", e)
    is_err("RuntimeError", catch(s2.spawn, s2, function() end))
  end))

  it("job:wait raises the job's error; job:wait(timeout) raises TimeoutError", async(function()
    local reports = {}
    local s = aio.Scheduler({ exception_handler = function(_, ctx) reports[#reports + 1] = ctx end })
    local E = {}
    local j = s:spawn(function() aio.sleep(0) error(E) end)
    assert.equal(E, catch(j.wait, j))
    local j2 = s:spawn(function() aio.sleep(10) end)
    is_err("TimeoutError", catch(j2.wait, j2, 0.01))
    steps(2)
    assert.is_true(j2:closed())
    s:close()
    assert.equal(0, #reports)
  end))

  it("a job's unretrieved error goes to the scheduler's handler with message, job, exception", async(function()
    local reports = {}
    local s = aio.Scheduler({ exception_handler = function(sched, ctx) reports[#reports + 1] = { sched, ctx } end })
    local j = s:spawn(function() error("job-err", 0) end)
    steps(3)
    assert.equal(1, #reports)
    assert.equal(s, reports[1][1])
    assert.equal(j, reports[1][2].job)
    assert.equal("job-err", reports[1][2].exception)
    assert.is_string(reports[1][2].message)
    s:close()
  end))

  it("job:close cancels it", async(function()
    local s = aio.Scheduler()
    local j = s:spawn(function() aio.sleep(10) end)
    aio.sleep(0)
    j:close()
    assert.is_true(j:closed())
    assert.is_false(j:active())
    assert.equal(0, #s)
    s:close()
  end))

  it("wait_and_close waits for all jobs then closes; with a timeout it gives up and closes", async(function()
    local s = aio.Scheduler()
    local done = 0
    for _ = 1, 3 do s:spawn(function() aio.sleep(0.01) done = done + 1 end) end
    s:wait_and_close()
    assert.equal(3, done)
    assert.is_true(s:closed())
    local s2 = aio.Scheduler()
    local j = s2:spawn(function() aio.sleep(10) end)
    s2:wait(0.02)
    assert.is_true(s2:closed())
    assert.is_true(j:closed())
  end))

  it("close cancels every job; one that outlives close_timeout is reported", async(function()
    local reports = {}
    local s = aio.Scheduler({ close_timeout = 0.02, exception_handler = function(_, ctx) reports[#reports + 1] = ctx end })
    local cancelled = false
    s:spawn(function() local ok = pcall(aio.sleep, 10) cancelled = not ok end)
    local stubborn = s:spawn(function() pcall(aio.sleep, 10) aio.sleep(0.5) end)
    aio.sleep(0)
    local t0 = aio.time()
    s:close()
    assert.is_true(aio.time() - t0 < 0.4)
    assert.is_true(cancelled)
    assert.is_true(s:closed())
    assert.equal(1, #reports)
    assert.equal(stubborn, reports[1].job)
  end))

  it("shield returns aw's results, survives the caller's cancel, is awaited by wait_and_close", async(function()
    local s = aio.Scheduler()
    assert.same({ 1, 2 }, { s:shield(aio.async(function() aio.sleep(0) return 1, 2 end)()) })
    local finished = false
    local caller = aio.spawn(function() return s:shield(aio.async(function() aio.sleep(0.02) finished = true end)()) end)
    aio.sleep(0)
    caller:cancel()
    is_err("CancelledError", catch(aio.await, caller))
    assert.is_false(finished)
    s:wait_and_close()
    assert.is_true(finished)
  end))

  it("close cancels shielded work without reporting it", async(function()
    local reports = {}
    local s = aio.Scheduler({ exception_handler = function(_, ctx) reports[#reports + 1] = ctx end })
    local inner_cancelled = false
    local caller = aio.spawn(function()
      return pcall(s.shield, s, aio.async(function()
        local ok, e = pcall(aio.sleep, 10)
        inner_cancelled = not ok
        if not ok then error(e) end
      end)())
    end)
    aio.sleep(0)
    aio.sleep(0)
    s:close()
    steps(2)
    assert.is_true(inner_cancelled)
    assert.equal(0, #reports)
    caller:cancel()
    pcall(aio.await, caller)
  end))

  it("<close> runs wait_and_close, also when the block raised (error unchanged)", async(function()
    local done = false
    local sref
    do
      local s <close> = aio.Scheduler()
      sref = s
      s:spawn(function() aio.sleep(0.01) done = true end)
    end
    assert.is_true(done)
    assert.is_true(sref:closed())
    local E = {}
    done = false
    local e = catch(function()
      local s <close> = aio.Scheduler()
      sref = s
      s:spawn(function() aio.sleep(0.01) done = true end)
      error(E)
    end)
    assert.equal(E, e)
    assert.is_true(done)
    assert.is_true(sref:closed())
  end))

  it("call_exception_handler uses opts.exception_handler, else the loop's handler", async(function()
    local got
    local s = aio.Scheduler({ exception_handler = function(sched, ctx) got = { sched, ctx } end })
    local ctx = { message = "m" }
    s:call_exception_handler(ctx)
    assert.equal(s, got[1])
    assert.equal(ctx.message, got[2].message)
    s:close()
    local loop_got
    aio.set_exception_handler(function(c) loop_got = c end)
    local s2 = aio.Scheduler()
    s2:call_exception_handler({ message = "to-loop" })
    aio.set_exception_handler(nil)
    assert.equal("to-loop", loop_got and loop_got.message)
    s2:close()
  end))
end)
