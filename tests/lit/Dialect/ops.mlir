// RUN: motif-opt %s | motif-opt | FileCheck %s
// RUN: motif-opt %s --mlir-print-op-generic | motif-opt | FileCheck %s
// Every op here can also be made by createOp from its operands and attributes:
// RUN: motif-opt %s --motif-test-infer-types -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMADE
// REMADE-NOT: error
// REMADE: remark: inferred
// REMADE-NOT: error
// Every op prints and parses back (custom and generic forms).

motif.param @w : tensor<16x8xf32> init #motif.init<normal, std = 2.000000e-02>
motif.param @b : tensor<16xf32> init #motif.init<zeros> {no_decay}
motif.param @stats : tensor<4xf32> init #motif.init<ones> {frozen, no_decay}
motif.param @deep : tensor<8x8xf32> init #motif.init<normal, std = 1.0e-03, depth_scaled = 12>
motif.param @experts.w : tensor<4x8x8xf32> init #motif.init<xavier_uniform, value = 1.0>
motif.param @A_log : tensor<16x4xf32> init #motif.init<s4d_real>
motif.param @dt : tensor<16xf32> init #motif.init<mamba_dt, low = 1.0e-03, high = 1.0e-01>

// CHECK-LABEL: motif.param @w : tensor<16x8xf32> init <normal, std = 2.000000e-02>
// CHECK: motif.param @stats : tensor<4xf32> init <ones> {frozen, no_decay}
// CHECK: init <normal, std = 1.000000e-03, depth_scaled = 12>
// CHECK: init <mamba_dt, low = 1.000000e-03, high = 1.000000e-01>

