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

-- run{code = "...", args = {...}, stdin = "...", flags = {...}, lua = true, env = {K = "v"}};
-- code goes in a temp file; lua = true runs it under stock lua5.4 with the module instead
-- of the binary; env adds variables to the child's environment
function M.run(opts)
  local script = os.tmpname()
  local f = assert(io.open(script, "wb"))
  f:write(opts.code or "")
  f:close()
  local out, err = os.tmpname(), os.tmpname()
  local parts = { M.bin }
  if opts.lua then -- stock lua5.4 with the module built beside the binary
    local dir = M.bin:match("^(.*)/[^/]*$") or "."
    parts = { "env", ("LUA_CPATH=%q"):format(dir .. "/?.so;;") }
    if os.getenv("LUAIO_PRELOAD") then parts[#parts + 1] = ("LD_PRELOAD=%q"):format(os.getenv("LUAIO_PRELOAD")) end
    parts[#parts + 1] = "lua5.4"
  end
  if opts.env then
    local e = { "env" }
    for k, v in pairs(opts.env) do e[#e + 1] = ("%s=%q"):format(k, v) end
    table.sort(e, function(a, b) return a == "env" or (b ~= "env" and a < b) end)
    table.move(parts, 1, #parts, #e + 1, e)
    parts = e
  end
  for _, a in ipairs(opts.flags or {}) do parts[#parts + 1] = ("%q"):format(a) end
  if not opts.no_script then parts[#parts + 1] = script end
  for _, a in ipairs(opts.args or {}) do parts[#parts + 1] = ("%q"):format(a) end
  -- a hung child fails its test instead of stalling the suite
  local cmd = "timeout -s KILL " .. (opts.timeout or 60) .. " " .. table.concat(parts, " ")
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
