// RUN: motif-opt %s --kernel-plan-memory=dims=B=2,T=8 | FileCheck %s
// RUN: motif-opt %s --kernel-plan-memory | FileCheck %s --check-prefix=RECIPE
// Each buffer's size is a polynomial in the inputs' symbolic dims; it lives
// from the step that writes it to the last step that reads its data. A vjp
// that reads a value for its shape only (saved = false) does not keep it.

module attributes {motif.train = {batch = 4 : i64, sequence = 16 : i64}} {
  motif.param @w : tensor<16x8xf32> init #motif.init<normal, std = 2.000000e-02>
  // CHECK-LABEL: func.func @step
  // CHECK-SAME: kernel.arena = {at = "B=2, T=8", bytes = 4096 : i64, dims = array<i64: 2, 8>, without_reuse = 5632 : i64}
  // RECIPE: kernel.arena = {at = "B=4, T=16", bytes = 14848 : i64, dims = array<i64: 4, 16>, without_reuse = 20992 : i64}
  func.func @step(%x: tensor<?x?x8xf32> {motif.dims = ["B", "T", ""]}, %dy: tensor<?x?x16xf32> {motif.dims = ["B", "T", ""]})
      -> (tensor<?x?x8xf32>, tensor<16x8xf32>) {
    // CHECK: motif.get_param @w {{.*}}kernel.mem = ["512 param"]
    %w = motif.get_param @w : tensor<16x8xf32>
    // The GEMM's output is read by the gelu, and by the gelu's vjp, which
    // saves it:
    // CHECK: kernel.gemm {{.*}}kernel.mem = ["64*B*T live 1..3 at 1024"]
    %h = kernel.gemm %x, %w {transpose_b} : (tensor<?x?x8xf32>, tensor<16x8xf32>) -> tensor<?x?x16xf32>
    // The gelu's output reaches the vjp for its shape only, so it dies at once:
    // CHECK: kernel.fused{{.*}}kernel.mem = ["64*B*T live 2..2 at 2048"]
    %a = kernel.fused (%h) : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32> {
    ^bb0(%v: tensor<?x?x16xf32>):
      %g = motif.gelu %v : tensor<?x?x16xf32>
      kernel.yield %g : tensor<?x?x16xf32>
    }
    // and its buffer is reused by the vjp's result:
    // CHECK: motif.vjp "motif.gelu"{{.*}}kernel.mem = ["64*B*T live 3..5 at 2048"]
    %da = motif.vjp "motif.gelu"(%h) outputs(%a) grads(%dy) {fwd_attrs = {}, needs = array<i1: true>, saved = array<i1: true, false>}
        : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
    // CHECK: kernel.gemm {{.*}}kernel.mem = ["32*B*T live 4..6 at 0"]
    %dx = kernel.gemm %da, %w : (tensor<?x?x16xf32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    // The placement holds for every B and T: the 512-byte weight gradient does
    // not fit between %dx (32*B*T) and %da (at 64*B*T) when B*T is small, so
    // it goes above both (at B=2, T=8: 3584).
    // CHECK: kernel.gemm {{.*}}kernel.mem = ["512 live 5..6 at 3584"]
    %dw = kernel.gemm %da, %x {rows, transpose_a} : (tensor<?x?x16xf32>, tensor<?x?x8xf32>) -> tensor<16x8xf32>
    return %dx, %dw : tensor<?x?x8xf32>, tensor<16x8xf32>
  }
}
