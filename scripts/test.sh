#!/usr/bin/env bash
# The README's test command: lit (frontend, dialect, diagnostics), GoogleTest,
# bounded libFuzzer runs of the frontend and the artifact reader, and a bounded
# run of the model fuzzer. GPU tests are skipped with a
# message where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
[ -f "$BUILD/build.ninja" ] || scripts/setup.sh
cmake --build "$BUILD" -j"$(nproc)"
echo "== lit =="
/usr/lib/llvm-22/bin/lit -sv "$BUILD/tests/lit"
echo "== unit tests =="
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)"
# Runs a libFuzzer target for a bounded time; any crash fails the run and its
# report and reproducer (under $BUILD/) are shown.
fuzz() {
  local name=$1 seconds=$2 maxlen=$3; shift 3
  [ -x "$BUILD/bin/$name" ] || return 0
  echo "== fuzzing with $name for ${seconds}s =="
  mkdir -p "$BUILD/corpus-$name"
  if ! "$BUILD/bin/$name" -max_total_time="$seconds" -max_len="$maxlen" -timeout=10 \
      -rss_limit_mb=4096 -artifact_prefix="$BUILD/" "$BUILD/corpus-$name" "$@" \
      > "$BUILD/$name.log" 2>&1; then
    tail -n 60 "$BUILD/$name.log"
    echo "$name found a crash (reproducer in $BUILD/)" >&2
    return 1
  fi
  tail -n 1 "$BUILD/$name.log"
}
fuzz motif-fuzz-frontend "${FUZZ_SECONDS:-60}" 4096 examples tests/lit/diagnostics
fuzz motif-fuzz-artifact "${FUZZ_SECONDS_ARTIFACT:-30}" 65536 tests/fuzz/corpus-artifact
# The model fuzzer (tests/fuzz/fuzz_models.py): random well-typed Motif
# programs compiled and run on the CPU (forward, a train step, fp32 against
# fp64, gradients on a sample); a finding fails the run, its program is kept.
echo "== fuzzing models for ${FUZZ_SECONDS_MODELS:-${FUZZ_SECONDS:-60}}s =="
python3 tests/fuzz/fuzz_models.py --bin "$BUILD/bin" --out "$BUILD/fuzz-models" \
  --seconds "${FUZZ_SECONDS_MODELS:-${FUZZ_SECONDS:-60}}"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  echo "== GPU tests: ran with the unit tests (ctest label gpu); the whole GPU check is scripts/gpu-check.sh =="
else
  echo "== GPU tests: skipped (no GPU on this machine; ctest lists them as skipped) =="
fi
