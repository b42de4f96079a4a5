#!/usr/bin/env python3
"""Decode speed of two builds on the CPU backend, side by side in one call.

    benchmarks/decode_state_cpu.py BEFORE_BIN_DIR AFTER_BIN_DIR [--runs 3]

Each BIN_DIR holds motif-compile and motif-run; each build compiles its own
artifacts (the plan's decisions, e.g. a state updated in place, are the
compiler's). Models: gpt2_tiny (context 128: a 40-byte prompt) and a GPT-2 of
d 512, 4 layers, 8 heads at context 1024 (a 900-byte prompt, so the steps run
at positions 900..960 of 1024-slot caches); greedy, batch 1, 60 new tokens.

Two measures per run, the builds alternating: decode tokens/s as motif-run
prints it (wall clock), and CPU seconds per decode token: the CPU time of a
run making 60 tokens less that of one making 1 (the prefill), over the 59
decode steps. On a loaded machine the wall clock moves by several times
between runs; the CPU time is what the step costs.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "In the beginning God created the heaven and the earth. And the earth was without form. "
MODELS = [("gpt2_tiny", ["--model=gpt2_tiny"], 40),
          ("gpt2 d512 ctx1024", ["--model=gpt2", "-D", "d=512", "-D", "layers=4", "-D", "heads=8",
                                 "-D", "vocab=256"], 900)]
NEW = 60


def run(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The text a random model makes need not be UTF-8: bytes, decoded leniently.
    r = subprocess.run(cmd, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, r.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sides = {"before": args.before, "after": args.after}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags, length in MODELS:
            prompt = (TEXT * 20)[:length]
            mbin = {}
            for side, d in sides.items():
                mbin[side] = os.path.join(tmp, f"{side}.mbin")
                subprocess.run([os.path.join(d, "motif-compile"), os.path.join(ROOT, "examples/gpt2.motif"),
                                *flags, "-o", mbin[side]], check=True)
            wall = {s: [] for s in sides}
            cpu = {s: [] for s in sides}
            for r in range(args.runs):
                for side, d in sides.items():
                    base = [os.path.join(d, "motif-run"), "generate", mbin[side], "--prompt", prompt,
                            "--temp", "0", "--tokens"]
                    c1, _ = run(base + ["1"])
                    cn, err = run(base + [str(NEW)])
                    m = re.search(r"decode: (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s\)", err)
                    steps = int(m.group(1))
                    wall[side].append(float(m.group(2)))
                    cpu[side].append((cn - c1) / steps)
                    print(f"{name} {side} run {r}: {m.group(2)} tokens/s, "
                          f"{1e3 * cpu[side][-1]:.2f} CPU ms per decode token", flush=True)
            for side in sides:
                print(f"{name} {side}: median {statistics.median(wall[side]):.1f} tokens/s, "
                      f"{1e3 * statistics.median(cpu[side]):.2f} CPU ms per decode token")
            b, a = statistics.median(cpu["before"]), statistics.median(cpu["after"])
            print(f"{name}: CPU time per decode token, before / after = {b / a:.2f}")


if __name__ == "__main__":
    main()
