-- http_server.lua — a minimal HTTP/1.1 keep-alive "hello" server: the request line and
-- headers are read with readuntil("\r\n\r\n"), responses carry Content-Length, and a
-- connection stays open until the client closes it or asks to ("Connection: close").
-- usage: luaio examples/http_server.lua [port]   (or env PORT; default 8080)
local aio = require "luaio"

local port = tonumber(arg and arg[1]) or tonumber(os.getenv("PORT")) or 8080
local BODY = "Hello, World!"
local RESPONSE = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s")
  :format(#BODY, BODY)
local CLOSE = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s")
  :format(#BODY, BODY)
local BAD = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

local find, lower, tonumber = string.find, string.lower, tonumber

local function handle(reader, writer)
  while true do
    local ok, head = pcall(reader.readuntil, reader, "\r\n\r\n")
    if not ok then return end -- EOF (IncompleteReadError), oversized head, reset
    if not find(head, "^%u+ [^ ]+ HTTP/1%.%d\r\n") then writer:write(BAD) return end
    local l = lower(head)
    local _, _, len = find(l, "\r\ncontent%-length:%s*(%d+)")
    if len and tonumber(len) > 0 then reader:readexactly(tonumber(len)) end -- discard a body
    if find(l, "\r\nconnection:%s*close") or find(head, "HTTP/1%.0\r\n") then
      writer:write(CLOSE)
      return -- the server closes the connection once the response is flushed
    end
    writer:write(RESPONSE)
    writer:drain()
  end
end

aio.run(function()
  local server = aio.start_server(handle, "127.0.0.1", port, { backlog = 1024 })
  io.stderr:write(("http server on http://127.0.0.1:%d/\n"):format(select(2, server.sockets[1]:getsockname())))
  server:serve_forever()
end)
