-- repl_spec.lua — the interactive REPL, driven through a real pseudo-terminal (a
-- private tmux server per test: send-keys types, capture-pane reads the screen).
-- Every wait polls the screen for the expected text with a deadline; no fixed sleeps.
local aio = require "luaio"
local async = require "support.async"

local BIN = os.getenv("LUAIO_BIN") or "build/luaio"
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local Term = {}
Term.__index = Term

local function mktemp()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. q(d)))
  return d
end

-- Starts `luaio [args]` in a fresh 120x40 terminal; HOME is `home` (a new empty
-- directory by default) so history is private to the test.
local function start(args, home)
  local self = setmetatable({ dir = mktemp() }, Term)
  self.home = home or self.dir
  self.sock = self.dir .. "/tmux.sock"
  local conf = assert(io.open(self.dir .. "/tmux.conf", "w"))
  conf:write("set -g remain-on-exit on\nset -g history-limit 5000\n")
  conf:close()
  -- a shell waits for luaio and records its exit status (the shell ignores the
  -- Ctrl-C the tests send; luaio installs its own handler)
  local cmd = ("trap '' INT; env HOME=%s %s %s; echo $? > %s"):format(
    q(self.home), q(BIN), args or "", q(self.dir .. "/status"))
  assert(os.execute(("tmux -S %s -f %s new-session -d -s repl -x 120 -y 40 %s"):format(
    q(self.sock), q(self.dir .. "/tmux.conf"), q("sh -c " .. q(cmd)))), "cannot start tmux (tools/deps.sh installs it)")
  return self
end

function Term:tmux(args)
  return os.execute(("tmux -S %s %s >/dev/null 2>&1"):format(q(self.sock), args))
end

function Term:capture(fmt)
  local p = io.popen(("tmux -S %s %s 2>/dev/null"):format(q(self.sock), fmt))
  local s = p:read("a")
  p:close()
  return s
end

-- the whole session so far (scrollback + screen), wrapped lines joined
function Term:screen() return self:capture("capture-pane -p -J -S -5000 -t repl") end

