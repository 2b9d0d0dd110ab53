local aio = require "luaio"

describe("error classes", function()
  local names = { "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty", "QueueFull",
    "QueueShutDown", "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError",
    "ExceptionGroup", "RuntimeError", "ValueError", "OSError" }

  it("exist as aio.<name> and build instances whose metatable is the class", function()
    for _, name in ipairs(names) do
      local cls = aio[name]
      assert.is_table(cls, name)
      local e = cls("went wrong")
      assert.equal(cls, getmetatable(e))
      assert.equal(name, e.name)
      assert.equal("went wrong", e.message)
      assert.equal(name .. ": went wrong", tostring(e))
    end
  end)

  it("copy extra fields and print without a message", function()
    local e = aio.OSError("refused", { code = "ECONNREFUSED" })
    assert.equal("ECONNREFUSED", e.code)
    assert.equal("TimeoutError: ", tostring(aio.TimeoutError()))
    assert.equal("", aio.TimeoutError().message)
  end)

  it("library errors are instances of their class", function()
    local f = aio.Future()
    local _, e = pcall(f.result, f)
    assert.equal(aio.InvalidStateError, getmetatable(e))
    assert.equal("InvalidStateError", e.name)
    assert.is_string(e.message)
  end)
end)
