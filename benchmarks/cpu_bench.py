#!/usr/bin/env python3
"""The fast CPU backend against the reference and PyTorch, side by side (issue 15's table).

For each row it times Motif's `motif-run bench --device cpu` (the fast backend)
and `--device reference` (the oracle), PyTorch eager and torch.compile on the
same model (same shapes and parameter counts), all with the same number of
threads (default 2), in interleaved repetitions (rep 1 of every variant, then
rep 2, ...), and prints a markdown table of the medians with the ratios
Motif / PyTorch eager, Motif / torch.compile and reference / Motif.

  benchmarks/cpu_bench.py [--reps 3] [--threads 2] [--rows gpt2_tiny,gemm]
                          [--no-reference] [--no-compile] [--bf16] [--out FILE.json]

Rows (--rows takes their keys):
  gpt2_tiny     examples/gpt2.motif gpt2_tiny, train step 8x64
  gpt2_d256     gpt2 with d=256, 4 layers, 4 heads (vocab 50257), train step 8x256
  gpt2_fwd      GPT-2 124M forward 1x256
  gpt2_train    GPT-2 124M train step 1x128
  llama_tiny    examples/llama.motif llama_tiny, train step 8x64
  mixtral_tiny  examples/mixtral.motif mixtral_tiny, train step 8x64
  mamba_tiny    examples/mamba.motif mamba_tiny, train step 8x64
  gemm          benchmarks/models/gemm.motif forward at 1x512: a 512x1024x1024 GEMM

A Motif train step is forward, backward and the AdamW update; PyTorch's is
zero_grad, forward, backward and AdamW (fused where this PyTorch has it), in fp32
(no autocast on the CPU). Forward rows run under torch.no_grad(). The PyTorch
models are benchmarks/torch_models.py's GPT-2 and Llama (heads set as in the
examples), a Mixtral-style twin here (the Llama block with a top-2 mixture of
SwiGLU experts, routed the HF way: a loop over experts), and scan_bench.py's
tiny Mamba (its selective scan a loop over time, as mamba_simple's reference
path; torch.compile would unroll it, so that row has no compile column unless
--compile-mamba). The parameter counts of both sides are printed.
Each Motif measurement is its own process (`motif-run bench ... --steps N
--warmup W`); PyTorch runs in this process. torch.compile's first call (the
compilation) is in its warmup, not in the timing.

--bf16: bf16 matmuls on both sides, on a processor with AMX or AVX512-BF16:
Motif's `--cpu-matmul bf16` (GEMM operands rounded to bf16, fp32 accumulation,
everything else fp32) against PyTorch's forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16) (its linear layers and matmuls in
bf16, as well as the other ops on autocast's lower-precision list), eager and
compiled; the reference backend (fp32 only) is left out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

# key: (label, .motif file, model, defines, function, batch, seq, steps, warmup)
ROWS = {
    "gpt2_tiny": ("gpt2_tiny train 8x64", "examples/gpt2.motif", "gpt2_tiny", [], "train_step",
                  8, 64, 10, 2),
    "gpt2_d256": ("GPT-2 d256 4 layers train 8x256", "examples/gpt2.motif", "gpt2",
                  ["d=256", "layers=4", "heads=4"], "train_step", 8, 256, 2, 1),
    "gpt2_fwd": ("GPT-2 124M forward 1x256", "examples/gpt2.motif", "gpt2", [], "forward",
                 1, 256, 2, 1),
    "gpt2_train": ("GPT-2 124M train 1x128", "examples/gpt2.motif", "gpt2", [], "train_step",
                   1, 128, 2, 1),
    "llama_tiny": ("llama_tiny train 8x64", "examples/llama.motif", "llama_tiny", [],
                   "train_step", 8, 64, 10, 2),
    "mixtral_tiny": ("mixtral_tiny train 8x64", "examples/mixtral.motif", "mixtral_tiny", [],
                     "train_step", 8, 64, 10, 2),
    "mamba_tiny": ("mamba_tiny train 8x64", "examples/mamba.motif", "mamba_tiny", [],
                   "train_step", 8, 64, 5, 1),
    "gemm": ("GEMM 512x1024x1024", "benchmarks/models/gemm.motif", None, [], "forward",
             1, 512, 100, 10),
}


def find_tool(name, build):
    for d in (os.path.join(build, "bin"), os.path.join(ROOT, "build", "bin")):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    sys.exit(f"cpu_bench: {name} not found under {build}/bin (build it first)")


def compile_motif(tools, key, tmp):
    _, src, model, defines, *_ = ROWS[key]
    mbin = os.path.join(tmp, key + ".mbin")
    cmd = [tools["compile"], os.path.join(ROOT, src), "--target=cpu", "-o", mbin]
    if model:
        cmd.append(f"--model={model}")
    for d in defines:
        cmd += ["-D", d]
    subprocess.run(cmd, check=True)
    return mbin


def motif_once(tools, key, mbin, device, threads, extra=()):
    _, _, _, _, fn, b, t, steps, warmup = ROWS[key]
    run = [tools["run"], "bench", mbin, "--device", device, "--threads", str(threads),
           "--function", fn, "--batch", str(b), "--seq", str(t), "--steps", str(steps),
           "--warmup", str(warmup), *extra]
    out = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    return r["step_ms"], r.get("param_bytes", 0) // 4, " ".join(run[1:])


# --- PyTorch ---------------------------------------------------------------------------


def torch_model(torch, key):
    """(module, inputs, is_forward_only) for a row."""
    import torch_models as tm
    nn, F = torch.nn, torch.nn.functional
    _, _, _, _, fn, b, t, *_ = ROWS[key]
    tok = torch.randint(0, 256, (b, t))
    if key.startswith("gpt2"):
        if key == "gpt2_tiny":
            m, _, _ = tm.build("gpt2_tiny", {"heads": 2})
        elif key == "gpt2_d256":
            m, _, _ = tm.build("gpt2", {"d": 256, "layers": 4, "heads": 4})
            tok = torch.randint(0, 50257, (b, t))
        else:
            m, _, _ = tm.build("gpt2")
            tok = torch.randint(0, 50257, (b, t))
        return m, (tok, tok.roll(-1, 1))
    if key == "llama_tiny":
        m, _, _ = tm.build("llama_tiny", {"heads": 2, "kv_heads": 1})
        return m, (tok, tok.roll(-1, 1))
    if key == "mixtral_tiny":
        return mixtral_tiny(torch, tm), (tok, tok.roll(-1, 1))
    if key == "mamba_tiny":
        import scan_bench
        _, Mamba = scan_bench.torch_models(torch)
        m = Mamba(256, 32, 2, 8)

        class Wrap(nn.Module):  # (logits, loss) like the others
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, tokens, targets):
                return None, self.inner(tokens, targets)
        return Wrap(m), (tok, tok.roll(-1, 1))
    if key == "gemm":
        m = nn.Linear(1024, 1024, bias=False)

        class Wrap(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                y = self.inner(x)
                return y, (y * y).mean()
        return Wrap(m), (torch.randn(b, t, 1024),)
    raise KeyError(key)


def mixtral_tiny(torch, tm):
    """examples/mixtral.motif mixtral_tiny: d 64, 2 layers, 4 heads / 2 KV heads,
    4 SwiGLU experts of 96, top-2 with renormalized weights, untied head."""
    nn, F = torch.nn, torch.nn.functional

    class Moe(nn.Module):
        def __init__(self, d, hidden, experts, top_k):
            super().__init__()
            self.gate = nn.Linear(d, experts, bias=False)
            self.experts = nn.ModuleList(tm.SwiGLU(d, hidden) for _ in range(experts))
            self.top_k = top_k

        def forward(self, x):
            shape = x.shape
            x = x.reshape(-1, shape[-1])
            probs = F.softmax(self.gate(x), -1)
            w, idx = probs.topk(self.top_k, -1)
            w = w / w.sum(-1, keepdim=True)
            y = torch.zeros_like(x)
            for e, expert in enumerate(self.experts):
                tok, slot = (idx == e).nonzero(as_tuple=True)
                if tok.numel():
                    y.index_add_(0, tok, (expert(x[tok]) * w[tok, slot, None]).to(y.dtype))
            return y.reshape(shape)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm = tm.RMSNorm(64, 1e-5)
            self.attention = tm.GQAAttention(64, 4, 2, "native")
            self.ffn_norm = tm.RMSNorm(64, 1e-5)
            self.moe = Moe(64, 96, 4, 2)

        def forward(self, x, cos, sin):
            x = x + self.attention(self.attention_norm(x), cos, sin)
            return x + self.moe(self.ffn_norm(x))

    class Mixtral(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(256, 64)
            self.layers = nn.ModuleList(Block() for _ in range(2))
            self.norm = tm.RMSNorm(64, 1e-5)
            self.out = nn.Linear(64, 256, bias=False)
            cos, sin = tm.rope_tables(256, 16, 1000000.0)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

        def forward(self, tokens, targets):
            T = tokens.shape[1]
            x = self.emb(tokens)
            for layer in self.layers:
                x = layer(x, self.cos[:T], self.sin[:T])
            logits = self.out(self.norm(x))
            return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    return tm.init_weights(Mixtral())


class TorchRow:
    """One row's PyTorch step, eager or compiled, built once."""

    def __init__(self, torch, key, compiled, bf16=False):
        self.torch = torch
        self.bf16 = bf16
        _, _, _, _, fn, _, _, self.steps, self.warmup = ROWS[key]
        model, self.inputs = torch_model(torch, key)
        self.params = sum(p.numel() for p in model.parameters())
        self.model = torch.compile(model) if compiled else model
        self.forward_only = fn == "forward"
        if not self.forward_only:
            try:
                self.opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
            except (RuntimeError, TypeError):
                self.opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        self.step()  # the compilation (or the first call) before any timing

    def autocast(self):
        return self.torch.autocast("cpu", dtype=self.torch.bfloat16, enabled=self.bf16)

    def step(self):
        if self.forward_only:
            with self.torch.no_grad(), self.autocast():
                self.model(*self.inputs)
            return
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            _, loss = self.model(*self.inputs)
        loss.backward()
        self.opt.step()

    def once(self):
        for _ in range(self.warmup):
            self.step()
        t0 = time.perf_counter()
        for _ in range(self.steps):
            self.step()
        return (time.perf_counter() - t0) * 1000 / self.steps


