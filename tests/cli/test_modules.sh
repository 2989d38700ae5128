# Module jobs: a named handler in a shared object with JSON arguments, run in
# errand's resident worker pool (errand is its own worker), a fresh process
# or a thread; progress through errand's protocol; result JSON in the table.
. "$(dirname "$0")/lib.sh"
: "${ERRAND_DEMO_MODULE:?set ERRAND_DEMO_MODULE to demo_module.so}"
M=$ERRAND_DEMO_MODULE

printf 'one two three\nfour\n' >"$T/a.txt"
printf 'five six\n' >"$T/b.txt"
cat >"$T/m.jobs" <<X
[module=$M#wordcount args=["$T/a.txt", "$T/b.txt"]] words:
[module=$M#sleep args={"ms": 200, "steps": 4} mode=process] proc:
[module=$M#sleep args={"ms": 100, "steps": 2} mode=pool] thread:
[module=$M#fail args={"message": "no luck"} mode=process] bad:
[module=$M#sleep args={"ms": 600000} timeout=300ms mode=process] slow:
[module=$M#nosuch mode=process] missing:
X
"$ERRAND" run -j 2 --tail -l "$T/logs" "$T/m.jobs" >"$T/out" 2>&1
check "modules: exit 1" [ $? -eq 1 ]
expect_row "$T/out" words RanToCompletion false false true true
check "words: result JSON in the table" \
  [ "$(col "$T/out" words 8)" = '{"files":2,"lines":3,"words":6,"bytes":28}' ]
check "words: progress through the protocol" has "$T/out" "progress #1 words 2/2 $T/b.txt"
check "words: started in a worker process" has "$T/out" "start +#1 words \(pid [0-9]+\)"
check "words: its stdout kept in the log" has "$T/logs/01-words.out" "b.txt: 3 lines so far"
check "words: its stdout shown by --tail" has "$T/out" "^words \| .*a.txt: 2 lines so far"
expect_row "$T/out" proc RanToCompletion false false true true
check "proc: progress [4,4]" has "$T/out" "progress #2 proc 4/4"
expect_row "$T/out" thread RanToCompletion false false true true
expect_row "$T/out" bad Faulted true false true false
check "bad: error text is the Result" [ "$(col "$T/out" bad 8)" = "no luck" ]
check "bad: its stderr kept" has "$T/logs/04-bad.err" "about to fail: no luck"
expect_row "$T/out" slow Canceled false true true false
check "slow: timeout reason" has "$T/out" "^5 +slow +Canceled .*run timeout of 300 ms expired"
expect_row "$T/out" missing Faulted true false true false
check "missing: says which handler" has "$T/out" "^6 +missing .*has no handler nosuch"

# A timeout stops a resident worker.
printf '[module=%s#sleep args={"ms": 600000} timeout=300ms] wslow:\n' "$M" >"$T/wslow.jobs"
"$ERRAND" run -q --kill-grace 200ms "$T/wslow.jobs" >"$T/wslow.out" 2>&1
check "worker timeout: exit 1" [ $? -eq 1 ]
check "worker timeout: Canceled with the reason" \
  has "$T/wslow.out" "^1 +wslow +Canceled +false +true +true +false +run timeout of 300 ms expired"

# A resident worker is sent its next RUN right after it answered the
# previous one: it must take it (it once exited with "RUN while busy").
printf '[module=%s#nosuch] m1:\n[module=%s#nosuch] m2:\n[module=%s#nosuch] m3:\n' \
  "$M" "$M" "$M" >"$T/race.jobs"
bug=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  "$ERRAND" run -j 2 -q "$T/race.jobs" >"$T/race.out" 2>&1
  if has "$T/race.out" "worker process exited with code 2"; then bug=$((bug + 1)); fi
done
check "resident workers take back-to-back jobs ($bug/10 runs failed)" [ $bug -eq 0 ]

# Relative module paths are taken from the current directory.
d=$(dirname "$M")
printf '[module=./%s#sleep args={"ms":10}] rel:\n' "$(basename "$M")" >"$T/rel.jobs"
(cd "$d" && "$ERRAND" run -q "$T/rel.jobs") >"$T/rel.out" 2>&1
check "relative module path: exit 0" [ $? -eq 0 ]

done_testing
