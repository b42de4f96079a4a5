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

#include "dialects/motif/MotifEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/motif/MotifAttrs.h.inc"

namespace mlir::motif {
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
