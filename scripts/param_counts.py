#!/usr/bin/env python3
"""Expected parameter counts of the example models, by hand-written arithmetic.

Each function below mirrors one examples/*.motif family layer by layer (and the
standard-library blocks of frontends/motif/std/nn.motif it calls), so that the
numbers in docs/models.md can be checked without the compiler.

  python3 scripts/param_counts.py              # the table (published configurations)
  python3 scripts/param_counts.py --tiny       # the *_tiny variants too
  python3 scripts/param_counts.py --markdown   # the table as in docs/models.md
  python3 scripts/param_counts.py --compiler build/bin/motif-compile
        # also compile every example with --summary and compare its totals
  python3 scripts/param_counts.py --hf         # cross-check against transformers
        # (needs torch + transformers; models are built on the meta device from
        #  hand-written configs, nothing is downloaded)

Only the standard library is needed, except for --hf.
"""

import argparse
import os
import re
import subprocess
import sys

# --- primitives (docs/language.md, "Primitives") ---------------------------------


def linear(i, o, bias=True):
    return i * o + (o if bias else 0)


def embedding(v, d):
    return v * d


def layer_norm(d, bias=True):
    return 2 * d if bias else d


def rms_norm(d):
    return d


def conv2d(cin, cout, k, bias=True):
    return cout * cin * k * k + (cout if bias else 0)


