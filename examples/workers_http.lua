-- workers_http.lua — the "hello" HTTP/1.1 keep-alive server of http_server.lua on several
-- cores: aio.workers(n) makes this script the supervisor of n copies of itself, and each
-- copy listens on the same port with reuse_port (SO_REUSEPORT), the kernel spreading the
-- connections over them. The supervisor restarts a copy that dies and, on SIGINT or
-- SIGTERM, stops them all and exits. Each response names its worker (X-Worker).
-- usage: luaio examples/workers_http.lua [port [workers]]   (or env PORT, WORKERS;
--        default 8080 and 2). Needs the luaio binary (aio.workers starts copies of it).
local aio = require "luaio"

local port = tonumber(arg and arg[1]) or tonumber(os.getenv("PORT")) or 8080
local n = tonumber(arg and arg[2]) or tonumber(os.getenv("WORKERS")) or 2

local id = aio.workers(n) -- the supervisor stays in here; each copy goes on

local BODY = "Hello, World!"
local function response(extra)
  return ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Worker: %d\r\n%s\r\n%s")
    :format(#BODY, id, extra, BODY)
end
local RESPONSE, CLOSE = response(""), response("Connection: close\r\n")
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

local server = aio.start_server(handle, "127.0.0.1", port, { backlog = 1024, reuse_port = true })
io.stderr:write(("worker %d listening on http://127.0.0.1:%d/\n"):format(id, port))
server:serve_forever()
