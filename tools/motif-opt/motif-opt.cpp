//===- motif-opt.cpp - mlir-opt with the Motif dialects and passes ---------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/motif/MotifDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  mlir::motif::registerMotifPasses();
  mlir::DialectRegistry registry;
  registry.insert<mlir::motif::MotifDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Motif optimizer driver\n", registry));
}
