//===- MotifInterfaces.td - Interfaces of the motif dialect -*- tablegen -*-===//
#ifndef MOTIF_INTERFACES_TD
#define MOTIF_INTERFACES_TD

include "mlir/IR/OpBase.td"

def MotifVJPOpInterface : OpInterface<"VJPOpInterface"> {
  let cppNamespace = "::mlir::motif";
  let description = [{
    The vector–Jacobian product of an op: given the gradients of its results,
    build the gradients of its operands. Each op brings its own, so that the
    autodiff pass is generic over the dialect. (Implemented on the ops by the
    autodiff work; declared here so that ops and passes share one contract.)
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the operand gradients at `b`'s insertion point. `resultGrads`
        has one entry per result (null where the result has no gradient);
        `operandGrads` receives one entry per operand (null where the operand
        gets no gradient, e.g. integer ids).
      }], "::llvm::LogicalResult", "buildVJP",
      (ins "::mlir::OpBuilder &":$b,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // MOTIF_INTERFACES_TD
