//===- DiskCache.cpp - Where compiled kernels are cached on disk -----------===//
#include "runtime/core/DiskCache.h"
#include "runtime/core/Hash.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

std::string motif::rt::cacheDir() {
  if (const char *d = std::getenv("MOTIF_CACHE_DIR"))
    return d;
  if (const char *x = std::getenv("XDG_CACHE_HOME"))
    return std::string(x) + "/motif";
  if (const char *h = std::getenv("HOME"))
    return std::string(h) + "/.cache/motif";
  return "";
}

void motif::rt::makeDirs(const std::string &path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/')
      ::mkdir(path.substr(0, i).c_str(), 0755);
}

std::string motif::rt::cacheKey(const std::string &text) {
  char key[17];
  std::snprintf(key, sizeof key, "%016llx",
                static_cast<unsigned long long>(fnv1a(text.data(), text.size())));
  return key;
}

bool motif::rt::readFile(const std::string &path, std::string &out) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    return false;
  std::ostringstream ss;
  ss << is.rdbuf();
  out = ss.str();
  return true;
}

void motif::rt::writeFileAtomically(const std::string &path, const std::string &data) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream os(tmp, std::ios::binary);
    if (!os)
      return;
    os.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!os)
      return;
  }
  std::rename(tmp.c_str(), path.c_str());
}
