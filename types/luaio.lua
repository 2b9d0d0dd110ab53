---@meta
-- types/luaio.lua — editor stubs for luaio (lua-language-server annotations).
--
-- Nothing here runs: the real module is `build/luaio.so` (or the one the `luaio` binary
-- preloads). Point lua-language-server at this directory, e.g. in `.luarc.json`:
--   { "workspace.library": ["types"] }
-- and `local aio = require "luaio"` gets completion, signatures and type checks.
--
-- Functions marked `---@async` suspend the calling task: they must be called from inside a
-- task (see `aio.run`, `aio.spawn`) and raise outside one. The objects they return (tasks,
-- queues, streams, ...) are the classes declared below.
-- luacheck: ignore

---@class luaio
local aio = {}

-- ---------------------------------------------------------------------------------------
-- Shared aliases
-- ---------------------------------------------------------------------------------------

--- Anything `aio.await` accepts: a Future, a Task (a kind of Future) or a coroutine object.
---@alias luaio.Awaitable Future|Coroutine

--- What the composition functions accept: an awaitable, or a function that is started as a
--- new task (called with no arguments).
---@alias luaio.AwaitableOrFunction Future|Coroutine|async fun(): ...

--- An address family.
---@alias luaio.Family "inet"|"inet6"

--- A port: an integer 0–65535 or a string of digits.
---@alias luaio.Port integer|string

--- When `aio.wait` returns.
---@alias luaio.ReturnWhen "ALL_COMPLETED"|"FIRST_COMPLETED"|"FIRST_EXCEPTION"

-- ---------------------------------------------------------------------------------------
-- Option tables and other plain tables
-- ---------------------------------------------------------------------------------------

--- Options of `aio.open_connection`. An unknown key is an argument error.
---@class luaio.ConnectionOpts
--- The reader's buffer limit in bytes (default 65536).
---@field limit? integer
--- Only addresses of this family.
---@field family? luaio.Family
--- TLS: true (the default client context) or a client SSLContext.
---@field ssl? boolean|SSLContext
--- TLS: the name sent as SNI and checked against the certificate (default: host).
---@field server_hostname? string
--- TLS: seconds the handshake may take (default 60); then TimeoutError.
---@field ssl_handshake_timeout? number

