//===- MotifOps.h - Ops and attributes of the motif dialect ------*- C++ -*-===//
#ifndef MOTIF_DIALECTS_MOTIF_MOTIFOPS_H
#define MOTIF_DIALECTS_MOTIF_MOTIFOPS_H

#include "dialects/motif/MotifDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"

#include "dialects/motif/MotifEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/motif/MotifAttrs.h.inc"

namespace mlir::motif {
/// What the autodiff pass offers an op's VJP (VJPOpInterface::buildVJP)
/// beyond its operands and results, for ops with regions: the reverse sweep
/// of a region body, and the gradients of parameters read by symbol inside
/// the regions (which are not operands of the op). Implemented by the pass.
class VJPContext {
public:
  virtual ~VJPContext() = default;
  /// Differentiates `ops` (in program order, already at their place in a
  /// block that `b` appends to): `activeArgs` are the block arguments that
  /// carry gradients; `grads` holds the seeds (gradients of the body's
  /// results) and receives the gradient of every value the sweep reaches;
  /// `paramGrads` receives the gradient of each trained parameter the ops
  /// read, by symbol, in the order the sweep reaches them.
  virtual llvm::LogicalResult
  differentiate(OpBuilder &b, llvm::ArrayRef<Operation *> ops,
                llvm::ArrayRef<Value> activeArgs,
                llvm::DenseMap<Value, Value> &grads,
                llvm::MapVector<StringAttr, Value> &paramGrads) = 0;
  /// Adds `g` to the gradient of the parameter `name`, which the op's regions
  /// read; applied after the op's operand gradients.
  virtual void addParamGrad(StringAttr name, Value g) = 0;
};

/// The default VJP of a motif op: one motif.vjp op (see MotifOps.td).
llvm::LogicalResult buildGenericVJP(Operation *op, OpBuilder &b,
                                    llvm::ArrayRef<Value> resultGrads,
                                    llvm::ArrayRef<bool> needed,
                                    llvm::SmallVectorImpl<Value> &operandGrads);
/// Which forward operands and results an op's backward reads the data of
/// (VJPSaved.cpp): the default of VJPOpInterface::getVJPSaved.
void getDefaultVJPSaved(Operation *op, llvm::SmallVectorImpl<bool> &operands,
                        llvm::SmallVectorImpl<bool> &results);

/// Marks the motif ops of the elementwise table (runtime/core/Elementwise.def);
/// the ODS trait Motif_Elementwise. An op's row: elementwiseInfo(op), in
/// dialects/motif/Elementwise.h.
template <typename ConcreteType>
class ElementwiseTrait : public OpTrait::TraitBase<ConcreteType, ElementwiseTrait> {};
} // namespace mlir::motif

#include "dialects/motif/MotifInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialects/motif/MotifOps.h.inc"

#endif // MOTIF_DIALECTS_MOTIF_MOTIFOPS_H
