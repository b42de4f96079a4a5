#!/usr/bin/env python3
"""PyTorch oracle for Motif: the same model, weights and tokens; loss, logits, gradients.

  # weights of a Motif checkpoint, the first batch of a data file (as motif-run reads it)
  python3 scripts/torch_oracle.py --model gpt2_tiny --checkpoint run/checkpoint.safetensors \\
      --tokens data.bin --batch 4 --seq 64 --out oracle
  # compare Motif's gradients (and loss) with PyTorch's; exit status 1 on a failure
  python3 scripts/torch_oracle.py ... --compare motif_grads.safetensors --compare-loss 5.5451

--model is gpt2 (124M), llama (= llama_bench), gpt2_tiny, llama_tiny or llama_bench
(benchmarks/torch_models.py); --config '{"d": 128, "heads": 4}' overrides values.
Values that the checkpoint's shapes fix (vocab, d, ctx, layers, hidden) are read from it;
heads, kv_heads, eps and theta come from the preset or --config.

--tokens: an llm.c shard (magic 20240520/20240801) or raw text (one token per byte),
read as `motif-run train/eval` read them: row b of the batch is tokens[b*T : b*T+T],
its targets shifted by one (B*T+1 tokens); or a .safetensors file with int `tokens`
and `targets` [B, T]. Without --tokens, random tokens (--seed) are used and written to
OUT/tokens.bin (an llm.c shard, 10 batches long) for Motif to read.
Without --checkpoint the weights are initialised (normal 0.02, --seed) and written to
OUT/weights.safetensors (F32, Motif's names, with resume metadata for step 0), which
`motif-run eval --checkpoint` and `motif-run train --resume` accept.

Writes OUT/grads.safetensors (one gradient per parameter, Motif's names),
OUT/logits.safetensors ("logits" [B, T, V]; --no-logits skips it), OUT/inputs.safetensors
(tokens, targets) and OUT/oracle.json (loss, configuration, files).

--compare FILE reads Motif's tensors: gradients named as the parameters, or prefixed
"grad." / "grads.", or a Motif checkpoint's "optim.m.<name>" (after exactly one step of
`motif-run train --resume W --steps 1 --optimizer sgd --clip 0 --weight-decay 0
--accumulate 1` from the weights W, the SGD moment is the gradient), and "logits" when
present. For each tensor: max |motif - torch|, max |torch|, their ratio; a tensor
passes when max_abs_err <= atol + rtol * max|torch| (--tolerance fp32: rtol 1e-4,
atol 1e-6; bf16: rtol 3e-2, atol 1e-4; or --rtol/--atol). A parameter without a Motif
gradient fails. The last line is "N passed, M failed"; OUT/compare.json has every row.

--run-motif ARTIFACT does that Motif step itself (motif-run train on the CPU backend from
OUT/weights.safetensors, which it then always writes,
into OUT/motif/) and compares; it needs token data Motif can read (--tokens as a data
file, or the random OUT/tokens.bin):
  python3 scripts/torch_oracle.py --model llama_tiny --run-motif llama_tiny.mbin --dtype float64

Runs on the CPU (default when no GPU) or --device cuda; --dtype float64 makes the
reference tighter. TF32 is disabled.
"""
import argparse
import array
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCES = {"fp32": (1e-4, 1e-6), "bf16": (3e-2, 1e-4)}  # (rtol, atol)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--model", default="gpt2",
                   help="gpt2 | llama | gpt2_tiny | llama_tiny | llama_bench (default gpt2)")
    p.add_argument("--config", default="{}", help="JSON object of overrides")
    p.add_argument("--checkpoint", help="Motif safetensors checkpoint (F32)")
    p.add_argument("--tokens", help="llm.c shard, raw text, or .safetensors (tokens, targets)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda if present)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--gqa", choices=["native", "repeat"], default="native")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--out", default=os.environ.get("OUT") or "build/oracle",
                   help="directory for the results (default: $OUT, else build/oracle)")
    p.add_argument("--no-logits", action="store_true", help="do not write the logits")
    p.add_argument("--compare", help="safetensors of Motif's gradients (see above)")
    p.add_argument("--compare-loss", help="Motif's loss: a number or a metrics.jsonl")
    p.add_argument("--run-motif", metavar="ARTIFACT",
                   help="get Motif's loss and gradients by running motif-run (CPU backend) on "
                        "ARTIFACT at these weights and tokens, then compare")
    p.add_argument("--motif-run", default=os.path.join(os.path.dirname(HERE), "build", "bin",
                                                       "motif-run"),
                   help="the motif-run binary for --run-motif (default build/bin/motif-run)")
    p.add_argument("--tolerance", choices=sorted(TOLERANCES), default="fp32")
    p.add_argument("--rtol", type=float)
    p.add_argument("--atol", type=float)
    return p.parse_args()


