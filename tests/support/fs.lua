-- fs.lua — small file helpers for specs that prepare scripts and read what processes wrote.
local q = require "support.quote"

local M = {}

-- a new empty temporary directory
function M.mktemp()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. q(d)))
  return d
end

function M.rmdir(d) os.execute("rm -rf " .. q(d)) end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- the whole file, or nil when it does not exist
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

return M
