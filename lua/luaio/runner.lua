-- runner.lua — aio.Runner (one loop for several runs, with a clock and debug mode of its
-- choosing) and aio.virtual_clock (the same clock for a block of code, also inside a
-- running loop, as busted under the luaio binary needs).
local aio, priv = ...

local core_run, core_shutdown, running, set_clock, advance, set_debug =
  priv.core_run, aio._shutdown, aio._running, aio._clock, aio._advance, aio._debug
aio._shutdown, aio._running, aio._clock, aio._advance, aio._debug = nil, nil, nil, nil, nil
local argerror, typeerror, check_opts, check_self =
  priv.argerror, priv.typeerror, priv.check_opts, priv.check_self
local type, error, getmetatable, setmetatable = type, error, getmetatable, setmetatable

local function check_seconds(v, name, fname, allow_zero)
  if v == nil then return nil end
  if type(v) ~= "number" or v ~= v then typeerror(1, fname, "number for '" .. name .. "'", v, 4) end
  if v < 0 or (v == 0 and not allow_zero) then
    argerror(1, fname, "'" .. name .. "' must be " .. (allow_zero and "non-negative" or "positive"), 4)
  end
  return v
end

local function check_clock(opts, fname)
  local clock = opts.clock
  if clock ~= nil and clock ~= "real" and clock ~= "virtual" then
    argerror(1, fname, "'clock' must be \"real\" or \"virtual\"", 3)
  end
  local autojump = check_seconds(opts.autojump, "autojump", fname, true)
  if autojump and clock ~= "virtual" then
    argerror(1, fname, "'autojump' needs clock = \"virtual\"", 3)
  end
  return clock, autojump or 0
end

-- the clock and debug settings a Runner or virtual clock replaced, to put back on close
local function restore(saved)
  if saved.clock then set_clock(saved.clock, saved.autojump) end
  if saved.debug ~= nil then set_debug(saved.debug, saved.slow) end
end

local Runner = {}
Runner.__name = "luaio.Runner"
Runner.__index = Runner

local RUNNER_OPTS = { clock = true, autojump = true, debug = true, slow_callback_duration = true }

local function refuse_in_loop(fname)
  if running() then
    error(aio.RuntimeError(("luaio.%s: cannot be called while an event loop is running (in "
      .. "a task or a callback; a Runner starts the loop itself)"):format(fname)), 3)
  end
end

-- The loop is the Lua state's: one Runner has it at a time (two open at once would share
-- its tasks, clock and debug mode). A new Runner, or aio.run outside a loop, closes the one
-- still open (a one-liner `aio.Runner{...}:run(f)` leaves one): its tasks are cancelled
-- and its clock and debug mode put back, as its close would. One collected unclosed lets
-- the loop go.
local open_runner = setmetatable({}, { __mode = "v" })

local function take_loop()
  local prev = open_runner[1]
  if prev and not prev._closed and not running() then prev:close() end
end
priv.take_loop = take_loop

function aio.Runner(opts)
  opts = check_opts(opts, RUNNER_OPTS, "Runner", 1)
  local clock, autojump = check_clock(opts, "Runner")
  local debug, slow = opts.debug, check_seconds(opts.slow_callback_duration,
    "slow_callback_duration", "Runner")
  if debug ~= nil and type(debug) ~= "boolean" then
    typeerror(1, "Runner", "boolean for 'debug'", debug, 2)
  end
  refuse_in_loop("Runner")
  take_loop()
  local self, saved = setmetatable({}, Runner), {}
  open_runner[1] = self
  if clock then saved.clock, saved.autojump = set_clock(clock, autojump) end
  if debug ~= nil or slow then saved.debug, saved.slow = set_debug(debug, slow) end
  self._saved = saved
  return self
end

function Runner:run(main, ...)
  check_self(self, Runner, "run")
  if self._closed then error(aio.RuntimeError("luaio.Runner.run: the Runner is closed"), 2) end
  refuse_in_loop("Runner.run")
  if aio.iscoroutine(main) then return core_run(false, function() return main:await() end) end
  if type(main) ~= "function" and not (getmetatable(main) or {}).__call then
    typeerror(1, "run", "function or coroutine object", main, 2)
  end
  return core_run(false, main, ...)
end

-- Cancels and drains what the runs left, then puts the clock and debug mode back.
function Runner:close()
  check_self(self, Runner, "close")
  if self._closed then return end
  refuse_in_loop("Runner.close")
  self._closed = true
  local ok, err = pcall(core_shutdown)
  if open_runner[1] == self then open_runner[1] = nil end
  restore(self._saved)
  if not ok then error(err, 0) end
end
Runner.__close = Runner.close

-- ---- aio.virtual_clock: a virtual clock for a block ----
local VirtualClock = {}
VirtualClock.__name = "luaio.VirtualClock"
VirtualClock.__index = VirtualClock
local VCLOCK_OPTS = { autojump = true }

function aio.virtual_clock(opts)
  opts = check_opts(opts, VCLOCK_OPTS, "virtual_clock", 1)
  local autojump = check_seconds(opts.autojump, "autojump", "virtual_clock", true) or 0
  local saved = {}
  saved.clock, saved.autojump = set_clock("virtual", autojump)
  return setmetatable({ _saved = saved }, VirtualClock)
end

function VirtualClock:advance(seconds)
  check_self(self, VirtualClock, "advance")
  if type(seconds) ~= "number" or seconds ~= seconds then typeerror(2, "advance", "number", seconds, 2) end
  if seconds < 0 then argerror(2, "advance", "must be non-negative", 2) end
  if self._closed then error(aio.RuntimeError("luaio.VirtualClock.advance: the clock is closed"), 2) end
  advance(seconds)
end

function VirtualClock:close()
  check_self(self, VirtualClock, "close")
  if self._closed then return end
  self._closed = true
  restore(self._saved)
end
VirtualClock.__close = VirtualClock.close
