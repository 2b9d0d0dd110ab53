-- is_err.lua — asserts that `e` is a luaio error of class `name`: a table whose metatable is
-- aio.<name>, with that name, a string message and tostring "<name>: <message>". Returns true,
-- so it also reads as a predicate: assert.is_true(not ok and is_err("QueueFull", err)).
local aio = require "luaio"
local assert = require "luassert" -- busted's assert (a spec sees it as a global, a module does not)

return function(name, e)
  assert.is_table(e, "expected a luaio error table, got " .. tostring(e))
  assert.equal(name, e.name)
  assert.equal(aio[name], getmetatable(e))
  assert.is_string(e.message)
  assert.equal(name .. ": " .. e.message, tostring(e))
  return true
end
