#!/usr/bin/env bash
# The whole GPU check in one call, for a machine with an NVIDIA GPU (the
# device tool runs it in the repo root). Prepare on the build machine first:
#
#   scripts/gpu-check.sh --prepare      # compiles the example artifacts into build/gpu-check/
#
# then, on the GPU machine (carrying build/):
#
#   scripts/gpu-check.sh                # prints a summary; exit 1 if a check failed
#
# It needs only what runs without MLIR: motif-run, the GPU tests if they were
# built, and PyTorch for the oracle comparisons when it is installed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
DIR="$BUILD/gpu-check"
MODELS="gpt2 llama mistral mixtral mamba jamba bert t5 vit resnet18"

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$DIR"
  for m in $MODELS; do
    "$BUILD/bin/motif-compile" "examples/$m.motif" --model="${m}_tiny" \
      --target=cpu,sm_80,sm_90a -o "$DIR/$m.mbin" || exit 1
  done
  "$BUILD/bin/motif-compile" examples/gpt2.motif --target=cpu,sm_80,sm_90a -o "$DIR/gpt2_124m.mbin" || exit 1
  echo "artifacts in $DIR; run scripts/gpu-check.sh on the GPU machine"
  exit 0
fi

pass=0; fail=0; skip=0
report() { # status name detail
  printf '%-6s %-40s %s\n' "$1" "$2" "$3"
  case $1 in PASS) pass=$((pass + 1)) ;; FAIL) fail=$((fail + 1)) ;; *) skip=$((skip + 1)) ;; esac
}

echo "== device =="
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
  echo "no NVIDIA GPU here: nothing to check"
  exit 1
fi
nvidia-smi --query-gpu=name,compute_cap,memory.total,memory.free,driver_version --format=csv
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' ')
free=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -1 | tr -d ' ')
arch="sm_${cap/./}"
[ "$arch" = "sm_90" ] && arch=sm_90a
"$BUILD/bin/motif-run" doctor "$DIR/gpt2.mbin" 2>/dev/null || "$BUILD/bin/motif-run" doctor

echo "== the launch plan of each artifact on this device ($arch, $free MiB free) =="
if [ ! -d "$DIR" ]; then
  report SKIP "launch plans" "no $DIR: run scripts/gpu-check.sh --prepare on the build machine"
else
  for m in $MODELS; do
    if out=$("$BUILD/bin/motif-run" gpu-plan "$DIR/$m.mbin" --arch "$arch" --batch 2 --seq 16 \
             --free-mib "$free" 2>&1); then
      report PASS "gpu-plan $m" "$(echo "$out" | sed -n 2p)"
    else
      report FAIL "gpu-plan $m" "$(echo "$out" | tail -1)"
    fi
  done
  if out=$("$BUILD/bin/motif-run" gpu-plan "$DIR/gpt2_124m.mbin" --arch "$arch" --batch 16 \
           --seq 1024 --free-mib "$free" 2>&1); then
    report PASS "gpu-plan gpt2 124M (16 x 1024)" "$(echo "$out" | sed -n 2p)"
  else
    report FAIL "gpu-plan gpt2 124M (16 x 1024)" "$(echo "$out" | tail -1)"
  fi
fi

echo "== GPU tests (tests/gpu) =="
if ctest --test-dir "$BUILD" -N -L gpu 2>/dev/null | grep -q "Total Tests: [1-9]"; then
  if ctest --test-dir "$BUILD" -L gpu --output-on-failure; then
    report PASS "tests/gpu" "every kernel against the CPU backend"
  else
    report FAIL "tests/gpu" "see above"
  fi
else
  report SKIP "tests/gpu" "not built: the CUDA kernel library and its tests do not exist yet"
fi

echo "== PyTorch oracle =="
if [ -f scripts/torch_oracle.py ] && python3 -c "import torch" 2>/dev/null; then
  report SKIP "torch oracle" "the GPU backend does not execute plans yet: nothing to compare"
else
  report SKIP "torch oracle" "scripts/torch_oracle.py or torch missing"
fi

echo "== summary: $pass passed, $fail failed, $skip skipped =="
[ "$fail" -eq 0 ]
