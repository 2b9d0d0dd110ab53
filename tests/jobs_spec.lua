-- jobs_spec.lua — luaio.jobs against a real redis-server (tests/support/redis_server.lua):
-- Queue / JobRef / Worker (enqueue, run, results, status transitions, unique job ids,
-- deferred jobs, retries with backoff, leases taken over after a timeout, keep_result,
-- errors, close), the serialiser, bad input, the arq parity cases, and the fault tests of
-- issue 16: a worker process killed with SIGKILL, Redis restarted under a running worker,
-- three worker processes sharing 10,000 jobs.
local aio = require "luaio"
local jobs = require "luaio.jobs"
local redis = require "luaio.redis"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local with_handler = require "support.with_handler"
local fs = require "support.fs"
local redis_server = require "support.redis_server"

if not redis_server.available() then
  describe("luaio.jobs", function() pending(redis_server.MISSING) end)
  return
end

local BIN = os.getenv("LUAIO_BIN") or "build/luaio"

-- Under valgrind (20-50x slower) the cases built on leases and heartbeats of a few tenths of
-- a second, and the fault tests with several worker processes, cannot keep their timing;
-- they run in the other passes (both runners, ASan). jobs.lua is Lua only: the C it runs
-- (the Redis reply reader) is checked under valgrind by redis_spec and the cases kept here.
local timed_describe = describe
if os.getenv("LUAIO_VALGRIND") == "1" then
  timed_describe = function(name)
    describe(name, function() pending("timing-bound: not run under valgrind") end)
  end
end

local srv
local nqueues = 0
-- a fresh queue name per test: tests share one server
local function qname()
  nqueues = nqueues + 1
  return ("spec:%d%04d:%d"):format(os.time() % 100000, math.random(0, 9999), nqueues)
end

-- runs a worker in a task for the duration of fn(worker), then closes it
local function with_worker(opts, fn)
  local w = jobs.Worker(opts)
  local t = aio.spawn(function() w:run() end)
  local ok, err = pcall(fn, w, t)
  w:close()
  t:await()
  if not ok then error(err, 0) end
  return w
end

local function raw()
  return redis.connect(srv.url)
end

