-- tail.lua — `tail -f`: prints the lines appended to a file, woken by aio.fs.watch (no
-- polling). Usage: luaio examples/tail.lua FILE [N]   (N: stop after N lines)
local aio = require "luaio"

local path, limit = arg[1], tonumber(arg[2])
if not path then
  io.stderr:write("usage: tail.lua FILE [N]\n")
  os.exit(2)
end

aio.run(function()
  -- watch first, then go to the end: nothing appended in between is missed
  local watcher <close> = aio.fs.watch(path)
  local f <close> = aio.open(path)
  f:seek("end")
  io.stderr:write("watching ", path, "\n")
  local printed, partial = 0, ""
  -- prints the complete lines appended since the last call; true once N were printed
  local function drain()
    for chunk in f:lines("L") do
      chunk = partial .. chunk
      if chunk:sub(-1) ~= "\n" then
        partial = chunk -- the writer has not finished this line yet
      else
        partial = ""
        io.write(chunk)
        io.flush()
        printed = printed + 1
        if limit and printed >= limit then return true end
      end
    end
  end
  if drain() then return end
  for event in watcher do
    if event == "change" and drain() then return end
  end
end)
