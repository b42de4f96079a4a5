// RUN: motif-opt %s --kernel-emit-cuda | FileCheck %s
// Emission is a pass: each fused op gets the name of the kernel that
// computes it and how it reads its inputs (0 same shape, 1 trailing dims),
// and the module records the CUDA translation unit and the fused ops that
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
}
