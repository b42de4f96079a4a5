//===- Artifact.cpp - Reading and writing .mbin files ----------------------===//
//
// Layout (little-endian): "MOTIFBIN", u32 version, u32 flags, the body, then
// u64 FNV-1a checksum of everything before it and "MOTIFEND". The body is a
// flat sequence of fields (see docs/artifact.md); strings and lists carry
// their lengths, so every read is bounds-checked.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/core/Hash.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace motif::rt;

const char *motif::rt::dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::F64: return "f64";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  }
  return "?";
}

size_t motif::rt::dtypeSize(DType t) {
  switch (t) {
  case DType::F16:
  case DType::BF16: return 2;
  case DType::F32:
  case DType::I32: return 4;
  case DType::F64:
  case DType::I64: return 8;
  }
  return 0;
}

int64_t ParamInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

const Function *Artifact::function(const std::string &name) const {
  for (const Function &f : functions)
    if (f.name == name)
      return &f;
  return nullptr;
}

const ParamInfo *Artifact::param(const std::string &name) const {
  for (const ParamInfo &p : params)
    if (p.name == name)
      return &p;
  return nullptr;
}

namespace {
constexpr char kMagic[8] = {'M', 'O', 'T', 'I', 'F', 'B', 'I', 'N'};
constexpr char kEndMagic[8] = {'M', 'O', 'T', 'I', 'F', 'E', 'N', 'D'};

class Writer {
public:
  std::string out;
  void raw(const void *p, size_t n) { out.append(static_cast<const char *>(p), n); }
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string &s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void ints(const std::vector<int64_t> &v) {
    u32(static_cast<uint32_t>(v.size()));
    for (int64_t x : v)
      i64(x);
  }
  void ids(const std::vector<int32_t> &v) {
    u32(static_cast<uint32_t>(v.size()));
    for (int32_t x : v)
      u32(static_cast<uint32_t>(x));
  }
  void poly(const SymPoly &p) {
    u32(static_cast<uint32_t>(p.terms.size()));
    for (const SymPoly::Term &t : p.terms) {
      i64(t.coef);
      ids(t.symbols);
    }
  }
  void attrs(const Attrs &a) {
    u32(static_cast<uint32_t>(a.size()));
    for (const auto &[k, v] : a) {
      str(k);
      attr(v);
    }
  }
  void attr(const AttrValue &v) {
    u8(v.kind);
    switch (v.kind) {
    case AttrValue::Int: i64(v.i); break;
    case AttrValue::Float: f64(v.f); break;
    case AttrValue::Bool: u8(v.i != 0); break;
    case AttrValue::Str: str(v.s); break;
    case AttrValue::Ints: ints(v.ints); break;
    case AttrValue::Bools:
      u32(static_cast<uint32_t>(v.bools.size()));
      for (bool b : v.bools)
        u8(b);
      break;
    case AttrValue::Map: attrs(v.map); break;
    }
  }
  void step(const Step &s) {
    str(s.op);
    ids(s.operands);
    ids(s.results);
    attrs(s.attrs);
    str(s.location);
    u32(static_cast<uint32_t>(s.regions.size()));
    for (const Step::Region &r : s.regions) {
      ids(r.args);
      u32(static_cast<uint32_t>(r.steps.size()));
      for (const Step &inner : r.steps)
        step(inner);
      ids(r.yields);
    }
  }
};

/// Bounds-checked reads; the first failure is kept and later reads return
/// zeros, so parsing code stays linear and checks once at the end.
class Reader {
public:
  Reader(const std::string &bytes, size_t begin, size_t end)
      : data(bytes.data()), pos(begin), end(end) {}
  std::string error;
  bool ok() const { return error.empty(); }

