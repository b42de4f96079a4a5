#!/usr/bin/env bash
# One MoE layer's forward+backward on the CPU, side by side in one run:
# Motif with expert grouping (route, permute, grouped GEMMs, combine), Motif
# without it (--no-expert-grouping: the dense reference form, every expert's
# body over every token weighted by dense gates) and PyTorch looping over experts (benchmarks/moe_torch.py), at the
# shapes of benchmarks/moe_layer.motif: Mixtral-tiny's layer and a
# fine-grained 64-expert top-6 layer. docs/benchmarks.md has a run's table.
#
#   benchmarks/moe_cpu_bench.sh           (after building motif-compile, motif-run)
#   PYTHON=/work/venv-torch/bin/python BATCH=8 SEQ=64 STEPS=10 benchmarks/moe_cpu_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
PYTHON=${PYTHON:-python3}
BATCH=${BATCH:-8}
SEQ=${SEQ:-64}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
# PyTorch uses as many threads as Motif's CPU backend (every hardware thread)
# unless TORCH_THREADS says otherwise.
THREADS=${TORCH_THREADS:-$(nproc)}

# name:d:experts:top_k:hidden (as in moe_layer.motif)
for shape in moe_mixtral_tiny:64:4:2:96 moe_fine64:256:64:6:128; do
  IFS=: read -r m d e k h <<<"$shape"
  "$BIN/motif-compile" benchmarks/moe_layer.motif --model=$m --target=cpu -o "$OUT/$m.mbin"
  "$BIN/motif-compile" benchmarks/moe_layer.motif --model=$m --target=cpu \
    --no-expert-grouping -o "$OUT/$m-dense.mbin"
  for v in "" -dense; do
    "$BIN/motif-run" bench "$OUT/$m$v.mbin" --function train_step --batch "$BATCH" \
      --seq "$SEQ" --steps "$STEPS" --warmup "$WARMUP" | tail -n 1 >"$OUT/$m$v.json"
  done
  "$PYTHON" benchmarks/moe_torch.py --d "$d" --experts "$e" --top-k "$k" --hidden "$h" \
    --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup "$WARMUP" \
    --threads "$THREADS" >"$OUT/$m-torch.json"
done

"$PYTHON" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def ms(path, key):
    return json.loads(open(path).read().strip().splitlines()[-1])[key]
print("| layer | grouped (ms) | dense (ms) | PyTorch loop (ms) | dense / grouped | PyTorch / grouped |")
print("|---|---:|---:|---:|---:|---:|")
for m in ("moe_mixtral_tiny", "moe_fine64"):
    g = ms(f"{out}/{m}.json", "step_ms")
    r = ms(f"{out}/{m}-dense.json", "step_ms")
    t = ms(f"{out}/{m}-torch.json", "ms_per_step")
    print(f"| {m} | {g:.2f} | {r:.2f} | {t:.2f} | {r / g:.2f} | {t / g:.2f} |")
PY
