-- sh.lua — runs a shell command line (under `sh -c`, killed after 30 s) with `stdin` (a
-- string) or /dev/null as its input; returns exit status, stdout, stderr.
local q = require "support.quote"
local fs = require "support.fs"

return function(cmd, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local input = "/dev/null"
  if stdin then
    input = os.tmpname()
    fs.write(input, stdin)
  end
  local _, how, code = os.execute("timeout -s KILL 30 sh -c " .. q(cmd) .. " <" .. input .. " >" .. out .. " 2>" .. err)
  if stdin then os.remove(input) end
  local o, e = fs.slurp(out) or "", fs.slurp(err) or ""
  os.remove(out)
  os.remove(err)
  return (how == "exit") and code or 128 + code, o, e
end