describe("luaio.jobs", function()
  setup(function() srv = redis_server.start() end)
  teardown(function() if srv then srv:stop() end end)

  describe("Queue and Worker", function()
    it("runs an enqueued job and returns its results", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      with_worker({ srv.url, name, functions = {
        add = function(a, b) return a + b, nil, { sum = a + b } end,
      } }, function()
        local ref = q:enqueue("add", { 2, 3 })
        assert.is_string(ref.id)
        local a, b, c = ref:result(5)
        assert.equal(5, a)
        assert.is_nil(b)
        assert.same({ sum = 5 }, c)
        assert.equal(3, select("#", ref:result()))
        assert.equal("complete", ref:status())
        assert.matches("^JobRef<", tostring(ref))
      end)
    end))

    it("passes nil holes, nested tables, floats and binary strings through", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      with_worker({ srv.url, name, functions = {
        echo = function(...) return select("#", ...), ... end,
      } }, function()
        local nested = { 1, { 2, { 3 } }, k = { x = "y" }, [true] = false, [2.5] = -0.5 }
        local r = table.pack(q:enqueue("echo", { n = 4, nil, "a\0b", nested, 0.1 }):result(5))
        assert.equal(5, r.n)
        assert.equal(4, r[1])
        assert.is_nil(r[2])
        assert.equal("a\0b", r[3])
        assert.same(nested, r[4])
        assert.equal(0.1, r[5])
      end)
    end))

    it("goes queued -> in_progress -> complete", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local started, go = aio.Event(), aio.Event()
      local ref = q:enqueue("wait", {})
      assert.equal("queued", ref:status())
      with_worker({ srv.url, name, functions = {
        wait = function() started:set(); go:wait(); return "ok" end,
      } }, function()
        started:wait()
        assert.equal("in_progress", ref:status())
        go:set()
        assert.equal("ok", ref:result(5))
        assert.equal("complete", ref:status())
      end)
    end))

    it("says not_found for an unknown job", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      assert.equal("not_found", q:job("nope"):status())
      local e = catch(q:job("nope").result, q:job("nope"), 1)
      assert.is_true(is_err("RuntimeError", e))
      assert.matches("not found", e.message)
    end))

    it("result(timeout) raises TimeoutError while the job has not finished", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      local ref = q:enqueue("f", {})
      local t0 = aio.time()
      local e = catch(ref.result, ref, 0.1)
      assert.is_true(is_err("TimeoutError", e))
      assert.is_true(aio.time() - t0 >= 0.09)
      assert.equal("queued", ref:status())
    end))

    it("info() counts queued, running and finished jobs", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      q:enqueue("ok", {})
      q:enqueue("ok", {})
      local info = q:info()
      assert.equal(2, info.queued)
      assert.equal(0, info.in_progress)
      assert.equal(0, info.complete)
      with_worker({ srv.url, name, functions = { ok = function() end } }, function()
        poll(function() return q:info().complete == 2 end, "2 jobs")
      end)
      info = q:info()
      assert.same({ queued = 0, in_progress = 0, complete = 2, failed = 0, retried = 0, recovered = 0 }, info)
    end))

    it("a job id already queued, running or finished names the existing job", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local runs = 0
      local a = q:enqueue("count", { 1 }, { job_id = "unique" })
      local b = q:enqueue("count", { 2 }, { job_id = "unique" })
      assert.equal("unique", a.id)
      assert.equal("unique", b.id)
      assert.equal(1, q:info().queued)
      with_worker({ srv.url, name, functions = { count = function(x) runs = runs + 1; return x end } }, function()
        assert.equal(1, a:result(5))
        -- finished and kept: never run again
        local c = q:enqueue("count", { 3 }, { job_id = "unique" })
        assert.equal(1, c:result(5))
        aio.sleep(0.1)
      end)
      assert.equal(1, runs)
      assert.equal(1, q:info().complete)
    end))

    it("generated ids are distinct", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      local seen = {}
      for _ = 1, 50 do
        local id = q:enqueue("f", {}).id
        assert.is_nil(seen[id])
        seen[id] = true
      end
    end))

    it("runs a deferred job no earlier than asked", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local t0 = aio.time()
      local ran_at
      local ref = q:enqueue("when", {}, { defer = 0.3 })
      with_worker({ srv.url, name, functions = { when = function() ran_at = aio.time() end } }, function()
        assert.equal("queued", ref:status())
        ref:result(5)
      end)
      assert.is_true(ran_at - t0 >= 0.28, "ran after " .. (ran_at - t0))
    end))

    it("retries a failing job with backoff, then succeeds", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local times = {}
      with_worker({ srv.url, name, retry_backoff = 0.1, functions = {
        flaky = function()
          times[#times + 1] = aio.time()
          if #times < 3 then error("not yet") end
          return #times
        end,
      } }, function()
        assert.equal(3, q:enqueue("flaky", {}, { retries = 2 }):result(5))
      end)
      assert.equal(3, #times)
      assert.is_true(times[2] - times[1] >= 0.09, "first backoff " .. (times[2] - times[1]))
      assert.is_true(times[3] - times[2] >= 0.19, "second backoff doubles " .. (times[3] - times[2]))
      local info = q:info()
      assert.equal(2, info.retried)
      assert.equal(1, info.complete)
    end))

    it("a job that fails more than retries times fails with its last error", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local n = 0
      with_worker({ srv.url, name, retry_backoff = function() return 0 end, functions = {
        bad = function() n = n + 1; error(aio.ValueError("try " .. n, { try = n })) end,
      } }, function()
        local ref = q:enqueue("bad", {}, { retries = 1 })
        local e = catch(ref.result, ref, 5)
        assert.is_true(is_err("ValueError", e))
        assert.equal("try 2", e.message)
        assert.equal(2, e.try)
        assert.equal("failed", ref:status())
      end)
      assert.equal(2, n)
      assert.equal(1, q:info().failed)
    end))

    it("raises the job's error: strings keep their position, unknown functions fail", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      with_worker({ srv.url, name, functions = {
        str = function() error("plain failure") end,
        tbl = function() error({ code = 7 }) end,
        oserr = function() error(aio.OSError("disk", { code = "EIO" })) end,
        fn = function() return function() end end,
      } }, function()
        local str = q:enqueue("str", {})
        local e = catch(str.result, str, 5)
        assert.matches("plain failure$", e)
        assert.matches("jobs_spec.lua:%d+:", e)
        assert.same({ code = 7 }, catch(function() return q:enqueue("tbl", {}):result(5) end))
        e = catch(function() return q:enqueue("oserr", {}):result(5) end)
        assert.is_true(is_err("OSError", e))
        assert.equal("EIO", e.code)
        e = catch(function() return q:enqueue("missing", {}):result(5) end)
        assert.is_true(is_err("ValueError", e))
        assert.matches("no function 'missing'", e.message)
        e = catch(function() return q:enqueue("fn", {}):result(5) end)
        assert.is_true(is_err("ValueError", e))
        assert.matches("result%[1%] is a function: cannot be serialised", e.message)
      end)
    end))

    it("keeps results for keep_result seconds", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      with_worker({ srv.url, name, keep_result = 0.5, functions = { f = function() return 1 end } }, function()
        local ref = q:enqueue("f", {})
        assert.equal(1, ref:result(5))
        local ttl = c:call("PTTL", name .. ":result:" .. ref.id)
        assert.is_true(ttl > 0 and ttl <= 500, "ttl " .. ttl)
        poll(function() return ref:status() == "not_found" end, "the result to expire")
      end)
    end))

    it("keeps nothing with keep_result = 0, and the default is an hour", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      with_worker({ srv.url, name, keep_result = 0, functions = { f = function() return 1 end } }, function()
        local ref = q:enqueue("f", {})
        poll(function() return q:info().complete == 1 end, "the job")
        assert.equal("not_found", ref:status())
      end)
      with_worker({ srv.url, name, functions = { f = function() return 1 end } }, function()
        local ref = q:enqueue("f", {})
        ref:result(5)
        local ttl = c:call("PTTL", name .. ":result:" .. ref.id)
        assert.is_true(ttl > 3590000 and ttl <= 3600000, "ttl " .. ttl)
      end)
    end))

    it("a job whose lease expires is taken by another worker; the late finisher is ignored", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local a_started, a_finish = aio.Event(), aio.Event()
      local ref = q:enqueue("who", {}, { timeout = 0.3 })
      -- worker A never renews its lease (heartbeat = false) and finishes late; at its limit
      -- of 1 it takes nothing more (not even its own expired job)
      local wa = jobs.Worker { srv.url, name, heartbeat = false, limit = 1, functions = {
        who = function() a_started:set(); a_finish:wait(); return "A" end,
      } }
      local ta = aio.spawn(function() wa:run() end)
      a_started:wait()
      assert.equal("in_progress", ref:status())
      with_worker({ srv.url, name, functions = { who = function() return "B" end } }, function()
        assert.equal("B", ref:result(5))
      end)
      a_finish:set()
      wa:close()
      ta:await()
      assert.equal("B", ref:result())
      local info = q:info()
      assert.same({ queued = 0, in_progress = 0, complete = 1, failed = 0, retried = 0, recovered = 1 }, info)
    end))

    it("a worker that takes back its own expired job keeps one copy running", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local runs, finish = 0, aio.Event()
      local ref = q:enqueue("once", {}, { timeout = 0.1 })
      with_worker({ srv.url, name, heartbeat = false, functions = {
        once = function() runs = runs + 1; finish:wait(); return runs end,
      } }, function()
        poll(function() return q:info().recovered >= 2 end, "the lease to expire twice")
        finish:set()
        assert.equal(1, ref:result(5))
      end)
      assert.equal(1, runs)
      assert.equal(1, q:info().complete)
    end))

    it("the heartbeat keeps a long job's lease", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local runs = 0
      local ref = q:enqueue("long", {}, { timeout = 0.3 })
      local fns = { long = function() runs = runs + 1; aio.sleep(1); return "done" end }
      with_worker({ srv.url, name, heartbeat = 0.05, functions = fns }, function()
        with_worker({ srv.url, name, heartbeat = 0.05, functions = fns }, function()
          assert.equal("done", ref:result(5))
        end)
      end)
      assert.equal(1, runs)
      assert.equal(0, q:info().recovered)
    end))

    it("a worker that lost a job's lease cancels its copy", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local started, cancelled = aio.Event(), false
      local ref = q:enqueue("f", {}, { timeout = 5 })
      with_worker({ srv.url, name, heartbeat = 0.05, functions = {
        f = function()
          started:set()
          local ok, e = pcall(aio.sleep, 10)
          if not ok then cancelled = getmetatable(e) == aio.CancelledError; error(e, 0) end
        end,
      } }, function()
        started:wait()
        -- someone else took it over (as after an expiry)
        c:call("HSET", name .. ":job:" .. ref.id, "lease", "other:9")
        poll(function() return cancelled end, "the job to be cancelled")
      end)
      assert.is_true(cancelled)
    end))

    it("limit bounds the jobs running at once", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local now, peak = 0, 0
      for i = 1, 30 do q:enqueue("f", { i }) end
      with_worker({ srv.url, name, limit = 4, functions = {
        f = function()
          now = now + 1
          if now > peak then peak = now end
          aio.sleep(0.01)
          now = now - 1
        end,
      } }, function()
        poll(function() return q:info().complete == 30 end, "30 jobs")
      end)
      assert.equal(4, peak)
    end))

    it("close() waits for running jobs and run() returns", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local started = aio.Event()
      local ref = q:enqueue("slow", {})
      local w = jobs.Worker { srv.url, name, functions = {
        slow = function() started:set(); aio.sleep(0.2); return "finished" end,
      } }
      local t = aio.spawn(function() w:run() end)
      started:wait()
      w:close()
      assert.is_true(t:done())
      assert.equal("complete", ref:status())
      assert.equal("finished", ref:result())
      local e = catch(w.run, w)
      assert.is_true(is_err("RuntimeError", e))
      w:close() -- again: nothing
    end))

    it("close() past wait_timeout cancels running jobs and puts them back at once", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local started = aio.Event()
      local ref = q:enqueue("stuck", {}, { timeout = 60 })
      local w = jobs.Worker { srv.url, name, wait_timeout = 0.1, functions = {
        stuck = function() started:set(); aio.sleep(30) end,
      } }
      local t = aio.spawn(function() w:run() end)
      started:wait()
      w:close()
      t:await()
      assert.equal("queued", ref:status())
      with_worker({ srv.url, name, functions = { stuck = function() return "again" end } }, function()
        assert.equal("again", ref:result(5))
      end)
    end))

    it("<close> closes a worker and a queue", async(function()
      local name = qname()
      local t
      do
        local w <close> = jobs.Worker { srv.url, name, functions = {} }
        t = aio.spawn(function() w:run() end)
        aio.sleep(0.05)
      end
      assert.is_true(t:done())
      local q = jobs.Queue(srv.url, name)
      do
        local q2 <close> = q
        q2:enqueue("x", {})
      end
      assert.is_true(is_err("RuntimeError", catch(q.enqueue, q, "x", {})))
    end))

    it("works over a Unix socket URL", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.unix_url, name)
      with_worker({ srv.unix_url, name, functions = { f = function() return "unix" end } }, function()
        assert.equal("unix", q:enqueue("f", {}):result(5))
      end)
    end))

    it("raises OSError when Redis cannot be reached", async(function()
      local port = require("support.free_port")()
      local q = jobs.Queue("redis://127.0.0.1:" .. port)
      local e = catch(q.enqueue, q, "f", {})
      assert.is_true(is_err("OSError", e))
      assert.equal("ECONNREFUSED", e.code)
      local w = jobs.Worker { "redis://127.0.0.1:" .. port, functions = {} }
      e = catch(w.run, w)
      assert.is_true(is_err("OSError", e))
      w:close()
    end))
  end)

  timed_describe("review regressions", function()
    it("a worker with limit 5000 takes 4200 due jobs without losing any (batches of 1000)", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local N = 4200
      local ts = {}
      for i = 1, N do ts[i] = aio.spawn(function() return q:enqueue("f", { i }) end) end
      for i = 1, N do ts[i]:await() end
      local done = 0
      local w = with_worker({ srv.url, name, limit = 5000, heartbeat = false, functions = {
        f = function() done = done + 1 end,
      } }, function()
        poll(function() return done == N end, "every job to run", 20)
      end)
      assert.equal(1000, w.batch)
      local info = q:info()
      assert.equal(0, info.queued)
      assert.equal(0, info.in_progress)
      assert.equal(N, info.complete)
      local c <close> = raw()
      assert.equal(0, #c:keys(name .. ":job:*"))
    end, 30))

    it("times too large for Redis are argument errors; below 1 ms is 1 ms, not 0", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      check_argerr("Worker", catch(jobs.Worker, { srv.url, name, keep_result = 1e17, functions = {} }))
      check_argerr("Worker", catch(jobs.Worker, { srv.url, name, heartbeat = 1e13, functions = {} }))
      check_argerr("enqueue", catch(q.enqueue, q, "f", {}, { timeout = 1e17 }))
      check_argerr("enqueue", catch(q.enqueue, q, "f", {}, { defer = 2e12 }))
      check_argerr("enqueue", catch(q.enqueue, q, "f", {}, { retries = 2^60 }))
      check_argerr("Queue", catch(jobs.Queue, srv.url, name, { timeout = 1e300 }))
      local ref = q:enqueue("f", {}, { timeout = 0.0004 })
      local c <close> = raw()
      assert.equal("1", c:hget(name .. ":job:" .. ref.id, "timeout"))
      -- the largest allowed values go through
      ref = q:enqueue("f", {}, { timeout = 1e12, defer = 1e12 })
      assert.equal("1000000000000000", c:hget(name .. ":job:" .. ref.id, "timeout"))
      with_worker({ srv.url, name, keep_result = 1e12, functions = { f = function() end } }, function()
        local r2 = q:enqueue("f", {})
        r2:result(5)
        assert.is_true(c:pttl(name .. ":result:" .. r2.id) > 1e14)
      end)
    end))

    it("outcomes Redis refuses for good are dropped and reported: the worker is not wedged", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local ref = q:enqueue("f", {})
      -- limit 1: no step while the job runs, so the failing one carries its outcome
      local w = jobs.Worker { srv.url, name, limit = 1, poll_interval = 0.02, heartbeat = false, functions = {
        f = function() aio.sleep(0.2); return "done" end,
      } }
      local seen = with_handler(function()
        local t = aio.spawn(function() return w:run() end)
        poll(function() return c:zcard(name .. ":inprogress") == 1 end, "the job to be taken")
        c:del(name); c:set(name, "not a sorted set") -- every step now fails with WRONGTYPE
        local e = catch(function() return t:await() end)
        assert.equal("WRONGTYPE", e.code)
      end)
      assert.equal(1, #seen)
      assert.matches("refused to record 1 outcome", seen[1].message)
      assert.equal(0, #w._outbox)
      c:del(name)
      local t = aio.spawn(function() return w:run() end)
      assert.equal("done", ref:result(5))
      w:close()
      t:await()
    end))

    it("an idle worker's heartbeat wakes for a job with a short timeout", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local runs = 0
      with_worker({ srv.url, name, heartbeat = 3, poll_interval = 0.02, functions = {
        slow = function() runs = runs + 1; aio.sleep(0.8); return "ok" end,
      } }, function()
        aio.sleep(0.1) -- idle: the heartbeat sleeps its 3 s
        local ref = q:enqueue("slow", {}, { timeout = 0.3 })
        assert.equal("ok", ref:result(5))
      end)
      assert.equal(1, runs)
      assert.equal(0, q:info().recovered)
    end))

    it("a CancelledError the worker did not cause is an ordinary failure (retries apply)", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local runs = 0
      with_worker({ srv.url, name, retry_backoff = 0, functions = {
        f = function()
          runs = runs + 1
          local t = aio.spawn(function() aio.sleep(10) end)
          aio.call_soon(function() t:cancel() end)
          return t:await()
        end,
      } }, function()
        local ref = q:enqueue("f", {}, { retries = 1 })
        local e = catch(ref.result, ref, 5)
        assert.is_true(is_err("RuntimeError", e))
        assert.matches("CancelledError", e.message)
        assert.equal("failed", ref:status())
      end)
      assert.equal(2, runs)
      local info = q:info()
      assert.equal(1, info.retried)
      assert.equal(1, info.failed)
    end))

    it("a stale heartbeat does not cancel a job the worker re-took with a new token", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local starts, cancelled = 0, 0
      with_worker({ srv.url, name, heartbeat = 0.1, poll_interval = 0.05, functions = {
        f = function()
          starts = starts + 1
          local ok, e = pcall(function()
            if starts == 1 then -- blocks the loop past the lease: the worker re-takes its job
              local t0 = os.clock()
              while os.clock() - t0 < 0.6 do end
            end
            aio.sleep(0.6)
          end)
          if not ok then cancelled = cancelled + 1; error(e, 0) end
          return "ok"
        end,
      } }, function()
        local ref = q:enqueue("f", {}, { timeout = 0.3 })
        assert.equal("ok", ref:result(5))
      end)
      assert.equal(1, starts)
      assert.equal(0, cancelled)
    end))

    it("a lost copy finishing late keeps the entry of the copy that replaced it", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local starts, lost1 = 0, false
      with_worker({ srv.url, name, heartbeat = 0.05, poll_interval = 0.02, functions = {
        f = function()
          starts = starts + 1
          local me = starts
          local ok, e = pcall(aio.sleep, me == 1 and 10 or 1.2)
          if not ok then
            lost1 = true
            aio.sleep(0.3) -- cleanup after its cancellation, while copy 2 runs
            error(e, 0)
          end
          return me
        end,
      } }, function()
        local ref = q:enqueue("f", {}, { timeout = 0.3 })
        poll(function() return starts == 1 end, "copy 1 to start")
        local jk = name .. ":job:" .. ref.id
        c:hset(jk, "lease", "other:9") -- lost: the heartbeat cancels copy 1
        poll(function() return lost1 end, "copy 1 to be cancelled")
        -- back in the queue at once: the worker starts copy 2 while copy 1 cleans up
        c:hset(jk, "lease", "")
        c:zrem(name .. ":inprogress", ref.id)
        c:zadd(name, 0, ref.id)
        assert.equal(2, ref:result(5))
      end)
      assert.equal(2, starts)
    end))

    it("a connection that died of a protocol error is replaced", async(function()
      local conns = 0
      local fake = aio.start_server(function(r, w)
        conns = conns + 1
        while true do
          local d = r:read(65536)
          if d == "" then return end
          local _, loads = d:gsub("\r\nLOAD\r\n", "")
          if loads > 0 then
            for _ = 1, loads do w:write("$40\r\n" .. string.rep("a", 40) .. "\r\n") end
          else
            w:write("?garbage\r\n")
          end
        end
      end, "127.0.0.1", 0)
      local a, b = fake.sockets[1]:getsockname()
      local url = "redis://127.0.0.1:" .. (type(a) == "table" and a.port or b)
      local q <close> = jobs.Queue(url, "x")
      for i = 1, 3 do
        local e = catch(q.enqueue, q, "f", {})
        assert.is_true(is_err("RedisError", e))
        assert.equal(i, conns)
      end
      local w = jobs.Worker { url, "x", functions = {} }
      for i = 1, 2 do
        assert.is_true(is_err("RedisError", catch(w.run, w)))
        assert.equal(3 + i, conns)
      end
      w:close()
      fake:close()
    end))

    it("info() has only its six counts; recovered counts no id whose hash is gone", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local info = q:info()
      assert.same({ queued = 0, in_progress = 0, complete = 0, failed = 0, retried = 0, recovered = 0 }, info)
      c:zadd(name .. ":inprogress", 0, "ghost") -- an expired lease whose job hash is gone
      with_worker({ srv.url, name, poll_interval = 0.02, functions = {} }, function()
        poll(function() return c:zcard(name .. ":inprogress") == 0 end, "the ghost to be dropped")
      end)
      assert.equal(0, q:info().recovered)
    end))

    it("a second close() waits until the first has finished", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local started, finish = aio.Event(), aio.Event()
      local w = jobs.Worker { srv.url, name, functions = {
        f = function() started:set(); finish:wait(); return 1 end,
      } }
      local t = aio.spawn(function() w:run() end)
      local ref = q:enqueue("f", {})
      started:wait()
      local first = aio.spawn(function() w:close() end) -- waits for the job
      aio.sleep(0.02)
      local second = aio.spawn(function() w:close() end)
      aio.sleep(0.05)
      assert.is_false(second:done())
      finish:set()
      second:await()
      assert.is_true(first:done())
      t:await()
      assert.equal(1, ref:result(1))
    end))
  end)

  timed_describe("acceptance regressions", function()
    local function at_caller(fname, argn, fn)
      local ok, e = pcall(fn)
      assert.is_false(ok)
      assert.matches(("jobs_spec%%.lua:%%d+: bad argument #%d to '%s'"):format(argn, fname), tostring(e))
      return e
    end

    it("cancelling run() puts the running jobs back at once and re-raises CancelledError", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local started = aio.Event()
      local ref = q:enqueue("long", {}, { timeout = 300 })
      local w = jobs.Worker { srv.url, name, functions = {
        long = function() started:set(); aio.sleep(30) end,
      } }
      local t = aio.spawn(function() w:run() end)
      started:wait()
      t:cancel()
      assert.is_true(is_err("CancelledError", catch(function() return t:await() end)))
      assert.equal("queued", ref:status())
      w:close() -- already closed: nothing
      assert.is_true(is_err("RuntimeError", catch(w.run, w)))
    end))

    for _, case in ipairs({ { "SIGTERM", 0 }, { "SIGINT", 130 } }) do
      local sig, status = case[1], case[2]
      it(sig .. " to a worker process puts its running job back in the queue before its timeout", async(function()
        local name = qname()
        local q <close> = jobs.Queue(srv.url, name)
        local dir = fs.mktemp()
        local script = dir .. "/w.lua"
        fs.write(script, ([[
local aio = require "luaio"
local jobs = require "luaio.jobs"
aio.run(function()
  local w = jobs.Worker { %q, %q, functions = { long = function() aio.sleep(30) return "done" end } }
  w:run()
end)
]]):format(srv.url, name))
        local p = aio.create_subprocess_exec(BIN, { script }, { stderr = "pipe" })
        local ref = q:enqueue("long", {}, { timeout = 300 })
        poll(function() return ref:status() == "in_progress" end, "the job to start", 10)
        local t0 = aio.time()
        p:send_signal(sig)
        assert.equal(status, p:wait())
        p.stderr:read()
        fs.rmdir(dir)
        assert.is_true(aio.time() - t0 < 5)
        assert.equal("queued", ref:status())
      end, 20))
    end

    it("a busy server (BUSY) makes run() wait and try again, not raise", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local ref = q:enqueue("f", { 7 })
      local admin <close> = raw()
      local old = admin:call("CONFIG", "GET", "busy-reply-threshold")[2]
      admin:call("CONFIG", "SET", "busy-reply-threshold", "20")
      local busy <close> = raw()
      -- a read-only script that runs for 0.5 s: meanwhile Redis answers -BUSY to the others
      local spin = aio.spawn(function()
        return busy:eval([[
local t = redis.call('TIME')
local t0 = tonumber(t[1]) * 1000000 + tonumber(t[2])
while true do
  t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) - t0 > 500000 then return 1 end
end]], 0)
      end)
      aio.sleep(0.1)
      local w = jobs.Worker { srv.url, name, functions = { f = function(x) return x * 2 end } }
      local t = aio.spawn(function() w:run() end)
      -- enqueue raises it: the caller decides
      local e = catch(q.enqueue, q, "f", { 1 })
      assert.is_true(is_err("RedisError", e))
      assert.equal("BUSY", e.code)
      assert.equal(1, spin:await())
      assert.equal(14, ref:result(5))
      assert.is_false(t:done())
      w:close()
      t:await()
      admin:call("CONFIG", "SET", "busy-reply-threshold", old)
    end))

    it("a bad URL is an argument error of Queue / Worker when it is made", function()
      at_caller("Queue", 1, function() jobs.Queue("http://x") end)
      at_caller("Queue", 1, function() jobs.Queue("redis://h:99999") end)
      local e = at_caller("Worker", 1, function() jobs.Worker { "redis://h/x", functions = {} } end)
      assert.matches("url: bad database number", tostring(e))
      at_caller("Worker", 1, function() jobs.Worker { url = "unix://", functions = {} } end)
    end)

    it("argument errors point at the caller's line", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      at_caller("Queue", 1, function() jobs.Queue(5) end)
      at_caller("Queue", 2, function() jobs.Queue("redis://x", "") end)
      at_caller("Queue", 3, function() jobs.Queue("redis://x", "q", { nope = 1 }) end)
      at_caller("Queue", 3, function() jobs.Queue("redis://x", "q", { timeout = 0 }) end)
      at_caller("enqueue", 1, function() q:enqueue(5) end)
      at_caller("enqueue", 2, function() q:enqueue("f", "x") end)
      at_caller("enqueue", 2, function() q:enqueue("f", { print }) end)
      at_caller("enqueue", 3, function() q:enqueue("f", {}, { nope = 1 }) end)
      at_caller("enqueue", 3, function() q:enqueue("f", {}, { defer = -1 }) end)
      at_caller("enqueue", 3, function() q:enqueue("f", {}, { retries = 1.5 }) end)
      at_caller("enqueue", 3, function() q:enqueue("f", {}, { job_id = "" }) end)
      at_caller("enqueue", 1, function() q.enqueue({}, "f") end)
      at_caller("job", 1, function() q:job({}) end)
      at_caller("result", 1, function() q:job("x"):result(-1) end)
      at_caller("status", 1, function() q:job("x").status({}) end)
      at_caller("info", 1, function() q.info({}) end)
      at_caller("Worker", 1, function() jobs.Worker(5) end)
      for _, o in ipairs({
        { "redis://x" }, { 5, functions = {} }, { "redis://x", functions = { f = 5 } },
        { "redis://x", functions = { print } }, { "redis://x", "", functions = {} },
        { "redis://x", functions = {}, limit = 0 }, { "redis://x", functions = {}, heartbeat = 0 },
        { "redis://x", functions = {}, bogus = 1 }, { "redis://x", functions = {}, handle_signals = 1 },
        { "redis://x", functions = {}, batch = 0 }, { "redis://x", functions = {}, retry_backoff = "x" },
      }) do
        at_caller("Worker", 1, function() jobs.Worker(o) end)
      end
      local w = jobs.Worker { srv.url, functions = {} }
      at_caller("run", 1, function() w.run({}) end)
      at_caller("close", 1, function() w.close({}) end)
      at_caller("encode", 1, function() jobs.encode(print) end)
      at_caller("decode", 1, function() jobs.decode(5) end)
      w:close()
    end))
  end)

  describe("the serialiser", function()
    it("round-trips what it accepts", function()
      for _, v in ipairs({
        true, false, 0, -1, math.maxinteger, math.mininteger, 1.5, -0.0, math.huge, -math.huge,
        "", "x", ("\0\255"):rep(1000), {}, { 1, 2, 3 }, { a = { b = { c = {} } } },
        { [1] = 1, [3] = 3 }, { [1.5] = "f", [true] = "t", [-7] = "n" },
      }) do
        local back = jobs.decode(jobs.encode(v))
        assert.same(v, back)
        assert.equal(math.type(v), math.type(back))
      end
      local nan = jobs.decode(jobs.encode(0 / 0))
      assert.is_true(nan ~= nan)
      assert.is_nil(jobs.decode(jobs.encode(nil)))
    end)

    it("rejects functions, cycles, metatables, odd keys and deep nesting, naming the place", function()
      local cyc = {}
      cyc.self = cyc
      local deep = {}
      local t = deep
      for _ = 1, 200 do t[1] = {}; t = t[1] end
      for _, case in ipairs({
        { print, "value is a function" },
        { { 1, { x = coroutine.create(print) } }, "value%[2%]%.x is a thread" },
        { cyc, "value%.self is a cycle" },
        { { setmetatable({}, {}) }, "value%[1%] is a table with a metatable" },
        { { [{}] = 1 }, "is a table key" },
        { { io.stdout }, "value%[1%] is a userdata" },
        { deep, "nested too deeply" },
      }) do
        local e = catch(jobs.encode, case[1])
        check_argerr("encode", e)
        assert.matches(case[2], e)
      end
    end)

    it("refuses corrupt data with ValueError", function()
      for _, s in ipairs({ "", "x", "{", "i\1", "s\5\0\0\0ab", "{|_1}", "tt", "{|__}" }) do
        assert.is_true(is_err("ValueError", catch(jobs.decode, s)), ("%q"):format(s))
      end
      check_argerr("decode", catch(jobs.decode, 5))
    end)
  end)

  describe("bad input", function()
    it("Queue", function()
      check_argerr("Queue", catch(jobs.Queue))
      check_argerr("Queue", catch(jobs.Queue, "redis://x", 5))
      check_argerr("Queue", catch(jobs.Queue, "redis://x", ""))
      local e = catch(jobs.Queue, "redis://x", "q", { nope = 1 })
      check_argerr("Queue", e)
      assert.matches("unknown option 'nope'", e)
      assert.matches("poll_interval", catch(jobs.Queue, "redis://x", "q", { poll_interval = -1 }))
      assert.matches("timeout", catch(jobs.Queue, "redis://x", "q", { timeout = 0 }))
    end)

    it("enqueue", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      check_argerr("enqueue", catch(q.enqueue, q, 5))
      check_argerr("enqueue", catch(q.enqueue, q, ""))
      check_argerr("enqueue", catch(q.enqueue, q, "f", "args"))
      local e = catch(q.enqueue, q, "f", { 1, { print } })
      check_argerr("enqueue", e)
      assert.matches("#2", e)
      assert.matches("args%[2%]%[1%] is a function: cannot be serialised", e)
      for _, case in ipairs({
        { { nope = 1 }, "unknown option 'nope'" }, { { job_id = "" }, "job_id" }, { { job_id = {} }, "job_id" },
        { { defer = -1 }, "defer" }, { { defer = "1" }, "defer" }, { { timeout = 0 }, "timeout" },
        { { timeout = math.huge }, "timeout" }, { { retries = -1 }, "retries" }, { { retries = 1.5 }, "retries" },
      }) do
        e = catch(q.enqueue, q, "f", {}, case[1])
        check_argerr("enqueue", e)
        assert.matches("#3", e)
        assert.matches(case[2], e)
      end
      check_argerr("enqueue", catch(q.enqueue, nil, "f", {}))
      -- a number job_id is its decimal string
      assert.equal("42", q:enqueue("f", {}, { job_id = 42 }).id)
    end))

    it("Worker", function()
      check_argerr("Worker", catch(jobs.Worker))
      check_argerr("Worker", catch(jobs.Worker, { functions = {} }))
      for _, case in ipairs({
        { { "redis://x", functions = 5 }, "functions must be a table" },
        { { "redis://x" }, "functions must be a table" },
        { { "redis://x", functions = { f = 5 } }, "functions.f must be callable" },
        { { "redis://x", functions = { print } }, "keyed by name" },
        { { "redis://x", "", functions = {} }, "name" },
        { { "redis://x", functions = {}, limit = 0 }, "limit" },
        { { "redis://x", functions = {}, limit = 1.5 }, "limit" },
        { { "redis://x", functions = {}, heartbeat = 0 }, "heartbeat" },
        { { "redis://x", functions = {}, keep_result = -1 }, "keep_result" },
        { { "redis://x", functions = {}, retry_backoff = "x" }, "retry_backoff" },
        { { "redis://x", functions = {}, batch = 0 }, "batch" },
        { { "redis://x", functions = {}, bogus = 1 }, "unknown option 'bogus'" },
      }) do
        local e = catch(jobs.Worker, case[1])
        check_argerr("Worker", e)
        assert.matches(case[2], e)
      end
    end)

    it("methods called on the wrong object or outside a task", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      check_argerr("status", catch(q:job("x").status, {}))
      check_argerr("result", catch(q:job("x").result, q:job("x"), -1))
      check_argerr("job", catch(q.job, q, {}))
      local ok, e = outside_task(q.enqueue, q, "f", {})
      assert.is_false(ok)
      assert.matches("must be called from inside a task", e)
      local w = jobs.Worker { srv.url, functions = {} }
      ok, e = outside_task(w.run, w)
      assert.is_false(ok)
      assert.matches("must be called from inside a task", e)
      check_argerr("run", catch(w.run, {}))
      w:close()
    end))
  end)

  timed_describe("luaio.jobs as arq", function()
    it("enqueue with the id of a queued job does not queue it twice", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      q:enqueue("f", { 1 }, { job_id = "same" })
      q:enqueue("f", { 2 }, { job_id = "same" })
      assert.equal(1, q:info().queued)
    end))

    it("a deferred job shows as queued until it runs", async(function()
      local q <close> = jobs.Queue(srv.url, qname())
      local ref = q:enqueue("f", {}, { defer = 60 })
      assert.equal("queued", ref:status())
    end))

    it("jobs of one queue are invisible to workers of another", async(function()
      local a, b = qname(), qname()
      local qa <close> = jobs.Queue(srv.url, a)
      local ref = qa:enqueue("f", {})
      with_worker({ srv.url, b, functions = { f = function() return 1 end } }, function()
        aio.sleep(0.1)
        assert.equal("queued", ref:status())
      end)
    end))

    it("the default queue name is luaio:queue", function()
      assert.equal("luaio:queue", jobs.DEFAULT_QUEUE)
      assert.equal("luaio:queue", jobs.Queue("redis://x").name)
    end)
  end)

  -- ---- fault tests (issue 16, item 4) ----------------------------------------------------
  timed_describe("faults", function()
    local dir, script
    setup(function()
      dir = fs.mktemp()
      script = dir .. "/worker.lua"
      -- a worker process: arg = url, queue, limit; runs until SIGTERM; each job returns
      -- its argument and this worker's tag
      fs.write(script, [[
local aio = require "luaio"
local jobs = require "luaio.jobs"
local url, name, limit, tag = arg[1], arg[2], tonumber(arg[3]), arg[4]
aio.run(function()
  local w = jobs.Worker { url, name, limit = limit, heartbeat = 0.1, functions = {
    work = function(i, ms) if ms and ms > 0 then aio.sleep(ms / 1000) end return i, tag end,
  } }
  aio.add_signal_handler("SIGTERM", function() aio.spawn(function() w:close() end) end)
  io.stdout:write("ready\n")
  io.stdout:flush()
  w:run()
end)
]])
    end)
    teardown(function() fs.rmdir(dir) end)

    local function start_worker(url, name, limit, tag)
      local p = aio.create_subprocess_exec(BIN, { script, url, name, limit, tag }, { stdout = "pipe" })
      assert.equal("ready\n", p.stdout:readline())
      return p
    end

    local function enqueue_all(q, n, ms, timeout)
      local refs = {}
      local per = math.ceil(n / 50)
      do
        local tg <close> = aio.TaskGroup()
        for k = 0, 49 do
          tg:spawn(function()
            for i = k * per + 1, math.min(n, (k + 1) * per) do
              refs[i] = q:enqueue("work", { i, ms }, { timeout = timeout })
            end
          end)
        end
      end
      return refs
    end

    -- every job's result is its number; returns the tags seen
    local function check_results(c, name, refs)
      local tags = {}
      for from = 1, #refs, 500 do
        local r = c:pipeline(function(p)
          for i = from, math.min(#refs, from + 499) do p:call("GET", name .. ":result:" .. refs[i].id) end
        end)
        for k, v in ipairs(r) do
          assert.is_string(v)
          assert.equal("c", v:sub(1, 1))
          local t = jobs.decode(v:sub(2))
          assert.equal(from + k - 1, t[1])
          tags[t[2]] = (tags[t[2]] or 0) + 1
        end
      end
      return tags
    end

    it("a worker killed with SIGKILL in the middle of 100 jobs: another completes them, each once", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local refs = enqueue_all(q, 100, 30, 0.5)
      local a = start_worker(srv.url, name, 10, "A")
      poll(function() return q:info().complete >= 30 end, "30 jobs done by A", 10)
      a:kill()
      a:wait()
      local mid = q:info()
      assert.is_true(mid.complete < 100)
      local b = start_worker(srv.url, name, 10, "B")
      poll(function() return q:info().complete == 100 end, "the rest done by B", 20)
      b:terminate()
      assert.equal(0, b:wait())
      local info = q:info()
      assert.equal(100, info.complete)
      assert.equal(0, info.failed)
      assert.equal(0, info.queued)
      assert.equal(0, info.in_progress)
      assert.is_true(info.recovered >= 1, "A had jobs in progress")
      local tags = check_results(c, name, refs)
      assert.is_true(tags.A >= 30 and tags.B >= 1)
      assert.equal(100, tags.A + tags.B)
    end, 40))

    it("Redis restarted with persistence under a running worker: it reports, reconnects, loses nothing", async(function()
      local psrv = redis_server.start { persist = true }
      local ok, err = pcall(function()
        local name = qname()
        local q <close> = jobs.Queue(psrv.url, name)
        local refs = enqueue_all(q, 60, 20, 10)
        local reports, stop = {}, false
        local w = jobs.Worker { psrv.url, name, limit = 5, heartbeat = 0.1, functions = {
          work = function(i, ms) aio.sleep(ms / 1000) return i, "W" end,
        } }
        -- the script's decision: on OSError, report and run again after a pause
        local t = aio.spawn(function()
          while not stop do
            local ok2, e = pcall(w.run, w)
            if ok2 then return end
            -- a restarted server refuses connections (OSError), then may answer LOADING
            -- while it reads its data (run() itself waits that out; a script's own calls,
            -- such as enqueue, may see it)
            if getmetatable(e) ~= aio.OSError and not (getmetatable(e) == aio.RedisError and e.code == "LOADING") then
              error(e, 0)
            end
            reports[#reports + 1] = e
            aio.sleep(0.05)
          end
        end)
        local function info()
          local ok3, i = pcall(q.info, q)
          return ok3 and i or nil
        end
        poll(function() local i = info() return i and i.complete >= 15 end, "15 jobs", 10)
        psrv:restart()
        poll(function() local i = info() return i and i.complete == 60 end, "all 60 jobs after the restart", 20)
        stop = true
        w:close()
        t:await()
        assert.is_true(#reports >= 1, "the worker reported the lost connection")
        local i = info()
        assert.equal(60, i.complete)
        assert.equal(0, i.failed)
        local c <close> = redis.connect(psrv.url)
        local tags = check_results(c, name, refs)
        assert.equal(60, tags.W)
      end)
      psrv:stop()
      if not ok then error(err, 0) end
    end, 40))

    it("3 worker processes with limit 50 share 10,000 jobs, each completed exactly once", async(function()
      local name = qname()
      local q <close> = jobs.Queue(srv.url, name)
      local c <close> = raw()
      local ps = {}
      for k = 1, 3 do ps[k] = start_worker(srv.url, name, 50, "W" .. k) end
      local refs = enqueue_all(q, 10000, 0, 30)
      poll(function() return q:info().complete == 10000 end, "10,000 jobs", 60)
      for _, p in ipairs(ps) do p:terminate() end
      for _, p in ipairs(ps) do assert.equal(0, p:wait()) end
      local info = q:info()
      assert.equal(10000, info.complete)
      assert.equal(0, info.failed + info.retried + info.recovered)
      local tags = check_results(c, name, refs)
      assert.equal(10000, (tags.W1 or 0) + (tags.W2 or 0) + (tags.W3 or 0))
      for k = 1, 3 do assert.is_true((tags["W" .. k] or 0) > 0, "worker " .. k .. " took jobs") end
    end, 90))
  end)
end)
