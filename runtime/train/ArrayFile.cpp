//===- ArrayFile.cpp - Named arrays from safetensors, .npz and .npy --------===//
#include "runtime/train/ArrayFile.h"

#include "runtime/core/Json.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

using namespace motif::rt;

namespace {
bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

StatusOr<std::string> slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::error("cannot open data file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T> T load(const char *p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

} // namespace

float motif::rt::halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400u));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {
/// The element types both formats have, by one spelling.
enum class Elem { F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, Bool, Unknown };

size_t elemSize(Elem e) {
  switch (e) {
  case Elem::F64: case Elem::I64: return 8;
  case Elem::F32: case Elem::I32: case Elem::U32: return 4;
  case Elem::F16: case Elem::BF16: case Elem::I16: case Elem::U16: return 2;
  default: return 1;
  }
}

/// Converts `count` little-endian elements at `p` into `out`.
Status convert(const char *p, Elem e, NamedArray &out, const std::string &where) {
  int64_t n = out.numElements();
  bool isFloat = e == Elem::F64 || e == Elem::F32 || e == Elem::F16 || e == Elem::BF16;
  out.isInt = !isFloat;
  if (isFloat) {
    out.f.resize(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      const char *q = p + k * static_cast<int64_t>(elemSize(e));
      float v;
      switch (e) {
      case Elem::F64: v = static_cast<float>(load<double>(q)); break;
      case Elem::F32: v = load<float>(q); break;
      case Elem::F16: v = halfToFloat(load<uint16_t>(q)); break;
      default: {
        uint32_t bits = static_cast<uint32_t>(load<uint16_t>(q)) << 16;
        std::memcpy(&v, &bits, 4);
      }
      }
      out.f[static_cast<size_t>(k)] = v;
    }
    return Status::ok();
  }
  out.i.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const char *q = p + k * static_cast<int64_t>(elemSize(e));
    int64_t v;
    switch (e) {
    case Elem::I64: v = load<int64_t>(q); break;
    case Elem::I32: v = load<int32_t>(q); break;
    case Elem::U32: v = load<uint32_t>(q); break;
    case Elem::I16: v = load<int16_t>(q); break;
    case Elem::U16: v = load<uint16_t>(q); break;
    case Elem::I8: v = load<int8_t>(q); break;
    default: v = load<uint8_t>(q); break; // U8, Bool
    }
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
      return Status::error(where + ": element " + std::to_string(k) + " is " + std::to_string(v) +
                           ", outside the int32 range the runtime's integer inputs have");
    out.i[static_cast<size_t>(k)] = static_cast<int32_t>(v);
  }
  return Status::ok();
}

Elem safetensorsElem(const std::string &d) {
  static const std::pair<const char *, Elem> names[] = {
      {"F64", Elem::F64}, {"F32", Elem::F32}, {"F16", Elem::F16}, {"BF16", Elem::BF16},
      {"I64", Elem::I64}, {"I32", Elem::I32}, {"I16", Elem::I16}, {"I8", Elem::I8},
      {"U8", Elem::U8},   {"U16", Elem::U16}, {"U32", Elem::U32}, {"BOOL", Elem::Bool}};
  for (auto &[n, e] : names)
    if (d == n)
      return e;
  return Elem::Unknown;
}

} // namespace

