-- redis_spec.lua — luaio.redis against a real redis-server (tests/support/redis_server.lua):
-- connect and the URL (AUTH, SELECT, unix sockets), commands and the mapping of replies to
-- Lua values, many tasks sharing one client, pipeline(), pub/sub, RedisError, a server
-- killed mid-call (OSError for every pending call), close, cancellation safety, bad input.
local aio = require "luaio"
local redis = require "luaio.redis"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local with_handler = require "support.with_handler"
local run_lua = require "support.run_lua"
local proc = require "support.proc"
local redis_server = require "support.redis_server"

if not redis_server.available() then
  describe("luaio.redis", function()
    pending(redis_server.MISSING)
  end)
  return
end

local srv

-- a client on the shared server's database 0, emptied first
local function client(db)
  local c = redis.connect(db and srv:url_for(db) or srv.url)
  c:flushdb()
  return c
end

describe("luaio.redis", function()
  setup(function() srv = redis_server.start() end)
  teardown(function() if srv then srv:stop() end end)

  describe("connect", function()
    it("connects to redis://host:port and runs commands", async(function()
      local c <close> = client()
      assert.equal("PONG", c:ping())
      assert.equal("OK", c:set("k", "v"))
      assert.equal("v", c:get("k"))
      assert.is_false(c:is_closed())
    end))

    it("defaults the port to 6379 and the host to 127.0.0.1 (URL parsing)", function()
      local cfg = redis._parse_url("redis://")
      assert.same({ host = "127.0.0.1", port = 6379, db = 0 }, cfg)
      cfg = redis._parse_url("redis://:p%40ss@[::1]:7000/5")
      assert.same({ host = "::1", port = 7000, db = 5, password = "p@ss" }, cfg)
      cfg = redis._parse_url("redis://alice:secret@example.org")
      assert.same({ host = "example.org", port = 6379, db = 0, user = "alice", password = "secret" }, cfg)
      cfg = redis._parse_url("unix:///tmp/r.sock?db=3&password=x")
      assert.same({ path = "/tmp/r.sock", db = 3, password = "x" }, cfg)
    end)

    it("selects the database of the URL", async(function()
      local c3 <close> = client(3)
      local c0 <close> = client()
      c3:set("only3", "yes")
      assert.equal("yes", c3:get("only3"))
      assert.is_nil(c0:get("only3"))
      assert.equal(1, c0:call("SELECT", 3) == "OK" and c0:exists("only3"))
    end))

    it("connects over a Unix socket (unix://path?db=N)", async(function()
      local u <close> = redis.connect(srv.unix_url .. "?db=2")
      u:flushdb()
      u:set("viaunix", 1)
      local t <close> = redis.connect(srv:url_for(2))
      assert.equal("1", t:get("viaunix"))
      local u0 <close> = redis.connect(srv.unix_url)
      assert.equal("PONG", u0:ping())
    end))

    it("raises OSError when nothing listens", async(function()
      local port = require "support.free_port"()
      local e = catch(redis.connect, "redis://127.0.0.1:" .. port)
      assert.is_true(is_err("OSError", e))
      assert.equal("ECONNREFUSED", e.code)
    end))

    it("AUTH from the URL: a password, an ACL user, a wrong password", async(function()
      local s <close> = redis_server.start { requirepass = "s3cret" }
      local c <close> = redis.connect(s.url)
      assert.equal("PONG", c:ping())
      assert.equal("OK", c:call("ACL", "SETUSER", "alice", "on", ">wonder", "~*", "+@all"))
      local a <close> = redis.connect(("redis://alice:wonder@127.0.0.1:%d/1"):format(s.port))
      assert.equal("alice", a:call("ACL", "WHOAMI"))
      local noauth <close> = redis.connect(("redis://127.0.0.1:%d"):format(s.port))
      local e = catch(noauth.get, noauth, "k")
      assert.is_true(is_err("RedisError", e))
      assert.equal("NOAUTH", e.code)
      e = catch(redis.connect, ("redis://:wrong@127.0.0.1:%d"):format(s.port))
      assert.is_true(is_err("RedisError", e))
      assert.equal("WRONGPASS", e.code)
      local u <close> = redis.connect(s.unix_url)
      assert.equal("PONG", u:ping())
    end, 10))

    it("works as a to-be-closed variable and close is idempotent", async(function()
      local keep
      do
        local c <close> = client()
        keep = c
      end
      assert.is_true(keep:is_closed())
      keep:close()
      local e = catch(keep.get, keep, "k")
      assert.is_true(is_err("OSError", e))
      assert.equal("ENOTCONN", e.code)
    end))
  end)

  describe("commands and replies", function()
    it("maps status, integer, bulk, nil and arrays to Lua values", async(function()
      local c <close> = client()
      assert.equal("OK", c:set("s", "a\0b\r\nc"))
      assert.equal("a\0b\r\nc", c:get("s"))
      assert.is_nil(c:get("missing"))
      assert.equal(1, c:incr("n"))
      assert.equal(11, c:incrby("n", 10))
      assert.equal(10, c:decr("n"))
      assert.is_true(math.type(c:incr("n")) == "integer")
      local l = c:mget("s", "missing", "n")
      assert.equal(3, l.n)
      assert.equal("a\0b\r\nc", l[1])
      assert.equal(redis.null, l[2])
      assert.equal("11", l[3])
      local empty = c:lrange("nolist", 0, -1)
      assert.same({ n = 0 }, empty)
      assert.equal("redis.null", tostring(redis.null))
    end))

    it("maps nested arrays and errors inside arrays (EVAL)", async(function()
      local c <close> = client()
      local r = c:eval("return {1, {2, 'x', {false}}, redis.error_reply('MY bad')}", 0)
      assert.equal(3, r.n)
      assert.equal(1, r[1])
      assert.equal(2, r[2][1])
      assert.equal("x", r[2][2])
      assert.equal(redis.null, r[2][3][1])
      assert.is_true(is_err("RedisError", r[3]))
      assert.equal("MY", r[3].code)
    end))

    it("formats numbers as Lua does", async(function()
      local c <close> = client()
      c:set("i", 42); c:set("f", 0.5); c:set("g", 3.0); c:set("neg", -7); c:set("big", 1e300)
      assert.same({ "42", "0.5", "3.0", "-7", "1e+300", n = 5 }, c:mget("i", "f", "g", "neg", "big"))
      assert.equal(2.5, tonumber(c:incrbyfloat("f", 2)))
    end))

    it("set options: ex, px, nx, xx, get, keepttl", async(function()
      local c <close> = client()
      assert.equal("OK", c:set("k", "1", { ex = 100 }))
      assert.is_true(c:ttl("k") > 90)
      assert.is_nil(c:set("k", "2", { nx = true }))
      assert.equal("1", c:get("k"))
      assert.equal("OK", c:set("k", "3", { xx = true, keepttl = true }))
      assert.is_true(c:ttl("k") > 90)
      assert.equal("3", c:set("k", "4", { get = true }))
      assert.equal("OK", c:set("k", "5", { px = 100000 }))
      assert.is_true(c:pttl("k") > 90000)
      assert.is_nil(c:set("nokey", "x", { xx = true }))
    end))

    it("strings, keys and expiry", async(function()
      local c <close> = client()
      assert.equal("OK", c:mset({ a = "1", b = "2" }))
      assert.equal("OK", c:mset("c", 3, "d", 4))
      assert.equal(4, c:exists("a", "b", "c", "d"))
      assert.equal(1, c:expire("a", 100))
      assert.equal(0, c:expire("zz", 100))
      assert.equal(2, c:del("a", "b"))
      assert.equal(0, c:exists("a"))
      assert.equal("string", c:type("c"))
      assert.equal(2, c:dbsize())
    end))

    it("hashes: hset with a table, hgetall as a table", async(function()
      local c <close> = client()
      assert.equal(2, c:hset("h", { f1 = "v1", f2 = 2 }))
      assert.equal(1, c:hset("h", "f3", "v3"))
      assert.equal("v1", c:hget("h", "f1"))
      assert.same({ f1 = "v1", f2 = "2", f3 = "v3" }, c:hgetall("h"))
      assert.same({}, c:hgetall("nohash"))
      assert.equal(1, c:hdel("h", "f1"))
      assert.equal(2, c:hlen("h"))
      assert.equal(5, c:hincrby("h", "f2", 3))
    end))

    it("lists, including blocking moves", async(function()
      local c <close> = client()
      assert.equal(2, c:rpush("l", "a", "b"))
      assert.equal(3, c:lpush("l", "z"))
      assert.same({ "z", "a", "b", n = 3 }, c:lrange("l", 0, -1))
      assert.equal(3, c:llen("l"))
      assert.equal("z", c:lpop("l"))
      assert.equal("b", c:rpop("l"))
      assert.equal("a", c:lmove("l", "l2", "LEFT", "RIGHT"))
      assert.equal("a", c:blmove("l2", "l", "LEFT", "LEFT", 1))
      assert.is_nil(c:blmove("empty", "l", "LEFT", "LEFT", 0.05))
      local other <close> = redis.connect(srv.url)
      local t = aio.spawn(function() return c:brpop("q", 5) end)
      aio.sleep(0.05)
      other:rpush("q", "item")
      assert.same({ "q", "item", n = 2 }, t:await())
      assert.same({ "l", "a", n = 2 }, c:blpop("l", 1))
    end))

    it("sets and sorted sets", async(function()
      local c <close> = client()
      assert.equal(3, c:sadd("s", "a", "b", "c"))
      assert.equal(1, c:srem("s", "b"))
      local m = c:smembers("s")
      table.sort(m)
      assert.same({ "a", "c", n = 2 }, m)
      assert.equal(2, c:zadd("z", 1, "one", 2.5, "two"))
      assert.equal("2.5", c:zscore("z", "two"))
      assert.same({ "one", "two", n = 2 }, c:zrange("z", 0, -1))
      assert.same({ "one", "1", n = 2 }, c:zrange("z", 0, 0, "WITHSCORES"))
      assert.same({ "two", n = 1 }, c:zrangebyscore("z", 2, "+inf"))
      assert.equal(1, c:zrem("z", "one"))
      assert.is_nil(c:zscore("z", "one"))
    end))

    it("scripts: eval, script_load, evalsha", async(function()
      local c <close> = client()
      assert.equal(3, c:eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, "n", 3))
      local sha = c:script_load("return ARGV[1] .. '!'")
      assert.equal(40, #sha)
      assert.equal("hi!", c:evalsha(sha, 0, "hi"))
      assert.equal(1, c:script_exists(sha)[1])
    end))

    it("call runs any command, lists the command names", async(function()
      local c <close> = client()
      assert.equal("OK", c:call("set", "k", "v"))
      assert.equal("v", c:call("GET", "k"))
      assert.equal("PONG", c:call("PING"))
      for _, name in ipairs({ "get", "set", "del", "hgetall", "blmove", "publish", "script_load" }) do
        assert.is_function(c[name], name)
      end
      assert.is_true(#redis.commands > 50)
    end))
  end)

  describe("RedisError", function()
    it("is raised for an error reply with the server's message; the client goes on", async(function()
      local c <close> = client()
      assert.equal(aio.RedisError, redis.RedisError)
      c:rpush("list", "x")
      local e = catch(c.incr, c, "list")
      assert.is_true(is_err("RedisError", e))
      assert.equal("WRONGTYPE", e.code)
      assert.matches("^WRONGTYPE Operation against a key", e.message)
      e = catch(c.call, c, "NOSUCHCOMMAND", "x")
      assert.is_true(is_err("RedisError", e))
      assert.equal("ERR", e.code)
      assert.matches("unknown command", e.message)
      assert.equal("PONG", c:ping())
    end))

    it("can be made and matched like the other error classes", function()
      local e = aio.RedisError("ERR x", { code = "ERR" })
      assert.is_true(is_err("RedisError", e))
      assert.equal("RedisError: ERR x", tostring(e))
    end)
  end)

  describe("concurrency", function()
    it("a client's pending write is not a handle the script left open", async(function()
      local c <close> = client()
      local t = aio.spawn(c.ping, c)
      aio.sleep(0) -- t has queued its command; the client's flush is scheduled
      local kinds = {}
      for _, e in ipairs(aio.open_resources()) do kinds[#kinds + 1] = e.kind end
      assert.same({ "stream" }, kinds)
      assert.equal("PONG", t:await())
    end))

    it("50 tasks share one client: every reply goes to its caller", async(function()
      local c <close> = client()
      local tasks = {}
      for i = 1, 50 do
        tasks[i] = aio.spawn(function()
          for j = 1, 100 do
            c:set("k" .. i, i * 1000 + j)
            local v = c:get("k" .. i)
            assert(v == tostring(i * 1000 + j), "task " .. i .. " got " .. tostring(v))
            c:incr("counter")
          end
          return i
        end)
      end
      local res = aio.gather(table.unpack(tasks))
      assert.equal(50, #res)
      assert.equal("5000", c:get("counter"))
    end, 20))

    it("a cancelled caller does not desynchronise the replies", async(function()
      local c <close> = client()
      local other <close> = client()
      c:set("mine", "value")
      -- a blocked BLPOP whose caller is cancelled: its reply is read and dropped
      local t = aio.spawn(function() return c:blpop("q", 5) end)
      aio.sleep(0.02)
      local after = aio.spawn(function() return c:get("mine") end)
      aio.sleep(0.02)
      t:cancel()
      assert.is_true(pcall(aio.await, t) == false)
      assert.is_true(t:cancelled())
      other:rpush("q", "late")
      assert.equal("value", after:await())
      assert.equal("value", c:get("mine"))
      -- many callers, every other one cancelled at once
      local ts = {}
      for i = 1, 40 do
        c:set("c" .. i, i)
        ts[i] = aio.spawn(function() return c:get("c" .. i) end)
      end
      for i = 1, 40, 2 do ts[i]:cancel() end
      for i = 2, 40, 2 do assert.equal(tostring(i), ts[i]:await()) end
      assert.equal("7", c:get("c7"))
      -- a timeout around a call
      assert.is_true(is_err("TimeoutError", catch(aio.wait_for, aio.async(function() return c:blpop("q2", 1) end)(), 0.02)))
      assert.equal("OK", c:set("after", "timeout"))
      assert.equal("timeout", c:get("after"))
    end, 10))
  end)

  describe("pipeline", function()
    it("sends all at once and returns every reply in order", async(function()
      local c <close> = client()
      local r = c:pipeline(function(p)
        p:set("a", 1)
        p:incr("a")
        p:get("a")
        p:get("missing")
        p:call("RPUSH", "l", "x", "y")
        p:hgetall("nohash")
      end)
      assert.equal(6, r.n)
      assert.equal("OK", r[1])
      assert.equal(2, r[2])
      assert.equal("2", r[3])
      assert.is_nil(r[4])
      assert.equal(2, r[5])
      assert.same({ n = 0 }, r[6])
    end))

    it("keeps an error reply in the list as a RedisError object", async(function()
      local c <close> = client()
      c:rpush("l", 1)
      local r = c:pipeline(function(p) p:incr("l") p:set("x", "y") p:get("x") end)
      assert.is_true(is_err("RedisError", r[1]))
      assert.equal("OK", r[2])
      assert.equal("y", r[3])
    end))

    it("an empty pipeline returns an empty list; MULTI/EXEC inside one", async(function()
      local c <close> = client()
      assert.same({ n = 0 }, c:pipeline(function() end))
      local r = c:pipeline(function(p) p:multi() p:incr("n") p:incr("n") p:exec() end)
      assert.equal("OK", r[1])
      assert.equal("QUEUED", r[2])
      assert.same({ 1, 2, n = 2 }, r[4])
    end))

    it("an error in the function sends nothing", async(function()
      local c <close> = client()
      local e = catch(c.pipeline, c, function(p) p:set("nope", 1) error("stop") end)
      assert.matches("stop", tostring(e))
      assert.is_nil(c:get("nope"))
      e = catch(c.pipeline, c, function(p) p:set("nope", {}) end)
      check_argerr("set", e)
      assert.is_nil(c:get("nope"))
    end))

    it("many pipelines from many tasks", async(function()
      local c <close> = client()
      local tasks = {}
      for i = 1, 20 do
        tasks[i] = aio.spawn(function()
          local r = c:pipeline(function(p)
            for j = 1, 50 do p:set("p" .. i .. ":" .. j, j) p:get("p" .. i .. ":" .. j) end
          end)
          for j = 1, 50 do assert(r[2 * j] == tostring(j)) end
          return r.n
        end)
      end
      for _, t in ipairs(tasks) do assert.equal(100, t:await()) end
    end, 10))
  end)

  describe("pub/sub", function()
    it("subscribe returns an iterator of messages; unsubscribe ends it", async(function()
      local sub <close> = client()
      local pub <close> = client()
      local it = sub:subscribe("news", "sport")
      assert.equal(1, pub:publish("news", "hello"))
      pub:publish("sport", "goal")
      local m = it()
      assert.same({ type = "message", channel = "news", data = "hello" }, m)
      m = it()
      assert.equal("sport", m.channel)
      assert.equal("goal", m.data)
      sub:unsubscribe()
      assert.is_nil(it())
      assert.is_nil(it())
      -- back to normal mode
      assert.equal("PONG", sub:ping())
    end))

    it("works with a generic for and patterns", async(function()
      local sub <close> = client()
      local pub <close> = client()
      local got = {}
      local iter = sub:psubscribe("ev.*")
      aio.spawn(function()
        for i = 1, 3 do pub:publish("ev." .. i, "d" .. i) end
        pub:publish("ev.stop", "")
      end)
      for msg in iter do
        if msg.channel == "ev.stop" then break end
        got[#got + 1] = msg
      end
      assert.equal(3, #got)
      assert.same({ type = "pmessage", pattern = "ev.*", channel = "ev.2", data = "d2" }, got[2])
    end))

    it("a client in subscribe mode refuses other commands", async(function()
      local sub <close> = client()
      sub:subscribe("ch")
      local e = catch(sub.get, sub, "k")
      assert.is_true(is_err("RuntimeError", e))
      assert.matches("subscribe mode", e.message)
      e = catch(sub.pipeline, sub, function(p) p:get("k") end)
      assert.is_true(is_err("RuntimeError", e))
    end))

    it("close ends the iterator", async(function()
      local sub = client()
      local it = sub:subscribe("ch")
      local t = aio.spawn(function() return it() end)
      aio.sleep(0.02)
      sub:close()
      assert.is_nil(t:await())
    end))

    it("subscribing more channels returns the same iterator", async(function()
      local sub <close> = client()
      local pub <close> = client()
      local a = sub:subscribe("a")
      local b = sub:subscribe("b")
      assert.equal(a, b)
      pub:publish("b", "x")
      assert.equal("x", a().data)
    end))
  end)

  describe("a lost connection", function()
    it("a server killed mid-call fails every pending call with OSError", async(function()
      local s <close> = redis_server.start()
      local c = redis.connect(s.url)
      local pending = {}
      for i = 1, 3 do pending[i] = aio.spawn(function() return c:blpop("never" .. i, 0) end) end
      aio.sleep(0.05)
      s:kill("KILL")
      for i = 1, 3 do
        local ok, e = pcall(aio.await, pending[i])
        assert.is_false(ok)
        assert.is_true(is_err("OSError", e))
      end
      assert.is_true(c:is_closed())
      assert.is_true(is_err("OSError", catch(c.get, c, "k")))
      c:close()
    end, 10))

    it("a subscription on a killed server raises OSError in the iterator", async(function()
      local s <close> = redis_server.start()
      local c <close> = redis.connect(s.url)
      local it = c:subscribe("x")
      local t = aio.spawn(function() return it() end)
      aio.sleep(0.02)
      s:kill("KILL")
      local ok, e = pcall(aio.await, t)
      assert.is_false(ok)
      assert.is_true(is_err("OSError", e))
    end, 10))

    it("the server closing the connection (CLIENT KILL) raises OSError", async(function()
      local c <close> = client()
      local killer <close> = client()
      local id = c:call("CLIENT", "ID")
      killer:call("CLIENT", "KILL", "ID", id)
      local e = catch(c.ping, c)
      assert.is_true(is_err("OSError", e))
    end))
  end)

  describe("bad input", function()
    it("argument errors name the function and the argument", async(function()
      local c <close> = client()
      local e = catch(c.call, c, "SET", "k", {})
      assert.matches("bad argument #3 to 'call' %(string or number expected, got table%)", tostring(e))
      e = catch(c.get, c, {})
      assert.matches("bad argument #1 to 'get' %(string or number expected, got table%)", tostring(e))
      e = catch(c.set, c, "k", true)
      assert.matches("bad argument #2 to 'set'", tostring(e))
      e = catch(c.set, c, "k", "v", { ex = 1, nope = true })
      assert.matches("bad argument #3 to 'set' %(unknown option 'nope'%)", tostring(e))
      e = catch(c.set, c, "k", "v", { ex = -1 })
      check_argerr("set", e)
      e = catch(c.set, c, "k", "v", "EX")
      check_argerr("set", e)
      e = catch(c.call, c)
      check_argerr("call", e)
      e = catch(c.pipeline, c, 42)
      assert.matches("bad argument #1 to 'pipeline' %(function expected, got number%)", tostring(e))
      e = catch(c.get, "notaclient", "k")
      check_argerr("get", e)
      e = catch(c.subscribe, c)
      check_argerr("subscribe", e)
      e = catch(c.hset, c, "h", {})
      check_argerr("hset", e)
      assert.equal("PONG", c:ping()) -- nothing was sent by the bad calls
    end))

    it("connect checks its URL", async(function()
      check_argerr("connect", catch(redis.connect, 42))
      assert.matches("redis:// or unix://", tostring(catch(redis.connect, "http://x")))
      check_argerr("connect", catch(redis.connect, "redis://127.0.0.1:6379/x"))
      check_argerr("connect", catch(redis.connect, "unix://"))
      check_argerr("connect", catch(redis.connect, "unix:///x?foo=1"))
    end))

    it("a call outside a task fails before sending", async(function()
      local c <close> = client()
      local ok, e = outside_task(c.get, c, "k")
      assert.is_false(ok)
      assert.matches("inside a task", tostring(e))
      assert.equal("PONG", c:ping())
    end))
  end)

  describe("loading", function()
    it("require 'luaio.redis' works first under stock lua5.4 and under the binary", function()
      local code = ([[
        local redis = require "luaio.redis"
        local aio = require "luaio"
        aio.run(function()
          local c <close> = redis.connect(%q)
          print(c:ping(), redis.RedisError == aio.RedisError)
        end)]]):format(srv.url)
      local status, out, err = proc.run { code = code, lua = true }
      assert.equal(0, status, err)
      assert.equal("PONG\ttrue\n", out)
      status, out, err = proc.run { code = code }
      assert.equal(0, status, err)
      assert.equal("PONG\ttrue\n", out)
      status, out = run_lua([[print(require("luaio.redis") == require("luaio.redis"))]])
      assert.equal(0, status)
      assert.equal("true\n", out)
    end)
  end)

  describe("review regressions", function()
    it("a SUBSCRIBE the server refuses (NOPERM) fails subscribe and leaves subscribe mode", async(function()
      local admin <close> = client()
      admin:call("ACL", "SETUSER", "spec_nochan", "on", ">pw", "~*", "+@all", "resetchannels")
      local c <close> = redis.connect(("redis://spec_nochan:pw@127.0.0.1:%d"):format(srv.port))
      local e = catch(aio.wait_for, aio.spawn(function() return c:subscribe("news") end), 2)
      assert.is_true(is_err("RedisError", e))
      assert.equal("NOPERM", e.code)
      assert.is_nil(c:get("nothing")) -- out of subscribe mode
      e = catch(c.psubscribe, c, "n*")
      assert.equal("NOPERM", e.code)
      assert.equal("PONG", c:ping())
      -- a refusal while other channels are subscribed keeps the subscription
      admin:call("ACL", "SETUSER", "spec_nochan", "resetchannels", "&ok")
      local c2 <close> = redis.connect(("redis://spec_nochan:pw@127.0.0.1:%d"):format(srv.port))
      local it = c2:subscribe("ok")
      assert.equal("NOPERM", catch(c2.subscribe, c2, "other").code)
      admin:publish("ok", "still")
      assert.equal("still", it().data)
      admin:call("ACL", "DELUSER", "spec_nochan")
    end))

    it("a reply to a command sent before SUBSCRIBE that looks like a message is that reply", async(function()
      local c <close> = client()
      c:rpush("l", "message", "chan", "payload")
      local a = aio.spawn(function() return c:lrange("l", 0, -1) end)
      local b = aio.spawn(function() return c:subscribe("news") end)
      assert.same({ "message", "chan", "payload", n = 3 }, aio.wait_for(a, 2))
      assert.is_function(aio.wait_for(b, 2))
      local pub <close> = client()
      pub:publish("news", "x")
      assert.equal("x", aio.wait_for(b, 1)().data)
    end))

    it("call and pipeline refuse commands that break the reply matching", async(function()
      local c <close> = client()
      for _, cmd in ipairs({ { "SUBSCRIBE", "ch" }, { "psubscribe", "c*" }, { "SSUBSCRIBE", "s" },
          { "unsubscribe" }, { "MONITOR" }, { "CLIENT", "REPLY", "OFF" }, { "client", "reply", "skip" },
          { "HELLO", 3 }, { "SYNC" } }) do
        local e = catch(c.call, c, table.unpack(cmd))
        check_argerr("call", e)
        assert.matches("refused", tostring(e))
        e = catch(c.pipeline, c, function(p) p:call(table.unpack(cmd)) end)
        check_argerr("call", e)
      end
      assert.matches("use subscribe%(%)", tostring(catch(c.call, c, "SUBSCRIBE", "ch")))
      assert.equal("OK", c:call("CLIENT", "REPLY", "ON"))
      assert.equal("PONG", c:ping()) -- nothing was sent
    end))

    it("a reply nested deeper than the reader allows fails clearly (and 7 levels work)", async(function()
      local c <close> = client()
      local function nest(depth)
        return "local t = {} local x = t for i=1," .. (depth - 1) ..
          " do local n = {} x[1] = n x = n end x[1] = 'leaf' return t"
      end
      local r = c:eval(nest(7), 0)
      for _ = 1, 6 do r = r[1] end
      assert.same({ "leaf", n = 1 }, r)
      local e = catch(c.eval, c, nest(40), 0)
      assert.is_true(is_err("RedisError", e))
      assert.matches("nested deeper than", e.message)
    end))

    it("a Lua error while reading replies fails the pending calls instead of hanging", async(function()
      local c <close> = client()
      local mt = getmetatable(c._parser)
      local methods = type(mt.__index) == "table" and mt.__index or mt
      local feed = methods.feed
      methods.feed = function() methods.feed = feed; error("feed broke") end
      local e = catch(aio.wait_for, aio.spawn(function() return c:ping() end), 2)
      methods.feed = feed
      assert.matches("feed broke", tostring(e))
      assert.is_true(c:is_closed())
    end))

    it("an error reply keeps an embedded NUL; floats go out exactly", async(function()
      -- Redis itself cuts its messages at a NUL: a fake server sends one
      local fake = aio.start_server(function(r, w)
        r:read(100)
        w:write("-MY a\0b\r\n")
        r:read(100)
      end, "127.0.0.1", 0)
      local a, b = fake.sockets[1]:getsockname()
      local f <close> = redis.connect("redis://127.0.0.1:" .. (type(a) == "table" and a.port or b))
      local e = catch(f.ping, f)
      assert.equal("MY a\0b", e.message)
      assert.equal("MY", e.code)
      f:close()
      fake:close()
      local c <close> = client()
      c:set("third", 1 / 3)
      assert.equal(1 / 3, tonumber(c:get("third")))
      c:set("tenth", 0.1)
      assert.equal("0.1", c:get("tenth"))
    end))
  end)

  describe("flow control", function()
    it("callers wait while a server that does not read leaves megabytes unsent", async(function()
      local hold = aio.Event()
      local fake = aio.start_server(function() hold:wait() end, "127.0.0.1", 0)
      local a, b = fake.sockets[1]:getsockname()
      local c = redis.connect("redis://127.0.0.1:" .. (type(a) == "table" and a.port or b))
      local big = string.rep("x", 100000)
      local ts = {}
      for i = 1, 300 do ts[i] = aio.spawn(function() return c:set("k", big) end) end
      local most = 0
      for _ = 1, 30 do
        aio.sleep(0.005)
        local q = c._w:get_write_buffer_size() + c._outbytes
        if q > most then most = q end
      end
      -- 30 MB asked for; without flow control most of it would wait in luaio's buffer
      assert.is_true(most < 3e6, "queued " .. most)
      c:close()
      for i = 1, 300 do assert.is_true(is_err("OSError", catch(function() return ts[i]:await() end))) end
      hold:set()
      fake:close()
    end))
  end)

  describe("acceptance regressions", function()
    -- pcall(function() ... end): the error must name this file and line, not the library
    local function at_caller(fname, argn, fn)
      local ok, e = pcall(fn)
      assert.is_false(ok)
      assert.matches(("redis_spec%%.lua:%%d+: bad argument #%d to '%s'"):format(argn, fname), tostring(e))
    end

    it("URL errors are argument errors of connect at the caller's line (port out of range)", async(function()
      at_caller("connect", 1, function() redis.connect("redis://127.0.0.1:99999") end)
      at_caller("connect", 1, function() redis.connect("redis://127.0.0.1:0") end)
      at_caller("connect", 1, function() redis.connect("http://x") end)
      at_caller("connect", 1, function() redis.connect(42) end)
      at_caller("connect", 1, function() redis.connect("redis://127.0.0.1/x") end)
      at_caller("connect", 1, function() redis.connect("unix://") end)
      at_caller("connect", 1, function() redis.connect("unix:///x?foo=1") end)
      assert.matches("port must be from 1 to 65535", tostring(catch(redis.connect, "redis://h:70000")))
      assert.equal(65535, redis._parse_url("redis://h:65535").port)
    end))

    it("argument errors of client and pipeline methods point at the caller's line", async(function()
      local c <close> = client()
      at_caller("set", 3, function() c:set("k", "v", "EX") end)
      at_caller("set", 3, function() c:set("k", "v", { nope = 1 }) end)
      at_caller("set", 3, function() c:set("k", "v", { ex = -1 }) end)
      at_caller("set", 3, function() c:set("k", "v", { nx = 1 }) end)
      at_caller("set", 2, function() c:set("k", true) end)
      at_caller("get", 1, function() c:get({}) end)
      at_caller("get", 1, function() c.get("notaclient", "k") end)
      at_caller("call", 3, function() c:call("SET", "k", {}) end)
      at_caller("call", 1, function() c:call() end)
      at_caller("call", 1, function() c:call("SUBSCRIBE", "x") end)
      at_caller("pipeline", 1, function() c:pipeline(42) end)
      at_caller("subscribe", 1, function() c:subscribe() end)
      at_caller("psubscribe", 1, function() c:psubscribe() end)
      at_caller("hset", 2, function() c:hset("h", {}) end)
      at_caller("hset", 2, function() c:hset("h", { a = {} }) end)
      at_caller("mset", 1, function() c:mset({}) end)
      at_caller("mset", 1, function() c:mset({ k = true }) end)
      at_caller("close", 1, function() c.close({}) end)
      at_caller("is_closed", 1, function() c.is_closed(5) end)
      at_caller("hgetall", 1, function() c:hgetall({}) end)
      c:pipeline(function(p)
        at_caller("set", 3, function() p:set("k", "v", "EX") end)
        at_caller("set", 3, function() p:set("k", "v", { ex = 0 }) end)
        at_caller("call", 1, function() p:call("MONITOR") end)
        at_caller("get", 1, function() p:get({}) end)
        at_caller("mset", 1, function() p:mset({}) end)
        at_caller("hset", 2, function() p:hset("h", {}) end)
        at_caller("call", 1, function() p.call({}) end)
      end)
      assert.equal("PONG", c:ping())
    end))

    it("an empty password in the URL sends no AUTH", async(function()
      assert.is_nil(redis._parse_url("redis://:@127.0.0.1:6379").password)
      assert.is_nil(redis._parse_url("unix:///x?password=").password)
      -- a user keeps its (empty) password: AUTH user "" (an ACL "nopass" user)
      assert.same({ host = "h", port = 1, db = 0, user = "u", password = "" }, redis._parse_url("redis://u:@h:1"))
      -- the shared server has no password: AUTH "" would be refused
      local c <close> = redis.connect(("redis://:@127.0.0.1:%d"):format(srv.port))
      assert.equal("PONG", c:ping())
    end))

    it("a call in flight when its client closes under a cancelled caller reports nothing", async(function()
      local seen = with_handler(function()
        for _ = 1, 5 do
          local c = client()
          local t = aio.spawn(function() c:call("BLPOP", "nothing-here", 0) end)
          aio.sleep(0.02) -- the BLPOP is on its way and awaits its reply
          c:close()       -- the client closes (at shutdown), then, before the caller has
          t:cancel()      -- run again, its task is cancelled: it never sees the failure
          assert.is_false(pcall(t.await, t))
          assert.is_true(t:cancelled())
        end
        collectgarbage()
        collectgarbage()
        aio.sleep(0)
      end)
      assert.equal(0, #seen, seen[1] and tostring(seen[1].message))
    end))
  end)

  describe("luaio.redis as redis-py", function()
    it("GET of a missing key is nil, INCR of text raises, the connection survives", async(function()
      local c <close> = client()
      assert.is_nil(c:get("none"))
      c:set("t", "text")
      assert.is_true(is_err("RedisError", catch(c.incr, c, "t")))
      assert.equal("text", c:get("t"))
    end))

    it("a pipeline's replies come in command order (raise_on_error=False)", async(function()
      local c <close> = client()
      local r = c:pipeline(function(p) p:set("t", "x") p:incr("t") p:get("t") end)
      assert.equal("OK", r[1])
      assert.is_true(is_err("RedisError", r[2]))
      assert.equal("x", r[3])
    end))

    it("hgetall is a table, smembers a list", async(function()
      local c <close> = client()
      c:hset("h", "a", 1)
      assert.same({ a = "1" }, c:hgetall("h"))
      c:sadd("s", "m")
      assert.same({ "m", n = 1 }, c:smembers("s"))
    end))
  end)
end)