--- Options of `aio.start_server`. An unknown key is an argument error.
---@class luaio.ServerOpts
--- Each connection reader's buffer limit in bytes (default 65536).
---@field limit? integer
--- The listen backlog (default 100).
---@field backlog? integer
--- SO_REUSEADDR (always on, as asyncio's default on POSIX).
---@field reuse_address? boolean
--- SO_REUSEPORT: several processes may serve one port.
---@field reuse_port? boolean
--- TLS: a server SSLContext; client_cb runs after a successful handshake.
---@field ssl? SSLContext
--- TLS: seconds a handshake may take (default 60); a failed one goes to the exception handler.
---@field ssl_handshake_timeout? number
--- Only listen on addresses of this family.
---@field family? luaio.Family

--- Options of `aio.open_unix_connection`.
---@class luaio.UnixConnectionOpts
--- The reader's buffer limit in bytes (default 65536).
---@field limit? integer
--- TLS: true (the default client context) or a client SSLContext.
---@field ssl? boolean|SSLContext
--- TLS: the name sent as SNI and checked against the certificate.
---@field server_hostname? string
--- TLS: seconds the handshake may take (default 60).
---@field ssl_handshake_timeout? number

--- Options of `aio.start_unix_server`.
---@class luaio.UnixServerOpts
--- Each connection reader's buffer limit in bytes (default 65536).
---@field limit? integer
--- The listen backlog (default 100).
---@field backlog? integer
--- TLS: a server SSLContext; client_cb runs after the handshake.
---@field ssl? SSLContext
--- TLS: seconds a handshake may take (default 60).
---@field ssl_handshake_timeout? number

--- Options of `aio.getaddrinfo`.
---@class luaio.GetaddrinfoOpts
--- Only addresses of this family.
---@field family? luaio.Family

--- One entry of the list `aio.getaddrinfo` returns.
---@class luaio.AddrInfo
--- The address family.
---@field family luaio.Family
--- The numeric address.
---@field addr string
--- The port.
---@field port integer

--- Options of `aio.StreamReader`.
---@class luaio.StreamReaderOpts
--- The buffer limit in bytes (default 65536).
---@field limit? integer

--- Options of `aio.gather` (list form).
---@class luaio.GatherOpts
--- Put each failure's error value (a `CancelledError` for a cancelled child) in its slot
--- instead of raising.
---@field return_exceptions? boolean

--- The list `aio.gather` returns: the first result of each awaitable, in argument order.
---@class luaio.GatherResult
--- How many awaitables were gathered (slots may hold nil).
---@field n integer
---@field [integer] any

--- Options of `aio.wait`.
---@class luaio.WaitOpts
--- Seconds to wait at most (nil: no limit); on timeout `wait` returns what is done so far.
---@field timeout? number
--- When to return (default "ALL_COMPLETED").
---@field return_when? luaio.ReturnWhen

--- Options of `aio.Scheduler` / `aio.create_scheduler`. An unknown key is an argument error.
---@class luaio.SchedulerOpts
--- Jobs active at once: a positive integer (default 100), or `false` / `math.huge` for no limit.
---@field limit? number|false
--- Jobs waiting to start: an integer (default 10000); `0`, `false` or `math.huge`: unlimited.
---@field pending_limit? number|false
--- Seconds `close()` gives a cancelled job to finish (default 0.1).
---@field close_timeout? number
--- Default timeout of `wait_and_close()` and of the `<close>` exit (default 60).
---@field wait_timeout? number
--- Receives errors nobody retrieved and jobs that would not close.
---@field exception_handler? fun(sched: Scheduler, ctx: luaio.ExceptionContext)

--- The context table an exception handler receives (`aio.set_exception_handler`,
--- `luaio.SchedulerOpts.exception_handler`); which fields are set depends on the report.
---@class luaio.ExceptionContext
--- What happened, e.g. "Task exception was never retrieved".
---@field message string
--- The error value.
---@field exception? any
--- Where it happened.
---@field traceback? string
--- The task that failed.
---@field task? Task
--- The future that failed.
---@field future? Future
--- The callback that failed.
---@field handle? Handle
--- The scheduler job concerned.
---@field job? Job
--- The connection whose `client_cb` failed.
---@field writer? StreamWriter

--- A file to write to: an `io` file or any object with a `write` method.
---@alias luaio.Writable file*|{ write: fun(self: any, s: string): any }

-- ---------------------------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------------------------

--- A TLS verification or protocol failure.
---@class SSLError: Error
--- OpenSSL's reason: "CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", ...
---@field reason string
--- X509 verification code when the reason is CERTIFICATE_VERIFY_FAILED.
---@field verify_code? integer
--- Its text ("certificate has expired", "hostname mismatch", ...).
---@field verify_message? string

--- An error raised by luaio: a table whose metatable is its class (`aio.<name>`);
--- `tostring(err)` gives `"<name>: <message>"`.
---@class Error
--- The class name: "CancelledError", "TimeoutError", "OSError", ...
---@field name string
--- The message ("" when none was given).
---@field message string
--- Where a deadlocked `aio.run`'s main task was stuck (RuntimeError).
---@field traceback? string

--- An operating-system or network failure.
---@class OSError: Error
--- libuv's name for the error: "ECONNREFUSED", "EADDRINUSE", "EPIPE", ...
---@field code string

--- Raised by `StreamReader:readexactly` (and `readuntil` at EOF) when the stream ends early.
---@class IncompleteReadError: Error
--- The bytes read before EOF (consumed).
---@field partial string
--- The count asked for (nil for `readuntil`).
---@field expected? integer

--- Raised by `StreamReader:readuntil` / `readline` when the separator is not within the limit.
---@class LimitOverrunError: Error
--- Bytes looked at before the limit was reached.
---@field consumed integer

--- Raised when a `TaskGroup` block ends with failed children.
---@class ExceptionGroup: Error
--- The children's errors in the order they happened, then the block's own.
---@field errors any[]
--- Where each child whose error is errors[i] failed (its traceback), nil for the block's own.
---@field tracebacks (string|nil)[]

--- An error class, such as `aio.TimeoutError`: `aio.TimeoutError("msg")` builds an error;
--- `getmetatable(err) == aio.TimeoutError` tests for one.
---@class luaio.ErrorClass
--- The class's name, which its errors carry in `name`.
---@field name string
--- The same as `name`.
---@field __name string
---@overload fun(message?: string, fields?: table): Error

--- The class `aio.OSError`.
---@class luaio.OSErrorClass: luaio.ErrorClass
---@overload fun(message?: string, fields?: { code?: string }): OSError

--- The class `aio.IncompleteReadError`.
---@class luaio.IncompleteReadErrorClass: luaio.ErrorClass
---@overload fun(message?: string, fields?: { partial?: string, expected?: integer }): IncompleteReadError

--- The class `aio.LimitOverrunError`.
---@class luaio.LimitOverrunErrorClass: luaio.ErrorClass
---@overload fun(message?: string, fields?: { consumed?: integer }): LimitOverrunError

--- The class `aio.ExceptionGroup`.
---@class luaio.ExceptionGroupClass: luaio.ErrorClass
---@overload fun(message?: string, fields?: { errors?: any[] }): ExceptionGroup

--- A task (or future) was cancelled; `aio.pcall` never catches it.
---@type luaio.ErrorClass
aio.CancelledError = {}

--- An operation ran out of time (`aio.wait_for`, `aio.timeout`, `Job:wait`, ...).
---@type luaio.ErrorClass
aio.TimeoutError = {}

--- A future's result asked for before it is done, or set twice.
---@type luaio.ErrorClass
aio.InvalidStateError = {}

--- `Queue:get_nowait` on an empty queue.
---@type luaio.ErrorClass
aio.QueueEmpty = {}

--- `Queue:put_nowait` on a full queue.
---@type luaio.ErrorClass
aio.QueueFull = {}

--- A queue was shut down (`Queue:shutdown`).
---@type luaio.ErrorClass
aio.QueueShutDown = {}

--- A stream ended before the expected bytes arrived.
---@type luaio.IncompleteReadErrorClass
aio.IncompleteReadError = {}

--- A separator was not found within the reader's limit.
---@type luaio.LimitOverrunErrorClass
aio.LimitOverrunError = {}

--- A `Barrier` was aborted or reset while a party waited.
---@type luaio.ErrorClass
aio.BrokenBarrierError = {}

--- The failures of a `TaskGroup`'s children.
---@type luaio.ExceptionGroupClass
aio.ExceptionGroup = {}

--- Misuse, wherever asyncio or aiojobs raise RuntimeError (releasing an unlocked Lock, ...).
---@type luaio.ErrorClass
aio.RuntimeError = {}

--- An invalid value, wherever asyncio raises ValueError (`Semaphore(-1)`, ...).
---@type luaio.ErrorClass
aio.ValueError = {}

--- An operating-system or network failure; `code` is libuv's error name.
---@type luaio.OSErrorClass
aio.OSError = {}

--- The class `aio.SSLError` (TLS failures).
---@type luaio.ErrorClass
aio.SSLError = {}

-- ---------------------------------------------------------------------------------------
-- Module values
-- ---------------------------------------------------------------------------------------

--- The library version string.
---@type string
aio.VERSION = "0.1.0"

-- ---------------------------------------------------------------------------------------
-- Running
-- ---------------------------------------------------------------------------------------

--- Runs `main` (a function called with `...`, or a coroutine object) as the main task until it
--- finishes, then cancels and drains every task still alive; returns `main`'s results or
--- re-raises its error. Inside a running task it awaits `main` in place. A main task stuck on
--- something nothing can complete raises RuntimeError ("deadlock: ...").
---@param main (async fun(...): ...)|Coroutine
---@param ... any arguments for `main` (a function)
---@return any ...
function aio.run(main, ...) end

---@class RunnerOpts
---@field clock? "real"|"virtual" a virtual clock jumps to the next deadline when nothing else can happen
---@field autojump? number seconds of real time to wait for I/O before a virtual jump (default 0)
---@field debug? boolean debug mode for the Runner's life
---@field slow_callback_duration? number debug mode's slow step threshold, seconds (default 0.1)

--- A loop kept for several runs (asyncio.Runner); outside a running loop only.
---@class Runner
local Runner = {}

--- Makes a Runner; its options take effect now and are undone by `close`.
---@param opts? RunnerOpts
---@return Runner
function aio.Runner(opts) end

--- Runs `main` as the main task and returns its results; tasks it leaves go on next run.
---@param main (async fun(...): ...)|Coroutine
---@param ... any
---@return any ...
function Runner:run(main, ...) end

--- Cancels and drains what is left, then restores the clock and debug mode (idempotent).
function Runner:close() end

--- A virtual clock switched on until `close` (works inside a running loop too).
---@class VirtualClock
local VirtualClock = {}

--- Switches the loop to a virtual clock now; `close` puts back the one it replaced.
---@param opts? {autojump?: number}
---@return VirtualClock
function aio.virtual_clock(opts) end

--- Moves the virtual clock `seconds` forward.
---@param seconds number
function VirtualClock:advance(seconds) end

--- Puts back the clock that was in use before (idempotent).
function VirtualClock:close() end

--- `pcall` that never catches `CancelledError` (it re-raises it).
---@param f async fun(...): ...
---@param ... any
---@return boolean ok
---@return any ...
function aio.pcall(f, ...) end

-- ---------------------------------------------------------------------------------------
-- Tasks, futures, coroutine objects
-- ---------------------------------------------------------------------------------------

--- Returns an async function: calling it returns a coroutine object that has not started.
---@param fn async fun(...): ...
---@return AsyncFunction
function aio.async(fn) end

--- True for coroutine objects made by an `aio.async` function.
---@param v any
---@return boolean
function aio.iscoroutine(v) end

--- Suspends until `aw` finishes and returns all its results, or re-raises its error. A
--- coroutine object runs inside the current task.
---@async
---@param aw luaio.Awaitable
---@return any ...
function aio.await(aw) end

--- Schedules a coroutine object as a new Task; it starts on a later loop iteration.
---@param coro Coroutine
---@param name? string the task's name
---@return Task
function aio.create_task(coro, name) end

--- Schedules `fn(...)` as a new Task; it starts on a later loop iteration.
---@param fn async fun(...): ...
---@param ... any arguments for `fn`
---@return Task
function aio.spawn(fn, ...) end

--- Suspends for `seconds` (0: let every other ready task run once); returns the extra arguments.
---@async
---@param seconds number
---@param ... any
---@return any ...
function aio.sleep(seconds, ...) end

--- The running task, or nil outside a task.
---@return Task?
function aio.current_task() end

--- A list of the live tasks.
---@return Task[]
function aio.all_tasks() end

--- Writes every live task as a tree (name, state, what it waits on, suspended stack).
---@param file? luaio.Writable default `io.stderr`
function aio.dump_tasks(file) end

---@class luaio.CallGraphEntry
---@field task Task the task
---@field file? string where it stands: the script file
---@field line? integer and line

--- The chain of awaits from `task` (default: the current task) outwards: the task itself
--- and where it stands, then each task awaiting the one before it and where it is
--- suspended. Nil outside a task when no task is given; empty for a done task.
---@param task? Task
---@return luaio.CallGraphEntry[]?
function aio.call_graph(task) end

--- Writes `aio.call_graph(task)` one task a line.
---@param task? Task
---@param file? luaio.Writable default `io.stdout`
function aio.print_call_graph(task, file) end

---@class luaio.OpenResource
---@field kind "server"|"stream"|"datagram"|"process"|"file"|"watcher"|"handle"
---@field site string? "file:line" that created it, recorded in debug mode only
---@field object any the resource itself (Server, StreamWriter, DatagramSocket, Process, File, FsWatcher or Handle)

--- Every resource open now, in creation order (servers, streams, datagram sockets,
--- processes, files, watchers, scheduled handles).
---@return luaio.OpenResource[]
function aio.open_resources() end

--- A new pending Future.
---@return Future
function aio.Future() end

--- The loop's monotonic clock, in seconds.
---@return number
function aio.time() end

--- Schedules `fn(...)` as a plain callback on the next loop iteration.
---@param fn fun(...)
---@param ... any
---@return Handle
function aio.call_soon(fn, ...) end

--- Schedules `fn(...)` as a plain callback after `delay` seconds.
---@param delay number
---@param fn fun(...)
---@param ... any
---@return Handle
function aio.call_later(delay, fn, ...) end

--- Schedules `fn(...)` as a plain callback at `when` on `aio.time()`'s clock.
---@param when number
---@param fn fun(...)
---@param ... any
---@return Handle
function aio.call_at(when, fn, ...) end

--- Sets the handler every unretrieved error, failed callback and failed done-callback goes
--- to; nil restores the default (print to stderr).
---@param handler? fun(ctx: luaio.ExceptionContext)
function aio.set_exception_handler(handler) end

--- The handler set by `aio.set_exception_handler`, or nil while the default is in place.
---@return fun(ctx: luaio.ExceptionContext)?
function aio.get_exception_handler() end

--- Sends a context table to the exception handler (or the default printer).
---@param ctx luaio.ExceptionContext
function aio.call_exception_handler(ctx) end

-- ---------------------------------------------------------------------------------------
-- Composition
-- ---------------------------------------------------------------------------------------

--- Runs the awaitables concurrently (functions and coroutine objects become tasks) and returns
--- their first results in argument order; the first error is re-raised (the others keep
--- running). Cancelling the gather cancels its children.
---@async
---@param ... luaio.AwaitableOrFunction
---@return luaio.GatherResult
---@overload async fun(list: luaio.AwaitableOrFunction[], opts?: luaio.GatherOpts): luaio.GatherResult
function aio.gather(...) end

--- Waits for the awaitables of `list` (not empty) as `opts.return_when` says; returns the
--- finished and the unfinished ones.
---@async
---@param list luaio.AwaitableOrFunction[]
---@param opts? luaio.WaitOpts
---@return Future[] done
---@return Future[] pending
function aio.wait(list, opts) end

--- The results of `aw`, or, after `timeout` seconds, cancels it and raises TimeoutError.
---@async
---@param aw luaio.AwaitableOrFunction
---@param timeout? number nil: no limit
---@return any ...
function aio.wait_for(aw, timeout) end

--- An iterator for a generic `for` yielding each awaitable's future as it finishes; after
--- `timeout` seconds the iterator raises TimeoutError.
---@param list luaio.AwaitableOrFunction[]
---@param timeout? number
---@return async fun(): Future?
function aio.as_completed(list, timeout) end

--- Waits for `aw` and returns its results; cancelling the caller does not cancel `aw`.
---@async
---@param aw luaio.AwaitableOrFunction
---@return any ...
function aio.shield(aw) end

--- A to-be-closed timeout for the current task: `local t <close> = aio.timeout(1)`; a block
--- still running after `delay` seconds is cancelled and raises TimeoutError.
---@param delay? number nil: never (until `reschedule`)
---@return Timeout
function aio.timeout(delay) end

--- `aio.timeout` with an absolute deadline on `aio.time()`'s clock.
---@param when? number nil: never (until `reschedule`)
---@return Timeout
function aio.timeout_at(when) end

--- Structured concurrency: `local tg <close> = aio.TaskGroup()`; leaving the block waits for
--- every child; failures are raised together as an ExceptionGroup.
---@return TaskGroup
function aio.TaskGroup() end

-- ---------------------------------------------------------------------------------------
-- Queues
-- ---------------------------------------------------------------------------------------

--- A FIFO queue; `maxsize` 0, negative or absent: unbounded.
---@param maxsize? integer
---@return Queue
function aio.Queue(maxsize) end

--- A LIFO queue (a stack); `maxsize` 0, negative or absent: unbounded.
---@param maxsize? integer
---@return LifoQueue
function aio.LifoQueue(maxsize) end

--- A priority queue: smallest first by `<` or by `less(a, b)`; FIFO among equal items.
---@param maxsize? integer 0, negative or absent: unbounded
---@param less? fun(a: any, b: any): boolean must not suspend
---@return PriorityQueue
---@overload fun(less: fun(a: any, b: any): boolean): PriorityQueue
function aio.PriorityQueue(maxsize, less) end

-- ---------------------------------------------------------------------------------------
-- Synchronisation
-- ---------------------------------------------------------------------------------------

--- A new unlocked Lock.
---@return Lock
function aio.Lock() end

--- A new Event, not set.
---@return Event
function aio.Event() end

--- A new Condition over `lock` (default: a new Lock).
---@param lock? Lock
---@return Condition
function aio.Condition(lock) end

--- A new Semaphore with `value` permits (default 1; a negative value raises ValueError).
---@param value? integer
---@return Semaphore
function aio.Semaphore(value) end

--- A Semaphore that raises ValueError when released above its initial value (default 1).
---@param value? integer
---@return BoundedSemaphore
function aio.BoundedSemaphore(value) end

--- A Barrier for `parties` tasks (at least 1).
---@param parties integer
---@return Barrier
function aio.Barrier(parties) end

-- ---------------------------------------------------------------------------------------
-- Processes and signals
-- ---------------------------------------------------------------------------------------

--- Where a child's stdin, stdout or stderr goes: `"pipe"` (a stream), `"inherit"` (the
--- default), `"null"` (/dev/null), an open `io` file or a file descriptor; for stderr also
--- `"stdout"` (the same place as stdout).
---@alias luaio.Stdio "pipe"|"inherit"|"null"|"stdout"|file*|integer

