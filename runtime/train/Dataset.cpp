//===- Dataset.cpp - What training and evaluation batches are made from ----===//
#include "runtime/train/Dataset.h"
#include "runtime/core/Json.h"
#include "runtime/train/ArrayFile.h"
#include "runtime/train/Data.h"
#include "runtime/train/Support.h"
#include "runtime/tokenizer/Tokenizer.h"


#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

using namespace motif::rt;

Batches::~Batches() = default;

namespace {
bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// splitmix64: the masks and orders are functions of (seed, index) alone.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
double unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

/// The model's inputs by role.
struct Inputs {
  int targets = -1;
  std::vector<int> tokens; // other int inputs of rank 2, in argument order
  int tokenTypes = -1;     // an int input named 'token_types'
};

Inputs classify(const Function &f) {
  Inputs in;
  for (size_t i = 0; i < f.args.size(); ++i) {
    bool isInt = f.valueTypes[f.args[i]] == DType::I32;
    const std::string &name = f.argNames[i];
    if (isInt && name == "targets")
      in.targets = static_cast<int>(i);
    else if (isInt && name == "token_types")
      in.tokenTypes = static_cast<int>(i);
    else if (isInt && f.valueShapes[f.args[i]].size() == 2)
      in.tokens.push_back(static_cast<int>(i));
  }
  return in;
}

std::string inputList(const Function &f) {
  std::string s;
  for (size_t i = 0; i < f.argNames.size(); ++i) {
    s += (i ? ", " : "") + f.argNames[i] + ": " + dtypeName(f.valueTypes[f.args[i]]) + "[";
    const Shape &sh = f.valueShapes[f.args[i]];
    for (size_t d = 0; d < sh.size(); ++d)
      s += (d ? ", " : "") + (sh[d] < 0 ? std::string("?") : std::to_string(sh[d]));
    s += "]";
  }
  return s;
}

// ---- token windows (lm, mlm) ----------------------------------------------

/// Consecutive windows of T tokens (T + 1 for the shifted targets of lm),
/// `batch` rows a batch; the position counts the tokens consumed, so it
/// also says which pass over the split (epoch) a window belongs to.
class TokenWindows : public Batches {
public:
  TokenWindows(const uint32_t *tokens, size_t count, uint64_t base, const Inputs &in,
               size_t nargs, const DataOptions &o, bool masked, int64_t vocab)
      : tokens(tokens), count(count), base(base), in(in), nargs(nargs), o(o),
        masked(masked), vocab(vocab) {}

  void next(std::vector<Tensor> &inputs) override {
    inputs.assign(nargs, Tensor());
    for (size_t k = 0; k < nargs; ++k)
      inputs[k] = Tensor::ints({o.batch, o.seq});
    int32_t *ids = inputs[static_cast<size_t>(in.tokens[0])].i.data();
    int32_t *tg = inputs[static_cast<size_t>(in.targets)].i.data();
    size_t span = static_cast<size_t>(o.seq) + (masked ? 0 : 1);
    for (int64_t b = 0; b < o.batch; ++b) {
      if (offset + span > count) { // an epoch ended: wrap to the start
        pos += count - offset;
        offset = 0;
      }
      uint64_t epoch = pos / count;
      int32_t *rowIds = ids + b * o.seq, *rowTg = tg + b * o.seq;
      for (int64_t t = 0; t < o.seq; ++t) {
        rowIds[t] = static_cast<int32_t>(tokens[offset + static_cast<size_t>(t)]);
        rowTg[t] = masked ? -100 : static_cast<int32_t>(tokens[offset + static_cast<size_t>(t) + 1]);
      }
      if (masked)
        mask(rowIds, rowTg, epoch, base + offset);
      offset += static_cast<size_t>(o.seq);
      pos += static_cast<uint64_t>(o.seq);
    }
  }
  uint64_t position() const override { return pos; }
  void setPosition(uint64_t p) override {
    pos = p;
    offset = static_cast<size_t>(p % count);
  }

private:
  /// BERT's masking: each token is chosen with probability maskRate (at
  /// least one per row, so every row has a loss); a chosen token becomes the
  /// mask id (80%), a random token (10%) or stays (10%). A function of the
  /// seed, the pass over the data and the token's place in the file: a new
  /// mask every epoch (RoBERTa's dynamic masking), the same on resume.
  void mask(int32_t *ids, int32_t *tg, uint64_t epoch, uint64_t at) const {
    bool any = false;
    for (int64_t t = 0; t < o.seq; ++t) {
      uint64_t h = mix(o.seed ^ mix(epoch * 0x100000001b3ull ^ (at + static_cast<uint64_t>(t))));
      if (unit(h) >= o.maskRate)
        continue;
      choose(ids, tg, t, mix(h));
      any = true;
    }
    if (!any) {
      uint64_t h = mix(o.seed ^ mix(~(epoch * 0x100000001b3ull ^ at)));
      choose(ids, tg, static_cast<int64_t>(h % static_cast<uint64_t>(o.seq)), mix(h));
    }
  }
  void choose(int32_t *ids, int32_t *tg, int64_t t, uint64_t h) const {
    tg[t] = ids[t];
    double u = unit(h);
    int64_t maskId = o.maskToken >= 0 ? o.maskToken : vocab - 1;
    if (u < 0.8)
      ids[t] = static_cast<int32_t>(maskId);
    else if (u < 0.9)
      ids[t] = static_cast<int32_t>(mix(h) % static_cast<uint64_t>(maskId > 0 ? maskId : vocab));
  }

