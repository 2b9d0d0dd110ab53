-- run_lua.lua — runs `code` (after `local aio = require 'luaio'`) in a fresh stock lua5.4
-- process with the module under test; the extra arguments become the script's arguments.
-- Returns exit status, stdout, stderr.
local proc = require "support.proc"

return function(code, ...)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, args = { ... }, lua = true }
end
