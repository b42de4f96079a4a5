// RUN: motif-opt %s --kernel-plan-memory=dims=B=2,T=8 | FileCheck %s
// A result reuses the buffer of an operand that dies at its step when the op
// reads it where it writes (an elementwise kernel, a GEMM's residual), row by
// row (the cross-entropy backward), or only views it (a reshape).

// CHECK-LABEL: func.func @inplace
func.func @inplace(%x: tensor<?x?x16xf32> {motif.dims = ["B", "T", ""]}, %w: tensor<16x16xf32>, %t: tensor<?x?xi32> {motif.dims = ["B", "T"]})
    -> (tensor<?x?x16xf32>, tensor<?x?x16xf32>) {
  // CHECK: kernel.gemm {{.*}}kernel.mem = ["64*B*T live 0..1 at [[H:[0-9]+]]"]
  %h = kernel.gemm %x, %w {transpose_b} : (tensor<?x?x16xf32>, tensor<16x16xf32>) -> tensor<?x?x16xf32>
  // The gelu overwrites its input, which nothing reads after it:
  // CHECK: kernel.fused{{.*}}kernel.mem = ["64*B*T live 1..2 at [[H]] in place"]
  %a = kernel.fused (%h) : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  ^bb0(%v: tensor<?x?x16xf32>):
    %g = motif.gelu %v : tensor<?x?x16xf32>
    kernel.yield %g : tensor<?x?x16xf32>
  }
  // The residual dies at the GEMM, which writes over it:
  // CHECK: kernel.gemm {{.*}}residual{{.*}}kernel.mem = ["64*B*T live 2..3 at [[H]] in place"]
  %y = kernel.gemm %a, %w residual %a {transpose_b} : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // A reshape is a view of the buffer:
  // CHECK: motif.reshape {{.*}}kernel.mem = ["64*B*T live 3..4 at [[H]] in place"]
  %r = motif.reshape %y {shape = array<i64: -1, 16>} : (tensor<?x?x16xf32>) -> tensor<?x16xf32>
  %s = motif.reshape %r {shape = array<i64: 0, 4, 4>} : (tensor<?x16xf32>) -> tensor<?x4x4xf32>
  // The input %x is still needed (returned below), so nothing takes its place:
  // CHECK: kernel.fused{{.*}}kernel.mem = ["64*B*T live 5..8 at [[Z:[0-9]+]]"]
  %z = kernel.fused (%x) : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
  ^bb0(%v: tensor<?x?x16xf32>):
    %n = motif.neg %v : tensor<?x?x16xf32>
    kernel.yield %n : tensor<?x?x16xf32>
  }
  %l = motif.cross_entropy %z, %t : (tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<f32>
  %one = motif.constant 1.000000e+00 : tensor<f32>
  // dlogits overwrite the logits, read row by row first:
  // CHECK: motif.vjp "motif.cross_entropy"{{.*}}kernel.mem = ["64*B*T live 8..9 at [[Z]] in place"]
  %dz = motif.vjp "motif.cross_entropy"(%z, %t) outputs(%l) grads(%one) {fwd_attrs = {}, needs = array<i1: true, false>, saved = array<i1: true, true, false>} : (tensor<?x?x16xf32>, tensor<?x?xi32>, tensor<f32>, tensor<f32>) -> tensor<?x?x16xf32>
  return %x, %dz : tensor<?x?x16xf32>, tensor<?x?x16xf32>
}
