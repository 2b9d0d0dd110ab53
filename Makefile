# Makefile — build/luaio (host binary), build/luaio.so (module for stock lua5.4),
# build/libluaio.a (for embedders); run, test, check (sanitizers + valgrind), bench.
BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
SAN      ?=
PREFIX   ?= /usr/local
PKGS     := lua5.4 libuv openssl hiredis
LUA      ?= lua5.4

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null)
SSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null)
# hiredis's RESP reader under luaio.redis (src/redis.c)
HIREDIS_LIBS := $(shell pkg-config --libs hiredis 2>/dev/null)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null)
# optional line editing for the REPL (libedit); plain input without it
EDIT_CFLAGS := $(shell pkg-config --exists libedit 2>/dev/null && echo "-DLUAIO_HAVE_LIBEDIT $$(pkg-config --cflags libedit)")
EDIT_LIBS   := $(shell pkg-config --libs libedit 2>/dev/null)

# a build goal without the headers stops at once with the command that installs them
# (run, test, check and bench install them first: see below)
BUILD_GOALS := $(filter-out deps clean run test check bench fuzz rock rock-install lint layers,$(or $(MAKECMDGOALS),all))
ifneq ($(BUILD_GOALS),)
ifeq ($(PKG_CFLAGS),)
$(error Lua 5.4, libuv, OpenSSL and hiredis headers not found: run `make deps`, or as root `apt-get install -y pkg-config liblua5.4-dev libuv1-dev libssl-dev libhiredis-dev`)
endif
ifeq ($(SSL_LIBS),)
$(error OpenSSL 3 headers not found: run `make deps`, or as root `apt-get install -y libssl-dev`)
endif
ifeq ($(HIREDIS_LIBS),)
$(error hiredis headers not found: run `make deps`, or as root `apt-get install -y libhiredis-dev`)
endif
endif

CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC $(OPT) $(SAN) $(PKG_CFLAGS)
LDFLAGS += $(SAN)

