#!/usr/bin/env bash
# bench/run.sh — luaio benchmark runner (called by `make bench` from the repo
# root after `make` has built build/luaio).
#
# For each workload it runs the luaio version first, then every installed
# peer (missing ones are skipped with a note), REPS times each, and prints one
# line per implementation: workload, implementation, median figure with unit,
# how luaio compares ("luaio is 2.10x asyncio": >1 means luaio is better, for
# both higher-is-better and lower-is-better figures) and peak RSS.
#
# Environment:
#   BENCH_QUICK=1     workloads scaled down ~10x (smoke run)
#   BENCH_REPS=N      repetitions per implementation (default 3; median kept)
#   BENCH_ONLY="w1 switch ..."  run only these workloads
#                     (w1 switch w3 v1 w5 w2 w6 w4 w7 w7w t1 t2 p1 p2 p3 f1 f2 u1 s1 s2 s3 r1 j1)
#   LUAIO=path        the luaio binary (default build/luaio)
#   BENCH_BUDGET=S    soft time budget in seconds (default 300; 0 = none): once
#                     80% of it is used, remaining workloads run 1 repetition
#
# Only loopback (127.0.0.1) is ever used. Every run is bounded by `timeout`.
# The script always exits 0: a failing implementation prints "n/a (reason)".

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 0
ROOT=$PWD

QUICK=${BENCH_QUICK:-0}
case $QUICK in ""|0) QUICK=0 ;; *) QUICK=1 ;; esac
REPS=${BENCH_REPS:-3}
BUDGET=${BENCH_BUDGET:-300}
ONLY=${BENCH_ONLY:-}
LUAIO=${LUAIO:-$ROOT/build/luaio}
PY=/usr/bin/python3
NODE=/usr/bin/node
[ -x "$NODE" ] || NODE=$(command -v node 2>/dev/null || echo /usr/bin/node)
LUA=$(command -v lua5.4 2>/dev/null || echo lua5.4)
TIMEBIN=/usr/bin/time
BUILD=$ROOT/build/bench
RUN_TIMEOUT=150          # seconds, per single run

TMP=$(mktemp -d "${TMPDIR:-/tmp}/luaio-bench.XXXXXX")
SERVER_PIDS=()

cleanup() {
  local p
  for p in "${SERVER_PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 0' INT TERM

scale() {   # scale N for quick mode
  if [ "$QUICK" = 1 ]; then echo $(( $1 / 10 )); else echo "$1"; fi
}

want() {    # want WORKLOAD-KEY -> true if selected by BENCH_ONLY
  [ -z "$ONLY" ] && return 0
  local w
  for w in $ONLY; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# ---------------------------------------------------------------- availability
declare -A HAVE WHY
check() {   # check NAME REASON-IF-MISSING CMD...
  local name=$1 why=$2; shift 2
  if "$@" >/dev/null 2>&1; then HAVE[$name]=1; else HAVE[$name]=0; WHY[$name]=$why; fi
}
check luaio   "build/luaio not built (run make)" test -x "$LUAIO"
check lua     "lua5.4 not installed"              "$LUA" -e 'assert(coroutine)'
check asyncio "/usr/bin/python3 not installed"    "$PY" -c 'import asyncio'
check uvloop  "uvloop not importable by /usr/bin/python3 (apt: python3-uvloop)" "$PY" -c 'import uvloop'
check node    "node not installed"                "$NODE" -e '0'
check luv     "lua-luv not installed"             "$LUA" -e 'require "luv"'
check cqueues "lua-cqueues not installed"         "$LUA" -e 'require "cqueues"'
check wrk     "wrk not installed"                 command -v wrk
check cc      "gcc or libuv1-dev (pkg-config libuv) missing" sh -c 'command -v gcc && pkg-config --exists libuv'
check ssl     "gcc, libssl-dev or the openssl command missing" sh -c 'command -v gcc && pkg-config --exists openssl && command -v openssl'
check pyredis "redis.asyncio not importable by /usr/bin/python3 (apt: python3-redis)" "$PY" -c 'import redis.asyncio'
check redis   "redis-server not installed (apt: redis-server)" command -v redis-server
[ -x "$TIMEBIN" ] && HAVE_TIME=1 || HAVE_TIME=0

# which availability key each implementation needs
need_of() {
  case $1 in
    luaio*) echo luaio ;;
    floor) echo lua ;;
    asyncio) echo asyncio ;;
    redis.asyncio) echo pyredis ;;
    uvloop*|asyncio-uvloop) echo uvloop ;;
    node*|ioredis) echo node ;;
    luv) echo luv ;;
    cqueues) echo cqueues ;;
    libuv-c) echo cc ;;
    *) echo lua ;;
  esac
}

# ---------------------------------------------------------------- results
declare -A RES UNIT RSS FAIL EXTRA
CUR_WL=""
CUR_DIR=""   # "higher" or "lower" is better
REF=""       # reference implementation key of the current workload (luaio)

fmt() {      # fmt NUMBER -> human figure
  awk -v v="$1" 'BEGIN {
    a = v < 0 ? -v : v
    if (a >= 1000) printf "%.0f", v; else if (a >= 10) printf "%.1f", v; else printf "%.3g", v }'
}

median() {   # median of the arguments
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio_text() {  # ratio_text IMPL VALUE -> comparison column
  local impl=$1 v=$2 ref=${RES[$CUR_WL,$REF]:-}
  if [ "$impl" = "$REF" ]; then echo "(reference)"; return; fi
  if [ -z "$ref" ]; then echo "luaio: n/a"; return; fi
  awk -v r="$ref" -v v="$v" -v d="$CUR_DIR" -v i="$impl" 'BEGIN {
    if (r <= 0 || v <= 0) { print "ratio n/a"; exit }
    x = (d == "higher") ? r / v : v / r
    printf "luaio is %.2fx %s\n", x, i }'
}

rss_text() {   # rss_text KB
  if [ -z "${1:-}" ]; then echo "peak RSS n/a"; return; fi
  awk -v k="$1" 'BEGIN { printf "peak RSS %.1f MB\n", k / 1024 }'
}

