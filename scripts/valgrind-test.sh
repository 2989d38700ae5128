#!/usr/bin/env bash
# valgrind-test.sh PROGRAM [ARGS...] — run one test under valgrind memcheck.
# ctest uses it as the launcher of every test in a -DERRAND_VALGRIND=ON build.
# Exit code 99 means valgrind found an error or a definite/indirect leak;
# otherwise the program's own exit code is returned.  Possibly-lost and
# still-reachable blocks are not errors (threads parked at exit hold some).
# scripts/valgrind.supp, when it exists, is used; it explains each entry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
supp=()
if [[ -f "$here/valgrind.supp" ]]; then
  supp=(--suppressions="$here/valgrind.supp")
fi
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect \
  --track-fds=no --num-callers=30 "${supp[@]}" "$@"
