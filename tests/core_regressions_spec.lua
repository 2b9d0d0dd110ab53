-- core_regressions_spec.lua — faults found by probing the core and the network parts,
-- each with the case that failed before its fix.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"

local function lua_script(code)
  return proc.run { code = "local aio = require 'luaio'\n" .. code, lua = true }
end

describe("unretrieved errors", function()
  it("reports a collected failed task within a few rounds of a loop that never goes idle", function()
    -- collected failures were reported only when the loop went idle, so a busy loop (a
    -- server under load, a loop of sleep(0)) could hide them for hours
    local rc, out = lua_script [[
      local seen
      aio.set_exception_handler(function(ctx) seen = ctx.exception end)
      aio.run(function()
        local busy = aio.spawn(function() while true do aio.sleep(0) end end)
        do aio.spawn(function() error("dropped boom", 0) end) end
        aio.sleep(0)
        aio.sleep(0)
        collectgarbage()
        collectgarbage()
        local rounds = 0
        while not seen and rounds < 100 do aio.sleep(0); rounds = rounds + 1 end
        print(seen, rounds <= 3)
        busy:cancel()
      end)
    ]]
    assert.equal(0, rc)
    assert.equal("dropped boom\ttrue\n", out)
  end)
end)

describe("Unix sockets", function()
  local long = "/tmp/" .. string.rep("s", 120) -- longer than sockaddr_un holds

  it("refuse a path longer than the platform's limit instead of binding a truncated one", async(function()
    -- libuv cut the path short: the server listened on another path than the one asked for
    local ok, err = pcall(aio.start_unix_server, function() end, long)
    assert.is_false(ok)
    assert.equal("OSError", err.name)
    assert.equal("ENAMETOOLONG", err.code)
    assert.matches("bind /tmp/s+: path too long for a Unix socket %(125 bytes, at most 107%)", err.message)
    assert.is_nil(io.open(long:sub(1, 107)), "nothing was bound at the truncated path")
    ok, err = pcall(aio.open_unix_connection, long)
    assert.is_false(ok)
    assert.equal("ENAMETOOLONG", err.code)
    assert.matches("^connect /tmp/s+: path too long", err.message)
  end))

  it("say ENOENT when the socket's directory does not exist", async(function()
    -- libuv reports a missing directory as EACCES, which sends users after permissions
    local ok, err = pcall(aio.start_unix_server, function() end, "/tmp/luaio-no-such-dir-" .. os.time() .. "/sock")
    assert.is_false(ok)
    assert.equal("ENOENT", err.code)
    assert.matches("^bind /tmp/luaio%-no%-such%-dir%-%d+/sock: ", err.message)
  end))
end)

describe("argument errors", function()
  it("name a NaN alike everywhere", async(function()
    -- wait_for said "number expected, got number"
    local nan = 0 / 0
    local cases = {
      { aio.wait_for, aio.Future(), nan, "#2 to 'wait_for'" },
      { aio.sleep, nan, "#1 to 'sleep'" },
      { aio.call_later, nan, print, "#1 to 'call_later'" },
      { aio.Semaphore, nan, "#1 to 'Semaphore'" },
      { aio.timeout, nan, "#1 to 'timeout'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(table.unpack(c, 1, #c - 1))
      assert.is_false(ok)
      assert.matches("bad argument " .. c[#c]:gsub("%p", "%%%0") .. " %(number expected, got NaN%)", err)
    end
  end))
end)

describe("await outside a task", function()
  it("raises also on a done future or an unstarted coroutine object", async(function()
    -- a done future was returned from at once, as if a callback could await
    local f = aio.Future()
    f:set_result(1)
    local results
    aio.call_soon(function() -- a plain loop callback: no task
      results = {}
      for _, call in ipairs { function() return f:await() end, function() return aio.await(f) end,
                              function() return aio.async(function() return 1 end)():await() end } do
        results[#results + 1] = table.pack(pcall(call))
      end
    end)
    while not results do aio.sleep(0) end
    for _, r in ipairs(results) do
      assert.is_false(r[1])
      assert.matches("luaio.await: must be called from inside a task", r[2])
    end
  end))
end)
