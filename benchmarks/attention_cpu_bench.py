#!/usr/bin/env python3
"""Attention alone on the CPU: Motif's fast `cpu` backend against its `reference` backend and
PyTorch's scaled_dot_product_attention, side by side in one run (docs/benchmarks.md).

  /work/venv-torch/bin/python benchmarks/attention_cpu_bench.py [--batch 8 --seq 256 --reps 3]

The model is benchmarks/models/attention_layer.motif (d 256, 4 heads of 64, causal): q, k, v are
the input times per-channel weights, so a train step is one attention forward and backward plus
a few elementwise ops and no GEMM. PyTorch runs the same step (eager, SDPA, AdamW). The machine
is shared, so times are CPU time (user + sys of all threads), not wall time: Motif's per step
is the difference between a run of --steps-hi and one of --steps-lo steps (same warm-up),
divided by the difference; PyTorch's the process CPU time of its timed steps. Reps interleave
the three; the medians are printed.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def motif_ms(run, mbin, args, device):
    def cpu_of(steps):
        t0 = child_cpu()
        subprocess.run([run, "bench", mbin, "--batch", str(args.batch), "--seq", str(args.seq),
                        "--steps", str(steps), "--warmup", "1", "--device", device],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return child_cpu() - t0
    lo, hi = cpu_of(args.steps_lo), cpu_of(args.steps_hi)
    return (hi - lo) * 1e3 / (args.steps_hi - args.steps_lo)


def torch_ms(args):
    import torch
    torch.set_num_threads(args.threads)
    d, heads = 256, 4
    x = torch.randn(args.batch, args.seq, d)
    w = [torch.nn.Parameter(torch.ones(d)) for _ in range(3)]
    opt = torch.optim.AdamW(w, lr=1e-3)

    def step():
        q, k, v = [(x * wi).view(args.batch, args.seq, heads, d // heads).transpose(1, 2)
                   for wi in w]
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        loss = (y * y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(2):
        step()
    t0 = time.process_time()
    for _ in range(args.steps_hi):
        step()
    return (time.process_time() - t0) * 1e3 / args.steps_hi


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps-lo", type=int, default=1)
    p.add_argument("--steps-hi", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = p.parse_args()
    bin_dir = os.path.join(args.build, "bin")
    mbin = os.path.join(tempfile.mkdtemp(), "attention_layer.mbin")
    subprocess.run([os.path.join(bin_dir, "motif-compile"),
                    os.path.join(ROOT, "benchmarks/models/attention_layer.motif"),
                    "--target=cpu", "-o", mbin], check=True)
    run = os.path.join(bin_dir, "motif-run")
    times = {"cpu": [], "reference": [], "torch": []}
    for _ in range(args.reps):
        times["cpu"].append(motif_ms(run, mbin, args, "cpu"))
        times["reference"].append(motif_ms(run, mbin, args, "reference"))
        times["torch"].append(torch_ms(args))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"attention layer train step, B {args.batch}, T {args.seq}, d 256, 4 heads, causal; "
          f"CPU ms per step (median of {args.reps})")
    for k in ("cpu", "reference", "torch"):
        print(f"  {k:10s} {med[k]:8.1f}   runs: " + ", ".join(f"{t:.1f}" for t in times[k]))
    print(f"  reference / cpu {med['reference'] / med['cpu']:.2f}x, "
          f"torch / cpu {med['torch'] / med['cpu']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
