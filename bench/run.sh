#!/usr/bin/env bash
# bench/run.sh — THE one command: installs the peers if needed (setup.sh),
# builds errand and the bench with -O2 (Release) in build-bench/, runs the
# workloads on errand and every peer in one run, prints the tables and writes
# them to bench/results/latest.md (or --out FILE; a run of some workloads
# only writes bench/results/latest-<ids>.md, e.g. latest-w5.md).
#
#   bench/run.sh                     all workloads, 5 runs each (~11 min on 2 cores)
#   bench/run.sh w3                  one workload (w1 w2 w3 w4 w5 mem)
#   bench/run.sh --runs 9 w1 w2      more runs, two workloads
#   bench/run.sh --smoke             CI: every workload once at a tiny size,
#                                    exits non-zero if anything breaks
# Options: --runs N, --out FILE, --smoke, --no-setup, --peers-only (build
# bench/ alone, without errand: for work on the peers while src/ does not
# build), --build-dir DIR, --timeout S (per measurement).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build-bench"
runs="" out="" smoke=0 setup=1 peers_only=0 timeout=""
work=()
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --smoke) smoke=1 ;;
    --no-setup) setup=0 ;;
    --peers-only) peers_only=1 ;;
    --build-dir) build=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) work+=("$1") ;;
  esac
  shift
done

if [[ $setup == 1 ]]; then
  "$here/setup.sh" >&2
fi

jobs=$(nproc 2>/dev/null || echo 2)
flags=(-DCMAKE_BUILD_TYPE=Release
       "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG"
       "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG")
if [[ $peers_only == 1 ]]; then
  src="$here" build="$build/peers-only"
else
  src="$root"
  flags+=(-DERRAND_BUILD_BENCH=ON -DERRAND_BUILD_TESTS=OFF
          -DERRAND_BUILD_EXAMPLES=OFF -DERRAND_BUILD_CLI=OFF
          -DERRAND_INSTALL=OFF -DERRAND_SHARED=ON -DERRAND_WERROR=OFF)
fi
echo "run.sh: building in $build" >&2
mkdir -p "$build"
cmake -S "$src" -B "$build" "${flags[@]}" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; echo "run.sh: configure failed" >&2; exit 1; }
grep -E "^-- bench:|^CMake Warning|^CMake Error" "$build/configure.log" >&2 || true
cmake --build "$build" -j"$jobs" --target errand-bench >&2

bin="$build/errand-bench"
[[ -x $bin ]] || bin="$build/bench/errand-bench"

args=()
if [[ $smoke == 1 ]]; then
  args+=(--smoke)
  out=${out:-$build/smoke.md}
  # Not a workload, but it must still run (see roundtrip.c).
  roundtrip="$(dirname "$bin")/errand-roundtrip"
  if [[ -x $roundtrip ]]; then
    "$roundtrip" 1 20 >&2 || { echo "run.sh: errand-roundtrip failed" >&2; exit 1; }
  fi
else
  if ((${#work[@]})) && [[ " ${work[*],,} " != *" all "* ]]; then
    # Some workloads only: not the full run latest.md holds.
    ids=$(IFS=-; echo "${work[*]}" | tr '[:upper:]' '[:lower:]')
    out=${out:-$here/results/latest-$ids.md}
  else
    out=${out:-$here/results/latest.md}
  fi
  [[ -n $runs ]] && args+=(--runs "$runs")
fi
[[ -n $timeout ]] && args+=(--timeout "$timeout")
mkdir -p "$(dirname "$out")"
export BENCH_NODE_DIR="$here/node"
exec "$bin" "${args[@]}" --out "$out" "${work[@]}"
