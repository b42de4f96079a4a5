#!/usr/bin/env python3
"""Writes examples/data/pairs.jsonl: source/target pairs for the encoder-decoder
examples (`motif-run train t5.mbin --data examples/data/pairs.jsonl`): each
source is a phrase of three to six words of Genesis (King James Version, public
domain; tests/lit/train/Inputs/genesis.txt) and its target the same words in
reverse order, a small task a tiny T5 learns in minutes.
"""
import json
import random
import re
import sys


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "tests/lit/train/Inputs/genesis.txt"
    out = sys.argv[2] if len(sys.argv) > 2 else "examples/data/pairs.jsonl"
    words = re.findall(r"[A-Za-z']+", open(src, encoding="utf-8").read())
    rng = random.Random(0)
    with open(out, "w", encoding="utf-8") as f:
        at, n = 0, 0
        while at + 6 < len(words) and n < 3000:
            k = rng.randint(3, 6)
            phrase = words[at:at + k]
            at += k
            f.write(json.dumps({"source": " ".join(phrase),
                                "target": " ".join(reversed(phrase))}) + "\n")
            n += 1
    print(f"{out}: {n} pairs")


if __name__ == "__main__":
    main()
