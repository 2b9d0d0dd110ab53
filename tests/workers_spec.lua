-- workers_spec.lua — start_server's reuse_port (two processes serve one port) and
-- aio.workers / aio.worker_id: a supervisor (the luaio binary under test, LUAIO_BIN) runs
-- copies of a small server script; each reply names the worker that took the connection.
-- Every wait on another process is a poll with a deadline, never a fixed sleep.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local fs = require "support.fs"
local proc = require "support.proc"
local free_port = require "support.free_port"
local bin = require "support.bin"

-- the state letter of /proc/<pid>/stat, or nil when the pid is gone
local function pstate(pid)
  local s = fs.slurp("/proc/" .. pid .. "/stat")
  return s and s:match("^%d+ %b() (%a)")
end
local function gone(pid) local s = pstate(pid) return s == nil or s == "Z" end

-- a server script: prints "early <worker_id() before workers>", then, in each copy,
-- "ready <id> <pid>" once it listens; each connection gets "worker <id> <pid>"
local SERVER = [[
local aio = require "luaio"
local port, n, restarts = tonumber(arg[1]), tonumber(arg[2]) or 2, tonumber(arg[3])
io.write("early ", tostring(aio.worker_id()), "\n") io.stdout:flush()
local id = aio.workers(n, { restarts = restarts })
assert(id == aio.worker_id())
local pid = io.open("/proc/self/stat"):read("l"):match("^%d+")
local srv = aio.start_server(function(_, w)
  w:write(("worker %d %s\n"):format(id, pid))
  w:close()
end, "127.0.0.1", port, { reuse_port = true })
io.write(("ready %d %s\n"):format(id, pid)) io.stdout:flush()
srv:serve_forever()
]]

