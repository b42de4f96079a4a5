// RUN: motif-opt %s --motif-test-infer-types -split-input-file -verify-diagnostics
// What type inference gives when batch and sequence dims are dynamic. The test
// pass remakes each op through motif::createOp (operands and attributes only,
// as the frontend does) and remarks the inferred result types.

// A dynamic dim is compatible with any size; the known size wins.
func.func @dense(%ids: tensor<?x?xi32>, %x: tensor<?x?x?xf32>, %h: tensor<2x?x8xf32>) {
  %table = motif.constant 0.0 : tensor<100x8xf32>
  %w = motif.constant 0.0 : tensor<16x8xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x8xf32>'}}
  %e = motif.embedding %ids, %table : (tensor<?x?xi32>, tensor<100x8xf32>) -> tensor<?x?x8xf32>
  // expected-remark @+1 {{inferred 'tensor<?xi32>'}}
  %p = motif.positions %ids {axis = 1 : i64} : tensor<?x?xi32> -> tensor<?xi32>
  // An unknown feature dim is accepted against the weight's 8 in-features.
  // expected-remark @+1 {{inferred 'tensor<?x?x16xf32>'}}
  %y = motif.linear %x, %w : (tensor<?x?x?xf32>, tensor<16x8xf32>) -> tensor<?x?x16xf32>
  // Broadcasting ? against 2 gives 2; ? against ? stays ?.
  // expected-remark @+1 {{inferred 'tensor<2x?x8xf32>'}}
  %s = motif.add %e, %h : (tensor<?x?x8xf32>, tensor<2x?x8xf32>) -> tensor<2x?x8xf32>
  // expected-remark @+1 {{inferred 'tensor<2x?x8xf32>'}}
  %g = motif.gelu %s : tensor<2x?x8xf32>
  return
}

// -----

func.func @matmul(%a: tensor<?x4x?x16xf32>, %b: tensor<1x?x16x?xf32>) {
  // Batch dims broadcast (? with 1 stays ?, 4 with ? gives 4).
  // expected-remark @+1 {{inferred 'tensor<?x4x?x?xf32>'}}
  %c = motif.matmul %a, %b : (tensor<?x4x?x16xf32>, tensor<1x?x16x?xf32>) -> tensor<?x4x?x?xf32>
  // expected-remark @+1 {{inferred 'tensor<?x4x?x?xf32>'}}
  %t = motif.matmul %a, %a {transpose_b} : (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) -> tensor<?x4x?x?xf32>
  return
}

// -----

