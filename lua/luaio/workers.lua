-- workers.lua — aio.workers / aio.worker_id: a supervisor of n copies of the running script
-- (the luaio binary's own command line run again, LUAIO_WORKER=1..n in their environment),
-- built on aio.create_subprocess_exec and aio.add_signal_handler. The mechanism (the
-- command line, the environment, whether this process is a copy, the copy's death signal)
-- is src/workers.c.
local aio, priv = ...

local host = aio._workers_host
local WORKER_ID = aio._workers_id -- fixed when the module opened: nil unless a copy
aio._workers_host, aio._workers_id = nil, nil

local check_opts, check_in_task, argerror = priv.check_opts, priv.check_in_task, priv.argerror
local type, pairs, tostring, pcall, error = type, pairs, tostring, pcall, error
local mtype = math.type
local RuntimeError = aio.RuntimeError

local FNAME = "workers"
local MAX_WORKERS = 1024
local OPTS = { restarts = true, env = true, stdin = true }
local STOP_SIGNALS = { SIGINT = 2, SIGTERM = 15 }

function aio.worker_id() return WORKER_ID end

local function bad(argn, msg) argerror(argn, FNAME, msg, 4) end -- the caller of aio.workers

local function check_args(n, opts)
  if mtype(n) == "float" and n == n // 1 then n = math.tointeger(n) end
  if mtype(n) ~= "integer" then
    if type(n) ~= "number" then bad(1, "number expected, got " .. (n ~= n and "NaN" or type(n))) end
    bad(1, "number has no integer representation")
  end
  if n < 1 or n > MAX_WORKERS then
    bad(1, ("the number of workers must be from 1 to %d, got %d"):format(MAX_WORKERS, n))
  end
  local restarts = opts.restarts
  if restarts == nil then restarts = 10
  elseif mtype(restarts) ~= "integer" or restarts < 0 then
    bad(2, "restarts must be an integer >= 0, got " .. tostring(restarts))
  end
  local env = opts.env
  if env ~= nil then
    if type(env) ~= "table" then bad(2, "env must be a table, got " .. type(env)) end
    for k, v in pairs(env) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        bad(2, "env must map names (strings) to strings or numbers")
      end
    end
  end
  local stdin = opts.stdin
  if stdin == nil then stdin = "null"
  elseif stdin ~= "null" and stdin ~= "inherit" then
    bad(2, "stdin must be 'null' or 'inherit', got " .. tostring(stdin))
  end
  return n, restarts, env, stdin
end

local function say(msg)
  io.stderr:write("luaio: workers: ", msg, "\n")
  io.stderr:flush()
end

-- the supervisor: runs until every copy has ended, then ends the process
local function supervise(n, restarts, extra_env, stdin, h)
  local env = h.env
  for k, v in pairs(extra_env or {}) do env[k] = tostring(v) end
  env.LUAIO_WORKER_PARENT = tostring(h.pid)
  local popts = { env = env, cwd = h.cwd, stdin = stdin }

  local procs = {}          -- worker number -> its running Process
  local stopping            -- the stop signal forwarded, once one came
  local failed = false      -- some copy did not end cleanly
  local recent = {}         -- times of the restarts in the last minute

  local function forward(sig)
    for _, p in pairs(procs) do
      if p.returncode == nil then pcall(p.send_signal, p, sig) end
    end
  end
  local function stop(sig)
    stopping = stopping or sig
    forward(sig)
  end
  for name in pairs(STOP_SIGNALS) do aio.add_signal_handler(name, stop, name) end

  local function start(id)
    env.LUAIO_WORKER = tostring(id)
    local ok, p = pcall(aio.create_subprocess_exec, h.exe, h.args, popts)
    if not ok then
      say(("cannot start worker %d: %s"):format(id, tostring(p)))
      return nil
    end
    procs[id] = p
    if stopping then pcall(p.send_signal, p, stopping) end -- a signal came while it started
    return p
  end

  -- a copy's end is clean when it exits with 0, or, after a stop signal was forwarded,
  -- dies of it or exits with 128 + its number (the binary's status after SIGINT)
  local function clean(rc)
    if rc == 0 then return true end
    if not stopping then return false end
    local num = STOP_SIGNALS[stopping]
    return rc == -num or rc == 128 + num
  end

  local function manage(id)
    local p = start(id)
    while p do
      local rc = p:wait()
      procs[id] = nil
      if stopping or rc == 0 then
        if not clean(rc) then
          failed = true
          say(("worker %d (pid %d) ended with status %d"):format(id, p.pid, rc))
        end
        return
      end
      -- an unexpected end: restart it, unless that would pass the limit
      local now = aio.time()
      local kept = {}
      for _, t in ipairs(recent) do if now - t < 60 then kept[#kept + 1] = t end end
      recent = kept
      local how = rc < 0 and ("was killed by signal " .. -rc) or ("exited with status " .. rc)
      if #recent >= restarts then
        failed = true
        say(("worker %d (pid %d) %s; %d restarts in the last minute (restarts = %d): stopping")
          :format(id, p.pid, how, #recent, restarts))
        stop("SIGTERM")
        return
      end
      recent[#recent + 1] = now
      say(("worker %d (pid %d) %s; restarting it"):format(id, p.pid, how))
      p = start(id)
      if not p then failed = true; stop("SIGTERM") end
    end
    failed = true
    stop("SIGTERM")
  end

  local tasks = {}
  for id = 1, n do tasks[id] = aio.spawn(manage, id) end
  for id = 1, n do tasks[id]:await() end
  io.stdout:flush()
  os.exit(failed and 1 or 0)
end

function aio.workers(n, opts)
  opts = check_opts(opts, OPTS, FNAME, 2)
  local restarts, env, stdin
  n, restarts, env, stdin = check_args(n, opts)
  check_in_task(FNAME)
  if WORKER_ID then return WORKER_ID end
  local h = host()
  if not h then
    error(RuntimeError("luaio.workers: needs the luaio binary (it starts copies of the script "
      .. "the binary runs); under another host, start the processes yourself"), 2)
  end
  if not h.rerun then
    error(RuntimeError("luaio.workers: the script must come from a file or -e, not from stdin "
      .. "or the REPL (the copies run the same command line again)"), 2)
  end
  supervise(n, restarts, env, stdin, h)
end
