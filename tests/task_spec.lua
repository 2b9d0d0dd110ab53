local aio = require "luaio"
local async = require "support.async"

describe("Task", function()
  it("runs a spawned function and returns its results", async(function()
    local t = aio.spawn(function(a, b) aio.sleep(0) return a + b, "x" end, 1, 2)
    local s, x = t:await()
    assert.equal(3, s)
    assert.equal("x", x)
    assert.is_true(t:done())
  end))
end)
