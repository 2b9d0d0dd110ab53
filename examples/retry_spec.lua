-- retry_spec.lua — tests examples/retry.lua over ten minutes of virtual time, in
-- milliseconds of real time:  busted --lpath='examples/?.lua' examples/retry_spec.lua
-- (under stock lua5.4 with luaio on LUA_CPATH, or `luaio /usr/bin/busted ...`).
local aio = require "luaio"
local retry = require "retry"

-- the one line: each spec body runs in the loop on a virtual clock
local function virtual(body) return function() local _ <close> = aio.virtual_clock() aio.run(body) end end

describe("retry", function()
  it("backs off 1, 2, 4 ... 60 s and succeeds after ten minutes", virtual(function()
    local t0, calls = aio.time(), {}
    local flaky = function()
      calls[#calls + 1] = aio.time() - t0
      if aio.time() - t0 < 600 then error("service unavailable") end
      return "ok"
    end
    assert.equal("ok", retry(flaky, { attempts = 20 })())
    assert.same({ 0, 1, 3, 7, 15, 31, 63, 123, 183, 243, 303, 363, 423, 483, 543, 603 }, calls)
  end))

  it("gives up after the last attempt with the last error", virtual(function()
    local delays = {}
    local ok, err = pcall(retry(function() error("down", 0) end, {
      attempts = 4, base = 0.5, on_retry = function(_, _, d) delays[#delays + 1] = d end,
    }))
    assert.is_false(ok)
    assert.equal("down", err)
    assert.same({ 0.5, 1, 2 }, delays)
    assert.equal(3.5, aio.time())
  end))

  it("is cut short by a timeout around it", virtual(function()
    local ok, err = pcall(aio.wait_for, aio.spawn(retry(function() error("down") end, { attempts = 100 })), 90)
    assert.is_false(ok)
    assert.equal("TimeoutError", err.name)
    assert.equal(90, aio.time())
  end))
end)
