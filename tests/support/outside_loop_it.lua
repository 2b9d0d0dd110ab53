-- outside_loop_it.lua — an `it` for a case that needs no loop running (an aio.Runner). Under
-- the luaio binary a spec body already runs in the main task, where a Runner must raise, so
-- there the case runs in a fresh stock lua5.4 (busted --filter on the same spec file) with
-- the module built beside the binary under test.
--   local runner_it = require "support.outside_loop_it"(it, "tests/resources_spec.lua")
local aio = require "luaio"
local assert = require "luassert"
local bin = require "support.bin"

return function(it, spec_file)
  return function(name, fn)
    if not aio.current_task() then return it(name, fn) end
    it(name, function()
      local dir = bin:match("^(.*)/[^/]*$")
      local pattern = name:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
      local preload = os.getenv("LUAIO_PRELOAD")
      local cmd = ("%sLUA_CPATH=%q lua5.4 /usr/bin/busted -o TAP --filter=%q %q 2>&1")
        :format(preload and ("LD_PRELOAD=%q "):format(preload) or "", dir .. "/?.so;;", pattern, spec_file)
      local p = io.popen(cmd)
      local out = p:read("a")
      p:close()
      assert.matches("\nok 1 %- ", "\n" .. out, nil, false, out)
      assert.not_matches("not ok", out, nil, true)
    end)
  end
end
