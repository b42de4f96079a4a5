#!/usr/bin/env python3
"""Builds the Hugging Face import fixtures beside this script.

Tiny random models made with `transformers` (nothing is downloaded), each
saved as Hugging Face saves it (config.json and safetensors weights, in the
dtype and sharding given below), with reference.safetensors: `tokens` [2, 8]
(as F32, exact small integers) and the model's fp32 `logits` [2, 8, vocab]
for them. HfImportTest imports each directory, compiles it and compares.

  pip install torch transformers safetensors
  python3 tests/unit/frontend/Inputs/hf/make_fixtures.py [NAME...]

With names, only those directories are written (every model is still made,
in order, so each one's random values do not depend on the selection).
"""
import os
import sys

import torch
import transformers as tf
from safetensors.torch import save_file

OUT = os.path.dirname(os.path.abspath(__file__))

COMMON = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=48, max_position_embeddings=64, initializer_range=0.3)

MODELS = {
    # name: (config, model class, dtype to save, shard size)
    "gpt2": (tf.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                           initializer_range=0.3, layer_norm_epsilon=1e-5),
             tf.GPT2LMHeadModel, torch.float32, None),
    "llama": (tf.LlamaConfig(num_key_value_heads=2, rope_theta=5000.0, rms_norm_eps=1e-6,
                             tie_word_embeddings=False, **COMMON),
              tf.LlamaForCausalLM, torch.bfloat16, "20KB"),
    "mistral": (tf.MistralConfig(num_key_value_heads=1, sliding_window=4, rms_norm_eps=1e-5,
                                 tie_word_embeddings=False, **COMMON),
                tf.MistralForCausalLM, torch.float16, None),
    "qwen2": (tf.Qwen2Config(num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6,
                             tie_word_embeddings=True, use_sliding_window=False, **COMMON),
              tf.Qwen2ForCausalLM, torch.float32, None),
    "mixtral": (tf.MixtralConfig(num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                                 sliding_window=None, rms_norm_eps=1e-5, tie_word_embeddings=False,
                                 **COMMON),
                tf.MixtralForCausalLM, torch.float32, None),
    "mamba": (tf.MambaConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, state_size=8,
                             expand=2, conv_kernel=4, layer_norm_epsilon=1e-5,
                             initializer_range=0.3, tie_word_embeddings=True),
              tf.MambaForCausalLM, torch.float32, None),
    # Llama 3.1's rope scaling, strong at 8 positions: theta 100 and an
    # original context of 32 put head_dim 8's frequencies in all three bands
    # (kept, blended, divided by the factor).
    "llama3": (tf.LlamaConfig(num_key_value_heads=2, rms_norm_eps=1e-6, tie_word_embeddings=False,
                              rope_theta=100.0,
                              rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                            "original_max_position_embeddings": 32},
                              **COMMON),
               tf.LlamaForCausalLM, torch.float32, None),
}


def main():
    torch.manual_seed(0)
    for name, (config, cls, dtype, shard) in MODELS.items():
        if hasattr(config, "_attn_implementation"):
            config._attn_implementation = "eager"
        model = cls(config).eval()
        # Norm weights away from 1 and biases away from 0, so a missed one shows.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(0.2 * torch.randn_like(p))
            # The saved dtype's values, so the reference sees what the import reads.
            for p in model.parameters():
                p.copy_(p.to(dtype).float())
        tokens = torch.randint(0, config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits = model(tokens).logits.float()
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        model.to(dtype).save_pretrained(d, safe_serialization=True,
                                        **({"max_shard_size": shard} if shard else {}))
        for f in os.listdir(d):
            if f not in ("config.json",) and not f.endswith(".safetensors") and \
                    not f.endswith(".index.json"):
                os.remove(os.path.join(d, f))
        save_file({"tokens": tokens.float().contiguous(), "logits": logits.contiguous()},
                  os.path.join(d, "reference.safetensors"))
        print(name, sorted(os.listdir(d)))


if __name__ == "__main__":
    main()