print_line() {  # print_line WL IMPL FIGURE UNIT RATIO RSS
  printf '%-10s %-15s %12s %-10s %-30s %s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

print_na() {    # print_na IMPL REASON
  print_line "$CUR_WL" "$1" "n/a" "" "($2)" ""
}

SECTION_T=""
section_start() {  # prints how long the previous section took; applies the budget
  local now; now=$(date +%s)
  [ -n "$SECTION_T" ] && echo "   ($((now - SECTION_T)) s)"
  SECTION_T=$now
  budget_check
}

budget_check() {
  local now; now=$(date +%s)
  if [ "$BUDGET" -gt 0 ] 2>/dev/null && [ "$REPS" -gt 1 ] && [ $((now - T_START)) -gt $((BUDGET * 8 / 10)) ]; then
    REPS=1
    echo "   note: $((now - T_START)) s used of the ${BUDGET} s budget -> 1 repetition from here on (BENCH_BUDGET=0 disables this)"
  fi
}

header() {      # header WL DIR TEXT
  section_start
  CUR_WL=$1; CUR_DIR=$2; REF=luaio
  echo
  echo "== $1: $3 ($([ "$2" = higher ] && echo "higher" || echo "lower") is better)"
}

last_err() {    # a short reason from a stderr file
  local r
  r=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | grep -v '^stack traceback' | grep -v '^[[:space:]]' | tail -n 1 | cut -c1-90)
  echo "${r:-no RESULT line}"
}

# measure IMPL CMD... : run REPS times, record the median RESULT and the max peak RSS
measure() {
  local impl=$1; shift
  local need; need=$(need_of "$impl")
  if [ "${HAVE[$need]:-0}" != 1 ]; then
    FAIL[$CUR_WL,$impl]="skipped: ${WHY[$need]}"
    print_na "$impl" "skipped: ${WHY[$need]}"
    return
  fi
  local vals=() unit="" rss_max="" i rc v u k reason=""
  for ((i = 1; i <= REPS; i++)); do
    : >"$TMP/out"; : >"$TMP/err"; : >"$TMP/rss"
    if [ "$HAVE_TIME" = 1 ]; then
      timeout -k 5 "$RUN_TIMEOUT" "$TIMEBIN" -f %M -o "$TMP/rss" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    else
      timeout -k 5 "$RUN_TIMEOUT" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    fi
    rc=$?
    read -r v u < <(awk '$1 == "RESULT" { v = $2; u = $3 } END { if (v != "") print v, u }' "$TMP/out")
    if [ "$rc" != 0 ] || [ -z "${v:-}" ]; then
      if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then reason="timed out after ${RUN_TIMEOUT}s"
      else reason="exit $rc: $(last_err "$TMP/err")"; fi
      break
    fi
    vals+=("$v"); unit=$u
    k=$(grep -Eo '^[0-9]+$' "$TMP/rss" 2>/dev/null | tail -n 1)
    if [ -n "$k" ] && { [ -z "$rss_max" ] || [ "$k" -gt "$rss_max" ]; }; then rss_max=$k; fi
    v=""
  done
  if [ -n "$reason" ]; then
    FAIL[$CUR_WL,$impl]=$reason
    print_na "$impl" "$reason"
    return
  fi
  local med; med=$(median "${vals[@]}")
  RES[$CUR_WL,$impl]=$med; UNIT[$CUR_WL,$impl]=$unit; RSS[$CUR_WL,$impl]=$rss_max
  print_line "$CUR_WL" "$impl" "$(fmt "$med")" "$unit" "$(ratio_text "$impl" "$med")" "$(rss_text "$rss_max")"
}

# target DESC AWK-CONDITION NAME=VALUE... : prints whether luaio meets a target
target() {
  local desc=$1 cond=$2; shift 2
  local a args=()
  for a in "$@"; do
    if [ -z "${a#*=}" ]; then echo "   target: $desc -> n/a (missing figure)"; return; fi
    args+=(-v "$a")
  done
  if awk "${args[@]}" "BEGIN { exit !($cond) }"; then
    echo "   target: $desc -> met"
  else
    echo "   target: $desc -> MISSED"
  fi
}

# ---------------------------------------------------------------- ports / servers
PORT_NEXT=$(( 20000 + (RANDOM % 20000) ))
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port() {
  local n=0
  while port_in_use "$PORT_NEXT" && [ $n -lt 50 ]; do PORT_NEXT=$((PORT_NEXT + 1)); n=$((n + 1)); done
  echo "$PORT_NEXT"
  PORT_NEXT=$((PORT_NEXT + 1))
}

SPID=""
start_server() {  # start_server PORT CMD... (the literal word @PORT@ is replaced)
  local port=$1; shift
  local args=() a
  for a in "$@"; do args+=("${a//@PORT@/$port}"); done
  PORT=$port "${args[@]}" >"$TMP/srv.out" 2>"$TMP/srv.err" </dev/null &
  SPID=$!
  SERVER_PIDS+=("$SPID")
}

wait_port() {     # wait_port PORT PID : until the port accepts (max ~15 s)
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    port_in_use "$1" && return 0
    sleep 0.1
  done
  return 1
}

