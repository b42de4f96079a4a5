//===- Passes.td - Motif compiler passes -------------------*- tablegen -*-===//
#ifndef MOTIF_COMPILER_TRANSFORMS_PASSES_TD
#define MOTIF_COMPILER_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MotifAutodiffPass : Pass<"motif-autodiff", "::mlir::ModuleOp"> {
  let summary = "Builds the train step: forward, loss and backward";
  let description = [{
    Clones `@forward` into `@train_step` and appends the backward: walking the
    forward ops in reverse, each op that leads from a trained parameter to the
    loss builds its vector-Jacobian product through MotifVJPOpInterface (so the
    pass knows no op by name). Gradients reaching a value more than once are
    summed. `@train_step` returns the loss and then one gradient per trained
    parameter, in declaration order, each marked `{motif.grad = @name}`.
    Frozen parameters and model inputs get no gradient; ops that lead to no
    trained parameter get no backward. The forward values the backward does not
    read are not referenced by it, so memory planning can free them.
  }];
  let dependentDialects = ["::mlir::motif::MotifDialect",
                           "::mlir::func::FuncDialect"];
  let options = [
    Option<"keepForward", "keep-forward", "bool", /*default=*/"true",
           "Keep @forward (for inference) beside @train_step">
  ];
}

#endif // MOTIF_COMPILER_TRANSFORMS_PASSES_TD