--- Options of `aio.create_subprocess_exec` / `aio.create_subprocess_shell`.
---@class luaio.ProcessOpts
---@field stdin? luaio.Stdio
---@field stdout? luaio.Stdio
---@field stderr? luaio.Stdio
---@field cwd? string the child's working directory
---@field env? table<string, string|number> replaces the whole environment
---@field limit? integer the pipes' reader limit (default 65536)

--- A signal: a name such as `"SIGTERM"` or a number.
---@alias luaio.Signal string|integer

--- Starts `program` (searched in PATH when it has no `/`) with `args` as argv[1..]; raises
--- OSError (`code` "ENOENT", "EACCES" ...) when it cannot be started.
---@async
---@param program string
---@param args? (string|number)[]
---@param opts? luaio.ProcessOpts
---@return Process
function aio.create_subprocess_exec(program, args, opts) end

--- Starts `/bin/sh -c cmd`.
---@async
---@param cmd string
---@param opts? luaio.ProcessOpts
---@return Process
function aio.create_subprocess_shell(cmd, opts) end

-- ---------------------------------------------------------------------------------------
-- Datagrams (UDP)
-- ---------------------------------------------------------------------------------------

--- Options of `aio.open_datagram_endpoint`.
---@class luaio.DatagramOpts
---@field local_host? string the address to bind (a name or a numeric address)
---@field local_port? integer the port to bind (0: the system picks one)
---@field remote_host? string connect to this peer (with remote_port)
---@field remote_port? integer
---@field family? "inet"|"inet6"
---@field reuse_port? boolean SO_REUSEPORT
---@field allow_broadcast? boolean SO_BROADCAST
---@field queue? integer datagrams kept while no task receives (default 1024); more are dropped

--- A UDP socket, bound and/or connected as `opts` say, already receiving. Resolves names
--- asynchronously; raises OSError when it cannot bind or connect.
---@async
---@param opts? luaio.DatagramOpts
---@return DatagramSocket
function aio.open_datagram_endpoint(opts) end

--- Calls `fn(...)` through the loop each time the signal arrives (replaces an earlier
--- handler for it). SIGKILL, SIGSTOP and unknown names are argument errors.
---@param sig luaio.Signal
---@param fn function
---@param ... any
function aio.add_signal_handler(sig, fn, ...) end

--- Removes the handler and restores the signal's previous disposition; true if there was one.
---@param sig luaio.Signal
---@return boolean
function aio.remove_signal_handler(sig) end

--- Suspends until one of the signals arrives; returns its name.
---@async
---@param sig luaio.Signal
---@param ... luaio.Signal
---@return string|integer
function aio.wait_signal(sig, ...) end

---@class luaio.WorkersOpts
---@field restarts? integer  most restarts in 60 seconds (default 10)
---@field env? table<string, string|number>  added to the copies' environment
---@field stdin? "null"|"inherit"  the copies' standard input (default "null")

--- In the luaio binary: makes the script a supervisor of `n` copies of itself
--- (LUAIO_WORKER=1..n) and returns the worker number in each copy; the supervisor never
--- returns (it restarts copies that die, forwards SIGINT/SIGTERM and exits). RuntimeError
--- outside the binary.
---@async
---@param n integer
---@param opts? luaio.WorkersOpts
---@return integer
function aio.workers(n, opts) end

--- This process's worker number in a copy started by aio.workers, else nil.
---@return integer?
function aio.worker_id() end

