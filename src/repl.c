/* repl.c — the interactive REPL: the terminal is read through the event loop (a libuv
 * poll on fd 0 feeding libedit's callback interface), so tasks keep running while the
 * prompt waits; each input runs as its own task. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <lauxlib.h>
#include <lualib.h>
#include "luaio.h"
#include "repl.h"
#include "host.h"
#ifdef LUAIO_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

const char *luaio_repl_editor(void) {
#ifdef LUAIO_HAVE_LIBEDIT
  return "libedit";
#else
  return "none (plain line input)";
#endif
}

/* The terminal side of the REPL. It lives in a userdata anchored for the rest of the
 * state's life: its libuv handles are closed when the REPL ends, and the memory must
 * outlive their close callbacks (the runtime runs them at the latest when it closes). */
typedef struct editor {
  lua_State *L;         /* the main state: it drives the loop while the REPL runs */
  luaio_runtime *rt;
  uv_poll_t poll;       /* fd 0 readable */
  uv_check_t check;     /* at the prompt: reports failed background tasks at once */
  uv_signal_t winch;    /* terminal resized: tell the line editor */
  int poll_ok;          /* fd 0 can be polled (a terminal or a pipe, not a file) */
  int tty;              /* stdin and stdout are terminals */
  int edit;             /* libedit edits the line */
  int installed;        /* libedit's line handler is installed (raw mode, prompt shown) */
  int active;           /* a prompt is on screen, waiting for a line */
  int closed;
  int fut;              /* ref of the future the pending line resolves, or LUA_NOREF */
  char prompt[128];
  char *buf;            /* plain input: bytes read but not yet returned as lines */
  size_t len, cap;
  int eof;
  char *history;        /* the history file, or NULL */
} editor;

#ifdef LUAIO_HAVE_LIBEDIT
/* libedit's readline-compatible interface is process-wide and its line callback takes
 * no context argument: this names the one editor that installed it (a process runs at
 * most one REPL at a time). */
static editor *rl_editor;
#endif

static lua_State *loop_state(editor *ed) { return luaio_callback_state(ed->rt); }

/* Resolves the pending line future with the value on top of L (popped). */
static void resolve(editor *ed, lua_State *L) {
  if (ed->fut == LUA_NOREF) { lua_pop(L, 1); return; }
  int ref = ed->fut;
  ed->fut = LUA_NOREF;
  luaio_future_resolve(L, ref, 1);
}

static void stop_reading(editor *ed) {
  ed->active = 0;
  if (ed->poll_ok) uv_poll_stop(&ed->poll);
  uv_check_stop(&ed->check);
}

static void remove_handler(editor *ed) {
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->installed) {
    ed->installed = 0;
    rl_callback_handler_remove(); /* back to cooked mode: Ctrl-C is SIGINT again */
  }
#else
  (void)ed;
#endif
}

/* ---- output above the prompt ---- */
#ifdef LUAIO_HAVE_LIBEDIT
static int term_cols(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}
#endif

/* Takes the prompt and the line being edited off the screen: the cursor goes to the
 * first column of the prompt's row and everything below is cleared. */
static void hide(editor *ed) {
  int row = 0;
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->installed) row = (int)(strlen(ed->prompt) + (size_t)(rl_point > 0 ? rl_point : 0)) / term_cols();
#else
  (void)ed;
#endif
  fputs("\r", stdout);
  if (row > 0) fprintf(stdout, "\x1b[%dA", row);
  fputs("\x1b[J", stdout);
  fflush(stdout);
}

/* Draws the prompt and the line being edited again, below what was printed. */
static void show(editor *ed) {
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->installed) { rl_forced_update_display(); fflush(stdout); return; }
#endif
  fputs(ed->prompt, stdout);
  fflush(stdout);
}

static void emit(editor *ed, FILE *f, const char *s, size_t len) {
  int above = ed->active && ed->tty;
  if (above) hide(ed);
  fflush(f == stdout ? stderr : stdout);
  fwrite(s, 1, len, f);
  if (above && len && s[len - 1] != '\n') fputc('\n', f);
  fflush(f);
  if (above) show(ed);
}

