-- supervisor.lua — keeps a child process running: restarts it whenever it exits (with a
-- growing pause, up to a number of restarts), prints what it writes, and on SIGTERM or
-- SIGINT stops the child and then itself.
-- Usage: luaio examples/supervisor.lua [max_restarts [shell command]]
local aio = require "luaio"

local max_restarts = tonumber(arg and arg[1]) or math.huge
local command = arg and arg[2] or "echo child $$ up; exec sleep 2"

aio.run(function()
  local stopping, current = false, nil
  local function stop(name)
    print("supervisor: " .. name .. ", stopping")
    stopping = true
    if current then current:terminate() end
  end
  aio.add_signal_handler("SIGTERM", stop, "SIGTERM")
  aio.add_signal_handler("SIGINT", stop, "SIGINT")

  local restarts = 0
  while not stopping do
    current = aio.create_subprocess_shell(command, { stdout = "pipe", stderr = "stdout" })
    print(("supervisor: started child %d"):format(current.pid))
    for line in current.stdout:lines() do print("  | " .. line) end
    local rc = current:wait()
    print(("supervisor: child %d exited with %d"):format(current.pid, rc))
    if stopping then break end
    if restarts >= max_restarts then
      print(("supervisor: giving up after %d restarts"):format(restarts))
      break
    end
    restarts = restarts + 1
    aio.sleep(math.min(0.05 * restarts, 1)) -- back off a little more each time
  end
  aio.remove_signal_handler("SIGTERM")
  aio.remove_signal_handler("SIGINT")
  print("supervisor: stopped")
end)
