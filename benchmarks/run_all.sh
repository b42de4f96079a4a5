#!/usr/bin/env bash
# Every benchmark against PyTorch in one call, on a machine with an NVIDIA GPU and
# PyTorch (expected about 5 minutes on an H100, not yet timed; 9 at most: each run
# gets what is left of a time budget). Results go to $OUT (default build/bench-results) as JSON, and a
# side-by-side table is printed at the end (benchmarks/report.py).
#
#   benchmarks/run_all.sh --prepare   # on the build machine: Motif artifacts into build/bench/
#   benchmarks/run_all.sh             # on the GPU machine
#
# Environment: OUT, PYTHON (python3), BUILD_DIR (build), STEPS (20), WARMUP (5),
# BUDGET (seconds for the whole run, default 540), BENCH_ART (the artifacts' folder,
# default $BUILD_DIR/bench), MOTIF_RUN (the motif-run to use), MOTIF_ATTENTION_BENCH
# (tests/gpu's motif-gpu-attention-bench: the library's attention kernels beside SDPA;
# scripts/gpu-check.sh sets these three), MOTIF_MOE_BENCH (tests/gpu's
# motif-gpu-moe-bench: the grouped expert kernels beside torch._grouped_mm), MOTIF_SSD_BENCH
# (tests/gpu's motif-gpu-ssd-bench: the SSD kernels beside ssd_minimal). torch.compile runs get fresh
# Inductor/Triton caches (cold compilation) unless TORCHINDUCTOR_CACHE_DIR is set.
#
# The Motif side runs when a motif-run that can bench on the GPU is found
# ($BUILD_DIR/bench/bin/motif-run, $BUILD_DIR/gpu-check/bin/motif-run or
# $BUILD_DIR/bin/motif-run) with the artifacts of --prepare: it runs
#   motif-run bench ART --device cuda --batch B --seq T --steps N --warmup N
# and reads its last JSON line. Today's motif-run benches on the CPU only (no
# --device), so that part prints "Motif GPU backend not available: skipped".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD_DIR:-build}
ART=${BENCH_ART:-$BUILD/bench}
OUT=${OUT:-$BUILD/bench-results}
PY=${PYTHON:-python3}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
BUDGET=${BUDGET:-540}
START=$(date +%s)

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$ART/bin"
  cp "$BUILD/bin/motif-run" "$ART/bin/" || exit 1
  "$BUILD/bin/motif-compile" examples/gpt2.motif --target=cpu,sm_80,sm_90a -o "$ART/gpt2.mbin" || exit 1
  "$BUILD/bin/motif-compile" examples/llama.motif --model=llama_bench --target=cpu,sm_80,sm_90a \
    -o "$ART/llama.mbin" || exit 1
  echo "artifacts and motif-run in $ART ($(du -sh "$ART" | cut -f1)); carry it and run"
  echo "benchmarks/run_all.sh on the GPU machine"
  exit 0
fi

mkdir -p "$OUT"
# torch.compile's time to first step is measured cold: fresh Inductor and Triton caches.
CACHE=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$CACHE/inductor}
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$CACHE/triton}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "PyTorch with CUDA is not available to $PY: nothing to benchmark"
  exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

# run SECONDS_CAP NAME JSON_FILE command...: runs with what is left of the budget.
run() {
  local cap=$1 name=$2 json=$3; shift 3
  local left=$(( BUDGET - ($(date +%s) - START) - 15 ))
  [ "$left" -lt "$cap" ] && cap=$left
  if [ "$cap" -lt 30 ]; then
    echo "$name: skipped, out of the time budget (${BUDGET}s)"
    [ -n "$json" ] && echo "{\"skipped\": \"out of the time budget\"}" > "$json"
    return
  fi
  local t0
  t0=$(date +%s)
  timeout -k 10 "$cap" "$@"
  local rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "$name: stopped after ${cap}s"
    [ -n "$json" ] && echo "{\"error\": \"timed out after ${cap}s\"}" > "$json"
  elif [ "$rc" -ne 0 ]; then
    echo "$name: exit status $rc"
  fi
  echo "   ($name: $(( $(date +%s) - t0 ))s)"
}

