# A plain run (not a terminal): one line per event in the order they happen,
# seed 003's table at the end, exit codes 0 and 1, priorities, delay, logs
# and --tail.
. "$(dirname "$0")/lib.sh"

# ---- all succeed: exit 0, table, event lines ---------------------------------
cat >"$T/ok.jobs" <<'X'
one: echo hello from one
two: echo hello from two >&2
three: for i in 1 2 3 4; do echo "progress $i/4 step $i" >&$ERRAND_PROGRESS_FD; done
X
"$ERRAND" run -l "$T/logs" "$T/ok.jobs" >"$T/ok.out" 2>"$T/ok.err"
check "all succeed: exit 0" [ $? -eq 0 ]
check "stderr is empty" [ ! -s "$T/ok.err" ]
check "table header (seed 003's columns)" has "$T/ok.out" \
  "^Id +Name +Status +IsFaulted +IsCanceled +IsCompleted +IsSucceeded +Result$"
for n in one two three; do
  expect_row "$T/ok.out" $n RanToCompletion false false true true
  check "$n: Result is its exit code 0" [ "$(col "$T/ok.out" $n 8)" = 0 ]
  check "$n: start line" has "$T/ok.out" "^\[ *[0-9.]+\] start +#[0-9] $n \(pid [0-9]+\)$"
  check "$n: finish line" has "$T/ok.out" "^\[ *[0-9.]+\] finish +#[0-9] $n: RanToCompletion, exit code 0"
  s=$(grep -n "start .* $n " "$T/ok.out" | cut -d: -f1)
  f=$(grep -n "finish .* $n:" "$T/ok.out" | cut -d: -f1)
  check "$n: start before finish" [ "$s" -lt "$f" ]
done
for i in 1 2 3 4; do
  check "progress $i/4 reported" has "$T/ok.out" "progress #3 three $i/4 step $i$"
done
p4=$(grep -n "progress #3 three 4/4" "$T/ok.out" | cut -d: -f1)
f3=$(grep -n "finish .* three:" "$T/ok.out" | cut -d: -f1)
check "progress comes before its finish" [ "$p4" -lt "$f3" ]
check "summary line" has "$T/ok.out" "^3 jobs: 3 succeeded, 0 faulted, 0 canceled in .*; logs in $T/logs/$"
check "stdout log kept" has "$T/logs/01-one.out" "^hello from one$"
check "stderr log kept" has "$T/logs/02-two.err" "^hello from two$"
check "empty log exists" [ -f "$T/logs/03-three.out" ]

# ---- a failing job: exit 1, Faulted, exit code in Result --------------------
cat >"$T/fail.jobs" <<'X'
good: true
bad: echo oops >&2; exit 3
killed: kill -SEGV $$
X
"$ERRAND" run "$T/fail.jobs" >"$T/fail.out" 2>&1
check "a job fails: exit 1" [ $? -eq 1 ]
expect_row "$T/fail.out" good RanToCompletion false false true true
expect_row "$T/fail.out" bad Faulted true false true false
check "bad: Result is 3" [ "$(col "$T/fail.out" bad 8)" = 3 ]
check "bad: finish line" has "$T/fail.out" "finish +#2 bad: Faulted, exit code 3"
expect_row "$T/fail.out" killed Faulted true false true false
check "killed: Result names the signal" [ "$(col "$T/fail.out" killed 8)" = "killed by SIGSEGV (11)" ]
check "default logs folder under TMPDIR" has "$T/fail.out" "logs in $T/errand-"

# ---- --tail: output interleaved with a name prefix ---------------------------
printf 'a: echo out-line; echo err-line >&2\n' >"$T/tail.jobs"
"$ERRAND" run --tail "$T/tail.jobs" >"$T/tail.out" 2>&1
check "--tail: stdout line prefixed" has "$T/tail.out" "^a \| out-line$"
check "--tail: stderr line prefixed" has "$T/tail.out" "^a ! err-line$"

# ---- priorities: strict order on one worker ----------------------------------
# The gate holds the only worker until every other job is queued: errand posts
# all jobs before its loop prints the first event, so once "start #1 gate" is
# printed the rest are waiting, and they must start by priority, then in file
# order (the gate has the highest priority too, in case the worker wakes
# only after everything was posted).
cat >"$T/prio.jobs" <<X
[priority=high] gate: while [ ! -e $T/open ]; do sleep 0.02; done
[priority=background] low1: true
normal1: true
[priority=user-blocking] high1: true
[priority=low] low2: true
[priority=high] high2: true
normal2: true
X
"$ERRAND" run -j 1 "$T/prio.jobs" >"$T/prio.out" 2>&1 &
BGPID=$!
wait_for "$T/prio.out" "start +#1 gate"
touch "$T/open"
wait_exit $BGPID
check "priorities: exit 0" [ $RC -eq 0 ]
order=$(sed -n 's/.* start *#[0-9]* \([a-z0-9]*\) .*/\1/p' "$T/prio.out" | tr '\n' ' ')
check "priorities: start order (got: $order)" \
  [ "$order" = "gate high1 high2 normal1 normal2 low1 low2 " ]

# ---- default priority option and delay ---------------------------------------
cat >"$T/delay.jobs" <<'X'
[delay=300ms] late: true
X
"$ERRAND" run --json "$T/delay.jobs" >"$T/delay.out" 2>/dev/null
check "delay: exit 0" [ $? -eq 0 ]
"$ERRAND" run -p background -n "$T/delay.jobs" >"$T/dry.out"
check "-p sets the default priority" has "$T/dry.out" "priority=background"

# ---- --parallel: at most N commands at once -----------------------------------
cat >"$T/par.jobs" <<X
a: mkdir $T/slot.a; sleep 0.2; ls -d $T/slot.* | wc -l > $T/count.a; rmdir $T/slot.a
b: mkdir $T/slot.b; sleep 0.2; ls -d $T/slot.* | wc -l > $T/count.b; rmdir $T/slot.b
c: mkdir $T/slot.c; sleep 0.2; ls -d $T/slot.* | wc -l > $T/count.c; rmdir $T/slot.c
d: mkdir $T/slot.d; sleep 0.2; ls -d $T/slot.* | wc -l > $T/count.d; rmdir $T/slot.d
X
"$ERRAND" run -j 2 -q "$T/par.jobs" >/dev/null 2>&1
check "-j 2: exit 0" [ $? -eq 0 ]
max=$(cat "$T"/count.* | sort -n | tail -1)
check "-j 2: never more than 2 at once (saw $max)" [ "$max" -le 2 ]

done_testing
