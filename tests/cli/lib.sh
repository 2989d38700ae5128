# lib.sh — shared by tests/cli/test_*.sh, which drive the errand program as a
# user would.  ctest sets ERRAND (the binary), ERRAND_DEMO_MODULE (the demo
# job module) and ERRAND_SOURCE_DIR, and runs each script from the source
# tree's top.  By hand:
#   ERRAND=build/cli/errand ERRAND_DEMO_MODULE=build/cli/demo_module.so \
#     sh tests/cli/test_basic.sh
#
# Timing rule: no check depends on something being fast.  Waits have no
# upper bound of their own except a generous one (WAIT_LIMIT seconds) that
# only turns a hang into a readable failure; ordering is forced with gate
# files, not with sleeps.

set -u
: "${ERRAND:?set ERRAND to the errand binary}"
case $ERRAND in /*) ;; *) ERRAND=$(pwd)/$ERRAND ;; esac
SRC=${ERRAND_SOURCE_DIR:-$(pwd)}
WAIT_LIMIT=${WAIT_LIMIT:-120}
T=$(mktemp -d "${TMPDIR:-/tmp}/errand-cli-test.XXXXXX")
export TMPDIR="$T" # errand's default log folders land here too
fails=0

cleanup() {
  # Never leave a process of ours behind, even when a check failed.
  if [ -n "${BGPID:-}" ]; then kill -KILL "$BGPID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  d=$1
  shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
# has FILE PATTERN (grep -E)
has() { grep -Eq -- "$2" "$1"; }
hasnt() { ! grep -Eq -- "$2" "$1"; }
# row FILE NAME: the table row of job NAME (columns split on blanks)
row() { awk -v n="$2" '$2 == n' "$1"; }
# col FILE NAME K: the K-th column of that row (Result: K=8 and the rest)
col() { row "$1" "$2" | awk -v k="$3" '{ s = $k; for (i = k + 1; k == 8 && i <= NF; i++) s = s " " $i; print s }'; }
# expect_row FILE NAME STATUS FAULTED CANCELED COMPLETED SUCCEEDED
expect_row() {
  r=$(row "$1" "$2" | awk '{ print $3, $4, $5, $6, $7 }')
  if [ "$r" = "$3 $4 $5 $6 $7" ]; then ok "$2: $3"; else
    fail "$2: expected '$3 $4 $5 $6 $7', got '$r'"
  fi
}
# wait_for FILE PATTERN: waits until the pattern shows up in the file.
wait_for() {
  i=0
  while ! grep -Eq -- "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt $((WAIT_LIMIT * 20)) ]; then
      fail "gave up waiting for '$2' in $1"
      cat "$1" 2>/dev/null
      return 1
    fi
    sleep 0.05
  done
}
# wait_exit PID: waits for a background errand, sets RC.
wait_exit() {
  wait "$1"
  RC=$?
  BGPID=
}
# group_gone PGID: no process of that process group exists.
group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }
# pid_gone PID
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

done_testing() {
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}
