#!/usr/bin/env bash
# The README's first command: set up and build, then compile a small GPT from
# examples/gpt2.motif (gpt2_tiny widened to d 128, 4 layers: 0.8M parameters)
# and train it on the King James Bible (public domain, from Debian's bible-kjv
# package) on the CPU, printing the validation loss as it falls and a
# generated sample. A few minutes on 2 cores (the fast CPU backend; about 50
# ms a step of 8 x 128 bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${BUILD_DIR:-build}
BIN=$BUILD/bin
RUN=$BUILD/main-job
mkdir -p "$RUN"

if [ ! -s "$RUN/kjv.txt" ]; then
  # Verse references ("Ge1:1 ") are dropped: plain English prose remains.
  bible -f "Genesis1:1-Revelation22:21" | sed 's/^[^ ]* //' > "$RUN/kjv.txt"
fi
echo "== data: $(wc -c < "$RUN/kjv.txt") bytes of the King James Bible =="

MODEL=(examples/gpt2.motif --model=gpt2_tiny -D d=128 -D layers=4 -D heads=4)
echo "== compile: examples/gpt2.motif, variant gpt2_tiny at d 128, 4 layers =="
"$BIN/motif-compile" "${MODEL[@]}" --summary
"$BIN/motif-compile" "${MODEL[@]}" -o "$RUN/gpt2_small.mbin"

# motif-run trains on the GPU when the driver reports one (--device cuda),
# else on the CPU; the progress line says which. The CUDA backend has not yet
# run on real hardware (docs/gpu-backend.md), so a failure on the GPU falls
# back to the CPU rather than ending the job.
train() {
  "$BIN/motif-run" train "$RUN/gpt2_small.mbin" --data "$RUN/kjv.txt" \
    --steps ${STEPS:-2000} --batch 8 --seq 128 --accumulate 1 --lr 2e-3 --warmup 50 \
    --eval-every 250 --eval-steps 8 --log-every 50 --out "$RUN/run" "$@"
}
echo "== train: byte-level, batch 8 x 128 =="
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  train --device cuda || { echo "(training on the GPU failed: on the CPU instead)"; rm -rf "$RUN/run"; train --device cpu; }
else
  train --device cpu
fi

echo "== sample (temperature 0.8, top-k 40) =="
"$BIN/motif-run" generate "$RUN/gpt2_small.mbin" --checkpoint "$RUN/run/checkpoint.safetensors" \
  --prompt "And the LORD said" --tokens 100 --temp 0.8 --top-k 40 --seed 7 \
  --context 128
echo
echo "metrics: $RUN/run/metrics.jsonl   checkpoint: $RUN/run/checkpoint.safetensors"
