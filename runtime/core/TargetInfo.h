//===- TargetInfo.h - What runs an artifact: cpu or an NVIDIA GPU -*- C++ -*-===//
//
// One description of a target, shared by the compiler (validating --target,
// choosing the GPU that attention tiles are tuned for, NVRTC) and the runtime
// (which binary of an artifact a device runs): its name and its compute
// capability. Targets are ordered by compute capability, never by their
// names as strings ("sm_100" is newer than "sm_90a").
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_TARGETINFO_H
#define MOTIF_RUNTIME_CORE_TARGETINFO_H

#include <optional>
#include <string>
#include <vector>

namespace motif::rt {

struct TargetInfo {
  std::string name;          // "cpu", "sm_80", "sm_90a", "sm_100"
  /// major * 10 + minor: sm_80 -> 80, sm_90a -> 90, sm_100 -> 100; 0 for cpu.
  int computeCapability = 0;
  /// The "a" suffix: code that uses features of exactly this architecture
  /// (wgmma, TMA), which runs on no other device, not even a newer one.
  bool archSpecific = false;

  bool isGpu() const { return computeCapability > 0; }
  int major() const { return computeCapability / 10; }
  int minor() const { return computeCapability % 10; }
  /// Whether this release compiles kernels for it and has a cost model of
  /// it (sm_80 and sm_90a).
  bool supported() const;

  /// "cpu", or "sm_<major><minor>" with an optional "a"; nullopt otherwise.
  static std::optional<TargetInfo> parse(const std::string &name);
  /// The name a device of compute capability major.minor goes by: its
  /// arch-specific name where this release builds one (9.0 -> sm_90a).
  static TargetInfo forDevice(int major, int minor);
};

/// Newer compute capability first; at the same one, the arch-specific
/// target (sm_90a) above the plain one (sm_90). cpu is below every GPU.
bool operator<(const TargetInfo &a, const TargetInfo &b);
inline bool operator>(const TargetInfo &a, const TargetInfo &b) { return b < a; }

/// The targets this release compiles for, in order.
const std::vector<std::string> &supportedTargets();
/// "cpu, sm_80 or sm_90a", for error messages.
std::string supportedTargetList(bool withCpu = true);

/// The newest GPU among `names` (by compute capability); nullopt when none is
/// a GPU. Names that do not parse are ignored (validate them first).
std::optional<TargetInfo> newestGpu(const std::vector<std::string> &names);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_TARGETINFO_H