func.func @norms(%x: tensor<?x?x64xf32>, %w: tensor<64xf32>, %q: tensor<?x?x64xf32>, %kv: tensor<?x?x32xf32>) {
  // expected-remark @+1 {{inferred 'tensor<?x?x64xf32>'}}
  %ln = motif.layer_norm %x bias %w : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x64xf32>'}}
  %rn = motif.rms_norm %x, %w : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x64xf32>'}}
  %r = motif.rope %q {heads = 4 : i64} : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  // GQA: 4 query heads of 16 read 2 kv heads of 16.
  // expected-remark @+1 {{inferred 'tensor<?x?x64xf32>'}}
  %o = motif.attention %r, %kv, %kv {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x?x64xf32>
  // Multi-head latent attention: values of head dim 8 give an output of 4 heads of 8.
  %v8 = motif.constant 0.0 : tensor<2x3x16xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x32xf32>'}}
  %mla = motif.attention %r, %kv, %v8 {heads = 4 : i64, kv_heads = 2 : i64} : (tensor<?x?x64xf32>, tensor<?x?x32xf32>, tensor<2x3x16xf32>) -> tensor<?x?x32xf32>
  %table = motif.constant 0.0 : tensor<32x4xf32>
  // expected-remark @+1 {{inferred 'tensor<4x?x?xf32>'}}
  %bias = motif.relative_position_bias %x, %x, %table : (tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<32x4xf32>) -> tensor<4x?x?xf32>
  return
}

// -----

func.func @moe(%x: tensor<?x?x8xf32>, %router: tensor<4x8xf32>) {
  // expected-remark @+1 {{inferred 'tensor<?x?x8xf32>', 'tensor<f32>'}}
  %y, %aux = motif.moe %x, %router {experts = 4 : i64, top_k = 2 : i64} : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> (tensor<?x?x8xf32>, tensor<f32>) experts {
  ^bb0(%t: tensor<?x8xf32>):
    motif.yield %t : tensor<?x8xf32>
  } shared {
  }
  return
}

// -----

func.func @scans(%u: tensor<?x?x16xf32>, %A: tensor<16x4xf32>, %B: tensor<?x?x4xf32>, %D: tensor<16xf32>) {
  // expected-remark @+1 {{inferred 'tensor<?x?x16xf32>'}}
  %h = motif.scan %u, %u : (tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x16xf32>'}}
  %y = motif.selective_scan %u, %u, %A, %B, %B delta_bias %D : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

func.func @convs(%x: tensor<?x?x16xf32>, %x10: tensor<?x10x16xf32>, %img: tensor<?x3x32x32xf32>) {
  %dw = motif.constant 0.0 : tensor<16x1x4xf32>
  // A dynamic length stays dynamic.
  // expected-remark @+1 {{inferred 'tensor<?x?x16xf32>'}}
  %c = motif.conv1d %x, %dw {groups = 16 : i64, causal = true} : (tensor<?x?x16xf32>, tensor<16x1x4xf32>) -> tensor<?x?x16xf32>
  // Causal keeps the length; stride 2 without padding: (10 - 4) / 2 + 1.
  // expected-remark @+1 {{inferred 'tensor<?x10x16xf32>'}}
  %c1 = motif.conv1d %x10, %dw {groups = 16 : i64, causal = true} : (tensor<?x10x16xf32>, tensor<16x1x4xf32>) -> tensor<?x10x16xf32>
  // expected-remark @+1 {{inferred 'tensor<?x4x16xf32>'}}
  %c2 = motif.conv1d %x10, %dw {groups = 16 : i64, stride = 2 : i64} : (tensor<?x10x16xf32>, tensor<16x1x4xf32>) -> tensor<?x4x16xf32>
  %w = motif.constant 0.0 : tensor<8x3x3x3xf32>
  // expected-remark @+1 {{inferred 'tensor<?x8x16x16xf32>'}}
  %y = motif.conv2d %img, %w {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x16x16xf32>
  // expected-remark @+1 {{inferred 'tensor<?x8x8x8xf32>'}}
  %p = motif.pool2d %y {kind = #motif<pool max>, kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<?x8x16x16xf32>) -> tensor<?x8x8x8xf32>
  // expected-remark @+1 {{inferred 'tensor<?x8x1x1xf32>'}}
  %m = motif.reduce %p {kind = #motif<reduce mean>, axes = array<i64: -2, -1>, keepdim = true} : (tensor<?x8x8x8xf32>) -> tensor<?x8x1x1xf32>
  return
}

// -----

func.func @shapes(%x: tensor<?x?x64xf32>, %y: tensor<2x6x64xf32>, %cls: tensor<1x1x64xf32>) {
  // 0 keeps a dim (dynamic or not), -1 is inferred (dynamic when the input is).
  // expected-remark @+1 {{inferred 'tensor<?x?x4x16xf32>'}}
  %r = motif.reshape %x {shape = array<i64: 0, 0, 4, 16>} : (tensor<?x?x64xf32>) -> tensor<?x?x4x16xf32>
  // expected-remark @+1 {{inferred 'tensor<?x64xf32>'}}
  %f = motif.reshape %x {shape = array<i64: -1, 64>} : (tensor<?x?x64xf32>) -> tensor<?x64xf32>
  // expected-remark @+1 {{inferred 'tensor<12x64xf32>'}}
  %g = motif.reshape %y {shape = array<i64: -1, 64>} : (tensor<2x6x64xf32>) -> tensor<12x64xf32>
  // expected-remark @+1 {{inferred 'tensor<?x64x?xf32>'}}
  %t = motif.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x?x64xf32>) -> tensor<?x64x?xf32>
  // A dynamic part makes the concatenated dim dynamic; other dims meet.
  // expected-remark @+1 {{inferred 'tensor<2x?x64xf32>'}}
  %c = motif.concat %x, %y {axis = 1 : i64} : (tensor<?x?x64xf32>, tensor<2x6x64xf32>) -> tensor<2x?x64xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x16xf32>', 'tensor<?x?x48xf32>'}}
  %s:2 = motif.split %x {axis = -1 : i64, sizes = array<i64: 16, 48>} : (tensor<?x?x64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x48xf32>)
  // Slicing a dynamic dim: the size comes from start:end:step.
  // expected-remark @+1 {{inferred 'tensor<?x3x64xf32>'}}
  %sl = motif.slice %x {axis = 1 : i64, start = 1 : i64, end = 7 : i64, step = 2 : i64} : (tensor<?x?x64xf32>) -> tensor<?x3x64xf32>
  // The expanded dim takes the (dynamic) size of `like`.
  // expected-remark @+1 {{inferred 'tensor<?x1x64xf32>'}}
  %e = motif.expand %cls, %x {dims = array<i64: 0>} : (tensor<1x1x64xf32>, tensor<?x?x64xf32>) -> tensor<?x1x64xf32>
  return
}

// -----

func.func @loss(%logits: tensor<?x?x100xf32>, %targets: tensor<?x?xi64>) {
  // expected-remark @+1 {{inferred 'tensor<f32>'}}
  %l = motif.cross_entropy %logits, %targets : (tensor<?x?x100xf32>, tensor<?x?xi64>) -> tensor<f32>
  // expected-remark @+1 {{inferred 'tensor<?x?x100xf32>'}}
  %d = motif.dropout %logits {p = 1.000000e-01 : f64} : tensor<?x?x100xf32>
  // expected-remark @+1 {{inferred 'tensor<?x?x100xf32>'}}
  %s = motif.softmax %logits : tensor<?x?x100xf32>
  return
}
