//===- motif-opt.cpp - mlir-opt with the Motif dialects and passes ---------===//
//
// Parses, verifies, transforms and prints `.mlir` files holding motif IR; it
// is what the lit tests of the dialect and of every pass run, and it runs
// motif-compile's whole pipeline as `--motif-pipeline="..."`.
//
//===----------------------------------------------------------------------===//
#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Target/Passes.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::motif {
/// `--motif-test-infer-types` (TestInferTypes.cpp), for lit tests only.
void registerTestInferTypesPass();
} // namespace mlir::motif

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  mlir::motif::registerMotifPasses();
  mlir::motif::registerMotifTargetPasses();
  mlir::motif::registerMotifPipeline();
  mlir::motif::registerTestInferTypesPass();
  mlir::DialectRegistry registry;
  registry.insert<mlir::motif::MotifDialect, mlir::kernel::KernelDialect,
                  mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Motif optimizer driver\n", registry));
}