# --- tokens -------------------------------------------------------------------------------


def read_token_file(path, need):
    """The first `need` tokens of an llm.c shard or a raw text file (runtime/train/Data.cpp)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        sys.exit(f"torch_oracle: error: data file '{path}' is empty")
    magic = struct.unpack_from("<i", data, 0)[0] if len(data) >= 1024 else 0
    if magic in (20240520, 20240801):
        n = struct.unpack_from("<i", data, 8)[0]
        code, width = ("H", 2) if magic == 20240520 else ("I", 4)
        toks = array.array(code)
        toks.frombytes(data[1024:1024 + min(n, need) * width])
        toks = list(toks)
    else:
        toks = list(data[:need])
    if len(toks) < need:
        sys.exit(f"torch_oracle: error: '{path}' holds {len(toks)} tokens; a batch needs {need}")
    return toks


def write_llmc_shard(path, toks):
    wide = max(toks) >= 65536
    header = array.array("i", [20240801 if wide else 20240520, 2 if wide else 1, len(toks)]
                         + [0] * 253)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(array.array("I" if wide else "H", toks).tobytes())


def load_batch(a, vocab, torch):
    """(tokens, targets) int64 [B, T]; writes OUT/tokens.bin when they are random."""
    B, T = a.batch, a.seq
    if a.tokens and a.tokens.endswith(".safetensors"):
        from safetensors.torch import load_file
        d = load_file(a.tokens)
        if "tokens" not in d or "targets" not in d:
            sys.exit(f"torch_oracle: error: '{a.tokens}' needs tensors 'tokens' and 'targets'")
        return d["tokens"].long(), d["targets"].long()
    if a.tokens:
        toks = read_token_file(a.tokens, B * T + 1)
    else:
        g = torch.Generator().manual_seed(a.seed)
        toks = torch.randint(0, vocab, (10 * (B * T + 1),), generator=g).tolist()
        write_llmc_shard(os.path.join(a.out, "tokens.bin"), toks)
    flat = torch.tensor(toks[:B * T + 1], dtype=torch.long)
    x = torch.stack([flat[b * T:b * T + T] for b in range(B)])
    y = torch.stack([flat[b * T + 1:b * T + T + 1] for b in range(B)])
    return x, y


# --- comparison -----------------------------------------------------------------------------


def motif_tensors(path, torch):
    """name -> tensor of Motif's results, by the naming rules of --compare."""
    from safetensors.torch import load_file
    d = load_file(path)
    if any(k.startswith("optim.m.") for k in d):
        out = {k[len("optim.m."):]: v for k, v in d.items() if k.startswith("optim.m.")}
    else:
        out = {}
        for k, v in d.items():
            for pre in ("grads.", "grad."):
                if k.startswith(pre):
                    k = k[len(pre):]
                    break
            out[k] = v
    if "logits" in d:
        out["logits"] = d["logits"]
    return out


def read_loss(spec):
    try:
        return float(spec)
    except ValueError:
        with open(spec) as f:
            for line in f:
                r = json.loads(line)
                if "loss" in r and "step" in r:
                    return float(r["loss"])
    sys.exit(f"torch_oracle: error: no loss in '{spec}'")


