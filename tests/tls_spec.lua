-- tls_spec.lua — TLS over the streams (OpenSSL 3 through memory BIOs): aio.ssl_context,
-- the ssl options of open_connection / start_server and their Unix variants,
-- StreamWriter:start_tls, the TLS names of get_extra_info, SSLError. A CA and the
-- certificates are made at test time with the openssl command in a temporary directory.
-- Peers no one here wrote: openssl s_server / s_client, Python's ssl, curl.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local arg_error = require "support.arg_error"
local with_handler = require "support.with_handler"
local port_of = require "support.port_of"
local free_port = require "support.free_port"
local poll = require "support.poll"
local fs = require "support.fs"
local q = require "support.quote"
local bin = require "support.bin"

-- f(table.unpack(args)) raises an argument error: #argn of fname, message matching pat
local function check_argerr(f, args, argn, fname, pat)
  local e = catch(f, table.unpack(args, 1, args.n or #args))
  arg_error(fname, e)
  assert.matches("#" .. argn, tostring(e), 1, true)
  assert.matches(pat, tostring(e))
end

-- a CA, a server certificate (localhost, 127.0.0.1) and a client certificate it signed,
-- a self-signed one and an expired one (signed by the CA, valid only in 2020)
local dir, path = require("support.tls_certs").make()

local function server_ctx(name, extra)
  local o = { server = true, certfile = path((name or "server") .. ".pem"), keyfile = path((name or "server") .. ".key") }
  for k, v in pairs(extra or {}) do o[k] = v end
  return aio.ssl_context(o)
end

local function client_ctx(extra)
  local o = { cafile = path("ca.pem") }
  for k, v in pairs(extra or {}) do o[k] = v end
  return aio.ssl_context(o)
end

-- an echo server: each line back in upper case, until EOF
local function echo_server(ctx, opts)
  opts = opts or {}
  opts.ssl = ctx or server_ctx()
  return aio.start_server(function(r, w)
    for line in r:lines() do
      w:write(line:upper() .. "\n")
      w:drain()
    end
  end, "127.0.0.1", 0, opts)
end

local function connect(srv, opts)
  opts = opts or {}
  if opts.ssl == nil then opts.ssl = client_ctx() end
  if opts.server_hostname == nil and opts.ssl ~= false then opts.server_hostname = "localhost" end
  return aio.open_connection("127.0.0.1", port_of(srv), opts)
end

-- a background process whose stdout we watch (s_server): started, then waited for
local function start_proc(program, args)
  return aio.create_subprocess_exec(program, args, { stdout = "pipe", stderr = "pipe", stdin = "pipe" })
end

local function stop_proc(p)
  pcall(p.kill, p)
  p:wait()
end

local function shell(cmd, input)
  local p = aio.create_subprocess_shell(cmd, { stdout = "pipe", stderr = "pipe", stdin = "pipe" })
  local out, err = p:communicate(input or "")
  return out, err, p.returncode
end

teardown(function() fs.rmdir(dir) end)

describe("aio.ssl_context", function()
  it("makes client and server contexts", function()
    assert.matches("SSLContext<client>", tostring(aio.ssl_context()))
    assert.matches("SSLContext<server>", tostring(server_ctx()))
    aio.ssl_context({ verify = false, alpn = { "h2" }, min_version = "TLSv1.3", ciphers = "HIGH" })
  end)

  it("rejects bad options", function()
    check_argerr(aio.ssl_context, { { nope = 1 } }, 1, "ssl_context", "unknown option 'nope'")
    check_argerr(aio.ssl_context, { { verify = "yes" } }, 1, "ssl_context", "verify must be a boolean")
    check_argerr(aio.ssl_context, { { min_version = "TLSv1.0" } }, 1, "ssl_context", "min_version")
    check_argerr(aio.ssl_context, { { alpn = { "" } } }, 1, "ssl_context", "alpn%[1%]")
    check_argerr(aio.ssl_context, { { server = true } }, 1, "ssl_context", "needs certfile")
    check_argerr(aio.ssl_context, { 5 }, 1, "ssl_context", "table expected")
  end)

  it("raises OSError for a missing file and SSLError for a bad one", function()
    local e = catch(aio.ssl_context, { cafile = path("missing.pem") })
    assert.is_true(is_err("OSError", e))
    assert.equal("ENOENT", e.code)
    e = catch(aio.ssl_context, { server = true, certfile = path("ext.cnf") })
    assert.is_true(is_err("SSLError", e))
    assert.is_string(e.reason)
    e = catch(aio.ssl_context, { server = true, certfile = path("server.pem"), keyfile = path("client.key") })
    assert.is_true(is_err("SSLError", e))
    e = catch(aio.ssl_context, { ciphers = "NOTACIPHER" })
    assert.is_true(is_err("SSLError", e))
  end)
end)

describe("TLS connections", function()
  it("carry every reader method between a luaio client and server", async(function()
    local srv = aio.start_server(function(r, w)
      w:write(r:readline())
      w:write(r:readexactly(5))
      w:write(r:readuntil("END"))
      local big = r:readexactly(1024 * 1024)
      w:write(#big .. "\n")
      w:write(big)
      w:drain()
      assert.equal("", r:read()) -- the client's close_notify
      assert.is_true(r:at_eof())
      w:close()
    end, "127.0.0.1", 0, { ssl = server_ctx() })
    local r, w = connect(srv)
    w:write("line one\n12345abcEND")
    assert.equal("line one\n", r:readline())
    assert.equal("12345", r:readexactly(5))
    assert.equal("abcEND", r:readuntil("END"))
    local big = {}
    for i = 1, 1024 do big[i] = string.rep(string.char(65 + i % 26), 1024) end
    big = table.concat(big)
    w:write(big)
    w:drain()
    assert.equal("1048576\n", r:readline())
    assert.equal(big, r:readexactly(#big))
    w:close()
    assert.equal("", r:read())
    w:wait_closed()
    srv:close()
    srv:wait_closed()
  end, 10))

  it("keep the reader's limit (LimitOverrunError) and can_write_eof is false", async(function()
    local srv = aio.start_server(function(r, w)
      w:write(string.rep("x", 100) .. "\n")
      w:drain()
      r:read()
    end, "127.0.0.1", 0, { ssl = server_ctx() })
    local r, w = connect(srv, { limit = 10 })
    local e = catch(r.readline, r)
    assert.is_true(is_err("LimitOverrunError", e))
    assert.is_false(w:can_write_eof())
    assert.is_true(is_err("RuntimeError", catch(w.write_eof, w)))
    w:close()
    srv:close()
  end))

  it("answer get_extra_info: peercert, cipher, alpn_protocol, tls_version, SNI", async(function()
    local seen = {}
    local srv = aio.start_server(function(r, w)
      seen.sni = w:get_extra_info("server_hostname")
      seen.alpn = w:get_extra_info("alpn_protocol")
      seen.peercert = w:get_extra_info("peercert")
      w:write("hi\n")
      r:read()
    end, "127.0.0.1", 0, { ssl = server_ctx(nil, { alpn = { "h2", "http/1.1" } }) })
    local r, w = connect(srv, { ssl = client_ctx({ alpn = { "http/1.1" } }) })
    assert.equal("hi\n", r:readline())
    local pc = w:get_extra_info("peercert")
    assert.equal("CN=localhost", pc.subject)
    assert.equal("CN=luaio test CA", pc.issuer)
    assert.matches("GMT", pc.not_before)
    assert.matches("GMT", pc.not_after)
    assert.same({ "DNS:localhost", "IP:127.0.0.1" }, pc.subject_alt_names)
    local c = w:get_extra_info("cipher")
    assert.is_string(c.name)
    assert.equal(c.name, c[1])
    assert.equal("TLSv1.3", c.version)
    assert.is_true(c.bits >= 128)
    assert.equal("TLSv1.3", w:get_extra_info("tls_version"))
    assert.equal("http/1.1", w:get_extra_info("alpn_protocol"))
    assert.equal("localhost", seen.sni)
    assert.equal("http/1.1", seen.alpn)
    assert.is_nil(seen.peercert) -- the client sent no certificate
    assert.equal("127.0.0.1", (w:get_extra_info("peername")))
    w:close()
    srv:close()
  end))

  it("use the system CA store with ssl = true (and fail closed on a private CA)", async(function()
    local e
    with_handler(function()
      local srv = echo_server()
      e = catch(connect, srv, { ssl = true })
      srv:close()
    end)
    assert.is_true(is_err("SSLError", e))
    assert.equal("CERTIFICATE_VERIFY_FAILED", e.reason)
  end))

  it("work over Unix sockets", async(function()
    local p = os.tmpname()
    os.remove(p)
    p = p .. ".sock"
    local srv = aio.start_unix_server(function(r, w)
      w:write(r:readline():upper())
      w:drain()
      r:read()
    end, p, { ssl = server_ctx() })
    local r, w = aio.open_unix_connection(p, { ssl = client_ctx(), server_hostname = "localhost" })
    w:write("unix\n")
    assert.equal("UNIX\n", r:readline())
    assert.equal("TLSv1.3", w:get_extra_info("tls_version"))
    w:close()
    srv:close()
    os.remove(p)
  end))

  it("negotiate TLS 1.2 with a peer limited to it, and min_version TLSv1.3 refuses it", async(function()
    local port = free_port()
    local p = start_proc("openssl", { "s_server", "-accept", tostring(port), "-cert", path("server.pem"),
      "-key", path("server.key"), "-tls1_2", "-rev" })
    local ok, err = pcall(function()
      local line
      repeat line = p.stdout:readline() until line:find("ACCEPT") or line == ""
      local r, w = aio.open_connection("127.0.0.1", port, { ssl = client_ctx(), server_hostname = "localhost" })
      assert.equal("TLSv1.2", w:get_extra_info("tls_version"))
      w:write("abc\n")
      repeat line = r:readline() until line:find("cba")
      assert.equal("cba\n", line)
      w:close()
      local e = catch(aio.open_connection, "127.0.0.1", port,
        { ssl = client_ctx({ min_version = "TLSv1.3" }), server_hostname = "localhost" })
      assert.is_true(is_err("SSLError", e))
      assert.is_string(e.reason)
    end)
    stop_proc(p)
    assert(ok, err)
  end))
end)

describe("verification fails closed", function()
  local function try(name, opts)
    local ok, e
    with_handler(function() -- the server's side of the failure goes to the handler
      local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0, { ssl = server_ctx(name) })
      local w
      ok, e, w = pcall(connect, srv, opts)
      if ok then w:close() end
      srv:close()
    end)
    return ok, e
  end

  it("on a self-signed server", async(function()
    local ok, e = try("self")
    assert.is_false(ok)
    assert.is_true(is_err("SSLError", e))
    assert.equal("CERTIFICATE_VERIFY_FAILED", e.reason)
    assert.matches("self.signed", e.message)
  end))

  it("on a wrong host name", async(function()
    local ok, e = try(nil, { server_hostname = "wrong.example" })
    assert.is_false(ok)
    assert.equal("CERTIFICATE_VERIFY_FAILED", e.reason)
    assert.matches("hostname mismatch", e.message)
  end))

  it("on an expired certificate", async(function()
    local ok, e = try("expired")
    assert.is_false(ok)
    assert.equal("CERTIFICATE_VERIFY_FAILED", e.reason)
    assert.matches("expired", e.message)
  end))

  it("and verify = false connects", async(function()
    local ok, r = try("self", { ssl = aio.ssl_context({ verify = false }) })
    assert.is_true(ok, tostring(r))
  end))

  it("and a server with verify = true rejects a client without a certificate", async(function()
    with_handler(function(seen)
      local sctx = server_ctx(nil, { verify = true, cafile = path("ca.pem") })
      local srv = aio.start_server(function(r, w)
        w:write("welcome " .. w:get_extra_info("peercert").subject .. "\n")
        r:read()
      end, "127.0.0.1", 0, { ssl = sctx })
      -- without a certificate: TLS 1.3 finishes the client's side first, the alert follows
      local ok, e = pcall(function()
        local r, w <close> = connect(srv) -- luacheck: ignore w
        return r:readline()
      end)
      assert.is_false(ok)
      assert.is_true(is_err("SSLError", e))
      poll(function() return #seen > 0 end, "the handshake failure report")
      assert.equal("SSL handshake failed", seen[1].message)
      assert.is_true(is_err("SSLError", seen[1].exception))
      -- with one: served
      local r, w = connect(srv, { ssl = client_ctx({ certfile = path("client.pem"), keyfile = path("client.key") }) })
      assert.equal("welcome CN=client\n", r:readline())
      w:close()
      srv:close()
    end)
  end))
end)

describe("a TLS server", function()
  it("survives a failed handshake, plain HTTP, random bytes, a reset and a stalled handshake", async(function()
    with_handler(function(seen)
      local srv = echo_server(nil, { ssl_handshake_timeout = 0.3 })
      local port = port_of(srv)
      -- a client that rejects the server
      assert.is_false(pcall(connect, srv, { ssl = aio.ssl_context() }))
      -- plain HTTP
      local r, w = aio.open_connection("127.0.0.1", port)
      w:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      r:read()
      w:close()
      -- 1 MiB of random bytes
      local f = assert(io.open("/dev/urandom", "rb"))
      local junk = f:read(1024 * 1024)
      f:close()
      r, w = aio.open_connection("127.0.0.1", port)
      w:write(junk)
      pcall(r.read, r)
      w:close()
      -- a ClientHello cut in the middle of the record, then a reset
      local _, w3 = aio.open_connection("127.0.0.1", port)
      w3:write("\22\3\1\2\0\1\0\1\252\3\3")
      aio.sleep(0.05)
      w3:close()
      -- a handshake that never finishes: the server times out
      local r2, w2 = aio.open_connection("127.0.0.1", port)
      assert.equal("", r2:read()) -- closed by the server after ssl_handshake_timeout
      w2:close()
      poll(function() return #seen >= 5 end, "five handshake failures")
      local timeouts = 0
      for _, ctx in ipairs(seen) do
        assert.equal("SSL handshake failed", ctx.message)
        if ctx.exception.name == "TimeoutError" then timeouts = timeouts + 1 end
      end
      assert.is_true(timeouts >= 1)
      -- and it keeps serving
      local cr, cw = connect(srv)
      cw:write("still here\n")
      assert.equal("STILL HERE\n", cr:readline())
      cw:close()
      assert.is_true(srv:is_serving())
      srv:close()
    end)
  end, 10))

  it("reads EOF, not an error, when a peer vanishes without close_notify", async(function()
    local done = aio.Future()
    local srv = aio.start_server(function(r, w)
      w:write("hi\n")
      done:set_result({ pcall(r.read, r) })
    end, "127.0.0.1", 0, { ssl = server_ctx() })
    -- a luaio client that reads its line and exits without closing: the socket ends with a
    -- plain FIN, no close_notify
    fs.write(path("vanish.lua"), ([[
local aio = require "luaio"
aio.run(function()
  local r = aio.open_connection("127.0.0.1", %d, { ssl = aio.ssl_context({ cafile = %q }), server_hostname = "localhost" })
  io.write(r:readline())
  io.stdout:flush()
  os.exit(0, false)
end)
]]):format(port_of(srv), path("ca.pem")))
    local p = start_proc(bin, { path("vanish.lua") })
    assert.equal("hi\n", p.stdout:read())
    p:wait()
    local got = done:await()
    srv:close()
    assert.is_true(got[1], tostring(got[2]))
    assert.equal("", got[2])
  end))
end)

describe("interop", function()
  it("with openssl s_client against a luaio server", async(function()
    local srv = aio.start_server(function(r, w) -- one line, then close (s_client then exits)
      w:write(r:readline():upper())
    end, "127.0.0.1", 0, { ssl = server_ctx() })
    local out, err, code = shell(("openssl s_client -connect 127.0.0.1:%d -CAfile %s -servername localhost "
      .. "-verify_return_error -quiet"):format(port_of(srv), q(path("ca.pem"))), "hello s_client\n")
    assert.equal(0, code, err)
    assert.equal("HELLO S_CLIENT\n", out)
    srv:close()
  end))

  it("with curl against a luaio HTTPS server", async(function()
    local srv = aio.start_server(function(r, w)
      while r:readline() ~= "\r\n" do end
      w:write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n")
      w:drain()
    end, "127.0.0.1", 0, { ssl = server_ctx(nil, { alpn = { "http/1.1" } }) })
    local port = port_of(srv)
    -- curl hangs under the sanitizer runner's LD_PRELOAD of libasan: it runs without it
    local out, err, code = shell(("env -u LD_PRELOAD curl -sS --cacert %s --resolve localhost:%d:127.0.0.1 https://localhost:%d/"):format(
      q(path("ca.pem")), port, port))
    assert.equal(0, code, err)
    assert.equal("hello\n", out)
    srv:close()
  end, 10))

  it("with a Python asyncio ssl client against a luaio server", async(function()
    local srv = echo_server()
    local py = ([[
import asyncio, ssl
async def main():
    ctx = ssl.create_default_context(cafile=%q)
    r, w = await asyncio.open_connection("127.0.0.1", %d, ssl=ctx, server_hostname="localhost")
    w.write(b"from python\n")
    print((await r.readline()).decode(), end="")
    print(w.get_extra_info("ssl_object").version())
    w.close()
    await w.wait_closed()
asyncio.run(main())
]]):format(path("ca.pem"), port_of(srv))
    local out, err, code = shell("/usr/bin/python3 -", py)
    assert.equal(0, code, err)
    assert.equal("FROM PYTHON\nTLSv1.3\n", out)
    srv:close()
  end))

  it("with a Python asyncio ssl server against a luaio client", async(function()
    local port = free_port()
    local py = ([[
import asyncio, ssl, sys
async def handle(r, w):
    w.write((await r.readline()).upper())
    await w.drain()
    w.close()
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(%q, %q)
    srv = await asyncio.start_server(handle, "127.0.0.1", %d, ssl=ctx)
    print("ready", flush=True)
    await asyncio.sleep(5)
asyncio.run(main())
]]):format(path("server.pem"), path("server.key"), port)
    local p = start_proc("/usr/bin/python3", { "-c", py })
    local ok, err = pcall(function()
      assert.equal("ready\n", p.stdout:readline())
      local r, w = aio.open_connection("localhost", port, { ssl = client_ctx(), family = "inet" })
      w:write("from luaio\n")
      assert.equal("FROM LUAIO\n", r:readline())
      assert.equal("", r:read())
      w:close()
    end)
    stop_proc(p)
    assert(ok, err)
  end))
end)

describe("StreamWriter:start_tls", function()
  it("upgrades a connection in place, STARTTLS style", async(function()
    local sctx = server_ctx()
    local srv = aio.start_server(function(r, w)
      w:write("220 ready\n")
      assert.equal("STARTTLS\n", r:readline())
      w:write("220 go ahead\n")
      w:start_tls(sctx)
      assert.equal("TLSv1.3", w:get_extra_info("tls_version"))
      for line in r:lines() do w:write("secure " .. line .. "\n") end
    end, "127.0.0.1", 0)
    local r, w = aio.open_connection("127.0.0.1", port_of(srv))
    assert.equal("220 ready\n", r:readline())
    assert.is_nil(w:get_extra_info("tls_version"))
    w:write("STARTTLS\n")
    assert.equal("220 go ahead\n", r:readline())
    w:start_tls(client_ctx(), { server_hostname = "localhost" })
    w:write("hello\n")
    assert.equal("secure hello\n", r:readline())
    assert.equal("CN=localhost", w:get_extra_info("peercert").subject)
    w:close()
    srv:close()
  end))

  it("rejects bad arguments and a second upgrade", async(function()
    local srv = echo_server()
    local r, w = connect(srv)
    check_argerr(w.start_tls, { w, "ctx" }, 2, "start_tls", "SSLContext expected")
    check_argerr(w.start_tls, { w, client_ctx(), { bogus = 1 } }, 3, "start_tls", "unknown option 'bogus'")
    check_argerr(w.start_tls, { 42, client_ctx() }, 1, "start_tls", "StreamWriter expected, got number")
    local e = catch(w.start_tls, w, client_ctx(), { server_hostname = "localhost" })
    assert.is_true(is_err("RuntimeError", e))
    w:close()
    local _ = r
    srv:close()
  end))
end)

describe("ssl options", function()
  it("are checked", async(function()
    check_argerr(aio.open_connection, { "127.0.0.1", 1, { ssl = 5 } }, 3, "open_connection", "ssl must be true or an SSLContext")
    check_argerr(aio.open_connection, { "127.0.0.1", 1, { ssl = server_ctx() } }, 3, "open_connection", "client SSLContext")
    check_argerr(aio.open_connection, { "127.0.0.1", 1, { ssl = true, ssl_handshake_timeout = -1 } }, 3,
      "open_connection", "ssl_handshake_timeout")
    check_argerr(aio.start_server, { function() end, "127.0.0.1", 0, { ssl = true } }, 4, "start_server", "server SSLContext")
    check_argerr(aio.start_server, { function() end, "127.0.0.1", 0, { ssl = client_ctx() } }, 4, "start_server", "server SSLContext")
    local e = catch(aio.open_connection, "127.0.0.1", 1, { server_hostname = "x" })
    assert.is_true(is_err("ValueError", e))
  end))

  it("time a handshake out with TimeoutError", async(function()
    -- a plain server that never answers the ClientHello
    local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
    local t0 = aio.time()
    local e = catch(connect, srv, { ssl_handshake_timeout = 0.2 })
    assert.is_true(is_err("TimeoutError", e))
    assert.is_true(aio.time() - t0 < 2)
    srv:close()
  end))
end)

describe("TLS as asyncio", function()
  it("raises SSLError whose reason names the failure, as ssl.SSLError", async(function()
    local e
    with_handler(function()
      local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0, { ssl = server_ctx("self") })
      e = catch(connect, srv)
      srv:close()
    end)
    assert.equal("SSLError", e.name)
    assert.equal("CERTIFICATE_VERIFY_FAILED", e.reason)
    assert.is_number(e.verify_code)
    assert.is_string(e.verify_message)
  end))

  it("closes with close_notify: the peer reads EOF", async(function()
    local srv = aio.start_server(function(_, w)
      w:write("bye\n")
      w:close()
    end, "127.0.0.1", 0, { ssl = server_ctx() })
    local r, w = connect(srv)
    assert.equal("bye\n", r:read())
    assert.equal("", r:read())
    assert.is_nil(r:exception())
    w:close()
    srv:close()
  end))
end)
