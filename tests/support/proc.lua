-- proc.lua — runs Lua code in a fresh `luaio` process (the binary under test, from
-- LUAIO_BIN) and returns its exit status, stdout and stderr.
local M = {}

M.bin = os.getenv("LUAIO_BIN") or "build/luaio"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

-- run{code = "...", args = {...}, stdin = "...", flags = {...}}; code goes in a temp file
function M.run(opts)
  local script = os.tmpname()
  local f = assert(io.open(script, "wb"))
  f:write(opts.code or "")
  f:close()
  local out, err = os.tmpname(), os.tmpname()
  local parts = { M.bin }
  for _, a in ipairs(opts.flags or {}) do parts[#parts + 1] = ("%q"):format(a) end
  if not opts.no_script then parts[#parts + 1] = script end
  for _, a in ipairs(opts.args or {}) do parts[#parts + 1] = ("%q"):format(a) end
  local cmd = table.concat(parts, " ")
  local input = opts.stdin and os.tmpname()
  if input then
    local fi = assert(io.open(input, "wb"))
    fi:write(opts.stdin)
    fi:close()
    cmd = cmd .. " <" .. input
  else
    cmd = cmd .. " </dev/null"
  end
  local ok, how, code = os.execute(cmd .. " >" .. out .. " 2>" .. err)
  os.remove(script)
  if input then os.remove(input) end
  local status = (how == "exit") and code or (128 + code)
  return status, slurp(out), slurp(err), ok
end

return M
