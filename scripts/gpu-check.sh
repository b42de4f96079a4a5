#!/usr/bin/env bash
# The whole GPU check in one call, for a machine with an NVIDIA GPU (the
# device tool runs it in the repo root). Prepare on the build machine first:
#
#   scripts/gpu-check.sh --prepare      # example artifacts and the binaries into build/gpu-check/
#
# then, on the GPU machine (carrying build/gpu-check, or a whole build/):
#
#   scripts/gpu-check.sh                # prints a summary; exit 1 if a check failed
#
# It needs only what runs without MLIR: motif-run, the GPU test binaries
# (tests/gpu, built on the build machine with the CUDA toolkit), and PyTorch
# for the oracle comparisons when it is installed. It rebuilds nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
DIR="$BUILD/gpu-check"
MODELS="gpt2 llama mistral mixtral mamba jamba bert t5 vit resnet18"

if [ "${1:-}" = "--prepare" ]; then
  # The binaries the check runs, so that only $DIR travels (the whole build
  # directory is far larger than what the device tool carries).
  mkdir -p "$DIR/bin"
  cp "$BUILD/bin/motif-run" "$DIR/bin/" || exit 1
  for t in motif-gpu-attention-tests motif-gpu-kernel-tests motif-gpu-runtime-tests \
           motif-gpu-fragment-tests; do
    if [ -x "$BUILD/tests/gpu/$t" ]; then cp "$BUILD/tests/gpu/$t" "$DIR/bin/"; fi
  done
  for m in $MODELS; do
    "$BUILD/bin/motif-compile" "examples/$m.motif" --model="${m}_tiny" \
      --target=cpu,sm_80,sm_90a -o "$DIR/$m.mbin" || exit 1
  done
  "$BUILD/bin/motif-compile" examples/gpt2.motif --target=cpu,sm_80,sm_90a -o "$DIR/gpt2_124m.mbin" || exit 1
  echo "artifacts and binaries in $DIR ($(du -sh "$DIR" | cut -f1)); carry it and run"
  echo "scripts/gpu-check.sh on the GPU machine"
  exit 0
fi
# Binaries from --prepare's copy when there is one, else from the build tree.
RUN="$BUILD/bin/motif-run"
[ -x "$DIR/bin/motif-run" ] && RUN="$DIR/bin/motif-run"
TESTS="$BUILD/tests/gpu"
[ -x "$DIR/bin/motif-gpu-kernel-tests" ] && TESTS="$DIR/bin"

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
"$RUN" doctor "$DIR/gpt2.mbin" 2>/dev/null || "$RUN" doctor

echo "== the launch plan of each artifact on this device ($arch, $free MiB free) =="
if [ ! -d "$DIR" ]; then
  report SKIP "launch plans" "no $DIR: run scripts/gpu-check.sh --prepare on the build machine"
else
  for m in $MODELS; do
    if out=$("$RUN" gpu-plan "$DIR/$m.mbin" --arch "$arch" --batch 2 --seq 16 \
             --free-mib "$free" 2>&1); then
      report PASS "gpu-plan $m" "$(echo "$out" | sed -n 2p)"
    else
      report FAIL "gpu-plan $m" "$(echo "$out" | tail -1)"
    fi
  done
  if out=$("$RUN" gpu-plan "$DIR/gpt2_124m.mbin" --arch "$arch" --batch 16 \
           --seq 1024 --free-mib "$free" 2>&1); then
    report PASS "gpu-plan gpt2 124M (16 x 1024)" "$(echo "$out" | sed -n 2p)"
  else
    report FAIL "gpu-plan gpt2 124M (16 x 1024)" "$(echo "$out" | tail -1)"
  fi
fi

echo "== GPU tests (tests/gpu): the kernel library and the CUDA layer against the CPU backend =="
# The test binaries are run directly (not through ctest, whose files hold the
# build machine's absolute paths); nothing is rebuilt here.
GPU_TESTS="motif-gpu-attention-tests motif-gpu-kernel-tests motif-gpu-runtime-tests
           motif-gpu-fragment-tests"
missing=""
for t in $GPU_TESTS; do [ -x "$TESTS/$t" ] || missing="$missing $t"; done
if [ -n "$missing" ]; then
  report SKIP "tests/gpu" "not built:$missing"
  echo "  build them on the build machine (CUDA toolkit, no GPU needed), then carry $BUILD:"
  echo "    cmake -S . -B $BUILD -DMOTIF_ENABLE_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc"
  echo "    cmake --build $BUILD --target$(for t in $GPU_TESTS; do printf ' %s' "$t"; done)"
else
  # cuBLASLt is the toolkit's shared library: find it if the loader does not.
  first="$TESTS/motif-gpu-runtime-tests"
  if ldd "$first" 2>/dev/null | grep -q "not found"; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib \
             "$(python3 -c 'import nvidia.cublas as m; print(m.__path__[0] + "/lib")' 2>/dev/null)"; do
      if [ -n "$d" ] && ls "$d"/libcublasLt.so* >/dev/null 2>&1; then
        export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "  (libcublasLt from $d)"
        break
      fi
    done
  fi
  LOGS=$(mktemp -d)
  for t in $GPU_TESTS; do
    echo "-- $t"
    start=$(date +%s)
    "$TESTS/$t" --gtest_color=no > "$LOGS/$t.log" 2>&1
    rc=$?
    # The numbers each test prints (worst errors against the CPU), then the verdicts.
    grep -E '^\[[^ ]|^  [a-zA-Z].*max \|err\||^  (loss|grad norm|cuBLASLt)|Failure|Expected|Which is|out of tolerance|^CUDA|^NVIDIA|^device|^no ' \
      "$LOGS/$t.log" | grep -vE '^\[ RUN|^\[----|^\[====|^\[  PASSED|^\[  SKIPPED \] [0-9]+ tests' | head -400
    while read -r verdict name; do
      case $verdict in
        OK) report PASS "$name" "" ;;
        FAILED) report FAIL "$name" "see $t above" ;;
        SKIPPED) report SKIP "$name" "" ;;
      esac
    done < <(sed -nE 's/^\[ +(OK|FAILED|SKIPPED) +\] ([^ ]+) \(.*/\1 \2/p' "$LOGS/$t.log")
    if [ $rc -ne 0 ] && ! grep -q '^\[  FAILED  \]' "$LOGS/$t.log"; then
      report FAIL "$t" "exited with status $rc: $(tail -1 "$LOGS/$t.log")"
    fi
    echo "   ($t: $(( $(date +%s) - start )) s, exit status $rc)"
  done
fi

echo "== PyTorch oracle =="
if [ -f scripts/torch_oracle.py ] && python3 -c "import torch" 2>/dev/null; then
  report SKIP "torch oracle" "the GPU backend does not execute plans yet: nothing to compare"
else
  report SKIP "torch oracle" "scripts/torch_oracle.py or torch missing"
fi

echo "== summary: $pass passed, $fail failed, $skip skipped =="
[ "$fail" -eq 0 ]
