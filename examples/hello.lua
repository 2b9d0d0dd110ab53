-- hello.lua — the seed's hello world: print, suspend one second, print.
local aio = require "luaio"

local hello_world = aio.async(function()
  print("hello")
  aio.sleep(1)
  print("world")
end)

aio.run(hello_world())
