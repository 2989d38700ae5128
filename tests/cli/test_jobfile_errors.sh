# Job-file errors: each is reported as FILE:LINE: message, the exit code is 2
# and nothing starts (a valid job before the bad line never runs).
. "$(dirname "$0")/lib.sh"

marker=$T/ran
bad() { # bad NAME LINE PATTERN  (the file is $T/NAME.jobs)
  f=$T/$1.jobs
  "$ERRAND" run --no-live "$f" >"$T/$1.out" 2>"$T/$1.err"
  rc=$?
  check "$1: exit code 2 (got $rc)" [ $rc -eq 2 ]
  check "$1: reported at $f:$2" has "$T/$1.err" "^$f:$2: $3"
  check "$1: says nothing was started" has "$T/$1.err" "nothing was started"
  check "$1: nothing ran" [ ! -e "$marker" ]
  check "$1: no table" hasnt "$T/$1.out" "IsFaulted"
}

cat >"$T/unknown_key.jobs" <<X
first: touch $marker
# a comment

[prio=high] second: true
X
bad unknown_key 4 "unknown setting 'prio'"

printf 'touch %s\n[priority=urgent] x: true\n' "$marker" >"$T/bad_priority.jobs"
bad bad_priority 2 "priority 'urgent'"

printf 'touch %s\n[timeout=soon] x: true\n' "$marker" >"$T/bad_duration.jobs"
bad bad_duration 2 "timeout 'soon': not a duration"

printf 'touch %s\n[timeout=2s x: true\n' "$marker" >"$T/unclosed.jobs"
bad unclosed 2 "missing '\\]'"

printf 'touch %s\nlonely:\n' "$marker" >"$T/no_command.jobs"
bad no_command 2 "no command after 'lonely:'"

printf 'a: touch %s\na: true\n' "$marker" >"$T/dup.jobs"
bad dup 2 "name 'a' is already used on line 1"

printf 'touch %s\nx: [timeout=1s] sleep 1\n' "$marker" >"$T/late_settings.jobs"
bad late_settings 2 "settings must come first"

printf 'touch %s\n[retries=-1] x: true\n' "$marker" >"$T/bad_retries.jobs"
bad bad_retries 2 "retries '-1'"

printf 'touch %s\n[mode=worker] x: true\n' "$marker" >"$T/bad_mode.jobs"
bad bad_mode 2 "mode 'worker' is for module jobs"

printf 'touch %s\n[module=./no/such.so#f] x:\n' "$marker" >"$T/no_module.jobs"
bad no_module 2 "module './no/such.so'"

printf 'touch %s\n[args={"a":1] x: true\n' "$marker" >"$T/bad_json.jobs"
bad bad_json 2 "args: not a JSON array or object"

printf 'touch %s\n[args=[1]] x: true\n' "$marker" >"$T/args_no_module.jobs"
bad args_no_module 2 "args=... is for module jobs"

# A continued line is reported at the line where its job starts.
printf 'touch %s\n\n[delay=1x] x: echo \\\n  more\n' "$marker" >"$T/continued.jobs"
bad continued 3 "delay '1x'"

# Several errors: all are reported, each with its line.
printf '[bogus=1] a: true\nb: true\n[priority=x] c: true\n' >"$T/several.jobs"
"$ERRAND" run "$T/several.jobs" >/dev/null 2>"$T/several.err"
check "several: line 1 reported" has "$T/several.err" "several.jobs:1: unknown setting"
check "several: line 3 reported" has "$T/several.err" "several.jobs:3: priority 'x'"
check "several: counted" has "$T/several.err" "2 errors in"

# Standard input is named <stdin>.
printf 'ok: true\n[x=1] y: true\n' | "$ERRAND" run >/dev/null 2>"$T/stdin.err"
check "stdin: exit 2" [ $? -eq 2 ]
check "stdin: <stdin>:2:" has "$T/stdin.err" "^<stdin>:2: unknown setting 'x'"

# An empty file, or one with only comments, has no jobs.
printf '# nothing\n\n' >"$T/empty.jobs"
"$ERRAND" run "$T/empty.jobs" >/dev/null 2>"$T/empty.err"
check "empty: exit 2" [ $? -eq 2 ]
check "empty: says so" has "$T/empty.err" "no jobs"

# A missing file.
"$ERRAND" run "$T/missing.jobs" >/dev/null 2>"$T/missing.err"
check "missing file: exit 2" [ $? -eq 2 ]
check "missing file: says so" has "$T/missing.err" "cannot open"

# What is NOT an error: shell text with colons and the [ test command.
cat >"$T/fine.jobs" <<'X'
echo a:b
date +%H:%M:%S
[ -d / ] && echo root is a folder
url: echo http://example.org/x
[priority=low timeout=2s delay=10ms retries=1 mode=dedicated] all-settings: true
   indented: echo "  spaced  "
X
"$ERRAND" run --dry-run "$T/fine.jobs" >"$T/fine.out" 2>&1
check "fine: dry run exits 0" [ $? -eq 0 ]
check "fine: 'echo a:b' is a command" has "$T/fine.out" "sh -c echo a:b"
check "fine: '[ -d / ]' is a command" has "$T/fine.out" "sh -c \\[ -d / \\]"
check "fine: settings parsed" has "$T/fine.out" "all-settings .*priority=background timeout=2.0s delay=10ms retries=1 mode=dedicated"
check "fine: named job" has "$T/fine.out" "#4 url "

done_testing
