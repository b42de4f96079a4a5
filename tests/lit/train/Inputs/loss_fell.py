"""Asserts that a run's validation loss fell: the last val_loss of each
metrics.jsonl given is below its first by at least the given fraction."""
import json
import sys

frac = float(sys.argv[1])
for path in sys.argv[2:]:
    rows = [json.loads(l) for l in open(path)]
    v = [r["val_loss"] for r in rows[1:] if "val_loss" in r]
    assert len(v) >= 2 and v[-1] < v[0] * (1 - frac), (path, v)
    print(f"{rows[0]['config']['model']}: val loss {v[0]:.3f} -> {v[-1]:.3f}")
