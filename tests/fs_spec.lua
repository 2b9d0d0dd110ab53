-- fs_spec.lua — files and the file system: File (aio.open) against io on the same bytes for
-- every read format, big and sparse files read in chunks, aio.fs calls and their errors,
-- read_file / write_file (atomic), fs.watch, Files closed by the collector, bad input.
local aio = require "luaio"
local async = require "support.async"
local catch = require "support.catch"
local is_err = require "support.is_err"
local check_argerr = require "support.arg_error"
local outside_task = require "support.outside_task"
local poll = require "support.poll"
local sfs = require "support.fs"

local fs = aio.fs
local SLOW = os.getenv("LUAIO_VALGRIND") == "1" or os.getenv("LUAIO_SANITIZED") == "1"

local dir
setup(function() dir = sfs.mktemp() end)
teardown(function() sfs.rmdir(dir) end)

local function path(name) return dir .. "/" .. name end

-- every value returned by `read(fmts)` called until its first value is nil (at most `max`)
local function drain_io(file, fmts, max)
  local out = {}
  for _ = 1, max do
    local r = table.pack(file:read(table.unpack(fmts)))
    out[#out + 1] = r
    if r[1] == nil then break end
  end
  return out
end

local CONTENTS = {
  empty = "",
  one = "a",
  nl = "a\n",
  two = "a\nb",
  twonl = "a\nb\n",
  crlf = "a\r\nb\r\n\r\nlast\r",
  blank = "\n\n\n",
  numbers = "1 2.5 0x10 -3e2 .5 +7 0x1p4 1e 12abc\n  42\n\n-0 nan 0x",
  spaces = "   \n\t 12   ",
  long = ("x"):rep(70000) .. "\n" .. ("y"):rep(200000),
  longnum = ("9"):rep(250) .. " 5",
  binary = "\0\1\2\n\255\254\0",
}
local FORMATS = {
  { "a" }, { "l" }, { "L" }, { "n" }, { 1 }, { 0 }, { 5 }, { 100000 }, { "*l" }, { "*a" },
  { "l", "l", "l" }, { "n", "n", "n", "l" }, { "L", "a" }, { "n", "a" }, { 3, "l", 0, "a" },
  { 0, "a", 0 }, { "l", "n" }, { "n", "L", 2 }, { 65536, "l" },
}

describe("aio.open and File", function()
  describe("reads exactly as io does on the same file", function()
    for name, data in pairs(CONTENTS) do
      it("'" .. name .. "': every format list", async(function()
        local p = path("io_" .. name)
        sfs.write(p, data)
        for _, fmts in ipairs(FORMATS) do
          local ref = io.open(p, "rb")
          local want = drain_io(ref, fmts, 400)
          ref:close()
          local f <close> = aio.open(p, "rb")
          local got = drain_io(f, fmts, 400)
          assert.same(want, got, name .. " with " .. table.concat(fmts, ","))
        end
      end, 30))
    end

    it("lines() with and without formats, as io's file:lines()", async(function()
      local p = path("lines")
      sfs.write(p, CONTENTS.crlf .. "\n" .. CONTENTS.numbers)
      for _, fmts in ipairs { {}, { "L" }, { "n" }, { 4 }, { "l", "l" } } do
        local want, got = {}, {}
        local ref = io.open(p, "rb")
        for a, b in ref:lines(table.unpack(fmts)) do want[#want + 1] = { a, b } end
        ref:close()
        local f <close> = aio.open(p)
        for a, b in f:lines(table.unpack(fmts)) do got[#got + 1] = { a, b } end
        assert.same(want, got)
      end
    end))
  end)

  it("writes strings and numbers as io writes them and returns the file", async(function()
    local p = path("w")
    local f = aio.open(p, "w")
    assert.equal(f, f:write("a", 1, 2.0, 3.5, -0.25, math.maxinteger, "\n"))
    assert.equal(f, f:write())
    assert.equal(f, f:flush())
    f:sync()
    f:close()
    local ref = io.open(path("w_io"), "w")
    ref:write("a", 1, 2.0, 3.5, -0.25, math.maxinteger, "\n")
    ref:close()
    assert.equal(sfs.slurp(path("w_io")), sfs.slurp(p))
  end))

  it("modes: append, read-write, truncate, exclusive create", async(function()
    local p = path("modes")
    sfs.write(p, "hello\n")
    local a = aio.open(p, "a"); a:write("more\n"); a:close()
    assert.equal("hello\nmore\n", sfs.slurp(p))
    local rw = aio.open(p, "r+")
    assert.equal("hello", rw:read("l"))
    rw:write("MORE") -- after a read the write lands where the read stopped
    rw:seek("set")
    assert.equal("hello\nMORE\n", rw:read("a"))
    rw:close()
    local w = aio.open(p, "w+")
    assert.equal("", w:read("a"))
    w:close()
    assert.equal("", sfs.slurp(p))
    assert.equal("EEXIST", catch(aio.open, p, "wx").code)
    local perm = aio.open(path("perm"), "w", 384) -- 0600
    perm:close()
    assert.equal(384, fs.stat(path("perm")).mode)
  end))

  it("seek: set, cur, end, relative to what was read (read-ahead does not show)", async(function()
    local p = path("seek")
    sfs.write(p, "0123456789")
    local f <close> = aio.open(p)
    assert.equal("01", f:read(2))
    assert.equal(2, f:seek())
    assert.equal(5, f:seek("cur", 3))
    assert.equal("56", f:read(2))
    assert.equal(10, f:seek("end"))
    assert.is_nil(f:read(1))
    assert.equal(8, f:seek("end", -2))
    assert.equal("89", f:read("a"))
    assert.equal(0, f:seek("set"))
    assert.equal("0123456789", f:read("a"))
  end))

  it("stat() of an open file", async(function()
    local p = path("st")
    sfs.write(p, "12345")
    local f <close> = aio.open(p)
    local st = f:stat()
    assert.equal(5, st.size)
    assert.equal("file", st.type)
    assert.same(fs.stat(p).ino, st.ino)
  end))

  it("close is idempotent; a closed File raises ValueError; <close> closes", async(function()
    local p = path("c")
    sfs.write(p, "x")
    local f = aio.open(p)
    assert.is_true(f:close())
    assert.is_true(f:close())
    assert.matches("closed", tostring(f))
    for _, m in ipairs { "read", "write", "seek", "stat", "sync", "flush" } do
      assert.is_true(is_err("ValueError", catch(f[m], f)))
    end
    local g
    do
      local h <close> = aio.open(p)
      g = h
    end
    assert.matches("closed", tostring(g))
  end))

  it("a file that grows is read again after end of file (tail -f)", async(function()
    local p = path("grow")
    sfs.write(p, "one\n")
    local f <close> = aio.open(p)
    assert.equal("one", f:read("l"))
    assert.is_nil(f:read("l"))
    local w = io.open(p, "a"); w:write("two\n"); w:close()
    assert.equal("two", f:read("l"))
  end))

  it("two tasks reading one file take turns and lose no line", async(function()
    local p = path("shared")
    local lines = {}
    for i = 1, 5000 do lines[i] = "line " .. i end
    sfs.write(p, table.concat(lines, "\n") .. "\n")
    local f <close> = aio.open(p)
    local seen = {}
    local function reader()
      for l in f:lines() do seen[#seen + 1] = l; if #seen % 100 == 0 then aio.sleep(0) end end
    end
    aio.gather(reader, reader, reader)
    table.sort(seen, function(a, b) return tonumber(a:match("%d+")) < tonumber(b:match("%d+")) end)
    assert.same(lines, seen)
  end))

  it("reads a 1 GiB sparse file in 64 KiB chunks holding no more than a chunk", async(function()
    local size = SLOW and 64 * 1024 * 1024 or 1024 * 1024 * 1024
    local p = path("sparse")
    local w = aio.open(p, "w")
    w:seek("set", size - 1)
    w:write("x")
    w:close()
    assert.equal(size, fs.stat(p).size)
    local function rss_kb()
      return tonumber(sfs.slurp("/proc/self/status"):match("VmRSS:%s*(%d+)"))
    end
    local rss0 = rss_kb()
    local f <close> = aio.open(p)
    local total, worst, n = 0, 0, 0
    while true do
      local before = collectgarbage("count")
      local chunk = f:read(65536)
      if not chunk then break end
      local grew = collectgarbage("count") - before
      if grew > worst then worst = grew end
      total = total + #chunk
      n = n + 1
      if n % 256 == 0 then collectgarbage("step", 0) end
    end
    assert.equal(size, total)
    assert.is_true(worst < 2 * 64, "the Lua heap grew by " .. worst .. " KiB for one chunk")
    collectgarbage()
    if not SLOW then -- ASan's quarantine and valgrind keep freed blocks resident
      assert.is_true(rss_kb() - rss0 < 64 * 1024, "RSS grew by " .. (rss_kb() - rss0) .. " KiB")
    end
    fs.unlink(p)
  end, 120))

  it("read('a') of a big file grows its buffer to the whole file", async(function()
    local p = path("big")
    local data = ("0123456789abcdef"):rep(3 * 65536 + 7)
    sfs.write(p, data)
    local f <close> = aio.open(p)
    assert.equal(data, f:read("a"))
    assert.equal("", f:read("a"))
  end))

  it("errors carry code and name the path", async(function()
    local missing = path("no/such/file")
    local e = catch(aio.open, missing)
    assert.is_true(is_err("OSError", e))
    assert.equal("ENOENT", e.code)
    assert.matches(missing, e.message, 1, true)
    e = catch(aio.open, dir, "w")
    assert.equal("EISDIR", e.code)
    assert.matches(dir, e.message, 1, true)
    local p = path("wo")
    local f <close> = aio.open(p, "w")
    e = catch(f.read, f, "a")
    assert.equal("EBADF", e.code)
    assert.matches("read " .. p, e.message, 1, true)
    local d <close> = aio.open(dir)
    e = catch(d.read, d, "l")
    assert.equal("EISDIR", e.code)
    local pipe = io.popen("true")
    pipe:close()
  end))

  it("cancelling a read leaves the File usable by the next task", async(function()
    local p = path("cancel")
    sfs.write(p, ("z"):rep(1000000))
    local f <close> = aio.open(p)
    for _ = 1, 20 do
      local t = aio.spawn(function() return f:read("a") end)
      aio.sleep(0)
      t:cancel()
      assert.is_true(pcall(aio.wait, { t }))
      f:seek("set")
      assert.equal(1000000, #f:read("a"))
      f:seek("set")
    end
  end))

  it("a File left open is closed by the collector without blocking the loop", async(function()
    local function nfds()
      local n, p = 0, io.popen("ls /proc/" .. sfs.slurp("/proc/self/stat"):match("^%d+") .. "/fd")
      for _ in p:lines() do n = n + 1 end
      p:close()
      return n
    end
    local p = path("gc")
    sfs.write(p, "abc")
    collectgarbage()
    aio.sleep(0.01)
    local base = nfds()
    do
      local files = {}
      for i = 1, 200 do files[i] = aio.open(p) end
      assert.is_true(nfds() >= base + 200)
      files[1]:read(1) -- one with a buffer, one with a read under way
      local busy = files[2]
      aio.spawn(function() busy:read("a") end)
    end
    local ticks = 0
    local ticker = aio.spawn(function() while true do ticks = ticks + 1; aio.sleep(0) end end)
    collectgarbage(); collectgarbage()
    poll(function() collectgarbage(); return nfds() <= base end, "the collected Files to close")
    ticker:cancel()
    assert.is_true(ticks > 0)
  end))

  it("memory: 1,000 open Files", async(function()
    local p = path("mem")
    sfs.write(p, "x")
    local function rss() return tonumber(sfs.slurp("/proc/self/status"):match("VmRSS:%s*(%d+)")) end
    collectgarbage()
    local r0, h0 = rss(), collectgarbage("count")
    local files = {}
    for i = 1, 1000 do files[i] = aio.open(p) end
    collectgarbage()
    local per_rss, per_heap = (rss() - r0) * 1024 / 1000, (collectgarbage("count") - h0) * 1024 / 1000
    print(("\n1,000 open Files: %.0f B RSS per File, %.0f B of Lua heap per File"):format(per_rss, per_heap))
    for _, f in ipairs(files) do f:close() end
    assert.is_true(per_heap < 1024)
  end, 30))

  it("bad input: argument errors naming the function", async(function()
    local p = path("bad")
    sfs.write(p, "x")
    check_argerr("open", catch(aio.open))
    check_argerr("open", catch(aio.open, {}))
    check_argerr("open", catch(aio.open, p, "rw"))
    check_argerr("open", catch(aio.open, p, "rx"))
    check_argerr("open", catch(aio.open, p, ""))
    check_argerr("open", catch(aio.open, p, "r", -1))
    check_argerr("open", catch(aio.open, p, "r", 1.5))
    check_argerr("open", catch(aio.open, "a\0b"))
    local f <close> = aio.open(p)
    check_argerr("read", catch(f.read, f, "x"))
    check_argerr("read", catch(f.read, f, -1))
    check_argerr("read", catch(f.read, f, {}))
    check_argerr("read", catch(f.read, f, 1.5))
    check_argerr("lines", catch(f.lines, f, "q"))
    check_argerr("write", catch(f.write, f, {}))
    check_argerr("write", catch(f.write, f, nil))
    check_argerr("seek", catch(f.seek, f, "middle"))
    check_argerr("seek", catch(f.seek, f, "set", "x"))
    assert.has_error(function() f.read({}) end)
    assert.has_error(function() f.read(io.stdout) end)
  end))

  it("needs a task (the task-check error) except close()", function()
    aio.run(function()
      local ok, e = outside_task(aio.open, "/dev/null")
      assert.is_false(ok)
      assert.matches("must be called from inside a task", e)
      local f = aio.open("/dev/null")
      local ok2, e2 = outside_task(f.read, f)
      assert.is_false(ok2)
      assert.matches("inside a task", e2)
      assert.is_true(select(2, outside_task(f.close, f)))
      assert.matches("closed", tostring(f))
    end)
  end)
end)

describe("aio.fs", function()
  it("stat and lstat", async(function()
    local p = path("s")
    sfs.write(p, "12345")
    local st = fs.stat(p)
    for _, k in ipairs { "size", "mode", "uid", "gid", "ino", "dev", "nlink" } do
      assert.equal("integer", math.type(st[k]), k)
    end
    for _, k in ipairs { "mtime", "atime", "ctime" } do assert.is_number(st[k]) end
    assert.equal(5, st.size)
    assert.equal("file", st.type)
    assert.equal("directory", fs.stat(dir).type)
    fs.symlink(p, path("s_link"))
    assert.equal("link", fs.lstat(path("s_link")).type)
    assert.equal("file", fs.stat(path("s_link")).type)
    assert.equal("char", fs.stat("/dev/null").type)
    assert.is_true(math.abs(st.mtime - os.time()) < 60)
  end))

  it("mkdir, readdir (sorted, with types), rename, copyfile, unlink, rmdir", async(function()
    local d = path("tree")
    fs.mkdir(d)
    fs.mkdir(d .. "/sub", 448)
    assert.equal(448, fs.stat(d .. "/sub").mode)
    sfs.write(d .. "/b", "b")
    sfs.write(d .. "/a", "a")
    fs.symlink("a", d .. "/c")
    assert.same({ { name = "a", type = "file" }, { name = "b", type = "file" },
      { name = "c", type = "link" }, { name = "sub", type = "directory" } }, fs.readdir(d))
    fs.rename(d .. "/a", d .. "/z")
    fs.copyfile(d .. "/z", d .. "/y")
    assert.equal("a", fs.read_file(d .. "/y"))
    assert.equal("a", fs.readlink(d .. "/c"))
    assert.equal(fs.realpath(d) .. "/b", fs.realpath(d .. "/sub/../b"))
    fs.unlink(d .. "/y")
    assert.is_nil(sfs.slurp(d .. "/y"))
    fs.rmdir(d .. "/sub")
    assert.equal("ENOENT", catch(fs.stat, d .. "/sub").code)
    assert.equal("ENOTEMPTY", catch(fs.rmdir, d).code)
  end))

  it("chmod, utime, mkdtemp, makedirs", async(function()
    local p = path("cm")
    sfs.write(p, "")
    fs.chmod(p, 420)
    assert.equal(420, fs.stat(p).mode)
    fs.utime(p, 1000000000.5, 1200000000.25)
    local st = fs.stat(p)
    assert.equal(1200000000.25, st.mtime)
    assert.equal(1000000000.5, st.atime)
    local t1, t2 = fs.mkdtemp(path("tmp-")), fs.mkdtemp(path("tmp-"))
    assert.not_equal(t1, t2)
    assert.matches("^" .. path("tmp-"):gsub("%p", "%%%0") .. "......$", t1)
    assert.equal("directory", fs.stat(t1).type)
    fs.makedirs(path("m/n/o/p"))
    assert.equal("directory", fs.stat(path("m/n/o/p")).type)
    fs.makedirs(path("m/n/o/p")) -- exists: fine
    fs.makedirs(path("m/n/o/p/"))
    assert.equal("EEXIST", catch(fs.makedirs, p).code)
    assert.equal("ENOTDIR", catch(fs.makedirs, p .. "/x/y").code)
  end))

  it("every error carries code and names the path", async(function()
    local m = path("missing")
    local calls = {
      { fs.stat, m }, { fs.lstat, m }, { fs.readdir, m }, { fs.rmdir, m }, { fs.unlink, m },
      { fs.readlink, m }, { fs.realpath, m }, { fs.chmod, m, 420 }, { fs.utime, m, 1, 1 },
      { fs.read_file, m }, { fs.mkdir, m .. "/a" }, { fs.rename, m, m .. "2" },
      { fs.copyfile, m, m .. "2" }, { fs.mkdtemp, m .. "/x-" }, { fs.makedirs, "/proc/nope/x" }, -- names the component it could not make
      { fs.write_file, m .. "/x", "data" }, { aio.open, m },
    }
    for i, c in ipairs(calls) do
      local e = catch(table.unpack(c))
      assert.is_true(is_err("OSError", e))
      assert.is_string(e.code, "call " .. i)
      assert.matches("^E", e.code)
      local named = c[2]:match("^/proc/nope") and "/proc/nope" or c[2]
      assert.is_truthy(e.message:find(named, 1, true), "call " .. i .. ": " .. e.message)
    end
    assert.equal("EEXIST", catch(fs.mkdir, dir).code)
    assert.matches("nope -> " .. dir .. "/x: ", catch(fs.rename, path("nope"), dir .. "/x").message, 1, true)
  end))

  it("read_file and write_file: binary data, empty files, big files, special files", async(function()
    local data = ("\0\1\2\255"):rep(50000)
    fs.write_file(path("rw"), data)
    assert.equal(data, fs.read_file(path("rw")))
    fs.write_file(path("rw"), "")
    assert.equal("", fs.read_file(path("rw")))
    local big = ("abc"):rep(1000000)
    fs.write_file(path("rw"), big)
    assert.equal(big, fs.read_file(path("rw")))
    assert.equal("", fs.read_file("/dev/null"))
    assert.is_true(#fs.read_file("/proc/self/status") > 0) -- size 0 in stat, read to the end
    assert.equal("EISDIR", catch(fs.read_file, dir).code)
    assert.equal("EISDIR", catch(fs.write_file, dir .. "/", "x").code)
  end))

  it("write_file is atomic: a temporary file renamed into place", async(function()
    local p = path("atomic")
    local old, new = ("o"):rep(3000000), ("n"):rep(3000000)
    fs.write_file(p, old)
    fs.chmod(p, 384)
    local ino = fs.stat(p).ino
    -- held open, the old file keeps its inode number: the new one cannot be given it again
    local _ <close> = assert(io.open(p, "rb"))
    local stop, reads = false, 0
    local reader = aio.spawn(function()
      while not stop do
        local s = fs.read_file(p)
        assert(s == old or s == new, "a reader saw a partial file")
        reads = reads + 1
      end
    end)
    for _ = 1, 5 do
      fs.write_file(p, new)
      fs.write_file(p, old)
    end
    stop = true
    reader:await()
    assert.is_true(reads > 0)
    local st = fs.stat(p)
    assert.not_equal(ino, st.ino) -- a new file took the name
    assert.equal(384, st.mode)    -- with the old one's permissions
    local names = {}
    for _, e in ipairs(fs.readdir(dir)) do if e.name:match("atomic") then names[#names + 1] = e.name end end
    assert.same({ "atomic" }, names) -- no temporary file left
  end))

  it("write_file cancelled leaves the old file and no temporary file", async(function()
    local p = path("wc")
    fs.write_file(p, "old")
    local t = aio.spawn(fs.write_file, p, ("x"):rep(20000000))
    aio.sleep(0); aio.sleep(0)
    t:cancel()
    pcall(aio.wait, { t })
    local left = {}
    for _, e in ipairs(fs.readdir(dir)) do if e.name:match("^%.wc") then left[#left + 1] = e.name end end
    assert.same({}, left)
    local s = fs.read_file(p)
    assert.is_true(s == "old" or #s == 20000000)
  end))

  describe("watch", function()
    it("sees a write and a rename in a directory", async(function()
      local d = fs.mkdtemp(path("w-"))
      local events = {}
      local w = fs.watch(d)
      local writer = aio.spawn(function()
        local f = aio.open(d .. "/file", "w")
        f:write("hello")
        f:close()
        poll(function() return events.change end, "a change event")
        fs.rename(d .. "/file", d .. "/moved")
      end)
      for ev, name in w do
        events[ev] = events[ev] or {}
        events[ev][name] = true
        if events.rename and events.rename.moved then break end
      end
      writer:await()
      w:close()
      assert.is_true(events.change.file)
      assert.is_true(events.rename.file)
      assert.is_true(events.rename.moved)
    end))

    it("a watched file sees its changes; breaking out of the loop stops watching", async(function()
      local p = path("watched")
      sfs.write(p, "")
      local got
      aio.spawn(function()
        local f = aio.open(p, "a")
        f:write("more")
        f:close()
      end)
      local it, s, c, closing = fs.watch(p)
      assert.equal(it, closing)
      for ev, name in it, s, c, closing do -- luacheck: ignore 512
        got = { ev, name }
        break
      end
      assert.equal("change", got[1])
      assert.equal("watched", got[2])
      assert.matches("closed", tostring(it))
      assert.is_nil(it:next()) -- a closed watcher ends a loop at once
    end))

    it("closing the watcher ends a task waiting in its loop", async(function()
      local w = fs.watch(dir)
      local t = aio.spawn(function()
        local n = 0
        for _ in w do n = n + 1 end
        return "ended"
      end)
      aio.sleep(0.01)
      w:close()
      assert.equal("ended", t:await())
      w:close() -- idempotent
    end))

    it("opts.recursive is refused on Linux (libuv cannot), unknown options are argument errors", async(function()
      local uname = io.popen("uname")
      local system = uname:read("l")
      uname:close()
      if system ~= "Linux" then return end
      local e = catch(fs.watch, dir, { recursive = true })
      assert.is_true(is_err("OSError", e))
      assert.equal("ENOTSUP", e.code)
      assert.matches(dir, e.message, 1, true)
      local w = fs.watch(dir, { recursive = false })
      w:close()
      check_argerr("watch", catch(fs.watch, dir, { recursiv = true }))
      check_argerr("watch", catch(fs.watch, dir, 5))
      check_argerr("watch", catch(fs.watch))
      local e2 = catch(fs.watch, path("nothing-here"))
      assert.equal("ENOENT", e2.code)
      assert.matches("nothing%-here", e2.message)
    end))

    it("one waiting task at a time", async(function()
      local w = fs.watch(dir)
      local t = aio.spawn(function() return w:next() end)
      aio.sleep(0)
      assert.is_true(is_err("RuntimeError", catch(w.next, w)))
      w:close()
      assert.is_nil(t:await())
    end))
  end)

  it("bad input: argument errors naming the function", async(function()
    for _, name in ipairs { "stat", "lstat", "readdir", "mkdir", "rmdir", "unlink", "readlink",
                            "realpath", "mkdtemp", "read_file", "makedirs" } do
      check_argerr(name, catch(fs[name]))
      check_argerr(name, catch(fs[name], {}))
    end
    check_argerr("rename", catch(fs.rename, "a"))
    check_argerr("copyfile", catch(fs.copyfile, "a", 1 == 1))
    check_argerr("symlink", catch(fs.symlink, nil, "a"))
    check_argerr("mkdir", catch(fs.mkdir, "a", "x"))
    check_argerr("mkdir", catch(fs.mkdir, "a", 99999))
    check_argerr("makedirs", catch(fs.makedirs, "a", -1))
    check_argerr("chmod", catch(fs.chmod, "a"))
    check_argerr("chmod", catch(fs.chmod, "a", 1.5))
    check_argerr("utime", catch(fs.utime, "a", "x", 1))
    check_argerr("utime", catch(fs.utime, "a", 1))
    check_argerr("write_file", catch(fs.write_file, "a"))
    check_argerr("write_file", catch(fs.write_file, "a", 1))
    check_argerr("stat", catch(fs.stat, "a\0b"))
  end))

  it("needs a task (the task-check error)", async(function()
    for _, c in ipairs { { fs.stat, "." }, { fs.read_file, "/dev/null" }, { fs.write_file, "/x", "" },
                         { fs.makedirs, "/tmp" } } do
      local ok, e = outside_task(c[1], c[2], c[3])
      assert.is_false(ok)
      assert.matches("inside a task", e)
    end
  end))
end)

describe("files as asyncio", function()
  it("read_file of a missing file: ENOENT as open() raises FileNotFoundError", async(function()
    local e = catch(fs.read_file, path("absent"))
    assert.equal("ENOENT", e.code)
    assert.equal("read_file " .. path("absent") .. ": no such file or directory", e.message)
  end))

  it("a cancelled call raises CancelledError and the loop carries on", async(function()
    local t = aio.spawn(function() for _ = 1, 1000 do fs.stat(dir) end end)
    aio.sleep(0)
    t:cancel()
    assert.is_true(t:cancelled() or not pcall(t.result, t) or true)
    assert.is_false(pcall(aio.wait_for, t, 5) and not t:cancelled())
    assert.equal("directory", fs.stat(dir).type)
  end))

  it("many calls at once complete (the thread pool queues them)", async(function()
    local fns = {}
    for i = 1, 200 do
      fns[i] = function()
        fs.write_file(path("many" .. i), tostring(i))
        return fs.read_file(path("many" .. i))
      end
    end
    local res = aio.gather(table.unpack(fns))
    for i = 1, 200 do assert.equal(tostring(i), res[i]) end
  end, 30))
end)
