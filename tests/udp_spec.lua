-- udp_spec.lua — datagram endpoints: aio.open_datagram_endpoint and DatagramSocket (sendto,
-- send, recvfrom, recv, getsockname, dropped, groups, broadcast, ttl, close), IPv4 and IPv6,
-- connected and unconnected, the receive queue, ICMP errors, closing, bad input.
-- Only 127.0.0.1, 127.255.255.255 (loopback broadcast) and ::1 are used.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local settle = require "support.settle"
local poll = require "support.poll"
local run_lua = require "support.run_lua"
local proc = require "support.proc"

local open = aio.open_datagram_endpoint

local function bound(opts)
  opts = opts or {}
  opts.local_host = opts.local_host or "127.0.0.1"
  local s = open(opts)
  local _, port = s:getsockname()
  return s, port
end

-- sends each datagram of `list` to port `to`, 16 at a time, each batch followed by a marker
-- datagram to another socket that is awaited: the loop has then read the batch, so the
-- kernel's receive buffer never overflows (the queue, not the kernel, decides what is kept)
local function deliver(tx, to, list)
  local marker <close>, pm = bound()
  for i = 1, #list, 16 do
    for j = i, math.min(i + 15, #list) do tx:sendto(list[j], "127.0.0.1", to) end
    tx:sendto("m", "127.0.0.1", pm)
    marker:recv()
  end
end

local function numbered(n, pad)
  local t = {}
  for i = 1, n do t[i] = tostring(i) .. (pad or "") end
  return t
end

-- what the machine allows, probed once when the spec loads
local function probe(fn)
  local ok, r = pcall(aio.run, fn)
  return ok and r
end

local HAVE6 = probe(function()
  local s = open { local_host = "::1" }
  s:close()
  return true
end)

local BROADCAST = probe(function()
  local rx = open { local_host = "0.0.0.0" }
  local _, port = rx:getsockname()
  local tx = open { allow_broadcast = true }
  local ok = pcall(tx.sendto, tx, "probe", "127.255.255.255", port)
  local got
  if ok then
    local t = aio.spawn(function() return rx:recv() end)
    got = pcall(aio.wait_for, t, 1)
  end
  rx:close(); tx:close()
  return ok and got
end)

local function it6(name, fn)
  if HAVE6 then it(name, fn) else pending("IPv6 (::1) is not available here: " .. name) end
end

describe("open_datagram_endpoint", function()
  it("binds a local address (port 0 picks one) and names it", async(function()
    local s <close> = open { local_host = "127.0.0.1", local_port = 0 }
    local host, port = s:getsockname()
    assert.equal("127.0.0.1", host)
    assert.is_true(math.type(port) == "integer" and port > 0)
    assert.equal("DatagramSocket<127.0.0.1 port " .. port .. ">", tostring(s))
    assert.is_false(s:is_closing())
    assert.equal(0, s:dropped())
  end))

  it("with no options binds every IPv4 interface on a port the system picks", async(function()
    local s <close> = open()
    local host, port = s:getsockname()
    assert.equal("0.0.0.0", host)
    assert.is_true(port > 0)
    local s2 <close> = open {}
    assert.is_true(select(2, s2:getsockname()) > 0)
  end))

  it("sendto and recvfrom carry datagrams both ways, boundaries kept", async(function()
    local a <close>, pa = bound()
    local b <close>, pb = bound()
    a:sendto("one", "127.0.0.1", pb)
    a:sendto("two", "127.0.0.1", pb)
    assert.same({ "one", "127.0.0.1", pa }, { b:recvfrom() })
    assert.equal("two", b:recv())
    b:sendto("back", "127.0.0.1", pa)
    assert.same({ "back", "127.0.0.1", pb }, { a:recvfrom() })
  end))

  it("carries empty, binary and the largest datagrams as they are", async(function()
    local a <close> = bound()
    local b <close>, pb = bound()
    local bin = "\0\1\2\255\0" .. ("x"):rep(100) .. "\0"
    local big = ("0123456789abcdef"):rep(4096):sub(1, 65507)
    a:sendto("", "127.0.0.1", pb)
    a:sendto(bin, "127.0.0.1", pb)
    a:sendto(big, "127.0.0.1", pb)
    assert.equal("", b:recv())
    assert.equal(bin, b:recv())
    assert.equal(big, b:recv())
  end))

  it("sendto accepts a port given as a numeric string and 'localhost'", async(function()
    local a <close> = bound()
    local b <close>, pb = bound()
    a:sendto("x", "localhost", tostring(pb))
    assert.equal("x", b:recv())
  end))

  it("resolves names asynchronously (localhost) for both ends", async(function()
    local b <close>, pb = bound()
    local a <close> = open { local_host = "localhost", remote_host = "localhost", remote_port = pb,
      family = "inet" }
    assert.equal("127.0.0.1", (a:getsockname()))
    a:send("named")
    assert.equal("named", b:recv())
  end))

  it("a name that does not resolve raises OSError", async(function()
    local e = catch(open, { remote_host = "no-such-host.invalid", remote_port = 53 })
    assert.is_true(is_err("OSError", e))
    assert.matches("^EAI_", e.code)
  end))

  it("an address in use raises OSError EADDRINUSE naming it; reuse_port shares a port", async(function()
    local a <close>, pa = bound()
    local e = catch(open, { local_host = "127.0.0.1", local_port = pa })
    assert.is_false(a:is_closing())
    assert.is_true(is_err("OSError", e))
    assert.equal("EADDRINUSE", e.code)
    assert.matches("bind 127.0.0.1:" .. pa, e.message, 1, true)
    local r1 <close>, pr = bound { reuse_port = true }
    local r2 <close> = open { local_host = "127.0.0.1", local_port = pr, reuse_port = true }
    assert.equal(pr, select(2, r2:getsockname()))
    assert.is_userdata(r1)
  end))

  it("an address that is not local raises OSError EADDRNOTAVAIL", async(function()
    local e = catch(open, { local_host = "192.0.2.123" })
    assert.is_true(is_err("OSError", e))
    assert.equal("EADDRNOTAVAIL", e.code)
  end))

  it6("works over IPv6 (::1), connected and not", async(function()
    local a <close>, pa = bound { local_host = "::1" }
    assert.equal("::1", (a:getsockname()))
    local b <close>, pb = bound { local_host = "::1" }
    a:sendto("six", "::1", pb)
    assert.same({ "six", "::1", pa }, { b:recvfrom() })
    local c <close> = open { remote_host = "::1", remote_port = pb }
    c:send("connected six")
    assert.equal("connected six", b:recv())
    assert.matches("connected to ::1 port " .. pb, tostring(c), 1, true)
    local e = catch(a.sendto, a, "x", "127.0.0.1", pb)
    check_argerr("sendto", e)
    assert.matches("numeric IPv6 address", tostring(e), 1, true)
  end))

  it6("family = 'inet6' alone binds ::", async(function()
    local s <close> = open { family = "inet6" }
    assert.equal("::", (s:getsockname()))
    local b <close>, pb = bound { local_host = "::1" }
    local c <close> = open { remote_host = "::1", remote_port = pb, family = "inet6" }
    c:send("x")
    local d, h = b:recvfrom()
    assert.equal("x", d)
    assert.equal("::1", h)
  end))
end)

describe("connected DatagramSocket", function()
  it("send needs no address, and only the peer's datagrams arrive", async(function()
    local srv <close>, ps = bound()
    local other <close> = bound()
    local c <close> = open { remote_host = "127.0.0.1", remote_port = ps }
    local _, pc = c:getsockname()
    c:send("hi")
    assert.same({ "hi", "127.0.0.1", pc }, { srv:recvfrom() })
    other:sendto("not from the peer", "127.0.0.1", pc)
    srv:sendto("from the peer", "127.0.0.1", pc)
    assert.same({ "from the peer", "127.0.0.1", ps }, { c:recvfrom() })
    assert.equal(0, c:dropped())
  end))

  it("sendto the peer's own address works; another address is an argument error", async(function()
    local srv <close>, ps = bound()
    local c <close> = open { remote_host = "127.0.0.1", remote_port = ps }
    c:sendto("same", "127.0.0.1", ps)
    assert.equal("same", srv:recv())
    local e = catch(c.sendto, c, "x", "127.0.0.1", ps + 1 > 65535 and 1 or ps + 1)
    check_argerr("sendto", e)
    assert.matches("connected", tostring(e))
  end))

  it("send on an unconnected socket raises OSError EDESTADDRREQ", async(function()
    local s <close> = bound()
    local e = catch(s.send, s, "x")
    assert.is_true(is_err("OSError", e))
    assert.equal("EDESTADDRREQ", e.code)
  end))

  it("ICMP port unreachable surfaces as OSError ECONNREFUSED from the next recv", async(function()
    local dead, pd = bound()
    dead:close()
    local c <close> = open { remote_host = "127.0.0.1", remote_port = pd }
    c:send("anyone?")
    local e = catch(c.recv, c)
    assert.is_true(is_err("OSError", e))
    assert.equal("ECONNREFUSED", e.code)
    assert.matches("recv 127.0.0.1:" .. pd, e.message, 1, true)
  end))

  it("... and from the next send", async(function()
    local dead, pd = bound()
    dead:close()
    local c <close> = open { remote_host = "127.0.0.1", remote_port = pd }
    c:send("anyone?")
    -- each send draws another ICMP error; the kernel may rate-limit them under load
    local e = poll(function()
      local ok, err = pcall(c.send, c, "again?")
      return not ok and err
    end, "the ICMP error", 15)
    assert.is_true(is_err("OSError", e))
    assert.equal("ECONNREFUSED", e.code)
  end, 20))

  it("the error is raised once; the socket goes on working", async(function()
    local srv, ps = bound()
    srv:close()
    local c <close> = open { remote_host = "127.0.0.1", remote_port = ps }
    c:send("x")
    assert.equal("ECONNREFUSED", catch(c.recv, c).code)
    local again <close> = open { local_host = "127.0.0.1", local_port = ps }
    c:send("now")
    assert.equal("now", again:recv())
  end))

  it("an unconnected socket is told of no ICMP error (as a plain sendto)", async(function()
    local dead, pd = bound()
    dead:close()
    local a <close>, pa = bound()
    local b <close>, pb = bound()
    a:sendto("lost", "127.0.0.1", pd)
    b:sendto("ping", "127.0.0.1", pa)
    assert.equal("ping", a:recv())
    a:sendto("pong", "127.0.0.1", pb)
    assert.equal("pong", b:recv())
  end))
end)

describe("the receive queue", function()
  it("a full queue drops and counts: queue = 4, 10 sent, 4 kept, dropped() == 6", async(function()
    local rx <close>, pr = bound { queue = 4 }
    local tx <close> = bound()
    for i = 1, 10 do tx:sendto("d" .. i, "127.0.0.1", pr) end
    poll(function() return rx:dropped() == 6 end, "6 drops")
    for i = 1, 4 do assert.equal("d" .. i, rx:recv()) end
    assert.equal(6, rx:dropped())
    local t = aio.spawn(function() return rx:recv() end)
    settle()
    assert.is_false(t:done())
    tx:sendto("next", "127.0.0.1", pr)
    assert.equal("next", t:await())
  end))

  it("the default queue keeps 1024 datagrams", async(function()
    local rx <close>, pr = bound()
    local tx <close> = bound()
    deliver(tx, pr, numbered(1030))
    assert.equal(6, rx:dropped())
    for i = 1, 1024 do assert.equal(tostring(i), rx:recv()) end
  end))

  it("queue = 0 keeps nothing, but a waiting receiver still gets its datagram", async(function()
    local rx <close>, pr = bound { queue = 0 }
    local tx <close> = bound()
    tx:sendto("dropped", "127.0.0.1", pr)
    poll(function() return rx:dropped() == 1 end, "1 drop")
    local t = aio.spawn(function() return rx:recv() end)
    settle()
    tx:sendto("kept", "127.0.0.1", pr)
    assert.equal("kept", t:await())
    assert.equal(1, rx:dropped())
  end))

  it("waiting receivers are served in order, one datagram each", async(function()
    local rx <close>, pr = bound()
    local tx <close> = bound()
    local got = {}
    local ts = {}
    for i = 1, 3 do ts[i] = aio.spawn(function() got[i] = rx:recv() end) end
    settle()
    for i = 1, 3 do tx:sendto("m" .. i, "127.0.0.1", pr) end
    for i = 1, 3 do ts[i]:await() end
    assert.same({ "m1", "m2", "m3" }, got)
  end))

  it("a cancelled receiver loses nothing: the next datagram goes to the next receiver", async(function()
    local rx <close>, pr = bound()
    local tx <close> = bound()
    local a = aio.spawn(function() return rx:recv() end)
    local b = aio.spawn(function() return rx:recv() end)
    settle()
    a:cancel()
    settle()
    assert.is_true(a:cancelled())
    tx:sendto("for b", "127.0.0.1", pr)
    assert.equal("for b", b:await())
    tx:sendto("kept", "127.0.0.1", pr)
    assert.equal("kept", rx:recv())
  end))

  it("a receiver cancelled after its datagram arrived passes it to the next one", async(function()
    local rx <close>, pr = bound()
    local tx <close> = bound()
    local a = aio.spawn(function() return rx:recv() end)
    a:set_name("udp-a")
    local b = aio.spawn(function() return rx:recv() end)
    settle()
    tx:sendto("for a, then b", "127.0.0.1", pr)
    -- the loop reads the datagram and wakes a; cancel a before it runs (dump_tasks shows it
    -- ready: this task goes round with sleep(0), so it runs before a in the round after)
    local woken = false
    for _ = 1, 100000 do
      local out = {}
      aio.dump_tasks({ write = function(_, x) out[#out + 1] = x end })
      woken = table.concat(out):find('"udp-a" ready', 1, true)
      if woken then break end
      aio.sleep(0)
    end
    assert.is_truthy(woken)
    a:cancel()
    assert.is_false(pcall(a.await, a))
    assert.is_true(a:cancelled())
    assert.equal("for a, then b", b:await())
  end))
end)

describe("broadcast", function()
  if not BROADCAST then
    pending("the kernel refused a broadcast to 127.255.255.255 on loopback here")
    return
  end

  it("allow_broadcast lets sendto reach the loopback broadcast address", async(function()
    local rx <close> = open { local_host = "0.0.0.0" }
    local _, pr = rx:getsockname()
    local tx <close> = open { allow_broadcast = true }
    tx:sendto("to all", "127.255.255.255", pr)
    assert.equal("to all", rx:recv())
  end))

  it("without it the system refuses (OSError EACCES); set_broadcast(true) allows it", async(function()
    local rx <close> = open { local_host = "0.0.0.0" }
    local _, pr = rx:getsockname()
    local tx <close> = open()
    local e = catch(tx.sendto, tx, "x", "127.255.255.255", pr)
    assert.is_true(is_err("OSError", e))
    assert.equal("EACCES", e.code)
    assert.matches("sendto 127.255.255.255:" .. pr, e.message, 1, true)
    tx:set_broadcast(true)
    tx:sendto("now", "127.255.255.255", pr)
    assert.equal("now", rx:recv())
    tx:set_broadcast(false)
    assert.equal("EACCES", catch(tx.sendto, tx, "x", "127.255.255.255", pr).code)
  end))
end)

describe("DatagramSocket options", function()
  it("set_ttl accepts 1 to 255", async(function()
    local s <close> = bound()
    s:set_ttl(1)
    s:set_ttl(255)
    check_argerr("set_ttl", catch(s.set_ttl, s, 0))
    check_argerr("set_ttl", catch(s.set_ttl, s, 256))
    check_argerr("set_ttl", catch(s.set_ttl, s, "x"))
    check_argerr("set_ttl", catch(s.set_ttl, s, 1.5))
  end))

  it("join_group and leave_group on a multicast group", async(function()
    local s <close> = open { local_host = "0.0.0.0" }
    local ok, e = pcall(s.join_group, s, "239.255.77.1", "127.0.0.1")
    if not ok then -- a kernel without multicast on loopback: it must still be an OSError
      assert.is_true(is_err("OSError", e))
      return
    end
    s:leave_group("239.255.77.1", "127.0.0.1")
    e = catch(s.leave_group, s, "239.255.77.1", "127.0.0.1")
    assert.is_true(is_err("OSError", e))
    assert.matches("leave_group 239.255.77.1", e.message, 1, true)
    check_argerr("join_group", catch(s.join_group, s, "not an address"))
    check_argerr("join_group", catch(s.join_group, s, {}))
    check_argerr("join_group", catch(s.join_group, s, "239.255.77.1", {}))
    check_argerr("leave_group", catch(s.leave_group, s))
  end))

  it("set_broadcast wants a boolean", async(function()
    local s <close> = bound()
    check_argerr("set_broadcast", catch(s.set_broadcast, s, "yes"))
    check_argerr("set_broadcast", catch(s.set_broadcast, s))
  end))
end)

describe("closing a DatagramSocket", function()
  it("close is idempotent; a closed socket says so", async(function()
    local s = bound()
    s:close()
    s:close()
    assert.is_true(s:is_closing())
    assert.equal("DatagramSocket<closed>", tostring(s))
    assert.is_nil(s:getsockname())
  end))

  it("a task waiting in recvfrom gets OSError ECANCELED", async(function()
    local s = bound()
    local t = aio.spawn(function() return s:recvfrom() end)
    local t2 = aio.spawn(function() return s:recv() end)
    settle()
    s:close()
    for _, x in ipairs { t, t2 } do
      local ok, e = pcall(x.await, x)
      assert.is_false(ok)
      assert.is_true(is_err("OSError", e))
      assert.equal("ECANCELED", e.code)
      assert.matches("the socket is closed", e.message, 1, true)
    end
  end))

  it("a call after close raises OSError EBADF; datagrams kept are gone", async(function()
    local s, ps = bound()
    local tx <close> = bound()
    tx:sendto("x", "127.0.0.1", ps)
    settle(10)
    s:close()
    for _, m in ipairs { "recvfrom", "recv" } do
      local e = catch(s[m], s)
      assert.is_true(is_err("OSError", e))
      assert.equal("EBADF", e.code)
      assert.matches(m .. ": the socket is closed", e.message, 1, true)
    end
    assert.equal("EBADF", catch(s.sendto, s, "x", "127.0.0.1", 9).code)
    assert.equal("EBADF", catch(s.send, s, "x").code)
    assert.equal("EBADF", catch(s.set_ttl, s, 3).code)
    assert.equal("EBADF", catch(s.set_broadcast, s, true).code)
    assert.equal("EBADF", catch(s.join_group, s, "239.1.1.1").code)
    assert.is_number(s:dropped())
  end))

  it("<close> closes it", async(function()
    local keep
    do
      local s <close> = bound()
      keep = s
    end
    assert.is_true(keep:is_closing())
  end))

  it("its port is free again once closed, or once the socket is collected", async(function()
    local s, port = bound()
    s:close()
    settle()
    open({ local_host = "127.0.0.1", local_port = port }):close()
    local function dropped_port() local _, p = bound() return p end
    local p2 = dropped_port()
    collectgarbage(); collectgarbage()
    settle()
    local again <close> = open { local_host = "127.0.0.1", local_port = p2 }
    assert.equal(p2, select(2, again:getsockname()))
  end))

  it("a runtime ending with open sockets and a waiting receiver closes them cleanly", function()
    local code = [[
      aio.run(function()
        local s = aio.open_datagram_endpoint { local_host = "127.0.0.1" }
        local kept = aio.open_datagram_endpoint { local_host = "127.0.0.1", queue = 2 }
        local _, p = kept:getsockname()
        s:sendto("pending", "127.0.0.1", p)
        s:sendto(("x"):rep(60000), "127.0.0.1", p)
        aio.spawn(function() s:recvfrom() end)
        aio.sleep(0.01)
        _G.keep = kept
      end)
      print("done")
    ]]
    local rc, out, err = run_lua(code)
    assert.equal(0, rc, err)
    assert.equal("done\n", out)
    rc, out, err = proc.run { code = "local aio = require 'luaio'\n" .. code }
    assert.equal(0, rc, err)
    assert.equal("done\n", out)
  end)
end)

describe("bad input", function()
  it("open_datagram_endpoint checks its options", async(function()
    local function bad(opts, pat)
      local e = catch(open, opts)
      check_argerr("open_datagram_endpoint", e)
      if pat then assert.matches(pat, tostring(e), 1, true) end
    end
    bad("x", "table expected")
    bad({ locl_host = "127.0.0.1" }, "unknown option 'locl_host'")
    bad({ local_host = 1 }, "local_host must be a string")
    bad({ local_host = "" }, "local_host must not be empty")
    bad({ remote_host = {} }, "remote_host must be a string")
    bad({ local_port = -1 }, "local_port must be an integer from 0 to 65535")
    bad({ local_port = 65536 })
    bad({ local_port = 1.5 })
    bad({ local_port = "http" }, "'http'")
    bad({ remote_host = "127.0.0.1" }, "remote_port is required")
    bad({ remote_port = 53 }, "remote_port given without remote_host")
    bad({ remote_host = "127.0.0.1", remote_port = 70000 }, "remote_port")
    bad({ family = "ipx" }, "family must be 'inet' or 'inet6'")
    bad({ family = 4 })
    bad({ reuse_port = "yes" }, "reuse_port must be a boolean")
    bad({ allow_broadcast = 1 }, "allow_broadcast must be a boolean")
    bad({ queue = -1 }, "queue must be an integer >= 0")
    bad({ queue = 2.5 })
    bad({ queue = "10" })
  end))

  it("a family that does not match the address raises OSError", async(function()
    local e = catch(open, { local_host = "127.0.0.1", family = "inet6" })
    assert.is_true(is_err("OSError", e))
    if HAVE6 then
      e = catch(open, { local_host = "::1", remote_host = "127.0.0.1", remote_port = 9 })
      assert.is_true(is_err("OSError", e))
      assert.equal("EAFNOSUPPORT", e.code)
    end
  end))

  it("sendto and send check data, host and port", async(function()
    local s <close> = bound()
    check_argerr("sendto", catch(s.sendto, s, {}, "127.0.0.1", 9))
    check_argerr("sendto", catch(s.sendto, s, nil, "127.0.0.1", 9))
    check_argerr("sendto", catch(s.sendto, s, "x", nil, 9))
    check_argerr("sendto", catch(s.sendto, s, "x", 127, 9))
    check_argerr("sendto", catch(s.sendto, s, "x", "127.0.0.1"))
    check_argerr("sendto", catch(s.sendto, s, "x", "127.0.0.1", -1))
    check_argerr("sendto", catch(s.sendto, s, "x", "127.0.0.1", 65536))
    check_argerr("sendto", catch(s.sendto, s, "x", "127.0.0.1", "port"))
    local e = catch(s.sendto, s, "x", "example.com", 9)
    check_argerr("sendto", e)
    assert.matches("numeric IPv4 address", tostring(e), 1, true)
    check_argerr("sendto", catch(s.sendto, s, "x", "127.0.0.1\0junk", 9))
    e = catch(s.sendto, s, ("x"):rep(65508), "127.0.0.1", 9)
    check_argerr("sendto", e)
    assert.matches("datagram too large (65508 bytes, at most 65507)", tostring(e), 1, true)
    check_argerr("send", catch(s.send, s, ("x"):rep(70000)))
    check_argerr("send", catch(s.send, s, {}))
    check_argerr("send", catch(s.send, s))
  end))

  it("methods check their receiver", async(function()
    local s <close> = bound()
    for _, m in ipairs { "sendto", "send", "recvfrom", "recv", "getsockname", "dropped", "close",
      "is_closing", "set_ttl", "set_broadcast", "join_group", "leave_group" } do
      check_argerr(m, catch(s[m], {}))
      check_argerr(m, catch(s[m]))
    end
  end))
end)

describe("datagrams as asyncio", function()
  it("open_datagram_endpoint is a task function: outside a task it raises", async(function()
    local ok, e = outside_task(open, {})
    assert.is_false(ok)
    assert.matches("open_datagram_endpoint: must be called from inside a task", e, 1, true)
  end))

  it("sendto never suspends: it works from a plain callback; recvfrom needs a task", async(function()
    local rx <close>, pr = bound()
    local tx <close> = bound()
    local ok = outside_task(tx.sendto, tx, "from a callback", "127.0.0.1", pr)
    assert.is_true(ok)
    assert.equal("from a callback", rx:recv())
    local ok2, e = outside_task(rx.recvfrom, rx)
    assert.is_false(ok2)
    assert.matches("recvfrom: must be called from inside a task", e, 1, true)
  end))

  it("datagrams kept come out in order while the queue grows and wraps", async(function()
    local rx <close>, pr = bound { queue = 5000 }
    local tx <close> = bound()
    deliver(tx, pr, numbered(20, ":" .. ("y"):rep(3000)))
    for i = 1, 5 do assert.equal(i, tonumber(rx:recv():match("^%d+"))) end
    local more = numbered(40, ":z")
    for k = 1, 40 do more[k] = tostring(k + 20) .. ":z" end
    deliver(tx, pr, more)
    for i = 6, 60 do assert.equal(i, tonumber(rx:recv():match("^%d+"))) end
    assert.equal(0, rx:dropped())
  end))

  it("a task waiting in recvfrom shows in dump_tasks", async(function()
    local s <close> = bound()
    local t = aio.spawn(function() return s:recvfrom() end)
    settle()
    local out = {}
    aio.dump_tasks({ write = function(_, x) out[#out + 1] = x end })
    local text = table.concat(out, "\n")
    assert.matches("a datagram", text, 1, true)
    t:cancel()
    assert.is_false(pcall(t.await, t))
  end))
end)