def compare(ref, motif, loss, motif_loss, rtol, atol, torch):
    rows = []
    if motif_loss is not None:
        err = abs(motif_loss - loss)
        rows.append({"name": "loss", "shape": [], "max_abs_err": err, "max_ref": abs(loss),
                     "rel": err / max(abs(loss), 1e-30),
                     "pass": err <= atol + rtol * abs(loss)})
    for name, r in ref.items():
        m = motif.get(name)
        row = {"name": name, "shape": list(r.shape)}
        if m is None:
            if name == "logits":
                continue  # logits are compared only when Motif wrote them
            row.update(pass_=False, error="no Motif tensor")
        elif tuple(m.shape) != tuple(r.shape):
            row.update(pass_=False, error=f"Motif's shape is {list(m.shape)}")
        else:
            r64, m64 = r.double().cpu(), m.double().cpu()
            err = (m64 - r64).abs().max().item() if r.numel() else 0.0
            ref_max = r64.abs().max().item() if r.numel() else 0.0
            finite = bool(torch.isfinite(m64).all())
            row.update(max_abs_err=err, max_ref=ref_max, rel=err / max(ref_max, 1e-30),
                       pass_=finite and err <= atol + rtol * ref_max)
            if not finite:
                row["error"] = "non-finite values in Motif's tensor"
        row["pass"] = row.pop("pass_")
        rows.append(row)
    extra = sorted(set(motif) - set(ref))
    return rows, extra


# --- main ------------------------------------------------------------------------------------


