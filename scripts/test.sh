#!/usr/bin/env bash
# The README's test command: lit (frontend, dialect, diagnostics), GoogleTest,
# and a bounded libFuzzer run of the frontend. GPU tests are skipped with a
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
if [ -x "$BUILD/bin/motif-fuzz-frontend" ]; then
  echo "== fuzzing the frontend for ${FUZZ_SECONDS:-60}s =="
  mkdir -p "$BUILD/fuzz-corpus"
  "$BUILD/bin/motif-fuzz-frontend" -max_total_time="${FUZZ_SECONDS:-60}" \
    -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
    "$BUILD/fuzz-corpus" examples tests/lit/diagnostics 2>&1 | tail -n 5
fi
if [ -x "$BUILD/bin/motif-fuzz-artifact" ]; then
  echo "== fuzzing the artifact reader for ${FUZZ_SECONDS_ARTIFACT:-30}s =="
  mkdir -p "$BUILD/fuzz-corpus-artifact"
  "$BUILD/bin/motif-fuzz-artifact" -max_total_time="${FUZZ_SECONDS_ARTIFACT:-30}" \
    -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    "$BUILD/fuzz-corpus-artifact" 2>&1 | tail -n 3
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  echo "== GPU tests: none yet (the GPU backend is a later issue) =="
else
  echo "== GPU tests: skipped (no GPU on this machine) =="
fi