  const uint32_t *tokens;
  size_t count;
  uint64_t base; // where the split starts in the file (masks depend on it)
  Inputs in;
  size_t nargs;
  DataOptions o;
  bool masked;
  int64_t vocab;
  uint64_t pos = 0;
  size_t offset = 0;
};

// ---- examples (seq2seq, arrays) -------------------------------------------

/// Batches of whole examples: each pass over the split visits them in an
/// order drawn from the seed and the pass (in file order where `ordered`).
class ExampleBatches : public Batches {
public:
  ExampleBatches(size_t first, size_t count, uint64_t seed, bool ordered, int64_t batch)
      : first(first), count(count), seed(seed), ordered(ordered), batch(batch) {}
  uint64_t position() const override { return pos; }
  void setPosition(uint64_t p) override { pos = p; }

protected:
  /// The examples (indices into the file) of the next batch.
  std::vector<size_t> nextIndices() {
    std::vector<size_t> idx;
    for (int64_t b = 0; b < batch; ++b, ++pos) {
      uint64_t epoch = pos / count;
      if (epoch != orderEpoch || order.empty())
        shuffle(epoch);
      idx.push_back(first + order[pos % count]);
    }
    return idx;
  }

private:
  void shuffle(uint64_t epoch) {
    order.resize(count);
    std::iota(order.begin(), order.end(), size_t{0});
    if (!ordered)
      for (size_t k = count; k > 1; --k) // Fisher-Yates
        std::swap(order[k - 1], order[mix(seed ^ mix(epoch ^ mix(k))) % k]);
    orderEpoch = epoch;
  }

