# Ctrl-C (SIGINT) cancels everything, stops every child process, still
# prints the table and exits 130; a second Ctrl-C does not wait for the
# grace period; SIGTERM exits 143.  (test_live.sh presses Ctrl-C in a real
# terminal too.)
. "$(dirname "$0")/lib.sh"

cat >"$T/jobs" <<X
a: echo \$\$ > $T/a.pid; sleep 600 & echo \$! > $T/a.child; wait
stubborn: trap '' TERM; echo \$\$ > $T/b.pid; while :; do sleep 0.05; done
[delay=600s] later: true
X

"$ERRAND" run -j 3 --kill-grace 300ms "$T/jobs" >"$T/out" 2>&1 &
BGPID=$!
wait_for "$T/out" "start +#1 a"
wait_for "$T/out" "start +#2 stubborn"
while [ ! -s "$T/a.child" ] || [ ! -s "$T/b.pid" ]; do sleep 0.02; done
kill -INT $BGPID
wait_exit $BGPID
check "Ctrl-C: exit 130 (got $RC)" [ $RC -eq 130 ]
check "Ctrl-C: the table is printed" has "$T/out" "^Id +Name +Status"
for n in a stubborn later; do
  expect_row "$T/out" $n Canceled false true true false
  check "$n: Result says interrupted" [ "$(col "$T/out" $n 8)" = "interrupted by SIGINT" ]
done
check "Ctrl-C: job a's group is gone" group_gone "$(cat "$T/a.pid")"
check "Ctrl-C: job a's background child is gone" pid_gone "$(cat "$T/a.child")"
check "Ctrl-C: the job that ignores SIGTERM is gone" group_gone "$(cat "$T/b.pid")"
check "Ctrl-C: summary says interrupted" has "$T/out" "interrupted by SIGINT"

# A second Ctrl-C kills at once: with a grace of 10 minutes this test would
# time out if errand waited for it.
rm -f "$T"/*.pid "$T/a.child"
"$ERRAND" run -j 3 --kill-grace 600s "$T/jobs" >"$T/out2" 2>&1 &
BGPID=$!
while [ ! -s "$T/b.pid" ]; do sleep 0.02; done
kill -INT $BGPID
wait_for "$T/out2" "cancel +all: interrupted by SIGINT"
kill -INT $BGPID
wait_exit $BGPID
check "second Ctrl-C: exit 130 (got $RC)" [ $RC -eq 130 ]
check "second Ctrl-C: says so" has "$T/out2" "kill +all: SIGINT again, SIGKILL now"
check "second Ctrl-C: the job that ignores SIGTERM is gone" group_gone "$(cat "$T/b.pid")"
check "second Ctrl-C: table printed" has "$T/out2" "^3 +later +Canceled"

# SIGTERM: the same, exit 143.
rm -f "$T"/*.pid "$T/a.child"
"$ERRAND" run -j 3 --kill-grace 300ms "$T/jobs" >"$T/out3" 2>&1 &
BGPID=$!
while [ ! -s "$T/a.pid" ]; do sleep 0.02; done
kill -TERM $BGPID
wait_exit $BGPID
check "SIGTERM: exit 143 (got $RC)" [ $RC -eq 143 ]
check "SIGTERM: job a's group is gone" group_gone "$(cat "$T/a.pid")"
check "SIGTERM: table printed" has "$T/out3" "^1 +a +Canceled .*interrupted by SIGTERM"

done_testing
