//===- TestDevice.h - The device the backend tests run on -------*- C++ -*-===//
//
// The backend tests (tests/unit/cudabackend) run on the device named by
// MOTIF_TEST_DEVICE: "sim" (the default: the SIMT simulator, as in CI) or
// "cuda" (the GPU, when one is present; scripts/gpu-check.sh sets it on the GPU
// machine). Asked for "cuda" where no GPU opens, the tests run on the simulator
// and say so: "[test device: sim (MOTIF_TEST_DEVICE=cuda: <why>)]", which the
// GPU check reports as a failure. The chosen device is printed once per process
// ("[test device: cuda]") and recorded in each test's properties.
//
// The tests' inputs (artifacts compiled at build time, named by absolute
// paths in the build tree) are found through testInput(), so that the binary
// also runs from a copy: with MOTIF_TEST_INPUTS set, a file is looked up in
// that folder by its name.
//
// Force-included into every source of motif-cudabackend-tests (CMakeLists.txt).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_UNIT_CUDABACKEND_TESTDEVICE_H
#define MOTIF_TESTS_UNIT_CUDABACKEND_TESTDEVICE_H

#include "runtime/device/Device.h"
#ifdef MOTIF_HAVE_SIM_DEVICE
#include "runtime/device/SimDevice.h"
#endif

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace motif::testdevice {

/// `builtPath`, or the file of the same name in $MOTIF_TEST_INPUTS when set.
/// A C string (kept for the life of the process), so that it stands in for
/// the string literal the build defines wherever the tests use one.
inline const char *testInput(const char *builtPath) {
  const char *dir = std::getenv("MOTIF_TEST_INPUTS");
  if (!dir || !*dir)
    return builtPath;
  std::string path(builtPath);
  size_t slash = path.find_last_of('/');
  path = std::string(dir) + "/" + (slash == std::string::npos ? path : path.substr(slash + 1));
  static std::mutex mutex;
  static std::set<std::string> interned; // nodes never move
  std::lock_guard<std::mutex> lock(mutex);
  return interned.insert(path).first->c_str();
}

/// The device kind the tests were asked for: "sim" or "cuda".
inline std::string requestedKind() {
  const char *k = std::getenv("MOTIF_TEST_DEVICE");
  return k && *k ? std::string(k) : std::string("sim");
}

/// Opens the test device (see the file comment), with `simCapacity` bytes
/// under the simulator. Sets MOTIF_CACHE_DIR to `cacheDir` (the simulator's
/// compiled modules) unless the environment sets it. Fails the test and
/// returns null when no device opens.
inline std::unique_ptr<rt::device::Device> openTestDevice(const std::string &cacheDir,
                                                          int64_t simCapacity = int64_t(1) << 30) {
  ::setenv("MOTIF_CACHE_DIR", testInput(cacheDir.c_str()), /*overwrite=*/0);
  std::string kind = requestedKind(), note;
  if (kind != "sim" && kind != "cuda") {
    ADD_FAILURE() << "MOTIF_TEST_DEVICE=" << kind << ": expected sim or cuda";
    return nullptr;
  }
  if (kind == "cuda") {
    auto d = rt::device::openDevice("cuda", 0);
    if (d.isOk()) {
      static bool said = (std::printf("[test device: cuda]\n"), true);
      (void)said;
      ::testing::Test::RecordProperty("device", "cuda");
      return std::move(*d);
    }
    note = " (MOTIF_TEST_DEVICE=cuda: " + d.status().message() + ")";
  }
#ifdef MOTIF_HAVE_SIM_DEVICE
  auto d = rt::device::openSimDevice(0, simCapacity);
#else
  auto d = rt::device::openDevice("sim", 0);
  (void)simCapacity;
#endif
  if (!d.isOk()) {
    ADD_FAILURE() << "no test device: " << d.status().message() << note;
    return nullptr;
  }
  static bool said = (std::printf("[test device: sim%s]\n", note.c_str()), true);
  (void)said;
  ::testing::Test::RecordProperty("device", "sim");
  return std::move(*d);
}

/// The device engine kind (makeEngine's "sim" or "cuda") of the test device,
/// with openTestDevice's fallback: "cuda" when asked for and a GPU opens,
/// else "sim" (saying why once).
inline std::string testEngineKind() {
  static const std::string kind = [] {
    if (requestedKind() != "cuda")
      return std::string("sim");
    auto d = rt::device::openDevice("cuda", 0);
    if (d.isOk()) {
      std::printf("[test device: cuda]\n");
      return std::string("cuda");
    }
    std::printf("[test device: sim (MOTIF_TEST_DEVICE=cuda: %s)]\n",
                d.status().message().c_str());
    return std::string("sim");
  }();
  ::testing::Test::RecordProperty("device", kind);
  return kind;
}

} // namespace motif::testdevice

#endif // MOTIF_TESTS_UNIT_CUDABACKEND_TESTDEVICE_H