-- ---------------------------------------------------------------------------------------
-- Streams and networking
-- ---------------------------------------------------------------------------------------

--- Opens a TCP connection (IPv4 or IPv6; names resolved asynchronously, each address tried).
---@async
---@param host string
---@param port luaio.Port
---@param opts? luaio.ConnectionOpts
---@return StreamReader reader
---@return StreamWriter writer
function aio.open_connection(host, port, opts) end

--- Starts a TCP server, listening when it returns; each connection runs
--- `client_cb(reader, writer)` as a new task.
---@param client_cb (async fun(reader: StreamReader, writer: StreamWriter))|AsyncFunction
---@param host? string nil: every interface
---@param port? luaio.Port 0 or nil: a free port
---@param opts? luaio.ServerOpts
---@return Server
function aio.start_server(client_cb, host, port, opts) end

--- Opens a Unix domain socket connection.
---@async
---@param path string
---@param opts? luaio.UnixConnectionOpts
---@return StreamReader reader
---@return StreamWriter writer
function aio.open_unix_connection(path, opts) end

--- Starts a Unix domain socket server (a socket file left at `path` is replaced).
---@param client_cb (async fun(reader: StreamReader, writer: StreamWriter))|AsyncFunction
---@param path string
---@param opts? luaio.UnixServerOpts
---@return Server
function aio.start_unix_server(client_cb, path, opts) end

--- Resolves `host` asynchronously (numeric addresses at once); stream sockets only.
---@async
---@param host? string nil: the loopback addresses
---@param port? luaio.Port default 0
---@param opts? luaio.GetaddrinfoOpts
---@return luaio.AddrInfo[]
function aio.getaddrinfo(host, port, opts) end

--- A reader with no socket, fed by hand with `feed_data` / `feed_eof`.
---@param opts? luaio.StreamReaderOpts
---@return StreamReader
function aio.StreamReader(opts) end

-- ---------------------------------------------------------------------------------------
-- Job scheduler
-- ---------------------------------------------------------------------------------------

--- A job scheduler (aiojobs); `local s <close> = aio.Scheduler{...}` waits for its jobs at
--- the end of the block.
---@param opts? luaio.SchedulerOpts
---@return Scheduler
function aio.Scheduler(opts) end

--- The same as `aio.Scheduler`.
---@param opts? luaio.SchedulerOpts
---@return Scheduler
function aio.create_scheduler(opts) end

-- ---------------------------------------------------------------------------------------
-- Threads
-- ---------------------------------------------------------------------------------------

--- A value `aio.to_thread` can copy between Lua states: nil, booleans, numbers, strings and
--- tables of those (no metatables, no cycles, at most 200 levels deep).
---@alias luaio.Copyable nil|boolean|number|string|table

--- Runs `fn(...)` on a libuv worker thread, in a separate Lua state with the standard
--- libraries and the caller's `package.path`/`package.cpath`; returns its results. `fn` may
--- have no upvalue but `_ENV`; arguments and results are copied. An error in `fn` raises a
--- RuntimeError carrying the worker's traceback; cancelling the caller raises at once.
---@async
---@param fn fun(...: luaio.Copyable): ...: luaio.Copyable
---@param ... luaio.Copyable
---@return luaio.Copyable ...
function aio.to_thread(fn, ...) end

-- ---------------------------------------------------------------------------------------
-- Future and Task
-- ---------------------------------------------------------------------------------------

--- A result that is not there yet. Tasks are Futures too.
---@class Future
local Future = {}

--- True once the future has a result, an error, or was cancelled.
---@return boolean
function Future:done() end

--- True if the future was cancelled.
---@return boolean
function Future:cancelled() end

--- All the results; raises the error if it failed, CancelledError if cancelled,
--- InvalidStateError if not done.
---@return any ...
function Future:result() end

--- The error value, or nil if it succeeded; raises CancelledError if cancelled,
--- InvalidStateError if not done.
---@return any err
function Future:exception() end

--- Completes the future with these results (on a Task: RuntimeError).
---@param ... any
function Future:set_result(...) end

--- Completes the future with an error value (not nil; on a Task: RuntimeError).
---@param err any
function Future:set_exception(err) end

--- Requests cancellation; returns true if the request was accepted (not done yet).
---@param msg? string the CancelledError's message
---@return boolean
function Future:cancel(msg) end

--- Calls `fn(fut)` through the loop once the future is done (never synchronously).
---@param fn fun(fut: Future)
function Future:add_done_callback(fn) end

--- Removes every registration of `fn`; returns how many were removed.
---@param fn fun(fut: Future)
---@return integer
function Future:remove_done_callback(fn) end

--- Suspends until the future is done and returns all its results (or re-raises its error).
---@async
---@return any ...
function Future:await() end

--- A Future that runs one coroutine (`aio.spawn`, `aio.create_task`).
---@class Task: Future
local Task = {}

--- The task's name ("Task-<n>" unless set).
---@return string
function Task:get_name() end

--- Sets the task's name (converted with `tostring`).
---@param name any
function Task:set_name(name) end

--- The number of pending cancellation requests.
---@return integer
function Task:cancelling() end

--- Decrements the count of cancellation requests; returns the remaining count.
---@return integer
function Task:uncancel() end

--- The task's current stack, or the failure's traceback once it failed ("" if none).
---@return string
function Task:traceback() end

--- Calls `fn(task)` through the loop once the task is done (never synchronously).
---@param fn fun(task: Task)
function Task:add_done_callback(fn) end

--- Removes every registration of `fn`; returns how many were removed.
---@param fn fun(task: Task)
---@return integer
function Task:remove_done_callback(fn) end

--- A coroutine object: what an async function returns; it has not started. Await it
--- (`aio.await(c)`, `c:await()`) or schedule it (`aio.create_task(c)`); it runs once.
---@class Coroutine
local Coroutine = {}

--- Runs the coroutine object inside the current task and returns its results.
---@async
---@return any ...
function Coroutine:await() end

--- What `aio.async(fn)` returns: calling it returns an unstarted coroutine object.
---@class AsyncFunction
---@overload fun(...: any): Coroutine

--- A scheduled callback (`aio.call_soon`, `aio.call_later`, `aio.call_at`).
---@class Handle
local Handle = {}

--- Cancels the callback if it has not run yet.
function Handle:cancel() end

--- True if the callback was cancelled.
---@return boolean
function Handle:cancelled() end

--- When the callback is due on `aio.time()`'s clock (nil for `call_soon`).
---@return number?
function Handle:when() end

-- ---------------------------------------------------------------------------------------
-- Timeout and TaskGroup
-- ---------------------------------------------------------------------------------------

--- A to-be-closed timeout (`aio.timeout`, `aio.timeout_at`).
---@class Timeout
local Timeout = {}

--- The deadline on `aio.time()`'s clock, or nil if none.
---@return number?
function Timeout:when() end

--- Moves the deadline (nil disarms it); RuntimeError once the block has ended or expired.
---@param when? number
function Timeout:reschedule(when) end

--- True once the deadline has passed and the block was cancelled.
---@return boolean
function Timeout:expired() end

--- Structured concurrency (`aio.TaskGroup`), a to-be-closed value.
---@class TaskGroup
local TaskGroup = {}

--- Starts `fn(...)` as a child task of the group.
---@param fn async fun(...): ...
---@param ... any
---@return Task
function TaskGroup:spawn(fn, ...) end

--- Schedules a coroutine object as a child task of the group.
---@param coro Coroutine
---@param name? string
---@return Task
function TaskGroup:create_task(coro, name) end

-- ---------------------------------------------------------------------------------------
-- Queues
-- ---------------------------------------------------------------------------------------

--- A FIFO queue (`aio.Queue`); `nil` is not a valid item.
---@class Queue
--- The bound (0 or negative: unbounded); read only.
---@field maxsize integer
local Queue = {}

--- Puts an item, suspending while the queue is full; raises QueueShutDown after `shutdown`.
---@async
---@param item any not nil
function Queue:put(item) end

--- Removes and returns an item, suspending while the queue is empty; raises QueueShutDown
--- once shut down and drained.
---@async
---@return any item
function Queue:get() end

--- Puts an item without waiting; raises QueueFull or QueueShutDown.
---@param item any not nil
function Queue:put_nowait(item) end

--- Removes and returns an item without waiting; raises QueueEmpty or QueueShutDown.
---@return any item
function Queue:get_nowait() end

--- Marks one item taken from the queue as processed (ValueError if called too often).
function Queue:task_done() end

