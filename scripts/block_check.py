#!/usr/bin/env python3
"""One transformer block from scratch, in numpy, as PyTorch defines its pieces (docs/research.md).

    scripts/block_check.py OUT_DIR [--seed N] [--batch B] [--seq T]

Writes OUT_DIR/data.safetensors (x and target [B, T, 16], uniform in [-1, 1)) and
OUT_DIR/weights.safetensors (random weights under Motif's names for
tests/lit/train/Inputs/block.motif) and prints the block's loss computed here:

  h = x + wo · attention(rope(wq · rms_norm(x)), rope(wk · rms_norm(x)), wv · rms_norm(x))
  y = h + w2 · (silu(w1 · rms_norm(h)) * (w3 · rms_norm(h)))
  loss = mean((y - target)^2)

with each piece as PyTorch writes it: torch.nn.functional.rms_norm (x / sqrt(mean(x^2) + eps)
· w), the rotary embedding of Hugging Face's Llama (rotate_half: pairs (i, i + Dh/2), inv_freq
theta^(-2i/Dh)), torch.nn.functional.scaled_dot_product_attention with is_causal=True (scale
1/sqrt(Dh)), silu = x · sigmoid(x). `motif-run eval block.mbin --data OUT/data.safetensors
--checkpoint OUT/weights.safetensors` must print the same loss (fp32 against this float64).
"""
import argparse
import json
import os
import struct
import sys

try:
    import numpy as np
except ImportError:  # a python without Debian's packages (pyenv): use the system one
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("block_check: numpy is missing (apt-get install python3-numpy)")

D, HEADS, HIDDEN, EPS, THETA = 16, 2, 40, 1e-6, 10000.0


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rms_norm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * w


def rope(x, heads):
    B, T, _ = x.shape
    dh = x.shape[2] // heads
    inv = THETA ** (-np.arange(0, dh, 2) / dh)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    x = x.reshape(B, T, heads, dh)
    rot = np.concatenate([-x[..., dh // 2:], x[..., : dh // 2]], -1)
    return (x * cos[None, :, None, :] + rot * sin[None, :, None, :]).reshape(B, T, heads * dh)


def sdpa_causal(q, k, v, heads):
    B, T, _ = q.shape
    dh = q.shape[2] // heads
    q, k, v = (a.reshape(B, T, heads, dh).transpose(0, 2, 1, 3) for a in (q, k, v))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ v).transpose(0, 2, 1, 3).reshape(B, T, heads * dh)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=12)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    u = lambda *s: rng.uniform(-1, 1, s)
    w = {"n1.weight": 1 + 0.5 * u(D), "attn.wq.weight": 0.4 * u(D, D), "attn.wk.weight": 0.4 * u(D, D),
         "attn.wv.weight": 0.4 * u(D, D), "attn.wo.weight": 0.4 * u(D, D), "n2.weight": 1 + 0.5 * u(D),
         "ffn.w1.weight": 0.4 * u(HIDDEN, D), "ffn.w3.weight": 0.4 * u(HIDDEN, D),
         "ffn.w2.weight": 0.3 * u(D, HIDDEN)}
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}  # what Motif reads
    x = u(a.batch, a.seq, D).astype(np.float32).astype(np.float64)
    target = u(a.batch, a.seq, D).astype(np.float32).astype(np.float64)
    n = rms_norm(x, w["n1.weight"])
    q, k, v = (n @ w[f"attn.w{c}.weight"].T for c in "qkv")
    h = x + sdpa_causal(rope(q, HEADS), rope(k, HEADS), v, HEADS) @ w["attn.wo.weight"].T
    n = rms_norm(h, w["n2.weight"])
    g = n @ w["ffn.w1.weight"].T
    y = h + ((g / (1 + np.exp(-g))) * (n @ w["ffn.w3.weight"].T)) @ w["ffn.w2.weight"].T
    loss = float(np.mean((y - target) ** 2))
    os.makedirs(a.out, exist_ok=True)
    save(os.path.join(a.out, "data.safetensors"), {"x": x, "target": target})
    save(os.path.join(a.out, "weights.safetensors"), w,
         {"model": "blk", "step": "0", "data_position": "0", "rng_offset": "0", "seed": str(a.seed)})
    print(f"reference loss {loss:.4f} ({loss:.8f})")


if __name__ == "__main__":
    main()
