#!/usr/bin/env python3
"""Grouped expert layer TFLOP/s: Motif's grouped GEMM kernels beside torch._grouped_mm
and a dense GEMM of the same FLOPs, side by side in one run (bf16).

  python3 benchmarks/moe_bench.py --out $OUT                                  # torch only
  python3 benchmarks/moe_bench.py --motif-bench build/tests/gpu/motif-gpu-moe-bench --out $OUT
  python3 benchmarks/moe_bench.py --sim --motif-bench build/tests/gpu/motif-sim-gpu-moe-bench
      # the simulator at a tiny size: checks that the whole path runs, not the speed

The layer: `tokens` tokens of width d routed top-k over E experts, each expert an MLP
of two linears (d -> ff -> d); R = tokens * k rows grouped by expert. Timed: the two
GEMMs forward, and forward+backward (dX and dW of both), without the activation
between them, so that all three implementations do exactly the same GEMM work:
  motif-kernels  tests/gpu/MoeBench.cu (motif-gpu-moe-bench): moe.cuh's grouped GEMM
                 over the route kernel's top-k of random logits (offsets on the device);
                 it also reports the layer's route/permute/combine kernels apart
  grouped_mm     torch._grouped_mm(x, w.transpose(-2, -1), offs=...) with the same
                 per-expert row counts, backward by autograd
  dense          x [R, d] @ w1^T [d, ff] @ w2^T [ff, d]: one expert's GEMMs over all
                 rows, the same FLOPs, backward by autograd
FLOPs: forward 2 * 2 * R * d * ff, backward twice that. Shapes: 16k tokens, d 1024,
8 experts top-2, ff 2816 (the issue's); Mixtral-scale (d 4096, ff 14336, 8 top-2,
4k tokens); OLMoE-like (d 2048, 64 experts top-8, ff 1024, 8k tokens). The goal
(issue 11): the grouped layer at >= 90% of the dense GEMM's throughput (>= 85% for 64
experts); the `vs dense` column is that ratio.
Times: CUDA events around --iters iterations after --warmup untimed ones.
"""
import argparse
import json
import os
import subprocess
import sys

SHAPES = [(16384, 1024, 8, 2, 2816), (4096, 4096, 8, 2, 14336), (8192, 2048, 64, 8, 1024)]
SIM_SHAPES = [(64, 64, 4, 2, 96)]


def flops(tokens, d, E, k, ff):
    fwd = 2 * 2 * tokens * k * d * ff
    return fwd, 3 * fwd


def time_ms(fn, warmup, iters):
    import torch
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def routed_counts(tokens, E, k, seed=0):
    """Per-expert row counts of a top-k routing of random logits (roughly balanced)."""
    import torch
    g = torch.Generator(device="cuda").manual_seed(seed)
    logits = torch.randn(tokens, E, device="cuda", generator=g)
    top = logits.topk(k, dim=-1).indices.flatten()
    return torch.bincount(top, minlength=E)


def bench_torch(impl, tokens, d, E, k, ff, warmup, iters):
    import torch
    R = tokens * k
    dev, dt = "cuda", torch.bfloat16
    x = (torch.randn(R, d, device=dev, dtype=dt) * 0.5).requires_grad_()
    if impl == "grouped_mm":
        if not hasattr(torch, "_grouped_mm"):
            raise RuntimeError(f"torch {torch.__version__} has no torch._grouped_mm")
        w1 = (torch.randn(E, ff, d, device=dev, dtype=dt) * 0.02).requires_grad_()
        w2 = (torch.randn(E, d, ff, device=dev, dtype=dt) * 0.02).requires_grad_()
        offs = torch.cumsum(routed_counts(tokens, E, k), 0).to(torch.int32)

        def fwd():
            h = torch._grouped_mm(x, w1.transpose(-2, -1), offs=offs)
            return torch._grouped_mm(h, w2.transpose(-2, -1), offs=offs)
    else:
        w1 = (torch.randn(ff, d, device=dev, dtype=dt) * 0.02).requires_grad_()
        w2 = (torch.randn(d, ff, device=dev, dtype=dt) * 0.02).requires_grad_()

        def fwd():
            return (x @ w1.t()) @ w2.t()
    dy = torch.randn(R, d, device=dev, dtype=dt)

    def fwd_bwd():
        torch.autograd.grad(fwd(), (x, w1, w2), dy)

    with torch.no_grad():
        t_f = time_ms(fwd, warmup, iters)
    t_fb = time_ms(fwd_bwd, warmup, iters)
    return t_f, t_fb


