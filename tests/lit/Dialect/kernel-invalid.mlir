// RUN: motif-opt %s -split-input-file -verify-diagnostics

func.func @f(%a: tensor<?x8xf32>, %b: tensor<4x7xf32>) {
  // expected-error @+2 {{contracts 8 with 7 elements}}
  // expected-error @+1 {{failed to infer returned types}}
  %d = kernel.gemm %a, %b {transpose_b} : (tensor<?x8xf32>, tensor<4x7xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>, %b: tensor<4x8xf32>, %c: tensor<5xf32>) {
  // expected-error @+2 {{bias must be a vector of 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %d = kernel.gemm %a, %b bias %c {transpose_b} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+2 {{bias_grad needs rows and transpose_a}}
  // expected-error @+1 {{failed to infer returned types}}
  %d, %db = kernel.gemm %a, %b {bias_grad} : (tensor<?x8xf32>, tensor<?x4xf32>) -> (tensor<8x4xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>) {
  %r = kernel.fused (%a) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%x: tensor<?x8xf32>):
    // expected-error @+1 {{'motif.softmax' op is not elementwise and cannot be in a kernel.fused}}
    %0 = motif.softmax %x : tensor<?x8xf32>
    kernel.yield %0 : tensor<?x8xf32>
  }
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>) {
  // expected-error @+1 {{yields 'tensor<?x8xf32>' for a result of type 'tensor<?x8xf64>'}}
  %r = kernel.fused (%a) : (tensor<?x8xf32>) -> tensor<?x8xf64> {
  ^bb0(%x: tensor<?x8xf32>):
    kernel.yield %x : tensor<?x8xf32>
  }
  return
}

// -----

func.func @f(%q: tensor<?x?x64xf32>, %k: tensor<?x?x64xf32>) {
  // expected-error @+2 {{heads (4) must be a positive multiple of kv_heads (3)}}
  // expected-error @+1 {{failed to infer returned types}}
  %o, %lse = kernel.attention %q, %k, %k {heads = 4 : i64, kv_heads = 3 : i64} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x4x?xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %w: tensor<64x8xf32>, %t: tensor<?xi32>) {
  // expected-error @+2 {{x's last dim differs from w's}}
  // expected-error @+1 {{failed to infer returned types}}
  %l, %dx, %dw = kernel.linear_cross_entropy %x, %w, %t : (tensor<?x16xf32>, tensor<64x8xf32>, tensor<?xi32>) -> (tensor<f32>, tensor<?x16xf32>, tensor<64x8xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{an rms norm has no bias}}
  // expected-error @+1 {{failed to infer returned types}}
  %s, %y = kernel.add_norm %x, %x bias %b {kind = "rms", eps = 1.0e-05 : f64} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>, %b: tensor<4x8xf32>) {
  // expected-error @+2 {{keep_pre needs an activation epilogue}}
  // expected-error @+1 {{failed to infer returned types}}
  %d, %pre = kernel.gemm %a, %b {transpose_b, keep_pre} : (tensor<?x8xf32>, tensor<4x8xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>)
  return
}

// -----

func.func @f(%k: tensor<?x?x32xf32>, %len: tensor<?xi32>) {
  // expected-error @+1 {{state type 'tensor<?x8x32xf32>' does not match rows 'tensor<?x?x32xf32>' and 16 slots}}
  %s = kernel.state_fill %k, %len {slots = 16 : i64} : (tensor<?x?x32xf32>, tensor<?xi32>) -> tensor<?x8x32xf32>
  return
}

// -----

func.func @f(%k: tensor<?x?x32xf32>, %len: tensor<?xf32>) {
  // expected-error @+1 {{lengths must be a rank-1 integer tensor}}
  %s = kernel.state_fill %k, %len {slots = 16 : i64} : (tensor<?x?x32xf32>, tensor<?xf32>) -> tensor<?x16x32xf32>
  return
}

// -----

func.func @f(%q: tensor<?x4x64xf32>, %k: tensor<?x1x32xf32>, %kc: tensor<?x128x32xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{takes one new position per sequence}}
  %o, %k1, %v1 = kernel.attention_decode %q, %k, %k, %kc, %kc, %pos {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x4x64xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>, tensor<?xi32>) -> (tensor<?x4x64xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>)
  return
}

// -----

