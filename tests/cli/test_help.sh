# errand --help, errand help TOPIC, the man page, and usage errors (exit 2).
. "$(dirname "$0")/lib.sh"

"$ERRAND" --help >"$T/help" 2>&1
check "--help: exit 0" [ $? -eq 0 ]
for o in --parallel --timeout --total-timeout --priority --retries --first \
  --fail-fast --json --log-dir --tail --no-live --quiet --kill-grace --dry-run \
  ERRAND_PROGRESS_FD "progress N/M" RanToCompletion WaitingForChildrenToComplete \
  IsSucceeded "130" "module=PATH#HANDLER" "args=JSON" "retries=N"; do
  check "--help mentions $o" grep -qF -- "$o" "$T/help"
done
for topic in run format progress exit; do
  "$ERRAND" help $topic >"$T/help.$topic" 2>&1
  check "help $topic: exit 0 and text" [ $? -eq 0 -a -s "$T/help.$topic" ]
done
check "help format shows the line syntax" has "$T/help.format" "\[key=value \.\.\.\] name: command"
"$ERRAND" run --help >"$T/runhelp"
check "run --help" has "$T/runhelp" "--total-timeout"
"$ERRAND" --version | grep -Eq '^errand [0-9]+\.[0-9]+\.[0-9]+$'
check "--version" [ $? -eq 0 ]

usage() { # usage DESCRIPTION ARGS...
  d=$1
  shift
  "$ERRAND" "$@" >"$T/u.out" 2>"$T/u.err" </dev/null
  rc=$?
  check "usage error ($d): exit 2 (got $rc)" [ $rc -eq 2 ]
  check "usage error ($d): message on stderr" [ -s "$T/u.err" ]
}
usage "no command"
usage "unknown command" frobnicate
usage "unknown option" run --bogus
usage "bad -j" run -j 0
usage "bad -t" run -t soon
usage "bad -p" run -p urgent
usage "missing value" run -T
usage "two files" run a.jobs b.jobs
usage "--first with --fail-fast" run --first --fail-fast
usage "help topic" help nothing

MAN=$SRC/docs/errand.1
check "man page exists" [ -s "$MAN" ]
check "man page: .TH errand 1" has "$MAN" '^\.TH ERRAND 1'
sed 's/\\-/-/g' "$MAN" >"$T/man.src" # roff's \- is a plain '-'
for o in --parallel --total-timeout --first --fail-fast --json --log-dir \
  --tail --kill-grace --retries ERRAND_PROGRESS_FD RanToCompletion \
  WaitingForChildrenToComplete 'progress $i/4' 130; do
  check "man page mentions $o" grep -qF -- "$o" "$T/man.src"
done
if command -v man >/dev/null 2>&1; then
  MANWIDTH=80 man -l "$MAN" >"$T/man.txt" 2>/dev/null &&
    check "man -l renders it" has "$T/man.txt" "errand run"
fi

done_testing
