-- core_regressions_spec.lua — faults found by probing the core and the network parts,
-- each with the case that failed before its fix.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"

local function lua_script(code)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, lua = true }
end

describe("unretrieved errors", function()
  it("reports a collected failed task within a few rounds of a loop that never goes idle", function()
    -- collected failures were reported only when the loop went idle, so a busy loop (a
    -- server under load, a loop of sleep(0)) could hide them for hours
    local rc, out = lua_script [[
      local seen
      aio.set_exception_handler(function(ctx) seen = ctx.exception end)
      aio.run(function()
        local busy = aio.spawn(function() while true do aio.sleep(0) end end)
        do aio.spawn(function() error("dropped boom", 0) end) end
        aio.sleep(0)
        aio.sleep(0)
        collectgarbage()
        collectgarbage()
        local rounds = 0
        while not seen and rounds < 100 do aio.sleep(0); rounds = rounds + 1 end
        print(seen, rounds <= 3)
        busy:cancel()
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("dropped boom\ttrue\n", out)
  end)
end)
