-- regressions_spec.lua — one test per fixed defect found in review; each failed before its fix.
local aio = require "luaio"
local async = require "support.async"
local proc = require "support.proc"

describe("regressions", function()
  -- dump.c: the task list was a C array of raw pointers while get_name / __tostring ran
  -- Lua code; that code could run the loop, finish the listed tasks and collect them.
  it("dump_tasks keeps the tasks it lists alive while it calls Lua code", function()
    local st, out, err = proc.run { lua = true, code = [[
      local aio = require "luaio"
      local t0 = aio.spawn(function() end)
      local mt = getmetatable(t0)
      local orig, done = mt.get_name, false
      mt.get_name = function(t)
        if not done then
          done = true
          aio.run(function() aio.sleep(0) end) -- finishes every listed task
          collectgarbage() collectgarbage()
          local junk = {} -- reuse the freed blocks with bytes that make bad pointers
          for i = 1, 4000 do junk[i] = string.rep("\255", 160 + i % 24) .. i end
        end
        return orig(t)
      end
      for i = 1, 50 do aio.spawn(function() end) end
      t0 = nil
      local parts = {}
      aio.dump_tasks({ write = function(_, s) parts[#parts + 1] = s end })
      mt.get_name = orig
      local s = table.concat(parts)
      assert(s:match("^luaio: 51 live tasks\n"), s)
      local n = 0
      for _ in s:gmatch("\nTask%-%d+ \"Task%-%d+\" ") do n = n + 1 end
      assert(n == 51, s)
      print("ok")
    ]] }
    assert.equal(0, st, err)
    assert.equal("ok\n", out)
  end)

  -- queue.c: get_nowait() from inside less() popped a one- or two-entry heap while a put
  -- was comparing, so the put then wrote past the new count and an item came out nil.
  it("PriorityQueue refuses get_nowait from inside its comparison and loses nothing", async(function()
    local q, inner
    q = aio.PriorityQueue(function(a, b)
      if q:qsize() == 1 and inner == nil then
        local ok, e = pcall(q.get_nowait, q)
        inner = { ok = ok, e = e }
      end
      return a < b
    end)
    q:put_nowait(1)
    q:put_nowait(5)
    assert.is_false(inner.ok)
    assert.equal("RuntimeError", inner.e.name)
    assert.equal(2, q:qsize())
    assert.equal(1, q:get_nowait())
    assert.equal(5, q:get_nowait())
    assert.equal(0, q:qsize())
  end))

  -- stream.c: a readline() refused because another task waits for data still reset and
  -- moved the waiter's scan offset (for its own separator), so the waiting readuntil
  -- skipped a separator that straddled the old end of the buffer and waited forever.
  it("a refused concurrent read leaves the waiting readuntil's search intact", async(function()
    local r = aio.StreamReader()
    local a = aio.spawn(function() return r:readuntil("\r\n") end)
    r:feed_data("abc\r")
    aio.sleep(0) -- a waits for more data
    local ok, e = pcall(r.readline, r)
    assert.is_false(ok)
    assert.equal("RuntimeError", e.name)
    r:feed_data("\n")
    aio.sleep(0)
    aio.sleep(0)
    local done = a:done()
    r:feed_eof() -- lets a end either way, so a failure does not hang
    assert.is_true(done)
    assert.equal("abc\r\n", a:result())
  end))

  -- task.c: cancelling a task whose wait cancels what it waits on looped forever when the
  -- waits formed a cycle (A awaits B awaits A; a gather of the task itself)
  it("cancelling a cycle of awaits ends every task in it", function()
    local st, out = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        local a, b
        a = aio.spawn(function() aio.sleep(0) return b:await() end)
        b = aio.spawn(function() aio.sleep(0) return a:await() end)
        aio.sleep(0) aio.sleep(0)
        a:cancel()
        print(select(2, pcall(aio.await, a)).name, select(2, pcall(aio.await, b)).name)
        local g = aio.spawn(function() return aio.gather(aio.current_task()) end)
        aio.sleep(0)
        g:cancel()
        print(select(2, pcall(aio.await, g)).name)
      end)
    ]] }
    assert.equal(0, st)
    assert.equal("CancelledError\tCancelledError\nCancelledError\n", out)
  end)

  -- runtime.c: the default report converted the error outside any protected call, so an
  -- error value whose __tostring fails escaped the loop and left aio.run unusable
  it("an error value whose __tostring fails is reported and the loop goes on", function()
    local st, out, err = proc.run { lua = true, code = [[
      local aio = require "luaio"
      aio.run(function()
        aio.call_soon(function() error(setmetatable({}, { __tostring = function() return {} end })) end)
        aio.sleep(0.001)
        print("survived")
      end)
      print(pcall(aio.run, function() return "again" end))
    ]] }
    assert.equal(0, st)
    assert.equal("survived\ntrue\tagain\n", out)
    assert.matches("could not be reported", err)
  end)
end)
