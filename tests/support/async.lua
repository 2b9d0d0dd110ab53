-- async.lua — wraps a spec body so it runs inside the loop (aio.run), with a deadline so
-- a hang fails fast instead of stalling the suite: it("...", async(function() ... end)).
-- When the body has returned, nothing it opened may be left open (aio.open_resources):
-- tasks it started get a moment to finish closing, then what is left fails the test
-- (only what this test opened: one leak fails one test, not every later one).
local aio = require "luaio"

local function describe_left(left)
  local lines = { ("%d resource(s) left open by the test:"):format(#left) }
  for _, e in ipairs(left) do
    lines[#lines + 1] = ("  %s %s%s"):format(e.kind, tostring(e.object),
      e.site and (" created at " .. e.site) or "")
  end
  return table.concat(lines, "\n")
end

local function opened_since(before)
  local left = {}
  for _, e in ipairs(aio.open_resources()) do
    if not before[e.object] then left[#left + 1] = e end
  end
  return left
end

local function settle_resources(before)
  local deadline = aio.time() + 2
  while #opened_since(before) > 0 and aio.time() < deadline do aio.sleep(0.005) end
  local left = opened_since(before)
  if #left > 0 then error(describe_left(left), 0) end
end

local function finish(before, ...)
  settle_resources(before)
  return ...
end

return function(fn, limit)
  return function()
    local before = setmetatable({}, { __mode = "k" })
    for _, e in ipairs(aio.open_resources()) do before[e.object] = true end
    aio.run(function()
      local _ <close> = aio.timeout(limit or 5)
      return finish(before, fn())
    end)
  end
end
