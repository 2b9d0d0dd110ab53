-- stream_spec.lua — StreamReader / StreamWriter: every reader method against data split at
-- every byte boundary (fed by hand, then over TCP), limits and flow control, writer
-- buffering, drain and close.
local aio = require "luaio"
local async = require "support.async"

-- a small deterministic generator, independent of math.random's state
local function lcg(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

local ALPHABET = { "a", "b", "\n", "\r", "-", "x", "\r\n", "--", "\r\n--", "yz" }
local function payloads(count, seed)
  local rnd, out = lcg(seed), {}
  for i = 1, count do
    local parts = {}
    for j = 1, rnd(24) - 1 do parts[j] = ALPHABET[rnd(#ALPHABET)] end
    out[i] = table.concat(parts)
  end
  out[#out + 1] = ""
  out[#out + 1] = "\n"
  out[#out + 1] = "no newline at all"
  return out
end

local function splits(p, rnd)
  local out = {}
  for i = 0, #p do out[#out + 1] = { p:sub(1, i), p:sub(i + 1) } end -- every boundary
  for _ = 1, 3 do -- and a few random multi-chunk splits
    local chunks, i = {}, 1
    while i <= #p do
      local n = rnd(4)
      chunks[#chunks + 1] = p:sub(i, i + n - 1)
      i = i + n
    end
    out[#out + 1] = chunks
  end
  return out
end

-- what each method should give on payload p (pure Lua models)
local function split_keep(p, sep)
  local out, i = {}, 1
  while true do
    local a, b = p:find(sep, i, true)
    if not a then return out, p:sub(i) end
    out[#out + 1] = p:sub(i, b)
    i = b + 1
  end
end

local methods = {
  readline = function(r)
    local out = {}
    while true do
      local l = r:readline()
      if l == "" then return out end
      out[#out + 1] = l
    end
  end,
  lines = function(r)
    local out = {}
    for l in r:lines() do out[#out + 1] = l end
    return out
  end,
  readuntil = function(r)
    local out = {}
    while true do
      local ok, v = pcall(r.readuntil, r, "\r\n--")
      if not ok then
        assert(getmetatable(v) == aio.IncompleteReadError, tostring(v))
        out[#out + 1] = { partial = v.partial, expected = v.expected }
        return out
      end
      out[#out + 1] = v
    end
  end,
  readexactly = function(r)
    local out = {}
    while true do
      local ok, v = pcall(r.readexactly, r, 3)
      if not ok then
        assert(getmetatable(v) == aio.IncompleteReadError, tostring(v))
        out[#out + 1] = { partial = v.partial, expected = v.expected }
        return out
      end
      out[#out + 1] = v
    end
  end,
  read2 = function(r)
    local out = {}
    while true do
      local s = r:read(2)
      assert(#s <= 2)
      if s == "" then return { table.concat(out) } end
      out[#out + 1] = s
    end
  end,
  readall = function(r) return { r:read(), r:read() } end,
}

local function expected(name, p)
  if name == "readline" then
    local out, rest = split_keep(p, "\n")
    if rest ~= "" then out[#out + 1] = rest end
    return out
  elseif name == "lines" then
    local out, rest = split_keep(p, "\n")
    for i, l in ipairs(out) do out[i] = l:gsub("\r?\n$", "") end
    if rest ~= "" then out[#out + 1] = rest end
    return out
  elseif name == "readuntil" then
    local out, rest = split_keep(p, "\r\n--")
    out[#out + 1] = { partial = rest }
    return out
  elseif name == "readexactly" then
    local out, i = {}, 1
    while i + 2 <= #p do out[#out + 1] = p:sub(i, i + 2); i = i + 3 end
    out[#out + 1] = { partial = p:sub(i), expected = 3 }
    return out
  elseif name == "read2" then
    return { p }
  else
    return { p, "" }
  end
end

-- feeds chunks from another task, yielding between them so the reader waits mid-record
local function run_fed(name, chunks)
  local r = aio.StreamReader()
  local consumer = aio.spawn(methods[name], r)
  for _, c in ipairs(chunks) do
    aio.sleep(0)
    r:feed_data(c)
  end
  aio.sleep(0)
  r:feed_eof()
  return consumer:await()
end

describe("StreamReader", function()
  local ps = payloads(300, 7)

  for _, name in ipairs({ "readline", "lines", "readuntil", "readexactly", "read2", "readall" }) do
    it(name .. " gives the same answer however the data is split", async(function()
      local rnd = lcg(99)
      local checked = 0
      for _, p in ipairs(ps) do
        local want = expected(name, p)
        for _, chunks in ipairs(splits(p, rnd)) do
          local got = run_fed(name, chunks)
          assert.same(want, got)
          checked = checked + 1
        end
      end
      assert.is_true(checked > 3000)
    end, 60))
  end

  it("readline keeps the newline and returns the partial last line, then ''", async(function()
    local r = aio.StreamReader()
    r:feed_data("one\ntwo")
    r:feed_eof()
    assert.equal("one\n", r:readline())
    assert.equal("two", r:readline())
    assert.equal("", r:readline())
    assert.is_true(r:at_eof())
  end))

  it("lines() strips \\n and \\r\\n like io.lines", async(function()
    local r = aio.StreamReader()
    r:feed_data("a\r\nb\n\nc")
    r:feed_eof()
    local got = {}
    for l in r:lines() do got[#got + 1] = l end
    assert.same({ "a", "b", "", "c" }, got)
  end))

  it("read(0) is '' and read() reads to EOF", async(function()
    local r = aio.StreamReader()
    assert.equal("", r:read(0))
    aio.spawn(function() r:feed_data("ab"); aio.sleep(0); r:feed_data("cd"); r:feed_eof() end)
    assert.equal("abcd", r:read())
    assert.equal("", r:read())
    assert.equal("", r:read(5))
  end))

  it("readexactly raises IncompleteReadError with partial and expected", async(function()
    local r = aio.StreamReader()
    r:feed_data("abc")
    r:feed_eof()
    local ok, e = pcall(r.readexactly, r, 5)
    assert.is_false(ok)
    assert.equal("IncompleteReadError", e.name)
    assert.equal("abc", e.partial)
    assert.equal(5, e.expected)
    assert.equal("", r:readexactly(0))
  end))

  it("readuntil takes multi-byte separators and raises LimitOverrunError, keeping the data", async(function()
    local r = aio.StreamReader({ limit = 8 })
    r:feed_data("0123456789abcdef")
    local ok, e = pcall(r.readuntil, r, "XY")
    assert.is_false(ok)
    assert.equal("LimitOverrunError", e.name)
    assert.is_true(e.consumed > 8)
    assert.equal(16, r:buffered())            -- the data stays
    assert.equal("0123", r:read(4))
    r:feed_data("XY")
    -- the separator is found, but past the limit
    local ok2, e2 = pcall(r.readuntil, r, "XY")
    assert.is_false(ok2)
    assert.equal("LimitOverrunError", e2.name)
    assert.equal(12, e2.consumed)
    assert.equal("456789abcdefXY", r:read(100))
    r:feed_data("ab--cd")
    assert.equal("ab--", r:readuntil("--"))
  end))

  it("readline past the limit raises LimitOverrunError and drops the line", async(function()
    local r = aio.StreamReader({ limit = 4 })
    r:feed_data("toolongline\nok\n")
    local ok, e = pcall(r.readline, r)
    assert.is_false(ok)
    assert.equal("LimitOverrunError", e.name)
    assert.equal("ok\n", r:readline())
  end))

  it("rejects bad arguments", async(function()
    local r = aio.StreamReader()
    assert.has_error(function() r:read(-2) end)
    assert.has_error(function() r:read("x") end)
    local ok, e = pcall(r.readexactly, r, -1)
    assert.is_false(ok)
    assert.equal("ValueError", e.name)
    e = select(2, pcall(r.readuntil, r, ""))
    assert.equal("ValueError", e.name)
    assert.has_error(function() r:readuntil(5) end)
    assert.has_error(function() r:feed_data(12) end)
    assert.has_error(function() aio.StreamReader({ limt = 3 }) end, "bad argument #1 to 'StreamReader' (unknown option 'limt')")
    e = select(2, pcall(aio.StreamReader, { limit = 0 }))
    assert.equal("ValueError", e.name)
  end))

  it("allows only one waiting reader", async(function()
    local r = aio.StreamReader()
    local t = aio.spawn(r.readline, r)
    aio.sleep(0)
    local ok, e = pcall(r.read, r, 1)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
    r:feed_data("x\n")
    assert.equal("x\n", t:await())
  end))

  it("a cancelled read leaves the data for the next one", async(function()
    local r = aio.StreamReader()
    r:feed_data("part")
    local t = aio.spawn(r.readline, r)
    aio.sleep(0)
    t:cancel()
    assert.is_false(pcall(t.await, t))
    assert.is_true(t:cancelled())
    r:feed_data("ial\n")
    assert.equal("partial\n", r:readline())
  end))

  it("raises outside a task even when the buffer could answer, as a suspending function", function()
    -- a plain coroutine is not a task (the luaio binary runs specs inside its main task)
    coroutine.wrap(function()
      local r = aio.StreamReader()
      r:feed_data("a\nbc")
      for _, m in ipairs({ "readline", "read", "readexactly", "readuntil" }) do
        local ok, e = pcall(r[m], r, m == "readexactly" and 1 or nil)
        assert.is_false(ok)
        assert.matches("luaio." .. m .. ": ", tostring(e), 1, true)
      end
      local ok, e = pcall(r:lines())
      assert.is_false(ok)
      assert.matches("luaio.lines: ", tostring(e), 1, true)
      assert.equal(4, r:buffered()) -- nothing was consumed
    end)()
  end)

  it("wait_for times a read out", async(function()
    local r = aio.StreamReader()
    local ok, e = pcall(aio.wait_for, aio.spawn(r.readline, r), 0.01)
    assert.is_false(ok)
    assert.equal("TimeoutError", e.name)
  end))
end)

-- ---- over real sockets ----
local function echo_server(opts)
  return aio.start_server(function(r, w)
    while true do
      local data = r:read(65536)
      if data == "" then break end
      w:write(data)
      w:drain()
    end
  end, "127.0.0.1", 0, opts)
end

describe("streams over TCP", function()
  it("deliver every payload intact whatever the chunking", async(function()
    local srv = aio.start_server(function(r, w)
      for line in r:lines() do w:write(line .. "\n") end
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    local rnd = lcg(5)
    local sent = {}
    local reader = aio.spawn(function()
      local got = {}
      for i = 1, 200 do got[i] = r:readline() end
      return got
    end)
    for i = 1, 200 do
      local line = ("%d:%s"):format(i, ("z"):rep(rnd(300)))
      sent[i] = line .. "\n"
      local j = 1
      while j <= #sent[i] do -- split into random pieces, letting the loop run between them
        local n = rnd(40)
        w:write(sent[i]:sub(j, j + n - 1))
        j = j + n
        if rnd(3) == 1 then aio.sleep(0) end
      end
    end
    assert.same(sent, reader:await())
    w:close()
    w:wait_closed()
    srv:close()
    srv:wait_closed()
  end, 20))

  it("pauses reading above the limit and resumes when drained", async(function()
    local big = ("0123456789abcdef"):rep(1024 * 1024) -- 16 MiB: more than the kernel buffers
    local server_w
    local srv = aio.start_server(function(_, w)
      server_w = w
      w:write(big)
      w:drain()
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port, { limit = 1024 })
    while r:buffered() <= 1024 do aio.sleep(0.001) end
    aio.sleep(0.05)
    -- the sender is stuck with most of its data, our buffer stays bounded
    assert.is_true(r:buffered() < 64 * 1024, "buffered " .. r:buffered())
    assert.is_true(server_w:get_write_buffer_size() > 0)
    local got = r:readexactly(#big)
    assert.is_true(got == big)
    w:close()
    srv:close()
    srv:wait_closed()
  end, 30))

  it("transfers 8 MiB with drain and back", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    local chunks = {}
    for i = 1, 128 do chunks[i] = string.char(65 + i % 26):rep(65536) end
    local reader = aio.spawn(function() return r:read() end)
    for i = 1, 128 do
      w:write(chunks[i])
      w:drain()
      assert.is_true(w:get_write_buffer_size() <= 65536)
    end
    w:write_eof()
    local got = reader:await()
    assert.equal(8 * 1024 * 1024, #got)
    assert.is_true(got == table.concat(chunks))
    w:close()
    w:wait_closed()
    srv:close()
    srv:wait_closed()
  end, 30))

  it("writes without suspending and queues what the socket does not take", async(function()
    local srv = aio.start_server(function(r, w)
      r:readline() -- read nothing more until told
      w:write(r:read())
    end, "127.0.0.1", 0)
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    w:write("go\n")
    local big = ("x"):rep(8 * 1024 * 1024)
    local n0 = w:get_write_buffer_size()
    w:write(big) -- returns at once
    assert.equal(0, n0)
    assert.is_true(w:get_write_buffer_size() > 0)
    w:writelines({ "a", "b", "c" })
    local reader = aio.spawn(function() return r:read() end)
    w:drain()
    w:write_eof()
    assert.is_true(reader:await() == big .. "abc")
    w:close()
    srv:close()
    srv:wait_closed()
  end, 30))

  it("set_write_buffer_limits sets the mark drain waits on", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    w:set_write_buffer_limits(100, 10)
    assert.same({ 10, 100 }, { w:get_write_buffer_limits() })
    local ok, e = pcall(w.set_write_buffer_limits, w, 10, 100)
    assert.is_false(ok)
    assert.equal("ValueError", e.name)
    w:set_write_buffer_limits()
    assert.same({ 16384, 65536 }, { w:get_write_buffer_limits() })
    w:write("ping")
    w:drain()
    assert.equal("ping", r:readexactly(4))
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("closing a writer wakes a task blocked in read with EOF", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local r, w = aio.open_connection("127.0.0.1", port)
    local t = aio.spawn(function() return r:read() end)
    aio.sleep(0.01)
    w:close()
    assert.equal("", t:await())
    assert.is_true(w:is_closing())
    w:wait_closed()
    -- as asyncio: data written after our own close() is dropped, drain() says the
    -- connection is gone, and the addresses are still known
    w:write("x")
    w:write_eof()
    local ok, e = pcall(w.drain, w)
    assert.is_false(ok)
    assert.equal("OSError", e.name)
    assert.equal("127.0.0.1", (w:get_extra_info("peername")))
    srv:close()
    srv:wait_closed()
  end))

  it("rejects non-string data", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local _, w = aio.open_connection("127.0.0.1", port)
    assert.has_error(function() w:write(42) end, "bad argument #1 to 'write' (string expected, got number)")
    assert.has_error(function() w:write() end)
    assert.has_error(function() w:writelines({ "a", {} }) end)
    assert.has_error(function() w:writelines("a") end)
    w:close()
    srv:close()
    srv:wait_closed()
  end))

  it("get_extra_info gives peername, sockname and socket", async(function()
    local srv = echo_server()
    local _, port = srv.sockets[1]:getsockname()
    local _, w = aio.open_connection("127.0.0.1", port)
    local h, p = w:get_extra_info("peername")
    assert.equal("127.0.0.1", h)
    assert.equal(port, p)
    local h2, p2 = w:get_extra_info("sockname")
    assert.equal("127.0.0.1", h2)
    assert.is_true(p2 > 0)
    assert.equal("number", type(w:get_extra_info("socket")))
    assert.is_nil(w:get_extra_info("nonsense"))
    assert.equal("dflt", w:get_extra_info("nonsense", "dflt"))
    assert.is_true(w:can_write_eof())
    w:close()
    srv:close()
    srv:wait_closed()
  end))
end)
