#!/usr/bin/env python3
"""One MoE layer's forward+backward in PyTorch on the CPU, looping over experts.

The reference for benchmarks/moe_cpu_bench.sh: the same layer as
benchmarks/moe_layer.motif (router softmax, top-k renormalized, SwiGLU experts
w2(silu(w1 x) * w3 x), switch-style balance loss 0.01, loss mean(y^2)), the
loop over experts that Hugging Face's Mixtral block uses (index_select the
expert's tokens, run it, index_add the weighted output). Prints one JSON line.
"""
import argparse
import json
import time


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--d", type=int, required=True)
    p.add_argument("--experts", type=int, required=True)
    p.add_argument("--top-k", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    E, D, H, k = a.experts, a.d, a.hidden, a.top_k
    router = torch.nn.Parameter(torch.randn(E, D) * 0.02)
    w1 = torch.nn.Parameter(torch.randn(E, H, D) * 0.02)
    w3 = torch.nn.Parameter(torch.randn(E, H, D) * 0.02)
    w2 = torch.nn.Parameter(torch.randn(E, D, H) * 0.02)
    x = torch.rand(a.batch, a.seq, D) * 2 - 1

    def step():
        xt = x.reshape(-1, D)
        probs = torch.softmax(xt @ router.t(), dim=-1)
        top, idx = torch.topk(probs, k, dim=-1)
        gates = top / top.sum(-1, keepdim=True)
        y = torch.zeros_like(xt)
        for e in range(E):
            tok, slot = torch.where(idx == e)
            if tok.numel() == 0:
                continue
            h = xt.index_select(0, tok)
            o = (torch.nn.functional.silu(h @ w1[e].t()) * (h @ w3[e].t())) @ w2[e].t()
            y.index_add_(0, tok, o * gates[tok, slot].unsqueeze(-1))
        f = torch.zeros(E).index_add_(0, idx.reshape(-1), torch.ones(idx.numel())) / idx.numel()
        aux = 0.01 * E * (f * probs.mean(0)).sum()
        loss = (y * y).mean() + aux
        for t in (router, w1, w3, w2):
            t.grad = None
        loss.backward()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    tokens = a.batch * a.seq
    print(json.dumps({"impl": "torch-loop", "d": D, "experts": E, "top_k": k, "hidden": H,
                      "batch": a.batch, "seq": a.seq, "threads": torch.get_num_threads(),
                      "ms_per_step": dt * 1e3, "tokens_per_s": tokens / dt}))


if __name__ == "__main__":
    main()