  size_t first, count;
  uint64_t seed;
  bool ordered;
  int64_t batch;
  uint64_t pos = 0, orderEpoch = 0;
  std::vector<size_t> order;
};

struct Pair {
  std::vector<int32_t> source, target;
};

/// Source and target token ids per row: the source padded with 0 (or cut) to
/// S; the decoder reads the start id 0 then the target shifted right; the
/// targets are the target's ids and -100 (ignored) past its end.
class PairBatches : public ExampleBatches {
public:
  PairBatches(const std::vector<Pair> &pairs, size_t first, size_t count, bool ordered,
              int src, int dec, int tg, size_t nargs, const DataOptions &o, int64_t srcSeq)
      : ExampleBatches(first, count, o.seed, ordered, o.batch), pairs(pairs), src(src), dec(dec),
        tg(tg), nargs(nargs), o(o), srcSeq(srcSeq) {}
  void next(std::vector<Tensor> &inputs) override {
    inputs.assign(nargs, Tensor());
    inputs[static_cast<size_t>(src)] = Tensor::ints({o.batch, srcSeq});
    inputs[static_cast<size_t>(dec)] = Tensor::ints({o.batch, o.seq});
    inputs[static_cast<size_t>(tg)] = Tensor::ints({o.batch, o.seq});
    std::vector<size_t> idx = nextIndices();
    for (int64_t b = 0; b < o.batch; ++b) {
      const Pair &p = pairs[idx[static_cast<size_t>(b)]];
      int32_t *s = inputs[static_cast<size_t>(src)].i.data() + b * srcSeq;
      int32_t *d = inputs[static_cast<size_t>(dec)].i.data() + b * o.seq;
      int32_t *t = inputs[static_cast<size_t>(tg)].i.data() + b * o.seq;
      for (int64_t k = 0; k < srcSeq; ++k)
        s[k] = k < static_cast<int64_t>(p.source.size()) ? p.source[static_cast<size_t>(k)] : 0;
      int64_t n = static_cast<int64_t>(p.target.size());
      for (int64_t k = 0; k < o.seq; ++k) {
        d[k] = k == 0 ? 0 : (k - 1 < n ? p.target[static_cast<size_t>(k - 1)] : 0);
        t[k] = k < n ? p.target[static_cast<size_t>(k)] : -100;
      }
    }
  }

private:
  const std::vector<Pair> &pairs;
  int src, dec, tg;
  size_t nargs;
  DataOptions o;
  int64_t srcSeq;
};

/// Rows of named arrays, one array per input.
class ArrayBatches : public ExampleBatches {
public:
  ArrayBatches(const std::vector<const NamedArray *> &arrays, const std::vector<Shape> &shapes,
               const std::vector<DType> &types, size_t first, size_t count, bool ordered,
               const DataOptions &o)
      : ExampleBatches(first, count, o.seed, ordered, o.batch), arrays(arrays), shapes(shapes),
        types(types) {}
  void next(std::vector<Tensor> &inputs) override {
    std::vector<size_t> idx = nextIndices();
    inputs.assign(arrays.size(), Tensor());
    for (size_t k = 0; k < arrays.size(); ++k) {
      const NamedArray &a = *arrays[k];
      int64_t row = a.numElements() / std::max<int64_t>(1, a.shape[0]);
      bool isInt = types[k] == DType::I32;
      Tensor t = isInt ? Tensor::ints(shapes[k]) : Tensor::floats(shapes[k]);
      for (size_t b = 0; b < idx.size(); ++b) {
        size_t from = idx[b] * static_cast<size_t>(row), to = b * static_cast<size_t>(row);
        for (int64_t e = 0; e < row; ++e) {
          size_t s = from + static_cast<size_t>(e), d = to + static_cast<size_t>(e);
          if (isInt)
            t.i[d] = a.i[s];
          else
            t.f[d] = a.isInt ? static_cast<float>(a.i[s]) : a.f[s];
        }
      }
      inputs[k] = std::move(t);
    }
  }

private:
  std::vector<const NamedArray *> arrays;
  std::vector<Shape> shapes;
  std::vector<DType> types;
};

/// The data a Dataset's batches read, kept alive with them.
struct Holder {
  TokenData tokens;
  std::vector<Pair> pairs;
  std::vector<NamedArray> arrays;
};

/// Batches that own the data they read (shared by the two splits).
template <typename B> class Owning : public B {
public:
  template <typename... Args>
  Owning(std::shared_ptr<Holder> h, Args &&...args) : B(std::forward<Args>(args)...), h(std::move(h)) {}

private:
  std::shared_ptr<Holder> h;
};

/// How many of `n` units go to validation (none where the fraction is 0).
size_t valCount(size_t n, double fraction) {
  return static_cast<size_t>(static_cast<double>(n) * fraction);
}

std::string pct(double v) {
  return fmt::format("{:g}%", v * 100);
}

StatusOr<Dataset> openTokens(const Function &f, const Inputs &in, int64_t vocab,
                             const DataOptions &o, bool masked) {
  if (in.targets < 0)
    return Status::error("model inputs (" + inputList(f) + ") have no int 'targets' [B, T] for " +
                         (masked ? "masked" : "next-token") + " prediction");
  if (in.tokens.size() != 1)
    return Status::error("'" + o.path + "' is token data, which feeds one token input [B, T]; the "
                         "model has " + std::to_string(in.tokens.size()) + " (" + inputList(f) +
                         "): pass a dataset of named arrays (.safetensors or .npz) or JSON "
                         "lines of source/target pairs");
  size_t known = 2 + (masked && in.tokenTypes >= 0 ? 1 : 0);
  if (f.args.size() != known)
    return Status::error("'" + o.path + "' is token data, which feeds token ids [B, T] and "
                         "'targets' [B, T]" + (masked ? std::string(" (and 'token_types')") : "") +
                         "; the model's inputs are " + inputList(f) +
                         ": pass a dataset of named arrays (.safetensors or .npz)");
  if (masked) {
    int64_t maskId = o.maskToken >= 0 ? o.maskToken : vocab - 1;
    if (vocab <= 1 || maskId >= vocab)
      return Status::error("the mask token " + std::to_string(maskId) +
                           " is outside the model's vocabulary of " + std::to_string(vocab));
  }
  auto h = std::make_shared<Holder>();
  auto data = loadTokensFor(o.path, vocab, o.tokenizer);
  if (!data.isOk())
    return data.status();
  h->tokens = std::move(*data);
  if (masked && o.maskToken < 0)
    for (size_t k = 0; k < h->tokens.tokens.size(); ++k)
      if (static_cast<int64_t>(h->tokens.tokens[k]) == vocab - 1)
        return Status::error("token " + std::to_string(vocab - 1) + " at position " +
                             std::to_string(k) + " of '" + o.path +
                             "' is the default mask id (the vocabulary's last); pass "
                             "--mask-token with an id the data does not use");
  size_t n = h->tokens.tokens.size(), nVal = valCount(n, o.valFraction);
  size_t need = static_cast<size_t>(o.batch * o.seq) + (masked ? 0 : 1);
  if (o.valFraction == 0 && n < need)
    return Status::error("'" + o.path + "' holds " + std::to_string(n) +
                         " tokens, fewer than one batch of " + std::to_string(o.batch) + " x " +
                         std::to_string(o.seq) + (masked ? "" : " + 1") +
                         "; use a smaller --batch or --seq");
  if (n - nVal < need || (o.valFraction > 0 && nVal < need))
    return Status::error("data file '" + o.path + "' has " + std::to_string(n) +
                         " tokens: too short for a batch of " + std::to_string(o.batch) + " x " +
                         std::to_string(o.seq) + " in both the train and the validation split (" +
                         std::to_string(need) + " tokens each); use a longer file or a smaller "
                         "--batch/--seq");
  Dataset d;
  d.objective = masked ? "mlm" : "lm";
  d.unit = "tokens";
  d.unitsPerBatch = o.batch * o.seq;
  d.trainUnits = static_cast<int64_t>(n - nVal);
  d.valUnits = static_cast<int64_t>(nVal);
  d.shapes.assign(f.args.size(), Shape{o.batch, o.seq});
  d.description = o.path + " (" + std::to_string(n - nVal) + " train / " + std::to_string(nVal) +
                  " val tokens" +
                  (masked ? ", masked LM: " + pct(o.maskRate) + " of tokens, mask id " +
                                std::to_string(o.maskToken >= 0 ? o.maskToken : vocab - 1)
                          : "") +
                  ")";
  const uint32_t *t = h->tokens.tokens.data();
  d.train = std::make_unique<Owning<TokenWindows>>(h, t, n - nVal, 0, in, f.args.size(), o, masked,
                                                   vocab);
  if (nVal)
    d.validation = std::make_unique<Owning<TokenWindows>>(h, t + (n - nVal), nVal, n - nVal, in,
                                                          f.args.size(), o, masked, vocab);
  return d;
}

StatusOr<Dataset> openPairs(const Function &f, const Inputs &in, int64_t vocab,
                            const DataOptions &o) {
  if (in.targets < 0 || in.tokens.size() != 2)
    return Status::error("'" + o.path + "' holds source/target pairs, which feed a source [B, S], a "
                         "decoder input [B, T] and 'targets' [B, T]; the model's inputs are " +
                         inputList(f));
  // The source and the decoder input by name where the model says, else in
  // argument order.
  int src = in.tokens[0], dec = in.tokens[1];
  for (int k : in.tokens) {
    const std::string &nm = f.argNames[static_cast<size_t>(k)];
    if (nm == "tgt" || nm == "decoder_input" || nm == "decoder_input_ids")
      dec = k, src = k == in.tokens[0] ? in.tokens[1] : in.tokens[0];
  }
  std::ifstream is(o.path);
  if (!is)
    return Status::error("cannot open data file '" + o.path + "'");
  std::unique_ptr<Tokenizer> tok;
  if (!o.tokenizer.empty()) {
    auto loaded = Tokenizer::load(o.tokenizer);
    if (!loaded.isOk())
      return loaded.status();
    tok = std::move(*loaded);
  }
  auto h = std::make_shared<Holder>();
  std::string line;
  for (int64_t lineNo = 1; std::getline(is, line); ++lineNo) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    std::string where = o.path + ":" + std::to_string(lineNo);
    Json j;
    std::string why;
    if (!parseJson(line, j, why, "the line") || j.kind != Json::Obj)
      return Status::error(where + ": not a JSON object" + (why.empty() ? "" : ": " + why));
    auto text = [&](std::initializer_list<const char *> keys) -> const Json * {
      for (const char *k : keys)
        if (const Json *v = j.get(k); v && v->kind == Json::Str)
          return v;
      return nullptr;
    };
    const Json *s = text({"source", "src", "input"}), *t = text({"target", "tgt", "output"});
    if (!s || !t)
      return Status::error(where + ": needs string fields \"source\" and \"target\"");
    Pair p;
    for (auto [text, ids] : {std::pair{s, &p.source}, std::pair{t, &p.target}}) {
      const std::string &str = text->str;
      if (tok) {
        auto enc = tok->encode(str);
        if (!enc.isOk())
          return Status::error(where + ": " + enc.status().message());
        ids->assign(enc->begin(), enc->end());
      } else {
        ids->assign(str.begin(), str.end());
        for (int32_t &id : *ids)
          id &= 0xff; // bytes, not signed chars
      }
      for (int32_t id : *ids)
        if (id >= vocab)
          return Status::error(where + ": " + (tok ? "token " : "byte ") + std::to_string(id) +
                               " is outside the model's vocabulary of " + std::to_string(vocab) +
                               (tok ? "" : " (text is read byte by byte)"));
    }
    h->pairs.push_back(std::move(p));
  }
  size_t n = h->pairs.size(), nVal = valCount(n, o.valFraction);
  size_t need = static_cast<size_t>(o.batch);
  if (n - nVal < need || (o.valFraction > 0 && nVal < need))
    return Status::error("data file '" + o.path + "' has " + std::to_string(n) +
                         " pairs: too few for a batch of " + std::to_string(o.batch) +
                         (o.valFraction > 0 ? " in both the train and the validation split" : ""));
  int64_t srcSeq = o.sourceSeq > 0 ? o.sourceSeq : o.seq;
  Dataset d;
  d.objective = "seq2seq";
  d.unit = "tokens";
  d.unitsPerBatch = o.batch * o.seq;
  d.trainUnits = static_cast<int64_t>(n - nVal) * o.seq;
  d.valUnits = static_cast<int64_t>(nVal) * o.seq;
  d.shapes.assign(f.args.size(), Shape{o.batch, o.seq});
  d.shapes[static_cast<size_t>(src)] = {o.batch, srcSeq};
  d.description = o.path + " (" + std::to_string(n - nVal) + " train / " + std::to_string(nVal) +
                  " val pairs; source " + std::to_string(srcSeq) + ", target " +
                  std::to_string(o.seq) + " tokens)";
  bool ordered = o.valFraction == 0;
  d.train = std::make_unique<Owning<PairBatches>>(h, h->pairs, 0, n - nVal, ordered, src, dec,
                                                  in.targets, f.args.size(), o, srcSeq);
  if (nVal)
    d.validation = std::make_unique<Owning<PairBatches>>(h, h->pairs, n - nVal, nVal, true, src,
                                                         dec, in.targets, f.args.size(), o, srcSeq);
  return d;
}

