# tap.sh — sourced by the set-up tests: `ok CONDITION-COMMAND... -- description` prints one
# TAP line; `finish` prints the plan and exits non-zero if a check failed.
n=0
failed=0
check() { # description command...
  local what=$1; shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=$((failed + 1)); fi
}
finish() {
  echo "1..$n"
  [ "$failed" -eq 0 ]
}
