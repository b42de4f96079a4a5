// RUN: motif-opt %s -split-input-file -verify-diagnostics
// One case per verifier and inference error of the motif dialect.

// linear in-features
func.func @f(%x: tensor<?x7xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+2 {{input feature dim 7 does not match weight in-features 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.linear %x, %w : (tensor<?x7xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

// linear bias
func.func @f(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<5xf32>) {
  // expected-error @+2 {{bias tensor<5xf32> does not match weight out-features 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<5xf32>) -> tensor<?x4xf32>
  return
}

// -----

// linear weight rank
func.func @f(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+2 {{weight must have rank 2, got tensor<8xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.linear %x, %w : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x4xf32>
  return
}

// -----

// linear result type
func.func @f(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<?x4xf32>' are incompatible with return type(s) of operation 'tensor<?x5xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.linear %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x5xf32>
  return
}

// -----

// linear element types
func.func @f(%x: tensor<?x8xbf16>, %w: tensor<4x8xf32>) {
  // expected-error @+2 {{input and weight element types differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.linear %x, %w : (tensor<?x8xbf16>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

// embedding float ids
func.func @f(%x: tensor<?xf32>, %t: tensor<4x8xf32>) {
  // expected-error @+2 {{ids must be integers}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.embedding %x, %t : (tensor<?xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// binary broadcast
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+2 {{do not broadcast (dim 0: 2 vs 4)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.add %a, %b : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// binary element types
func.func @f(%a: tensor<3xf32>, %b: tensor<3xf16>) {
  // expected-error @+2 {{lhs and rhs element types differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.mul %a, %b : (tensor<3xf32>, tensor<3xf16>) -> tensor<3xf32>
  return
}

// -----

// unary integer
func.func @f(%a: tensor<3xi32>) {
  // expected-error @+1 {{input must have a float element type}}
  %y = motif.relu %a : tensor<3xi32>
  return
}

// -----

// matmul contraction
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+2 {{contraction dims differ: 3 vs 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

// matmul rank
func.func @f(%a: tensor<3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+2 {{lhs must have rank at least 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.matmul %a, %b : (tensor<3xf32>, tensor<3x5xf32>) -> tensor<5xf32>
  return
}

// -----

// layer_norm weight
func.func @f(%x: tensor<?x8xf32>, %w: tensor<7xf32>) {
  // expected-error @+2 {{weight tensor<7xf32> does not match the normalized dim 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.layer_norm %x, %w : (tensor<?x8xf32>, tensor<7xf32>) -> tensor<?x8xf32>
  return
}

// -----

// layer_norm eps
func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+2 {{eps must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.layer_norm %x {eps = 0.0 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// rms_norm weight rank
func.func @f(%x: tensor<?x8xf32>, %w: tensor<8x1xf32>) {
  // expected-error @+2 {{weight must have rank 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rms_norm %x, %w : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x8xf32>
  return
}

// -----

// softmax axis
func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %y = motif.softmax %x {axis = 2 : i64} : tensor<?x8xf32>
  return
}

// -----

// rope heads
func.func @f(%x: tensor<?x?x10xf32>) {
  // expected-error @+2 {{feature dim 10 is not divisible by 4 heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x {heads = 4 : i64} : (tensor<?x?x10xf32>) -> tensor<?x?x10xf32>
  return
}

// -----

// rope odd head dim
func.func @f(%x: tensor<?x?x12xf32>) {
  // expected-error @+2 {{rotary dim 3 must be even and at most the head dim 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x {heads = 4 : i64} : (tensor<?x?x12xf32>) -> tensor<?x?x12xf32>
  return
}

// -----

// rope factor
func.func @f(%x: tensor<?x?x16xf32>) {
  // expected-error @+2 {{scaling factor must be at least 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x {heads = 4 : i64, scaling = #motif<rope_scaling ntk>, factor = 0.5 : f64} : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// llama3 rope scaling without the original context
func.func @f(%x: tensor<?x?x16xf32>) {
  // expected-error @+2 {{llama3 scaling needs the original context (original_ctx)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x {heads = 4 : i64, scaling = #motif<rope_scaling llama3>, factor = 8.0 : f64} : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// llama3 rope scaling with its frequency band reversed
func.func @f(%x: tensor<?x?x16xf32>) {
  // expected-error @+2 {{llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got 4 and 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x {heads = 4 : i64, scaling = #motif<rope_scaling llama3>, factor = 8.0 : f64, original_max_positions = 64 : i64, low_freq_factor = 4.0 : f64, high_freq_factor = 1.0 : f64} : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention gqa
func.func @f(%q: tensor<?x?x16xf32>, %k: tensor<?x?x12xf32>) {
  // expected-error @+2 {{4 query heads are not a multiple of 3 kv heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %k, %k {heads = 4 : i64, kv_heads = 3 : i64} : (tensor<?x?x16xf32>, tensor<?x?x12xf32>, tensor<?x?x12xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention head dim
func.func @f(%q: tensor<?x?x16xf32>, %k: tensor<?x?x16xf32>) {
  // expected-error @+2 {{query head dim 4 differs from key head dim 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %k, %k {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention kv shapes
func.func @f(%q: tensor<?x?x16xf32>, %k: tensor<?x5x16xf32>, %v: tensor<?x6x16xf32>) {
  // expected-error @+2 {{key and value shapes differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %k, %v {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x16xf32>, tensor<?x5x16xf32>, tensor<?x6x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention value heads
func.func @f(%q: tensor<?x?x16xf32>, %k: tensor<?x?x8xf32>, %v: tensor<?x?x6xf32>) {
  // expected-error @+2 {{value feature dim 6 is not divisible by 4 kv heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %k, %v {heads = 8 : i64, kv_heads = 4 : i64} : (tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x6xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention window
func.func @f(%q: tensor<?x?x16xf32>) {
  // expected-error @+2 {{window must be non-negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %q, %q {heads = 4 : i64, kv_heads = 4 : i64, window = -1 : i64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// attention bias
func.func @f(%q: tensor<?x?x16xf32>, %b: tensor<3x?x?xf32>) {
  // expected-error @+2 {{bias tensor<3x?x?xf32> must be [heads, Tq, Tk]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %q, %q bias %b {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<3x?x?xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

// moe router
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x8xf32>) {
  // expected-error @+2 {{router tensor<4x8xf32> must be [experts, D] = [4, 16]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x8xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe top_k
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{top_k 5 must be between 1 and the 4 experts}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, top_k = 5 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe switch top_k
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{switch routing sends each token to one expert; top_k is 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, routing = #motif<routing switch>} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe region arg
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+1 {{experts region must take one argument of type 'tensor<?x16xf32>'}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x8xf32>):
    motif.yield %t : tensor<?x8xf32>
  } shared {
  }
  return
}

// -----

// moe shared missing
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+1 {{shared region must have exactly one block}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, shared_experts = 1 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe capacity
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{capacity_factor must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, capacity_factor = 0.0 : f64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// scan shapes
func.func @f(%x: tensor<?x?x8xf32>, %a: tensor<?x?x4xf32>) {
  // expected-error @+2 {{shapes differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.scan %x, %a : (tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// scan chunk
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+2 {{chunk must not be negative, got -1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.scan %x, %x {chunk = -1 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// selective_scan chunk
func.func @f(%u: tensor<?x?x8xf32>, %A: tensor<8x2xf32>, %B: tensor<?x?x2xf32>) {
  // expected-error @+2 {{chunk must not be negative, got -4}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.selective_scan %u, %u, %A, %B, %B {chunk = -4 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<8x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// scan_step shapes
func.func @f(%x: tensor<2x8xf32>, %h: tensor<2x4xf32>) {
  // expected-error @+2 {{input tensor<2x8xf32>, decay tensor<2x8xf32> and state tensor<2x4xf32> shapes differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.scan_step %x, %x, %h : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

// selective_scan_step state
func.func @f(%u: tensor<2x8xf32>, %A: tensor<8x2xf32>, %B: tensor<2x2xf32>, %h: tensor<2x8x3xf32>) {
  // expected-error @+2 {{state tensor<2x8x3xf32> must be [B, Di, N] = [2, 8, 2]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %h1 = motif.selective_scan_step %u, %u, %A, %B, %B state %h : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x8x3xf32>) -> (tensor<2x8xf32>, tensor<2x8x3xf32>)
  return
}

// -----

// selective_scan A
func.func @f(%u: tensor<?x?x8xf32>, %A: tensor<4x2xf32>, %B: tensor<?x?x2xf32>) {
  // expected-error @+2 {{A tensor<4x2xf32> must be [Di, N] with Di = 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.selective_scan %u, %u, %A, %B, %B : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<4x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// selective_scan B
func.func @f(%u: tensor<?x?x8xf32>, %A: tensor<8x2xf32>, %B: tensor<?x?x3xf32>) {
  // expected-error @+2 {{B tensor<?x?x3xf32> must be [B, T, N]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.selective_scan %u, %u, %A, %B, %B : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<8x2xf32>, tensor<?x?x3xf32>, tensor<?x?x3xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// conv1d groups
func.func @f(%x: tensor<?x?x6xf32>, %w: tensor<6x2x3xf32>) {
  // expected-error @+2 {{does not fit 6 input channels in 4 groups}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv1d %x, %w {groups = 4 : i64} : (tensor<?x?x6xf32>, tensor<6x2x3xf32>) -> tensor<?x?x6xf32>
  return
}

// -----

// conv2d too small
func.func @f(%x: tensor<?x3x4x4xf32>, %w: tensor<8x3x7x7xf32>) {
  // expected-error @+2 {{the kernel is larger than the padded input}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv2d %x, %w : (tensor<?x3x4x4xf32>, tensor<8x3x7x7xf32>) -> tensor<?x8x1x1xf32>
  return
}

// -----

// pool2d padding
func.func @f(%x: tensor<?x3x8x8xf32>) {
  // expected-error @+2 {{padding must be at most half the kernel}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.pool2d %x {kind = #motif<pool max>, kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 2, 2>} : (tensor<?x3x8x8xf32>) -> tensor<?x3x6x6xf32>
  return
}

// -----

// reduce duplicate axis
func.func @f(%x: tensor<?x3x8xf32>) {
  // expected-error @+2 {{axis -1 is listed twice}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reduce %x {kind = #motif<reduce sum>, axes = array<i64: 2, -1>} : (tensor<?x3x8xf32>) -> tensor<?x3xf32>
  return
}

// -----

// batch_norm channels
func.func @f(%x: tensor<?x3x8x8xf32>, %c: tensor<4xf32>) {
  // expected-error @+2 {{weight tensor<4xf32> does not match the normalized dim 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.batch_norm %x, %c, %c, %c, %c : (tensor<?x3x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x3x8x8xf32>
  return
}

// -----

// dropout p
func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{p must be in [0, 1)}}
  %y = motif.dropout %x {p = 1.0 : f64} : tensor<?x8xf32>
  return
}

// -----

// cross_entropy targets
func.func @f(%l: tensor<?x?x10xf32>, %t: tensor<?xi32>) {
  // expected-error @+2 {{targets tensor<?xi32> must have the shape of logits tensor<?x?x10xf32> without its last dim}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.cross_entropy %l, %t : (tensor<?x?x10xf32>, tensor<?xi32>) -> tensor<f32>
  return
}

// -----

// cross_entropy float targets
func.func @f(%l: tensor<?x10xf32>, %t: tensor<?xf32>) {
  // expected-error @+2 {{targets must be integer class ids}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.cross_entropy %l, %t : (tensor<?x10xf32>, tensor<?xf32>) -> tensor<f32>
  return
}

// -----

// reshape counts
func.func @f(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{element counts differ (12 vs 10)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reshape %x {shape = array<i64: 2, 5>} : (tensor<2x6xf32>) -> tensor<2x5xf32>
  return
}

// -----

// reshape two infers
func.func @f(%x: tensor<2x6xf32>) {
  // expected-error @+2 {{at most one dim can be -1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reshape %x {shape = array<i64: -1, -1>} : (tensor<2x6xf32>) -> tensor<?x?xf32>
  return
}

// -----

// reshape dynamic
func.func @f(%x: tensor<?x6xf32>) {
  // expected-error @+2 {{reshaping dynamic dims of tensor<?x6xf32> needs a -1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reshape %x {shape = array<i64: 3, 2>} : (tensor<?x6xf32>) -> tensor<3x2xf32>
  return
}

// -----

// transpose perm
func.func @f(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{perm is not a permutation of 0..1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.transpose %x {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  return
}

// -----

// concat dims
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+2 {{inputs differ in dim 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<4x4xf32>) -> tensor<6x3xf32>
  return
}

// -----

// split sizes
func.func @f(%a: tensor<2x9xf32>) {
  // expected-error @+2 {{sizes add up to 8 but dim 1 of tensor<2x9xf32> is 9}}
  // expected-error @+1 {{failed to infer returned types}}
  %y:2 = motif.split %a {axis = 1 : i64, sizes = array<i64: 4, 4>} : (tensor<2x9xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

// slice range
func.func @f(%a: tensor<2x9xf32>) {
  // expected-error @+2 {{slice 3:12:1 is out of range for dim 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.slice %a {axis = 1 : i64, start = 3 : i64, end = 12 : i64} : (tensor<2x9xf32>) -> tensor<2x9xf32>
  return
}

// -----

// expand non-one
func.func @f(%a: tensor<2x3xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+2 {{dim 0 of tensor<2x3xf32> must be 1 to be expanded}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.expand %a, %b {dims = array<i64: 0>} : (tensor<2x3xf32>, tensor<5x3xf32>) -> tensor<5x3xf32>
  return
}

// -----

// cast shape
func.func @f(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{changes the element type only; shapes differ}}
  %y = motif.cast %a : tensor<2x3xf32> -> tensor<3x2xbf16>
  return
}

// -----

// param dynamic
// expected-error @+1 {{'type' failed to satisfy constraint}}
motif.param @p : tensor<?x3xf32> init #motif.init<zeros>

// -----

// param std
// expected-error @+1 {{normal init needs a non-negative std}}
motif.param @p : tensor<3xf32> init #motif.init<normal, std = -1.0>

// -----

// get_param unknown
func.func @f() {
  // expected-error @+1 {{'nope' is not a motif.param}}
  %w = motif.get_param @nope : tensor<3xf32>
  return
}

// -----

// get_param type
motif.param @p : tensor<3xf32> init #motif.init<zeros>
func.func @f() {
  // expected-error @+1 {{type 'tensor<4xf32>' does not match the parameter's 'tensor<3xf32>'}}
  %w = motif.get_param @p : tensor<4xf32>
  return
}

// -----

// get_param in expert
motif.param @e : tensor<3x16x16xf32> init #motif.init<zeros>
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    // expected-error @+1 {{inside a moe region reads one expert's slice}}
    %w = motif.get_param @e : tensor<16x16xf32>
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// yield outside moe
func.func @f(%x: tensor<3xf32>) {
  // expected-error @+1 {{expects parent op to be one of 'motif.moe, motif.recurrent, motif.recurrent_step, motif.recurrent_vjp'}}
  motif.yield %x : tensor<3xf32>
}

// -----

// init kind
// expected-error @+1 {{unknown init kind 'gaussian'}}
motif.param @p : tensor<3xf32> init #motif.init<gaussian>

// -----

// a required attribute missing where the custom form infers the result
func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'motif.dropout' op requires attribute 'p'}}
  %y = motif.dropout %x : tensor<4xf32>
  return
}

// -----

// attention heads missing
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+1 {{requires attribute 'heads'}}
  %y = motif.attention %x, %x, %x {kv_heads = 2 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// attention scale
func.func @f(%x: tensor<?x?x8xf32>) {
  // expected-error @+2 {{scale must be non-negative (0 means 1/sqrt(head dim))}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %x, %x, %x {heads = 2 : i64, kv_heads = 2 : i64, scale = -1.0 : f64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// attention kv heads do not divide the key dim
func.func @f(%q: tensor<?x?x8xf32>, %k: tensor<?x?x6xf32>) {
  // expected-error @+2 {{key feature dim 6 is not divisible by 4 kv heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.attention %q, %k, %k {heads = 4 : i64, kv_heads = 4 : i64} : (tensor<?x?x8xf32>, tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// batch_norm momentum
func.func @f(%x: tensor<?x4x8x8xf32>, %c: tensor<4xf32>) {
  // expected-error @+2 {{momentum must be in [0, 1], got 2.000000}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.batch_norm %x, %c, %c, %c, %c {momentum = 2.0 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

// batch_norm statistics shape
func.func @f(%x: tensor<?x4x8x8xf32>, %c: tensor<4xf32>, %m: tensor<5xf32>) {
  // expected-error @+2 {{running_mean tensor<5xf32> does not match the normalized dim 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.batch_norm %x, %c, %c, %m, %c : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<5xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

// layer_norm eps NaN
func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+2 {{eps must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.layer_norm %x {eps = 0x7FF8000000000000 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// conv1d kernel longer than the input
func.func @f(%x: tensor<?x3x4xf32>, %w: tensor<4x4x5xf32>) {
  // expected-error @+2 {{the kernel is longer than the padded input (input tensor<?x3x4xf32>, weight tensor<4x4x5xf32>)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv1d %x, %w : (tensor<?x3x4xf32>, tensor<4x4x5xf32>) -> tensor<?x3x4xf32>
  return
}

// -----

// conv1d arithmetic overflow is an error, not a wrong size
func.func @f(%x: tensor<?x3x4xf32>, %w: tensor<4x4x5xf32>) {
  // expected-error @+2 {{output length overflows}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv1d %x, %w {dilation = 4611686018427387904 : i64} : (tensor<?x3x4xf32>, tensor<4x4x5xf32>) -> tensor<?x3x4xf32>
  return
}

// -----

// conv1d stride
func.func @f(%x: tensor<?x8x4xf32>, %w: tensor<4x4x3xf32>) {
  // expected-error @+2 {{groups, stride and dilation must be positive and padding non-negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv1d %x, %w {stride = 0 : i64} : (tensor<?x8x4xf32>, tensor<4x4x3xf32>) -> tensor<?x8x4xf32>
  return
}

// -----

// conv2d stride needs two values
func.func @f(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{stride must have 2 values}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.conv2d %x, %w {stride = array<i64: 1>} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

// reshape element count overflow
func.func @f(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{element count of the target shape overflows}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reshape %x {shape = array<i64: 4611686018427387904, 4, -1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// split sizes
func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+2 {{split sizes must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %a, %b = motif.split %x {axis = 1 : i64, sizes = array<i64: 9, -1>} : (tensor<2x8xf32>) -> (tensor<2x9xf32>, tensor<2x1xf32>)
  return
}

// -----

// split sizes overflow
func.func @f(%x: tensor<2x?xf32>) {
  // expected-error @+2 {{split sizes overflow}}
  // expected-error @+1 {{failed to infer returned types}}
  %a, %b = motif.split %x {axis = 1 : i64, sizes = array<i64: 9223372036854775807, 9223372036854775807>} : (tensor<2x?xf32>) -> (tensor<2x9223372036854775807xf32>, tensor<2x9223372036854775807xf32>)
  return
}

// -----

// split result count
func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<2x4xf32>', 'tensor<2x4xf32>' are incompatible with return type(s) of operation 'tensor<2x4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %a = "motif.split"(%x) {axis = 1 : i64, sizes = array<i64: 4, 4>} : (tensor<2x8xf32>) -> tensor<2x4xf32>
  return
}

// -----

// concat of nothing
func.func @f() {
  // expected-error @+2 {{needs at least one input}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = "motif.concat"() {axis = 0 : i64} : () -> tensor<1xf32>
  return
}

// -----

// concat element types
func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xf16>) {
  // expected-error @+2 {{inputs and inputs element types differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf16>) -> tensor<4x3xf32>
  return
}

// -----

// transpose perm length
func.func @f(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{perm has 3 entries for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.transpose %x {perm = array<i64: 0, 1, 2>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// slice step
func.func @f(%x: tensor<2x9xf32>) {
  // expected-error @+2 {{slice 0:4:0 is out of range for dim 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.slice %x {axis = 1 : i64, start = 0 : i64, end = 4 : i64, step = 0 : i64} : (tensor<2x9xf32>) -> tensor<2x4xf32>
  return
}

// -----

// expand ranks
func.func @f(%x: tensor<1x3xf32>, %l: tensor<2x2x3xf32>) {
  // expected-error @+2 {{input tensor<1x3xf32> and like tensor<2x2x3xf32> ranks differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.expand %x, %l {dims = array<i64: 0>} : (tensor<1x3xf32>, tensor<2x2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// reduce without axes
func.func @f(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{axes must not be empty}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.reduce %x {kind = #motif<reduce sum>, axes = array<i64>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// cross_entropy label smoothing
func.func @f(%l: tensor<?x10xf32>, %t: tensor<?xi32>) {
  // expected-error @+2 {{label_smoothing must be in [0, 1)}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.cross_entropy %l, %t {label_smoothing = 1.0 : f64} : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
  return
}

// -----

// rope positions
func.func @f(%x: tensor<?x8x16xf32>, %p: tensor<7xi32>) {
  // expected-error @+2 {{positions must be integers of the sequence length, got tensor<7xi32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.rope %x, %p {heads = 2 : i64} : (tensor<?x8x16xf32>, tensor<7xi32>) -> tensor<?x8x16xf32>
  return
}

// -----

// relative_position_bias max_distance
func.func @f(%x: tensor<?x?x8xf32>, %t: tensor<32x4xf32>) {
  // expected-error @+2 {{max_distance must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.relative_position_bias %x, %x, %t {max_distance = 0 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<32x4xf32>) -> tensor<4x?x?xf32>
  return
}

// -----

// selective_scan D
func.func @f(%u: tensor<?x?x8xf32>, %A: tensor<8x4xf32>, %B: tensor<?x?x4xf32>, %D: tensor<7xf32>) {
  // expected-error @+2 {{D tensor<7xf32> does not match the normalized dim 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.selective_scan %u, %u, %A, %B, %B D %D : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<8x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<7xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

// positions of a scalar
func.func @f(%x: tensor<f32>) {
  // expected-error @+2 {{input must have rank at least 1, got tensor<f32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.positions %x : tensor<f32> -> tensor<?xi32>
  return
}

// -----

// embedding table rank
func.func @f(%ids: tensor<?xi32>, %t: tensor<8xf32>) {
  // expected-error @+2 {{table must have rank 2, got tensor<8xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = motif.embedding %ids, %t : (tensor<?xi32>, tensor<8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// moe shared region present while shared_experts is 0
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+1 {{shared region must be empty when shared_experts is 0}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  }
  return
}

// -----

// moe yield type
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+1 {{experts region must yield one value of type 'tensor<?x16xf32>'}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t, %t : tensor<?x16xf32>, tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe loss coefficients
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{loss coefficients must not be negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, aux_loss_coef = -1.0 : f64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe model dim must be static
func.func @f(%x: tensor<?x?x?xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{the model dim of the input must be static, got tensor<?x?x?xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64} : (tensor<?x?x?xf32>, tensor<4x16xf32>) -> (tensor<?x?x?xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// get_param in the shared region has the shared experts dim
motif.param @sw : tensor<4x16x16xf32> init #motif.init<zeros>
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  %y, %a = motif.moe %x, %r {experts = 4 : i64, shared_experts = 2 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  ^bb0(%t: tensor<?x16xf32>):
    // expected-error @+1 {{inside a moe region reads one expert's slice: declared 'tensor<4x16x16xf32>' should be [2] x 'tensor<16x16xf32>'}}
    %w = motif.get_param @sw : tensor<16x16xf32>
    motif.yield %t : tensor<?x16xf32>
  }
  return
}

// -----

// get_param of something that is not a param
func.func @g() {
  return
}
func.func @f() {
  // expected-error @+1 {{'g' is not a motif.param}}
  %w = motif.get_param @g : tensor<4xf32>
  return
}

// -----

// uniform init bounds
// expected-error @+1 {{uniform init needs low <= high}}
motif.param @u : tensor<4xf32> init #motif.init<uniform, low = 1.0, high = -1.0>

// -----

// parameter dims
// expected-error @+1 {{parameter dims must be positive, got 'tensor<0x4xf32>'}}
motif.param @z : tensor<0x4xf32> init #motif.init<zeros>

// -----

// param outside a module
func.func @f() {
  // expected-error @+1 {{expects parent op 'builtin.module'}}
  "motif.param"() <{sym_name = "p", type = tensor<4xf32>, init = #motif.init<zeros>}> : () -> ()
  return
}

// -----

// unknown init field
// expected-error @+1 {{unknown init field 'sigma'}}
motif.param @s : tensor<4xf32> init #motif.init<normal, sigma = 1.0>

// -----

// constant element type
func.func @f() {
  // expected-error @+1 {{element type must be a float or an integer, got 'tensor<complex<f32>>'}}
  %c = motif.constant 1.0 : tensor<complex<f32>>
  return
}

// -----

// unary op on integers
func.func @f(%x: tensor<4xi32>) {
  // expected-error @+1 {{input must have a float element type, got tensor<4xi32>}}
  %y = motif.silu %x : tensor<4xi32>
  return
}

// -----

// vjp: saved must cover every input and output
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>, %dy: tensor<4xf32>) {
  // expected-error @+2 {{saved has 1 entries for 2 inputs and outputs}}
  // expected-error @+1 {{failed to infer returned types}}
  %dx = motif.vjp "motif.gelu"(%x) outputs(%y) grads(%dy) {fwd_attrs = {}, needs = array<i1: true>, saved = array<i1: true>} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// vjp: one gradient per output
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) {
  // expected-error @+2 {{has 0 gradients for 1 outputs}}
  // expected-error @+1 {{failed to infer returned types}}
  %dx = motif.vjp "motif.gelu"(%x) outputs(%y) grads() {fwd_attrs = {}, needs = array<i1: true>} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// moe noisy_top_k without its noise weight
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{noisy_top_k routing needs a noise weight [experts, D]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r {experts = 4 : i64, routing = #motif<routing noisy_top_k>} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe noise weight with another routing
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>) {
  // expected-error @+2 {{a noise weight is for noisy_top_k routing only}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r, %r {experts = 4 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// moe noise weight of the wrong shape
func.func @f(%x: tensor<?x?x16xf32>, %r: tensor<4x16xf32>, %n: tensor<4x8xf32>) {
  // expected-error @+2 {{noise weight tensor<4x8xf32> must be [experts, D] = [4, 16]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %a = motif.moe %x, %r, %n {experts = 4 : i64, routing = #motif<routing noisy_top_k>} : (tensor<?x?x16xf32>, tensor<4x16xf32>, tensor<4x8xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x16xf32>):
    motif.yield %t : tensor<?x16xf32>
  } shared {
  }
  return
}

// -----

// random_normal of ints
func.func @f(%x: tensor<4xi32>) {
  // expected-error @+1 {{draws floats; 'like' is tensor<4xi32>}}
  %n = motif.random_normal %x {seed = 1 : i64} : tensor<4xi32>
  return
}
