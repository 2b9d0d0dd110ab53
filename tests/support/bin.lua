-- bin.lua — the absolute path of the luaio binary under test ($LUAIO_BIN, default
-- build/luaio), usable after a `cd`.
local bin = os.getenv("LUAIO_BIN") or "build/luaio"
if bin:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  bin = p:read("l") .. "/" .. bin
  p:close()
end
return bin