  bool need(size_t n, const char *what) {
    if (!ok())
      return false;
    if (end - pos < n) {
      error = std::string("ran past the end of the file while reading ") + what;
      return false;
    }
    return true;
  }
  uint8_t u8(const char *what) {
    uint8_t v = 0;
    if (need(1, what))
      std::memcpy(&v, data + pos, 1), pos += 1;
    return v;
  }
  uint32_t u32(const char *what) {
    uint32_t v = 0;
    if (need(4, what))
      std::memcpy(&v, data + pos, 4), pos += 4;
    return v;
  }
  int64_t i64(const char *what) {
    int64_t v = 0;
    if (need(8, what))
      std::memcpy(&v, data + pos, 8), pos += 8;
    return v;
  }
  double f64(const char *what) {
    double v = 0;
    if (need(8, what))
      std::memcpy(&v, data + pos, 8), pos += 8;
    return v;
  }
  /// A count of items each at least `minSize` bytes: refuses counts that could
  /// not fit in what is left, so a corrupt count cannot allocate gigabytes.
  uint32_t count(const char *what, size_t minSize) {
    uint32_t n = u32(what);
    if (ok() && minSize && n > (end - pos) / minSize) {
      error = std::string("implausible count ") + std::to_string(n) +
              " while reading " + what;
      return 0;
    }
    return n;
  }
  std::string str(const char *what) {
    uint32_t n = count(what, 1);
    std::string s;
    if (need(n, what)) {
      s.assign(data + pos, n);
      pos += n;
    }
    return s;
  }
  std::vector<int64_t> ints(const char *what) {
    uint32_t n = count(what, 8);
    std::vector<int64_t> v;
    for (uint32_t i = 0; i < n && ok(); ++i)
      v.push_back(i64(what));
    return v;
  }
  std::vector<int32_t> ids(const char *what) {
    uint32_t n = count(what, 4);
    std::vector<int32_t> v;
    for (uint32_t i = 0; i < n && ok(); ++i)
      v.push_back(static_cast<int32_t>(u32(what)));
    return v;
  }
  SymPoly poly(const char *what) {
    SymPoly p;
    uint32_t n = count(what, 12);
    for (uint32_t i = 0; i < n && ok(); ++i) {
      SymPoly::Term t;
      t.coef = i64(what);
      t.symbols = ids(what);
      p.terms.push_back(std::move(t));
    }
    return p;
  }
  Attrs attrs(int depth = 0) {
    Attrs a;
    if (depth > 16) {
      error = "attributes nest too deeply";
      return a;
    }
    uint32_t n = count("attributes", 2);
    for (uint32_t i = 0; i < n && ok(); ++i) {
      std::string k = str("attribute name");
      a[k] = attr(depth);
    }
    return a;
  }
  AttrValue attr(int depth) {
    AttrValue v;
    uint8_t kind = u8("attribute kind");
    if (kind > AttrValue::Map) {
      if (ok())
        error = "unknown attribute kind " + std::to_string(kind);
      return v;
    }
    v.kind = static_cast<AttrValue::Kind>(kind);
    switch (v.kind) {
    case AttrValue::Int: v.i = i64("int attribute"); break;
    case AttrValue::Float: v.f = f64("float attribute"); break;
    case AttrValue::Bool: v.i = u8("bool attribute"); break;
    case AttrValue::Str: v.s = str("string attribute"); break;
    case AttrValue::Ints: v.ints = ints("int list attribute"); break;
    case AttrValue::Bools: {
      uint32_t n = count("bool list attribute", 1);
      for (uint32_t i = 0; i < n && ok(); ++i)
        v.bools.push_back(u8("bool list attribute") != 0);
      break;
    }
    case AttrValue::Map: v.map = attrs(depth + 1); break;
    }
    return v;
  }
  Step step(int depth = 0) {
    Step s;
    if (depth > 8) {
      error = "regions nest too deeply";
      return s;
    }
    s.op = str("op name");
    s.operands = ids("operands");
    s.results = ids("results");
    s.attrs = attrs();
    s.location = str("location");
    uint32_t nr = count("regions", 12);
    for (uint32_t i = 0; i < nr && ok(); ++i) {
      Step::Region r;
      r.args = ids("region arguments");
      uint32_t ns = count("region steps", 16);
      for (uint32_t j = 0; j < ns && ok(); ++j)
        r.steps.push_back(step(depth + 1));
      r.yields = ids("region results");
      s.regions.push_back(std::move(r));
    }
    return s;
  }

private:
  const char *data;
  size_t pos, end;
};

DType toDType(uint8_t v, Reader &r) {
  if (v > static_cast<uint8_t>(DType::I64)) {
    if (r.ok())
      r.error = "unknown dtype code " + std::to_string(v);
    return DType::F32;
  }
  return static_cast<DType>(v);
}
} // namespace

