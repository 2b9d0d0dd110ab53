-- dns_query.lua — asks a DNS server for the A records (IPv4 addresses) of a name, with a
-- query built by hand and sent over UDP, and prints the answer's A records.
-- usage: luaio examples/dns_query.lua NAME SERVER [PORT]
--   e.g. luaio examples/dns_query.lua example.com 1.1.1.1
local aio = require "luaio"

local name, server, port = arg and arg[1], arg and arg[2], tonumber(arg and arg[3]) or 53
if not name or not server then
  io.stderr:write("usage: dns_query.lua NAME SERVER [PORT]\n")
  os.exit(2)
end

-- the query: header (id, flags = recursion desired, 1 question), then the question
local function build_query(id, qname)
  local parts = { string.pack(">I2I2I2I2I2I2", id, 0x0100, 1, 0, 0, 0) }
  for label in qname:gmatch("[^.]+") do
    assert(#label < 64, "label too long: " .. label)
    parts[#parts + 1] = string.pack("s1", label)
  end
  parts[#parts + 1] = string.pack(">BI2I2", 0, 1, 1) -- end of name, type A, class IN
  return table.concat(parts)
end

-- reads a (possibly compressed) name at pos; returns it and the position after it
local function read_name(msg, pos)
  local labels, after, jumps = {}, nil, 0
  while true do
    local len = msg:byte(pos)
    if not len then error("truncated name") end
    if len >= 0xC0 then -- a pointer to a name earlier in the message
      jumps = jumps + 1
      if jumps > 20 then error("name pointer loop") end
      after = after or pos + 2
      pos = ((len & 0x3F) << 8 | msg:byte(pos + 1)) + 1
    elseif len == 0 then
      return table.concat(labels, ".") .. ".", after or pos + 1
    else
      labels[#labels + 1] = msg:sub(pos + 1, pos + len)
      pos = pos + 1 + len
    end
  end
end

local RCODES = { [1] = "format error", [2] = "server failure", [3] = "no such name",
  [4] = "not implemented", [5] = "refused" }

-- the A records of a reply to query `id`: list of {name, ttl, address}
local function parse_reply(msg, id)
  local rid, flags, qd, an = string.unpack(">I2I2I2I2", msg)
  if rid ~= id then return nil, "reply to another query" end
  if flags & 0x8000 == 0 then return nil, "not a reply" end
  local rcode = flags & 0xF
  if rcode ~= 0 then error(RCODES[rcode] or ("error code " .. rcode), 0) end
  local pos = 13
  for _ = 1, qd do
    local _, p = read_name(msg, pos)
    pos = p + 4 -- type, class
  end
  local out = {}
  for _ = 1, an do
    local rname, p = read_name(msg, pos)
    local rtype, class, ttl, rdlen, rpos = string.unpack(">I2I2I4I2", msg, p)
    if rtype == 1 and class == 1 and rdlen == 4 then
      out[#out + 1] = { rname, ttl, table.concat({ msg:byte(rpos, rpos + 3) }, ".") }
    end
    pos = rpos + rdlen
  end
  return out
end

aio.run(function()
  local sock <close> = aio.open_datagram_endpoint { remote_host = server, remote_port = port }
  local id = math.random(0, 0xFFFF)
  local query = build_query(id, name)
  for _ = 1, 3 do -- UDP may lose the query or the reply: ask up to 3 times
    sock:send(query)
    local ok, records = pcall(aio.wait_for, aio.spawn(function()
      while true do
        local r = parse_reply(sock:recv(), id)
        if r then return r end -- else a stray datagram: keep waiting
      end
    end), 2)
    if ok then
      if #records == 0 then print(name .. ": no A record") end
      for _, r in ipairs(records) do print(("%s\t%d\tIN\tA\t%s"):format(r[1], r[2], r[3])) end
      return
    end
    local e = records
    if getmetatable(e) ~= aio.TimeoutError then
      io.stderr:write(("%s: %s\n"):format(name, tostring(e)))
      os.exit(1)
    end
  end
  io.stderr:write(("%s: no answer from %s\n"):format(name, server))
  os.exit(1)
end)
