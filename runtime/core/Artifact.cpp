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
#include <type_traits>
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

/// Appends the layout's fields to `out`. It has the Reader's interface, so
/// that one description of the layout (`layout` below) both writes and
/// reads; it only reads the fields it is given.
class Writer {
public:
  static constexpr bool reading = false;
  std::string out;
  bool ok() const { return true; }
  void raw(const void *p, size_t n) { out.append(static_cast<const char *>(p), n); }
  void u8(uint8_t &v, const char *) { raw(&v, 1); }
  void u32(uint32_t &v, const char *) { raw(&v, 4); }
  void i64(int64_t &v, const char *) { raw(&v, 8); }
  void f64(double &v, const char *) { raw(&v, 8); }
  void str(std::string &s, const char *what) {
    uint32_t n = static_cast<uint32_t>(s.size());
    u32(n, what);
    raw(s.data(), s.size());
  }
  /// The number of items that follow.
  void count(size_t &n, const char *what, size_t) {
    uint32_t v = static_cast<uint32_t>(n);
    u32(v, what);
  }
  void fail(const std::string &) {}
};

/// Bounds-checked reads; the first failure is kept and later reads return
/// zeros, so parsing code stays linear and checks once at the end.
class Reader {
public:
  static constexpr bool reading = true;
  Reader(const std::string &bytes, size_t begin, size_t end)
      : data(bytes.data()), pos(begin), end(end) {}
  std::string error;
  bool ok() const { return error.empty(); }
  void fail(const std::string &why) {
    if (ok())
      error = why;
  }

  bool need(size_t n, const char *what) {
    if (!ok())
      return false;
    if (end - pos < n) {
      error = std::string("ran past the end of the file while reading ") + what;
      return false;
    }
    return true;
  }
  template <typename T> void scalar(T &v, const char *what) {
    v = T();
    if (need(sizeof(T), what))
      std::memcpy(&v, data + pos, sizeof(T)), pos += sizeof(T);
  }
  void u8(uint8_t &v, const char *what) { scalar(v, what); }
  void u32(uint32_t &v, const char *what) { scalar(v, what); }
  void i64(int64_t &v, const char *what) { scalar(v, what); }
  void f64(double &v, const char *what) { scalar(v, what); }
  /// A count of items each at least `minSize` bytes: refuses counts that could
  /// not fit in what is left, so a corrupt count cannot allocate gigabytes.
  void count(size_t &n, const char *what, size_t minSize) {
    uint32_t v = 0;
    u32(v, what);
    n = 0;
    if (ok() && minSize && v > (end - pos) / minSize) {
      error = std::string("implausible count ") + std::to_string(v) + " while reading " + what;
      return;
    }
    n = v;
  }
  void str(std::string &s, const char *what) {
    size_t n = 0;
    count(n, what, 1);
    s.clear();
    if (need(n, what)) {
      s.assign(data + pos, n);
      pos += n;
    }
  }

private:
  const char *data;
  size_t pos, end;
};

//===----------------------------------------------------------------------===//
// The layout, once for writing and reading (docs/artifact.md)
//===----------------------------------------------------------------------===//

/// A list: its count, then each item (each at least `minSize` bytes).
template <class IO, class T, class F>
void list(IO &io, std::vector<T> &v, const char *what, size_t minSize, F each) {
  size_t n = v.size();
  io.count(n, what, minSize);
  if constexpr (IO::reading) {
    v.clear();
    for (size_t i = 0; i < n && io.ok(); ++i) {
      T x{};
      each(x);
      v.push_back(std::move(x));
    }
  } else {
    for (T &x : v)
      each(x);
  }
}

/// A value stored in a wider or narrower field.
template <class IO, class Field, class T> void as(IO &io, T &v, const char *what) {
  Field f = static_cast<Field>(v);
  if constexpr (std::is_same_v<Field, uint8_t>)
    io.u8(f, what);
  else if constexpr (std::is_same_v<Field, uint32_t>)
    io.u32(f, what);
  else
    io.i64(f, what);
  if constexpr (IO::reading)
    v = static_cast<T>(f);
}

template <class IO> void flag(IO &io, bool &b, const char *what) { as<IO, uint8_t>(io, b, what); }

template <class IO> void dtype(IO &io, DType &t, const char *what) {
  uint8_t v = static_cast<uint8_t>(t);
  io.u8(v, what);
  if constexpr (IO::reading) {
    if (v > static_cast<uint8_t>(DType::I64)) {
      io.fail("unknown dtype code " + std::to_string(v));
      v = 0;
    }
    t = static_cast<DType>(v);
  }
}

template <class IO> void ints(IO &io, std::vector<int64_t> &v, const char *what) {
  list(io, v, what, 8, [&](int64_t &x) { io.i64(x, what); });
}
template <class IO> void ids(IO &io, std::vector<int32_t> &v, const char *what) {
  list(io, v, what, 4, [&](int32_t &x) { as<IO, uint32_t>(io, x, what); });
}
template <class IO> void strs(IO &io, std::vector<std::string> &v, const char *what) {
  list(io, v, what, 4, [&](std::string &x) { io.str(x, what); });
}

