#!/usr/bin/env bash
# P2 floor: the same bytes through `cat` piped by the shell:
#   head -c N /dev/zero | cat > /dev/null ; MiB/s.   usage: floor.sh [MiB]
MIB=${1:-256}
t0=$(date +%s%N)
head -c $((MIB * 1048576)) /dev/zero | cat > /dev/null
t1=$(date +%s%N)
awk -v m="$MIB" -v ns=$((t1 - t0)) 'BEGIN { printf "RESULT %.6g MiB/s\n", m / (ns / 1e9) }'
