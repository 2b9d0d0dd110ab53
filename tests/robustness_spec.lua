-- Bad input never crashes the process: every public function and method, called with
-- random arguments inside tasks that are then cancelled (tests/support/api_fuzz.lua).
local proc = require "support.proc"

describe("robustness", function()
  for _, seed in ipairs { 11, 22, 33 } do
    it("survives random calls to every function and method (seed " .. seed .. ")", function()
      local f = assert(io.open("tests/support/api_fuzz.lua"))
      local code = f:read("a")
      f:close()
      local rc, out, err = proc.run { code = code, args = { "2", tostring(seed) } }
      assert.equal(0, rc, err)
      assert.matches("^calls\t%d+\n$", out)
    end)
  end
end)
