#!/usr/bin/env python3
"""Mamba-2's SSD (motif.ssd, a decay per head) in bf16: Motif's kernels, the tensor-core
path beside the FMA path, and PyTorch's chunked reference, side by side in one run.

  python3 benchmarks/ssd_bench.py --motif-bench build/tests/gpu/motif-gpu-ssd-bench --out $OUT
  python3 benchmarks/ssd_bench.py --sim --motif-bench build/tests/gpu/motif-sim-gpu-ssd-bench
      # the simulator at a tiny size: checks that the whole path runs, not the speed

  motif-tc    tests/gpu/SsdBench.cu: ssd.cuh's chunk products on tensor cores (ssd::tc)
  motif-fma   the same kernels' f32 FMA path (SsdArgs::fma), same inputs
  torch       ssd_minimal_discrete of the Mamba-2 repository (mamba_ssm/modules/
              ssd_minimal.py): the chunked einsums in bf16 (the log decays and their
              cumulative sums in f32), backward by autograd
Timed: the forward, and forward + backward (dx, da, dB, dC), at Mamba-2-130M's SSD
(24 heads of 64, one group, state 128, chunks of 256) for batch 8 x 2048 tokens and 1 x
8192. Times: CUDA events, the median (Motif) or mean (torch) over --iters after --warmup.
"""
import argparse
import json
import os
import subprocess
import sys

# B, T, H, P, G, N, chunk
SHAPES = [(8, 2048, 24, 64, 1, 128, 256), (1, 8192, 24, 64, 1, 128, 256)]
SIM_SHAPES = [(1, 40, 2, 16, 1, 16, 32)]


def segsum(x):
    """[..., T] -> [..., T, T]: sum of x over (s, t], -inf above the diagonal."""
    import torch
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), -1), 0)
    s = torch.cumsum(x, dim=-2)
    return s.masked_fill(~torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), 0),
                         -torch.inf)


def ssd_minimal(X, A, B, C, chunk):
    """X [b, l, h, p] bf16, A [b, l, h] f32, B, C [b, l, h, n] bf16 -> Y [b, l, h, p]."""
    import torch
    import torch.nn.functional as F
    b, l, h, p = X.shape
    c = l // chunk
    X, B, C = (t.reshape(b, c, chunk, *t.shape[2:]) for t in (X, B, C))
    A = A.reshape(b, c, chunk, h).permute(0, 3, 1, 2)  # b h c l
    A_cumsum = torch.cumsum(A, dim=-1)
    L = torch.exp(segsum(A)).to(X.dtype)
    Y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, L, X)
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum).to(X.dtype)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cumsum[:, :, :, -1], (1, 0)))).to(X.dtype)
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, torch.exp(A_cumsum).to(X.dtype))
    return (Y_diag + Y_off).reshape(b, l, h, p)


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


def torch_row(shape, warmup, iters):
    import torch
    Bn, T, H, P, G, N, chunk = shape
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(Bn, T, H, P, device=dev, generator=g).bfloat16().requires_grad_()
    a = (-0.1 * torch.rand(Bn, T, H, device=dev, generator=g) - 0.01).requires_grad_()
    Bm = (0.3 * torch.randn(Bn, T, G, N, device=dev, generator=g)).bfloat16().requires_grad_()
    Cm = (0.3 * torch.randn(Bn, T, G, N, device=dev, generator=g)).bfloat16().requires_grad_()
    dy = torch.randn(Bn, T, H, P, device=dev, generator=g).bfloat16()
    rep = lambda t: t.repeat_interleave(H // G, dim=2)

    def fwd():
        with torch.no_grad():
            return ssd_minimal(x, a, rep(Bm), rep(Cm), chunk)

    def both():
        y = ssd_minimal(x, a, rep(Bm), rep(Cm), chunk)
        torch.autograd.backward(y, dy)

    row = dict(bench="ssd", impl="torch-ssd_minimal", B=Bn, T=T, H=H, P=P, G=G, N=N, chunk=chunk)
    try:
        row["fwd_ms"] = time_ms(fwd, warmup, iters)
        row["fwd_bwd_ms"] = time_ms(both, warmup, iters)
        row["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / 2**30
    except RuntimeError as e:  # out of memory, most likely
        row["error"] = str(e).splitlines()[0][:200]
    torch.cuda.empty_cache()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--motif-bench", help="motif-gpu-ssd-bench (or motif-sim-gpu-ssd-bench)")
    ap.add_argument("--sim", action="store_true", help="tiny shapes, no torch")
    ap.add_argument("--out", default=".")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    shapes = SIM_SHAPES if args.sim else SHAPES
    iters, warmup = (1, 0) if args.sim else (args.iters, args.warmup)
    rows = []
    if args.motif_bench:
        cmd = [args.motif_bench, "--iters", str(iters), "--warmup", str(warmup)]
        cmd += [",".join(map(str, s)) for s in shapes]
        out = subprocess.run(cmd, capture_output=True, text=True)
        rows += [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            rows.append(dict(bench="ssd", impl="motif", error=f"exit {out.returncode}"))
    if not args.sim:
        try:
            import torch
            if torch.cuda.is_available():
                rows += [torch_row(s, warmup, iters) for s in shapes]
        except ImportError:
            pass
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ssd.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")  # a row a line
    print(f"{'impl':<18} {'B x T':>10} {'fwd ms':>9} {'fwd+bwd ms':>11}")
    for r in rows:
        if "error" in r:
            print(f"{r['impl']:<18} error: {r['error']}")
            continue
        print(f"{r['impl']:<18} {str(r['B']) + 'x' + str(r['T']):>10} {r['fwd_ms']:>9.3f} "
              f"{r['fwd_bwd_ms']:>11.3f}")
    return 0 if rows and not any("error" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
