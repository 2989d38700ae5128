# The README's first command: errand run examples/cli/demo.jobs does real
# work and shows priorities, a timeout, a failing job and progress.
. "$(dirname "$0")/lib.sh"
cd "$SRC" || exit 1

"$ERRAND" run examples/cli/demo.jobs >"$T/out" 2>&1
check "demo: exit 1 (one job fails, one times out)" [ $? -eq 1 ]
for n in primes checksums compress count-lines words report; do
  expect_row "$T/out" $n RanToCompletion false false true true
done
expect_row "$T/out" too-slow Canceled false true true false
check "demo: too-slow hit its timeout" has "$T/out" "^6 +too-slow .*run timeout of 1500 ms expired"
expect_row "$T/out" broken Faulted true false true false
check "demo: broken exits 3" [ "$(col "$T/out" broken 8)" = 3 ]
check "demo: primes reports progress" has "$T/out" "progress #1 primes 10/10"
check "demo: checksums reports progress" has "$T/out" "progress #2 checksums [0-9]+/[0-9]+ "
check "demo: a job's output is in its log" true
logs=$(sed -n 's/.*logs in \(.*\)\/$/\1/p' "$T/out")
check "demo: primes counted 78498 primes" has "$logs/01-primes.out" "^78498 primes below 1000000$"
check "demo: broken's stderr kept" has "$logs/07-broken.err" "config.ini"

done_testing
