//===- FuzzArtifact.cpp - libFuzzer target for the .mbin reader -----------===//
//
// Arbitrary bytes must be refused with a message or parsed; never a crash, a
// hang or a huge allocation. Inputs that pass the checksum are rare, so the
// target also feeds the body with a valid header and trailer around it.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/core/Hash.h"

#include <cstdint>
#include <cstring>
#include <string>

using namespace motif::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string raw(reinterpret_cast<const char *>(data), size);
  (void)parseArtifact(raw, "fuzz.mbin");
  // The same bytes as a body inside a well-formed envelope.
  std::string framed("MOTIFBIN", 8);
  uint32_t version = kArtifactVersion, flags = 0;
  framed.append(reinterpret_cast<const char *>(&version), 4);
  framed.append(reinterpret_cast<const char *>(&flags), 4);
  framed += raw;
  uint64_t sum = fnv1a(framed.data(), framed.size());
  framed.append(reinterpret_cast<const char *>(&sum), 8);
  framed.append("MOTIFEND", 8);
  auto parsed = parseArtifact(framed, "fuzz.mbin");
  if (parsed.isOk())
    (void)describeArtifact(*parsed);
  return 0;
}
