-- fs.lua — the policy over fs.c, file.c and watch.c: readdir in name order, makedirs,
-- write_file (a temporary file in the same directory renamed into place), watch's options.
local aio, priv = ...

local fs = aio.fs
local readdir, watch = fs.readdir, fs._watch
fs._watch = nil

local check_opts, check_in_task, typeerror, argerror = priv.check_opts, priv.check_in_task,
  priv.typeerror, priv.argerror
local type, error, ipairs, getmetatable = type, error, ipairs, getmetatable
local sort, random, mtype = table.sort, math.random, math.type
local apcall, open = aio.pcall, aio.open

local OSError = aio.OSError

-- an OSError about a temporary file, told about the file it stands for
local function about(e, fname, path)
  if getmetatable(e) ~= OSError then return e end
  local why = e.message:match(": ([^:]*)$") or e.message
  return OSError(fname .. " " .. path .. ": " .. why, { code = e.code })
end

local function check_path(path, fname, argn)
  if type(path) ~= "string" then typeerror(argn, fname, "string", path, 3) end
end

local function join(dir, name)
  return dir:sub(-1) == "/" and dir .. name or dir .. "/" .. name
end

-- the directory a path is in, and its last component
local function split(path)
  local dir, base = path:match("^(.*)/([^/]*)$")
  if not dir then return ".", path end
  return dir == "" and "/" or dir, base
end

function fs.readdir(path)
  check_path(path, "readdir", 1)
  local list = readdir(path)
  for _, e in ipairs(list) do
    if e.type == "unknown" then -- a file system that does not say: ask it
      local ok, st = apcall(fs.lstat, join(path, e.name))
      if ok then e.type = st.type end
    end
  end
  sort(list, function(a, b) return a.name < b.name end)
  return list
end

local function check_perm(perm, fname, argn)
  if perm ~= nil and (mtype(perm) ~= "integer" or perm < 0 or perm > 4095) then
    argerror(argn, fname, "perm must be a mode from 0 to 0o7777", 3)
  end
end

-- mkdir -p: the missing parents too (with the default mode, as Python's os.makedirs);
-- an existing directory is fine, an existing file is not
local function makedirs(path, perm)
  local ok, err = apcall(fs.mkdir, path, perm)
  if ok then return end
  if err.code == "ENOENT" then
    local parent = path:match("^(.*[^/])/+[^/]+/*$")
    if not parent then error(err, 0) end
    makedirs(parent)
    ok, err = apcall(fs.mkdir, path, perm)
    if ok then return end
  end
  if err.code == "EEXIST" then
    local sok, st = apcall(fs.stat, path)
    if sok and st.type == "directory" then return end
  end
  error(err, 0)
end

function fs.makedirs(path, perm)
  check_path(path, "makedirs", 1)
  check_perm(perm, "makedirs", 2)
  check_in_task("makedirs")
  makedirs(path, perm)
end

-- The data goes to a new file beside the target (created exclusively, so two writers
-- never share one), is synced to disk and renamed over the target: a reader sees the old
-- file or the new one, never part of one. The new file keeps the old one's permissions.
function fs.write_file(path, data)
  check_path(path, "write_file", 1)
  if type(data) ~= "string" then typeerror(2, "write_file", "string", data, 2) end
  check_in_task("write_file")
  local dir, base = split(path)
  if base == "" or base == "." or base == ".." then
    error(aio.OSError("write_file " .. path .. ": is a directory", { code = "EISDIR" }), 2)
  end
  local perm = 438 -- 0666, before the umask
  local sok, st = apcall(fs.stat, path)
  if sok then perm = st.mode end
  local f, tmp
  for _ = 1, 100 do
    tmp = ("%s/.%s.%08x.tmp"):format(dir, base, random(0, 0x7fffffff))
    local ok, r = apcall(open, tmp, "wx", perm)
    if ok then f = r break end
    if r.code ~= "EEXIST" then error(about(r, "write_file", path), 0) end
  end
  if not f then error(aio.OSError("write_file " .. path .. ": no temporary name", { code = "EEXIST" }), 2) end
  local ok, err = pcall(function()
    f:write(data)
    f:sync()
    f:close()
    fs.rename(tmp, path)
  end)
  if not ok then -- also when cancelled: no temporary file is left behind
    pcall(f.close, f)
    pcall(fs.unlink, tmp)
    error(about(err, "write_file", path), 0)
  end
end

local WATCH_OPTS = { recursive = true }
function fs.watch(path, opts)
  check_path(path, "watch", 1)
  opts = check_opts(opts, WATCH_OPTS, "watch", 2)
  local w = watch(path, opts.recursive)
  -- the watcher is the iterator and the loop's closing value: leaving the loop closes it
  return w, nil, nil, w
end
