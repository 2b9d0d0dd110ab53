-- net_spec.lua — open_connection / start_server / Unix sockets / getaddrinfo: echo round
-- trips, many clients, peers that vanish, refused connections, server lifecycle, bad input.
-- Only 127.0.0.1, ::1 and temporary Unix paths are used.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local settle = require "support.settle"
local outside_task = require "support.outside_task"
local with_handler = require "support.with_handler"
local port_of = require "support.port_of"
local tcp_server = require "support.tcp_server"
local background = require "support.background"
local fs = require "support.fs"

local function line_echo(r, w)
  for line in r:lines() do
    w:write(line .. "\n")
    w:drain()
  end
end

-- a server echoing lines until EOF, then closing
local function line_echo_server(host)
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

local function tmp_path()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".sock"
end

describe("open_connection / start_server", function()
  it("start_server on port 0 names its host and port; a connection echoes, half-closes and closes", async(function()
    local srv = line_echo_server()
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

  it("runs client_cb(reader, writer) as its own task per connection", async(function()
    local cb_tasks = {}
    local srv, port = tcp_server(function(r, w)
      cb_tasks[#cb_tasks + 1] = aio.current_task()
      local line = r:readline()
      w:write("echo:" .. line)
      w:drain()
      w:close()
      w:wait_closed()
    end)
    local function client(msg)
      local r, w = aio.open_connection("127.0.0.1", port)
      w:write(msg .. "\n")
      w:drain()
      local got = r:read()
      w:close()
      return got
    end
    local res = aio.gather(aio.async(client)("a"), aio.async(client)("b"))
    assert.same({ "echo:a\n", "echo:b\n", n = 2 }, res)
    assert.equal(2, #cb_tasks)
    assert.is_truthy(cb_tasks[1])
    assert.are_not.equal(cb_tasks[1], cb_tasks[2])
    srv:close()
  end))

  it("accepts a numeric string port", async(function()
    local srv = aio.start_server(line_echo, "127.0.0.1", "0")
    local r, w = aio.open_connection("127.0.0.1", tostring(port_of(srv)))
    w:write("s\n")
    assert.equal("s\n", r:readline())
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("serves 500 concurrent clients", async(function()
    local srv = aio.start_server(line_echo, "127.0.0.1", 0, { backlog = 1024 })
    local port = port_of(srv)
    local tasks = {}
    for i = 1, 500 do
      tasks[i] = function()
        local r, w = aio.open_connection("127.0.0.1", port)
        local msg = ("client %d\n"):format(i)
        for _ = 1, 3 do
          w:write(msg)
          assert.equal(msg, r:readline())
        end
        w:close()
        w:wait_closed()
        return i
      end
    end
    local res = aio.gather(tasks)
    assert.equal(500, res.n)
    for i = 1, 500 do assert.equal(i, res[i]) end
    srv:close()
    srv:wait_closed()
  end, 30))

  it("resolves host names (localhost)", async(function()
    local srv = line_echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("localhost", port)
    w:write("name\n")
    assert.equal("name\n", r:readline())
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("round-trips over ::1 and resolves localhost", async(function()
    local ok, srv = pcall(aio.start_server, line_echo, "::1", 0)
    if not ok then
      assert.equal("OSError", srv.name) -- no IPv6 on this host: nothing more to test
      return
    end
    local host, port = srv.sockets[1]:getsockname()
    assert.equal("::1", host)
    local r, w = aio.open_connection("::1", port)
    w:write("six\n")
    assert.equal("six\n", r:readline())
    assert.equal("::1", (w:get_extra_info("peername")))
    w:close()
    -- when "localhost" has ::1 among other addresses, the refused ones are skipped
    local has6 = false
    for _, a in ipairs(aio.getaddrinfo("localhost", port)) do has6 = has6 or a.addr == "::1" end
    if has6 then
      local r2, w2 = aio.open_connection("localhost", port)
      w2:write("again\n")
      assert.equal("again\n", r2:readline())
      w2:close()
    end
    srv:close()
    srv:wait_closed()
  end))

  it("raises OSError for an unresolvable host name", async(function()
    local e = catch(aio.open_connection, "no-such-host.invalid", 80)
    is_err("OSError", e)
    assert.is_string(e.code)
  end))

  it("raises OSError ECONNREFUSED when nobody listens", async(function()
    local srv = line_echo_server()
    local _, port = srv.sockets[1]:getsockname()
    srv:close()
    srv:wait_closed()
    local e = catch(aio.open_connection, "127.0.0.1", port)
    is_err("OSError", e)
    assert.equal("ECONNREFUSED", e.code)
  end))

  it("raises an OSError object with code EADDRINUSE for a busy port", async(function()
    local srv = line_echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local e = catch(aio.start_server, function() end, "127.0.0.1", port)
    is_err("OSError", e)
    assert.equal("EADDRINUSE", e.code)
    srv:close()
    srv:wait_closed()
  end))

  it("raises OSError EADDRINUSE for a taken port, and reuse_port shares it", async(function()
    local srv = aio.start_server(line_echo, "127.0.0.1", 0)
    local port = port_of(srv)
    local ok, e = pcall(aio.start_server, line_echo, "127.0.0.1", port)
    assert.is_false(ok)
    assert.equal("EADDRINUSE", e.code)
    srv:close()
    srv:wait_closed()
    local a = aio.start_server(line_echo, "127.0.0.1", 0, { reuse_port = true })
    local b = aio.start_server(line_echo, "127.0.0.1", port_of(a), { reuse_port = true, reuse_address = true })
    assert.equal(port_of(a), port_of(b))
    a:close()
    b:close()
    a:wait_closed()
    b:wait_closed()
  end))

  it("reports an error escaping client_cb and keeps serving", async(function()
    local seen = with_handler(function(seen)
      local srv = aio.start_server(function(r, w)
        local l = r:readline()
        if l == "boom\n" then error("handler failed") end
        w:write(l)
      end, "127.0.0.1", 0)
      local port = port_of(srv)
      local r, w = aio.open_connection("127.0.0.1", port)
      w:write("boom\n")
      assert.equal("", r:read()) -- the failed connection is closed
      w:close()
      while #seen == 0 do aio.sleep(0.001) end
      local r2, w2 = aio.open_connection("127.0.0.1", port)
      w2:write("fine\n")
      assert.equal("fine\n", r2:readline())
      w2:close()
      srv:close()
      srv:wait_closed()
    end)
    assert.equal(1, #seen)
    assert.equal("Unhandled exception in client_connected_cb", seen[1].message)
    assert.matches("handler failed", tostring(seen[1].exception))
    assert.matches("stack traceback", seen[1].traceback)
    assert.equal("userdata", type(seen[1].task))
  end))

  it("closes the connection of a client_cb task cancelled before it started", async(function()
    -- Both connections are usually accepted in the same loop turn; the first client_cb then
    -- cancels the second's task before it runs. Either way each client gets an answer or
    -- EOF, and wait_closed() returns (the cancelled connection was closed).
    local started, clients, cancelled = {}, {}, {}
    local srv = aio.start_server(function(_, w)
      started[aio.current_task()] = true
      for _, t in ipairs(aio.all_tasks()) do
        if not started[t] and not clients[t] and t:cancel() then cancelled[#cancelled + 1] = t end
      end
      aio.sleep(0.01)
      w:write("hi\n")
    end, "127.0.0.1", 0)
    clients[aio.current_task()] = true
    local port = port_of(srv)
    local function client()
      clients[aio.current_task()] = true
      local r, w = aio.open_connection("127.0.0.1", port)
      local data = aio.wait_for(function() return r:read() end, 5)
      w:close()
      return data
    end
    local res = aio.gather(client, client)
    local eofs = (res[1] == "" and 1 or 0) + (res[2] == "" and 1 or 0)
    assert.equal(#cancelled, eofs)
    for i = 1, 2 do assert.is_true(res[i] == "" or res[i] == "hi\n") end
    for _, t in ipairs(cancelled) do assert.is_true(t:cancelled()) end
    srv:close()
    aio.wait_for(function() srv:wait_closed() end, 5)
  end))

  it("survives peers that disconnect mid-read and reset, and keeps serving", async(function()
    local seen = with_handler(function(seen)
      local results = {}
      local srv = aio.start_server(function(r, w)
        local kind = r:readline()
        if kind == "partial\n" then
          results[#results + 1] = r:readline()            -- the partial line, at EOF
          results[#results + 1] = r:readexactly(100)      -- IncompleteReadError escapes
        elseif kind == "reset\n" then
          w:write(("x"):rep(1024 * 1024))
          local ok, e = pcall(function()
            while true do
              w:write(("y"):rep(65536))
              w:drain()
              if r:read(1) == "" then return "eof" end
            end
          end)
          results[#results + 1] = ok and e or e.code
        else
          w:write(kind)
        end
      end, "127.0.0.1", 0)
      local port = port_of(srv)
      -- 1: half a line, then EOF
      local _, w = aio.open_connection("127.0.0.1", port)
      w:write("partial\nhalf a li")
      w:close()
      -- 2: a client that leaves unread data behind: its close resets the connection
      local r2, w2 = aio.open_connection("127.0.0.1", port, { limit = 16 })
      w2:write("reset\n")
      while r2:buffered() < 16 do aio.sleep(0.001) end
      w2:close()
      while #results < 2 or #seen < 1 do aio.sleep(0.001) end
      -- 3: the server still serves
      local r3, w3 = aio.open_connection("127.0.0.1", port)
      w3:write("still here\n")
      assert.equal("still here\n", r3:readline())
      w3:close()
      assert.equal("half a li", results[1])
      assert.is_true(results[2] == "ECONNRESET" or results[2] == "EPIPE" or results[2] == "eof",
        tostring(results[2]))
      srv:close()
      srv:wait_closed()
    end)
    assert.equal(1, #seen)
    assert.equal("IncompleteReadError", seen[1].exception.name)
  end, 20))

  it("raises OSError from write or drain once the peer has gone (no SIGPIPE)", async(function()
    local srv = aio.start_server(function(_, w) w:close() end, "127.0.0.1", 0)
    local r, w = aio.open_connection("127.0.0.1", port_of(srv))
    assert.equal("", r:read()) -- the server closed
    local ok, e
    for _ = 1, 1000 do
      ok, e = pcall(function()
        w:write(("z"):rep(65536))
        w:drain()
      end)
      if not ok then break end
      aio.sleep(0.001)
    end
    assert.is_false(ok)
    assert.equal("OSError", e.name)
    assert.is_true(e.code == "EPIPE" or e.code == "ECONNRESET", e.code)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("close() stops listening; wait_closed() returns once the handlers finish; serve_forever raises CancelledError", async(function()
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
    settle(3)
    srv:close()
    assert.is_false(srv:is_serving())
    is_err("OSError", catch(aio.open_connection, "127.0.0.1", port))
    local waiter = aio.spawn(function() srv:wait_closed() return handler_done end)
    settle(3)
    assert.is_false(waiter:done())
    release:set()
    assert.equal("bye\n", r:readline())
    assert.is_true(waiter:await())
    local ok, e = forever:await()
    assert.is_false(ok)
    is_err("CancelledError", e)
    w:close()
  end))

  it("close() stops listening, wait_closed() waits for connections, serve_forever raises CancelledError", async(function()
    local release = aio.Future()
    local srv = aio.start_server(function(r, w)
      release:await()
      w:write(r:readline())
    end, "127.0.0.1", 0)
    local port = port_of(srv)
    local forever = aio.spawn(srv.serve_forever, srv)
    aio.sleep(0)
    local r, w = aio.open_connection("127.0.0.1", port)
    w:write("last\n")
    while srv.sockets[1]:active() == 0 do aio.sleep(0.001) end
    srv:close()
    assert.is_false(srv:is_serving())
    local ok, e = pcall(aio.open_connection, "127.0.0.1", port)
    assert.is_false(ok)
    assert.equal("ECONNREFUSED", e.code)
    local waiter = aio.spawn(srv.wait_closed, srv)
    aio.sleep(0.01)
    assert.is_false(waiter:done())  -- a connection is still open
    assert.is_false(forever:done())
    release:set_result(true)
    assert.equal("last\n", r:readline()) -- the open connection still works
    waiter:await()
    local fok, ferr = pcall(forever.await, forever)
    assert.is_false(fok)
    assert.equal("CancelledError", ferr.name)
    w:close()
  end))

  it("serve_forever closes the server when its task is cancelled", async(function()
    local srv = aio.start_server(line_echo, "127.0.0.1", 0)
    local t = aio.spawn(srv.serve_forever, srv)
    aio.sleep(0)
    local ok, e = pcall(srv.serve_forever, srv)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
    t:cancel()
    assert.is_false(pcall(t.await, t))
    assert.is_true(t:cancelled())
    assert.is_false(srv:is_serving())
  end))

  it("serve_forever on a closed server raises RuntimeError", async(function()
    local srv = tcp_server(function() end)
    srv:close()
    is_err("RuntimeError", catch(srv.serve_forever, srv))
  end))

  it("closes on scope exit", async(function()
    local port
    do
      local srv <close> = aio.start_server(line_echo, "127.0.0.1", 0)
      port = port_of(srv)
    end
    local ok, e = pcall(aio.open_connection, "127.0.0.1", port)
    assert.is_false(ok)
    assert.equal("ECONNREFUSED", e.code)
  end))

  it("a cancelled open_connection leaves nothing behind", async(function()
    local srv = aio.start_server(line_echo, "127.0.0.1", 0)
    local t = aio.spawn(aio.open_connection, "127.0.0.1", port_of(srv))
    aio.sleep(0)
    t:cancel()
    assert.is_false(pcall(t.await, t))
    assert.is_true(t:cancelled())
    srv:close()
    srv:wait_closed()
  end))

  it("open_connection raises outside a task, naming itself", async(function()
    local ok, e = outside_task(aio.open_connection, "127.0.0.1", 1)
    assert.is_false(ok)
    assert.matches("open_connection", tostring(e))
  end))

  it("start_server also works from a plain callback (a luaio extension)", async(function()
    local srv
    local ok, e = outside_task(function()
      srv = aio.start_server(function() end, "127.0.0.1", 0)
    end)
    assert.is_true(ok, tostring(e))
    assert.is_true(srv:is_serving())
    srv:close()
  end))

  it("rejects bad input", async(function()
    local function cb() end
    assert.has_error(function() aio.open_connection("127.0.0.1", "x") end,
      "bad argument #2 to 'open_connection' (port must be an integer from 0 to 65535, got 'x')")
    assert.has_error(function() aio.open_connection("127.0.0.1", -1) end)
    assert.has_error(function() aio.open_connection("127.0.0.1", 70000) end)
    assert.has_error(function() aio.open_connection("127.0.0.1", 1.5) end)
    assert.has_error(function() aio.open_connection(nil, 80) end)
    assert.has_error(function() aio.open_connection(12, 80) end)
    assert.has_error(function() aio.open_connection("127.0.0.1", 80, { limt = 1 }) end,
      "bad argument #3 to 'open_connection' (unknown option 'limt')")
    assert.has_error(function() aio.open_connection("127.0.0.1", 80, { limit = -5 }) end)
    assert.has_error(function() aio.start_server(cb, "127.0.0.1", 0, { backlg = 1 }) end,
      "bad argument #4 to 'start_server' (unknown option 'backlg')")
    assert.has_error(function() aio.start_server(cb, "127.0.0.1", 0, { backlog = -1 }) end)
    assert.has_error(function() aio.start_server(cb, "127.0.0.1", 0, { reuse_port = "yes" }) end,
      "bad argument #4 to 'start_server' (reuse_port must be a boolean, got string)")
    assert.has_error(function() aio.start_server(cb, "127.0.0.1", 0, { reuse_address = 1 }) end,
      "bad argument #4 to 'start_server' (reuse_address must be a boolean, got number)")
    assert.has_error(function() aio.start_server("nope", "127.0.0.1", 0) end)
    assert.has_error(function() aio.start_server(cb, "127.0.0.1", "x") end)
    assert.has_error(function() aio.start_unix_server(cb, "") end)
    assert.has_error(function() aio.start_unix_server(cb, "/tmp/x", { limits = 1 }) end,
      "bad argument #3 to 'start_unix_server' (unknown option 'limits')")
    assert.has_error(function() aio.open_unix_connection(nil) end)
    assert.has_error(function() aio.getaddrinfo("localhost", "x") end)
    assert.has_error(function() aio.getaddrinfo("localhost", 80, { family = "ipx" }) end)
  end))

  it("opts.limit must be a positive integer", async(function()
    check_argerr("open_connection", catch(aio.open_connection, "127.0.0.1", 1, { limit = "big" }))
    check_argerr("open_connection", catch(aio.open_connection, "127.0.0.1", 1, { limit = 0 }))
  end))

  it("wrong argument types of servers, connections, readers and writers name the function", async(function()
    check_argerr("start_server", catch(aio.start_server, "not a function", "127.0.0.1", 0))
    check_argerr("open_connection", catch(aio.open_connection, {}, 80))
    check_argerr("open_unix_connection", catch(aio.open_unix_connection, 42 == 42 and {} or nil))
    local srv, port = tcp_server(function(r, w) r:read(); w:close() end)
    local r, w = aio.open_connection("127.0.0.1", port)
    check_argerr("write", catch(w.write, w, {}))
    check_argerr("readuntil", catch(r.readuntil, r, {}))
    check_argerr("readexactly", catch(r.readexactly, r, "many"))
    w:close()
    srv:close()
  end))
end)

describe("Unix sockets", function()
  it("round-trip and name their path", async(function()
    local path = tmp_path()
    local srv = aio.start_unix_server(line_echo, path)
    assert.equal(path, srv.sockets[1]:getsockname())
    local r, w = aio.open_unix_connection(path)
    w:write("over unix\n")
    assert.equal("over unix\n", r:readline())
    assert.equal(path, w:get_extra_info("peername"))
    w:close()
    w:wait_closed()
    srv:close()
    srv:wait_closed()
    -- a stale socket file is replaced by the next server
    local srv2 = aio.start_unix_server(line_echo, path)
    srv2:close()
    srv2:wait_closed()
    os.remove(path)
  end))

  it("name the path on both ends", async(function()
    local path = tmp_path()
    local server_sockname
    local srv = aio.start_unix_server(function(r, w)
      server_sockname = w:get_extra_info("sockname")
      w:write("unix:" .. r:readline())
      w:close()
    end, path)
    assert.equal(path, srv.sockets[1]:getsockname())
    local r, w = aio.open_unix_connection(path)
    assert.equal(path, w:get_extra_info("peername"))
    w:write("hey\n")
    assert.equal("unix:hey\n", r:read())
    assert.equal(path, server_sockname)
    w:close()
    srv:close()
    srv:wait_closed()
    os.remove(path)
  end))

  it("raises OSError when nothing listens", async(function()
    local ok, e = pcall(aio.open_unix_connection, tmp_path())
    assert.is_false(ok)
    assert.equal("OSError", e.name)
    assert.equal("ENOENT", e.code)
  end))
end)

describe("net regressions", function()
  local long = "/tmp/" .. string.rep("s", 120) -- longer than sockaddr_un holds

  it("a Unix socket path longer than the platform's limit raises instead of binding a truncated one",
    async(function()
      -- libuv cut the path short: the server listened on another path than the one asked for
      local ok, err = pcall(aio.start_unix_server, function() end, long)
      assert.is_false(ok)
      is_err("OSError", err)
      assert.equal("ENAMETOOLONG", err.code)
      assert.matches("bind /tmp/s+: path too long for a Unix socket %(125 bytes, at most 107%)", err.message)
      assert.is_nil(io.open(long:sub(1, 107)), "nothing was bound at the truncated path")
      ok, err = pcall(aio.open_unix_connection, long)
      assert.is_false(ok)
      assert.equal("ENAMETOOLONG", err.code)
      assert.matches("^connect /tmp/s+: path too long", err.message)
    end))

  it("a listener out of file descriptors reports it once, pauses and then serves the waiting clients",
    async(function()
      -- libuv accepted and closed the pending connections silently: the clients got EOF and
      -- nobody heard of it
      local p = background.spawn([[
        local aio = require "luaio"
        aio.set_exception_handler(function(ctx)
          io.stderr:write("REPORT ", ctx.message, " | ", tostring(ctx.exception), "\n")
        end)
        local srv = aio.start_server(function(_, w) w:write("hi\n"); w:close() end, "127.0.0.1", 0)
        print("port " .. select(2, srv.sockets[1]:getsockname()))
        io.stdout:flush()
        local hog = {}
        while true do
          local f = io.open("/dev/null")
          if not f then break end
          hog[#hog + 1] = f
        end
        io.stderr:write("starved\n")
        while not os.remove("free") do aio.sleep(0.02) end -- (in its directory) unlink needs no descriptor
        for _, f in ipairs(hog) do f:close() end
        aio.sleep(30)
      ]], nil, "ulimit -n 64;")
      local ok, err = pcall(function()
        p:wait_out("port %d+")
        local port = tonumber(p:file("out"):match("port (%d+)"))
        p:wait_err("starved")
        local clients = {}
        for i = 1, 3 do clients[i] = { aio.open_connection("127.0.0.1", port) } end
        p:wait_err("REPORT accept")
        local report = p:file("err"):match("REPORT ([^\n]*)")
        assert.matches("out of system resources %(EMFILE%)", report)
        assert.matches("OSError: accept: ", report)
        fs.write(p.dir .. "/free", "")
        for i = 1, 3 do assert.equal("hi\n", clients[i][1]:readline()) end
        local _, n = p:file("err"):gsub("REPORT", "")
        assert.equal(1, n, "reported once")
        for i = 1, 3 do clients[i][2]:close() end
      end)
      p:close()
      if not ok then error(err, 0) end
    end, 15))

  it("a connection task's done callbacks run before the connection is closed", async(function()
    -- the end watch was the task's first waiter, so the connection closed before a done
    -- callback added by client_cb could write its last words
    local srv = aio.start_server(function(_, w)
      aio.current_task():add_done_callback(function() w:write("bye\n") end)
      w:write("hello\n")
    end, "127.0.0.1", 0)
    local r, w = aio.open_connection("127.0.0.1", port_of(srv))
    assert.equal("hello\nbye\n", r:read())
    w:close()
    srv:close()
  end))

  it("a Unix server in a missing directory says ENOENT", async(function()
    -- libuv reports a missing directory as EACCES, which sends users after permissions
    local ok, err = pcall(aio.start_unix_server, function() end, "/tmp/luaio-no-such-dir-" .. os.time() .. "/sock")
    assert.is_false(ok)
    assert.equal("ENOENT", err.code)
    assert.matches("^bind /tmp/luaio%-no%-such%-dir%-%d+/sock: ", err.message)
  end))
end)

describe("getaddrinfo", function()
  it("resolves numeric hosts and localhost", async(function()
    local a = aio.getaddrinfo("127.0.0.1", 80)
    assert.same({ { family = "inet", addr = "127.0.0.1", port = 80 } }, a)
    local b = aio.getaddrinfo("::1", 8080)
    assert.same({ { family = "inet6", addr = "::1", port = 8080 } }, b)
    local c = aio.getaddrinfo("localhost", 22)
    assert.is_true(#c >= 1)
    for _, x in ipairs(c) do
      assert.is_true(x.addr == "127.0.0.1" or x.addr == "::1", x.addr)
      assert.equal(22, x.port)
    end
    local d = aio.getaddrinfo("localhost", 22, { family = "inet" })
    for _, x in ipairs(d) do assert.equal("inet", x.family) end
  end))
end)

describe("servers as asyncio", function()
  -- 1. asyncio: StreamReaderProtocol.connection_made runs client_connected_cb and, when it
  --    returns normally, leaves the transport open (3.11 attaches no callback at all; 3.12's
  --    done callback closes the transport only if the task was cancelled or failed). So a
  --    handler may hand (reader, writer) to another task — typically an aiojobs job — and
  --    return. Python: the client receives "echo hello\n".
  --    luaio: the writer is closed as soon as client_cb returns (streams.lua conn_done), the
  --    client reads "" and the job's write raises RuntimeError "write: the writer is closed".
  it("keeps the connection open when client_cb hands it to a scheduler job and returns",
    async(function()
      local sched = aio.Scheduler{}
      local job_err
      local srv = aio.start_server(function(r, w)
        sched:spawn(function()
          local ok, e = pcall(function()
            local line = r:readline()
            w:write("echo " .. line)
            w:drain()
            w:close()
          end)
          if not ok then job_err = e end
        end)
      end, "127.0.0.1", 0)
      local r, w = aio.open_connection("127.0.0.1", port_of(srv))
      aio.sleep(0.05)
      w:write("hello\n")
      local reply = r:readline()
      w:close()
      srv:close()
      sched:close()
      assert.is_nil(job_err)
      assert.equal("echo hello\n", reply)
    end))

  -- same with a plain task (asyncio.create_task(handle(r, w)) inside the callback)
  -- 2. asyncio.start_server docs: "client_connected_cb ... can be a plain callable or a
  --    coroutine function; if it is a coroutine function, it will be automatically scheduled
  --    as a Task" (streams.py: `if coroutines.iscoroutine(res): loop.create_task(res)`).
  --    aio.async(fn) is luaio's `async def`. luaio: calling it returns an unstarted
  --    coroutine object that is dropped — the handler body never runs and the client reads "".
  it("runs an aio.async client_cb (a coroutine function in asyncio terms)", async(function()
    local srv = aio.start_server(aio.async(function(_, w)
      w:write("hello\n")
      w:close()
    end), "127.0.0.1", 0)
    local r, w = aio.open_connection("127.0.0.1", port_of(srv))
    local line = r:readline()
    w:close()
    srv:close()
    assert.equal("hello\n", line)
  end))

  -- 6. asyncio Server.sockets after close(): `if self._sockets is None: return ()` —
  --    python3: srv.close(); srv.sockets -> (). luaio keeps listing the closed socket
  --    (whose getsockname() then returns nil).
  it("server.sockets is empty after server:close()", async(function()
    local srv = aio.start_server(function() end, "127.0.0.1", 0)
    srv:close()
    srv:wait_closed()
    assert.equal(0, #srv.sockets)
  end))
end)
