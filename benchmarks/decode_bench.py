#!/usr/bin/env python3
"""GPU decode speed at batch 1, side by side in one run: Motif's @prefill and
@decode_step on the CUDA backend (`motif-run generate --device cuda`: the
state in device memory, each step after the first a CUDA graph replay)
against transformers' generate with its KV cache (bf16, sdpa), and the HBM
roofline of a decode step (the bf16 weights read once per token).

    benchmarks/decode_bench.py --motif-run build/bin/motif-run \
        --mbin build/gpu-check/bench/tinyllama.mbin --prompt-tokens 512 --new-tokens 128

The model is TinyLlama-1.1B-shaped (examples/llama.motif's tinyllama_bench:
d 2048, 22 layers, 32 query / 4 KV heads, SwiGLU 5632, vocab 32000; random
weights, which speed does not depend on), greedy, batch 1. Prints one JSON
line per side, the roofline and the ratios, and writes them to --out
(decode.json). --device sim runs Motif's side only, on a tiny artifact
(scripts/gpu-check.sh --sim: the path, not the speed).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

# Peak HBM bandwidth (bytes/s) by device name (vendor datasheets); HBM_GBPS
# overrides.
BANDWIDTH = [("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12),
             ("A100-SXM4-80GB", 2.039e12), ("A100 80GB", 1.935e12), ("A100", 1.555e12),
             ("L40S", 0.864e12), ("L4", 0.3e12)]

SPEED = re.compile(r"prefill: (\d+) tokens in ([\d.]+) s \(([\d.]+) tokens/s\); decode: (\d+) "
                   r"tokens in ([\d.]+) s \(([\d.]+) tokens/s\)")


def prompt_text(n):
    text = "In the beginning God created the heaven and the earth. "
    return (text * (n // len(text) + 1))[:n]


def motif(args):
    # The byte codec: one token per byte of the prompt.
    cmd = [args.motif_run, "generate", args.mbin, "--prompt", prompt_text(args.prompt_tokens),
           "--tokens", str(args.new_tokens), "--temp", "0", "--device", args.device]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"system": "motif", "error": r.stderr.strip()[-400:]}
    m = SPEED.search(r.stderr)
    if not m:
        return {"system": "motif", "error": "no speeds in motif-run's output: " + r.stderr[-300:]}
    graphs = re.search(r"CUDA graphs: (\d+) captured, (\d+) replayed", r.stderr)
    return {"system": f"motif ({args.device} backend)", "prefill_tokens": int(m.group(1)),
            "prefill_tokens_per_s": float(m.group(3)), "decode_tokens": int(m.group(4)),
            "decode_tokens_per_s": float(m.group(6)),
            "graphs": graphs.group(0) if graphs else "none", "process_s": round(wall, 1)}


def transformers_side(args):
    try:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError as e:
        return {"system": "transformers", "error": f"not importable: {e}"}, None
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                      max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, 256, (1, args.prompt_tokens), device="cuda")
    gen = dict(do_sample=False, pad_token_id=0)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, **gen)  # warm-up
        torch.cuda.synchronize()
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            model(ids, use_cache=True)
        torch.cuda.synchronize()
        prefill = (time.perf_counter() - t0) / reps
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **gen)
        torch.cuda.synchronize()
        total = time.perf_counter() - t0
    steps = args.new_tokens - 1  # the first new token comes from the prefill
    return ({"system": "transformers generate (bf16, KV cache)",
             "prefill_tokens": args.prompt_tokens,
             "prefill_tokens_per_s": args.prompt_tokens / prefill,
             "decode_tokens": steps, "decode_tokens_per_s": steps / max(total - prefill, 1e-9),
             "device": torch.cuda.get_device_name(0), "torch": torch.__version__},
            params)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--motif-run", required=True)
    ap.add_argument("--mbin", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--device", default="cuda", choices=["cuda", "sim"])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    rows = [motif(args)]
    params = None
    if args.device == "cuda":
        t, params = transformers_side(args)
        rows.append(t)
    for r in rows:
        print(json.dumps(r))
    result = {"rows": rows}
    if params:
        name = rows[-1].get("device", "")
        bw = float(os.environ["HBM_GBPS"]) * 1e9 if os.environ.get("HBM_GBPS") else None
        for key, value in BANDWIDTH:
            if bw is None and key in name:
                bw = value
        if bw:
            weights = 2 * params  # bf16, read once per decode step at batch 1
            roof = {"roofline": f"{name}: {bw / 1e12:.2f} TB/s, {weights / 2**30:.2f} GiB "
                                f"of bf16 weights", "decode_tokens_per_s": bw / weights}
            print(json.dumps(roof))
            result["roofline"] = roof
            for r in rows:
                if "decode_tokens_per_s" in r:
                    print(f"{r['system']}: decode at {100 * r['decode_tokens_per_s'] / roof['decode_tokens_per_s']:.0f}% "
                          f"of the roofline ({r['decode_tokens_per_s']:.1f} of "
                          f"{roof['decode_tokens_per_s']:.1f} tokens/s)")
        else:
            print(f"no HBM bandwidth known for '{name}' (set HBM_GBPS): no roofline")
    if len(rows) == 2 and all("decode_tokens_per_s" in r for r in rows):
        m, t = rows
        print(f"motif / transformers: decode {m['decode_tokens_per_s'] / t['decode_tokens_per_s']:.2f}x, "
              f"prefill {m['prefill_tokens_per_s'] / t['prefill_tokens_per_s']:.2f}x")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "decode.json"), "w") as f:
            json.dump(result, f, indent=1)
    return 0 if "error" not in rows[0] else 1


if __name__ == "__main__":
    sys.exit(main())