server_hwm() {    # peak RSS (kB) of a live process
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

stop_server() {
  local pid=$1 i
  kill "$pid" 2>/dev/null
  for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# ---------------------------------------------------------------- banner
echo "luaio benchmarks  ($(date '+%Y-%m-%d %H:%M'), $(nproc) cores, reps=$REPS, quick=$QUICK)"
echo "figure = median of $REPS runs; 'luaio is Nx peer': N > 1 means luaio is better"
for k in luaio lua asyncio uvloop node luv cqueues wrk cc; do
  [ "${HAVE[$k]}" = 1 ] || echo "note: ${WHY[$k]} -> its implementations are skipped"
done
[ "$HAVE_TIME" = 1 ] || echo "note: /usr/bin/time missing (Debian package 'time') -> peak RSS n/a"
T_START=$(date +%s)

B=bench

# ---------------------------------------------------------------- W1 spawn
if want w1; then
  N=$(scale 200000)
  header W1_spawn higher "$N tasks, each sleep(0) once then returns i; gather; tasks/s"
  measure luaio   "$LUAIO" $B/w1_spawn/luaio.lua "$N"
  measure floor   "$LUA" $B/w1_spawn/floor.lua "$N"
  measure asyncio "$PY" $B/w1_spawn/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/w1_spawn/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/w1_spawn/node.js "$N"
  measure node-microtask "$NODE" $B/w1_spawn/node.js "$N" micro
  measure luv     "$LUA" $B/w1_spawn/luv_peer.lua "$N"
  measure cqueues "$LUA" $B/w1_spawn/cqueues_peer.lua "$N"
  target "luaio >= 0.8x floor" "L >= 0.8 * F" "L=${RES[W1_spawn,luaio]:-}" "F=${RES[W1_spawn,floor]:-}"
fi

# ---------------------------------------------------------------- SWITCH
if want switch; then
  N=$(scale 1000000)
  header SWITCH lower "one task doing $N sleep(0); ns per switch"
  measure luaio   "$LUAIO" $B/switch/luaio.lua "$N"
  measure floor   "$LUA" $B/switch/floor.lua "$N"
  measure asyncio "$PY" $B/switch/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/switch/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/switch/node.js "$N"
  measure luv     "$LUA" $B/switch/luv_peer.lua "$N"
  measure cqueues "$LUA" $B/switch/cqueues_peer.lua "$N"
  target "luaio within 2x bare resume/yield" "L <= 2 * F" "L=${RES[SWITCH,luaio]:-}" "F=${RES[SWITCH,floor]:-}"
fi

# ---------------------------------------------------------------- W3 timers
if want w3; then
  N=$(scale 100000)
  header W3_timers lower "$N tasks, task i sleeps (i % 100) ms; (elapsed - 0.099 s) / N"
  measure luaio   "$LUAIO" $B/w3_timers/luaio.lua "$N"
  measure asyncio "$PY" $B/w3_timers/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/w3_timers/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/w3_timers/node.js "$N"
  measure luv     "$LUA" $B/w3_timers/luv_peer.lua "$N"
  measure cqueues "$LUA" $B/w3_timers/cqueues_peer.lua "$N"
  target "luaio <= 6 us/timer" "L <= 6" "L=${RES[W3_timers,luaio]:-}"
fi

# ---------------------------------------------------------------- V1 virtual clock
if want v1; then
  N=$(scale 100000)
  header V1_virtual_clock lower "$N tasks sleeping pseudo-random times within one virtual hour; real seconds"
  measure luaio   "$LUAIO" $B/v1_virtual/luaio.lua "$N"
  measure asyncio "$PY" $B/v1_virtual/asyncio_peer.py "$N"
  target "luaio < 1 s" "L < 1" "L=${RES[V1_virtual_clock,luaio]:-}"
fi

# ---------------------------------------------------------------- W5 idle tasks
if want w5; then
  N=$(scale 100000)
  header W5_idle lower "$N tasks waiting on one shared future; RSS delta per task"
  measure luaio   "$LUAIO" $B/w5_idle/luaio.lua "$N"
  measure floor   "$LUA" $B/w5_idle/floor.lua "$N"
  measure asyncio "$PY" $B/w5_idle/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/w5_idle/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" --expose-gc $B/w5_idle/node.js "$N"
  measure luv     "$LUA" $B/w5_idle/luv_peer.lua "$N"
  measure cqueues "$LUA" $B/w5_idle/cqueues_peer.lua "$N"
  target "luaio <= 1.3 KB/task" "L <= 1300" "L=${RES[W5_idle,luaio]:-}"
fi

# ---------------------------------------------------------------- W2 ping-pong
if want w2; then
  N=$(scale 500000)
  header W2_pingpong higher "two tasks exchange $N messages each way through two Queue(1); one-way msgs/s"
  measure luaio   "$LUAIO" $B/w2_pingpong/luaio.lua "$N"
  measure floor   "$LUA" $B/w2_pingpong/floor.lua "$N"
  measure asyncio "$PY" $B/w2_pingpong/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/w2_pingpong/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/w2_pingpong/node.js "$N"
  measure luv     "$LUA" $B/w2_pingpong/luv_peer.lua "$N"
  measure cqueues "$LUA" $B/w2_pingpong/cqueues_peer.lua "$N"
  target "luaio ahead of Node" "L > J" "L=${RES[W2_pingpong,luaio]:-}" "J=${RES[W2_pingpong,node]:-}"
  target "luaio within 5x bare coroutines" "L * 5 >= F" "L=${RES[W2_pingpong,luaio]:-}" "F=${RES[W2_pingpong,floor]:-}"
fi

# ---------------------------------------------------------------- W6 jobs
if want w6; then
  N=$(scale 100000)
  header W6_jobs higher "$N jobs each sleep(0), at most 100 at a time, then wait_and_close; jobs/s"
  measure luaio   "$LUAIO" $B/w6_jobs/luaio.lua "$N"
  measure asyncio "$PY" $B/w6_jobs/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/w6_jobs/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/w6_jobs/node.js "$N"
  measure luv     "$LUA" $B/w6_jobs/luv_peer.lua "$N"
  target "luaio ahead of Node" "L > J" "L=${RES[W6_jobs,luaio]:-}" "J=${RES[W6_jobs,node]:-}"
fi
# ---------------------------------------------------------------- P1 spawn
if want p1; then
  N=$(scale 2000)
  header P1_spawn higher "$N runs of /bin/true, 16 at a time, each awaited; spawns/s"
  measure luaio   "$LUAIO" $B/p1_spawn/luaio.lua "$N"
  measure asyncio "$PY" $B/p1_spawn/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/p1_spawn/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/p1_spawn/node.js "$N"
  target "luaio ahead of Node" "L > J" "L=${RES[P1_spawn,luaio]:-}" "J=${RES[P1_spawn,node]:-}"
fi
# ---------------------------------------------------------------- P2 pipe throughput
if want p2; then
  N=$(scale 256)
  header P2_pipe higher "$N MiB through cat (stdin written, stdout read at the same time); MiB/s"
  measure luaio   "$LUAIO" $B/p2_pipe/luaio.lua "$N"
  measure floor   bash $B/p2_pipe/floor.sh "$N"
  measure asyncio "$PY" $B/p2_pipe/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/p2_pipe/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" $B/p2_pipe/node.js "$N"
  target "luaio ahead of Node" "L > J" "L=${RES[P2_pipe,luaio]:-}" "J=${RES[P2_pipe,node]:-}"
  target "luaio >= 0.8x the shell's pipe (head | cat)" "L >= 0.8 * F" "L=${RES[P2_pipe,luaio]:-}" "F=${RES[P2_pipe,floor]:-}"
fi
# ---------------------------------------------------------------- P3 process memory
if want p3; then
  N=$(scale 1000)
  header P3_procmem lower "$N live Process objects (a sleep child each); RSS bytes per object"
  measure luaio   "$LUAIO" $B/p3_procmem/luaio.lua "$N"
  measure asyncio "$PY" $B/p3_procmem/asyncio_peer.py "$N"
  measure uvloop  "$PY" $B/p3_procmem/asyncio_peer.py "$N" uvloop
  measure node    "$NODE" --expose-gc $B/p3_procmem/node.js "$N"
fi

# ---------------------------------------------------------------- F1 small files
if want f1; then
  N=$(scale 2000)
  F1_DIR=$TMP/f1
  mkdir -p "$F1_DIR"
  head -c $((N * 4096)) /dev/urandom | split -a 6 -b 4096 - "$F1_DIR/x"
  i=0; for f in "$F1_DIR"/x*; do mv "$f" "$F1_DIR/f$i"; i=$((i + 1)); done
  cat "$F1_DIR"/f* > /dev/null   # in the page cache for every implementation alike
  header F1_small higher "read $N files of 4 KiB, 64 at a time; files/s"
  measure luaio   "$LUAIO" $B/f1_small/luaio.lua "$F1_DIR" "$N"
  measure asyncio "$PY" $B/f1_small/asyncio_peer.py "$F1_DIR" "$N"
  measure uvloop  "$PY" $B/f1_small/asyncio_peer.py "$F1_DIR" "$N" uvloop
  measure node    "$NODE" $B/f1_small/node.js "$F1_DIR" "$N"
  target "luaio ahead of Node" "L > J" "L=${RES[F1_small,luaio]:-}" "J=${RES[F1_small,node]:-}"
  header F_mem lower "memory of 1,000 open Files (RSS growth per File)"
  measure luaio "$LUAIO" $B/f1_small/files_mem.lua "$F1_DIR/f0" 1000
  rm -rf "$F1_DIR"
fi

# ---------------------------------------------------------------- F2 big file
if want f2; then
  MB=$(scale 512)
  F2_FILE=$TMP/f2.bin
  head -c $((MB * 1048576)) /dev/zero > "$F2_FILE"   # written out (not sparse): page-cache reads
  cat "$F2_FILE" > /dev/null
  header F2_bigfile higher "read a $MB MiB file in 64 KiB chunks; MiB/s"
  measure luaio "$LUAIO" $B/f2_bigfile/luaio.lua "$F2_FILE"
  measure node  "$NODE" $B/f2_bigfile/node.js "$F2_FILE"
  measure cat   bash $B/f2_bigfile/cat.sh "$F2_FILE"
  target "luaio >= 0.8x cat" "L >= 0.8 * C" "L=${RES[F2_bigfile,luaio]:-}" "C=${RES[F2_bigfile,cat]:-}"
  rm -f "$F2_FILE"
fi

# ---------------------------------------------------------------- W4 echo
build_c() {   # build_c SRC OUT
  [ "${HAVE[cc]}" = 1 ] || return 1
  mkdir -p "$BUILD"
  if [ ! -x "$2" ] || [ "$1" -nt "$2" ]; then
    # shellcheck disable=SC2046
    gcc -O2 -Wall -o "$2" "$1" $(pkg-config --cflags --libs libuv) 2>"$TMP/cc.err" || return 1
  fi
}

# echo_server IMPL CMD... : REPS ping-pong runs + one idle-connection run
echo_server() {
  local impl=$1; shift
  budget_check
  local need; need=$(need_of "$impl")
  if [ "${HAVE[$need]:-0}" != 1 ]; then
    print_line W4_echo "$impl" "n/a" "" "(skipped: ${WHY[$need]})" ""
    return
  fi
  local i port rts=() cpus=() hwm="" h reason="" rt cpu
  for ((i = 1; i <= REPS; i++)); do
    port=$(next_port)
    start_server "$port" "$@"
    if ! wait_port "$port" "$SPID"; then
      reason="server did not start: $(last_err "$TMP/srv.err")"; stop_server "$SPID"; break
    fi
    timeout -k 5 "$RUN_TIMEOUT" "$CLIENT" "$port" pingpong "$RT" 50 "$SPID" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    h=$(server_hwm "$SPID")
    stop_server "$SPID"
    rt=$(awk '$1 == "RESULT" { v = $2 } END { print v }' "$TMP/out")
    cpu=$(awk '$1 == "CPU" { v = $2 } END { print v }' "$TMP/out")
    if [ "$rc" != 0 ] || [ -z "$rt" ]; then
      reason="client exit $rc: $(last_err "$TMP/err") / server: $(last_err "$TMP/srv.err")"; break
    fi
    rts+=("$rt"); [ -n "$cpu" ] && cpus+=("$cpu")
    if [ -n "$h" ] && { [ -z "$hwm" ] || [ "$h" -gt "$hwm" ]; }; then hwm=$h; fi
  done
  if [ -n "$reason" ]; then
    print_line W4_echo "$impl" "n/a" "" "(${reason:0:100})" ""
    return
  fi
  local m; m=$(median "${rts[@]}")
  CUR_WL=W4_echo; CUR_DIR=higher
  RES[W4_echo,$impl]=$m
  print_line W4_echo "$impl" "$(fmt "$m")" "rt/s" "$(ratio_text "$impl" "$m")" "$(rss_text "$hwm")"
  CUR_WL=W4_cpu; CUR_DIR=lower
  if [ ${#cpus[@]} -gt 0 ]; then
    m=$(median "${cpus[@]}")
    RES[W4_cpu,$impl]=$m
    print_line W4_cpu "$impl" "$(fmt "$m")" "us/rt" "$(ratio_text "$impl" "$m")" "(server utime+stime)"
  else
    print_line W4_cpu "$impl" "n/a" "" "(no /proc CPU figure)" ""
  fi
  CUR_WL=W4_idle; CUR_DIR=lower
  if [ "$IDLE" -le 0 ]; then
    print_line W4_idle "$impl" "n/a" "" "($IDLE_WHY)" ""
  else
    port=$(next_port)
    start_server "$port" "$@"
    if wait_port "$port" "$SPID"; then
      timeout -k 5 "$RUN_TIMEOUT" "$CLIENT" "$port" idle "$IDLE" 0 "$SPID" >"$TMP/out" 2>"$TMP/err"
      local rc=$?
      stop_server "$SPID"
      m=$(awk '$1 == "RESULT" { v = $2 } END { print v }' "$TMP/out")
      if [ "$rc" = 0 ] && [ -n "$m" ]; then
        RES[W4_idle,$impl]=$m
        print_line W4_idle "$impl" "$(fmt "$m")" "B/conn" "$(ratio_text "$impl" "$m")" "($IDLE idle connections)"
      else
        print_line W4_idle "$impl" "n/a" "" "(client exit $rc: $(last_err "$TMP/err"))" ""
      fi
    else
      stop_server "$SPID"
      print_line W4_idle "$impl" "n/a" "" "(server did not start)" ""
    fi
  fi
}

if want w4; then
  section_start
  RT=$(scale 500000)
  IDLE=$(scale 10000); IDLE_WHY=""
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE + 200)) ]; then
    IDLE_WHY="open-file limit $(ulimit -n) too low for $IDLE connections"; IDLE=0
  fi
  echo
  echo "== W4_echo: 50 connections ping-pong 64-byte lines, $RT round trips (higher is better);"
  echo "   W4_cpu: server CPU per round trip (lower is better); W4_idle: server RSS per idle connection at $IDLE connections (lower is better)"
  CLIENT=$BUILD/echo_client
  if ! build_c $B/w4_echo/client.c "$CLIENT"; then
    echo "W4_echo    all             n/a (cannot build the load client: $(last_err "$TMP/cc.err")${WHY[cc]:-})"
  else
    REF=luaio
    echo_server luaio   "$LUAIO" $B/w4_echo/luaio.lua @PORT@
    if build_c $B/w4_echo/bare_libuv.c "$BUILD/echo_bare_libuv"; then
      echo_server libuv-c "$BUILD/echo_bare_libuv" @PORT@
    else
      print_line W4_echo libuv-c "n/a" "" "(build failed: $(last_err "$TMP/cc.err"))" ""
    fi
    echo_server asyncio "$PY" $B/w4_echo/asyncio_peer.py @PORT@
    echo_server uvloop  "$PY" $B/w4_echo/asyncio_peer.py @PORT@ uvloop
    echo_server node    "$NODE" $B/w4_echo/node.js @PORT@
    echo_server luv     "$LUA" $B/w4_echo/luv_peer.lua @PORT@
    target "server CPU <= 1.25x bare libuv C" "L <= 1.25 * C" "L=${RES[W4_cpu,luaio]:-}" "C=${RES[W4_cpu,libuv-c]:-}"
    target "round trips/s >= 0.9x bare libuv C" "L >= 0.9 * C" "L=${RES[W4_echo,luaio]:-}" "C=${RES[W4_echo,libuv-c]:-}"
    target "<= 2 KB per idle connection" "L <= 2048" "L=${RES[W4_idle,luaio]:-}"
  fi
fi

# ---------------------------------------------------------------- W7 HTTP
# http_server IMPL CMD... : one wrk run (wrk itself averages over the duration)
to_ms() {  # wrk latency like 1.23ms / 456.00us / 1.01s -> ms
  awk -v x="$1" 'BEGIN {
    if (x ~ /us$/) { sub(/us$/, "", x); print x / 1000 }
    else if (x ~ /ms$/) { sub(/ms$/, "", x); print x + 0 }
    else if (x ~ /m$/) { sub(/m$/, "", x); print x * 60000 }
    else if (x ~ /s$/) { sub(/s$/, "", x); print x * 1000 }
    else print "" }'
}

