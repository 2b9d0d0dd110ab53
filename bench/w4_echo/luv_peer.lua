-- W4 echo server on luv (callback style): echoes complete lines.
-- usage: lua5.4 luv_peer.lua PORT   (127.0.0.1 only)
local uv = require "luv"
local port = math.tointeger(tonumber(arg[1])) or 8000
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", port))
assert(server:listen(1024, function(err)
  if err then return end
  local c = uv.new_tcp()
  if not server:accept(c) then c:close() return end
  c:nodelay(true)
  local pend = ""
  c:read_start(function(e, data)
    if e or not data then if not c:is_closing() then c:close() end return end
    if pend ~= "" then data = pend .. data; pend = "" end
    local last = data:find("\n[^\n]*$")
    if not last then pend = data return end
    if last < #data then pend = data:sub(last + 1); data = data:sub(1, last) end
    c:write(data)
  end)
end))
uv.run()
