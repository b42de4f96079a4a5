//===- Elementwise.h - The elementwise ops: kinds, names, properties -*- C++ -*-===//
//
// The enums and properties of the rows of Elementwise.def, for every part of
// Motif that handles elementwise ops: the compiler (type inference, the VJP's
// saved values, fusion, CUDA emission), the CPU kernels, the CUDA kernel
// library, and NVRTC-compiled generated kernels (which see only the enums:
// the lookup by name is host code).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_ELEMENTWISE_H
#define MOTIF_RUNTIME_CORE_ELEMENTWISE_H

#ifndef __CUDACC_RTC__
#include <optional>
#include <string_view>
#endif

namespace motif {

/// One enumerator per unary row of Elementwise.def, in its order.
enum class UnaryKind {
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves) Kind,
#include "runtime/core/Elementwise.def"
};

/// One enumerator per binary row of Elementwise.def, in its order.
enum class BinaryKind {
#define MOTIF_BINARY_OP(Kind, mnemonic, Saves) Kind,
#include "runtime/core/Elementwise.def"
};

/// What an op's backward reads of its forward (the Saves column).
enum class ElementwiseSaves { Nothing, Operands };

inline constexpr int kNumUnaryKinds = 0
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves) +1
#include "runtime/core/Elementwise.def"
    ;
inline constexpr int kNumBinaryKinds = 0
#define MOTIF_BINARY_OP(Kind, mnemonic, Saves) +1
#include "runtime/core/Elementwise.def"
    ;

#ifndef __CUDACC_RTC__

/// One row of the table, unary or binary.
struct ElementwiseInfo {
  std::string_view mnemonic; // "gelu_tanh": the motif op is motif.gelu_tanh
  int arity;                 // 1 or 2
  int kind;                  // the UnaryKind (arity 1) or BinaryKind (arity 2)
  ElementwiseSaves saves;    // what the backward reads of the forward
};

/// Every row of Elementwise.def: the unary ones, then the binary ones.
inline constexpr ElementwiseInfo kElementwiseOps[] = {
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves)                                                      \
  {#mnemonic, 1, static_cast<int>(UnaryKind::Kind), ElementwiseSaves::Saves},
#define MOTIF_BINARY_OP(Kind, mnemonic, Saves)                                                     \
  {#mnemonic, 2, static_cast<int>(BinaryKind::Kind), ElementwiseSaves::Saves},
#include "runtime/core/Elementwise.def"
};

/// The row of the op named `mnemonic` (without the "motif." prefix), or null.
constexpr const ElementwiseInfo *findElementwise(std::string_view mnemonic) {
  for (const ElementwiseInfo &e : kElementwiseOps)
    if (e.mnemonic == mnemonic)
      return &e;
  return nullptr;
}
constexpr std::optional<UnaryKind> unaryKindOf(std::string_view mnemonic) {
  const ElementwiseInfo *e = findElementwise(mnemonic);
  if (!e || e->arity != 1)
    return std::nullopt;
  return static_cast<UnaryKind>(e->kind);
}
constexpr std::optional<BinaryKind> binaryKindOf(std::string_view mnemonic) {
  const ElementwiseInfo *e = findElementwise(mnemonic);
  if (!e || e->arity != 2)
    return std::nullopt;
  return static_cast<BinaryKind>(e->kind);
}

constexpr const ElementwiseInfo &elementwiseInfo(UnaryKind k) {
  return kElementwiseOps[static_cast<int>(k)];
}
constexpr const ElementwiseInfo &elementwiseInfo(BinaryKind k) {
  return kElementwiseOps[kNumUnaryKinds + static_cast<int>(k)];
}
constexpr std::string_view mnemonic(UnaryKind k) { return elementwiseInfo(k).mnemonic; }
constexpr std::string_view mnemonic(BinaryKind k) { return elementwiseInfo(k).mnemonic; }

#endif // __CUDACC_RTC__

} // namespace motif

#endif // MOTIF_RUNTIME_CORE_ELEMENTWISE_H
