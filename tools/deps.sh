#!/usr/bin/env bash
# deps.sh — installs the Debian packages luaio needs when any is missing (make deps).
# `deps.sh bench` adds the peers the benchmarks compare against.
set -euo pipefail
need=(pkg-config make gcc liblua5.4-dev lua5.4 libuv1-dev libssl-dev lua-busted libedit-dev valgrind clang libclang-rt-14-dev tmux lua-check luarocks groff-base libhiredis-dev redis-server)
if [ "${1:-}" = bench ]; then
  need+=(python3 python3-uvloop nodejs lua-luv lua-cqueues wrk time python3-redis)
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  # sudo only when it needs no password: with no one to type it, stop with the command
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "deps: missing packages; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "deps: installing missing packages: ${missing[*]}"
${SUDO:-} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq "${missing[@]}" >/dev/null || {
  echo "deps: could not install: ${missing[*]}" >&2; exit 1; }