StatusOr<Dataset> openArrays(const Function &f, const DataOptions &o) {
  auto read = readArrays(o.path);
  if (!read.isOk())
    return read.status();
  auto h = std::make_shared<Holder>();
  h->arrays = std::move(*read);
  std::string have;
  for (const NamedArray &a : h->arrays)
    have += (have.empty() ? "" : ", ") + a.name;
  std::vector<const NamedArray *> byArg;
  std::vector<Shape> shapes;
  std::vector<DType> types;
  std::map<std::string, int64_t> dynamicDims; // "input dim" -> size, for the message
  int64_t n = -1;
  for (size_t k = 0; k < f.args.size(); ++k) {
    const std::string &name = f.argNames[k];
    const Shape &want = f.valueShapes[f.args[k]];
    DType type = f.valueTypes[f.args[k]];
    const NamedArray *a = nullptr;
    for (const NamedArray &x : h->arrays)
      if (x.name == name)
        a = &x;
    std::string where = "data file '" + o.path + "', array '" + name + "'";
    if (!a)
      return Status::error("data file '" + o.path + "' has no array '" + name +
                           "' for the model's input of that name (it has: " + have +
                           "; the model's inputs are " + inputList(f) + ")");
    if (a->shape.size() != want.size())
      return Status::error(where + " has rank " + std::to_string(a->shape.size()) +
                           ", the model's input has rank " + std::to_string(want.size()) + " (" +
                           inputList(f) + ")");
    if (type == DType::I32 && !a->isInt)
      return Status::error(where + " holds " + a->dtype + " values; the model's input is int");
    if (type != DType::I32 && type != DType::F32)
      return Status::error("the model's input '" + name + "' is " + dtypeName(type) +
                           "; datasets feed i32 and f32 inputs");
    if (n >= 0 && a->shape[0] != n)
      return Status::error(where + " has " + std::to_string(a->shape[0]) +
                           " examples along its first axis, another array has " +
                           std::to_string(n));
    n = a->shape[0];
    Shape s = a->shape;
    s[0] = o.batch;
    for (size_t d = 1; d < want.size(); ++d)
      if (want[d] >= 0 && want[d] != a->shape[d])
        return Status::error(where + " has size " + std::to_string(a->shape[d]) + " in dim " +
                             std::to_string(d) + ", the model's input needs " +
                             std::to_string(want[d]) + " (" + inputList(f) + ")");
    byArg.push_back(a);
    shapes.push_back(s);
    types.push_back(type);
  }
  size_t count = static_cast<size_t>(std::max<int64_t>(n, 0)), nVal = valCount(count, o.valFraction);
  size_t need = static_cast<size_t>(o.batch);
  if (count - nVal < need || (o.valFraction > 0 && nVal < need))
    return Status::error("data file '" + o.path + "' has " + std::to_string(count) +
                         " examples: too few for a batch of " + std::to_string(o.batch) +
                         (o.valFraction > 0 ? " in both the train and the validation split" : ""));
  Dataset d;
  d.objective = "arrays";
  d.unit = "examples";
  d.unitsPerBatch = o.batch;
  d.trainUnits = static_cast<int64_t>(count - nVal);
  d.valUnits = static_cast<int64_t>(nVal);
  d.shapes = shapes;
  d.description = o.path + " (" + std::to_string(count - nVal) + " train / " +
                  std::to_string(nVal) + " val examples of " + have + ")";
  bool ordered = o.valFraction == 0;
  d.train = std::make_unique<Owning<ArrayBatches>>(h, byArg, shapes, types, 0, count - nVal,
                                                   ordered, o);
  if (nVal)
    d.validation = std::make_unique<Owning<ArrayBatches>>(h, byArg, shapes, types, count - nVal,
                                                          nVal, true, o);
  return d;
}
} // namespace

StatusOr<Dataset> motif::rt::openDataset(const Artifact &a, const Function &f, int64_t vocab,
                                         const DataOptions &o) {
  (void)a;
  if (o.path.empty())
    return Status::error("no training data: pass --data FILE (raw text, an llm.c .bin shard, JSON lines "
                         "of source/target pairs, or named arrays in .safetensors/.npz/.npy)");
  Inputs in = classify(f);
  std::string obj = o.objective;
  if (obj.empty()) {
    if (isArrayFile(o.path))
      obj = "arrays";
    else if (endsWith(o.path, ".jsonl"))
      obj = "seq2seq";
    else
      obj = in.tokenTypes >= 0 ? "mlm" : "lm";
  }
  if (obj == "lm" || obj == "mlm") {
    if (isArrayFile(o.path) || endsWith(o.path, ".jsonl"))
      return Status::error("--objective " + obj + " reads text or an llm.c shard, not '" + o.path +
                           "'");
    return openTokens(f, in, vocab, o, obj == "mlm");
  }
  if (obj == "seq2seq")
    return openPairs(f, in, vocab, o);
  if (obj == "arrays")
    return openArrays(f, o);
  return Status::error("unknown objective '" + obj + "' (lm, mlm, seq2seq or arrays)");
}
