//===- TokenizerImpl.h - Private to runtime/tokenizer -----------*- C++ -*-===//
#ifndef MOTIF_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
#define MOTIF_RUNTIME_TOKENIZER_TOKENIZERIMPL_H

#include "runtime/tokenizer/Tokenizer.h"

namespace motif::rt::tok {

/// Bytes in the UTF-8 sequence that `lead` starts (1 for a stray byte).
size_t utf8Length(unsigned char lead);
std::string utf8Encode(uint32_t cp);
/// The code point at byte `i` of `s` (U+FFFD where it is not UTF-8).
uint32_t utf8Decode(const std::string &s, size_t i);
/// Whether `s` is UTF-8; the error names the first bad byte's offset.
Status checkUtf8(const std::string &s);
/// Bytes of valid UTF-8 starting at `i` (whole characters), 0 if none.
size_t validUtf8Prefix(const std::string &s, size_t i);
/// Bytes to skip at `i` for one U+FFFD: the maximal prefix of a valid
/// sequence there, at least 1 (Rust's from_utf8_lossy, Unicode's practice).
size_t invalidUtf8Run(const std::string &s, size_t i);

StatusOr<std::unique_ptr<Tokenizer>> loadHfTokenizer(const std::string &path,
                                                     const std::string &text);
StatusOr<std::unique_ptr<Tokenizer>> loadSentencePiece(const std::string &path,
                                                       const std::string &bytes);

} // namespace motif::rt::tok

#endif // MOTIF_RUNTIME_TOKENIZER_TOKENIZERIMPL_H
