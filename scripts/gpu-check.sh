#!/usr/bin/env bash
# The GPU check kit: everything a GPU machine should check, in one call of at
# most about 7 minutes, from binaries and artifacts prepared on the build
# machine (docs/gpu.md, "Running the GPU check").
#
#   scripts/gpu-check.sh --prepare         # build machine: build/gpu-check (carried, about 21 MiB)
#   scripts/gpu-check.sh                   # GPU machine, repo root: the check, exit 1 on a failure
#   scripts/gpu-check.sh --sim [--prepare] # the same steps under the SIMT simulator at tiny
#                                          # sizes (build/gpu-check-sim; ctest gpu-check.sim)
#
# Steps: the device and the driver; libcublasLt found; the fragment probe
# (ldmatrix, ldmatrix.trans and mma registers of every lane against the
# simulator's); every test of the GPU test binaries in its own process with a
# timeout, failing ones rerun with CUDA_LAUNCH_BLOCKING=1; the backend tests
# (tests/unit/cudabackend) with MOTIF_TEST_DEVICE=cuda; the artifacts' generated
# kernels loaded through the driver and one launched; compute-sanitizer
# memcheck and racecheck on one attention and one norm case; the benchmarks
# against PyTorch eager and torch.compile (benchmarks/run_all.sh); a summary.
# A failing comparison saves its tensors (tests/gpu/GpuTest.h). Everything is
# tee'd to $OUT (default $DIR/out): gpu-check.log, summary.txt,
# fragment-probe.txt and gpu-check-files.tar.gz (every test's log, the
# failing tensors, the sanitizer logs, the benchmark JSON).
#
# Environment: BUILD_DIR (build), GPU_CHECK_DIR (build/gpu-check[-sim]),
# GPU_CHECK_DEVICE (cuda or sim; --sim sets sim), GPU_CHECK_BUDGET (seconds
# for the whole run: 420, sim 200), GPU_CHECK_FILTER (an extended regex on the
# test names to run), TEST_TIMEOUT (seconds per test: 120), PYTHON (python3).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD_DIR:-build}
MODE=${GPU_CHECK_DEVICE:-cuda}
PREPARE=0
for arg in "$@"; do
  case $arg in
    --prepare) PREPARE=1 ;;
    --sim) MODE=sim ;;
    --cuda) MODE=cuda ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$arg' (--prepare, --sim, --cuda)" >&2; exit 2 ;;
  esac
done
case $MODE in
  cuda) DIR=${GPU_CHECK_DIR:-$BUILD/gpu-check} ;;
  sim) DIR=${GPU_CHECK_DIR:-$BUILD/gpu-check-sim} ;;
  *) echo "gpu-check: GPU_CHECK_DEVICE must be cuda or sim, not '$MODE'" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}

if [ "$MODE" = cuda ]; then
  TEST_BINS="motif-gpu-fragment-tests motif-gpu-attention-tests motif-gpu-kernel-tests motif-gpu-runtime-tests motif-gpu-families-tests motif-gpu-scan-tests"
  BENCH_BIN=motif-gpu-attention-bench
  TEST_DIR=$BUILD/tests/gpu
  # The examples at tiny sizes (launch plans, generated kernels loaded on the
  # device) and the benchmark models, with cubins for both GPU families.
  MODELS="gpt2 llama mistral mixtral mamba jamba bert t5 vit resnet18"
  TARGETS=cpu,sm_80,sm_90a
else
  TEST_BINS="motif-sim-gpu-kit-tests motif-sim-gpu-kernel-tests motif-sim-gpu-runtime-tests motif-sim-gpu-attention-tests"
  BENCH_BIN=motif-sim-gpu-attention-bench
  TEST_DIR=$BUILD/tests/gpu
  MODELS="gpt2 llama"
  TARGETS=cpu,sm_80
fi
# Mamba-2's SSD kernels (tests/gpu/SsdKernelTest.cu) on the GPU (ctest runs
# them under the simulator).
if [ "$MODE" = cuda ]; then
  TEST_BINS="$TEST_BINS motif-gpu-ssd-tests"
fi
# Grouped experts (tests/gpu/MoeTest.cu, MoeBench.cu): the kernel tests on the
# GPU (ctest runs them under the simulator) and the layer bench on both.
if [ "$MODE" = cuda ]; then
  TEST_BINS="$TEST_BINS motif-gpu-moe-tests"
  MOE_BENCH_BIN=motif-gpu-moe-bench
else
  MOE_BENCH_BIN=motif-sim-gpu-moe-bench
fi
# The decode path (tests/gpu/DecodeKernelTest.cu: split-K attention over the
# KV cache, the state kernels) on the GPU (ctest runs it under the
# simulator); check-decode --device on the decoder families' tiny artifacts
# and the batch-1 decode benchmark (benchmarks/decode_bench.py) below.
if [ "$MODE" = cuda ]; then
  TEST_BINS="$TEST_BINS motif-gpu-decode-tests"
  DECODE_MODELS="gpt2 llama mistral mamba"
