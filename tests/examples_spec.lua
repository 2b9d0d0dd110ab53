-- Runs the examples through the luaio binary and checks what they print.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"
local free_port = require "support.free_port"

local function example(name)
  local f = assert(io.open("examples/" .. name .. ".lua"))
  local code = f:read("a")
  f:close()
  return proc.run { code = code }
end

describe("examples", function()
  it("hello.lua prints hello then world", function()
    local rc, out = example("hello")
    assert.equal(0, rc)
    assert.equal("hello\nworld\n", out)
  end)

  it("debug_forgotten_await.lua: LUAIO_DEBUG=1 names the line of the forgotten await", function()
    local f = assert(io.open("examples/debug_forgotten_await.lua"))
    local code = f:read("a")
    f:close()
    local line = 0
    for l in code:gmatch("([^\n]*)\n") do
      line = line + 1
      if l:match('^%s*save%("draft"%)') then break end
    end
    local saved = proc.bin
    proc.bin = "env LUAIO_DEBUG=1 " .. saved
    local ok, rc, out, err = pcall(proc.run, { code = code })
    proc.bin = saved
    assert(ok, rc)
    assert.equal(0, rc)
    assert.equal("saved: first, copy\n", out)
    assert.matches("^luaio: coroutine object created at [^\n]-:" .. line .. " was never awaited\n$", err)
    -- debug mode off: the bug goes unnoticed
    local rc2, _, err2 = example("debug_forgotten_await")
    assert.equal(0, rc2)
    assert.equal("", err2)
  end)

  it("two_tasks.lua finishes in the time of the longest sleep", function()
    local rc, out = example("two_tasks")
    assert.equal(0, rc)
    assert.matches("task2 slept 0%.1%d s\ntask1 slept 0%.2%d s\n", out)
    local total = tonumber(out:match("both done in ([%d.]+) s"))
    assert.is_true(total >= 0.2 and total < 0.3)
  end)

  it("future_callback.lua awaits a future resolved by a callback", function()
    local rc, out = example("future_callback")
    assert.equal(0, rc)
    assert.matches("awaited:\tfrom the callback\t42", out)
    assert.matches("done callback sees:\tfrom the callback\t42", out)
  end)

  it("cancel_timeout.lua shows cancellation and timeouts", function()
    local rc, out = example("cancel_timeout")
    assert.equal(0, rc)
    assert.matches("worker: cleaned up\nworker ended:\tfalse\tCancelledError: shutting down", out)
    assert.matches("timeout block:\tfalse\tTimeoutError", out)
    assert.matches("wait_for:\tfalse\tTimeoutError", out)
  end)

  it("task_group.lua waits for children and reports the failure", function()
    local rc, out = example("task_group")
    assert.equal(0, rc)
    assert.matches("child 3 done\nall children finished\n", out)
    assert.matches("false\tExceptionGroup\tchild failed", out)
    assert.not_matches("never printed", out)
  end)

  it("debug_leaked_socket.lua: debug mode names the line that opened the leaked socket", function()
    local f = assert(io.open("examples/debug_leaked_socket.lua"))
    local code = f:read("a")
    f:close()
    local rc, out, err = proc.run { code = code, env = { LUAIO_DEBUG = "1" } }
    assert.equal(0, rc, err)
    assert.matches("echo: hello\n", out)
    assert.matches("still open:\tstream\t[^\n]*:20\n", out)
    assert.matches("luaio: unclosed stream StreamWriter[^\n]* created at [^\n]*:20\n", err)
    assert.not_matches("unclosed server", err)
    rc, out, err = proc.run { code = code } -- without debug mode: listed, no site, no report
    assert.equal(0, rc, err)
    assert.matches("still open:\tstream\t%(site recorded in debug mode only%)", out)
    assert.equal("", err)
  end)

  it("queue_workers.lua drains a queue with a pool of workers", function()
    local rc, out = example("queue_workers")
    assert.equal(0, rc)
    assert.matches("3 workers slept in parallel", out)
  end)

  it("rate_limiter.lua keeps at most 3 requests at once", function()
    local rc, out = example("rate_limiter")
    assert.equal(0, rc)
    assert.matches("at most 3 at once", out)
    assert.matches("semaphore free again: true", out)
  end)

  it("crawler.lua fetches every page under a limit and shuts down cleanly", function()
    local rc, out = example("crawler")
    assert.equal(0, rc)
    assert.matches("done: %d+ pages fetched", out)
  end)

  it("tail.lua prints the lines appended to a file, woken by fs.watch, and stops after N", function()
    local background = require "support.background"
    local sfs = require "support.fs"
    local d = sfs.mktemp()
    local log = d .. "/log"
    sfs.write(log, "old line, not printed\n")
    local f = assert(io.open("examples/tail.lua"))
    local code = f:read("a")
    f:close()
    background.with_bg(code, function(p)
      p:wait_err("watching")
      local w = assert(io.open(log, "a"))
      w:write("one\n"); w:flush()
      p:wait_out("one\n")
      w:write("tw"); w:flush() -- half a line: printed only once complete
      aio.sleep(0.05)
      w:write("o\nthree\n"); w:close()
      p:wait_exit()
      assert.equal(0, p:status())
      assert.equal("one\ntwo\nthree\n", p:file("out"))
    end, ("%q 3"):format(log))()
    sfs.rmdir(d)
  end)

  -- network examples: a server example in its own process, driven from here
  local function start(script, port)
    local pipe = io.popen(("exec %s examples/%s.lua %d 2>/dev/null & echo $!"):format(proc.bin, script, port))
    local pid = pipe:read("n")
    pipe:close()
    return pid
  end

  local function connect(port)
    for _ = 1, 250 do -- until the server listens (bounded)
      local ok, r, w = pcall(aio.open_connection, "127.0.0.1", port)
      if ok then return r, w end
      aio.sleep(0.02)
    end
    error("server did not start on port " .. port)
  end

  it("echo_server.lua echoes lines and echo_client.lua talks to it", async(function()
    local port = free_port()
    local pid = start("echo_server", port)
    local ok, err = pcall(function()
      local r, w = connect(port)
      w:write("ping\n")
      assert.equal("ping\n", r:readline())
      w:close()
      local rc, out = proc.run { code = io.open("examples/echo_client.lua"):read("a"),
        args = { tostring(port), "127.0.0.1", "hello", "world" } }
      assert.equal(0, rc)
      assert.matches("hello", out)
      assert.matches("world", out)
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
  end, 20))

  it("http_server.lua answers keep-alive requests and http_get.lua reads them", async(function()
    local port = free_port()
    local pid = start("http_server", port)
    local ok, err = pcall(function()
      local r, w = connect(port)
      for _ = 1, 2 do -- two requests on one connection
        w:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        local head = r:readuntil("\r\n\r\n")
        assert.matches("^HTTP/1.1 200", head)
        local len = tonumber(head:match("[Cc]ontent%-[Ll]ength: (%d+)"))
        assert.is_true(#r:readexactly(len) == len)
      end
      w:close()
      local rc, out = proc.run { code = io.open("examples/http_get.lua"):read("a"),
        args = { "127.0.0.1", tostring(port), "/" } }
      assert.equal(0, rc)
      assert.matches("HTTP/1.1 200", out)
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
  end, 20))
  it("workers_http.lua serves one port from 2 workers and stops on SIGTERM", async(function()
    local port = free_port()
    local pid = start("workers_http", port)
    local ok, err = pcall(function()
      local seen = {}
      for _ = 1, 500 do -- until both workers answered (bounded)
        local r, w = connect(port)
        w:write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        local head = r:readuntil("\r\n\r\n")
        assert.matches("^HTTP/1.1 200", head)
        seen[head:match("X%-Worker: (%d+)")] = true
        w:close()
        if seen["1"] and seen["2"] then break end
      end
      assert.same({ ["1"] = true, ["2"] = true }, seen)
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
    for _ = 1, 250 do -- the supervisor exits once its workers have (bounded)
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      aio.sleep(0.02)
    end
    assert.falsy(os.execute("kill -0 " .. pid .. " 2>/dev/null"))
  end, 20))

  -- TLS examples: a CA and certificates made with openssl for these tests only
  local tls_dir, tls_path = require("support.tls_certs").make()
  teardown(function() require("support.fs").rmdir(tls_dir) end)

  -- runs an example in a child process from a thread, so that this task keeps serving
  local function run_in_thread(name, args)
    local code = io.open("examples/" .. name .. ".lua"):read("a")
    return aio.to_thread(function(b, c, a)
      package.path = package.path .. ";tests/?.lua"
      local pr = require("support.proc")
      pr.bin = b
      return pr.run { code = c, args = a, timeout = 30 }
    end, proc.bin, code, args)
  end

  it("https_get.lua GETs from a local TLS server with certificate checks", async(function()
    local ctx = aio.ssl_context { server = true, certfile = tls_path("server.pem"), keyfile = tls_path("server.key") }
    local body = ("x"):rep(1000)
    local srv = aio.start_server(function(r, w)
      local head = r:readuntil("\r\n\r\n")
      assert(head:match("^GET /hello HTTP/1.1\r\n"))
      assert(head:match("\r\nHost: localhost\r\n"))
      w:write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #body
        .. "\r\nConnection: close\r\n\r\n" .. body)
      w:close()
    end, "127.0.0.1", 0, { ssl = ctx })
    local port = select(2, srv.sockets[1]:getsockname())
    local url = ("https://localhost:%d/hello"):format(port)
    local rc, out, err = run_in_thread("https_get", { url, tls_path("ca.pem") })
    assert.equal(0, rc, err)
    assert.equal("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 1000\n"
      .. "Connection: close\n\n(1000 bytes of body)\n", out)
    assert.matches("connected with TLSv1.3", err, 1, true)
    -- the wrong CA: the certificate does not verify, nothing is sent; the server's
    -- handshake fails too and goes to the exception handler
    local rc2, out2, err2
    local seen = require("support.with_handler")(function(got)
      rc2, out2, err2 = run_in_thread("https_get", { url, tls_path("self.pem") })
      require("support.poll")(function() return got[1] end, "the server's handshake failure")
    end)
    assert.equal("SSLError", seen[1] and seen[1].exception.name)
    assert.equal(1, rc2)
    assert.equal("", out2)
    assert.matches("^https_get: SSLError: certificate verify failed", err2)
    -- a bad URL is a usage error
    local rc3, _, err3 = run_in_thread("https_get", { "http://localhost/" })
    assert.equal(2, rc3)
    assert.matches("usage", err3, 1, true)
    srv:close()
  end, 60))

  it("starttls_echo.lua upgrades a plain echo connection to TLS, server and client", async(function()
    local port = free_port()
    local pipe = io.popen(("exec %s examples/starttls_echo.lua server %d %q %q 2>/dev/null & echo $!")
      :format(proc.bin, port, tls_path("server.pem"), tls_path("server.key")))
    local pid = pipe:read("n")
    pipe:close()
    local ok, err = pcall(function()
      local r, w = connect(port) -- waits until the server listens
      assert.equal("220 ready\r\n", r:readline())
      w:close()
      local rc, out, e = run_in_thread("starttls_echo", { "client", tostring(port), tls_path("ca.pem"), "one", "two" })
      assert.equal(0, rc, e)
      assert.equal("plain: hello\nupgraded: TLSv1.3\ntls: one\ntls: two\n", out)
      -- a client that does not trust the server's CA fails the upgrade; the server goes on
      local rc2, out2, e2 = run_in_thread("starttls_echo", { "client", tostring(port), tls_path("self.pem"), "x" })
      assert.equal(1, rc2)
      assert.equal("plain: hello\n", out2)
      assert.matches("SSLError: certificate verify failed", e2, 1, true)
      local rc3, out3, e3 = run_in_thread("starttls_echo", { "client", tostring(port), tls_path("ca.pem"), "again" })
      assert.equal(0, rc3, e3)
      assert.matches("tls: again\n", out3, 1, true)
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
  end, 60))

  it("redis_counter.lua counts from 20 tasks on one client and hears its message", function()
    local redis_server = require "support.redis_server"
    if not redis_server.available() then pending(redis_server.MISSING) return end
    local srv = redis_server.start()
    local ok, e = pcall(function()
      local rc, out, err = proc.run { code = io.open("examples/redis_counter.lua"):read("a"), args = { srv:url_for(15) } }
      assert.equal(0, rc, err)
      assert.equal("visits:0 = 250\nvisits:1 = 250\nvisits:2 = 250\nvisits:3 = 250\n"
        .. "incr visits:\ttrue\t1\nincr a-list:\tfalse\tRedisError\tWRONGTYPE\n"
        .. "heard on counter-events: done\n", out)
    end)
    srv:stop()
    if not ok then error(e, 0) end
  end)

  it("jobs_worker.lua runs its jobs through Redis, retrying the flaky one", function()
    local redis_server = require "support.redis_server"
    if not redis_server.available() then pending(redis_server.MISSING) return end
    local srv = redis_server.start()
    local ok, e = pcall(function()
      local rc, out, err = proc.run { code = io.open("examples/jobs_worker.lua"):read("a"), args = { srv.url } }
      assert.equal(0, rc, err)
      assert.equal("square(1) = 1\nsquare(2) = 4\nsquare(3) = 9\nsquare(4) = 16\nsquare(5) = 25\n"
        .. "flaky: done after 2 tries\nstatus: complete\n", out)
    end)
    srv:stop()
    if not ok then error(e, 0) end
  end)

  it("udp_echo.lua echoes datagrams between its server and client", function()
    local rc, out, err = example("udp_echo")
    assert.equal(0, rc, err)
    assert.equal('sent "hello", got back "hello"\nsent "datagram", got back "datagram"\n'
      .. 'sent "world", got back "world"\n', out)
  end)

  it("udp_echo.lua server answers a client", async(function()
    local probe = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    local _, port = probe:getsockname()
    probe:close()
    local pipe = io.popen(("exec %s examples/udp_echo.lua server %d 2>/dev/null & echo $!"):format(proc.bin, port))
    local pid = pipe:read("n")
    pipe:close()
    local ok, err = pcall(function()
      -- not connected: until the server is up, the kernel's port-unreachable answers are
      -- not reported on it, so each attempt really waits its 50 ms (bounded: 12.5 s)
      local c <close> = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
      for _ = 1, 250 do
        c:sendto("ping", "127.0.0.1", port)
        local got, reply = pcall(aio.wait_for, aio.spawn(c.recv, c), 0.05)
        if got then assert.equal("ping", reply) return end
      end
      error("no echo")
    end)
    os.execute("kill " .. pid)
    assert(ok, err)
  end, 20))

  -- a fake DNS server: answers a query for NAME with one A record (10.1.2.3, TTL 300) whose
  -- name is a compression pointer to the question; any other name gets "no such name"
  local function fake_dns(sock, known)
    while true do
      local q, host, port = sock:recvfrom()
      local id = string.unpack(">I2", q)
      local labels, pos = {}, 13
      while q:byte(pos) ~= 0 do
        local len = q:byte(pos)
        labels[#labels + 1] = q:sub(pos + 1, pos + len)
        pos = pos + 1 + len
      end
      local question = q:sub(13, pos + 4)
      local qname = table.concat(labels, ".")
      if qname == known then
        sock:sendto(string.pack(">I2I2I2I2I2I2", id, 0x8180, 1, 1, 0, 0) .. question
          .. string.pack(">I2I2I2I4I2BBBB", 0xC00C, 1, 1, 300, 4, 10, 1, 2, 3), host, port)
      else
        sock:sendto(string.pack(">I2I2I2I2I2I2", id, 0x8183, 1, 0, 0, 0) .. question, host, port)
      end
    end
  end

  it("dns_query.lua asks a DNS server over UDP and prints the A records", async(function()
    local sock <close> = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
    local _, port = sock:getsockname()
    local server = aio.spawn(fake_dns, sock, "www.example.test")
    local code = io.open("examples/dns_query.lua"):read("a")
    local bin = proc.bin
    -- the example runs in a child process while this task keeps serving
    local rc, out, err, rc2, err2, rc3, err3 = aio.to_thread(function(b, c, p)
      package.path = package.path .. ";tests/?.lua"
      local pr = require("support.proc")
      pr.bin = b
      local r1 = table.pack(pr.run { code = c, args = { "www.example.test", "127.0.0.1", tostring(p) } })
      local r2 = table.pack(pr.run { code = c, args = { "nope.example.test", "127.0.0.1", tostring(p) } })
      local r3 = table.pack(pr.run { code = c, args = {} })
      return r1[1], r1[2], r1[3], r2[1], r2[3], r3[1], r3[3]
    end, bin, code, port)
    server:cancel()
    assert.equal(0, rc, err)
    assert.equal("www.example.test.\t300\tIN\tA\t10.1.2.3\n", out)
    assert.equal(1, rc2)
    assert.matches("nope.example.test: no such name", err2, 1, true)
    assert.equal(2, rc3)
    assert.matches("usage", err3, 1, true)
  end, 20))

  it("sha256_dir.lua prints what sha256sum prints for every file of a directory", function()
    local fs = require "support.fs"
    local q = require "support.quote"
    local dir = fs.mktemp()
    -- lengths around the padding boundaries (55, 56, 64 bytes), empty, and several blocks
    local files = { empty = "", abc = "abc", ["with space"] = "a\0b", b55 = ("x"):rep(55),
      b56 = ("y"):rep(56), b64 = ("z"):rep(64), b119 = ("w"):rep(119) }
    local big = {}
    for i = 1, 30000 do big[i] = string.char(i * 7919 % 256) end
    files.big = table.concat(big):rep(5) -- 150 KB: several read chunks
    for name, data in pairs(files) do fs.write(dir .. "/" .. name, data) end
    local names = {}
    for name in pairs(files) do names[#names + 1] = name end
    table.sort(names)
    local paths = {}
    for i, name in ipairs(names) do paths[i] = q(dir .. "/" .. name) end
    local p = assert(io.popen("sha256sum " .. table.concat(paths, " ")))
    local expected = p:read("a")
    p:close()
    local f = assert(io.open("examples/sha256_dir.lua"))
    local code = f:read("a")
    f:close()
    local rc, out, err = proc.run { code = code, args = { dir } }
    local rc2, out2 = proc.run { code = code, args = { dir }, lua = true }
    local rc3, _, err3 = proc.run { code = code, args = { dir .. "/no-such-dir" } }
    fs.rmdir(dir)
    assert.equal(0, rc, err)
    assert.equal(expected, out)
    assert.equal(0, rc2)
    assert.equal(expected, out2)
    assert.equal(1, rc3)
    assert.matches("cannot list", err3, 1, true)
  end)

  it("supervisor.lua restarts a child that exits, up to its limit", function()
    local rc, out = proc.run { code = io.open("examples/supervisor.lua"):read("a"),
      args = { "2", "echo tick; exit 3" } }
    assert.equal(0, rc)
    local _, ticks = out:gsub("  | tick\n", "")
    assert.equal(3, ticks)
    assert.matches("exited with 3\nsupervisor: giving up after 2 restarts\nsupervisor: stopped\n$", out)
  end)

  it("supervisor.lua stops its child and itself on SIGTERM", require("support.background").with_bg(
    io.open("examples/supervisor.lua"):read("a"), function(p)
      p:wait_out("child %d+ up")
      p:kill("TERM")
      assert.equal(0, p:wait_exit())
      local out = p:file("out")
      assert.matches("supervisor: SIGTERM, stopping\n", out)
      assert.matches("exited with %-15\nsupervisor: stopped\n$", out)
      assert.not_matches("restart", out)
    end, "5 'echo child $$ up; exec sleep 30'"))

  it("retry_spec.lua tests a retry helper over ten virtual minutes, under both runners", function()
    local bin = require "support.bin"
    local so_dir = bin:match("^(.*)/[^/]+$")
    for _, cmd in ipairs {
      ("%sLUA_CPATH='%s/?.so;;' lua5.4 /usr/bin/busted --lpath='examples/?.lua' examples/retry_spec.lua 2>&1")
        :format(os.getenv("LUAIO_PRELOAD") and ("LD_PRELOAD='%s' "):format(os.getenv("LUAIO_PRELOAD")) or "", so_dir),
      ("%s /usr/bin/busted --ignore-lua --lpath='examples/?.lua' examples/retry_spec.lua 2>&1"):format(bin),
    } do
      local p = io.popen(cmd)
      local out = p:read("a")
      local ok = p:close()
      assert.is_true(ok, out)
      assert.matches("3 successes / 0 failures / 0 errors", out)
    end
  end)
end)
