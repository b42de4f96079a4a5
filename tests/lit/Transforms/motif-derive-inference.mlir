// RUN: motif-opt %s --motif-derive-inference | FileCheck %s --enable-var-scope
// RUN: motif-opt %s --motif-derive-inference="context=8" | FileCheck %s --check-prefix=CTX

// A model with learned positions, rope on q and k, and a grouped-query
// attention (2 heads, 1 KV head) with a window of 4: @prefill fills a ring
// buffer of the window for the KV head only; @decode_step reads and extends
// it at each sequence's own position.

module attributes {motif.config = {ctx = 32 : i64, d = 8 : i64, vocab = 16 : i64}, motif.model = "small"} {
  motif.param @wte.weight : tensor<16x8xf32> init <normal, std = 2.000000e-02>
  motif.param @wpe.weight : tensor<32x8xf32> init <normal, std = 2.000000e-02>
  motif.param @wq.weight : tensor<8x8xf32> init <normal, std = 2.000000e-02>
  motif.param @wk.weight : tensor<4x8xf32> init <normal, std = 2.000000e-02>
  motif.param @wv.weight : tensor<4x8xf32> init <normal, std = 2.000000e-02>
  motif.param @head.weight : tensor<16x8xf32> init <normal, std = 2.000000e-02>
  func.func @forward(%arg0: tensor<?x?xi32> {motif.dims = ["B", "T"], motif.name = "tokens"}, %arg1: tensor<?x?xi32> {motif.dims = ["B", "T"], motif.name = "targets"}) -> (tensor<?x?x16xf32> {motif.name = "logits"}, tensor<f32> {motif.loss}) {
    %0 = motif.get_param @wte.weight : tensor<16x8xf32>
    %1 = motif.embedding %arg0, %0 : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
    %2 = motif.positions %arg0 : tensor<?x?xi32> -> tensor<?xi32>
    %3 = motif.get_param @wpe.weight : tensor<32x8xf32>
    %4 = motif.embedding %2, %3 : (tensor<?xi32>, tensor<32x8xf32>) -> tensor<?x8xf32>
    %5 = motif.add %1, %4 : (tensor<?x?x8xf32>, tensor<?x8xf32>) -> tensor<?x?x8xf32>
    %6 = motif.get_param @wq.weight : tensor<8x8xf32>
    %7 = motif.linear %5, %6 : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
    %8 = motif.rope %7 {heads = 2 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
    %9 = motif.get_param @wk.weight : tensor<4x8xf32>
    %10 = motif.linear %5, %9 : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
    %11 = motif.rope %10 {heads = 1 : i64} : (tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
    %12 = motif.get_param @wv.weight : tensor<4x8xf32>
    %13 = motif.linear %5, %12 : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
    %14 = motif.attention %8, %11, %13 {heads = 2 : i64, kv_heads = 1 : i64, window = 4 : i64} : (tensor<?x?x8xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
    %15 = motif.add %5, %14 : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
    %16 = motif.get_param @head.weight : tensor<16x8xf32>
    %17 = motif.linear %15, %16 : (tensor<?x?x8xf32>, tensor<16x8xf32>) -> tensor<?x?x16xf32>
    %18 = motif.cross_entropy %17, %arg1 : (tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<f32>
    return %17, %18 : tensor<?x?x16xf32>, tensor<f32>
  }
}

// The state plan: per KV cache its layer, kind, slots and row width.
// CHECK: module attributes {{{.*}}motif.state_context = 32 : i64, motif.state_layout = [{element = f32, kind = "kv_window", layer = "wq", name = "wq.k", slots = 4 : i64, width = 4 : i64}, {element = f32, kind = "kv_window", layer = "wq", name = "wq.v", slots = 4 : i64, width = 4 : i64}]

// @forward stays as it was.
// CHECK-LABEL: func.func @forward(
// CHECK: motif.attention
// CHECK: motif.cross_entropy

// Prefill: the outputs without the loss (targets dropped), and the state.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %[[TOK:.+]]: tensor<?x?xi32> {{{.*}}motif.name = "tokens"}, %[[LEN:.+]]: tensor<?xi32> {motif.dims = ["B"], motif.name = "lengths"})
// CHECK-SAME: -> (tensor<?x?x16xf32> {motif.name = "logits"}, tensor<?x4x4xf32> {motif.state = "wq.k"}, tensor<?x4x4xf32> {motif.state = "wq.v"})
// CHECK: %[[K:.+]] = motif.rope %{{.+}} {heads = 1 : i64}
// CHECK: %[[V:.+]] = motif.linear
// CHECK: motif.attention
// CHECK: %[[KC:.+]] = kernel.state_fill %[[K]], %[[LEN]] {slots = 4 : i64} : (tensor<?x?x4xf32>, tensor<?xi32>) -> tensor<?x4x4xf32>
// CHECK: %[[VC:.+]] = kernel.state_fill %[[V]], %[[LEN]] {slots = 4 : i64}
// CHECK-NOT: motif.cross_entropy
// CHECK: return %{{.+}}, %[[KC]], %[[VC]]

// Decode: one token per sequence; positions and rope per sequence; the
// attention reads and extends the cache.
// CHECK-LABEL: func.func @decode_step(
// CHECK-SAME: %[[T:.+]]: tensor<?x1xi32> {{{.*}}motif.name = "tokens"}, %[[POS:.+]]: tensor<?xi32> {motif.dims = ["B"], motif.name = "pos"}, %[[K0:.+]]: tensor<?x4x4xf32> {motif.dims = ["B"], motif.name = "wq.k", motif.state = "wq.k"}, %[[V0:.+]]: tensor<?x4x4xf32> {motif.dims = ["B"], motif.name = "wq.v", motif.state = "wq.v"})
// CHECK-SAME: -> (tensor<?x1x16xf32> {motif.name = "logits"}, tensor<?x4x4xf32> {motif.state = "wq.k"}, tensor<?x4x4xf32> {motif.state = "wq.v"})
// CHECK: %[[P2:.+]] = motif.reshape %[[POS]] {shape = array<i64: -1, 1>} : (tensor<?xi32>) -> tensor<?x1xi32>
// CHECK-NOT: motif.positions
// CHECK: motif.embedding %[[P2]], %{{.+}} : (tensor<?x1xi32>, tensor<32x8xf32>) -> tensor<?x1x8xf32>
// CHECK: %[[QR:.+]] = motif.reshape %{{.+}} {shape = array<i64: 1, -1, 0>} : (tensor<?x1x8xf32>) -> tensor<1x?x8xf32>
// CHECK: %[[QROT:.+]] = motif.rope %[[QR]], %[[POS]] {heads = 2 : i64}
// CHECK: %[[Q:.+]] = motif.reshape %[[QROT]] {shape = array<i64: -1, 1, 0>}
// CHECK: %[[KR:.+]] = motif.rope %{{.+}}, %[[POS]] {heads = 1 : i64}
// CHECK: %[[KN:.+]] = motif.reshape %[[KR]] {shape = array<i64: -1, 1, 0>}
// CHECK: %[[VN:.+]] = motif.linear
// CHECK: %[[O:.+]], %[[K1:.+]], %[[V1:.+]] = kernel.attention_decode %[[Q]], %[[KN]], %[[VN]], %[[K0]], %[[V0]], %[[POS]] {heads = 2 : i64, kv_heads = 1 : i64, window = 4 : i64}
// CHECK-NOT: motif.attention
// CHECK: return %{{.+}}, %[[K1]], %[[V1]]

// The context sizes full caches; a window's ring buffer is the smaller of the two:
// CTX: motif.state_context = 8 : i64, motif.state_layout = [{{{.*}}slots = 4 : i64
