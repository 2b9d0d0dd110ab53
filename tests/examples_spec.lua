-- Runs the examples of the foundation through the luaio binary and checks what they print.
local proc = require "support.proc"

local function example(name)
  local f = assert(io.open("examples/" .. name .. ".lua"))
  local code = f:read("a")
  f:close()
  return proc.run { code = code }
end

describe("examples", function()
  it("hello.lua prints hello then world", function()
    local rc, out = example("hello")
    assert.equal(0, rc)
    assert.equal("hello\nworld\n", out)
  end)

  it("two_tasks.lua finishes in the time of the longest sleep", function()
    local rc, out = example("two_tasks")
    assert.equal(0, rc)
    assert.matches("task2 slept 0%.1%d s\ntask1 slept 0%.2%d s\n", out)
    local total = tonumber(out:match("both done in ([%d.]+) s"))
    assert.is_true(total >= 0.2 and total < 0.3)
  end)

  it("future_callback.lua awaits a future resolved by a callback", function()
    local rc, out = example("future_callback")
    assert.equal(0, rc)
    assert.matches("awaited:\tfrom the callback\t42", out)
    assert.matches("done callback sees:\tfrom the callback\t42", out)
  end)

  it("cancel_timeout.lua shows cancellation and timeouts", function()
    local rc, out = example("cancel_timeout")
    assert.equal(0, rc)
    assert.matches("worker: cleaned up\nworker ended:\tfalse\tCancelledError: shutting down", out)
    assert.matches("timeout block:\tfalse\tTimeoutError", out)
    assert.matches("wait_for:\tfalse\tTimeoutError", out)
  end)

  it("task_group.lua waits for children and reports the failure", function()
    local rc, out = example("task_group")
    assert.equal(0, rc)
    assert.matches("child 3 done\nall children finished\n", out)
    assert.matches("false\tExceptionGroup\tchild failed", out)
    assert.not_matches("never printed", out)
  end)
end)