def conv1d(cin, cout, k, groups=1, bias=True):
    return cout * (cin // groups) * k + (cout if bias else 0)


class Count:
    """Trainable, frozen (buffers) and active-per-token parameter totals."""

    def __init__(self, trainable=0, frozen=0, active=None):
        self.trainable = trainable
        self.frozen = frozen
        self.active = trainable if active is None else active

    def add(self, n, active=None, frozen=0):
        self.trainable += n
        self.active += n if active is None else active
        self.frozen += frozen
        return self


# --- standard-library blocks (frontends/motif/std/nn.motif) ------------------------


def mlp(d, hidden, bias=True):  # c_fc, c_proj
    return linear(d, hidden, bias) + linear(hidden, d, bias)


def swiglu(d, hidden, bias=False):  # w1, w3, w2
    return 2 * linear(d, hidden, bias) + linear(hidden, d, bias)


def t5_ffn(d, hidden):  # wi, wo
    return linear(d, hidden, False) + linear(hidden, d, False)


def causal_self_attention(d, bias=True):  # c_attn (3d), c_proj
    return linear(d, 3 * d, bias) + linear(d, d, bias)


def attention_block(d, heads, kv_heads=0, bias=False):  # wq wk wv wo (= gqa_attention)
    kvh = kv_heads or heads
    hd = d // heads
    return (linear(d, heads * hd, bias) + 2 * linear(d, kvh * hd, bias)
            + linear(heads * hd, d, bias))


def self_attention(d, bias=True):  # query key value output
    return 4 * linear(d, d, bias)


def t5_attention(d):  # q k v o, no bias (also cross_attention(bias = false))
    return 4 * linear(d, d, False)


def moe(d, experts, body, shared=0, shared_body=0):
    """router [E, d] + E copies of the body + shared copies; returns (total, per-expert)."""
    return linear(d, experts, False) + experts * body + shared * shared_body


def mamba_mixer(d, d_state=16, d_conv=4, expand=2, dt_rank=0, inner_norms=False):
    di = expand * d
    r = dt_rank if dt_rank > 0 else (d + 15) // 16
    n = linear(d, 2 * di, False)                      # in_proj
    n += conv1d(di, di, d_conv, groups=di)            # conv1d (depthwise, bias)
    n += linear(di, r + 2 * d_state, False)           # x_proj
    if inner_norms:
        n += rms_norm(r) + 2 * rms_norm(d_state)      # dt/b/c_layernorm (Jamba)
    n += r * di + di                                  # dt_proj.weight, dt_proj.bias
    n += di * d_state + di                            # A_log, D
    n += linear(di, d, False)                         # out_proj
    return n


def bert_layer(d, hidden):
    return self_attention(d) + layer_norm(d) + mlp(d, hidden) + layer_norm(d)


def vit_layer(d, hidden):
    return layer_norm(d) + self_attention(d) + layer_norm(d) + mlp(d, hidden)


def basic_block(cin, cout, stride):
    """(trainable, frozen): conv1 bn1 conv2 bn2 [+ downsample conv, bn]."""
    t = conv2d(cin, cout, 3, False) + 2 * cout + conv2d(cout, cout, 3, False) + 2 * cout
    f = 2 * cout + 2 * cout
    if stride != 1 or cin != cout:
        t += conv2d(cin, cout, 1, False) + 2 * cout
        f += 2 * cout
    return t, f


# --- the example families (defaults = examples/*.motif defaults) -------------------


def gpt2(vocab=50257, ctx=1024, d=768, layers=12, heads=12):
    c = Count(embedding(vocab, d) + embedding(ctx, d))          # wte, wpe
    for _ in range(layers):
        c.add(layer_norm(d) + causal_self_attention(d) + layer_norm(d) + mlp(d, 4 * d))
    c.add(layer_norm(d))                                          # ln_f
    return c                                                      # lm_head tied to wte


def llama(vocab=128256, d=4096, layers=32, heads=32, kv_heads=8, hidden=14336):
    c = Count(embedding(vocab, d))
    for _ in range(layers):                                       # llama_block
        c.add(rms_norm(d) + attention_block(d, heads, kv_heads) + rms_norm(d)
              + swiglu(d, hidden))
    c.add(rms_norm(d) + linear(d, vocab, False))                  # norm, output
    return c


def mistral(vocab=32000, d=4096, layers=32, heads=32, kv_heads=8, hidden=14336):
    return llama(vocab, d, layers, heads, kv_heads, hidden)      # window adds nothing


def mixtral(vocab=32000, d=4096, layers=32, heads=32, kv_heads=8, hidden=14336,
            experts=8, top_k=2):
    c = Count(embedding(vocab, d))
    for _ in range(layers):
        dense = rms_norm(d) + attention_block(d, heads, kv_heads) + rms_norm(d)
        body = swiglu(d, hidden)
        c.add(dense + moe(d, experts, body),
              active=dense + linear(d, experts, False) + top_k * body)
    c.add(rms_norm(d) + linear(d, vocab, False))
    return c


def switch(vocab=32128, d=768, layers=12, heads=12, hidden=3072, experts=8,
           sparse_step=2, buckets=32):
    def ffn(i):
        body = t5_ffn(d, hidden)
        if i % sparse_step == 1:
            return moe(d, experts, body), linear(d, experts, False) + body
        return body, body

    c = Count(embedding(vocab, d) + buckets * heads)              # shared, encoder bias
    for i in range(layers):                                       # encoder
        f, fa = ffn(i)
        base = rms_norm(d) + t5_attention(d) + rms_norm(d)
        c.add(base + f, active=base + fa)
    c.add(rms_norm(d) + buckets * heads)                          # final norm, decoder bias
    for i in range(layers):                                       # decoder
        f, fa = ffn(i)
        base = rms_norm(d) + t5_attention(d) + rms_norm(d) + t5_attention(d) + rms_norm(d)
        c.add(base + f, active=base + fa)
    c.add(rms_norm(d))                                            # lm_head tied
    return c


def glam(vocab=256000, d=2048, layers=24, heads=16, hidden=8192, experts=64, top_k=2):
    c = Count(embedding(vocab, d))
    for i in range(layers):
        base = layer_norm(d, False) + attention_block(d, heads) + layer_norm(d, False)
        body = mlp(d, hidden, bias=False)
        if i % 2 == 1:
            c.add(base + moe(d, experts, body),
                  active=base + linear(d, experts, False) + top_k * body)
        else:
            c.add(base + body)
    c.add(layer_norm(d, False))                                   # lm_head tied
    return c


def deepseek_moe(vocab=102400, d=2048, layers=28, heads=16, dense_hidden=10944,
                 expert_hidden=1408, experts=64, top_k=6, shared=2, first_dense=1):
    c = Count(embedding(vocab, d))
    for i in range(layers):
        base = rms_norm(d) + attention_block(d, heads, heads) + rms_norm(d)
        if i < first_dense:
            c.add(base + swiglu(d, dense_hidden))
        else:
            body = swiglu(d, expert_hidden)
            c.add(base + moe(d, experts, body, shared, body),
                  active=base + linear(d, experts, False) + (top_k + shared) * body)
    c.add(rms_norm(d) + linear(d, vocab, False))
    return c


def mamba(vocab=50280, d=768, layers=24, d_state=16, d_conv=4, expand=2):
    c = Count(embedding(vocab, d))
    for _ in range(layers):
        c.add(rms_norm(d) + mamba_mixer(d, d_state, d_conv, expand))
    c.add(rms_norm(d))                                            # lm_head tied
    return c


def jamba(vocab=65536, d=4096, layers=32, heads=32, kv_heads=8, hidden=14336,
          experts=16, top_k=2, attn_period=8, attn_offset=4, moe_period=2,
          moe_offset=1, d_state=16, d_conv=4, expand=2, dt_rank=256):
    c = Count(embedding(vocab, d))
    for i in range(layers):
        if i % attn_period == attn_offset:
            mixer = attention_block(d, heads, kv_heads)
        else:
            mixer = mamba_mixer(d, d_state, d_conv, expand, dt_rank, inner_norms=True)
        base = rms_norm(d) + mixer + rms_norm(d)
        body = swiglu(d, hidden)
        if i % moe_period == moe_offset:
            c.add(base + moe(d, experts, body),
                  active=base + linear(d, experts, False) + top_k * body)
        else:
            c.add(base + body)
    c.add(rms_norm(d) + linear(d, vocab, False))
    return c


def bert(vocab=30522, d=768, layers=12, heads=12, hidden=3072, max_positions=512,
         type_vocab=2):
    c = Count(embedding(vocab, d) + embedding(max_positions, d) + embedding(type_vocab, d)
              + layer_norm(d))
    for _ in range(layers):
        c.add(bert_layer(d, hidden))
    c.add(linear(d, d))                                           # pooler; mlm tied
    return c


def t5(vocab=32128, d=512, layers=6, heads=8, hidden=2048, buckets=32):
    c = Count(embedding(vocab, d) + buckets * heads)              # shared, encoder bias
    for _ in range(layers):                                       # t5_encoder_layer
        c.add(rms_norm(d) + t5_attention(d) + rms_norm(d) + t5_ffn(d, hidden))
    c.add(rms_norm(d) + buckets * heads)
    for _ in range(layers):                                       # t5_decoder_layer
        c.add(rms_norm(d) + t5_attention(d) + rms_norm(d) + t5_attention(d)
              + rms_norm(d) + t5_ffn(d, hidden))
    c.add(rms_norm(d))                                            # lm_head tied
    return c


def vit(image=224, patch=16, channels=3, d=768, layers=12, heads=12, hidden=3072,
        classes=1000):
    n = (image // patch) ** 2
    c = Count(conv2d(channels, d, patch) + d + (n + 1) * d)       # patches, cls, positions
    for _ in range(layers):
        c.add(vit_layer(d, hidden))
    c.add(layer_norm(d) + linear(d, classes))
    return c


def resnet18(image=224, classes=1000, width=64):
    c = Count(conv2d(3, width, 7, False) + 2 * width, frozen=2 * width)   # conv1, bn1
    cin = width
    for stage in range(4):
        out = width * 2 ** stage
        for j in range(2):
            t, f = basic_block(cin, out, 2 if stage > 0 and j == 0 else 1)
            c.add(t, frozen=f)
            cin = out
    c.add(linear(cin, classes))
    return c


# --- the table --------------------------------------------------------------------

# example, family function, tiny overrides (as in the *_tiny variant), description,
# published count (None where only an approximate one exists), source.
MODELS = [
    ("gpt2", gpt2, dict(vocab=256, ctx=128, d=64, layers=2, heads=4),
     "GPT-2 124M: d 768, 12 layers, 12 heads, ctx 1024, vocab 50257, tied",
     124_439_808, "Radford et al. 2019 (124M); HF `openai-community/gpt2`, GPT2LMHeadModel"),
    ("llama", llama, dict(vocab=256, d=64, layers=2, heads=4, kv_heads=2, hidden=128),
     "Llama-3-8B: d 4096, 32 layers, 32 heads / 8 KV heads, FFN 14336, vocab 128256",
     8_030_261_248, "HF `meta-llama/Meta-Llama-3-8B` model card (8.03B)"),
    ("mistral", mistral, dict(vocab=256, d=64, layers=2, heads=4, kv_heads=2, hidden=128),
     "Mistral-7B-v0.1: Llama-style, 32/8 heads, FFN 14336, vocab 32000, window 4096",
     7_241_732_096, "HF `mistralai/Mistral-7B-v0.1` model card (7.24B)"),
    ("mixtral", mixtral, dict(vocab=256, d=64, layers=2, heads=4, kv_heads=2, hidden=96,
                              experts=4),
     "Mixtral-8x7B-v0.1: Mistral attention, 8 SwiGLU experts (14336) top-2 every layer",
     46_702_792_704, "Jiang et al. 2024 (47B total, 13B active); HF `mistralai/Mixtral-8x7B-v0.1` (46.7B)"),
    ("switch", switch, dict(vocab=256, d=32, layers=2, heads=4, hidden=64, experts=4),
     "switch-base-8: T5-base enc-dec (12+12 layers, d 768, FFN 3072), 8 experts top-1 "
     "every other FFN, tied",
     619_339_008, "HF `google/switch-base-8` (0.6B), SwitchTransformersForConditionalGeneration"),
    ("glam", glam, dict(vocab=256, d=32, layers=2, heads=4, hidden=64, experts=4),
     "GLaM (1.7B/64E): 24 layers, d 2048, FFN 8192, 16 heads, vocab 256K, 64 experts "
     "top-2 every other layer, tied",
     None, "Du et al. 2022, Table 4: 27B total, 1.7B activated (approximate)"),
    ("deepseek_moe", deepseek_moe, dict(vocab=256, d=32, layers=2, heads=4, dense_hidden=64,
                                        expert_hidden=16, experts=8, top_k=2, shared=1),
     "DeepSeekMoE 16B: 28 layers, d 2048, 2 shared + 64 routed experts (1408) top-6, "
     "first layer dense (10944), vocab 102400",
     16_375_728_128, "Dai et al. 2024 (16.4B total, 2.8B active); HF `deepseek-ai/deepseek-moe-16b-base`"),
    ("mamba", mamba, dict(vocab=256, d=32, layers=2, d_state=8),
     "mamba-130m: d 768, 24 layers, d_state 16, expand 2, conv 4, vocab 50280 (50277 "
     "padded), tied",
     129_135_360, "Gu and Dao 2023 (130M); HF `state-spaces/mamba-130m-hf`, MambaForCausalLM"),
    ("jamba", jamba, dict(vocab=256, d=32, layers=8, heads=4, kv_heads=2, hidden=64,
                          experts=4, d_state=8, dt_rank=4),
     "Jamba-v0.1: 32 layers, d 4096, attention at i%8==4 (32/8 heads), Mamba elsewhere, "
     "16 experts top-2 at i%2==1",
     51_570_323_328, "Lieber et al. 2024 (52B total, 12B active); HF `ai21labs/Jamba-v0.1` (51.6B)"),
    ("bert", bert, dict(vocab=256, d=32, layers=2, heads=4, hidden=64, max_positions=64),
     "BERT-base uncased: d 768, 12 layers, 12 heads, FFN 3072, vocab 30522, with pooler",
     109_482_240, "Devlin et al. 2019 (110M); HF `google-bert/bert-base-uncased`, BertModel"),
    ("t5", t5, dict(vocab=256, d=32, layers=2, heads=4, hidden=64),
     "t5-small: 6+6 layers, d 512, 8 heads, FFN 2048, vocab 32128, tied",
     60_506_624, "Raffel et al. 2020 (60M); HF `google-t5/t5-small`, T5ForConditionalGeneration"),
    ("vit", vit, dict(image=32, patch=8, d=32, layers=2, heads=4, hidden=64, classes=10),
     "ViT-B/16 at 224: d 768, 12 layers, 12 heads, FFN 3072, 1000 classes",
     86_567_656, "Dosovitskiy et al. 2021 (86M); HF `google/vit-base-patch16-224`, ViTForImageClassification"),
    ("resnet18", resnet18, dict(image=32, classes=10, width=8),
     "ResNet-18 at 224, 1000 classes",
     11_689_512, "torchvision `resnet18` weights table (11,689,512); HF `microsoft/resnet-18`"),
]


def fmt(n):
    return f"{n:,}"


def compiler_totals(compiler, example, model):
    """(trainable, total) from `motif-compile --summary`, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                        example + ".motif")
    try:
        out = subprocess.run([compiler, path, "--model=" + model, "--summary"],
                             capture_output=True, text=True, timeout=300).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    tr = re.search(r"total trainable\s+([\d,]+)", out)
    tot = re.search(r"^\s*total\s+([\d,]+)", out, re.M)
    if not tr or not tot:
        return None
    return int(tr.group(1).replace(",", "")), int(tot.group(1).replace(",", ""))


# --- cross-check against transformers (optional) ----------------------------------


def hf_counts():
    """Counts of the same configurations built with transformers on the meta device.

    Returns {example: (trainable, buffers, note)}. Each value is adjusted as noted
    where transformers' model differs from ours by a known parameter group."""
    import torch
    import transformers as tf

    def count(model):
        seen, n = set(), 0
        for p in model.parameters():  # parameters() already de-duplicates tied ones
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        return n

    def build(cls, cfg):
        with torch.device("meta"):
            return cls(cfg)

    res = {}
    m = build(tf.GPT2LMHeadModel, tf.GPT2Config())
    res["gpt2"] = (count(m), "GPT2LMHeadModel, GPT2Config() defaults")
    m = build(tf.LlamaForCausalLM, tf.LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        tie_word_embeddings=False))
    res["llama"] = (count(m), "LlamaForCausalLM, Llama-3-8B config")
    m = build(tf.MistralForCausalLM, tf.MistralConfig(
        vocab_size=32000, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        sliding_window=4096, tie_word_embeddings=False))
    res["mistral"] = (count(m), "MistralForCausalLM, Mistral-7B-v0.1 config")
    m = build(tf.MixtralForCausalLM, tf.MixtralConfig(
        vocab_size=32000, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        num_local_experts=8, num_experts_per_tok=2, tie_word_embeddings=False))
    res["mixtral"] = (count(m), "MixtralForCausalLM, Mixtral-8x7B config")
    m = build(tf.SwitchTransformersForConditionalGeneration, tf.SwitchTransformersConfig(
        vocab_size=32128, d_model=768, d_ff=3072, d_kv=64, num_layers=12,
        num_decoder_layers=12, num_heads=12, num_experts=8, encoder_sparse_step=2,
        decoder_sparse_step=2))
    res["switch"] = (count(m), "SwitchTransformersForConditionalGeneration, "
                               "switch-base-8 config")
    # DeepSeekMoE has no transformers class; Qwen2-MoE at the same sizes has the
    # same layout plus q/k/v biases and a sigmoid gate [1, d] on the shared expert.
    cfg = tf.Qwen2MoeConfig(
        vocab_size=102400, hidden_size=2048, intermediate_size=10944,
        moe_intermediate_size=1408, shared_expert_intermediate_size=2 * 1408,
        num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16,
        num_experts=64, num_experts_per_tok=6, decoder_sparse_step=1,
        mlp_only_layers=[0], tie_word_embeddings=False)
    m = build(tf.Qwen2MoeForCausalLM, cfg)
    extra = 28 * 3 * 2048 + 27 * 2048
    res["deepseek_moe"] = (count(m) - extra, "Qwen2MoeForCausalLM at DeepSeekMoE-16B sizes "
                           "minus q/k/v biases and shared_expert_gate (28*3*2048 + 27*2048)")
    m = build(tf.MambaForCausalLM, tf.MambaConfig(
        vocab_size=50280, hidden_size=768, num_hidden_layers=24, state_size=16,
        expand=2, conv_kernel=4, use_bias=False, use_conv_bias=True,
        tie_word_embeddings=True))
    res["mamba"] = (count(m), "MambaForCausalLM, mamba-130m config")
    m = build(tf.JambaForCausalLM, tf.JambaConfig(
        vocab_size=65536, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        num_experts=16, num_experts_per_tok=2, expert_layer_period=2,
        expert_layer_offset=1, attn_layer_period=8, attn_layer_offset=4,
        mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=256,
        mamba_conv_bias=True, mamba_proj_bias=False, tie_word_embeddings=False))
    res["jamba"] = (count(m), "JambaForCausalLM, Jamba-v0.1 config")
    m = build(tf.BertModel, tf.BertConfig())
    res["bert"] = (count(m), "BertModel (with pooler), BertConfig() defaults")
    m = build(tf.T5ForConditionalGeneration, tf.T5Config(
        vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8))
    res["t5"] = (count(m), "T5ForConditionalGeneration, t5-small config")
    m = build(tf.ViTForImageClassification, tf.ViTConfig(num_labels=1000))
    res["vit"] = (count(m), "ViTForImageClassification, ViTConfig() with 1000 labels")
    m = build(tf.ResNetForImageClassification, tf.ResNetConfig(
        layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512],
        embedding_size=64, downsample_in_first_stage=False, num_labels=1000))
    stats = sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
    res["resnet18"] = (count(m), "ResNetForImageClassification, microsoft/resnet-18 config; "
                       f"running stats {stats:,}")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="also count the *_tiny variants")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--compiler", help="path to motif-compile: compare its --summary totals")
    ap.add_argument("--hf", action="store_true", help="cross-check with transformers")
    args = ap.parse_args()

    rows, ok = [], True
    for name, fn, tiny, desc, published, source in MODELS:
        variants = [(name, {})] + ([(name + "_tiny", tiny)] if args.tiny else [])
        for model, over in variants:
            c = fn(**over)
            pub = published if model == name else None
            match = "" if pub is None else ("yes" if pub == c.trainable else "NO")
            if match == "NO":
                ok = False
            comp = ""
            if args.compiler:
                got = compiler_totals(args.compiler, name, model)
                if got is None:
                    comp, ok = "failed", False
                elif got == (c.trainable, c.trainable + c.frozen):
                    comp = "same"
                else:
                    comp, ok = f"DIFFERS: {fmt(got[0])} / {fmt(got[1])}", False
            rows.append((model, c, pub, match, comp, desc if model == name else "",
                         source if model == name else ""))

    if args.markdown:
        print("| example | model | configuration | trainable | total with buffers "
              "| active per token | published | source of the published number |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        for model, c, pub, match, comp, desc, source in rows:
            if model.endswith("_tiny"):
                continue
            total = fmt(c.trainable + c.frozen) if c.frozen else "="
            active = fmt(c.active) if c.active != c.trainable else "="
            print(f"| `examples/{model}.motif` | `{model}` | {desc} | {fmt(c.trainable)} | "
                  f"{total} | {active} | {fmt(pub) if pub else '—'} | {source} |")
        if args.tiny:
            print()
            print("| model | overrides | trainable | total with buffers | active per token |")
            print("|---|---|---:|---:|---:|")
            tinies = {name + "_tiny": over for name, _, over, *_ in MODELS}
            for model, c, *_ in rows:
                if model in tinies:
                    over = ", ".join(f"{k} = {v}" for k, v in tinies[model].items())
                    total = fmt(c.trainable + c.frozen) if c.frozen else "="
                    active = fmt(c.active) if c.active != c.trainable else "="
                    print(f"| `{model}` | {over} | {fmt(c.trainable)} | {total} | {active} |")
    else:
        print(f"{'model':<20}{'trainable':>18}{'frozen':>10}{'active/token':>18}"
              f"{'published':>18}  match  compiler")
        for model, c, pub, match, comp, desc, source in rows:
            print(f"{model:<20}{fmt(c.trainable):>18}{fmt(c.frozen):>10}{fmt(c.active):>18}"
                  f"{fmt(pub) if pub else '-':>18}  {match:<5}  {comp}")

    if args.hf:
        print("\ncross-check with transformers (meta device):")
        ours = {name: fn() for name, fn, *_ in MODELS}
        for name, (n, note) in hf_counts().items():
            same = n == ours[name].trainable
            ok &= same
            print(f"  {name:<14}{fmt(n):>18}  {'same' if same else 'DIFFERS'}  ({note})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
