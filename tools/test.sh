#!/usr/bin/env bash
# test.sh BUILD — runs every busted spec under stock lua5.4 + BUILD/luaio.so and under
# BUILD/luaio, then the C tests and the set-up tests (tests/setup/), and ends with one
# line "N passed, N failed".
# LUAIO_VALGRIND=1 runs the binary suite and the C tests under valgrind instead;
# LUAIO_SANITIZED=1 says BUILD was built with ASan/UBSan (the .so then needs libasan preloaded).
set -u
B=${1:-build}
pass=0
fail=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
VG=()
if [ "${LUAIO_VALGRIND:-}" = 1 ]; then
  export LUAIO_ALLOC=system   # the binary's pool would hide Lua's blocks from valgrind
  VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
      --suppressions=tools/valgrind.supp)
fi
export LUAIO_BIN="$B/luaio"   # specs that run scripts in a fresh process use it
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# count TAP lines of one run; a run that dies without reporting counts as one failure
tally() { # label file rc
  local p f
  p=$(grep -c '^ok ' "$2")
  f=$(grep -c '^not ok ' "$2")
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAILED: $1 exited with status $3"; tail -30 "$2"; fi
  if [ "$f" -ne 0 ]; then grep -A12 '^not ok ' "$2" | head -150; fi
  echo "$1: $p passed, $f failed"
  pass=$((pass + p))
  fail=$((fail + f))
}

specs=(tests)
[ -n "${SPECS:-}" ] && specs=($SPECS)

if [ "${LUAIO_VALGRIND:-}" != 1 ]; then
  pre=()
  if [ "${LUAIO_SANITIZED:-}" = 1 ]; then
    export LUAIO_PRELOAD="$(cc -print-file-name=libasan.so)"
    pre=(env LD_PRELOAD="$LUAIO_PRELOAD" ASAN_OPTIONS=detect_leaks=0)
  fi
  LUA_CPATH="$B/?.so;;" "${pre[@]}" lua5.4 /usr/bin/busted -o TAP "${specs[@]}" >"$log/lua" 2>&1
  tally "specs under lua5.4 + $B/luaio.so" "$log/lua" $?
fi

"${VG[@]}" "$B/luaio" /usr/bin/busted --ignore-lua -o TAP "${specs[@]}" >"$log/bin" 2>&1
tally "specs under $B/luaio" "$log/bin" $?

for t in "$B"/tests/*; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  "${VG[@]}" "$t" >"$log/c" 2>&1
  tally "C test $(basename "$t")" "$log/c" $?
done

# the set-up tests (fresh machine, luarocks) build on their own: once, in the plain run
if [ "${LUAIO_VALGRIND:-}" != 1 ] && [ "${LUAIO_SANITIZED:-}" != 1 ] && [ -z "${SPECS:-}" ]; then
  for t in tests/setup/*_test.sh; do
    bash "$t" >"$log/setup" 2>&1
    tally "set-up test $(basename "$t" .sh)" "$log/setup" $?
  done
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