--- Suspends until every item put has been marked done by `task_done`.
---@async
function Queue:join() end

--- Shuts the queue down: `put` raises QueueShutDown, `get` does once drained; `immediate`
--- drops the queued items.
---@param immediate? boolean
function Queue:shutdown(immediate) end

--- The number of items in the queue.
---@return integer
function Queue:qsize() end

--- True if the queue holds no item.
---@return boolean
function Queue:empty() end

--- True if `put_nowait` would raise QueueFull.
---@return boolean
function Queue:full() end

--- True after `shutdown()`.
---@return boolean
function Queue:is_shutdown() end

--- A LIFO queue (`aio.LifoQueue`): the last item put is the first got.
---@class LifoQueue: Queue

--- A priority queue (`aio.PriorityQueue`): the smallest item is got first.
---@class PriorityQueue: Queue

-- ---------------------------------------------------------------------------------------
-- Synchronisation
-- ---------------------------------------------------------------------------------------

--- What `acquire()` returns: a to-be-closed value that releases at scope exit
--- (`local _ <close> = lock:acquire()`), unless released already.
---@class Guard
local Guard = {}

--- Releases now (RuntimeError if this guard was released already).
function Guard:release() end

--- True once the guard has been released.
---@return boolean
function Guard:released() end

--- A mutual-exclusion lock (`aio.Lock`); waiters are served FIFO.
---@class Lock
local Lock = {}

--- Suspends until the lock is acquired; returns a to-be-closed guard.
---@async
---@return Guard
function Lock:acquire() end

--- Releases the lock (RuntimeError if it is not locked).
function Lock:release() end

--- True if the lock is held.
---@return boolean
function Lock:locked() end

--- An event flag (`aio.Event`).
---@class Event
local Event = {}

--- Sets the flag and wakes every waiter.
function Event:set() end

--- Clears the flag.
function Event:clear() end

--- True if the flag is set.
---@return boolean
function Event:is_set() end

--- Suspends until the flag is set; returns true.
---@async
---@return true
function Event:wait() end

--- A condition variable (`aio.Condition`).
---@class Condition
local Condition = {}

--- Suspends until the underlying lock is acquired; returns a to-be-closed guard.
---@async
---@return Guard
function Condition:acquire() end

--- Releases the underlying lock (RuntimeError if it is not locked).
function Condition:release() end

--- True if the underlying lock is held.
---@return boolean
function Condition:locked() end

--- Releases the lock, suspends until notified, takes the lock again; returns true.
---@async
---@return true
function Condition:wait() end

--- Waits until `pred()` is truthy and returns its value (the lock must be held).
---@async
---@param pred fun(): any
---@return any
function Condition:wait_for(pred) end

--- Wakes up to `n` waiters (default 1; the lock must be held).
---@param n? integer
function Condition:notify(n) end

--- Wakes every waiter (the lock must be held).
function Condition:notify_all() end

--- A counting semaphore (`aio.Semaphore`).
---@class Semaphore
local Semaphore = {}

--- Suspends until a permit is available; returns a to-be-closed guard.
---@async
---@return Guard
function Semaphore:acquire() end

--- Gives a permit back (a BoundedSemaphore raises ValueError above its initial value).
function Semaphore:release() end

--- True if `acquire()` would have to wait.
---@return boolean
function Semaphore:locked() end

--- A semaphore that cannot be released above its initial value (`aio.BoundedSemaphore`).
---@class BoundedSemaphore: Semaphore

--- A barrier for a fixed number of tasks (`aio.Barrier`).
---@class Barrier
--- The number of tasks that must wait together; read only.
---@field parties integer
local Barrier = {}

--- Suspends until `parties` tasks wait; returns an index from 0 to `parties - 1`, distinct
--- for each party; raises BrokenBarrierError if the barrier is aborted or reset meanwhile.
---@async
---@return integer
function Barrier:wait() end

--- Returns the barrier to its empty state; waiting tasks get BrokenBarrierError.
function Barrier:reset() end

--- Breaks the barrier: current and future `wait()` calls raise BrokenBarrierError.
function Barrier:abort() end

--- The number of tasks waiting now.
---@return integer
function Barrier:n_waiting() end

--- True if the barrier is broken.
---@return boolean
function Barrier:broken() end

-- ---------------------------------------------------------------------------------------
-- Streams
-- ---------------------------------------------------------------------------------------

--- The reading side of a connection. Only one task may wait on a reader at a time.
---@class StreamReader
local StreamReader = {}

--- Up to `n` bytes as soon as any are buffered; `n` absent or -1: everything until EOF;
--- "" at EOF.
---@async
---@param n? integer
---@return string
function StreamReader:read(n) end

--- A line including its "\n"; at EOF the partial last line, then "". A line longer than the
--- limit raises LimitOverrunError (and is dropped).
---@async
---@return string
function StreamReader:readline() end

--- Exactly `n` bytes, or IncompleteReadError (with `partial` and `expected`) at EOF.
---@async
---@param n integer
---@return string
function StreamReader:readexactly(n) end

--- Data up to and including `sep` (default "\n"); LimitOverrunError (with `consumed`) when
--- it is not within the limit, IncompleteReadError (with `partial`) at EOF.
---@async
---@param sep? string
---@return string
function StreamReader:readuntil(sep) end

--- An iterator for a generic `for`, yielding each line without its "\n" or "\r\n".
---@return async fun(): string?
function StreamReader:lines() end

--- True once EOF was seen and the buffer is empty.
---@return boolean
function StreamReader:at_eof() end

--- The connection's error as an OSError, or nil.
---@return OSError?
function StreamReader:exception() end

--- Bytes in the buffer.
---@return integer
function StreamReader:buffered() end

--- Appends data to the buffer, as a transport does (RuntimeError after `feed_eof`).
---@param data string
function StreamReader:feed_data(data) end

--- Marks the end of the stream.
function StreamReader:feed_eof() end

--- A child process (`aio.create_subprocess_exec`); a to-be-closed value (`<close>` kills a
--- child still running and waits for it).
---@class Process
--- The fields are read only.
---@field pid integer the child's process id
---@field stdin StreamWriter? the child's stdin when it is a pipe
---@field stdout StreamReader? the child's stdout when it is a pipe
---@field stderr StreamReader? the child's stderr when it is a pipe
---@field returncode integer? nil while running; the exit status, or -signum
local Process = {}

--- Suspends until the child exits; returns `returncode`.
---@async
---@return integer
function Process:wait() end

--- Writes `input` to stdin and closes it, reads stdout and stderr to EOF, waits for the
--- exit; returns the data (nil for a stream that is not a pipe).
---@async
---@param input? string
---@return string? stdout_data
---@return string? stderr_data
function Process:communicate(input) end

--- Sends a signal (nothing once the child has exited).
---@param sig luaio.Signal
function Process:send_signal(sig) end

--- Sends SIGTERM.
function Process:terminate() end

--- Sends SIGKILL.
function Process:kill() end

--- A UDP socket (`aio.open_datagram_endpoint`); a to-be-closed value (`<close>` closes it).
---@class DatagramSocket
local DatagramSocket = {}

--- Sends one datagram (at most 65507 bytes) to a numeric `host` and `port`; never suspends.
--- Raises OSError (also one reported later, such as "ECONNREFUSED" on a connected socket).
---@param data string
---@param host string
---@param port integer
function DatagramSocket:sendto(data, host, port) end

--- Sends one datagram to the connected peer; never suspends.
---@param data string
function DatagramSocket:send(data) end

--- Suspends until a datagram is received; returns it and its sender. A close while waiting
--- raises OSError "ECANCELED".
---@async
---@return string data
---@return string host
---@return integer port
function DatagramSocket:recvfrom() end

--- `recvfrom()` without the address.
---@async
---@return string data
function DatagramSocket:recv() end

--- The local address and port, or nil once closed.
---@return string? host
---@return integer? port
function DatagramSocket:getsockname() end

--- How many datagrams were dropped because the receive queue was full.
---@return integer
function DatagramSocket:dropped() end

--- Joins a multicast group (on the interface with local address `interface`).
---@param group string
---@param interface? string
function DatagramSocket:join_group(group, interface) end

--- Leaves a multicast group.
---@param group string
---@param interface? string
function DatagramSocket:leave_group(group, interface) end

--- Allows or forbids sending to broadcast addresses.
---@param on boolean
function DatagramSocket:set_broadcast(on) end

