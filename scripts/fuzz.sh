#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang-14, AddressSanitizer + UndefinedBehaviorSanitizer)
# in their own build directory and runs each one for a fixed time, or a fixed number of inputs,
# starting from its seed corpus in the tree. Any crash, sanitizer report, leak, timeout or
# uncaught exception other than dg::Error stops the script with a non-zero status; the input that
# caused it is written to the build directory (crash-*, leak-*, timeout-*, oom-*).
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   scripts/fuzz.sh 600 idx wordnet      # two targets, 10 min each
#   FUZZ_RUNS=1000000 scripts/fuzz.sh    # every target, 10^6 inputs each
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz/), FUZZ_RUNS (a number of inputs instead of a
# time), FUZZ_ARGS (extra libFuzzer flags), DG_JOBS (build parallelism).
set -euo pipefail
DG_SETUP_FUZZ=1
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$DG_ROOT/build-fuzz}
SECONDS_PER_TARGET=${1:-30}
shift $(( $# > 0 ? 1 : 0 ))
TARGETS=("$@")
(( ${#TARGETS[@]} > 0 )) || TARGETS=(safetensors idx cifar glue_tsv wordnet image_folder tokenizer wordpiece)

if [[ ! -f $FUZZ_BUILD_DIR/build.ninja ]]; then
  # -O1 and line tables: fast enough to fuzz, quick to build, readable stack traces. Only the
  # fuzz targets and the libraries they link are built (tests, examples and benchmarks are off).
  cmake -S "$DG_ROOT" -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
    -DDG_FUZZ=ON -DDG_CUDA=OFF -DDG_BUILD_TESTS=OFF -DDG_BUILD_EXAMPLES=OFF -DDG_BUILD_BENCH=OFF \
    ${DG_CMAKE_ARGS:-}
fi
[[ -f $FUZZ_BUILD_DIR/.gitignore ]] || echo '*' > "$FUZZ_BUILD_DIR/.gitignore"
cmake --build "$FUZZ_BUILD_DIR" -j "$DG_JOBS" --target "${TARGETS[@]/#/fuzz_}"

# The targets write each input to a scratch file under the temp dir; keep those in the build
# directory, whatever a killed or crashed run leaves behind.
export TMPDIR=$FUZZ_BUILD_DIR/tmp
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
limit=(-max_total_time="$SECONDS_PER_TARGET")
[[ -n ${FUZZ_RUNS:-} ]] && limit=(-runs="$FUZZ_RUNS")
for target in "${TARGETS[@]}"; do
  seeds=$DG_ROOT/tests/fuzz/corpus/$target
  corpus=$FUZZ_BUILD_DIR/corpus/$target  # new inputs go here, never into the tree
  mkdir -p "$corpus"
  echo "==== fuzz_$target (${limit[*]})"
  # -rss_limit_mb / -malloc_limit_mb: a reader that asks for more than 2 GiB for one input is
  # reported (an 8-byte .gz once made the gzip reader ask for 4 GiB). -timeout: 10 s per input.
  # -print_final_stats: the executions and their rate, as docs/reliability.md reports them.
  (cd "$FUZZ_BUILD_DIR" && "./tests/fuzz/fuzz_$target" "${limit[@]}" -rss_limit_mb=2560 \
    -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1 ${FUZZ_ARGS:-} "$corpus" "$seeds")
done
echo "==== fuzz: every target ran without a finding"
