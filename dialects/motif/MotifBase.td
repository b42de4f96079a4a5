//===- MotifBase.td - The motif dialect --------------------*- tablegen -*-===//
#ifndef MOTIF_BASE_TD
#define MOTIF_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Motif_Dialect : Dialect {
  let name = "motif";
  let cppNamespace = "::mlir::motif";
  let summary = "Architecture-level ops of the Motif compiler";
  let description = [{
    Tensor-level ops for neural architectures: embeddings, linears, norms,
    attention, mixture of experts, scans, convolutions, losses. Batch and
    sequence dims may be dynamic. Every op infers its result types; that
    inference is also its verifier and is what the frontend asks for when it
    makes an op, so a shape error in a `.motif` file is this dialect's message
    at the expression that made the op.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class Motif_Op<string mnemonic, list<Trait> traits = []>
    : Op<Motif_Dialect, mnemonic, traits>;

#endif // MOTIF_BASE_TD