std::string motif::rt::serializeArtifact(const Artifact &a) {
  Writer w;
  w.raw(kMagic, 8);
  w.u32(a.version);
  w.u32(0); // flags
  w.str(a.compilerVersion);
  w.str(a.model);
  w.u32(static_cast<uint32_t>(a.targets.size()));
  for (const std::string &t : a.targets)
    w.str(t);
  w.attrs(a.config);
  w.attrs(a.recipe);
  w.u32(static_cast<uint32_t>(a.params.size()));
  for (const ParamInfo &p : a.params) {
    w.str(p.name);
    w.u8(static_cast<uint8_t>(p.dtype));
    w.ints(p.shape);
    w.str(p.init);
    w.f64(p.mean);
    w.f64(p.std);
    w.f64(p.low);
    w.f64(p.high);
    w.f64(p.value);
    w.i64(p.depthScaled);
    w.u8(p.noDecay);
    w.u8(p.frozen);
  }
  w.u32(static_cast<uint32_t>(a.functions.size()));
  for (const Function &f : a.functions) {
    w.str(f.name);
    w.u32(static_cast<uint32_t>(f.argNames.size()));
    for (const std::string &n : f.argNames)
      w.str(n);
    w.ids(f.args);
    w.u32(static_cast<uint32_t>(f.valueTypes.size()));
    for (size_t i = 0; i < f.valueTypes.size(); ++i) {
      w.u8(static_cast<uint8_t>(f.valueTypes[i]));
      w.ints(f.valueShapes[i]);
    }
    w.u32(static_cast<uint32_t>(f.steps.size()));
    for (const Step &s : f.steps)
      w.step(s);
    w.ids(f.results);
    w.u32(static_cast<uint32_t>(f.resultRoles.size()));
    for (const std::string &r : f.resultRoles)
      w.str(r);
    w.u32(static_cast<uint32_t>(f.paramReads.size()));
    for (const auto &[v, p] : f.paramReads) {
      w.u32(static_cast<uint32_t>(v));
      w.str(p);
    }
    w.u32(static_cast<uint32_t>(f.symbols.size()));
    for (const Function::Symbol &sym : f.symbols) {
      w.str(sym.name);
      w.u32(static_cast<uint32_t>(sym.sources.size()));
      for (auto [arg, dim] : sym.sources) {
        w.u32(static_cast<uint32_t>(arg));
        w.u32(static_cast<uint32_t>(dim));
      }
    }
    w.u32(static_cast<uint32_t>(f.buffers.size()));
    for (const BufferInfo &b : f.buffers) {
      w.u8(b.known);
      w.u8(b.inArena);
      w.i64(b.def);
      w.i64(b.lastUse);
      w.i64(b.aliasOf);
      w.u32(static_cast<uint32_t>(b.dims.size()));
      for (const std::optional<SymPoly> &d : b.dims) {
        w.u8(d.has_value());
        if (d)
          w.poly(*d);
      }
    }
    w.poly(f.flops);
    w.u32(static_cast<uint32_t>(f.flopsUncounted));
    w.u32(static_cast<uint32_t>(f.storage.size()));
    for (DType t : f.storage)
      w.u8(static_cast<uint8_t>(t));
  }
  w.str(a.gpu.source);
  w.u32(static_cast<uint32_t>(a.gpu.binaries.size()));
  for (const GpuCode::Binary &b : a.gpu.binaries) {
    w.str(b.arch);
    w.str(b.cubin);
    w.str(b.ptx);
  }
  w.str(a.sourceName);
  w.str(a.source);
  uint64_t sum = fnv1a(w.out.data(), w.out.size());
  w.raw(&sum, 8);
  w.raw(kEndMagic, 8);
  return std::move(w.out);
}

