-- catch.lua — calls f(...), which must fail, and returns the error value:
-- local e = catch(aio.wait, {})
return function(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end
