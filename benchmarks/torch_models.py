"""PyTorch twins of Motif's two benchmark models, with Motif's parameter names.

The state_dict of each model has exactly the names (and [out, in] weight layout)
of the parameters of the Motif artifact compiled from the same example, so a
Motif checkpoint (safetensors, `runtime/train/Checkpoint.cpp`) loads 1:1:

  GPT2   examples/gpt2.motif, model gpt2 (124M): wte.weight, wpe.weight,
         h.{i}.ln_1.{weight,bias}, h.{i}.attn.c_attn.{weight,bias},
         h.{i}.attn.c_proj.*, h.{i}.ln_2.*, h.{i}.mlp.c_fc.*, h.{i}.mlp.c_proj.*,
         ln_f.*; the head is tied to wte (no lm_head tensor).
  Llama  examples/llama.motif, model llama_bench: tok_embeddings.weight,
         layers.{i}.block.attention_norm.weight,
         layers.{i}.block.attention.{wq,wk,wv,wo}.weight,
         layers.{i}.block.ffn_norm.weight,
         layers.{i}.block.feed_forward.{w1,w2,w3}.weight, norm.weight,
         output.weight (untied).

The math follows the Motif CPU kernels (runtime/cpu/Kernels.h): LayerNorm with
biased variance; gelu_tanh; RMSNorm x / sqrt(mean(x^2) + eps) * w; RoPE rotating
the pairs (i, i + Dh/2) of each head (the "rotate_half" layout) with inverse
frequencies theta^(-2i/Dh); attention scaled by 1/sqrt(Dh), query head h reading
KV head h // (H / Hkv); cross-entropy averaged over targets != -1.

Attention is torch.nn.functional.scaled_dot_product_attention with
is_causal=True (flash backend on an H100 in bf16). GQA uses SDPA's own
enable_gqa=True by default (gqa="native"), which shares KV heads with exactly the
h // (H / Hkv) mapping, without copying K/V; gqa="repeat" expands K/V with
repeat_interleave first (for PyTorch versions or backends without enable_gqa).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# The example files' values (examples/gpt2.motif, examples/llama.motif).
GPT2_124M = dict(vocab=50257, ctx=1024, d=768, layers=12, heads=12, eps=1e-5)
GPT2_TINY = dict(vocab=256, ctx=128, d=64, layers=2, heads=4, eps=1e-5)
LLAMA_BENCH = dict(vocab=32000, d=1024, layers=8, heads=16, kv_heads=4, hidden=2816,
                   eps=1e-5, theta=10000.0)
LLAMA_TINY = dict(vocab=256, d=64, layers=2, heads=4, kv_heads=2, hidden=128, eps=1e-5,
                  theta=10000.0)

# name -> (family, config); "gpt2" and "llama" are the benchmark sizes.
PRESETS = {
    "gpt2": ("gpt2", GPT2_124M),
    "gpt2_tiny": ("gpt2", GPT2_TINY),
    "llama": ("llama", LLAMA_BENCH),
    "llama_bench": ("llama", LLAMA_BENCH),
    "llama_tiny": ("llama", LLAMA_TINY),
}


def _sdpa(q, k, v, gqa):
    """q [B, H, T, Dh], k/v [B, Hkv, T, Dh] -> [B, H, T, Dh], causal."""
    if k.shape[1] != q.shape[1]:
        if gqa == "native":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _cross_entropy(logits, targets):
    return F.cross_entropy(logits.float().flatten(0, -2), targets.flatten().long(),
                           ignore_index=-1)


# --- GPT-2 -------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for t in self.c_attn(x).split(D, dim=-1))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(o.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.c_fc = nn.Linear(d, hidden)
        self.c_proj = nn.Linear(hidden, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, d, heads, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = CausalSelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = MLP(d, 4 * d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, vocab, ctx, d, layers, heads, eps=1e-5, **_):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList(GPT2Block(d, heads, eps) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=eps)

    def forward(self, tokens, targets=None):
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied head
        return logits, (None if targets is None else _cross_entropy(logits, targets))


# --- Llama-style -----------------------------------------------------------------------


def rope_tables(T, head_dim, theta, device=None, dtype=torch.float32):
    """cos, sin [T, head_dim/2], the angles computed in fp64 as Motif does."""
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    return ang.cos().to(device, dtype), ang.sin().to(device, dtype)


def apply_rope(x, cos, sin):
    """x [B, T, H, Dh]; rotates the pairs (i, i + Dh/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    c, s = cos[:, None, :].to(x.dtype), sin[:, None, :].to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class GQAAttention(nn.Module):
    def __init__(self, d, heads, kv_heads, gqa):
        super().__init__()
        self.heads, self.kv_heads, self.hd, self.gqa = heads, kv_heads, d // heads, gqa
        self.wq = nn.Linear(d, heads * self.hd, bias=False)
        self.wk = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.wv = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.wo = nn.Linear(heads * self.hd, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = apply_rope(self.wq(x).view(B, T, self.heads, self.hd), cos, sin)
        k = apply_rope(self.wk(x).view(B, T, self.kv_heads, self.hd), cos, sin)
        v = self.wv(x).view(B, T, self.kv_heads, self.hd)
        o = _sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), self.gqa)
        return self.wo(o.transpose(1, 2).reshape(B, T, self.heads * self.hd))


class SwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w1 = nn.Linear(d, hidden, bias=False)
        self.w3 = nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class LlamaBlock(nn.Module):
    def __init__(self, d, heads, kv_heads, hidden, eps, gqa):
        super().__init__()
        self.attention_norm = RMSNorm(d, eps)
        self.attention = GQAAttention(d, heads, kv_heads, gqa)
        self.ffn_norm = RMSNorm(d, eps)
        self.feed_forward = SwiGLU(d, hidden)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class LlamaLayer(nn.Module):
    """The `repeat` scope: `x = llama_block(...) as block` names it layers.{i}.block."""

    def __init__(self, *args):
        super().__init__()
        self.block = LlamaBlock(*args)

    def forward(self, x, cos, sin):
        return self.block(x, cos, sin)


class Llama(nn.Module):
    def __init__(self, vocab, d, layers, heads, kv_heads, hidden, eps=1e-5, theta=10000.0,
                 gqa="native", max_seq=4096, **_):
        super().__init__()
        self.head_dim, self.theta = d // heads, theta
        self.tok_embeddings = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(
            LlamaLayer(d, heads, kv_heads, hidden, eps, gqa) for _ in range(layers))
        self.norm = RMSNorm(d, eps)
        self.output = nn.Linear(d, vocab, bias=False)
        cos, sin = rope_tables(max_seq, self.head_dim, theta)
        self.register_buffer("rope_cos", cos, persistent=False)  # not in the state_dict
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens, targets=None):
        T = tokens.shape[1]
        if T > self.rope_cos.shape[0]:
            self.rope_cos, self.rope_sin = rope_tables(T, self.head_dim, self.theta,
                                                       tokens.device, self.rope_cos.dtype)
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.output(self.norm(x))
        return logits, (None if targets is None else _cross_entropy(logits, targets))


# --- building, initialising, loading ----------------------------------------------------


def init_weights(model, std=0.02):
    """Motif's defaults: linear and embedding weights normal(0, 0.02), biases 0, norms 1."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
        else:
            nn.init.ones_(p)
    return model


def build(model, config=None, gqa="native", device=None):
    """model: a PRESETS name; config: overrides of the preset's values."""
    if model not in PRESETS:
        raise ValueError(f"unknown model '{model}' (choices: {', '.join(PRESETS)})")
    family, base = PRESETS[model]
    cfg = dict(base, **(config or {}))
    with torch.device(device or "cpu"):
        m = GPT2(**cfg) if family == "gpt2" else Llama(gqa=gqa, **cfg)
    return init_weights(m), family, cfg


