-- arg_error.lua — asserts that `e` is an ordinary Lua argument error naming `fname`.
local assert = require "luassert" -- busted's assert (a spec sees it as a global, a module does not)

return function(fname, e)
  local s = tostring(e)
  assert.matches("bad argument", s, 1, true)
  assert.matches(fname, s, 1, true)
end