/* Failed tasks and callbacks (the runtime's default report) go above the prompt too. */
static void on_error(void *ud, const char *message, const char *traceback) {
  editor *ed = ud;
  lua_State *L = loop_state(ed);
  lua_pushfstring(L, "luaio: %s\n%s%s", message ? message : "error", traceback ? traceback : "",
                  traceback ? "\n" : "");
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  emit(ed, stderr, s, len);
  lua_pop(L, 1);
}

/* ---- reading lines ---- */
#ifdef LUAIO_HAVE_LIBEDIT
static void on_line(char *line) {
  editor *ed = rl_editor;
  if (!ed) { free(line); return; }
  lua_State *L = loop_state(ed);
  remove_handler(ed);
  stop_reading(ed);
  if (line && *line) {
    add_history(line);
    if (ed->history) write_history(ed->history);
  }
  if (line) lua_pushstring(L, line);
  else lua_pushnil(L);
  free(line);
  resolve(ed, L);
}
#endif

/* Plain input: returns a buffered line (or the end of input) if there is one. */
static int deliver_plain(editor *ed, lua_State *L) {
  char *nl = ed->len ? memchr(ed->buf, '\n', ed->len) : NULL;
  if (!nl && !ed->eof) return 0;
  size_t n = nl ? (size_t)(nl - ed->buf) : ed->len, used = nl ? n + 1 : n;
  if (!nl && n == 0) {
    lua_pushnil(L);
  } else {
    size_t m = n;
    if (m && ed->buf[m - 1] == '\r') m--;
    lua_pushlstring(L, ed->buf, m);
  }
  memmove(ed->buf, ed->buf + used, ed->len - used);
  ed->len -= used;
  stop_reading(ed);
  resolve(ed, L);
  return 1;
}

/* Reads what fd 0 has (blocking unless the poll said it is readable). */
static void read_plain(editor *ed) {
  if (ed->cap - ed->len < 4096) {
    size_t cap = ed->cap ? ed->cap * 2 : 8192;
    char *b = realloc(ed->buf, cap);
    if (!b) { ed->eof = 1; return; }
    ed->buf = b;
    ed->cap = cap;
  }
  ssize_t n;
  do n = read(STDIN_FILENO, ed->buf + ed->len, ed->cap - ed->len);
  while (n < 0 && errno == EINTR);
  if (n > 0) ed->len += (size_t)n;
  else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) ed->eof = 1;
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  (void)events;
  editor *ed = p->data;
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->edit && status == 0) {
    int avail = 0;
    if (ioctl(STDIN_FILENO, FIONREAD, &avail) == 0 && avail == 0) {
      on_line(NULL); /* readable with nothing to read: end of input (hangup, EOF) */
      return;
    }
    rl_callback_read_char();
    return;
  }
#endif
  if (status < 0) ed->eof = 1;
  else read_plain(ed);
  deliver_plain(ed, loop_state(ed));
}

/* At the prompt, every loop iteration: failed tasks nobody awaits are reported now. */
static void check_cb(uv_check_t *c) {
  editor *ed = c->data;
  luaio_report_errors(ed->rt);
}

#ifdef LUAIO_HAVE_LIBEDIT
static void winch_cb(uv_signal_t *s, int sig) {
  (void)sig;
  editor *ed = s->data;
  if (ed->installed) rl_resize_terminal();
}
#endif

static editor *toeditor(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

/* ed.read(prompt): shows the prompt and returns a Future of the next line (nil at the
 * end of input). */
static int ed_read(lua_State *L) {
  editor *ed = toeditor(L);
  const char *prompt = luaL_checkstring(L, 1);
  if (ed->closed) return luaL_error(L, "the REPL's terminal is closed");
  if (ed->fut != LUA_NOREF) luaio_future_release(L, ed->fut);
  ed->fut = luaio_future_new(L);
  snprintf(ed->prompt, sizeof ed->prompt, "%s", prompt);
  ed->active = 1;
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->edit) {
    rl_editor = ed;
    ed->installed = 1;
    /* libedit would enter raw mode only at its first read, after the prompt is shown:
     * keys typed in between would meet a canonical terminal (a Ctrl-D there reads as a
     * bare EOF that libedit drops). Raw mode first, then the prompt. */
    rl_prep_terminal(1);
    rl_callback_handler_install(ed->prompt, on_line);
  } else
#endif
  {
    fputs(ed->prompt, stdout);
    fflush(stdout);
    if (deliver_plain(ed, L)) return 1;
  }
  if (ed->poll_ok) {
    uv_poll_start(&ed->poll, UV_READABLE, poll_cb);
    uv_check_start(&ed->check, check_cb);
  } else { /* a regular file cannot be polled; it never blocks for long */
    while (!deliver_plain(ed, L)) read_plain(ed);
  }
  return 1;
}

