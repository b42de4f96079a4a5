#!/usr/bin/env bash
# The README's first command: set up, build, then compile the examples and show
# what they are (parameter counts, the motif IR of a tiny GPT).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BIN=${BUILD_DIR:-build}/bin
echo
echo "== GPT-2 124M: parameters =="
"$BIN/motif-compile" examples/gpt2.motif --summary
echo
echo "== every example at its published configuration =="
for f in examples/*.motif; do
  total=$("$BIN/motif-compile" "$f" --summary | awk '/total trainable/ {print $3}')
  printf '  %-28s %18s parameters\n' "$(basename "$f")" "$total"
done
echo
echo "== the motif dialect of a tiny GPT (first lines) =="
"$BIN/motif-compile" examples/gpt2.motif --model=gpt2_tiny --emit=motif | head -n 40
echo
echo "Training (motif-run train) arrives with the CPU training issue; see docs/."