MOTIF=""
for r in ${MOTIF_RUN:-} "$ART/bin/motif-run" "$BUILD/gpu-check/bin/motif-run" "$BUILD/bin/motif-run"; do
  [ -x "$r" ] && { MOTIF=$r; break; }
done

echo "== attention: SDPA (flash) and Motif =="
run 120 attention "" "$PY" benchmarks/attention_bench.py --out "$OUT" ${MOTIF:+--motif "$MOTIF"} \
  ${MOTIF_ATTENTION_BENCH:+--motif-bench "$MOTIF_ATTENTION_BENCH"}

echo "== grouped experts: a dense GEMM, torch._grouped_mm and Motif's kernels =="
run 150 moe "" "$PY" benchmarks/moe_bench.py --out "$OUT" \
  ${MOTIF_MOE_BENCH:+--motif-bench "$MOTIF_MOE_BENCH"}

echo "== Mamba-2's SSD: Motif's kernels (tensor cores, FMA) and PyTorch's ssd_minimal =="
run 150 ssd "" "$PY" benchmarks/ssd_bench.py --out "$OUT" \
  ${MOTIF_SSD_BENCH:+--motif-bench "$MOTIF_SSD_BENCH"}

echo "== training step: PyTorch eager =="
for model in gpt2 llama; do
  run 120 "$model eager" "$OUT/train_${model}_eager.json" \
    "$PY" benchmarks/train_bench.py --model $model --mode eager --steps "$STEPS" --warmup "$WARMUP" --out "$OUT"
done
# GQA by repeat_interleave too, in case SDPA's enable_gqa leaves the flash kernel here:
# the report takes the faster of the two as the eager baseline.
run 90 "llama eager, --gqa repeat" "$OUT/train_llama_eager_repeat.json" \
  "$PY" benchmarks/train_bench.py --model llama --mode eager --gqa repeat --steps "$STEPS" --warmup "$WARMUP" --out "$OUT"

echo "== training step: Motif =="
rm -f "$OUT"/train_*_motif.json
if [ -z "$MOTIF" ]; then
  echo "Motif GPU backend not available: skipped (no motif-run; run benchmarks/run_all.sh --prepare on the build machine)"
elif [[ "$("$MOTIF" --help 2>&1)" != *--device* ]]; then
  echo "Motif GPU backend not available: skipped ($MOTIF bench runs on the CPU only: no --device cuda yet)"
else
  for pair in "gpt2 16 1024" "llama 8 2048"; do
    # shellcheck disable=SC2086  # split "model batch seq" into $1 $2 $3
    set -- $pair
    if [ ! -f "$ART/$1.mbin" ]; then
      echo "$1: no $ART/$1.mbin: skipped (benchmarks/run_all.sh --prepare)"
      continue
    fi
    run 120 "$1 motif" "" sh -c "\"$MOTIF\" bench \"$ART/$1.mbin\" --device cuda --batch $2 --seq $3 \
      --steps $STEPS --warmup $WARMUP > \"$OUT/motif_$1.log\" 2>&1"
    tail -3 "$OUT/motif_$1.log"
    grep '^{' "$OUT/motif_$1.log" | tail -1 > "$OUT/train_$1_motif.json"
    [ -s "$OUT/train_$1_motif.json" ] || rm -f "$OUT/train_$1_motif.json"
  done
fi

echo "== training step: torch.compile (first step includes compilation) =="
for model in gpt2 llama; do
  run 240 "$model compile" "$OUT/train_${model}_compile.json" \
    "$PY" benchmarks/train_bench.py --model $model --mode compile --steps "$STEPS" --warmup "$WARMUP" --out "$OUT"
done

echo "== summary ($(( $(date +%s) - START ))s in all; JSON in $OUT) =="
"$PY" benchmarks/report.py "$OUT"
rm -rf "$CACHE"
