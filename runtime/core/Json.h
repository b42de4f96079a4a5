//===- Json.h - A small JSON reader for the runtime's file formats -*- C++ -*-===//
//
// The runtime reads JSON in safetensors headers, sharded checkpoints' index
// files, Hugging Face tokenizer.json and config files, and datasets' JSON
// lines; it has no LLVM, so this is its one JSON reader, parsed by
// nlohmann-json (Debian's nlohmann-json3-dev) into a small DOM in file order.
// Strings are UTF-8 (\u escapes, surrogate pairs included).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_JSON_H
#define MOTIF_RUNTIME_CORE_JSON_H

#include <string>
#include <utility>
#include <vector>

namespace motif::rt {

struct Json {
  enum Kind { Null, Bool, Num, Str, Arr, Obj } kind = Null;
  double num = 0;
  bool boolean = false;
  std::string str;
  std::vector<Json> arr;
  /// Members in file order (tokenizer.json vocabularies are large objects;
  /// lookups by key go through get()).
  std::vector<std::pair<std::string, Json>> obj;

  /// The member named `key` of an object, or null when absent or not an object.
  const Json *get(const std::string &key) const;
  bool isNull() const { return kind == Null; }
};

/// Parses `text`; on failure returns false and sets `error` to the problem and
/// its byte offset. `what` names the text in errors ("the header", ...).
bool parseJson(const std::string &text, Json &out, std::string &error,
               const std::string &what = "the JSON text");

/// `s` as a JSON string literal.
std::string jsonQuote(const std::string &s);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_JSON_H
