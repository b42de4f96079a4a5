// RUN: motif-opt %s --kernel-emit-cuda | FileCheck %s
// Every elementwise op of runtime/core/Elementwise.def is a call of the
// prelude's motif_<mnemonic> (add, sub, mul, div and neg print as C
// operators); the math is runtime/core/ElementwiseMath.h's.

// CHECK: kernel.cuda_source = "{{.*}}= motif_softplus({{.*}}= motif_gelu_tanh({{.*}}= motif_rsqrt({{.*}}= motif_maximum({{.*}}= motif_tanh(
// CHECK-NOT: kernel.cuda_unsupported
module {
  func.func @f(%x: tensor<?x8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
    %y = kernel.fused (%x, %b) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> {
    ^bb0(%a: tensor<?x8xf32>, %c: tensor<8xf32>):
      %s = motif.softplus %a : tensor<?x8xf32>
      %g = motif.gelu_tanh %s : tensor<?x8xf32>
      %r = motif.rsqrt %g : tensor<?x8xf32>
      %m = motif.maximum %r, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
      %t = motif.tanh %m : tensor<?x8xf32>
      %n = motif.neg %t : tensor<?x8xf32>
      kernel.yield %n : tensor<?x8xf32>
    }
    return %y : tensor<?x8xf32>
  }
}
