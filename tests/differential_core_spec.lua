-- differential_core_spec.lua — task, future, composition and queue behaviours checked against
-- CPython asyncio:
-- each scenario was run on python3 asyncio (its output is quoted beside the spec); each
-- spec failed before its fix and stays as its regression test.
local aio = require "luaio"
local async = require "support.async"

describe("differential vs asyncio", function()
  -- Python:
  --   q = asyncio.Queue(); t = asyncio.create_task(q.get()); await asyncio.sleep(0)
  --   q.put_nowait("a"); print(q.qsize(), q.empty())          -> 1 False
  --   q2 = asyncio.Queue(1); (getter waiting) q2.put_nowait(1); q2.put_nowait(2) -> QueueFull
  -- asyncio's put_nowait always stores the item and only wakes a getter; the item leaves
  -- the queue when the getter runs. luaio hands it to the waiting getter at once:
  -- qsize() is 0, empty() true, and a bounded queue accepts more than maxsize puts.
  it("put_nowait with a waiting getter keeps the item in the queue until the getter runs", async(function()
    local q = aio.Queue()
    local t = aio.spawn(function() return q:get() end)
    aio.sleep(0)
    q:put_nowait("a")
    assert.equal(1, q:qsize())
    assert.is_false(q:empty())
    assert.equal("a", t:await())
    assert.equal(0, q:qsize())

    local q2 = aio.Queue(1)
    local t2 = aio.spawn(function() return q2:get() end)
    aio.sleep(0)
    q2:put_nowait(1)
    assert.is_true(q2:full())
    local ok, err = pcall(q2.put_nowait, q2, 2)
    assert.is_false(ok)
    assert.equal("QueueFull", type(err) == "table" and err.name or err)
    assert.equal(1, t2:await())
  end))

  -- Python (same root cause as above):
  --   q = asyncio.Queue(); t = create_task(g()) (g: print("g got", await q.get())); await sleep(0)
  --   q.put_nowait("x"); print("main steals", q.get_nowait()); q.put_nowait("y"); await sleep(0)
  --   -> main steals x / g got y / qsize 0
  -- luaio: get_nowait raises QueueEmpty ("x" already went to the waiting getter), g gets "x",
  -- and "y" stays in the queue (qsize 1).
  it("get_nowait can take an item put while a getter was waiting (the getter gets the next one)", async(function()
    local q = aio.Queue()
    local t = aio.spawn(function() return q:get() end)
    aio.sleep(0)
    q:put_nowait("x")
    local ok, item = pcall(q.get_nowait, q)
    assert.is_true(ok)
    assert.equal("x", item)
    q:put_nowait("y")
    assert.equal("y", t:await())
    assert.equal(0, q:qsize())
  end))

  -- Python (3.11 and 3.12 alike; gather's _done_callback sets the child's exception on the
  -- outer future even while the gather is being cancelled):
  --   async def raiser():
  --       try: await asyncio.sleep(1)
  --       except asyncio.CancelledError: raise KeyError("k")
  --   t = asyncio.create_task(caller())   # caller: return await asyncio.gather(raiser())
  --   await asyncio.sleep(0.01); t.cancel()
  --   await t  -> raises KeyError; t.cancelled() == False
  -- (plain `await task` behaves the same way in both: KeyError.) luaio: CancelledError, cancelled.
  it("gather whose caller is cancelled re-raises a child's error raised in response", async(function()
    local t = aio.spawn(function()
      return aio.gather(function()
        pcall(aio.sleep, 1)
        error({ name = "KeyError" })
      end)
    end)
    aio.sleep(0.01)
    t:cancel()
    local ok, err = pcall(t.await, t)
    assert.is_false(ok)
    assert.equal("KeyError", type(err) == "table" and err.name or tostring(err))
    assert.is_false(t:cancelled())
  end))

  -- Python (3.11 and 3.12: wait_for special-cases timeout <= 0: ensure_future, and if not
  -- already done, cancel it and wait, then raise TimeoutError — the coroutine never runs):
  --   async def quick(): print("quick ran"); return 1
  --   await asyncio.wait_for(quick(), 0)   -> TimeoutError, nothing printed
  -- luaio prints "quick ran" (the body runs, with its side effects) then raises TimeoutError.
  it("wait_for with timeout <= 0 cancels a not-yet-started awaitable without running it", async(function()
    for _, timeout in ipairs({ 0, -1 }) do
      local ran = false
      local ok, err = pcall(aio.wait_for, aio.async(function() ran = true return 1 end)(), timeout)
      assert.is_false(ok)
      assert.equal("TimeoutError", type(err) == "table" and err.name or tostring(err))
      assert.is_false(ran)
    end
  end))

  -- Python:
  --   t = create_task(sleeper()); await asyncio.sleep(0)
  --   t.cancel("a"); t.cancel("b"); await t   -> CancelledError('a') (inside and outside)
  -- The first cancel cancels the sleep future with "a"; the second only sets _must_cancel,
  -- and __step keeps the CancelledError that is already being thrown. luaio delivers "b".
  it("a second cancel() does not replace the message of the first", async(function()
    local inner
    local t = aio.spawn(function()
      local _, e = pcall(aio.sleep, 1)
      inner = e
      error(e, 0)
    end)
    aio.sleep(0)
    assert.is_true(t:cancel("a"))
    assert.is_true(t:cancel("b"))
    local ok, err = pcall(t.await, t)
    assert.is_false(ok)
    assert.equal("a", inner.message)
    assert.equal("a", err.message)
  end))
end)
