#!/usr/bin/env python3
"""CPU decode speed, side by side: Motif's prefill + decode steps against
transformers' model with its KV cache, at the same shapes and threads.

    build/bin/motif-compile examples/gpt2.motif -o /tmp/gpt2.mbin
    build/bin/motif-compile examples/llama.motif --model=llama_bench -o /tmp/llama.mbin
    /work/venv-torch/bin/python benchmarks/decode_cpu.py --motif-run build/bin/motif-run \
        --model gpt2 --mbin /tmp/gpt2.mbin --prompt-tokens 128 --new-tokens 33 \
        --batch 1 --threads 2 --repeats 3

--model gpt2: GPT-2 small (124M parameters, the lm head tied to the token
embedding); --model llama: examples/llama.motif's llama_bench (d 1024, 8
layers, 16 heads, 4 KV heads, SwiGLU 2816, vocab 32000, 156M parameters).
Random weights (speed does not depend on them), fp32, greedy, `--batch`
prompts of `--prompt-tokens` tokens each. Motif: `motif-run generate --device
cpu` (its own timing of @prefill and the @decode_step loop); transformers:
one forward over the prompts (use_cache) then one forward per token with
past_key_values, argmax, the same loop. The two sides alternate `--repeats`
times (so the machine's load falls on both alike) and the medians are
printed, one JSON line per side, with the load average seen at each run.
tokens/s count every sequence's tokens (batch 4: 4 per decode step).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time


def motif(args):
    prompt = ("In the beginning God created the heaven and the earth. " * 16)[: args.prompt_tokens]
    cmd = [args.motif_run, "generate", args.mbin, "--tokens", str(args.new_tokens),
           "--temp", "0", "--device", "cpu", "--threads", str(args.threads)]
    for _ in range(args.batch):
        cmd += ["--prompt", prompt]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"motif-run failed: {r.stderr}")
    m = re.search(r"prefill: (\d+) tokens in ([\d.]+) s \(([\d.]+) tokens/s\); decode: (\d+) "
                  r"tokens in ([\d.]+) s \(([\d.]+) tokens/s\)", r.stderr)
    if not m:
        sys.exit(f"no speeds in motif-run's output: {r.stderr}")
    return float(m.group(3)), float(m.group(6))


class Transformers:
    def __init__(self, args):
        import torch
        import transformers
        self.torch = torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        if args.model == "gpt2":
            cfg = transformers.GPT2Config()
            self.model = transformers.GPT2LMHeadModel(cfg).eval()
        else:
            cfg = transformers.LlamaConfig(
                vocab_size=32000, hidden_size=1024, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=4, intermediate_size=2816, rope_theta=10000.0,
                max_position_embeddings=2048, tie_word_embeddings=False)
            self.model = transformers.LlamaForCausalLM(cfg).eval()
        self.name = (f"transformers {transformers.__version__} (torch {torch.__version__}, "
                     f"{args.threads} threads)")
        self.args = args

    def run(self):
        torch, args = self.torch, self.args
        ids = torch.randint(0, 256, (args.batch, args.prompt_tokens))
        with torch.no_grad():
            t0 = time.perf_counter()
            out = self.model(ids, use_cache=True)
            prefill = time.perf_counter() - t0
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            t0 = time.perf_counter()
            for _ in range(args.new_tokens - 1):
                out = self.model(nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            decode = time.perf_counter() - t0
        return (args.batch * args.prompt_tokens / prefill,
                args.batch * (args.new_tokens - 1) / decode)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--motif-run", default="build/bin/motif-run")
    ap.add_argument("--model", choices=["gpt2", "llama"], default="gpt2")
    ap.add_argument("--mbin", required=True,
                    help="the compiled model (gpt2.motif, or llama.motif --model=llama_bench)")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=33)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    try:
        hf = Transformers(args)
        with hf.torch.no_grad():  # warm-up
            hf.model(hf.torch.randint(0, 256, (args.batch, 8)))
    except ImportError as e:  # optional
        hf = None
        print(json.dumps({"system": "transformers", "skipped": str(e)}))
    runs = {"motif": [], "hf": []}
    loads = []
    for _ in range(args.repeats):
        loads.append(os.getloadavg()[0])
        runs["motif"].append(motif(args))
        if hf:
            loads.append(os.getloadavg()[0])
            runs["hf"].append(hf.run())
    rows = []
    for key, name in (("motif", "motif (cpu backend)"), ("hf", hf.name if hf else "")):
        if not runs[key]:
            continue
        row = {"system": name, "model": args.model, "batch": args.batch,
               "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
               "prefill_tokens_per_s": round(statistics.median(r[0] for r in runs[key]), 2),
               "decode_tokens_per_s": round(statistics.median(r[1] for r in runs[key]), 2),
               "decode_runs": [round(r[1], 2) for r in runs[key]]}
        rows.append(row)
        print(json.dumps(row))
    print(json.dumps({"load_average_1min": [round(l, 1) for l in loads]}))
    if len(rows) == 2:
        print(f"{args.model} batch {args.batch}: decode motif / transformers = "
              f"{rows[0]['decode_tokens_per_s'] / rows[1]['decode_tokens_per_s']:.2f}; "
              f"prefill: {rows[0]['prefill_tokens_per_s'] / rows[1]['prefill_tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
