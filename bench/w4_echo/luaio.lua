-- W4 echo server on luaio: line echo with readline/write/drain.
-- usage: luaio luaio.lua PORT   (listens on 127.0.0.1 only)
-- No pcall is needed around the loop: when client_cb returns or fails, the server closes
-- the writer, and an error (a reset peer) goes to the exception handler.
local aio = require "luaio"
local port = math.tointeger(tonumber(arg[1])) or 8000

local function handle(r, w)
  while true do
    local line = r:readline()
    if line == "" then break end
    w:write(line)
    w:drain()
  end
end

local server = aio.start_server(handle, "127.0.0.1", port)
server:serve_forever()
