// RUN: motif-opt %s --kernel-emit-cuda | FileCheck %s
// Emission is a pass: each fused op gets the name of the kernel that
// computes it and how it reads its inputs (0 same shape, 1 trailing dims,
// 3 inner: a per-head value against [B, T, H, P]; then, where a result is
// smaller than the loop's, per result), and the module records the CUDA translation unit and the fused ops that
// got no kernel, with the reason.

// CHECK: module attributes {kernel.cuda_source = "{{.*}}motif_fused_0{{.*}}motif_fused_0_bf16{{.*}}", kernel.cuda_unsupported = ["it writes tensor<?x8xbf16> (generated kernels are f32 for now)"]}
module {
  // CHECK-LABEL: func.func @f
  func.func @f(%x: tensor<?x8xf32>, %b: tensor<8xf32>, %i: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xbf16>) {
    // CHECK: kernel.fused
    // CHECK-SAME: kernel.bcast = array<i64: 0, 1>, kernel.name = "motif_fused_0"
    %y = kernel.fused (%x, %b) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> {
    ^bb0(%a: tensor<?x8xf32>, %c: tensor<8xf32>):
      %s = motif.add %a, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
      kernel.yield %s : tensor<?x8xf32>
    }
    // The same kernel again is emitted once:
    // CHECK: kernel.fused
    // CHECK-SAME: kernel.name = "motif_fused_0"
    %z = kernel.fused (%y, %b) : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> {
    ^bb0(%a: tensor<?x8xf32>, %c: tensor<8xf32>):
      %s = motif.add %a, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
      kernel.yield %s : tensor<?x8xf32>
    }
    // CHECK: kernel.fused
    // CHECK-NOT: kernel.name
    // CHECK: return
    %j = kernel.fused (%i) : (tensor<?x8xf32>) -> tensor<?x8xbf16> {
    ^bb0(%a: tensor<?x8xf32>):
      %n = motif.cast %a : tensor<?x8xf32> -> tensor<?x8xbf16>
      kernel.yield %n : tensor<?x8xbf16>
    }
    return %y, %z, %j : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xbf16>
  }

  // Mamba-2's per-head values: x [B, T, H, P] times dt [B, T, H, 1] and D
  // [H, 1] read at (i / P) mod their size; the per-head decay -exp(A_log)
  // [H] kept beside dt * decay [B, T, H] (a smaller result, written by the
  // elements below its size).
  // CHECK-LABEL: func.func @per_head
  func.func @per_head(%x: tensor<?x?x4x8xf32>, %dt: tensor<?x?x4x1xf32>, %d: tensor<4x1xf32>,
                      %a: tensor<4xf32>, %t: tensor<?x?x4xf32>) -> (tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<4xf32>) {
    // CHECK: kernel.fused
    // CHECK-SAME: kernel.bcast = array<i64: 0, 3, 3>
    %y = kernel.fused (%x, %dt, %d) : (tensor<?x?x4x8xf32>, tensor<?x?x4x1xf32>, tensor<4x1xf32>) -> tensor<?x?x4x8xf32> {
    ^bb0(%a0: tensor<?x?x4x8xf32>, %a1: tensor<?x?x4x1xf32>, %a2: tensor<4x1xf32>):
      %m = motif.mul %a0, %a1 : (tensor<?x?x4x8xf32>, tensor<?x?x4x1xf32>) -> tensor<?x?x4x8xf32>
      %s = motif.add %m, %a2 : (tensor<?x?x4x8xf32>, tensor<4x1xf32>) -> tensor<?x?x4x8xf32>
      kernel.yield %s : tensor<?x?x4x8xf32>
    }
    // CHECK: kernel.fused
    // CHECK-SAME: kernel.bcast = array<i64: 1, 0, 0, 1>
    %u, %v = kernel.fused (%a, %t) : (tensor<4xf32>, tensor<?x?x4xf32>) -> (tensor<?x?x4xf32>, tensor<4xf32>) {
    ^bb0(%b0: tensor<4xf32>, %b1: tensor<?x?x4xf32>):
      %e = motif.exp %b0 : tensor<4xf32>
      %n = motif.neg %e : tensor<4xf32>
      %p = motif.mul %b1, %n : (tensor<?x?x4xf32>, tensor<4xf32>) -> tensor<?x?x4xf32>
      kernel.yield %p, %n : tensor<?x?x4xf32>, tensor<4xf32>
    }
    return %y, %u, %v : tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<4xf32>
  }
}
