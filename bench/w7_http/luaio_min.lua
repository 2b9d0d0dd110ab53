-- W7 (extra): the same minimal HTTP/1.1 handling written directly on luaio
-- streams, for comparison with examples/http_server.lua.
-- usage: luaio luaio_min.lua PORT   (127.0.0.1 only)
local aio = require "luaio"
local port = math.tointeger(tonumber(arg[1] or os.getenv("PORT"))) or 8080
local body = "Hello, World!\n"
local resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
  .. #body .. "\r\n\r\n" .. body

local function handle(r, w)
  pcall(function()
    while true do
      local head = r:readuntil("\r\n\r\n")
      w:write(resp)
      w:drain()
      if head:lower():find("\r\nconnection:%s*close") then break end
    end
  end)
  pcall(w.close, w)
end

local server = aio.start_server(handle, "127.0.0.1", port)
server:serve_forever()
