#!/usr/bin/env python3
"""Training-step throughput of a benchmark model in PyTorch (eager or torch.compile).

  python3 benchmarks/train_bench.py --model gpt2 --mode eager
  python3 benchmarks/train_bench.py --model llama --mode compile --steps 20 --out $OUT

The recipe is the standard strong one: fp32 parameters, bf16 autocast for the
forward and the loss, torch.optim.AdamW(fused=True)
 (betas 0.9/0.95, weight decay
0.1 on matrices only), gradient clipping at 1.0 as in the examples' recipes. Inputs
are random tokens (one batch, made once on the GPU). Prints one JSON line and, with
--out (default: $OUT when set), writes it to OUT/train_<model>_<mode>.json
(train_llama_<mode>_repeat.json with --gqa repeat).

Measured:
  tokens_per_s     batch*seq*steps / wall time of the timed steps; the warmup
                   steps are excluded; torch.cuda.synchronize() before and after
  step_ms          the same time per step
  first_step_s     model build start -> first step finished (synchronized); for
                   compile mode this includes compilation of forward and backward
  first_step_from_start_s   the same from the start of this script (imports too)
  peak_alloc_gib   torch.cuda.max_memory_allocated() over the whole run
  peak_reserved_gib  torch.cuda.max_memory_reserved() (what the allocator held)
  tflops, mfu      model FLOPs per token (as motif-compile --report counts them) x
                   tokens/s; MFU against the device's dense bf16 peak
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

DEFAULTS = {"gpt2": (16, 1024), "llama": (8, 2048)}  # (batch, seq) of the issue
# Dense bf16 tensor-core peaks (FLOP/s), by a substring of the device name.
PEAKS = [("H200", 989.4e12), ("H100 PCIe", 756.0e12), ("H100", 989.4e12), ("A100", 312e12),
         ("L40S", 362.05e12), ("A10G", 70e12)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["gpt2", "llama"], required=True)
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--batch", type=int, help="default: gpt2 16, llama 8")
    p.add_argument("--seq", type=int, help="default: gpt2 1024, llama 2048")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=5,
                   help="untimed steps first, compilation included (default 5)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--clip", type=float, default=1.0, help="0 disables clipping")
    p.add_argument("--gqa", choices=["native", "repeat"], default="native",
                   help="Llama GQA: SDPA enable_gqa=True (native) or repeat_interleave")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode (default: torch's default; e.g. max-autotune)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda",
                   help="cuda (default); cpu only to smoke-test this script")
    p.add_argument("--out", default=os.environ.get("OUT"), help="directory for the JSON file")
    a = p.parse_args(argv)
    b, s = DEFAULTS[a.model]
    a.batch, a.seq = a.batch or b, a.seq or s
    if a.warmup < 1:
        p.error("--warmup must be at least 1 (the first step is never timed)")
    return a


def main():
    a = parse_args()
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models as tm

    result = {"bench": "train", "impl": f"torch-{a.mode}", "model": a.model, "mode": a.mode,
              "batch": a.batch, "seq": a.seq, "steps": a.steps, "warmup": a.warmup,
              "torch": torch.__version__}

    def emit(extra):
        result.update(extra)
        line = json.dumps(result)
        print(line, flush=True)
        if a.out:
            os.makedirs(a.out, exist_ok=True)
            tag = "_repeat" if a.model == "llama" and a.gqa == "repeat" else ""
            with open(os.path.join(a.out, f"train_{a.model}_{a.mode}{tag}.json"), "w") as f:
                f.write(line + "\n")

    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        emit({"error": "no CUDA device"})
        return 1
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    result["device"] = name
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 work outside autocast (optimizer)
    torch.backends.cudnn.allow_tf32 = True

    t_build = time.perf_counter()
    model, family, cfg = tm.build(a.model, gqa=a.gqa, device=dev)
    total, _ = tm.parameter_counts(model)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = torch.compile(model, mode=a.compile_mode) if a.mode == "compile" else model
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    data = torch.randint(0, cfg["vocab"], (a.batch, a.seq + 1), device=dev, generator=gen)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            _, loss = fwd(x, y)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    try:
        loss_first = step()
        sync()
        t_first = time.perf_counter()
        for _ in range(a.warmup - 1):
            step()
        sync()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            loss = step()
        sync()
        t1 = time.perf_counter()
    except Exception as e:  # noqa: BLE001 -- one JSON line whatever failed (OOM, compile)
        kind = "out of memory" if isinstance(e, torch.cuda.OutOfMemoryError) else type(e).__name__
        emit({"error": f"{kind}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"})
        return 1

    tokens_per_s = a.batch * a.seq * a.steps / (t1 - t0)
    fpt = tm.train_flops_per_token(family, cfg, a.seq)
    peak = next((v for k, v in PEAKS if k in name), None)
    emit({
        "params": total,
        "gqa": a.gqa if family == "llama" else None,
        "tokens_per_s": round(tokens_per_s, 1),
        "step_ms": round(1000 * (t1 - t0) / a.steps, 3),
        "first_step_s": round(t_first - t_build, 3),
        "first_step_from_start_s": round(t_first - T_START, 3),
        "peak_alloc_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 3) if cuda else None,
        "flops_per_token": fpt,
        "tflops": round(fpt * tokens_per_s / 1e12, 2),
        "mfu": round(fpt * tokens_per_s / peak, 4) if peak else None,
        "loss_first": round(float(loss_first), 4),
        "loss_last": round(float(loss), 4),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
