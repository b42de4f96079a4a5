//===- Generate.cpp - Prefill and decode: batched generation ---------------===//
#include "runtime/infer/Generate.h"
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

using namespace motif::rt;

TokenCodec::~TokenCodec() = default;

namespace {

class ByteCodec final : public TokenCodec {
public:
  std::string name() const override { return "bytes"; }
  std::vector<int32_t> encode(const std::string &text) const override {
    return std::vector<int32_t>(reinterpret_cast<const unsigned char *>(text.data()),
                                reinterpret_cast<const unsigned char *>(text.data()) +
                                    text.size());
  }
  std::string decode(const std::vector<int32_t> &ids) const override {
    std::string s;
    for (int32_t id : ids)
      if (id >= 0 && id < 256)
        s += static_cast<char>(id);
    return s;
  }
};

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/// Element `i` of a float tensor, whichever precision it holds.
double at(const Tensor &t, int64_t i) { return t.d.empty() ? t.f[i] : t.d[i]; }

/// The artifact's inference functions, or why there are none.
struct InferenceFunctions {
  const Function *prefill = nullptr, *decode = nullptr;
  /// An encoder-decoder's: @prefill takes (tokens, lengths, source,
  /// source_lengths); the source's keys and values are state, at most
  /// `sourceSlots` positions.
  bool encoderDecoder = false;
  int64_t sourceSlots = 0;
};
StatusOr<InferenceFunctions> inferenceFunctions(const Artifact &a) {
  const Function *pf = a.function("prefill"), *df = a.function("decode_step");
  if (!pf || !df)
    return Status::error("the artifact of model '" + a.model +
                         "' has no @prefill and @decode_step: its forward has a layer with no "
                         "decode form yet (run motif-opt --motif-derive-inference on "
                         "motif-compile --emit=motif's output to see which)");
  bool encdec = pf->argNames.size() == 4 && pf->argNames[3] == "source_lengths";
  if ((pf->argNames.size() != 2 && !encdec) || pf->argNames[1] != "lengths" ||
      df->argNames.size() < 2 || df->argNames[1] != "pos")
    return Status::error("the artifact's @prefill/@decode_step do not have the signature of "
                         "motif-derive-inference (tokens, lengths[, source, source_lengths] / "
                         "tokens, pos, state...)");
  size_t states = 0;
  for (const std::string &r : pf->resultRoles)
    states += r.rfind("state:", 0) == 0;
  if (states != df->argNames.size() - 2)
    return Status::error("the artifact's @prefill makes " + std::to_string(states) +
                         " states but @decode_step reads " +
                         std::to_string(df->argNames.size() - 2));
  InferenceFunctions fns{pf, df, encdec, 0};
  if (encdec) {
    // The cross-attention caches follow the source lengths' state.
    for (size_t k = 2; k + 1 < df->argNames.size(); ++k)
      if (df->argNames[k] == "source_lengths") {
        const Shape &cache = df->valueShapes[df->args[k + 1]];
        fns.sourceSlots = cache.size() == 3 ? cache[1] : 0;
      }
    if (fns.sourceSlots <= 0)
      return Status::error("the artifact's @decode_step has no cross-attention cache after "
                           "its source_lengths state");
  }
  return fns;
}

Tensor ints(Shape shape, std::vector<int32_t> values) {
  Tensor t = Tensor::ints(std::move(shape));
  t.i = std::move(values);
  return t;
}

} // namespace

std::unique_ptr<TokenCodec> motif::rt::byteCodec() { return std::make_unique<ByteCodec>(); }

namespace {
/// A tokenizer's encode and decode; text it cannot encode is empty (the
/// caller checks the prompt encodes, see motif-run's generate).
class TokenizerCodec final : public TokenCodec {
public:
  explicit TokenizerCodec(std::unique_ptr<Tokenizer> t) : t(std::move(t)) {}
  std::string name() const override { return t->describe(); }
  std::vector<int32_t> encode(const std::string &text) const override {
    auto ids = t->encode(text);
    return ids.isOk() ? std::vector<int32_t>(ids->begin(), ids->end()) : std::vector<int32_t>{};
  }
  std::string decode(const std::vector<int32_t> &ids) const override {
    std::vector<uint32_t> u;
    for (int32_t id : ids)
      if (id >= 0)
        u.push_back(static_cast<uint32_t>(id));
    auto text = t->decode(u);
    return text.isOk() ? *text : std::string();
  }

private:
  std::unique_ptr<Tokenizer> t;
};
} // namespace

