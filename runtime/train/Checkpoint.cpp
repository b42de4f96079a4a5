//===- Checkpoint.cpp - safetensors checkpoints, written atomically --------===//
//
// safetensors: u64 header length, a JSON header mapping each tensor name to
// {dtype, shape, data_offsets} (plus "__metadata__": {string: string}), then
// the raw little-endian data.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Checkpoint.h"

#include "runtime/core/Json.h"

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace motif::rt;

const Checkpoint::Tensor *Checkpoint::find(const std::string &name) const {
  for (const auto &[n, t] : tensors)
    if (n == name)
      return &t;
  return nullptr;
}


/// Removes `<path>.tmp.<pid>` files that a killed writer left beside `path`
/// (those whose process no longer exists).
static void removeStaleTemporaries(const std::string &path) {
  std::string dir = ".", base = path;
  if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    dir = slash ? path.substr(0, slash) : "/";
    base = path.substr(slash + 1);
  }
  std::string prefix = base + ".tmp.";
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    char *end = nullptr;
    long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '\0')
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      std::remove((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

Status motif::rt::saveCheckpoint(const Checkpoint &c, const std::string &path) {
  std::string header = "{";
  size_t offset = 0;
  bool first = true;
  if (!c.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool f2 = true;
    for (const auto &[k, v] : c.metadata) {
      header += (f2 ? "" : ",") + jsonQuote(k) + ":" + jsonQuote(v);
      f2 = false;
    }
    header += "}";
    first = false;
  }
  for (const auto &[name, t] : c.tensors) {
    size_t bytes = t.data.size() * sizeof(float);
    header += (first ? "" : ",") + jsonQuote(name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
    first = false;
  }
  header += "}";
  while (header.size() % 8)
    header += ' ';

  removeStaleTemporaries(path);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return Status::error("cannot write checkpoint '" + tmp + "': " +
                         std::strerror(errno));
  auto writeAll = [&](const void *p, size_t n) {
    const char *b = static_cast<const char *>(p);
    while (n) {
      ssize_t w = ::write(fd, b, n);
      if (w <= 0)
        return false;
      b += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  uint64_t hlen = header.size();
  bool ok = writeAll(&hlen, 8) && writeAll(header.data(), header.size());
  for (const auto &[name, t] : c.tensors)
    ok = ok && writeAll(t.data.data(), t.data.size() * sizeof(float));
  ok = ok && ::fsync(fd) == 0;
  std::string err = ok ? "" : std::strerror(errno);
  ::close(fd);
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::error("cannot write checkpoint '" + tmp + "': " + err +
                         " (the previous checkpoint is intact)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::error("cannot move checkpoint into place at '" + path +
                         "': " + err);
  }
  return Status::ok();
}

StatusOr<Checkpoint> motif::rt::loadCheckpoint(const std::string &path) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    return Status::error("cannot open checkpoint '" + path + "': " +
                         std::strerror(errno));
  std::ostringstream ss;
  ss << is.rdbuf();
  std::string bytes = ss.str();
  auto fail = [&](const std::string &m) {
    return Status::error("checkpoint '" + path + "': " + m);
  };
  if (bytes.size() < 8)
    return fail("truncated (no header)");
  uint64_t hlen;
  std::memcpy(&hlen, bytes.data(), 8);
  if (hlen > bytes.size() - 8)
    return fail("truncated or not safetensors (header length " +
                std::to_string(hlen) + " exceeds the file)");
  std::string headerText = bytes.substr(8, hlen);
  Json root;
  std::string jsonError;
  if (!parseJson(headerText, root, jsonError, "the header") || root.kind != Json::Obj)
    return fail("bad header: " + (jsonError.empty() ? "not an object" : jsonError));
  size_t dataStart = 8 + hlen, dataSize = bytes.size() - dataStart;
  Checkpoint c;
  for (const auto &[name, v] : root.obj) {
    if (name == "__metadata__") {
      for (const auto &[k, mv] : v.obj)
        if (mv.kind == Json::Str)
          c.metadata[k] = mv.str;
      continue;
    }
    const Json *dtype = nullptr, *shape = nullptr, *offs = nullptr;
    for (const auto &[k, f] : v.obj) {
      if (k == "dtype") dtype = &f;
      if (k == "shape") shape = &f;
      if (k == "data_offsets") offs = &f;
    }
    if (!dtype || !shape || !offs || offs->arr.size() != 2)
      return fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
    if (dtype->str != "F32")
      return fail("tensor '" + name + "' has dtype " + dtype->str +
                  "; only F32 checkpoints are read");
    Checkpoint::Tensor t;
    int64_t n = 1;
    for (const Json &d : shape->arr) {
      t.shape.push_back(static_cast<int64_t>(d.num));
      n *= t.shape.back();
    }
    size_t b = static_cast<size_t>(offs->arr[0].num), e = static_cast<size_t>(offs->arr[1].num);
    if (e < b || e > dataSize || e - b != static_cast<size_t>(n) * sizeof(float))
      return fail("tensor '" + name + "' has data offsets outside the file or "
                  "of the wrong size (truncated?)");
    t.data.resize(static_cast<size_t>(n));
    std::memcpy(t.data.data(), bytes.data() + dataStart + b, e - b);
    for (size_t k = 0; k < t.data.size(); ++k)
      if (!std::isfinite(t.data[k]))
        return fail("tensor '" + name + "' holds a non-finite value (" +
                    std::to_string(t.data[k]) + ") at index " + std::to_string(k) +
                    ": the run that wrote it diverged; resume from an earlier checkpoint");
    c.tensors.emplace_back(name, std::move(t));
  }
  return c;
}
