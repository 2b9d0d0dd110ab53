#!/usr/bin/env bash
# fresh_machine_test.sh — the README's first commands on a machine without the packages:
# `make run` and `make test` install them and then build in the same call, and without
# root they stop at once with one line naming the apt-get command. The machine's packages
# stay: fake dpkg-query / apt-get / pkg-config / id on PATH play the missing packages, and
# pkg-config answers only after the fake apt-get "installed" them.
set -u
cd "$(dirname "$0")/../.."
. tests/setup/tap.sh
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fake=$tmp/bin
mkdir -p "$fake"
real_pkgconfig=$(command -v pkg-config)

cat >"$fake/dpkg-query" <<FAKE
#!/bin/sh
[ -f "$tmp/installed" ] && { echo "install ok installed"; exit 0; }
exit 1
FAKE
cat >"$fake/apt-get" <<FAKE
#!/bin/sh
echo "apt-get \$*" >>"$tmp/log"
case "\$1" in install) touch "$tmp/installed" ;; esac
exit 0
FAKE
cat >"$fake/pkg-config" <<FAKE
#!/bin/sh
[ -f "$tmp/installed" ] || exit 1
exec $real_pkgconfig "\$@"
FAKE
cat >"$fake/id" <<FAKE
#!/bin/sh
echo "\${FAKE_UID:-0}"
FAKE
printf '#!/bin/sh\nexit 1\n' >"$fake/sudo" # a sudo that would ask for a password
chmod +x "$fake"/*

# make GOAL with the fake tools first on PATH, from a state without the packages
fresh_make() { # uid goal [vars...]
  rm -rf "$tmp/installed" "$tmp/log" "$tmp/build"
  FAKE_UID=$1 PATH="$fake:$PATH" make -j2 --no-print-directory "${@:2}" BUILD="$tmp/build" OPT=-O0 \
    >"$tmp/out" 2>"$tmp/err" </dev/null
}

fresh_make 0 run
rc=$?
check "make run as root exits 0 on a machine without the packages" [ "$rc" -eq 0 ]
check "make run installed the missing packages with apt-get" grep -q '^apt-get install -y' "$tmp/log"
check "make run then built and ran the example" grep -q 'both done' "$tmp/out"

fresh_make 0 test SPECS=tests/errors_spec.lua
rc=$?
check "make test as the first command exits 0" [ "$rc" -eq 0 ]
check "make test installed, built and ran the tests" grep -qE '^[1-9][0-9]* passed, 0 failed$' "$tmp/out"

fresh_make 1000 run
rc=$?
check "make run without root stops with an error" [ "$rc" -ne 0 ]
check "... naming the apt-get install command in one line" \
  grep -qE '^deps: .*apt-get install -y .*liblua5\.4-dev' "$tmp/err"
check "... before building anything or calling apt-get" \
  bash -c "[ ! -e '$tmp/build' ] && [ ! -e '$tmp/log' ] && [ \$(wc -l <'$tmp/err') -le 2 ]"

rm -rf "$tmp/installed"
PATH="$fake:$PATH" make --no-print-directory all BUILD="$tmp/build" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "make all without the headers stops at once" [ "$rc" -ne 0 ]
check "... saying which command installs them" grep -q 'apt-get install -y pkg-config liblua5.4-dev libuv1-dev' "$tmp/err"
finish
