#!/usr/bin/env python3
"""Writes examples/data/digits.safetensors: the 1,797 8x8 grey handwritten digits
that scikit-learn bundles (UCI ML hand-written digits; no download), as a
dataset of named arrays for `motif-run train --data` (docs/training.md, "Data"):

  pixels  F16 [1797, 1, 8, 8]   grey levels scaled to [0, 1]
  labels  I32 [1797]            the digit, 0..9

The examples are shuffled once with a fixed seed (the file's order is the
order sklearn ships, grouped by writer), so the last tenth, which motif-run
keeps for validation, holds every class. Needs numpy and scikit-learn
(pip install numpy scikit-learn); the file is committed, so running this is
only needed to remake it.
"""
import json
import struct
import sys

import numpy as np
from sklearn.datasets import load_digits


def write_safetensors(path, arrays):
    header, blobs, offset = {}, [], 0
    for name, (dtype, a) in arrays.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {"source": "sklearn.datasets.load_digits",
                              "license": "CC BY 4.0 (UCI ML hand-written digits)"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "examples/data/digits.safetensors"
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    pixels = (d.images[order] / 16.0).astype("<f2").reshape(-1, 1, 8, 8)
    labels = d.target[order].astype("<i4")
    write_safetensors(out, {"pixels": ("F16", pixels), "labels": ("I32", labels)})
    print(f"{out}: {len(labels)} digits")


if __name__ == "__main__":
    main()
