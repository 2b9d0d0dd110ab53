-- timer_spec.lua — aio.sleep, call_soon / call_later / call_at and their handles, aio.time:
-- ordering, arguments, cancellation, bad input.
local aio = require "luaio"
local virtual = require "support.virtual"
local catch = require "support.catch"
local settle = require "support.settle"

describe("sleep", function()
  it("sleeps at least the requested time on the loop clock", virtual(function()
    local t0 = aio.time()
    aio.sleep(0.02)
    assert.is_true(aio.time() - t0 >= 0.02)
  end))

  it("accepts fractional seconds and returns its extra arguments", virtual(function()
    local t0 = aio.time()
    local r = table.pack(aio.sleep(0.015, "a", nil, 3))
    assert.is_true(aio.time() - t0 >= 0.014)
    assert.same({ "a", nil, 3, n = 3 }, r)
  end))

  it("returns its extra arguments, nils included, and nothing without them", virtual(function()
    local r = table.pack(aio.sleep(0, "a", nil, 3))
    assert.equal(3, r.n)
    assert.same({ "a", nil, 3 }, { r[1], r[2], r[3] })
    assert.equal(0, select("#", aio.sleep(0)))
    assert.equal("f", aio.sleep(0.001, "f"))
  end))

  it("wakes sleepers in deadline order, equal deadlines in arming order", virtual(function()
    local order = {}
    local ts = {}
    for i, d in ipairs({ 0.03, 0.01, 0.02, 0.01 }) do
      ts[i] = aio.spawn(function() aio.sleep(d) order[#order + 1] = i end)
    end
    aio.gather(ts)
    assert.same({ 2, 4, 3, 1 }, order)
  end))

  it("with 0, round-robins the ready tasks", virtual(function()
    local order = {}
    local function worker(name)
      for i = 1, 3 do
        order[#order + 1] = name .. i
        aio.sleep(0)
      end
    end
    aio.gather(function() worker("a") end, function() worker("b") end)
    assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, order)
  end))

  it("with 0, lets every other ready task run once before the caller goes on", virtual(function()
    local order = {}
    aio.spawn(function() order[#order + 1] = "a" aio.sleep(0) order[#order + 1] = "a2" end)
    aio.spawn(function() order[#order + 1] = "b" end)
    aio.sleep(0)
    order[#order + 1] = "main"
    aio.sleep(0)
    assert.same({ "a", "b", "main", "a2" }, order)
  end))

  it("rejects non-numbers and NaN with a standard argument error", virtual(function()
    local ok, e = pcall(function() aio.sleep("x") end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'sleep' %(number expected, got string%)", e)
    e = select(2, pcall(aio.sleep, 0 / 0))
    assert.matches("NaN", e)
    -- passed to pcall directly, the error still names the function as registered
    e = select(2, pcall(aio.sleep, "x"))
    assert.equal("bad argument #1 to 'sleep' (number expected, got string)", e)
    local f = aio.Future()
    assert.equal("bad argument #2 to 'add_done_callback' (function expected, got number)",
      select(2, pcall(f.add_done_callback, f, 1)))
  end))

  it("rejects a missing or non-number delay naming sleep", virtual(function()
    local e = catch(aio.sleep, "soon")
    assert.matches("bad argument #1 to 'sleep' (number expected, got string)", tostring(e), 1, true)
    e = catch(aio.sleep)
    assert.matches("bad argument #1 to 'sleep'", tostring(e), 1, true)
  end))
end)

describe("callbacks", function()
  it("call_soon runs callbacks FIFO with their arguments, never at once; handle:cancel() stops one", virtual(function()
    local log = {}
    aio.call_soon(function(a, b) log[#log + 1] = a .. b end, "x", "1")
    local h = aio.call_soon(function() log[#log + 1] = "cancelled" end)
    aio.call_soon(function(a) log[#log + 1] = a end, "y")
    assert.is_not_nil(h)
    h:cancel()
    assert.same({}, log)
    settle(3)
    assert.same({ "x1", "y" }, log)
  end))

  it("call_later and call_at fire in deadline order; handle:cancel() stops one", virtual(function()
    local got = {}
    local done = aio.Future()
    aio.call_later(0.02, function() got[#got + 1] = 2 end)
    local h = aio.call_later(0.01, function() got[#got + 1] = "cancelled" end)
    aio.call_at(aio.time() + 0.005, function() got[#got + 1] = 1 end)
    aio.call_later(0.03, function() done:set_result() end)
    h:cancel()
    assert.is_true(h:cancelled())
    done:await()
    assert.same({ 1, 2 }, got)
  end))

  it("call_later and call_at pass their extra arguments", virtual(function()
    local got = {}
    local f = aio.Future()
    aio.call_later(0.02, function(x) got[#got + 1] = x f:set_result() end, "later")
    aio.call_at(aio.time() + 0.01, function(x) got[#got + 1] = x end, "at")
    local h = aio.call_later(0.005, function() got[#got + 1] = "no" end)
    h:cancel()
    f:await()
    assert.same({ "at", "later" }, got)
  end))

  it("call_soon, call_later, call_at and set_exception_handler check their arguments", function()
    assert.matches("bad argument #1 to 'call_soon'", select(2, pcall(function() aio.call_soon(1) end)))
    assert.matches("bad argument #1 to 'call_later'", select(2, pcall(function() aio.call_later("x", print) end)))
    assert.matches("bad argument #2 to 'call_later'", select(2, pcall(function() aio.call_later(1, nil) end)))
    assert.matches("bad argument #1 to 'call_at'", select(2, pcall(function() aio.call_at(nil, print) end)))
    assert.matches("bad argument #1 to 'set_exception_handler'", select(2, pcall(function() aio.set_exception_handler(5) end)))
  end)

  it("call_soon, call_later and call_at reject a wrong-typed callback or time, naming themselves", virtual(function()
    assert.matches("bad argument #1 to 'call_soon'", tostring(catch(aio.call_soon, 5)), 1, true)
    assert.matches("bad argument #1 to 'call_later'", tostring(catch(aio.call_later, "x", print)), 1, true)
    assert.matches("bad argument #2 to 'call_later'", tostring(catch(aio.call_later, 1, 5)), 1, true)
    assert.matches("bad argument #1 to 'call_at'", tostring(catch(aio.call_at, {}, print)), 1, true)
  end))
end)

describe("aio.time", function()
  it("is a monotonic clock in seconds that follows sleep", virtual(function()
    local a = aio.time()
    assert.is_number(a)
    aio.sleep(0.01)
    local b = aio.time()
    assert.is_true(b >= a + 0.009 and b < a + 5)
  end))

  it("works outside the loop and never goes back", function()
    local a = aio.time()
    local b = aio.time()
    assert.is_number(a)
    assert.is_true(b >= a)
  end)
end)
