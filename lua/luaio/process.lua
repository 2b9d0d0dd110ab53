-- process.lua — Process:communicate over process.c's mechanism: the input is queued on
-- stdin (a write never suspends) and stdin closed after it, while stdout and stderr are
-- read to EOF at the same time (stderr in a helper task), then the exit is awaited.
local aio, priv = ...

local methods = aio._process_methods
aio._process_methods = nil

local type, pcall, error, getmetatable, setmetatable = type, pcall, error, getmetatable, setmetatable
local spawn = aio.spawn
local OSError = aio.OSError

local function read_all(r) return r:read() end

-- cancels the helper task when communicate leaves early (an error, a cancellation)
local Guard = { __close = function(g) if not g.task:done() then g.task:cancel() end end }

function methods.communicate(self, input)
  local mt = getmetatable(self)
  if type(self) ~= "userdata" or type(mt) ~= "table" or mt.__name ~= "luaio.Process" then
    priv.typeerror(1, "communicate", "Process", self, 2)
  end
  if input ~= nil and type(input) ~= "string" then
    priv.typeerror(1, "communicate", "string", input, 2)
  end
  local stdin, stdout, stderr = self.stdin, self.stdout, self.stderr
  if stdin then
    if input and #input > 0 then
      -- a child that exits or closes its stdin early is no error here (as asyncio)
      local ok, e = pcall(stdin.write, stdin, input)
      if not ok and getmetatable(e) ~= OSError then error(e, 0) end
    end
    stdin:close()
  end
  local etask
  if stdout and stderr then etask = spawn(read_all, stderr) end
  local _ <close> = etask and setmetatable({ task = etask }, Guard)
  local out = stdout and stdout:read()
  local err
  if etask then err = etask:await()
  elseif stderr then err = stderr:read() end
  self:wait()
  return out, err
end