declare -A P99
http_server() {
  local impl=$1; shift
  local need; need=$(need_of "$impl")
  CUR_WL=W7_http; CUR_DIR=higher
  if [ "${HAVE[$need]:-0}" != 1 ]; then print_na "$impl" "skipped: ${WHY[$need]}"; return; fi
  local port; port=$(next_port)
  start_server "$port" "$@"
  if ! wait_port "$port" "$SPID"; then
    print_na "$impl" "server did not start: $(last_err "$TMP/srv.err")"; stop_server "$SPID"; return
  fi
  timeout -k 5 $((W7_DUR + 30)) wrk -t2 -c100 -d"${W7_DUR}s" --latency "http://127.0.0.1:$port/" >"$TMP/out" 2>"$TMP/err"
  local rc=$? hwm; hwm=$(server_hwm "$SPID")
  stop_server "$SPID"
  local rps p99 errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/out")
  p99=$(awk '$1 == "99%" { print $2 }' "$TMP/out")
  errs=$(grep -E 'Non-2xx|Socket errors' "$TMP/out" | tr -s ' ' | tr '\n' ' ')
  if [ "$rc" != 0 ] || [ -z "$rps" ]; then print_na "$impl" "wrk exit $rc: $(last_err "$TMP/err")"; return; fi
  RES[W7_http,$impl]=$rps
  P99[$impl]=$(to_ms "$p99")
  print_line W7_http "$impl" "$(fmt "$rps")" "req/s" "$(ratio_text "$impl" "$rps")" "p99 $p99, $(rss_text "$hwm")${errs:+, $errs}"
}

