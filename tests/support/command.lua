-- command.lua — runs a program with a list of arguments in a directory, the way a user would
-- type it: run(prog, args, {dir =, env = "VAR=value ...", stdin = "..."}) returns exit status,
-- stdout, stderr (killed after 10 s). luaio(args, opts) runs the binary under test.
local q = require "support.quote"
local fs = require "support.fs"
local bin = require "support.bin"

local M = {}

function M.run(prog, args, opts)
  opts = opts or {}
  local dir = opts.dir or fs.mktemp()
  local parts = { "cd " .. q(dir) .. " && timeout -s KILL 10 env" }
  if opts.env then parts[#parts + 1] = opts.env end
  parts[#parts + 1] = q(prog)
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  local out, err, inp = dir .. "/.out", dir .. "/.err", dir .. "/.in"
  fs.write(inp, opts.stdin or "")
  local cmd = table.concat(parts, " ") .. " <" .. q(inp) .. " >" .. q(out) .. " 2>" .. q(err)
  local _, how, code = os.execute(cmd)
  local status = how == "exit" and code or 128 + code
  local o, e = fs.slurp(out), fs.slurp(err)
  os.remove(out) os.remove(err) os.remove(inp)
  if not opts.dir then fs.rmdir(dir) end
  return status, o, e
end

function M.luaio(args, opts) return M.run(bin, args, opts) end

return M