else
  DECODE_MODELS="gpt2 llama"
fi
# Mamba-2's SSD kernels' bench (tests/gpu/SsdBench.cu: the tensor-core path
# beside the FMA path; benchmarks/ssd_bench.py adds PyTorch's ssd_minimal).
if [ "$MODE" = cuda ]; then
  SSD_BENCH_BIN=motif-gpu-ssd-bench
else
  SSD_BENCH_BIN=motif-sim-gpu-ssd-bench
fi
BACKEND_BINS="motif-cudabackend-tests motif-cudabackend-module-tests"
# The train_step comparisons (GPT-2, Llama, Mistral) on the GPU only: CI runs
# them under the simulator through ctest already.
[ "$MODE" = cuda ] && BACKEND_BINS="$BACKEND_BINS motif-cudabackend-train-tests"
# The device engine (CUDA graphs against none, bit for bit, and what a capture
# refuses; on the GPU every test of it) and the encoder, vision and
# encoder-decoder families (on the GPU only: CI runs them under the simulator).
BACKEND_BINS="$BACKEND_BINS motif-device-engine-tests"
[ "$MODE" = cuda ] && BACKEND_BINS="$BACKEND_BINS motif-cudabackend-families-tests"
# (Under the simulator FILTER below keeps Llama's graph test and the capture
# test of the device engine: the rest take minutes there and run in ctest.)
BACKEND_DIR=$BUILD/tests/unit/cudabackend