if want w7; then
  section_start
  W7_DUR=10; [ "$QUICK" = 1 ] && W7_DUR=5
  echo
  echo "== W7_http: wrk -t2 -c100 -d${W7_DUR}s --latency, one run per server (requests/s, higher is better; p99 latency)"
  if [ "${HAVE[wrk]}" != 1 ]; then
    echo "W7_http    all             n/a (${WHY[wrk]})"
  else
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    CUR_WL=W7_http; REF=luaio
    if [ -f examples/http_server.lua ]; then
      http_server luaio "$LUAIO" examples/http_server.lua @PORT@
    else
      print_na luaio "examples/http_server.lua does not exist yet"
    fi
    if [ -z "${RES[W7_http,luaio]:-}" ]; then
      echo "   (no figure for examples/http_server.lua: ratios are against luaio-min)"; REF=luaio-min
    fi
    http_server luaio-min      "$LUAIO" $B/w7_http/luaio_min.lua @PORT@
    http_server node-http      "$NODE" $B/w7_http/node_http.js @PORT@
    http_server node-net       "$NODE" $B/w7_http/node_net.js @PORT@
    http_server asyncio-uvloop "$PY" $B/w7_http/asyncio_peer.py @PORT@ uvloop
    target "luaio >= 2.5x Node http" "L >= 2.5 * J" "L=${RES[W7_http,$REF]:-}" "J=${RES[W7_http,node-http]:-}"
    target "luaio p99 < 10 ms" "P < 10" "P=${P99[$REF]:-}"
  fi
fi

# ---------------------------------------------------------------- W7 on workers
tree_pids() {    # tree_pids PID: PID and its descendants
  local c
  echo "$1"
  for c in $(pgrep -P "$1"); do tree_pids "$c"; done
}