LIB_SRC := $(filter-out src/main.c src/repl.c src/pool.c src/host.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/lua_modules.o
BIN_OBJ := $(BUILD)/obj/main.o $(BUILD)/obj/repl.o $(BUILD)/obj/pool.o $(BUILD)/obj/host.o
# the Lua layer, in load order: each file builds on the ones before it
LUA_SRC := $(addprefix lua/luaio/,core.lua compose.lua runner.lua scheduler.lua streams.lua sync.lua process.lua fs.lua tls.lua udp.lua redis.lua jobs.lua workers.lua)
ifneq ($(sort $(LUA_SRC)),$(sort $(wildcard lua/luaio/*.lua)))
$(error LUA_SRC must list every file of lua/luaio/ in load order)
endif
CTEST_SRC := $(wildcard tests/c/*.c)
CTEST_BIN := $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
EMBED_BIN := $(patsubst examples/embed/%.c,$(BUILD)/examples/%,$(wildcard examples/embed/*.c))
HEADERS := $(wildcard src/*.h)

.PHONY: all run test check bench deps clean install fuzz examples rock rock-install lint layers
all: $(BUILD)/luaio $(BUILD)/luaio.so $(BUILD)/libluaio.a $(CTEST_BIN) $(EMBED_BIN)

$(BUILD)/obj/%.o: src/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/repl.o: src/repl.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(EDIT_CFLAGS) -c $< -o $@

$(BUILD)/obj/lua_modules.c: tools/embed.lua $(LUA_SRC) | $(BUILD)/obj
	$(LUA) tools/embed.lua $@ $(LUA_SRC)

$(BUILD)/obj/lua_modules.o: $(BUILD)/obj/lua_modules.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c $< -o $@

$(BUILD)/libluaio.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# the module leaves Lua's symbols to the interpreter that loads it
$(BUILD)/luaio.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(UV_LIBS) $(SSL_LIBS) $(HIREDIS_LIBS)

$(BUILD)/luaio: $(BIN_OBJ) $(BUILD)/libluaio.a
	$(CC) $(LDFLAGS) -Wl,-E -o $@ $(BIN_OBJ) $(BUILD)/libluaio.a $(LUA_LIBS) $(UV_LIBS) $(SSL_LIBS) $(HIREDIS_LIBS) $(EDIT_LIBS) -lm

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libluaio.a src/luaio.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc $< -o $@ $(BUILD)/libluaio.a $(LDFLAGS) $(LUA_LIBS) $(UV_LIBS) $(SSL_LIBS) $(HIREDIS_LIBS) -lm

# C hosts embedding luaio (examples/embed/*.c), built like an outside host would
examples: $(EMBED_BIN)
$(BUILD)/examples/%: examples/embed/%.c $(BUILD)/libluaio.a src/luaio.h | $(BUILD)/examples
	$(CC) $(CFLAGS) -Isrc $< -o $@ $(BUILD)/libluaio.a $(LDFLAGS) $(LUA_LIBS) $(UV_LIBS) $(SSL_LIBS) $(HIREDIS_LIBS) -lm

$(BUILD)/obj $(BUILD)/tests $(BUILD)/examples:
	mkdir -p $@

# run, test, check and bench install what is missing first, then build in a sub-make:
# the pkg-config flags above are computed when a make starts, so the build must be a
# make that starts after `deps` has installed the headers.
run: deps
	$(MAKE) all
	$(BUILD)/luaio examples/two_tasks.lua

test: deps
	$(MAKE) all
	bash tools/test.sh $(BUILD)

# everything again under AddressSanitizer + UBSan, then the suite under valgrind
check: deps lint layers
	$(MAKE) all BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -DLUAIO_SYSTEM_ALLOC"
	$(MAKE) all
	LUAIO_SANITIZED=1 bash tools/test.sh build/asan
	LUAIO_VALGRIND=1 bash tools/test.sh $(BUILD)
	$(MAKE) fuzz FUZZ_TIME=10

# libFuzzer (clang) over the stream reader's buffer/separator logic, for FUZZ_TIME seconds
FUZZ_TIME ?= 60
fuzz: $(BUILD)/fuzz/fuzz_streambuf
	mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_streambuf -max_total_time=$(FUZZ_TIME) -print_final_stats=1 $(BUILD)/fuzz/corpus

$(BUILD)/fuzz/fuzz_streambuf: tests/fuzz/fuzz_streambuf.c src/streambuf.c src/streambuf.h
	mkdir -p $(BUILD)/fuzz
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_streambuf.c src/streambuf.c -o $@

bench: deps
	@bash tools/deps.sh bench
	$(MAKE) all
	bash bench/run.sh

deps:
	@bash tools/deps.sh

# the include graph of src/: no cycle, Host -> Module -> parts -> Core -> Errors
layers:
	lua5.4 tools/check_layers.lua src

# luacheck (Debian lua-check) over the Lua sources, examples and specs (.luacheckrc)
lint: deps
	luacheck -q lua examples tests types

install: all
	install -d $(PREFIX)/include $(PREFIX)/lib/pkgconfig $(PREFIX)/lib/lua/5.4 $(PREFIX)/bin \
	  $(PREFIX)/share/man/man1
	install -m 644 src/luaio.h $(PREFIX)/include/luaio.h
	install -m 644 $(BUILD)/libluaio.a $(PREFIX)/lib/libluaio.a
	install -m 755 $(BUILD)/luaio.so $(PREFIX)/lib/lua/5.4/luaio.so
	install -m 755 $(BUILD)/luaio $(PREFIX)/bin/luaio
	install -m 644 docs/luaio.1 $(PREFIX)/share/man/man1/luaio.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' tools/luaio.pc.in > $(PREFIX)/lib/pkgconfig/luaio.pc

# luarocks (rockspecs/luaio-scm-1.rockspec) builds the module with the paths it found
rock:
	$(MAKE) $(BUILD)/luaio.so PKG_CFLAGS="-I$(LUA_INCDIR) -I$(LIBUV_INCDIR)" UV_LIBS="-L$(LIBUV_LIBDIR) -luv"

rock-install:
	install -d $(INST_LIBDIR)
	install -m 755 $(BUILD)/luaio.so $(INST_LIBDIR)/luaio.so

clean:
	rm -rf $(BUILD)
