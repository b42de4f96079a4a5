// RUN: motif-opt %s -split-input-file --motif-lower-to-kernel | FileCheck %s
// RUN: motif-opt %s -split-input-file --motif-lower-to-kernel --kernel-plan-memory=dims=B=2,T=3 | FileCheck %s --check-prefix=MEM

// A tied table (the embedding's and the head's weight): the sum of its two
// gradients becomes the embedding's rows added into the head's gradient, in
// place; no dense embedding gradient, no add.
// CHECK-LABEL: func.func @tied
// CHECK: %[[DW:.*]] = kernel.gemm %arg3, %arg2 {rows, transpose_a}
// CHECK-NEXT: %[[SUM:.*]] = kernel.embedding_grad_add %[[DW]], %arg0, %arg4 : (tensor<11x6xf32>, tensor<?x?xi32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
// CHECK-NOT: motif.vjp
// CHECK-NOT: kernel.fused
// CHECK: return %[[SUM]]
// MEM-LABEL: func.func @tied
// MEM: kernel.gemm %arg3, %arg2 {kernel.mem = ["264 live 2..3 at [[G:[0-9]+]]"]
// MEM: kernel.embedding_grad_add {{.*}}kernel.mem = ["264 live 3..4 at [[G]] in place"]
func.func @tied(%ids: tensor<?x?xi32> {motif.dims = ["B", "T"]}, %w: tensor<11x6xf32>,
                %h: tensor<?x?x6xf32> {motif.dims = ["B", "T", ""]},
                %dlogits: tensor<?x?x11xf32> {motif.dims = ["B", "T", ""]},
                %dy: tensor<?x?x6xf32> {motif.dims = ["B", "T", ""]}) -> tensor<11x6xf32> {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %logits = motif.linear %h, %w : (tensor<?x?x6xf32>, tensor<11x6xf32>) -> tensor<?x?x11xf32>
  %dw = motif.vjp "motif.linear"(%h, %w) outputs(%logits) grads(%dlogits) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?x6xf32>, tensor<11x6xf32>, tensor<?x?x11xf32>, tensor<?x?x11xf32>) -> tensor<11x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>, saved = array<i1: true, false, false>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %sum = motif.add %dw, %de : (tensor<11x6xf32>, tensor<11x6xf32>) -> tensor<11x6xf32>
  return %sum : tensor<11x6xf32>
}

// -----

// Either order of the addends.
// CHECK-LABEL: func.func @tied_swapped
// CHECK: %[[DW:.*]] = kernel.gemm %arg3, %arg2 {rows, transpose_a}
// CHECK-NEXT: kernel.embedding_grad_add %[[DW]], %arg0, %arg4
func.func @tied_swapped(%ids: tensor<?x?xi32>, %w: tensor<11x6xf32>, %h: tensor<?x?x6xf32>,
                        %dlogits: tensor<?x?x11xf32>, %dy: tensor<?x?x6xf32>) -> tensor<11x6xf32> {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %logits = motif.linear %h, %w : (tensor<?x?x6xf32>, tensor<11x6xf32>) -> tensor<?x?x11xf32>
  %dw = motif.vjp "motif.linear"(%h, %w) outputs(%logits) grads(%dlogits) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?x6xf32>, tensor<11x6xf32>, tensor<?x?x11xf32>, tensor<?x?x11xf32>) -> tensor<11x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %sum = motif.add %de, %dw : (tensor<11x6xf32>, tensor<11x6xf32>) -> tensor<11x6xf32>
  return %sum : tensor<11x6xf32>
}

// -----

// Untied: the embedding's gradient is the table's only one; it stays the
// dense backward.
// CHECK-LABEL: func.func @untied
// CHECK-NOT: kernel.embedding_grad_add
// CHECK: motif.vjp "motif.embedding"
func.func @untied(%ids: tensor<?x?xi32>, %w: tensor<11x6xf32>, %dy: tensor<?x?x6xf32>) -> tensor<11x6xf32> {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  return %de : tensor<11x6xf32>
}

// -----

// The dense embedding gradient has another user: it must exist, so the add
// stays.
// CHECK-LABEL: func.func @dense_read_elsewhere
// CHECK-NOT: kernel.embedding_grad_add
// CHECK: motif.vjp "motif.embedding"
// CHECK: kernel.fused
func.func @dense_read_elsewhere(%ids: tensor<?x?xi32>, %w: tensor<11x6xf32>, %h: tensor<?x?x6xf32>,
                                %dlogits: tensor<?x?x11xf32>, %dy: tensor<?x?x6xf32>)
    -> (tensor<11x6xf32>, tensor<11x6xf32>) {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %logits = motif.linear %h, %w : (tensor<?x?x6xf32>, tensor<11x6xf32>) -> tensor<?x?x11xf32>
  %dw = motif.vjp "motif.linear"(%h, %w) outputs(%logits) grads(%dlogits) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?x6xf32>, tensor<11x6xf32>, tensor<?x?x11xf32>, tensor<?x?x11xf32>) -> tensor<11x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %sum = motif.add %dw, %de : (tensor<11x6xf32>, tensor<11x6xf32>) -> tensor<11x6xf32>
  return %sum, %de : tensor<11x6xf32>, tensor<11x6xf32>
}

// -----

// The other gradient has another user: writing into it would change what
// that user reads, so the add stays.
// CHECK-LABEL: func.func @other_read_elsewhere
// CHECK-NOT: kernel.embedding_grad_add
// CHECK: motif.vjp "motif.embedding"
// CHECK: kernel.fused
func.func @other_read_elsewhere(%ids: tensor<?x?xi32>, %w: tensor<11x6xf32>, %h: tensor<?x?x6xf32>,
                                %dlogits: tensor<?x?x11xf32>, %dy: tensor<?x?x6xf32>)
    -> (tensor<11x6xf32>, tensor<11x6xf32>) {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %logits = motif.linear %h, %w : (tensor<?x?x6xf32>, tensor<11x6xf32>) -> tensor<?x?x11xf32>
  %dw = motif.vjp "motif.linear"(%h, %w) outputs(%logits) grads(%dlogits) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?x6xf32>, tensor<11x6xf32>, tensor<?x?x11xf32>, tensor<?x?x11xf32>) -> tensor<11x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %sum = motif.add %dw, %de : (tensor<11x6xf32>, tensor<11x6xf32>) -> tensor<11x6xf32>
  return %sum, %dw : tensor<11x6xf32>, tensor<11x6xf32>
}

// -----

// The other addend is not made by an op of the function (an argument, a
// parameter): it is not the function's to overwrite.
// CHECK-LABEL: func.func @other_is_argument
// CHECK-NOT: kernel.embedding_grad_add
// CHECK: motif.vjp "motif.embedding"
func.func @other_is_argument(%ids: tensor<?x?xi32>, %w: tensor<11x6xf32>, %g: tensor<11x6xf32>,
                             %dy: tensor<?x?x6xf32>) -> tensor<11x6xf32> {
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<11x6xf32>) -> tensor<?x?x6xf32>
  %de = motif.vjp "motif.embedding"(%ids, %w) outputs(%e) grads(%dy) {fwd_attrs = {}, needs = array<i1: false, true>}
      : (tensor<?x?xi32>, tensor<11x6xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %sum = motif.add %g, %de : (tensor<11x6xf32>, tensor<11x6xf32>) -> tensor<11x6xf32>
  return %sum : tensor<11x6xf32>
}