const GpuCode::Binary *GpuCode::forArch(const std::string &arch) const {
  for (const Binary &b : binaries)
    if (b.arch == arch)
      return &b;
  return nullptr;
}

bool Function::symbolValues(const std::vector<Shape> &argShapes,
                            std::vector<int64_t> &values, std::string &why) const {
  values.assign(symbols.size(), -1);
  auto argName = [&](int32_t a) {
    return static_cast<size_t>(a) < argNames.size() ? argNames[a] : std::string("?");
  };
  for (size_t i = 0; i < symbols.size(); ++i) {
    const Symbol &s = symbols[i];
    int32_t first = -1;
    for (auto [arg, dim] : s.sources) {
      if (static_cast<size_t>(arg) >= argShapes.size() ||
          static_cast<size_t>(dim) >= argShapes[arg].size()) {
        why = "input '" + argName(arg) + "' has no dim " + std::to_string(dim) + " for '" +
              s.name + "'";
        return false;
      }
      int64_t v = argShapes[arg][dim];
      if (first >= 0 && v != values[i]) {
        why = "input '" + argName(arg) + "' has " + s.name + " = " + std::to_string(v) +
              " but '" + argName(first) + "' has " + s.name + " = " +
              std::to_string(values[i]);
        return false;
      }
      values[i] = v;
      first = arg;
    }
  }
  return true;
}