StatusOr<std::vector<NamedArray>>
motif::rt::parseSafetensors(const std::string &path, const std::string &bytes,
                            const std::string &what, std::map<std::string, std::string> *metadata,
                            const std::vector<std::string> *only) {
  std::string file = what + " '" + path + "'";
  if (bytes.size() < 8)
    return Status::error(file + " is truncated: no safetensors header length");
  uint64_t hlen = load<uint64_t>(bytes.data());
  if (hlen > bytes.size() - 8)
    return Status::error(file + " is truncated or not safetensors: its header says " +
                         std::to_string(hlen) + " bytes, the file has " +
                         std::to_string(bytes.size() - 8) + " after the length");
  Json header;
  std::string why;
  if (!parseJson(bytes.substr(8, hlen), header, why, "the header") || header.kind != Json::Obj)
    return Status::error(file + ": bad safetensors header: " + (why.empty() ? "not an object" : why));
  const char *data = bytes.data() + 8 + hlen;
  uint64_t dataBytes = bytes.size() - 8 - hlen;
  std::vector<NamedArray> out;
  for (const auto &[name, entry] : header.obj) {
    if (name == "__metadata__") {
      if (metadata)
        for (const auto &[k, v] : entry.obj)
          if (v.kind == Json::Str)
            (*metadata)[k] = v.str;
      continue;
    }
    if (only && std::find(only->begin(), only->end(), name) == only->end())
      continue;
    std::string where = file + ", tensor '" + name + "'";
    const Json *dtype = entry.get("dtype"), *shape = entry.get("shape"),
               *offs = entry.get("data_offsets");
    if (!dtype || dtype->kind != Json::Str || !shape || shape->kind != Json::Arr || !offs ||
        offs->kind != Json::Arr || offs->arr.size() != 2)
      return Status::error(where + " lacks dtype, shape or data_offsets");
    NamedArray a;
    a.name = name;
    a.dtype = dtype->str;
    for (const Json &d : shape->arr) {
      if (d.kind != Json::Num || d.num < 0 || d.num != static_cast<double>(static_cast<int64_t>(d.num)))
        return Status::error(where + ": its shape holds something other than sizes");
      a.shape.push_back(static_cast<int64_t>(d.num));
    }
    Elem e = safetensorsElem(a.dtype);
    if (e == Elem::Unknown)
      return Status::error(where + ": dtype " + a.dtype + " is not a numeric type the runtime reads");
    for (const Json &o : offs->arr)
      if (o.kind != Json::Num || o.num < 0)
        return Status::error(where + ": data_offsets are not sizes");
    uint64_t b = static_cast<uint64_t>(offs->arr[0].num), end = static_cast<uint64_t>(offs->arr[1].num);
    uint64_t need = static_cast<uint64_t>(a.numElements()) * elemSize(e);
    if (end < b || end - b != need)
      return Status::error(where + " has data_offsets of the wrong size: they span " +
                           std::to_string(end - b) + " bytes, its shape and dtype need " +
                           std::to_string(need));
    if (end > dataBytes)
      return Status::error(where + " is truncated: it ends at byte " + std::to_string(end) +
                           " of a data section of " + std::to_string(dataBytes));
    if (Status s = convert(data + b, e, a, where); !s.isOk())
      return s;
    out.push_back(std::move(a));
  }
  return out;
}

namespace {
/// One .npy payload: "\x93NUMPY", version, header length, a Python dict
/// literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }, data.
Status readNpy(const std::string &bytes, NamedArray &a, const std::string &where) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return Status::error(where + " is not a .npy array (no \\x93NUMPY magic)");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t hlen, at;
  if (major == 1) {
    hlen = load<uint16_t>(bytes.data() + 8);
    at = 10;
  } else {
    if (bytes.size() < 12)
      return Status::error(where + " is truncated");
    hlen = load<uint32_t>(bytes.data() + 8);
    at = 12;
  }
  if (at + hlen > bytes.size())
    return Status::error(where + " is truncated in its header");
  std::string h = bytes.substr(at, hlen);
  auto value = [&](const std::string &key) -> std::string {
    size_t k = h.find("'" + key + "'");
    if (k == std::string::npos)
      return "";
    size_t c = h.find(':', k);
    return c == std::string::npos ? "" : h.substr(c + 1);
  };
  std::string descr = value("descr"), fortran = value("fortran_order"), shape = value("shape");
  size_t q1 = descr.find('\''), q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos || shape.empty())
    return Status::error(where + ": its header has no descr or shape: " + h);
  a.dtype = descr.substr(q1 + 1, q2 - q1 - 1);
  if (fortran.find("True") < fortran.find_first_of(",}"))
    return Status::error(where + " is in Fortran order; save it in C order (np.ascontiguousarray)");
  size_t open = shape.find('('), close = shape.find(')');
  if (open == std::string::npos || close == std::string::npos)
    return Status::error(where + ": cannot read its shape from " + h);
  std::stringstream dims(shape.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');) {
    size_t s = d.find_first_not_of(' ');
    if (s == std::string::npos)
      continue;
    a.shape.push_back(std::stoll(d.substr(s)));
  }
  static const std::pair<const char *, Elem> names[] = {
      {"f8", Elem::F64}, {"f4", Elem::F32}, {"f2", Elem::F16}, {"i8", Elem::I64},
      {"i4", Elem::I32}, {"i2", Elem::I16}, {"i1", Elem::I8},  {"u1", Elem::U8},
      {"u2", Elem::U16}, {"u4", Elem::U32}, {"b1", Elem::Bool}};
  Elem e = Elem::Unknown;
  if (a.dtype.size() == 3 && a.dtype[0] != '>')
    for (auto &[n, el] : names)
      if (a.dtype.compare(1, 2, n) == 0)
        e = el;
  if (e == Elem::Unknown)
    return Status::error(where + ": dtype '" + a.dtype +
                         "' is not a little-endian numeric type the runtime reads");
  size_t need = static_cast<size_t>(a.numElements()) * elemSize(e);
  if (at + hlen + need > bytes.size())
    return Status::error(where + " is truncated: its shape needs " + std::to_string(need) +
                         " bytes of data, the file has " + std::to_string(bytes.size() - at - hlen));
  return convert(bytes.data() + at + hlen, e, a, where);
}

