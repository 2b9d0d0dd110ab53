-- retry.lua — a retry-with-backoff helper, the kind of code whose tests wait for minutes
-- of timeouts in real time; examples/retry_spec.lua tests it on a virtual clock instead.
--   local retry = require "retry"
--   local body = retry(fetch, {attempts = 8, base = 1, max_delay = 60})(url)
local aio = require "luaio"

-- Calls fn(...) until it succeeds, sleeping base, 2*base, 4*base ... (at most max_delay)
-- between attempts; after `attempts` failures raises the last error. `on_retry(n, err,
-- delay)` is called before each sleep.
return function(fn, opts)
  opts = opts or {}
  local attempts, base, max_delay = opts.attempts or 5, opts.base or 1, opts.max_delay or 60
  return function(...)
    local delay = base
    for n = 1, attempts do
      local res = table.pack(pcall(fn, ...))
      if res[1] then return table.unpack(res, 2, res.n) end
      if n == attempts then error(res[2], 0) end
      if opts.on_retry then opts.on_retry(n, res[2], delay) end
      aio.sleep(delay)
      delay = math.min(delay * 2, max_delay)
    end
  end
end
