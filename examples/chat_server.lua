-- chat_server.lua — every line a client sends is broadcast to all the others. Each client
-- has its own outbox and writer task, so a slow client never stalls the others: when its
-- outbox overflows it is disconnected instead.
-- usage: luaio examples/chat_server.lua [port]   (default 8889), then `nc 127.0.0.1 8889`
local aio = require "luaio"

local port = tonumber(arg and arg[1]) or 8889
local MAX_PENDING = 100 -- lines a client may lag behind before it is dropped

local clients = {} -- writer -> client

-- a per-client outbox: a list of lines and a Future the writer task waits on when it is empty
local function new_client(writer, name)
  local c = { writer = writer, name = name, box = {}, head = 1, tail = 0 }
  c.task = aio.spawn(function()
    while true do
      if c.head > c.tail then
        c.wakeup = aio.Future()
        c.wakeup:await()
      end
      if c.closed and c.head > c.tail then return end
      local line = c.box[c.head]
      c.box[c.head] = nil
      c.head = c.head + 1
      writer:write(line)
      writer:drain() -- only this client's task waits on a slow peer
    end
  end)
  return c
end

local function send(c, line)
  if c.closed then return end
  if c.tail - c.head + 1 >= MAX_PENDING then -- too slow: let it go
    c.closed = true
    c.writer:close()
    return
  end
  c.tail = c.tail + 1
  c.box[c.tail] = line
  if c.wakeup and not c.wakeup:done() then c.wakeup:set_result() end
end

local function broadcast(from, line)
  for _, c in pairs(clients) do
    if c ~= from then send(c, line) end
  end
end

local function handle(reader, writer)
  local host, p = writer:get_extra_info("peername")
  local me = new_client(writer, ("%s:%s"):format(host, p))
  clients[writer] = me
  broadcast(me, ("* %s joined\n"):format(me.name))
  local ok, err = pcall(function()
    for line in reader:lines() do broadcast(me, ("<%s> %s\n"):format(me.name, line)) end
  end)
  clients[writer] = nil
  me.closed = true
  if me.wakeup and not me.wakeup:done() then me.wakeup:set_result() end
  broadcast(me, ("* %s left\n"):format(me.name))
  if not ok then error(err, 0) end
  pcall(me.task.await, me.task) -- flush what is queued for it, then the server closes it
end

aio.run(function()
  local server = aio.start_server(handle, "127.0.0.1", port)
  io.stderr:write(("chat server on 127.0.0.1:%d\n"):format(select(2, server.sockets[1]:getsockname())))
  server:serve_forever()
end)
