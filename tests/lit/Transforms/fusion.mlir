// RUN: motif-opt %s -split-input-file --kernel-fuse | FileCheck %s
// RUN: motif-opt %s -split-input-file --kernel-fuse=epilogues=false | FileCheck %s --check-prefix=NOEPI

// An activation the backward does not read folds into the GEMM's epilogue.
// CHECK-LABEL: func.func @activation
// CHECK: %[[D:.*]] = kernel.gemm %arg0, %arg1 bias %arg2 {epilogue = #kernel.epilogue<gelu_tanh>, transpose_b}
// CHECK-NOT: kernel.fused
// CHECK: return %[[D]]
// NOEPI: kernel.gemm %arg0, %arg1 bias %arg2 {transpose_b}
// NOEPI: kernel.fused
func.func @activation(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %h = kernel.gemm %x, %w bias %b {transpose_b} : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %a = kernel.fused (%h) : (tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%v: tensor<?x16xf32>):
    %g = motif.gelu_tanh %v : tensor<?x16xf32>
    kernel.yield %g : tensor<?x16xf32>
  }
  return %a : tensor<?x16xf32>
}

// -----

// When the backward reads the GEMM's output (the gelu's saved input), the
// activation still folds, and the GEMM also writes the pre-activation for
// the backward (keep_pre, cuBLASLt's GELU_AUX).
// CHECK-LABEL: func.func @saved
// CHECK: %[[A:.*]], %[[PRE:.*]] = kernel.gemm %arg0, %arg1 {epilogue = #kernel.epilogue<gelu>, keep_pre, transpose_b}
// CHECK-NOT: kernel.fused
// CHECK: motif.vjp "motif.gelu"(%[[PRE]]) outputs(%[[A]])
// NOEPI-LABEL: func.func @saved
// NOEPI: kernel.fused
func.func @saved(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %dy: tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %h = kernel.gemm %x, %w {transpose_b} : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  %a = kernel.fused (%h) : (tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%v: tensor<?x16xf32>):
    %g = motif.gelu %v : tensor<?x16xf32>
    kernel.yield %g : tensor<?x16xf32>
  }
  %dh = motif.vjp "motif.gelu"(%h) outputs(%a) grads(%dy) {fwd_attrs = {}, needs = array<i1: true>, saved = array<i1: true, false>} : (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %a, %dh : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// A residual add folds into the epilogue; the add's vjp, which reads the
// GEMM's output for its shape only, now reads the sum (same type).
// CHECK-LABEL: func.func @residual
// CHECK: %[[D:.*]] = kernel.gemm %arg1, %arg2 residual %arg0 {transpose_b}
// CHECK-NOT: kernel.fused
// CHECK: motif.vjp "motif.add"(%arg0, %[[D]]) outputs(%[[D]])
func.func @residual(%r: tensor<?x16xf32>, %x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %dy: tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %h = kernel.gemm %x, %w {transpose_b} : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  %s = kernel.fused (%r, %h) : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%a: tensor<?x16xf32>, %b: tensor<?x16xf32>):
    %t = motif.add %a, %b : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
    kernel.yield %t : tensor<?x16xf32>
  }
  %g:2 = motif.vjp "motif.add"(%r, %h) outputs(%s) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true>, saved = array<i1: false, false, false>} : (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>)
  return %s, %g#1 : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// A vector of the last dim added after the GEMM becomes its bias.
// CHECK-LABEL: func.func @bias
// CHECK: kernel.gemm %arg0, %arg1 bias %arg2 {transpose_b}
// CHECK-NOT: kernel.fused
func.func @bias(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %h = kernel.gemm %x, %w {transpose_b} : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  %y = kernel.fused (%h, %b) : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32> {
  ^bb0(%a: tensor<?x16xf32>, %c: tensor<16xf32>):
    %t = motif.add %a, %c : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
    kernel.yield %t : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

// -----

// An elementwise chain becomes one kernel; an intermediate read later (the
// silu, which the product's backward saves) becomes a second result.
// CHECK-LABEL: func.func @swiglu
// CHECK: %[[F:.*]]:2 = kernel.fused(%arg0, %arg1) : (tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
// CHECK: %[[S:.*]] = motif.silu
// CHECK: %[[M:.*]] = motif.mul %[[S]]
// CHECK: kernel.yield %[[M]], %[[S]]
// CHECK: motif.vjp "motif.mul"(%[[F]]#1, %arg1) outputs(%[[F]]#0)
func.func @swiglu(%g: tensor<?x8xf32>, %u: tensor<?x8xf32>, %dy: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %s = kernel.fused (%g) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    %t = motif.silu %a : tensor<?x8xf32>
    kernel.yield %t : tensor<?x8xf32>
  }
  %m = kernel.fused (%s, %u) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>):
    %t = motif.mul %a, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    kernel.yield %t : tensor<?x8xf32>
  }
  %d:2 = motif.vjp "motif.mul"(%s, %u) outputs(%m) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true>, saved = array<i1: true, true, false>} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return %m, %d#0 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// No merge when a reader of the producer comes before the consumer: the
// merged kernel would have to run before its own input exists.
// CHECK-LABEL: func.func @order
// CHECK: kernel.fused(%arg0)
// CHECK: motif.softmax
// CHECK: kernel.fused
func.func @order(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %e = kernel.fused (%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    %t = motif.exp %a : tensor<?x8xf32>
    kernel.yield %t : tensor<?x8xf32>
  }
  %p = motif.softmax %e : tensor<?x8xf32>
  %y = kernel.fused (%e, %p) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>):
    %t = motif.mul %a, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    kernel.yield %t : tensor<?x8xf32>
  }
  return %y : tensor<?x8xf32>
}

// -----

// Softmax with cross-entropy is one kernel already, forward and backward:
// nothing to fuse.
// CHECK-LABEL: func.func @loss
// CHECK: motif.cross_entropy %arg0, %arg1
// CHECK-NOT: kernel.fused
func.func @loss(%l: tensor<?x16xf32>, %t: tensor<?xi32>) -> tensor<f32> {
  %c = motif.cross_entropy %l, %t : (tensor<?x16xf32>, tensor<?xi32>) -> tensor<f32>
  return %c : tensor<f32>
}

// -----

// A residual add that no GEMM took (here after a moe), then the norm of the
// sum: one kernel writing both; the norm's backward reads the sum.
// CHECK-LABEL: func.func @add_norm
// CHECK: %[[S:.*]], %[[Y:.*]] = kernel.add_norm %arg0, %arg1 weight %arg2 {eps = 1.000000e-05 : f64, kind = "rms"}
// CHECK-NOT: kernel.fused
// CHECK: motif.vjp "motif.rms_norm"(%[[S]], %arg2) outputs(%[[Y]])
// CHECK: return %[[S]], %[[Y]]
func.func @add_norm(%x: tensor<?x8xf32>, %r: tensor<?x8xf32>, %w: tensor<8xf32>, %dy: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %s = kernel.fused (%x, %r) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>):
    %t = motif.add %a, %b : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    kernel.yield %t : tensor<?x8xf32>
  }
  %y = motif.rms_norm %s, %w {eps = 1.000000e-05 : f64} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %d:2 = motif.vjp "motif.rms_norm"(%s, %w) outputs(%y) grads(%dy) {fwd_attrs = {eps = 1.000000e-05 : f64}, needs = array<i1: true, true>, saved = array<i1: true, true, false>} : (tensor<?x8xf32>, tensor<8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<8xf32>)
  return %s, %y, %d#0 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
