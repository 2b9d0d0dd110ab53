#!/usr/bin/env bash
# compare.sh — two luaio binaries on the same workloads in the same run, interleaved so
# machine noise hits both alike: SWITCH, W1, W2, W5, W6, W4 (round trips, server CPU per
# round trip, bytes per idle connection). Prints each binary's median and new/old.
#   bash bench/compare.sh OLD_LUAIO NEW_LUAIO [REPS]   (default 5 repetitions)
# e.g. before/after a change: build the old commit with `make BUILD=build/old` from a
# worktree, then `bash bench/compare.sh build/old/luaio build/luaio`.
set -u
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 REPS=${3:-5}
B=bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null' EXIT
mkdir -p build/bench
CLIENT=build/bench/echo_client
cc -O2 -o "$CLIENT" $B/w4_echo/client.c $(pkg-config --cflags --libs libuv) 2>"$TMP/cc.err" ||
  { echo "compare: cannot build the W4 client: $(tail -1 "$TMP/cc.err")"; CLIENT=""; }
ulimit -n 65536 2>/dev/null || true

declare -A VALS
result() { awk -v k="${2:-RESULT}" '$1 == k { v = $2 } END { print v }' "$1"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

w4() { # w4 BIN TAG : round trips, CPU per round trip, bytes per idle connection
  local bin=$1 tag=$2 port=$((20000 + RANDOM % 20000)) mode
  for mode in pingpong idle; do
    PORT=$port "$bin" $B/w4_echo/luaio.lua "$port" >/dev/null 2>&1 </dev/null &
    SPID=$!
    for _ in $(seq 100); do port_in_use "$port" && break; sleep 0.1; done
    if [ "$mode" = pingpong ]; then
      timeout 120 "$CLIENT" "$port" pingpong 500000 50 "$SPID" >"$TMP/out" 2>/dev/null
      VALS[$tag,W4_rt]+=" $(result "$TMP/out")"
      VALS[$tag,W4_cpu]+=" $(result "$TMP/out" CPU)"
    else
      timeout 120 "$CLIENT" "$port" idle 10000 0 "$SPID" >"$TMP/out" 2>/dev/null
      VALS[$tag,W4_idle]+=" $(result "$TMP/out")"
    fi
    kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""
    port=$((port + 1))
  done
}

one() { # one BIN TAG : every workload once
  local bin=$1 tag=$2 wl
  for wl in switch w1_spawn w2_pingpong w5_idle w6_jobs; do
    timeout 300 "$bin" $B/$wl/luaio.lua >"$TMP/out" 2>/dev/null
    VALS[$tag,$wl]+=" $(result "$TMP/out")"
  done
  [ -n "$CLIENT" ] && w4 "$bin" "$tag"
}

for ((i = 1; i <= REPS; i++)); do
  if ((i % 2)); then one "$OLD" old; one "$NEW" new; else one "$NEW" new; one "$OLD" old; fi
  echo "repetition $i of $REPS done" >&2
done

median() { printf '%s\n' $1 | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "n/a"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-12s %14s %14s %10s  %s\n' workload old new new/old unit
for k in switch:ns w1_spawn:tasks/s w2_pingpong:msgs/s w5_idle:B/task w6_jobs:jobs/s \
         W4_rt:rt/s W4_cpu:us/rt W4_idle:B/conn; do
  wl=${k%%:*} unit=${k#*:}
  o=$(median "${VALS[old,$wl]:-}") n=$(median "${VALS[new,$wl]:-}")
  r=$(awk -v o="$o" -v n="$n" 'BEGIN { if (o + 0 > 0 && n + 0 > 0) printf "%.3f", n / o; else print "n/a" }')
  printf '%-12s %14s %14s %10s  %s\n' "$wl" "$o" "$n" "$r" "$unit"
done
