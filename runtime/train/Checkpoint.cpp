//===- Checkpoint.cpp - safetensors checkpoints, written atomically --------===//
//
// safetensors: u64 header length, a JSON header mapping each tensor name to
// {dtype, shape, data_offsets} (plus "__metadata__": {string: string}), then
// the raw little-endian data.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Checkpoint.h"
#include "runtime/train/ArrayFile.h"

#include "runtime/core/Json.h"

#include <algorithm>
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
#include <sys/stat.h>
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

namespace {
StatusOr<std::string> readWhole(const std::string &path, const std::string &what) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    return Status::error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

/// Reads the tensors of one safetensors file into `c`; those of `only`
/// when it is not null (a shard's share of an index).
Status readSafetensors(const std::string &path, Checkpoint &c,
                       const std::vector<std::string> *only = nullptr) {
  auto whole = readWhole(path, "checkpoint");
  if (!whole.isOk())
    return whole.status();
  const std::string &bytes = *whole;
  auto fail = [&](const std::string &m) {
    return Status::error("checkpoint '" + path + "': " + m);
  };
  auto arrays = parseSafetensors(path, bytes, "checkpoint", &c.metadata, only);
  if (!arrays.isOk())
    return arrays.status();
  for (NamedArray &a : *arrays) {
    // F32 as is; BF16, F16 and F64 converted to fp32 on load.
    if (a.isInt)
      return fail("tensor '" + a.name + "' has dtype " + a.dtype +
                  "; checkpoints are read from F32, BF16, F16 or F64 tensors");
    Checkpoint::Tensor t;
    t.shape = a.shape;
    t.data = std::move(a.f);
    for (size_t k = 0; k < t.data.size(); ++k)
      if (!std::isfinite(t.data[k]))
        return fail("tensor '" + a.name + "' holds a non-finite value (" +
                    std::to_string(t.data[k]) + ") at index " + std::to_string(k) +
                    ": the run that wrote it diverged; resume from an earlier checkpoint");
    c.tensors.emplace_back(a.name, std::move(t));
  }
  return Status::ok();
}

/// A sharded checkpoint: the index's weight_map names each tensor's shard,
/// relative to the index's directory.
Status readSharded(const std::string &indexPath, Checkpoint &c) {
  auto text = readWhole(indexPath, "checkpoint index");
  if (!text.isOk())
    return text.status();
  auto fail = [&](const std::string &m) {
    return Status::error("checkpoint index '" + indexPath + "': " + m);
  };
  Json root;
  std::string err;
  if (!parseJson(*text, root, err, "the file"))
    return fail(err);
  const Json *map = root.get("weight_map");
  if (!map || map->kind != Json::Obj || map->obj.empty())
    return fail("no 'weight_map' object naming each tensor's file");
  std::string dir = ".";
  if (size_t slash = indexPath.rfind('/'); slash != std::string::npos)
    dir = slash ? indexPath.substr(0, slash) : "/";
  // Shards in the order they first appear, each with its tensors.
  std::vector<std::pair<std::string, std::vector<std::string>>> shards;
  for (const auto &entry : map->obj) {
    const std::string &name = entry.first, &file = entry.second.str;
    if (entry.second.kind != Json::Str || file.empty() || file.find('/') != std::string::npos)
      return fail("tensor '" + name + "' maps to no file name in this directory");
    auto it = std::find_if(shards.begin(), shards.end(),
                           [&](const auto &s) { return s.first == file; });
    if (it == shards.end())
      shards.push_back({file, {name}});
    else
      it->second.push_back(name);
  }
  for (const auto &[file, names] : shards) {
    size_t before = c.tensors.size();
    if (Status s = readSafetensors(dir + "/" + file, c, &names); !s)
      return s.withContext("shard of '" + indexPath + "'");
    if (c.tensors.size() - before != names.size())
      for (const std::string &n : names)
        if (!c.find(n))
          return fail("tensor '" + n + "' is not in its shard '" + file + "'");
  }
  return Status::ok();
}
} // namespace

StatusOr<Checkpoint> motif::rt::loadCheckpoint(const std::string &path) {
  Checkpoint c;
  std::string p = path;
  if (isDirectory(path)) {
    if (exists(path + "/model.safetensors.index.json"))
      p = path + "/model.safetensors.index.json";
    else if (exists(path + "/model.safetensors"))
      p = path + "/model.safetensors";
    else
      return Status::error("directory '" + path + "' holds neither model.safetensors nor "
                           "model.safetensors.index.json");
  }
  const std::string suffix = ".index.json";
  bool index = p.size() > suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(),
                                                     suffix) == 0;
  if (Status s = index ? readSharded(p, c) : readSafetensors(p, c); !s)
    return s;
  return c;
}
