-- crawler.lua — fetches many slow "pages" through a job scheduler that keeps at most
-- `limit` requests in flight, and shuts down gracefully on Ctrl-C.
-- Usage: luaio examples/crawler.lua [pages [limit]]   (also: lua5.4 with LUA_CPATH set)
-- The luaio binary cancels the main task on SIGINT: the CancelledError is caught around
-- the work, then the scheduler is closed (running jobs cancelled, queued ones dropped).
local aio = require "luaio"

local PAGES = tonumber(arg and arg[1]) or 300
local LIMIT = tonumber(arg and arg[2]) or 20

-- A slow request, simulated: 50-200 ms; every 37th page fails.
local function fetch(url, n)
  aio.sleep(0.05 + (n * 7919 % 16) / 100)
  if n % 37 == 0 then error(("HTTP 500 from %s"):format(url), 0) end
  return ("<html><title>page %d</title></html>"):format(n)
end

local function main()
  local fetched, failed, bytes = 0, 0, 0
  local sched = aio.Scheduler {
    limit = LIMIT,
    -- a job whose error nobody waited for ends up here
    exception_handler = function(_, ctx)
      failed = failed + 1
      io.stderr:write(("crawler: %s: %s\n"):format(ctx.message, tostring(ctx.exception)))
    end,
  }
  local t0 = aio.time()
  local progress = aio.spawn(function()
    while true do
      aio.sleep(0.5)
      io.stderr:write(("crawler: %d fetched, %d failed, %d running, %d queued\n")
        :format(fetched, failed, sched:active_count(), sched:pending_count()))
    end
  end)

  local ok, err = pcall(function()
    for n = 1, PAGES do
      local url = ("http://example.test/page/%d"):format(n)
      sched:spawn(function()
        local body = fetch(url, n)
        fetched, bytes = fetched + 1, bytes + #body
      end)
    end
    sched:wait_and_close()
  end)
  progress:cancel()

  if not ok then
    if getmetatable(err) ~= aio.CancelledError then error(err, 0) end
    io.stderr:write(("\ncrawler: interrupted, closing (%d running, %d queued)\n")
      :format(sched:active_count(), sched:pending_count()))
    sched:close()
  end
  print(("%s: %d pages fetched (%d bytes), %d failed, %d not fetched, in %.2f s")
    :format(ok and "done" or "interrupted", fetched, bytes, failed, PAGES - fetched - failed,
      aio.time() - t0))
end

aio.run(main)
