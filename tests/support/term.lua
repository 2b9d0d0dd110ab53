-- term.lua — drives `luaio` in a real pseudo-terminal: a private tmux server per session,
-- send-keys types, capture-pane reads the screen. Every wait polls the screen for the
-- expected text with a deadline; no fixed sleeps.
--   it("...", term.session(function(t) t:prompt() t:line("1 + 1") t:expect("^2$") end))
local aio = require "luaio"
local async = require "support.async"
local q = require "support.quote"
local fs = require "support.fs"
local bin = require "support.bin"

local M = {}

local Term = {}
Term.__index = Term

-- Starts `luaio [args]` (args: a shell-ready string) in a fresh 150x50 terminal. opts.home
-- is HOME (a new empty directory by default, so history is private to the test);
-- opts.ignore_int starts luaio with SIGINT ignored, as a shell's `trap '' INT` leaves it
-- (luaio installs its own handler either way). The pid and exit status of luaio land in
-- files of the session's directory.
function M.start(args, opts)
  opts = opts or {}
  local self = setmetatable({ dir = fs.mktemp() }, Term)
  self.home = opts.home or self.dir
  self.sock = self.dir .. "/tmux.sock"
  fs.write(self.dir .. "/tmux.conf", "set -g remain-on-exit on\nset -g history-limit 5000\n")
  -- the outer shell survives the Ctrl-C the tests type and records luaio's exit status; the
  -- inner one records luaio's pid and becomes luaio
  local inner = ("echo $$ > %s; exec env HOME=%s %s %s"):format(
    q(self.dir .. "/pid"), q(self.home), q(bin), args or "")
  local cmd = ("trap %s INT; sh -c %s; echo $? > %s"):format(
    opts.ignore_int and "''" or ":", q(inner), q(self.dir .. "/status"))
  assert(os.execute(("env -u TMUX tmux -S %s -f %s new-session -d -s repl -x 150 -y 50 %s"):format(
    q(self.sock), q(self.dir .. "/tmux.conf"), q("sh -c " .. q(cmd)))), "cannot start tmux (tools/deps.sh installs it)")
  return self
end

function Term:tmux(args)
  return os.execute(("env -u TMUX tmux -S %s %s >/dev/null 2>&1"):format(q(self.sock), args))
end

function Term:capture(fmt)
  local p = io.popen(("env -u TMUX tmux -S %s %s 2>/dev/null"):format(q(self.sock), fmt))
  local s = p:read("a")
  p:close()
  return s
end

-- the whole session so far (scrollback + screen), wrapped lines joined
function Term:screen() return self:capture("capture-pane -p -J -S -5000 -t repl") end

function Term:lines()
  local t = {}
  -- -J keeps trailing spaces: drop them (the prompt "> " reads ">")
  for l in (self:screen() .. "\n"):gmatch("(.-)\n") do t[#t + 1] = (l:gsub("%s+$", "")) end
  while #t > 0 and t[#t] == "" do t[#t] = nil end
  return t
end

function Term:last() local t = self:lines() return t[#t] or "" end

function Term:type(text) assert(self:tmux("send-keys -t repl -l " .. q(text))) end
function Term:key(k) assert(self:tmux("send-keys -t repl " .. k)) end
function Term:line(text) self:type(text) self:key("Enter") end

-- polls until pred(self) is true; fails with the screen after `limit` seconds (default 10)
function Term:wait(pred, what, limit)
  local deadline = aio.time() + (limit or 10)
  while true do
    local r = pred(self)
    if r then return r end
    if aio.time() > deadline then
      error(("timed out waiting for %s; screen:\n%s"):format(what, self:screen()), 2)
    end
    aio.sleep(0.02)
  end
end

function Term:count(pattern)
  local n = 0
  for _, l in ipairs(self:lines()) do if l:find(pattern) then n = n + 1 end end
  return n
end

-- waits until `pattern` matches the `n`th time (default 1) on a line of its own
function Term:expect(pattern, n)
  return self:wait(function(t) return t:count(pattern) >= (n or 1) end, ("%q (x%d)"):format(pattern, n or 1))
end

-- waits for an idle prompt: the last line is exactly `p` (default ">", the "> " prompt)
function Term:prompt(p)
  p = p or ">"
  return self:wait(function(t) return t:last() == p end, ("the prompt %q"):format(p))
end

function Term:cursor_x()
  return tonumber(self:capture("display -p -t repl '#{cursor_x}'"):match("%d+"))
end

-- luaio's exit status once it has exited, else nil
function Term:status()
  return tonumber((fs.slurp(self.dir .. "/status") or ""):match("%d+"))
end

function Term:wait_exit() return self:wait(function(t) return t:status() end, "luaio to exit") end

function Term:pid()
  return self:wait(function(t) return tonumber((fs.slurp(t.dir .. "/pid") or ""):match("%d+")) end, "the pid")
end

function Term:close()
  self:tmux("kill-server")
  fs.rmdir(self.dir)
end

-- a spec body that starts a terminal (M.start(args, opts)), hands it to fn and closes it
function M.session(fn, args, opts)
  return async(function()
    local t = M.start(args, opts)
    local ok, err = pcall(fn, t)
    t:close()
    if not ok then error(err, 0) end
  end, 30)
end

return M
