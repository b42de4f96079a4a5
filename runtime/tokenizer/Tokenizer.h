//===- Tokenizer.h - Hugging Face and SentencePiece tokenizers -*- C++ -*-===//
//
// Text to token ids and back, for training on text (`motif-run train
// --tokenizer`), writing llm.c shards (`motif-run tokenize`) and generation.
// Two kinds of file load (docs/tokenizers.md):
//   - a Hugging Face tokenizer.json holding a BPE model: byte-level BPE
//     (GPT-2, Llama-3, Qwen2: ByteLevel and Split pre-tokenizers with their
//     regexes, matched by PCRE2 with Unicode properties) and BPE with byte
//     fallback (Llama-2, Mistral: Prepend/Replace normalizers or a Metaspace
//     pre-tokenizer); NFC/NFKC normalizers through ICU;
//   - a SentencePiece .model file, through libsentencepiece.
// The ids equal those of the `tokenizers` and `sentencepiece` packages
// (tests/unit/tokenizer). Anything in a file that this reader does not
// implement is an error that names it, never ignored.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TOKENIZER_TOKENIZER_H
#define MOTIF_RUNTIME_TOKENIZER_TOKENIZER_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt {

class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  /// Loads a tokenizer.json (a file starting with '{') or a SentencePiece
  /// .model file; `path` may also be a directory holding tokenizer.json or
  /// tokenizer.model. Errors name the file and what is wrong or unsupported.
  static StatusOr<std::unique_ptr<Tokenizer>> load(const std::string &path);

  /// The ids of `text` (UTF-8), without BOS/EOS or other post-processing.
  virtual StatusOr<std::vector<uint32_t>> encode(const std::string &text) const = 0;
  /// The text of `ids`; bytes that do not form UTF-8 become U+FFFD, as the
  /// reference libraries do. An id outside the vocabulary is an error.
  virtual StatusOr<std::string> decode(const std::vector<uint32_t> &ids) const = 0;
  /// Number of ids (the largest id + 1, added tokens included).
  virtual uint32_t vocabSize() const = 0;
  /// The id of a token string (such as "<|endoftext|>" or "</s>"), or -1.
  virtual int64_t tokenId(const std::string &token) const = 0;
  /// What was loaded, for messages: "Hugging Face byte-level BPE", ...
  virtual std::string describe() const = 0;
  const std::string &path() const { return path_; }

protected:
  std::string path_;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TOKENIZER_TOKENIZER_H