// CHECK-LABEL: func.func @dense
func.func @dense(%ids: tensor<?x?xi32>, %x: tensor<?x?x8xf32>) -> tensor<?x?x16xf32> {
  // CHECK: motif.get_param @w : tensor<16x8xf32>
  %w = motif.get_param @w : tensor<16x8xf32>
  %b = motif.get_param @b : tensor<16xf32>
  // CHECK: motif.embedding %{{.*}}, %{{.*}} : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  %e = motif.embedding %ids, %w : (tensor<?x?xi32>, tensor<16x8xf32>) -> tensor<?x?x8xf32>
  // CHECK: motif.positions %{{.*}} : tensor<?x?xi32> -> tensor<?xi32>
  %p = motif.positions %ids : tensor<?x?xi32> -> tensor<?xi32>
  // CHECK: motif.add
  %s = motif.add %e, %x : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %c = motif.constant 5.000000e-01 : tensor<f32>
  // CHECK: motif.mul %{{.*}}, %{{.*}} : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %m = motif.mul %s, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %r = motif.relu %m : tensor<?x?x8xf32>
  %g = motif.gelu %r : tensor<?x?x8xf32>
  %gt = motif.gelu_tanh %g : tensor<?x?x8xf32>
  %si = motif.silu %gt : tensor<?x?x8xf32>
  %sg = motif.sigmoid %si : tensor<?x?x8xf32>
  %th = motif.tanh %sg : tensor<?x?x8xf32>
  %sp = motif.softplus %th : tensor<?x?x8xf32>
  %ex = motif.exp %sp : tensor<?x?x8xf32>
  %lg = motif.log %ex : tensor<?x?x8xf32>
  %sq = motif.sqrt %lg : tensor<?x?x8xf32>
  %rs = motif.rsqrt %sq : tensor<?x?x8xf32>
  %ng = motif.neg %rs : tensor<?x?x8xf32>
  %mx = motif.maximum %ng, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %sb = motif.sub %mx, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %dv = motif.div %sb, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  // CHECK: motif.layer_norm %{{.*}}, %{{.*}} bias %{{.*}} : (tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>)
  %lw = motif.get_param @b : tensor<16xf32>
  %ln8w = motif.constant 1.0 : tensor<8xf32>
  %ln = motif.layer_norm %dv, %ln8w bias %ln8w {eps = 1.0e-05 : f64} : (tensor<?x?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  // CHECK: motif.rms_norm %{{.*}}, %{{.*}} : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %rn = motif.rms_norm %ln, %ln8w : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %sm = motif.softmax %rn {axis = -1 : i64} : tensor<?x?x8xf32>
  %dr = motif.dropout %sm {p = 1.000000e-01 : f64} : tensor<?x?x8xf32>
  %bf = motif.cast %dr : tensor<?x?x8xf32> -> tensor<?x?x8xbf16>
  // CHECK: motif.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x?x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
  %y = motif.linear %dr, %w, %b : (tensor<?x?x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @sequence
func.func @sequence(%q: tensor<?x?x16xf32>, %k: tensor<?x?x8xf32>, %t: tensor<?x?xi32>) -> (tensor<?x?x16xf32>, tensor<f32>) {
  // CHECK: motif.rope %{{.*}} {factor = 4.000000e+00 : f64, heads = 4 : i64, original_max_positions = 4096 : i64, scaling = #motif<rope_scaling yarn>}
  %qr = motif.rope %q {heads = 4 : i64, scaling = #motif<rope_scaling yarn>, factor = 4.0 : f64, original_max_positions = 4096 : i64} : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // CHECK: motif.rope %{{.*}} {factor = 8.000000e+00 : f64, heads = 4 : i64, high_freq_factor = 2.000000e+00 : f64, original_max_positions = 8192 : i64, scaling = #motif<rope_scaling llama3>}
  %ql = motif.rope %q {heads = 4 : i64, scaling = #motif<rope_scaling llama3>, factor = 8.0 : f64, original_max_positions = 8192 : i64, low_freq_factor = 1.0 : f64, high_freq_factor = 2.0 : f64} : (tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // CHECK: motif.attention %{{.*}}, %{{.*}}, %{{.*}} {heads = 4 : i64, kv_heads = 2 : i64, window = 128 : i64}
  %o = motif.attention %qr, %k, %k {heads = 4 : i64, kv_heads = 2 : i64, window = 128 : i64} : (tensor<?x?x16xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x16xf32>
  %tab = motif.constant 0.0 : tensor<32x4xf32>
  // CHECK: motif.relative_position_bias {{.*}} -> tensor<4x?x?xf32>
  %bias = motif.relative_position_bias %q, %q, %tab : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<32x4xf32>) -> tensor<4x?x?xf32>
  // CHECK: motif.attention %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} {causal = false
  %o2 = motif.attention %o, %o, %o bias %bias {causal = false, heads = 4 : i64, kv_heads = 4 : i64, scale = 1.0 : f64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<4x?x?xf32>) -> tensor<?x?x16xf32>
  // CHECK: motif.scan
  %h = motif.scan %o2, %o2 : (tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %A = motif.get_param @A_log : tensor<16x4xf32>
  %dtb = motif.get_param @dt : tensor<16xf32>
  %B = motif.constant 0.0 : tensor<1x1x4xf32>
  %bq = motif.reshape %q {shape = array<i64: 0, 0, 4, 4>} : (tensor<?x?x16xf32>) -> tensor<?x?x4x4xf32>
  %bs = motif.slice %bq {axis = 3 : i64, start = 0 : i64, end = 1 : i64} : (tensor<?x?x4x4xf32>) -> tensor<?x?x4x1xf32>
  %bc = motif.reshape %bs {shape = array<i64: 0, 0, -1>} : (tensor<?x?x4x1xf32>) -> tensor<?x?x4xf32>
  // CHECK: motif.selective_scan {{.*}} D %{{.*}} delta_bias %{{.*}}
  %ss = motif.selective_scan %h, %h, %A, %bc, %bc D %dtb delta_bias %dtb : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
  // CHECK: motif.scan {{.*}} {chunk = 64 : i64}
  %hc = motif.scan %o2, %o2 {chunk = 64 : i64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // CHECK: motif.selective_scan {{.*}} {chunk = 32 : i64}
  %ssc = motif.selective_scan %h, %h, %A, %bc, %bc {chunk = 32 : i64} : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<?x?x4xf32>, tensor<?x?x4xf32>) -> tensor<?x?x16xf32>
  // The step forms: one token, the state in and out.
  %x1 = motif.constant 0.0 : tensor<2x16xf32>
  %h0 = motif.constant 0.0 : tensor<2x16x4xf32>
  %b1 = motif.constant 0.0 : tensor<2x4xf32>
  // CHECK: motif.scan_step %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  %s1 = motif.scan_step %x1, %x1, %x1 : (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  // CHECK: motif.selective_scan_step {{.*}} state %{{.*}} D %{{.*}} delta_bias %{{.*}} : {{.*}} -> (tensor<2x16xf32>, tensor<2x16x4xf32>)
  %y1, %h1 = motif.selective_scan_step %x1, %x1, %A, %b1, %b1 state %h0 D %dtb delta_bias %dtb : (tensor<2x16xf32>, tensor<2x16xf32>, tensor<16x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x16x4xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<2x16xf32>, tensor<2x16x4xf32>)
  %cw = motif.constant 0.0 : tensor<16x1x4xf32>
  // CHECK: motif.conv1d %{{.*}}, %{{.*}} {causal = true, groups = 16 : i64}
  %cv = motif.conv1d %ss, %cw {causal = true, groups = 16 : i64} : (tensor<?x?x16xf32>, tensor<16x1x4xf32>) -> tensor<?x?x16xf32>
  %rt = motif.constant 0.0 : tensor<4x16xf32>
  // CHECK: motif.moe %{{.*}}, %{{.*}} {experts = 4 : i64, shared_experts = 1 : i64}
  // CHECK: experts {
  // CHECK: ^bb0(%{{.*}}: tensor<?x16xf32>):
  // CHECK: motif.yield
  // CHECK: } shared {
  %y, %aux = motif.moe %cv, %rt {experts = 4 : i64, shared_experts = 1 : i64} : (tensor<?x?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?x16xf32>, tensor<f32>) experts {
  ^bb0(%tok: tensor<?x16xf32>):
    %r = motif.relu %tok : tensor<?x16xf32>
    motif.yield %r : tensor<?x16xf32>
  } shared {
  ^bb0(%tok: tensor<?x16xf32>):
    motif.yield %tok : tensor<?x16xf32>
  }
  %ce = motif.cross_entropy %y, %t : (tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<f32>
  %l = motif.add %ce, %aux : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %y, %l : tensor<?x?x16xf32>, tensor<f32>
}

// CHECK-LABEL: func.func @vision
func.func @vision(%img: tensor<?x3x32x32xf32>) -> tensor<?x17x8xf32> {
  %w = motif.constant 0.0 : tensor<8x3x8x8xf32>
  // CHECK: motif.conv2d {{.*}} -> tensor<?x8x4x4xf32>
  %p = motif.conv2d %img, %w {stride = array<i64: 8, 8>} : (tensor<?x3x32x32xf32>, tensor<8x3x8x8xf32>) -> tensor<?x8x4x4xf32>
  %c = motif.constant 1.0 : tensor<8xf32>
  %bn = motif.batch_norm %p, %c, %c, %c, %c : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  // CHECK: motif.pool2d {{.*}} -> tensor<?x8x2x2xf32>
  %mp = motif.pool2d %bn {kind = #motif<pool max>, kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : (tensor<?x8x4x4xf32>) -> tensor<?x8x2x2xf32>
  // CHECK: motif.reduce {{.*}} -> tensor<?x8xf32>
  %gap = motif.reduce %mp {kind = #motif<reduce mean>, axes = array<i64: 2, 3>} : (tensor<?x8x2x2xf32>) -> tensor<?x8xf32>
  %f = motif.reshape %bn {shape = array<i64: 0, 8, -1>} : (tensor<?x8x4x4xf32>) -> tensor<?x8x16xf32>
  %tr = motif.transpose %f {perm = array<i64: 0, 2, 1>} : (tensor<?x8x16xf32>) -> tensor<?x16x8xf32>
  %cls = motif.constant 0.0 : tensor<1x1x8xf32>
  // CHECK: motif.expand {{.*}} -> tensor<?x1x8xf32>
  %ce = motif.expand %cls, %tr {dims = array<i64: 0>} : (tensor<1x1x8xf32>, tensor<?x16x8xf32>) -> tensor<?x1x8xf32>
  // CHECK: motif.concat {{.*}} -> tensor<?x17x8xf32>
  %cat = motif.concat %ce, %tr {axis = 1 : i64} : (tensor<?x1x8xf32>, tensor<?x16x8xf32>) -> tensor<?x17x8xf32>
  // CHECK: motif.split {{.*}} -> (tensor<?x17x3xf32>, tensor<?x17x5xf32>)
  %a, %b = motif.split %cat {axis = -1 : i64, sizes = array<i64: 3, 5>} : (tensor<?x17x8xf32>) -> (tensor<?x17x3xf32>, tensor<?x17x5xf32>)
  %mm = motif.matmul %cat, %cat {transpose_b} : (tensor<?x17x8xf32>, tensor<?x17x8xf32>) -> tensor<?x17x17xf32>
  return %cat : tensor<?x17x8xf32>
}

// The ops the autodiff pass makes.
// CHECK-LABEL: func.func @backward
func.func @backward(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %dy: tensor<?x4xf32>) -> (tensor<?x8xf32>, tensor<4x8xf32>) {
  %y = motif.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: motif.zeros_like %{{.*}} : tensor<?x4xf32>
  %z = motif.zeros_like %y : tensor<?x4xf32>
  // CHECK: motif.vjp "motif.linear"(%{{.*}}, %{{.*}}, %{{.*}}) outputs(%{{.*}}) grads(%{{.*}}) {fwd_attrs = {}, needs = array<i1: true, true, false>}
  // CHECK-SAME: -> (tensor<?x8xf32>, tensor<4x8xf32>)
  %dx, %dw = motif.vjp "motif.linear"(%x, %w, %b) outputs(%y) grads(%dy) {fwd_attrs = {}, needs = array<i1: true, true, false>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x8xf32>, tensor<4x8xf32>)
  return %dx, %dw : tensor<?x8xf32>, tensor<4x8xf32>
}
