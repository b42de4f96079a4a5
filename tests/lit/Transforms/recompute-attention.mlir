// RUN: motif-opt %s --kernel-recompute-attention | FileCheck %s
// The backward reads a copy of the attention made right before its first
// backward read (here the projection's weight gradient), so the forward's
// output dies after the forward.

// CHECK-LABEL: func.func @train_step
func.func @train_step(%q: tensor<?x?x64xf32>, %w: tensor<64x64xf32>, %t: tensor<?x?xi32>) -> (tensor<f32>, tensor<64x64xf32>, tensor<?x?x64xf32>) {
  // CHECK: %[[O:.*]], %[[L:.*]] = kernel.attention %arg0, %arg0, %arg0
  %o, %lse = kernel.attention %q, %q, %q {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>)
  // CHECK: %[[Y:.*]] = kernel.gemm %[[O]], %arg1
  %y = kernel.gemm %o, %w {transpose_b} : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  %l = motif.cross_entropy %y, %t : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<f32>
  // CHECK: motif.constant {{.*}}motif.backward_begins
  %one = motif.constant 1.000000e+00 {motif.backward_begins} : tensor<f32>
  %dy = motif.vjp "motif.cross_entropy"(%y, %t) outputs(%l) grads(%one) {fwd_attrs = {}, needs = array<i1: true, false>, saved = array<i1: true, true, false>} : (tensor<?x?x64xf32>, tensor<?x?xi32>, tensor<f32>, tensor<f32>) -> tensor<?x?x64xf32>
  // CHECK: %[[O2:.*]], %[[L2:.*]] = kernel.attention %arg0, %arg0, %arg0 {{{.*}}kernel.recomputed
  // CHECK-NEXT: %[[DW:.*]] = kernel.gemm %{{.*}}, %[[O2]] {rows, transpose_a}
  %dw = kernel.gemm %dy, %o {rows, transpose_a} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
  %do = kernel.gemm %dy, %w : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
  // CHECK: kernel.attention_grad %arg0, %arg0, %arg0 out %[[O2]] lse %[[L2]]
  %dq, %dk, %dv = kernel.attention_grad %q, %q, %q out %o lse %lse grad %do {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x4x?xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>)
  // The forward's own uses keep the first result (the projection above); a
  // returned value lives to the end anyway, so it reads the copy:
  // CHECK: return %{{.*}}, %[[DW]], %[[O2]] :
  return %l, %dw, %o : tensor<f32>, tensor<64x64xf32>, tensor<?x?x64xf32>
}