--- The time to live (hop limit) of the datagrams sent, 1 to 255.
---@param n integer
function DatagramSocket:set_ttl(n) end

--- Closes it (idempotent): a task waiting in recvfrom raises OSError "ECANCELED".
function DatagramSocket:close() end

--- True once `close()` was called.
---@return boolean
function DatagramSocket:is_closing() end

--- The writing side of a connection; a to-be-closed value (`<close>` closes it).
---@class StreamWriter
local StreamWriter = {}

--- Writes (buffers) the data; never suspends. Raises OSError if the connection has failed;
--- after `close()` the data is dropped.
---@param data string
function StreamWriter:write(data) end

--- Writes each string of the list.
---@param list string[]
function StreamWriter:writelines(list) end

--- Suspends while the write buffer is above the high-water mark; raises the connection's
--- OSError if it broke.
---@async
function StreamWriter:drain() end

--- Closes the connection after flushing what is buffered (idempotent).
function StreamWriter:close() end

--- Suspends until the connection is closed.
---@async
function StreamWriter:wait_closed() end

--- True once the writer is closing or closed.
---@return boolean
function StreamWriter:is_closing() end

--- True: the sending side can be shut down with `write_eof`.
---@return boolean
function StreamWriter:can_write_eof() end

--- Shuts the sending side down once the buffered data is written.
function StreamWriter:write_eof() end

--- Connection information: "peername" / "sockname" return `host, port` (a path for Unix
--- sockets), "socket" the file descriptor; an unknown name returns `default`.
---@param name "peername"|"sockname"|"socket"|string
---@param default? any
---@return any info
---@return integer? port
---@overload fun(self: StreamWriter, name: "peername"|"sockname", default?: any): string?, integer?
---@overload fun(self: StreamWriter, name: "socket", default?: any): integer?
function StreamWriter:get_extra_info(name, default) end

--- Upgrades the connection to TLS in place (STARTTLS) and suspends until the handshake is
--- done; the same reader and writer then carry TLS. A client context checks
--- `server_hostname`; a server context serves the handshake. Raises SSLError, TimeoutError.
---@async
---@param ctx SSLContext
---@param opts? { server_hostname?: string, ssl_handshake_timeout?: number }
function StreamWriter:start_tls(ctx, opts) end

--- Sets the high- and low-water marks `drain()` uses (default high 64 KiB, low high / 4).
---@param high? integer
---@param low? integer
function StreamWriter:set_write_buffer_limits(high, low) end

--- The low- and high-water marks.
---@return integer low
---@return integer high
function StreamWriter:get_write_buffer_limits() end

--- The number of bytes queued for writing.
---@return integer
function StreamWriter:get_write_buffer_size() end

--- A TLS context made by `aio.ssl_context` (no methods; pass it as `ssl`).
---@class SSLContext

--- Options of `aio.ssl_context`. An unknown key is an argument error.
---@class luaio.SSLContextOpts
--- A server context (needs certfile).
---@field server? boolean
--- PEM certificate chain.
---@field certfile? string
--- PEM private key (default: certfile).
---@field keyfile? string
--- CA certificates to verify the peer with (default: the system store).
---@field cafile? string
--- A directory of hashed CA certificates.
---@field capath? string
--- Verify the peer (clients: default true; servers: default false, true asks for client certificates).
---@field verify? boolean
--- Clients: check the host name against the certificate (default true).
---@field check_hostname? boolean
--- ALPN protocol names, in preference order.
---@field alpn? string[]
--- "TLSv1.2" (default) or "TLSv1.3".
---@field min_version? "TLSv1.2"|"TLSv1.3"
--- An OpenSSL cipher list (TLS 1.2 suites).
---@field ciphers? string

--- Makes a TLS context. Raises OSError for a missing file, SSLError for a bad one.
---@param opts? luaio.SSLContextOpts
---@return SSLContext
function aio.ssl_context(opts) end

--- A server (`aio.start_server`, `aio.start_unix_server`); a to-be-closed value (`<close>`
--- closes it and waits for its connections).
---@class Server
--- The listening sockets (empty once closed).
---@field sockets ServerSocket[]
local Server = {}

--- Stops listening; open connections carry on.
function Server:close() end

--- Suspends until the server is closed and every connection it accepted has closed.
---@async
function Server:wait_closed() end

--- Suspends until the server is closed, then raises CancelledError; never returns normally.
---@async
function Server:serve_forever() end

--- Does nothing: a server listens as soon as it is created.
function Server:start_serving() end

--- True until `close()`.
---@return boolean
function Server:is_serving() end

--- The Server class: the metatable of every server (`getmetatable(srv) == aio.Server`).
aio.Server = Server

--- One listening socket of a Server (`server.sockets[i]`).
---@class ServerSocket
local ServerSocket = {}

--- The address it listens on: `host, port` (the path for a Unix socket); nil once closed.
---@return string? host_or_path
---@return integer? port
function ServerSocket:getsockname() end

--- Stops listening on this socket.
function ServerSocket:close() end

--- Suspends until the socket is closed and its connections have closed.
---@async
function ServerSocket:wait_closed() end

--- True until the socket is closed.
---@return boolean
function ServerSocket:is_serving() end

--- The number of open connections accepted through this socket.
---@return integer
function ServerSocket:active() end

--- The socket's file descriptor, or nil once closed.
---@return integer?
function ServerSocket:fileno() end

-- ---------------------------------------------------------------------------------------
-- Job scheduler
-- ---------------------------------------------------------------------------------------

