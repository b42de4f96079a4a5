#!/usr/bin/env python3
"""Scan lowering on the CPU, side by side in one run (docs/benchmarks.md).

For each case -- one Mamba-1 mixer (benchmarks/models/mamba_layer.motif), the
tiny Mamba (examples/mamba.motif, mamba_tiny) and the tiny Jamba
(examples/jamba.motif, jamba_tiny) -- it compiles the model for the CPU twice,
with the scan-lowering pass (the chunked scans) and with --no-scan-lowering
(the sequential reference scans), and times each with `motif-run bench`
(train step: forward, backward and the AdamW update; and the layer's forward).
Beside them, a PyTorch CPU reference of the same shapes: the same mixer and
the same tiny Mamba in eager PyTorch with the selective scan written as a
sequential loop over time (what mamba_simple's reference path does without
its CUDA kernels). The tiny Jamba has no PyTorch twin here (its attention
and MoE layers would be most of it): Motif only.

  benchmarks/scan_bench.py [--batch 2] [--seq 256] [--layer-d 256] [--steps 5]
                           [--warmup 1] [--out FILE.json] [--no-torch]

Prints one table and writes the measurements as JSON. Runs each Motif case in
its own process; PyTorch runs in this one, with as many threads as Motif uses
(the machine's hardware threads) unless --torch-threads says otherwise.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_tool(name, build):
    for p in (os.path.join(build, "bin", name), shutil.which(name)):
        if p and os.path.exists(p):
            return p
    sys.exit(f"scan_bench: {name} not found (build it: cmake --build {build} --target {name})")


def motif_bench(tools, src, model, defines, lowering, fn, args, tmp):
    tag = f"{model}-{'chunked' if lowering else 'sequential'}"
    mbin = os.path.join(tmp, tag + ".mbin")
    cmd = [tools["compile"], src, "--target=cpu", "-o", mbin]
    if model:
        cmd.append(f"--model={model}")
    for d in defines:
        cmd += ["-D", d]
    if not lowering:
        cmd.append("--no-scan-lowering")
    subprocess.run(cmd, check=True)
    run = [tools["run"], "bench", mbin, "--device", "cpu", "--function", fn,
           "--batch", str(args.batch), "--seq", str(args.seq),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    out = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    return {"ms": r["step_ms"], "tokens_per_s": r["tokens_per_s"], "command": " ".join(run)}


# --- PyTorch reference (sequential selective scan) ----------------------------------

def torch_models(torch):
    nn = torch.nn
    F = torch.nn.functional

    def selective_scan(u, dt, A, Bm, Cm, D):
        # u, dt: [B, T, Di]; A: [Di, N]; Bm, Cm: [B, T, N]. One step at a time.
        b, t, di = u.shape
        h = u.new_zeros(b, di, A.shape[1])
        ys = []
        for i in range(t):
            dA = torch.exp(dt[:, i, :, None] * A)
            h = dA * h + (dt[:, i, :, None] * u[:, i, :, None]) * Bm[:, i, None, :]
            ys.append((h * Cm[:, i, None, :]).sum(-1))
        return torch.stack(ys, 1) + u * D

    class Mixer(nn.Module):
        """The standard library's mamba_mixer, parameter for parameter."""

        def __init__(self, d, d_state=16, d_conv=4, expand=2):
            super().__init__()
            di, r = expand * d, (d + 15) // 16
            self.di, self.r, self.n = di, r, d_state
            self.in_proj = nn.Linear(d, 2 * di, bias=False)
            self.conv1d = nn.Conv1d(di, di, d_conv, groups=di, padding=d_conv - 1)
            self.x_proj = nn.Linear(di, r + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(r, di, bias=True)
            self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(di, 1))
            self.D = nn.Parameter(torch.ones(di))
            self.out_proj = nn.Linear(di, d, bias=False)

        def forward(self, x):
            t = x.shape[1]
            u, z = self.in_proj(x).split([self.di, self.di], -1)
            u = F.silu(self.conv1d(u.transpose(1, 2))[..., :t].transpose(1, 2))
            dt, Bm, Cm = self.x_proj(u).split([self.r, self.n, self.n], -1)
            dt = F.softplus(self.dt_proj(dt))
            y = selective_scan(u, dt, -torch.exp(self.A_log), Bm, Cm, self.D)
            return self.out_proj(y * F.silu(z))

    class Mamba(nn.Module):
        """examples/mamba.motif: embedding, pre-norm mixers, tied head."""

        def __init__(self, vocab, d, layers, d_state):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.norms = nn.ModuleList([nn.RMSNorm(d, eps=1e-5) for _ in range(layers)])
            self.mixers = nn.ModuleList([Mixer(d, d_state) for _ in range(layers)])
            self.norm_f = nn.RMSNorm(d, eps=1e-5)

        def forward(self, tokens, targets):
            x = self.emb(tokens)
            for n, m in zip(self.norms, self.mixers):
                x = x + m(n(x))
            logits = self.norm_f(x) @ self.emb.weight.t()
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    return Mixer, Mamba