/* ed.discard(): Ctrl-C at the prompt: drops the line being typed. */
static int ed_discard(lua_State *L) {
  editor *ed = toeditor(L);
  luaio_main_interrupted = 0;
  if (ed->fut != LUA_NOREF) {
    luaio_future_release(L, ed->fut);
    ed->fut = LUA_NOREF;
  }
  if (ed->active) {
    int edit = ed->installed;
    stop_reading(ed);
    remove_handler(ed);
    fputs(edit ? "^C\n" : ed->tty ? "\n" : "", stdout); /* a canonical terminal echoed ^C */
    fflush(stdout);
  }
  return 0;
}

static int ed_active(lua_State *L) {
  lua_pushboolean(L, toeditor(L)->active);
  return 1;
}

/* ed.emit(fd, s): writes s to stdout (1) or stderr (2), above the prompt if one is shown. */
static int ed_emit(lua_State *L) {
  editor *ed = toeditor(L);
  int fd = (int)luaL_checkinteger(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  emit(ed, fd == 2 ? stderr : stdout, s, len);
  return 0;
}

/* ed.set_target(task): the task Ctrl-C cancels. */
static int ed_set_target(lua_State *L) {
  lua_settop(L, 1);
  luaio_set_interrupt_target(L);
  return 0;
}

static int ed_reset_interrupt(lua_State *L) {
  (void)L;
  luaio_main_interrupted = 0;
  return 0;
}

/* Ends the REPL's use of the terminal: idempotent. */
static void editor_close(editor *ed, lua_State *L) {
  if (ed->closed) return;
  ed->closed = 1;
  if (ed->fut != LUA_NOREF) luaio_future_release(L, ed->fut);
  ed->fut = LUA_NOREF;
  stop_reading(ed);
  remove_handler(ed);
#ifdef LUAIO_HAVE_LIBEDIT
  if (ed->edit && ed->history) write_history(ed->history);
  if (rl_editor == ed) rl_editor = NULL;
#endif
  if (ed->poll_ok) uv_close((uv_handle_t *)&ed->poll, NULL);
  uv_close((uv_handle_t *)&ed->check, NULL);
  uv_close((uv_handle_t *)&ed->winch, NULL);
  luaio_set_error_handler(ed->rt, NULL, NULL);
  free(ed->buf);
  ed->buf = NULL;
  ed->len = ed->cap = 0;
  free(ed->history);
  ed->history = NULL;
}

static int ed_close(lua_State *L) {
  editor *ed = toeditor(L);
  if (!ed->closed && ed->tty) { fputc('\n', stdout); fflush(stdout); }
  editor_close(ed, L);
  return 0;
}

/* The REPL loop, run as the main task. Each input runs as a task of its own, which
 * is the interrupt target while it runs; at the prompt the REPL task is, so Ctrl-C
 * cancels its wait for the line and the line is discarded. */
static const char repl_lua[] =
  "local ed, aio = ...\n"
  "local load, pcall, select, tostring, type, getmetatable, rawget, io, string, math =\n"
  "  load, pcall, select, tostring, type, getmetatable, rawget, io, string, math\n"
  "local pack, unpack, concat = table.pack, table.unpack, table.concat\n"
  "local stdout, stderr = io.stdout, io.stderr\n"
  "local CancelledError = aio.CancelledError\n"
  "local function is_cancel(e) return getmetatable(e) == CancelledError end\n"
  "\n"
  "-- output while a prompt is on screen goes above it, and the prompt is drawn again\n"
  "local raw_print, raw_write = print, io.write\n"
  "local fmethods = getmetatable(stdout).__index\n"
  "local raw_fwrite = fmethods.write\n"
  "local function joined(...)\n"
  "  local t = {}\n"
  "  for i = 1, select('#', ...) do\n"
  "    local v = select(i, ...)\n"
  "    if math.type(v) == 'float' then v = string.format('%.14g', v)\n"
  "    elseif type(v) == 'number' then v = tostring(v)\n"
  "    elseif type(v) ~= 'string' then return nil end\n"
  "    t[i] = v\n"
  "  end\n"
  "  return concat(t)\n"
  "end\n"
  "local function rprint(...)\n"
  "  if not ed.active() then return raw_print(...) end\n"
  "  local t = {}\n"
  "  for i = 1, select('#', ...) do t[i] = tostring((select(i, ...))) end\n"
  "  ed.emit(1, concat(t, '\\t') .. '\\n')\n"
  "end\n"
  "local function rfwrite(f, ...)\n"
  "  if ed.active() and (f == stdout or f == stderr) then\n"
  "    local s = joined(...)\n"
  "    if s then ed.emit(f == stdout and 1 or 2, s) return f end\n"
  "  end\n"
  "  return raw_fwrite(f, ...)\n"
  "end\n"
  "local function rwrite(...)\n"
  "  if ed.active() and io.output() == stdout then\n"
  "    local s = joined(...)\n"
  "    if s then ed.emit(1, s) return stdout end\n"
  "  end\n"
  "  return raw_write(...)\n"
  "end\n"
  "print, io.write, fmethods.write = rprint, rwrite, rfwrite\n"
  "if rawget(_G, 'aio') == nil then _G.aio = aio end\n"
  "\n"
  "local me = aio.current_task()\n"
  "me:set_name('repl')\n"
  "\n"
  "-- the next line; false when Ctrl-C discarded it, nil at the end of input. As lua5.4,\n"
  "-- the globals _PROMPT / _PROMPT2 replace the default prompts.\n"
  "local function read(name, default)\n"
  "  local prompt = _G[name]\n"
  "  prompt = prompt == nil and default or tostring(prompt)\n"
  "  ed.set_target(me)\n"
  "  local ok, line = pcall(function() return ed.read(prompt):await() end)\n"
  "  if ok then return line end\n"
  "  if not is_cancel(line) then error(line, 0) end\n"
  "  me:uncancel()\n"
  "  ed.discard()\n"
  "  return false\n"
  "end\n"
  "\n"
  "-- the next input as a function (nil: end of input, false: nothing to run)\n"
  "local function get_input()\n"
  "  local line = read('_PROMPT', '> ')\n"
  "  if not line then return line end\n"
  "  if line:find('^%s*$') then return false end\n"
  "  if line:sub(1, 1) == '=' then line = 'return ' .. line:sub(2) end\n"
  "  local fn = load('return ' .. line, '=stdin')\n"
  "  if fn then return fn end\n"
  "  while true do\n"
  "    local err\n"
  "    fn, err = load(line, '=stdin')\n"
  "    if fn then return fn end\n"
  "    if err:sub(-5) ~= '<eof>' then stderr:write(err, '\\n') return false end\n"
  "    local more = read('_PROMPT2', '>> ')\n"
  "    if not more then return more end\n"
  "    line = line .. '\\n' .. more\n"
  "  end\n"
  "end\n"
  "\n"
  "local function message(e)\n"
  "  if type(e) == 'string' or type(e) == 'number' then return tostring(e) end\n"
  "  local mt = getmetatable(e)\n"
  "  if mt and mt.__tostring then return tostring(e) end\n"
  "  return '(error object is a ' .. type(e) .. ' value)'\n"
  "end\n"
  "\n"
  "local function run(fn)\n"
  "  local t = aio.spawn(fn)\n"
  "  t:set_name('stdin')\n"
  "  ed.set_target(t)\n"
  "  local r = pack(pcall(t.await, t))\n"
  "  if not r[1] and is_cancel(r[2]) and me:cancelling() > 0 then\n"
  "    -- Ctrl-C reached the REPL before the input became the target: pass it on\n"
  "    me:uncancel()\n"
  "    t:cancel('interrupted')\n"
  "    r = pack(pcall(t.await, t))\n"
  "  end\n"
  "  ed.set_target(me)\n"
  "  ed.reset_interrupt()\n"
  "  if r[1] then\n"
  "    if r.n > 1 then\n"
  "      local ok, e = pcall(print, unpack(r, 2, r.n))\n"
  "      if not ok then stderr:write(\"error calling 'print' (\", message(e), ')\\n') end\n"
  "    end\n"
  "  elseif is_cancel(r[2]) then\n"
  "    stdout:flush()\n"
  "    stderr:write('\\ninterrupted\\n')\n"
  "  else\n"
  "    local tb = t:traceback()\n"
  "    stdout:flush()\n"
  "    stderr:write(message(r[2]), '\\n', tb ~= '' and tb .. '\\n' or '')\n"
  "  end\n"
  "end\n"
  "\n"
  "local ok, err = pcall(function()\n"
  "  while true do\n"
  "    local fn = get_input()\n"
  "    if fn == nil then break end\n"
  "    if fn then run(fn) end\n"
  "  end\n"
  "end)\n"
  "ed.close()\n"
  "if print == rprint then print = raw_print end\n"
  "if io.write == rwrite then io.write = raw_write end\n"
  "if fmethods.write == rfwrite then fmethods.write = raw_fwrite end\n"
  "if not ok then error(err, 0) end\n";

int luaio_repl(lua_State *L) {
  luaio_runtime *rt = luaio_get(L);
  lua_settop(L, 0);
  editor *ed = lua_newuserdatauv(L, sizeof *ed, 0);
  memset(ed, 0, sizeof *ed);
  lua_pushvalue(L, -1);
  luaL_ref(L, LUA_REGISTRYINDEX); /* for good: see struct editor */
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ed->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  ed->rt = rt;
  ed->fut = LUA_NOREF;
  ed->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  uv_loop_t *loop = luaio_loop(rt);
  /* uv_poll_init makes fd 0 non-blocking, and a terminal's fd 0 usually shares its
   * file description with stdout: keep it as it was, so writes never get EAGAIN */
  int flags = fcntl(STDIN_FILENO, F_GETFL);
  ed->poll_ok = uv_poll_init(loop, &ed->poll, STDIN_FILENO) == 0;
  if (flags != -1) fcntl(STDIN_FILENO, F_SETFL, flags);
  ed->poll.data = ed;
  uv_check_init(loop, &ed->check);
  ed->check.data = ed;
  uv_unref((uv_handle_t *)&ed->check);
  uv_signal_init(loop, &ed->winch);
  ed->winch.data = ed;
#ifdef LUAIO_HAVE_LIBEDIT
  ed->edit = isatty(STDIN_FILENO) && ed->poll_ok;
  if (ed->edit) {
    /* Signals stay with the binary (SIGINT cancels, the loop sees it); libedit's own
     * handlers would re-raise them at the whole process group. */
    rl_catch_signals = 0;
    rl_initialize();
    using_history();
    stifle_history(1000);
    const char *home = getenv("HOME");
    if (home && *home) {
      size_t n = strlen(home) + sizeof "/.luaio_history";
      ed->history = malloc(n);
      if (ed->history) {
        snprintf(ed->history, n, "%s/.luaio_history", home);
        read_history(ed->history);
      }
    }
    uv_signal_start(&ed->winch, winch_cb, SIGWINCH);
    uv_unref((uv_handle_t *)&ed->winch);
  }
#endif
  luaio_set_error_handler(rt, on_error, ed);
  if (luaL_loadbuffer(L, repl_lua, sizeof repl_lua - 1, "=[luaio.repl]") != LUA_OK) {
    fprintf(stderr, "luaio: %s\n", lua_tostring(L, -1));
    editor_close(ed, L);
    return 1;
  }
  static const luaL_Reg funcs[] = {
    {"read", ed_read}, {"discard", ed_discard}, {"active", ed_active}, {"emit", ed_emit},
    {"set_target", ed_set_target}, {"reset_interrupt", ed_reset_interrupt},
    {"close", ed_close}, {NULL, NULL}
  };
  lua_newtable(L);
  lua_pushvalue(L, 1);
  luaL_setfuncs(L, funcs, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "luaio");
  lua_remove(L, -2);
  int status = luaio_main_run(L, 2, 0);
  editor_close(ed, L);
  lua_settop(L, 0);
  return status == 1 ? 1 : 0;
}

