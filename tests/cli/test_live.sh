# The live view, driven through a pseudo-terminal (tmux): one line per
# running job with its elapsed time and progress bar, the totals, finished
# jobs above, and the table at the end; Ctrl-C typed in the terminal.  Also
# `script` (util-linux) as a second pty: --no-live gives plain lines there.
. "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
  echo "skip - tmux not found"
  done_testing
fi
SOCK=$T/tmux.sock
tm() { tmux -S "$SOCK" "$@"; }
trap 'tm kill-server 2>/dev/null; cleanup' EXIT

# screen SESSION FILE: the pane (with its scrollback) into FILE
screen() { tm capture-pane -p -S - -t "$1" >"$2"; }
# wait_screen SESSION PATTERN: until the pane shows the pattern
wait_screen() {
  i=0
  while :; do
    screen "$1" "$T/screen.$1"
    grep -Eq -- "$2" "$T/screen.$1" && return 0
    i=$((i + 1))
    if [ $i -gt $((WAIT_LIMIT * 10)) ]; then
      fail "gave up waiting for '$2' on the screen of $1"
      cat "$T/screen.$1"
      return 1
    fi
    sleep 0.1
  done
}

cat >"$T/live.jobs" <<X
worker: for i in 1 2 3 4 5; do echo "progress \$i/10 half way" >&\$ERRAND_PROGRESS_FD; done; \
  while [ ! -e $T/go ]; do sleep 0.05; done; echo "progress 10/10" >&\$ERRAND_PROGRESS_FD
waiter: while [ ! -e $T/go ]; do sleep 0.05; done
done-early: true
X
tm new-session -d -s live -x 120 -y 30 \
  "$ERRAND run -j 3 $T/live.jobs; echo EXIT=\$?; exec sleep 600"
wait_screen live "running +#1 worker .*\[##########\.\.\.\.\.\.\.\.\.\.\] 5/10  half way"
S=$T/screen.live
check "live: progress bar line" has "$S" "running +#1 worker +[0-9.]+(ms|s) +\[##########\.{10}\] 5/10  half way"
# The rest of the state it settles in (both jobs wait for $T/go), each
# waited for: under load the three jobs may start in any order.
wait_screen live "running +#2 waiter +[0-9.]+(ms|s) *$"
check "live: line for the job without progress" has "$S" "running +#2 waiter +[0-9.]+(ms|s) *$"
wait_screen live "ok +#3 done-early"
check "live: finished job above the block" has "$S" "ok +#3 done-early .*exit code 0"
wait_screen live "2 running, 0 waiting, 1/3 done"
check "live: totals line" has "$S" "2 running, 0 waiting, 1/3 done \(1 ok, 0 failed, 0 canceled\)"
touch "$T/go"
wait_screen live "^EXIT="
check "live: exit 0" has "$S" "^EXIT=0$"
check "live: table at the end" has "$S" "^1 +worker +RanToCompletion +false +false +true +true +0"
check "live: the block is gone at the end" hasnt "$S" "running +#"
check "live: no totals line left" hasnt "$S" "[0-9]+ running, .* done \\("
check "live: all three finish lines" [ "$(grep -Ec '^ ok +#' "$S")" -eq 3 ]

# ---- Ctrl-C typed in the terminal ---------------------------------------------
cat >"$T/cc.jobs" <<X
a: echo \$\$ > $T/cc.pid; sleep 600 & echo \$! > $T/cc.child; wait
[delay=600s] later: true
X
tm new-session -d -s cc -x 120 -y 30 \
  "$ERRAND run --kill-grace 300ms $T/cc.jobs; echo EXIT=\$?; exec sleep 600"
wait_screen cc "running +#1 a "
while [ ! -s "$T/cc.child" ]; do sleep 0.02; done
tm send-keys -t cc C-c
wait_screen cc "^EXIT="
S=$T/screen.cc
check "Ctrl-C in a terminal: exit 130" has "$S" "^EXIT=130$"
check "Ctrl-C in a terminal: table" has "$S" "^1 +a +Canceled +false +true +true +false +interrupted by SIGINT"
check "Ctrl-C in a terminal: later canceled" has "$S" "^2 +later +Canceled"
check "Ctrl-C in a terminal: job's group gone" group_gone "$(cat "$T/cc.pid")"
check "Ctrl-C in a terminal: background child gone" pid_gone "$(cat "$T/cc.child")"

# ---- script(1): live escapes on a pty, plain lines with --no-live ------------
if command -v script >/dev/null 2>&1; then
  printf 'p: for i in 1 2 3; do echo "progress $i/3" >&$ERRAND_PROGRESS_FD; sleep 0.2; done\n' >"$T/s.jobs"
  script -qfec "$ERRAND run $T/s.jobs" /dev/null >"$T/script.live" 2>&1
  check "script: exit 0 on a pty" [ $? -eq 0 ]
  check "script: the live view redraws (cursor up)" has "$T/script.live" "$(printf '\033')\[[0-9]+A"
  check "script: no plain event lines in live mode" hasnt "$T/script.live" "\] start +#1"
  script -qfec "$ERRAND run --no-live $T/s.jobs" /dev/null >"$T/script.plain" 2>&1
  check "script --no-live: plain start line" has "$T/script.plain" "\] start +#1 p"
  check "script --no-live: plain progress line" has "$T/script.plain" "\] progress #1 p 3/3"
  check "script --no-live: no cursor movement" hasnt "$T/script.plain" "$(printf '\033')\[[0-9]+A"
fi

done_testing
