-- run_luaio.lua — runs `code` (after `local aio = require 'luaio'`) as a script of a fresh
-- luaio process; the extra arguments become the script's arguments. Returns exit status,
-- stdout, stderr.
local proc = require "support.proc"

return function(code, ...)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, args = { ... } }
end