func.func @f(%q: tensor<?x1x64xf32>, %k: tensor<?x1x32xf32>, %kc: tensor<?x128x32xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{heads (4) must be a positive multiple of kv_heads (3)}}
  %o, %k1, %v1 = kernel.attention_decode %q, %k, %k, %kc, %kc, %pos {heads = 4 : i64, kv_heads = 3 : i64} : (tensor<?x1x64xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>, tensor<?xi32>) -> (tensor<?x1x64xf32>, tensor<?x128x32xf32>, tensor<?x128x32xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x?x32xf32>, %a: tensor<?x?x4xf32>, %B: tensor<?x?x1x16xf32>, %len: tensor<?xi32>) {
  // expected-error @+2 {{ssd_state takes x [B, T, H, P] and B [B, T, G, N]}}
  // expected-error @+1 {{failed to infer returned types}}
  %h = kernel.ssd_state %x, %a, %B, %len : (tensor<?x?x32xf32>, tensor<?x?x4xf32>, tensor<?x?x1x16xf32>, tensor<?xi32>) -> tensor<?x4x8x16xf32>
  return
}

// -----

func.func @f(%q: tensor<?x?x64xf32>, %k: tensor<?x?x32xf32>, %len: tensor<?xf32>) {
  // expected-error @+1 {{lengths must be a rank-1 integer tensor}}
  %o = kernel.attention_padded %q, %k, %k, %len {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?xf32>) -> tensor<?x?x64xf32>
  return
}

// -----

func.func @f(%q: tensor<?x8x64xf32>, %k: tensor<?x16x32xf32>, %len: tensor<?xi32>, %bias: tensor<4x8x8xf32>) {
  // expected-error @+1 {{bias must be [heads, Tq, Tk]}}
  %o = kernel.attention_padded %q, %k, %k, %len bias %bias {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x8x64xf32>, tensor<?x16x32xf32>, tensor<?x16x32xf32>, tensor<?xi32>, tensor<4x8x8xf32>) -> tensor<?x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<?x1x64xf32>, %kc: tensor<?x128x64xf32>, %pos: tensor<?xi32>, %table: tensor<32x3xf32>) {
  // expected-error @+1 {{table must be [buckets, heads]}}
  %o, %k1, %v1 = kernel.attention_decode_rel %q, %q, %q, %kc, %kc, %pos, %table {heads = 2 : i64, kv_heads = 2 : i64} : (tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>, tensor<?xi32>, tensor<32x3xf32>) -> (tensor<?x1x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>)
  return
}

// -----

func.func @f(%q: tensor<?x2x64xf32>, %kc: tensor<?x128x64xf32>, %pos: tensor<?xi32>, %table: tensor<32x2xf32>) {
  // expected-error @+1 {{takes one new position per sequence}}
  %o, %k1, %v1 = kernel.attention_decode_rel %q, %q, %q, %kc, %kc, %pos, %table {heads = 2 : i64, kv_heads = 2 : i64} : (tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x2x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>, tensor<?xi32>, tensor<32x2xf32>) -> (tensor<?x2x64xf32>, tensor<?x128x64xf32>, tensor<?x128x64xf32>)
  return
}

// -----

func.func @f(%g: tensor<11x6xf32>, %ids: tensor<?x?xi32>, %dy: tensor<?x?x5xf32>) {
  // expected-error @+1 {{dy must be [..., D] of ids' shape and the table's D}}
  %r = kernel.embedding_grad_add %g, %ids, %dy : (tensor<11x6xf32>, tensor<?x?xi32>, tensor<?x?x5xf32>) -> tensor<11x6xf32>
  return
}

// -----

func.func @f(%g: tensor<11x6xf32>, %ids: tensor<?x?xf32>, %dy: tensor<?x?x6xf32>) {
  // expected-error @+1 {{ids must be an integer tensor}}
  %r = kernel.embedding_grad_add %g, %ids, %dy : (tensor<11x6xf32>, tensor<?x?xf32>, tensor<?x?x6xf32>) -> tensor<11x6xf32>
  return
}

// -----

func.func @f(%g: tensor<11x6xf32>, %ids: tensor<2x3xi32>, %dy: tensor<2x4x6xf32>) {
  // expected-error @+1 {{is not shaped like ids}}
  %r = kernel.embedding_grad_add %g, %ids, %dy : (tensor<11x6xf32>, tensor<2x3xi32>, tensor<2x4x6xf32>) -> tensor<11x6xf32>
  return
}
