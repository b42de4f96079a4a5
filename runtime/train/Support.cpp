//===- Support.cpp - Helpers the motif-run commands share ------------------===//
#include "runtime/train/Support.h"
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/train/Trainer.h"

#include <algorithm>

using namespace motif::rt;

double motif::rt::attrNumber(const Attrs &a, const std::string &k, double def) {
  auto it = a.find(k);
  if (it == a.end())
    return def;
  if (it->second.kind == AttrValue::Int)
    return static_cast<double>(it->second.i);
  if (it->second.kind == AttrValue::Float)
    return it->second.f;
  return def;
}

std::string motif::rt::attrString(const Attrs &a, const std::string &k, const std::string &def) {
  auto it = a.find(k);
  return it != a.end() && it->second.kind == AttrValue::Str ? it->second.s : def;
}

const Attrs *motif::rt::attrMap(const Attrs &a, const std::string &k) {
  auto it = a.find(k);
  return it != a.end() && it->second.kind == AttrValue::Map ? &it->second.map : nullptr;
}

StatusOr<TokenIO> motif::rt::tokenIO(const Artifact &a, const Function &f) {
  TokenIO io;
  for (size_t i = 0; i < f.argNames.size(); ++i) {
    bool isInt = f.valueTypes[f.args[i]] == DType::I32;
    if (f.argNames[i] == "targets" && isInt)
      io.targets = static_cast<int>(i);
    else if (isInt && f.valueShapes[f.args[i]].size() == 2 && io.ids < 0)
      io.ids = static_cast<int>(i);
    else
      return Status::error("motif-run trains token models whose inputs are "
                           "token ids [B, T] and 'targets' [B, T]; input '" +
                           f.argNames[i] + "' of model '" + a.model +
                           "' is something else");
  }
  if (io.ids < 0)
    return Status::error("model '" + a.model + "' has no token input");
  io.vocab = vocabOf(a);
  return io;
}

int64_t motif::rt::vocabOf(const Artifact &a) {
  int64_t vocab = static_cast<int64_t>(attrNumber(a.config, "vocab", 0));
  if (!vocab)
    if (const Function *fwd = a.function("forward"))
      for (size_t r = 0; r < fwd->results.size(); ++r)
        if (fwd->resultRoles[r].rfind("output:", 0) == 0) {
          const Shape &s = fwd->valueShapes[fwd->results[r]];
          if (!s.empty() && s.back() > 0)
            vocab = s.back();
          break;
        }
  return vocab;
}

StatusOr<TokenData> motif::rt::loadTokensFor(const std::string &path, int64_t vocab,
                                             const std::string &tokenizer) {
  std::unique_ptr<Tokenizer> tok;
  if (!tokenizer.empty()) {
    auto loaded = Tokenizer::load(tokenizer);
    if (!loaded.isOk())
      return loaded.status();
    tok = std::move(*loaded);
    if (vocab > 0 && tok->vocabSize() > vocab)
      return Status::error("tokenizer '" + tokenizer + "' has " +
                           std::to_string(tok->vocabSize()) +
                           " tokens but the model's vocabulary is " + std::to_string(vocab));
  }
  auto data = loadTokens(path, tok.get());
  if (!data.isOk())
    return data.status();
  if (vocab > 0)
    if (Status s = checkVocabulary(*data, vocab); !s.isOk())
      return s;
  return data;
}

Status motif::rt::loadWeights(Engine &engine, const std::string &path) {
  auto ck = loadCheckpoint(path);
  if (!ck.isOk())
    return ck.status();
  return engine.readState(*ck, path, /*weightsOnly=*/true);
}

std::vector<Tensor> motif::rt::syntheticInputs(const Artifact &a, const Function &f,
                                               int64_t batch, int64_t seq, uint64_t seed) {
  uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 7;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int64_t vocab = static_cast<int64_t>(attrNumber(a.config, "vocab", 0));
  int64_t classes = static_cast<int64_t>(attrNumber(a.config, "classes", 0));
  std::vector<Tensor> ins;
  for (size_t ai = 0; ai < f.args.size(); ++ai) {
    int32_t id = f.args[ai];
    Shape shape = f.valueShapes[id];
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] == kDynamic)
        shape[d] = d == 0 ? batch : seq;
    bool isInt = f.valueTypes[id] == DType::I32 || f.valueTypes[id] == DType::I64;
    Tensor t = isInt ? Tensor::ints(shape) : Tensor::floats(shape);
    int64_t range = shape.size() == 1 ? (classes ? classes : 2) : (vocab ? vocab : 2);
    if (f.argNames[ai].find("type") != std::string::npos)
      range = std::max<int64_t>(1, static_cast<int64_t>(attrNumber(a.config, "type_vocab", 2)));
    for (auto &v : t.i)
      v = static_cast<int32_t>(next() % static_cast<uint64_t>(range));
    for (auto &v : t.f)
      v = static_cast<float>(((next() >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1);
    ins.push_back(std::move(t));
  }
  return ins;
}

StatusOr<std::unique_ptr<Engine>> motif::rt::inferenceEngine(const Artifact &a,
                                                             const std::string &device,
                                                             uint64_t seed,
                                                             const std::string &checkpoint) {
  EngineOptions eo;
  eo.device = device;
  eo.seed = seed;
  eo.training = false;
  auto made = makeEngine(a, eo);
  if (!made.isOk())
    return made.status();
  if (!checkpoint.empty())
    if (Status s = loadWeights(**made, checkpoint); !s.isOk())
      return s;
  return std::move(*made);
}
