//===- DevicePeaks.cpp - The table of device peaks --------------------------===//
#include "runtime/core/DevicePeaks.h"

#include <algorithm>
#include <cctype>

using namespace motif::rt;

const std::vector<DevicePeak> &motif::rt::devicePeaks() {
  // Dense (no sparsity) tensor-core peaks, boost clocks, from NVIDIA's
  // datasheets and architecture whitepapers.
  static const std::vector<DevicePeak> table = {
      //  name          cc   SMs  bf16      tf32      fp32     bandwidth
      {"A100 SXM", 80, 108, 312e12, 156e12, 19.5e12, 2.039e12},
      {"A100 PCIe", 80, 108, 312e12, 156e12, 19.5e12, 1.935e12},
      {"H100 SXM", 90, 132, 989.4e12, 494.7e12, 66.9e12, 3.35e12},
      {"H100 PCIe", 90, 114, 756.5e12, 378e12, 51.2e12, 2.0e12},
      {"H200", 90, 132, 989.4e12, 494.7e12, 66.9e12, 4.8e12},
      {"L4", 89, 58, 121e12, 60e12, 30.3e12, 0.3e12},
      {"RTX 4090", 89, 128, 165.2e12, 82.6e12, 82.6e12, 1.008e12},
      {"B200", 100, 148, 2.25e15, 1.1e15, 75e12, 8.0e12},
  };
  return table;
}

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
bool has(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }
/// Whether `word` stands in `s` as a word of its own ("l4" in "nvidia l4",
/// not in "nvidia l40s").
bool hasWord(const std::string &s, const std::string &word) {
  for (size_t at = s.find(word); at != std::string::npos; at = s.find(word, at + 1)) {
    bool start = at == 0 || !std::isalnum(static_cast<unsigned char>(s[at - 1]));
    size_t end = at + word.size();
    bool stop = end == s.size() || !std::isalnum(static_cast<unsigned char>(s[end]));
    if (start && stop)
      return true;
  }
  return false;
}
const DevicePeak *row(const char *name) {
  for (const DevicePeak &p : devicePeaks())
    if (std::string(p.name) == name)
      return &p;
  return nullptr;
}
} // namespace

const DevicePeak *motif::rt::findDevicePeak(const std::string &deviceName) {
  std::string n = lower(deviceName);
  bool pcie = has(n, "pcie");
  if (has(n, "h200"))
    return row("H200");
  if (has(n, "h100"))
    return row(pcie ? "H100 PCIe" : "H100 SXM");
  if (has(n, "a100"))
    return row(pcie ? "A100 PCIe" : "A100 SXM");
  if (has(n, "b200"))
    return row("B200");
  if (has(n, "rtx 4090"))
    return row("RTX 4090");
  if (hasWord(n, "l4"))
    return row("L4");
  return nullptr;
}

const DevicePeak *motif::rt::targetPeak(int computeCapability) {
  if (computeCapability == 80)
    return row("A100 SXM");
  if (computeCapability == 90)
    return row("H100 SXM");
  return nullptr;
}
