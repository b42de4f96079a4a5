//===- TargetInfo.cpp - What runs an artifact: cpu or an NVIDIA GPU --------===//
#include "runtime/core/TargetInfo.h"

#include <algorithm>
#include <cctype>

using namespace motif::rt;

const std::vector<std::string> &motif::rt::supportedTargets() {
  static const std::vector<std::string> names = {"cpu", "sm_80", "sm_90a"};
  return names;
}

std::string motif::rt::supportedTargetList(bool withCpu) {
  std::vector<std::string> names;
  for (const std::string &n : supportedTargets())
    if (withCpu || n != "cpu")
      names.push_back(n);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

bool TargetInfo::supported() const {
  const auto &names = supportedTargets();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<TargetInfo> TargetInfo::parse(const std::string &name) {
  if (name == "cpu")
    return TargetInfo{name, 0, false};
  if (name.rfind("sm_", 0) != 0)
    return std::nullopt;
  std::string digits = name.substr(3);
  bool specific = !digits.empty() && digits.back() == 'a';
  if (specific)
    digits.pop_back();
  // Two or three digits: the last is the minor version (sm_86, sm_100, sm_120).
  if (digits.size() < 2 || digits.size() > 3 || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  return TargetInfo{name, std::stoi(digits), specific};
}

TargetInfo TargetInfo::forDevice(int major, int minor) {
  std::string plain = "sm_" + std::to_string(major) + std::to_string(minor);
  for (const std::string &n : supportedTargets()) {
    auto t = parse(n);
    if (t && t->archSpecific && t->computeCapability == major * 10 + minor)
      return *t;
  }
  return TargetInfo{plain, major * 10 + minor, false};
}

bool motif::rt::operator<(const TargetInfo &a, const TargetInfo &b) {
  if (a.computeCapability != b.computeCapability)
    return a.computeCapability < b.computeCapability;
  return !a.archSpecific && b.archSpecific;
}

std::optional<TargetInfo> motif::rt::newestGpu(const std::vector<std::string> &names) {
  std::optional<TargetInfo> best;
  for (const std::string &n : names) {
    auto t = TargetInfo::parse(n);
    if (t && t->isGpu() && (!best || *best < *t))
      best = t;
  }
  return best;
}