std::unique_ptr<TokenCodec> motif::rt::tokenizerCodec(std::unique_ptr<Tokenizer> tokenizer) {
  return std::make_unique<TokenizerCodec>(std::move(tokenizer));
}

StatusOr<GenerateResult> motif::rt::generateBatch(const Artifact &a, const GenerateOptions &o) {
  auto fns = inferenceFunctions(a);
  if (!fns.isOk())
    return fns.status();
  auto made = inferenceEngine(a, o.device, o.sampler.seed, o.checkpoint);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  std::unique_ptr<TokenCodec> bytes = byteCodec();
  const TokenCodec &codec = o.codec ? *o.codec : *bytes;
  int64_t limit = o.context > 0 ? o.context
                                : static_cast<int64_t>(attrNumber(a.config, "ctx", 0));
  if (limit <= 0)
    limit = std::numeric_limits<int32_t>::max();

  // 1. The prompts, right-padded into one batch.
  std::vector<std::string> prompts = o.prompts.empty() ? std::vector<std::string>{""} : o.prompts;
  const int64_t B = static_cast<int64_t>(prompts.size());
  std::vector<std::vector<int32_t>> seqs(B);
  std::vector<int32_t> lengths(B);
  int64_t T = 0;
  for (int64_t b = 0; b < B; ++b) {
    seqs[b] = codec.encode(prompts[b].empty() ? "\n" : prompts[b]);
    if (static_cast<int64_t>(seqs[b].size()) >= limit)
      return Status::error("prompt " + std::to_string(b + 1) + " has " +
                           std::to_string(seqs[b].size()) + " tokens; the context holds " +
                           std::to_string(limit) + " (--context)");
    lengths[b] = static_cast<int32_t>(seqs[b].size());
    T = std::max<int64_t>(T, lengths[b]);
  }
  // An encoder-decoder: the prompts are the sources, and every decoder
  // starts from the start token.
  std::vector<int32_t> sourcePadded, sourceLengths;
  int64_t S = 0;
  if (fns->encoderDecoder) {
    // The decoder's cache has the context the source's has (the pass plans
    // both): its text ends there ("context").
    limit = std::min(limit, fns->sourceSlots);
    int64_t start = o.decoderStart >= 0
                        ? o.decoderStart
                        : static_cast<int64_t>(attrNumber(a.config, "decoder_start", 0));
    for (int64_t b = 0; b < B; ++b) {
      if (static_cast<int64_t>(seqs[b].size()) > fns->sourceSlots)
        return Status::error("prompt " + std::to_string(b + 1) + " has " +
                             std::to_string(seqs[b].size()) + " tokens; the encoder's cache " +
                             "holds " + std::to_string(fns->sourceSlots) +
                             " (motif-compile --context)");
      S = std::max<int64_t>(S, static_cast<int64_t>(seqs[b].size()));
    }
    sourcePadded.assign(B * S, 0);
    for (int64_t b = 0; b < B; ++b) {
      std::copy(seqs[b].begin(), seqs[b].end(), sourcePadded.begin() + b * S);
      sourceLengths.push_back(static_cast<int32_t>(seqs[b].size()));
      seqs[b] = {static_cast<int32_t>(start)};
      lengths[b] = 1;
    }
    T = 1;
  }
  std::vector<int32_t> padded(B * T, 0);
  for (int64_t b = 0; b < B; ++b)
    std::copy(seqs[b].begin(), seqs[b].end(), padded.begin() + b * T);

  GenerateResult res;
  res.chain = Sampler::chain(o.sampler);
  res.texts.assign(B, "");
  res.tokens.assign(B, {});
  res.finish.assign(B, "");
  std::vector<Sampler> samplers;
  for (int64_t b = 0; b < B; ++b)
    samplers.emplace_back(o.sampler, static_cast<uint64_t>(b));
  size_t longestStop = 0;
  for (const std::string &s : o.stops)
    longestStop = std::max(longestStop, s.size());
  std::vector<size_t> emitted(B, 0);

  // One new token of sequence b: its text, stop strings, limits, streaming.
  auto accept = [&](int64_t b, const Tensor &logits, int64_t row) {
    int64_t V = logits.shape.back();
    int32_t next = logits.d.empty() ? samplers[b].next(logits.f.data() + row * V, V, seqs[b])
                                    : samplers[b].next(logits.d.data() + row * V, V, seqs[b]);
    seqs[b].push_back(next);
    res.tokens[b].push_back(next);
    std::string text = codec.decode(res.tokens[b]);
    size_t cut = std::string::npos;
    for (const std::string &s : o.stops)
      if (!s.empty())
        cut = std::min(cut, text.find(s));
    if (cut != std::string::npos) {
      text.resize(cut);
      res.finish[b] = "stop";
    } else if (static_cast<int64_t>(res.tokens[b].size()) >= o.maxTokens) {
      res.finish[b] = "length";
    } else if (static_cast<int64_t>(seqs[b].size()) >= limit) {
      res.finish[b] = "context";
    }
    res.texts[b] = text;
    size_t safe = res.finish[b].empty() && longestStop > 0
                      ? (text.size() >= longestStop - 1 ? text.size() - (longestStop - 1) : 0)
                      : text.size();
    // A character a byte-level tokenizer has not finished yet decodes as
    // U+FFFD: hold it back until the next token completes it.
    static const std::string kReplacement = "\xEF\xBF\xBD";
    if (res.finish[b].empty() && safe == text.size() && text.size() >= kReplacement.size() &&
        text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
      safe -= kReplacement.size();
    if (o.onText && safe > emitted[b]) {
      o.onText(static_cast<size_t>(b), text.substr(emitted[b], safe - emitted[b]));
      emitted[b] = safe;
    }
  };

  // 2. Prefill: every prompt at once; the last prompt position's logits
  //    give each sequence's first new token.
  const Function *pf = fns->prefill, *df = fns->decode;
  {
    std::vector<Tensor> ins;
    ins.push_back(ints({B, T}, padded));
    ins.push_back(ints({B}, lengths));
    if (fns->encoderDecoder) {
      ins.push_back(ints({B, S}, sourcePadded));
      ins.push_back(ints({B}, sourceLengths));
    }
    auto t0 = std::chrono::steady_clock::now();
    auto r = engine.inferenceStep(std::move(ins), "prefill");
    if (!r.isOk())
      return r.status();
    res.prefillSeconds = seconds(t0);
    res.prefillTokens = std::accumulate(lengths.begin(), lengths.end(), int64_t(0)) +
                        std::accumulate(sourceLengths.begin(), sourceLengths.end(), int64_t(0));
    if (r->outputs.empty())
      return Status::error("model '" + a.model + "' has no output to sample from");
    for (int64_t b = 0; b < B; ++b)
      accept(b, r->outputs.front(), b * T + lengths[b] - 1);
  }

  // 3. Decode: one token per unfinished sequence per step. A finished
  //    sequence rides along at position 0 (its state is no longer read).
  auto t0 = std::chrono::steady_clock::now();
  const RunStats graphsBefore = engine.stats();
  while (true) {
    std::vector<int32_t> toks(B), pos(B);
    int64_t active = 0;
    for (int64_t b = 0; b < B; ++b) {
      bool live = res.finish[b].empty();
      active += live;
      toks[b] = seqs[b].back();
      pos[b] = live ? static_cast<int32_t>(seqs[b].size() - 1) : 0;
    }
    if (!active)
      break;
    std::vector<Tensor> ins;
    ins.push_back(ints({B, 1}, toks));
    ins.push_back(ints({B}, pos));
    // The state stays where the engine holds it (a device's memory).
    auto r = engine.inferenceStep(std::move(ins), "decode_step");
    if (!r.isOk())
      return r.status();
    for (int64_t b = 0; b < B; ++b)
      if (res.finish[b].empty())
        accept(b, r->outputs.front(), b);
    res.decodeTokens += active;
  }
  res.decodeSeconds = seconds(t0);
  res.graphCaptures = engine.stats().graphCaptures - graphsBefore.graphCaptures;
  res.graphReplays = engine.stats().graphReplays - graphsBefore.graphReplays;
  (void)pf;
  (void)df;
  return res;
}

Status motif::rt::checkDecode(const Artifact &a, const CheckDecodeOptions &o, std::ostream &log) {
  auto fns = inferenceFunctions(a);
  if (!fns.isOk())
    return fns.status();
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("the artifact has no @forward to check against");
  // The token range: a decoder's token input, or an encoder-decoder's
  // vocabulary (its source and target share it).
  int64_t vocab = vocabOf(a);
  if (!fns->encoderDecoder) {
    auto io = tokenIO(a, *fwd);
    if (!io.isOk())
      return io.status();
    vocab = io->vocab;
  }
  if (vocab <= 0)
    vocab = 256;
  EngineOptions eo;
  eo.device = o.device;
  eo.seed = o.seed;
  eo.training = false;
  eo.fp64 = o.fp64;
  auto made = makeEngine(a, eo);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  // On a device (bf16 activations and attention inputs, also in fp32 plans:
  // the attention kernels take bf16) the step and @forward round apart by
  // a few bf16 ulps of a logit.
  double tol = o.tolerance > 0           ? o.tolerance
               : o.fp64                  ? 1e-9
               : isHostDevice(o.device) ? 1e-4
                                         : 1e-2;
  const int64_t B = static_cast<int64_t>(o.lengths.size()), N = o.steps;
  if (B == 0)
    return Status::error("check-decode needs at least one prompt length");

  // 1. Random sequences, and @forward's logits on each alone (the oracle).
  uint64_t rng = o.seed * 0x9e3779b97f4a7c15ull + 7;
  auto draw = [&] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int32_t>((rng >> 33) % static_cast<uint64_t>(vocab));
  };
  std::vector<std::vector<int32_t>> seqs(B), sources(B);
  std::vector<Tensor> oracle(B);
  int64_t T = 0, V = 0, S = 0;
  // An encoder-decoder: each sequence has its source (@forward's input of
  // @prefill's source name), of its own length.
  const bool encdec = fns->encoderDecoder;
  const std::string sourceName = encdec ? fns->prefill->argNames[2] : "";
  if (encdec && !o.sourceLengths.empty() && o.sourceLengths.size() != o.lengths.size())
    return Status::error("--source-lengths needs one length per prompt (" +
                         std::to_string(o.lengths.size()) + ")");
  for (int64_t b = 0; b < B; ++b) {
    if (o.lengths[b] < 1)
      return Status::error("prompt lengths must be at least 1");
    int64_t L = o.lengths[b] + N;
    for (int64_t i = 0; i < L; ++i)
      seqs[b].push_back(draw());
    T = std::max(T, o.lengths[b]);
    if (encdec) {
      int64_t Ls = o.sourceLengths.empty() ? o.lengths[b] + 2 : o.sourceLengths[b];
      if (Ls < 1 || Ls > fns->sourceSlots)
        return Status::error("source lengths must be in [1, " +
                             std::to_string(fns->sourceSlots) + "], got " + std::to_string(Ls));
      for (int64_t i = 0; i < Ls; ++i)
        sources[b].push_back(draw());
      S = std::max<int64_t>(S, Ls);
    }
    std::vector<Tensor> ins;
    for (size_t k = 0; k < fwd->args.size(); ++k)
      ins.push_back(encdec && fwd->argNames[k] == sourceName
                        ? ints({1, static_cast<int64_t>(sources[b].size())}, sources[b])
                        : ints({1, L}, seqs[b]));
    auto r = engine.forward(std::move(ins), /*outputs=*/true, "forward");
    if (!r.isOk())
      return r.status();
    if (r->outputs.empty())
      return Status::error("model '" + a.model + "' has no output to check");
    oracle[b] = std::move(r->outputs.front());
    V = oracle[b].shape.back();
  }
  log << "check-decode " << a.model << ": " << B << " sequence" << (B > 1 ? "s" : "")
      << " (prompts of";
  for (int64_t b = 0; b < B; ++b)
    log << (b ? ", " : " ") << o.lengths[b];
  log << " tokens";
  if (encdec) {
    log << ", sources of";
    for (int64_t b = 0; b < B; ++b)
      log << (b ? ", " : " ") << sources[b].size();
  }
  log << ", prefilled as one batch), " << N << " decode steps, "
      << (o.fp64 ? "fp64" : "fp32") << ", tolerance " << tol << "\n";

  double worst = 0;
  auto compare = [&](const char *what, int64_t step, const Tensor &got, int64_t gotRow, int64_t b,
                     int64_t p, double &maxErr) -> Status {
    double scale = 1;
    for (int64_t v = 0; v < V; ++v)
      scale = std::max(scale, std::fabs(at(oracle[b], p * V + v)));
    for (int64_t v = 0; v < V; ++v) {
      double e = std::fabs(at(got, gotRow * V + v) - at(oracle[b], p * V + v)) / scale;
      maxErr = std::max(maxErr, e);
      if (!(e <= tol)) {
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "%s%s differs from @forward for sequence %lld at position %lld (logit "
                      "%lld): error %.3g > tolerance %.3g",
                      what, step >= 0 ? (" step " + std::to_string(step + 1)).c_str() : "",
                      static_cast<long long>(b), static_cast<long long>(p),
                      static_cast<long long>(v), e, tol);
        return Status::error(buf);
      }
    }
    return Status::ok();
  };

  // 2. Prefill, right-padded: every prompt position.
  std::vector<int32_t> padded(B * T, 0), lengths(B);
  for (int64_t b = 0; b < B; ++b) {
    lengths[b] = static_cast<int32_t>(o.lengths[b]);
    std::copy(seqs[b].begin(), seqs[b].begin() + o.lengths[b], padded.begin() + b * T);
  }
  std::vector<Tensor> ins;
  ins.push_back(ints({B, T}, padded));
  ins.push_back(ints({B}, lengths));
  if (encdec) {
    std::vector<int32_t> sourcePadded(B * S, 0), sourceLengths(B);
    for (int64_t b = 0; b < B; ++b) {
      sourceLengths[b] = static_cast<int32_t>(sources[b].size());
      std::copy(sources[b].begin(), sources[b].end(), sourcePadded.begin() + b * S);
    }
    ins.push_back(ints({B, S}, sourcePadded));
    ins.push_back(ints({B}, sourceLengths));
  }
  auto r = engine.inferenceStep(std::move(ins), "prefill");
  if (!r.isOk())
    return r.status();
  double err = 0;
  int64_t positions = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < o.lengths[b]; ++p, ++positions)
      if (Status s = compare("prefill", -1, r->outputs.front(), b * T + p, b, p, err); !s.isOk())
        return s;
  char line[160];
  std::snprintf(line, sizeof line, "  prefill: max error %.3g over %lld positions\n", err,
                static_cast<long long>(positions));
  log << line;
  worst = std::max(worst, err);
  auto held = engine.inferenceState();
  if (!held.isOk())
    return held.status();
  const std::vector<Tensor> &state = *held;
  log << "  state: " << state.size() << " tensors:";
  const Function *df = fns->decode;
  for (size_t k = 0; k < state.size(); ++k) {
    log << " " << df->argNames[k + 2] << " [";
    for (size_t d = 0; d < state[k].shape.size(); ++d)
      log << (d ? ", " : "") << state[k].shape[d];
    log << "]";
  }
  log << "\n";

  // 3. Decode steps, one token per sequence at its own position.
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int32_t> toks(B), pos(B);
    for (int64_t b = 0; b < B; ++b) {
      pos[b] = static_cast<int32_t>(o.lengths[b] + n);
      toks[b] = seqs[b][pos[b]];
    }
    std::vector<Tensor> step;
    step.push_back(ints({B, 1}, toks));
    step.push_back(ints({B}, pos));
    auto d = engine.inferenceStep(std::move(step), "decode_step");
    if (!d.isOk())
      return d.status();
    err = 0;
    for (int64_t b = 0; b < B; ++b)
      if (Status s = compare("decode", n, d->outputs.front(), b, b, pos[b], err); !s.isOk())
        return s;
    std::snprintf(line, sizeof line, "  decode step %lld: max error %.3g\n",
                  static_cast<long long>(n + 1), err);
    log << line;
    worst = std::max(worst, err);
  }
  std::snprintf(line, sizeof line, "decode matches forward: worst error %.3g (tolerance %.3g)\n",
                worst, tol);
  log << line;
  return Status::ok();
}
