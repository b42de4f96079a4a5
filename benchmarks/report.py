#!/usr/bin/env python3
"""Side-by-side table of the JSON results that benchmarks/run_all.sh collected.

  python3 benchmarks/report.py OUT_DIR        # prints the tables, writes OUT_DIR/summary.json

Reads OUT_DIR/train_<model>_<impl>.json (impl: motif, eager, compile) and
OUT_DIR/attention.json. Standard library only.
"""
import json
import os
import sys

IMPLS = [("motif", "Motif"), ("eager", "PyTorch eager"), ("compile", "torch.compile")]


def load(path):
    """A JSON file, or the last JSON line of a log (motif-run bench prints one)."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    pass
    return None


def peak_gib(r):
    if r.get("peak_alloc_gib") is not None:
        return r["peak_alloc_gib"]
    for k in ("peak_alloc_bytes", "peak_bytes", "device_peak_bytes"):  # Motif's names
        if r.get(k) is not None:
            return r[k] / 2**30
    return None


def tflops(r):
    if r.get("tflops") is not None:
        return r["tflops"]
    return r["flops_per_s"] / 1e12 if r.get("flops_per_s") is not None else None  # Motif's


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def train_tables(out, summary):
    lines = []
    for model, title in (("gpt2", "GPT-2 124M"), ("llama", "Llama-style (8 x d1024, GQA 16/4)")):
        rows = {impl: load(os.path.join(out, f"train_{model}_{impl}.json")) for impl, _ in IMPLS}
        for impl in ("eager", "compile"):  # the faster GQA variant is the baseline
            alt = load(os.path.join(out, f"train_{model}_{impl}_repeat.json"))
            if alt and alt.get("tokens_per_s") and \
                    (not rows[impl] or alt["tokens_per_s"] > (rows[impl].get("tokens_per_s") or 0)):
                alt["note"] = "GQA by repeat_interleave (faster here than enable_gqa)"
                rows[impl] = alt
        if not any(rows.values()):
            continue
        shape = next(r for r in rows.values() if r)
        lines.append(f"\n{title}, train step, batch {shape.get('batch')} x seq {shape.get('seq')}")
        lines.append(f"  {'':<15} {'tokens/s':>10} {'step ms':>9} {'peak GiB':>9} "
                     f"{'1st step s':>10} {'TFLOP/s':>8} {'MFU':>6}  note")
        for impl, name in IMPLS:
            r = rows[impl]
            if r is None:
                note = "no Motif GPU result: skipped" if impl == "motif" else "no result"
                lines.append(f"  {name:<15} {'-':>10} {'-':>9} {'-':>9} {'-':>10} {'-':>8} {'-':>6}  "
                             f"{note}")
                continue
            if r.get("error") or r.get("skipped"):
                lines.append(f"  {name:<15} {'-':>10} {'-':>9} {'-':>9} {'-':>10} {'-':>8} {'-':>6}  "
                             f"{r.get('error') or r.get('skipped')}")
                continue
            lines.append((f"  {name:<15} {fmt(r.get('tokens_per_s'), ',.0f'):>10} "
                          f"{fmt(r.get('step_ms'), '.1f'):>9} {fmt(peak_gib(r), '.2f'):>9} "
                          f"{fmt(r.get('first_step_s'), '.1f'):>10} {fmt(tflops(r), '.0f'):>8} "
                          f"{fmt(r.get('mfu'), '.1%'):>6}  {r.get('note', '')}").rstrip())
        tok = {impl: (r or {}).get("tokens_per_s") for impl, r in rows.items()}
        mem = {impl: peak_gib(r) if r else None for impl, r in rows.items()}
        first = {impl: (r or {}).get("first_step_s") for impl, r in rows.items()}
        ratios = {
            "motif/eager tokens/s": ratio(tok["motif"], tok["eager"]),
            "motif/compile tokens/s": ratio(tok["motif"], tok["compile"]),
            "compile/eager tokens/s": ratio(tok["compile"], tok["eager"]),
            "motif/compile peak memory": ratio(mem["motif"], mem["compile"]),
            "motif/compile time to first step": ratio(first["motif"], first["compile"]),
        }
        lines.append("  ratios: " + ", ".join(f"{k} {fmt(v, '.2f')}" for k, v in ratios.items()))
        summary[model] = {"results": rows, "ratios": ratios}
    return lines


def attention_table(out, summary):
    a = load(os.path.join(out, "attention.json"))
    if not a:
        return []
    lines = [f"\nattention, bf16, TFLOP/s (fwd: 4BHT^2D, halved causal; fwd+bwd: 3.5x fwd) "
             f"on {a.get('device')}",
             f"  {'impl':<12} {'B,H,T,D':<16} {'causal':<7} {'fwd':>7} {'bwd':>7} {'fwd+bwd':>8}"]
    for r in a.get("rows", []):
        if "skipped" in r:
            lines.append(f"  {r['impl']:<12} {r['skipped']}")
            continue
        shape = f"{r['B']},{r['H']},{r['T']},{r['D']}"
        if "error" in r:
            lines.append(f"  {r['impl']:<12} {shape:<16} {str(r['causal']):<7} error: {r['error']}")
            continue
        lines.append(f"  {r['impl']:<12} {shape:<16} {str(r['causal']):<7} "
                     f"{fmt(r.get('fwd_tflops'), '.0f'):>7} {fmt(r.get('bwd_tflops'), '.0f'):>7} "
                     f"{fmt(r.get('fwd_bwd_tflops'), '.0f'):>8}")
    summary["attention"] = a
    return lines


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "build/bench-results")
    summary = {}
    lines = train_tables(out, summary) + attention_table(out, summary)
    if not lines:
        print(f"no results in {out}")
        return 1
    print("\n".join(lines))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
