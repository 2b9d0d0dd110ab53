-- game.lua — the script examples/embed/game_loop.c runs: one task per game object.
-- `host.next_frame()` returns a Future the host resolves at the start of every frame with
-- the frame number and the fixed time step; timers (aio.sleep) work in game time too.
local aio = require "luaio"
local host = ...

local function wait_frames(n)
  local frame
  for _ = 1, n do frame = aio.await(host.next_frame()) end
  return frame
end

-- a blinking light: every 3 frames
aio.spawn(function()
  for i = 1, 3 do
    local frame = wait_frames(3)
    print(("[frame %2d] light %s"):format(frame, i % 2 == 1 and "on" or "off"))
  end
end)

-- a spawner on a wall-clock timer
aio.spawn(function()
  aio.sleep(0.05)
  print(("[frame %2d] enemy spawned after 50 ms"):format(host.frame()))
end)

-- the player: moves each frame until it reaches x >= 1
local x, speed = 0, 4
while x < 1 do
  local frame, dt = aio.await(host.next_frame())
  x = x + speed * dt
  print(("[frame %2d] player at x = %.2f"):format(frame, x))
end
print(("[frame %2d] player arrived"):format(host.frame()))
