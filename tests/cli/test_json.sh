# --json: stdout carries exactly one JSON object per job (id, name, status,
# the four flags, exit code or signal, result or error text, start and end
# times), events go to stderr, and the exit code rules stay the same.
. "$(dirname "$0")/lib.sh"

cat >"$T/jobs" <<X
ok: echo fine
bad: exit 3
[timeout=200ms] slow: sleep 600
sig: kill -TERM \$\$
[retries=2] flaky: n=\$(cat $T/count 2>/dev/null || echo 0); n=\$((n+1)); echo \$n > $T/count; [ \$n -ge 3 ]
X
"$ERRAND" run -j 5 --json -l "$T/logs" "$T/jobs" >"$T/out" 2>"$T/err"
check "--json: exit 1" [ $? -eq 1 ]
check "--json: 5 lines on stdout" [ "$(wc -l <"$T/out")" -eq 5 ]
check "--json: no table on stdout" hasnt "$T/out" "IsFaulted +IsCanceled"
check "--json: events on stderr" has "$T/err" "finish +#1 ok: RanToCompletion"

if ! command -v python3 >/dev/null 2>&1; then
  echo "skip - python3 not found: JSON contents not checked"
  done_testing
fi

cat >"$T/check.py" <<'PY'
import json, sys, re
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
jobs = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    jobs[o["name"]] = o
def want(name, **kv):
    o = jobs[name]
    for k, v in kv.items():
        if o.get(k) != v:
            print("FAIL - %s.%s = %r, expected %r" % (name, k, o.get(k), v))
            return
    print("ok   - %s: %s" % (name, ", ".join("%s=%r" % x for x in kv.items())))
keys = ["id", "name", "kind", "status", "is_faulted", "is_canceled",
        "is_completed", "is_succeeded", "exit_code", "signal", "result",
        "error", "attempts", "start", "end", "duration_ms", "stdout_log",
        "stderr_log"]
for n, o in jobs.items():
    if list(o.keys()) != keys:
        print("FAIL - %s: keys %s" % (n, list(o.keys())))
    if not (iso.match(o["start"] or "") and iso.match(o["end"] or "")):
        print("FAIL - %s: start/end %r %r" % (n, o["start"], o["end"]))
    if o["start"] > o["end"]:
        print("FAIL - %s: start after end" % n)
want("ok", id=1, kind="command", status="RanToCompletion", is_faulted=False,
     is_canceled=False, is_completed=True, is_succeeded=True, exit_code=0,
     signal=None, result=0, error=None, attempts=1)
want("bad", id=2, status="Faulted", is_faulted=True, is_canceled=False,
     is_completed=True, is_succeeded=False, exit_code=3, result=3,
     error="exit code 3")
want("slow", status="Canceled", is_faulted=False, is_canceled=True,
     is_completed=True, is_succeeded=False, result=None,
     error="run timeout of 200 ms expired", signal="SIGTERM")
want("sig", status="Faulted", exit_code=None, signal="SIGTERM", result=None,
     error="killed by SIGTERM (15)")
want("flaky", status="RanToCompletion", attempts=3, exit_code=0)
if jobs["slow"]["duration_ms"] < 200:
    print("FAIL - slow ran %d ms, less than its timeout" % jobs["slow"]["duration_ms"])
if not jobs["ok"]["stdout_log"].endswith("/01-ok.out"):
    print("FAIL - stdout_log %r" % jobs["ok"]["stdout_log"])
PY
python3 "$T/check.py" "$T/out" >"$T/py.out" 2>&1
cat "$T/py.out"
check "JSON contents" hasnt "$T/py.out" "FAIL|Error|Traceback"
check "flaky: retry lines on stderr" has "$T/err" "retry +#5 flaky: exit code 1 \(attempt 2/3 next\)"
check "flaky: attempts in the log" has "$T/logs/05-flaky.out" "attempt 3 of 3"

# Jobs that never start still get their object (start null) when canceled.
printf '[delay=600s] never: true\nquick: true\n' >"$T/never.jobs"
"$ERRAND" run --json -T 300ms "$T/never.jobs" >"$T/never.out" 2>/dev/null
check "never-started job: exit 1" [ $? -eq 1 ]
python3 - "$T/never.out" >"$T/py2.out" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
never = [o for o in objs if o["name"] == "never"][0]
ok = (never["status"] == "Canceled" and never["start"] is None and
      never["duration_ms"] is None and never["end"] is not None and
      never["error"] == "overall timeout of 300ms expired")
print("ok" if ok else "FAIL %r" % never)
PY
check "never-started job: Canceled, start null" has "$T/py2.out" "^ok$"

done_testing
