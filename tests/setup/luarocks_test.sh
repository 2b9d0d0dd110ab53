#!/usr/bin/env bash
# luarocks_test.sh — `luarocks make` builds and installs the module from this checkout
# into a fresh tree, after which stock lua5.4 finds it through that tree's paths alone.
set -u
cd "$(dirname "$0")/../.."
. tests/setup/tap.sh
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

luarocks --lua-version 5.4 make --tree "$tree" rockspecs/luaio-scm-1.rockspec >"$tree.log" 2>&1
rc=$?
check "luarocks make builds and installs the rock into the tree" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$tree.log"
rm -f "$tree.log"
check "the tree holds luaio.so" test -f "$tree/lib/lua/5.4/luaio.so"
check "luarocks lists the rock in that tree" \
  bash -c "luarocks --lua-version 5.4 --tree '$tree' list --porcelain | grep -q '^luaio'"

out=$(cd / && eval "$(luarocks --lua-version 5.4 --tree "$tree" path)" && LUA_INIT= lua5.4 -e '
  local aio = require "luaio"
  io.write(package.searchpath("luaio", package.cpath), " ", aio.run(function()
    aio.sleep(0.001) return "ran"
  end))' 2>&1)
check "lua5.4 requires it with the tree's paths and runs a task" \
  bash -c "[[ '$out' == '$tree/lib/lua/5.4/luaio.so ran' ]]"
finish
