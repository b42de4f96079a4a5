//===- MotifInterfaces.td - Interfaces of the motif dialect -*- tablegen -*-===//
#ifndef MOTIF_INTERFACES_TD
#define MOTIF_INTERFACES_TD

include "mlir/IR/OpBase.td"

def MotifVJPOpInterface : OpInterface<"VJPOpInterface"> {
  let cppNamespace = "::mlir::motif";
  let description = [{
    The vector–Jacobian product of an op: given the gradients of its results,
    build the gradients of its operands. Each op brings its own, so that the
    autodiff pass is generic over the dialect. The default builds one
    `motif.vjp` op that names the forward op and carries its attributes: the
    backends implement one backward kernel per op. An op with a cheaper
    composite backward, or with regions to differentiate (`motif.moe`),
    overrides it, using the autodiff pass's services through `VJPContext`.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the operand gradients at `b`'s insertion point. `resultGrads`
        has one entry per result (null where the result has no gradient);
        `needed` has one entry per operand, true where its gradient is wanted
        (it leads to a trained parameter); `operandGrads` receives one entry
        per operand (null where none is wanted). Called for every op with a
        result gradient, also when no operand needs one (the op's regions may
        read trained parameters); `ctx` differentiates region bodies and takes
        the gradients of parameters the regions read by symbol.
      }], "::llvm::LogicalResult", "buildVJP",
      (ins "::mlir::OpBuilder &":$b,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::ArrayRef<bool>":$needed,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads,
           "::mlir::motif::VJPContext &":$ctx),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::mlir::motif::buildGenericVJP($_op, b, resultGrads, needed,
                                              operandGrads);
      }]>,
    InterfaceMethod<[{
        Which forward values the backward reads the data of: one entry per
        operand in `operands` and one per result in `results`. The backward
        still sees the others, but only for their shapes, so memory planning
        frees their buffers after their last forward use. Integer operands
        (ids, targets, positions) are always read.
      }], "void", "getVJPSaved",
      (ins "::llvm::SmallVectorImpl<bool> &":$operands,
           "::llvm::SmallVectorImpl<bool> &":$results),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        ::mlir::motif::getDefaultVJPSaved($_op, operands, results);
      }]>
  ];
}

#endif // MOTIF_INTERFACES_TD
