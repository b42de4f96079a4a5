#!/usr/bin/env python3
"""CPU decode speed, side by side: Motif's prefill + decode steps against
transformers' generate with its KV cache, at the same shapes and threads.

    benchmarks/decode_cpu.py --motif-run build/bin/motif-run --mbin /tmp/gpt2.mbin \
        --prompt-tokens 64 --new-tokens 32 --threads 2

The model is GPT-2-small-shaped (124M parameters, random weights: speed does
not depend on them) in fp32, batch 1, greedy. Prints one JSON line per side
and the ratio. transformers is optional (skipped with a note when missing).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time


def motif(args):
    prompt = ("In the beginning God created the heaven and the earth. " * 8)[: args.prompt_tokens]
    cmd = [args.motif_run, "generate", args.mbin, "--prompt", prompt, "--tokens",
           str(args.new_tokens), "--temp", "0", "--device", "cpu"]
    env = dict(os.environ)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"motif-run failed: {r.stderr}")
    m = re.search(r"prefill: (\d+) tokens in ([\d.]+) s \(([\d.]+) tokens/s\); decode: (\d+) "
                  r"tokens in ([\d.]+) s \(([\d.]+) tokens/s\)", r.stderr)
    if not m:
        sys.exit(f"no speeds in motif-run's output: {r.stderr}")
    return {"system": "motif (cpu backend)", "prefill_tokens_per_s": float(m.group(3)),
            "decode_tokens_per_s": float(m.group(6)), "decode_tokens": int(m.group(4))}


def transformers_side(args):
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError as e:  # optional
        return {"system": "transformers", "skipped": str(e)}
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    ids = torch.randint(0, 256, (1, args.prompt_tokens))
    with torch.no_grad():
        model(ids)  # warm-up
        t0 = time.perf_counter()
        out = model(ids, use_cache=True)
        prefill = time.perf_counter() - t0
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(args.new_tokens - 1):
            out = model(nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        decode = time.perf_counter() - t0
    return {"system": f"transformers {__import__('transformers').__version__} "
                      f"(torch {torch.__version__}, {args.threads} threads)",
            "prefill_tokens_per_s": args.prompt_tokens / prefill,
            "decode_tokens_per_s": (args.new_tokens - 1) / decode,
            "decode_tokens": args.new_tokens - 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--motif-run", default="build/bin/motif-run")
    ap.add_argument("--mbin", required=True, help="gpt2.mbin (motif-compile examples/gpt2.motif)")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    rows = [motif(args), transformers_side(args)]
    for r in rows:
        print(json.dumps(r))
    if "skipped" not in rows[1]:
        print(f"decode: motif / transformers = "
              f"{rows[0]['decode_tokens_per_s'] / rows[1]['decode_tokens_per_s']:.2f}; "
              f"prefill: {rows[0]['prefill_tokens_per_s'] / rows[1]['prefill_tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
