//===- KernelOps.h - The kernel dialect --------------------------*- C++ -*-===//
#ifndef MOTIF_DIALECTS_KERNEL_KERNELOPS_H
#define MOTIF_DIALECTS_KERNEL_KERNELOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/kernel/KernelDialect.h.inc"
#include "dialects/kernel/KernelEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kernel/KernelAttrs.h.inc"

namespace mlir::kernel {
/// Whether `op` may sit in a kernel.fused body: a motif elementwise op
/// (unary, binary with broadcasting, cast) or a constant.
bool isFusibleElementwise(Operation *op);
} // namespace mlir::kernel

#define GET_OP_CLASSES
#include "dialects/kernel/KernelOps.h.inc"

#endif // MOTIF_DIALECTS_KERNEL_KERNELOPS_H