def bench_motif(binary, tokens, d, E, k, ff, warmup, iters):
    out = subprocess.run([binary, "--warmup", str(warmup), "--iters", str(iters),
                          f"{tokens},{d},{E},{k},{ff}"], capture_output=True, text=True,
                         timeout=600)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1:] or
                           [f"exit status {out.returncode}"])
    r = json.loads(lines[-1])
    return r["gemm_fwd_ms"], r["gemm_fwd_bwd_ms"], r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--motif-bench", help="path of motif-gpu-moe-bench (optional)")
    p.add_argument("--sim", action="store_true",
                   help="the simulator's bench binary at a tiny size, no torch rows")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--out", default=os.environ.get("OUT"), help="directory for moe.json")
    a = p.parse_args()
    shapes = SIM_SHAPES if a.sim else SHAPES
    torch_ok, device, version = False, "sim", None
    if not a.sim:
        try:
            import torch
            torch_ok = torch.cuda.is_available()
            version = torch.__version__
            device = torch.cuda.get_device_name() if torch_ok else "no CUDA device"
        except ImportError:
            device = "torch not importable"
    if not a.sim and not torch_ok and not a.motif_bench:
        print(json.dumps({"bench": "moe", "error": device}))
        return 1
    if a.sim:
        a.warmup, a.iters = 0, 1
    print(f"grouped expert layer on {device}, bf16; TFLOP/s (ms)")
    print(f"{'impl':<14} {'tokens,d,E,k,ff':<24} {'fwd':>16} {'fwd+bwd':>16} {'vs dense':>9}")
    rows, failed = [], False
    for tokens, d, E, k, ff in shapes:
        f_fwd, f_all = flops(tokens, d, E, k, ff)
        impls = []
        if torch_ok:
            impls += [("dense", lambda: bench_torch("dense", tokens, d, E, k, ff, a.warmup,
                                                    a.iters)),
                      ("grouped_mm", lambda: bench_torch("grouped_mm", tokens, d, E, k, ff,
                                                         a.warmup, a.iters))]
        if a.motif_bench:
            impls.append(("motif-kernels", lambda: bench_motif(a.motif_bench, tokens, d, E, k,
                                                               ff, a.warmup, a.iters)[:2]))
        dense = None
        shape = f"{tokens},{d},{E},{k},{ff}"
        for impl, fn in impls:
            r = {"bench": "moe", "impl": impl, "tokens": tokens, "d": d, "experts": E,
                 "top_k": k, "ff": ff}
            try:
                t_f, t_fb = fn()
                r.update({"fwd_ms": round(t_f, 4), "fwd_bwd_ms": round(t_fb, 4),
                          "fwd_tflops": round(f_fwd / t_f / 1e9, 2),
                          "fwd_bwd_tflops": round(f_all / t_fb / 1e9, 2)})
                if impl == "dense":
                    dense = r["fwd_bwd_tflops"]
                ratio = (f"{r['fwd_bwd_tflops'] / dense:.0%}" if dense and impl != "dense"
                         else "")
                r["vs_dense"] = round(r["fwd_bwd_tflops"] / dense, 3) if dense else None
                print(f"{impl:<14} {shape:<24} {r['fwd_tflops']:>7} ({t_f:>6.3f}) "
                      f"{r['fwd_bwd_tflops']:>7} ({t_fb:>6.3f}) {ratio:>9}")
            except Exception as e:  # one failing implementation must not stop the rest
                r["error"] = str(e).split("\n")[0][:300]
                failed = True
                print(f"{impl:<14} {shape:<24} error: {r['error']}")
            rows.append(r)
    if not torch_ok:
        print(f"torch rows skipped: {device if not a.sim else 'the simulator runs Motif only'}")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "moe.json"), "w") as f:
            json.dump({"device": device, "torch": version, "rows": rows}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
