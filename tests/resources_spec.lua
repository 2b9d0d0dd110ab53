-- resources_spec.lua — the leak audit: aio.open_resources (each kind listed while open,
-- gone once closed, in creation order, the object itself), creation sites recorded only
-- in debug mode (aio.Runner{debug = true}, LUAIO_DEBUG=1), and debug mode's report of what
-- is still open when the loop closes.
local aio = require "luaio"
local async = require "support.async"
local fsx = require "support.fs"
local proc = require "support.proc"
local with_handler = require "support.with_handler"

local function kinds(list)
  local t = {}
  for _, e in ipairs(list) do t[#t + 1] = e.kind end
  return t
end

local function find(object)
  for _, e in ipairs(aio.open_resources()) do
    if rawequal(e.object, object) then return e end
  end
end

-- a line number of this file, to compare sites with
local function here() return debug.getinfo(2, "l").currentline end
local me = debug.getinfo(1, "S").short_src

-- aio.Runner needs no loop running: under the luaio binary, where busted itself runs in the
-- main task, these cases run in a fresh stock lua5.4
local runner_it = require "support.outside_loop_it"(it, "tests/resources_spec.lua")

describe("aio.open_resources", function()
  it("is empty when nothing is open", async(function()
    assert.same({}, aio.open_resources())
  end))

  it("lists a server as the Server itself, once, until it is closed", async(function()
    local srv = aio.start_server(function() end, "127.0.0.1", 0)
    local e = find(srv)
    assert.equal("server", e.kind)
    assert.is_nil(e.site)
    assert.same({ "server" }, kinds(aio.open_resources()))
    srv:close()
    srv:wait_closed()
    assert.is_nil(find(srv))
    -- one Server listening on several addresses is one resource
    local multi = aio.start_server(function() end, "localhost", 0)
    assert.same({ "server" }, kinds(aio.open_resources()))
    assert.equal(multi, aio.open_resources()[1].object)
    multi:close()
    local path = os.tmpname()
    os.remove(path)
    local unix = aio.start_unix_server(function() end, path)
    assert.equal(unix, find(unix).object)
    unix:close()
    unix:wait_closed()
    os.remove(path)
  end))

  it("lists both ends of a connection as streams until each is closed", async(function()
    local accepted = aio.Future()
    local srv <close> = aio.start_server(function(r, w)
      accepted:set_result(w)
      r:read()
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local _, w = aio.open_connection("127.0.0.1", port)
    local sw = accepted:await()
    assert.equal("stream", find(w).kind)
    assert.equal("stream", find(sw).kind)
    w:close()
    assert.is_nil(find(w))
    w:wait_closed()
    srv:close()
    srv:wait_closed()          -- the server's side ends with its client_cb
    assert.is_nil(find(sw))
  end))

  it("lists a unix stream", async(function()
    local d = fsx.mktemp()
    local path = d .. "/s"
    local srv = aio.start_unix_server(function(r) r:read() end, path)
    local _, w = aio.open_unix_connection(path)
    assert.equal("stream", find(w).kind)
    w:close()
    w:wait_closed()
    srv:close()
    srv:wait_closed()
    fsx.rmdir(d)
  end))

  it("lists a datagram socket until it is closed", async(function()
    local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    assert.equal("datagram", find(u).kind)
    u:close()
    assert.is_nil(find(u))
  end))

  it("lists a process while the child runs, not its pipes", async(function()
    local p = aio.create_subprocess_exec("cat", {}, { stdin = "pipe", stdout = "pipe" })
    assert.same({ "process" }, kinds(aio.open_resources()))
    assert.equal(p, aio.open_resources()[1].object)
    p.stdin:close()
    p:wait()
    assert.same({}, aio.open_resources())
  end))

  it("lists a file until it is closed", async(function()
    local d = fsx.mktemp()
    local f = aio.open(d .. "/x", "w")
    assert.equal("file", find(f).kind)
    f:close()
    assert.is_nil(find(f))
    fsx.rmdir(d)
  end))

  it("lists a file closed outside a task as closed at once", async(function()
    local d = fsx.mktemp()
    local f = aio.open(d .. "/x", "w")
    local done = aio.Future()
    aio.call_soon(function() f:close(); done:set_result(true) end)
    done:await()
    assert.is_nil(find(f))
    fsx.rmdir(d)
  end))

  it("lists a watcher until it is closed", async(function()
    local d = fsx.mktemp()
    local w = aio.fs.watch(d)
    assert.equal("watcher", find(w).kind)
    w:close()
    assert.is_nil(find(w))
    fsx.rmdir(d)
  end))

  it("lists call_soon, call_later and call_at handles while they are scheduled", async(function()
    local ran = aio.Future()
    local a = aio.call_soon(function() ran:set_result(true) end)
    local b = aio.call_later(60, print)
    local c = aio.call_at(aio.time() + 60, print)
    assert.same({ "handle", "handle", "handle" }, kinds(aio.open_resources()))
    ran:await()
    assert.is_nil(find(a))
    b:cancel()
    assert.is_nil(find(b))
    c:cancel()
    assert.same({}, aio.open_resources())
  end))

  it("does not list a future's done callbacks", async(function()
    local f = aio.Future()
    f:add_done_callback(function() end)
    assert.same({}, aio.open_resources())
    f:cancel()
  end))

  it("lists in creation order, each entry's object the resource itself", async(function()
    local d = fsx.mktemp()
    local h = aio.call_later(60, print)
    local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    local f = aio.open(d .. "/x", "w")
    local h2 = aio.call_later(60, print)
    local list = aio.open_resources()
    assert.same({ "handle", "datagram", "file", "handle" }, kinds(list))
    assert.equal(h, list[1].object)
    assert.equal(u, list[2].object)
    assert.equal(f, list[3].object)
    assert.equal(h2, list[4].object)
    h:cancel(); h2:cancel(); u:close(); f:close()
    fsx.rmdir(d)
  end))

  it("forgets a resource the collector closed", async(function()
    local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    local weak = setmetatable({ u }, { __mode = "v" })
    u = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.same({}, aio.open_resources())
  end))

  it("never keeps a resource alive", async(function()
    local d = fsx.mktemp()
    local f = aio.open(d .. "/x", "w")
    local weak = setmetatable({ f }, { __mode = "v" })
    f = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.same({}, aio.open_resources())
    fsx.rmdir(d)
  end))

  it("returns a new list each call", async(function()
    local a, b = aio.open_resources(), aio.open_resources()
    assert.is_not.equal(a, b)
  end))
end)

describe("creation sites", function()
  it("are nil without debug mode", async(function()
    local h = aio.call_later(60, print)
    assert.is_nil(find(h).site)
    h:cancel()
  end))

  runner_it("point at the creating line in debug mode (aio.Runner{debug = true})", function()
    local r <close> = aio.Runner { debug = true }
    r:run(function()
      local d = fsx.mktemp()
      local line = here() + 1
      local h = aio.call_later(60, print)
      local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
      local f = aio.open(d .. "/x", "w")
      local srv = aio.start_server(function() end, "127.0.0.1", 0)
      local _, port = srv.sockets[1]:getsockname()
      local _, w = aio.open_connection("127.0.0.1", port)
      local p = aio.create_subprocess_exec("cat", {}, { stdin = "pipe" })
      local wt = aio.fs.watch(d)
      assert.equal(me .. ":" .. line, find(h).site)
      assert.equal(me .. ":" .. line + 1, find(u).site)
      assert.equal(me .. ":" .. line + 2, find(f).site)
      assert.equal(me .. ":" .. line + 3, find(srv).site)
      assert.equal(me .. ":" .. line + 5, find(w).site)
      assert.equal(me .. ":" .. line + 6, find(p).site)
      assert.equal(me .. ":" .. line + 7, find(wt).site)
      h:cancel(); u:close(); f:close(); w:close(); wt:close()
      p.stdin:close(); p:wait()
      srv:close(); srv:wait_closed()
      fsx.rmdir(d)
    end)
  end)

  runner_it("give a server's connections the line that started the server", function()
    local r <close> = aio.Runner { debug = true }
    r:run(function()
      local got = aio.Future()
      local line = here() + 1
      local srv = aio.start_server(function(rd, w) got:set_result(w); rd:read() end, "127.0.0.1", 0)
      local _, port = srv.sockets[1]:getsockname()
      local _, w = aio.open_connection("127.0.0.1", port)
      assert.equal(me .. ":" .. line, find(got:await()).site)
      w:close()
      srv:close(); srv:wait_closed()
    end)
  end)

  it("are recorded with LUAIO_DEBUG=1 in the binary", function()
    local status, out, err = proc.run { env = { LUAIO_DEBUG = "1" }, code = [[
local aio = require "luaio"
local h = aio.call_later(60, print)
local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
for _, e in ipairs(aio.open_resources()) do print(e.kind, e.site) end
h:cancel(); u:close()
]] }
    assert.equal(0, status, err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(2, #lines)
    assert.matches("^handle\t.*:2$", lines[1])
    assert.matches("^datagram\t.*:3$", lines[2])
  end)
end)

describe("debug mode's report when the loop closes", function()
  runner_it("names each resource left open with its site (Runner:close)", function()
    local line
    local seen = with_handler(function()
      local r <close> = aio.Runner { debug = true }
      line = here() + 2
      r:run(function()
        local u = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
        local h = aio.call_later(60, print)
        _G.__leaked = { u, h }
      end)
      r:close()
    end)
    local u, h = _G.__leaked[1], _G.__leaked[2]
    _G.__leaked = nil
    assert.equal(2, #seen)
    assert.equal("datagram", seen[1].kind)
    assert.equal(u, seen[1].resource)
    assert.equal(me .. ":" .. line, seen[1].site)
    assert.matches("^unclosed datagram DatagramSocket<.*> created at .*:" .. line .. "$", seen[1].message)
    assert.equal("handle", seen[2].kind)
    assert.equal(me .. ":" .. line + 1, seen[2].site)
    u:close(); h:cancel()
  end)

  runner_it("reports a leak once, not again at a later close", function()
    local seen = with_handler(function()
      local r <close> = aio.Runner { debug = true }
      r:run(function() _G.__leaked = aio.open_datagram_endpoint { local_host = "127.0.0.1" } end)
      r:close()
      local r2 <close> = aio.Runner { debug = true }
      r2:run(function() end)
      r2:close()
    end)
    _G.__leaked:close()
    _G.__leaked = nil
    assert.equal(1, #seen)
  end)

  runner_it("says nothing without debug mode", function()
    local seen = with_handler(function()
      local r <close> = aio.Runner()
      r:run(function() _G.__leaked = aio.open_datagram_endpoint { local_host = "127.0.0.1" } end)
      r:close()
    end)
    _G.__leaked:close()
    _G.__leaked = nil
    assert.same({}, seen)
  end)

  it("reports on stderr when aio.run ends (LUAIO_DEBUG=1, stock lua)", function()
    local status, _, err = proc.run { lua = true, env = { LUAIO_DEBUG = "1" }, code = [[
local aio = require "luaio"
aio.run(function()
  _G.keep = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
end)
]] }
    assert.equal(0, status, err)
    assert.matches("unclosed datagram DatagramSocket<[^\n]*> created at [^\n]*:3", err)
  end)

  it("reports on stderr when the binary's script ends, and only in debug mode", function()
    local code = [[
local aio = require "luaio"
local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
local _, port = srv.sockets[1]:getsockname()
local _, w = aio.open_connection("127.0.0.1", port)
srv:close()
]]
    local status, _, err = proc.run { env = { LUAIO_DEBUG = "1" }, code = code }
    assert.equal(0, status, err)
    assert.matches("unclosed stream [^\n]* created at [^\n]*:4", err)
    assert.not_matches("unclosed server", err)
    status, _, err = proc.run { code = code }
    assert.equal(0, status, err)
    assert.equal("", err)
  end)
end)

describe("aio.open_resources as asyncio", function()
  it("a closing transport counts as closed (transport.is_closing())", async(function()
    local srv <close> = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local _, w = aio.open_connection("127.0.0.1", port)
    w:write(string.rep("x", 1 << 20))
    w:close() -- flushing still: is_closing() is true, as asyncio's
    assert.is_true(w:is_closing())
    assert.is_nil(find(w))
    w:wait_closed()
  end))
end)