/// The members of a zip archive (what np.savez writes), each inflated.
StatusOr<std::vector<NamedArray>> readNpz(const std::string &path, const std::string &z) {
  // The end-of-central-directory record, scanning back over a comment.
  size_t eocd = std::string::npos;
  for (size_t k = z.size() >= 22 ? z.size() - 22 : 0; k + 1 > 0 && z.size() >= 22; --k) {
    if (load<uint32_t>(z.data() + k) == 0x06054b50u) {
      eocd = k;
      break;
    }
    if (k == 0 || z.size() - k > 22 + 65535)
      break;
  }
  if (eocd == std::string::npos)
    return Status::error("data file '" + path + "' is not a zip archive (.npz): no end of central directory");
  uint64_t entries = load<uint16_t>(z.data() + eocd + 10);
  uint64_t cd = load<uint32_t>(z.data() + eocd + 16);
  std::vector<NamedArray> out;
  for (uint64_t n = 0; n < entries; ++n) {
    if (cd + 46 > z.size() || load<uint32_t>(z.data() + cd) != 0x02014b50u)
      return Status::error("data file '" + path + "' is truncated in its zip directory");
    const char *c = z.data() + cd;
    uint16_t method = load<uint16_t>(c + 10), nameLen = load<uint16_t>(c + 28),
             extraLen = load<uint16_t>(c + 30), commentLen = load<uint16_t>(c + 32);
    uint64_t csize = load<uint32_t>(c + 20), usize = load<uint32_t>(c + 24),
             local = load<uint32_t>(c + 42);
    if (cd + 46 + nameLen + extraLen > z.size())
      return Status::error("data file '" + path + "' is truncated in its zip directory");
    std::string name(c + 46, nameLen);
    // Zip64: the fields that are all ones come from the extra field, in order.
    for (const char *x = c + 46 + nameLen, *xe = x + extraLen; x + 4 <= xe;) {
      uint16_t id = load<uint16_t>(x), len = load<uint16_t>(x + 2);
      if (id == 0x0001) {
        const char *v = x + 4;
        if (usize == 0xffffffffu && v + 8 <= x + 4 + len) { usize = load<uint64_t>(v); v += 8; }
        if (csize == 0xffffffffu && v + 8 <= x + 4 + len) { csize = load<uint64_t>(v); v += 8; }
        if (local == 0xffffffffu && v + 8 <= x + 4 + len) { local = load<uint64_t>(v); }
      }
      x += 4 + len;
    }
    cd += 46 + nameLen + extraLen + commentLen;
    std::string where = "data file '" + path + "', member '" + name + "'";
    if (local + 30 > z.size() || load<uint32_t>(z.data() + local) != 0x04034b50u)
      return Status::error(where + ": no local header where the directory says");
    uint64_t start = local + 30 + load<uint16_t>(z.data() + local + 26) +
                     load<uint16_t>(z.data() + local + 28);
    if (start + csize > z.size())
      return Status::error(where + " is truncated");
    std::string payload;
    if (method == 0) {
      payload.assign(z.data() + start, csize);
    } else if (method == 8) {
      payload.resize(usize);
      z_stream s{};
      if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return Status::error(where + ": zlib failed to start");
      s.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(z.data() + start));
      s.avail_in = static_cast<uInt>(csize);
      s.next_out = reinterpret_cast<Bytef *>(payload.data());
      s.avail_out = static_cast<uInt>(usize);
      int rc = inflate(&s, Z_FINISH);
      inflateEnd(&s);
      if (rc != Z_STREAM_END || s.total_out != usize)
        return Status::error(where + ": its deflated data is corrupt");
    } else {
      return Status::error(where + " uses zip compression method " + std::to_string(method) +
                           "; np.savez and np.savez_compressed write 0 and 8");
    }
    NamedArray a;
    a.name = endsWith(name, ".npy") ? name.substr(0, name.size() - 4) : name;
    if (Status s = readNpy(payload, a, where); !s.isOk())
      return s;
    out.push_back(std::move(a));
  }
  return out;
}
} // namespace

bool motif::rt::isArrayFile(const std::string &path) {
  return endsWith(path, ".safetensors") || endsWith(path, ".npz") || endsWith(path, ".npy");
}

StatusOr<std::vector<NamedArray>> motif::rt::readArrays(const std::string &path) {
  auto bytes = slurp(path);
  if (!bytes.isOk())
    return bytes.status();
  if (endsWith(path, ".safetensors"))
    return parseSafetensors(path, *bytes, "data file");
  if (endsWith(path, ".npz"))
    return readNpz(path, *bytes);
  if (endsWith(path, ".npy")) {
    NamedArray a;
    size_t slash = path.find_last_of('/');
    a.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
    a.name = a.name.substr(0, a.name.size() - 4);
    if (Status s = readNpy(*bytes, a, "data file '" + path + "'"); !s.isOk())
      return s;
    return std::vector<NamedArray>{std::move(a)};
  }
  return Status::error("data file '" + path +
                       "' is not a file of arrays (.safetensors, .npz or .npy)");
}