function Term:lines()
  local t = {}
  -- -J keeps trailing spaces: drop them (the prompt "> " reads ">")
  for l in (self:screen() .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l:gsub("%s+$", "") end
  while #t > 0 and t[#t] == "" do t[#t] = nil end
  return t
end

function Term:last_line() local t = self:lines() return t[#t] or "" end

function Term:type(text) assert(self:tmux("send-keys -t repl -l " .. q(text))) end
function Term:key(k) assert(self:tmux("send-keys -t repl " .. k)) end
function Term:line(text) self:type(text) self:key("Enter") end

-- polls until pred(self) is true; fails with the screen after `limit` seconds
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
  return self:wait(function(t) return t:count(pattern) >= (n or 1) end, ("%q"):format(pattern))
end

-- waits for an idle "> " prompt
function Term:prompt(p)
  p = p or ">"
  return self:wait(function(t) return t:last_line() == p end, "the prompt " .. ("%q"):format(p))
end

-- luaio's exit status once it has exited, else nil
function Term:exit_status()
  local f = io.open(self.dir .. "/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("%d+"))
end

function Term:close()
  self:tmux("kill-server")
  os.execute("rm -rf " .. q(self.dir))
end

local function session(fn, args, home)
  return async(function()
    local t = start(args, home)
    local ok, err = pcall(fn, t)
    t:close()
    if not ok then error(err, 0) end
  end, 30)
end

describe("the REPL", function()
  it("prints every value of an expression, tab-separated, and =expr", session(function(t)
    t:prompt()
    t:line('1 + 1, "a", nil, {} ~= nil')
    t:expect("^2%s+a%s+nil%s+true$")
    t:line("=2 * 3")
    t:expect("^6$")
    t:line("x = 10") -- a statement prints nothing
    t:line("x")
    t:expect("^10$")
  end))

  it("runs each input as a task: top-level suspension works", session(function(t)
    t:prompt()
    t:line('local t0 = aio.time() aio.sleep(0.2) return "slept", aio.time() - t0 >= 0.19')
    t:expect("^slept%s+true$")
    t:line("aio.current_task():get_name()")
    t:expect("^stdin$")
  end))

  it("continues an incomplete statement on a >> prompt", session(function(t)
    t:prompt()
    t:line("function double(x)")
    t:prompt(">>")
    t:line("  return x * 2")
    t:prompt(">>")
    t:line("end")
    t:prompt()
    t:line("double(21)")
    t:expect("^42$")
  end))

  it("keeps the loop running while the prompt waits, without corrupting the typed line", session(function(t)
    t:prompt()
    t:line('aio.spawn(function() for i = 1, 8 do aio.sleep(0.1) print("tick", i) end end) return "spawned"')
    t:expect("^spawned$")
    t:expect("^tick%s+1$")
    t:type("12") -- typed while the ticks go on
    t:expect("^tick%s+8$")
    t:wait(function(s) return s:last_line() == "> 12" end, "the typed line redrawn below the output")
    t:line("+1")
    t:expect("^13$")
  end))

  it("reports a failing background task at once, above the prompt", session(function(t)
    t:prompt()
    t:line('aio.spawn(function() aio.sleep(0.1) error("bg-boom") end) return "ok"')
    t:expect("^ok$")
    t:expect("bg%-boom") -- no key pressed: reported while the prompt waits
    t:prompt()
  end))

  it("Ctrl-C cancels a long sleep and returns to the prompt", session(function(t)
    t:prompt()
    t:line('print("sleeping") aio.sleep(60) print("not reached")')
    t:expect("^sleeping$")
    t:key("C-c")
    t:expect("^interrupted$")
    t:prompt()
    t:line("1 + 2")
    t:expect("^3$")
    assert.equal(0, t:count("^not reached$"))
  end))

  it("Ctrl-C interrupts a busy loop that never suspends", session(function(t)
    t:prompt()
    t:line('print("spinning") while true do end')
    t:expect("^spinning$")
    t:key("C-c")
    t:expect("^interrupted$")
    t:prompt()
    t:line("2 + 2")
    t:expect("^4$")
  end))

  it("Ctrl-C at the prompt discards the line or the pending >> statement", session(function(t)
    t:prompt()
    t:type("garbage here")
    t:wait(function(s) return s:last_line() == "> garbage here" end, "the typed text")
    t:key("C-c")
    t:prompt()
    t:line("5 + 5")
    t:expect("^10$")
    t:line("if true then")
    t:prompt(">>")
    t:key("C-c")
    t:prompt()
    t:line("6 + 6")
    t:expect("^12$")
  end))

  it("shows errors with a traceback and stays in the REPL", session(function(t)
    t:prompt()
    t:line('local function f() error("boom") end f()')
    t:expect("^stdin:1: boom$")
    t:expect("^stack traceback:$")
    t:expect("stdin:1: in local 'f'")
    t:prompt()
    t:line("x = = 1")
    t:expect("^stdin:1: unexpected symbol near '='$")
    t:prompt()
    t:line("7 * 6")
    t:expect("^42$")
  end))

  it("recalls history with the up arrow and keeps it in ~/.luaio_history", async(function()
    local home = mktemp()
    local t = start(nil, home)
    local ok, err = pcall(function()
      t:prompt()
      t:line("40 + 2")
      t:expect("^42$")
      t:prompt()
      t:key("Up")
      t:wait(function(s) return s:last_line() == "> 40 + 2" end, "the recalled line")
      t:key("Enter")
      t:expect("^42$", 2)
      t:prompt()
      t:key("C-d")
      t:wait(function(s) return s:exit_status() end, "the exit")
    end)
    t:close()
    if ok then
      local f = io.open(home .. "/.luaio_history")
      ok, err = f ~= nil, "no ~/.luaio_history"
      if f then f:close() end
    end
    if ok then -- a new session sees the old one's history
      t = start(nil, home)
      ok, err = pcall(function()
        t:prompt()
        t:key("Up")
        t:wait(function(s) return s:last_line() == "> 40 + 2" end, "the line from the last session")
      end)
      t:close()
    end
    os.execute("rm -rf " .. q(home))
    if not ok then error(err, 0) end
  end, 30))

  it("exits with status 0 on Ctrl-D, cancelling and draining the remaining tasks", session(function(t)
    t:prompt()
    t:line('aio.spawn(function() local ok, e = pcall(aio.sleep, 100) print("cleanup", e) end) return "bg"')
    t:expect("^bg$")
    t:prompt()
    t:key("C-d")
    assert.equal(0, t:wait(function(s) return s:exit_status() end, "the exit"))
    t:expect("^cleanup%s+CancelledError")
  end))

  it("opens after a script with -i, which sees the script's globals", async(function()
    local dir = mktemp()
    local f = assert(io.open(dir .. "/s.lua", "w"))
    f:write('greeting = "hello from the script"\n')
    f:close()
    local t = start("-i " .. q(dir .. "/s.lua"))
    local ok, err = pcall(function()
      t:expect("line editing:")
      t:prompt()
      t:line("greeting")
      t:expect("^hello from the script$")
    end)
    t:close()
    os.execute("rm -rf " .. q(dir))
    if not ok then error(err, 0) end
  end, 30))
end)