#===------------------------------------------------------------------------===#
# --prepare: binaries, the backend tests' inputs and the artifacts into $DIR
#===------------------------------------------------------------------------===#
if [ "$PREPARE" = 1 ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR/bin" "$DIR/inputs" "$DIR/artifacts" || exit 1
  missing=""
  copy() { # file: copied, symbols stripped (the dynamic ones stay)
    if [ -x "$1" ]; then
      cp "$1" "$DIR/bin/" && strip --strip-unneeded "$DIR/bin/$(basename "$1")" 2>/dev/null
      return 0
    fi
    missing="$missing $(basename "$1")"
  }
  copy "$BUILD/bin/motif-run"
  # The shared libraries of the fast CPU backend (oneDNN and the libgomp it
  # runs on), which the GPU machine may lack: into bin/lib, on
  # LD_LIBRARY_PATH where the kit is unpacked.
  mkdir -p "$DIR/bin/lib"
  for lib in $(ldd "$BUILD/bin/motif-run" 2>/dev/null | awk '$1 ~ /^lib(dnnl|gomp)\./ {print $3}'); do
    cp -L "$lib" "$DIR/bin/lib/" || exit 1
  done
  for t in $TEST_BINS $BENCH_BIN; do copy "$TEST_DIR/$t"; done
  copy "$TEST_DIR/$MOE_BENCH_BIN"
  copy "$TEST_DIR/$SSD_BENCH_BIN"
  for t in $BACKEND_BINS; do copy "$BACKEND_DIR/$t"; done
  cp "$BACKEND_DIR"/*.mbin "$DIR/inputs/" 2>/dev/null || missing="$missing $BACKEND_DIR/*.mbin"
  cp tests/lit/train/Inputs/genesis.txt "$DIR/inputs/" || missing="$missing genesis.txt"
  if [ -n "$missing" ]; then
    echo "gpu-check --prepare: not built:$missing"
    echo "  build them first: cmake --build $BUILD (with the CUDA toolkit for the GPU binaries:"
    echo "  scripts/setup.sh configures -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc when it is there)"
    exit 1
  fi
  for m in $MODELS; do
    "$BUILD/bin/motif-compile" "examples/$m.motif" --model="${m}_tiny" --target=$TARGETS \
      -o "$DIR/artifacts/$m.mbin" || exit 1
  done
  if [ "$MODE" = cuda ]; then
    mkdir -p "$DIR/bench"
    "$BUILD/bin/motif-compile" examples/gpt2.motif --target=$TARGETS -o "$DIR/bench/gpt2.mbin" || exit 1
    "$BUILD/bin/motif-compile" examples/llama.motif --model=llama_bench --target=$TARGETS \
      -o "$DIR/bench/llama.mbin" || exit 1
    # The decode benchmark's TinyLlama-1.1B-shaped model (a 2048-position cache).
    "$BUILD/bin/motif-compile" examples/llama.motif --model=tinyllama_bench --context 2048 \
      --target=$TARGETS -o "$DIR/bench/tinyllama.mbin" || exit 1
  fi
  # The binaries travel compressed (their cubins shrink to a quarter). For the
  # GPU, xz -9: its 64 MiB window also finds the code every binary shares (the
  # runtime and its static OpenBLAS), 45 MiB a binary, so the kit stays far
  # below the 64 MiB the device tool carries (77 MiB with gzip, 13 with xz);
  # the simulator's kit, which does not travel, keeps the quicker gzip.
  rm -f "$DIR/bin.tar.gz" "$DIR/bin.tar.xz"
  if [ "$MODE" = cuda ]; then
    tar -C "$DIR" -cf - bin | xz -9 -T1 > "$DIR/bin.tar.xz" && rm -rf "$DIR/bin" || exit 1
  else
    tar -C "$DIR" -czf "$DIR/bin.tar.gz" bin && rm -rf "$DIR/bin" || exit 1
  fi
  mib=$(du -sm "$DIR" | cut -f1)
  echo "gpu-check --prepare: $DIR holds $(du -sh "$DIR" | cut -f1) ($mib MiB; the device tool carries 64 MiB)"
  du -sh "$DIR"/* | sed 's/^/  /'
  if [ "$mib" -gt 60 ]; then
    echo "gpu-check --prepare: $DIR is over 60 MiB: it would not travel with the repository"
    exit 1
  fi
  if [ "$MODE" = cuda ]; then
    echo "run on the GPU machine, carrying $DIR: scripts/gpu-check.sh"
  else
    echo "run: scripts/gpu-check.sh --sim"
  fi
  exit 0
fi

#===------------------------------------------------------------------------===#
# The check
#===------------------------------------------------------------------------===#
OUT=${OUT:-$DIR/out}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
DIR_ABS=$(cd "$DIR" 2>/dev/null && pwd) || DIR_ABS=$PWD/$DIR
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
START=$(date +%s)
if [ "$MODE" = cuda ]; then BUDGET=${GPU_CHECK_BUDGET:-420}; else BUDGET=${GPU_CHECK_BUDGET:-200}; fi
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
FILTER=${GPU_CHECK_FILTER:-}
if [ -z "$FILTER" ] && [ "$MODE" = sim ]; then
  # Under the simulator the kit checks itself, not the kernels (ctest -L sim
  # runs all of those): a few cases per binary, the failure record's check,
  # the backend tests and the module test whole.
  FILTER='^(GpuCompare\.|GpuNorm\.F32|GpuCrossEntropy\.NoCounted|GpuGemm\.CachesOnePlan|GpuGemm\.ErrorsName|GpuAttentionArgs\.|FragmentLayout\.Accumulator|CudaBackendSim\.(Gpt2Forward|Uncovered)|ArtifactModules\.|DeviceEngineSim\.(LlamaGraphs|Capture))'
fi

pass=0 fail=0 skip=0
SUMMARY=$WORK/summary.txt
: > "$SUMMARY"
report() { # STATUS NAME DETAIL
  printf '%-5s %-52s %s\n' "$1" "$2" "${3:-}" | tee -a "$SUMMARY"
  case $1 in PASS) pass=$((pass + 1)) ;; FAIL) fail=$((fail + 1)) ;; *) skip=$((skip + 1)) ;; esac
}
left() { echo $((BUDGET - ($(date +%s) - START))); }
# capped SECONDS: SECONDS, or less when the budget has less left (at least 5).
capped() {
  local l
  l=$(left)
  [ "$l" -lt "$1" ] && { [ "$l" -gt 5 ] && echo "$l" || echo 5; } || echo "$1"
}
# The prepared binaries (unpacked into $WORK/bin), else the build tree's.
BIN_DIR=""
if [ -f "$DIR/bin.tar.xz" ]; then
  # xz, or Python's lzma where the machine has no xz.
  if tar -C "$WORK" -xJf "$DIR/bin.tar.xz" 2>/dev/null ||
     python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
       "$DIR/bin.tar.xz" "$WORK"; then
    BIN_DIR=$WORK/bin
  fi
elif [ -f "$DIR/bin.tar.gz" ] && tar -C "$WORK" -xzf "$DIR/bin.tar.gz"; then
  BIN_DIR=$WORK/bin
fi
[ -n "$BIN_DIR" ] && export LD_LIBRARY_PATH="$BIN_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin() {
  if [ -n "$BIN_DIR" ] && [ -x "$BIN_DIR/$1" ]; then echo "$BIN_DIR/$1"
  elif [ -x "$TEST_DIR/$1" ]; then echo "$TEST_DIR/$1"
  elif [ -x "$BACKEND_DIR/$1" ]; then echo "$BACKEND_DIR/$1"
  elif [ -x "$BUILD/bin/$1" ]; then echo "$BUILD/bin/$1"
  fi
}

finish() {
  rm -rf "$WORK/bin"
  cp "$SUMMARY" "$OUT/summary.txt" 2>/dev/null
  for f in fragment-probe.txt fragment-probe.txt.report; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"
  done
  tar -C "$WORK" -czf "$OUT/gpu-check-files.tar.gz" . 2>/dev/null
  rm -rf "$WORK"
}

# run_one BIN NAME LOG [ENV=VALUE...]: one test in its own process; sets
# VERDICT (PASS, FAIL, SKIP) and WHY.
run_one() {
  local b=$1 name=$2 log=$3 rc
  shift 3
  env "$@" timeout -k 5 "$(capped "$TEST_TIMEOUT")" "$b" --gtest_filter="$name" --gtest_color=no \
    > "$log" 2>&1
  rc=$?
  WHY=""
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    VERDICT=FAIL WHY="timed out"
  elif [ $rc -ne 0 ]; then
    VERDICT=FAIL
    # The comparison's sentence, else the line after gtest's "Failure", else an error.
    WHY=$(grep -m1 'out of tolerance' "$log")
    [ -z "$WHY" ] && WHY=$(grep -m1 -A1 ': Failure$' "$log" | tail -1)
    [ -z "$WHY" ] && WHY=$(grep -m1 -E 'error:|what\(\)|Aborted|Segmentation' "$log")
    [ -z "$WHY" ] && WHY="exit status $rc: $(tail -1 "$log")"
    WHY=$(echo "$WHY" | cut -c1-200)
  elif grep -q '^\[  SKIPPED \]' "$log"; then
    VERDICT=SKIP WHY=$(grep -m1 -A1 ': Skipped$' "$log" | tail -1 | cut -c1-120)
  elif grep -q '^\[  PASSED  \] 1 test' "$log"; then
    VERDICT=PASS
  else
    VERDICT=FAIL WHY="no test ran (the filter matched nothing?)"
  fi
}

# run_binary BIN [ENV=VALUE...]: every test of BIN (matching FILTER), each in
# its own process; a failing one is run again with CUDA_LAUNCH_BLOCKING=1.
run_binary() {
  local name=$1 b
  shift
  b=$(bin "$name")
  if [ -z "$b" ]; then
    report FAIL "$name" "not built (scripts/gpu-check.sh --prepare on the build machine)"
    return
  fi
  mkdir -p "$WORK/tests/$name"
  local tests t suite="" line
  tests=$(env "$@" "$b" --gtest_list_tests 2>"$WORK/tests/$name/list.err" |
    while IFS= read -r line; do
      line=${line%%#*}
      line=${line%"${line##*[! ]}"}
      case $line in
        "  "*) echo "$suite${line#  }" ;;
        "") ;;
        *) suite=$line ;;
      esac
    done)
  if [ -z "$tests" ]; then
    report FAIL "$name" "lists no tests: $(head -c 200 "$WORK/tests/$name/list.err")"
    return
  fi
  [ -n "$FILTER" ] && tests=$(echo "$tests" | grep -E "$FILTER")
  [ -z "$tests" ] && { report SKIP "$name" "no test matches GPU_CHECK_FILTER"; return; }
  echo "-- $name ($(echo "$tests" | wc -l) tests)"
  local t0 log
  for t in $tests; do
    if [ "$(left)" -lt 10 ]; then
      report SKIP "$t" "out of the time budget (${BUDGET} s)"
      continue
    fi
    t0=$(date +%s)
    log="$WORK/tests/$name/$(echo "$t" | tr '/' '_').log"
    run_one "$b" "$t" "$log" "$@"
    # The numbers each test prints for the record (worst errors, losses, devices).
    grep -E 'max \|err\||^\[device|^\[test device|loss|launched|module loaded|cuBLASLt|GiB' "$log" |
      grep -vE '^\[ +(RUN|OK)' | head -40 | sed 's/^/   /'
    if [ "$VERDICT" = FAIL ]; then
      local first=$WHY
      run_one "$b" "$t" "${log%.log}.blocking.log" "$@" CUDA_LAUNCH_BLOCKING=1
      if [ "$VERDICT" = PASS ]; then
        WHY="$first (passed again with CUDA_LAUNCH_BLOCKING=1: a race or an async error?)"
      else
        WHY="$first (again with CUDA_LAUNCH_BLOCKING=1: ${WHY:-$VERDICT})"
      fi
      VERDICT=FAIL
      grep -E 'out of tolerance|Failure|worst at|tensors saved' "$log" | head -12 | sed 's/^/   /'
    fi
    # The backend tests say which device ran them: asked for cuda, the
    # simulator is a failure.
    if [ "$VERDICT" = PASS ] && [ "$MODE" = cuda ] && [[ $name == motif-cudabackend* ]] &&
      ! grep -q '^\[test device: cuda\]' "$log"; then
      VERDICT=FAIL WHY="ran on the simulator, not the GPU: $(grep -m1 '^\[test device' "$log")"
    fi
    report "$VERDICT" "$t" "$WHY ($(($(date +%s) - t0)) s)"
  done
}

check() {
  echo "gpu-check on $(hostname) in $MODE mode, $(date -u '+%Y-%m-%d %H:%M UTC'); budget ${BUDGET} s"
  echo "prepared folder: $DIR_ABS; binaries: ${BIN_DIR:-the build tree ($BUILD)}; output: $OUT"

  echo "== device =="
  local RUN arch="" free=""
  RUN=$(bin motif-run)
  if [ "$MODE" = cuda ]; then
    if ! nvidia-smi >/dev/null 2>&1; then
      report FAIL "device" "no NVIDIA GPU here (nvidia-smi fails); scripts/gpu-check.sh --sim runs the kit under the simulator"
      return
    fi
    nvidia-smi --query-gpu=name,compute_cap,memory.total,memory.free,driver_version,clocks.max.sm --format=csv
    local cap
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' ')
    free=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -1 | tr -d ' ')
    arch="sm_${cap/./}"
    [ "$arch" = sm_90 ] && arch=sm_90a
    report PASS "device" "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $arch"
    command -v nvcc >/dev/null && nvcc --version | tail -2
  else
    arch=sm_80 free=16384
    report PASS "device" "the SIMT simulator"
  fi
  if [ -n "$RUN" ]; then
    if "$RUN" doctor > "$WORK/doctor.txt" 2>&1; then
      report PASS "motif-run doctor" "$(grep -m1 -iE 'driver|device' "$WORK/doctor.txt" | cut -c1-80)"
    elif [ "$MODE" = sim ]; then
      report SKIP "motif-run doctor" "no NVIDIA driver here: $(head -1 "$WORK/doctor.txt" | cut -c1-80)"
    else
      report FAIL "motif-run doctor" "$(tail -1 "$WORK/doctor.txt")"
    fi
    cat "$WORK/doctor.txt"
  else
    report FAIL "motif-run" "not built or prepared"
  fi

  echo "== libcublasLt =="
  if [ "$MODE" = cuda ]; then
    local probe need d found=""
    probe=$(bin motif-gpu-runtime-tests)
    need=$( [ -n "$probe" ] && ldd "$probe" 2>/dev/null | awk '/libcublasLt/ {print $1; exit}')
    need=${need:-libcublasLt.so.13}
    if [ -n "$probe" ] && ldd "$probe" 2>/dev/null | grep -q "$need => /"; then
      found=$(ldd "$probe" | awk -v n="$need" '$1 == n {print $3}')
    else
      for d in ${CUDA_HOME:+$CUDA_HOME/lib64} /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
               /usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64 \
               "$("$PY" -c 'import nvidia.cublas as m, os; print(os.path.join(m.__path__[0], "lib"))' 2>/dev/null)"; do
        if [ -n "$d" ] && [ -e "$d/$need" ]; then
          export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
          found="$d/$need"
          break
        fi
      done
    fi
    if [ -n "$found" ]; then
      report PASS "libcublasLt" "$found"
    else
      report FAIL "libcublasLt" "$need not found (looked in /usr/local/cuda/lib64, the usual places and the nvidia.cublas package)"
    fi
  else
    report SKIP "libcublasLt" "the simulator's reference GEMM stands in for cuBLASLt"
  fi

  echo "== launch plans of the artifacts ($arch, $free MiB free) =="
  local m out
  for m in "$DIR"/artifacts/*.mbin "$DIR"/bench/*.mbin; do
    [ -f "$m" ] || continue
    local b=2 s=16
    [[ $m == */bench/gpt2.mbin ]] && b=16 s=1024
    [[ $m == */bench/llama.mbin ]] && b=8 s=2048
    if out=$("$RUN" gpu-plan "$m" --arch "$arch" --batch $b --seq $s --free-mib "${free:-16384}" 2>&1); then
      report PASS "gpu-plan $(basename "$(dirname "$m")")/$(basename "$m") ($b x $s)" \
        "$(echo "$out" | sed -n 2p | cut -c1-70)"
    else
      report FAIL "gpu-plan $(basename "$(dirname "$m")")/$(basename "$m") ($b x $s)" "$(echo "$out" | tail -1)"
    fi
  done
  ls "$DIR"/artifacts/*.mbin >/dev/null 2>&1 || report FAIL "artifacts" "none in $DIR/artifacts: run --prepare"

  echo "== the fragment probe: ldmatrix, ldmatrix.trans and mma of every lane against the simulator =="
  if [ "$MODE" = cuda ]; then
    local f
    f=$FILTER
    FILTER='^(FragmentProbe|SimFragments)\.'
    run_binary motif-gpu-fragment-tests MOTIF_FRAGMENT_DUMP="$WORK/fragment-probe.txt"
    FILTER=$f
    [ -f "$WORK/fragment-probe.txt.report" ] && head -40 "$WORK/fragment-probe.txt.report"
  else
    report SKIP "fragment probe" "it compares the GPU's registers with the simulator's: GPU only"
  fi

  echo "== GPU tests (tests/gpu), each in its own process (timeout ${TEST_TIMEOUT} s) =="
  local t
  for t in $TEST_BINS; do
    [ "$t" = motif-gpu-fragment-tests ] && continue
    run_binary "$t" MOTIF_TEST_FAILURES="$WORK/failures"
  done

  echo "== the backend (tests/unit/cudabackend) with MOTIF_TEST_DEVICE=$MODE =="
  local arts=""
  for m in "$DIR_ABS"/artifacts/*.mbin "$DIR_ABS"/bench/*.mbin; do
    [ -f "$m" ] || continue
    # Under the simulator each module is compiled for the host: one is enough.
    [ "$MODE" = sim ] && [[ $m != */gpt2.mbin ]] && continue
    arts="$arts${arts:+:}$m"
  done
  local cache=$WORK/cache
  # The simulator's compiled modules are cached; reuse the build's.
  [ "$MODE" = sim ] && [ -d "$BACKEND_DIR/sim-cache" ] && cache=$(cd "$BACKEND_DIR/sim-cache" && pwd)
  for t in $BACKEND_BINS; do
    run_binary "$t" MOTIF_TEST_DEVICE="$MODE" MOTIF_TEST_INPUTS="$DIR_ABS/inputs" \
      MOTIF_TEST_ARTIFACTS="$arts" MOTIF_CACHE_DIR="$cache" MOTIF_TEST_FAILURES="$WORK/failures"
  done

  echo "== compute-sanitizer: memcheck and racecheck on one attention and one norm case =="
  local san=""
  san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
  if [ "$MODE" = sim ]; then
    report SKIP "compute-sanitizer" "GPU only (the simulator checks bounds, initialisation and races itself: docs/sim.md)"
  elif [ -z "$san" ]; then
    report SKIP "compute-sanitizer" "not installed here"
  else
    local tool pair cb ct rc
    mkdir -p "$WORK/sanitizer"
    for tool in memcheck racecheck; do
      for pair in "motif-gpu-attention-tests HeadDim/GpuAttention.MatchesTheCpu/D64" \
                  "motif-gpu-kernel-tests GpuNorm.Bf16MatchesTheCpu"; do
        cb=${pair% *} ct=${pair#* }
        if [ "$(left)" -lt 60 ]; then
          report SKIP "$tool $ct" "out of the time budget (kept for the benchmarks)"
          continue
        fi
        local log="$WORK/sanitizer/$tool.$(echo "$ct" | tr '/' '_').log"
        timeout -k 5 "$(capped 60)" "$san" --tool "$tool" --error-exitcode 99 \
          "$(bin "$cb")" --gtest_filter="$ct" --gtest_color=no > "$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
          report PASS "$tool $ct" "$(grep -m1 -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log")"
        elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
          report SKIP "$tool $ct" "timed out (the case is too slow under $tool)"
        else
          report FAIL "$tool $ct" "$(grep -m1 -E 'Invalid|Error|hazard|ERROR SUMMARY' "$log" | cut -c1-120)"
          grep -E '=========' "$log" | head -20
        fi
      done
    done
  fi

  echo "== decode: prefill + decode steps on the device (check-decode, docs/inference.md) =="
  local dm djson=$WORK/bench
  mkdir -p "$djson"
  for dm in $DECODE_MODELS; do
    [ -f "$DIR/artifacts/$dm.mbin" ] || { report FAIL "check-decode $dm" "no artifact: run --prepare"; continue; }
    if timeout -k 5 "$(capped 60)" "$RUN" check-decode "$DIR/artifacts/$dm.mbin" --device "$MODE" \
      --lengths 7,4 --steps 4 > "$djson/check-decode-$dm.txt" 2>&1; then
      report PASS "check-decode --device $MODE ${dm}_tiny" "$(tail -1 "$djson/check-decode-$dm.txt" | cut -c1-90)"
    else
      report FAIL "check-decode --device $MODE ${dm}_tiny" "$(tail -1 "$djson/check-decode-$dm.txt" | cut -c1-150)"
    fi
  done
  # Batch 1: Motif's prefill and decode steps (one CUDA graph per step)
  # against transformers' generate and the HBM roofline; under the
  # simulator Motif's side on the tiny Llama (the path, not the speed).
  local dbench="--mbin $DIR/bench/tinyllama.mbin --prompt-tokens 512 --new-tokens 128 --device cuda"
  [ "$MODE" = sim ] && dbench="--mbin $DIR/artifacts/llama.mbin --prompt-tokens 16 --new-tokens 8 --device sim"
  if [ "$(left)" -lt 60 ]; then
    report SKIP "decode bench" "out of the time budget"
  # shellcheck disable=SC2086  # the options are separate arguments
  elif timeout -k 5 "$(capped 180)" "$PY" benchmarks/decode_bench.py --motif-run "$RUN" $dbench \
    --out "$djson" > "$djson/decode.txt" 2>&1; then
    cat "$djson/decode.txt"
    report PASS "decode bench (batch 1)" "$(grep -m1 '"system": "motif' "$djson/decode.txt" | cut -c1-120)"
  else
    cat "$djson/decode.txt"
    report FAIL "decode bench (batch 1)" "$(tail -1 "$djson/decode.txt" | cut -c1-150)"
  fi

  echo "== benchmarks =="
  local json=$WORK/bench
  mkdir -p "$json"
  # Our side of the training benchmarks: motif-run bench --device, first on
  # the tiny GPT-2.
  if [ -n "$RUN" ] && [ -f "$DIR/artifacts/gpt2.mbin" ]; then
    # Under the simulator one step of 1 x 8: it checks the path, not the speed.
    local size="--batch 2 --seq 16 --steps 2 --warmup 1"
    [ "$MODE" = sim ] && size="--batch 1 --seq 8 --steps 1 --warmup 0"
    # shellcheck disable=SC2086  # the options are separate arguments
    if timeout -k 5 "$(capped 120)" "$RUN" bench "$DIR/artifacts/gpt2.mbin" --device "$MODE" \
      $size > "$json/motif-bench-device.txt" 2>&1; then
      report PASS "motif-run bench --device $MODE gpt2_tiny" \
        "$(grep -m1 'tokens/s' "$json/motif-bench-device.txt" | sed 's/^ *//')"
      # The step time with CUDA graphs and, side by side, without.
      grep -q 'CUDA graphs:' "$json/motif-bench-device.txt" &&
        report PASS "CUDA graphs against none (bench)" \
          "$(grep -m1 'CUDA graphs:' "$json/motif-bench-device.txt" | sed 's/^ *CUDA graphs: //')"
    else
      report FAIL "motif-run bench --device $MODE gpt2_tiny" "$(tail -1 "$json/motif-bench-device.txt")"
    fi
  fi
  local ab mb
  ab=$(bin "$BENCH_BIN")
  mb=$(bin "$MOE_BENCH_BIN")
  local sb
  sb=$(bin "$SSD_BENCH_BIN")
  local torch_ok=0
  if [ "$MODE" = cuda ]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && torch_ok=1
  else
    "$PY" -c "import torch" 2>/dev/null && torch_ok=1
  fi
  if [ "$MODE" = cuda ] && [ $torch_ok = 1 ]; then
    # Side by side: SDPA and the library's attention kernels, the two models in
    # PyTorch eager and torch.compile, and Motif's when motif-run has --device.
    local budget
    budget=$(($(left) - 10))
    if [ $budget -lt 60 ]; then
      report SKIP "benchmarks" "out of the time budget ($budget s left)"
    else
      BENCH_ART="$DIR_ABS/bench" MOTIF_RUN="$RUN" MOTIF_ATTENTION_BENCH="$ab" OUT="$json" \
        MOTIF_MOE_BENCH="$mb" MOTIF_SSD_BENCH="$sb" \
        BUDGET=$budget STEPS=${STEPS:-10} WARMUP=${WARMUP:-3} PYTHON="$PY" benchmarks/run_all.sh
      if [ -f "$json/attention.json" ]; then
        if grep -q '"impl": "motif-kernels", [^}]*"error"' "$json/attention.json" ||
          ! grep -q '"impl": "motif-kernels"' "$json/attention.json"; then
          report FAIL "attention bench (library kernels)" "see $json/attention.json in the tarball"
        else
          report PASS "attention bench (library kernels)" "beside SDPA in the table above"
        fi
      else
        report FAIL "benchmarks" "benchmarks/run_all.sh wrote no attention.json"
      fi
      if [ -f "$json/moe.json" ] && grep -q '"impl": "motif-kernels"' "$json/moe.json" &&
        ! grep -q '"impl": "motif-kernels", [^}]*"error"' "$json/moe.json"; then
        report PASS "grouped expert bench (library kernels)" "beside torch._grouped_mm above"
      else
        report FAIL "grouped expert bench (library kernels)" "see $json/moe.json in the tarball"
      fi
      if [ -f "$json/ssd.json" ] && grep -q '"impl": "motif-tc"' "$json/ssd.json" &&
        ! grep -q '"impl": "motif[^"]*", [^}]*"error"' "$json/ssd.json"; then
        report PASS "SSD bench (library kernels)" "tensor cores beside FMA and ssd_minimal above"
      else
        report FAIL "SSD bench (library kernels)" "see $json/ssd.json in the tarball"
      fi
      for m in gpt2 llama; do
        for impl in eager compile; do
          if grep -q tokens_per_s "$json/train_${m}_$impl.json" 2>/dev/null; then
            report PASS "torch $impl $m" "$("$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['tokens_per_s']:.0f} tokens/s, first step {r.get('first_step_s', 0):.1f} s, peak {r.get('peak_alloc_gib', 0):.1f} GiB\")" "$json/train_${m}_$impl.json" 2>/dev/null)"
          else
            report SKIP "torch $impl $m" "no result: $(head -c 100 "$json/train_${m}_$impl.json" 2>/dev/null)"
          fi
        done
      done
    fi
  else
    if [ -n "$ab" ]; then
      local shapes="8,12,2048,64 4,16,4096,128" iters=20
      [ "$MODE" = sim ] && shapes="1,2,64,64" iters=1
      # shellcheck disable=SC2086  # the shapes are separate arguments
      if timeout -k 5 "$(capped 120)" "$ab" --iters $iters $shapes > "$json/attention-motif.txt" 2>&1; then
        grep -v '^{' "$json/attention-motif.txt"
        report PASS "attention bench (library kernels)" "$(grep '^{' "$json/attention-motif.txt" | head -1 | cut -c1-110)"
      else
        report FAIL "attention bench (library kernels)" "$(tail -1 "$json/attention-motif.txt")"
      fi
    else
      report FAIL "attention bench" "$BENCH_BIN not built"
    fi
    if [ -z "$mb" ]; then
      report FAIL "grouped expert bench" "$MOE_BENCH_BIN not built"
    elif [ "$MODE" = sim ]; then
      # The layer bench's whole path (benchmarks/moe_bench.py and the binary) at a tiny size.
      if timeout -k 5 "$(capped 60)" "$PY" benchmarks/moe_bench.py --sim --motif-bench "$mb" \
        --out "$json" > "$json/moe.txt" 2>&1; then
        report PASS "grouped expert bench (library kernels)" "$(grep -m1 '^motif-kernels' "$json/moe.txt" | cut -c1-100)"
      else
        report FAIL "grouped expert bench (library kernels)" "$(tail -1 "$json/moe.txt")"
      fi
    else
      if timeout -k 5 "$(capped 120)" "$mb" --iters 20 > "$json/moe-motif.txt" 2>&1; then
        report PASS "grouped expert bench (library kernels)" "$(grep '^{' "$json/moe-motif.txt" | head -1 | cut -c1-110)"
      else
        report FAIL "grouped expert bench (library kernels)" "$(tail -1 "$json/moe-motif.txt")"
      fi
    fi
    if [ -z "$sb" ]; then
      report FAIL "SSD bench" "$SSD_BENCH_BIN not built"
    elif [ "$MODE" = sim ]; then
      # The SSD bench's whole path (benchmarks/ssd_bench.py and the binary) at a tiny size.
      if timeout -k 5 "$(capped 60)" "$PY" benchmarks/ssd_bench.py --sim --motif-bench "$sb" \
        --out "$json" > "$json/ssd.txt" 2>&1; then
        report PASS "SSD bench (library kernels)" "$(grep -m1 '^motif-tc' "$json/ssd.txt" | cut -c1-100)"
      else
        report FAIL "SSD bench (library kernels)" "$(tail -1 "$json/ssd.txt")"
      fi
    else
      # Mamba-2-130M's SSD (B 8, T 2048, 24 heads of 64, N 128, chunks of 256), both paths.
      if timeout -k 5 "$(capped 120)" "$sb" --iters 20 > "$json/ssd-motif.txt" 2>&1; then
        report PASS "SSD bench (library kernels)" "$(grep '^{' "$json/ssd-motif.txt" | head -1 | cut -c1-110)"
      else
        report FAIL "SSD bench (library kernels)" "$(tail -1 "$json/ssd-motif.txt")"
      fi
    fi
    if [ "$MODE" = sim ] && [ -n "$RUN" ] && [ -f "$DIR/artifacts/gpt2.mbin" ]; then
      if "$RUN" bench "$DIR/artifacts/gpt2.mbin" --batch 2 --seq 16 --steps 2 --warmup 1 \
        > "$json/motif-bench.txt" 2>&1; then
        report PASS "motif-run bench gpt2_tiny (cpu)" "$(grep -m1 'tokens/s' "$json/motif-bench.txt" | sed 's/^ *//')"
      else
        report FAIL "motif-run bench gpt2_tiny (cpu)" "$(tail -1 "$json/motif-bench.txt")"
      fi
    fi
    if [ $torch_ok = 0 ]; then
      report SKIP "PyTorch baselines" "torch is not importable by $PY$([ "$MODE" = cuda ] && echo ' with CUDA')"
    else
      # The simulator's run: the PyTorch side at a tiny size on the CPU (eager only).
      if timeout -k 5 "$(capped 60)" "$PY" benchmarks/train_bench.py --model gpt2 --mode eager \
        --device cpu --batch 1 --seq 16 --steps 1 --warmup 1 --out "$json" > "$json/torch.txt" 2>&1; then
        report PASS "torch eager gpt2 (cpu, 1 x 16)" "$(tail -1 "$json/torch.txt" | cut -c1-90)"
      else
        report FAIL "torch eager gpt2 (cpu, 1 x 16)" "$(tail -1 "$json/torch.txt")"
      fi
    fi
  fi

  if [ -d "$WORK/failures" ]; then
    echo "== failing comparisons (tensors in gpu-check-files.tar.gz, failures/) =="
    cat "$WORK/failures/index.txt" 2>/dev/null
  fi
  echo "== summary: $pass passed, $fail failed, $skip skipped in $(($(date +%s) - START)) s ($MODE) =="
  grep -E '^FAIL' "$SUMMARY"
  echo "== summary: $pass passed, $fail failed, $skip skipped in $(($(date +%s) - START)) s ($MODE) ==" >> "$SUMMARY"
  [ "$fail" -eq 0 ]
}

check 2>&1 | tee "$OUT/gpu-check.log"
rc=${PIPESTATUS[0]}
finish
echo "gpu-check: output in $OUT ($(ls "$OUT" | tr '\n' ' '))"
exit "$rc"
