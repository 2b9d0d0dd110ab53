-- background.lua — a luaio script run as a background process whose pid, exit status and
-- output land in files, so a spec can signal it and watch what it prints:
-- it("...", with_bg(script_text, function(p) p:wait_out("ready\n") p:kill("INT") ... end))
local async = require "support.async"
local q = require "support.quote"
local fs = require "support.fs"
local bin = require "support.bin"
local poll = require "support.poll"

local M = {}

-- `&` in a non-interactive sh starts the job with SIGINT ignored; restore the default for the
-- child (GNU env >= 8.31) so the test does not depend on how luaio treats an inherited SIG_IGN
local DEFSIG = os.execute("env --default-signal=INT true >/dev/null 2>&1") == true
  and "env --default-signal=INT " or ""

local Bg = {}
Bg.__index = Bg

-- `shell_prefix` runs in the child's shell first (e.g. "ulimit -n 64;")
function M.spawn(script_text, args, shell_prefix)
  local self = setmetatable({ dir = fs.mktemp() }, Bg)
  fs.write(self.dir .. "/s.lua", script_text)
  local inner = ("%s echo $$ > pid; exec %s%s s.lua %s"):format(shell_prefix or "", DEFSIG, q(bin), args or "")
  local cmd = ("cd %s && ( sh -c %s <%s >out 2>err; echo $? > status ) >/dev/null 2>&1 &"):format(
    q(self.dir), q(inner), "/dev/null")
  assert(os.execute(cmd))
  return self
end

function Bg:file(name) return fs.slurp(self.dir .. "/" .. name) or "" end
function Bg:pid() return tonumber(self:file("pid"):match("%d+")) end
function Bg:status() return tonumber(self:file("status"):match("%d+")) end
function Bg:wait_out(pat, what)
  return poll(function() return self:file("out"):find(pat) end, what or ("stdout " .. pat))
end
function Bg:wait_err(pat, what)
  return poll(function() return self:file("err"):find(pat) end, what or ("stderr " .. pat))
end
function Bg:kill(sig)
  local pid = poll(function() return self:pid() end, "the pid file")
  assert(os.execute(("kill -%s %d"):format(sig, pid)))
end
function Bg:wait_exit() return poll(function() return self:status() end, "the process to exit") end
function Bg:close()
  if not self:status() and self:pid() then os.execute(("kill -KILL %d 2>/dev/null"):format(self:pid())) end
  fs.rmdir(self.dir)
end

-- a spec body that runs `script_text` in the background and hands the process to fn
function M.with_bg(script_text, fn, args)
  return async(function()
    local p = M.spawn(script_text, args)
    local ok, err = pcall(fn, p)
    p:close()
    if not ok then error(err, 0) end
  end, 8)
end

return M
