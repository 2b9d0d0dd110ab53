-- luaio-scm-1.rockspec — builds the luaio module (luaio.so) from this checkout:
--   luarocks --lua-version 5.4 make --tree DIR rockspecs/luaio-scm-1.rockspec
-- The build is the project's Makefile (target `rock`), fed the paths luarocks knows.
rockspec_format = "3.0"
package = "luaio"
version = "scm-1"
source = { url = "git+file://." }
description = {
  summary = "asyncio for Lua 5.4 on libuv: tasks, futures, streams, queues, locks, a job scheduler",
  detailed = [[
Lua coroutines driven as C-managed tasks on a libuv loop: sleep, gather, wait_for,
TaskGroup, TCP and Unix streams, queues, locks, events, semaphores and a job scheduler
with a concurrency limit, with Python asyncio's names and behaviour.]],
}
dependencies = { "lua >= 5.4, < 5.5" }
external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
}
build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LIBUV_INCDIR = "$(LIBUV_INCDIR)",
    LIBUV_LIBDIR = "$(LIBUV_LIBDIR)",
    BUILD = "build/rock",
  },
  install_target = "rock-install",
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    BUILD = "build/rock",
  },
}