def main():
    a = parse_args()
    import torch
    from safetensors.torch import load_file, save_file

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
    import torch_models as tm

    if a.model not in tm.PRESETS:
        sys.exit(f"torch_oracle: error: unknown --model '{a.model}' "
                 f"(choices: {', '.join(tm.PRESETS)})")
    os.makedirs(a.out, exist_ok=True)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, a.dtype)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(a.seed)

    family, _ = tm.PRESETS[a.model]
    tensors = load_file(a.checkpoint) if a.checkpoint else {}
    overrides = dict(tm.infer_config(family, tensors), **json.loads(a.config))
    model, family, cfg = tm.build(a.model, overrides, gqa=a.gqa)
    if tensors:
        try:
            tm.load_state(model, tensors)
        except ValueError as e:
            sys.exit(f"torch_oracle: error: {a.checkpoint}: {e}\n  configuration: {cfg}")
    weights = os.path.join(a.out, "weights.safetensors")
    if not tensors or a.run_motif:  # step-0 weights that motif-run train --resume accepts
        save_file({n: t.detach().float().contiguous() for n, t in model.state_dict().items()},
                  weights, metadata={"model": a.model, "step": "0", "data_position": "0",
                                     "rng_offset": "0", "seed": str(a.seed)})
    model = model.to(device, dtype)
    if family == "llama":  # rotation tables exactly in the working precision
        model.rope_cos, model.rope_sin = tm.rope_tables(model.rope_cos.shape[0], model.head_dim,
                                                        model.theta, device, dtype)

    x, y = load_batch(a, cfg["vocab"], torch)
    bad = int((x >= cfg["vocab"]).sum() + (y >= cfg["vocab"]).sum())
    if bad:
        sys.exit(f"torch_oracle: error: {bad} tokens are outside the vocabulary of {cfg['vocab']}")
    if family == "gpt2" and x.shape[1] > cfg["ctx"]:
        sys.exit(f"torch_oracle: error: --seq {x.shape[1]} exceeds the model's ctx {cfg['ctx']}")
    x, y = x.to(device), y.to(device)

    logits, loss = model(x, y)
    loss.backward()
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().cpu().contiguous()
             for n, p in model.named_parameters()}
    loss_v = loss.item()
    save_file(grads, os.path.join(a.out, "grads.safetensors"))
    save_file({"tokens": x.int().cpu().contiguous(), "targets": y.int().cpu().contiguous()},
              os.path.join(a.out, "inputs.safetensors"))
    if not a.no_logits:
        save_file({"logits": logits.detach().cpu().contiguous()},
                  os.path.join(a.out, "logits.safetensors"))
    gnorm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())).item()
    info = {"model": a.model, "family": family, "config": cfg, "batch": list(x.shape),
            "device": str(device), "dtype": a.dtype, "loss": loss_v, "grad_norm": gnorm,
            "checkpoint": a.checkpoint, "tokens": a.tokens or os.path.join(a.out, "tokens.bin"),
            "torch": torch.__version__}
    with open(os.path.join(a.out, "oracle.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"{a.model} {cfg} on {device} in {a.dtype}, batch {list(x.shape)}: "
          f"loss {loss_v:.6f}, grad norm {gnorm:.6f}; results in {a.out}/")

    if a.run_motif:
        if a.tokens and a.tokens.endswith(".safetensors"):
            sys.exit("torch_oracle: error: --run-motif needs --tokens as a data file that "
                     "motif-run reads (llm.c shard or text), or none (random tokens)")
        mdir = os.path.join(a.out, "motif")
        cmd = [a.motif_run, "train", a.run_motif, "--data",
               a.tokens or os.path.join(a.out, "tokens.bin"), "--resume", weights,
               "--steps", "1", "--optimizer", "sgd", "--lr", "1e-3", "--clip", "0",
               "--weight-decay", "0", "--accumulate", "1", "--warmup", "0",
               "--schedule", "constant", "--batch", str(a.batch), "--seq", str(a.seq),
               "--eval-steps", "1", "--quiet", "--out", mdir]
        print("$ " + " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"torch_oracle: error: motif-run failed ({r.returncode}): "
                     f"{(r.stderr or r.stdout).strip()[-1000:]}")
        a.compare = os.path.join(mdir, "checkpoint.safetensors")
        a.compare_loss = os.path.join(mdir, "metrics.jsonl")
    if not a.compare and a.compare_loss is None:
        return 0
    rtol, atol = TOLERANCES[a.tolerance]
    rtol, atol = a.rtol if a.rtol is not None else rtol, a.atol if a.atol is not None else atol
    ref = dict(grads)
    if not a.no_logits:
        ref["logits"] = logits.detach().cpu()
    motif = motif_tensors(a.compare, torch) if a.compare else {}
    if not a.compare:
        ref = {}
    motif_loss = read_loss(a.compare_loss) if a.compare_loss is not None else None
    rows, extra = compare(ref, motif, loss_v, motif_loss, rtol, atol, torch)
    print(f"compare (pass: max_abs_err <= {atol:g} + {rtol:g} * max|torch|):")
    print(f"{'tensor':<48} {'max_abs_err':>12} {'max|torch|':>12} {'rel':>10}  verdict")
    for r in rows:
        if "max_abs_err" in r:
            print(f"{r['name']:<48} {r['max_abs_err']:>12.4e} {r['max_ref']:>12.4e} "
                  f"{r['rel']:>10.3e}  {'PASS' if r['pass'] else 'FAIL'}"
                  + (f" ({r['error']})" if "error" in r else ""))
        else:
            print(f"{r['name']:<48} {'':>12} {'':>12} {'':>10}  FAIL ({r['error']})")
    if extra:
        print(f"not compared (no such tensor here): {', '.join(extra[:10])}"
              + (" ..." if len(extra) > 10 else ""))
    npass = sum(r["pass"] for r in rows)
    nfail = len(rows) - npass
    worst = max((r for r in rows if "rel" in r), key=lambda r: r["rel"], default=None)
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump({"rtol": rtol, "atol": atol, "passed": npass, "failed": nfail,
                   "rows": rows, "not_compared": extra}, f, indent=1)
    if worst:
        print(f"worst: {worst['name']} rel {worst['rel']:.3e}")
    print(f"{'PASS' if nfail == 0 and rows else 'FAIL'}: torch oracle")
    print(f"{npass} passed, {nfail} failed")
    return 0 if nfail == 0 and rows else 1


if __name__ == "__main__":
    sys.exit(main())