StatusOr<Artifact> motif::rt::parseArtifact(const std::string &bytes,
                                            const std::string &what) {
  auto fail = [&](const std::string &msg) {
    return Status::error(what + ": " + msg);
  };
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return fail("not a Motif artifact (no MOTIFBIN header); compile a model "
                "with 'motif-compile model.motif -o model.mbin'");
  if (bytes.size() < 16 + 16)
    return fail("truncated (" + std::to_string(bytes.size()) +
                " bytes); recompile the model");
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  if (version != kArtifactVersion)
    return fail("artifact format version " + std::to_string(version) +
                ", but this runtime reads version " +
                std::to_string(kArtifactVersion) +
                "; recompile the model with this release's motif-compile");
  size_t bodyEnd = bytes.size() - 16;
  if (std::memcmp(bytes.data() + bodyEnd + 8, kEndMagic, 8) != 0)
    return fail("truncated: the end marker is missing (was the file cut "
                "short while copying?); recompile or copy it again");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bodyEnd, 8);
  if (stored != fnv1a(bytes.data(), bodyEnd))
    return fail("corrupted: the checksum does not match the contents");

  Reader r(bytes, 16, bodyEnd);
  Artifact a;
  a.version = version;
  a.compilerVersion = r.str("compiler version");
  a.model = r.str("model name");
  uint32_t nt = r.count("targets", 4);
  for (uint32_t i = 0; i < nt && r.ok(); ++i)
    a.targets.push_back(r.str("target"));
  a.config = r.attrs();
  a.recipe = r.attrs();
  uint32_t np = r.count("parameters", 16);
  for (uint32_t i = 0; i < np && r.ok(); ++i) {
    ParamInfo p;
    p.name = r.str("parameter name");
    p.dtype = toDType(r.u8("parameter dtype"), r);
    p.shape = r.ints("parameter shape");
    p.init = r.str("parameter init");
    p.mean = r.f64("init mean");
    p.std = r.f64("init std");
    p.low = r.f64("init low");
    p.high = r.f64("init high");
    p.value = r.f64("init value");
    p.depthScaled = r.i64("init depth");
    p.noDecay = r.u8("no_decay flag");
    p.frozen = r.u8("frozen flag");
    a.params.push_back(std::move(p));
  }
  uint32_t nf = r.count("functions", 16);
  for (uint32_t i = 0; i < nf && r.ok(); ++i) {
    Function f;
    f.name = r.str("function name");
    uint32_t na = r.count("argument names", 4);
    for (uint32_t j = 0; j < na && r.ok(); ++j)
      f.argNames.push_back(r.str("argument name"));
    f.args = r.ids("arguments");
    uint32_t nv = r.count("values", 5);
    for (uint32_t j = 0; j < nv && r.ok(); ++j) {
      f.valueTypes.push_back(toDType(r.u8("value dtype"), r));
      f.valueShapes.push_back(r.ints("value shape"));
    }
    uint32_t ns = r.count("steps", 16);
    for (uint32_t j = 0; j < ns && r.ok(); ++j)
      f.steps.push_back(r.step());
    f.results = r.ids("results");
    uint32_t nr = r.count("result roles", 4);
    for (uint32_t j = 0; j < nr && r.ok(); ++j)
      f.resultRoles.push_back(r.str("result role"));
    uint32_t nreads = r.count("parameter reads", 8);
    for (uint32_t j = 0; j < nreads && r.ok(); ++j) {
      int32_t v = static_cast<int32_t>(r.u32("parameter read"));
      f.paramReads[v] = r.str("parameter read");
    }
    uint32_t nsym = r.count("symbols", 12);
    for (uint32_t j = 0; j < nsym && r.ok(); ++j) {
      Function::Symbol sym;
      sym.name = r.str("symbol name");
      uint32_t nsrc = r.count("symbol sources", 8);
      for (uint32_t k = 0; k < nsrc && r.ok(); ++k) {
        int32_t arg = static_cast<int32_t>(r.u32("symbol argument"));
        sym.sources.push_back({arg, static_cast<int32_t>(r.u32("symbol dim"))});
      }
      f.symbols.push_back(std::move(sym));
    }
    uint32_t nb = r.count("buffers", 22);
    for (uint32_t j = 0; j < nb && r.ok(); ++j) {
      BufferInfo b;
      b.known = r.u8("buffer flag");
      b.inArena = r.u8("buffer flag");
      b.def = static_cast<int32_t>(r.i64("buffer lifetime"));
      b.lastUse = static_cast<int32_t>(r.i64("buffer lifetime"));
      b.aliasOf = static_cast<int32_t>(r.i64("buffer alias"));
      uint32_t nd = r.count("buffer dims", 1);
      for (uint32_t k = 0; k < nd && r.ok(); ++k)
        b.dims.push_back(r.u8("buffer dim") ? std::optional<SymPoly>(r.poly("buffer dim"))
                                            : std::nullopt);
      f.buffers.push_back(std::move(b));
    }
    f.flops = r.poly("FLOPs");
    f.flopsUncounted = static_cast<int32_t>(r.u32("uncounted FLOPs"));
    uint32_t nst = r.count("storage types", 1);
    for (uint32_t j = 0; j < nst && r.ok(); ++j)
      f.storage.push_back(toDType(r.u8("storage type"), r));
    a.functions.push_back(std::move(f));
  }
  a.gpu.source = r.str("CUDA source");
  uint32_t nbin = r.count("GPU binaries", 12);
  for (uint32_t i = 0; i < nbin && r.ok(); ++i) {
    GpuCode::Binary b;
    b.arch = r.str("GPU architecture");
    b.cubin = r.str("cubin");
    b.ptx = r.str("PTX");
    a.gpu.binaries.push_back(std::move(b));
  }
  a.sourceName = r.str("source name");
  a.source = r.str("source");
  if (!r.ok())
    return fail("corrupted: " + r.error);
  // Shapes: parameters are static and of a size a machine can hold; values
  // have known sizes or -1 (dynamic).
  constexpr int64_t kMaxDim = int64_t(1) << 40, kMaxElements = int64_t(1) << 50;
  for (const ParamInfo &p : a.params) {
    int64_t n = 1;
    for (int64_t d : p.shape) {
      if (d < 1 || d > kMaxDim || n > kMaxElements / d)
        return fail("corrupted: parameter '" + p.name + "' has an invalid shape");
      n *= d;
    }
  }
  for (const Function &f : a.functions)
    for (const Shape &s : f.valueShapes)
      for (int64_t d : s)
        if (d < kDynamic || d > kMaxDim)
          return fail("corrupted: function '" + f.name + "' has a value of invalid shape");
  // Every value id must be in range: the runtime indexes arrays with them.
  for (Function &f : a.functions) {
    if (f.argNames.size() != f.args.size() ||
        f.resultRoles.size() != f.results.size())
      return fail("corrupted: function '" + f.name +
                  "' has mismatched argument or result tables");
    int32_t nv = static_cast<int32_t>(f.valueTypes.size());
    auto bad = [&](int32_t id) { return id < 0 || id >= nv; };
    bool badIds = false;
    std::vector<const Step *> work;
    for (const Step &s : f.steps)
      work.push_back(&s);
    while (!work.empty() && !badIds) {
      const Step *s = work.back();
      work.pop_back();
      for (int32_t id : s->operands)
        badIds |= bad(id);
      for (int32_t id : s->results)
        badIds |= bad(id);
      for (const Step::Region &reg : s->regions) {
        for (int32_t id : reg.args)
          badIds |= bad(id);
        for (int32_t id : reg.yields)
          badIds |= bad(id);
        for (const Step &inner : reg.steps)
          work.push_back(&inner);
      }
    }
    for (int32_t id : f.args)
      badIds |= bad(id);
    for (int32_t id : f.results)
      badIds |= bad(id);
    if (badIds)
      return fail("corrupted: function '" + f.name +
                  "' refers to a value that does not exist");
    // The memory plan: one entry per value, lifetimes within the steps,
    // symbols read from existing argument dims.
    if (!f.buffers.empty() && f.buffers.size() != f.valueTypes.size())
      return fail("corrupted: function '" + f.name + "' has a memory plan of " +
                  std::to_string(f.buffers.size()) + " buffers for " +
                  std::to_string(f.valueTypes.size()) + " values");
    if (!f.storage.empty() && f.storage.size() != f.valueTypes.size())
      return fail("corrupted: function '" + f.name + "' has storage types for " +
                  std::to_string(f.storage.size()) + " of its " +
                  std::to_string(f.valueTypes.size()) + " values");
    for (const Function::Symbol &sym : f.symbols)
      for (auto [arg, dim] : sym.sources)
        if (arg < 0 || static_cast<size_t>(arg) >= f.args.size() || dim < 0 ||
            static_cast<size_t>(dim) >= f.valueShapes[f.args[arg]].size())
          return fail("corrupted: function '" + f.name + "' reads symbol '" + sym.name +
                      "' from a dim that does not exist");
    int32_t nsteps = static_cast<int32_t>(f.steps.size());
    for (size_t v = 0; v < f.buffers.size(); ++v) {
      BufferInfo &b = f.buffers[v];
      const Shape &shape = f.valueShapes[v];
      bool ok = b.def >= -1 && b.def <= nsteps && b.lastUse >= -1 && b.lastUse <= nsteps &&
                b.dims.size() == shape.size() && b.aliasOf >= -1 &&
                b.aliasOf < static_cast<int32_t>(v);
      for (size_t d = 0; ok && d < b.dims.size(); ++d) {
        if (!b.dims[d])
          continue;
        for (const SymPoly::Term &t : b.dims[d]->terms)
          for (int32_t sym : t.symbols)
            ok &= sym >= 0 && static_cast<size_t>(sym) < f.symbols.size();
        // A static dim must be that constant.
        if (shape[d] != kDynamic)
          ok &= b.dims[d]->isConstant() && b.dims[d]->eval({}) == shape[d];
      }
      if (!ok)
        return fail("corrupted: function '" + f.name + "' has an invalid memory plan");
      // The size is the product of the dims.
      b.known = true;
      b.bytes = SymPoly::constant(static_cast<int64_t>(dtypeSize(f.valueTypes[v])));
      for (const std::optional<SymPoly> &d : b.dims) {
        b.known &= d.has_value();
        if (d)
          b.bytes = b.bytes * *d;
      }
      if (!b.known)
        b.bytes = SymPoly();
    }
    for (const SymPoly::Term &t : f.flops.terms)
      for (int32_t sym : t.symbols)
        if (sym < 0 || static_cast<size_t>(sym) >= f.symbols.size())
          return fail("corrupted: function '" + f.name + "' has invalid FLOPs");
  }
  if (Status st = decodePlan(a); !st.isOk())
    return fail(st.message());
  return a;
}