local function write_script(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(code)
  f:close()
  return path
end

-- starts the binary on `code` with `args`; the result collects stdout lines and stderr
-- text; <close> kills the supervisor (its copies die with it) and removes the script
local Sup = {}
Sup.__index = Sup
Sup.__close = function(s)
  if s.p.returncode == nil then s.p:kill() s.p:wait() end
  os.remove(s.script)
end

local function supervisor(code, args)
  local s = setmetatable({ lines = {}, err = {} }, Sup)
  s.script = write_script(code)
  local argv = { s.script }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = tostring(a) end
  s.p = aio.create_subprocess_exec(bin, argv, { stdout = "pipe", stderr = "pipe" })
  s.out_task = aio.spawn(function()
    for l in s.p.stdout:lines() do s.lines[#s.lines + 1] = l end
  end)
  s.err_task = aio.spawn(function()
    for l in s.p.stderr:lines() do s.err[#s.err + 1] = l end
  end)
  return s
end

-- the pid of worker `id` from a "ready" line, the last one when it was restarted
function Sup:ready_pid(id, except)
  local pid
  for _, l in ipairs(self.lines) do
    local i, p = l:match("^ready (%d+) (%d+)$")
    if tonumber(i) == id and p ~= except then pid = p end
  end
  return pid
end

function Sup:wait_ready(n, limit)
  local pids = {}
  poll(function()
    for id = 1, n do pids[id] = self:ready_pid(id) end
    return #pids == n
  end, n .. " workers ready", limit or 10)
  return pids
end

function Sup:finish()
  local rc = self.p:wait()
  self.out_task:await()
  self.err_task:await()
  return rc, table.concat(self.err, "\n")
end

local function ask(port)
  local r, w = aio.open_connection("127.0.0.1", port)
  local line = r:readline()
  w:close()
  return line:match("^worker (%d+) (%d+)")
end

-- connects until replies from every id in `want` (id -> true or a pid) were seen
local function served_by(port, want, limit)
  local seen = {}
  poll(function()
    local ok, id, pid = pcall(ask, port)
    if ok and id then
      id = tonumber(id)
      if want[id] == true or want[id] == pid then seen[id] = true end
    end
    for k in pairs(want) do if not seen[k] then return false end end
    return true
  end, "replies from every worker", limit or 10)
  return seen
end

describe("start_server reuse_port", function()
  it("lets two processes serve one port, and both take connections", async(function()
    local port = free_port()
    local code = [[
local aio = require "luaio"
local name, port = arg[1], tonumber(arg[2])
local srv = aio.start_server(function(_, w) w:write(name .. "\n") w:close() end,
  "127.0.0.1", port, { reuse_port = true })
print("listening") io.stdout:flush()
srv:serve_forever()
]]
    local script = write_script(code)
    local a = aio.create_subprocess_exec(bin, { script, "a", port }, { stdout = "pipe" })
    local b = aio.create_subprocess_exec(bin, { script, "b", port }, { stdout = "pipe" })
    local ok, e = pcall(function()
      assert.equal("listening", a.stdout:readline():gsub("\n", ""), nil)
      assert.equal("listening", (b.stdout:readline():gsub("\n", "")))
      local seen = {}
      poll(function()
        local r, w = aio.open_connection("127.0.0.1", port)
        seen[r:readline():gsub("\n", "")] = true
        w:close()
        return seen.a and seen.b
      end, "both servers to answer", 10)
    end)
    a:kill() b:kill() a:wait() b:wait()
    os.remove(script)
    assert(ok, e)
  end, 20))

  it("without reuse_port a second server on the port fails with EADDRINUSE", async(function()
    local srv = aio.start_server(function() end, "127.0.0.1", 0, { reuse_port = true })
    local _, port = srv.sockets[1]:getsockname()
    local e = catch(aio.start_server, function() end, "127.0.0.1", port)
    assert.is_true(is_err("OSError", e))
    assert.equal("EADDRINUSE", e.code)
    srv:close()
    srv:wait_closed()
  end))
end)

describe("aio.workers", function()
  it("serves one port with 2 workers, both taking connections", async(function()
    local port = free_port()
    local s <close> = supervisor(SERVER, { port, 2 })
    local pids = s:wait_ready(2)
    assert.are_not.equal(pids[1], pids[2])
    served_by(port, { [1] = true, [2] = true })
    s.p:terminate()
    assert.equal(0, (s:finish()))
  end, 30))

  it("gives worker_id() its number in a copy from the start, nil in the supervisor", async(function()
    local port = free_port()
    local s <close> = supervisor(SERVER, { port, 2 })
    s:wait_ready(2)
    s.p:terminate()
    s:finish()
    local early = {}
    for _, l in ipairs(s.lines) do
      local v = l:match("^early (.*)$")
      if v then early[v] = (early[v] or 0) + 1 end
    end
    assert.same({ ["nil"] = 1, ["1"] = 1, ["2"] = 1 }, early)
  end, 30))

  it("replaces a worker killed with SIGKILL (a new pid answers)", async(function()
    local port = free_port()
    local s <close> = supervisor(SERVER, { port, 2 })
    local pids = s:wait_ready(2)
    aio.create_subprocess_exec("kill", { "-KILL", pids[1] }):wait()
    local new = poll(function() return s:ready_pid(1, pids[1]) end, "worker 1 restarted", 10)
    assert.are_not.equal(pids[1], new)
    assert.is_true(gone(pids[1]))
    served_by(port, { [1] = new, [2] = pids[2] })
    s.p:terminate()
    local rc, err = s:finish()
    assert.equal(0, rc)
    assert.matches("worker 1 %(pid " .. pids[1] .. "%) was killed by signal 9; restarting it", err)
    assert.is_true(gone(new) and gone(pids[2]))
  end, 30))

  for _, sig in ipairs { "SIGTERM", "SIGINT" } do
    it(sig .. " to the supervisor stops every worker, status 0, no orphan", async(function()
      local port = free_port()
      local s <close> = supervisor(SERVER, { port, 2 })
      local pids = s:wait_ready(2)
      served_by(port, { [1] = true, [2] = true })
      s.p:send_signal(sig)
      local rc, err = s:finish()
      assert.equal(0, rc, err)
      assert.is_true(gone(pids[1]), "worker 1 left running")
      assert.is_true(gone(pids[2]), "worker 2 left running")
      assert.is_nil(err:match("ended with status"))
    end, 30))
  end

  it("leaves no orphan when the supervisor is killed with SIGKILL", async(function()
    local port = free_port()
    local s <close> = supervisor(SERVER, { port, 2 })
    local pids = s:wait_ready(2)
    s.p:kill()
    assert.equal(-9, (s:finish()))
    poll(function() return gone(pids[1]) and gone(pids[2]) end, "the workers to die", 10)
  end, 30))

  it("exits 0 once every copy has returned cleanly", async(function()
    local s <close> = supervisor([[
local aio = require "luaio"
local id = aio.workers(3)
print("done " .. id .. " " .. tostring(os.getenv("LUAIO_WORKER")) .. " " .. tostring(os.getenv("EXTRA")))
]], {})
    local rc, err = s:finish()
    assert.equal(0, rc, err)
    table.sort(s.lines)
    assert.same({ "done 1 1 nil", "done 2 2 nil", "done 3 3 nil" }, s.lines)
  end, 30))

  it("passes opts.env on top of the environment", async(function()
    local s <close> = supervisor([[
local aio = require "luaio"
local id = aio.workers(1, { env = { EXTRA = "x", NUM = 5 } })
print(id, os.getenv("EXTRA"), os.getenv("NUM"), os.getenv("PATH") ~= nil)
]], {})
    local rc, err = s:finish()
    assert.equal(0, rc, err)
    assert.same({ "1\tx\t5\ttrue" }, s.lines)
  end, 30))

  it("stops everything and exits non-zero past opts.restarts restarts a minute", async(function()
    local s <close> = supervisor([[
local aio = require "luaio"
local id = aio.workers(2, { restarts = 3 })
if id == 1 then os.exit(3) end
print("ready " .. id) io.stdout:flush()
aio.sleep(60)
]], {})
    local rc, err = s:finish()
    assert.equal(1, rc)
    assert.equal(3, select(2, err:gsub("exited with status 3; restarting it", "")))
    assert.matches("worker 1 %(pid %d+%) exited with status 3; 3 restarts in the last minute %(restarts = 3%): stopping", err)
  end, 30))

  it("with restarts = 0 the first unexpected end stops everything", async(function()
    local s <close> = supervisor([[
local aio = require "luaio"
local id = aio.workers(2, { restarts = 0 })
if id == 2 then error("boom") end
aio.sleep(60)
]], {})
    local rc, err = s:finish()
    assert.equal(1, rc)
    assert.matches("boom", err)
    assert.matches("worker 2 %(pid %d+%) exited with status 1; 0 restarts in the last minute", err)
  end, 30))

  it("returns at once in a copy; a copy's own children are no workers", async(function()
    local s <close> = supervisor(([[
local aio = require "luaio"
local id = aio.workers(1)
print("again", aio.workers(5))
local p = aio.create_subprocess_exec(%q, { "-e", "print(require('luaio').worker_id())" },
  { stdout = "pipe" })
io.write("child ", (p:communicate()))
]]):format(bin), {})
    local rc, err = s:finish()
    assert.equal(0, rc, err)
    assert.same({ "again\t1", "child nil" }, s.lines)
  end, 30))

  it("in a plain script, worker_id() is nil", function()
    assert.is_nil(aio.worker_id())
    local rc, out = proc.run { code = "print(require('luaio').worker_id())" }
    assert.equal(0, rc)
    assert.equal("nil\n", out)
  end)

  it("raises RuntimeError under stock lua5.4 (it needs the binary)", function()
    local rc, _, err = proc.run { lua = true, code = [[
local aio = require "luaio"
aio.run(function()
  local ok, e = pcall(aio.workers, 2)
  print(e.name, e.message)
  os.exit(ok and 1 or 0)
end)
]] }
    assert.equal(0, rc, err)
  end)

  it("raises RuntimeError when the script comes from stdin", function()
    local rc, out = proc.run { no_script = true, flags = { "-" }, stdin = [[
local aio = require "luaio"
local ok, e = pcall(aio.workers, 2)
print(ok, e.name, e.message)
]] }
    assert.equal(0, rc)
    assert.matches("^false\tRuntimeError\tluaio.workers: the script must come from a file", out)
  end)

  it("checks its arguments", async(function()
    for _, bad in ipairs { 0, -1, 1.5, 1025, "2", true, 0 / 0 } do
      check_argerr("workers", catch(aio.workers, bad))
    end
    check_argerr("workers", catch(aio.workers))
    assert.matches("from 1 to 1024, got 0", tostring(catch(aio.workers, 0)))
    assert.matches("#2 to 'workers' %(unknown option 'bogus'%)", tostring(catch(aio.workers, 2, { bogus = 1 })))
    for _, o in ipairs { { restarts = -1 }, { restarts = 1.5 }, { restarts = "x" }, { env = "x" },
      { env = { 1 } }, { env = { A = true } }, { stdin = "pipe" } } do
      check_argerr("workers", catch(aio.workers, 2, o))
    end
    check_argerr("workers", catch(aio.workers, 2, "x"))
    -- the error points at the caller's line, not into the library
    local _, e1 = pcall(function() aio.workers(0) end)
    assert.matches("workers_spec%.lua:%d+: bad argument #1 to 'workers'", e1)
    local _, e2 = pcall(function() aio.workers(2, { bogus = 1 }) end)
    assert.matches("workers_spec%.lua:%d+: bad argument #2 to 'workers'", e2)
  end))

  it("needs a task (after checking its arguments)", async(function()
    check_argerr("workers", select(2, outside_task(aio.workers, 0)))
    assert.matches("luaio.workers: must be called from inside a task", tostring(select(2, outside_task(aio.workers, 2))))
  end))
end)

describe("aio.workers as Node cluster / Python prefork servers", function()
  it("a worker that exits cleanly on its own is not restarted", async(function()
    local port = free_port()
    local s <close> = supervisor([[
local aio = require "luaio"
local id = aio.workers(2)
if id == 1 then print("leaving") io.stdout:flush() return end
local srv = aio.start_server(function(_, w) w:write("worker 2 0\n") w:close() end,
  "127.0.0.1", tonumber(arg[1]), { reuse_port = true })
print("ready 2 0") io.stdout:flush()
srv:serve_forever()
]], { port })
    poll(function() return s:ready_pid(2) end, "worker 2", 10)
    served_by(port, { [2] = true })
    s.p:terminate()
    local rc, err = s:finish()
    assert.equal(0, rc, err)
    local leaving = 0
    for _, l in ipairs(s.lines) do if l == "leaving" then leaving = leaving + 1 end end
    assert.equal(1, leaving)
  end, 30))
end)
