# Stopping early: --first, --fail-fast, the overall timeout (-T, seed 003's
# WAIT ... TIMEOUT) and per-job timeouts.  What is stopped is reported
# Canceled with the reason as its Result, and no process of a stopped job
# survives.
. "$(dirname "$0")/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- --first ------------------------------------------------------------------
cat >"$T/first.jobs" <<X
slow: echo \$\$ > $T/first.pid; sleep 600 & wait
winner: while [ ! -e $T/first.pid ]; do sleep 0.02; done; echo won
[delay=600s] later: true
X
"$ERRAND" run -j 3 --first "$T/first.jobs" >"$T/first.out" 2>&1
check "--first: exit 0 when one succeeded" [ $? -eq 0 ]
expect_row "$T/first.out" winner RanToCompletion false false true true
expect_row "$T/first.out" slow Canceled false true true false
expect_row "$T/first.out" later Canceled false true true false
check "--first: the reason is the Result" \
  [ "$(col "$T/first.out" slow 8)" = "canceled by --first: job #2 (winner) succeeded" ]
check "--first: cancel line" has "$T/first.out" "cancel +all: canceled by --first"
check "--first: slow's process group is gone" group_gone "$(cat "$T/first.pid")"

printf 'a: exit 1\nb: exit 2\n' >"$T/none.jobs"
"$ERRAND" run --first "$T/none.jobs" >"$T/none.out" 2>&1
check "--first: exit 1 when none succeeded" [ $? -eq 1 ]

# ---- --fail-fast --------------------------------------------------------------
cat >"$T/ff.jobs" <<X
slow: echo \$\$ > $T/ff.pid; sleep 600
bad: while [ ! -e $T/ff.pid ]; do sleep 0.02; done; exit 4
[delay=600s] later: true
X
"$ERRAND" run -j 2 --fail-fast "$T/ff.jobs" >"$T/ff.out" 2>&1
check "--fail-fast: exit 1" [ $? -eq 1 ]
expect_row "$T/ff.out" bad Faulted true false true false
check "--fail-fast: bad's Result is 4" [ "$(col "$T/ff.out" bad 8)" = 4 ]
expect_row "$T/ff.out" slow Canceled false true true false
expect_row "$T/ff.out" later Canceled false true true false
check "--fail-fast: the reason is the Result" \
  [ "$(col "$T/ff.out" later 8)" = "canceled by --fail-fast: job #2 (bad) did not succeed" ]
check "--fail-fast: slow's process group is gone" group_gone "$(cat "$T/ff.pid")"

# ---- overall timeout ----------------------------------------------------------
cat >"$T/total.jobs" <<X
sleeper: echo \$\$ > $T/total.pid; sleep 600
quick: true
stubborn: trap '' TERM; echo \$\$ > $T/stubborn.pid; while :; do sleep 0.05; done
[delay=600s] later: true
X
t0=$(now_ms)
"$ERRAND" run -j 4 -T 1s --kill-grace 200ms "$T/total.jobs" >"$T/total.out" 2>&1
rc=$?
t1=$(now_ms)
check "-T: exit 1" [ $rc -eq 1 ]
check "-T: took at least the timeout ($((t1 - t0)) ms)" [ $((t1 - t0)) -ge 1000 ]
# quick normally ends long before the timeout; it is only checked to have
# ended one of the two ways (no upper bound on how fast a machine is).
q=$(col "$T/total.out" quick 3)
check "-T: quick ran to completion or was canceled (got $q)" \
  [ "$q" = RanToCompletion -o "$q" = Canceled ]
for n in sleeper stubborn later; do
  expect_row "$T/total.out" $n Canceled false true true false
  check "-T: $n's Result is the reason" \
    [ "$(col "$T/total.out" $n 8)" = "overall timeout of 1.0s expired" ]
done
check "-T: cancel line" has "$T/total.out" "cancel +all: overall timeout of 1.0s expired"
check "-T: sleeper's group is gone" group_gone "$(cat "$T/total.pid")"
check "-T: the job that ignores SIGTERM is gone too (SIGKILL)" \
  group_gone "$(cat "$T/stubborn.pid")"
check "-T: summary says why" has "$T/total.out" "\(overall timeout of 1.0s expired\)"

# ---- per-job timeouts ---------------------------------------------------------
cat >"$T/timeout.jobs" <<X
[timeout=300ms] own: echo \$\$ > $T/own.pid; sleep 600
dflt: sleep 600
[timeout=0] none: true
X
"$ERRAND" run -j 3 -t 500ms "$T/timeout.jobs" >"$T/timeout.out" 2>&1
check "timeouts: exit 1" [ $? -eq 1 ]
expect_row "$T/timeout.out" own Canceled false true true false
check "timeout=300ms in the Result" \
  [ "$(col "$T/timeout.out" own 8)" = "run timeout of 300 ms expired" ]
expect_row "$T/timeout.out" dflt Canceled false true true false
check "-t 500ms in the Result" \
  [ "$(col "$T/timeout.out" dflt 8)" = "run timeout of 500 ms expired" ]
expect_row "$T/timeout.out" none RanToCompletion false false true true
check "timed-out job's group is gone" group_gone "$(cat "$T/own.pid")"

# ---- what a job leaves behind does not survive it -----------------------------
cat >"$T/orphan.jobs" <<X
leaver: sleep 600 & echo \$! > $T/orphan.pid; echo \$\$ > $T/leaver.pid
X
"$ERRAND" run --kill-grace 200ms "$T/orphan.jobs" >"$T/orphan.out" 2>&1
check "a background child does not fail the job" [ $? -eq 0 ]
check "the background child is gone" pid_gone "$(cat "$T/orphan.pid")"
check "the job's group is gone" group_gone "$(cat "$T/leaver.pid")"

done_testing
