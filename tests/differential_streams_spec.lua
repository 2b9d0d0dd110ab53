-- differential_streams_spec.lua — streams behaviours checked against CPython
-- asyncio: the same scenario was run on python3 asyncio (3.11; the 3.12 code paths named
-- below are the same). Each spec failed before its fix and stays as its regression test.
-- Only 127.0.0.1 is used.
local aio = require "luaio"
local async = require "support.async"

local function port_of(srv) return select(2, srv.sockets[1]:getsockname()) end

describe("differential: streams vs asyncio", function()
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

  -- 3. asyncio's _SelectorSocketTransport caches 'peername' / 'sockname' in its extra dict
  --    when the connection is made, so writer.get_extra_info("peername") still returns the
  --    address after writer.close() (python: ('127.0.0.1', port) after close and after
  --    wait_closed) and after the peer reset the connection. luaio documents that
  --    get_extra_info "peername"/"sockname" return host, port. luaio: nil once the writer is
  --    closing.
  it("get_extra_info('peername'/'sockname') still answer after close()", async(function()
    local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
    local port = port_of(srv)
    local _, w = aio.open_connection("127.0.0.1", port)
    local shost, sport = w:get_extra_info("sockname")
    w:close()
    local h1, p1 = w:get_extra_info("peername")
    w:wait_closed()
    local h2, p2 = w:get_extra_info("peername")
    local h3, p3 = w:get_extra_info("sockname")
    srv:close()
    assert.same({ "127.0.0.1", port }, { h1, p1 })
    assert.same({ "127.0.0.1", port }, { h2, p2 })
    assert.same({ shost, sport }, { h3, p3 })
  end))

  it("get_extra_info('peername') still answers after the peer reset the connection",
    async(function()
      local done = aio.Future()
      local srv = aio.start_server(function(r, w)
        local before = { w:get_extra_info("peername") }
        pcall(r.read, r) -- ends with the reset
        done:set_result(before, { w:get_extra_info("peername") })
      end, "127.0.0.1", 0)
      local port = port_of(srv)
      -- a raw peer that sends, then closes with SO_LINGER 0 (RST)
      local cmd = ("python3 -c \"import socket,struct,time;s=socket.create_connection(('127.0.0.1',%d));"
        .. "s.send(b'abc');time.sleep(0.2);s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,"
        .. "struct.pack('ii',1,0));s.close()\" &"):format(port)
      local p = io.popen(cmd)
      local before, after = done:await()
      p:close()
      srv:close()
      assert.equal("127.0.0.1", before[1])
      assert.same(before, after)
    end))

  -- 4. asyncio: writer.write() after writer.close() is silently dropped
  --    (_SelectorSocketTransport.write: `if self._conn_lost: ... return`), and write_eof()
  --    after close() is a no-op (`if self._closing or self._eof: return`). python3:
  --    w.close(); w.write(b"x") -> None; w.write_eof() -> None.
  --    luaio: both raise RuntimeError "...: the writer is closed".
  it("write() / write_eof() after close() do not raise", async(function()
    local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
    local _, w = aio.open_connection("127.0.0.1", port_of(srv))
    w:close()
    local ok1, e1 = pcall(w.write, w, "x")
    local ok2, e2 = pcall(w.write_eof, w)
    w:wait_closed()
    srv:close()
    assert.is_true(ok1, tostring(e1))
    assert.is_true(ok2, tostring(e2))
  end))

  -- 5. asyncio StreamWriter.drain() after close(): is_closing() -> sleep(0), then
  --    _drain_helper raises ConnectionResetError('Connection lost') (an OSError).
  --    python3: w.close(); await w.wait_closed(); await w.drain() -> ConnectionResetError.
  --    luaio: drain() returns normally, so a `write(); drain()` loop on a closed writer
  --    never notices.
  it("drain() after close() raises OSError", async(function()
    local srv = aio.start_server(function(r) r:read() end, "127.0.0.1", 0)
    local _, w = aio.open_connection("127.0.0.1", port_of(srv))
    w:close()
    w:wait_closed()
    local ok, e = pcall(w.drain, w)
    srv:close()
    assert.is_false(ok)
    assert.equal("OSError", type(e) == "table" and e.name or tostring(e))
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
