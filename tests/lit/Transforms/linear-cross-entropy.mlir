// RUN: motif-opt %s -split-input-file --kernel-fuse-linear-cross-entropy | FileCheck %s

// A train step's output projection, loss and backward: one chunked kernel.
// CHECK-LABEL: func.func @train_step
// Rows per chunk: about 64M logits at a time (capped at 65536 rows):
// CHECK: %[[L:.*]], %[[DX:.*]], %[[DW:.*]] = kernel.linear_cross_entropy %arg0, %arg1, %arg2 {chunk = 65536 : i64}
// CHECK-NOT: motif.cross_entropy
// CHECK-NOT: motif.vjp
// CHECK: return %[[L]], %[[DX]], %[[DW]]
func.func @train_step(%x: tensor<?x?x16xf32>, %w: tensor<64x16xf32>, %t: tensor<?x?xi32>) -> (tensor<f32>, tensor<?x?x16xf32>, tensor<64x16xf32>) {
  %logits = kernel.gemm %x, %w {transpose_b} : (tensor<?x?x16xf32>, tensor<64x16xf32>) -> tensor<?x?x64xf32>
  %l = motif.cross_entropy %logits, %t : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<f32>
  %one = motif.constant 1.000000e+00 {motif.backward_begins} : tensor<f32>
  %dl = motif.vjp "motif.cross_entropy"(%logits, %t) outputs(%l) grads(%one) {fwd_attrs = {}, needs = array<i1: true, false>, saved = array<i1: true, true, false>} : (tensor<?x?x64xf32>, tensor<?x?xi32>, tensor<f32>, tensor<f32>) -> tensor<?x?x64xf32>
  %dx = kernel.gemm %dl, %w : (tensor<?x?x64xf32>, tensor<64x16xf32>) -> tensor<?x?x16xf32>
  %dw = kernel.gemm %dl, %x {rows, transpose_a} : (tensor<?x?x64xf32>, tensor<?x?x16xf32>) -> tensor<64x16xf32>
  return %l, %dx, %dw : tensor<f32>, tensor<?x?x16xf32>, tensor<64x16xf32>
}

// -----

// Logits that are also an output (the forward) stay.
// CHECK-LABEL: func.func @forward
// CHECK: kernel.gemm
// CHECK: motif.cross_entropy
func.func @forward(%x: tensor<?x?x16xf32>, %w: tensor<64x16xf32>, %t: tensor<?x?xi32>) -> (tensor<?x?x64xf32>, tensor<f32>) {
  %logits = kernel.gemm %x, %w {transpose_b} : (tensor<?x?x16xf32>, tensor<64x16xf32>) -> tensor<?x?x64xf32>
  %l = motif.cross_entropy %logits, %t : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %logits, %l : tensor<?x?x64xf32>, tensor<f32>
}

// -----

// A loss whose gradient is not the backward's seed (it is scaled) stays.
// CHECK-LABEL: func.func @scaled
// CHECK: motif.vjp "motif.cross_entropy"
func.func @scaled(%x: tensor<?x16xf32>, %w: tensor<64x16xf32>, %t: tensor<?xi32>) -> tensor<64x16xf32> {
  %logits = kernel.gemm %x, %w {transpose_b} : (tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32>
  %l = motif.cross_entropy %logits, %t : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<f32>
  %half = motif.constant 5.000000e-01 {motif.backward_begins} : tensor<f32>
  %dl = motif.vjp "motif.cross_entropy"(%logits, %t) outputs(%l) grads(%half) {fwd_attrs = {}, needs = array<i1: true, false>, saved = array<i1: true, true, false>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<f32>, tensor<f32>) -> tensor<?x64xf32>
  %dw = kernel.gemm %dl, %x {rows, transpose_a} : (tensor<?x64xf32>, tensor<?x16xf32>) -> tensor<64x16xf32>
  return %dw : tensor<64x16xf32>
}
