// RUN: motif-opt %s -split-input-file --kernel-assign-storage | FileCheck %s
// RUN: motif-opt %s -split-input-file --kernel-assign-storage=precision=fp32 | FileCheck %s --check-prefix=FP32
// RUN: not motif-opt %s -split-input-file --kernel-assign-storage=precision=fp8 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: unknown precision 'fp8' (expected bf16, fp32 or fp16)

// Under the recipe's bf16, floats are stored in bf16 except what stays f32:
// the returned loss and gradient, attention's log-sum-exp, the loss of
// cross-entropy, and the fixed-size partial sums of a gradient (walking the
// fused kernels backwards from f32 results). Integers keep their type.
module attributes {motif.train = {precision = "bf16"}} {
  // CHECK-LABEL: func.func @train_step
  // CHECK-SAME: %arg0: tensor<?x?x64xf32> {kernel.storage = bf16}
  // CHECK-SAME: %arg1: tensor<64x64xf32> {kernel.storage = bf16}
  // CHECK-SAME: %arg2: tensor<?x?xi32> {kernel.storage = i32}
  // FP32-LABEL: func.func @train_step
  // FP32-SAME: %arg0: tensor<?x?x64xf32> {kernel.storage = f32}
  // FP32-SAME: %arg2: tensor<?x?xi32> {kernel.storage = i32}
  func.func @train_step(%q: tensor<?x?x64xf32>, %w: tensor<64x64xf32>, %t: tensor<?x?xi32>) -> (tensor<f32> {motif.loss}, tensor<64x64xf32> {motif.grad = @w}) {
    // CHECK: kernel.attention {{.*}}kernel.storage = [bf16, f32]
    // FP32: kernel.attention {{.*}}kernel.storage = [f32, f32]
    %o, %lse = kernel.attention %q, %q, %q {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>)
    // CHECK: kernel.gemm {{.*}}kernel.storage = [bf16]
    %y = kernel.gemm %o, %w {transpose_b} : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
    // CHECK: motif.cross_entropy {{.*}}kernel.storage = [f32]
    %l = motif.cross_entropy %y, %t : (tensor<?x?x64xf32>, tensor<?x?xi32>) -> tensor<f32>
    // CHECK: motif.constant {{.*}}kernel.storage = [bf16]
    %one = motif.constant 1.000000e+00 : tensor<f32>
    // CHECK: motif.vjp {{.*}}kernel.storage = [bf16]
    %dy = motif.vjp "motif.cross_entropy"(%y, %t) outputs(%l) grads(%one) {fwd_attrs = {}, needs = array<i1: true, false>, saved = array<i1: true, true, false>} : (tensor<?x?x64xf32>, tensor<?x?xi32>, tensor<f32>, tensor<f32>) -> tensor<?x?x64xf32>
    // Three partial sums of the weight's gradient, added by two kernels:
    // CHECK-COUNT-3: kernel.gemm {{.*}}kernel.storage = [f32]
    %d1 = kernel.gemm %dy, %o {rows, transpose_a} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
    %d2 = kernel.gemm %dy, %q {rows, transpose_a} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
    %d3 = kernel.gemm %dy, %y {rows, transpose_a} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<64x64xf32>
    // The kernels' own block arguments and body are their workspace:
    // CHECK: kernel.fused
    // CHECK-SAME: kernel.arg_storage = {{\[}}[bf16, bf16]], kernel.storage = [f32]
    // CHECK: motif.add {{.*}}kernel.storage = [bf16]
    %s = kernel.fused (%d1, %d2) : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32> {
    ^bb0(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>):
      %r = motif.add %a, %b : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
      kernel.yield %r : tensor<64x64xf32>
    }
    // CHECK: kernel.fused{{.*}}kernel.storage = [f32]
    %dw = kernel.fused (%s, %d3) : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32> {
    ^bb0(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>):
      %r = motif.add %a, %b : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
      kernel.yield %r : tensor<64x64xf32>
    }
    // An activation-sized kernel next to them stays bf16:
    // CHECK: kernel.fused{{.*}}kernel.storage = [bf16]
    %h = kernel.fused (%dy) : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32> {
    ^bb0(%a: tensor<?x?x64xf32>):
      %r = motif.relu %a : tensor<?x?x64xf32>
      kernel.yield %r : tensor<?x?x64xf32>
    }
    return %l, %dw : tensor<f32>, tensor<64x64xf32>
  }
}

// -----

// Without a recipe every float is f32.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: {kernel.storage = f32}
// CHECK: motif.relu {{.*}}kernel.storage = [f32]
module {
  func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
    %r = motif.relu %x : tensor<?x8xf32>
    return %r : tensor<?x8xf32>
  }
}