tree_ticks() {   # tree_ticks PID: utime + stime (clock ticks) of PID and its live descendants
  local p v t=0
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

tree_hwm() {     # tree_hwm PID: the sum of the peak RSS (kB) of PID and its descendants
  local p v t=0
  for p in $(tree_pids "$1"); do v=$(server_hwm "$p"); t=$((t + ${v:-0})); done
  echo "$t"
}

wait_listening() {  # wait_listening N PID: until N "listening" lines on the server's stderr (~15 s)
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(grep -c listening "$TMP/srv.err")" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

declare -A WCPU WCORES
workers_server() {  # workers_server IMPL NWORKERS CMD... (NWORKERS 0: wait for the port only)
  local impl=$1 nw=$2; shift 2
  local need; need=$(need_of "$impl")
  CUR_WL=W7_workers; CUR_DIR=higher
  if [ "${HAVE[$need]:-0}" != 1 ]; then print_na "$impl" "skipped: ${WHY[$need]}"; return; fi
  local port; port=$(next_port)
  start_server "$port" "$@"
  local ok=0
  if [ "$nw" -eq 0 ] || wait_listening "$nw" "$SPID"; then wait_port "$port" "$SPID" && ok=1; fi
  if [ "$ok" != 1 ]; then
    print_na "$impl" "server did not start: $(last_err "$TMP/srv.err")"; stop_server "$SPID"; return
  fi
  local t0 t1 hwm
  t0=$(tree_ticks "$SPID")
  timeout -k 5 $((W7_DUR + 30)) wrk -t2 -c100 -d"${W7_DUR}s" --latency "http://127.0.0.1:$port/" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  t1=$(tree_ticks "$SPID"); hwm=$(tree_hwm "$SPID")
  stop_server "$SPID"
  local rps p99 reqs errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/out")
  p99=$(awk '$1 == "99%" { print $2 }' "$TMP/out")
  reqs=$(awk '/requests in/ { print $1 }' "$TMP/out")
  errs=$(grep -E 'Non-2xx|Socket errors' "$TMP/out" | tr -s ' ' | tr '\n' ' ')
  if [ "$rc" != 0 ] || [ -z "$rps" ] || [ -z "$reqs" ]; then print_na "$impl" "wrk exit $rc: $(last_err "$TMP/err")"; return; fi
  local hz; hz=$(getconf CLK_TCK)
  RES[W7_workers,$impl]=$rps
  WCPU[$impl]=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
  WCORES[$impl]=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$W7_DUR" 'BEGIN { printf "%.2f", d / hz / s }')
  print_line W7_workers "$impl" "$(fmt "$rps")" "req/s" "$(ratio_text "$impl" "$rps")" "p99 $p99, server ${WCORES[$impl]} cores, $(rss_text "$hwm")${errs:+, $errs}"
}

if want w7w; then
  section_start
  W7_DUR=10; [ "$QUICK" = 1 ] && W7_DUR=5
  echo
  echo "== W7_workers: wrk -t2 -c100 -d${W7_DUR}s --latency on $(nproc) cores (wrk shares them), 1 vs 2 server processes"
  echo "   (requests/s, higher is better; W7_wcpu: server CPU µs per request summed over every server process, lower is better)"
  if [ "${HAVE[wrk]}" != 1 ]; then
    echo "W7_workers all             n/a (${WHY[wrk]})"
  else
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    REF=luaio-2w
    workers_server luaio-2w        2 "$LUAIO" $B/w7_http/luaio_min.lua @PORT@ 2
    workers_server luaio-1w        1 "$LUAIO" $B/w7_http/luaio_min.lua @PORT@ 1
    workers_server luaio-1proc     0 "$LUAIO" $B/w7_http/luaio_min.lua @PORT@
    workers_server luaio-ex-2w     2 "$LUAIO" examples/workers_http.lua @PORT@ 2
    workers_server node-cluster-2w 2 "$NODE" $B/w7_workers/node_cluster.js @PORT@ 2
    workers_server node-cluster-1w 1 "$NODE" $B/w7_workers/node_cluster.js @PORT@ 1
    workers_server node-1proc      0 "$NODE" $B/w7_http/node_http.js @PORT@
    CUR_WL=W7_wcpu; CUR_DIR=lower
    for impl in luaio-2w luaio-1w luaio-1proc luaio-ex-2w node-cluster-2w node-cluster-1w node-1proc; do
      [ -n "${WCPU[$impl]:-}" ] || continue
      RES[W7_wcpu,$impl]=${WCPU[$impl]}
      print_line W7_wcpu "$impl" "$(fmt "${WCPU[$impl]}")" "us/req" "$(ratio_text "$impl" "${WCPU[$impl]}")" "(utime+stime of the server processes)"
    done
    target "luaio 2 workers ahead of Node cluster 2 workers in req/s" "L > N" "L=${RES[W7_workers,luaio-2w]:-}" "N=${RES[W7_workers,node-cluster-2w]:-}"
    target "luaio 2 workers below Node cluster 2 workers in CPU/request" "L < N" "L=${RES[W7_wcpu,luaio-2w]:-}" "N=${RES[W7_wcpu,node-cluster-2w]:-}"
  fi
fi

# ---------------------------------------------------------------- T1 to_thread overhead
if want t1; then
  N=$(scale 20000)
  header T1_thread higher "$N calls of to_thread(echo, i), 64 in flight; calls/s"
  measure luaio   "$LUAIO" $B/t1_to_thread/luaio.lua "$N" 64
  measure asyncio "$PY" $B/t1_to_thread/asyncio_peer.py "$N" 64
  measure uvloop  "$PY" $B/t1_to_thread/asyncio_peer.py "$N" 64 uvloop
  target "luaio >= 5x asyncio" "L >= 5 * A" "L=${RES[T1_thread,luaio]:-}" "A=${RES[T1_thread,asyncio]:-}"
  header T1_seq higher "$N calls of to_thread(echo, i), one at a time (round-trip latency); calls/s"
  measure luaio   "$LUAIO" $B/t1_to_thread/luaio.lua "$N" 1
  measure asyncio "$PY" $B/t1_to_thread/asyncio_peer.py "$N" 1
  measure uvloop  "$PY" $B/t1_to_thread/asyncio_peer.py "$N" 1 uvloop
fi

# ---------------------------------------------------------------- T2 to_thread parallelism
if want t2; then
  SECS=0.5; [ "$QUICK" = 1 ] && SECS=0.1
  header T2_parallel higher "4 CPU-bound to_thread calls of ~${SECS} s at once vs in a row ($(nproc) cores); speed-up"
  measure luaio   "$LUAIO" $B/t2_parallel/luaio.lua 4 "$SECS"
  measure asyncio "$PY" $B/t2_parallel/asyncio_peer.py 4 "$SECS"
  target "luaio speed-up >= 1.8x" "L >= 1.8" "L=${RES[T2_parallel,luaio]:-}"
fi

# ---------------------------------------------------------------- U1 UDP ping-pong
if want u1; then
  N=$(scale 200000)
  for PAIRS in 1 20; do
    header U1_udp_$PAIRS higher "UDP ping-pong, 64-byte datagrams, $N round trips over $PAIRS pair(s) in one process; round trips/s"
    measure luaio   "$LUAIO" $B/u1_udp/luaio.lua "$N" "$PAIRS"
    if build_c $B/u1_udp/bare_libuv.c "$BUILD/u1_bare_libuv"; then
      measure libuv-c "$BUILD/u1_bare_libuv" "$N" "$PAIRS"
    else
      print_na libuv-c "build failed: $(last_err "$TMP/cc.err")"
    fi
    measure asyncio "$PY" $B/u1_udp/asyncio_peer.py "$N" "$PAIRS"
    measure uvloop  "$PY" $B/u1_udp/asyncio_peer.py "$N" "$PAIRS" uvloop
    measure node    "$NODE" $B/u1_udp/node.js "$N" "$PAIRS"
    target "luaio ahead of Node dgram" "L > J" "L=${RES[U1_udp_$PAIRS,luaio]:-}" "J=${RES[U1_udp_$PAIRS,node]:-}"
    target "luaio >= 0.8x bare libuv C" "L >= 0.8 * C" "L=${RES[U1_udp_$PAIRS,luaio]:-}" "C=${RES[U1_udp_$PAIRS,libuv-c]:-}"
  done
fi

# ---------------------------------------------------------------- S1-S3 TLS
# One TLS echo server per implementation (bench/s1_tls_echo), a P-256 self-signed
# certificate made here, and one OpenSSL load client (bench/s1_tls_echo/client.c).
TLS_READY=""
tls_setup() {   # -> 0 when the certificate and the client are ready
  [ -n "$TLS_READY" ] && return "$TLS_READY"
  TLS_READY=1
  if [ "${HAVE[ssl]}" != 1 ]; then TLS_WHY=${WHY[ssl]}; return 1; fi
  TLS_CERT=$TMP/tls_cert.pem; TLS_KEY=$TMP/tls_key.pem; TLS_CLIENT=$BUILD/tls_client
  if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_KEY" \
       -out "$TLS_CERT" -days 2 -subj /CN=localhost >/dev/null 2>"$TMP/cc.err"; then
    TLS_WHY="openssl req: $(last_err "$TMP/cc.err")"; return 1
  fi
  mkdir -p "$BUILD"
  if [ ! -x "$TLS_CLIENT" ] || [ $B/s1_tls_echo/client.c -nt "$TLS_CLIENT" ]; then
    # shellcheck disable=SC2046
    if ! gcc -O2 -Wall -o "$TLS_CLIENT" $B/s1_tls_echo/client.c $(pkg-config --cflags --libs openssl) \
         -lpthread 2>"$TMP/cc.err"; then
      TLS_WHY="cannot build the TLS client: $(last_err "$TMP/cc.err")"; return 1
    fi
  fi
  TLS_READY=0
}

# tls_run WL CPU_WL CPU_UNIT MODE N C IMPL CMD... : REPS runs of the TLS client in MODE
# against a fresh server; records the median RESULT in WL and the median CPU line in CPU_WL
tls_run() {
  local wl=$1 cwl=$2 cunit=$3 mode=$4 n=$5 c=$6 impl=$7; shift 7
  budget_check
  local need; need=$(need_of "$impl")
  if [ "${HAVE[$need]:-0}" != 1 ]; then
    print_line "$wl" "$impl" "n/a" "" "(skipped: ${WHY[$need]})" ""
    return
  fi
  local i port vals=() cpus=() reason="" v cpu unit reps=$REPS
  [ "$mode" = idle ] && reps=1
  for ((i = 1; i <= reps; i++)); do
    port=$(next_port)
    start_server "$port" "$@"
    if ! wait_port "$port" "$SPID"; then
      reason="server did not start: $(last_err "$TMP/srv.err")"; stop_server "$SPID"; break
    fi
    timeout -k 5 "$RUN_TIMEOUT" "$TLS_CLIENT" "$port" "$mode" "$n" "$c" "$SPID" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    stop_server "$SPID"
    v=$(awk '$1 == "RESULT" { v = $2 } END { print v }' "$TMP/out")
    unit=$(awk '$1 == "RESULT" { v = $3 } END { print v }' "$TMP/out")
    cpu=$(awk '$1 == "CPU" { v = $2 } END { print v }' "$TMP/out")
    if [ "$rc" != 0 ] || [ -z "$v" ]; then
      reason="client exit $rc: $(last_err "$TMP/err") / server: $(last_err "$TMP/srv.err")"; break
    fi
    vals+=("$v"); [ -n "$cpu" ] && cpus+=("$cpu")
  done
  if [ -n "$reason" ]; then
    print_line "$wl" "$impl" "n/a" "" "(${reason:0:100})" ""
    return
  fi
  local m; m=$(median "${vals[@]}")
  CUR_WL=$wl; CUR_DIR=$([ "$mode" = idle ] && echo lower || echo higher)
  RES[$wl,$impl]=$m
  print_line "$wl" "$impl" "$(fmt "$m")" "$unit" "$(ratio_text "$impl" "$m")" "$([ "$mode" = idle ] && echo "($n idle connections)")"
  if [ -n "$cwl" ] && [ ${#cpus[@]} -gt 0 ]; then
    CUR_WL=$cwl; CUR_DIR=lower
    m=$(median "${cpus[@]}")
    RES[$cwl,$impl]=$m
    print_line "$cwl" "$impl" "$(fmt "$m")" "$cunit" "$(ratio_text "$impl" "$m")" "(server utime+stime)"
  fi
}

# tls_peers WL CPU_WL CPU_UNIT MODE N C : every implementation
tls_peers() {
  local S=$B/s1_tls_echo
  tls_run "$@" luaio   "$LUAIO" $S/luaio.lua @PORT@ "$TLS_CERT" "$TLS_KEY"
  tls_run "$@" node    "$NODE" $S/node.js @PORT@ "$TLS_CERT" "$TLS_KEY"
  tls_run "$@" asyncio "$PY" $S/asyncio_peer.py @PORT@ "$TLS_CERT" "$TLS_KEY"
  tls_run "$@" uvloop  "$PY" $S/asyncio_peer.py @PORT@ "$TLS_CERT" "$TLS_KEY" uvloop
}

if want s1; then
  RT=$(scale 200000)
  header S1_tls_echo higher "TLS 1.3 echo: 50 connections ping-pong 64-byte lines, $RT round trips; round trips/s"
  echo "   S1_cpu: server CPU per round trip (lower is better)"
  REF=luaio
  if ! tls_setup; then
    print_na all "$TLS_WHY"
  else
    tls_peers S1_tls_echo S1_cpu us/rt pingpong "$RT" 50
    target "round trips/s ahead of Node tls" "L > J" "L=${RES[S1_tls_echo,luaio]:-}" "J=${RES[S1_tls_echo,node]:-}"
    target "server CPU per round trip below Node tls" "L < J" "L=${RES[S1_cpu,luaio]:-}" "J=${RES[S1_cpu,node]:-}"
  fi
fi

if want s2; then
  SECS=5; [ "$QUICK" = 1 ] && SECS=1
  header S2_tls_hs higher "new TLS connections for $SECS s from 8 client threads, each a full TLS 1.3 handshake (P-256 certificate, no resumption), one 64-byte round trip, close; handshakes/s"
  echo "   S2_cpu: server CPU per handshake (lower is better)"
  REF=luaio
  if ! tls_setup; then
    print_na all "$TLS_WHY"
  else
    tls_peers S2_tls_hs S2_cpu us/hs handshake "$SECS" 8
    target "handshakes/s >= Node tls" "L >= J" "L=${RES[S2_tls_hs,luaio]:-}" "J=${RES[S2_tls_hs,node]:-}"
  fi
fi

if want s3; then
  COUNT=$(scale 5000)
  header S3_tls_idle lower "server RSS per idle TLS connection at $COUNT connections (one handshake and round trip each, then idle)"
  REF=luaio
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
  if ! tls_setup; then
    print_na all "$TLS_WHY"
  elif [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((COUNT + 200)) ]; then
    print_na all "open-file limit $(ulimit -n) too low for $COUNT connections"
  else
    tls_peers S3_tls_idle "" "" idle "$COUNT" 0
    target "<= Node tls per idle connection" "L <= J" "L=${RES[S3_tls_idle,luaio]:-}" "J=${RES[S3_tls_idle,node]:-}"
  fi
fi

# ---------------------------------------------------------------- R1 Redis client
# One redis-server (no persistence) for every implementation; ioredis is installed from npm
# into build/npm on first use.
if want r1; then
  N=$(scale 100000)
  header R1_redis higher "$N SET+GET pairs, 50 tasks sharing one client, each pair awaited in turn; pairs/s"
  if [ "${HAVE[redis]}" != 1 ]; then
    print_na all "${WHY[redis]}"
  else
    if [ "${HAVE[node]}" = 1 ] && [ ! -d "$ROOT/build/npm/node_modules/ioredis" ]; then
      echo "   installing ioredis into build/npm"
      timeout 300 npm install --silent --prefix "$ROOT/build/npm" ioredis >"$TMP/npm.log" 2>&1 ||
        echo "   note: npm install ioredis failed: $(last_err "$TMP/npm.log")"
    fi
    [ -d "$ROOT/build/npm/node_modules/ioredis" ] || { HAVE[node]=0; WHY[node]="ioredis not installed (npm install --prefix build/npm ioredis)"; }
    RPORT=$(next_port)
    start_server "$RPORT" redis-server --port @PORT@ --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP"
    RSPID=$SPID
    if ! wait_port "$RPORT" "$RSPID"; then
      print_na all "redis-server did not start: $(last_err "$TMP/srv.err")"
    else
      for MODE in tasks pipe; do
        if [ "$MODE" = pipe ]; then
          header R1_redis_pipe higher "the same $N pairs, 50 tasks each sending pipelines of 100 pairs; pairs/s"
        fi
        measure luaio         "$LUAIO" $B/r1_redis/luaio.lua "$RPORT" "$N" 50 "$MODE" 100
        measure ioredis       "$NODE" $B/r1_redis/node.js "$RPORT" "$N" 50 "$MODE" 100
        measure redis.asyncio "$PY" $B/r1_redis/asyncio_peer.py "$RPORT" "$N" 50 "$MODE" 100
        target "luaio ahead of ioredis" "L > J" "L=${RES[$CUR_WL,luaio]:-}" "J=${RES[$CUR_WL,ioredis]:-}"
      done
    fi
    stop_server "$RSPID"
  fi
fi

# ---------------------------------------------------------------- J1 job queue over Redis
# One redis-server (no persistence) for the section; each run flushes it. BullMQ and ioredis
# come from npm into build/npm (installed here on first use, never committed).
if want j1; then
  N=$(scale 20000)
  J1_OK=1; J1_WHY=""
  if ! command -v redis-server >/dev/null 2>&1; then J1_OK=0; J1_WHY="redis-server not installed (make deps)"; fi
  if [ "$J1_OK" = 1 ]; then
    J1_PORT=$(next_port)
    start_server "$J1_PORT" redis-server --port "$J1_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP"
    J1_PID=$SPID
    if ! wait_port "$J1_PORT" "$J1_PID"; then J1_OK=0; J1_WHY="redis-server did not start: $(last_err "$TMP/srv.err")"; fi
  fi
  J1_URL=redis://127.0.0.1:${J1_PORT:-0}
  HAVE_BULLMQ=0
  if [ "${HAVE[node]}" = 1 ]; then
    if [ ! -d "$ROOT/build/npm/node_modules/bullmq" ] || [ ! -d "$ROOT/build/npm/node_modules/ioredis" ]; then
      mkdir -p "$ROOT/build/npm"
      timeout 300 npm install --prefix "$ROOT/build/npm" --no-audit --no-fund bullmq ioredis >"$TMP/npm.log" 2>&1
    fi
    [ -d "$ROOT/build/npm/node_modules/bullmq" ] && HAVE_BULLMQ=1
  fi
  j1_peer() {   # j1_peer IMPL-LABEL ARGS... : the BullMQ peer, or why it is skipped
    if [ "$HAVE_BULLMQ" = 1 ]; then measure "$1" "$NODE" $B/j1_jobs/node.js "${@:2}"
    else print_na "$1" "skipped: bullmq not installable (npm install --prefix build/npm bullmq ioredis)"; fi
  }
  header J1_enqueue higher "enqueue $N no-op jobs from 50 concurrent producers, no worker; jobs/s"
  if [ "$J1_OK" = 1 ]; then
    export J1_LUAIO=$LUAIO
    measure luaio "$LUAIO" $B/j1_jobs/luaio.lua enqueue "$N" "$J1_URL"
    j1_peer node-bullmq enqueue "$N" "$J1_URL"
  else print_na all "$J1_WHY"; fi
  for W in 1 2; do
    header J1_${W}worker higher "$N queued no-op jobs processed by $W worker process(es) at limit (concurrency) 100; jobs/s"
    if [ "$J1_OK" = 1 ]; then
      measure luaio "$LUAIO" $B/j1_jobs/luaio.lua "$W" "$N" "$J1_URL"
      j1_peer node-bullmq "$W" "$N" "$J1_URL"
      target "ahead of BullMQ" "L > J" "L=${RES[J1_${W}worker,luaio]:-}" "J=${RES[J1_${W}worker,node-bullmq]:-}"
    else print_na all "$J1_WHY"; fi
  done
  [ "$J1_OK" = 1 ] && stop_server "$J1_PID"
fi

section_start
echo
echo "total bench time: $(( $(date +%s) - T_START )) s"
exit 0