def infer_config(family, tensors):
    """The configuration values that a checkpoint's shapes determine."""
    def shape(n):
        return tuple(tensors[n].shape) if n in tensors else None

    cfg = {}
    if family == "gpt2":
        if shape("wte.weight"):
            cfg["vocab"], cfg["d"] = shape("wte.weight")
        if shape("wpe.weight"):
            cfg["ctx"] = shape("wpe.weight")[0]
        idx = {int(n.split(".")[1]) for n in tensors if n.startswith("h.")}
    else:
        if shape("tok_embeddings.weight"):
            cfg["vocab"], cfg["d"] = shape("tok_embeddings.weight")
        w1 = shape("layers.0.block.feed_forward.w1.weight")
        if w1:
            cfg["hidden"] = w1[0]
        idx = {int(n.split(".")[1]) for n in tensors if n.startswith("layers.")}
    if idx:
        cfg["layers"] = max(idx) + 1
    return cfg


def parameter_counts(model):
    """(all parameters, parameters of matrix multiplies incl. a tied head once)."""
    total = sum(p.numel() for p in model.parameters())
    matmul = sum(p.numel() for n, p in model.named_parameters()
                 if p.dim() == 2 and "wpe" not in n and "tok_embeddings" not in n)
    return total, matmul


def train_flops_per_token(family, cfg, seq):
    """Model FLOPs of one training token, counted as `motif-compile --report` does:
    3 x (2 per multiply-add of every GEMM, the tied head included, plus causal
    attention's QK^T and PV at half of 4*T*d per layer)."""
    d, L, V = cfg["d"], cfg["layers"], cfg["vocab"]
    if family == "gpt2":
        gemm = L * 12 * d * d + V * d
    else:
        hd = d // cfg["heads"]
        kv = cfg["kv_heads"] * hd
        gemm = L * (2 * d * d + 2 * d * kv + 3 * d * cfg["hidden"]) + V * d
    return 3 * (2 * gemm + L * 2 * seq * d)


def load_state(model, tensors, strict=True):
    """Copies Motif tensors (by name) into the model; optimizer moments (optim.*) are
    ignored. Returns (missing, unexpected, mis-shaped) names; raises when strict."""
    own = model.state_dict()
    params = {n: t for n, t in tensors.items() if not n.startswith("optim.")}
    missing = sorted(set(own) - set(params))
    unexpected = sorted(set(params) - set(own))
    misshaped = sorted(f"{n}: checkpoint {tuple(params[n].shape)}, model {tuple(own[n].shape)}"
                       for n in set(own) & set(params)
                       if tuple(params[n].shape) != tuple(own[n].shape))
    if strict and (missing or unexpected or misshaped):
        lines = ([f"missing from the checkpoint: {', '.join(missing[:8])}"] if missing else []) + \
                ([f"not in the model: {', '.join(unexpected[:8])}"] if unexpected else []) + \
                ([f"of another shape: {'; '.join(misshaped[:8])}"] if misshaped else [])
        raise ValueError("the checkpoint does not match the model:\n  " + "\n  ".join(lines))
    with torch.no_grad():
        for n, t in own.items():
            if n in params and tuple(params[n].shape) == tuple(t.shape):
                t.copy_(params[n].to(t.dtype))
    return missing, unexpected, misshaped


if __name__ == "__main__":
    for name in ("gpt2", "llama"):
        with torch.device("meta"):
            fam, cfg = PRESETS[name]
            m = GPT2(**cfg) if fam == "gpt2" else Llama(**cfg)
        total, mm = parameter_counts(m)
        print(f"{name}: {total:,} parameters ({mm:,} in matrix multiplies), "
              f"{train_flops_per_token(fam, cfg, 1024 if fam == 'gpt2' else 2048):.3e} "
              f"train FLOPs per token")
