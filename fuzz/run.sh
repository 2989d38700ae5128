#!/usr/bin/env bash
# fuzz/run.sh — build errand's libFuzzer targets with clang and run each one.
#
#   fuzz/run.sh [--grow] [SECONDS] [TARGET...]
#
#   SECONDS  how long each target runs (default 60)
#   TARGET   e.g. fuzz_frame; default: every fuzz/fuzz_*.c
#   --grow   afterwards, merge inputs that add coverage into the committed
#            corpus fuzz/corpus/<name>/ (without it the repository is never
#            written to: each target runs over a copy of its corpus)
#
# Builds in build-fuzz/ (CC, default clang; BUILD_DIR to change the place).
# Exits non-zero when a target crashes, leaks, times out or runs out of
# memory; the input that did it is saved under
# build-fuzz/fuzz-run/<target>/artifacts/ — reproduce with
#   build-fuzz/fuzz/<target> <that file>
set -euo pipefail
cd "$(dirname "$0")/.."

grow=0
seconds=60
targets=()
for arg in "$@"; do
  case "$arg" in
    --grow) grow=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  for src in fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
  done
fi

build=${BUILD_DIR:-build-fuzz}
export CC=${CC:-clang}
if ! command -v "$CC" >/dev/null; then
  echo "fuzz/run.sh: $CC not found: libFuzzer needs clang (set CC)" >&2
  exit 2
fi

# CC only counts on the first configure of $build; CMake keeps it after.
cmake -S . -B "$build" -DERRAND_BUILD_FUZZ=ON \
  -DERRAND_BUILD_TESTS=OFF -DERRAND_BUILD_EXAMPLES=OFF \
  -DERRAND_BUILD_CLI=OFF -DERRAND_BUILD_BENCH=OFF -DERRAND_INSTALL=OFF \
  -DERRAND_SANITIZE= -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${targets[@]}" -j"${JOBS:-2}"

count() { find "$1" -mindepth 1 -maxdepth 1 -type f | wc -l; }

status=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/$t"
  seeds="fuzz/corpus/${t#fuzz_}"
  run="$build/fuzz-run/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts"
  if [[ -d "$seeds" ]]; then
    cp -R "$seeds/." "$run/corpus/"
  else
    echo "fuzz/run.sh: note: $seeds does not exist: $t starts from nothing"
  fi
  echo "== $t: ${seconds}s over a copy of $seeds ($(count "$run/corpus") inputs)"
  set +e
  # FUZZ_SEED fixes libFuzzer's random seed (CI does, so that a commit's
  # fuzz stage explores the same inputs each time); unset, it is random.
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
    -rss_limit_mb=2048 -artifact_prefix="$run/artifacts/" \
    "$run/corpus" 2>&1 | tee "$run/log"
  rc=${PIPESTATUS[0]}
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -n1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/log" | tail -n1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$run/log" | tail -n1 || true)
  if [[ $rc -ne 0 ]]; then
    status=1
    summary+=("$t: FAILED (exit $rc); inputs: $(find "$run/artifacts" -type f | tr '\n' ' ')")
    continue
  fi
  summary+=("$t: ok, ${execs:-?} runs, ${speed:-?} exec/s, ${cov:-cov ?}")
  if [[ $grow -eq 1 ]]; then
    mkdir -p "$seeds"
    before=$(count "$seeds")
    "$bin" -merge=1 "$seeds" "$run/corpus" >"$run/merge.log" 2>&1
    summary+=("  --grow: $seeds: $before -> $(count "$seeds") inputs")
  fi
done

echo
echo "== fuzz/run.sh summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
exit $status
