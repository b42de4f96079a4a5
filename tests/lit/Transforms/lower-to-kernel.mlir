// RUN: motif-opt %s -split-input-file --motif-lower-to-kernel | FileCheck %s

// A linear becomes a GEMM with the bias in its epilogue; its backward is one
// GEMM for dx and one for dW that sums over every row and makes db on the way.
// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<?x?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %dy: tensor<?x?x4xf32>)
    -> (tensor<?x?x4xf32>, tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) {
  // CHECK: %[[Y:.*]] = kernel.gemm %arg0, %arg1 bias %arg2 {transpose_b} : (tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
  %y = motif.linear %x, %w, %b : (tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
  // CHECK: %[[DX:.*]] = kernel.gemm %arg3, %arg1 : (tensor<?x?x4xf32>, tensor<4x8xf32>) -> tensor<?x?x8xf32>
  // CHECK: %[[DW:.*]], %[[DB:.*]] = kernel.gemm %arg3, %arg0 {bias_grad, rows, transpose_a} : (tensor<?x?x4xf32>, tensor<?x?x8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
  // CHECK-NOT: motif.vjp
  %g:3 = motif.vjp "motif.linear"(%x, %w, %b) outputs(%y) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true, true>}
      : (tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>)
  // CHECK: return %[[Y]], %[[DX]], %[[DW]], %[[DB]]
  return %y, %g#0, %g#1, %g#2 : tensor<?x?x4xf32>, tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>
}

// -----

// Only the gradients asked for are made: a frozen input gets no dx GEMM.
// CHECK-LABEL: func.func @weight_only
func.func @weight_only(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %dy: tensor<?x4xf32>) -> tensor<4x8xf32> {
  %y = motif.linear %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  // CHECK: kernel.gemm %arg0, %arg1 {transpose_b}
  // CHECK-NEXT: %[[DW:.*]] = kernel.gemm %arg2, %arg0 {rows, transpose_a} : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: return %[[DW]]
  %g = motif.vjp "motif.linear"(%x, %w) outputs(%y) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<4x8xf32>
  return %g : tensor<4x8xf32>
}

// -----

// A matmul with a 2-D right operand: both gradients are GEMMs. A batched right
// operand keeps its library backward (it sums over broadcast batch dims).
// CHECK-LABEL: func.func @matmul
func.func @matmul(%a: tensor<?x3x8xf32>, %b: tensor<8x5xf32>, %c2: tensor<?x8x5xf32>, %dc: tensor<?x3x5xf32>)
    -> (tensor<?x3x8xf32>, tensor<8x5xf32>, tensor<?x3x5xf32>) {
  // CHECK: %[[C:.*]] = kernel.gemm %arg0, %arg1 : (tensor<?x3x8xf32>, tensor<8x5xf32>) -> tensor<?x3x5xf32>
  %c = motif.matmul %a, %b : (tensor<?x3x8xf32>, tensor<8x5xf32>) -> tensor<?x3x5xf32>
  // CHECK: kernel.gemm %arg0, %arg2 : (tensor<?x3x8xf32>, tensor<?x8x5xf32>) -> tensor<?x3x5xf32>
  %d = motif.matmul %a, %c2 : (tensor<?x3x8xf32>, tensor<?x8x5xf32>) -> tensor<?x3x5xf32>
  // CHECK: %[[DA:.*]] = kernel.gemm %arg3, %arg1 {transpose_b} : (tensor<?x3x5xf32>, tensor<8x5xf32>) -> tensor<?x3x8xf32>
  // CHECK: %[[DB:.*]] = kernel.gemm %arg0, %arg3 {rows, transpose_a} : (tensor<?x3x8xf32>, tensor<?x3x5xf32>) -> tensor<8x5xf32>
  %g:2 = motif.vjp "motif.matmul"(%a, %b) outputs(%c) grads(%dc) {fwd_attrs = {}, needs = array<i1: true, true>}
      : (tensor<?x3x8xf32>, tensor<8x5xf32>, tensor<?x3x5xf32>, tensor<?x3x5xf32>) -> (tensor<?x3x8xf32>, tensor<8x5xf32>)
  // CHECK: motif.vjp "motif.matmul"
  %h = motif.vjp "motif.matmul"(%a, %c2) outputs(%d) grads(%dc) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x3x8xf32>, tensor<?x8x5xf32>, tensor<?x3x5xf32>, tensor<?x3x5xf32>) -> tensor<?x8x5xf32>
  return %g#0, %g#1, %c : tensor<?x3x8xf32>, tensor<8x5xf32>, tensor<?x3x5xf32>
}

// -----

// Attention becomes the tiled kernel, which also gives the log-sum-exp that
// its backward reads; tiles are 0 until the tiling pass chooses them.
// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x32xf32>, %do: tensor<?x?x64xf32>)
    -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>) {
  // CHECK: %[[O:.*]], %[[LSE:.*]] = kernel.attention %arg0, %arg1, %arg2 {heads = 4 : i64, kv_heads = 2 : i64, window = 16 : i64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>)
  %o = motif.attention %q, %k, %v {heads = 4 : i64, kv_heads = 2 : i64, window = 16 : i64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  // CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = kernel.attention_grad %arg0, %arg1, %arg2 out %[[O]] lse %[[LSE]] grad %arg3
  %g:3 = motif.vjp "motif.attention"(%q, %k, %v) outputs(%o) grads(%do) {fwd_attrs = {heads = 4 : i64, kv_heads = 2 : i64, window = 16 : i64}, needs = array<i1: true, true, true>}
      : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>)
  // CHECK: return %[[O]], %[[DK]]
  return %o, %g#1 : tensor<?x?x64xf32>, tensor<?x?x32xf32>
}

// -----

// Each elementwise op becomes a fused kernel of one op. The backward of an
// add without broadcasting is the incoming gradient itself; of a sub, its
// negation; a broadcast add keeps its library backward (a reduction).
// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>, %c: tensor<8xf32>, %dy: tensor<?x8xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>) {
  // CHECK: %[[S:.*]] = kernel.fused(%arg0, %arg1) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<?x8xf32>, %[[Y:.*]]: tensor<?x8xf32>):
  // CHECK-NEXT: %[[D:.*]] = motif.sub %[[X]], %[[Y]]
  // CHECK-NEXT: kernel.yield %[[D]]
  %s = motif.sub %a, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: kernel.fused(%[[S]], %arg2)
  // CHECK: motif.add
  %t = motif.add %s, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %g:2 = motif.vjp "motif.sub"(%a, %b) outputs(%s) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true>}
      : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  // CHECK: %[[NEG:.*]] = kernel.fused(%arg3)
  // CHECK: motif.neg
  // CHECK: %[[H:.*]]:2 = motif.vjp "motif.add"
  %h:2 = motif.vjp "motif.add"(%s, %c) outputs(%t) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true>}
      : (tensor<?x8xf32>, tensor<8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<8xf32>)
  // CHECK: return %arg3, %[[NEG]], %[[H]]#0, %[[H]]#1
  return %g#0, %g#1, %h#0, %h#1 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>
}
