#!/usr/bin/env python3
"""Figures of training runs from their metrics.jsonl (docs/research.md).

    scripts/plot-runs.py RUN [RUN ...] [--out DIR] [--label NAME ...] [--formats png,svg]

RUN is a run directory (motif-run train --out) or a metrics.jsonl file. Several runs go on one
figure each, for comparisons. Writes into DIR (default: plots/), each as PNG and SVG:

  loss           training loss (and validation points) against steps and against tokens
  lr             the learning rate against steps
  grad_norm      the gradient norm (before clipping) against steps
  grad_layers    per-layer gradient norms: at the last record against the layer (one line per
                 run), and over the steps for each run (one line per layer)
  throughput     tokens (or examples) per second against steps
  moe_load       for MoE runs: the share of tokens each expert took, a heatmap over steps per
                 moe layer (first MoE run)

Prints the files it wrote. Needs matplotlib (scripts/setup.sh installs Debian's
python3-matplotlib).
"""
import argparse
import json
import math
import os
import sys

try:
    import matplotlib
except ImportError:  # a python without Debian's packages (pyenv): use the system one
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("plot-runs: matplotlib is missing (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class Run:
    def __init__(self, path, label=None):
        self.path = path if path.endswith(".jsonl") else os.path.join(path, "metrics.jsonl")
        if not os.path.exists(self.path):
            sys.exit(f"plot-runs: no metrics at '{self.path}'")
        self.config = {}
        by_step = {}
        with open(self.path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"plot-runs: {self.path}:{n}: not JSON ({e})")
                if "config" in rec:
                    self.config = rec["config"]  # a resumed run appends its own
                elif "step" in rec:
                    by_step[rec["step"]] = rec  # a resumed run may redo steps
        self.records = [by_step[s] for s in sorted(by_step)]
        if not self.records:
            sys.exit(f"plot-runs: '{self.path}' has no steps")
        name = os.path.basename(os.path.dirname(os.path.abspath(self.path)))
        self.label = label or f"{self.config.get('model', '?')} ({name})"
        c = self.config
        self.tokens_per_step = c.get("batch", 1) * c.get("sequence", 1) * c.get("accumulate", 1)
        self.unit = "tokens" if any("tokens_per_s" in r for r in self.records) else "examples"

    def series(self, key):
        xs = [r["step"] for r in self.records if key in r]
        ys = [r[key] for r in self.records if key in r]
        return xs, ys


def save(fig, out, name, formats, written):
    fig.tight_layout()
    for ext in formats:
        p = os.path.join(out, f"{name}.{ext}")
        fig.savefig(p, dpi=110)
        written.append(p)
    plt.close(fig)


def plot_loss(runs, out, formats, written):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for i, r in enumerate(runs):
        color = f"C{i}"
        xs, ys = r.series("loss")
        a.plot(xs, ys, color=color, label=f"{r.label} train", lw=1.2)
        b.plot([x * r.tokens_per_step for x in xs], ys, color=color, lw=1.2)
        vx, vy = r.series("val_loss")
        if vx:
            a.plot(vx, vy, "o--", color=color, ms=4, label=f"{r.label} val")
            b.plot([x * r.tokens_per_step for x in vx], vy, "o--", color=color, ms=4)
    a.set_xlabel("step")
    b.set_xlabel(f"{runs[0].unit} seen")
    for ax in (a, b):
        ax.set_ylabel("loss (nats)")
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    save(fig, out, "loss", formats, written)


def plot_simple(runs, out, formats, written, key, name, ylabel, log=False):
    if not any(r.series(key)[0] for r in runs):
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, r in enumerate(runs):
        xs, ys = r.series(key)
        if xs:
            ax.plot(xs, ys, color=f"C{i}", label=r.label, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out, name, formats, written)


def plot_grad_layers(runs, out, formats, written):
    withn = [r for r in runs if r.series("grad_norms")[0]]
    if not withn:
        return
    fig, axes = plt.subplots(1, 1 + len(withn), figsize=(5 * (1 + len(withn)), 4), squeeze=False)
    axes = axes[0]
    # The layers of every run in order (runs may lack some: no final norm).
    names = []
    for r in withn:
        last = r.series("grad_norms")[1][-1]
        for k, name in enumerate(last):
            if name not in names:
                after = list(last)[k - 1] if k else None
                names.insert(names.index(after) + 1 if after in names else len(names), name)
    for i, r in enumerate(runs):
        xs, ys = r.series("grad_norms")
        if not xs:
            continue
        last = ys[-1]
        axes[0].plot(range(len(names)), [last.get(n, math.nan) for n in names], "o-",
                     color=f"C{i}", ms=3, label=f"{r.label} (step {xs[-1]})")
    axes[0].set_xticks(range(len(names)))
    axes[0].set_xticklabels(names, rotation=60, fontsize=7)
    axes[0].set_ylabel("gradient norm")
    axes[0].set_yscale("log")
    axes[0].set_title("per layer, last record", fontsize=9)
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    for ax, r in zip(axes[1:], withn):
        xs, ys = r.series("grad_norms")
        layers = list(ys[-1].keys())
        cmap = plt.get_cmap("viridis")
        for k, layer in enumerate(layers):
            ax.plot(xs, [y.get(layer, math.nan) for y in ys], color=cmap(k / max(1, len(layers) - 1)),
                    lw=1, label=layer)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(r.label, fontsize=9)
        ax.grid(alpha=0.3)
        if len(layers) <= 16:
            ax.legend(fontsize=6, ncol=2)
    save(fig, out, "grad_layers", formats, written)


def plot_moe(runs, out, formats, written):
    run = next((r for r in runs if r.series("moe")[0]), None)
    if run is None:
        return
    xs, ys = run.series("moe")
    layers = list(ys[-1].keys())
    fig, axes = plt.subplots(len(layers), 1, figsize=(7, 2.2 * len(layers) + 0.6), squeeze=False)
    for ax, layer in zip(axes[:, 0], layers):
        rows = []
        for y in ys:
            t = y.get(layer, {}).get("tokens", [])
            s = sum(t)
            rows.append([v / s if s else 0.0 for v in t])
        width = max(len(r) for r in rows)
        rows = [r + [0.0] * (width - len(r)) for r in rows]
        im = ax.imshow(list(map(list, zip(*rows))), aspect="auto", origin="lower", cmap="magma",
                       extent=(xs[0] - 0.5, xs[-1] + 0.5, -0.5, width - 0.5))
        ax.set_ylabel("expert")
        ax.set_title(f"{layer}: share of tokens per expert", fontsize=9)
        fig.colorbar(im, ax=ax)
    axes[-1, 0].set_xlabel("step")
    save(fig, out, "moe_load", formats, written)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run directories or metrics.jsonl files")
    ap.add_argument("--out", default="plots", help="output directory (default: plots)")
    ap.add_argument("--label", action="append", default=[], help="a label per run, in order")
    ap.add_argument("--formats", default="png,svg", help="file formats (default: png,svg)")
    a = ap.parse_args()
    if a.label and len(a.label) != len(a.runs):
        sys.exit(f"plot-runs: {len(a.label)} labels for {len(a.runs)} runs")
    runs = [Run(p, a.label[i] if a.label else None) for i, p in enumerate(a.runs)]
    os.makedirs(a.out, exist_ok=True)
    formats = [f for f in a.formats.split(",") if f]
    written = []
    plot_loss(runs, a.out, formats, written)
    plot_simple(runs, a.out, formats, written, "lr", "lr", "learning rate")
    plot_simple(runs, a.out, formats, written, "grad_norm", "grad_norm", "gradient norm", log=True)
    plot_grad_layers(runs, a.out, formats, written)
    key = f"{runs[0].unit}_per_s"
    plot_simple(runs, a.out, formats, written, key, "throughput", key.replace("_", " "))
    plot_moe(runs, a.out, formats, written)
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
