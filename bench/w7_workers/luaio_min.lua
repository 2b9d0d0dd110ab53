-- W7 on workers: bench/w7_http/luaio_min.lua (the same minimal HTTP handling as the Node
-- peers) run by aio.workers(N), each copy listening with reuse_port.
-- usage: luaio luaio_min.lua PORT N      Each worker prints "worker K listening" to stderr.
local aio = require "luaio"
local port = math.tointeger(tonumber(arg[1] or os.getenv("PORT"))) or 8080
local n = math.tointeger(tonumber(arg[2])) or 2
local id = aio.workers(n)
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

local server = aio.start_server(handle, "127.0.0.1", port, { backlog = 1024, reuse_port = true })
io.stderr:write(("worker %d listening\n"):format(id))
server:serve_forever()