# --- the table -------------------------------------------------------------------------


def fmt_ms(ms):
    return "—" if ms is None else (f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms")


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated row keys")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--no-reference", action="store_true", help="skip --device reference")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--compile-mamba", action="store_true",
                   help="torch.compile the Mamba loop too (slow to compile)")
    p.add_argument("--bf16", action="store_true",
                   help="bf16 matmuls: Motif's --cpu-matmul bf16, PyTorch under autocast")
    p.add_argument("--out", help="write the measurements as JSON")
    args = p.parse_args()
    if args.bf16:
        args.no_reference = True
    keys = [k for k in args.rows.split(",") if k]
    for k in keys:
        if k not in ROWS:
            sys.exit(f"cpu_bench: unknown row '{k}' (rows: {', '.join(ROWS)})")
    tools = {"compile": find_tool("motif-compile", args.build),
             "run": find_tool("motif-run", args.build)}
    torch = None
    if not args.no_torch:
        # Inductor compiles in this process: its pool of compile workers
        # otherwise stays alive after torch.compile and takes CPU time from
        # every later measurement (measured: Motif's bf16 GEMM row 3.9 ms beside
        # the pool, 1.6 ms without it; PyTorch eager's 29 ms against 3.3).
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
        import torch
        torch.manual_seed(0)
        torch.set_num_threads(args.threads)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            label = ROWS[key][0]
            mbin = compile_motif(tools, key, tmp)
            extra = ["--cpu-matmul", "bf16"] if args.bf16 else []
            variants = {"motif": lambda: motif_once(tools, key, mbin, "cpu", args.threads, extra)}
            if not args.no_reference:
                variants["reference"] = lambda: motif_once(tools, key, mbin, "reference",
                                                           args.threads)
            rows = {}
            if torch is not None:
                rows["eager"] = TorchRow(torch, key, False, args.bf16)
                if not args.no_compile and (key != "mamba_tiny" or args.compile_mamba):
                    rows["compile"] = TorchRow(torch, key, True, args.bf16)
            times = {v: [] for v in list(variants) + list(rows)}
            motif_params, command = 0, ""
            for _ in range(args.reps):
                for v, f in variants.items():
                    ms, motif_params, cmd = f()
                    times[v].append(ms)
                    if v == "motif":
                        command = cmd
                for v, r in rows.items():
                    times[v].append(r.once())
            med = {v: statistics.median(t) for v, t in times.items()}
            results[key] = {"label": label, "median_ms": med, "all_ms": times,
                            "motif_params": motif_params,
                            "torch_params": rows["eager"].params if rows else None,
                            "command": "motif-run " + command}
            print(f"{label}: " + ", ".join(f"{v} {fmt_ms(m)}" for v, m in med.items()),
                  file=sys.stderr, flush=True)

    print(f"\n{args.threads} threads, medians of {args.reps} interleaved repetitions"
          + (", bf16 matmuls (Motif --cpu-matmul bf16, PyTorch autocast bf16)" if args.bf16
             else "")
          + (f", PyTorch {torch.__version__}" if torch is not None else "") + "\n")
    print("| workload | Motif cpu | Motif reference | PyTorch eager | torch.compile | "
          "Motif / eager | Motif / compile | reference / Motif | params Motif / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, r in results.items():
        m = r["median_ms"]
        motif, ref, eager, comp = (m.get("motif"), m.get("reference"), m.get("eager"),
                                   m.get("compile"))
        label = r["label"]
        if key == "gemm":  # GFLOP/s as well
            gf = lambda ms: "" if ms is None else f" ({2 * 512 * 1024 * 1024 / ms / 1e6:.0f} GFLOP/s)"
            cells = [fmt_ms(x) + gf(x) for x in (motif, ref, eager, comp)]
        else:
            cells = [fmt_ms(x) for x in (motif, ref, eager, comp)]
        print(f"| {label} | " + " | ".join(cells) +
              f" | {ratio(motif, eager)} | {ratio(motif, comp)} | {ratio(ref, motif)} | "
              f"{r['motif_params']:,} / {r['torch_params'] or 0:,} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
