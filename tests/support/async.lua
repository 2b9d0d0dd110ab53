-- async.lua — wraps a spec body so it runs inside the loop (aio.run), with a deadline so
-- a hang fails fast instead of stalling the suite: it("...", async(function() ... end)).
-- When the body has returned, nothing it opened may be left open (aio.open_resources):
-- tasks it started get a moment to finish closing, then what is left fails the test.
local aio = require "luaio"

local function describe_left(left)
  local lines = { ("%d resource(s) left open by the test:"):format(#left) }
  for _, e in ipairs(left) do
    lines[#lines + 1] = ("  %s %s%s"):format(e.kind, tostring(e.object),
      e.site and (" created at " .. e.site) or "")
  end
  return table.concat(lines, "\n")
end

local function settle_resources()
  local deadline = aio.time() + 2
  while #aio.open_resources() > 0 and aio.time() < deadline do aio.sleep(0.005) end
  local left = aio.open_resources()
  if #left > 0 then error(describe_left(left), 0) end
end

local function finish(...)
  settle_resources()
  return ...
end

return function(fn, limit)
  return function()
    aio.run(function()
      local _ <close> = aio.timeout(limit or 5)
      return finish(fn())
    end)
  end
end
