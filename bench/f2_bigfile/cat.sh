#!/usr/bin/env bash
# F2 floor: `cat FILE > /dev/null`; MiB/s.
t0=$(date +%s%N)
cat "$1" > /dev/null
t1=$(date +%s%N)
size=$(stat -c %s "$1")
awk -v s="$size" -v d="$((t1 - t0))" 'BEGIN { printf "RESULT %.6g MiB/s\n", s / 1048576 / (d / 1e9) }'