--- A job scheduler (`aio.Scheduler`); `#sched` counts active and pending jobs; a
--- to-be-closed value (`<close>` runs `wait_and_close()`).
---@class Scheduler
--- Jobs active at once (an integer, or `math.huge` when unlimited); read only.
---@field limit number
--- Jobs waiting to start (0: unlimited); read only.
---@field pending_limit integer
--- Seconds `close()` gives a cancelled job; read only.
---@field close_timeout number
--- Default timeout of `wait_and_close()`; read only.
---@field wait_timeout number
--- The `exception_handler` option (nil: the loop's handler); read only.
---@field exception_handler? fun(sched: Scheduler, ctx: luaio.ExceptionContext)
---@operator len: integer
local Scheduler = {}

--- Starts a job (a function and its arguments, or a coroutine object), or queues it while
--- `limit` jobs are active; suspends the caller only while the pending queue is full.
--- RuntimeError on a closed scheduler.
---@async
---@param fn async fun(...): ...
---@param ... any
---@return Job
---@overload async fun(self: Scheduler, coro: Coroutine): Job
function Scheduler:spawn(fn, ...) end

--- Cancels every job and waits at most `close_timeout` for them (outside a task it only
--- requests the cancellations).
---@async
function Scheduler:close() end

--- Waits for every job (and shielded awaitable) up to `timeout` (default `wait_timeout`),
--- then closes.
---@async
---@param timeout? number
function Scheduler:wait_and_close(timeout) end

--- The same as `wait_and_close(timeout)`.
---@async
---@param timeout? number
function Scheduler:wait(timeout) end

--- Like `aio.shield(aw)`, and the scheduler tracks `aw`: `wait_and_close` waits for it,
--- `close` cancels it.
---@async
---@param aw luaio.AwaitableOrFunction
---@return any ...
function Scheduler:shield(aw) end

--- The number of active jobs.
---@return integer
function Scheduler:active_count() end

--- The number of jobs waiting to start.
---@return integer
function Scheduler:pending_count() end

--- True once `close()` has been called.
---@return boolean
function Scheduler:closed() end

--- An iterator over the unfinished jobs: active ones, then pending ones in spawn order.
---@return fun(): Job?
function Scheduler:jobs() end

--- Calls the scheduler's `exception_handler(sched, ctx)`, or else the loop's handler.
---@param ctx luaio.ExceptionContext
function Scheduler:call_exception_handler(ctx) end

--- A job of a Scheduler (`sched:spawn`).
---@class Job
local Job = {}

--- The job's results, or raises its error; after `timeout` seconds the job is closed and
--- TimeoutError raised. Cancelling the caller does not cancel the job.
---@async
---@param timeout? number
---@return any ...
function Job:wait(timeout) end

--- Cancels the job (a pending one never runs) and waits up to `timeout` (default the
--- scheduler's `close_timeout`); raises TimeoutError if it does not finish in time, or the
--- job's error if nobody has seen it.
---@async
---@param timeout? number
function Job:close(timeout) end

--- True while the job runs.
---@return boolean
function Job:active() end

--- True while the job waits to start.
---@return boolean
function Job:pending() end

--- True once the job has finished or was closed.
---@return boolean
function Job:closed() end

-- ---------------------------------------------------------------------------------------
-- Files and the file system
-- ---------------------------------------------------------------------------------------

--- What `aio.fs.stat`, `aio.fs.lstat` and `File:stat` return.
---@class luaio.Stat
---@field size integer
---@field mode integer permission bits (`st_mode & 0o7777`)
---@field type "file"|"directory"|"link"|"fifo"|"socket"|"char"|"block"|"unknown"
---@field mtime number seconds, fractional
---@field atime number
---@field ctime number
---@field uid integer
---@field gid integer
---@field ino integer
---@field dev integer
---@field nlink integer

--- An entry of `aio.fs.readdir`.
---@class luaio.DirEntry
---@field name string
---@field type "file"|"directory"|"link"|"fifo"|"socket"|"char"|"block"|"unknown"

---@class luaio.WatchOpts
---@field recursive? boolean watch subdirectories too (macOS and Windows; raises OSError ENOTSUP elsewhere)

--- A read format of `File:read`: "a", "l", "L", "n" (or with a leading "*"), or a byte count.
---@alias luaio.ReadFormat "a"|"l"|"L"|"n"|integer

--- Opens a file as `io.open` does (`mode` "r", "w", "a", "r+", "w+", "a+", with "b"
--- ignored; "x" with "w" fails if the file exists); `perm` is the creation mode (default
--- 0o666, before the umask). Raises OSError (code ENOENT, EACCES, ...) naming the path.
---@async
---@param path string
---@param mode? string
---@param perm? integer
---@return File
function aio.open(path, mode, perm) end

--- The file-system functions; each suspends the calling task while libuv's thread pool
--- works, and raises OSError (with libuv's `code`, the message naming the path) on failure.
aio.fs = {}

---@async
---@param path string
---@return luaio.Stat
function aio.fs.stat(path) end

--- As `stat`, but a symbolic link is described itself.
---@async
---@param path string
---@return luaio.Stat
function aio.fs.lstat(path) end

--- The entries of a directory (without "." and ".."), sorted by name.
---@async
---@param path string
---@return luaio.DirEntry[]
function aio.fs.readdir(path) end

---@async
---@param path string
---@param perm? integer default 0o777, before the umask
function aio.fs.mkdir(path, perm) end

--- `mkdir -p`: creates the missing parents too; an existing directory is not an error.
---@async
---@param path string
---@param perm? integer
function aio.fs.makedirs(path, perm) end

---@async
---@param path string
function aio.fs.rmdir(path) end

---@async
---@param path string
function aio.fs.unlink(path) end

---@async
---@param from string
---@param to string
function aio.fs.rename(from, to) end

---@async
---@param from string
---@param to string
function aio.fs.copyfile(from, to) end

---@async
---@param target string
---@param path string
function aio.fs.symlink(target, path) end

---@async
---@param path string
---@return string
function aio.fs.readlink(path) end

---@async
---@param path string
---@return string
function aio.fs.realpath(path) end

---@async
---@param path string
---@param perm integer
function aio.fs.chmod(path, perm) end

---@async
---@param path string
---@param atime number
---@param mtime number
function aio.fs.utime(path, atime, mtime) end

--- Creates a new directory named `prefix` followed by six random characters; returns its path.
---@async
---@param prefix string
---@return string
function aio.fs.mkdtemp(prefix) end

--- The whole file as one string.
---@async
---@param path string
---@return string
function aio.fs.read_file(path) end

--- Replaces the file with `data` atomically: a temporary file in the same directory,
--- synced, then renamed into place.
---@async
---@param path string
---@param data string
function aio.fs.write_file(path, data) end

--- Watches a file or directory: `for event, filename in aio.fs.watch(dir) do ... end`
--- (`event` is "change" or "rename"); leaving the loop or closing the watcher stops it.
---@param path string
---@param opts? luaio.WatchOpts
---@return FsWatcher iterator, nil, nil, FsWatcher closing
function aio.fs.watch(path, opts) end

--- An open file (`aio.open`); a to-be-closed value. Collected unclosed, it is closed
--- asynchronously.
---@class File
local File = {}

--- Reads by io's formats (default "l"); nil at end of file, as io.
---@async
---@param ... luaio.ReadFormat
---@return string|number|nil ...
function File:read(...) end

--- An iterator for a generic `for` reading with the formats (default "l") until nil.
---@param ... luaio.ReadFormat
---@return async fun(): string|number|nil, ...
function File:lines(...) end

--- Writes strings and numbers (as io writes them); returns the file.
---@async
---@param ... string|number
---@return File
function File:write(...) end

--- Returns the file (writes are not buffered in luaio).
---@async
---@return File
function File:flush() end

--- Flushes the file's data to the disk (fsync).
---@async
---@return File
function File:sync() end

--- Sets and returns the position, as io.
---@async
---@param whence? "set"|"cur"|"end"
---@param offset? integer
---@return integer
function File:seek(whence, offset) end

---@async
---@return luaio.Stat
function File:stat() end

--- Closes the file; again does nothing. Outside a task it starts the close without waiting.
---@async
---@return true
function File:close() end

--- The events of `aio.fs.watch`; it is its own iterator and closing value.
---@class FsWatcher
local FsWatcher = {}

--- The next event: `event, filename` ("change" or "rename"), or nil once closed.
---@async
---@return string? event
---@return string? filename
function FsWatcher:next() end

--- Stops watching; a task waiting in `next` gets nil. Idempotent.
function FsWatcher:close() end

-- ---------------------------------------------------------------------------------------
-- luaio.redis (require "luaio.redis")
-- ---------------------------------------------------------------------------------------

--- An error reply from Redis; `message` is the server's whole message.
---@class RedisError: Error
--- The message's first word: "ERR", "WRONGTYPE", "NOAUTH", "WRONGPASS", ...
---@field code string

--- The class `aio.RedisError` (also `redis.RedisError`).
---@type luaio.ErrorClass
aio.RedisError = {}

--- The module `require "luaio.redis"`.
---@class luaio.redis
local redis = {}

--- Connects to `redis://[[user]:password@]host[:port][/db]` or `unix://path[?db=N]`,
--- sending AUTH and SELECT from the URL. Raises OSError, RedisError.
---@async
---@param url string
---@return RedisClient
function redis.connect(url) end

--- Stands for a nil inside an array reply.
redis.null = {}

--- The class of error replies (`aio.RedisError`).
---@type luaio.ErrorClass
redis.RedisError = {}

--- The sorted names of the command methods.
---@type string[]
redis.commands = {}

--- A reply: string, integer, nil, `redis.null` inside arrays, a list with `n`, or a RedisError
--- inside arrays and pipeline lists.
---@alias luaio.RedisReply string|integer|nil|table

---@alias luaio.RedisArg string|number

--- A connection to Redis that many tasks may share (their commands are pipelined).
---@class RedisClient
local RedisClient = {}

--- The commands queued by `RedisClient:pipeline`; its methods return the pipeline.
---@class RedisPipeline: RedisClient

--- Sends any command; returns the reply. Raises RedisError for an error reply, OSError when the
--- connection is lost or closed, RuntimeError in subscribe mode.
---@async
---@param command string
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:call(command, ...) end

---@class luaio.RedisSetOpts
---@field ex? integer
---@field px? integer
---@field exat? integer
---@field pxat? integer
---@field nx? boolean
---@field xx? boolean
---@field keepttl? boolean
---@field get? boolean

--- SET key value with options; "OK", nil (nx/xx), or the old value (get).
---@async
---@param key luaio.RedisArg
---@param value luaio.RedisArg
---@param opts? luaio.RedisSetOpts
---@return string?
function RedisClient:set(key, value, opts) end

--- MSET from `k, v, ...` or a table `{k = v}`.
---@async
---@param ... luaio.RedisArg|table
---@return string
function RedisClient:mset(...) end

--- HSET key from `field, value, ...` or a table `{field = value}`; the number of new fields.
---@async
---@param key luaio.RedisArg
---@param ... luaio.RedisArg|table
---@return integer
function RedisClient:hset(key, ...) end

--- HGETALL as a table `{field = value}`.
---@async
---@param key luaio.RedisArg
---@return table<string, string>
function RedisClient:hgetall(key) end

--- Runs `fn(p)`, then sends the queued commands at once; returns the replies as a list with
--- `n` (an error reply stays in the list as a RedisError).
---@async
---@param fn fun(p: RedisPipeline)
---@return table
function RedisClient:pipeline(fn) end

---@class luaio.RedisMessage
---@field type "message"|"pmessage"
---@field channel string
---@field data string
---@field pattern? string

--- Subscribes; returns an iterator of messages (nil once unsubscribed or closed).
---@async
---@param channel string
---@param ... string
---@return fun(): luaio.RedisMessage?
function RedisClient:subscribe(channel, ...) end

--- Subscribes to patterns; returns the iterator of messages.
---@async
---@param pattern string
---@param ... string
---@return fun(): luaio.RedisMessage?
function RedisClient:psubscribe(pattern, ...) end

--- Unsubscribes (from all channels without arguments); does not suspend.
---@param ... string
function RedisClient:unsubscribe(...) end

--- Unsubscribes from patterns (all without arguments); does not suspend.
---@param ... string
function RedisClient:punsubscribe(...) end

--- Closes the connection; pending calls fail with OSError. Idempotent.
function RedisClient:close() end

--- True once closed or lost.
---@return boolean
function RedisClient:is_closed() end

--- APPEND (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:append(...) end

--- BLMOVE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:blmove(...) end

--- BLPOP (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:blpop(...) end

--- BRPOP (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:brpop(...) end

--- BRPOPLPUSH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:brpoplpush(...) end

--- DBSIZE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:dbsize(...) end

--- DECR (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:decr(...) end

--- DECRBY (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:decrby(...) end

--- DEL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:del(...) end

--- DISCARD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:discard(...) end

--- ECHO (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:echo(...) end

--- EVAL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:eval(...) end

--- EVALSHA (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:evalsha(...) end

--- EXEC (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:exec(...) end

--- EXISTS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:exists(...) end

--- EXPIRE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:expire(...) end

--- EXPIREAT (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:expireat(...) end

--- FLUSHALL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:flushall(...) end

--- FLUSHDB (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:flushdb(...) end

--- GET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:get(...) end

--- GETDEL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:getdel(...) end

--- GETSET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:getset(...) end

--- HDEL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hdel(...) end

--- HEXISTS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hexists(...) end

--- HGET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hget(...) end

--- HINCRBY (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hincrby(...) end

--- HKEYS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hkeys(...) end

--- HLEN (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hlen(...) end

--- HMGET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hmget(...) end

--- HSETNX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hsetnx(...) end

--- HVALS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:hvals(...) end

--- INCR (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:incr(...) end

--- INCRBY (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:incrby(...) end

--- INCRBYFLOAT (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:incrbyfloat(...) end

--- INFO (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:info(...) end

--- KEYS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:keys(...) end

--- LINDEX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lindex(...) end

--- LLEN (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:llen(...) end

--- LMOVE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lmove(...) end

--- LPOP (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lpop(...) end

--- LPOS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lpos(...) end

--- LPUSH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lpush(...) end

--- LRANGE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lrange(...) end

--- LREM (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lrem(...) end

--- LSET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:lset(...) end

--- LTRIM (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:ltrim(...) end

--- MGET (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:mget(...) end

--- MULTI (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:multi(...) end

--- PERSIST (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:persist(...) end

--- PEXPIRE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:pexpire(...) end

--- PING (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:ping(...) end

--- PSETEX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:psetex(...) end

--- PTTL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:pttl(...) end

--- PUBLISH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:publish(...) end

--- RENAME (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:rename(...) end

--- RPOP (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:rpop(...) end

--- RPOPLPUSH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:rpoplpush(...) end

--- RPUSH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:rpush(...) end

--- SADD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:sadd(...) end

--- SCAN (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:scan(...) end

--- SCARD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:scard(...) end

--- SCRIPT EXISTS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:script_exists(...) end

--- SCRIPT FLUSH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:script_flush(...) end

--- SCRIPT LOAD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:script_load(...) end

--- SETEX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:setex(...) end

--- SETNX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:setnx(...) end

--- SISMEMBER (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:sismember(...) end

--- SMEMBERS (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:smembers(...) end

--- SPOP (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:spop(...) end

--- SRANDMEMBER (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:srandmember(...) end

--- SREM (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:srem(...) end

--- STRLEN (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:strlen(...) end

--- TIME (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:time(...) end

--- TTL (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:ttl(...) end

--- TYPE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:type(...) end

--- UNLINK (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:unlink(...) end

--- UNWATCH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:unwatch(...) end

--- WATCH (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:watch(...) end

--- ZADD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zadd(...) end

--- ZCARD (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zcard(...) end

--- ZCOUNT (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zcount(...) end

--- ZINCRBY (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zincrby(...) end

--- ZPOPMAX (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zpopmax(...) end

--- ZPOPMIN (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zpopmin(...) end

--- ZRANGE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zrange(...) end

--- ZRANGEBYSCORE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zrangebyscore(...) end

--- ZRANK (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zrank(...) end

--- ZREM (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zrem(...) end

--- ZREMRANGEBYSCORE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zremrangebyscore(...) end

--- ZREVRANGE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zrevrange(...) end

--- ZSCORE (see docs/reference/redis.md).
---@async
---@param ... luaio.RedisArg
---@return luaio.RedisReply
function RedisClient:zscore(...) end


-- luaio.jobs (require "luaio.jobs")

--- The module `require "luaio.jobs"`: a job queue shared through Redis.
---@class luaio.jobs
local jobs = {}

---@class luaio.JobQueueOpts
---@field poll_interval? number
---@field timeout? number

--- A handle on the queue `name` (default "luaio:queue") at `url`; connects on first use.
---@param url string
---@param name? string
---@param opts? luaio.JobQueueOpts
---@return JobQueue
function jobs.Queue(url, name, opts) end

---@class luaio.JobWorkerOpts
---@field [1] string url
---@field [2]? string queue name
---@field url? string
---@field name? string
---@field functions table<string, function>
---@field limit? integer
---@field batch? integer
---@field heartbeat? number|false
---@field poll_interval? number
---@field keep_result? number
---@field retry_backoff? number|fun(failures: integer): number
---@field wait_timeout? number
---@field close_timeout? number
---@field handle_signals? boolean

--- A worker of a queue (not yet running).
---@param opts luaio.JobWorkerOpts
---@return JobWorker
function jobs.Worker(opts) end

--- The serialised form of a value (arguments and results are stored so).
---@param value any
---@return string
function jobs.encode(value) end

--- The value a serialised string stands for; ValueError for corrupt data.
---@param s string
---@return any
function jobs.decode(s) end

--- The default queue name, "luaio:queue".
jobs.DEFAULT_QUEUE = "luaio:queue"

---@class luaio.EnqueueOpts
---@field job_id? string|integer
---@field defer? number
---@field timeout? number
---@field retries? integer

--- A queue of jobs in Redis.
---@class JobQueue
--- The fields are read only.
---@field name string
---@field url string
local JobQueue = {}

--- Queues fn_name(table.unpack(args)); returns the job (the existing one for a known job_id).
---@async
---@param fn_name string
---@param args? table
---@param opts? luaio.EnqueueOpts
---@return JobRef
function JobQueue:enqueue(fn_name, args, opts) end

--- A JobRef for a job id.
---@param id string|integer
---@return JobRef
function JobQueue:job(id) end

--- Counts: queued, in_progress, complete, failed, retried, recovered.
---@async
---@return table<string, integer>
function JobQueue:info() end

--- Closes the queue's connection.
function JobQueue:close() end

--- A job in a queue.
---@class JobRef
--- The fields are read only.
---@field id string
---@field queue JobQueue
local JobRef = {}

--- "queued", "in_progress", "complete", "failed" or "not_found".
---@async
---@return string
function JobRef:status() end

--- Waits for the job's results (or raises its error); TimeoutError after `timeout`.
---@async
---@param timeout? number
---@return any ...
function JobRef:result(timeout) end

--- A worker process's side of a queue.
---@class JobWorker
--- The fields are read only; `id` is set when run() first connects.
---@field id string?
---@field name string
---@field url string
---@field limit integer
local JobWorker = {}

--- Takes and runs jobs until close(); raises OSError when the connection is lost.
---@async
function JobWorker:run() end

--- Stops taking jobs, waits for the running ones, records their outcomes.
---@async
function JobWorker:close() end

return aio