Status motif::rt::decodePlan(Artifact &a) {
  for (Function &f : a.functions) {
    auto plan = decodeSteps(f);
    if (!plan.isOk())
      return plan.status();
    f.plan = std::move(*plan);
  }
  return Status::ok();
}

Status motif::rt::writeArtifact(const Artifact &a, const std::string &path) {
  std::string bytes = serializeArtifact(a);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    if (!os)
      return Status::error("cannot write '" + tmp + "': " + std::strerror(errno));
    os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    os.flush();
    if (!os) {
      std::remove(tmp.c_str());
      return Status::error("cannot write '" + tmp + "' (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::error("cannot move '" + tmp + "' to '" + path + "': " + err);
  }
  return Status::ok();
}

StatusOr<Artifact> motif::rt::readArtifact(const std::string &path) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    return Status::error("cannot open artifact '" + path + "': " +
                         std::strerror(errno));
  std::ostringstream ss;
  ss << is.rdbuf();
  return parseArtifact(ss.str(), path);
}

namespace {
std::string shapeString(DType t, const Shape &s) {
  std::string out = dtypeName(t);
  out += "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "," : "") + (s[i] == kDynamic ? std::string("?") : std::to_string(s[i]));
  return out + "]";
}

void describeAttr(std::ostringstream &os, const AttrValue &v);

/// `{name = value, ...}` in name order; nothing for no attributes.
void describeAttrs(std::ostringstream &os, const Attrs &attrs) {
  if (attrs.empty())
    return;
  os << "{";
  bool first = true;
  for (const auto &[name, v] : attrs) {
    os << (first ? "" : ", ") << name << " = ";
    describeAttr(os, v);
    first = false;
  }
  os << "}";
}

void describeAttr(std::ostringstream &os, const AttrValue &v) {
  switch (v.kind) {
  case AttrValue::Int:
    os << v.i;
    break;
  case AttrValue::Float:
    os << v.f;
    break;
  case AttrValue::Bool:
    os << (v.i ? "true" : "false");
    break;
  case AttrValue::Str:
    os << '"' << v.s << '"';
    break;
  case AttrValue::Ints:
    os << "[";
    for (size_t i = 0; i < v.ints.size(); ++i)
      os << (i ? ", " : "") << v.ints[i];
    os << "]";
    break;
  case AttrValue::Bools:
    os << "[";
    for (size_t i = 0; i < v.bools.size(); ++i)
      os << (i ? ", " : "") << (v.bools[i] ? "true" : "false");
    os << "]";
    break;
  case AttrValue::Map:
    describeAttrs(os, v.map);
    if (v.map.empty())
      os << "{}";
    break;
  }
}

void describeSteps(std::ostringstream &os, const Function &f,
                   const std::vector<Step> &steps, int indent) {
  for (const Step &s : steps) {
    os << std::string(indent, ' ');
    for (size_t i = 0; i < s.results.size(); ++i)
      os << (i ? ", " : "") << "%" << s.results[i];
    os << (s.results.empty() ? "" : " = ") << s.op << "(";
    for (size_t i = 0; i < s.operands.size(); ++i)
      os << (i ? ", " : "") << "%" << s.operands[i];
    os << ")";
    if (!s.results.empty())
      os << " : " << shapeString(f.valueTypes[s.results[0]], f.valueShapes[s.results[0]]);
    // The buffer of the first result: size in the dims and lifetime in steps.
    if (indent == 2 && !s.results.empty() &&
        static_cast<size_t>(s.results[0]) < f.buffers.size()) {
      const BufferInfo &b = f.buffers[s.results[0]];
      std::vector<std::string> names;
      for (const Function::Symbol &sym : f.symbols)
        names.push_back(sym.name);
      if (!b.inArena)
        os << "  [param]";
      else
        os << "  [" << (b.known ? b.bytes.str(names) + " B" : std::string("? B")) << ", live "
           << b.def << ".." << b.lastUse
           << (b.aliasOf >= 0 ? ", in place of %" + std::to_string(b.aliasOf) : std::string())
           << "]";
    }
    if (!s.attrs.empty()) {
      os << "  ";
      describeAttrs(os, s.attrs);
    }
    if (!s.location.empty())
      os << "  @ " << s.location;
    os << "\n";
    for (const Step::Region &r : s.regions) {
      os << std::string(indent + 2, ' ') << "region(";
      for (size_t i = 0; i < r.args.size(); ++i)
        os << (i ? ", " : "") << "%" << r.args[i];
      os << "):\n";
      describeSteps(os, f, r.steps, indent + 4);
    }
  }
}
} // namespace

