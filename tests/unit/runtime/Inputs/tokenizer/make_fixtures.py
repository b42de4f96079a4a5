#!/usr/bin/env python3
"""Builds the tokenizer test fixtures beside this script (TokenizerTest.cpp reads them).

Real tokenizers cannot be downloaded here, so this trains tiny ones with the
PyPI `tokenizers` and `sentencepiece` packages in the styles Motif loads:
  gpt2.json      byte-level BPE with GPT-2's pre-tokenizer regex
  llama3.json    byte-level BPE, Llama-3's Split regex, ignore_merges
  qwen2.json     byte-level BPE, NFC normalizer, Qwen2's Split regex
  llama2.json    BPE with byte fallback (Llama-2/Mistral: Prepend + Replace
                 normalizer, no pre-tokenizer, ByteFallback/Fuse/Strip decoder)
  metaspace.json BPE with byte fallback behind a Metaspace pre-tokenizer (how
                 recent transformers versions convert Llama/Mistral)
  metaspace_split.json  the same with Metaspace splitting and its decoder
  sp_bpe.model, sp_unigram.model   SentencePiece models (byte fallback on)
and writes cases.json: for each tokenizer file and each text, the ids the
reference library gives and its decoding of them.

  pip install tokenizers sentencepiece
  python3 tests/unit/runtime/Inputs/tokenizer/make_fixtures.py
"""
import json
import os

import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, trainers

OUT = os.path.dirname(os.path.abspath(__file__))

# Training text: a few scripts, so merges form in each.
CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 2024, and we'll see.",
    "I'm sure they've said they'd go; you're right, DON'T stop!",
    "Der schnelle braune Fuchs springt über den faulen Hund. Größe, Äpfel.",
    "Le cœur a ses raisons que la raison ne connaît point. À bientôt, garçon.",
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "صِف خَلقَ خَودِ كَمِثلِ الشَمسِ إِذ بَزَغَت",
    "דג סקרן שט בים מאוכזב ולפתע מצא חברה",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले",
    "我能吞下玻璃而不伤身体。敏捷的棕色狐狸跳过了懒狗。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ",
    "다람쥐 헌 쳇바퀴에 타고파",
    "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า",
    "numbers 0123456789 and 3.14159, 1,000,000 and 42nd 7th",
    "def f(x):\n    return x * 2  # twice\n\n\tif x:\n\t\tpass\n",
    "emoji 😀 😃 👍🏽 🇫🇷 👨‍👩‍👧 ❤️ 🔥🔥",
] * 20

# Texts whose ids the fixtures record: scripts, emoji (ZWJ sequences, flags,
# skin tones), digits, runs of whitespace, characters never seen in training.
TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see; they'VE said DON'T.",
    "Größe über Äpfel — naïve façade.",
    "Съешь ещё этих булок.",
    "Ξεσκεπάζω την ψυχή.",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "我能吞下玻璃而不伤身体。",
    "こんにちは、世界！カタカナ",
    "안녕하세요 세계",
    "สวัสดีชาวโลก",
    "emoji 😀👍🏽 🇫🇷🇩🇪 👨‍👩‍👧‍👦 ❤️‍🔥 🦄",
    "digits 1 12 123 1234 12345 3.14159 1,000,000 0x1F 2024-12-06",
    "runs   of    spaces\t\ttabs\n\nnewlines \n \n  end   ",
    "   leading and trailing   ",
    "\n\n\n",
    "code:\n    if (x) {\n\treturn y;\n    }\n",
    "unseen: ŁÓDŹ ǅ ⅷ ∮ ⌘ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ ᚠᛇᚻ",
    "combining e\u0301 vs \u00e9, A\u030a, \ufb01 ligature",
    "mixed中文English123русский😀",
    "a",
    "",
]

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level(split_pattern=None, nfc=False, ignore_merges=False, vocab=600):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if split_pattern:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split_pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"])
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def byte_fallback(style):
    """Llama-2 style: the 256 <0xXX> byte tokens after <unk> <s> </s>, then the
    trained pieces; characters outside the vocabulary fall back to bytes.
    style: "normalizer" (Llama-2's own tokenizer.json), "metaspace" (how
    transformers' LlamaConverter writes it now), "metaspace_split" (the older
    Metaspace with split and its decoder)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    llama_decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                       decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    if style == "metaspace":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first",
                                                     split=False)
        tok.decoder = llama_decoder
    elif style == "metaspace_split":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always",
                                                     split=True)
        tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="always",
                                                            split=True),
                                         decoders.ByteFallback(), decoders.Fuse()])
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                               normalizers.Replace(" ", "▁")])
        tok.decoder = llama_decoder
    # Train on the corpus as the normalizer would present it, without
    # pre-splitting, so pieces may hold "▁" inside as Llama-2's do.
    trainer = trainers.BpeTrainer(vocab_size=500, show_progress=False,
                                  special_tokens=["<unk>", "<s>", "</s>"],
                                  limit_alphabet=120)
    tok.train_from_iterator([("▁" + t.replace(" ", "▁")) for t in CORPUS], trainer)
    # Renumber: specials, the byte tokens, then the trained vocabulary.
    spec = json.loads(tok.to_str())
    old = spec["model"]["vocab"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(old.items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    spec["model"]["vocab"] = vocab
    for added in spec["added_tokens"]:
        added["id"] = vocab[added["content"]]
    return Tokenizer.from_str(json.dumps(spec))


def sentencepiece(kind):
    prefix = os.path.join(OUT, "sp_" + kind)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_prefix=prefix, model_type=kind,
        vocab_size=700 if kind == "bpe" else 550, byte_fallback=True,
        character_coverage=0.98, minloglevel=2, num_threads=1,
        split_digits=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity")
    os.remove(prefix + ".vocab")
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {"texts": TEXTS, "tokenizers": []}
    hf = {
        "gpt2.json": byte_level(),
        "llama3.json": byte_level(LLAMA3_PATTERN, ignore_merges=True),
        "qwen2.json": byte_level(QWEN2_PATTERN, nfc=True),
        "llama2.json": byte_fallback("normalizer"),
        "metaspace.json": byte_fallback("metaspace"),
        "metaspace_split.json": byte_fallback("metaspace_split"),
    }
    for name, tok in hf.items():
        tok.save(os.path.join(OUT, name), pretty=False)
        ids = [tok.encode(t, add_special_tokens=False).ids for t in TEXTS]
        decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
        cases["tokenizers"].append({"file": name, "vocab": tok.get_vocab_size(),
                                    "ids": ids, "decoded": decoded})
    for kind in ("bpe", "unigram"):
        sp = sentencepiece(kind)
        ids = [sp.encode(t) for t in TEXTS]
        decoded = [sp.decode(i) for i in ids]
        cases["tokenizers"].append({"file": "sp_%s.model" % kind,
                                    "vocab": sp.get_piece_size(),
                                    "ids": ids, "decoded": decoded})
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
