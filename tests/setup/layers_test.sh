#!/usr/bin/env bash
# layers_test.sh — tools/check_layers.lua passes on src/ and fails on a tree whose includes
# form a cycle or whose core includes a part.
set -u
cd "$(dirname "$0")/../.."
. tests/setup/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "src/ has no include cycle and keeps the layering" bash -c "lua5.4 tools/check_layers.lua src >/dev/null"

mkdir "$tmp/cycle"
printf '#include "future.h"\n' >"$tmp/cycle/task.h"
printf '#include "task.h"\n' >"$tmp/cycle/future.h"
lua5.4 tools/check_layers.lua "$tmp/cycle" 2>"$tmp/err" >/dev/null
rc=$?
check "a cycle of headers fails the check" [ "$rc" -ne 0 ]
check "... naming the cycle" grep -q 'include cycle: future.h -> task.h -> future.h' "$tmp/err"

mkdir "$tmp/up"
printf '#include "queue.h"\n' >"$tmp/up/task.c"
printf '\n' >"$tmp/up/queue.h"
lua5.4 tools/check_layers.lua "$tmp/up" 2>"$tmp/err" >/dev/null
rc=$?
check "the core including a part fails the check" [ "$rc" -ne 0 ]
check "... saying which layer may not build on which" grep -q 'task.c includes queue.h: Core may not build on parts' "$tmp/err"

mkdir "$tmp/new"
printf '\n' >"$tmp/new/mystery.c"
lua5.4 tools/check_layers.lua "$tmp/new" 2>"$tmp/err" >/dev/null
check "a file in no layer fails the check" [ $? -ne 0 ]
finish