template <class IO> void poly(IO &io, SymPoly &p, const char *what) {
  list(io, p.terms, what, 12, [&](SymPoly::Term &t) {
    io.i64(t.coef, what);
    ids(io, t.symbols, what);
  });
}
template <class IO> void maybePoly(IO &io, std::optional<SymPoly> &p, const char *what) {
  bool has = p.has_value();
  flag(io, has, what);
  if constexpr (IO::reading)
    p = has ? std::optional<SymPoly>(SymPoly()) : std::nullopt;
  if (p)
    poly(io, *p, what);
}

template <class IO> void attrs(IO &io, Attrs &a, int depth);

template <class IO> void attr(IO &io, AttrValue &v, int depth) {
  uint8_t kind = v.kind;
  io.u8(kind, "attribute kind");
  if (kind > AttrValue::Map) {
    io.fail("unknown attribute kind " + std::to_string(kind));
    return;
  }
  v.kind = static_cast<AttrValue::Kind>(kind);
  switch (v.kind) {
  case AttrValue::Int: io.i64(v.i, "int attribute"); break;
  case AttrValue::Float: io.f64(v.f, "float attribute"); break;
  case AttrValue::Bool: {
    bool b = v.i != 0;
    flag(io, b, "bool attribute");
    v.i = b;
    break;
  }
  case AttrValue::Str: io.str(v.s, "string attribute"); break;
  case AttrValue::Ints: ints(io, v.ints, "int list attribute"); break;
  case AttrValue::Bools: {
    std::vector<uint8_t> bytes(v.bools.begin(), v.bools.end());
    list(io, bytes, "bool list attribute", 1, [&](uint8_t &b) { io.u8(b, "bool list attribute"); });
    if constexpr (IO::reading)
      v.bools.assign(bytes.begin(), bytes.end());
    break;
  }
  case AttrValue::Map: attrs(io, v.map, depth + 1); break;
  }
}

template <class IO> void attrs(IO &io, Attrs &a, int depth) {
  if (depth > 16) {
    io.fail("attributes nest too deeply");
    return;
  }
  std::vector<std::pair<std::string, AttrValue>> items(a.begin(), a.end());
  list(io, items, "attributes", 2, [&](std::pair<std::string, AttrValue> &kv) {
    io.str(kv.first, "attribute name");
    attr(io, kv.second, depth);
  });
  if constexpr (IO::reading) {
    a.clear();
    for (auto &kv : items)
      a[kv.first] = std::move(kv.second);
  }
}

template <class IO> void step(IO &io, Step &s, int depth) {
  if (depth > 8) {
    io.fail("regions nest too deeply");
    return;
  }
  io.str(s.op, "op name");
  ids(io, s.operands, "operands");
  ids(io, s.results, "results");
  attrs(io, s.attrs, 0);
  io.str(s.location, "location");
  list(io, s.regions, "regions", 12, [&](Step::Region &r) {
    ids(io, r.args, "region arguments");
    list(io, r.steps, "region steps", 16, [&](Step &inner) { step(io, inner, depth + 1); });
    ids(io, r.yields, "region results");
  });
}

template <class IO> void param(IO &io, ParamInfo &p) {
  io.str(p.name, "parameter name");
  dtype(io, p.dtype, "parameter dtype");
  ints(io, p.shape, "parameter shape");
  io.str(p.init, "parameter init");
  io.f64(p.mean, "init mean");
  io.f64(p.std, "init std");
  io.f64(p.low, "init low");
  io.f64(p.high, "init high");
  io.f64(p.value, "init value");
  io.i64(p.depthScaled, "init depth");
  flag(io, p.noDecay, "no_decay flag");
  flag(io, p.frozen, "frozen flag");
}

