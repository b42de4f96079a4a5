// RUN: motif-opt %s | motif-opt | FileCheck %s
// RUN: motif-opt %s --mlir-print-op-generic | motif-opt | FileCheck %s
// The kernel dialect prints and parses back.

// CHECK-LABEL: func.func @gemm
func.func @gemm(%x: tensor<?x?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %r: tensor<?x?x4xf32>) -> (tensor<?x?x4xf32>, tensor<4x8xf32>, tensor<4xf32>) {
  // CHECK: kernel.gemm %arg0, %arg1 bias %arg2 residual %arg3 {epilogue = #kernel.epilogue<gelu_tanh>, transpose_b}
  %y = kernel.gemm %x, %w bias %b residual %r {transpose_b, epilogue = #kernel.epilogue<gelu_tanh>} : (tensor<?x?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  // CHECK: kernel.gemm %{{.*}}, %arg0 {bias_grad, rows, transpose_a}
  %dw, %db = kernel.gemm %y, %x {rows, transpose_a, bias_grad} : (tensor<?x?x4xf32>, tensor<?x?x8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
  return %y, %dw, %db : tensor<?x?x4xf32>, tensor<4x8xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @fused
func.func @fused(%a: tensor<?x64xf32>, %b: tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  // CHECK: kernel.fused(%arg0, %arg1) : (tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>)
  // CHECK: motif.gelu
  // CHECK: kernel.yield
  %s, %g = kernel.fused (%a, %b) : (tensor<?x64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%x: tensor<?x64xf32>, %c: tensor<64xf32>):
    %0 = motif.add %x, %c : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    %1 = motif.gelu %0 : tensor<?x64xf32>
    kernel.yield %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %s, %g : tensor<?x64xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x?x128xf32>, %k: tensor<?x?x64xf32>, %v: tensor<?x?x64xf32>, %do: tensor<?x?x128xf32>) -> tensor<?x?x64xf32> {
  // CHECK: kernel.attention %arg0, %arg1, %arg2 {block_m = 128 : i64, block_n = 64 : i64, heads = 2 : i64, kv_heads = 1 : i64, stages = 2 : i64, warps = 4 : i64}
  %o, %lse = kernel.attention %q, %k, %v {heads = 2 : i64, kv_heads = 1 : i64, block_m = 128 : i64, block_n = 64 : i64, warps = 4 : i64, stages = 2 : i64} : (tensor<?x?x128xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x128xf32>, tensor<?x2x?xf32>)
  // CHECK: kernel.attention_grad %arg0, %arg1, %arg2 out %{{.*}} lse %{{.*}} grad %arg3
  %dq, %dk, %dv = kernel.attention_grad %q, %k, %v out %o lse %lse grad %do {heads = 2 : i64, kv_heads = 1 : i64} : (tensor<?x?x128xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x128xf32>, tensor<?x2x?xf32>, tensor<?x?x128xf32>) -> (tensor<?x?x128xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>)
  return %dk : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @linear_cross_entropy
func.func @linear_cross_entropy(%x: tensor<?x?x16xf32>, %w: tensor<64x16xf32>, %t: tensor<?x?xi32>) -> tensor<f32> {
  // CHECK: kernel.linear_cross_entropy %arg0, %arg1, %arg2 {chunk = 128 : i64}
  %l, %dx, %dw = kernel.linear_cross_entropy %x, %w, %t {chunk = 128 : i64} : (tensor<?x?x16xf32>, tensor<64x16xf32>, tensor<?x?xi32>) -> (tensor<f32>, tensor<?x?x16xf32>, tensor<64x16xf32>)
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @add_norm
func.func @add_norm(%x: tensor<?x64xf32>, %r: tensor<?x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<?x64xf32> {
  // CHECK: kernel.add_norm %arg0, %arg1 weight %arg2 bias %arg3 {eps = 1.000000e-05 : f64, kind = "layer"}
  %s, %y = kernel.add_norm %x, %r weight %w bias %b {kind = "layer", eps = 1.0e-05 : f64} : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>)
  return %y : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @state_fill
func.func @state_fill(%k: tensor<?x?x32xf32>, %len: tensor<?xi32>) -> tensor<?x16x32xf32> {
  // CHECK: kernel.state_fill %arg0, %arg1 {slots = 16 : i64} : (tensor<?x?x32xf32>, tensor<?xi32>) -> tensor<?x16x32xf32>
  %s = kernel.state_fill %k, %len {slots = 16 : i64} : (tensor<?x?x32xf32>, tensor<?xi32>) -> tensor<?x16x32xf32>
  return %s : tensor<?x16x32xf32>
}

// CHECK-LABEL: func.func @attention_decode
func.func @attention_decode(%q: tensor<?x1x64xf32>, %k: tensor<?x1x32xf32>, %kc: tensor<?x128x32xf32>, %pos: tensor<?xi32>) -> tensor<?x1x64xf32> {
  // CHECK: kernel.attention_decode %arg0, %arg1, %arg1, %arg2, %arg2, %arg3 {heads = 4 : i64, kv_heads = 2 : i64, window = 16 : i64}
  %o, %k1, %v1 = kernel.attention_decode %q, %k, %k, %kc, %kc, %pos {heads = 4 : i64, kv_heads = 2 : i64, window = 16 : i64} : (tensor<?x1x64xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>, tensor<?xi32>) -> (tensor<?x1x64xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>)
  return %o : tensor<?x1x64xf32>
}

// CHECK-LABEL: func.func @conv1d_step
func.func @conv1d_step(%x: tensor<?x1x64xf32>, %s: tensor<?x3x64xf32>, %w: tensor<64x1x4xf32>, %pos: tensor<?xi32>, %b: tensor<64xf32>) -> tensor<?x1x64xf32> {
  // CHECK: kernel.conv1d_step %arg0, %arg1, %arg2, %arg3 bias %arg4
  %y, %s1 = kernel.conv1d_step %x, %s, %w, %pos bias %b : (tensor<?x1x64xf32>, tensor<?x3x64xf32>, tensor<64x1x4xf32>, tensor<?xi32>, tensor<64xf32>) -> (tensor<?x1x64xf32>, tensor<?x3x64xf32>)
  return %y : tensor<?x1x64xf32>
}

// CHECK-LABEL: func.func @selective_scan_state
func.func @selective_scan_state(%u: tensor<?x?x64xf32>, %A: tensor<64x8xf32>, %B: tensor<?x?x8xf32>, %len: tensor<?xi32>, %bias: tensor<64xf32>) -> tensor<?x64x8xf32> {
  // CHECK: kernel.selective_scan_state %arg0, %arg0, %arg1, %arg2, %arg3 delta_bias %arg4 : {{.*}} -> tensor<?x64x8xf32>
  %h = kernel.selective_scan_state %u, %u, %A, %B, %len delta_bias %bias : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<64x8xf32>, tensor<?x?x8xf32>, tensor<?xi32>, tensor<64xf32>) -> tensor<?x64x8xf32>
  return %h : tensor<?x64x8xf32>
}

// CHECK-LABEL: func.func @ssd_state
func.func @ssd_state(%x: tensor<?x?x4x8xf32>, %a: tensor<?x?x4xf32>, %B: tensor<?x?x1x16xf32>, %len: tensor<?xi32>) -> tensor<?x4x8x16xf32> {
  // CHECK: kernel.ssd_state %arg0, %arg1, %arg2, %arg3 : {{.*}} -> tensor<?x4x8x16xf32>
  %h = kernel.ssd_state %x, %a, %B, %len : (tensor<?x?x4x8xf32>, tensor<?x?x4xf32>, tensor<?x?x1x16xf32>, tensor<?xi32>) -> tensor<?x4x8x16xf32>
  return %h : tensor<?x4x8x16xf32>
}

// CHECK-LABEL: func.func @attention_padded
func.func @attention_padded(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %len: tensor<?xi32>, %bias: tensor<4x?x?xf32>) -> tensor<?x?x64xf32> {
  // CHECK: kernel.attention_padded %arg0, %arg1, %arg1, %arg2 bias %arg3 {heads = 4 : i64, kv_heads = 2 : i64, scale = 1.000000e+00 : f64}
  %o = kernel.attention_padded %q, %k, %k, %len bias %bias {heads = 4 : i64, kv_heads = 2 : i64, scale = 1.0 : f64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?xi32>, tensor<4x?x?xf32>) -> tensor<?x?x64xf32>
  return %o : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @attention_decode_rel
func.func @attention_decode_rel(%q: tensor<?x1x64xf32>, %kc: tensor<?x128x64xf32>, %pos: tensor<?xi32>, %table: tensor<32x2xf32>) -> tensor<?x1x64xf32> {
  // CHECK: kernel.attention_decode_rel %arg0, %arg0, %arg0, %arg1, %arg1, %arg2, %arg3 {bidirectional = false, heads = 2 : i64, kv_heads = 2 : i64}
  %o, %k1, %v1 = kernel.attention_decode_rel %q, %q, %q, %kc, %kc, %pos, %table {bidirectional = false, heads = 2 : i64, kv_heads = 2 : i64} : (tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>, tensor<?xi32>, tensor<32x2xf32>) -> (tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>)
  return %o : tensor<?x1x64xf32>
}

// CHECK-LABEL: func.func @embedding_grad_add
func.func @embedding_grad_add(%g: tensor<11x6xf32>, %ids: tensor<?x?xi32>, %dy: tensor<?x?x6xf32>) -> tensor<11x6xf32> {
  // CHECK: kernel.embedding_grad_add %arg0, %arg1, %arg2 : (tensor<11x6xf32>, tensor<?x?xi32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  %r = kernel.embedding_grad_add %g, %ids, %dy : (tensor<11x6xf32>, tensor<?x?xi32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  return %r : tensor<11x6xf32>
}
