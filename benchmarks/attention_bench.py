#!/usr/bin/env python3
"""Attention TFLOP/s: PyTorch scaled_dot_product_attention (flash backend, bf16),
and Motif's tiled attention kernel once `motif-run bench attention` exists.

  python3 benchmarks/attention_bench.py                     # SDPA only
  python3 benchmarks/attention_bench.py --motif build/bin/motif-run --out $OUT

Shapes (B, H, T, D): (8, 12, 2048, 64) and (4, 16, 4096, 128), causal and not.

FLOPs, counted as FlashAttention's benchmarks count them:
  forward            F = 4*B*H*T^2*D       (QK^T and PV, 2 FLOPs per multiply-add),
                     halved when causal
  backward           2.5 F                 (5 GEMMs of the recomputing backward)
  forward+backward   3.5 F
Times: CUDA events around --iters iterations after --warmup untimed ones; the
forward+backward iteration is one forward and torch.autograd.grad of q, k, v with
a fixed output gradient; the backward alone is (forward+backward) - forward.

The Motif side: with --motif-bench BIN, the attention kernels of the CUDA library timed
by tests/gpu/AttentionBench.cu (motif-gpu-attention-bench: every tile of the device's
family, the fastest reported; the median of --iters timed iterations after --warmup,
the forward+backward being the best forward plus the best backward);
scripts/gpu-check.sh passes it. Otherwise it waits for a `motif-run bench attention`
subcommand (it does not exist yet). The interface this script expects from it, so that it can be built to match:
  motif-run bench attention --batch B --heads H --seq T --head-dim D
      [--causal] --dtype bf16 --warmup N --iters N
printing, as its last line, JSON with "fwd_ms" and "fwd_bwd_ms" (per iteration).
Until then the Motif rows print "waiting for `motif-run bench attention`: skipped".
"""
import argparse
import json
import os
import subprocess
import sys

SHAPES = [(8, 12, 2048, 64), (4, 16, 4096, 128)]


def flops_fwd(B, H, T, D, causal):
    f = 4 * B * H * T * T * D
    return f // 2 if causal else f


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


def bench_sdpa(B, H, T, D, causal, warmup, iters, backend):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    be = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
          "efficient": SDPBackend.EFFICIENT_ATTENTION}[backend]
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, generator=g)
               .requires_grad_() for _ in range(3))
    do = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, generator=g)
    with sdpa_kernel(be):
        def fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        def fwd_bwd():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            torch.autograd.grad(o, (q, k, v), do)

        t_f = time_ms(fwd, warmup, iters)
        t_fb = time_ms(fwd_bwd, warmup, iters)
    return t_f, t_fb


def motif_attention_available(motif):
    """True when this motif-run has `bench attention` (it is looked up in its usage)."""
    if not motif or not os.access(motif, os.X_OK):
        return False, f"no executable motif-run at '{motif}'"
    try:
        usage = subprocess.run([motif, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"'{motif} --help' failed: {e}"
    if "bench attention" not in usage:
        return False, "waiting for `motif-run bench attention`: skipped"
    return True, ""


def bench_motif(motif, B, H, T, D, causal, warmup, iters):
    cmd = [motif, "bench", "attention", "--batch", str(B), "--heads", str(H), "--seq", str(T),
           "--head-dim", str(D), "--dtype", "bf16", "--warmup", str(warmup),
           "--iters", str(iters)] + (["--causal"] if causal else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return float(j["fwd_ms"]), float(j["fwd_bwd_ms"])


def bench_motif_kernels(binary, B, H, T, D, causal, warmup, iters):
    cmd = [binary, "--warmup", str(warmup), "--iters", str(iters)] + \
        ([] if causal else ["--non-causal"]) + [f"{B},{H},{T},{D}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    j = json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])
    return float(j["fwd_ms"]), float(j["fwd_bwd_ms"])


def row(impl, B, H, T, D, causal, t_f, t_fb):
    f = flops_fwd(B, H, T, D, causal)
    t_b = t_fb - t_f
    return {"bench": "attention", "impl": impl, "B": B, "H": H, "T": T, "D": D,
            "causal": causal, "fwd_ms": round(t_f, 4), "fwd_bwd_ms": round(t_fb, 4),
            "fwd_tflops": round(f / t_f / 1e9, 1),
            "bwd_tflops": round(2.5 * f / t_b / 1e9, 1) if t_b > 0 else None,
            "fwd_bwd_tflops": round(3.5 * f / t_fb / 1e9, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--motif", help="path of motif-run (optional)")
    p.add_argument("--motif-bench", help="path of motif-gpu-attention-bench (optional)")
    p.add_argument("--backend", choices=["flash", "cudnn", "efficient"], default="flash",
                   help="SDPA backend forced with sdpa_kernel (default flash)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--out", default=os.environ.get("OUT"), help="directory for attention.json")
    a = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"bench": "attention", "error": "no CUDA device"}))
        return 1
    rows = []
    motif_ok, why = motif_attention_available(a.motif) if a.motif else (False, "")
    print(f"attention on {torch.cuda.get_device_name()} (torch {torch.__version__}); "
          f"TFLOP/s (ms)")
    print(f"{'impl':<12} {'B,H,T,D':<18} {'causal':<7} {'fwd':>16} {'bwd':>9} {'fwd+bwd':>16}")
    for B, H, T, D in SHAPES:
        for causal in (False, True):
            impls = [("sdpa-" + a.backend, lambda: bench_sdpa(B, H, T, D, causal, a.warmup,
                                                               a.iters, a.backend))]
            if a.motif_bench:
                impls.append(("motif-kernels", lambda: bench_motif_kernels(
                    a.motif_bench, B, H, T, D, causal, a.warmup, a.iters)))
            if motif_ok:
                impls.append(("motif", lambda: bench_motif(a.motif, B, H, T, D, causal,
                                                           a.warmup, a.iters)))
            for impl, fn in impls:
                try:
                    r = row(impl, B, H, T, D, causal, *fn())
                    print(f"{impl:<12} {f'{B},{H},{T},{D}':<18} {str(causal):<7} "
                          f"{r['fwd_tflops']:>7} ({r['fwd_ms']:>6.3f}) {r['bwd_tflops']!s:>9} "
                          f"{r['fwd_bwd_tflops']:>7} ({r['fwd_bwd_ms']:>6.3f})")
                except Exception as e:  # one failing shape or backend must not stop the rest
                    r = {"bench": "attention", "impl": impl, "B": B, "H": H, "T": T, "D": D,
                         "causal": causal, "error": str(e).split("\n")[0][:300]}
                    print(f"{impl:<12} {f'{B},{H},{T},{D}':<18} {str(causal):<7} "
                          f"error: {r['error']}")
                rows.append(r)
    if a.motif and not motif_ok:
        print(f"motif: {why}")
        rows.append({"bench": "attention", "impl": "motif", "skipped": why})
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "attention.json"), "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
