#!/usr/bin/env python3
"""The classic architecture experiments, one command each (docs/research.md).

    scripts/research.py EXPERIMENT [--out DIR] [--steps N] [--device cpu|cuda|sim] [-D name=value ...]

EXPERIMENT is one of
  norm-ablation   the same pre-norm transformer with LayerNorm, RMSNorm and no normalization
  scaling         a sweep of model sizes at a fixed tokens-per-parameter budget; fits
                  L(N) = a * N^-alpha + c (resumes where it stopped)
  recall          multi-query associative recall: attention, Mamba and a hybrid against the
                  number of key-value pairs, and Mamba against its state size
  extrapolation   sinusoidal positions and RoPE trained at one length, evaluated at 1x..8x it,
                  RoPE also with NTK and YaRN scaling chosen at evaluation (same checkpoint)
  depth           gradient norms per block through 12 stacked pre-norm blocks

Every experiment uses examples/research/lm.motif, compiled with -D overrides (yours are added
to every variant: `-D d=256 -D layers=12` scales an experiment up on a GPU). Results go to
DIR (default research/EXPERIMENT): the runs, figures (PNG and SVG) and results.md with a
table. Runs that finished are not rerun, so an interrupted experiment resumes.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "examples", "research", "lm.motif")

try:
    import matplotlib
except ImportError:  # a python without Debian's packages (pyenv): use the system one
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("research: matplotlib is missing (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_spec = importlib.util.spec_from_file_location("plot_runs", os.path.join(ROOT, "scripts", "plot-runs.py"))
plot_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot_runs)


class Lab:
    """Compiles, trains and evaluates variants of the research model into one directory."""

    def __init__(self, args, name):
        self.out = args.out or os.path.join("research", name)
        self.bin = args.bin
        self.device = args.device
        self.defines = args.D
        self.verbose = args.verbose
        os.makedirs(os.path.join(self.out, "figures"), exist_ok=True)
        for tool in ("motif-compile", "motif-run"):
            if not os.path.exists(os.path.join(self.bin, tool)):
                sys.exit(f"research: {self.bin}/{tool} is missing (build first: scripts/setup.sh)")

    def run(self, cmd):
        if self.verbose:
            print("  $", " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"research: command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return p.stdout

    def compile(self, name, defines):
        path = os.path.join(self.out, "artifacts", name + ".mbin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        flags = []
        for k, v in list(defines.items()):
            flags += ["-D", f"{k}={json.dumps(v) if isinstance(v, str) else v}"]
        for d in self.defines:
            flags += ["-D", d]
        summary = self.run([os.path.join(self.bin, "motif-compile"), MODEL, *flags, "--summary"])
        params = int(re.search(r"total trainable\s+([\d,]+)", summary).group(1).replace(",", ""))
        self.run([os.path.join(self.bin, "motif-compile"), MODEL, *flags, "-o", path])
        return path, params

    def train(self, name, mbin, data, steps, extra=()):
        """Trains into runs/NAME unless a finished run is there; returns the run directory."""
        rundir = os.path.join(self.out, "runs", name)
        done = os.path.join(rundir, "done.json")
        if os.path.exists(done):
            print(f"  {name}: done before (resumed experiment)", flush=True)
            return rundir
        ckpt = os.path.join(rundir, "checkpoint.safetensors")
        cmd = [os.path.join(self.bin, "motif-run"), "train", mbin, "--data", data, "--steps", str(steps),
               "--out", rundir, "--quiet", "--device", self.device, *extra]
        if os.path.exists(ckpt):
            cmd += ["--resume", ckpt]
        t0 = time.time()
        text = self.run(cmd)
        final = re.search(r"final validation loss ([\d.]+|nan|inf)", text)
        with open(done, "w") as f:
            json.dump({"seconds": time.time() - t0, "final_val": final.group(1) if final else None}, f)
        print(f"  {name}: {steps} steps in {time.time() - t0:.0f} s", flush=True)
        return rundir

    def eval(self, mbin, ckpt, data, extra=()):
        text = self.run([os.path.join(self.bin, "motif-run"), "eval", mbin, "--data", data,
                         "--checkpoint", ckpt, "--device", self.device, *extra])
        loss = float(re.search(r"loss ([\d.naif]+) nats", text).group(1))
        acc = re.search(r"accuracy ([\d.]+)%", text)
        return loss, (float(acc.group(1)) / 100 if acc else None)

    def save(self, fig, name):
        fig.tight_layout()
        paths = []
        for ext in ("png", "svg"):
            p = os.path.join(self.out, "figures", f"{name}.{ext}")
            fig.savefig(p, dpi=110)
            paths.append(p)
        plt.close(fig)
        return paths

    def results(self, title, lines):
        path = os.path.join(self.out, "results.md")
        with open(path, "w") as f:
            f.write(f"# {title}\n\n" + "\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"\nresults: {path}; figures: {os.path.join(self.out, 'figures')}")


def text_data(lab):
    """The King James Bible as plain text (Debian's bible-kjv), once per experiment directory."""
    path = os.path.join(lab.out, "kjv.txt")
    if not os.path.exists(path):
        if not shutil.which("bible"):
            sys.exit("research: the text comes from Debian's bible-kjv package (apt-get install bible-kjv)")
        text = subprocess.run(["bible", "-f", "Genesis1:1-Revelation22:21"], capture_output=True,
                              text=True, check=True).stdout
        with open(path, "w") as f:
            f.write("\n".join(line.split(" ", 1)[-1] for line in text.splitlines()))
    return path


def records(rundir):
    return plot_runs.Run(rundir).records


def step_ms(rundir, tokens_per_step):
    tps = sorted(r["tokens_per_s"] for r in records(rundir) if "tokens_per_s" in r)
    return 1000.0 * tokens_per_step / tps[len(tps) // 2] if tps else math.nan


def last_val(rundir):
    vals = [r["val_loss"] for r in records(rundir) if "val_loss" in r]
    return vals[-1] if vals else math.nan


# --- experiments ---------------------------------------------------------------------------

def norm_ablation(args):
    lab = Lab(args, "norm-ablation")
    data = text_data(lab)
    steps = args.steps or 300
    batch, seq = 16, 64
    depth = {"layers": 8, "d": 64, "heads": 4}
    rows, runs = [], []
    for norm, label in (("layer", "LayerNorm"), ("rms", "RMSNorm"), ("none", "no normalization")):
        mbin, params = lab.compile(f"norm_{norm}", {**depth, "norm": norm})
        rd = lab.train(f"norm_{norm}", mbin, data, steps,
                       ["--batch", str(batch), "--seq", str(seq), "--eval-every", str(max(1, steps // 10)),
                        "--grad-norms-every", str(max(1, steps // 20))])
        runs.append(plot_runs.Run(rd, label))
        rows.append((label, params, last_val(rd), step_ms(rd, batch * seq)))
    written = []
    plot_runs.plot_loss(runs, os.path.join(lab.out, "figures"), ["png", "svg"], written)
    plot_runs.plot_grad_layers(runs, os.path.join(lab.out, "figures"), ["png", "svg"], written)
    lines = [f"{depth['layers']} pre-norm layers, d {depth['d']}, {steps} steps of batch {batch} x {seq} "
             "bytes of the King James Bible, AdamW lr 3e-3, cosine.", "",
             "| normalization | parameters | final validation loss | ms per step |", "|---|---:|---:|---:|"]
    lines += [f"| {l} | {p:,} | {v:.4f} | {ms:.1f} |" for l, p, v, ms in rows]
    lab.results("Normalization ablation", lines)


def fit_power_law(ns, ls):
    """L = a * N^-alpha + c by a grid over c and least squares in log space."""
    best = None
    lo = min(ls)
    for k in range(0, 200):
        c = lo * k / 200.0
        xs = [math.log(n) for n in ns]
        ys = [math.log(l - c) for l in ls]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        a = math.exp(my - slope * mx)
        sse = sum((a * n ** slope + c - l) ** 2 for n, l in zip(ns, ls))
        if best is None or sse < best[3]:
            best = (a, -slope, c, sse)
    return best


def scaling(args):
    lab = Lab(args, "scaling")
    data = text_data(lab)
    budget = args.tokens_per_param
    batch, seq = 16, 64
    sizes = [(16, 1, 2), (24, 2, 2), (32, 2, 2), (48, 3, 4), (64, 4, 4), (96, 4, 4), (128, 6, 4)]
    points = []
    for d, layers, heads in sizes:
        name = f"d{d}_l{layers}"
        mbin, params = lab.compile(name, {"d": d, "layers": layers, "heads": heads})
        steps = args.steps or max(20, math.ceil(budget * params / (batch * seq)))
        rd = lab.train(name, mbin, data, steps, ["--batch", str(batch), "--seq", str(seq),
                                                  "--eval-every", str(steps), "--eval-steps", "16",
                                                  "--warmup", str(max(1, steps // 20))])
        points.append((params, last_val(rd), steps))
    ns, ls = [p for p, _, _ in points], [l for _, l, _ in points]
    a, alpha, c, _ = fit_power_law(ns, ls)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.loglog(ns, ls, "o", label="final validation loss")
    grid = [min(ns) * (max(ns) / min(ns)) ** (k / 50) for k in range(51)]
    ax.loglog(grid, [a * n ** -alpha + c for n in grid], "-",
              label=f"L = {a:.3g} N^-{alpha:.3f} + {c:.3f}")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("validation loss (nats per byte)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    lab.save(fig, "scaling")
    lines = [f"{len(points)} sizes at {budget:g} training tokens per parameter (batch {batch} x {seq} bytes).",
             f"Fit: L(N) = {a:.4g} * N^-{alpha:.4f} + {c:.4f}", "",
             "| parameters | steps | final validation loss | fit |", "|---:|---:|---:|---:|"]
    lines += [f"| {n:,} | {s} | {l:.4f} | {a * n ** -alpha + c:.4f} |" for n, l, s in points]
    lab.results("Scaling-law fit", lines)


def recall_data(path, pairs, examples, seed, keys=64, values=64):
    """Multi-query associative recall: `pairs` (key, value) pairs, then every key again as a
    query followed by its value; the targets are the values after each query (-100 elsewhere).
    Tokens: keys 1..keys, values keys+1..keys+values. Written as safetensors (tokens, targets)."""
    rng = random.Random(seed)
    T = 4 * pairs
    toks, tgts = [], []
    for _ in range(examples):
        ks = rng.sample(range(1, keys + 1), pairs)
        vs = [keys + 1 + rng.randrange(values) for _ in ks]
        seq = []
        for k, v in zip(ks, vs):
            seq += [k, v]
        order = list(range(pairs))
        rng.shuffle(order)
        tgt = [-100] * (2 * pairs)
        for i in order:
            seq += [ks[i], vs[i]]
            tgt += [vs[i], -100]
        toks += seq
        tgts += tgt
    header = {"tokens": {"dtype": "I32", "shape": [examples, T], "data_offsets": [0, 4 * examples * T]},
              "targets": {"dtype": "I32", "shape": [examples, T],
                          "data_offsets": [4 * examples * T, 8 * examples * T]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.write(struct.pack(f"<{examples * T}i", *toks))
        f.write(struct.pack(f"<{examples * T}i", *tgts))


def recall(args):
    lab = Lab(args, "recall")
    steps = args.steps or 400
    batch = 32
    base = {"d": 64, "layers": 2, "heads": 4, "vocab": 256}
    models = [("attention", {"mixer": "attention"}), ("Mamba", {"mixer": "mamba"}),
              ("hybrid", {"mixer": "hybrid", "layers": 4, "d": 48, "attn_period": 2})]
    lengths = [4, 8, 16, 32]
    acc = {}
    os.makedirs(os.path.join(lab.out, "data"), exist_ok=True)
    for pairs in lengths:
        train = os.path.join(lab.out, "data", f"train_{pairs}.safetensors")
        test = os.path.join(lab.out, "data", f"test_{pairs}.safetensors")
        if not os.path.exists(test):
            recall_data(train, pairs, 4096, seed=pairs)
            recall_data(test, pairs, 512, seed=1000 + pairs)
        for label, over in models:
            name = f"{label.lower()}_{pairs}"
            mbin, params = lab.compile(label.lower(), {**base, **over})
            rd = lab.train(name, mbin, train, steps, ["--batch", str(batch), "--eval-every", str(steps),
                                                       "--warmup", "20"])
            acc[(label, pairs)] = (lab.eval(mbin, os.path.join(rd, "checkpoint.safetensors"), test,
                                            ["--batch", str(batch)])[1], params)
    # Mamba's state size at the longest length.
    states = [4, 16, 64]
    sacc = {}
    pairs = lengths[-1]
    for ds in states:
        mbin, params = lab.compile(f"mamba_state{ds}", {**base, "mixer": "mamba", "d_state": ds})
        rd = lab.train(f"mamba_state{ds}_{pairs}", mbin,
                       os.path.join(lab.out, "data", f"train_{pairs}.safetensors"), steps,
                       ["--batch", str(batch), "--eval-every", str(steps), "--warmup", "20"])
        sacc[ds] = (lab.eval(mbin, os.path.join(rd, "checkpoint.safetensors"),
                             os.path.join(lab.out, "data", f"test_{pairs}.safetensors"),
                             ["--batch", str(batch)])[1], params)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (label, _) in enumerate(models):
        a.plot(lengths, [acc[(label, n)][0] for n in lengths], "o-", color=f"C{i}",
               label=f"{label} ({acc[(label, lengths[0])][1]:,} params)")
    a.set_xscale("log", base=2)
    a.set_xlabel("key-value pairs (sequence = 4 x pairs)")
    a.set_ylabel("recall accuracy")
    a.set_ylim(0, 1.02)
    a.axhline(1 / 64, color="gray", ls=":", lw=1)
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    b.plot(states, [sacc[s][0] for s in states], "o-", color="C1")
    b.set_xscale("log", base=2)
    b.set_xlabel(f"Mamba state size per channel ({pairs} pairs)")
    b.set_ylabel("recall accuracy")
    b.set_ylim(0, 1.02)
    b.grid(alpha=0.3)
    lab.save(fig, "recall")
    lines = [f"Multi-query associative recall (64 keys, 64 values; {steps} steps of batch {batch}; "
             "accuracy of the value after each query on 512 held-out sequences; chance 1/64).", "",
             "| model | parameters | " + " | ".join(f"{n} pairs" for n in lengths) + " |",
             "|---|---:|" + "---:|" * len(lengths)]
    for label, _ in models:
        lines.append(f"| {label} | {acc[(label, lengths[0])][1]:,} | " +
                     " | ".join(f"{acc[(label, n)][0]:.3f}" for n in lengths) + " |")
    lines += ["", f"| Mamba state size | parameters | accuracy at {pairs} pairs |", "|---:|---:|---:|"]
    lines += [f"| {s} | {sacc[s][1]:,} | {sacc[s][0]:.3f} |" for s in states]
    lab.results("Attention against SSMs on associative recall", lines)


def extrapolation(args):
    lab = Lab(args, "extrapolation")
    data = text_data(lab)
    steps = args.steps or 400
    batch, train_len = 16, 64
    base = {"d": 64, "layers": 4, "heads": 4, "ctx": 8 * train_len}
    lengths = [train_len * m for m in (1, 2, 4, 8)]
    curves = {}
    for pos in ("sinusoidal", "rope"):
        mbin, _ = lab.compile(pos, {**base, "pos": pos})
        rd = lab.train(pos, mbin, data, steps, ["--batch", str(batch), "--seq", str(train_len),
                                                "--eval-every", str(steps)])
        ckpt = os.path.join(rd, "checkpoint.safetensors")
        evals = lambda m: [math.exp(lab.eval(m(L), ckpt, data, ["--seq", str(L), "--batch", "2",
                                                                "--batches", "16"])[0]) for L in lengths]
        curves[pos] = evals(lambda L: mbin)
        if pos == "rope":
            for scaling in ("ntk", "yarn"):
                # The scaling is chosen per evaluation length: factor = L / trained length.
                def scaled(L, scaling=scaling):
                    if L == train_len:
                        return mbin
                    return lab.compile(f"rope_{scaling}_{L}", {**base, "pos": "rope", "scaling": scaling,
                                                               "factor": float(L // train_len),
                                                               "original_ctx": train_len})[0]
                curves[f"rope + {scaling.upper()}"] = evals(scaled)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (label, ppl) in enumerate(curves.items()):
        ax.plot(lengths, ppl, "o-", color=f"C{i}", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.axvline(train_len, color="gray", ls=":", lw=1)
    ax.set_xlabel("evaluation length (bytes)")
    ax.set_ylabel("perplexity per byte")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    lab.save(fig, "extrapolation")
    lines = [f"Trained at {train_len} bytes ({steps} steps of batch {batch}); evaluated on the first "
             "16 x 2 windows of each length, same checkpoint; NTK and YaRN with factor = length / "
             f"{train_len}.", "",
             "| positions | " + " | ".join(f"{L}" for L in lengths) + " |", "|---|" + "---:|" * len(lengths)]
    lines += [f"| {label} | " + " | ".join(f"{p:.3f}" for p in ppl) + " |" for label, ppl in curves.items()]
    lab.results("Positional extrapolation (perplexity against length)", lines)


def depth(args):
    lab = Lab(args, "depth")
    data = text_data(lab)
    steps = args.steps or 50
    batch, seq = 16, 64
    runs = []
    for norm in ("rms", "none"):
        mbin, _ = lab.compile(f"depth12_{norm}", {"layers": 12, "d": 64, "heads": 4, "norm": norm})
        rd = lab.train(f"depth12_{norm}", mbin, data, steps,
                       ["--batch", str(batch), "--seq", str(seq), "--grad-norms-every", "1",
                        "--eval-every", str(steps)])
        runs.append(plot_runs.Run(rd, "pre-norm (RMSNorm)" if norm == "rms" else "no normalization"))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    lines = ["Gradient norm per block (the mean gradient of each of 12 stacked blocks), at the first "
             "step and the last.", "", "| model | step | " + " | ".join(f"h.{i}" for i in range(12)) + " |",
             "|---|---:|" + "---:|" * 12]
    for i, r in enumerate(runs):
        recs = [x for x in r.records if "grad_norms" in x]
        for rec, style in ((recs[0], "--"), (recs[-1], "-")):
            g = [rec["grad_norms"].get(f"h.{k}", math.nan) for k in range(12)]
            ax.plot(range(12), g, style, marker="o", ms=3, color=f"C{i}", label=f"{r.label}, step {rec['step']}")
            lines.append(f"| {r.label} | {rec['step']} | " + " | ".join(f"{x:.3g}" for x in g) + " |")
    ax.set_yscale("log")
    ax.set_xlabel("block")
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    lab.save(fig, "depth")
    lab.results("Gradient norms through 12 stacked blocks", lines)


EXPERIMENTS = {"norm-ablation": norm_ablation, "scaling": scaling, "recall": recall,
               "extrapolation": extrapolation, "depth": depth}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("experiment", choices=sorted(EXPERIMENTS))
    ap.add_argument("--out", help="output directory (default: research/EXPERIMENT)")
    ap.add_argument("--steps", type=int, help="training steps per run (default: the experiment's)")
    ap.add_argument("--tokens-per-param", type=float, default=2.0, help="scaling: the budget (default 2)")
    ap.add_argument("--device", default="cpu", help="motif-run --device (default cpu)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"), help="motif-compile/motif-run")
    ap.add_argument("-D", action="append", default=[], help="a model override for every variant")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each command")
    args = ap.parse_args()
    EXPERIMENTS[args.experiment](args)


if __name__ == "__main__":
    main()