template <class IO> void function(IO &io, Function &f) {
  io.str(f.name, "function name");
  strs(io, f.argNames, "argument names");
  ids(io, f.args, "arguments");
  // Per value: its dtype and shape.
  size_t nv = f.valueTypes.size();
  io.count(nv, "values", 5);
  if constexpr (IO::reading) {
    f.valueTypes.assign(nv, DType::F32);
    f.valueShapes.assign(nv, {});
  }
  for (size_t j = 0; j < nv && io.ok(); ++j) {
    dtype(io, f.valueTypes[j], "value dtype");
    ints(io, f.valueShapes[j], "value shape");
  }
  list(io, f.steps, "steps", 16, [&](Step &s) { step(io, s, 0); });
  ids(io, f.results, "results");
  strs(io, f.resultRoles, "result roles");
  std::vector<std::pair<int32_t, std::string>> reads(f.paramReads.begin(), f.paramReads.end());
  list(io, reads, "parameter reads", 8, [&](std::pair<int32_t, std::string> &r) {
    as<IO, uint32_t>(io, r.first, "parameter read");
    io.str(r.second, "parameter read");
  });
  if constexpr (IO::reading)
    f.paramReads = std::map<int32_t, std::string>(reads.begin(), reads.end());
  list(io, f.symbols, "symbols", 12, [&](Function::Symbol &sym) {
    io.str(sym.name, "symbol name");
    list(io, sym.sources, "symbol sources", 8, [&](std::pair<int32_t, int32_t> &src) {
      as<IO, uint32_t>(io, src.first, "symbol argument");
      as<IO, uint32_t>(io, src.second, "symbol dim");
    });
  });
  list(io, f.buffers, "buffers", 22, [&](BufferInfo &b) {
    flag(io, b.known, "buffer flag");
    flag(io, b.inArena, "buffer flag");
    as<IO, int64_t>(io, b.def, "buffer lifetime");
    as<IO, int64_t>(io, b.lastUse, "buffer lifetime");
    as<IO, int64_t>(io, b.aliasOf, "buffer alias");
    list(io, b.dims, "buffer dims", 1,
         [&](std::optional<SymPoly> &d) { maybePoly(io, d, "buffer dim"); });
  });
  poly(io, f.flops, "FLOPs");
  as<IO, uint32_t>(io, f.flopsUncounted, "uncounted FLOPs");
  list(io, f.storage, "storage types", 1, [&](DType &t) { dtype(io, t, "storage type"); });
  list(io, f.arena.offsets, "arena offsets", 1,
       [&](std::optional<SymPoly> &o) { maybePoly(io, o, "arena offset"); });
  poly(io, f.arena.bytes, "arena size");
  poly(io, f.arena.sumOfSizes, "arena size");
}

/// The body of an artifact, between its header and its checksum.
template <class IO> void layout(IO &io, Artifact &a) {
  io.str(a.compilerVersion, "compiler version");
  io.str(a.model, "model name");
  strs(io, a.targets, "targets");
  attrs(io, a.config, 0);
  attrs(io, a.recipe, 0);
  list(io, a.params, "parameters", 16, [&](ParamInfo &p) { param(io, p); });
  list(io, a.functions, "functions", 16, [&](Function &f) { function(io, f); });
  io.str(a.gpu.source, "CUDA source");
  list(io, a.gpu.binaries, "GPU binaries", 12, [&](GpuCode::Binary &b) {
    io.str(b.arch, "GPU architecture");
    io.str(b.cubin, "cubin");
    io.str(b.ptx, "PTX");
  });
  list(io, a.host.libraries, "CPU libraries", 8, [&](HostCode::Library &l) {
    io.str(l.cpu, "CPU level");
    io.str(l.image, "CPU library");
  });
  io.str(a.sourceName, "source name");
  io.str(a.source, "source");
}

} // namespace

std::string motif::rt::serializeArtifact(const Artifact &a) {
  Writer w;
  w.raw(kMagic, 8);
  uint32_t version = a.version, flags = 0;
  w.u32(version, "version");
  w.u32(flags, "flags");
  // The writer only reads what it is given.
  layout(w, const_cast<Artifact &>(a));
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
  layout(r, a);
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
    if (!f.arena.offsets.empty() && f.arena.offsets.size() != f.valueTypes.size())
      return fail("corrupted: function '" + f.name + "' has arena offsets for " +
                  std::to_string(f.arena.offsets.size()) + " of its " +
                  std::to_string(f.valueTypes.size()) + " values");
    {
      std::vector<const SymPoly *> polys = {&f.arena.bytes, &f.arena.sumOfSizes};
      for (const std::optional<SymPoly> &o : f.arena.offsets)
        if (o)
          polys.push_back(&*o);
      for (const SymPoly *p : polys)
        for (const SymPoly::Term &t : p->terms)
          for (int32_t sym : t.symbols)
            if (sym < 0 || static_cast<size_t>(sym) >= f.symbols.size())
              return fail("corrupted: function '" + f.name + "' has an invalid arena");
    }
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
      // In the storage the compiler chose (what the arena was placed for).
      DType stored = f.storage.size() == f.valueTypes.size() ? f.storage[v] : f.valueTypes[v];
      b.bytes = SymPoly::constant(static_cast<int64_t>(dtypeSize(stored)));
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
      if (!b.inArena) {
        os << "  [param]";
      } else {
        os << "  [" << (b.known ? b.bytes.str(names) + " B" : std::string("? B")) << ", live "
           << b.def << ".." << b.lastUse
           << (b.aliasOf >= 0 ? ", in place of %" + std::to_string(b.aliasOf) : std::string());
        // The other results updated in place (a decode step's next state).
        for (size_t k = 1; k < s.results.size(); ++k)
          if (static_cast<size_t>(s.results[k]) < f.buffers.size() &&
              f.buffers[s.results[k]].aliasOf >= 0)
            os << ", %" << s.results[k] << " in place of %" << f.buffers[s.results[k]].aliasOf;
        os << "]";
      }
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
  if (!a.host.libraries.empty()) {
    os << "native CPU kernels:";
    for (const HostCode::Library &l : a.host.libraries)
      os << " " << l.cpu << " (" << l.image.size() << " bytes)";
    os << "\n";
  }
  return os.str();
}