std::string motif::rt::describeArtifact(const Artifact &a) {
  std::ostringstream os;
  int64_t trainable = 0;
  for (const ParamInfo &p : a.params)
    if (!p.frozen)
      trainable += p.numElements();
  os << "artifact v" << a.version << " of model '" << a.model << "' by "
     << a.compilerVersion << "; targets:";
  for (const std::string &t : a.targets)
    os << " " << t;
  os << "\nparameters: " << a.params.size() << " tensors, " << trainable
     << " trainable values\n";
  for (const ParamInfo &p : a.params)
    os << "  " << p.name << " : " << shapeString(p.dtype, p.shape) << " init "
       << p.init << (p.noDecay ? " no_decay" : "") << (p.frozen ? " frozen" : "")
       << "\n";
  for (const Function &f : a.functions) {
    os << "function " << f.name << "(";
    for (size_t i = 0; i < f.args.size(); ++i)
      os << (i ? ", " : "") << f.argNames[i] << " %" << f.args[i] << ": "
         << shapeString(f.valueTypes[f.args[i]], f.valueShapes[f.args[i]]);
    os << "): " << f.steps.size() << " steps, " << f.valueTypes.size() << " values";
    for (size_t i = 0; i < f.symbols.size(); ++i) {
      os << (i ? ", " : "; dims ") << f.symbols[i].name << " (";
      for (size_t j = 0; j < f.symbols[i].sources.size(); ++j) {
        auto [arg, dim] = f.symbols[i].sources[j];
        os << (j ? ", " : "") << f.argNames[arg] << "." << dim;
      }
      os << ")";
    }
    os << "\n";
    describeSteps(os, f, f.steps, 2);
    os << "  return";
    for (size_t i = 0; i < f.results.size(); ++i)
      os << (i ? "," : "") << " %" << f.results[i] << " (" << f.resultRoles[i] << ")";
    os << "\n";
  }
  return os.str();
}
