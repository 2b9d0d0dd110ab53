-- W7 (extra): the same minimal HTTP/1.1 handling written directly on luaio
-- streams, for comparison with examples/http_server.lua; with N, served by N worker
-- processes (aio.workers), each listening with reuse_port ("W7 on workers").
-- usage: luaio luaio_min.lua PORT [N]   (127.0.0.1 only; each worker prints
-- "worker K listening" to stderr)
local aio = require "luaio"
local port = math.tointeger(tonumber(arg[1] or os.getenv("PORT"))) or 8080
local n = math.tointeger(tonumber(arg[2]))
local id = n and aio.workers(n)
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

local server = aio.start_server(handle, "127.0.0.1", port, n and { backlog = 1024, reuse_port = true })
if id then io.stderr:write(("worker %d listening\n"):format(id)) end
server:serve_forever()