def torch_time(torch, step, steps, warmup):
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) * 1000 / steps


def torch_cases(args):
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(args.torch_threads or os.cpu_count())
    Mixer, Mamba = torch_models(torch)
    B, T = args.batch, args.seq
    out = {}

    layer = Mixer(args.layer_d)
    x = torch.randn(B, T, args.layer_d)
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-3)

    def layer_train():
        opt.zero_grad(set_to_none=True)
        y = layer(x)
        (y * y).mean().backward()
        opt.step()

    def layer_fwd():
        with torch.no_grad():
            layer(x)

    out["mamba_layer train_step"] = torch_time(torch, layer_train, args.steps, args.warmup)
    out["mamba_layer forward"] = torch_time(torch, layer_fwd, args.steps, args.warmup)

    model = Mamba(256, 32, 2, 8)  # mamba_tiny
    tok = torch.randint(0, 256, (B, T))
    tgt = torch.randint(0, 256, (B, T))
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def tiny_train():
        opt2.zero_grad(set_to_none=True)
        model(tok, tgt).backward()
        opt2.step()

    out["mamba_tiny train_step"] = torch_time(torch, tiny_train, args.steps, args.warmup)
    return out, torch.__version__, torch.get_num_threads()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--layer-d", type=int, default=256,
                    help="model width of the single mixer (d_inner = 2 d, N = 16)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--torch-threads", type=int, default=0)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    tools = {"compile": find_tool("motif-compile", args.build),
             "run": find_tool("motif-run", args.build)}
    cases = [
        ("mamba_layer", os.path.join(ROOT, "benchmarks/models/mamba_layer.motif"), "",
         [f"d={args.layer_d}"], ["train_step", "forward"]),
        ("mamba_tiny", os.path.join(ROOT, "examples/mamba.motif"), "mamba_tiny", [],
         ["train_step"]),
        ("jamba_tiny", os.path.join(ROOT, "examples/jamba.motif"), "jamba_tiny", [],
         ["train_step"]),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, model, defines, fns in cases:
            for fn in fns:
                row = {"case": f"{name} {fn}"}
                for lowering in (False, True):
                    key = "chunked" if lowering else "sequential"
                    row[key] = motif_bench(tools, src, model, defines, lowering, fn, args, tmp)
                results.append(row)
    torch_info = None
    if not args.no_torch:
        try:
            t, version, threads = torch_cases(args)
            torch_info = {"version": version, "threads": threads}
            for row in results:
                if row["case"] in t:
                    row["torch_ms"] = t[row["case"]]
        except ImportError:
            print("scan_bench: PyTorch not importable; its column is empty", file=sys.stderr)

    print(f"B {args.batch}, T {args.seq}, mixer d {args.layer_d} (d_inner {2 * args.layer_d}, "
          f"N 16); {args.steps} timed steps after {args.warmup}; CPU, "
          f"{os.cpu_count()} hardware threads"
          + (f"; PyTorch {torch_info['version']} on {torch_info['threads']} threads"
             if torch_info else ""))
    hdr = f"{'case':<24} {'sequential ms':>14} {'chunked ms':>11} {'speedup':>8} {'PyTorch loop ms':>16} {'PyTorch / chunked':>18}"
    print(hdr)
    for r in results:
        s, c = r["sequential"]["ms"], r["chunked"]["ms"]
        tm = r.get("torch_ms")
        print(f"{r['case']:<24} {s:>14.1f} {c:>11.1f} {s / c:>7.2f}x "
              + (f"{tm:>16.1f} {tm / c:>17.2f}x" if tm is not None else f"{'-':>16} {'-':>18}"))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"batch": args.batch, "seq": args.seq, "layer_d": args.layer_d,
                       "steps": args.steps, "warmup": args.warmup, "torch": torch_info,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
